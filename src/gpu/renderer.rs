//! The GPU side of the views: the volume uploaded once as a 3D texture, the pipelines for
//! slices, ray casting, surfaces and the scaled copy, and per-view uniform buffers. The UI
//! calls [`ViewRenderer::prepare`] then [`ViewRenderer::paint`] for each view (egui's
//! prepare/paint split); tests and the headless renderer do the same offscreen.
//!
//! Volume texture format: `R16Snorm` holding the HU bits unchanged (HU = value × 32767, so
//! every HU is exact, at 2 bytes per voxel, with hardware trilinear filtering) where the
//! adapter has 16-bit normalised textures; otherwise `R32Float` holding HU / 32767 (exact
//! too, twice the memory; filtered only where 32-bit float filtering exists, else nearest).
//! The shaders are the same for both.

use super::device::RenderError;
use super::pipelines::{
    PipelineInputs, bind_group, fullscreen_pipeline, mesh_pipeline, pipeline, sampler_entry,
    texture_entry, uint_texture_entry, uniform_entry,
};
use super::scene3d::{MeshData, MeshUniforms, RayUniforms, Scene3d, brick_ranges};
use super::shaders;
use super::slice_view::{HU_PER_UNIT, SliceUniforms, ijk_from_lps, texture_dims};
use super::transfer::{LUT_RANGE_HU, LUT_SIZE, OPACITY_UNIT_MM, TransferPreset};
use super::view_image::{
    Drawn, HU_FORMAT, ImageLayouts, Offscreen, OffscreenKind, PixelRect, PreviewUniforms, VoxelBox,
    boxes_meet, pixels_reading,
};
use crate::view::{Camera3d, WindowLevel};
use crate::volume::Volume;
use glam::DVec3;
use std::collections::HashMap;
use wgpu::util::DeviceExt;

mod surface_parts;
pub use surface_parts::SurfaceBuffers;
use surface_parts::{Underway, draw_surface};

/// One frame's drawing of one view.
#[derive(Debug, Clone, Copy)]
pub enum ViewDraw {
    /// A slice view, rendered offscreen at `size` (the view's pixels) when anything it
    /// shows changed, and shown 1:1.
    Slice {
        /// The plane, window and overlay.
        uniforms: SliceUniforms,
        /// The view's size in pixels.
        size: [u32; 2],
    },
    /// The 3D view, rendered offscreen at `size` and scaled into the pass.
    Scene {
        /// What to show.
        scene: Scene3d,
        /// The camera.
        camera: Camera3d,
        /// Offscreen size, pixels (smaller than the view while interacting).
        size: [u32; 2],
        /// Ray step as a fraction of the finest voxel spacing (larger while interacting).
        step_factor: f32,
    },
}

struct GpuVolume {
    view: wgpu::TextureView,
    bricks: wgpu::TextureView,
    dims: [u32; 3],
    ijk_from_lps: glam::DMat4,
    spacing: [f64; 3],
    col_dir: DVec3,
    row_dir: DVec3,
    slice_dir: DVec3,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Painted {
    Nothing,
    Offscreen,
}

struct Slot {
    /// What the offscreen image shows (`None`: nothing yet, or stale).
    drawn: Option<Drawn>,
    uniforms: wgpu::Buffer,
    slice: Option<wgpu::BindGroup>,
    ray: Option<wgpu::BindGroup>,
    mesh: wgpu::BindGroup,
    generation: u64,
    offscreen: Option<Offscreen>,
    painted: Painted,
    /// The image is shown through the threshold preview (its last draw had it on).
    shows_preview: bool,
    /// Pixels of the drawn image made stale by a label upload: rendered again, alone,
    /// before it is shown.
    stale: Option<PixelRect>,
    /// A new surface being drawn in parts while the previous image stays shown.
    underway: Option<Underway>,
}

/// Uniform buffer size for every kind of view.
const UNIFORM_BYTES: u64 = 256;

/// GPU resources of all views.
pub struct ViewRenderer {
    target_format: wgpu::TextureFormat,
    volume_format: wgpu::TextureFormat,
    volume_filterable: bool,
    volume: Option<GpuVolume>,
    generation: u64,
    volume_sampler: wgpu::Sampler,
    lut_view: wgpu::TextureView,
    lut_texture: wgpu::Texture,
    lut_sampler: wgpu::Sampler,
    lut_preset: Option<TransferPreset>,
    blit_sampler: wgpu::Sampler,
    copy_sampler: wgpu::Sampler,
    /// Slice images rendered whole (not re-shown) since the renderer was made.
    slices_rendered: u64,
    /// Stale parts of slice images rendered since the renderer was made.
    slice_parts_rendered: u64,
    /// Parts of surface images drawn over several frames since the renderer was made.
    surface_parts_drawn: u64,
    /// Most triangles one frame draws of a new surface (`None`: all of it at once).
    triangles_per_frame: Option<u32>,
    slice_layout: wgpu::BindGroupLayout,
    ray_layout: wgpu::BindGroupLayout,
    mesh_layout: wgpu::BindGroupLayout,
    blit_layout: wgpu::BindGroupLayout,
    preview_layout: wgpu::BindGroupLayout,
    /// The slice shader without labels, with labels, and each writing the plane's HU for
    /// the preview as well (index: labels + 2 × preview).
    slice_pipelines: [wgpu::RenderPipeline; 4],
    ray_pipeline: wgpu::RenderPipeline,
    mesh_pipeline: wgpu::RenderPipeline,
    blit_pipeline: wgpu::RenderPipeline,
    preview_pipeline: wgpu::RenderPipeline,
    slots: HashMap<u64, Slot>,
    labels: Option<super::labels::LabelTextures>,
    mesh: Option<SurfaceBuffers>,
    mesh_generation: u64,
    /// Jump over bricks that cannot change a ray's result (on unless a test compares).
    pub empty_space_skipping: bool,
}

impl ViewRenderer {
    /// Creates the pipelines for views drawn into `target_format`.
    pub fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        target_format: wgpu::TextureFormat,
    ) -> Self {
        let features = device.features();
        let (volume_format, volume_filterable) =
            if features.contains(wgpu::Features::TEXTURE_FORMAT_16BIT_NORM) {
                (wgpu::TextureFormat::R16Snorm, true)
            } else {
                (
                    wgpu::TextureFormat::R32Float,
                    features.contains(wgpu::Features::FLOAT32_FILTERABLE),
                )
            };
        let filter = if volume_filterable {
            wgpu::FilterMode::Linear
        } else {
            wgpu::FilterMode::Nearest
        };
        let volume_sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("volume"),
            mag_filter: filter,
            min_filter: filter,
            ..Default::default()
        });
        let linear = |label| {
            device.create_sampler(&wgpu::SamplerDescriptor {
                label: Some(label),
                mag_filter: wgpu::FilterMode::Linear,
                min_filter: wgpu::FilterMode::Linear,
                ..Default::default()
            })
        };
        let lut_sampler = linear("transfer function");
        let blit_sampler = linear("blit");
        let copy_sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("copy"),
            ..Default::default()
        });
        let lut_texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("transfer function"),
            size: wgpu::Extent3d {
                width: LUT_SIZE as u32,
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
        let lut_view = lut_texture.create_view(&Default::default());
        let frag = wgpu::ShaderStages::FRAGMENT;
        let both = wgpu::ShaderStages::VERTEX_FRAGMENT;
        let d3 = wgpu::TextureViewDimension::D3;
        let d2 = wgpu::TextureViewDimension::D2;
        let slice_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("slice"),
            entries: &[
                uniform_entry(0, frag),
                texture_entry(1, d3, volume_filterable),
                sampler_entry(2, volume_filterable),
                uint_texture_entry(3, d3),
                texture_entry(4, d2, false),
            ],
        });
        let ray_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("raycast"),
            entries: &[
                uniform_entry(0, frag),
                texture_entry(1, d3, volume_filterable),
                sampler_entry(2, volume_filterable),
                texture_entry(3, d2, true),
                sampler_entry(4, true),
                texture_entry(5, d3, false),
            ],
        });
        let mesh_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("mesh"),
            entries: &[uniform_entry(0, both)],
        });
        let blit_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("blit"),
            entries: &[texture_entry(0, d2, true), sampler_entry(1, true)],
        });
        let preview_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("preview"),
            entries: &[
                uniform_entry(0, frag),
                texture_entry(1, d2, false),
                texture_entry(2, d2, false),
            ],
        });
        let slice_pipelines = std::array::from_fn(|variant| {
            let labels = if variant & 1 != 0 { 1.0 } else { 0.0 };
            let preview = variant & 2 != 0;
            pipeline(
                device,
                ("slice", shaders::SLICE),
                &slice_layout,
                target_format,
                PipelineInputs {
                    constants: &[("LABELS", labels)],
                    fragment: preview.then_some("fs_preview"),
                    more_targets: if preview { &[HU_FORMAT] } else { &[] },
                    ..Default::default()
                },
            )
        });
        let ray_pipeline = fullscreen_pipeline(
            device,
            "raycast",
            shaders::RAYCAST,
            &ray_layout,
            target_format,
        );
        let blit_pipeline =
            fullscreen_pipeline(device, "blit", shaders::BLIT, &blit_layout, target_format);
        let preview_pipeline = fullscreen_pipeline(
            device,
            "preview",
            shaders::PREVIEW,
            &preview_layout,
            target_format,
        );
        let mesh_pipeline = mesh_pipeline(device, &mesh_layout, target_format);
        let mut r = Self {
            target_format,
            volume_format,
            volume_filterable,
            volume: None,
            generation: 0,
            volume_sampler,
            lut_view,
            lut_texture,
            lut_sampler,
            lut_preset: None,
            blit_sampler,
            copy_sampler,
            slices_rendered: 0,
            slice_parts_rendered: 0,
            surface_parts_drawn: 0,
            triangles_per_frame: None,
            slice_layout,
            ray_layout,
            mesh_layout,
            blit_layout,
            preview_layout,
            slice_pipelines,
            ray_pipeline,
            mesh_pipeline,
            blit_pipeline,
            preview_pipeline,
            slots: HashMap::new(),
            labels: None,
            mesh: None,
            mesh_generation: 0,
            empty_space_skipping: true,
        };
        r.set_transfer(queue, TransferPreset::CtBone);
        r
    }

    /// "R16Snorm, filtered" — for the About panel and benchmark reports.
    pub fn volume_format_description(&self) -> String {
        format!(
            "{:?}, {}",
            self.volume_format,
            if self.volume_filterable {
                "trilinear"
            } else {
                "nearest (no float filtering on this adapter)"
            }
        )
    }

    /// True when a volume is uploaded.
    pub fn has_volume(&self) -> bool {
        self.volume.is_some()
    }

    /// True when a surface is uploaded.
    pub fn has_mesh(&self) -> bool {
        self.mesh.is_some()
    }

    /// Uploads a volume (once per loaded series).
    pub fn set_volume(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        v: &Volume,
    ) -> Result<(), RenderError> {
        let [c, r, n] = texture_dims(v);
        let max = device.limits().max_texture_dimension_3d;
        if c > max || r > max || n > max || c == 0 || r == 0 || n == 0 {
            return Err(RenderError::TooLarge(format!(
                "the volume is {c}×{r}×{n} voxels; this GPU's 3D textures hold at most {max} \
                 along each axis. Crop or resample the volume first"
            )));
        }
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("volume"),
            size: wgpu::Extent3d {
                width: c,
                height: r,
                depth_or_array_layers: n,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D3,
            format: self.volume_format,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        // Upload a few slices at a time so a float conversion never doubles the volume.
        let per_slice = (c * r) as usize;
        let chunk = 16usize;
        let hu = v.hu.as_slice();
        let owned;
        let hu: &[i16] = match hu {
            Some(s) => s,
            None => {
                owned = v.hu.iter().copied().collect::<Vec<i16>>();
                &owned
            }
        };
        for (ci, slab) in hu.chunks(per_slice * chunk).enumerate() {
            let slices = (slab.len() / per_slice) as u32;
            let bytes: Vec<u8> = match self.volume_format {
                wgpu::TextureFormat::R16Snorm => bytemuck::cast_slice(slab).to_vec(),
                _ => slab
                    .iter()
                    .flat_map(|&h| (f32::from(h) / HU_PER_UNIT).to_le_bytes())
                    .collect(),
            };
            let bpp = self.volume_format.block_copy_size(None).unwrap_or(2);
            queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d {
                        x: 0,
                        y: 0,
                        z: (ci * chunk) as u32,
                    },
                    aspect: wgpu::TextureAspect::All,
                },
                &bytes,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(c * bpp),
                    rows_per_image: Some(r),
                },
                wgpu::Extent3d {
                    width: c,
                    height: r,
                    depth_or_array_layers: slices,
                },
            );
        }
        let (ranges, bdims) = brick_ranges(v);
        let bricks = device.create_texture_with_data(
            queue,
            &wgpu::TextureDescriptor {
                label: Some("volume bricks"),
                size: wgpu::Extent3d {
                    width: bdims[0],
                    height: bdims[1],
                    depth_or_array_layers: bdims[2],
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D3,
                format: wgpu::TextureFormat::Rg32Float,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            },
            wgpu::util::TextureDataOrder::LayerMajor,
            bytemuck::cast_slice(&ranges),
        );
        let g = &v.geometry;
        self.labels = Some(super::labels::LabelTextures::new(device, v));
        self.volume = Some(GpuVolume {
            bricks: bricks.create_view(&Default::default()),
            view: texture.create_view(&Default::default()),
            dims: [c, r, n],
            ijk_from_lps: ijk_from_lps(g),
            spacing: [g.spacing.col, g.spacing.row, g.spacing.slice],
            col_dir: g.col_dir.get(),
            row_dir: g.row_dir.get(),
            slice_dir: g.slice_dir.get(),
        });
        self.generation += 1;
        Ok(())
    }

    /// Uploads the label numbers of whole slices `first..` (see
    /// [`super::labels::LabelTextures`]): [`Self::set_label_box`] over every column and row.
    pub fn set_labels(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        first: u32,
        data: &[u8],
    ) {
        let whole = self.label_grid_area();
        self.set_label_box(device, queue, first, whole, data);
    }

    /// Every column and row of the label texture (an empty area without one).
    pub fn label_grid_area(&self) -> [[u32; 2]; 2] {
        self.labels
            .as_ref()
            .map_or([[0, 0], [0, 0]], |l| [[0, l.dims[0]], [0, l.dims[1]]])
    }

    /// Uploads the label numbers of columns `area[0]` and rows `area[1]` (half-open) of
    /// slices `first..`, `data` holding just that box (row by row, slice by slice): what an
    /// operation changed, without the rest of its slices. Only images that read the box
    /// are made stale, and only where they show it. Data not a whole number of the box's
    /// slices writes nothing.
    pub fn set_label_box(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        first: u32,
        area: [[u32; 2]; 2],
        data: &[u8],
    ) {
        let [w, h] = area.map(|a| a[1].saturating_sub(a[0]) as usize);
        if w * h == 0 || !data.len().is_multiple_of(w * h) {
            return;
        }
        let slices = (data.len() / (w * h)) as u32;
        self.set_label_box_with(device, queue, first, area, slices, |out, stride| {
            for (row, src) in data.chunks_exact(w).enumerate() {
                out[row * stride..row * stride + w].copy_from_slice(src);
            }
        });
    }

    /// As [`ViewRenderer::set_label_box`] for `slices` slices, `fill` building the box in
    /// place (see [`super::labels::LabelTextures::write_box_with`]).
    pub fn set_label_box_with(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        first: u32,
        area: [[u32; 2]; 2],
        slices: u32,
        fill: impl FnOnce(&mut [u8], usize),
    ) {
        let Some(l) = &mut self.labels else {
            return;
        };
        if l.write_box_with(device, queue, first, area, slices, fill) {
            let written = [area[0], area[1], [first, first + slices]];
            self.labels_changed(Some(written));
        }
    }

    /// Uploads the label colours (entry i for label i; alpha = opacity, 0 hides).
    pub fn set_label_palette(&mut self, queue: &wgpu::Queue, rgba: &[[u8; 4]]) {
        if let Some(l) = &self.labels {
            l.write_palette(queue, rgba);
        }
        self.labels_changed(None);
    }

    /// Marks stale, in every slice image that drew labels, the pixels that can show the
    /// labels of the voxels `written` (`None`: every voxel, so every pixel).
    fn labels_changed(&mut self, written: Option<VoxelBox>) {
        for slot in self.slots.values_mut() {
            let Some(Drawn::Slice {
                uniforms,
                size,
                labels_read: Some(read),
            }) = &slot.drawn
            else {
                continue;
            };
            let Some(written) = written else {
                slot.drawn = None;
                continue;
            };
            if !boxes_meet(read, &written) {
                continue;
            }
            let u: SliceUniforms = bytemuck::pod_read_unaligned(uniforms);
            let Some(rect) = pixels_reading(&u, *size, &written) else {
                continue;
            };
            let rect = match slot.stale {
                Some(old) => {
                    std::array::from_fn(|a| [old[a][0].min(rect[a][0]), old[a][1].max(rect[a][1])])
                }
                None => rect,
            };
            // All of it stale: the image is drawn again whole.
            if rect == [[0, size[0]], [0, size[1]]] {
                slot.drawn = None;
            } else {
                slot.stale = Some(rect);
            }
        }
    }

    /// Slice images rendered whole since the renderer was made (re-shown ones do not count).
    pub fn slices_rendered(&self) -> u64 {
        self.slices_rendered
    }

    /// Stale parts of slice images rendered alone (after a label upload) since the
    /// renderer was made.
    pub fn slice_parts_rendered(&self) -> u64 {
        self.slice_parts_rendered
    }

    /// Uploads a surface (replacing any previous one); `None` removes it.
    pub fn set_mesh(&mut self, device: &wgpu::Device, mesh: Option<&MeshData>) {
        self.set_surface(mesh.and_then(|m| SurfaceBuffers::new(device, m)));
    }

    /// Shows `surface` (replacing any previous one); `None` removes it.
    pub fn set_surface(&mut self, surface: Option<SurfaceBuffers>) {
        self.mesh_generation += 1;
        self.mesh = surface;
    }

    fn set_transfer(&mut self, queue: &wgpu::Queue, preset: TransferPreset) {
        if self.lut_preset == Some(preset) {
            return;
        }
        let lut = preset.lut();
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &self.lut_texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            bytemuck::cast_slice(&lut),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(LUT_SIZE as u32 * 4),
                rows_per_image: None,
            },
            wgpu::Extent3d {
                width: LUT_SIZE as u32,
                height: 1,
                depth_or_array_layers: 1,
            },
        );
        self.lut_preset = Some(preset);
    }

    fn ensure_slot(&mut self, device: &wgpu::Device, id: u64) {
        let generation = self.generation;
        let stale = self
            .slots
            .get(&id)
            .is_none_or(|s| s.generation != generation);
        if stale {
            let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("view uniforms"),
                size: UNIFORM_BYTES,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            use wgpu::BindingResource as R;
            let group =
                |label, layout, resources: &[R<'_>]| bind_group(device, label, layout, resources);
            let (slice, ray) = match (&self.volume, &self.labels) {
                (Some(vol), Some(labels)) => {
                    let volume = [
                        uniforms.as_entire_binding(),
                        R::TextureView(&vol.view),
                        R::Sampler(&self.volume_sampler),
                    ];
                    let overlay = [
                        R::TextureView(&labels.labels_view),
                        R::TextureView(&labels.palette_view),
                    ];
                    let lut = [
                        R::TextureView(&self.lut_view),
                        R::Sampler(&self.lut_sampler),
                        R::TextureView(&vol.bricks),
                    ];
                    (
                        Some(group(
                            "slice",
                            &self.slice_layout,
                            &[&volume[..], &overlay[..]].concat(),
                        )),
                        Some(group(
                            "raycast",
                            &self.ray_layout,
                            &[&volume[..], &lut[..]].concat(),
                        )),
                    )
                }
                _ => (None, None),
            };
            let mesh = group("mesh", &self.mesh_layout, &[uniforms.as_entire_binding()]);
            let offscreen = self.slots.remove(&id).and_then(|s| s.offscreen);
            self.slots.insert(
                id,
                Slot {
                    drawn: None,
                    uniforms,
                    slice,
                    ray,
                    mesh,
                    generation,
                    offscreen,
                    painted: Painted::Nothing,
                    shows_preview: false,
                    stale: None,
                    underway: None,
                },
            );
        }
    }

    fn offscreen(&mut self, device: &wgpu::Device, id: u64, size: [u32; 2], kind: OffscreenKind) {
        let size = [size[0].clamp(1, 8192), size[1].clamp(1, 8192)];
        if self.slots.get(&id).is_none_or(|s| {
            s.offscreen
                .as_ref()
                .is_some_and(|o| o.size == size && o.kind == kind)
        }) {
            return;
        }
        let image = self.new_image(device, size, kind);
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.drawn = None;
            slot.offscreen = Some(image);
        }
    }

    /// A view image of `size` (already clamped) and `kind`, with what shows it.
    fn new_image(&self, device: &wgpu::Device, size: [u32; 2], kind: OffscreenKind) -> Offscreen {
        let layouts = ImageLayouts {
            format: self.target_format,
            blit: &self.blit_layout,
            preview: &self.preview_layout,
            sampler: match kind {
                OffscreenKind::Slice => &self.copy_sampler,
                OffscreenKind::Scene => &self.blit_sampler,
            },
        };
        Offscreen::new(device, size, kind, &layouts)
    }

    /// Writes a view's uniforms and renders its offscreen image when what it shows
    /// changed; call before the pass that [`ViewRenderer::paint`] draws into.
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        id: u64,
        draw: &ViewDraw,
    ) {
        if let ViewDraw::Scene {
            scene: Scene3d::Volume(tf),
            ..
        } = draw
        {
            self.set_transfer(queue, *tf);
        }
        let ray = match draw {
            ViewDraw::Scene {
                scene,
                camera,
                size,
                step_factor,
            } => self.ray_uniforms(scene, camera, *size, *step_factor),
            ViewDraw::Slice { .. } => None,
        };
        self.ensure_slot(device, id);
        let (size, kind) = match draw {
            ViewDraw::Scene { size, .. } => (*size, OffscreenKind::Scene),
            ViewDraw::Slice { size, .. } => (*size, OffscreenKind::Slice),
        };
        self.offscreen(device, id, size, kind);
        let key = match draw {
            ViewDraw::Scene {
                scene,
                camera,
                size,
                step_factor,
            } => Drawn::Scene(
                *scene,
                *camera,
                *size,
                *step_factor,
                // Only a surface shows the mesh: a new one leaves a ray-cast image as it is.
                match scene {
                    Scene3d::Surface(_) => self.mesh_generation,
                    _ => 0,
                },
                self.empty_space_skipping,
            ),
            ViewDraw::Slice { uniforms, size } => Drawn::slice(uniforms, *size),
        };
        // A new surface too large for one frame is drawn part by part behind the image
        // shown; anything drawn the usual way ends such a drawing.
        if self.surface_part(device, queue, encoder, id, key) {
            return;
        }
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        slot.underway = None;
        let preview = match draw {
            ViewDraw::Slice { uniforms: u, .. } => (u.preview[2] > 0.0).then_some(u),
            ViewDraw::Scene { .. } => None,
        };
        slot.shows_preview = preview.is_some();
        if let (Some(u), Some(p)) = (
            preview,
            slot.offscreen.as_ref().and_then(|o| o.preview.as_ref()),
        ) {
            let show = PreviewUniforms {
                range: [u.preview[0], u.preview[1], 0.0, 0.0],
                colour: u.preview_colour,
            };
            queue.write_buffer(&p.uniforms, 0, bytemuck::bytes_of(&show));
        }
        // An unchanged view (the user scrolls another one, or moves the threshold: the
        // image's key leaves the range out) is shown again, not redrawn; one whose labels
        // changed in a few pixels has those rendered again, over the rest.
        let part = if slot.painted == Painted::Offscreen && slot.drawn == Some(key) {
            match slot.stale.take() {
                None => return,
                Some(rect) => Some(rect),
            }
        } else {
            None
        };
        slot.painted = Painted::Nothing;
        slot.drawn = None;
        slot.stale = None;
        // A part keeps what is around it; a whole image is cleared.
        let load = match part {
            Some(_) => wgpu::LoadOp::Load,
            None => wgpu::LoadOp::Clear(wgpu::Color::BLACK),
        };
        let Some(off) = &slot.offscreen else {
            return;
        };
        let hu_target = off.preview.as_ref().filter(|_| preview.is_some()).map(|p| {
            wgpu::RenderPassColorAttachment {
                view: &p.hu_view,
                resolve_target: None,
                ops: wgpu::Operations {
                    load,
                    store: wgpu::StoreOp::Store,
                },
            }
        });
        let hu_target_on = hu_target.is_some();
        let uses_depth = matches!(
            draw,
            ViewDraw::Scene {
                scene: Scene3d::Surface(_),
                ..
            }
        );
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("view image"),
            color_attachments: &[
                Some(wgpu::RenderPassColorAttachment {
                    view: &off.color_view,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load,
                        store: wgpu::StoreOp::Store,
                    },
                }),
                hu_target,
            ][..1 + usize::from(hu_target_on)],
            // Only surfaces use depth; the ray caster composites in one pass.
            depth_stencil_attachment: off.depth_view.as_ref().filter(|_| uses_depth).map(|view| {
                wgpu::RenderPassDepthStencilAttachment {
                    view,
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(1.0),
                        store: wgpu::StoreOp::Discard,
                    }),
                    stencil_ops: None,
                }
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
        });
        match draw {
            ViewDraw::Slice { uniforms: u, .. } => {
                let Some(bg) = &slot.slice else {
                    return;
                };
                queue.write_buffer(&slot.uniforms, 0, bytemuck::bytes_of(u));
                let variant = usize::from(u.preview[3] > 0.0) + 2 * usize::from(hu_target_on);
                pass.set_pipeline(&self.slice_pipelines[variant]);
                pass.set_bind_group(0, bg, &[]);
                match part {
                    Some([[x0, x1], [y0, y1]]) => {
                        pass.set_scissor_rect(x0, y0, x1 - x0, y1 - y0);
                        self.slice_parts_rendered += 1;
                    }
                    None => self.slices_rendered += 1,
                }
                pass.draw(0..3, 0..1);
            }
            ViewDraw::Scene {
                scene: Scene3d::Surface(range),
                camera,
                ..
            } => {
                if let Some(mesh) = &self.mesh {
                    let u = MeshUniforms::new(camera, *range, off.size);
                    queue.write_buffer(&slot.uniforms, 0, bytemuck::bytes_of(&u));
                    draw_surface(
                        &mut pass,
                        &self.mesh_pipeline,
                        &slot.mesh,
                        mesh,
                        0..mesh.count,
                    );
                }
            }
            ViewDraw::Scene { .. } => {
                if let (Some(u), Some(bg)) = (ray, &slot.ray) {
                    queue.write_buffer(&slot.uniforms, 0, bytemuck::bytes_of(&u));
                    pass.set_pipeline(&self.ray_pipeline);
                    pass.set_bind_group(0, bg, &[]);
                    pass.draw(0..3, 0..1);
                }
            }
        }
        drop(pass);
        slot.painted = Painted::Offscreen;
        slot.drawn = Some(key);
    }

    /// Draws a view prepared this frame into the pass (its rectangle is the viewport).
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'static>, id: u64) {
        let Some(slot) = self.slots.get(&id) else {
            return;
        };
        if slot.painted == Painted::Offscreen
            && let Some(off) = &slot.offscreen
        {
            match off.preview.as_ref().filter(|_| slot.shows_preview) {
                Some(p) => {
                    pass.set_pipeline(&self.preview_pipeline);
                    pass.set_bind_group(0, &p.show, &[]);
                }
                None => {
                    pass.set_pipeline(&self.blit_pipeline);
                    pass.set_bind_group(0, &off.blit, &[]);
                }
            }
            pass.draw(0..3, 0..1);
        }
    }

    /// The offscreen image of a 3D view slot (for tests).
    pub fn offscreen_texture(&self, id: u64) -> Option<&wgpu::Texture> {
        self.slots.get(&id)?.offscreen.as_ref().map(|o| &o.color)
    }

    fn ray_uniforms(
        &self,
        scene: &Scene3d,
        camera: &Camera3d,
        size: [u32; 2],
        step_factor: f32,
    ) -> Option<RayUniforms> {
        let vol = self.volume.as_ref()?;
        let aspect = f64::from(size[0].max(1)) / f64::from(size[1].max(1));
        let finest = vol.spacing.iter().copied().fold(f64::INFINITY, f64::min);
        let step = (finest * f64::from(step_factor.max(0.1))) as f32;
        let (mode, wl) = match scene {
            Scene3d::Volume(_) => (0.0, WindowLevel::BONE),
            Scene3d::Mip(w) => (1.0, *w),
            Scene3d::Minip(w) => (2.0, *w),
            Scene3d::Surface(_) => return None,
        };
        let towards = -camera.forward();
        let light = DVec3::new(
            towards.dot(vol.col_dir),
            towards.dot(vol.row_dir),
            towards.dot(vol.slice_dir),
        );
        Some(RayUniforms {
            ijk_from_lps: vol.ijk_from_lps.as_mat4().to_cols_array_2d(),
            lps_from_clip: camera
                .clip_from_lps(aspect)
                .inverse()
                .as_mat4()
                .to_cols_array_2d(),
            dims: [
                vol.dims[0] as f32,
                vol.dims[1] as f32,
                vol.dims[2] as f32,
                HU_PER_UNIT,
            ],
            spacing: [
                vol.spacing[0] as f32,
                vol.spacing[1] as f32,
                vol.spacing[2] as f32,
                step,
            ],
            params: [mode, LUT_RANGE_HU.0, LUT_RANGE_HU.1, OPACITY_UNIT_MM],
            display: [
                wl.level as f32,
                wl.width as f32,
                1.0,
                match scene {
                    Scene3d::Volume(tf) => tf.transparent_below_hu(),
                    _ => f32::NEG_INFINITY,
                },
            ],
            light: [
                light.x as f32,
                light.y as f32,
                light.z as f32,
                if self.empty_space_skipping { 1.0 } else { 0.0 },
            ],
        })
    }
}
