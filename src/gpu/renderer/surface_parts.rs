//! A new surface drawn over several frames: on a software rasteriser a model of a million
//! triangles takes a tenth of a second to draw, so it is drawn a budget of triangles a
//! frame into a second image while the last image stays shown, and appears when complete
//! (the parts share the depth buffer, so it equals a whole draw).

use super::super::scene3d::{MeshData, MeshUniforms, Scene3d};
use super::super::view_image::{Drawn, Offscreen};
use super::{Painted, ViewRenderer};
use wgpu::util::DeviceExt;

/// A surface's vertex and index buffers, made on any thread (a worker makes them so that
/// the UI thread never copies a large model) and handed to [`ViewRenderer::set_surface`].
#[derive(Clone)]
pub struct SurfaceBuffers {
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    /// Indices held (three per triangle).
    pub(super) count: u32,
}

impl SurfaceBuffers {
    /// The buffers of `mesh` on `device`; `None` for a surface without triangles.
    pub fn new(device: &wgpu::Device, mesh: &MeshData) -> Option<Self> {
        if mesh.indices.is_empty() {
            return None;
        }
        Some(Self {
            vertices: device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("surface vertices"),
                contents: bytemuck::cast_slice(&mesh.vertices),
                usage: wgpu::BufferUsages::VERTEX,
            }),
            indices: device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("surface indices"),
                contents: bytemuck::cast_slice(&mesh.indices),
                usage: wgpu::BufferUsages::INDEX,
            }),
            count: mesh.indices.len() as u32,
        })
    }

    /// Triangles held.
    pub fn triangles(&self) -> u32 {
        self.count / 3
    }
}

/// Draws `indices` (whole triangles) of `surface` with the surface pipeline.
pub(super) fn draw_surface(
    pass: &mut wgpu::RenderPass<'_>,
    pipeline: &wgpu::RenderPipeline,
    uniforms: &wgpu::BindGroup,
    surface: &SurfaceBuffers,
    indices: std::ops::Range<u32>,
) {
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, uniforms, &[]);
    pass.set_vertex_buffer(0, surface.vertices.slice(..));
    pass.set_index_buffer(surface.indices.slice(..), wgpu::IndexFormat::Uint32);
    pass.draw_indexed(indices, 0, 0..1);
}

/// A surface image drawn over several frames behind the image shown, so that no frame
/// waits for all of a large model on a slow rasteriser.
pub(super) struct Underway {
    /// What the image will show when complete.
    pub(super) key: Drawn,
    pub(super) image: Offscreen,
    /// The surface drawn (kept even when a newer one is set meanwhile).
    pub(super) surface: SurfaceBuffers,
    /// Indices drawn so far (whole triangles).
    pub(super) drawn_indices: u32,
}

impl ViewRenderer {
    /// Draws a new surface at most `triangles` per frame (`None`: whole), behind the
    /// image shown until it is complete. A moved camera or a resized view is drawn whole
    /// at once: the user is steering and wants the answer in that frame.
    pub fn set_triangles_per_frame(&mut self, triangles: Option<u32>) {
        self.triangles_per_frame = triangles.map(|t| t.max(1));
    }

    /// Parts of surface images drawn over several frames since the renderer was made.
    pub fn surface_parts_drawn(&self) -> u64 {
        self.surface_parts_drawn
    }

    /// True while a surface image is still being drawn in parts (draw more frames).
    pub fn drawing_underway(&self) -> bool {
        self.slots.values().any(|s| s.underway.is_some())
    }

    /// Draws the next part of slot `id`'s surface drawn in parts, when `key` calls for one:
    /// a surface over the frame's triangle budget to show where an image of the same
    /// camera and size is shown meanwhile. A drawing under way is finished, with its own
    /// buffers, before a newer surface starts, so surfaces arriving every frame (the live
    /// threshold preview) still appear. False: draw the view the usual way.
    pub(super) fn surface_part(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        id: u64,
        key: Drawn,
    ) -> bool {
        let (Some(budget), Drawn::Scene(Scene3d::Surface(_), camera, size, ..)) =
            (self.triangles_per_frame, key)
        else {
            return false;
        };
        let same_view =
            |d: &Drawn| matches!(d, Drawn::Scene(_, c, s, ..) if *c == camera && *s == size);
        let Some(slot) = self.slots.get(&id) else {
            return false;
        };
        let shown =
            slot.painted == Painted::Offscreen && slot.drawn.as_ref().is_some_and(same_view);
        let continuing = slot.underway.as_ref().is_some_and(|u| same_view(&u.key));
        let starting = !continuing
            && slot.drawn != Some(key)
            && self.mesh.as_ref().is_some_and(|m| m.triangles() > budget);
        if !shown || !(continuing || starting) {
            return false;
        }
        if starting {
            let Some(front) = &slot.offscreen else {
                return false;
            };
            let image = self.new_image(device, front.size, front.kind);
            let surface = self.mesh.clone();
            let Some(slot) = self.slots.get_mut(&id) else {
                return false;
            };
            slot.underway = surface.map(|surface| Underway {
                key,
                image,
                surface,
                drawn_indices: 0,
            });
        }
        let Some(slot) = self.slots.get_mut(&id) else {
            return false;
        };
        let Some(u) = &mut slot.underway else {
            return false;
        };
        let Drawn::Scene(Scene3d::Surface(range), camera, ..) = u.key else {
            return false;
        };
        let first = u.drawn_indices;
        let end = u
            .surface
            .count
            .min(first.saturating_add(budget.saturating_mul(3)));
        // The first part clears colour and depth; later ones draw over both.
        let (colour_load, depth_load) = if first == 0 {
            (
                wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                wgpu::LoadOp::Clear(1.0),
            )
        } else {
            (wgpu::LoadOp::Load, wgpu::LoadOp::Load)
        };
        let uniforms = MeshUniforms::new(&camera, range, u.image.size);
        queue.write_buffer(&slot.uniforms, 0, bytemuck::bytes_of(&uniforms));
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("surface part"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &u.image.color_view,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: colour_load,
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: u.image.depth_view.as_ref().map(|view| {
                    wgpu::RenderPassDepthStencilAttachment {
                        view,
                        depth_ops: Some(wgpu::Operations {
                            load: depth_load,
                            store: wgpu::StoreOp::Store,
                        }),
                        stencil_ops: None,
                    }
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
            });
            draw_surface(
                &mut pass,
                &self.mesh_pipeline,
                &slot.mesh,
                &u.surface,
                first..end,
            );
        }
        self.surface_parts_drawn += 1;
        u.drawn_indices = end;
        if end < u.surface.count {
            return true;
        }
        // Complete: shown from this frame. A newer surface waiting starts in the image
        // just replaced (its first part next frame).
        let Some(done) = slot.underway.take() else {
            return true;
        };
        let replaced = slot.offscreen.replace(done.image);
        slot.drawn = Some(done.key);
        slot.painted = Painted::Offscreen;
        if let (Some(image), Some(surface)) = (replaced, &self.mesh)
            && key != done.key
            && surface.triangles() > budget
        {
            slot.underway = Some(Underway {
                key,
                image,
                surface: surface.clone(),
                drawn_indices: 0,
            });
        }
        true
    }
}
