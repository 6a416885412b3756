//! Exact orientation predicates: a floating-point filter (Shewchuk 1997 error bounds) and,
//! when it cannot decide, an exact evaluation with floating-point expansions. Inputs must be
//! finite with magnitudes well inside 1e±100 (always true for millimetre coordinates).

use glam::DVec3;

/// Shewchuk's epsilon: half an ulp of 1.
const EPS: f64 = f64::EPSILON * 0.5;
const O3_BOUND: f64 = (7.0 + 56.0 * EPS) * EPS;
const O2_BOUND: f64 = (3.0 + 16.0 * EPS) * EPS;

/// Sign of (b - a) x (c - a) . (d - a): +1 when d is on the side the normal of the
/// counter-clockwise triangle abc points to.
pub fn orient3d(a: DVec3, b: DVec3, c: DVec3, d: DVec3) -> i8 {
    let (ad, bd, cd) = (a - d, b - d, c - d);
    let bdxcdy = bd.x * cd.y;
    let cdxbdy = cd.x * bd.y;
    let cdxady = cd.x * ad.y;
    let adxcdy = ad.x * cd.y;
    let adxbdy = ad.x * bd.y;
    let bdxady = bd.x * ad.y;
    let det = ad.z * (bdxcdy - cdxbdy) + bd.z * (cdxady - adxcdy) + cd.z * (adxbdy - bdxady);
    let perm = (bdxcdy.abs() + cdxbdy.abs()) * ad.z.abs()
        + (cdxady.abs() + adxcdy.abs()) * bd.z.abs()
        + (adxbdy.abs() + bdxady.abs()) * cd.z.abs();
    let bound = O3_BOUND * perm;
    // `det` is Shewchuk's orient3d, positive when d is *below* abc: hence the flips.
    if det > bound {
        -1
    } else if -det > bound {
        1
    } else {
        -orient3d_exact(a, b, c, d)
    }
}

/// Sign of the 2-D cross product (b - a) x (c - a): +1 for counter-clockwise.
pub fn orient2d(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> i8 {
    let detleft = (a[0] - c[0]) * (b[1] - c[1]);
    let detright = (a[1] - c[1]) * (b[0] - c[0]);
    let det = detleft - detright;
    let bound = O2_BOUND * (detleft.abs() + detright.abs());
    if det > bound {
        1
    } else if -det > bound {
        -1
    } else {
        orient2d_exact(a, b, c)
    }
}

/// Error-free sum: a + b = s + e exactly (Knuth).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bv = s - a;
    let av = s - bv;
    (s, (a - av) + (b - bv))
}

/// Error-free product: a * b = p + e exactly (fused multiply-add is correctly rounded).
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// Adds `b` to the non-overlapping expansion `e` exactly (Shewchuk's Grow-Expansion with
/// zero elimination); components stay in increasing magnitude.
fn grow(e: &mut Vec<f64>, b: f64) {
    let mut q = b;
    let mut w = 0;
    for i in 0..e.len() {
        let Some(&ei) = e.get(i) else { break };
        let (s, err) = two_sum(q, ei);
        q = s;
        if err != 0.0 {
            if let Some(x) = e.get_mut(w) {
                *x = err;
            }
            w += 1;
        }
    }
    e.truncate(w);
    if q != 0.0 {
        e.push(q);
    }
}

/// Sign of an expansion: that of its largest (last non-zero) component.
fn sign(e: &[f64]) -> i8 {
    match e.iter().rev().find(|x| **x != 0.0) {
        Some(x) if *x > 0.0 => 1,
        Some(_) => -1,
        None => 0,
    }
}

/// Adds the exact product x * y * z (four doubles) to `e`.
fn add_triple(e: &mut Vec<f64>, x: f64, y: f64, z: f64) {
    if x == 0.0 || y == 0.0 || z == 0.0 {
        return;
    }
    let (p, pe) = two_prod(x, y);
    let (q1, q0) = two_prod(p, z);
    let (r1, r0) = two_prod(pe, z);
    for v in [q0, r0, q1, r1] {
        grow(e, v);
    }
}

/// Exact difference a - b as (rounded, error).
fn diff(a: f64, b: f64) -> [f64; 2] {
    let (s, e) = two_sum(a, -b);
    [s, e]
}

/// Sign of Shewchuk's orient3d determinant, computed exactly.
fn orient3d_exact(a: DVec3, b: DVec3, c: DVec3, d: DVec3) -> i8 {
    let (adx, ady, adz) = (diff(a.x, d.x), diff(a.y, d.y), diff(a.z, d.z));
    let (bdx, bdy, bdz) = (diff(b.x, d.x), diff(b.y, d.y), diff(b.z, d.z));
    let (cdx, cdy, cdz) = (diff(c.x, d.x), diff(c.y, d.y), diff(c.z, d.z));
    // adz(bdx cdy - cdx bdy) + bdz(cdx ady - adx cdy) + cdz(adx bdy - bdx ady)
    let terms = [
        (adz, bdx, cdy, 1.0),
        (adz, cdx, bdy, -1.0),
        (bdz, cdx, ady, 1.0),
        (bdz, adx, cdy, -1.0),
        (cdz, adx, bdy, 1.0),
        (cdz, bdx, ady, -1.0),
    ];
    let mut e = Vec::with_capacity(64);
    for (x, y, z, s) in terms {
        for xi in x {
            for yi in y {
                for zi in z {
                    add_triple(&mut e, s * xi, yi, zi);
                }
            }
        }
    }
    sign(&e)
}

/// Sign of the orient2d determinant, computed exactly.
fn orient2d_exact(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> i8 {
    let (acx, acy) = (diff(a[0], c[0]), diff(a[1], c[1]));
    let (bcx, bcy) = (diff(b[0], c[0]), diff(b[1], c[1]));
    let mut e = Vec::with_capacity(16);
    for (x, y, s) in [(acx, bcy, 1.0), (acy, bcx, -1.0)] {
        for xi in x {
            for yi in y {
                let (p, pe) = two_prod(s * xi, yi);
                grow(&mut e, pe);
                grow(&mut e, p);
            }
        }
    }
    sign(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orient3d_sign_convention() {
        let o = DVec3::ZERO;
        assert_eq!(orient3d(o, DVec3::X, DVec3::Y, DVec3::Z), 1);
        assert_eq!(orient3d(o, DVec3::X, DVec3::Y, -DVec3::Z), -1);
        assert_eq!(
            orient3d(o, DVec3::X, DVec3::Y, DVec3::new(5.0, 7.0, 0.0)),
            0
        );
        assert_eq!(orient2d([0.0, 0.0], [1.0, 0.0], [0.0, 1.0]), 1);
        assert_eq!(orient2d([0.0, 0.0], [1.0, 0.0], [3.0, 0.0]), 0);
    }

    #[test]
    fn exact_path_sees_a_unit_determinant_among_huge_coordinates() {
        // (b - a) x (c - a) = (0, 0, 1) although every coordinate is ~2^40: the f64
        // products lose ~30 bits, only the expansion arithmetic gets the sign right.
        let big = (1u64 << 40) as f64;
        let off = DVec3::new(2f64.powi(45), -(2f64.powi(44)), 2f64.powi(43));
        let a = off;
        let b = off + DVec3::new(big, big - 1.0, 0.0);
        let c = off + DVec3::new(big + 1.0, big, 0.0);
        for (z, want) in [(1.0, 1), (-1.0, -1), (0.0, 0)] {
            let d = off + DVec3::new(1.5 * big, 5.0, z);
            assert_eq!(orient3d(a, b, c, d), want, "z = {z}");
        }
        let p = |v: DVec3| [v.x, v.y];
        assert_eq!(orient2d(p(a), p(b), p(c)), 1);
        assert_eq!(orient2d(p(a), p(c), p(b)), -1);
        assert_eq!(orient2d(p(a), p(b), p(2.0 * b - a)), 0);
    }

    #[test]
    fn exact_predicates_decide_near_degenerate_cases() {
        // Points on the line y = x scaled by values that are exact in binary, nudged by
        // one ulp: the filter cannot decide, the expansion must.
        let a = [0.5, 0.5];
        let b = [12.0, 12.0];
        let c = [24.0, 24.0];
        assert_eq!(orient2d(a, b, c), 0);
        let up = [24.0, f64::from_bits(24.0f64.to_bits() + 1)];
        let down = [24.0, f64::from_bits(24.0f64.to_bits() - 1)];
        assert_eq!(orient2d(a, b, up), 1);
        assert_eq!(orient2d(a, b, down), -1);
        // The filter's naive value for this classic case is unreliable; check against
        // the exact path directly on random near-coplanar points.
        let mut s = 12345u64;
        let mut rnd = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..2000 {
            let a = DVec3::new(rnd(), rnd(), rnd()) * 100.0;
            let b = DVec3::new(rnd(), rnd(), rnd()) * 100.0;
            let c = DVec3::new(rnd(), rnd(), rnd()) * 100.0;
            let (u, v) = (rnd(), rnd());
            let d = a + (b - a) * u + (c - a) * v;
            assert_eq!(orient3d(a, b, c, d), -orient3d_exact(a, b, c, d));
            let d2 = [d.x, d.y];
            assert_eq!(orient2d([a.x, a.y], [b.x, b.y], d2), {
                orient2d_exact([a.x, a.y], [b.x, b.y], d2)
            });
        }
    }
}
