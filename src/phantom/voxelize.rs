//! The phantom's voxels: analytic partial volume, then the PSF, then noise.

use super::{Grid, PhantomError, PhantomSpec};
use glam::DVec3;
use rayon::prelude::*;

/// Fraction of the voxel footprint at `c` inside `sdf`: exact 0 or 1 when the surface is
/// farther than the footprint's half-diagonal, supersampled otherwise.
fn fraction(
    sdf: &dyn Fn(DVec3) -> f64,
    c: DVec3,
    axes: &[DVec3; 3],
    half_diag: f64,
    n: u32,
) -> f64 {
    let d = sdf(c);
    if d >= half_diag {
        return 0.0;
    }
    if d <= -half_diag {
        return 1.0;
    }
    let mut inside = 0u32;
    let step = 1.0 / f64::from(n);
    for a in 0..n {
        let u = (f64::from(a) + 0.5) * step - 0.5;
        for b in 0..n {
            let v = (f64::from(b) + 0.5) * step - 0.5;
            for w in 0..n {
                let t = (f64::from(w) + 0.5) * step - 0.5;
                if sdf(c + axes[0] * u + axes[1] * v + axes[2] * t) < 0.0 {
                    inside += 1;
                }
            }
        }
    }
    f64::from(inside) / f64::from(n * n * n)
}

/// SplitMix64: one well-mixed 64-bit value per input (the noise of each voxel depends on
/// the seed and its index only, so any thread count gives the same phantom).
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A standard normal number for voxel `index` (Box–Muller on two SplitMix64 values).
fn gaussian(seed: u64, index: u64) -> f64 {
    let a = splitmix(seed ^ splitmix(index.wrapping_mul(2)));
    let b = splitmix(seed ^ splitmix(index.wrapping_mul(2) + 1));
    let u1 = ((a >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (b >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Blurs `data` (`[slices][rows][cols]`) along one index axis with a Gaussian of `sigma`
/// voxels (edges clamped).
fn blur_axis(data: &mut [f32], dims: [usize; 3], axis: usize, sigma: f64) {
    if sigma < 1e-3 {
        return;
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = {
        let k: Vec<f64> = (-radius..=radius)
            .map(|x| (-(x as f64).powi(2) / (2.0 * sigma * sigma)).exp())
            .collect();
        let s: f64 = k.iter().sum();
        k.iter().map(|v| (v / s) as f32).collect()
    };
    let [n, r, c] = dims;
    let strides = [r * c, c, 1];
    let len = dims[axis];
    let stride = strides[axis];
    // Lines along `axis`: their starts are every index with 0 on that axis.
    let starts: Vec<usize> = (0..n)
        .flat_map(|k| (0..r).flat_map(move |j| (0..c).map(move |i| [k, j, i])))
        .filter(|x| x[axis] == 0)
        .map(|x| x[0] * strides[0] + x[1] * strides[1] + x[2])
        .collect();
    let src = data.to_vec();
    let out: Vec<(usize, Vec<f32>)> = starts
        .par_iter()
        .map(|&s| {
            let line: Vec<f32> = (0..len).map(|t| src[s + t * stride]).collect();
            let smooth = (0..len as isize)
                .map(|t| {
                    kernel
                        .iter()
                        .enumerate()
                        .map(|(q, w)| {
                            let at = (t + q as isize - radius).clamp(0, len as isize - 1);
                            w * line[at as usize]
                        })
                        .sum()
                })
                .collect();
            (s, smooth)
        })
        .collect();
    for (s, line) in out {
        for (t, v) in line.into_iter().enumerate() {
            data[s + t * stride] = v;
        }
    }
}

/// HU of every voxel, `[slice][row][column]`, rounded to i16.
pub(super) fn voxelize(
    spec: &PhantomSpec,
    grid: &Grid,
    body_radius: f64,
) -> Result<Vec<i16>, PhantomError> {
    let (n, rows, cols) = (grid.slices, grid.rows, grid.columns);
    let total = n * rows * cols;
    let mut hu: Vec<f32> = Vec::new();
    hu.try_reserve_exact(total).map_err(|_| {
        PhantomError::Spec(format!(
            "not enough memory for {total} voxels; use a coarser spacing"
        ))
    })?;
    hu.resize(total, 0.0);
    let sp = spec.pixel_spacing_mm;
    let axes = [
        DVec3::from(grid.col_dir) * sp,
        DVec3::from(grid.row_dir) * sp,
        grid.normal() * spec.slice_thickness_mm,
    ];
    let half_diag = 0.5 * (2.0 * sp * sp + spec.slice_thickness_mm.powi(2)).sqrt();
    let body = move |p: DVec3| p.x.hypot(p.y) - body_radius;
    // Each object with the box beyond which it cannot reach a voxel's footprint.
    let shapes: Vec<_> = spec
        .objects
        .iter()
        .map(|o| {
            let (lo, hi) = o.shape.bounds_mm();
            (&o.shape, lo - half_diag, hi + half_diag)
        })
        .collect();
    let m = spec.materials;
    let ss = spec.supersampling;
    hu.par_chunks_mut(rows * cols)
        .enumerate()
        .for_each(|(k, slice)| {
            for j in 0..rows {
                for i in 0..cols {
                    let c = grid.position(k, j, i, sp);
                    let f_body = fraction(&body, c, &axes, half_diag, ss);
                    let mut f_bone = 0.0;
                    for (shape, lo, hi) in &shapes {
                        if c.cmpge(*lo).all() && c.cmple(*hi).all() {
                            f_bone += fraction(&|p| shape.sdf(p), c, &axes, half_diag, ss);
                        }
                    }
                    slice[j * cols + i] = (m.air_hu
                        + (m.tissue_hu - m.air_hu) * f_body
                        + (m.bone_hu - m.tissue_hu) * f_bone.min(1.0))
                        as f32;
                }
            }
        });
    if spec.blur_fwhm_mm > 0.0 {
        let sigma_mm = spec.blur_fwhm_mm / (8.0 * std::f64::consts::LN_2).sqrt();
        let dims = [n, rows, cols];
        blur_axis(&mut hu, dims, 2, sigma_mm / sp);
        blur_axis(&mut hu, dims, 1, sigma_mm / sp);
        blur_axis(&mut hu, dims, 0, sigma_mm / grid.slice_distance_mm);
    }
    let sd = spec.noise_sd_hu;
    let seed = splitmix(spec.seed);
    Ok(hu
        .par_iter()
        .enumerate()
        .map(|(idx, &v)| {
            let noisy = if sd > 0.0 {
                f64::from(v) + sd * gaussian(seed, idx as u64)
            } else {
                f64::from(v)
            };
            noisy.round().clamp(-1024.0, 3071.0) as i16
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_noise_is_standard_normal() {
        let n = 200_000u64;
        let xs: Vec<f64> = (0..n).map(|i| gaussian(7, i)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.01, "{var}");
        let beyond2 = xs.iter().filter(|x| x.abs() > 2.0).count() as f64 / n as f64;
        assert!((beyond2 - 0.0455).abs() < 0.003, "{beyond2}");
    }

    #[test]
    fn a_voxel_half_covered_by_a_plane_is_half_full() {
        let axes = [DVec3::X, DVec3::Y, DVec3::Z];
        let plane = |p: DVec3| p.x - 0.25;
        // Voxel centred at 0.25: the plane through its middle.
        let f = fraction(&plane, DVec3::new(0.25, 0.0, 0.0), &axes, 0.87, 4);
        assert_eq!(f, 0.5);
        assert_eq!(
            fraction(&plane, DVec3::new(2.0, 0.0, 0.0), &axes, 0.87, 4),
            0.0
        );
        assert_eq!(
            fraction(&plane, DVec3::new(-2.0, 0.0, 0.0), &axes, 0.87, 4),
            1.0
        );
    }

    #[test]
    fn blurring_keeps_the_sum_away_from_the_edges() {
        let dims = [9, 9, 11];
        let mut d = vec![0.0f32; 9 * 9 * 11];
        d[4 * 99 + 4 * 11 + 5] = 1000.0;
        for axis in 0..3 {
            blur_axis(&mut d, dims, axis, 0.8);
        }
        let s: f32 = d.iter().sum();
        assert!((s - 1000.0).abs() < 0.5, "{s}");
        assert!(d[4 * 99 + 4 * 11 + 5] < 200.0);
    }
}
