//! Edge-based segmentation: gradient magnitude (Sobel) and Canny edges, producing a mask;
//! `connected_threshold` can also stop its growth at edges (`max_gradient`).

use crate::segment::algo::gradient;
use crate::segment::mask::Mask;
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, same_grid, target};
use crate::volume::Volume;
use serde::{Deserialize, Serialize};

/// Voxels whose Sobel gradient magnitude (HU/mm) lies in `[min, max]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradientThreshold {
    /// Lowest gradient magnitude kept, HU/mm.
    pub min_hu_per_mm: f64,
    /// Highest kept (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hu_per_mm: Option<f64>,
    /// 2D gradient within each slice instead of 3D.
    #[serde(default)]
    pub per_slice: bool,
    /// Target label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Canny edges: Gaussian smoothing, non-maximum suppression, hysteresis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canny {
    /// Gaussian σ, mm.
    #[serde(default = "default_sigma")]
    pub sigma_mm: f64,
    /// Weak edge threshold, HU/mm.
    pub low_hu_per_mm: f32,
    /// Strong edge threshold, HU/mm.
    pub high_hu_per_mm: f32,
    /// 2D edges within each slice instead of 3D.
    #[serde(default)]
    pub per_slice: bool,
    /// Target label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

fn default_sigma() -> f64 {
    1.0
}

/// `[slice, row, column]` spacing of a volume.
pub fn spacing_of(v: &Volume) -> [f64; 3] {
    let s = v.geometry.spacing;
    [s.slice, s.row, s.col]
}

impl SegOp for GradientThreshold {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        if !(self.min_hu_per_mm.is_finite() && self.min_hu_per_mm >= 0.0) {
            return Err(OpError::invalid("min_hu_per_mm", "must be 0 or more"));
        }
        if let Some(m) = self.max_hu_per_mm
            && !(m.is_finite() && m >= self.min_hu_per_mm)
        {
            return Err(OpError::invalid(
                "max_hu_per_mm",
                "must be at least min_hu_per_mm",
            ));
        }
        Ok(())
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let g = gradient::sobel_magnitude(v.hu.view(), spacing_of(v), self.per_slice);
        let (lo, hi) = (
            self.min_hu_per_mm,
            self.max_hu_per_mm.unwrap_or(f64::INFINITY),
        );
        let m = Mask::from_fn(v.dims(), |k, j, i| {
            let x = f64::from(g[[k, j, i]]);
            x >= lo && x <= hi
        });
        let t = target(&self.label);
        seg.set_mask(t, m);
        Ok(Outcome::changed(t))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

impl SegOp for Canny {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        if !(self.sigma_mm.is_finite() && (0.0..=20.0).contains(&self.sigma_mm)) {
            return Err(OpError::invalid("sigma_mm", "must be in 0..=20 mm"));
        }
        if !(self.low_hu_per_mm.is_finite() && self.low_hu_per_mm >= 0.0) {
            return Err(OpError::invalid("low_hu_per_mm", "must be 0 or more"));
        }
        if !(self.high_hu_per_mm.is_finite() && self.high_hu_per_mm >= self.low_hu_per_mm) {
            return Err(OpError::invalid(
                "high_hu_per_mm",
                "must be at least low_hu_per_mm",
            ));
        }
        Ok(())
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let e = gradient::canny(
            v.hu.view(),
            spacing_of(v),
            self.sigma_mm,
            self.low_hu_per_mm,
            self.high_hu_per_mm,
            self.per_slice,
        );
        let m = Mask::from_bools(e.view());
        let n = m.count();
        let t = target(&self.label);
        seg.set_mask(t, m);
        Ok(Outcome::changed(t).note(format!("{n} edge voxels")))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}
