//! Marker-based watershed by Meyer's flooding: labels grow from marker voxels over an
//! elevation image (usually a gradient magnitude) in order of elevation, so regions meet on
//! the ridges between their markers.
//!
//! The flood is sequential and ordered by (elevation, insertion counter): equal elevations
//! are served first-in first-out, which makes the partition a pure function of the inputs.
//! Every reachable voxel gets a label; there are no watershed-line voxels. Two shortcuts
//! keep real volumes fast without changing that order (a test checks this against a plain
//! priority queue): seeds with nothing left to flood are not queued, and voxels queued at
//! the current level go to a FIFO instead of the heap.

use ndarray::{Array3, ArrayView3};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Which neighbours a voxel floods into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Connectivity {
    /// Face neighbours (6).
    Six,
    /// Face, edge and corner neighbours (26).
    TwentySix,
}

/// Bits of a queue entry given to the counter and to the voxel index each; 2⁴⁸ exceeds any
/// voxel count that fits in memory, and every voxel is queued at most once.
const FIELD_BITS: u32 = 48;
const FIELD_MASK: u128 = (1u128 << FIELD_BITS) - 1;

/// Labels of a marker-seeded watershed over `elevation`; voxels outside `allowed` or not
/// reachable from a marker stay 0.
///
/// The output has `elevation`'s shape. `markers` and `allowed` should have the same shape;
/// where they do not, voxels they do not cover count as unmarked and not allowed.
pub fn watershed_from_markers(
    elevation: ArrayView3<f32>,
    markers: ArrayView3<u16>,
    allowed: Option<ArrayView3<bool>>,
    connectivity: Connectivity,
) -> Array3<u16> {
    let dim = elevation.dim();
    let (nk, nj, ni) = dim;
    let n = nk * nj * ni;
    if n == 0 {
        return Array3::zeros(dim);
    }
    let elev = contiguous(&elevation);
    let mut labels = conform(&markers, dim, 0).into_owned();
    let allowed = allowed.map(|a| conform(&a, dim, false));
    let allowed = allowed.as_deref();
    let offsets = offsets(connectivity, nj, ni);
    let plane = nj * ni;
    // Whether the voxel at `idx` could still flood a neighbour; labels are only ever added,
    // so a voxel without such a neighbour now never gets one.
    let can_flood = |labels: &[u16], idx: usize| {
        let (k, rem) = (idx / plane, idx % plane);
        offsets.iter().any(|o| {
            neighbour(k, rem / ni, rem % ni, o.step, dim).is_some_and(|q| {
                labels.get(q) == Some(&0)
                    && allowed.is_none_or(|a| a.get(q).copied().unwrap_or(false))
            })
        })
    };

    let mut heap = BinaryHeap::new();
    let mut counter: u64 = 0;
    // Seeds enter in index order, so equal-elevation seeds start in a fixed order too. Seeds
    // inside a marker region are left out: they would pop without effect.
    for (idx, (&label, &e)) in labels.iter().zip(elev.iter()).enumerate() {
        if label != 0 && can_flood(&labels, idx) {
            heap.push(Reverse(pack(elevation_key(e), counter, idx)));
            counter += 1;
        }
    }

    // Entries pushed at exactly the current level would sort after every queued entry of
    // that level (their counters are larger) and before every higher one, so a plain FIFO
    // holds them in the same order the heap would, without its log-time cost.
    let mut at_level: VecDeque<usize> = VecDeque::new();
    let mut level = 0u32;
    loop {
        let idx = match heap.peek() {
            Some(&Reverse(top)) if at_level.is_empty() || unpack(top).0 == level => {
                heap.pop();
                let (key, idx) = unpack(top);
                level = key;
                idx
            }
            _ => match at_level.pop_front() {
                Some(idx) => idx,
                None => break,
            },
        };
        let Some(&label) = labels.get(idx) else {
            continue;
        };
        let (k, rem) = (idx / plane, idx % plane);
        let (j, i) = (rem / ni, rem % ni);
        // Away from the border every neighbour exists, so the linear offset alone is enough.
        let interior = k > 0 && k + 1 < nk && j > 0 && j + 1 < nj && i > 0 && i + 1 < ni;
        for o in &offsets {
            let q = if interior {
                idx.wrapping_add_signed(o.linear)
            } else {
                match neighbour(k, j, i, o.step, dim) {
                    Some(q) => q,
                    None => continue,
                }
            };
            let Some(slot) = labels.get_mut(q) else {
                continue;
            };
            if *slot != 0 || allowed.is_some_and(|a| !a.get(q).copied().unwrap_or(false)) {
                continue;
            }
            *slot = label;
            let key = elevation_key(elev.get(q).copied().unwrap_or(f32::INFINITY)).max(level);
            if key == level {
                at_level.push_back(q);
            } else {
                heap.push(Reverse(pack(key, counter, q)));
                counter += 1;
            }
        }
    }
    // The buffer has the shape's length; the fallback only keeps this path panic-free.
    Array3::from_shape_vec(dim, labels).unwrap_or_else(|_| Array3::zeros(dim))
}

/// Maps elevations to `u32` in the same order as `f32::total_cmp`, with NaN flooded last (as
/// +∞) and −0 equal to +0 so that ties are settled by the insertion counter alone.
fn elevation_key(e: f32) -> u32 {
    let e = if e.is_nan() {
        f32::INFINITY
    } else if e == 0.0 {
        0.0
    } else {
        e
    };
    let b = e.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

fn pack(key: u32, counter: u64, idx: usize) -> u128 {
    (u128::from(key) << (2 * FIELD_BITS))
        | ((u128::from(counter) & FIELD_MASK) << FIELD_BITS)
        | (idx as u128 & FIELD_MASK)
}

/// `(elevation key, voxel index)` of a queue entry.
fn unpack(entry: u128) -> (u32, usize) {
    (
        (entry >> (2 * FIELD_BITS)) as u32,
        (entry & FIELD_MASK) as usize,
    )
}

/// A neighbour offset as a `[slice, row, column]` step and as a linear index delta.
struct Offset {
    step: [isize; 3],
    linear: isize,
}

fn offsets(connectivity: Connectivity, nj: usize, ni: usize) -> Vec<Offset> {
    let mut v = Vec::with_capacity(26);
    for dk in -1isize..=1 {
        for dj in -1isize..=1 {
            for di in -1isize..=1 {
                let manhattan = dk.abs() + dj.abs() + di.abs();
                let keep = match connectivity {
                    Connectivity::Six => manhattan == 1,
                    Connectivity::TwentySix => manhattan > 0,
                };
                if keep {
                    v.push(Offset {
                        step: [dk, dj, di],
                        linear: (dk * nj as isize + dj) * ni as isize + di,
                    });
                }
            }
        }
    }
    v
}

fn neighbour(
    k: usize,
    j: usize,
    i: usize,
    step: [isize; 3],
    (nk, nj, ni): (usize, usize, usize),
) -> Option<usize> {
    let [dk, dj, di] = step;
    let k = k.checked_add_signed(dk).filter(|&v| v < nk)?;
    let j = j.checked_add_signed(dj).filter(|&v| v < nj)?;
    let i = i.checked_add_signed(di).filter(|&v| v < ni)?;
    Some((k * nj + j) * ni + i)
}

/// The voxels in C order, borrowed when the view already is C-contiguous.
fn contiguous<'a, T: Copy>(vol: &ArrayView3<'a, T>) -> Cow<'a, [T]> {
    match vol.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(vol.iter().copied().collect()),
    }
}

/// `vol` in C order over `dim`, with `fill` where `vol` does not reach.
fn conform<'a, T: Copy>(
    vol: &ArrayView3<'a, T>,
    dim: (usize, usize, usize),
    fill: T,
) -> Cow<'a, [T]> {
    if vol.dim() == dim {
        return contiguous(vol);
    }
    let (nk, nj, ni) = dim;
    let mut v = Vec::with_capacity(nk * nj * ni);
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                v.push(vol.get((k, j, i)).copied().unwrap_or(fill));
            }
        }
    }
    Cow::Owned(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn ws(
        e: &Array3<f32>,
        m: &Array3<u16>,
        a: Option<&Array3<bool>>,
        c: Connectivity,
    ) -> Array3<u16> {
        watershed_from_markers(e.view(), m.view(), a.map(|a| a.view()), c)
    }

    #[test]
    fn ridge_separates_two_markers() {
        let dim = (3, 7, 13);
        // A wavy ridge, two voxels wide where it shifts so that no diagonal crosses it.
        let ridge = |j: usize| match j {
            2 | 3 => (7, 7),
            1 | 4 => (6, 7),
            _ => (6, 6),
        };
        let e = Array3::from_shape_fn(dim, |(_, j, i)| {
            let (a, b) = ridge(j);
            if (a..=b).contains(&i) {
                100.0
            } else {
                (i as f32 - 3.0).abs().min((i as f32 - 10.0).abs())
            }
        });
        let mut m = Array3::zeros(dim);
        m[[1, 3, 2]] = 1;
        m[[1, 3, 11]] = 2;
        for c in [Connectivity::Six, Connectivity::TwentySix] {
            let l = ws(&e, &m, None, c);
            for ((_, j, i), &v) in l.indexed_iter() {
                let (a, b) = ridge(j);
                if i < a {
                    assert_eq!(v, 1, "({j},{i})");
                } else if i > b {
                    assert_eq!(v, 2, "({j},{i})");
                } else {
                    assert!(v == 1 || v == 2);
                }
            }
        }
    }

    #[test]
    fn marker_fills_only_allowed_region() {
        let dim = (4, 6, 6);
        let e = Array3::zeros(dim);
        let allowed = Array3::from_shape_fn(dim, |(k, j, i)| k >= 1 && j < 3 && i < 4);
        let mut m = Array3::zeros(dim);
        m[[2, 1, 1]] = 7;
        let l = ws(&e, &m, Some(&allowed), Connectivity::Six);
        assert_eq!(l, allowed.mapv(|a| if a { 7 } else { 0 }));
    }

    #[test]
    fn marker_outside_allowed_still_seeds() {
        let e = Array3::zeros((1, 1, 5));
        let allowed = ndarray::arr3(&[[[false, true, true, false, true]]]);
        let m = ndarray::arr3(&[[[3u16, 0, 0, 0, 0]]]);
        let l = ws(&e, &m, Some(&allowed), Connectivity::Six);
        assert_eq!(l, ndarray::arr3(&[[[3u16, 3, 3, 0, 0]]]));
    }

    #[test]
    fn diagonal_gap_needs_26_connectivity() {
        let dim = (2, 3, 3);
        let e = Array3::zeros(dim);
        let mut allowed = Array3::from_elem(dim, false);
        allowed[[0, 0, 0]] = true;
        allowed[[1, 1, 1]] = true;
        allowed[[0, 2, 2]] = true;
        let mut m = Array3::zeros(dim);
        m[[0, 0, 0]] = 1;
        let six = ws(&e, &m, Some(&allowed), Connectivity::Six);
        assert_eq!(six.iter().filter(|&&v| v == 1).count(), 1);
        let full = ws(&e, &m, Some(&allowed), Connectivity::TwentySix);
        assert_eq!(full, allowed.mapv(u16::from));
    }

    #[test]
    fn lower_elevation_floods_first_and_nan_last() {
        // Marker 1 faces a NaN wall; marker 2 reaches the middle over flat ground first.
        let e = ndarray::arr3(&[[[0.0f32, f32::NAN, 0.0, 0.0, 0.0]]]);
        let m = ndarray::arr3(&[[[1u16, 0, 0, 0, 2]]]);
        let l = ws(&e, &m, None, Connectivity::Six);
        assert_eq!(l, ndarray::arr3(&[[[1u16, 1, 2, 2, 2]]]));
        let e = ndarray::arr3(&[[[0.0f32, 5.0, 1.0, 9.0, 0.0]]]);
        let l = ws(&e, &m, None, Connectivity::Six);
        assert_eq!(l, ndarray::arr3(&[[[1u16, 1, 1, 2, 2]]]));
    }

    #[test]
    fn equal_elevations_are_served_first_in_first_out() {
        // On flat ground each voxel goes to the nearest marker; the exact tie in the middle
        // goes to the marker seeded first in index order.
        let e = Array3::zeros((1, 1, 7));
        let m = ndarray::arr3(&[[[1u16, 0, 0, 0, 0, 0, 2]]]);
        let l = ws(&e, &m, None, Connectivity::Six);
        assert_eq!(l, ndarray::arr3(&[[[1u16, 1, 1, 1, 2, 2, 2]]]));
    }

    #[test]
    fn result_is_deterministic_across_runs_and_thread_counts() -> TestResult {
        let dim = (9, 21, 23);
        let mut state = 0x9e37_79b9_u32;
        // Coarsely quantised noise makes many ties, the case FIFO order must settle.
        let e = Array3::from_shape_fn(dim, |_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 4) as f32
        });
        let mut m = Array3::zeros(dim);
        for (n, idx) in [[0, 0, 0], [4, 10, 11], [8, 20, 22], [2, 15, 3], [6, 3, 19]]
            .into_iter()
            .enumerate()
        {
            m[idx] = n as u16 + 1;
        }
        let allowed = Array3::from_shape_fn(dim, |(k, j, i)| (k + j + i) % 11 != 0);
        for c in [Connectivity::Six, Connectivity::TwentySix] {
            let run = || ws(&e, &m, Some(&allowed), c);
            let first = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()?
                .install(run);
            let second = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()?
                .install(run);
            assert_eq!(first, second);
            assert_eq!(first, run());
            assert!(first.iter().all(|&v| v <= 5));
        }
        Ok(())
    }

    #[test]
    fn no_markers_gives_all_zero() {
        let e = Array3::from_elem((3, 4, 5), 1.0f32);
        let m = Array3::zeros((3, 4, 5));
        for c in [Connectivity::Six, Connectivity::TwentySix] {
            assert!(ws(&e, &m, None, c).iter().all(|&v| v == 0));
        }
    }

    #[test]
    fn tiny_and_empty_shapes_work() {
        for dim in [
            (0, 0, 0),
            (0, 3, 3),
            (2, 0, 1),
            (1, 1, 1),
            (1, 1, 6),
            (6, 1, 1),
            (1, 4, 1),
        ] {
            let e = Array3::zeros(dim);
            let mut m = Array3::zeros(dim);
            if let Some(first) = m.iter_mut().next() {
                *first = 4;
            }
            for c in [Connectivity::Six, Connectivity::TwentySix] {
                let l = ws(&e, &m, None, c);
                assert_eq!(l.dim(), dim);
                assert!(l.iter().all(|&v| v == 4));
            }
        }
    }

    #[test]
    fn mismatched_and_strided_inputs_are_handled() {
        let dim = (2, 4, 6);
        let e = Array3::from_shape_fn(dim, |(k, j, i)| (k * 7 + j * 3 + i) as f32 % 5.0);
        // Markers cover only part of the volume; the rest counts as unmarked.
        let small = ndarray::arr3(&[[[1u16, 0], [0, 0]]]);
        let l = watershed_from_markers(e.view(), small.view(), None, Connectivity::Six);
        assert_eq!(l.dim(), dim);
        assert!(l.iter().all(|&v| v == 1));
        // A reversed view floods exactly like its owned copy.
        let big = Array3::from_shape_fn((2, 4, 12), |(k, j, i)| (k * 5 + j * 11 + i) as f32 % 7.0);
        let view = big.slice(s![..;-1, .., ..;2]);
        let mut m = Array3::zeros(view.dim());
        m[[0, 0, 0]] = 1;
        m[[1, 3, 5]] = 2;
        let a = watershed_from_markers(view, m.view(), None, Connectivity::TwentySix);
        let b = watershed_from_markers(
            view.to_owned().view(),
            m.view(),
            None,
            Connectivity::TwentySix,
        );
        assert_eq!(a, b);
    }

    /// The flood exactly as specified: one heap ordered by (elevation, insertion counter),
    /// every marker queued.
    fn reference(
        e: &Array3<f32>,
        m: &Array3<u16>,
        a: Option<&Array3<bool>>,
        c: Connectivity,
    ) -> Array3<u16> {
        let dim = e.dim();
        let mut labels = m.clone();
        let mut heap = BinaryHeap::new();
        let mut counter = 0u64;
        for ((k, j, i), &l) in m.indexed_iter() {
            if l != 0 {
                heap.push(Reverse((elevation_key(e[[k, j, i]]), counter, (k, j, i))));
                counter += 1;
            }
        }
        while let Some(Reverse((level, _, (k, j, i)))) = heap.pop() {
            let label = labels[[k, j, i]];
            for o in offsets(c, dim.1, dim.2) {
                let Some(q) = neighbour(k, j, i, o.step, dim) else {
                    continue;
                };
                let q = (q / (dim.1 * dim.2), q / dim.2 % dim.1, q % dim.2);
                if labels[q] != 0 || a.is_some_and(|a| !a[q]) {
                    continue;
                }
                labels[q] = label;
                heap.push(Reverse((elevation_key(e[q]).max(level), counter, q)));
                counter += 1;
            }
        }
        labels
    }

    #[test]
    fn matches_plain_priority_queue_flood() {
        let mut state = 0x1234_5678_u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for round in 0..24 {
            let dim = (1 + round % 5, 3 + round % 7, 4 + round % 9);
            let levels = [2, 5, 1000, u32::MAX][round % 4];
            let e = Array3::from_shape_fn(dim, |_| {
                let v = next();
                match v % 50 {
                    0 => f32::NAN,
                    1 => -0.0,
                    _ => (v % levels) as f32 * 0.37,
                }
            });
            // Marker blobs (many interior seeds) plus scattered single seeds.
            let centre = (next() as usize % dim.1, next() as usize % dim.2);
            let m = Array3::from_shape_fn(dim, |(_, j, i)| {
                let v = next();
                if j.abs_diff(centre.0) <= 1 && i.abs_diff(centre.1) <= 2 {
                    1
                } else if v % 37 == 0 {
                    (v % 4) as u16 + 2
                } else {
                    0
                }
            });
            let a = Array3::from_shape_fn(dim, |_| next() % 5 != 0);
            for c in [Connectivity::Six, Connectivity::TwentySix] {
                for allowed in [None, Some(&a)] {
                    assert_eq!(ws(&e, &m, allowed, c), reference(&e, &m, allowed, c));
                }
            }
        }
    }

    #[test]
    fn keys_follow_float_order() {
        let vals = [
            f32::NEG_INFINITY,
            -3.5,
            -0.0,
            0.0,
            1e-30,
            2.0,
            7.5,
            f32::INFINITY,
        ];
        let keys: Vec<u32> = vals.iter().map(|&v| elevation_key(v)).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(elevation_key(-0.0), elevation_key(0.0));
        assert_eq!(elevation_key(f32::NAN), elevation_key(f32::INFINITY));
        assert_eq!(unpack(pack(keys[5], 123, 456_789)), (keys[5], 456_789));
    }
}
