//! The view model, free of any toolkit or GPU: window/level with its presets, slice planes
//! (any orientation, slab, zoom) and the 3D camera. The CPU renderer, the CLI and the
//! window share it; `gpu` turns it into shader uniforms, `ui` into widgets.

pub mod camera;
pub mod plane;
pub mod window;

pub use camera::{Camera3d, ViewPreset};
pub use plane::{PlaneAxes, SliceMode, SliceView, direction_letter, extent_in};
pub use window::WindowLevel;
