//! Lasso and scissors: a polygon drawn in a view. The lasso fills or erases inside the
//! polygon on one slice layer; the scissors cut through the whole volume along the view
//! direction (erasing inside or outside the polygon's prism).

use super::brush::{BrushMode, Plane};
use crate::geom::VoxelCoord;
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, require_label, target};
use crate::volume::Volume;
use glam::{DVec2, DVec3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Fills or erases the inside of a polygon on the slice layer through its points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lasso {
    /// Polygon vertices, LPS mm, on one view plane.
    pub points_mm: Vec<[f64; 3]>,
    /// The view plane.
    pub plane: Plane,
    /// Paint (fill) or erase.
    pub mode: BrushMode,
    /// Only voxels with HU in `[lo, hi]` are changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hu_range: Option<[i32; 2]>,
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// What the scissors remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CutMode {
    /// Erase everything whose projection falls inside the polygon.
    EraseInside,
    /// Erase everything whose projection falls outside it.
    EraseOutside,
}

/// Cuts through the volume along a view direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scissors {
    /// Polygon vertices, LPS mm (any depth: they are projected along the direction).
    pub points_mm: Vec<[f64; 3]>,
    /// View direction, LPS (need not be unit length).
    pub direction: [f64; 3],
    /// Inside or outside.
    pub mode: CutMode,
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// An orthonormal basis `(u, v)` of the plane perpendicular to `n`.
fn basis(n: DVec3) -> (DVec3, DVec3) {
    let helper = if n.x.abs() < 0.9 { DVec3::X } else { DVec3::Y };
    let u = n.cross(helper).normalize();
    (u, n.cross(u))
}

/// Even-odd point-in-polygon test.
fn inside(poly: &[DVec2], p: DVec2) -> bool {
    let mut c = false;
    let n = poly.len();
    for a in 0..n {
        let (pi, pj) = (poly[a], poly[(a + n - 1) % n]);
        if (pi.y > p.y) != (pj.y > p.y) && p.x < (pj.x - pi.x) * (p.y - pi.y) / (pj.y - pi.y) + pi.x
        {
            c = !c;
        }
    }
    c
}

fn check_polygon(points: &[[f64; 3]]) -> Result<(), OpError> {
    if points.len() < 3 {
        return Err(OpError::invalid(
            "points_mm",
            "a polygon needs at least 3 points",
        ));
    }
    if let Some(n) = points.iter().position(|p| p.iter().any(|x| !x.is_finite())) {
        return Err(OpError::invalid(
            &format!("points_mm[{n}]"),
            "not a finite point",
        ));
    }
    Ok(())
}

impl SegOp for Lasso {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        crate::segment::op::same_grid(v, seg)?;
        check_polygon(&self.points_mm)?;
        super::brush::check_edit(seg, self.mode, self.hu_range, &self.label)
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let t = target(&self.label);
        let g = v.geometry;
        let n = self.plane.normal().get();
        let (u, w) = basis(n);
        let pts: Vec<DVec3> = self
            .points_mm
            .iter()
            .map(|p| DVec3::from_array(*p))
            .collect();
        let origin = pts[0];
        let poly: Vec<DVec2> = pts
            .iter()
            .map(|p| DVec2::new((*p - origin).dot(u), (*p - origin).dot(w)))
            .collect();
        let half = 0.5 * g.steps().iter().map(|s| s.0.dot(n).abs()).sum::<f64>();
        let paint = self.mode == BrushMode::Paint;
        let [nk, nr, nc] = v.dims();
        let mask = &mut seg.ensure(t).mask;
        let mut changed = 0usize;
        for k in 0..nk {
            for j in 0..nr {
                for i in 0..nc {
                    let p =
                        g.position(VoxelCoord {
                            slice: k as f64,
                            row: j as f64,
                            col: i as f64,
                        })
                        .0 - origin;
                    let dn = p.dot(n);
                    if dn < -half || dn >= half {
                        continue;
                    }
                    if !inside(&poly, DVec2::new(p.dot(u), p.dot(w))) {
                        continue;
                    }
                    changed += usize::from(super::brush::edit_voxel(
                        mask,
                        v,
                        [k, j, i],
                        paint,
                        self.hu_range,
                    ));
                }
            }
        }
        Ok(Outcome::changed(t).note(format!("{changed} voxels changed")))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

impl SegOp for Scissors {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        check_polygon(&self.points_mm)?;
        let d = DVec3::from_array(self.direction);
        if !(d.is_finite() && d.length() > 1e-9) {
            return Err(OpError::invalid(
                "direction",
                "must be a non-zero direction",
            ));
        }
        require_label(seg, target(&self.label), "label")
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let t = target(&self.label);
        let g = seg.geometry;
        let n = DVec3::from_array(self.direction).normalize();
        let (u, w) = basis(n);
        let poly: Vec<DVec2> = self
            .points_mm
            .iter()
            .map(|p| DVec2::new(DVec3::from_array(*p).dot(u), DVec3::from_array(*p).dot(w)))
            .collect();
        let erase_inside = self.mode == CutMode::EraseInside;
        let mask = &seg.get(t).ok_or_else(|| OpError::NoLabel(t.into()))?.mask;
        let [nk, nr, nc] = mask.dims();
        let cut = crate::segment::mask::Mask::from_fn([nk, nr, nc], |k, j, i| {
            let p = g
                .position(VoxelCoord {
                    slice: k as f64,
                    row: j as f64,
                    col: i as f64,
                })
                .0;
            inside(&poly, DVec2::new(p.dot(u), p.dot(w))) == erase_inside
        });
        let mut out = mask.clone();
        out.words_mut()
            .par_iter_mut()
            .zip(cut.words().par_iter())
            .for_each(|(o, c)| *o &= !c);
        let removed = mask.count() - out.count();
        seg.set_mask(t, out);
        Ok(Outcome::changed(t).note(format!("{removed} voxels cut")))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_in_polygon() {
        let sq = [
            DVec2::new(0.0, 0.0),
            DVec2::new(2.0, 0.0),
            DVec2::new(2.0, 2.0),
            DVec2::new(0.0, 2.0),
        ];
        assert!(inside(&sq, DVec2::new(1.0, 1.0)));
        assert!(!inside(&sq, DVec2::new(3.0, 1.0)));
    }
}
