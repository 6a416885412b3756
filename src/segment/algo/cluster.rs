//! Intensity clustering of CT volumes: k-means, fuzzy c-means and joint intensity/gradient
//! k-means, all computed on exact integer histograms.
//!
//! HU values are integers, so clustering the histogram (at most 65 536 occupied bins) gives
//! exactly the answer of clustering every voxel, at a tiny fraction of the cost. The only
//! passes over the voxels are the histogram (integer counts, exact in any order) and the
//! final label lookup (one table entry per HU value), so results are bit-identical for any
//! rayon thread count.
//!
//! # Common behaviour
//! - Initial centres: k-means++ on the histogram (weights `count × distance²`) with a
//!   SplitMix64 generator seeded by `seed`; nothing else is random.
//! - Centres are sorted ascending by HU before labelling, so label 0 is the darkest cluster
//!   and the output does not depend on the initialisation order; equidistant values go to
//!   the lower centre.
//! - `k` is clamped to `1..=255` (label 255 is [`OUTSIDE_LABEL`]) and to the number of
//!   distinct values in the region, so `centers.len()` may be smaller than `k`.
//! - Voxels outside `region` get [`OUTSIDE_LABEL`]. A `region` (or `gradient`) whose shape
//!   differs from the image's, an empty region or an empty image give no clusters: empty
//!   `centers`, every label [`OUTSIDE_LABEL`], `iterations_run` 0.
//! - `iterations_run` counts centre updates; k-means stops when no histogram bin changes
//!   cluster, fuzzy c-means when no centre moves by more than `tolerance` HU.
//!
//! # Fuzzy c-means
//! `m` is the fuzzifier (2.0 is usual); it is clamped to `[1.01, 50]`, NaN/infinite → 2.0.
//! `tolerance` is in HU (negative/NaN → 0: run to a fixed point or `max_iter`). Hard labels
//! are the highest membership, which is always the nearest centre.
//!
//! # Intensity + gradient k-means
//! `gradient` is a gradient magnitude in HU/mm, binned in [`GRADIENT_BIN_HU_PER_MM`] steps
//! (NaN and negatives in bin 0; the top bin absorbs values beyond the region's maximum or
//! the bin cap); HU is binned per 1 HU over the region's range. The feature is
//! `(HU, gradient_weight × gradient)`, so `gradient_weight` converts HU/mm into HU of
//! distance: 0 gives intensity-only clustering, ~1–5 separates edge voxels (negative/NaN → 0,
//! capped at 10⁶). If the HU range is very wide the gradient bins are capped so the joint
//! histogram stays under 2²¹ bins. `centers` holds the HU coordinate of each centre
//! (ascending; ties broken by gradient).

use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;
use std::borrow::Cow;

/// Label of voxels outside the region (never a cluster index: at most 255 clusters).
pub const OUTSIDE_LABEL: u8 = 255;

/// Largest number of clusters: labels 0..=254, 255 is reserved for "outside".
pub const MAX_CLUSTERS: usize = 255;

/// Voxels per work unit for voxel passes; fixed so the work split never depends on threads.
const VOXEL_CHUNK: usize = 1 << 16;

/// Histogram points per work unit for float reductions (fixed, summed in chunk order).
const POINT_CHUNK: usize = 4096;

/// Number of 1-HU bins covering every `i16`.
const HU_BINS: usize = 1 << 16;

/// Width of a gradient bin of the joint histogram, HU/mm.
pub const GRADIENT_BIN_HU_PER_MM: f64 = 4.0;

/// Upper bound on joint-histogram bins (HU range × gradient bins) to cap memory at 16 MiB.
const MAX_JOINT_BINS: usize = 1 << 21;

/// Largest honoured `gradient_weight` (HU of distance per HU/mm).
const MAX_GRADIENT_WEIGHT: f64 = 1e6;

/// Upper bound on gradient bins: 4096 × 4 HU/mm ≈ 16 000 HU/mm, beyond any CT edge.
const MAX_GRADIENT_BINS: usize = 4096;

/// Outcome of a clustering: per-voxel labels plus the cluster centres.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterResult {
    /// Cluster index per voxel (0 = darkest), [`OUTSIDE_LABEL`] outside the region.
    pub labels: Array3<u8>,
    /// Cluster centres in HU, ascending; its length is the number of clusters produced.
    pub centers: Vec<f64>,
    /// Update (centre re-estimation) steps performed before convergence or `max_iter`.
    pub iterations_run: usize,
}

/// Hard k-means on HU over the exact histogram (seeded k-means++ start, Lloyd updates).
pub fn kmeans_intensity(
    image: ArrayView3<i16>,
    k: usize,
    max_iter: usize,
    seed: u64,
    region: Option<ArrayView3<bool>>,
) -> ClusterResult {
    let Some(input) = Input::new(&image, region.as_ref()) else {
        return ClusterResult::outside(image.dim());
    };
    let bins = occupied_bins(&input.histogram());
    if bins.is_empty() {
        return ClusterResult::outside(image.dim());
    }
    let k = k.clamp(1, MAX_CLUSTERS).min(bins.len());
    let mut rng = SplitMix64::new(seed);
    let init = kmeanspp_1d(&bins, k, &mut rng);
    let (centers, iterations_run) = lloyd_1d(&bins, init, max_iter);
    ClusterResult {
        labels: input.label_1d(&centers),
        centers,
        iterations_run,
    }
}

/// Fuzzy c-means on HU over the exact histogram; labels are the highest membership.
pub fn fuzzy_cmeans_intensity(
    image: ArrayView3<i16>,
    k: usize,
    m: f64,
    max_iter: usize,
    tolerance: f64,
    seed: u64,
    region: Option<ArrayView3<bool>>,
) -> ClusterResult {
    let Some(input) = Input::new(&image, region.as_ref()) else {
        return ClusterResult::outside(image.dim());
    };
    let bins = occupied_bins(&input.histogram());
    if bins.is_empty() {
        return ClusterResult::outside(image.dim());
    }
    let k = k.clamp(1, MAX_CLUSTERS).min(bins.len());
    let m = if m.is_finite() {
        m.clamp(1.01, 50.0)
    } else {
        2.0
    };
    let tolerance = if tolerance.is_finite() && tolerance > 0.0 {
        tolerance
    } else {
        0.0
    };
    let mut rng = SplitMix64::new(seed);
    let mut centers = kmeanspp_1d(&bins, k, &mut rng);
    let mut iterations_run = 0;
    while iterations_run < max_iter {
        let next = fcm_update(&bins, &centers, m);
        iterations_run += 1;
        let shift = centers
            .iter()
            .zip(&next)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        centers = next;
        if shift <= tolerance {
            break;
        }
    }
    centers.sort_by(f64::total_cmp);
    ClusterResult {
        labels: input.label_1d(&centers),
        centers,
        iterations_run,
    }
}

/// Hard k-means on (HU, weighted gradient magnitude) over an exact joint histogram.
pub fn kmeans_intensity_gradient(
    image: ArrayView3<i16>,
    gradient: ArrayView3<f32>,
    gradient_weight: f64,
    k: usize,
    max_iter: usize,
    seed: u64,
    region: Option<ArrayView3<bool>>,
) -> ClusterResult {
    if gradient.dim() != image.dim() {
        return ClusterResult::outside(image.dim());
    }
    let Some(input) = Input::new(&image, region.as_ref()) else {
        return ClusterResult::outside(image.dim());
    };
    let hist = input.histogram();
    let (Some(lo), Some(hi)) = (
        hist.iter().position(|&c| c > 0),
        hist.iter().rposition(|&c| c > 0),
    ) else {
        return ClusterResult::outside(image.dim());
    };
    // Above 10^6 the squared feature distances would approach f64 overflow.
    let weight = if gradient_weight.is_finite() && gradient_weight > 0.0 {
        gradient_weight.min(MAX_GRADIENT_WEIGHT)
    } else {
        0.0
    };
    let grad = contiguous(&gradient);
    let joint = JointGrid::new(&input, &grad, lo, hi);
    let counts = joint.histogram(&input, &grad);
    let points: Vec<Point2> = counts
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c > 0)
        .map(|(i, &c)| {
            let (hu, gb) = joint.coords(i);
            Point2 {
                hu,
                g: weight * (gb as f64 + 0.5) * GRADIENT_BIN_HU_PER_MM,
                w: c as f64,
            }
        })
        .collect();
    let k = k.clamp(1, MAX_CLUSTERS).min(distinct_points(&points));
    let mut rng = SplitMix64::new(seed);
    let init = kmeanspp_2d(&points, k, &mut rng);
    let (centers, iterations_run) = lloyd_2d(&points, init, max_iter);
    let lut: Vec<u8> = (0..counts.len())
        .into_par_iter()
        .with_min_len(POINT_CHUNK)
        .map(|i| {
            let (hu, gb) = joint.coords(i);
            let g = weight * (gb as f64 + 0.5) * GRADIENT_BIN_HU_PER_MM;
            nearest_2d(hu, g, &centers) as u8
        })
        .collect();
    let labels = input.map_labels(|i, v| {
        let gb = joint.gradient_bin(grad.get(i).copied().unwrap_or(0.0));
        joint
            .index(v, gb)
            .and_then(|i| lut.get(i).copied())
            .unwrap_or(OUTSIDE_LABEL)
    });
    ClusterResult {
        labels,
        centers: centers.iter().map(|c| c.0).collect(),
        iterations_run,
    }
}

impl ClusterResult {
    /// No clusters: every voxel outside.
    fn outside(dim: (usize, usize, usize)) -> Self {
        Self {
            labels: Array3::from_elem(dim, OUTSIDE_LABEL),
            centers: Vec::new(),
            iterations_run: 0,
        }
    }
}

/// Image and region as C-order slices (borrowed when already contiguous).
struct Input<'a> {
    dim: (usize, usize, usize),
    hu: Cow<'a, [i16]>,
    region: Option<Cow<'a, [bool]>>,
}

impl<'a> Input<'a> {
    /// `None` when the region's shape differs from the image's.
    fn new(
        image: &'a ArrayView3<'a, i16>,
        region: Option<&'a ArrayView3<'a, bool>>,
    ) -> Option<Self> {
        if region.is_some_and(|r| r.dim() != image.dim()) {
            return None;
        }
        Some(Self {
            dim: image.dim(),
            hu: contiguous(image),
            region: region.map(contiguous),
        })
    }

    /// Exact count per HU value (index `HU + 32768`) over the region.
    fn histogram(&self) -> Vec<u64> {
        let add = |mut a: Vec<u64>, b: Vec<u64>| {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
            a
        };
        let empty = || vec![0u64; HU_BINS];
        match &self.region {
            None => self
                .hu
                .par_chunks(VOXEL_CHUNK)
                .fold(empty, |mut h, chunk| {
                    for &v in chunk {
                        h[hu_index(v)] += 1;
                    }
                    h
                })
                .reduce(empty, add),
            Some(r) => self
                .hu
                .par_chunks(VOXEL_CHUNK)
                .zip(r.par_chunks(VOXEL_CHUNK))
                .fold(empty, |mut h, (chunk, inside)| {
                    for (&v, &m) in chunk.iter().zip(inside) {
                        h[hu_index(v)] += u64::from(m);
                    }
                    h
                })
                .reduce(empty, add),
        }
    }

    /// Labels from a per-voxel function of (flat index, HU), [`OUTSIDE_LABEL`] outside.
    fn map_labels(&self, f: impl Fn(usize, i16) -> u8 + Sync) -> Array3<u8> {
        let mut out = vec![OUTSIDE_LABEL; self.hu.len()];
        out.par_chunks_mut(VOXEL_CHUNK)
            .zip(self.hu.par_chunks(VOXEL_CHUNK))
            .enumerate()
            .for_each(|(c, (dst, src))| {
                let base = c * VOXEL_CHUNK;
                let inside = self
                    .region
                    .as_ref()
                    .and_then(|r| r.get(base..base + src.len()));
                for (o, (&v, d)) in src.iter().zip(dst.iter_mut()).enumerate() {
                    if inside.is_none_or(|m| m.get(o).copied().unwrap_or(false)) {
                        *d = f(base + o, v);
                    }
                }
            });
        Array3::from_shape_vec(self.dim, out)
            .unwrap_or_else(|_| Array3::from_elem(self.dim, OUTSIDE_LABEL))
    }

    /// Labels by nearest of the sorted 1D `centers`, through a 65 536-entry lookup table.
    fn label_1d(&self, centers: &[f64]) -> Array3<u8> {
        let lut: Vec<u8> = (0..HU_BINS)
            .map(|i| nearest_1d((i as i32 - 32768) as f64, centers) as u8)
            .collect();
        self.map_labels(|_, v| lut[hu_index(v)])
    }
}

/// The array as a C-order slice, copied only when the view is not contiguous.
fn contiguous<'a, T: Clone>(a: &'a ArrayView3<'a, T>) -> Cow<'a, [T]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().cloned().collect()),
    }
}

/// Histogram index of an HU value: always in `0..65536`.
fn hu_index(v: i16) -> usize {
    usize::from((v as u16) ^ 0x8000)
}

/// One occupied histogram bin: HU value and voxel count.
#[derive(Debug, Clone, Copy)]
struct Bin {
    hu: i64,
    count: u64,
}

/// Occupied bins in ascending HU order.
fn occupied_bins(hist: &[u64]) -> Vec<Bin> {
    hist.iter()
        .enumerate()
        .filter(|&(_, &c)| c > 0)
        .map(|(i, &count)| Bin {
            hu: i as i64 - 32768,
            count,
        })
        .collect()
}

/// Index of the centre nearest to `v` among ascending `centers`; ties go to the lower one.
fn nearest_1d(v: f64, centers: &[f64]) -> usize {
    let j = centers.partition_point(|&c| c < v);
    if j == 0 {
        return 0;
    }
    if j >= centers.len() {
        return centers.len().saturating_sub(1);
    }
    if v - centers[j - 1] <= centers[j] - v {
        j - 1
    } else {
        j
    }
}

/// k-means++ seeding on the histogram: exact integer weights `count × distance²`.
///
/// Picks `k` distinct occupied HU values (the caller guarantees `k <= bins.len()`) and
/// returns them ascending.
fn kmeanspp_1d(bins: &[Bin], k: usize, rng: &mut SplitMix64) -> Vec<f64> {
    let mut centers: Vec<i64> = Vec::with_capacity(k);
    let counts: Vec<u128> = bins.iter().map(|b| u128::from(b.count)).collect();
    let Some(first) = pick_weighted_u128(&counts, rng) else {
        return Vec::new();
    };
    centers.push(bins[first].hu);
    // count ≤ 2^64 and distance² ≤ 2^32: each weight < 2^96, the sum of 65 536 < 2^112.
    let mut weights: Vec<u128> = bins
        .iter()
        .map(|b| u128::from(b.count) * (b.hu - bins[first].hu).unsigned_abs().pow(2) as u128)
        .collect();
    while centers.len() < k {
        let Some(next) = pick_weighted_u128(&weights, rng) else {
            break;
        };
        let c = bins[next].hu;
        centers.push(c);
        for (w, b) in weights.iter_mut().zip(bins) {
            let d = u128::from(b.count) * (b.hu - c).unsigned_abs().pow(2) as u128;
            *w = (*w).min(d);
        }
    }
    let mut out: Vec<f64> = centers.into_iter().map(|c| c as f64).collect();
    out.sort_by(f64::total_cmp);
    out
}

/// Index drawn with probability proportional to `weights` (exact integer arithmetic).
fn pick_weighted_u128(weights: &[u128], rng: &mut SplitMix64) -> Option<usize> {
    let total: u128 = weights.iter().sum();
    if total == 0 {
        return None;
    }
    let r = ((u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())) % total;
    let mut acc = 0u128;
    for (i, &w) in weights.iter().enumerate() {
        acc += w;
        if r < acc {
            return Some(i);
        }
    }
    weights.iter().rposition(|&w| w > 0)
}

/// Cluster of each bin under ascending `centers`.
fn assign_1d(bins: &[Bin], centers: &[f64]) -> Vec<usize> {
    bins.iter()
        .map(|b| nearest_1d(b.hu as f64, centers))
        .collect()
}

/// Lloyd iterations on the histogram; returns ascending centres and the update count.
fn lloyd_1d(bins: &[Bin], mut centers: Vec<f64>, max_iter: usize) -> (Vec<f64>, usize) {
    let k = centers.len();
    let mut assign = assign_1d(bins, &centers);
    let mut iterations = 0;
    while iterations < max_iter {
        // Exact integer sums: |HU| ≤ 2^15 and counts ≤ 2^64 fit easily in i128.
        let mut sum = vec![0i128; k];
        let mut count = vec![0u128; k];
        for (b, &a) in bins.iter().zip(&assign) {
            sum[a] += i128::from(b.hu) * i128::from(b.count);
            count[a] += u128::from(b.count);
        }
        let mut next: Vec<Option<f64>> = sum
            .iter()
            .zip(&count)
            .map(|(&s, &c)| (c > 0).then(|| s as f64 / c as f64))
            .collect();
        reseed_empty_1d(bins, &assign, &centers, &mut next);
        iterations += 1;
        centers = next
            .iter()
            .zip(&centers)
            .map(|(n, &old)| n.unwrap_or(old))
            .collect();
        centers.sort_by(f64::total_cmp);
        let reassigned = assign_1d(bins, &centers);
        if reassigned == assign {
            break;
        }
        assign = reassigned;
    }
    (centers, iterations)
}

/// Moves each empty cluster onto the bin with the largest squared error (deterministic).
fn reseed_empty_1d(bins: &[Bin], assign: &[usize], centers: &[f64], next: &mut [Option<f64>]) {
    let mut taken = vec![false; bins.len()];
    for slot in next.iter_mut().filter(|n| n.is_none()) {
        let mut best: Option<(usize, f64)> = None;
        for (i, (b, &a)) in bins.iter().zip(assign).enumerate() {
            let hu = b.hu as f64;
            if taken[i] || centers.contains(&hu) {
                continue;
            }
            let d = hu - centers.get(a).copied().unwrap_or(hu);
            let err = b.count as f64 * d * d;
            if best.is_none_or(|(_, e)| err > e) {
                best = Some((i, err));
            }
        }
        if let Some((i, _)) = best {
            taken[i] = true;
            *slot = Some(bins[i].hu as f64);
        }
    }
}

/// One fuzzy c-means update: memberships from `centers`, then weighted centre means.
fn fcm_update(bins: &[Bin], centers: &[f64], m: f64) -> Vec<f64> {
    let k = centers.len();
    let p = 2.0 / (m - 1.0);
    let partials: Vec<(Vec<f64>, Vec<f64>)> = bins
        .par_chunks(POINT_CHUNK)
        .map(|chunk| {
            let mut num = vec![0.0; k];
            let mut den = vec![0.0; k];
            let mut u = vec![0.0; k];
            for b in chunk {
                let v = b.hu as f64;
                fcm_memberships(v, centers, p, &mut u);
                let w = b.count as f64;
                for j in 0..k {
                    // libm: the same bits on every platform (hashed, replayed).
                    let um = w * libm::pow(u[j], m);
                    num[j] += um * v;
                    den[j] += um;
                }
            }
            (num, den)
        })
        .collect();
    let mut num = vec![0.0; k];
    let mut den = vec![0.0; k];
    for (pn, pd) in &partials {
        for j in 0..k {
            num[j] += pn[j];
            den[j] += pd[j];
        }
    }
    (0..k)
        .map(|j| {
            if den[j] > 0.0 {
                num[j] / den[j]
            } else {
                centers[j]
            }
        })
        .collect()
}

/// Memberships of value `v` (written to `u`); `p = 2 / (m − 1)`.
///
/// Written as `(d_min / d_j)^p / Σ (d_min / d_l)^p`: every ratio is ≤ 1, so nothing
/// overflows even for `m` close to 1. A value on a centre belongs wholly to the lowest such.
fn fcm_memberships(v: f64, centers: &[f64], p: f64, u: &mut [f64]) {
    let dmin = centers
        .iter()
        .map(|&c| (v - c).abs())
        .fold(f64::INFINITY, f64::min);
    if dmin == 0.0 {
        let mut done = false;
        for (uj, &c) in u.iter_mut().zip(centers) {
            *uj = if !done && v == c { 1.0 } else { 0.0 };
            done |= v == c;
        }
        return;
    }
    let mut total = 0.0;
    for (uj, &c) in u.iter_mut().zip(centers) {
        *uj = libm::pow(dmin / (v - c).abs(), p);
        total += *uj;
    }
    for uj in u.iter_mut() {
        *uj /= total;
    }
}

/// Layout of the dense joint (HU × gradient bin) histogram.
struct JointGrid {
    lo: usize,
    hu_bins: usize,
    grad_bins: usize,
}

impl JointGrid {
    /// Covers HU indices `lo..=hi`; gradient bins up to the region's largest gradient.
    fn new(input: &Input, grad: &[f32], lo: usize, hi: usize) -> Self {
        let hu_bins = hi - lo + 1;
        let max_grad = match &input.region {
            None => grad
                .par_chunks(VOXEL_CHUNK)
                .map(|c| c.iter().copied().fold(0.0f32, max_finite))
                .reduce(|| 0.0, f32::max),
            Some(r) => grad
                .par_chunks(VOXEL_CHUNK)
                .zip(r.par_chunks(VOXEL_CHUNK))
                .map(|(c, m)| {
                    c.iter()
                        .zip(m)
                        .filter(|&(_, &m)| m)
                        .fold(0.0f32, |a, (&g, _)| max_finite(a, g))
                })
                .reduce(|| 0.0, f32::max),
        };
        let cap = (MAX_JOINT_BINS / hu_bins).clamp(1, MAX_GRADIENT_BINS);
        // `as` saturates (an infinite gradient gives usize::MAX), hence the saturating add.
        let needed = ((f64::from(max_grad) / GRADIENT_BIN_HU_PER_MM) as usize).saturating_add(1);
        Self {
            lo,
            hu_bins,
            grad_bins: needed.clamp(1, cap),
        }
    }

    /// Gradient bin of a value: NaN and negatives in bin 0, large values in the top bin.
    fn gradient_bin(&self, g: f32) -> usize {
        // `as` saturates (NaN → 0), so this never fails.
        ((f64::from(g) / GRADIENT_BIN_HU_PER_MM) as usize).min(self.grad_bins - 1)
    }

    /// Flat index of (HU value, gradient bin); `None` for HU outside the covered range.
    fn index(&self, v: i16, gb: usize) -> Option<usize> {
        let row = hu_index(v)
            .checked_sub(self.lo)
            .filter(|&r| r < self.hu_bins)?;
        Some(row * self.grad_bins + gb)
    }

    /// (HU, gradient bin) of a flat index.
    fn coords(&self, i: usize) -> (f64, usize) {
        let hu = (i / self.grad_bins + self.lo) as f64 - 32768.0;
        (hu, i % self.grad_bins)
    }

    /// Exact joint counts over the region.
    fn histogram(&self, input: &Input, grad: &[f32]) -> Vec<u64> {
        let len = self.hu_bins * self.grad_bins;
        let empty = || vec![0u64; len];
        input
            .hu
            .par_chunks(VOXEL_CHUNK)
            .zip(grad.par_chunks(VOXEL_CHUNK))
            .enumerate()
            .fold(empty, |mut h, (c, (hu, g))| {
                let base = c * VOXEL_CHUNK;
                let inside = input
                    .region
                    .as_ref()
                    .and_then(|r| r.get(base..base + hu.len()));
                for (o, (&v, &gv)) in hu.iter().zip(g).enumerate() {
                    if inside.is_none_or(|m| m.get(o).copied().unwrap_or(false)) {
                        let i = self.index(v, self.gradient_bin(gv));
                        if let Some(slot) = i.and_then(|i| h.get_mut(i)) {
                            *slot += 1;
                        }
                    }
                }
                h
            })
            .reduce(empty, |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            })
    }
}

/// Larger of an accumulator and a value, ignoring NaN.
fn max_finite(a: f32, g: f32) -> f32 {
    if g > a { g } else { a }
}

/// One occupied joint-histogram bin: features and voxel count.
#[derive(Debug, Clone, Copy)]
struct Point2 {
    hu: f64,
    g: f64,
    w: f64,
}

/// Number of distinct feature points (at most the number of points; points are distinct
/// bins, but a zero gradient weight can make different bins coincide).
fn distinct_points(points: &[Point2]) -> usize {
    let mut keys: Vec<(f64, f64)> = points.iter().map(|p| (p.hu, p.g)).collect();
    keys.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    keys.dedup();
    keys.len()
}

/// Index of the nearest centre (sorted by HU then gradient); ties go to the lower index.
fn nearest_2d(hu: f64, g: f64, centers: &[(f64, f64)]) -> usize {
    let mut best = 0;
    let mut best_d = f64::INFINITY;
    for (j, &(ch, cg)) in centers.iter().enumerate() {
        let d = (hu - ch) * (hu - ch) + (g - cg) * (g - cg);
        if d < best_d {
            best = j;
            best_d = d;
        }
    }
    best
}

/// Sorts centres by HU, then gradient.
fn sort_2d(centers: &mut [(f64, f64)]) {
    centers.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
}

/// k-means++ seeding on joint-histogram points (weights `count × distance²`).
fn kmeanspp_2d(points: &[Point2], k: usize, rng: &mut SplitMix64) -> Vec<(f64, f64)> {
    let mut centers = Vec::with_capacity(k);
    let counts: Vec<f64> = points.iter().map(|p| p.w).collect();
    let Some(first) = pick_weighted_f64(&counts, rng) else {
        return centers;
    };
    centers.push((points[first].hu, points[first].g));
    let dist = |p: &Point2, c: (f64, f64)| p.w * ((p.hu - c.0).powi(2) + (p.g - c.1).powi(2));
    let mut weights: Vec<f64> = points.iter().map(|p| dist(p, centers[0])).collect();
    while centers.len() < k {
        let Some(next) = pick_weighted_f64(&weights, rng) else {
            break;
        };
        let c = (points[next].hu, points[next].g);
        centers.push(c);
        for (w, p) in weights.iter_mut().zip(points) {
            *w = w.min(dist(p, c));
        }
    }
    sort_2d(&mut centers);
    centers
}

/// Index drawn with probability proportional to non-negative float `weights` (sequential sums).
fn pick_weighted_f64(weights: &[f64], rng: &mut SplitMix64) -> Option<usize> {
    let total: f64 = weights.iter().sum();
    // Also rejects NaN, which compares false with everything.
    if !total.is_finite() || total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let r = rng.next_f64() * total;
    let mut acc = 0.0;
    for (i, &w) in weights.iter().enumerate() {
        acc += w;
        if r < acc && w > 0.0 {
            return Some(i);
        }
    }
    weights.iter().rposition(|&w| w > 0.0)
}

/// Lloyd iterations on joint-histogram points; returns sorted centres and the update count.
fn lloyd_2d(
    points: &[Point2],
    mut centers: Vec<(f64, f64)>,
    max_iter: usize,
) -> (Vec<(f64, f64)>, usize) {
    let k = centers.len();
    let assign_all = |c: &[(f64, f64)]| -> Vec<usize> {
        points
            .par_iter()
            .with_min_len(POINT_CHUNK)
            .map(|p| nearest_2d(p.hu, p.g, c))
            .collect()
    };
    let mut assign = assign_all(&centers);
    let mut iterations = 0;
    while iterations < max_iter {
        // Fixed chunks summed in chunk order: the same floating-point sums for any thread count.
        let partials: Vec<Vec<[f64; 3]>> = points
            .par_chunks(POINT_CHUNK)
            .zip(assign.par_chunks(POINT_CHUNK))
            .map(|(ps, asg)| {
                let mut acc = vec![[0.0; 3]; k];
                for (p, &a) in ps.iter().zip(asg) {
                    acc[a][0] += p.w * p.hu;
                    acc[a][1] += p.w * p.g;
                    acc[a][2] += p.w;
                }
                acc
            })
            .collect();
        let mut acc = vec![[0.0f64; 3]; k];
        for part in &partials {
            for (a, p) in acc.iter_mut().zip(part) {
                a[0] += p[0];
                a[1] += p[1];
                a[2] += p[2];
            }
        }
        let mut next: Vec<Option<(f64, f64)>> = acc
            .iter()
            .map(|a| (a[2] > 0.0).then(|| (a[0] / a[2], a[1] / a[2])))
            .collect();
        reseed_empty_2d(points, &assign, &centers, &mut next);
        iterations += 1;
        centers = next
            .iter()
            .zip(&centers)
            .map(|(n, &old)| n.unwrap_or(old))
            .collect();
        sort_2d(&mut centers);
        let reassigned = assign_all(&centers);
        if reassigned == assign {
            break;
        }
        assign = reassigned;
    }
    (centers, iterations)
}

/// Moves each empty cluster onto the point with the largest squared error (deterministic).
fn reseed_empty_2d(
    points: &[Point2],
    assign: &[usize],
    centers: &[(f64, f64)],
    next: &mut [Option<(f64, f64)>],
) {
    let mut taken = vec![false; points.len()];
    for slot in next.iter_mut().filter(|n| n.is_none()) {
        let mut best: Option<(usize, f64)> = None;
        for (i, (p, &a)) in points.iter().zip(assign).enumerate() {
            if taken[i] || centers.contains(&(p.hu, p.g)) {
                continue;
            }
            let (ch, cg) = centers.get(a).copied().unwrap_or((p.hu, p.g));
            let err = p.w * ((p.hu - ch).powi(2) + (p.g - cg).powi(2));
            if best.is_none_or(|(_, e)| err > e) {
                best = Some((i, err));
            }
        }
        if let Some((i, _)) = best {
            taken[i] = true;
            *slot = Some((points[i].hu, points[i].g));
        }
    }
}

/// SplitMix64: a tiny, well-mixed PRNG whose whole state is the caller's seed.
struct SplitMix64(u64);

impl SplitMix64 {
    /// Generator starting from `seed`.
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three slabs along the row axis at −1000, 40 and 700 HU with uniform noise ±`noise`.
    fn three_levels(noise: i16, seed: u64) -> (Array3<i16>, Array3<u8>) {
        let dim = (6, 30, 40);
        let mut rng = SplitMix64::new(seed);
        let truth = Array3::from_shape_fn(dim, |(_, y, _)| (y / 10) as u8);
        let image = truth.map(|&t| {
            let base = [-1000, 40, 700][usize::from(t)];
            let span = 2 * u64::from(noise.unsigned_abs()) + 1;
            base + (rng.next_u64() % span) as i16 - noise
        });
        (image, truth)
    }

    fn run_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
            .install(f)
    }

    fn assert_centres_near(centres: &[f64], want: &[f64], tol: f64) {
        assert_eq!(centres.len(), want.len(), "{centres:?}");
        for (c, w) in centres.iter().zip(want) {
            assert!((c - w).abs() <= tol, "{centres:?} vs {want:?}");
        }
    }

    #[test]
    fn kmeans_separates_three_levels() {
        let (image, truth) = three_levels(15, 1);
        let r = kmeans_intensity(image.view(), 3, 100, 7, None);
        assert_eq!(r.labels, truth);
        assert_centres_near(&r.centers, &[-1000.0, 40.0, 700.0], 3.0);
        assert!(r.iterations_run >= 1 && r.iterations_run < 100);
    }

    #[test]
    fn fcm_separates_three_levels() {
        let (image, truth) = three_levels(15, 2);
        let r = fuzzy_cmeans_intensity(image.view(), 3, 2.0, 200, 1e-3, 7, None);
        assert_eq!(r.labels, truth);
        assert_centres_near(&r.centers, &[-1000.0, 40.0, 700.0], 3.0);
        assert!(r.iterations_run < 200);
        // A sharper fuzzifier agrees.
        let sharp = fuzzy_cmeans_intensity(image.view(), 3, 1.2, 200, 1e-3, 7, None);
        assert_eq!(sharp.labels, truth);
    }

    #[test]
    fn gradient_kmeans_separates_three_levels() {
        let (image, truth) = three_levels(15, 3);
        // Flat gradient: the joint clustering reduces to intensity clustering.
        let flat = Array3::from_elem(image.dim(), 0.0f32);
        let r = kmeans_intensity_gradient(image.view(), flat.view(), 1.0, 3, 100, 7, None);
        assert_eq!(r.labels, truth);
        assert_centres_near(&r.centers, &[-1000.0, 40.0, 700.0], 3.0);
        // Two slabs with a gradient ridge on their border rows: weighted, the ridge is its
        // own cluster (cheaper than merging the slabs), so k = 3 gives slab, slab, ridge.
        let dim = (4, 30, 20);
        let slab = Array3::from_shape_fn(dim, |(_, y, _)| u8::from(y >= 15));
        let ridge = |y: usize| y.is_multiple_of(15) || y % 15 == 14;
        let mut rng = SplitMix64::new(8);
        let image =
            slab.map(|&t| [-1000i16, 700][usize::from(t)] + (rng.next_u64() % 21) as i16 - 10);
        let edge = Array3::from_shape_fn(dim, |(_, y, _)| if ridge(y) { 400.0f32 } else { 2.0 });
        let r = kmeans_intensity_gradient(image.view(), edge.view(), 10.0, 3, 100, 7, None);
        assert_eq!(r.centers.len(), 3);
        let want = Array3::from_shape_fn(dim, |(_, y, _)| {
            let on_ridge = ridge(y);
            let lower = y < 15;
            // Sorted by HU: lower slab (−1000), ridge (mean ≈ −150), upper slab (700).
            if on_ridge {
                1
            } else if lower {
                0
            } else {
                2
            }
        });
        assert_eq!(r.labels, want);
    }

    #[test]
    fn result_independent_of_seed() {
        let (image, _) = three_levels(40, 4);
        let base_k = kmeans_intensity(image.view(), 3, 100, 0, None);
        let base_f = fuzzy_cmeans_intensity(image.view(), 3, 2.0, 300, 0.0, 0, None);
        let grad = image.map(|&v| f32::from(v).abs() * 0.05);
        let base_g = kmeans_intensity_gradient(image.view(), grad.view(), 0.5, 3, 100, 0, None);
        for seed in 1..12 {
            let k = kmeans_intensity(image.view(), 3, 100, seed, None);
            assert_eq!(k.labels, base_k.labels);
            assert_eq!(k.centers, base_k.centers);
            let f = fuzzy_cmeans_intensity(image.view(), 3, 2.0, 300, 0.0, seed, None);
            assert_eq!(f.labels, base_f.labels);
            assert_centres_near(&f.centers, &base_f.centers, 1e-6);
            let g = kmeans_intensity_gradient(image.view(), grad.view(), 0.5, 3, 100, seed, None);
            assert_eq!(g.labels, base_g.labels);
            assert_eq!(g.centers, base_g.centers);
        }
    }

    #[test]
    fn k_larger_than_distinct_values() {
        let image = Array3::from_shape_fn((2, 3, 4), |(_, y, _)| if y == 0 { 100i16 } else { -50 });
        let want = image.map(|&v| u8::from(v == 100));
        for k in [2, 5, 255, 1000] {
            let r = kmeans_intensity(image.view(), k, 50, 3, None);
            assert_eq!(r.centers, vec![-50.0, 100.0]);
            assert_eq!(r.labels, want);
            let f = fuzzy_cmeans_intensity(image.view(), k, 2.0, 50, 1e-6, 3, None);
            assert_centres_near(&f.centers, &[-50.0, 100.0], 1e-9);
            assert_eq!(f.labels, want);
            let zero = Array3::from_elem(image.dim(), 0.0f32);
            let g = kmeans_intensity_gradient(image.view(), zero.view(), 1.0, k, 50, 3, None);
            assert_eq!(g.centers, vec![-50.0, 100.0]);
            assert_eq!(g.labels, want);
        }
        // All-equal intensities, and k = 0 (treated as 1).
        let flat = Array3::from_elem((3, 3, 3), 7i16);
        for k in [0, 1, 4] {
            let r = kmeans_intensity(flat.view(), k, 10, 1, None);
            assert_eq!(r.centers, vec![7.0]);
            assert!(r.labels.iter().all(|&l| l == 0));
            let f = fuzzy_cmeans_intensity(flat.view(), k, 2.0, 10, 0.1, 1, None);
            assert_eq!(f.centers, vec![7.0]);
            assert!(f.labels.iter().all(|&l| l == 0));
        }
    }

    #[test]
    fn region_limits_and_empty_inputs() {
        let (image, truth) = three_levels(15, 5);
        // Only the two upper slabs in the region: two clusters, the rest outside.
        let region = truth.map(|&t| t > 0);
        let r = kmeans_intensity(image.view(), 2, 100, 1, Some(region.view()));
        let want = truth.map(|&t| if t == 0 { OUTSIDE_LABEL } else { t - 1 });
        assert_eq!(r.labels, want);
        assert_centres_near(&r.centers, &[40.0, 700.0], 3.0);
        let f = fuzzy_cmeans_intensity(image.view(), 2, 2.0, 100, 1e-3, 1, Some(region.view()));
        assert_eq!(f.labels, want);
        let zero = Array3::from_elem(image.dim(), 0.0f32);
        let g = kmeans_intensity_gradient(
            image.view(),
            zero.view(),
            1.0,
            2,
            100,
            1,
            Some(region.view()),
        );
        assert_eq!(g.labels, want);

        // Empty region, empty volume, 1×1×1, mismatched shapes: no clusters, no panic.
        let none = Array3::from_elem(image.dim(), false);
        let grad = Array3::from_elem(image.dim(), 1.0f32);
        for r in [
            kmeans_intensity(image.view(), 3, 10, 1, Some(none.view())),
            fuzzy_cmeans_intensity(image.view(), 3, 2.0, 10, 0.0, 1, Some(none.view())),
            kmeans_intensity_gradient(image.view(), grad.view(), 1.0, 3, 10, 1, Some(none.view())),
        ] {
            assert!(r.centers.is_empty());
            assert_eq!(r.iterations_run, 0);
            assert!(r.labels.iter().all(|&l| l == OUTSIDE_LABEL));
            assert_eq!(r.labels.dim(), image.dim());
        }
        let empty = Array3::<i16>::zeros((0, 5, 5));
        let r = kmeans_intensity(empty.view(), 3, 10, 1, None);
        assert_eq!(r.labels.dim(), (0, 5, 5));
        assert!(r.centers.is_empty());
        let r = fuzzy_cmeans_intensity(empty.view(), 3, 2.0, 10, 0.0, 1, None);
        assert!(r.centers.is_empty());
        let g0 = Array3::<f32>::zeros((0, 5, 5));
        let r = kmeans_intensity_gradient(empty.view(), g0.view(), 1.0, 3, 10, 1, None);
        assert!(r.centers.is_empty());

        let one = Array3::from_elem((1, 1, 1), -3000i16);
        let g1 = Array3::from_elem((1, 1, 1), f32::NAN);
        assert_eq!(
            kmeans_intensity(one.view(), 3, 10, 1, None).labels[[0, 0, 0]],
            0
        );
        assert_eq!(
            fuzzy_cmeans_intensity(one.view(), 3, f64::NAN, 0, f64::NAN, 1, None).centers,
            vec![-3000.0]
        );
        let r = kmeans_intensity_gradient(one.view(), g1.view(), f64::NAN, 3, 10, 1, None);
        assert_eq!(r.centers, vec![-3000.0]);

        let wrong = Array3::from_elem((1, 2, 3), true);
        let r = kmeans_intensity(image.view(), 3, 10, 1, Some(wrong.view()));
        assert!(r.centers.is_empty() && r.labels.iter().all(|&l| l == OUTSIDE_LABEL));
        let wrong_g = Array3::from_elem((1, 2, 3), 0.0f32);
        let r = kmeans_intensity_gradient(image.view(), wrong_g.view(), 1.0, 3, 10, 1, None);
        assert!(r.centers.is_empty() && r.labels.dim() == image.dim());
    }

    #[test]
    fn extreme_values_and_fuzzifiers() {
        let image = Array3::from_shape_fn((1, 4, 4), |(_, y, x)| {
            [i16::MIN, i16::MAX, 0, -1][(y + x) % 4]
        });
        let r = kmeans_intensity(image.view(), 4, 100, 9, None);
        assert_eq!(r.centers, vec![-32768.0, -1.0, 0.0, 32767.0]);
        for m in [1.0, 1.0001, 2.0, 1e9, f64::INFINITY, -2.0] {
            let f = fuzzy_cmeans_intensity(image.view(), 2, m, 50, 0.0, 9, None);
            assert_eq!(f.centers.len(), 2);
            assert!(f.centers.iter().all(|c| c.is_finite()));
        }
        let huge = Array3::from_elem(image.dim(), f32::INFINITY);
        let g = kmeans_intensity_gradient(image.view(), huge.view(), 1e300, 3, 50, 9, None);
        assert_eq!(g.centers.len(), 3);
    }

    #[test]
    fn ties_go_to_the_lower_centre() {
        assert_eq!(nearest_1d(5.0, &[0.0, 10.0]), 0);
        assert_eq!(nearest_1d(5.5, &[0.0, 10.0]), 1);
        assert_eq!(nearest_1d(-7.0, &[0.0, 10.0]), 0);
        assert_eq!(nearest_1d(70.0, &[0.0, 10.0]), 1);
        assert_eq!(nearest_2d(5.0, 0.0, &[(0.0, 0.0), (10.0, 0.0)]), 0);
    }

    #[test]
    fn non_contiguous_views_match_owned() {
        let (image, truth) = three_levels(15, 6);
        let view = image.slice(ndarray::s![.., ..;-1, 1..]);
        let region = truth.map(|&t| t != 1);
        let rview = region.slice(ndarray::s![.., ..;-1, 1..]);
        let a = kmeans_intensity(view, 2, 50, 1, Some(rview));
        let b = kmeans_intensity(
            view.to_owned().view(),
            2,
            50,
            1,
            Some(rview.to_owned().view()),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn deterministic_across_thread_counts() {
        // Large enough for many chunks, noisy enough for several iterations.
        let dim = (20, 96, 96);
        let mut rng = SplitMix64::new(11);
        let image = Array3::from_shape_fn(dim, |(z, y, x)| {
            // Wide range: more occupied bins than one POINT_CHUNK, so reductions split.
            let base = ((z * 7 + y * 3 + x) % 5) as i16 * 1500 - 3000;
            base + (rng.next_u64() % 1401) as i16 - 700
        });
        let grad = image.map(|&v| (f32::from(v) * 0.37).abs());
        let region = Array3::from_shape_fn(dim, |(z, y, x)| (z + y + x) % 7 != 0);
        let run = || {
            (
                kmeans_intensity(image.view(), 5, 100, 3, Some(region.view())),
                fuzzy_cmeans_intensity(image.view(), 5, 2.0, 100, 0.0, 3, Some(region.view())),
                kmeans_intensity_gradient(
                    image.view(),
                    grad.view(),
                    0.7,
                    5,
                    100,
                    3,
                    Some(region.view()),
                ),
                kmeans_intensity(image.view(), 7, 100, 3, None),
            )
        };
        let one = run_threads(1, run);
        let two = run_threads(2, run);
        let three = run_threads(3, run);
        assert_eq!(one, two);
        assert_eq!(two, three);
        assert!(one.0.iterations_run > 1 && one.1.iterations_run > 1 && one.2.iterations_run > 1);
    }
}
