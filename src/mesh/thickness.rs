//! Printability: wall thickness at every vertex by inward ray casting, and the connected
//! regions thinner than a threshold.
//!
//! Deterministic for any rayon thread count: per-vertex work is independent, and all sums
//! run sequentially in index order.

use super::bvh::Bvh;
use glam::DVec3;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// A connected patch of vertices thinner than the threshold.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThinRegion {
    /// Area-weighted centroid of the region's vertices (mm).
    pub centroid_mm: [f64; 3],
    /// Sum of the region's vertex areas, a third of each incident triangle (mm^2).
    pub area_mm2: f64,
    /// Smallest thickness in the region (mm).
    pub min_thickness_mm: f64,
    /// Number of vertices in the region.
    pub vertices: usize,
}

/// Wall thickness at each vertex (mm): distance along the inward vertex normal to the first
/// surface hit, capped at `max_mm` (no hit also gives `max_mm`).
///
/// The normal is the area-weighted sum of the incident triangle normals. The ray starts at
/// the vertex and ignores the triangles around it: that is what starting "slightly inside"
/// achieves, without an offset that would have to suit the mesh scale. NaN marks vertices in
/// no triangle, with a zero normal or a non-finite position. A NaN or negative `max_mm`
/// counts as 0.
pub fn vertex_thickness(vertices: &[[f64; 3]], triangles: &[[u32; 3]], max_mm: f64) -> Vec<f64> {
    vertex_thickness_with(
        &Bvh::build(vertices, triangles),
        vertices,
        triangles,
        max_mm,
    )
}

/// [`vertex_thickness`] reusing a tree already built over exactly these `vertices` and
/// `triangles` (saves the build when the caller also needs it for other queries).
pub fn vertex_thickness_with(
    bvh: &Bvh,
    vertices: &[[f64; 3]],
    triangles: &[[u32; 3]],
    max_mm: f64,
) -> Vec<f64> {
    rays(bvh, vertices, triangles, max_mm, &AtomicBool::new(false))
}

/// [`vertex_thickness_with`], stopping early with `None` once `cancel` is set (checked
/// before every ray).
pub fn vertex_thickness_cancellable(
    bvh: &Bvh,
    vertices: &[[f64; 3]],
    triangles: &[[u32; 3]],
    max_mm: f64,
    cancel: &AtomicBool,
) -> Option<Vec<f64>> {
    let v = rays(bvh, vertices, triangles, max_mm, cancel);
    (!cancel.load(Relaxed)).then_some(v)
}

/// The inward rays of [`vertex_thickness_with`]; NaN for every ray after `cancel` is set.
fn rays(
    bvh: &Bvh,
    vertices: &[[f64; 3]],
    triangles: &[[u32; 3]],
    max_mm: f64,
    cancel: &AtomicBool,
) -> Vec<f64> {
    let cap = max_mm.max(0.0);
    let normals = area_weighted_normals(vertices, triangles);
    vertices
        .par_iter()
        .zip(normals.par_iter())
        .enumerate()
        .map(|(i, (p, n))| {
            let dir = -n.normalize_or_zero();
            if dir == DVec3::ZERO || !DVec3::from_array(*p).is_finite() || cancel.load(Relaxed) {
                return f64::NAN;
            }
            let vi = i as u32;
            let around = |t: u32| {
                triangles
                    .get(t as usize)
                    .is_some_and(|tri| tri.contains(&vi))
            };
            bvh.ray_filtered(*p, dir.to_array(), 0.0, cap, |t| !around(t))
                .map_or(cap, |(_, t)| t.min(cap))
        })
        .collect()
}

/// Connected regions (through mesh edges) of vertices with `thickness < threshold_mm`,
/// largest area first, ties by centroid (x, then y, then z), then by lowest vertex index.
///
/// `thickness` is indexed like `vertices` (as from [`vertex_thickness`]); missing or NaN
/// entries and vertices with non-finite positions are never thin.
pub fn thin_regions(
    vertices: &[[f64; 3]],
    triangles: &[[u32; 3]],
    thickness: &[f64],
    threshold_mm: f64,
) -> Vec<ThinRegion> {
    let nv = vertices.len();
    let thin: Vec<bool> = (0..nv)
        .map(|i| {
            let finite = vertices
                .get(i)
                .is_some_and(|p| p.iter().all(|x| x.is_finite()));
            finite && thickness.get(i).is_some_and(|&t| t < threshold_mm)
        })
        .collect();
    let is_thin = |v: u32| thin.get(v as usize).copied().unwrap_or(false);

    // Union-find over the edges between thin vertices; the root is always the lowest index,
    // so the partition and its labels do not depend on edge order.
    let mut parent: Vec<u32> = (0..nv as u32).collect();
    let mut vertex_area = vec![0.0f64; nv];
    for t in triangles {
        if t.iter().any(|&v| v as usize >= nv) {
            continue;
        }
        if let Some(a) = triangle_area(vertices, *t) {
            for &v in t {
                if let Some(x) = vertex_area.get_mut(v as usize) {
                    *x += a / 3.0;
                }
            }
        }
        for e in 0..3 {
            let (a, b) = (t[e], t[(e + 1) % 3]);
            if is_thin(a) && is_thin(b) {
                union(&mut parent, a, b);
            }
        }
    }

    struct Acc {
        first: u32,
        area: f64,
        weighted: DVec3,
        plain: DVec3,
        min: f64,
        count: usize,
    }
    let mut label = vec![u32::MAX; nv];
    let mut regions: Vec<Acc> = Vec::new();
    for v in 0..nv as u32 {
        if !is_thin(v) {
            continue;
        }
        let root = find(&mut parent, v);
        let Some(l) = label.get_mut(root as usize) else {
            continue;
        };
        if *l == u32::MAX {
            *l = regions.len() as u32;
            regions.push(Acc {
                first: v,
                area: 0.0,
                weighted: DVec3::ZERO,
                plain: DVec3::ZERO,
                min: f64::INFINITY,
                count: 0,
            });
        }
        let (Some(r), Some(p), Some(&a), Some(&th)) = (
            regions.get_mut(*l as usize),
            vertices.get(v as usize),
            vertex_area.get(v as usize),
            thickness.get(v as usize),
        ) else {
            continue;
        };
        let p = DVec3::from_array(*p);
        r.area += a;
        r.weighted += a * p;
        r.plain += p;
        r.min = r.min.min(th);
        r.count += 1;
    }

    let mut out: Vec<(u32, ThinRegion)> = regions
        .into_iter()
        .map(|r| {
            // A region of zero area (isolated vertices, degenerate triangles) still gets a
            // position: the plain mean.
            let c = if r.area > 0.0 {
                r.weighted / r.area
            } else {
                r.plain / r.count.max(1) as f64
            };
            (
                r.first,
                ThinRegion {
                    centroid_mm: c.to_array(),
                    area_mm2: r.area,
                    min_thickness_mm: r.min,
                    vertices: r.count,
                },
            )
        })
        .collect();
    out.sort_by(|(fa, a), (fb, b)| {
        b.area_mm2
            .total_cmp(&a.area_mm2)
            .then(a.centroid_mm[0].total_cmp(&b.centroid_mm[0]))
            .then(a.centroid_mm[1].total_cmp(&b.centroid_mm[1]))
            .then(a.centroid_mm[2].total_cmp(&b.centroid_mm[2]))
            .then(fa.cmp(fb))
    });
    out.into_iter().map(|(_, r)| r).collect()
}

/// Area-weighted vertex normals: sum of the (twice-area) cross products of the incident
/// triangles, accumulated in triangle order so the sums are reproducible.
fn area_weighted_normals(vertices: &[[f64; 3]], triangles: &[[u32; 3]]) -> Vec<DVec3> {
    let cross: Vec<Option<DVec3>> = triangles
        .par_iter()
        .map(|t| {
            let [a, b, c] = corners(vertices, *t)?;
            Some((b - a).cross(c - a))
        })
        .collect();
    let mut n = vec![DVec3::ZERO; vertices.len()];
    for (t, c) in triangles.iter().zip(&cross) {
        let Some(c) = c else { continue };
        for &v in t {
            if let Some(x) = n.get_mut(v as usize) {
                *x += *c;
            }
        }
    }
    n
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

/// Triangle area if its corners are valid.
fn triangle_area(vertices: &[[f64; 3]], t: [u32; 3]) -> Option<f64> {
    let [a, b, c] = corners(vertices, t)?;
    Some(0.5 * (b - a).cross(c - a).length())
}

/// Root of `v` with path halving (iterative: no recursion depth to overflow).
fn find(parent: &mut [u32], mut v: u32) -> u32 {
    loop {
        let Some(&p) = parent.get(v as usize) else {
            return v;
        };
        if p == v {
            return v;
        }
        let gp = parent.get(p as usize).copied().unwrap_or(p);
        if let Some(x) = parent.get_mut(v as usize) {
            *x = gp;
        }
        v = gp;
    }
}

/// Merges the sets of `a` and `b`, keeping the lower index as root.
fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    let (lo, hi) = (ra.min(rb), ra.max(rb));
    if let Some(x) = parent.get_mut(hi as usize) {
        *x = lo;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::test_meshes::*;

    /// Closed plate `w` x `w` x `th` at `lo`, faces split into 0.5 mm squares in-plane and a
    /// single row across the thickness, so every vertex lies on the top or the bottom.
    fn plate(lo: [f64; 3], w: f64, th: f64) -> Mesh {
        let n = (w / 0.5).round() as usize;
        grid_box_n(lo, [lo[0] + w, lo[1] + w, lo[2] + th], [n, n, 1])
    }

    #[test]
    fn thin_plate_is_flagged_and_thick_plate_is_not() {
        let (v, t) = plate([0.0; 3], 10.0, 0.2);
        let th = vertex_thickness(&v, &t, 5.0);
        for (p, d) in v.iter().zip(&th) {
            let interior = p[0] > 0.0 && p[0] < 10.0 && p[1] > 0.0 && p[1] < 10.0;
            if interior {
                assert!((d - 0.2).abs() < 1e-12, "{p:?} {d}");
            } else {
                // Rim vertices tilt outwards, so their ray crosses the plate obliquely.
                assert!(*d >= 0.2 - 1e-12 && *d < 0.3, "{p:?} {d}");
            }
        }
        let regions = thin_regions(&v, &t, &th, 0.3);
        assert_eq!(regions.len(), 1);
        let r = &regions[0];
        assert_eq!(r.vertices, v.len());
        assert!((r.area_mm2 - (2.0 * 100.0 + 4.0 * 10.0 * 0.2)).abs() < 1e-9);
        assert!((r.min_thickness_mm - 0.2).abs() < 1e-12);
        let c = DVec3::from_array(r.centroid_mm);
        assert!((c - DVec3::new(5.0, 5.0, 0.1)).length() < 1e-9, "{c}");

        let (v2, t2) = plate([0.0; 3], 10.0, 2.0);
        let th2 = vertex_thickness(&v2, &t2, 5.0);
        assert!(th2.iter().all(|d| *d >= 2.0 - 1e-12), "{th2:?}");
        assert!(thin_regions(&v2, &t2, &th2, 0.3).is_empty());
    }

    #[test]
    fn regions_are_separate_and_sorted_by_area() {
        let m = merge(&[
            plate([20.0, 0.0, 0.0], 4.0, 0.2),   // small thin plate
            plate([0.0; 3], 10.0, 2.0),          // thick plate
            plate([-20.0, 0.0, 0.0], 10.0, 0.1), // large thin plate
        ]);
        let th = vertex_thickness(&m.0, &m.1, 5.0);
        let regions = thin_regions(&m.0, &m.1, &th, 0.3);
        assert_eq!(regions.len(), 2);
        assert!(regions[0].area_mm2 > regions[1].area_mm2);
        let c0 = DVec3::from_array(regions[0].centroid_mm);
        let c1 = DVec3::from_array(regions[1].centroid_mm);
        assert!((c0 - DVec3::new(-15.0, 5.0, 0.05)).length() < 1e-9);
        assert!((c1 - DVec3::new(22.0, 2.0, 0.1)).length() < 1e-9);
        assert!((regions[0].min_thickness_mm - 0.1).abs() < 1e-12);
        assert!((regions[1].area_mm2 - (2.0 * 16.0 + 4.0 * 4.0 * 0.2)).abs() < 1e-9);
        // Equal areas fall back to the centroid order.
        let twins = merge(&[plate([30.0, 0.0, 0.0], 2.0, 0.1), plate([0.0; 3], 2.0, 0.1)]);
        let th = vertex_thickness(&twins.0, &twins.1, 5.0);
        let r = thin_regions(&twins.0, &twins.1, &th, 0.3);
        assert_eq!(r.len(), 2);
        assert!(r[0].centroid_mm[0] < r[1].centroid_mm[0]);
    }

    #[test]
    fn sphere_thickness_is_its_diameter_and_is_capped() {
        let (r, c) = (5.0, [1.0, 2.0, 3.0]);
        let (v, t) = icosphere(r, c, 3);
        let th = vertex_thickness(&v, &t, 20.0);
        // Vertex normals of an icosphere are radial up to tessellation noise: the ray
        // crosses near the centre to the far side, just inside the circumscribed sphere.
        for d in &th {
            assert!(*d > 2.0 * r - 0.1 && *d <= 2.0 * r + 1e-9, "{d}");
        }
        let capped = vertex_thickness(&v, &t, 4.0);
        assert!(capped.iter().all(|d| *d == 4.0));
        let bvh = Bvh::build(&v, &t);
        assert_eq!(vertex_thickness_with(&bvh, &v, &t, 20.0), th);
        let stop = AtomicBool::new(true);
        assert!(vertex_thickness_cancellable(&bvh, &v, &t, 20.0, &stop).is_none());
        stop.store(false, Relaxed);
        assert_eq!(
            vertex_thickness_cancellable(&bvh, &v, &t, 20.0, &stop),
            Some(th)
        );
        assert!(thin_regions(&v, &t, &capped, 4.0).is_empty());
        let all = thin_regions(&v, &t, &capped, 4.5);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].vertices, v.len());
    }

    #[test]
    fn open_surface_without_opposite_wall_reports_the_cap() {
        let v = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let th = vertex_thickness(&v, &[[0, 1, 2]], 3.0);
        assert_eq!(th, vec![3.0; 3]);
    }

    #[test]
    fn empty_and_broken_inputs_do_not_panic() {
        assert!(vertex_thickness(&[], &[], 1.0).is_empty());
        assert!(thin_regions(&[], &[], &[], 1.0).is_empty());
        let (mut v, mut t) = plate([0.0; 3], 2.0, 0.2);
        let n = v.len() as u32;
        v.push([9.0, 9.0, 9.0]); // unreferenced
        v.push([f64::NAN, 0.0, 0.0]);
        t.push([0, 1, 1000]);
        t.push([0, n + 1, 1]);
        t.push([2, 2, 2]);
        let th = vertex_thickness(&v, &t, 1.0);
        assert_eq!(th.len(), v.len());
        assert!(th[n as usize].is_nan() && th[n as usize + 1].is_nan());
        assert!(th[..n as usize].iter().all(|d| *d < 0.3));
        // Short, NaN and out-of-range thickness inputs.
        let r = thin_regions(&v, &t, &th[..3], 0.3);
        assert_eq!(r.iter().map(|r| r.vertices).sum::<usize>(), 3);
        assert!(thin_regions(&v, &t, &th, f64::NAN).is_empty());
        let r = thin_regions(&v, &t, &vec![0.0; v.len() + 5], 0.3);
        assert_eq!(r.iter().map(|r| r.vertices).sum::<usize>(), n as usize + 1);
        // A degenerate triangle alone: no normal, no area.
        let th = vertex_thickness(
            &[[0.0; 3], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]],
            &[[0, 1, 2]],
            1.0,
        );
        assert!(th.iter().all(|d| d.is_nan()));
        let r = thin_regions(
            &[[0.0; 3], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]],
            &[[0, 1, 2]],
            &[0.0; 3],
            1.0,
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].area_mm2, 0.0);
        assert_eq!(r[0].centroid_mm, [1.0, 0.0, 0.0]);
        // NaN / negative caps count as 0.
        let (v, t) = plate([0.0; 3], 2.0, 0.2);
        assert!(vertex_thickness(&v, &t, f64::NAN).iter().all(|d| *d == 0.0));
        assert!(vertex_thickness(&v, &t, -1.0).iter().all(|d| *d == 0.0));
    }

    #[test]
    fn random_soups_never_panic() {
        let mut rng = Rng(5);
        for _ in 0..30 {
            let (v, t) = soup(&mut rng);
            let th = vertex_thickness(&v, &t, rng.range(-1.0, 3.0));
            assert_eq!(th.len(), v.len());
            let regions = thin_regions(&v, &t, &th, rng.range(0.0, 3.0));
            let n: usize = regions.iter().map(|r| r.vertices).sum();
            assert!(n <= v.len());
        }
    }

    #[test]
    fn results_identical_across_thread_counts() {
        let m = merge(&[
            icosphere(6.0, [0.0; 3], 4),
            plate([10.0, -5.0, -0.1], 10.0, 0.2),
            plate([-25.0, -5.0, 0.0], 10.0, 0.25),
        ]);
        let run = || {
            let th = vertex_thickness(&m.0, &m.1, 8.0);
            let r = thin_regions(&m.0, &m.1, &th, 0.3);
            (th.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), r)
        };
        let one = with_threads(1, run);
        let two = with_threads(2, run);
        assert_eq!(one, two);
        assert_eq!(one.1.len(), 2);
    }
}
