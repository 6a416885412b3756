//! How a view is set up from the command line (`hounsfield view … --layout --mode …`),
//! applied once the volume is loaded.

use super::app::App;
use super::prefs::Layout;
use super::viewer::{SceneMode, ViewId};
use crate::gpu::transfer::TransferPreset;
use crate::gpu::{SliceMode, ViewPreset, WindowLevel};

/// What the views show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ViewMode {
    /// Slices (MPR) and volume rendering in 3D.
    Mpr,
    /// Slab MIP in the slice views, full-volume MIP in 3D.
    Mip,
    /// Slab MinIP in the slice views, full-volume MinIP in 3D.
    Minip,
    /// Slices and volume rendering (the 3D view is the subject).
    Volume,
}

/// A window/level choice: a preset name or explicit values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowChoice {
    /// Fixed values.
    Fixed(WindowLevel),
    /// From the histogram.
    Auto,
}

impl WindowChoice {
    /// Parses `bone|brain|soft|lung|auto|WIDTH,LEVEL`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(w) = WindowLevel::preset(if s == "soft-tissue" { "soft" } else { s }) {
            return Ok(Self::Fixed(w));
        }
        Ok(match s {
            "auto" => Self::Auto,
            _ => {
                let (w, l) = s.split_once(',').ok_or_else(|| {
                    format!("--window `{s}`: use bone, brain, soft, lung, auto or WIDTH,LEVEL")
                })?;
                let w: f64 = w
                    .trim()
                    .parse()
                    .map_err(|_| format!("--window width `{w}` is not a number"))?;
                let l: f64 = l
                    .trim()
                    .parse()
                    .map_err(|_| format!("--window level `{l}` is not a number"))?;
                if !(w.is_finite() && w >= 1.0 && l.is_finite()) {
                    return Err(format!("--window {s}: the width must be at least 1 HU"));
                }
                Self::Fixed(WindowLevel::new(w, l))
            }
        })
    }
}

/// Setup applied when the volume appears.
#[derive(Debug, Clone, Copy)]
pub struct ViewSetup {
    /// Layout.
    pub layout: Layout,
    /// Mode.
    pub mode: ViewMode,
    /// Plane position of the main slice view along its normal, LPS mm.
    pub slice_mm: Option<f64>,
    /// Slab thickness, mm.
    pub slab_mm: f64,
    /// Window/level.
    pub window: WindowChoice,
    /// Transfer function.
    pub transfer: TransferPreset,
    /// 3D viewpoint.
    pub view3d: ViewPreset,
}

impl ViewSetup {
    /// Applies to a loaded app (no-op without a volume).
    pub fn apply(&self, app: &mut App) {
        app.prefs.layout = self.layout;
        let Some(v) = &mut app.viewer else {
            return;
        };
        v.slab_mm = self.slab_mm;
        v.transfer = self.transfer;
        v.window = match self.window {
            WindowChoice::Fixed(w) => w,
            WindowChoice::Auto => WindowLevel::auto(&v.volume),
        };
        (v.slice_mode, v.scene) = match self.mode {
            ViewMode::Mpr | ViewMode::Volume => (SliceMode::Slice, SceneMode::Volume),
            ViewMode::Mip => (SliceMode::Mip, SceneMode::Mip),
            ViewMode::Minip => (SliceMode::Minip, SceneMode::Minip),
        };
        v.view_3d(self.view3d);
        if let Some(mm) = self.slice_mm {
            let main = match self.layout {
                Layout::Single(id) if id != ViewId::ThreeD => id,
                _ => ViewId::Axial,
            };
            v.set_depth(main.index(), mm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_choices_parse() {
        assert_eq!(
            WindowChoice::parse("bone"),
            Ok(WindowChoice::Fixed(WindowLevel::BONE))
        );
        assert_eq!(
            WindowChoice::parse("400,40"),
            Ok(WindowChoice::Fixed(WindowLevel::new(400.0, 40.0)))
        );
        assert!(WindowChoice::parse("0,40").is_err());
        assert!(WindowChoice::parse("wide").is_err());
    }
}
