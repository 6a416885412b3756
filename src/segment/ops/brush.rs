//! Manual correction with a brush: a disc in a view plane or a sphere, in millimetres,
//! painting or erasing, optionally only where HU lies in a range. A stroke is recorded as
//! geometry (centres in LPS mm, radius, plane, mode), never as pixels.

use crate::geom::{LpsDirection, LpsPointMm, VoxelCoord};
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, require_label, same_grid, target};
use crate::volume::Volume;
use glam::DVec3;
use serde::{Deserialize, Serialize};

/// Paint or erase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrushMode {
    /// Adds voxels.
    Paint,
    /// Removes voxels.
    Erase,
}

/// Brush shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrushShape {
    /// A disc in `plane`, one voxel layer thick.
    Disc,
    /// A ball.
    Sphere,
}

/// A patient-space view plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plane {
    /// Perpendicular to superior.
    Axial,
    /// Perpendicular to posterior.
    Coronal,
    /// Perpendicular to left.
    Sagittal,
}

impl Plane {
    /// The plane's normal in LPS.
    pub fn normal(self) -> LpsDirection {
        match self {
            Self::Axial => LpsDirection::Z,
            Self::Coronal => LpsDirection::Y,
            Self::Sagittal => LpsDirection::X,
        }
    }
}

/// One brush stroke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brush {
    /// Centres along the stroke, LPS mm.
    pub centres_mm: Vec<[f64; 3]>,
    /// Radius, mm.
    pub radius_mm: f64,
    /// Paint or erase.
    pub mode: BrushMode,
    /// Disc or sphere.
    pub shape: BrushShape,
    /// The plane of a disc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plane: Option<Plane>,
    /// The normal of a disc in any (oblique) plane, LPS; instead of `plane`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal: Option<[f64; 3]>,
    /// Only voxels with HU in `[lo, hi]` are changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hu_range: Option<[i32; 2]>,
    /// Target label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Largest brush accepted, mm.
const MAX_RADIUS_MM: f64 = 100.0;

/// Most brush positions one stroke may expand to (centres plus the ones filled in between):
/// a recipe with centres metres apart must not paint for hours.
pub const MAX_STROKE_POSITIONS: usize = 200_000;

/// Positions [`densify`] makes for a stroke (saturating).
fn stroke_positions(centres: &[[f64; 3]], r: f64) -> usize {
    centres.windows(2).fold(centres.len(), |n, w| {
        let d = DVec3::from_array(w[0]).distance(DVec3::from_array(w[1]));
        n.saturating_add((d / (0.5 * r)).ceil().min(1e12) as usize)
    })
}

impl SegOp for Brush {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        if !(self.radius_mm.is_finite() && self.radius_mm > 0.0 && self.radius_mm <= MAX_RADIUS_MM)
        {
            return Err(OpError::invalid(
                "radius_mm",
                format!(
                    "{} is not a radius in (0, {MAX_RADIUS_MM}] mm",
                    self.radius_mm
                ),
            ));
        }
        if self.centres_mm.is_empty() {
            return Err(OpError::invalid(
                "centres_mm",
                "a stroke needs at least one centre",
            ));
        }
        if let Some(n) = self
            .centres_mm
            .iter()
            .position(|c| c.iter().any(|x| !x.is_finite()))
        {
            return Err(OpError::invalid(
                &format!("centres_mm[{n}]"),
                "not a finite point",
            ));
        }
        let n = stroke_positions(&self.centres_mm, self.radius_mm);
        if n > MAX_STROKE_POSITIONS {
            return Err(OpError::invalid(
                "centres_mm",
                format!(
                    "the stroke spans {n} brush positions (half a radius apart), more than {MAX_STROKE_POSITIONS}: split it into shorter strokes or use a larger radius"
                ),
            ));
        }
        if let Some(n) = self.normal {
            if self.plane.is_some() {
                return Err(OpError::invalid(
                    "normal",
                    "give `plane` or `normal`, not both",
                ));
            }
            if LpsDirection::new(DVec3::from_array(n)).is_none() || n.iter().any(|x| !x.is_finite())
            {
                return Err(OpError::invalid(
                    "normal",
                    "not a finite, non-zero direction",
                ));
            }
        }
        if self.shape == BrushShape::Disc && self.plane.is_none() && self.normal.is_none() {
            return Err(OpError::invalid(
                "plane",
                "a disc brush needs a plane (axial, coronal or sagittal) or a `normal`",
            ));
        }
        check_edit(seg, self.mode, self.hu_range, &self.label)
    }

    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let t = target(&self.label);
        let g = v.geometry;
        let dims = v.dims();
        let paint = self.mode == BrushMode::Paint;
        let r = self.radius_mm;
        let normal = self.plane.map(Plane::normal).or_else(|| {
            self.normal
                .and_then(|n| LpsDirection::new(DVec3::from_array(n)))
        });
        let steps = g.steps();
        // Half the voxel's extent along the disc normal: one voxel layer is painted.
        let half = normal.map_or(0.0, |n| {
            0.5 * steps.iter().map(|s| s.0.dot(n.get()).abs()).sum::<f64>()
        });
        let mask = &mut seg.ensure(t).mask;
        let mut changed = 0usize;
        for c in densify(&self.centres_mm, r) {
            let Some((lo, hi)) = bbox(&g, dims, c, r + half) else {
                continue;
            };
            for k in lo[0]..=hi[0] {
                for j in lo[1]..=hi[1] {
                    for i in lo[2]..=hi[2] {
                        let p = g.position(VoxelCoord {
                            slice: k as f64,
                            row: j as f64,
                            col: i as f64,
                        });
                        let d = p.0 - c;
                        let inside = match (self.shape, normal) {
                            (BrushShape::Disc, Some(n)) => {
                                let dn = d.dot(n.get());
                                dn >= -half && dn < half && (d - n.get() * dn).length() <= r
                            }
                            _ => d.length() <= r,
                        };
                        if !inside {
                            continue;
                        }
                        changed +=
                            usize::from(edit_voxel(mask, v, [k, j, i], paint, self.hu_range));
                    }
                }
            }
        }
        Ok(Outcome::changed(t).note(format!(
            "{changed} voxels {}",
            if paint { "painted" } else { "erased" }
        )))
    }

    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

/// Checks the parameters every manual edit shares: the HU limit, and that an erased label
/// exists.
pub fn check_edit(
    seg: &Segmentation,
    mode: BrushMode,
    hu_range: Option<[i32; 2]>,
    label: &Option<String>,
) -> Result<(), OpError> {
    if let Some([lo, hi]) = hu_range
        && lo > hi
    {
        return Err(OpError::invalid(
            "hu_range",
            format!("{lo} is greater than {hi}"),
        ));
    }
    if mode == BrushMode::Erase {
        require_label(seg, target(label), "label")?;
    }
    Ok(())
}

/// Paints or erases one voxel of a manual edit, unless its HU is outside `hu_range`;
/// returns whether it changed.
pub fn edit_voxel(
    mask: &mut crate::segment::mask::Mask,
    v: &Volume,
    [k, j, i]: [usize; 3],
    paint: bool,
    hu_range: Option<[i32; 2]>,
) -> bool {
    if let Some([a, b]) = hu_range {
        let h = i32::from(v.hu[[k, j, i]]);
        if h < a || h > b {
            return false;
        }
    }
    if mask.get(k, j, i) == paint {
        return false;
    }
    mask.set(k, j, i, paint);
    true
}

/// The stroke's centres with extra ones so that consecutive centres are at most half a
/// radius apart: a fast drag still paints a continuous band.
fn densify(centres: &[[f64; 3]], r: f64) -> Vec<DVec3> {
    let pts: Vec<DVec3> = centres.iter().map(|c| DVec3::from_array(*c)).collect();
    let mut out = Vec::with_capacity(pts.len());
    for (n, p) in pts.iter().enumerate() {
        if n > 0 {
            let prev = pts[n - 1];
            // Bounded by validation (`MAX_STROKE_POSITIONS` over the whole stroke).
            let steps = (p.distance(prev) / (0.5 * r)).ceil() as usize;
            for s in 1..steps {
                out.push(prev + (*p - prev) * (s as f64 / steps as f64));
            }
        }
        out.push(*p);
    }
    out
}

/// Voxel index box covering a ball of radius `r` around `c`; `None` when outside.
fn bbox(
    g: &crate::volume::VolumeGeometry,
    dims: [usize; 3],
    c: DVec3,
    r: f64,
) -> Option<([usize; 3], [usize; 3])> {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for dx in [-r, r] {
        for dy in [-r, r] {
            for dz in [-r, r] {
                let v = g.coord_of(LpsPointMm(c + DVec3::new(dx, dy, dz)))?;
                for (a, x) in [v.slice, v.row, v.col].into_iter().enumerate() {
                    lo[a] = lo[a].min(x);
                    hi[a] = hi[a].max(x);
                }
            }
        }
    }
    let mut l = [0usize; 3];
    let mut h = [0usize; 3];
    for a in 0..3 {
        let max = dims[a] as f64 - 1.0;
        if hi[a] < 0.0 || lo[a] > max || dims[a] == 0 {
            return None;
        }
        l[a] = lo[a].floor().max(0.0) as usize;
        h[a] = hi[a].ceil().min(max) as usize;
    }
    Some((l, h))
}
