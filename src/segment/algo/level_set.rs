//! Level-set segmentation: Chan–Vese (region-based) and geodesic active contours
//! (edge-based), on the whole array given (the caller crops the region of interest).
//!
//! # Conventions
//! - φ is negative inside the object and positive outside; the returned mask is `φ < 0`.
//! - φ is measured in *grid units*: the smallest spacing among the axes that have more than
//!   one voxel (the in-plane spacing for `per_slice`). ε of the regularised Heaviside/Dirac
//!   is 1 grid unit; a time step of 1 moves the contour by at most about one grid unit per
//!   iteration. Time steps are clamped to `[0, 1]`; 0 returns the initial mask.
//! - φ starts as the signed distance to `init` and is re-initialised to a signed distance
//!   every [`REINIT_INTERVAL`] iterations, keeping the sub-voxel position of the zero level.
//! - Zero-flux (Neumann) boundaries: the contour may touch the edge of the array.
//! - `per_slice` evolves every slice independently in 2D (own phase means, 2D smoothing and
//!   gradient); otherwise the evolution is 3D with the anisotropic spacing.
//! - Every run performs exactly `iterations` steps (no early stop), so the cost is predictable.
//! - An empty image, an empty `init`, or an `init` whose shape differs from the image's give
//!   an all-false mask; a full `init` is returned unchanged. Non-finite parameters fall back
//!   to inert values (0, or k = 50 HU/mm); invalid spacing components take the smallest
//!   valid one (1 mm if none is valid).
//!
//! # Chan–Vese
//! `φ_t = δ(φ)·(μ·κ + F)`: two phases, piecewise constant, λ1 = λ2 = 1 on intensities
//! normalised by the current phase means. With `u = (I − c_out) / (c_in − c_out)` clipped
//! to `[0, 1]`, `F = (u − 1)² − u² = 1 − 2u` (c_in, c_out: mean HU inside and outside), so
//! the force is in `[−1, 1]` whatever the contrast and `curvature_weight` (μ) means the same
//! for a bone edge and a subtle lesion. The phase means use the sharp Heaviside (exact
//! integer HU sums); `δ(φ) = 1 / (1 + φ²)` (ε = 1, scaled to peak 1, which only rescales
//! time). The length term uses Getreuer's semi-implicit scheme (IPOL 2012), stable for any
//! time step. Defaults: 200 iterations, time step 1, μ = 0.2 (≈ 0.5–1 removes more noise
//! specks). The contour moves about 0.25–0.3 voxel per iteration (time step 1), so the number of
//! iterations should exceed ~4× the largest distance from `init` to the object's boundary.
//! Because the Dirac is narrow, the evolution is local: objects far from the initial contour
//! are not found.
//!
//! # Geodesic active contour
//! `φ_t = −w_p·g·|∇φ| + w_c·g·κ·|∇φ| + w_a·∇g·∇φ`, with the edge-stopping speed
//! `g = 1 / (1 + (|∇(G_σ * I)| / k)²)` (gradient in HU/mm). Upwind (Godunov) differences
//! for the balloon and advection terms, central differences for curvature; the time step is
//! lowered to the CFL limit of the given weights (≈ 0.25 with the defaults). Defaults:
//! 200 iterations, time step 0.5, `w_c` = 0.2, `w_p` = 1 (negative shrinks), `w_a` = 1,
//! k = 50 HU/mm, σ = 1 mm. k well below the edge's gradient stops the contour firmly but
//! makes the last voxel slow (g decays exponentially towards the edge); k near the edge's
//! gradient lets the balloon leak through (raise `w_a` to compensate).
//!
//! # Determinism
//! Every update reads the previous φ and writes a new array (Jacobi); the only reductions
//! are exact integer sums (phase means) and float maxima (CFL), so the output is
//! bit-identical for any rayon thread count.

use ndarray::{Array3, ArrayView3, ArrayViewMut3, Axis, Zip};
use rayon::prelude::*;

/// Iterations between re-initialisations of φ to a signed distance.
pub const REINIT_INTERVAL: usize = 10;

/// Voxels per work unit in reductions; fixed so sums never depend on the thread count.
const CHUNK: usize = 1 << 15;

/// Keeps 1/|∇φ| finite where φ is flat (Getreuer's η, in grid units).
const ETA: f64 = 1e-8;

/// Largest ratio between spacings we honour; beyond it finite arithmetic is not guaranteed.
const MAX_SPACING_RATIO: f64 = 1e6;

/// Parameters of [`chan_vese`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelSetParams {
    /// Number of evolution steps (the run always performs exactly this many).
    pub iterations: usize,
    /// Time step in grid units, clamped to `[0, 1]`.
    pub time_step: f64,
    /// Weight μ of the length (curvature) term relative to the data term, ≥ 0.
    pub curvature_weight: f64,
}

impl Default for LevelSetParams {
    /// 200 iterations, time step 1, curvature weight 0.2.
    fn default() -> Self {
        Self {
            iterations: 200,
            time_step: 1.0,
            curvature_weight: 0.2,
        }
    }
}

/// Parameters of [`geodesic_active_contour`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GacParams {
    /// Number of evolution steps (the run always performs exactly this many).
    pub iterations: usize,
    /// Largest time step in grid units, clamped to `[0, 1]` and to the CFL limit.
    pub time_step: f64,
    /// Weight of the curvature (smoothing) term, ≥ 0.
    pub curvature_weight: f64,
    /// Weight of the balloon force: > 0 expands, < 0 shrinks (grid units per unit time).
    pub propagation_weight: f64,
    /// Weight of the advection term that pulls the contour onto edges, ≥ 0.
    pub advection_weight: f64,
    /// Edge scale k in HU/mm: gradients well above k stop the contour.
    pub edge_k: f64,
    /// σ of the Gaussian applied before the gradient, mm (0 = none).
    pub sigma_mm: f64,
}

impl Default for GacParams {
    /// 200 iterations, time step 0.5, weights 0.2/1/1, k = 50 HU/mm, σ = 1 mm.
    fn default() -> Self {
        Self {
            iterations: 200,
            time_step: 0.5,
            curvature_weight: 0.2,
            propagation_weight: 1.0,
            advection_weight: 1.0,
            edge_k: 50.0,
            sigma_mm: 1.0,
        }
    }
}

/// Two-phase Chan–Vese segmentation from `init`; returns the inside mask (`φ < 0`).
pub fn chan_vese(
    image: ArrayView3<i16>,
    spacing: [f64; 3],
    init: ArrayView3<bool>,
    p: &LevelSetParams,
    per_slice: bool,
) -> Array3<bool> {
    let cfg = CvConfig {
        iterations: p.iterations,
        dt: clamp_or(p.time_step, 0.0, 1.0, 0.0),
        mu: clamp_or(p.curvature_weight, 0.0, 1e6, 0.0),
    };
    run_volume(image, spacing, init, per_slice, |img, ini, grid| {
        chan_vese_core(img, ini, grid, &cfg)
    })
}

/// Edge-based geodesic active contour from `init`; returns the inside mask (`φ < 0`).
pub fn geodesic_active_contour(
    image: ArrayView3<i16>,
    spacing: [f64; 3],
    init: ArrayView3<bool>,
    p: &GacParams,
    per_slice: bool,
) -> Array3<bool> {
    let cfg = GacConfig {
        iterations: p.iterations,
        dt: clamp_or(p.time_step, 0.0, 1.0, 0.0),
        curvature: clamp_or(p.curvature_weight, 0.0, 1e3, 0.0),
        propagation: clamp_or(p.propagation_weight, -1e3, 1e3, 0.0),
        advection: clamp_or(p.advection_weight, 0.0, 1e3, 0.0),
        edge_k: clamp_or(p.edge_k, 1e-3, 1e6, 50.0),
        sigma_mm: clamp_or(p.sigma_mm, 0.0, 100.0, 0.0),
    };
    run_volume(image, spacing, init, per_slice, |img, ini, grid| {
        gac_core(img, ini, grid, &cfg)
    })
}

/// `v` clamped to `[lo, hi]`, or `fallback` when it is NaN or infinite.
fn clamp_or(v: f64, lo: f64, hi: f64, fallback: f64) -> f64 {
    if v.is_finite() {
        v.clamp(lo, hi)
    } else {
        fallback
    }
}

/// Sanitised Chan–Vese parameters.
struct CvConfig {
    iterations: usize,
    dt: f64,
    mu: f64,
}

/// Sanitised geodesic-active-contour parameters.
struct GacConfig {
    iterations: usize,
    dt: f64,
    curvature: f64,
    propagation: f64,
    advection: f64,
    edge_k: f64,
    sigma_mm: f64,
}

/// Runs `core` on the whole volume or on each slice (as a one-slice volume), in C order.
fn run_volume(
    image: ArrayView3<i16>,
    spacing: [f64; 3],
    init: ArrayView3<bool>,
    per_slice: bool,
    core: impl Fn(&[i16], &[bool], &Grid) -> Vec<bool> + Sync,
) -> Array3<bool> {
    let dim = image.dim();
    let (nz, ny, nx) = dim;
    if init.dim() != dim || image.is_empty() || !init.iter().any(|&b| b) {
        return Array3::from_elem(dim, false);
    }
    let flat = if per_slice {
        let slices: Vec<Vec<bool>> = (0..nz)
            .into_par_iter()
            .map(|z| {
                let img: Vec<i16> = image.index_axis(Axis(0), z).iter().copied().collect();
                let ini: Vec<bool> = init.index_axis(Axis(0), z).iter().copied().collect();
                core(&img, &ini, &Grid::new([1, ny, nx], spacing))
            })
            .collect();
        slices.concat()
    } else {
        let img: Vec<i16> = image.iter().copied().collect();
        let ini: Vec<bool> = init.iter().copied().collect();
        core(&img, &ini, &Grid::new([nz, ny, nx], spacing))
    };
    Array3::from_shape_vec(dim, flat).unwrap_or_else(|_| Array3::from_elem(dim, false))
}

/// Shape and spacing of the array being evolved.
#[derive(Debug, Clone, Copy)]
struct Grid {
    /// `[slices, rows, columns]`.
    dims: [usize; 3],
    /// Spacing in mm (sanitised).
    mm: [f64; 3],
    /// Spacing in grid units (mm / smallest active spacing).
    s: [f64; 3],
    /// Axis has more than one voxel.
    active: [bool; 3],
    /// `1 / s` per axis (multiplications are much cheaper than divisions in the hot loops).
    inv_s: [f64; 3],
    /// `1 / (2 s)` per axis, for central differences.
    inv_2s: [f64; 3],
    /// `1 / s²` per axis.
    inv_s2: [f64; 3],
}

impl Grid {
    /// Grid of `dims` with `spacing` in mm; invalid components take the smallest valid one.
    fn new(dims: [usize; 3], spacing: [f64; 3]) -> Self {
        let valid = |v: f64| v.is_finite() && v > 0.0;
        let smallest = spacing
            .iter()
            .copied()
            .filter(|&v| valid(v))
            .fold(f64::INFINITY, f64::min);
        let fallback = if smallest.is_finite() { smallest } else { 1.0 };
        let mm = spacing.map(|v| if valid(v) { v } else { fallback });
        let active = dims.map(|d| d > 1);
        let h = (0..3)
            .filter(|&a| active[a])
            .map(|a| mm[a])
            .fold(f64::INFINITY, f64::min);
        let h = if h.is_finite() { h } else { fallback };
        let s = mm.map(|v| (v / h).clamp(1.0, MAX_SPACING_RATIO));
        Self::with_spacing(dims, mm, s, active)
    }

    /// Grid whose finite differences use spacing `s`.
    fn with_spacing(dims: [usize; 3], mm: [f64; 3], s: [f64; 3], active: [bool; 3]) -> Self {
        Self {
            dims,
            mm,
            s,
            active,
            inv_s: s.map(|v| 1.0 / v),
            inv_2s: s.map(|v| 0.5 / v),
            inv_s2: s.map(|v| 1.0 / (v * v)),
        }
    }
}

/// Values of φ on the 3×3×3 neighbourhood of a voxel (clamped at the border), with which
/// of the six face neighbours really exist.
struct Nbhd {
    /// `v[dz + 1][dy + 1][dx + 1]`.
    v: [[[f64; 3]; 3]; 3],
    /// `has[axis][0]`: a neighbour at −1 exists; `has[axis][1]`: at +1.
    has: [[bool; 2]; 3],
}

impl Nbhd {
    /// Value at offsets given as indices `0, 1, 2` for −1, 0, +1.
    fn at(&self, o: [usize; 3]) -> f64 {
        self.v[o[0]][o[1]][o[2]]
    }

    /// Value at the centre plus `side` (0 = −1, 2 = +1) along `axis`.
    fn step(&self, axis: usize, side: usize) -> f64 {
        let mut o = [1; 3];
        o[axis] = side;
        self.at(o)
    }
}

/// Fills `out` (one value per voxel of `g`) in parallel rows from a per-voxel function of
/// the neighbourhood of `phi` and the flat index.
fn stencil_map(phi: &[f32], g: &Grid, out: &mut [f32], f: impl Fn(&Nbhd, usize) -> f64 + Sync) {
    let [nz, ny, nx] = g.dims;
    if nx == 0 {
        return;
    }
    out.par_chunks_mut(nx).enumerate().for_each(|(r, row)| {
        let (z, y) = (r / ny, r % ny);
        let zs = [z.saturating_sub(1), z, (z + 1).min(nz - 1)];
        let ys = [y.saturating_sub(1), y, (y + 1).min(ny - 1)];
        let mut base = [[0usize; 3]; 3];
        for (i, &zz) in zs.iter().enumerate() {
            for (j, &yy) in ys.iter().enumerate() {
                base[i][j] = (zz * ny + yy) * nx;
            }
        }
        for (x, o) in row.iter_mut().enumerate() {
            let xs = [x.saturating_sub(1), x, (x + 1).min(nx - 1)];
            let mut n = Nbhd {
                v: [[[0.0; 3]; 3]; 3],
                has: [
                    [z > 0, z + 1 < nz],
                    [y > 0, y + 1 < ny],
                    [x > 0, x + 1 < nx],
                ],
            };
            for i in 0..3 {
                for j in 0..3 {
                    for k in 0..3 {
                        n.v[i][j][k] = f64::from(phi[base[i][j] + xs[k]]);
                    }
                }
            }
            *o = f(&n, r * nx + x) as f32;
        }
    });
}

/// Chan–Vese evolution of one volume (or one slice); returns the inside mask.
fn chan_vese_core(img: &[i16], init: &[bool], g: &Grid, c: &CvConfig) -> Vec<bool> {
    // With one phase empty there is no data force and a flat φ has no curvature.
    if init.iter().all(|&b| b) || !init.iter().any(|&b| b) {
        return init.to_vec();
    }
    let n = img.len();
    let total: i64 = img.iter().map(|&v| i64::from(v)).sum();
    let mut phi: Vec<f32> = init.iter().map(|&b| if b { -1.0 } else { 1.0 }).collect();
    reinitialise(&mut phi, g, Profile::Step);
    let mut next = vec![0.0f32; n];
    for it in 0..c.iterations {
        let (sum_in, n_in) = inside_sums(&phi, img);
        // No force when a phase is empty or both have the same mean: curvature only.
        let phases = (n_in > 0 && n_in < n).then(|| {
            let c_in = sum_in as f64 / n_in as f64;
            let c_out = (total - sum_in) as f64 / (n - n_in) as f64;
            (c_out, c_in - c_out)
        });
        let norm = phases.filter(|&(_, d)| d.abs() > 1e-9);
        stencil_map(&phi, g, &mut next, |nb, i| {
            let force = norm.map_or(0.0, |(c_out, d)| {
                let u = ((f64::from(img[i]) - c_out) / d).clamp(0.0, 1.0);
                1.0 - 2.0 * u
            });
            cv_update(nb, g, c.mu, c.dt, force)
        });
        std::mem::swap(&mut phi, &mut next);
        if (it + 1) % REINIT_INTERVAL == 0 {
            reinitialise(&mut phi, g, Profile::Smooth);
        }
    }
    phi.iter().map(|&v| v < 0.0).collect()
}

/// Exact (sum of HU, count) over voxels with `φ < 0`, in fixed chunks.
fn inside_sums(phi: &[f32], img: &[i16]) -> (i64, usize) {
    let parts: Vec<(i64, usize)> = phi
        .par_chunks(CHUNK)
        .zip(img.par_chunks(CHUNK))
        .map(|(p, v)| {
            p.iter()
                .zip(v)
                .filter(|&(&p, _)| p < 0.0)
                .fold((0i64, 0usize), |(s, c), (_, &v)| (s + i64::from(v), c + 1))
        })
        .collect();
    parts
        .iter()
        .fold((0, 0), |(s, c), &(ps, pc)| (s + ps, c + pc))
}

/// One semi-implicit Chan–Vese step at a voxel (Getreuer, IPOL 2012, eq. 22, in 3D with
/// anisotropic spacing); `force` is the data term, positive pushing outward of the object.
fn cv_update(nb: &Nbhd, g: &Grid, mu: f64, dt: f64, force: f64) -> f64 {
    let v = &nb.v;
    let c = v[1][1][1];
    let mut num = 0.0;
    let mut den = 0.0;
    if mu > 0.0 {
        let [iz, iy, ix] = g.inv_2s;
        // Face coefficient 1 / (s_a² |∇φ|) from the normal difference and the tangential
        // central differences at the lower voxel of the face.
        let mut face = |has: bool, q: f64, normal: f64, t1: f64, t2: f64, inv_s2: f64| {
            if has {
                let coef = inv_s2 / (ETA * ETA + normal * normal + t1 * t1 + t2 * t2).sqrt();
                num += coef * q;
                den += coef;
            }
        };
        let [sz, sy, sx] = g.inv_s;
        // `l` indexes the lower voxel of the face along its axis: the neighbour for the −
        // face, the centre for the + face.
        for (side, zi) in [(0usize, 0usize), (1, 2)] {
            let l = if side == 0 { 0 } else { 1 };
            face(
                nb.has[0][side],
                v[zi][1][1],
                (v[zi][1][1] - c) * sz,
                (v[l][2][1] - v[l][0][1]) * iy,
                (v[l][1][2] - v[l][1][0]) * ix,
                g.inv_s2[0],
            );
        }
        for (side, yi) in [(0usize, 0usize), (1, 2)] {
            let l = if side == 0 { 0 } else { 1 };
            face(
                nb.has[1][side],
                v[1][yi][1],
                (v[1][yi][1] - c) * sy,
                (v[2][l][1] - v[0][l][1]) * iz,
                (v[1][l][2] - v[1][l][0]) * ix,
                g.inv_s2[1],
            );
        }
        for (side, xi) in [(0usize, 0usize), (1, 2)] {
            let l = if side == 0 { 0 } else { 1 };
            face(
                nb.has[2][side],
                v[1][1][xi],
                (v[1][1][xi] - c) * sx,
                (v[2][1][l] - v[0][1][l]) * iz,
                (v[1][2][l] - v[1][0][l]) * iy,
                g.inv_s2[2],
            );
        }
    }
    let delta = 1.0 / (1.0 + c * c);
    (c + dt * delta * (mu * num + force)) / (1.0 + dt * delta * mu * den)
}

/// Geodesic-active-contour evolution of one volume (or one slice); returns the inside mask.
fn gac_core(img: &[i16], init: &[bool], g: &Grid, c: &GacConfig) -> Vec<bool> {
    // Without a contour every term vanishes (|∇φ| = 0).
    if init.iter().all(|&b| b) || !init.iter().any(|&b| b) {
        return init.to_vec();
    }
    let n = img.len();
    let speed = edge_speed(img, g, c.sigma_mm, c.edge_k);
    let grad_speed = gradient_grid(&speed, g);
    let inv_s2: f64 = (0..3)
        .filter(|&a| g.active[a])
        .map(|a| 1.0 / (g.s[a] * g.s[a]))
        .sum();
    // CFL: the largest per-voxel rate, a float maximum (exact in any order).
    let rate = speed
        .par_iter()
        .zip(grad_speed.par_iter())
        .map(|(&sp, gs)| {
            let sp = f64::from(sp);
            let adv: f64 = (0..3).map(|a| f64::from(gs[a]).abs() / g.s[a]).sum();
            c.propagation.abs() * sp * inv_s2.sqrt()
                + c.advection * adv
                + 2.0 * c.curvature * sp * inv_s2
        })
        .reduce(|| 0.0, f64::max);
    let dt = if rate > 0.0 {
        c.dt.min(0.9 / rate)
    } else {
        c.dt
    };
    let mut phi: Vec<f32> = init.iter().map(|&b| if b { -1.0 } else { 1.0 }).collect();
    reinitialise(&mut phi, g, Profile::Step);
    let mut next = vec![0.0f32; n];
    for it in 0..c.iterations {
        stencil_map(&phi, g, &mut next, |nb, i| {
            let gs = grad_speed[i];
            let adv = [0, 1, 2].map(|a| -c.advection * f64::from(gs[a]));
            gac_update(nb, g, f64::from(speed[i]), adv, c, dt)
        });
        std::mem::swap(&mut phi, &mut next);
        if (it + 1) % REINIT_INTERVAL == 0 {
            reinitialise(&mut phi, g, Profile::Smooth);
        }
    }
    phi.iter().map(|&v| v < 0.0).collect()
}

/// One explicit GAC step at a voxel; `adv` is the advection velocity `−w_a ∇g`.
fn gac_update(nb: &Nbhd, g: &Grid, speed: f64, adv: [f64; 3], c: &GacConfig, dt: f64) -> f64 {
    let p0 = nb.at([1, 1, 1]);
    let mut minus = [0.0; 3];
    let mut plus = [0.0; 3];
    let mut central = [0.0; 3];
    let mut second = [0.0; 3];
    for a in 0..3 {
        let (qm, qp) = (nb.step(a, 0), nb.step(a, 2));
        if nb.has[a][0] {
            minus[a] = (p0 - qm) * g.inv_s[a];
        }
        if nb.has[a][1] {
            plus[a] = (qp - p0) * g.inv_s[a];
        }
        central[a] = (qp - qm) * g.inv_2s[a];
        second[a] = (qp - 2.0 * p0 + qm) * g.inv_s2[a];
    }
    // Balloon: Godunov upwind |∇φ| for φ_t + F|∇φ| = 0.
    let f = c.propagation * speed;
    let up: f64 = (0..3)
        .map(|a| {
            if f > 0.0 {
                minus[a].max(0.0).powi(2) + plus[a].min(0.0).powi(2)
            } else {
                minus[a].min(0.0).powi(2) + plus[a].max(0.0).powi(2)
            }
        })
        .sum();
    let balloon = -f * up.sqrt();
    // Curvature: κ|∇φ| from central differences.
    let g2: f64 = central.iter().map(|d| d * d).sum();
    let mut curvature = 0.0;
    if c.curvature > 0.0 && g2 > 1e-12 {
        let mut numer = 0.0;
        for a in 0..3 {
            numer += second[a] * (g2 - central[a] * central[a]);
            for b in (a + 1)..3 {
                let corner = |sa: usize, sb: usize| {
                    let mut o = [1usize; 3];
                    o[a] = sa;
                    o[b] = sb;
                    nb.at(o)
                };
                let mixed = (corner(2, 2) - corner(2, 0) - corner(0, 2) + corner(0, 0))
                    * g.inv_2s[a]
                    * g.inv_2s[b];
                numer -= 2.0 * central[a] * central[b] * mixed;
            }
        }
        curvature = c.curvature * speed * numer / g2;
    }
    // Advection φ_t + u·∇φ = 0, upwind per axis.
    let advection: f64 = (0..3)
        .map(|a| {
            let d = if adv[a] > 0.0 { minus[a] } else { plus[a] };
            -adv[a] * d
        })
        .sum();
    p0 + dt * (balloon + curvature + advection)
}

/// Edge-stopping speed `1 / (1 + (|∇(G_σ * I)| / k)²)`, gradient in HU/mm.
fn edge_speed(img: &[i16], g: &Grid, sigma_mm: f64, k: f64) -> Vec<f32> {
    let mut smooth: Vec<f32> = img.iter().map(|&v| f32::from(v)).collect();
    if sigma_mm > 0.0 {
        for a in (0..3).filter(|&a| g.active[a]) {
            let sigma = sigma_mm / g.mm[a];
            if sigma < 0.1 {
                continue;
            }
            let kernel = gaussian_kernel(sigma, g.dims[a]);
            for_each_lane(&mut smooth, g.dims, a, |lane| {
                convolve_clamped(lane, &kernel)
            });
        }
    }
    let mut speed = vec![0.0f32; smooth.len()];
    let mm = g.mm;
    let physical = Grid::with_spacing(g.dims, mm, mm, g.active);
    stencil_map(&smooth, &physical, &mut speed, |nb, _| {
        let g2: f64 = (0..3)
            .map(|a| ((nb.step(a, 2) - nb.step(a, 0)) * physical.inv_2s[a]).powi(2))
            .sum();
        1.0 / (1.0 + g2 / (k * k))
    });
    speed
}

/// Central-difference gradient of a field, per grid unit.
fn gradient_grid(field: &[f32], g: &Grid) -> Vec<[f32; 3]> {
    let [nz, ny, nx] = g.dims;
    let mut out = vec![[0.0f32; 3]; field.len()];
    if nx == 0 {
        return out;
    }
    out.par_chunks_mut(nx).enumerate().for_each(|(r, row)| {
        let (z, y) = (r / ny, r % ny);
        let at = |z: usize, y: usize, x: usize| f64::from(field[(z * ny + y) * nx + x]);
        for (x, o) in row.iter_mut().enumerate() {
            let d = |lo: f64, hi: f64, s: f64| ((hi - lo) / (2.0 * s)) as f32;
            o[0] = d(
                at(z.saturating_sub(1), y, x),
                at((z + 1).min(nz - 1), y, x),
                g.s[0],
            );
            o[1] = d(
                at(z, y.saturating_sub(1), x),
                at(z, (y + 1).min(ny - 1), x),
                g.s[1],
            );
            o[2] = d(
                at(z, y, x.saturating_sub(1)),
                at(z, y, (x + 1).min(nx - 1)),
                g.s[2],
            );
        }
    });
    out
}

/// Normalised Gaussian of standard deviation `sigma` voxels, truncated at 3σ (and at the
/// axis length, beyond which clamping makes further taps redundant).
fn gaussian_kernel(sigma: f64, len: usize) -> Vec<f64> {
    let radius = ((3.0 * sigma).ceil() as usize).clamp(1, len.max(1));
    let mut k: Vec<f64> = (0..=2 * radius)
        .map(|i| {
            let x = i as f64 - radius as f64;
            // libm: the same bits on every platform (the output is hashed and replayed).
            libm::exp(-0.5 * x * x / (sigma * sigma))
        })
        .collect();
    let total: f64 = k.iter().sum();
    k.iter_mut().for_each(|w| *w /= total);
    k
}

/// Convolves a lane with an odd kernel, clamping indices at the ends.
fn convolve_clamped(lane: &mut [f32], kernel: &[f64]) {
    let n = lane.len();
    if n == 0 {
        return;
    }
    let radius = kernel.len() / 2;
    let src: Vec<f64> = lane.iter().map(|&v| f64::from(v)).collect();
    for (i, o) in lane.iter_mut().enumerate() {
        let mut acc = 0.0;
        for (t, &w) in kernel.iter().enumerate() {
            let j = (i + t).saturating_sub(radius).min(n - 1);
            acc += w * src[j];
        }
        *o = acc as f32;
    }
}

/// Applies `f` to every 1D lane of a C-order array along `axis`, lanes in parallel.
fn for_each_lane<T: Copy + Send + Sync>(
    data: &mut [T],
    dims: [usize; 3],
    axis: usize,
    f: impl Fn(&mut [T]) + Sync,
) {
    // Cannot fail: every buffer here is allocated with exactly dims' product elements.
    let Ok(mut view) = ArrayViewMut3::from_shape((dims[0], dims[1], dims[2]), data) else {
        return;
    };
    Zip::from(view.lanes_mut(Axis(axis))).par_for_each(|mut lane| {
        let mut buf: Vec<T> = lane.iter().copied().collect();
        f(&mut buf);
        lane.iter_mut().zip(buf).for_each(|(o, v)| *o = v);
    });
}

/// What φ looks like before a re-initialisation, which decides how its gradient is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    /// ±1 from a mask.
    Step,
    /// An evolved, roughly distance-like φ.
    Smooth,
}

/// Replaces φ by a signed distance (grid units) with the same sign everywhere and, to first
/// order, the same sub-voxel zero level.
///
/// Voxels with a face neighbour of opposite sign ("seeds") project themselves onto the zero
/// level, `x* = x − φ ∇φ / |∇φ|²` (∇φ from central differences for a smooth φ, from the
/// steepest one-sided difference for a ±1 step, which puts the interface on the voxel face). An exact Euclidean feature transform finds
/// each voxel's nearest seed; |φ| is the distance to that seed's tangent plane at `x*`, but
/// no less than the distance to `x*` minus half the largest spacing (where the interface
/// curves away from the plane).
fn reinitialise(phi: &mut [f32], g: &Grid, profile: Profile) {
    let [_, ny, nx] = g.dims;
    if phi.is_empty() || nx == 0 {
        return;
    }
    let strides = [ny * nx, nx, 1];
    // Per voxel: (squared distance to the nearest seed, that seed's index); seeds start at 0.
    let mut feature = vec![(f64::INFINITY, usize::MAX); phi.len()];
    // Per seed: offset from its centre to its projection on the zero level (grid units), and
    // the unit normal there.
    let mut offset = vec![[0.0f32; 6]; phi.len()];
    {
        let phi: &[f32] = phi;
        feature
            .par_chunks_mut(nx)
            .zip(offset.par_chunks_mut(nx))
            .enumerate()
            .for_each(|(r, (feat, off))| {
                let (z, y) = (r / ny, r % ny);
                for (x, (f, o)) in feat.iter_mut().zip(off.iter_mut()).enumerate() {
                    let coord = [z, y, x];
                    let i = r * nx + x;
                    let v = f64::from(phi[i]);
                    let inside = v < 0.0;
                    let mut crosses = false;
                    let mut grad = [0.0f64; 3];
                    for a in 0..3 {
                        let mut sides = [None, None];
                        if coord[a] > 0 {
                            let w = f64::from(phi[i - strides[a]]);
                            crosses |= (w < 0.0) != inside;
                            sides[0] = Some((v - w) * g.inv_s[a]);
                        }
                        if coord[a] + 1 < g.dims[a] {
                            let w = f64::from(phi[i + strides[a]]);
                            crosses |= (w < 0.0) != inside;
                            sides[1] = Some((w - v) * g.inv_s[a]);
                        }
                        grad[a] = match (sides, profile) {
                            // A ±1 step: the steepest side puts the interface on the face.
                            ([Some(m), Some(p)], Profile::Step) => {
                                if p.abs() > m.abs() {
                                    p
                                } else {
                                    m
                                }
                            }
                            // A smooth φ: central differences are second-order accurate.
                            ([Some(m), Some(p)], Profile::Smooth) => 0.5 * (m + p),
                            ([Some(d), None] | [None, Some(d)], _) => d,
                            ([None, None], _) => 0.0,
                        };
                    }
                    if crosses {
                        let g2: f64 = grad.iter().map(|d| d * d).sum();
                        if g2 > 0.0 {
                            let norm = g2.sqrt();
                            for a in 0..3 {
                                o[a] = (-v * grad[a] / g2) as f32;
                                o[a + 3] = (grad[a] / norm) as f32;
                            }
                        }
                        *f = (0.0, i);
                    }
                }
            });
    }
    for a in (0..3).rev().filter(|&a| g.active[a]) {
        let w = g.s[a] * g.s[a];
        for_each_lane(&mut feature, g.dims, a, |lane| nearest_site_lane(lane, w));
    }
    // With no interface at all every voxel is farther than anything in the array.
    let far: f64 = (0..3).map(|a| g.dims[a] as f64 * g.s[a]).sum::<f64>() + 1.0;
    // How far, tangentially, a voxel can sit from its nearest seed's projection.
    let tangent_allowance = 0.5
        * (0..3)
            .filter(|&a| g.active[a])
            .map(|a| g.s[a])
            .fold(1.0, f64::max);
    let position = |i: usize| {
        let c = [i / strides[0], (i / nx) % ny, i % nx];
        [0, 1, 2].map(|a| c[a] as f64 * g.s[a])
    };
    phi.par_chunks_mut(nx).enumerate().for_each(|(r, row)| {
        for (x, p) in row.iter_mut().enumerate() {
            let i = r * nx + x;
            let mag = match feature
                .get(i)
                .and_then(|&(_, q)| offset.get(q).map(|o| (q, o)))
            {
                Some((q, o)) => {
                    let (here, seed) = (position(i), position(q));
                    let rel = [0, 1, 2].map(|a| here[a] - seed[a] - f64::from(o[a]));
                    let point = rel.iter().map(|d| d * d).sum::<f64>().sqrt();
                    let plane = (0..3)
                        .map(|a| rel[a] * f64::from(o[a + 3]))
                        .sum::<f64>()
                        .abs();
                    // The tangent plane is exact for a flat interface; the projected point
                    // bounds the error where it curves away.
                    plane.max(point - tangent_allowance).min(far)
                }
                None => far,
            };
            *p = if *p < 0.0 {
                -(mag.max(1e-6) as f32)
            } else {
                mag as f32
            };
        }
    });
}

/// One pass of the exact Euclidean feature transform along a lane (Felzenszwalb &
/// Huttenlocher 2012): each entry becomes `min_q w·(p − q)² + f(q)` with the feature of
/// the minimising `q`. Infinite entries are not sites; a lane without sites is unchanged.
fn nearest_site_lane(f: &mut [(f64, usize)], w: f64) {
    let n = f.len();
    let sites: Vec<usize> = (0..n).filter(|&q| f[q].0.is_finite()).collect();
    let Some(&first) = sites.first() else {
        return;
    };
    let key = |q: usize| f[q].0 + w * (q as f64) * (q as f64);
    // Lower envelope of parabolas: vertex positions and the boundaries between them.
    let mut v = vec![first; sites.len()];
    let mut z = vec![f64::INFINITY; sites.len() + 1];
    z[0] = f64::NEG_INFINITY;
    let mut k = 0usize;
    for &q in &sites[1..] {
        let mut s;
        loop {
            let p = v[k];
            s = (key(q) - key(p)) / (2.0 * w * (q as f64 - p as f64));
            if s <= z[k] && k > 0 {
                k -= 1;
            } else {
                break;
            }
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    let mut out = Vec::with_capacity(n);
    let mut k = 0usize;
    for p in 0..n {
        while z[k + 1] < p as f64 {
            k += 1;
        }
        let d = p as f64 - v[k] as f64;
        out.push((w * d * d + f[v[k]].0, f[v[k]].1));
    }
    f.copy_from_slice(&out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64 for test data.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        /// Standard normal (Box–Muller).
        fn gauss(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    fn dice(a: &Array3<bool>, b: &Array3<bool>) -> f64 {
        let both = a.iter().zip(b).filter(|&(&x, &y)| x && y).count() as f64;
        let total = (a.iter().filter(|&&x| x).count() + b.iter().filter(|&&x| x).count()) as f64;
        if total == 0.0 {
            1.0
        } else {
            2.0 * both / total
        }
    }

    /// `truth` scaled to `hi` over 0 HU, plus Gaussian noise of `sigma` HU.
    fn noisy(truth: &Array3<bool>, hi: f64, sigma: f64, seed: u64) -> Array3<i16> {
        let mut rng = Rng(seed);
        truth.map(|&t| {
            let v = if t { hi } else { 0.0 } + sigma * rng.gauss();
            v.round().clamp(-32768.0, 32767.0) as i16
        })
    }

    fn run_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
            .install(f)
    }

    /// Two discs per slice: centres (20, 20) r 10 and (42, 44) r 11 on 64×64.
    fn two_discs(nz: usize) -> Array3<bool> {
        Array3::from_shape_fn((nz, 64, 64), |(_, y, x)| {
            let (y, x) = (y as f64, x as f64);
            (y - 20.0).hypot(x - 20.0) <= 10.0 || (y - 42.0).hypot(x - 44.0) <= 11.0
        })
    }

    fn box_init(dim: (usize, usize, usize), margin: usize) -> Array3<bool> {
        Array3::from_shape_fn(dim, |(_, y, x)| {
            (margin..dim.1 - margin).contains(&y) && (margin..dim.2 - margin).contains(&x)
        })
    }

    /// Ellipsoid of radius `r_mm` (mm) centred in the volume, physical coordinates.
    fn sphere(dim: (usize, usize, usize), spacing: [f64; 3], r_mm: f64) -> Array3<bool> {
        let c = [dim.0, dim.1, dim.2].map(|d| (d as f64 - 1.0) / 2.0);
        Array3::from_shape_fn(dim, |(z, y, x)| {
            let d = [z, y, x]
                .iter()
                .enumerate()
                .map(|(a, &i)| ((i as f64 - c[a]) * spacing[a]).powi(2))
                .sum::<f64>()
                .sqrt();
            d <= r_mm
        })
    }

    #[test]
    fn chan_vese_two_noisy_discs_per_slice() {
        let truth = two_discs(2);
        let image = noisy(&truth, 300.0, 40.0, 7);
        let init = box_init(truth.dim(), 4);
        let p = LevelSetParams::default();
        let out = chan_vese(image.view(), [2.0, 0.5, 0.5], init.view(), &p, true);
        let d = dice(&out, &truth);
        eprintln!("discs dice {d}");
        assert!(d >= 0.95, "dice {d}");
        // The same data evolved in 3D (cylinders) gives the same answer.
        let out3 = chan_vese(image.view(), [2.0, 0.5, 0.5], init.view(), &p, false);
        let d3 = dice(&out3, &truth);
        assert!(d3 >= 0.95, "dice 3D {d3}");
    }

    #[test]
    fn chan_vese_noisy_sphere_3d() {
        let dim = (18, 32, 32);
        let spacing = [1.5, 1.0, 1.0];
        let truth = sphere(dim, spacing, 10.0);
        let image = noisy(&truth, 300.0, 40.0, 11);
        let init = Array3::from_shape_fn(dim, |(z, y, x)| {
            (2..16).contains(&z) && (3..29).contains(&y) && (3..29).contains(&x)
        });
        let p = LevelSetParams {
            iterations: 60,
            ..LevelSetParams::default()
        };
        let out = chan_vese(image.view(), spacing, init.view(), &p, false);
        let d = dice(&out, &truth);
        eprintln!("cv sphere dice {d}");
        assert!(d >= 0.95, "dice {d}");
    }

    #[test]
    fn chan_vese_dark_object_and_shrinking_seed() {
        // A dark disc (−200 HU) on soft tissue; the init is a small seed inside the disc,
        // so the contour must grow.
        let truth = Array3::from_shape_fn((1, 48, 48), |(_, y, x)| {
            (y as f64 - 24.0).hypot(x as f64 - 24.0) <= 14.0
        });
        let mut image = noisy(&truth, -200.0, 20.0, 3);
        image.mapv_inplace(|v| v + 40);
        let init = Array3::from_shape_fn((1, 48, 48), |(_, y, x)| {
            (y as f64 - 24.0).hypot(x as f64 - 24.0) <= 4.0
        });
        let out = chan_vese(
            image.view(),
            [1.0; 3],
            init.view(),
            &LevelSetParams::default(),
            true,
        );
        let d = dice(&out, &truth);
        assert!(d >= 0.95, "dice {d}");
    }

    #[test]
    fn gac_expands_to_sphere_edge() {
        for (dim, spacing) in [((20, 20, 20), [1.0; 3]), ((11, 22, 22), [1.6, 0.8, 0.8])] {
            let r = 7.0;
            let truth = sphere(dim, spacing, r);
            let image = noisy(&truth, 1000.0, 10.0, 5);
            let seed = sphere(dim, spacing, 2.0);
            // The last voxel is approached slowly: g decays exponentially towards the edge.
            let p = GacParams {
                iterations: 200,
                ..GacParams::default()
            };
            let out = geodesic_active_contour(image.view(), spacing, seed.view(), &p, false);
            let got = out.iter().filter(|&&b| b).count() as f64;
            let want = truth.iter().filter(|&&b| b).count() as f64;
            eprintln!("gac {spacing:?}: volume ratio {}", got / want);
            assert!(
                (got / want - 1.0).abs() < 0.1,
                "volume {got} vs {want} at {spacing:?}"
            );
            // Within one voxel of the true boundary everywhere: between the truth eroded and
            // dilated by one voxel (6-neighbourhood).
            let inner = morph(&truth, false);
            let outer = morph(&truth, true);
            let missed = out.iter().zip(&inner).filter(|&(&o, &i)| i && !o).count();
            let leaked = out.iter().zip(&outer).filter(|&(&o, &u)| o && !u).count();
            assert_eq!((missed, leaked), (0, 0), "at {spacing:?}");
        }
    }

    /// One step of 6-neighbour dilation (`grow`) or erosion; outside the array counts as
    /// background for erosion.
    fn morph(m: &Array3<bool>, grow: bool) -> Array3<bool> {
        let (nz, ny, nx) = m.dim();
        Array3::from_shape_fn(m.dim(), |(z, y, x)| {
            let mut any = m[[z, y, x]];
            let mut all = m[[z, y, x]];
            for (dz, dy, dx) in [(1, 0, 0), (0, 1, 0), (0, 0, 1)] {
                for sign in [-1i64, 1] {
                    let (a, b, c) = (
                        z as i64 + sign * dz,
                        y as i64 + sign * dy,
                        x as i64 + sign * dx,
                    );
                    let inside = (0..nz as i64).contains(&a)
                        && (0..ny as i64).contains(&b)
                        && (0..nx as i64).contains(&c);
                    let v = inside && m[[a as usize, b as usize, c as usize]];
                    any |= v;
                    all &= v;
                }
            }
            if grow { any } else { all }
        })
    }

    #[test]
    fn gac_per_slice_grows_discs() {
        let truth = two_discs(2);
        let image = noisy(&truth, 1000.0, 10.0, 9);
        let seeds = Array3::from_shape_fn(truth.dim(), |(_, y, x)| {
            let (y, x) = (y as f64, x as f64);
            (y - 20.0).hypot(x - 20.0) <= 2.0 || (y - 42.0).hypot(x - 44.0) <= 2.0
        });
        let p = GacParams {
            iterations: 150,
            ..GacParams::default()
        };
        let out = geodesic_active_contour(image.view(), [3.0, 0.7, 0.7], seeds.view(), &p, true);
        let d = dice(&out, &truth);
        assert!(d >= 0.95, "dice {d}");
    }

    #[test]
    fn empty_init_gives_empty_result() {
        let image = noisy(&two_discs(2), 300.0, 40.0, 1);
        let init = Array3::from_elem(image.dim(), false);
        for per_slice in [false, true] {
            let cv = chan_vese(
                image.view(),
                [1.0; 3],
                init.view(),
                &LevelSetParams::default(),
                per_slice,
            );
            assert!(cv.iter().all(|&b| !b));
            let gac = geodesic_active_contour(
                image.view(),
                [1.0; 3],
                init.view(),
                &GacParams::default(),
                per_slice,
            );
            assert!(gac.iter().all(|&b| !b));
        }
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let cv = LevelSetParams::default();
        let gac = GacParams::default();
        let bad = LevelSetParams {
            iterations: 3,
            time_step: f64::NAN,
            curvature_weight: f64::INFINITY,
        };
        let bad_gac = GacParams {
            iterations: 3,
            time_step: f64::INFINITY,
            curvature_weight: -1.0,
            propagation_weight: f64::NAN,
            advection_weight: f64::NEG_INFINITY,
            edge_k: 0.0,
            sigma_mm: f64::NAN,
        };
        let spacings = [[1.0; 3], [f64::NAN, 0.0, -1.0], [1e-300, 1e300, 1.0]];
        let shapes = [
            (0, 0, 0),
            (0, 4, 4),
            (1, 1, 1),
            (1, 1, 7),
            (3, 1, 1),
            (2, 3, 4),
        ];
        for dim in shapes {
            let image = Array3::from_elem(dim, 40i16);
            for init in [Array3::from_elem(dim, true), Array3::from_elem(dim, false)] {
                for spacing in spacings {
                    for per_slice in [false, true] {
                        for p in [&cv, &bad] {
                            let out = chan_vese(image.view(), spacing, init.view(), p, per_slice);
                            assert_eq!(out.dim(), dim);
                        }
                        for p in [&gac, &bad_gac] {
                            let out = geodesic_active_contour(
                                image.view(),
                                spacing,
                                init.view(),
                                p,
                                per_slice,
                            );
                            assert_eq!(out.dim(), dim);
                        }
                    }
                }
            }
        }
        // Mismatched shapes give an empty mask of the image's shape.
        let image = Array3::from_elem((2, 3, 4), 0i16);
        let init = Array3::from_elem((2, 4, 3), true);
        assert!(
            chan_vese(image.view(), [1.0; 3], init.view(), &cv, false)
                .iter()
                .all(|&b| !b)
        );
        // A whole-array init on a constant image stays whole (no force, flat φ).
        let init = Array3::from_elem((2, 3, 4), true);
        assert!(
            chan_vese(image.view(), [1.0; 3], init.view(), &cv, false)
                .iter()
                .all(|&b| b)
        );
        // Zero time step returns the initial mask.
        let image = noisy(&two_discs(1), 300.0, 40.0, 2);
        let init = box_init(image.dim(), 10);
        let still = LevelSetParams {
            time_step: 0.0,
            ..cv
        };
        assert_eq!(
            chan_vese(image.view(), [1.0; 3], init.view(), &still, false),
            init
        );
    }

    #[test]
    fn non_contiguous_views_match_owned() {
        let truth = two_discs(4);
        let image = noisy(&truth, 300.0, 40.0, 4);
        let init = box_init(truth.dim(), 4);
        let p = LevelSetParams {
            iterations: 20,
            ..LevelSetParams::default()
        };
        let reversed = image.slice(ndarray::s![..;-1, .., ..]);
        let init_rev = init.slice(ndarray::s![..;-1, .., ..]);
        let a = chan_vese(reversed, [1.0; 3], init_rev, &p, false);
        let b = chan_vese(
            reversed.to_owned().view(),
            [1.0; 3],
            init_rev.to_owned().view(),
            &p,
            false,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn deterministic_across_thread_counts() {
        let dim = (12, 36, 36);
        let spacing = [1.5, 0.7, 0.7];
        let truth = sphere(dim, spacing, 7.0);
        let image = noisy(&truth, 300.0, 60.0, 13);
        let init = sphere(dim, spacing, 10.0);
        let seed = sphere(dim, spacing, 3.0);
        let cv = LevelSetParams {
            iterations: 25,
            ..LevelSetParams::default()
        };
        let gac = GacParams {
            iterations: 25,
            ..GacParams::default()
        };
        let run = || {
            (
                chan_vese(image.view(), spacing, init.view(), &cv, false),
                chan_vese(image.view(), spacing, init.view(), &cv, true),
                geodesic_active_contour(image.view(), spacing, seed.view(), &gac, false),
                geodesic_active_contour(image.view(), spacing, seed.view(), &gac, true),
            )
        };
        let one = run_threads(1, run);
        let two = run_threads(2, run);
        let again = run_threads(2, run);
        assert_eq!(one, two);
        assert_eq!(two, again);
    }

    #[test]
    fn nearest_site_lane_matches_brute_force() {
        let mut rng = Rng(99);
        for n in [1usize, 2, 5, 17] {
            for _ in 0..50 {
                let f: Vec<(f64, usize)> = (0..n)
                    .map(|i| {
                        let site = rng.uniform() < 0.3;
                        (
                            if site {
                                (rng.uniform() * 9.0).floor()
                            } else {
                                f64::INFINITY
                            },
                            i,
                        )
                    })
                    .collect();
                let w = 0.5 + rng.uniform() * 3.0;
                let mut got = f.clone();
                nearest_site_lane(&mut got, w);
                for (p, &(got_d, q)) in got.iter().enumerate() {
                    let want = (0..n)
                        .filter(|&q| f[q].0.is_finite())
                        .map(|q| w * (p as f64 - q as f64).powi(2) + f[q].0)
                        .fold(f64::INFINITY, f64::min);
                    if want.is_infinite() {
                        assert!(got_d.is_infinite());
                        continue;
                    }
                    assert!((got_d - want).abs() < 1e-9);
                    // The feature names a site that attains the minimum.
                    assert!((w * (p as f64 - q as f64).powi(2) + f[q].0 - want).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn reinitialise_puts_a_mask_boundary_on_the_voxel_faces() {
        // A box mask on an anisotropic grid: face voxels sit half a spacing from the face.
        let g = Grid::new([8, 8, 8], [2.0, 1.0, 1.0]);
        let inside = |z: usize, y: usize, x: usize| {
            (2..5).contains(&z) && (2..6).contains(&y) && (2..6).contains(&x)
        };
        let mut phi = Vec::new();
        for z in 0..8 {
            for y in 0..8 {
                for x in 0..8 {
                    phi.push(if inside(z, y, x) { -1.0f32 } else { 1.0 });
                }
            }
        }
        reinitialise(&mut phi, &g, Profile::Step);
        let at = |z: usize, y: usize, x: usize| phi[(z * 8 + y) * 8 + x];
        assert_eq!(at(2, 3, 3), -1.0); // below a z face: half of s_z = 2
        assert_eq!(at(1, 3, 3), 1.0);
        assert_eq!(at(3, 3, 2), -0.5); // beside an x face
        assert_eq!(at(3, 3, 1), 0.5);
        assert!((at(3, 3, 0) - 1.5).abs() < 1e-6);
        assert!((at(0, 3, 3) - 3.0).abs() < 1e-6);
    }

    #[test]
    fn reinitialise_keeps_sign_and_crossings() {
        // A tilted plane: φ already a signed distance, so reinitialising must keep it.
        let g = Grid::new([6, 10, 12], [2.0, 1.0, 1.0]);
        let (a, b, c, d): (f64, f64, f64, f64) = (0.3, 0.5, 0.8, -4.1);
        let norm = (a * a + b * b + c * c).sqrt();
        let mut phi = Vec::new();
        for z in 0..6 {
            for y in 0..10 {
                for x in 0..12 {
                    let pos = [z as f64 * 2.0, y as f64, x as f64];
                    phi.push(((a * pos[0] + b * pos[1] + c * pos[2] + d) / norm) as f32);
                }
            }
        }
        let before = phi.clone();
        reinitialise(&mut phi, &g, Profile::Smooth);
        let mut worst = 0.0f32;
        let interior = |i: usize| {
            let (z, y, x) = (i / 120, (i / 12) % 10, i % 12);
            (1..5).contains(&z) && (1..9).contains(&y) && (1..11).contains(&x)
        };
        for (i, (&p, &q)) in before.iter().zip(&phi).enumerate() {
            assert_eq!(p < 0.0, q < 0.0);
            // At the array border the plane continues outside, where nothing can see it.
            if !interior(i) {
                continue;
            }
            let err = (p - q).abs();
            assert!(err < 1e-3, "{p} vs {q}");
            worst = worst.max(if p.abs() < 2.5 { err } else { 0.0 });
        }
        eprintln!("worst band error {worst}");

        // A sphere of radius 6 (anisotropic grid): curved, so approximate but close.
        let g = Grid::new([10, 20, 20], [2.0, 1.0, 1.0]);
        let centre = [9.0, 9.5, 9.7];
        let mut phi = Vec::new();
        for z in 0..10 {
            for y in 0..20 {
                for x in 0..20 {
                    let d = [
                        (z as f64 * 2.0 - centre[0]),
                        y as f64 - centre[1],
                        x as f64 - centre[2],
                    ];
                    phi.push(((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() - 6.0) as f32);
                }
            }
        }
        let before = phi.clone();
        reinitialise(&mut phi, &g, Profile::Smooth);
        let (mut near, mut far) = (0.0f32, 0.0f32);
        for (&p, &q) in before.iter().zip(&phi) {
            assert_eq!(p < 0.0, q < 0.0);
            if p.abs() < 1.5 {
                near = near.max((p - q).abs());
            } else {
                far = far.max((p - q).abs());
            }
        }
        eprintln!("sphere: near {near} far {far}");
        assert!(near < 0.1 && far < 1.0, "near {near} far {far}");
    }
}
