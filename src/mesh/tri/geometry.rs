//! Geometry of one triangle: usability, closest point, ray hit.

use glam::DVec3;

/// Relative area below which a triangle is degenerate: |ab x ac| <= this * (longest edge)^2,
/// i.e. its smallest angle is below ~1e-14 rad and its normal would be rounding noise.
pub(crate) const DEGENERATE_REL: f64 = 64.0 * f64::EPSILON;
/// Barycentric slack in the ray test, so that rays through a shared edge cannot slip
/// between its two triangles through rounding (it widens triangles by ~1e-9 of their size).
pub(crate) const RAY_BARY_SLACK: f64 = 1e-9;

/// Part of a triangle in local numbering: edge `e` runs from corner `e` to corner `(e+1)%3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Local {
    Face,
    Edge(u8),
    Vertex(u8),
}

/// Corner positions if the triangle is usable: indices in range, finite, not degenerate.
pub(crate) fn usable_triangle(verts: &[DVec3], t: [u32; 3]) -> Option<[DVec3; 3]> {
    let a = *verts.get(t[0] as usize)?;
    let b = *verts.get(t[1] as usize)?;
    let c = *verts.get(t[2] as usize)?;
    if !(a.is_finite() && b.is_finite() && c.is_finite()) {
        return None;
    }
    let l2 = (b - a)
        .length_squared()
        .max((c - b).length_squared())
        .max((a - c).length_squared());
    let n2 = (b - a).cross(c - a).length_squared();
    let tol = DEGENERATE_REL * l2;
    (n2.is_finite() && n2 > tol * tol).then_some([a, b, c])
}

/// `n / d` clamped to [0, 1]; 0 when `d` is not positive (only for degenerate input).
fn ratio(n: f64, d: f64) -> f64 {
    if d > 0.0 {
        (n / d).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Closest point on triangle abc to p and the feature it lies on (Ericson, Real-Time
/// Collision Detection 5.1.5: Voronoi regions, so the feature is classified exactly
/// where the arithmetic allows).
pub(crate) fn closest_on_triangle(p: DVec3, a: DVec3, b: DVec3, c: DVec3) -> (DVec3, Local) {
    let ab = b - a;
    let ac = c - a;
    let ap = p - a;
    let d1 = ab.dot(ap);
    let d2 = ac.dot(ap);
    if d1 <= 0.0 && d2 <= 0.0 {
        return (a, Local::Vertex(0));
    }
    let bp = p - b;
    let d3 = ab.dot(bp);
    let d4 = ac.dot(bp);
    if d3 >= 0.0 && d4 <= d3 {
        return (b, Local::Vertex(1));
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        return (a + ab * ratio(d1, d1 - d3), Local::Edge(0));
    }
    let cp = p - c;
    let d5 = ab.dot(cp);
    let d6 = ac.dot(cp);
    if d6 >= 0.0 && d5 <= d6 {
        return (c, Local::Vertex(2));
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        return (a + ac * ratio(d2, d2 - d6), Local::Edge(2));
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && d4 - d3 >= 0.0 && d5 - d6 >= 0.0 {
        let w = ratio(d4 - d3, (d4 - d3) + (d5 - d6));
        return (b + (c - b) * w, Local::Edge(1));
    }
    let sum = va + vb + vc;
    if sum > 0.0 && sum.is_finite() {
        return (a + ab * (vb / sum) + ac * (vc / sum), Local::Face);
    }
    // Only reachable for degenerate triangles, which the tree excludes: nearest corner.
    let da = ap.length_squared();
    let db = bp.length_squared();
    let dc = cp.length_squared();
    if da <= db && da <= dc {
        (a, Local::Vertex(0))
    } else if db <= dc {
        (b, Local::Vertex(1))
    } else {
        (c, Local::Vertex(2))
    }
}

/// Moeller-Trumbore ray/triangle test, both faces; the ray parameter if it hits.
pub(crate) fn ray_triangle(o: DVec3, d: DVec3, a: DVec3, b: DVec3, c: DVec3) -> Option<f64> {
    let e1 = b - a;
    let e2 = c - a;
    let pv = d.cross(e2);
    let det = e1.dot(pv);
    // Relative test: a ray (nearly) in the triangle's plane has no single hit point.
    let scale = e1.length() * e2.length() * d.length();
    if det.is_nan() || det.abs() <= 1e-14 * scale {
        return None;
    }
    let inv = 1.0 / det;
    let s = o - a;
    let u = s.dot(pv) * inv;
    if !(-RAY_BARY_SLACK..=1.0 + RAY_BARY_SLACK).contains(&u) {
        return None;
    }
    let qv = s.cross(e1);
    let v = d.dot(qv) * inv;
    if v < -RAY_BARY_SLACK || u + v > 1.0 + RAY_BARY_SLACK {
        return None;
    }
    let t = e2.dot(qv) * inv;
    t.is_finite().then_some(t)
}
