//! Region growing from seeds: connected threshold, and confidence connected (mean ± k·σ
//! of the region, re-estimated each iteration), in 3D or within the seeds' slices.

use super::threshold::threshold_mask;
use crate::segment::components::{self, Connectivity};
use crate::segment::mask::Mask;
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, same_grid, target};
use crate::segment::seeds::{self, Seed};
use crate::volume::Volume;
use serde::{Deserialize, Serialize};

fn default_conn() -> Connectivity {
    Connectivity::TwentySix
}

/// Voxels with `lo <= HU <= hi` connected to a seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectedThreshold {
    /// Seeds.
    pub seeds: Vec<Seed>,
    /// Lowest HU, inclusive.
    pub lo: i32,
    /// Highest HU, inclusive.
    pub hi: i32,
    /// 6, 18 or 26 (in a slice: 4 for 6, else 8).
    #[serde(default = "default_conn")]
    pub connectivity: Connectivity,
    /// Grow only within each seed's slice (2D).
    #[serde(default)]
    pub per_slice: bool,
    /// Stop at edges: voxels whose Sobel gradient magnitude exceeds this (HU/mm) are
    /// not entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gradient_hu_per_mm: Option<f64>,
    /// Target label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Grows with the range mean ± `multiplier`·σ of the current region, `iterations` times,
/// starting from the seeds' neighbourhoods (ITK's ConfidenceConnected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfidenceConnected {
    /// Seeds.
    pub seeds: Vec<Seed>,
    /// k in mean ± k·σ.
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Re-estimations of the range.
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    /// Radius in voxels of the neighbourhood around each seed for the first estimate.
    #[serde(default = "default_radius")]
    pub initial_radius_voxels: usize,
    /// 6, 18 or 26.
    #[serde(default = "default_conn")]
    pub connectivity: Connectivity,
    /// Grow only within each seed's slice.
    #[serde(default)]
    pub per_slice: bool,
    /// Target label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

fn default_multiplier() -> f64 {
    2.5
}
fn default_iterations() -> usize {
    4
}
fn default_radius() -> usize {
    1
}

/// The components of `candidates` holding a seed (per slice: only the seeds' slices).
pub fn grow(candidates: &Mask, seeds: &[[usize; 3]], conn: Connectivity, per_slice: bool) -> Mask {
    let mut cand = candidates.clone();
    if per_slice {
        let sw = cand.slice_words();
        let keep: Vec<usize> = seeds.iter().map(|s| s[0]).collect();
        for (k, chunk) in cand.words_mut().chunks_mut(sw.max(1)).enumerate() {
            if !keep.contains(&k) {
                chunk.fill(0);
            }
        }
    }
    let c = components::label(&cand, conn, per_slice);
    let ids: Vec<u32> = seeds
        .iter()
        .filter_map(|s| c.component_at(s[0], s[1], s[2]))
        .collect();
    c.mask_of(|id| ids.contains(&id))
}

impl SegOp for ConnectedThreshold {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        if self.lo > self.hi {
            return Err(OpError::invalid(
                "lo",
                format!("lo ({}) is greater than hi ({})", self.lo, self.hi),
            ));
        }
        if let Some(g) = self.max_gradient_hu_per_mm
            && !(g.is_finite() && g >= 0.0)
        {
            return Err(OpError::invalid(
                "max_gradient_hu_per_mm",
                "must be 0 or more",
            ));
        }
        seeds::resolve(&self.seeds, v.dims(), &v.geometry).map(|_| ())
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let s = seeds::resolve(&self.seeds, v.dims(), &v.geometry)?;
        let mut cand = threshold_mask(&v.hu, self.lo, self.hi);
        if let Some(max) = self.max_gradient_hu_per_mm {
            let g = crate::segment::algo::gradient::sobel_magnitude(
                v.hu.view(),
                super::edge::spacing_of(v),
                self.per_slice,
            );
            let edges = Mask::from_fn(v.dims(), |k, j, i| f64::from(g[[k, j, i]]) > max);
            for (c, e) in cand.words_mut().iter_mut().zip(edges.words()) {
                *c &= !e;
            }
        }
        let m = grow(&cand, &s, self.connectivity, self.per_slice);
        let t = target(&self.label);
        let n = m.count();
        seg.set_mask(t, m);
        Ok(Outcome::changed(t).note(format!("grew {n} voxels")))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

/// Exact integer mean and standard deviation of HU over a mask.
fn stats(v: &Volume, m: &Mask) -> Option<(f64, f64)> {
    let [n, rows, _] = m.dims();
    let (mut cnt, mut sum, mut sq) = (0i64, 0i64, 0i128);
    for k in 0..n {
        for j in 0..rows {
            for (a, b) in m.row_runs(k, j) {
                for i in a..b {
                    let x = i64::from(v.hu[[k, j, i]]);
                    cnt += 1;
                    sum += x;
                    sq += i128::from(x * x);
                }
            }
        }
    }
    if cnt == 0 {
        return None;
    }
    let mean = sum as f64 / cnt as f64;
    let var = (sq as f64 / cnt as f64 - mean * mean).max(0.0);
    Some((mean, var.sqrt()))
}

impl SegOp for ConfidenceConnected {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        if !(self.multiplier.is_finite() && self.multiplier > 0.0) {
            return Err(OpError::invalid("multiplier", "must be a positive number"));
        }
        if self.iterations > 100 {
            return Err(OpError::invalid("iterations", "at most 100"));
        }
        if self.initial_radius_voxels > 10 {
            return Err(OpError::invalid("initial_radius_voxels", "at most 10"));
        }
        seeds::resolve(&self.seeds, v.dims(), &v.geometry).map(|_| ())
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let s = seeds::resolve(&self.seeds, v.dims(), &v.geometry)?;
        let dims = v.dims();
        let r = self.initial_radius_voxels as isize;
        let mut region = Mask::new(dims);
        for seed in &s {
            for dk in if self.per_slice { 0..=0 } else { -r..=r } {
                for dj in -r..=r {
                    for di in -r..=r {
                        let p = [
                            seed[0] as isize + dk,
                            seed[1] as isize + dj,
                            seed[2] as isize + di,
                        ];
                        if p.iter().all(|x| *x >= 0) {
                            region.set(p[0] as usize, p[1] as usize, p[2] as usize, true);
                        }
                    }
                }
            }
        }
        let mut notes = Vec::new();
        let mut grown = region.clone();
        for it in 0..=self.iterations {
            let Some((mean, sd)) = stats(v, &region) else {
                break;
            };
            let lo = (mean - self.multiplier * sd).floor() as i32;
            let hi = (mean + self.multiplier * sd).ceil() as i32;
            let cand = threshold_mask(&v.hu, lo, hi);
            grown = grow(&cand, &s, self.connectivity, self.per_slice);
            notes.push(format!(
                "iteration {it}: mean {mean:.1} HU, sd {sd:.1} HU, range {lo}..{hi}, {} voxels",
                grown.count()
            ));
            if grown.is_empty() {
                break;
            }
            region = grown.clone();
        }
        let t = target(&self.label);
        seg.set_mask(t, grown);
        let mut o = Outcome::changed(t);
        o.notes = notes;
        Ok(o)
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}
