//! Interpolation between edited slices: the slices between two key slices are rebuilt by
//! shape-based interpolation — the signed distance maps (mm) of the two key contours are
//! blended linearly and thresholded at zero (Raya and Udupa). It follows a contour that
//! moves or changes size between key slices, which copying or voxel-wise blending cannot.

use crate::segment::algo::edt;
use crate::segment::mask::Mask;
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, require_label, target};
use crate::volume::Volume;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// Rebuilds the slices between key slices of a label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterpolateSlices {
    /// Key slice indices; default: every slice where the label has voxels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_slices: Option<Vec<usize>>,
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Signed distance (mm) of one slice: negative inside, positive outside.
fn signed_distance(m: &Mask, k: usize, sp: [f64; 3]) -> Array2<f64> {
    let [_, rows, cols] = m.dims();
    let one = Mask::from_fn([1, rows, cols], |_, j, i| m.get(k, j, i));
    let out = edt::complement(&one);
    let d_in = edt::squared_distance(&one, sp, true);
    let d_out = edt::squared_distance(&out, sp, true);
    Array2::from_shape_fn((rows, cols), |(j, i)| {
        if one.get(0, j, i) {
            -f64::from(d_out[[0, j, i]]).sqrt()
        } else {
            f64::from(d_in[[0, j, i]]).sqrt()
        }
    })
}

impl SegOp for InterpolateSlices {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        require_label(seg, target(&self.label), "label")?;
        if let Some(k) = &self.key_slices {
            if let Some(bad) = k.iter().find(|x| **x >= seg.dims()[0]) {
                return Err(OpError::invalid(
                    "key_slices",
                    format!("slice {bad} is outside 0..{}", seg.dims()[0]),
                ));
            }
        }
        Ok(())
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let t = target(&self.label);
        let s = seg.geometry.spacing;
        let sp = [s.slice, s.row, s.col];
        let m = &seg.get(t).ok_or_else(|| OpError::NoLabel(t.into()))?.mask;
        let [n, rows, cols] = m.dims();
        let mut keys: Vec<usize> = match &self.key_slices {
            Some(k) => k.clone(),
            None => (0..n)
                .filter(|k| (0..rows).any(|j| m.row_runs(*k, j).next().is_some()))
                .collect(),
        };
        keys.sort_unstable();
        keys.dedup();
        let mut out = m.clone();
        let mut filled = 0usize;
        for pair in keys.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b <= a + 1 {
                continue;
            }
            let (da, db) = (signed_distance(m, a, sp), signed_distance(m, b, sp));
            for k in a + 1..b {
                let w = (k - a) as f64 / (b - a) as f64;
                for j in 0..rows {
                    for i in 0..cols {
                        let v = (1.0 - w) * da[[j, i]] + w * db[[j, i]];
                        out.set(k, j, i, v < 0.0);
                    }
                }
                filled += 1;
            }
        }
        seg.set_mask(t, out);
        Ok(Outcome::changed(t).note(format!(
            "{} key slices, {filled} slices interpolated",
            keys.len()
        )))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}
