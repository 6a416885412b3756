//! The segmentation on the GPU for the slice views: a 3D `R8Uint` texture of label numbers
//! on the volume's grid (0 = none, label i is i + 1; later labels win where they overlap)
//! and a 256 × 1 palette of label colours whose alpha is the label's opacity (0 hides it).
//! Only the slices an operation changed are uploaded again.

use crate::volume::Volume;

/// Label numbers and colours on the GPU.
pub struct LabelTextures {
    labels: wgpu::Texture,
    /// View of the label texture.
    pub labels_view: wgpu::TextureView,
    palette: wgpu::Texture,
    /// View of the palette.
    pub palette_view: wgpu::TextureView,
    pub(super) dims: [u32; 3],
}

/// Palette entries (label 0 is "none" and never drawn).
pub const PALETTE_SIZE: usize = 256;

impl LabelTextures {
    /// Empty labels for a volume (textures start zeroed: nothing drawn).
    pub fn new(device: &wgpu::Device, v: &Volume) -> Self {
        let [n, r, c] = v.dims();
        let dims = [c as u32, r as u32, n as u32];
        let labels = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("labels"),
            size: wgpu::Extent3d {
                width: dims[0],
                height: dims[1],
                depth_or_array_layers: dims[2],
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D3,
            format: wgpu::TextureFormat::R8Uint,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let palette = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("label palette"),
            size: wgpu::Extent3d {
                width: PALETTE_SIZE as u32,
                height: 1,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        Self {
            labels_view: labels.create_view(&Default::default()),
            palette_view: palette.create_view(&Default::default()),
            labels,
            palette,
            dims,
        }
    }

    /// Writes label numbers into columns `area[0]` and rows `area[1]` (half-open) of slices
    /// `first..`: `data` holds that box, row by row, slice by slice (`[slice, row, column]`
    /// order, as [`crate::segment::Segmentation::label_map`] over the whole grid). A box outside the
    /// texture, or data not a whole number of its slices, writes nothing.
    pub fn write_box(&self, queue: &wgpu::Queue, first: u32, area: [[u32; 2]; 2], data: &[u8]) {
        let [[c0, c1], [r0, r1]] = area;
        if c0 >= c1 || r0 >= r1 || c1 > self.dims[0] || r1 > self.dims[1] {
            return;
        }
        let per = ((c1 - c0) * (r1 - r0)) as usize;
        if !data.len().is_multiple_of(per) {
            return;
        }
        let slices = (data.len() / per) as u32;
        if slices == 0
            || first
                .checked_add(slices)
                .is_none_or(|end| end > self.dims[2])
        {
            return;
        }
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &self.labels,
                mip_level: 0,
                origin: wgpu::Origin3d {
                    x: c0,
                    y: r0,
                    z: first,
                },
                aspect: wgpu::TextureAspect::All,
            },
            data,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(c1 - c0),
                rows_per_image: Some(r1 - r0),
            },
            wgpu::Extent3d {
                width: c1 - c0,
                height: r1 - r0,
                depth_or_array_layers: slices,
            },
        );
    }

    /// Writes the colours: entry i + 1 for label i, alpha = opacity (0: hidden).
    pub fn write_palette(&self, queue: &wgpu::Queue, rgba: &[[u8; 4]]) {
        let mut all = [[0u8; 4]; PALETTE_SIZE];
        for (i, c) in rgba.iter().take(PALETTE_SIZE - 1).enumerate() {
            all[i + 1] = *c;
        }
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &self.palette,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            bytemuck::cast_slice(&all),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(PALETTE_SIZE as u32 * 4),
                rows_per_image: None,
            },
            wgpu::Extent3d {
                width: PALETTE_SIZE as u32,
                height: 1,
                depth_or_array_layers: 1,
            },
        );
    }
}
