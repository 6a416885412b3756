//! GPU rendering of the views: WGSL shaders in `shaders/` driven through wgpu. Nothing here
//! knows about egui; the UI hands each view's parameters to [`renderer::ViewRenderer`] from
//! its paint callbacks, and tests and the headless `view` command render offscreen through
//! the same code.
//!
//! The CPU reference for the slice shader is [`crate::volume::reslice`].

pub mod colormap;
pub mod compute;
pub mod device;
pub mod labels;
mod pipelines;
pub mod readback;
pub mod renderer;
pub mod scene3d;
pub mod shaders;
pub mod slice_view;
pub mod transfer;
mod view_image;

pub use crate::view::{Camera3d, SliceMode, SliceView, ViewPreset, WindowLevel};
pub use device::{Gpu, RenderError};
pub use renderer::ViewRenderer;
pub use scene3d::{MeshData, Scene3d};
