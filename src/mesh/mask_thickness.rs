//! Wall thickness measured on the mask, independent of the surface: where a wall is thin
//! (thin bone beside a skull defect, the case that decides an implant's fixation), the
//! voxels along its middle are ridges of the distance to the background, and twice that
//! distance is the wall's thickness.
//!
//! A ridge voxel is one whose distance `d` (mm, exact Euclidean, anisotropic) is at least
//! that of its neighbours along an axis and greater than one of them: the wall crosses that
//! axis there. Its thickness is `2d − s` when it is the single middle voxel (a wall of an
//! odd number of voxels: `d` runs from the centre of the middle voxel to the centre of the
//! first outside one) and `2d` when two voxels share the middle (an even number), `s` being
//! the spacing along that axis, kept between one voxel and the chord of inside voxels
//! through it along the axis; where the distance barely falls along the axis (its nearest
//! background is a rim beside it, not across the wall) the chord itself; the smallest
//! over the axes where it is a ridge. On walls
//! along the grid axes this is exact (n voxels give n·s, what marching cubes builds from
//! the same mask); on oblique walls it is within about one voxel, and at sharp convex
//! corners it errs thin (a warning too many, never one too few).

use crate::geom::VoxelCoord;
use crate::segment::algo::edt;
use crate::segment::components::{self, Connectivity};
use crate::segment::mask::Mask;
use crate::volume::VolumeGeometry;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Most thin regions listed; the count says how many there were in all.
pub const MAX_LISTED_REGIONS: usize = 20;

/// Fewest ridge voxels a thin region needs: fewer are the one-voxel ledges a staircase
/// boundary leaves on every oblique face, not walls.
pub const MIN_REGION_VOXELS: u64 = 9;

/// The mask's wall thickness against a limit: the regions thinner than it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskThickness {
    /// The limit walls were compared with, mm.
    pub limit_mm: f64,
    /// Precision of the measure on oblique walls (one voxel along the coarsest axis), mm.
    pub resolution_mm: f64,
    /// The thinnest region's thickness, mm (`None`: no region below the limit).
    pub thinnest_mm: Option<f64>,
    /// Where it is: that region's centroid, LPS mm.
    pub thinnest_at_mm: Option<[f64; 3]>,
    /// Regions thinner than the limit, largest first (at most [`MAX_LISTED_REGIONS`]).
    pub thin_regions: Vec<MaskThinRegion>,
    /// How many regions are thinner than the limit in all.
    pub thin_region_count: usize,
    /// Regions below the limit left out for having fewer than [`MIN_REGION_VOXELS`]
    /// ridge voxels (staircase ledges of the voxel boundary).
    pub ledges_ignored: usize,
    /// Why the mask was not measured, when it was not.
    #[serde(default)]
    pub not_measured: Option<String>,
}

/// Most voxels in the measured box: the distance map takes 4 bytes a voxel (4 GiB here).
pub const MAX_BOX_VOXELS: usize = 1 << 30;

impl MaskThickness {
    /// One line for the operator: what the mask measure found for `label`.
    pub fn summary(&self, label: &str) -> String {
        let ledges = match self.ledges_ignored {
            0 => String::new(),
            n => format!("; {n} ledge(s) of fewer than {MIN_REGION_VOXELS} voxels ignored"),
        };
        if let Some(why) = &self.not_measured {
            return format!("{label}: wall thickness not measured on the mask: {why}");
        }
        match (self.thinnest_mm, self.thinnest_at_mm) {
            (Some(t), Some(p)) => format!(
                "{label}: on the mask, {} region(s) thinner than {} mm, the thinnest {t:.2} mm at ({:.1}, {:.1}, {:.1}) LPS mm{ledges} (precision ±{:.2} mm)",
                self.thin_region_count, self.limit_mm, p[0], p[1], p[2], self.resolution_mm
            ),
            _ => format!(
                "{label}: on the mask, no wall thinner than {} mm{ledges} (precision ±{:.2} mm)",
                self.limit_mm, self.resolution_mm
            ),
        }
    }
}

/// A connected run of ridge voxels thinner than the limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskThinRegion {
    /// Centroid of its ridge voxels, LPS mm.
    pub centroid_mm: [f64; 3],
    /// Ridge voxels in it.
    pub voxels: u64,
    /// Its thickness: the median over its ridge voxels (single voxels at its rim and on
    /// staircase ledges read thinner), mm.
    pub thickness_mm: f64,
}

/// Measures the walls of `mask` (on `geometry`'s grid) against `limit_mm`.
///
/// Every thickness this measure gives is at least the spacing along the axis it was
/// measured on (a wall is at least one voxel thick), so a limit at or below the finest
/// spacing finds no region on any mask: then the answer is given without the distance
/// map, and it is the one the full measure gives (a test compares both).
pub fn measure(mask: &Mask, geometry: &VolumeGeometry, limit_mm: f64) -> MaskThickness {
    measure_with(mask, geometry, limit_mm, true)
}

/// [`measure`], with or without the shortcut for a limit below one voxel.
fn measure_with(
    mask: &Mask,
    geometry: &VolumeGeometry,
    limit_mm: f64,
    shortcut: bool,
) -> MaskThickness {
    let sp = geometry.spacing;
    let spacing = [sp.slice, sp.row, sp.col];
    let mut out = MaskThickness {
        limit_mm,
        resolution_mm: sp.slice.max(sp.row).max(sp.col),
        thinnest_mm: None,
        thinnest_at_mm: None,
        thin_regions: Vec::new(),
        thin_region_count: 0,
        ledges_ignored: 0,
        not_measured: None,
    };
    let Some((lo, hi)) = bounds(mask) else {
        return out;
    };
    // The mask's bounding box with one voxel of background all round (outside the volume
    // counts as background), so that every voxel of the box has all six neighbours.
    let dims = [0, 1, 2].map(|a| hi[a] - lo[a] + 3);
    let voxels = dims.iter().try_fold(1usize, |n, d| n.checked_mul(*d));
    if voxels.is_none_or(|v| v > MAX_BOX_VOXELS) {
        out.not_measured = Some(format!(
            "the mask spans {}x{}x{} voxels, more than the {MAX_BOX_VOXELS} its distance map may take",
            dims[2], dims[1], dims[0]
        ));
        return out;
    }
    // Ridge thicknesses are kept as f32 of values >= the finest spacing; rounding to
    // nearest is monotonic, so none is below that spacing's f32.
    let finest = spacing.iter().copied().fold(f64::INFINITY, f64::min);
    if shortcut && f64::from(finest as f32) >= limit_mm {
        return out;
    }
    let [n, rows, cols] = dims;
    // The box's rows of runs (the mask's, shifted): built and scanned run by run, never
    // voxel by voxel (the box of a skull holds ~30 M voxels, 2 M of them bone).
    let runs_of = |k: usize, j: usize| -> Vec<(usize, usize)> {
        if k < 1 || k > hi[0] - lo[0] + 1 || j < 1 || j > hi[1] - lo[1] + 1 {
            return Vec::new();
        }
        mask.row_runs(k - 1 + lo[0], j - 1 + lo[1])
            .map(|(a, b)| (a + 1 - lo[2], b + 1 - lo[2]))
            .collect()
    };
    let mut background = Mask::new(dims);
    {
        let rw = background.row_words();
        for (r, row) in background.words_mut().chunks_mut(rw).enumerate() {
            components::set_bits(row, 0, cols);
            for (a, b) in runs_of(r / rows, r % rows) {
                for i in a..b {
                    row[i / 64] &= !(1u64 << (i % 64));
                }
            }
        }
    }
    let d2 = edt::squared_distance(&background, spacing, false);
    // Per slice (in parallel), (j * cols + i, thickness) of its ridge voxels, in index order.
    let thickness: Vec<Vec<(usize, f32)>> = (1..n - 1)
        .into_par_iter()
        .map(|k| {
            let mut t = Vec::new();
            for j in 1..rows - 1 {
                for i in runs_of(k, j).into_iter().flat_map(|(a, b)| a..b) {
                    let d = d2[[k, j, i]];
                    if d == 0.0 {
                        continue;
                    }
                    let d = f64::from(d).sqrt();
                    let along = [
                        (d2[[k - 1, j, i]], d2[[k + 1, j, i]], spacing[0]),
                        (d2[[k, j - 1, i]], d2[[k, j + 1, i]], spacing[1]),
                        (d2[[k, j, i - 1]], d2[[k, j, i + 1]], spacing[2]),
                    ];
                    let mut best = f64::INFINITY;
                    for (axis, (a, b, s)) in along.into_iter().enumerate() {
                        let (a, b) = (f64::from(a).sqrt(), f64::from(b).sqrt());
                        if d >= a && d >= b && (d > a || d > b) {
                            // A wall crosses this axis only if the background lies close on
                            // both sides: the chord through the voxel along the axis is at
                            // most the thickness over cos 54.7° (the steepest a plane can
                            // be to all three axes). This drops the ridges that run out to
                            // convex edges and corners, where the distance is small but no
                            // wall is thin.
                            let bound = ((2.0 * 3f64.sqrt() * d + s) / s).floor() as usize;
                            let [minus, plus] = reach(&background, [k, j, i], axis, bound);
                            let run = minus + plus - 1;
                            if run > bound {
                                continue;
                            }
                            // Two voxels share the middle of an even wall only if the
                            // distance falls again beyond the other one; a longer plateau is
                            // a rim, where the distance is to the rim, not across.
                            let tie = d == a || d == b;
                            if tie {
                                let mut c = [k, j, i];
                                let dir: isize = if d == a { -2 } else { 2 };
                                c[axis] = c[axis].wrapping_add_signed(dir);
                                if f64::from(d2[c]).sqrt() >= d {
                                    continue;
                                }
                            }
                            let mut across = if tie { 2.0 * d } else { 2.0 * d - s };
                            // The distance falls at unit slope towards the background it
                            // measures: at least cos 54.7° along the axis that crosses a
                            // wall. A flatter fall means the nearest background is a rim or
                            // an edge beside the voxel, not across the wall; there the wall
                            // is as thick as the chord across it.
                            let slope = (d - a).max(d - b) / s;
                            if slope < 1.0 / 3f64.sqrt() - 1e-6 {
                                across = run as f64 * s;
                            }
                            best = best.min(across.clamp(s, run as f64 * s));
                        }
                    }
                    if best.is_finite() {
                        t.push((j * cols + i, best as f32));
                    }
                }
            }
            t
        })
        .collect();
    drop(d2);
    let to_lps = |k: usize, j: usize, i: usize| {
        geometry
            .position(VoxelCoord {
                slice: (k - 1 + lo[0]) as f64,
                row: (j - 1 + lo[1]) as f64,
                col: (i - 1 + lo[2]) as f64,
            })
            .0
            .to_array()
    };
    let at = |k: usize, j: usize, i: usize| {
        let t = &thickness[k - 1];
        t.binary_search_by_key(&(j * cols + i), |e| e.0)
            .map_or(f64::NAN, |x| f64::from(t[x].1))
    };
    let mut thin = Mask::new(dims);
    for (kk, t) in thickness.iter().enumerate() {
        for &(idx, v) in t {
            if f64::from(v) < limit_mm {
                thin.set(kk + 1, idx / cols, idx % cols, true);
            }
        }
    }
    if thin.is_empty() {
        return out;
    }
    let comps = components::label(&thin, Connectivity::TwentySix, false);
    // Per region: voxels, sum of positions, ridge thicknesses.
    let mut regions: Vec<(u64, [f64; 3], Vec<f64>)> = vec![(0, [0.0; 3], Vec::new()); comps.len()];
    for (r, &c) in comps.runs.iter().zip(&comps.comp_of_run) {
        let (k, j) = (r.k as usize, r.j as usize);
        let reg = &mut regions[c as usize];
        for i in r.start as usize..r.end as usize {
            let p = to_lps(k, j, i);
            reg.0 += 1;
            for (sum, x) in reg.1.iter_mut().zip(p) {
                *sum += x;
            }
            reg.2.push(at(k, j, i));
        }
    }
    let before = regions.len();
    regions.retain(|r| r.0 >= MIN_REGION_VOXELS);
    out.ledges_ignored = before - regions.len();
    out.thin_region_count = regions.len();
    let mut listed: Vec<MaskThinRegion> = regions
        .into_iter()
        .map(|(voxels, sum, mut t)| {
            t.sort_by(f64::total_cmp);
            MaskThinRegion {
                centroid_mm: sum.map(|s| s / voxels as f64),
                voxels,
                thickness_mm: t[t.len() / 2],
            }
        })
        .collect();
    if let Some(r) = listed
        .iter()
        .min_by(|a, b| a.thickness_mm.total_cmp(&b.thickness_mm))
    {
        out.thinnest_mm = Some(r.thickness_mm);
        out.thinnest_at_mm = Some(r.centroid_mm);
    }
    listed.sort_by(|a, b| {
        b.voxels
            .cmp(&a.voxels)
            .then(a.thickness_mm.total_cmp(&b.thickness_mm))
    });
    listed.truncate(MAX_LISTED_REGIONS);
    out.thin_regions = listed;
    out
}

/// Steps from `at` to the first background voxel along `axis`, backwards and forwards
/// (1 = the neighbour), each counted up to `limit + 1`.
fn reach(background: &Mask, at: [usize; 3], axis: usize, limit: usize) -> [usize; 2] {
    [-1isize, 1].map(|dir| {
        let mut c = at;
        let mut steps = 0;
        while steps <= limit {
            // The box has a background border, so the walk stops before leaving it.
            c[axis] = c[axis].wrapping_add_signed(dir);
            steps += 1;
            if background.get(c[0], c[1], c[2]) {
                break;
            }
        }
        steps
    })
}

/// The inclusive index bounds `[slice, row, col]` of the mask's voxels.
fn bounds(mask: &Mask) -> Option<([usize; 3], [usize; 3])> {
    let [n, rows, _] = mask.dims();
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for k in 0..n {
        for j in 0..rows {
            for (a, b) in mask.row_runs(k, j) {
                lo = [lo[0].min(k), lo[1].min(j), lo[2].min(a)];
                hi = [hi[0].max(k), hi[1].max(j), hi[2].max(b - 1)];
            }
        }
    }
    (lo[0] != usize::MAX).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::SpacingMm;

    fn geometry(col: f64, row: f64, slice: f64) -> VolumeGeometry {
        VolumeGeometry::axis_aligned(SpacingMm { col, row, slice })
    }

    /// A round plate `n` voxels thick across `axis`, 41 voxels across.
    fn plate(axis: usize, n: usize) -> Mask {
        let mut dims = [44, 44, 44];
        dims[axis] = n + 4;
        Mask::from_fn(dims, |k, j, i| {
            let c = [k, j, i];
            let r2: f64 = (0..3)
                .filter(|a| *a != axis)
                .map(|a| (c[a] as f64 - 21.5).powi(2))
                .sum();
            (2..2 + n).contains(&c[axis]) && r2 <= 20.5 * 20.5
        })
    }

    #[test]
    fn plates_along_each_axis_measure_their_voxel_thickness() {
        for g in [geometry(0.45, 0.45, 0.45), geometry(0.45, 0.45, 1.0)] {
            let spacing = [g.spacing.slice, g.spacing.row, g.spacing.col];
            for axis in 0..3 {
                for n in 1..=4 {
                    let expect = n as f64 * spacing[axis];
                    let m = measure(&plate(axis, n), &g, expect + 0.01);
                    assert_eq!(
                        m.thin_region_count, 1,
                        "axis {axis}, {n} voxels of {spacing:?}: {m:?}"
                    );
                    let got = m.thinnest_mm.expect("a wall");
                    assert!(
                        (got - expect).abs() < 1e-5,
                        "axis {axis}, {n} voxels of {spacing:?}: {got} mm, expected {expect}"
                    );
                    assert!(m.thin_regions[0].voxels > 100, "the whole plate: {m:?}");
                    // Below it, nothing: just below on isotropic voxels; one resolution
                    // step below on anisotropic ones (near a plate's rim the distance is to
                    // the rim, and the measure errs thin by up to one step there).
                    let isotropic = spacing.iter().all(|s| *s == spacing[0]);
                    let below = if isotropic {
                        expect - 0.01
                    } else {
                        expect - m.resolution_mm + 0.01
                    };
                    let m = measure(&plate(axis, n), &g, below);
                    assert_eq!(m.thin_region_count, 0, "axis {axis}, {n} voxels: {m:?}");
                }
            }
        }
    }

    #[test]
    fn a_thin_patch_in_a_thick_wall_is_one_region_where_it_is() {
        // A 6-voxel (2.7 mm) wall across the columns, thinned to 2 voxels (0.9 mm) over a
        // 4 x 4 patch: one region below 1.5 mm, centred on the patch.
        let g = geometry(0.45, 0.45, 0.45);
        let m = Mask::from_fn([16, 16, 12], |k, j, i| {
            let in_plate = (1..15).contains(&k) && (1..15).contains(&j);
            let patch = (6..10).contains(&k) && (6..10).contains(&j);
            in_plate
                && if patch {
                    (3..5).contains(&i)
                } else {
                    (3..9).contains(&i)
                }
        });
        let t = measure(&m, &g, 1.5);
        assert_eq!(t.thin_region_count, 1, "{t:?}");
        let r = &t.thin_regions[0];
        assert!((r.thickness_mm - 0.9).abs() < 1e-5, "{r:?}");
        let centre = 7.5 * 0.45;
        assert!((r.centroid_mm[2] - centre).abs() < 0.3, "{r:?}");
        assert!((r.centroid_mm[1] - centre).abs() < 0.3, "{r:?}");
        assert!((t.thinnest_mm.unwrap() - 0.9).abs() < 1e-5);
    }

    #[test]
    fn the_edges_and_corners_of_a_thick_block_are_not_thin_walls() {
        // A 12-voxel (5.4 mm) cube: nothing below 2.5 mm, though the distance to the
        // background is one voxel all along its edges.
        let g = geometry(0.45, 0.45, 0.45);
        let m = Mask::from_fn([14, 14, 14], |k, j, i| {
            [k, j, i].iter().all(|c| (1..13).contains(c))
        });
        let t = measure(&m, &g, 2.5);
        assert_eq!(t.thin_region_count, 0, "{t:?}");
        assert_eq!(t.thinnest_mm, None, "{t:?}");
    }

    #[test]
    fn a_limit_below_one_voxel_gives_what_the_full_measure_gives() {
        // Random blobs and plates one voxel thick, on isotropic and anisotropic grids, at
        // limits at and below the finest spacing: the answer is the full measure's, field
        // by field.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for g in [
            geometry(0.45, 0.45, 0.45),
            geometry(0.45, 0.45, 1.0),
            geometry(0.3, 0.6, 0.9),
        ] {
            let finest = g.spacing.col.min(g.spacing.row).min(g.spacing.slice);
            let mut masks: Vec<Mask> = (0..3).map(|axis| plate(axis, 1)).collect();
            for _ in 0..6 {
                let fill = next() % 60 + 20;
                let bits: Vec<bool> = (0..12 * 13 * 14).map(|_| next() % 100 < fill).collect();
                masks.push(Mask::from_fn([12, 13, 14], |k, j, i| {
                    bits[(k * 13 + j) * 14 + i]
                }));
            }
            for m in &masks {
                // The f32 of the spacing (what ridge thicknesses are kept as) and below
                // take the shortcut; the spacing itself may be above its f32 and does not.
                let at = f64::from(finest as f32);
                for limit in [at, 0.5 * finest, 0.0, finest, finest - 1e-9] {
                    let fast = measure(m, &g, limit);
                    assert_eq!(fast, measure_with(m, &g, limit, false), "limit {limit}");
                    if limit <= at {
                        assert_eq!(fast.thin_region_count, 0);
                    }
                }
                // Above one voxel the full measure runs (and finds the plates).
                let above = measure(m, &g, 4.0 * finest);
                assert_eq!(above, measure_with(m, &g, 4.0 * finest, false));
            }
            for axis in 0..3 {
                let s = [g.spacing.slice, g.spacing.row, g.spacing.col][axis];
                if s > finest {
                    continue;
                }
                assert_eq!(measure(&masks[axis], &g, s + 0.01).thin_region_count, 1);
            }
        }
    }

    #[test]
    fn an_empty_mask_has_no_wall() {
        let m = measure(&Mask::new([4, 4, 4]), &geometry(1.0, 1.0, 1.0), 1.0);
        assert_eq!(m.thinnest_mm, None);
        assert!(m.thin_regions.is_empty());
    }
}
