//! Machine-learning clustering of intensities: k-means and fuzzy c-means (optionally
//! with the gradient as a second feature), with a recorded seed; the chosen clusters
//! (0 = darkest) become the label.

use super::edge::spacing_of;
use crate::segment::algo::{cluster, gradient};
use crate::segment::mask::Mask;
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, require_label, same_grid, target};
use crate::volume::Volume;
use serde::{Deserialize, Serialize};

/// k-means on HU (and gradient, when `gradient_weight` is given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KMeans {
    /// Number of clusters.
    pub k: usize,
    /// Clusters kept, by rank of their centre (0 = darkest).
    pub keep: Vec<usize>,
    /// Most iterations.
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    /// Seed of the k-means++ initialisation.
    #[serde(default)]
    pub seed: u64,
    /// Weight of the gradient magnitude (HU/mm) as a second feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_weight: Option<f64>,
    /// Cluster only voxels of this label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    /// Target label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Fuzzy c-means on HU; hard labels by largest membership.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuzzyCMeans {
    /// Number of clusters.
    pub k: usize,
    /// Clusters kept, by rank of their centre (0 = darkest).
    pub keep: Vec<usize>,
    /// Fuzzifier m (> 1).
    #[serde(default = "default_m")]
    pub m: f64,
    /// Most iterations.
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    /// Stop when no centre moves more than this, HU.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Seed of the initialisation.
    #[serde(default)]
    pub seed: u64,
    /// Cluster only voxels of this label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    /// Target label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

fn default_iterations() -> usize {
    100
}
fn default_m() -> f64 {
    2.0
}
fn default_tolerance() -> f64 {
    0.01
}

fn check(
    seg: &Segmentation,
    k: usize,
    keep: &[usize],
    iterations: usize,
    within: &Option<String>,
) -> Result<(), OpError> {
    if !(1..=16).contains(&k) {
        return Err(OpError::invalid("k", "must be 1..=16"));
    }
    if keep.is_empty() {
        return Err(OpError::invalid(
            "keep",
            "name at least one cluster to keep (0 = darkest)",
        ));
    }
    if let Some(bad) = keep.iter().find(|c| **c >= k) {
        return Err(OpError::invalid(
            "keep",
            format!("cluster {bad} does not exist with k = {k}"),
        ));
    }
    if iterations == 0 || iterations > 10_000 {
        return Err(OpError::invalid("iterations", "must be 1..=10000"));
    }
    if let Some(w) = within {
        require_label(seg, w, "within")?;
    }
    Ok(())
}

fn finish(
    seg: &mut Segmentation,
    label: &Option<String>,
    keep: &[usize],
    r: cluster::ClusterResult,
) -> Outcome {
    let (n, rows, cols) = r.labels.dim();
    let m = Mask::from_fn([n, rows, cols], |k, j, i| {
        keep.contains(&usize::from(r.labels[[k, j, i]]))
    });
    let t = target(label);
    seg.set_mask(t, m);
    Outcome::changed(t).note(format!(
        "centres {} HU after {} iterations",
        r.centers
            .iter()
            .map(|c| format!("{c:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        r.iterations_run
    ))
}

impl SegOp for KMeans {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        if let Some(w) = self.gradient_weight
            && !(w.is_finite() && w >= 0.0)
        {
            return Err(OpError::invalid("gradient_weight", "must be 0 or more"));
        }
        check(seg, self.k, &self.keep, self.iterations, &self.within)
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let region = crate::segment::op::region_bools(seg, &self.within)?;
        let r = match self.gradient_weight {
            Some(w) => {
                let g = gradient::sobel_magnitude(v.hu.view(), spacing_of(v), false);
                cluster::kmeans_intensity_gradient(
                    v.hu.view(),
                    g.view(),
                    w,
                    self.k,
                    self.iterations,
                    self.seed,
                    region.as_ref().map(|a| a.view()),
                )
            }
            None => cluster::kmeans_intensity(
                v.hu.view(),
                self.k,
                self.iterations,
                self.seed,
                region.as_ref().map(|a| a.view()),
            ),
        };
        Ok(finish(seg, &self.label, &self.keep, r))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

impl SegOp for FuzzyCMeans {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        if !(self.m.is_finite() && self.m > 1.0 && self.m <= 50.0) {
            return Err(OpError::invalid("m", "the fuzzifier must be in (1, 50]"));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(OpError::invalid("tolerance", "must be 0 or more"));
        }
        check(seg, self.k, &self.keep, self.iterations, &self.within)
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let region = crate::segment::op::region_bools(seg, &self.within)?;
        let r = cluster::fuzzy_cmeans_intensity(
            v.hu.view(),
            self.k,
            self.m,
            self.iterations,
            self.tolerance,
            self.seed,
            region.as_ref().map(|a| a.view()),
        );
        Ok(finish(seg, &self.label, &self.keep, r))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}
