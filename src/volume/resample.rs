//! Resampling a slice stack onto a regular orthogonal grid: removes gantry-tilt shear and
//! equalises slice distance in one mechanism.
//!
//! Each output voxel is a point P in patient space. Its projections onto the two nearest
//! input slice planes (along the slice normal, never along the tilted stacking direction)
//! are sampled bilinearly in those slices and blended linearly by distance. For an input
//! that is already regular this reproduces every input voxel exactly.

use crate::geom::{LpsPointMm, SpacingMm};
use crate::volume::{Volume, VolumeGeometry};
use ndarray::{Array3, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// HU written where an output voxel lies outside every input slice (air).
pub const FILL_HU: i16 = -1024;

/// A stack of parallel slices with their positions, as acquired.
#[derive(Debug, Clone, Copy)]
pub struct StackLayout<'a> {
    /// Centre of the first pixel of slice 0, LPS mm.
    pub origin: LpsPointMm,
    /// Geometry whose `col_dir`, `row_dir` and in-plane spacing apply to every slice;
    /// `slice_dir` must be the plane normal.
    pub plane: &'a VolumeGeometry,
    /// Each slice's depth along the normal, mm, increasing.
    pub depths_mm: &'a [f64],
    /// Each slice's in-plane offset from slice 0 `(along col_dir, along row_dir)`, mm.
    pub offsets_mm: &'a [(f64, f64)],
}

/// What a resampling did, for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResampleRecord {
    /// Why it was needed.
    pub reasons: Vec<String>,
    /// The interpolation.
    pub method: String,
    /// Slices in, slices out.
    pub input_slices: usize,
    /// Output slice count.
    pub output_slices: usize,
    /// Output `[slices, rows, columns]`.
    pub output_dims: [usize; 3],
    /// Output slice distance, mm.
    pub slice_distance_mm: f64,
    /// HU written outside the acquired region.
    pub fill_hu: i16,
    /// Output slices that lie inside a gap of missing slices (at least
    /// [`crate::feasibility::limits::MISSING_GAP_RATIO`] times the median distance) and
    /// away from every acquired slice: image content that was interpolated, not acquired.
    #[serde(default)]
    pub interpolated_slices: Vec<usize>,
    /// How the output slice distance was chosen.
    #[serde(default)]
    pub slice_distance_rule: String,
}

/// The output slice distance when none is asked for, and the rule in words: the smallest
/// measured distance that is at least half the median (closer pairs are position errors or
/// overlapping reconstructions, not resolution — a pair 0.02 mm apart in a 1 mm series
/// would otherwise ask for 50× the slices), never below
/// [`crate::feasibility::limits::MIN_OUTPUT_SLICE_DISTANCE_MM`].
pub fn default_slice_distance(distances_mm: &[f64]) -> Option<(f64, String)> {
    let median = crate::dicom::acquisition::MinMedMax::of(distances_mm)?.median;
    let floor = crate::feasibility::limits::MIN_OUTPUT_SLICE_DISTANCE_MM;
    let dz = distances_mm
        .iter()
        .copied()
        .filter(|d| d.is_finite() && *d >= 0.5 * median)
        .fold(f64::INFINITY, f64::min)
        .max(floor);
    dz.is_finite().then(|| {
        (
            dz,
            format!(
                "smallest measured distance at least half the median ({median:.3} mm), not below {floor} mm"
            ),
        )
    })
}

/// The widest gap between neighbouring slices that may be interpolated, for a median
/// distance (see [`crate::feasibility::limits::MAX_INTERPOLATED_GAP_MM`]).
pub fn max_interpolated_gap_mm(median_mm: f64) -> f64 {
    use crate::feasibility::limits::{MAX_INTERPOLATED_GAP_MM, MAX_INTERPOLATED_GAP_RATIO};
    (MAX_INTERPOLATED_GAP_RATIO * median_mm)
        .min(MAX_INTERPOLATED_GAP_MM)
        .max(2.0 * median_mm)
}

/// The output `[slices, rows, columns]` of [`resample_stack`] for a raw stack of
/// `[n, rows, cols]`, computed before anything is allocated (saturating: an absurd request
/// gives a huge number, never an overflow).
pub fn output_dims(raw: [usize; 3], layout: &StackLayout<'_>, dz_mm: f64) -> [usize; 3] {
    let [n, rows, cols] = raw;
    let (min_c, max_c, min_r, max_r) = offset_extent(layout.offsets_mm);
    let extra = |span: f64, s: f64| ((span / s) - 1e-3).ceil().max(0.0) as usize;
    let span = layout.depths_mm[n.max(1) - 1] - layout.depths_mm[0];
    // `as usize` saturates for huge or infinite values.
    let out_n = (((span / dz_mm) + 1e-6).floor() as usize).saturating_add(1);
    [
        out_n,
        rows.saturating_add(extra(max_r - min_r, layout.plane.spacing.row)),
        cols.saturating_add(extra(max_c - min_c, layout.plane.spacing.col)),
    ]
}

/// (min, max) of the in-plane offsets along columns, then rows.
fn offset_extent(offsets: &[(f64, f64)]) -> (f64, f64, f64, f64) {
    let fold = |f: fn(&(f64, f64)) -> f64| {
        offsets
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            })
    };
    let (min_c, max_c) = fold(|o| o.0);
    let (min_r, max_r) = fold(|o| o.1);
    (min_c, max_c, min_r, max_r)
}

/// Resamples `raw` (`[slice, row, column]`, slices in layout order) onto an orthogonal grid
/// with slice distance `dz_mm`.
pub fn resample_stack(
    raw: &Array3<i16>,
    layout: &StackLayout<'_>,
    dz_mm: f64,
    reasons: Vec<String>,
) -> (Volume, ResampleRecord) {
    let (n, rows, cols) = raw.dim();
    let sx = layout.plane.spacing.col;
    let sy = layout.plane.spacing.row;
    let (min_c, _, min_r, _) = offset_extent(layout.offsets_mm);
    let [out_n, out_rows, out_cols] = output_dims([n, rows, cols], layout, dz_mm);
    let d0 = layout.depths_mm[0];
    let g = layout.plane;
    let origin = layout
        .origin
        .plus(g.col_dir.scaled(min_c))
        .plus(g.row_dir.scaled(min_r));
    let geometry = VolumeGeometry {
        origin,
        col_dir: g.col_dir,
        row_dir: g.row_dir,
        slice_dir: g.slice_dir,
        spacing: SpacingMm {
            col: sx,
            row: sy,
            slice: dz_mm,
        },
    };
    let mut out = Array3::<i16>::from_elem((out_n, out_rows, out_cols), FILL_HU);
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(m, mut plane)| {
            let z = d0 + m as f64 * dz_mm;
            // Bracketing input slices a <= z <= b.
            let b = layout
                .depths_mm
                .partition_point(|d| *d < z - 1e-9)
                .min(n - 1);
            let a = if b > 0 && layout.depths_mm[b] > z + 1e-9 {
                b - 1
            } else {
                b
            };
            let t = if b > a {
                (z - layout.depths_mm[a]) / (layout.depths_mm[b] - layout.depths_mm[a])
            } else {
                0.0
            };
            let sa = raw.index_axis(Axis(0), a);
            let sb = raw.index_axis(Axis(0), b);
            for j in 0..out_rows {
                let v = min_r + j as f64 * sy;
                for i in 0..out_cols {
                    let u = min_c + i as f64 * sx;
                    let va = sample(
                        &sa,
                        (v - layout.offsets_mm[a].1) / sy,
                        (u - layout.offsets_mm[a].0) / sx,
                    );
                    let value = if t == 0.0 {
                        va
                    } else {
                        let vb = sample(
                            &sb,
                            (v - layout.offsets_mm[b].1) / sy,
                            (u - layout.offsets_mm[b].0) / sx,
                        );
                        match (va, vb) {
                            (Some(x), Some(y)) => Some(x + (y - x) * t),
                            _ => None,
                        }
                    };
                    if let Some(val) = value {
                        plane[[j, i]] =
                            val.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
                    }
                }
            }
        });
    let interpolated_slices = slices_in_gaps(layout.depths_mm, dz_mm, out_n);
    let record = ResampleRecord {
        reasons,
        method: "linear between the two nearest slices along the slice normal; bilinear within each slice at the projected patient-space position".into(),
        input_slices: n,
        output_slices: out_n,
        output_dims: [out_n, out_rows, out_cols],
        slice_distance_mm: dz_mm,
        fill_hu: FILL_HU,
        interpolated_slices,
        slice_distance_rule: "as requested".into(),
    };
    (Volume { hu: out, geometry }, record)
}

/// Output slices `0..out_n` (at `depths[0] + m * dz`) inside a gap between acquired slices
/// that is at least `MISSING_GAP_RATIO` times the median distance, and farther than a
/// hundredth of `dz` from both of its acquired neighbours.
fn slices_in_gaps(depths: &[f64], dz: f64, out_n: usize) -> Vec<usize> {
    let gaps: Vec<f64> = depths.windows(2).map(|w| w[1] - w[0]).collect();
    let Some(median) = crate::dicom::acquisition::MinMedMax::of(&gaps).map(|m| m.median) else {
        return Vec::new();
    };
    let limit = crate::feasibility::limits::MISSING_GAP_RATIO * median;
    let eps = dz * 1e-2;
    (0..out_n)
        .filter(|&m| {
            let z = depths[0] + m as f64 * dz;
            let b = depths.partition_point(|d| *d < z);
            b > 0
                && b < depths.len()
                && depths[b] - depths[b - 1] >= limit
                && z - depths[b - 1] > eps
                && depths[b] - z > eps
        })
        .collect()
}

/// Bilinear sample at fractional `(row, col)`; `None` outside the slice. Coordinates within
/// 1e-6 of an integer snap to it, so unshifted grids copy values exactly.
fn sample(s: &ArrayView2<'_, i16>, row: f64, col: f64) -> Option<f64> {
    let (rows, cols) = s.dim();
    let snap = |x: f64| {
        if (x - x.round()).abs() < 1e-6 {
            x.round()
        } else {
            x
        }
    };
    let (r, c) = (snap(row), snap(col));
    if r < 0.0 || c < 0.0 || r > (rows - 1) as f64 || c > (cols - 1) as f64 {
        return None;
    }
    let r0 = r.floor() as usize;
    let c0 = c.floor() as usize;
    let fr = r - r0 as f64;
    let fc = c - c0 as f64;
    let r1 = (r0 + 1).min(rows - 1);
    let c1 = (c0 + 1).min(cols - 1);
    let p = |rr: usize, cc: usize| f64::from(s[[rr, cc]]);
    let top = p(r0, c0) + (p(r0, c1) - p(r0, c0)) * fc;
    let bottom = p(r1, c0) + (p(r1, c1) - p(r1, c0)) * fc;
    Some(top + (bottom - top) * fr)
}

/// Trilinear sample of a volume at a patient-space point; `None` outside. Used to verify a
/// resampled volume against the original pixels' positions.
pub fn sample_at(volume: &Volume, p: LpsPointMm) -> Option<f64> {
    let c = volume.geometry.coord_of(p)?;
    let (n, _, _) = volume.hu.dim();
    let snap = |x: f64| {
        if (x - x.round()).abs() < 1e-6 {
            x.round()
        } else {
            x
        }
    };
    let k = snap(c.slice);
    if k < 0.0 || k > (n - 1) as f64 {
        return None;
    }
    let k0 = k.floor() as usize;
    let k1 = (k0 + 1).min(n - 1);
    let t = k - k0 as f64;
    let a = sample(&volume.hu.index_axis(Axis(0), k0), c.row, c.col)?;
    if t == 0.0 {
        return Some(a);
    }
    let b = sample(&volume.hu.index_axis(Axis(0), k1), c.row, c.col)?;
    Some(a + (b - a) * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_inside_a_gap_are_listed() {
        // Slices at 0, 1, 2, (3 missing), 4, 5 mm, resampled at 1 mm: output slice 3.
        assert_eq!(slices_in_gaps(&[0.0, 1.0, 2.0, 4.0, 5.0], 1.0, 6), vec![3]);
        // At 0.5 mm: 2.5, 3.0 and 3.5 mm lie inside the gap.
        assert_eq!(
            slices_in_gaps(&[0.0, 1.0, 2.0, 4.0, 5.0], 0.5, 11),
            vec![5, 6, 7]
        );
        // A uniform stack has none.
        assert!(slices_in_gaps(&[0.0, 1.0, 2.0, 3.0], 1.0, 4).is_empty());
    }
    use crate::geom::LpsDirection;

    fn plane(sx: f64, sy: f64) -> VolumeGeometry {
        VolumeGeometry::axis_aligned(SpacingMm {
            col: sx,
            row: sy,
            slice: 1.0,
        })
    }

    #[test]
    fn regular_input_is_copied_exactly() {
        let raw = Array3::from_shape_fn((4, 3, 5), |(k, j, i)| (k * 100 + j * 10 + i) as i16);
        let g = plane(0.5, 0.5);
        let depths = [0.0, 1.0, 2.0, 3.0];
        let offsets = [(0.0, 0.0); 4];
        let layout = StackLayout {
            origin: g.origin,
            plane: &g,
            depths_mm: &depths,
            offsets_mm: &offsets,
        };
        let (v, rec) = resample_stack(&raw, &layout, 1.0, vec![]);
        assert_eq!(v.hu, raw);
        assert_eq!(rec.output_dims, [4, 3, 5]);
    }

    #[test]
    fn a_gap_is_interpolated_linearly() {
        // Slices at 0, 1, 3 mm; value = 100 * depth.
        let raw = Array3::from_shape_fn((3, 2, 2), |(k, _, _)| [0, 100, 300][k] as i16);
        let g = plane(1.0, 1.0);
        let depths = [0.0, 1.0, 3.0];
        let offsets = [(0.0, 0.0); 3];
        let layout = StackLayout {
            origin: g.origin,
            plane: &g,
            depths_mm: &depths,
            offsets_mm: &offsets,
        };
        let (v, _) = resample_stack(&raw, &layout, 1.0, vec![]);
        let col: Vec<i16> = (0..4).map(|k| v.hu[[k, 0, 0]]).collect();
        assert_eq!(col, vec![0, 100, 200, 300]);
    }

    #[test]
    fn shear_is_removed_by_shifting_each_slice() {
        // Each slice shifted by one row (1 mm) per slice in +row: a feature at raw row 3 - k
        // is at the same patient y in every slice, so it must land on one output row.
        let raw = Array3::from_shape_fn((3, 6, 2), |(k, j, _)| if j + k == 3 { 1000 } else { 0 });
        let g = plane(1.0, 1.0);
        let depths = [0.0, 1.0, 2.0];
        let offsets = [(0.0, 0.0), (0.0, 1.0), (0.0, 2.0)];
        let layout = StackLayout {
            origin: g.origin,
            plane: &g,
            depths_mm: &depths,
            offsets_mm: &offsets,
        };
        let (v, rec) = resample_stack(&raw, &layout, 1.0, vec![]);
        assert_eq!(rec.output_dims, [3, 8, 2]);
        for k in 0..3 {
            let rows: Vec<usize> = (0..8).filter(|&j| v.hu[[k, j, 0]] == 1000).collect();
            assert_eq!(rows, vec![3], "slice {k}");
        }
        assert!(v.geometry.is_orthogonal());
        assert_eq!(v.geometry.slice_dir, LpsDirection::Z);
    }
}
