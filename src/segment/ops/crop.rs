//! Crop to a box in millimetres, and resample the masks onto another spacing.

use crate::geom::{LpsPointMm, SpacingMm, VoxelCoord};
use crate::segment::mask::Mask;
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, require_label};
use crate::volume::Volume;
use serde::{Deserialize, Serialize};

/// Clears every voxel whose centre lies outside an LPS box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crop {
    /// Box corner with the smallest LPS coordinates, mm.
    pub min_mm: [f64; 3],
    /// Box corner with the largest LPS coordinates, mm.
    pub max_mm: [f64; 3],
    /// The label; all labels when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Resamples every label onto a new spacing (nearest neighbour) over the same extent. The
/// segmentation then no longer shares the image's grid: operations that read HU refuse to
/// run after it, mask operations still work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resample {
    /// New spacing `[slice, row, column]`, mm.
    pub spacing_mm: [f64; 3],
}

impl SegOp for Crop {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        for a in 0..3 {
            if !(self.min_mm[a].is_finite() && self.max_mm[a].is_finite())
                || self.min_mm[a] > self.max_mm[a]
            {
                return Err(OpError::invalid(
                    "min_mm",
                    "each min_mm coordinate must be finite and <= max_mm",
                ));
            }
        }
        if let Some(l) = &self.label {
            require_label(seg, l, "label")?;
        }
        Ok(())
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let g = seg.geometry;
        let names: Vec<String> = match &self.label {
            Some(l) => vec![l.clone()],
            None => seg.names(),
        };
        let keep = Mask::from_fn(seg.dims(), |k, j, i| {
            let p = g
                .position(VoxelCoord {
                    slice: k as f64,
                    row: j as f64,
                    col: i as f64,
                })
                .0
                .to_array();
            (0..3).all(|a| p[a] >= self.min_mm[a] && p[a] <= self.max_mm[a])
        });
        for n in &names {
            if let Some(l) = seg.get_mut(n) {
                for (w, kp) in l.mask.words_mut().iter_mut().zip(keep.words()) {
                    *w &= kp;
                }
            }
        }
        Ok(Outcome {
            changed: names,
            ..Default::default()
        })
    }
}

/// Most voxels a resampled grid may have.
const MAX_VOXELS: f64 = 2.0e9;

impl SegOp for Resample {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        if self.spacing_mm.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(OpError::invalid(
                "spacing_mm",
                "three positive spacings in mm, [slice, row, column]",
            ));
        }
        let d = new_dims(seg, self.spacing_mm);
        if d.iter().map(|x| *x as f64).product::<f64>() > MAX_VOXELS {
            return Err(OpError::invalid(
                "spacing_mm",
                format!("the grid would have {d:?} voxels: too many"),
            ));
        }
        Ok(())
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let old_g = seg.geometry;
        let dims = new_dims(seg, self.spacing_mm);
        let mut g = old_g;
        g.spacing = SpacingMm {
            slice: self.spacing_mm[0],
            row: self.spacing_mm[1],
            col: self.spacing_mm[2],
        };
        let old: Vec<(crate::segment::model::LabelMeta, Mask)> = seg
            .labels()
            .iter()
            .map(|l| (l.meta.clone(), l.mask.clone()))
            .collect();
        seg.regrid(dims, g);
        let od = old.first().map_or([0; 3], |(_, m)| m.dims());
        let mut changed = Vec::new();
        for (meta, m) in old {
            let out = Mask::from_fn(dims, |k, j, i| {
                let p: LpsPointMm = g.position(VoxelCoord {
                    slice: k as f64,
                    row: j as f64,
                    col: i as f64,
                });
                old_g.coord_of(p).is_some_and(|c| {
                    let r = [c.slice.round(), c.row.round(), c.col.round()];
                    r.iter().zip(od).all(|(x, d)| *x >= 0.0 && *x < d as f64)
                        && m.get(r[0] as usize, r[1] as usize, r[2] as usize)
                })
            });
            let l = seg.ensure(&meta.name);
            l.meta = meta.clone();
            l.mask = out;
            changed.push(meta.name);
        }
        Ok(Outcome {
            changed,
            ..Default::default()
        }
        .note(format!("resampled to {dims:?} voxels, nearest neighbour")))
    }
}

fn new_dims(seg: &Segmentation, sp: [f64; 3]) -> [usize; 3] {
    let d = seg.dims();
    let s = seg.geometry.spacing;
    let old = [s.slice, s.row, s.col];
    let mut out = [0usize; 3];
    for a in 0..3 {
        let extent = (d[a].saturating_sub(1)) as f64 * old[a];
        out[a] = ((extent / sp[a]) + 1e-9).floor() as usize + 1;
    }
    out
}
