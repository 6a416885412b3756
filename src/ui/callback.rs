//! The bridge from egui's paint callbacks to the view renderer (prepare, then paint).

use crate::gpu::ViewRenderer;
use crate::gpu::renderer::ViewDraw;
use eframe::egui_wgpu;

/// One view's drawing this frame.
pub struct ViewCallback {
    /// Renderer slot (one per view).
    pub slot: u64,
    /// What to draw.
    pub draw: ViewDraw,
}

impl egui_wgpu::CallbackTrait for ViewCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(r) = resources.get_mut::<ViewRenderer>() {
            r.prepare(device, queue, encoder, self.slot, &self.draw);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(r) = resources.get::<ViewRenderer>() {
            r.paint(pass, self.slot);
        }
    }
}
