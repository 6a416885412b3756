//! Deformable models: Chan–Vese (region) and geodesic active contour (edge) level sets,
//! evolved from an initial label inside its bounding box plus a margin.

use super::edge::spacing_of;
use crate::segment::algo::level_set::{self, GacParams, LevelSetParams};
use crate::segment::mask::Mask;
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, require_label, same_grid};
use crate::volume::Volume;
use ndarray::s;
use serde::{Deserialize, Serialize};

/// Chan–Vese from the `init` label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChanVese {
    /// Initial contour: this label.
    pub init: String,
    /// Evolution steps.
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    /// Time step (grid units, 0..=1).
    #[serde(default = "one")]
    pub time_step: f64,
    /// Weight of the curvature (length) term.
    #[serde(default = "default_curvature")]
    pub curvature_weight: f64,
    /// Evolve each slice on its own.
    #[serde(default)]
    pub per_slice: bool,
    /// Region of interest: the init's bounding box grown by this margin, mm.
    #[serde(default = "default_margin")]
    pub margin_mm: f64,
    /// Result label (default: `init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Geodesic active contour from the `init` label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeodesicActiveContour {
    /// Initial contour: this label.
    pub init: String,
    /// Evolution steps.
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    /// Largest time step (grid units).
    #[serde(default = "half")]
    pub time_step: f64,
    /// Weight of the curvature term.
    #[serde(default = "default_curvature")]
    pub curvature_weight: f64,
    /// Balloon force: > 0 expands, < 0 shrinks.
    #[serde(default = "one")]
    pub propagation_weight: f64,
    /// Pull onto edges.
    #[serde(default = "one")]
    pub advection_weight: f64,
    /// Edge scale, HU/mm: gradients well above it stop the contour.
    #[serde(default = "default_edge_k")]
    pub edge_k: f64,
    /// Gaussian σ before the gradient, mm.
    #[serde(default = "one")]
    pub sigma_mm: f64,
    /// Evolve each slice on its own.
    #[serde(default)]
    pub per_slice: bool,
    /// Region of interest margin around the init's bounding box, mm.
    #[serde(default = "default_margin")]
    pub margin_mm: f64,
    /// Result label (default: `init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

fn default_iterations() -> usize {
    100
}
fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn default_curvature() -> f64 {
    0.2
}
fn default_margin() -> f64 {
    10.0
}
fn default_edge_k() -> f64 {
    50.0
}

fn check_common(
    seg: &Segmentation,
    init: &str,
    iterations: usize,
    time_step: f64,
    curvature: f64,
    margin: f64,
) -> Result<(), OpError> {
    require_label(seg, init, "init")?;
    if iterations == 0 || iterations > 10_000 {
        return Err(OpError::invalid("iterations", "must be 1..=10000"));
    }
    if !(time_step.is_finite() && time_step > 0.0 && time_step <= 1.0) {
        return Err(OpError::invalid("time_step", "must be in (0, 1]"));
    }
    if !(curvature.is_finite() && curvature >= 0.0) {
        return Err(OpError::invalid("curvature_weight", "must be 0 or more"));
    }
    if !(margin.is_finite() && (0.0..=200.0).contains(&margin)) {
        return Err(OpError::invalid("margin_mm", "must be in 0..=200 mm"));
    }
    Ok(())
}

/// The label a level set writes: `label`, or the init label itself.
fn result_label(label: &Option<String>, init: &str) -> String {
    label.clone().unwrap_or_else(|| init.to_string())
}

/// Stores a level-set result and says how large it is.
fn store(seg: &mut Segmentation, t: String, m: Mask) -> Outcome {
    let n = m.count();
    seg.set_mask(&t, m);
    Outcome::changed(&t).note(format!("{n} voxels"))
}

/// Runs `f` on the region of interest around `init` and pastes the result back.
fn on_roi<F>(
    v: &Volume,
    seg: &Segmentation,
    init: &str,
    margin_mm: f64,
    f: F,
) -> Result<Mask, OpError>
where
    F: Fn(ndarray::ArrayView3<'_, i16>, ndarray::ArrayView3<'_, bool>) -> ndarray::Array3<bool>,
{
    let m = &seg
        .get(init)
        .ok_or_else(|| OpError::NoLabel(init.into()))?
        .mask;
    let dims = m.dims();
    let mut lo = dims;
    let mut hi = [0usize; 3];
    for k in 0..dims[0] {
        for j in 0..dims[1] {
            for (a, b) in m.row_runs(k, j) {
                lo = [lo[0].min(k), lo[1].min(j), lo[2].min(a)];
                hi = [hi[0].max(k), hi[1].max(j), hi[2].max(b - 1)];
            }
        }
    }
    if lo[0] > hi[0] {
        return Ok(Mask::new(dims));
    }
    let sp = spacing_of(v);
    let mut a = [0usize; 3];
    let mut b = [0usize; 3];
    for ax in 0..3 {
        let pad = (margin_mm / sp[ax]).ceil() as usize;
        a[ax] = lo[ax].saturating_sub(pad);
        b[ax] = (hi[ax] + pad + 1).min(dims[ax]);
    }
    let img = v.hu.slice(s![a[0]..b[0], a[1]..b[1], a[2]..b[2]]);
    let full = m.to_bools();
    let ini = full.slice(s![a[0]..b[0], a[1]..b[1], a[2]..b[2]]);
    let out = f(img, ini);
    Ok(Mask::from_fn(dims, |k, j, i| {
        (a[0]..b[0]).contains(&k)
            && (a[1]..b[1]).contains(&j)
            && (a[2]..b[2]).contains(&i)
            && out[[k - a[0], j - a[1], i - a[2]]]
    }))
}

impl SegOp for ChanVese {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        check_common(
            seg,
            &self.init,
            self.iterations,
            self.time_step,
            self.curvature_weight,
            self.margin_mm,
        )
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let p = LevelSetParams {
            iterations: self.iterations,
            time_step: self.time_step,
            curvature_weight: self.curvature_weight,
        };
        let sp = spacing_of(v);
        let m = on_roi(v, seg, &self.init, self.margin_mm, |img, ini| {
            level_set::chan_vese(img, sp, ini, &p, self.per_slice)
        })?;
        Ok(store(seg, result_label(&self.label, &self.init), m))
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![result_label(&self.label, &self.init)])
    }
}

impl SegOp for GeodesicActiveContour {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        check_common(
            seg,
            &self.init,
            self.iterations,
            self.time_step,
            self.curvature_weight,
            self.margin_mm,
        )?;
        for (x, f) in [
            (self.propagation_weight, "propagation_weight"),
            (self.advection_weight, "advection_weight"),
            (self.edge_k, "edge_k"),
            (self.sigma_mm, "sigma_mm"),
        ] {
            if !x.is_finite() {
                return Err(OpError::invalid(f, "must be a finite number"));
            }
        }
        if self.edge_k <= 0.0 {
            return Err(OpError::invalid("edge_k", "must be positive"));
        }
        Ok(())
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let p = GacParams {
            iterations: self.iterations,
            time_step: self.time_step,
            curvature_weight: self.curvature_weight,
            propagation_weight: self.propagation_weight,
            advection_weight: self.advection_weight,
            edge_k: self.edge_k,
            sigma_mm: self.sigma_mm,
        };
        let sp = spacing_of(v);
        let m = on_roi(v, seg, &self.init, self.margin_mm, |img, ini| {
            level_set::geodesic_active_contour(img, sp, ini, &p, self.per_slice)
        })?;
        Ok(store(seg, result_label(&self.label, &self.init), m))
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![result_label(&self.label, &self.init)])
    }
}
