//! How far smoothing or decimation moved a surface: signed point-to-surface distances in
//! both directions (through [`super::bvh::Bvh`], never vertex-to-vertex), summary statistics,
//! the area beyond a tolerance, and the volume change.
//!
//! Every floating-point reduction sums fixed-size chunks and adds the partial sums in chunk
//! order, so results are bit-identical for any rayon thread count.

use super::bvh::{Bvh, LatticeCells};
use crate::volume::VolumeGeometry;
use glam::DVec3;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Elements per chunk of every floating-point reduction (fixed, so that chunk boundaries and
/// hence rounding never depend on the thread count).
const CHUNK: usize = 4096;

/// Deviation of a modified surface from the original one.
///
/// Distances are signed with the angle-weighted pseudo-normal of the surface measured
/// against; both per-vertex arrays use the same convention: positive where the modified
/// surface lies outside the original (material added), negative where inside (removed).
/// NaN marks a vertex that could not be measured (in no triangle of its own mesh, or the
/// other mesh has no usable triangle); NaNs are left out of every statistic.
#[derive(Clone, Debug, PartialEq)]
pub struct Deviation {
    /// Signed distance of each modified vertex to the original surface (mm, positive outside).
    pub per_vertex_mm: Vec<f64>,
    /// Each original vertex against the modified surface: minus its signed distance to that
    /// surface (mm), so that positive again means the modified surface is outside there.
    pub reverse_per_vertex_mm: Vec<f64>,
    /// Largest |deviation|, both directions pooled (mm; NaN if nothing was measured).
    pub max_mm: f64,
    /// Mean |deviation|, both directions pooled (mm; NaN if nothing was measured).
    pub mean_mm: f64,
    /// Root-mean-square deviation, both directions pooled (mm; NaN if nothing was measured).
    pub rms_mm: f64,
    /// 95th percentile of |deviation|, nearest rank, both directions pooled (mm; NaN if none).
    pub p95_mm: f64,
    /// Area of the modified surface where the signed deviation, interpolated linearly over
    /// each triangle from its vertices, exceeds the tolerance in magnitude (mm^2).
    pub area_beyond_tolerance_mm2: f64,
    /// Enclosed volume of the original mesh (mm^3, divergence theorem).
    pub volume_original_mm3: f64,
    /// Enclosed volume of the modified mesh (mm^3).
    pub volume_modified_mm3: f64,
    /// `volume_modified_mm3 - volume_original_mm3` (mm^3).
    pub volume_change_mm3: f64,
    /// Volume change in percent of |original volume| (NaN if the original volume is 0).
    pub volume_change_pct: f64,
    /// Vertices of both meshes whose deviation is NaN.
    pub unmeasured_vertices: usize,
    /// Triangles of both meshes left out of the distance search (bad index, non-finite
    /// vertex or zero area); see [`Bvh::skipped_triangles`].
    pub skipped_triangles: usize,
}

/// Compares a modified mesh (smoothed, decimated) with the original it came from.
///
/// A negative or NaN `tolerance_mm` counts as 0.
pub fn deviation(
    original_vertices: &[[f64; 3]],
    original_triangles: &[[u32; 3]],
    modified_vertices: &[[f64; 3]],
    modified_triangles: &[[u32; 3]],
    tolerance_mm: f64,
) -> Deviation {
    let modified = Bvh::build(modified_vertices, modified_triangles);
    measure(
        &modified,
        None,
        original_vertices,
        original_triangles,
        modified_vertices,
        modified_triangles,
        tolerance_mm,
        &AtomicBool::new(false),
    )
}

/// [`deviation`] reusing a tree already built over exactly the modified mesh (the checks
/// that follow smoothing need the same tree), and, when the original is a marching-cubes
/// surface on the voxel lattice of `lattice`, searching it through that lattice instead of a
/// second tree ([`LatticeCells`]; checked, and the tree is used if it does not fit). Same
/// result either way.
///
/// Stops early and returns `None` once `cancel` is set (checked at every vertex).
#[allow(clippy::too_many_arguments)]
pub fn deviation_given(
    modified: &Bvh,
    lattice: Option<&VolumeGeometry>,
    original_vertices: &[[f64; 3]],
    original_triangles: &[[u32; 3]],
    modified_vertices: &[[f64; 3]],
    modified_triangles: &[[u32; 3]],
    tolerance_mm: f64,
    cancel: &AtomicBool,
) -> Option<Deviation> {
    let d = measure(
        modified,
        lattice,
        original_vertices,
        original_triangles,
        modified_vertices,
        modified_triangles,
        tolerance_mm,
        cancel,
    );
    (!cancel.load(Relaxed)).then_some(d)
}

/// [`deviation_given`]; the figures are meaningless once `cancel` is set (vertices left
/// unmeasured).
#[allow(clippy::too_many_arguments)]
fn measure(
    modified: &Bvh,
    lattice: Option<&VolumeGeometry>,
    original_vertices: &[[f64; 3]],
    original_triangles: &[[u32; 3]],
    modified_vertices: &[[f64; 3]],
    modified_triangles: &[[u32; 3]],
    tolerance_mm: f64,
    cancel: &AtomicBool,
) -> Deviation {
    // Same triangles and vertex count (smoothing moves vertices only): vertex i of one
    // mesh lies on the other's surface near vertex i, which bounds every search.
    let same_topology = original_vertices.len() == modified_vertices.len()
        && original_triangles == modified_triangles;
    let hints = same_topology.then_some(original_vertices);
    let cells = lattice.and_then(|g| LatticeCells::build(original_vertices, original_triangles, g));
    let (forward, skipped_original) = match cells {
        Some(cells) => {
            let d = signed_distances(
                |p, b| cells.signed_distance_within(p, b),
                modified_vertices,
                modified_triangles,
                1.0,
                hints,
                cancel,
            );
            (d, cells.skipped_triangles())
        }
        None => {
            let original = Bvh::build(original_vertices, original_triangles);
            let d = signed_distances(
                |p, b| original.signed_distance_within(p, b),
                modified_vertices,
                modified_triangles,
                1.0,
                hints,
                cancel,
            );
            (d, original.skipped_triangles())
        }
    };
    let reverse = signed_distances(
        |p, b| modified.signed_distance_within(p, b),
        original_vertices,
        original_triangles,
        -1.0,
        same_topology.then_some(modified_vertices),
        cancel,
    );
    let skipped_modified = modified.skipped_triangles();

    let mut pooled: Vec<f64> = forward
        .iter()
        .chain(&reverse)
        .filter(|d| d.is_finite())
        .map(|d| d.abs())
        .collect();
    let unmeasured = forward.len() + reverse.len() - pooled.len();
    let (max_mm, mean_mm, rms_mm, p95_mm) = summary(&mut pooled);

    let tolerance = tolerance_mm.max(0.0);
    let area_beyond = chunked_sum(modified_triangles, |t| {
        let Some(p) = corners(modified_vertices, *t) else {
            return 0.0;
        };
        let d = t.map(|i| forward.get(i as usize).copied().unwrap_or(f64::NAN));
        if d.iter().any(|x| !x.is_finite()) {
            return 0.0;
        }
        let area = 0.5 * (p[1] - p[0]).cross(p[2] - p[0]).length();
        area * (fraction_above(d, tolerance) + fraction_above(d.map(|x| -x), tolerance))
    });

    let (volume_original, volume_modified) = rayon::join(
        || signed_volume(original_vertices, original_triangles),
        || signed_volume(modified_vertices, modified_triangles),
    );
    let change = volume_modified - volume_original;
    let pct = if volume_original != 0.0 {
        100.0 * change / volume_original.abs()
    } else {
        f64::NAN
    };

    Deviation {
        per_vertex_mm: forward,
        reverse_per_vertex_mm: reverse,
        max_mm,
        mean_mm,
        rms_mm,
        p95_mm,
        area_beyond_tolerance_mm2: area_beyond,
        volume_original_mm3: volume_original,
        volume_modified_mm3: volume_modified,
        volume_change_mm3: change,
        volume_change_pct: pct,
        unmeasured_vertices: unmeasured,
        skipped_triangles: skipped_original + skipped_modified,
    }
}

/// Enclosed volume by the divergence theorem (mm^3): positive for a closed mesh with outward
/// counter-clockwise triangles. Triangles with a bad index or non-finite vertex are skipped.
///
/// Coordinates are taken relative to a vertex of the mesh (the first corner of the first
/// valid triangle) to avoid cancellation far from the patient origin; for a closed mesh the
/// result does not depend on that choice.
pub fn signed_volume(vertices: &[[f64; 3]], triangles: &[[u32; 3]]) -> f64 {
    let Some(o) = triangles
        .iter()
        .find_map(|t| corners(vertices, *t))
        .map(|p| p[0])
    else {
        return 0.0;
    };
    chunked_sum(triangles, |t| {
        corners(vertices, *t).map_or(0.0, |[a, b, c]| (a - o).dot((b - o).cross(c - o)))
    }) / 6.0
}

/// Total surface area (mm^2). Triangles with a bad index or non-finite vertex are skipped.
pub fn area(vertices: &[[f64; 3]], triangles: &[[u32; 3]]) -> f64 {
    chunked_sum(triangles, |t| {
        corners(vertices, *t).map_or(0.0, |[a, b, c]| (b - a).cross(c - a).length())
    }) * 0.5
}

/// Corner positions if every index is in range and every coordinate finite.
fn corners(vertices: &[[f64; 3]], t: [u32; 3]) -> Option<[DVec3; 3]> {
    let get = |i: u32| {
        vertices
            .get(i as usize)
            .map(|v| DVec3::from_array(*v))
            .filter(|v| v.is_finite())
    };
    Some([get(t[0])?, get(t[1])?, get(t[2])?])
}

/// Sum of `f` over `items` in fixed chunks, the partial sums added in chunk order.
fn chunked_sum<T: Sync>(items: &[T], f: impl Fn(&T) -> f64 + Sync) -> f64 {
    let partial: Vec<f64> = items
        .par_chunks(CHUNK)
        .map(|c| c.iter().map(&f).sum::<f64>())
        .collect();
    partial.iter().sum()
}

/// `sign` x signed distance of each vertex of (`vertices`, `triangles`) to the other surface
/// (`query(point, bound)`, as [`Bvh::signed_distance_within`]); NaN for vertices in no
/// in-range triangle or when there is no surface.
fn signed_distances(
    query: impl Fn([f64; 3], f64) -> Option<f64> + Sync,
    vertices: &[[f64; 3]],
    triangles: &[[u32; 3]],
    sign: f64,
    hints: Option<&[[f64; 3]]>,
    cancel: &AtomicBool,
) -> Vec<f64> {
    let mut used = vec![false; vertices.len()];
    for t in triangles {
        if t.iter().all(|&i| (i as usize) < vertices.len()) {
            for &i in t {
                if let Some(u) = used.get_mut(i as usize) {
                    *u = true;
                }
            }
        }
    }
    vertices
        .par_iter()
        .enumerate()
        .zip(used.par_iter())
        .map(|((i, p), &u)| {
            if !u || cancel.load(Relaxed) {
                return f64::NAN;
            }
            // Vertex i of the other mesh lies on that surface: its distance bounds the search.
            let bound = hints.and_then(|h| h.get(i)).map_or(f64::INFINITY, |q| {
                ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
            });
            let d = query(*p, bound);
            // No negative zero: an exact hit reads 0 in both directions.
            d.map_or(f64::NAN, |d| if d == 0.0 { 0.0 } else { sign * d })
        })
        .collect()
}

/// (max, mean, rms, p95) of non-negative values; NaN for an empty slice. Reorders `v`.
fn summary(v: &mut [f64]) -> (f64, f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let max = v.iter().copied().fold(0.0, f64::max);
    let mean = chunked_sum(v, |x| *x) / n;
    let rms = (chunked_sum(v, |x| x * x) / n).sqrt();
    // Nearest rank: the smallest value with at least 95 % of the values at or below it.
    let rank = ((0.95 * n).ceil() as usize).clamp(1, v.len()) - 1;
    let (_, p95, _) = v.select_nth_unstable_by(rank, f64::total_cmp);
    (max, mean, rms, *p95)
}

/// Fraction of a triangle's area where the linear interpolant of corner values `f` exceeds
/// `t`. The level set f = t cuts a corner triangle off, whose sides scale with the value
/// ratios along the two edges from the extreme corner.
fn fraction_above(f: [f64; 3], t: f64) -> f64 {
    let mut s = f;
    s.sort_by(f64::total_cmp);
    let [lo, mid, hi] = s;
    if t >= hi {
        0.0
    } else if t < lo {
        1.0
    } else if t >= mid {
        // Only the corner at `hi` is above: (hi - t)^2 / ((hi - lo)(hi - mid)).
        ((hi - t) / (hi - lo)) * ((hi - t) / (hi - mid))
    } else {
        // Only the corner at `lo` is below.
        1.0 - ((t - lo) / (hi - lo)) * ((t - lo) / (mid - lo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::test_meshes::*;
    use std::f64::consts::PI;

    /// Largest depth of an inscribed polyhedron below its sphere (see the bvh tests).
    fn sagitta(m: &Mesh, r: f64, c: [f64; 3]) -> f64 {
        let c = DVec3::from_array(c);
        m.1.iter()
            .map(|t| {
                let [a, b, cc] = t.map(|i| DVec3::from_array(m.0[i as usize]));
                r - (b - a).cross(cc - a).normalize().dot(a - c).abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn box_volume_and_area_are_exact_even_far_from_origin() {
        for off in [[0.0; 3], [512.25, -317.5, 1203.125]] {
            let lo = [off[0], off[1], off[2]];
            let hi = [off[0] + 2.0, off[1] + 3.0, off[2] + 4.0];
            let (v, t) = grid_box(lo, hi, 3);
            assert!((signed_volume(&v, &t) - 24.0).abs() < 1e-10, "{off:?}");
            assert!((area(&v, &t) - 52.0).abs() < 1e-10);
            // Reversed orientation gives the negative volume.
            let flipped: Vec<[u32; 3]> = t.iter().map(|f| [f[0], f[2], f[1]]).collect();
            assert!((signed_volume(&v, &flipped) + 24.0).abs() < 1e-10);
        }
    }

    #[test]
    fn sphere_volume_within_inscribed_bounds() {
        let (r, c) = (7.0, [3.0, 4.0, -5.0]);
        let m = icosphere(r, c, 4);
        let h = sagitta(&m, r, c);
        let vol = signed_volume(&m.0, &m.1);
        assert!(vol <= 4.0 / 3.0 * PI * r.powi(3));
        assert!(vol >= 4.0 / 3.0 * PI * (r - h).powi(3));
        let a = area(&m.0, &m.1);
        assert!(a <= 4.0 * PI * r * r && a >= 4.0 * PI * (r - h).powi(2));
    }

    #[test]
    fn fraction_above_matches_hand_computed_cases() {
        // f = x + 2y on the unit right triangle: f > 1 on half of it.
        assert!((fraction_above([0.0, 1.0, 2.0], 1.0) - 0.5).abs() < 1e-15);
        assert_eq!(fraction_above([0.0, 1.0, 2.0], 2.0), 0.0);
        assert_eq!(fraction_above([0.0, 1.0, 2.0], -1.0), 1.0);
        assert_eq!(fraction_above([1.0, 1.0, 1.0], 1.0), 0.0);
        // f = x on the triangle (0,0),(1,0),(0,1): x > 0.5 on 1/8 of its area 1/2.
        assert!((fraction_above([0.0, 1.0, 0.0], 0.5) - 0.25).abs() < 1e-15);
        // Below a corner at `lo`: 1 - (t/2)(t/1) at t = 0.5 with values 0, 1, 2.
        assert!((fraction_above([2.0, 0.0, 1.0], 0.5) - (1.0 - 0.25 * 0.5)).abs() < 1e-15);
    }

    #[test]
    fn sphere_grown_by_a_tenth_of_a_millimetre() {
        let (r, c, dr) = (10.0, [20.0, -30.0, 700.0], 0.1);
        let original = icosphere(r, c, 5);
        // Same tessellation scaled and rotated, so no vertex lies on a ray through another.
        let grown = rotate(&icosphere(r + dr, c, 5), c, [0.3, -0.5, 0.8], 0.37);
        let h_orig = sagitta(&original, r, c);
        let h_grown = sagitta(&grown, r + dr, c);
        let dev = deviation(&original.0, &original.1, &grown.0, &grown.1, 0.05);
        // Grown vertices lie on the sphere r + dr, the original polyhedron between radii
        // r - h_orig and r: distances are within [dr, dr + h_orig]. Original vertices lie on
        // the sphere r, the grown polyhedron between r + dr - h_grown and r + dr.
        for &d in &dev.per_vertex_mm {
            assert!(d >= dr - 1e-12 && d <= dr + h_orig + 1e-12, "{d}");
        }
        for &d in &dev.reverse_per_vertex_mm {
            assert!(d >= dr - h_grown - 1e-12 && d <= dr + 1e-12, "{d}");
        }
        let (lo, hi) = (dr - h_grown, dr + h_orig);
        for x in [dev.max_mm, dev.mean_mm, dev.rms_mm, dev.p95_mm] {
            assert!(
                x >= lo - 1e-12 && x <= hi + 1e-12,
                "{x} not in [{lo}, {hi}]"
            );
        }
        assert!(hi - lo < 0.01, "tessellation error {}", hi - lo);
        assert_eq!(dev.unmeasured_vertices, 0);
        // Everything is beyond 0.05 mm, nothing beyond 0.2 mm.
        let a = area(&grown.0, &grown.1);
        assert!((dev.area_beyond_tolerance_mm2 - a).abs() < 1e-9 * a);
        let none = deviation(&original.0, &original.1, &grown.0, &grown.1, 0.2);
        assert_eq!(none.area_beyond_tolerance_mm2, 0.0);
        // Both polyhedra are the same shape scaled by s = (r + dr) / r, so the change is
        // V_poly (s^3 - 1), and V_poly lies between the inscribed- and circumscribed-ball
        // volumes: the relative error against the sphere formula is at most 1 - ((r-h)/r)^3.
        let want = 4.0 / 3.0 * PI * ((r + dr).powi(3) - r.powi(3));
        let rel = (dev.volume_change_mm3 - want).abs() / want;
        let bound = 1.0 - ((r - h_orig) / r).powi(3);
        assert!(rel <= bound, "relative volume error {rel} > {bound}");
        eprintln!(
            "tessellation error {} mm, relative volume error {rel:.2e}",
            hi - lo
        );
        let pct = 100.0 * ((1.0 + dr / r).powi(3) - 1.0);
        assert!((dev.volume_change_pct - pct).abs() < 1e-9);
    }

    #[test]
    fn raised_box_top_deviation_is_piecewise_linear() {
        // Unit box against the same box 0.5 mm taller; thirds put a grid line at z = 1.
        let original = grid_box_n([0.0; 3], [1.0; 3], [3, 3, 2]);
        let taller = grid_box_n([0.0; 3], [1.0, 1.0, 1.5], [3, 3, 3]);
        let dev = deviation(&original.0, &original.1, &taller.0, &taller.1, 0.25);
        // Modified vertices: max(0, z - 1) from the original surface.
        for (p, d) in taller.0.iter().zip(&dev.per_vertex_mm) {
            assert!((d - (p[2] - 1.0).max(0.0)).abs() < 1e-12, "{p:?} {d}");
        }
        // Original top vertices are inside the taller box, the nearest wall within 0.5.
        for (p, d) in original.0.iter().zip(&dev.reverse_per_vertex_mm) {
            let want = if p[2] == 1.0 {
                0.5f64.min(p[0]).min(1.0 - p[0]).min(p[1]).min(1.0 - p[1])
            } else {
                0.0
            };
            assert!((d - want).abs() < 1e-12, "{p:?} {d} {want}");
        }
        assert!((dev.max_mm - 0.5).abs() < 1e-12);
        // Beyond 0.25 mm: the top (1 mm^2) and the upper 0.25 mm of the four walls.
        assert!((dev.area_beyond_tolerance_mm2 - 2.0).abs() < 1e-12);
        assert!((dev.volume_change_mm3 - 0.5).abs() < 1e-12);
        assert!((dev.volume_change_pct - 50.0).abs() < 1e-10);
    }

    #[test]
    fn identical_meshes_have_zero_deviation() {
        let m = icosphere(5.0, [1.0, 2.0, 3.0], 3);
        let dev = deviation(&m.0, &m.1, &m.0, &m.1, 0.0);
        assert!(dev.per_vertex_mm.iter().all(|d| *d == 0.0));
        assert!(dev.reverse_per_vertex_mm.iter().all(|d| *d == 0.0));
        assert_eq!(
            (dev.max_mm, dev.mean_mm, dev.rms_mm, dev.p95_mm),
            (0.0, 0.0, 0.0, 0.0)
        );
        assert_eq!(dev.area_beyond_tolerance_mm2, 0.0);
        assert_eq!(dev.volume_change_mm3, 0.0);
        assert_eq!(dev.volume_change_pct, 0.0);
    }

    #[test]
    fn empty_and_broken_inputs_do_not_panic() {
        let dev = deviation(&[], &[], &[], &[], 0.1);
        assert!(dev.per_vertex_mm.is_empty() && dev.reverse_per_vertex_mm.is_empty());
        assert!(dev.max_mm.is_nan() && dev.p95_mm.is_nan());
        assert_eq!(dev.volume_original_mm3, 0.0);
        assert!(dev.volume_change_pct.is_nan());
        assert_eq!(signed_volume(&[], &[[0, 1, 2]]), 0.0);
        assert_eq!(area(&[[0.0; 3]], &[[0, 0, 0]]), 0.0);

        // A valid box plus an unreferenced vertex, an out-of-range triangle, a NaN vertex
        // and a zero-area triangle.
        let (mut v, mut t) = grid_box([0.0; 3], [1.0; 3], 1);
        let n = v.len() as u32;
        v.push([5.0, 5.0, 5.0]);
        v.push([f64::NAN, 0.0, 0.0]);
        t.push([0, 1, 99]);
        t.push([0, 1, n + 1]);
        t.push([0, 0, 1]);
        let dev = deviation(&v, &t, &v, &t, 0.1);
        assert_eq!(dev.skipped_triangles, 6);
        assert!(dev.per_vertex_mm[n as usize].is_nan());
        // The unreferenced and the NaN vertex, in both directions.
        assert_eq!(dev.unmeasured_vertices, 4);
        assert!((dev.volume_original_mm3 - 1.0).abs() < 1e-12);
        assert_eq!(dev.max_mm, 0.0);

        // Against an empty surface nothing can be measured.
        let dev = deviation(&[], &[], &v, &t, 0.1);
        assert!(dev.per_vertex_mm.iter().all(|d| d.is_nan()));
        assert!(dev.mean_mm.is_nan());
        assert_eq!(dev.area_beyond_tolerance_mm2, 0.0);
        assert!(dev.volume_change_pct.is_nan());
        // A NaN tolerance counts as 0.
        let m = icosphere(5.0, [0.0; 3], 2);
        let g = icosphere(5.5, [0.0; 3], 2);
        let dev = deviation(&m.0, &m.1, &g.0, &g.1, f64::NAN);
        assert!((dev.area_beyond_tolerance_mm2 - area(&g.0, &g.1)).abs() < 1e-9);
    }

    #[test]
    fn random_soups_never_panic() {
        let mut rng = Rng(77);
        for _ in 0..30 {
            let (a, b) = (soup(&mut rng), soup(&mut rng));
            let dev = deviation(&a.0, &a.1, &b.0, &b.1, rng.range(-0.5, 1.0));
            assert_eq!(dev.per_vertex_mm.len(), b.0.len());
            assert_eq!(dev.reverse_per_vertex_mm.len(), a.0.len());
            let _ = (signed_volume(&a.0, &a.1), area(&b.0, &b.1));
        }
    }

    #[test]
    fn p95_is_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        v.reverse();
        let (max, mean, rms, p95) = summary(&mut v);
        assert_eq!((max, mean, p95), (100.0, 50.5, 95.0));
        assert!((rms - (338350.0f64 / 100.0).sqrt()).abs() < 1e-12);
        assert_eq!(summary(&mut [3.0]), (3.0, 3.0, 3.0, 3.0));
    }

    #[test]
    fn the_lattice_search_gives_the_trees_result_bit_for_bit() {
        use crate::geom::{LpsDirection, LpsPointMm, SpacingMm};
        use crate::mesh::extract::{Midpoint, extract};
        use crate::segment::mask::Mask;
        use crate::volume::VolumeGeometry;
        let dir = |x: f64, y: f64, z: f64| {
            LpsDirection::new(glam::DVec3::new(x, y, z).normalize()).expect("unit")
        };
        // Tilted (sheared), anisotropic, far from the origin.
        let g = VolumeGeometry {
            origin: LpsPointMm::new(-80.0, 40.5, 1200.0),
            col_dir: dir(1.0, 0.0, 0.0),
            row_dir: dir(0.0, 1.0, 0.0),
            slice_dir: dir(0.0, 0.25, 1.0),
            spacing: SpacingMm {
                col: 0.45,
                row: 0.45,
                slice: 1.0,
            },
        };
        let mut rng = Rng(77);
        let noise: Vec<bool> = (0..12 * 14 * 13).map(|_| rng.next() < 0.08).collect();
        let mask = Mask::from_fn([12, 14, 13], |k, j, i| {
            let d = (k as f64 - 6.0).powi(2) / 16.0
                + (j as f64 - 7.0).powi(2) / 30.0
                + (i as f64 - 6.0).powi(2) / 20.0;
            (d < 1.0 && d > 0.35) || noise[(k * 14 + j) * 13 + i]
        });
        let original = extract(&mask, &g, &Midpoint);
        for iterations in [5, 20] {
            let mut smoothed = original.clone();
            crate::mesh::smooth::smooth(
                &mut smoothed,
                crate::mesh::smooth::Smoothing::Sinc {
                    iterations,
                    pass_band: 0.1,
                },
                None,
            );
            let tree = Bvh::build(&smoothed.vertices, &smoothed.triangles);
            let run = |lattice: Option<&VolumeGeometry>| {
                deviation_given(
                    &tree,
                    lattice,
                    &original.vertices,
                    &original.triangles,
                    &smoothed.vertices,
                    &smoothed.triangles,
                    0.1,
                    &AtomicBool::new(false),
                )
                .expect("not cancelled")
            };
            let (by_tree, by_lattice) = (run(None), run(Some(&g)));
            assert!(LatticeCells::build(&original.vertices, &original.triangles, &g).is_some());
            assert!(by_tree.max_mm > 0.05, "the smoothing moved the surface");
            assert_eq!(format!("{by_tree:?}"), format!("{by_lattice:?}"));
        }
    }

    #[test]
    fn a_cancelled_deviation_gives_no_figures() {
        let a = icosphere(10.0, [0.0; 3], 3);
        let b = icosphere(10.1, [0.0; 3], 3);
        let tree = Bvh::build(&b.0, &b.1);
        let run = |c: bool| {
            deviation_given(
                &tree,
                None,
                &a.0,
                &a.1,
                &b.0,
                &b.1,
                0.1,
                &AtomicBool::new(c),
            )
        };
        assert!(run(true).is_none());
        assert_eq!(run(false), Some(deviation(&a.0, &a.1, &b.0, &b.1, 0.1)));
    }

    #[test]
    fn results_identical_across_thread_counts() {
        let original = icosphere(30.0, [100.0, -50.0, 800.0], 5);
        let smoothed = rotate(
            &icosphere(30.05, [100.0, -50.0, 800.0], 4),
            [100.0, -50.0, 800.0],
            [1.0, 2.0, 3.0],
            0.1,
        );
        let run = || deviation(&original.0, &original.1, &smoothed.0, &smoothed.1, 0.05);
        let one = with_threads(1, run);
        let two = with_threads(2, run);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one.per_vertex_mm), bits(&two.per_vertex_mm));
        assert_eq!(
            bits(&one.reverse_per_vertex_mm),
            bits(&two.reverse_per_vertex_mm)
        );
        let scalars = |d: &Deviation| {
            bits(&[
                d.max_mm,
                d.mean_mm,
                d.rms_mm,
                d.p95_mm,
                d.area_beyond_tolerance_mm2,
                d.volume_original_mm3,
                d.volume_modified_mm3,
                d.volume_change_mm3,
                d.volume_change_pct,
            ])
        };
        assert_eq!(scalars(&one), scalars(&two));
        assert!(one.area_beyond_tolerance_mm2 > 0.0);
        // Also with more threads than cores, and for the helpers on their own.
        let four = with_threads(4, run);
        assert_eq!(scalars(&one), scalars(&four));
        let vol = |n| with_threads(n, || signed_volume(&original.0, &original.1).to_bits());
        assert_eq!(vol(1), vol(3));
    }
}
