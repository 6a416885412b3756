//! The segmentation on the GPU for the slice views: a 3D `R8Uint` texture of label numbers
//! on the volume's grid (0 = none, label i is i + 1; later labels win where they overlap)
//! and a 256 × 1 palette of label colours whose alpha is the label's opacity (0 hides it).
//! Only the slices an operation changed are uploaded again, and of those only the box of
//! columns and rows that changed. A box is built straight into a staging buffer kept
//! mapped between uploads when that buffer is free, so a large change (keep-largest on a
//! whole scan) costs building it, not also allocating and copying it again.

use crate::volume::Volume;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Most bytes the kept staging buffer holds (a box that needs more is written through the
/// queue's own staging).
const STAGING_MAX_BYTES: u64 = 64 << 20;

/// Row alignment of a buffer-to-texture copy.
const ROW_ALIGN: usize = wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as usize;

/// A mapped-when-free buffer that label boxes are built into and copied from.
struct Staging {
    buffer: wgpu::Buffer,
    /// True while the buffer is mapped for writing (its last copy has finished).
    mapped: Arc<AtomicBool>,
}

/// Label numbers and colours on the GPU.
pub struct LabelTextures {
    labels: wgpu::Texture,
    /// View of the label texture.
    pub labels_view: wgpu::TextureView,
    palette: wgpu::Texture,
    /// View of the palette.
    pub palette_view: wgpu::TextureView,
    pub(super) dims: [u32; 3],
    staging: Option<Staging>,
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
        // Room for every slice's rows at the copy's alignment, up to the cap.
        let whole = (c.next_multiple_of(ROW_ALIGN) * r * n) as u64;
        let staging_bytes = whole.min(STAGING_MAX_BYTES);
        let staging = (staging_bytes > 0).then(|| Staging {
            buffer: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("label staging"),
                size: staging_bytes,
                usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: true,
            }),
            mapped: Arc::new(AtomicBool::new(true)),
        });
        Self {
            labels_view: labels.create_view(&Default::default()),
            palette_view: palette.create_view(&Default::default()),
            labels,
            palette,
            dims,
            staging,
        }
    }

    /// Writes label numbers into columns `area[0]` and rows `area[1]` (half-open) of
    /// slices `first..first + slices`, as `fill` builds them into a buffer of that box,
    /// slice by slice, each row `stride` bytes apart (row `j` of slice `k` of the box at
    /// `(k · rows + j) · stride`; `fill` writes all of each row's first `width` bytes, and
    /// only those are read). Built in the kept staging buffer when it is free and large
    /// enough, else in memory and written through the queue. A box outside the texture
    /// writes nothing. Returns whether it was written.
    pub fn write_box_with(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        first: u32,
        area: [[u32; 2]; 2],
        slices: u32,
        fill: impl FnOnce(&mut [u8], usize),
    ) -> bool {
        let [[c0, c1], [r0, r1]] = area;
        if c0 >= c1
            || r0 >= r1
            || c1 > self.dims[0]
            || r1 > self.dims[1]
            || slices == 0
            || first
                .checked_add(slices)
                .is_none_or(|end| end > self.dims[2])
        {
            return false;
        }
        let (w, h) = ((c1 - c0) as usize, (r1 - r0) as usize);
        let stride = w.next_multiple_of(ROW_ALIGN);
        let need = (stride * h * slices as usize) as u64;
        let target = wgpu::TexelCopyTextureInfo {
            texture: &self.labels,
            mip_level: 0,
            origin: wgpu::Origin3d {
                x: c0,
                y: r0,
                z: first,
            },
            aspect: wgpu::TextureAspect::All,
        };
        let extent = wgpu::Extent3d {
            width: w as u32,
            height: h as u32,
            depth_or_array_layers: slices,
        };
        match &self.staging {
            Some(st) if need <= st.buffer.size() && st.mapped.load(Ordering::Acquire) => {
                {
                    let mut view = st.buffer.slice(..need).get_mapped_range_mut();
                    fill(&mut view, stride);
                }
                st.buffer.unmap();
                st.mapped.store(false, Ordering::Release);
                let mut encoder = device.create_command_encoder(&Default::default());
                encoder.copy_buffer_to_texture(
                    wgpu::TexelCopyBufferInfo {
                        buffer: &st.buffer,
                        layout: wgpu::TexelCopyBufferLayout {
                            offset: 0,
                            bytes_per_row: Some(stride as u32),
                            rows_per_image: Some(h as u32),
                        },
                    },
                    target,
                    extent,
                );
                queue.submit([encoder.finish()]);
                // Mapped again once the copy has run (a later submission or poll says so).
                let mapped = st.mapped.clone();
                st.buffer
                    .slice(..)
                    .map_async(wgpu::MapMode::Write, move |r| {
                        mapped.store(r.is_ok(), Ordering::Release);
                    });
            }
            _ => {
                let mut data = vec![0u8; w * h * slices as usize];
                fill(&mut data, w);
                queue.write_texture(
                    target,
                    &data,
                    wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(w as u32),
                        rows_per_image: Some(h as u32),
                    },
                    extent,
                );
            }
        }
        true
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
