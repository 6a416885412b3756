//! Exact Euclidean distance transform with anisotropic spacing (Felzenszwalb and
//! Huttenlocher's separable lower-envelope algorithm). Distances are in millimetres, so
//! morphology with a ball of radius r mm is exact on any voxel shape.

use crate::segment::mask::Mask;
use ndarray::{Array3, Axis};
use rayon::prelude::*;

/// Squared distance (mm²) from each voxel to the nearest voxel where `feature` is true
/// (0 on features; `f32::INFINITY` when there is no feature at all). `spacing` is
/// `[slice, row, column]` in mm. With `per_slice`, distances stay within each slice.
pub fn squared_distance(feature: &Mask, spacing: [f64; 3], per_slice: bool) -> Array3<f32> {
    let [n, rows, cols] = feature.dims();
    let mut d = Array3::<f32>::from_elem((n, rows, cols), f32::INFINITY);
    d.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(k, mut s)| {
            for j in 0..rows {
                for (a, b) in feature.row_runs(k, j) {
                    for i in a..b {
                        s[[j, i]] = 0.0;
                    }
                }
            }
        });
    let axes: &[usize] = if per_slice { &[2, 1] } else { &[2, 1, 0] };
    for &axis in axes {
        pass(&mut d, axis, spacing[axis]);
    }
    d
}

/// One 1D pass along `axis`, in parallel over the lines.
fn pass(d: &mut Array3<f32>, axis: usize, s: f64) {
    let len = d.len_of(Axis(axis));
    if len == 0 {
        return;
    }
    // Lanes along `axis`; iterate over the other two in parallel.
    let mut lanes: Vec<_> = d.lanes_mut(Axis(axis)).into_iter().collect();
    lanes.par_iter_mut().for_each_init(
        || {
            (
                vec![0f64; len],
                vec![0f64; len],
                vec![0usize; len],
                vec![0f64; len + 1],
            )
        },
        |(f, out, v, z), lane| {
            for (x, y) in f.iter_mut().zip(lane.iter()) {
                *x = f64::from(*y);
            }
            envelope(f, s, out, v, z);
            for (y, x) in lane.iter_mut().zip(out.iter()) {
                *y = *x as f32;
            }
        },
    );
}

/// `out[p] = min_q (s·(p−q))² + f[q]` by the lower envelope of parabolas.
fn envelope(f: &[f64], s: f64, out: &mut [f64], v: &mut [usize], z: &mut [f64]) {
    let n = f.len();
    let s2 = s * s;
    let mut k = 0usize;
    let mut first = None;
    for (q, fq) in f.iter().enumerate() {
        if fq.is_finite() {
            first = Some(q);
            break;
        }
    }
    let Some(q0) = first else {
        out.iter_mut().for_each(|o| *o = f64::INFINITY);
        return;
    };
    v[0] = q0;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    for q in q0 + 1..n {
        if !f[q].is_finite() {
            continue;
        }
        loop {
            let p = v[k];
            // Intersection of the parabolas rooted at q and p, in index units.
            let x = ((f[q] + s2 * (q * q) as f64) - (f[p] + s2 * (p * p) as f64))
                / (2.0 * s2 * (q as f64 - p as f64));
            if x <= z[k] && k > 0 {
                k -= 1;
                continue;
            }
            if x <= z[k] {
                // k == 0: q's parabola dominates everywhere p's did.
                v[0] = q;
                z[0] = f64::NEG_INFINITY;
                z[1] = f64::INFINITY;
                break;
            }
            k += 1;
            v[k] = q;
            z[k] = x;
            z[k + 1] = f64::INFINITY;
            break;
        }
    }
    let mut k = 0usize;
    for (p, o) in out.iter_mut().enumerate() {
        while z[k + 1] < p as f64 {
            k += 1;
        }
        let d = p as f64 - v[k] as f64;
        *o = s2 * d * d + f[v[k]];
    }
}

/// Voxels within `r_mm` of `mask` (closed ball): the dilation. Small balls go through
/// [`super::bitmorph`] (same voxels, much faster).
pub fn dilate(mask: &Mask, spacing: [f64; 3], r_mm: f64, per_slice: bool) -> Mask {
    if let Some(m) = super::bitmorph::dilate(mask, spacing, r_mm, per_slice) {
        return m;
    }
    dilate_by_distance(mask, spacing, r_mm, per_slice)
}

/// The dilation by distance transform, for any radius.
pub fn dilate_by_distance(mask: &Mask, spacing: [f64; 3], r_mm: f64, per_slice: bool) -> Mask {
    let d = squared_distance(mask, spacing, per_slice);
    let lim = r_mm * r_mm * (1.0 + 1e-9) + 1e-9;
    Mask::from_fn(mask.dims(), |k, j, i| f64::from(d[[k, j, i]]) <= lim)
}

/// Voxels of `mask` farther than `r_mm` from every grid voxel outside it: the erosion
/// (voxels beyond the grid count as inside, as in ITK's default).
pub fn erode(mask: &Mask, spacing: [f64; 3], r_mm: f64, per_slice: bool) -> Mask {
    let outside = complement(mask);
    if let Some(grown) = super::bitmorph::dilate(&outside, spacing, r_mm, per_slice) {
        return complement(&grown);
    }
    let d = squared_distance(&outside, spacing, per_slice);
    let lim = r_mm * r_mm * (1.0 + 1e-9) + 1e-9;
    Mask::from_fn(mask.dims(), |k, j, i| {
        mask.get(k, j, i) && f64::from(d[[k, j, i]]) > lim
    })
}

/// The voxels not in `mask`.
pub fn complement(mask: &Mask) -> Mask {
    let [_, _, cols] = mask.dims();
    let mut out = mask.clone();
    let rw = out.row_words();
    let last_bits = cols % 64;
    let last_mask = if last_bits == 0 {
        u64::MAX
    } else {
        (1u64 << last_bits) - 1
    };
    for (idx, w) in out.words_mut().iter_mut().enumerate() {
        *w = !*w;
        if rw > 0 && idx % rw == rw - 1 {
            *w &= last_mask;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_match_brute_force_on_anisotropic_grid() {
        let dims = [5, 7, 9];
        let sp = [2.0, 0.5, 0.7];
        let pts = [(1usize, 2usize, 3usize), (4, 6, 0), (0, 0, 8)];
        let mut m = Mask::new(dims);
        for p in pts {
            m.set(p.0, p.1, p.2, true);
        }
        let d = squared_distance(&m, sp, false);
        for k in 0..5 {
            for j in 0..7 {
                for i in 0..9 {
                    let want = pts
                        .iter()
                        .map(|p| {
                            let a = (k as f64 - p.0 as f64) * sp[0];
                            let b = (j as f64 - p.1 as f64) * sp[1];
                            let c = (i as f64 - p.2 as f64) * sp[2];
                            a * a + b * b + c * c
                        })
                        .fold(f64::INFINITY, f64::min);
                    assert!((f64::from(d[[k, j, i]]) - want).abs() < 1e-4, "{k},{j},{i}");
                }
            }
        }
    }

    #[test]
    fn dilate_two_mm_on_anisotropic_voxels_reaches_the_right_extent() {
        // 0.5 x 0.5 x 1 mm voxels (column, row, slice): 2 mm is 4 voxels in-plane, 2 across.
        let dims = [11, 21, 21];
        let mut m = Mask::new(dims);
        m.set(5, 10, 10, true);
        let out = dilate(&m, [1.0, 0.5, 0.5], 2.0, false);
        let extent = |f: &dyn Fn(usize) -> bool, n: usize| (0..n).filter(|x| f(*x)).count();
        assert_eq!(extent(&|i| out.get(5, 10, i), 21), 9);
        assert_eq!(extent(&|j| out.get(5, j, 10), 21), 9);
        assert_eq!(extent(&|k| out.get(k, 10, 10), 11), 5);
        let back = erode(&out, [1.0, 0.5, 0.5], 2.0, false);
        assert_eq!(back.count(), 1);
    }

    #[test]
    fn empty_mask_has_infinite_distance() {
        let m = Mask::new([2, 2, 2]);
        let d = squared_distance(&m, [1.0, 1.0, 1.0], false);
        assert!(d.iter().all(|x| x.is_infinite()));
        assert_eq!(dilate(&m, [1.0; 3], 3.0, false).count(), 0);
    }
}
