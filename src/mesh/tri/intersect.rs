//! Exact triangle-pair intersection tests built only from orientation signs.

use super::predicates::{orient2d, orient3d};
use glam::DVec3;

/// Whether two usable triangles intersect, given their vertex indices and positions, by the
/// rules of [`crate::mesh::bvh::Bvh::self_intersecting_pairs`].
pub(crate) fn pair_intersects(pv: [u32; 3], p: [DVec3; 3], qv: [u32; 3], q: [DVec3; 3]) -> bool {
    let mut shared: [(usize, usize); 3] = [(0, 0); 3];
    let mut ns = 0;
    for (i, a) in pv.iter().enumerate() {
        if let Some(j) = qv.iter().position(|b| b == a) {
            if let Some(x) = shared.get_mut(ns) {
                *x = (i, j);
            }
            ns += 1;
        }
    }
    match ns {
        0 => tri_tri(p, q),
        1 => {
            // Triangles (v,a,b) and (v,c,d) meet beyond v iff segment ab meets the second
            // or cd meets the first: from any common point x != v, the ray v->x leaves each
            // triangle through its opposite edge, and the earlier exit lies in both.
            let (i, j) = shared[0];
            let (a, b) = (p[(i + 1) % 3], p[(i + 2) % 3]);
            let (c, d) = (q[(j + 1) % 3], q[(j + 2) % 3]);
            segment_triangle(a, b, q) || segment_triangle(c, d, p)
        }
        2 => {
            // Sharing edge uw: the triangles are planar and convex, so they meet beyond the
            // edge only when folded flat onto each other (coplanar, third vertices same side).
            let (u, w) = (p[shared[0].0], p[shared[1].0]);
            let a = p[3 - shared[0].0 - shared[1].0];
            let b = q[3 - shared[0].1 - shared[1].1];
            if orient3d(u, w, a, b) != 0 {
                return false;
            }
            let Some(k) = projection_axis(p) else {
                return false;
            };
            let sa = orient2d(proj(u, k), proj(w, k), proj(a, k));
            let sb = orient2d(proj(u, k), proj(w, k), proj(b, k));
            sa != 0 && sa == sb
        }
        _ => false,
    }
}

/// Whether all three signs are strictly positive or all strictly negative.
fn same_strict_side(s: [i8; 3]) -> bool {
    s.iter().all(|&x| x > 0) || s.iter().all(|&x| x < 0)
}

/// Exact closed triangle/triangle intersection test. Two triangles meet iff an edge of one
/// meets the other (the ends of their common segment or polygon lie on edges), which after
/// the plane-side rejections of Guigue & Devillers (2003) reduces to segment tests built
/// only from exact orientation signs.
fn tri_tri(p: [DVec3; 3], q: [DVec3; 3]) -> bool {
    let dp = [
        orient3d(q[0], q[1], q[2], p[0]),
        orient3d(q[0], q[1], q[2], p[1]),
        orient3d(q[0], q[1], q[2], p[2]),
    ];
    if same_strict_side(dp) {
        return false;
    }
    let dq = [
        orient3d(p[0], p[1], p[2], q[0]),
        orient3d(p[0], p[1], p[2], q[1]),
        orient3d(p[0], p[1], p[2], q[2]),
    ];
    if same_strict_side(dq) {
        return false;
    }
    if dp == [0, 0, 0] {
        return coplanar_tri_tri(p, q);
    }
    (0..3).any(|i| {
        let j = (i + 1) % 3;
        segment_triangle_signs(p[i], p[j], dp[i], dp[j], q)
            || segment_triangle_signs(q[i], q[j], dq[i], dq[j], p)
    })
}

/// Exact closed segment/triangle intersection test.
fn segment_triangle(a: DVec3, b: DVec3, t: [DVec3; 3]) -> bool {
    let sa = orient3d(t[0], t[1], t[2], a);
    let sb = orient3d(t[0], t[1], t[2], b);
    segment_triangle_signs(a, b, sa, sb, t)
}

/// Segment/triangle test given the sides of the segment ends relative to the triangle plane.
fn segment_triangle_signs(a: DVec3, b: DVec3, sa: i8, sb: i8, t: [DVec3; 3]) -> bool {
    if sa == sb && sa != 0 {
        return false;
    }
    if sa == 0 && sb == 0 {
        return coplanar_segment_triangle(a, b, t);
    }
    // The segment meets the plane in one point; it is inside the triangle iff the line ab
    // passes on the same side of all three edges (signed tetrahedron volumes agree).
    let s = [
        orient3d(a, b, t[0], t[1]),
        orient3d(a, b, t[1], t[2]),
        orient3d(a, b, t[2], t[0]),
    ];
    s.iter().all(|&x| x >= 0) || s.iter().all(|&x| x <= 0)
}

/// Axis to drop so the triangle projects to a non-degenerate 2-D triangle (exactly checked).
fn projection_axis(t: [DVec3; 3]) -> Option<usize> {
    let n = (t[1] - t[0]).cross(t[2] - t[0]).abs();
    let order = if n.x >= n.y && n.x >= n.z {
        [0, 1, 2]
    } else if n.y >= n.z {
        [1, 2, 0]
    } else {
        [2, 0, 1]
    };
    order
        .into_iter()
        .find(|&k| orient2d(proj(t[0], k), proj(t[1], k), proj(t[2], k)) != 0)
}

/// Drops coordinate `k` (exact: no arithmetic).
fn proj(p: DVec3, k: usize) -> [f64; 2] {
    match k {
        0 => [p.y, p.z],
        1 => [p.z, p.x],
        _ => [p.x, p.y],
    }
}

/// Closed point-in-triangle test in 2-D (either orientation).
fn point_in_triangle_2d(p: [f64; 2], t: [[f64; 2]; 3]) -> bool {
    let s = [
        orient2d(t[0], t[1], p),
        orient2d(t[1], t[2], p),
        orient2d(t[2], t[0], p),
    ];
    s.iter().all(|&x| x >= 0) || s.iter().all(|&x| x <= 0)
}

/// Closed segment/segment test in 2-D, collinear overlaps included.
fn segments_2d(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    let o1 = orient2d(a, b, c);
    let o2 = orient2d(a, b, d);
    if o1 == 0 && o2 == 0 {
        let k = usize::from(a[0] == b[0]);
        let (lo1, hi1) = (a[k].min(b[k]), a[k].max(b[k]));
        let (lo2, hi2) = (c[k].min(d[k]), c[k].max(d[k]));
        return lo1 <= hi2 && lo2 <= hi1;
    }
    let o3 = orient2d(c, d, a);
    let o4 = orient2d(c, d, b);
    o1 * o2 <= 0 && o3 * o4 <= 0
}

/// Segment and triangle in one plane.
fn coplanar_segment_triangle(a: DVec3, b: DVec3, t: [DVec3; 3]) -> bool {
    let Some(k) = projection_axis(t) else {
        return false;
    };
    let t2 = [proj(t[0], k), proj(t[1], k), proj(t[2], k)];
    let (a2, b2) = (proj(a, k), proj(b, k));
    point_in_triangle_2d(a2, t2) || (0..3).any(|i| segments_2d(a2, b2, t2[i], t2[(i + 1) % 3]))
}

/// Two triangles in one plane.
fn coplanar_tri_tri(p: [DVec3; 3], q: [DVec3; 3]) -> bool {
    let Some(k) = projection_axis(p) else {
        return false;
    };
    let p2 = [proj(p[0], k), proj(p[1], k), proj(p[2], k)];
    let q2 = [proj(q[0], k), proj(q[1], k), proj(q[2], k)];
    (0..3).any(|i| (0..3).any(|j| segments_2d(p2[i], p2[(i + 1) % 3], q2[j], q2[(j + 1) % 3])))
        || point_in_triangle_2d(p2[0], q2)
        || point_in_triangle_2d(q2[0], p2)
}

#[cfg(test)]
mod tests {
    use super::super::geometry::usable_triangle;
    use super::*;
    use crate::mesh::test_meshes::Rng;

    #[test]
    fn triangle_pair_cases() {
        let d = |x: f64, y: f64, z: f64| DVec3::new(x, y, z);
        let t0 = [d(0.0, 0.0, 0.0), d(2.0, 0.0, 0.0), d(0.0, 2.0, 0.0)];
        // Crossing.
        assert!(tri_tri(
            t0,
            [d(0.5, 0.5, -1.0), d(0.5, 0.5, 1.0), d(1.5, -1.0, 0.0)]
        ));
        // Parallel, apart.
        assert!(!tri_tri(
            t0,
            [d(0.0, 0.0, 1.0), d(2.0, 0.0, 1.0), d(0.0, 2.0, 1.0)]
        ));
        // Touching at one vertex (counts: closed sets).
        assert!(tri_tri(
            t0,
            [d(1.0, 1.0, 0.0), d(1.0, 1.0, 1.0), d(2.0, 2.0, 1.0)]
        ));
        // Coplanar overlapping, coplanar disjoint, coplanar containment.
        assert!(tri_tri(
            t0,
            [d(1.0, 1.0, 0.0), d(3.0, 1.0, 0.0), d(1.0, 3.0, 0.0)]
        ));
        assert!(!tri_tri(
            t0,
            [d(1.1, 1.1, 0.0), d(3.0, 1.1, 0.0), d(1.1, 3.0, 0.0)]
        ));
        assert!(tri_tri(
            t0,
            [d(0.1, 0.1, 0.0), d(0.5, 0.1, 0.0), d(0.1, 0.5, 0.0)]
        ));
        // Edge through the other's interior, other vertices far away.
        assert!(tri_tri(
            t0,
            [d(0.5, 0.5, -1.0), d(0.5, 0.5, 1.0), d(9.0, 9.0, 9.0)]
        ));
        // Shared vertex: fan neighbours do not overlap, a fold does.
        let fan = [0u32, 1, 2];
        let q_ok = [d(0.0, 0.0, 0.0), d(-2.0, 0.0, 0.0), d(0.0, -2.0, 0.0)];
        assert!(!pair_intersects(fan, t0, [0, 3, 4], q_ok));
        let q_fold = [d(0.0, 0.0, 0.0), d(1.0, 1.0, 0.0), d(1.0, 1.0, 1.0)];
        assert!(pair_intersects(fan, t0, [0, 3, 4], q_fold));
        // Shared edge: a hinge is fine, folded flat is not.
        assert!(!pair_intersects(
            fan,
            t0,
            [1, 0, 5],
            [t0[1], t0[0], d(1.0, -1.0, 0.5)]
        ));
        assert!(pair_intersects(
            fan,
            t0,
            [1, 0, 5],
            [t0[1], t0[0], d(1.0, 0.5, 0.0)]
        ));
        assert!(!pair_intersects(
            fan,
            t0,
            [1, 0, 5],
            [t0[1], t0[0], d(1.0, -0.5, 0.0)]
        ));
    }

    /// Exact separating-axis test on small-integer triangles (every product fits i64):
    /// an independent reference for the predicate-based tests.
    fn sat_intersects(p: [[i64; 3]; 3], q: [[i64; 3]; 3]) -> bool {
        let sub = |a: [i64; 3], b: [i64; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
        let cross = |a: [i64; 3], b: [i64; 3]| {
            [
                a[1] * b[2] - a[2] * b[1],
                a[2] * b[0] - a[0] * b[2],
                a[0] * b[1] - a[1] * b[0],
            ]
        };
        let dot = |a: [i64; 3], b: [i64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
        let ep = [sub(p[1], p[0]), sub(p[2], p[1]), sub(p[0], p[2])];
        let eq = [sub(q[1], q[0]), sub(q[2], q[1]), sub(q[0], q[2])];
        let np = cross(ep[0], sub(p[2], p[0]));
        let nq = cross(eq[0], sub(q[2], q[0]));
        let mut axes = vec![np, nq];
        for a in ep {
            for b in eq {
                axes.push(cross(a, b));
            }
            axes.push(cross(np, a));
        }
        for b in eq {
            axes.push(cross(nq, b));
        }
        !axes.iter().any(|&ax| {
            let pp = p.map(|x| dot(ax, x));
            let qq = q.map(|x| dot(ax, x));
            let (pmin, pmax) = (pp.iter().min().unwrap(), pp.iter().max().unwrap());
            let (qmin, qmax) = (qq.iter().min().unwrap(), qq.iter().max().unwrap());
            pmax < qmin || qmax < pmin
        })
    }

    #[test]
    fn triangle_pair_test_agrees_with_exact_sat() {
        let mut rng = Rng(99);
        let mut hits = 0;
        let mut coplanar = 0;
        for _ in 0..40000 {
            // Tiny integer grid: many touching, coplanar and collinear configurations.
            let mut tri = || {
                let mut t = [[0i64; 3]; 3];
                for v in t.iter_mut() {
                    for c in v.iter_mut() {
                        *c = (rng.next() * 4.0) as i64;
                    }
                }
                t
            };
            let (p, q) = (tri(), tri());
            let pf = p.map(|v| DVec3::new(v[0] as f64, v[1] as f64, v[2] as f64));
            let qf = q.map(|v| DVec3::new(v[0] as f64, v[1] as f64, v[2] as f64));
            if usable_triangle(&pf, [0, 1, 2]).is_none()
                || usable_triangle(&qf, [0, 1, 2]).is_none()
            {
                continue;
            }
            let want = sat_intersects(p, q);
            assert_eq!(tri_tri(pf, qf), want, "{p:?} {q:?}");
            hits += usize::from(want);
            let n = (pf[1] - pf[0]).cross(pf[2] - pf[0]);
            coplanar += usize::from(qf.iter().all(|x| n.dot(*x - pf[0]) == 0.0));
        }
        assert!(hits > 1000 && coplanar > 100, "{hits} {coplanar}");
    }
}
