//! What outlives a session (through eframe's persistence): layout, display convention,
//! transfer function, slab thickness, recent files and cases, the operator's name, the
//! case folder and the threshold presets.

use crate::gpu::transfer::TransferPreset;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::viewer::ViewId;

/// How the central area is divided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Axial, coronal, sagittal and 3D in a 2×2 grid.
    Grid2x2,
    /// The three slice views side by side.
    Row1x3,
    /// One view alone.
    Single(ViewId),
}

impl Layout {
    /// Parses the CLI's `--layout` values.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "2x2" => Self::Grid2x2,
            "1x3" => Self::Row1x3,
            "axial" => Self::Single(ViewId::Axial),
            "coronal" => Self::Single(ViewId::Coronal),
            "sagittal" => Self::Single(ViewId::Sagittal),
            "3d" => Self::Single(ViewId::ThreeD),
            _ => return None,
        })
    }
}

/// Most recent files kept.
pub const MAX_RECENT: usize = 10;

/// Persisted preferences.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    /// Layout of the views.
    pub layout: Layout,
    /// Radiological convention (patient's left on screen right).
    pub radiological: bool,
    /// Volume-rendering preset.
    pub transfer: TransferPreset,
    /// Slab thickness, mm.
    pub slab_mm: f64,
    /// Recently opened paths, newest first.
    pub recent: Vec<PathBuf>,
    /// The operator's name for new cases.
    pub operator: String,
    /// Where new cases go.
    pub case_folder: Option<PathBuf>,
    /// Recently opened cases, newest first.
    pub recent_cases: Vec<PathBuf>,
    /// The operator's threshold presets (`None`: the built-in table).
    pub presets: Option<crate::segment::presets::Presets>,
    /// Where reconstruction computes the surface: a real GPU when there is one (`auto`),
    /// always the CPU, or the GPU.
    pub compute: crate::compute::ComputeChoice,
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            layout: Layout::Grid2x2,
            radiological: true,
            transfer: TransferPreset::CtBone,
            slab_mm: 20.0,
            recent: Vec::new(),
            operator: String::new(),
            case_folder: None,
            recent_cases: Vec::new(),
            presets: None,
            compute: crate::compute::ComputeChoice::Auto,
        }
    }
}

impl Prefs {
    /// Puts a path first in the recent list.
    pub fn remember(&mut self, path: PathBuf) {
        self.recent.retain(|p| p != &path);
        self.recent.insert(0, path);
        self.recent.truncate(MAX_RECENT);
    }

    /// Puts a case first in the recent cases.
    pub fn remember_case(&mut self, path: PathBuf) {
        self.recent_cases.retain(|p| p != &path);
        self.recent_cases.insert(0, path);
        self.recent_cases.truncate(MAX_RECENT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_files_are_unique_newest_first_and_bounded() {
        let mut p = Prefs::default();
        for i in 0..15 {
            p.remember(PathBuf::from(format!("/d/{i}")));
        }
        p.remember(PathBuf::from("/d/12"));
        assert_eq!(p.recent.len(), MAX_RECENT);
        assert_eq!(p.recent[0], PathBuf::from("/d/12"));
        assert_eq!(
            p.recent
                .iter()
                .filter(|x| x.as_path() == std::path::Path::new("/d/12"))
                .count(),
            1
        );
    }

    #[test]
    fn old_or_partial_preferences_still_load() {
        let p: Prefs = serde_json::from_str(r#"{"layout":"Row1x3"}"#).unwrap();
        assert_eq!(p.layout, Layout::Row1x3);
        assert!(p.radiological);
    }
}
