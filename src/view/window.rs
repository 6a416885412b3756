//! Window/level: which HU range the screen's grey scale spans, with the standard presets
//! (one table for the window, the CPU renderer and the CLI).

use crate::volume::Volume;
use serde::{Deserialize, Serialize};

/// Window width and level in HU.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowLevel {
    /// Width, HU.
    pub width: f64,
    /// Level (centre), HU.
    pub level: f64,
}

impl WindowLevel {
    /// Bone 2000/300.
    pub const BONE: Self = Self::new(2000.0, 300.0);
    /// Brain 80/40.
    pub const BRAIN: Self = Self::new(80.0, 40.0);
    /// Soft tissue 400/40.
    pub const SOFT_TISSUE: Self = Self::new(400.0, 40.0);
    /// Lung 1500/−600.
    pub const LUNG: Self = Self::new(1500.0, -600.0);

    /// A window; width at least 1 HU.
    pub const fn new(width: f64, level: f64) -> Self {
        Self {
            width: if width < 1.0 { 1.0 } else { width },
            level,
        }
    }

    /// The window covering the 1st to 99th percentile of the HU above −1000 (air outside
    /// the patient would otherwise dominate).
    pub fn auto(v: &Volume) -> Self {
        let mut hist = vec![0u64; 4096 + 1024];
        let mut n = 0u64;
        // Every 7th voxel is plenty for a histogram and keeps this instant.
        for &h in v.hu.iter().step_by(7) {
            if h > -1000 {
                hist[(i32::from(h) + 1024).clamp(0, 5119) as usize] += 1;
                n += 1;
            }
        }
        if n == 0 {
            return Self::SOFT_TISSUE;
        }
        let at = |q: f64| {
            let target = (q * n as f64) as u64;
            let mut acc = 0u64;
            for (i, c) in hist.iter().enumerate() {
                acc += c;
                if acc > target {
                    return i as f64 - 1024.0;
                }
            }
            4095.0
        };
        let (lo, hi) = (at(0.01), at(0.99));
        Self::new(hi - lo, (hi + lo) / 2.0)
    }
}

impl WindowLevel {
    /// The named presets, as the CLI and the window offer them.
    pub const PRESETS: [(&'static str, &'static str, WindowLevel); 4] = [
        ("bone", "Bone", Self::BONE),
        ("brain", "Brain", Self::BRAIN),
        ("soft", "Soft tissue", Self::SOFT_TISSUE),
        ("lung", "Lung", Self::LUNG),
    ];

    /// The preset named `name` (`bone`, `brain`, `soft`, `lung`).
    pub fn preset(name: &str) -> Option<Self> {
        Self::PRESETS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, w)| *w)
    }
}
