//! Gradient kernels for edge-driven segmentation: Sobel magnitude, Gaussian smoothing and
//! Canny edges, all in HU per millimetre so that thresholds keep their meaning across voxel
//! spacings.
//!
//! Work is split only over independent rows and slices and there are no reductions, so each
//! output voxel is computed by the same arithmetic in the same order whichever thread runs it:
//! results are bit-identical for any rayon thread count. Borders replicate the edge voxel.
//! Spacing is `[slice, row, column]` in mm; a component that is not finite and positive is
//! taken as 1 mm only so that outputs stay finite (callers validate geometry).

use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;
use std::borrow::Cow;

/// Gaussian radius cap in voxels. Only σ of millions of voxels reaches it, where the kernel
/// is flat across any real volume anyway; the cap bounds the kernel set-up loop.
const MAX_GAUSS_RADIUS: usize = 1 << 22;

// Canny voxel classes after non-maximum suppression.
const NONE: u8 = 0;
const WEAK: u8 = 1;
const STRONG: u8 = 2;

/// Non-maximum suppression directions in 2D: canonical (first non-zero component positive)
/// so that the tie-break in [`nms_classify`] always favours the same side of a plateau.
const DIRS_2D: [[isize; 3]; 4] = [[0, 0, 1], [0, 1, 0], [0, 1, 1], [0, 1, -1]];

/// The 13 canonical neighbour directions of the 26-neighbourhood.
const DIRS_3D: [[isize; 3]; 13] = [
    [0, 0, 1],
    [0, 1, 0],
    [1, 0, 0],
    [0, 1, 1],
    [0, 1, -1],
    [1, 0, 1],
    [1, 0, -1],
    [1, 1, 0],
    [1, -1, 0],
    [1, 1, 1],
    [1, 1, -1],
    [1, -1, 1],
    [1, -1, -1],
];

/// Gradient magnitude in HU/mm by 3D Sobel, or by 2D Sobel within each slice when `per_slice`.
pub fn sobel_magnitude(vol: ArrayView3<i16>, spacing: [f64; 3], per_slice: bool) -> Array3<f32> {
    let dim = vol.dim();
    let (nk, nj, ni) = dim;
    let plane = nj * ni;
    if nk == 0 || plane == 0 {
        return Array3::zeros(dim);
    }
    let [hk, hj, hi] = sane_spacing(spacing);
    // A ramp's per-voxel step is weighted by 2 (difference) × 4 per smoothed axis.
    let c = if per_slice {
        [0.0, 1.0 / (8.0 * hj), 1.0 / (8.0 * hi)]
    } else {
        [1.0 / (32.0 * hk), 1.0 / (32.0 * hj), 1.0 / (32.0 * hi)]
    }
    .map(|v| v as f32);
    let d = Dims { nk, nj, ni };
    let src = contiguous(&vol);
    let mut out = vec![0.0f32; nk * plane];
    out.par_chunks_mut(plane).enumerate().for_each_init(
        || SobelScratch::new(ni),
        |scratch, (k, dst)| scratch.slice(&src, d, k, per_slice, c, dst),
    );
    into_array(dim, out)
}

/// Separable Gaussian smoothing with σ in mm; σ ≤ 0 (or NaN) returns the input as f32.
///
/// Each axis's kernel is cut at ⌈3σ/spacing⌉ voxels and normalised to sum 1; `per_slice`
/// smooths rows and columns only.
pub fn gaussian_smooth(
    vol: ArrayView3<i16>,
    spacing: [f64; 3],
    sigma_mm: f64,
    per_slice: bool,
) -> Array3<f32> {
    let dim = vol.dim();
    let data = to_f32(&vol);
    into_array(
        dim,
        smooth(data, dim, sane_spacing(spacing), sigma_mm, per_slice),
    )
}

/// Canny edges: Gaussian smoothing, HU/mm gradient, non-maximum suppression and hysteresis.
///
/// `low` and `high` are gradient magnitudes in HU/mm of the smoothed image. Hysteresis is
/// 8-connected within each slice when `per_slice`, else 26-connected. On a step between two
/// voxels the edge lies on one of them (whichever has the larger smoothed gradient, the
/// lower index on an exact tie).
pub fn canny(
    vol: ArrayView3<i16>,
    spacing: [f64; 3],
    sigma_mm: f64,
    low: f32,
    high: f32,
    per_slice: bool,
) -> Array3<bool> {
    let dim = vol.dim();
    let (nk, nj, ni) = dim;
    let plane = nj * ni;
    if nk == 0 || plane == 0 {
        return Array3::from_elem(dim, false);
    }
    let d = Dims { nk, nj, ni };
    let h = sane_spacing(spacing);
    // Swapped thresholds are taken in the order that keeps strong edges a subset of weak ones;
    // a NaN threshold matches nothing.
    let (lo, hi) = if low <= high {
        (low, high)
    } else {
        (high, low)
    };
    let smoothed = smooth(to_f32(&vol), dim, h, sigma_mm, per_slice);
    let mag = gradient_magnitude(&smoothed, d, h, per_slice);
    let class = nms_classify(&smoothed, &mag, d, h, per_slice, lo, hi);
    drop(mag);
    drop(smoothed);
    let mut edges = vec![false; class.len()];
    if per_slice {
        let offsets = neighbour_offsets(true);
        let slice_dims = Dims { nk: 1, nj, ni };
        edges
            .par_chunks_mut(plane)
            .zip(class.par_chunks(plane))
            .for_each(|(e, c)| hysteresis(c, e, slice_dims, &offsets));
    } else {
        hysteresis(&class, &mut edges, d, &neighbour_offsets(false));
    }
    into_array(dim, edges)
}

/// Volume extents `[slice, row, column]`.
#[derive(Debug, Clone, Copy)]
struct Dims {
    nk: usize,
    nj: usize,
    ni: usize,
}

impl Dims {
    /// `(k, j, i)` of a linear C-order index.
    fn coords(self, idx: usize) -> (usize, usize, usize) {
        let plane = (self.nj * self.ni).max(1);
        let rem = idx % plane;
        let ni = self.ni.max(1);
        (idx / plane, rem / ni, rem % ni)
    }

    /// Linear index of `(k, j, i) + o`, or `None` outside the volume.
    fn neighbour(self, k: usize, j: usize, i: usize, o: [isize; 3]) -> Option<usize> {
        let [dk, dj, di] = o;
        let k = k.checked_add_signed(dk).filter(|&v| v < self.nk)?;
        let j = j.checked_add_signed(dj).filter(|&v| v < self.nj)?;
        let i = i.checked_add_signed(di).filter(|&v| v < self.ni)?;
        Some((k * self.nj + j) * self.ni + i)
    }
}

fn sane_spacing(spacing: [f64; 3]) -> [f64; 3] {
    spacing.map(|h| if h.is_finite() && h > 0.0 { h } else { 1.0 })
}

/// The voxels in C order, borrowed when the view already is C-contiguous.
fn contiguous<'a, T: Copy>(vol: &ArrayView3<'a, T>) -> Cow<'a, [T]> {
    match vol.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(vol.iter().copied().collect()),
    }
}

fn to_f32(vol: &ArrayView3<i16>) -> Vec<f32> {
    match vol.to_slice() {
        Some(s) => s.par_iter().map(|&v| f32::from(v)).collect(),
        None => vol.iter().map(|&v| f32::from(v)).collect(),
    }
}

fn into_array<T: Clone + Default>(dim: (usize, usize, usize), data: Vec<T>) -> Array3<T> {
    // Buffers are built with the shape's length; the fallback only keeps this path panic-free.
    Array3::from_shape_vec(dim, data).unwrap_or_else(|_| Array3::default(dim))
}

/// Row `r` of a buffer of rows of length `len`; empty when out of range, which never happens
/// for the indices used here but keeps every access panic-free.
fn row<T>(buf: &[T], r: usize, len: usize) -> &[T] {
    buf.get(r * len..(r + 1) * len).unwrap_or(&[])
}

fn row_mut<T>(buf: &mut [T], r: usize, len: usize) -> &mut [T] {
    buf.get_mut(r * len..(r + 1) * len).unwrap_or_default()
}

fn tail<T>(buf: &[T], from: usize) -> &[T] {
    buf.get(from..).unwrap_or(&[])
}

/// Rows per band in the Sobel pass: the row sums of three slices over one band stay within
/// a core's L2 cache (about 200 kB for 512 columns), which matters more than the recomputation
/// of each input slice's row sums for its three output slices.
const SOBEL_BAND_ROWS: usize = 16;

/// Per-thread Sobel working rows. All sums are integers (|sum| < 2²¹), so they are exact and
/// the result does not depend on how slices are shared among threads.
struct SobelScratch {
    /// `[1,2,1]` along columns, for up to 3 slices × (band + 2) rows.
    si: Vec<i32>,
    /// `[-1,0,1]` along columns, same layout.
    di: Vec<i32>,
    /// Per source slice (3 rows): smoothed along rows and columns.
    p: Vec<i32>,
    /// Per source slice: differenced along rows, smoothed along columns.
    q: Vec<i32>,
    /// Per source slice: smoothed along rows, differenced along columns.
    r: Vec<i32>,
}

impl SobelScratch {
    fn new(ni: usize) -> Self {
        let band = 3 * (SOBEL_BAND_ROWS + 2) * ni;
        Self {
            si: vec![0; band],
            di: vec![0; band],
            p: vec![0; 3 * ni],
            q: vec![0; 3 * ni],
            r: vec![0; 3 * ni],
        }
    }

    /// Sobel magnitude of output slice `k` into `dst`, band by band.
    fn slice(
        &mut self,
        src: &[i16],
        d: Dims,
        k: usize,
        per_slice: bool,
        c: [f32; 3],
        dst: &mut [f32],
    ) {
        let Dims { nk, nj, ni } = d;
        if ni == 0 || nj == 0 || nk == 0 {
            return;
        }
        let sources = if per_slice {
            vec![k]
        } else {
            vec![k.saturating_sub(1), k, (k + 1).min(nk - 1)]
        };
        let span = SOBEL_BAND_ROWS + 2;
        for (band, dst_band) in dst.chunks_mut(SOBEL_BAND_ROWS * ni).enumerate() {
            let j0 = band * SOBEL_BAND_ROWS;
            let rows = dst_band.len() / ni;
            // Local row r holds source row j0 + r - 1, clamped: replicated borders for free.
            for (sl, &s) in sources.iter().enumerate() {
                for r in 0..rows + 2 {
                    let jj = (j0 + r).saturating_sub(1).min(nj - 1);
                    smooth_diff_row(
                        row(src, s * nj + jj, ni),
                        row_mut(&mut self.si, sl * span + r, ni),
                        row_mut(&mut self.di, sl * span + r, ni),
                    );
                }
            }
            for (jl, out) in dst_band.chunks_mut(ni).enumerate() {
                for sl in 0..sources.len() {
                    let base = sl * span + jl;
                    let s3 = [0, 1, 2].map(|t| row(&self.si, base + t, ni));
                    let d3 = [0, 1, 2].map(|t| row(&self.di, base + t, ni));
                    column_sums(
                        s3,
                        d3,
                        row_mut(&mut self.p, sl, ni),
                        row_mut(&mut self.q, sl, ni),
                        row_mut(&mut self.r, sl, ni),
                        !per_slice,
                    );
                }
                let [ck, cj, ci] = c;
                if per_slice {
                    let (q, r) = (row(&self.q, 0, ni), row(&self.r, 0, ni));
                    for ((o, &q), &r) in out.iter_mut().zip(q).zip(r) {
                        let (gj, gi) = (q as f32 * cj, r as f32 * ci);
                        *o = (gj * gj + gi * gi).sqrt();
                    }
                } else {
                    let [pm, _, pp] = [0, 1, 2].map(|t| row(&self.p, t, ni));
                    let [qm, q0, qp] = [0, 1, 2].map(|t| row(&self.q, t, ni));
                    let [rm, r0, rp] = [0, 1, 2].map(|t| row(&self.r, t, ni));
                    let it = out
                        .iter_mut()
                        .zip(pm.iter().zip(pp))
                        .zip(qm.iter().zip(q0).zip(qp))
                        .zip(rm.iter().zip(r0).zip(rp));
                    for (((o, (&pm, &pp)), ((&qm, &q0), &qp)), ((&rm, &r0), &rp)) in it {
                        let gk = (pp - pm) as f32 * ck;
                        let gj = (qm + 2 * q0 + qp) as f32 * cj;
                        let gi = (rm + 2 * r0 + rp) as f32 * ci;
                        *o = (gk * gk + gj * gj + gi * gi).sqrt();
                    }
                }
            }
        }
    }
}

/// `[1,2,1]` and `[-1,0,1]` across three consecutive rows of column sums.
fn column_sums(
    s: [&[i32]; 3],
    d: [&[i32]; 3],
    p: &mut [i32],
    q: &mut [i32],
    r: &mut [i32],
    with_p: bool,
) {
    let [sm, s0, sp] = s;
    let [dm, d0, dp] = d;
    if with_p {
        for (o, ((&a, &b), &c)) in p.iter_mut().zip(sm.iter().zip(s0).zip(sp)) {
            *o = a + 2 * b + c;
        }
    }
    for (o, (&a, &c)) in q.iter_mut().zip(sm.iter().zip(sp)) {
        *o = c - a;
    }
    for (o, ((&a, &b), &c)) in r.iter_mut().zip(dm.iter().zip(d0).zip(dp)) {
        *o = a + 2 * b + c;
    }
}

/// `[1,2,1]` and `[-1,0,1]` along one row, replicating the end voxels.
fn smooth_diff_row(src: &[i16], s: &mut [i32], d: &mut [i32]) {
    let n = src.len();
    let at = |x: usize| src.get(x).map_or(0, |&v| i32::from(v));
    if n < 2 {
        for ((s, d), &v) in s.iter_mut().zip(d.iter_mut()).zip(src) {
            *s = 4 * i32::from(v);
            *d = 0;
        }
        return;
    }
    for ((s, d), w) in s
        .iter_mut()
        .skip(1)
        .zip(d.iter_mut().skip(1))
        .zip(src.windows(3))
    {
        if let [a, b, c] = *w {
            let (a, b, c) = (i32::from(a), i32::from(b), i32::from(c));
            *s = a + 2 * b + c;
            *d = c - a;
        }
    }
    let (a, b) = (at(0), at(1));
    if let (Some(s), Some(d)) = (s.first_mut(), d.first_mut()) {
        *s = 3 * a + b;
        *d = b - a;
    }
    let (a, b) = (at(n - 2), at(n - 1));
    if let (Some(s), Some(d)) = (s.last_mut(), d.last_mut()) {
        *s = a + 3 * b;
        *d = b - a;
    }
}

/// Half of a normalised Gaussian (`w[0]` centre), cut at ⌈3σ/h⌉. Taps past `n - 1` always
/// hit the replicated border voxel, so they are folded into the last tap: same result, and
/// kernels never outgrow the line.
fn gauss_kernel(sigma_mm: f64, h: f64, n: usize) -> Vec<f32> {
    let r = (3.0 * sigma_mm / h).ceil();
    let r = if r.is_finite() && r >= 0.0 && r < MAX_GAUSS_RADIUS as f64 {
        r as usize
    } else {
        MAX_GAUSS_RADIUS
    };
    let kept = r.min(n.saturating_sub(1));
    let mut w = vec![0.0f64; kept + 1];
    let mut total = 0.0f64;
    for t in 0..=r {
        let x = t as f64 * h / sigma_mm;
        // libm: the same bits on every platform (the output is hashed and replayed).
        let wt = libm::exp(-0.5 * x * x);
        total += if t == 0 { wt } else { 2.0 * wt };
        if let Some(slot) = w.get_mut(t.min(kept)) {
            *slot += wt;
        }
    }
    if !(total.is_finite() && total > 0.0) {
        return vec![1.0];
    }
    w.iter().map(|&v| (v / total) as f32).collect()
}

fn smooth(
    data: Vec<f32>,
    dim: (usize, usize, usize),
    h: [f64; 3],
    sigma_mm: f64,
    per_slice: bool,
) -> Vec<f32> {
    let (nk, nj, ni) = dim;
    if data.is_empty() || sigma_mm.is_nan() || sigma_mm <= 0.0 {
        return data;
    }
    let mut cur = data;
    let mut tmp = vec![0.0f32; cur.len()];
    // A one-tap kernel is exactly 1.0, so skipping its pass changes nothing.
    let w = gauss_kernel(sigma_mm, h[2], ni);
    if w.len() > 1 {
        convolve_rows(&cur, &mut tmp, ni, &w);
        std::mem::swap(&mut cur, &mut tmp);
    }
    let w = gauss_kernel(sigma_mm, h[1], nj);
    if w.len() > 1 {
        convolve_across(&cur, &mut tmp, ni, 1, nj, &w);
        std::mem::swap(&mut cur, &mut tmp);
    }
    if !per_slice {
        let w = gauss_kernel(sigma_mm, h[0], nk);
        if w.len() > 1 {
            convolve_across(&cur, &mut tmp, ni, nj, nk, &w);
            std::mem::swap(&mut cur, &mut tmp);
        }
    }
    cur
}

/// Symmetric convolution along the contiguous axis, through a padded copy of each row so the
/// inner loops need no border tests.
fn convolve_rows(src: &[f32], dst: &mut [f32], ni: usize, w: &[f32]) {
    if ni == 0 {
        return;
    }
    let r = w.len().saturating_sub(1);
    let w0 = w.first().copied().unwrap_or(1.0);
    dst.par_chunks_mut(ni)
        .zip(src.par_chunks(ni))
        .for_each_init(
            || vec![0.0f32; ni + 2 * r],
            |pad, (out, line)| {
                let first = line.first().copied().unwrap_or(0.0);
                let last = line.last().copied().unwrap_or(0.0);
                let padded = std::iter::repeat_n(first, r)
                    .chain(line.iter().copied())
                    .chain(std::iter::repeat(last));
                for (p, v) in pad.iter_mut().zip(padded) {
                    *p = v;
                }
                for (o, &c) in out.iter_mut().zip(tail(pad, r)) {
                    *o = w0 * c;
                }
                for (t, &wt) in w.iter().enumerate().skip(1) {
                    for ((o, &a), &b) in out.iter_mut().zip(tail(pad, r - t)).zip(tail(pad, r + t))
                    {
                        *o += wt * (a + b);
                    }
                }
            },
        );
}

/// Symmetric convolution along a non-contiguous axis whose consecutive voxels are `stride`
/// rows apart over `len` positions (rows: stride 1; slices: stride = rows per slice).
fn convolve_across(src: &[f32], dst: &mut [f32], ni: usize, stride: usize, len: usize, w: &[f32]) {
    if ni == 0 || len == 0 {
        return;
    }
    let stride = stride.max(1);
    let w0 = w.first().copied().unwrap_or(1.0);
    dst.par_chunks_mut(ni).enumerate().for_each(|(ro, out)| {
        let p = (ro / stride) % len;
        let base = ro - p * stride;
        let at = |q: usize| row(src, base + q.min(len - 1) * stride, ni);
        for (o, &c) in out.iter_mut().zip(at(p)) {
            *o = w0 * c;
        }
        for (t, &wt) in w.iter().enumerate().skip(1) {
            let (a, b) = (at(p.saturating_sub(t)), at(p + t));
            for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                *o += wt * (a + b);
            }
        }
    });
}

/// One row's gradient components in HU/mm.
struct GradRow {
    k: Vec<f32>,
    j: Vec<f32>,
    i: Vec<f32>,
}

impl GradRow {
    fn new(ni: usize) -> Self {
        Self {
            k: vec![0.0; ni],
            j: vec![0.0; ni],
            i: vec![0.0; ni],
        }
    }

    /// Central differences of row `ro` (= k·nj + j) with replicated borders.
    fn compute(&mut self, s: &[f32], d: Dims, c: [f32; 3], per_slice: bool, ro: usize) {
        let (ni, nj, nk) = (d.ni, d.nj.max(1), d.nk.max(1));
        let (k, j) = (ro / nj, ro % nj);
        let slice_row = |kk: usize, jj: usize| row(s, kk * nj + jj, ni);
        if per_slice {
            self.k.fill(0.0);
        } else {
            let (km, kp) = (k.saturating_sub(1), (k + 1).min(nk - 1));
            diff_rows(slice_row(km, j), slice_row(kp, j), &mut self.k, c[0]);
        }
        let (jm, jp) = (j.saturating_sub(1), (j + 1).min(nj - 1));
        diff_rows(slice_row(k, jm), slice_row(k, jp), &mut self.j, c[1]);
        central_diff(slice_row(k, j), &mut self.i, c[2]);
    }
}

fn diff_rows(a: &[f32], b: &[f32], out: &mut [f32], c: f32) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = (b - a) * c;
    }
}

fn central_diff(line: &[f32], out: &mut [f32], c: f32) {
    let n = line.len();
    if n < 2 {
        out.fill(0.0);
        return;
    }
    for (o, w) in out.iter_mut().skip(1).zip(line.windows(3)) {
        if let [a, _, b] = *w {
            *o = (b - a) * c;
        }
    }
    if let (Some(o), Some(&a), Some(&b)) = (out.first_mut(), line.first(), line.get(1)) {
        *o = (b - a) * c;
    }
    if let (Some(o), Some(&a), Some(&b)) = (out.last_mut(), line.get(n - 2), line.last()) {
        *o = (b - a) * c;
    }
}

fn gradient_magnitude(s: &[f32], d: Dims, h: [f64; 3], per_slice: bool) -> Vec<f32> {
    let c = h.map(|h| (0.5 / h) as f32);
    let mut mag = vec![0.0f32; s.len()];
    if d.ni == 0 {
        return mag;
    }
    mag.par_chunks_mut(d.ni).enumerate().for_each_init(
        || GradRow::new(d.ni),
        |g, (ro, out)| {
            g.compute(s, d, c, per_slice, ro);
            let comps = g.k.iter().zip(&g.j).zip(&g.i);
            for (o, ((&a, &b), &cc)) in out.iter_mut().zip(comps) {
                *o = (a * a + b * b + cc * cc).sqrt();
            }
        },
    );
    mag
}

/// A suppression direction with its physical offset, so anisotropic voxels pick the
/// neighbour that is truly closest to the gradient direction.
struct Dir {
    o: [isize; 3],
    p: [f32; 3],
    inv_norm2: f32,
}

fn directions(h: [f64; 3], per_slice: bool) -> Vec<Dir> {
    let set: &[[isize; 3]] = if per_slice { &DIRS_2D } else { &DIRS_3D };
    set.iter()
        .map(|&o| {
            let ([dk, dj, di], [hk, hj, hi]) = (o, h);
            let p = [dk as f64 * hk, dj as f64 * hj, di as f64 * hi].map(|v| v as f32);
            let n2 = p.iter().map(|v| v * v).sum::<f32>();
            Dir {
                o,
                p,
                inv_norm2: if n2 > 0.0 { 1.0 / n2 } else { 0.0 },
            }
        })
        .collect()
}

/// The listed direction with the smallest angle to `g`; ties go to the earlier entry.
fn best_direction(dirs: &[Dir], g: [f32; 3]) -> [isize; 3] {
    let mut best = [0, 0, 1];
    let mut best_score = f32::NEG_INFINITY;
    for d in dirs {
        let dot = d.p[0] * g[0] + d.p[1] * g[1] + d.p[2] * g[2];
        let score = dot * dot * d.inv_norm2;
        if score > best_score {
            best_score = score;
            best = d.o;
        }
    }
    best
}

fn is_candidate(m: f32, lo: f32) -> bool {
    m > 0.0 && m >= lo
}

/// Non-maximum suppression and thresholding. A voxel survives if its magnitude is strictly
/// above the neighbour behind it and at least the one ahead along the canonical direction:
/// the asymmetry keeps exactly one voxel of a two-voxel plateau (a step between voxels).
/// Neighbours outside the volume count as 0, the gradient of the replicated border.
fn nms_classify(
    s: &[f32],
    mag: &[f32],
    d: Dims,
    h: [f64; 3],
    per_slice: bool,
    lo: f32,
    hi: f32,
) -> Vec<u8> {
    let c = h.map(|h| (0.5 / h) as f32);
    let dirs = directions(h, per_slice);
    let mut class = vec![NONE; mag.len()];
    if d.ni == 0 {
        return class;
    }
    let nj = d.nj.max(1);
    class
        .par_chunks_mut(d.ni)
        .zip(mag.par_chunks(d.ni))
        .enumerate()
        .for_each_init(
            || GradRow::new(d.ni),
            |g, (ro, (cls, mrow))| {
                if !mrow.iter().any(|&m| is_candidate(m, lo)) {
                    return;
                }
                g.compute(s, d, c, per_slice, ro);
                let (k, j) = (ro / nj, ro % nj);
                let comps = g.k.iter().zip(&g.j).zip(&g.i);
                for (i, ((cl, &m), ((&gk, &gj), &gi))) in
                    cls.iter_mut().zip(mrow).zip(comps).enumerate()
                {
                    if !is_candidate(m, lo) {
                        continue;
                    }
                    let o = best_direction(&dirs, [gk, gj, gi]);
                    let at = |o: [isize; 3]| {
                        d.neighbour(k, j, i, o)
                            .and_then(|q| mag.get(q))
                            .copied()
                            .unwrap_or(0.0)
                    };
                    let ahead = at(o);
                    let behind = at(o.map(|v| -v));
                    if m > behind && m >= ahead {
                        *cl = if m >= hi { STRONG } else { WEAK };
                    }
                }
            },
        );
    class
}

/// Offsets of the 8-neighbourhood within a slice, or of the 26-neighbourhood.
fn neighbour_offsets(in_plane: bool) -> Vec<[isize; 3]> {
    let ks: &[isize] = if in_plane { &[0] } else { &[-1, 0, 1] };
    let mut v = Vec::with_capacity(26);
    for &dk in ks {
        for dj in -1..=1 {
            for di in -1..=1 {
                if (dk, dj, di) != (0, 0, 0) {
                    v.push([dk, dj, di]);
                }
            }
        }
    }
    v
}

/// Marks weak and strong voxels connected to a strong one. The result is a set of connected
/// components, so it does not depend on traversal order; an explicit stack avoids recursion
/// depth limits on long edges.
fn hysteresis(class: &[u8], out: &mut [bool], d: Dims, offsets: &[[isize; 3]]) {
    let mut stack = Vec::new();
    for (idx, &c) in class.iter().enumerate() {
        if c != STRONG {
            continue;
        }
        match out.get_mut(idx) {
            Some(e) if !*e => *e = true,
            _ => continue,
        }
        stack.push(idx);
        while let Some(p) = stack.pop() {
            let (k, j, i) = d.coords(p);
            for &o in offsets {
                let Some(q) = d.neighbour(k, j, i, o) else {
                    continue;
                };
                if class.get(q).copied().unwrap_or(NONE) == NONE {
                    continue;
                }
                if let Some(e) = out.get_mut(q) {
                    if !*e {
                        *e = true;
                        stack.push(q);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn ramp(dim: (usize, usize, usize), axis: usize, step: i16) -> Array3<i16> {
        Array3::from_shape_fn(dim, |(k, j, i)| [k, j, i][axis] as i16 * step)
    }

    /// Values at least `m` voxels from every border.
    fn interior<T: Copy>(a: &Array3<T>, m: usize) -> Vec<T> {
        let (nk, nj, ni) = a.dim();
        a.slice(s![m..nk - m, m..nj - m, m..ni - m])
            .iter()
            .copied()
            .collect()
    }

    /// Deterministic pseudo-random CT-like volume: a bright block and a sphere on noise.
    fn phantom(dim: (usize, usize, usize)) -> Array3<i16> {
        let mut state = 0x2545_f491_u32;
        Array3::from_shape_fn(dim, |(k, j, i)| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let noise = (state % 41) as i16 - 20;
            let (dk, dj, di) = (k as f64 - 4.0, j as f64 - 15.0, i as f64 - 18.0);
            let base = if dk * dk * 4.0 + dj * dj + di * di < 81.0 {
                700
            } else if i > 28 {
                -1000
            } else {
                40
            };
            base + noise
        })
    }

    fn in_pool<T: Send>(
        threads: usize,
        f: impl FnOnce() -> T + Send,
    ) -> Result<T, Box<dyn std::error::Error>> {
        Ok(rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?
            .install(f))
    }

    fn bits(a: &Array3<f32>) -> Vec<u32> {
        a.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn sobel_3d_ramp_along_each_axis_is_exact_in_interior() {
        let spacing = [2.0, 0.25, 0.5];
        // Per-voxel steps chosen so each slope is exact: 10/2, 3/0.25, 2/0.5 HU/mm.
        for (axis, step, slope) in [(0, 10, 5.0f32), (1, 3, 12.0), (2, 2, 4.0)] {
            let vol = ramp((6, 7, 8), axis, step);
            let g = sobel_magnitude(vol.view(), spacing, false);
            assert!(interior(&g, 1).iter().all(|&v| v == slope), "axis {axis}");
        }
    }

    /// Sobel straight from the definition: 27 (or 9) clamped taps per voxel, in f64.
    fn naive_sobel(vol: &Array3<i16>, h: [f64; 3], per_slice: bool) -> Array3<f64> {
        let (nk, nj, ni) = vol.dim();
        let at = |k: isize, j: isize, i: isize| {
            let c = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
            f64::from(vol[[c(k, nk), c(j, nj), c(i, ni)]])
        };
        Array3::from_shape_fn(vol.dim(), |(k, j, i)| {
            let (k, j, i) = (k as isize, j as isize, i as isize);
            let mut g = [0.0f64; 3];
            let ks: &[isize] = if per_slice { &[0] } else { &[-1, 0, 1] };
            for &a in ks {
                for b in -1..=1isize {
                    for c in -1..=1isize {
                        let v = at(k + a, j + b, i + c);
                        let w = |t: isize| if t == 0 { 2.0 } else { 1.0 };
                        let (wk, wj, wi) = if per_slice {
                            (1.0, w(b), w(c))
                        } else {
                            (w(a), w(b), w(c))
                        };
                        g[0] += a as f64 * wj * wi * v;
                        g[1] += b as f64 * wk * wi * v;
                        g[2] += c as f64 * wk * wj * v;
                    }
                }
            }
            let norm = if per_slice { 8.0 } else { 32.0 };
            let g = [0, 1, 2].map(|a| g[a] / (norm * h[a]));
            if per_slice {
                (g[1] * g[1] + g[2] * g[2]).sqrt()
            } else {
                (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]).sqrt()
            }
        })
    }

    #[test]
    fn sobel_matches_definition_across_bands_and_borders() {
        // 37 rows span three row bands, including a short last one.
        let vol = phantom((5, 37, 23));
        let h = [1.5, 0.45, 0.7];
        for per_slice in [false, true] {
            let fast = sobel_magnitude(vol.view(), h, per_slice);
            let slow = naive_sobel(&vol, h, per_slice);
            for (a, b) in fast.iter().zip(slow.iter()) {
                assert!((f64::from(*a) - b).abs() <= 1e-5 * b.max(1.0), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn sobel_ramp_with_non_dyadic_spacing_is_accurate() {
        let spacing = [1.0, 0.45, 0.45];
        let vol = ramp((5, 9, 9), 2, 9);
        let expected = 9.0 / 0.45;
        for per_slice in [false, true] {
            let g = sobel_magnitude(vol.view(), spacing, per_slice);
            assert!(
                interior(&g, 1)
                    .iter()
                    .all(|&v| ((v as f64 - expected) / expected).abs() < 1e-6)
            );
        }
    }

    #[test]
    fn sobel_per_slice_ramp_in_plane_and_blind_across_slices() {
        let spacing = [3.0, 0.5, 0.25];
        let along_rows = sobel_magnitude(ramp((3, 6, 6), 1, 1).view(), spacing, true);
        assert!(interior(&along_rows, 1).iter().all(|&v| v == 2.0));
        let along_cols = sobel_magnitude(ramp((3, 6, 6), 2, 1).view(), spacing, true);
        assert!(interior(&along_cols, 1).iter().all(|&v| v == 4.0));
        let across = sobel_magnitude(ramp((4, 5, 5), 0, 100).view(), spacing, true);
        assert!(across.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn sobel_anisotropic_slice_axis_ramp() {
        // 10 HU per slice at 2 mm slices is 5 HU/mm whatever the in-plane spacing.
        let vol = ramp((6, 5, 5), 0, 10);
        let g = sobel_magnitude(vol.view(), [2.0, 0.45, 0.45], false);
        assert!(interior(&g, 1).iter().all(|&v| v == 5.0));
    }

    #[test]
    fn sobel_constant_volume_is_zero() {
        let vol = Array3::from_elem((4, 5, 6), 123i16);
        for per_slice in [false, true] {
            let g = sobel_magnitude(vol.view(), [1.0, 0.5, 0.5], per_slice);
            assert!(g.iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn sobel_extreme_values_do_not_overflow() {
        let vol = Array3::from_shape_fn((3, 4, 4), |(k, j, i)| {
            if (k + j + i) % 2 == 0 {
                i16::MIN
            } else {
                i16::MAX
            }
        });
        for per_slice in [false, true] {
            let g = sobel_magnitude(vol.view(), [1.0, 1.0, 1.0], per_slice);
            assert!(g.iter().all(|v| v.is_finite() && *v >= 0.0));
        }
    }

    #[test]
    fn gaussian_nonpositive_sigma_returns_input() {
        let vol = phantom((3, 8, 9));
        let want = vol.mapv(f32::from);
        for sigma in [0.0, -1.0, f64::NAN] {
            for per_slice in [false, true] {
                let g = gaussian_smooth(vol.view(), [1.0, 1.0, 1.0], sigma, per_slice);
                assert_eq!(g, want);
            }
        }
    }

    #[test]
    fn gaussian_impulse_spreads_exactly_to_radius_per_axis() {
        // Radii ⌈3σ/h⌉ with σ = 1 mm: 2 slices, 6 rows, 3 columns.
        let spacing = [1.5, 0.5, 1.0];
        let mut vol = Array3::zeros((9, 17, 11));
        vol[[4, 8, 5]] = 10000i16;
        let g = gaussian_smooth(vol.view(), spacing, 1.0, false);
        let extent = |axis: usize| {
            g.indexed_iter()
                .filter(|(_, v)| **v != 0.0)
                .map(|((k, j, i), _)| [k as isize - 4, j as isize - 8, i as isize - 5][axis].abs())
                .max()
        };
        assert_eq!(
            [extent(0), extent(1), extent(2)],
            [Some(2), Some(6), Some(3)]
        );
        let total: f64 = g.iter().map(|&v| f64::from(v)).sum();
        assert!((total - 10000.0).abs() < 0.1);
        // Symmetric kernel: mirror images agree exactly.
        assert_eq!(g[[3, 8, 5]], g[[5, 8, 5]]);
        assert_eq!(g[[4, 5, 5]], g[[4, 11, 5]]);
        assert_eq!(g[[4, 8, 3]], g[[4, 8, 7]]);
        let flat = gaussian_smooth(vol.view(), spacing, 1.0, true);
        assert!(
            flat.indexed_iter()
                .all(|((k, _, _), v)| k == 4 || *v == 0.0)
        );
    }

    #[test]
    fn gaussian_matches_definition() {
        // Slice radius 4 on a 3-slice axis: the folded border taps are exercised too.
        let vol = phantom((3, 19, 13));
        let h = [1.0, 0.45, 0.8];
        let sigma = 1.1;
        for per_slice in [false, true] {
            let fast = gaussian_smooth(vol.view(), h, sigma, per_slice);
            // One f64 pass per axis with clamped taps out to ⌈3σ/h⌉.
            let mut slow = vol.mapv(f64::from);
            let axes: &[usize] = if per_slice { &[1, 2] } else { &[0, 1, 2] };
            for &axis in axes {
                let r = (3.0 * sigma / h[axis]).ceil() as isize;
                let w: Vec<f64> = (-r..=r)
                    .map(|t| libm::exp(-0.5 * (t as f64 * h[axis] / sigma).powi(2)))
                    .collect();
                let total: f64 = w.iter().sum();
                let n = slow.dim();
                let len = [n.0, n.1, n.2][axis] as isize;
                let prev = slow.clone();
                slow = Array3::from_shape_fn(n, |(k, j, i)| {
                    let mut acc = 0.0;
                    for (t, wt) in (-r..=r).zip(&w) {
                        let mut p = [k, j, i];
                        p[axis] = ([k, j, i][axis] as isize + t).clamp(0, len - 1) as usize;
                        acc += wt * prev[p];
                    }
                    acc / total
                });
            }
            for (a, b) in fast.iter().zip(slow.iter()) {
                assert!((f64::from(*a) - b).abs() < 1e-3, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn gaussian_preserves_constant_and_linear_interior() {
        let c = gaussian_smooth(
            Array3::from_elem((4, 6, 7), -1000i16).view(),
            [1.0, 0.7, 0.7],
            1.2,
            false,
        );
        assert!(c.iter().all(|&v| (v + 1000.0).abs() < 1e-2));
        // Radius 2 along columns (σ 0.6 mm, h 1 mm): symmetric taps keep a ramp's interior.
        let r = gaussian_smooth(ramp((2, 3, 12), 2, 7).view(), [1.0, 1.0, 1.0], 0.6, true);
        for i in 2..10 {
            assert!((r[[1, 1, i]] - 7.0 * i as f32).abs() < 1e-3);
        }
    }

    #[test]
    fn gaussian_wide_kernel_on_short_lines_folds_border() {
        // Folded taps equal replication: a 1-voxel axis is untouched by any σ.
        let vol = phantom((1, 6, 5));
        let g = gaussian_smooth(vol.view(), [0.5, 10.0, 10.0], 2.0, false);
        let in_plane_only = gaussian_smooth(vol.view(), [0.5, 10.0, 10.0], 2.0, true);
        assert_eq!(g, in_plane_only);
        // With an effectively infinite σ nearly all weight folds onto both ends of each line,
        // so every voxel tends to the mean of the slice's four corners.
        let huge = gaussian_smooth(vol.view(), [1.0, 1.0, 1.0], 1e12, false);
        let corners = [(0, 0), (0, 4), (5, 0), (5, 4)];
        let mean = corners
            .iter()
            .map(|&(j, i)| f32::from(vol[[0, j, i]]))
            .sum::<f32>()
            / 4.0;
        assert!(
            huge.iter().all(|&v| (v - mean).abs() < 0.05),
            "{huge:?} vs {mean}"
        );
    }

    fn step_volume(dim: (usize, usize, usize), axis: usize, at: usize) -> Array3<i16> {
        Array3::from_shape_fn(dim, |(k, j, i)| if [k, j, i][axis] >= at { 300 } else { 0 })
    }

    /// Every line along `axis` has exactly one edge voxel, all at the same position, which
    /// is one of the two voxels either side of the step.
    fn assert_single_line(e: &Array3<bool>, axis: usize, at: usize) {
        let mut positions = Vec::new();
        for line in e.lanes(ndarray::Axis(axis)) {
            let hits: Vec<usize> = line
                .iter()
                .enumerate()
                .filter(|(_, v)| **v)
                .map(|(p, _)| p)
                .collect();
            assert_eq!(hits.len(), 1, "line {line:?}");
            positions.extend(hits);
        }
        let first = positions.first().copied();
        assert!(positions.iter().all(|&p| Some(p) == first));
        assert!(first == Some(at - 1) || first == Some(at), "{first:?}");
    }

    #[test]
    fn canny_step_is_one_voxel_thick_per_slice() {
        let spacing = [2.5, 0.5, 0.5];
        let e = canny(
            step_volume((3, 12, 16), 2, 8).view(),
            spacing,
            1.0,
            10.0,
            30.0,
            true,
        );
        assert_single_line(&e, 2, 8);
        let e = canny(
            step_volume((2, 14, 9), 1, 6).view(),
            spacing,
            1.0,
            10.0,
            30.0,
            true,
        );
        assert_single_line(&e, 1, 6);
    }

    #[test]
    fn canny_step_is_one_voxel_thick_in_3d() {
        let spacing = [2.0, 0.5, 0.5];
        for (dim, axis, at) in [((6, 10, 16), 2, 8), ((6, 13, 7), 1, 5), ((10, 6, 5), 0, 5)] {
            let e = canny(
                step_volume(dim, axis, at).view(),
                spacing,
                1.0,
                10.0,
                30.0,
                false,
            );
            assert_single_line(&e, axis, at);
        }
    }

    #[test]
    fn canny_edge_with_middle_voxel_is_at_that_voxel() {
        let vol = Array3::from_shape_fn((3, 8, 11), |(_, _, i)| match i {
            0..5 => 0i16,
            5 => 150,
            _ => 300,
        });
        let e = canny(vol.view(), [1.0, 1.0, 1.0], 0.8, 5.0, 20.0, false);
        assert!(e.indexed_iter().all(|((_, _, i), &v)| v == (i == 5)));
    }

    #[test]
    fn canny_constant_and_unreachable_thresholds_give_no_edges() {
        let c = Array3::from_elem((4, 6, 6), 40i16);
        for per_slice in [false, true] {
            assert!(
                !canny(c.view(), [1.0; 3], 1.0, 0.0, 0.0, per_slice)
                    .iter()
                    .any(|&v| v)
            );
            let step = step_volume((4, 8, 10), 2, 5);
            let e = canny(step.view(), [1.0; 3], 1.0, 1e6, 2e6, per_slice);
            assert!(!e.iter().any(|&v| v));
            let e = canny(step.view(), [1.0; 3], 1.0, f32::NAN, 20.0, per_slice);
            assert!(!e.iter().any(|&v| v));
        }
    }

    #[test]
    fn canny_swapped_thresholds_match_ordered() {
        let vol = phantom((6, 30, 36));
        let a = canny(vol.view(), [1.0, 0.7, 0.7], 1.0, 20.0, 60.0, false);
        let b = canny(vol.view(), [1.0, 0.7, 0.7], 1.0, 60.0, 20.0, false);
        assert_eq!(a, b);
        assert!(a.iter().any(|&v| v));
    }

    #[test]
    fn hysteresis_keeps_weak_only_when_connected_to_strong() {
        let d = Dims {
            nk: 2,
            nj: 5,
            ni: 5,
        };
        let mut class = vec![NONE; 50];
        let at = |k: usize, j: usize, i: usize| (k * 5 + j) * 5 + i;
        class[at(0, 0, 0)] = STRONG;
        class[at(0, 1, 1)] = WEAK;
        class[at(0, 2, 2)] = WEAK;
        class[at(0, 4, 0)] = WEAK;
        // Reachable only through the slice diagonal: 26-connected, not 8-connected in-plane.
        class[at(1, 3, 3)] = WEAK;
        let mut out3 = vec![false; 50];
        hysteresis(&class, &mut out3, d, &neighbour_offsets(false));
        let mut out2 = vec![false; 50];
        for (o, c) in out2.chunks_mut(25).zip(class.chunks(25)) {
            hysteresis(
                c,
                o,
                Dims {
                    nk: 1,
                    nj: 5,
                    ni: 5,
                },
                &neighbour_offsets(true),
            );
        }
        let on = |v: &[bool]| {
            v.iter()
                .enumerate()
                .filter(|(_, b)| **b)
                .map(|(p, _)| p)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            on(&out3),
            vec![at(0, 0, 0), at(0, 1, 1), at(0, 2, 2), at(1, 3, 3)]
        );
        assert_eq!(on(&out2), vec![at(0, 0, 0), at(0, 1, 1), at(0, 2, 2)]);
    }

    #[test]
    fn outputs_are_identical_for_any_thread_count() -> TestResult {
        let vol = phantom((11, 33, 40));
        let spacing = [1.25, 0.45, 0.45];
        for per_slice in [false, true] {
            let run = || {
                (
                    sobel_magnitude(vol.view(), spacing, per_slice),
                    gaussian_smooth(vol.view(), spacing, 1.0, per_slice),
                    canny(vol.view(), spacing, 0.8, 30.0, 90.0, per_slice),
                )
            };
            let (s1, g1, c1) = in_pool(1, run)?;
            for threads in [2, 3] {
                let (s, g, c) = in_pool(threads, run)?;
                assert_eq!(bits(&s1), bits(&s));
                assert_eq!(bits(&g1), bits(&g));
                assert_eq!(c1, c);
            }
            assert!(c1.iter().any(|&v| v));
        }
        Ok(())
    }

    #[test]
    fn non_contiguous_views_match_owned_copies() {
        let vol = phantom((5, 12, 14));
        let view = vol.slice(s![..;-1, 1..11, ..;2]);
        let owned = view.to_owned();
        let spacing = [1.0, 0.6, 0.6];
        for per_slice in [false, true] {
            assert_eq!(
                bits(&sobel_magnitude(view, spacing, per_slice)),
                bits(&sobel_magnitude(owned.view(), spacing, per_slice))
            );
            assert_eq!(
                bits(&gaussian_smooth(view, spacing, 0.9, per_slice)),
                bits(&gaussian_smooth(owned.view(), spacing, 0.9, per_slice))
            );
            assert_eq!(
                canny(view, spacing, 0.9, 20.0, 60.0, per_slice),
                canny(owned.view(), spacing, 0.9, 20.0, 60.0, per_slice)
            );
        }
    }

    #[test]
    fn tiny_and_empty_shapes_work() {
        let shapes = [
            (0, 0, 0),
            (0, 4, 4),
            (3, 0, 2),
            (2, 3, 0),
            (1, 1, 1),
            (1, 1, 7),
            (1, 7, 1),
            (7, 1, 1),
            (2, 2, 2),
            (1, 5, 6),
        ];
        for dim in shapes {
            let vol = phantom(dim);
            for per_slice in [false, true] {
                let s = sobel_magnitude(vol.view(), [1.0, 0.5, 0.5], per_slice);
                let g = gaussian_smooth(vol.view(), [1.0, 0.5, 0.5], 1.5, per_slice);
                let c = canny(vol.view(), [1.0, 0.5, 0.5], 1.0, 1.0, 5.0, per_slice);
                assert_eq!((s.dim(), g.dim(), c.dim()), (dim, dim, dim));
                assert!(s.iter().chain(g.iter()).all(|v| v.is_finite()));
                let flat = Array3::from_elem(dim, 7i16);
                let z = sobel_magnitude(flat.view(), [1.0, 0.5, 0.5], per_slice);
                assert!(z.iter().all(|&v| v == 0.0));
            }
        }
        let one = Array3::from_elem((1, 1, 1), 55i16);
        assert_eq!(
            gaussian_smooth(one.view(), [1.0; 3], 3.0, false)[[0, 0, 0]],
            55.0
        );
        assert!(!canny(one.view(), [1.0; 3], 1.0, 0.0, 0.0, false)[[0, 0, 0]]);
    }

    #[test]
    fn invalid_spacing_and_sigma_stay_finite() {
        let vol = phantom((4, 9, 9));
        let bad = [0.0, -1.0, f64::NAN];
        for per_slice in [false, true] {
            let s = sobel_magnitude(vol.view(), bad, per_slice);
            assert!(s.iter().all(|v| v.is_finite()));
            assert_eq!(s, sobel_magnitude(vol.view(), [1.0; 3], per_slice));
            for sigma in [f64::INFINITY, 1e-300, 4.0] {
                let g = gaussian_smooth(vol.view(), bad, sigma, per_slice);
                assert!(g.iter().all(|v| v.is_finite()));
                let _ = canny(vol.view(), bad, sigma, 10.0, 20.0, per_slice);
            }
        }
    }
}
