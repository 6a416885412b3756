//! Rendering into a texture and reading the pixels back: shader tests, screenshots and
//! frame-time benchmarks without a window.

use super::device::RenderError;

/// Pixel format of offscreen images.
pub const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// An RGBA8 image, row-major.
#[derive(Debug, Clone)]
pub struct Image {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// RGBA bytes.
    pub rgba: Vec<u8>,
}

impl Image {
    /// The red channel (grey images) as one byte per pixel.
    pub fn grey(&self) -> Vec<u8> {
        self.rgba.chunks_exact(4).map(|p| p[0]).collect()
    }

    /// RGBA at a pixel.
    pub fn at(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.width + x) * 4) as usize;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }
}

/// A colour target that can be copied out.
pub struct Target {
    /// The texture.
    pub texture: wgpu::Texture,
    /// Its view.
    pub view: wgpu::TextureView,
    /// Size.
    pub size: [u32; 2],
}

impl Target {
    /// A new target of `size` in [`FORMAT`].
    pub fn new(device: &wgpu::Device, size: [u32; 2]) -> Self {
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("offscreen target"),
            size: wgpu::Extent3d {
                width: size[0].max(1),
                height: size[1].max(1),
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        Self {
            texture,
            view,
            size,
        }
    }
}

/// Copies a texture (RGBA8 or BGRA8) to memory, waiting for the GPU.
pub fn read_texture(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    texture: &wgpu::Texture,
) -> Result<Image, RenderError> {
    let (w, h) = (texture.width(), texture.height());
    let bgra = matches!(
        texture.format(),
        wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Bgra8UnormSrgb
    );
    let row =
        (w * 4).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: u64::from(row) * u64::from(h),
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(row),
                rows_per_image: Some(h),
            },
        },
        texture.size(),
    );
    queue.submit([encoder.finish()]);
    let slice = buffer.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device
        .poll(wgpu::PollType::Wait)
        .map_err(|e| RenderError::Readback(e.to_string()))?;
    rx.recv()
        .map_err(|e| RenderError::Readback(e.to_string()))?
        .map_err(|e| RenderError::Readback(e.to_string()))?;
    let data = slice.get_mapped_range();
    let mut rgba = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h as usize {
        let line = &data[y * row as usize..y * row as usize + (w * 4) as usize];
        if bgra {
            for p in line.chunks_exact(4) {
                rgba.extend_from_slice(&[p[2], p[1], p[0], p[3]]);
            }
        } else {
            rgba.extend_from_slice(line);
        }
    }
    drop(data);
    buffer.unmap();
    Ok(Image {
        width: w,
        height: h,
        rgba,
    })
}

/// The view slot [`render_view`] and [`draw_view`] draw through.
const SLOT: u64 = u64::MAX;

/// Renders one view alone into a new target of `size` and reads it back.
pub fn render_view(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    renderer: &mut super::ViewRenderer,
    draw: &super::renderer::ViewDraw,
    size: [u32; 2],
) -> Result<Image, RenderError> {
    render_slot(device, queue, renderer, SLOT, draw, size)
}

/// [`render_view`] through view slot `slot` (each slot keeps its own image, as each view
/// of the window does).
pub fn render_slot(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    renderer: &mut super::ViewRenderer,
    slot: u64,
    draw: &super::renderer::ViewDraw,
    size: [u32; 2],
) -> Result<Image, RenderError> {
    let target = Target::new(device, size);
    draw_slot(device, queue, renderer, slot, draw, &target);
    read_texture(device, queue, &target.texture)
}

/// Renders one view into a target and submits (does not wait).
pub fn draw_view(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    renderer: &mut super::ViewRenderer,
    draw: &super::renderer::ViewDraw,
    target: &Target,
) {
    draw_slot(device, queue, renderer, SLOT, draw, target);
}

fn draw_slot(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    renderer: &mut super::ViewRenderer,
    slot: u64,
    draw: &super::renderer::ViewDraw,
    target: &Target,
) {
    let mut encoder = device.create_command_encoder(&Default::default());
    renderer.prepare(device, queue, &mut encoder, slot, draw);
    {
        let mut pass = clear_pass(&mut encoder, &target.view, "offscreen view");
        renderer.paint(&mut pass, slot);
    }
    queue.submit([encoder.finish()]);
}

/// A colour pass over `view` cleared to black, detached from the encoder's borrow as
/// egui-wgpu's paint callbacks need.
pub fn clear_pass(
    encoder: &mut wgpu::CommandEncoder,
    view: &wgpu::TextureView,
    label: &str,
) -> wgpu::RenderPass<'static> {
    encoder
        .begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some(label),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
        })
        .forget_lifetime()
}

/// Writes an image as PNG, atomically.
pub fn save_png(img: &Image, path: &std::path::Path) -> std::io::Result<()> {
    crate::io::atomic::write_atomic(path, |w| {
        let mut enc = png::Encoder::new(w, img.width, img.height);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(std::io::Error::other)?;
        wr.write_image_data(&img.rgba)
            .map_err(std::io::Error::other)?;
        wr.finish().map_err(std::io::Error::other)
    })
}
