//! Drawing the whole window without a display: egui's output rendered by egui-wgpu into an
//! offscreen texture, paint callbacks included — the same `App::ui` and the same view
//! renderer as the window. Used by `hounsfield view --screenshot/--bench-frames` and tests.

use super::app::App;
use crate::gpu::device::{Gpu, RenderError};
use crate::gpu::readback::{self, Image, Target};
use eframe::egui_wgpu;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An offscreen window.
pub struct Headless {
    gpu: Gpu,
    state: egui_wgpu::RenderState,
    ctx: egui::Context,
    target: Target,
    size: [u32; 2],
    start: Instant,
    /// The UI thread's part of every frame so far (until the GPU work is submitted).
    ui_time: Duration,
    /// Input for the next frame (pointer moves, clicks, keys), as a window would get it.
    pub events: Vec<egui::Event>,
}

impl Headless {
    /// Opens a GPU (or lavapipe) and a `size` target.
    pub fn new(size: [u32; 2]) -> Result<Self, RenderError> {
        let gpu = Gpu::headless()?;
        let renderer = egui_wgpu::Renderer::new(&gpu.device, readback::FORMAT, None, 1, false);
        let state = egui_wgpu::RenderState {
            adapter: gpu.adapter.clone(),
            available_adapters: vec![gpu.adapter.clone()],
            device: gpu.device.clone(),
            queue: gpu.queue.clone(),
            target_format: readback::FORMAT,
            renderer: Arc::new(egui::mutex::RwLock::new(renderer)),
        };
        let target = Target::new(&gpu.device, size);
        let ctx = egui::Context::default();
        ctx.set_visuals(egui::Visuals::dark());
        Ok(Self {
            gpu,
            state,
            ctx,
            target,
            size,
            start: Instant::now(),
            ui_time: Duration::ZERO,
            events: Vec::new(),
        })
    }

    /// The render state to give [`App::new`].
    pub fn render_state(&self) -> egui_wgpu::RenderState {
        self.state.clone()
    }

    /// "adapter (backend, type)".
    pub fn describe(&self) -> String {
        self.gpu.describe()
    }

    /// Runs one frame of the app and waits for the GPU; returns the frame time.
    pub fn frame(&mut self, app: &mut App) -> Result<Duration, RenderError> {
        let t0 = Instant::now();
        let [w, h] = self.size;
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(w as f32, h as f32),
            )),
            time: Some(self.start.elapsed().as_secs_f64()),
            max_texture_side: Some(self.gpu.device.limits().max_texture_dimension_2d as usize),
            events: std::mem::take(&mut self.events),
            ..Default::default()
        };
        let out = self.ctx.run(input, |ctx| app.ui(ctx));
        let prims = self.ctx.tessellate(out.shapes, out.pixels_per_point);
        let screen = egui_wgpu::ScreenDescriptor {
            size_in_pixels: [w, h],
            pixels_per_point: out.pixels_per_point,
        };
        let (device, queue) = (&self.gpu.device, &self.gpu.queue);
        let mut renderer = self.state.renderer.write();
        for (id, delta) in &out.textures_delta.set {
            renderer.update_texture(device, queue, *id, delta);
        }
        let mut encoder = device.create_command_encoder(&Default::default());
        let mut commands = renderer.update_buffers(device, queue, &mut encoder, &prims, &screen);
        {
            let mut pass = readback::clear_pass(&mut encoder, &self.target.view, "window");
            renderer.render(&mut pass, &prims, &screen);
        }
        commands.push(encoder.finish());
        queue.submit(commands);
        for id in &out.textures_delta.free {
            renderer.free_texture(id);
        }
        drop(renderer);
        self.ui_time += t0.elapsed();
        device
            .poll(wgpu::PollType::Wait)
            .map_err(|e| RenderError::Readback(e.to_string()))?;
        Ok(t0.elapsed())
    }

    /// Running totals of the frames drawn so far (a benchmark row takes their difference).
    pub fn marks(&self) -> FrameMarks {
        let renderer = self.state.renderer.read();
        let views = renderer
            .callback_resources
            .get::<crate::gpu::ViewRenderer>();
        FrameMarks {
            slices_rendered: views.map_or(0, |r| r.slices_rendered()),
            slice_parts_rendered: views.map_or(0, |r| r.slice_parts_rendered()),
            surface_parts_drawn: views.map_or(0, |r| r.surface_parts_drawn()),
            ui_time: self.ui_time,
        }
    }

    /// Runs a few frames (layout settles, fonts load), and more while a surface is still
    /// uploaded or drawn in parts, and returns the last one's pixels.
    pub fn screenshot(&mut self, app: &mut App) -> Result<Image, RenderError> {
        for _ in 0..3 {
            self.frame(app)?;
        }
        let t0 = Instant::now();
        while app.drawing_surface() && t0.elapsed() < Duration::from_secs(120) {
            self.frame(app)?;
        }
        readback::read_texture(&self.gpu.device, &self.gpu.queue, &self.target.texture)
    }
}

/// Running totals of an offscreen window's frames.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameMarks {
    /// Slice images the view renderer rendered whole (re-shown ones do not count).
    pub slices_rendered: u64,
    /// Parts of slice images it rendered again after a label upload.
    pub slice_parts_rendered: u64,
    /// Parts of new surfaces it drew over several frames.
    pub surface_parts_drawn: u64,
    /// The UI thread's part of the frames: egui, the views' uploads and command
    /// encoding, until the GPU work is submitted (the rest is the GPU's, or lavapipe's).
    pub ui_time: Duration,
}

impl FrameMarks {
    /// What happened between `earlier` and `self`, per frame over `frames` frames.
    pub fn per_frame_since(&self, earlier: &Self, frames: usize) -> PerFrame {
        let n = frames.max(1) as f64;
        PerFrame {
            slices_rendered: self.slices_rendered.saturating_sub(earlier.slices_rendered) as f64
                / n,
            slice_parts_rendered: self
                .slice_parts_rendered
                .saturating_sub(earlier.slice_parts_rendered)
                as f64
                / n,
            surface_parts_drawn: self
                .surface_parts_drawn
                .saturating_sub(earlier.surface_parts_drawn)
                as f64
                / n,
            ui_ms: self.ui_time.saturating_sub(earlier.ui_time).as_secs_f64() * 1000.0 / n,
        }
    }

    /// The sum of two spans' marks (each taken as the difference of two marks).
    pub fn add_span(&mut self, before: &Self, after: &Self) {
        self.slices_rendered += after.slices_rendered.saturating_sub(before.slices_rendered);
        self.slice_parts_rendered += after
            .slice_parts_rendered
            .saturating_sub(before.slice_parts_rendered);
        self.surface_parts_drawn += after
            .surface_parts_drawn
            .saturating_sub(before.surface_parts_drawn);
        self.ui_time += after.ui_time.saturating_sub(before.ui_time);
    }
}

/// A benchmark row's means per frame.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PerFrame {
    /// Slice images rendered whole.
    pub slices_rendered: f64,
    /// Parts of slice images rendered after label uploads.
    pub slice_parts_rendered: f64,
    /// Parts of new surfaces drawn (a large one is drawn over several frames).
    pub surface_parts_drawn: f64,
    /// The UI thread's part, ms.
    pub ui_ms: f64,
}

impl std::fmt::Display for PerFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "UI thread {:.1} ms, {:.2} slice images, {:.2} slice parts and {:.2} surface parts \
             rendered per frame",
            self.ui_ms, self.slices_rendered, self.slice_parts_rendered, self.surface_parts_drawn
        )
    }
}

/// Mean and 95th percentile of frame times, ms.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct FrameStats {
    /// Mean, ms.
    pub mean_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 1000 / mean.
    pub fps: f64,
    /// Frames measured.
    pub frames: usize,
}

impl FrameStats {
    /// Statistics of a run.
    pub fn of(times: &[Duration]) -> Self {
        let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len().max(1);
        let mean = ms.iter().sum::<f64>() / n as f64;
        let p95 = ms
            .get(((n as f64 * 0.95).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0.0);
        Self {
            mean_ms: mean,
            p95_ms: p95,
            fps: if mean > 0.0 { 1000.0 / mean } else { 0.0 },
            frames: ms.len(),
        }
    }
}
