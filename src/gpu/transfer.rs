//! Transfer functions for volume rendering: piecewise-linear colour and opacity over HU,
//! baked into a 256-entry lookup texture.

use serde::{Deserialize, Serialize};

/// Transfer-function presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferPreset {
    /// Bone surfaces, ivory.
    CtBone,
    /// The skin surface.
    CtSkin,
    /// Soft tissue translucent, bone opaque.
    CtSoftTissue,
}

/// HU at the first and last lookup entry.
pub const LUT_RANGE_HU: (f32, f32) = (-1024.0, 3071.0);
/// Lookup entries.
pub const LUT_SIZE: usize = 256;
/// Path length, mm, over which a preset's opacity applies (opacity is corrected for the
/// actual ray step).
pub const OPACITY_UNIT_MM: f32 = 0.5;

/// A control point: HU, RGB 0..1, opacity 0..1.
type Point = (f32, [f32; 3], f32);

impl TransferPreset {
    /// All presets.
    pub const ALL: [Self; 3] = [Self::CtBone, Self::CtSkin, Self::CtSoftTissue];

    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Self::CtBone => "CT-Bone",
            Self::CtSkin => "CT-Skin",
            Self::CtSoftTissue => "CT-Soft tissue",
        }
    }

    fn points(self) -> &'static [Point] {
        match self {
            // After 3D Slicer's CT-Bone: nothing below fat, a ramp to opaque ivory bone.
            Self::CtBone => &[
                (-1024.0, [0.0, 0.0, 0.0], 0.0),
                (150.0, [0.55, 0.25, 0.15], 0.0),
                (300.0, [0.85, 0.60, 0.40], 0.35),
                (700.0, [0.96, 0.90, 0.78], 0.85),
                (3071.0, [1.0, 1.0, 1.0], 0.95),
            ],
            Self::CtSkin => &[
                (-1024.0, [0.0, 0.0, 0.0], 0.0),
                (-500.0, [0.75, 0.50, 0.40], 0.0),
                (-300.0, [0.93, 0.73, 0.62], 0.9),
                (3071.0, [1.0, 0.95, 0.90], 0.95),
            ],
            Self::CtSoftTissue => &[
                (-1024.0, [0.0, 0.0, 0.0], 0.0),
                (-150.0, [0.55, 0.25, 0.20], 0.0),
                (40.0, [0.80, 0.35, 0.30], 0.04),
                (150.0, [0.90, 0.55, 0.45], 0.08),
                (300.0, [0.95, 0.88, 0.75], 0.6),
                (3071.0, [1.0, 1.0, 1.0], 0.9),
            ],
        }
    }

    /// HU below which the preset is fully transparent (rays skip the lookup there).
    pub fn transparent_below_hu(self) -> f32 {
        let lut = self.lut();
        let first = lut.iter().position(|e| e[3] > 0).unwrap_or(LUT_SIZE - 1);
        // One entry lower: linear filtering blends in the next entry's opacity.
        LUT_RANGE_HU.0
            + (LUT_RANGE_HU.1 - LUT_RANGE_HU.0) * first.saturating_sub(1) as f32
                / (LUT_SIZE - 1) as f32
    }

    /// The lookup table as RGBA8, entry `i` at HU `lo + i·(hi − lo)/255`.
    pub fn lut(self) -> Vec<[u8; 4]> {
        let pts = self.points();
        (0..LUT_SIZE)
            .map(|i| {
                let hu = LUT_RANGE_HU.0
                    + (LUT_RANGE_HU.1 - LUT_RANGE_HU.0) * i as f32 / (LUT_SIZE - 1) as f32;
                let (rgb, a) = eval(pts, hu);
                let q = |x: f32| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
                [q(rgb[0]), q(rgb[1]), q(rgb[2]), q(a)]
            })
            .collect()
    }
}

fn eval(pts: &[Point], hu: f32) -> ([f32; 3], f32) {
    let first = pts[0];
    if hu <= first.0 {
        return (first.1, first.2);
    }
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if hu <= b.0 {
            let t = (hu - a.0) / (b.0 - a.0).max(1e-6);
            let c = [
                a.1[0] + (b.1[0] - a.1[0]) * t,
                a.1[1] + (b.1[1] - a.1[1]) * t,
                a.1[2] + (b.1[2] - a.1[2]) * t,
            ];
            return (c, a.2 + (b.2 - a.2) * t);
        }
    }
    let last = pts[pts.len() - 1];
    (last.1, last.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bone_is_transparent_in_soft_tissue_and_opaque_in_cortex() {
        let lut = TransferPreset::CtBone.lut();
        let at = |hu: f32| {
            let i = ((hu - LUT_RANGE_HU.0) / (LUT_RANGE_HU.1 - LUT_RANGE_HU.0) * 255.0).round();
            lut[i as usize]
        };
        assert_eq!(at(40.0)[3], 0);
        assert!(at(1200.0)[3] > 200);
        let skin = TransferPreset::CtSkin.lut();
        assert!(skin[((0.0 - LUT_RANGE_HU.0) / 4095.0 * 255.0) as usize][3] > 200);
    }
}
