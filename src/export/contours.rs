//! Per-slice outlines of a binary mask as closed polylines in LPS millimetres, and their JSON file.
//!
//! # Geometry
//!
//! Each slice is traced by marching squares on the grid of pixel centres, with everything
//! outside the image counted as outside. A contour point lies half-way between an inside
//! and an outside pixel centre (the half-voxel boundary), so a lone pixel becomes a diamond
//! and a k x k square (unit spacing) a loop of perimeter `4 (k - 1) + 2 sqrt 2`. In the
//! ambiguous (saddle) case, where only two diagonal pixels of a 2 x 2 cell are inside, the
//! two inside pixels are treated as separated: diagonal neighbours never join, so two
//! pixels touching only at a corner give two loops. Points on a straight run are merged,
//! which changes no outline.
//!
//! Every polyline is closed (its first point is not repeated at its end) and oriented
//! counter-clockwise around the inside in index space: with x = column and y = row, the
//! shoelace area of an outer boundary is positive and that of a hole negative. For the
//! usual axial affine (column along +L, row along +P) that is counter-clockwise seen from
//! superior. Index coordinates `(column, row, slice)` map to LPS millimetres through the
//! affine `[[f64; 4]; 3]`: row `i` of the matrix gives LPS coordinate `i` as
//! `a[i][0] * column + a[i][1] * row + a[i][2] * slice + a[i][3]`.
//!
//! # JSON file (`write_json`)
//!
//! ```json
//! {
//!   "format": "hounsfield-contours",
//!   "version": 1,
//!   "frame": "LPS",
//!   "unit": "mm",
//!   "slices": [
//!     {
//!       "index": 12,
//!       "position_mm": [-179.65, -320.0, -987.5],
//!       "polylines": [[[x, y, z], [x, y, z], ...], ...]
//!     }
//!   ]
//! }
//! ```
//!
//! - `index`: the slice number (0-based, the slowest mask axis); only slices with at least
//!   one inside pixel are listed, in increasing order.
//! - `position_mm`: LPS position of the slice's first pixel centre (column 0, row 0), i.e.
//!   its DICOM Image Position (Patient).
//! - `polylines`: closed loops as described above, each a list of LPS points in mm; the
//!   closing segment from the last point back to the first is implied.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use crate::io::atomic::write_atomic;

/// The outlines of one slice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SliceContours {
    /// Slice number (0-based, slowest mask axis).
    pub index: usize,
    /// LPS mm position of the slice's column 0, row 0 pixel centre.
    pub position_mm: [f64; 3],
    /// Closed loops of LPS mm points, counter-clockwise around the inside in index space.
    pub polylines: Vec<Vec<[f64; 3]>>,
}

/// Outlines of a mask stored slice by slice, row by row (`dims` = `[slices, rows, cols]`, nonzero = inside).
pub fn extract(
    mask: &[u8],
    dims: [usize; 3],
    affine: &[[f64; 4]; 3],
) -> io::Result<Vec<SliceContours>> {
    check_dims(dims)?;
    let [_, rows, cols] = dims;
    let expected = dims
        .iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .ok_or_else(|| invalid(format!("mask dimensions {dims:?} overflow")))?;
    if mask.len() != expected {
        return Err(invalid(format!(
            "mask has {} voxels but dimensions {dims:?} need {expected}",
            mask.len()
        )));
    }
    Ok(extract_impl(dims, affine, |s, r, c| {
        mask[(s * rows + r) * cols + c] != 0
    }))
}

/// Largest number of rows or columns accepted (DICOM images have at most 65 535).
pub const MAX_SIDE: usize = 1 << 20;

/// Rejects slice sizes beyond [`MAX_SIDE`].
fn check_dims(dims: [usize; 3]) -> io::Result<()> {
    if dims[1] > MAX_SIDE || dims[2] > MAX_SIDE {
        return Err(invalid(format!(
            "mask dimensions {dims:?}: rows and columns must be at most {MAX_SIDE}"
        )));
    }
    Ok(())
}

/// Outlines of the mask given by `inside(slice, row, column)` over `dims` = `[slices, rows, cols]`.
pub fn extract_with(
    dims: [usize; 3],
    inside: &dyn Fn(usize, usize, usize) -> bool,
    affine: &[[f64; 4]; 3],
) -> io::Result<Vec<SliceContours>> {
    check_dims(dims)?;
    Ok(extract_impl(dims, affine, inside))
}

/// Writes `contours` as a `hounsfield-contours` version 1 JSON file (format in the module doc).
pub fn write_json(path: &Path, contours: &[SliceContours]) -> io::Result<()> {
    for s in contours {
        let finite = s
            .position_mm
            .iter()
            .chain(s.polylines.iter().flatten().flatten())
            .all(|v| v.is_finite());
        if !finite {
            return Err(invalid(format!(
                "contours of slice {} contain a non-finite coordinate (check the affine)",
                s.index
            )));
        }
    }
    #[derive(Serialize)]
    struct Document<'a> {
        format: &'static str,
        version: u32,
        frame: &'static str,
        unit: &'static str,
        slices: &'a [SliceContours],
    }
    let doc = Document {
        format: "hounsfield-contours",
        version: 1,
        frame: "LPS",
        unit: "mm",
        slices: contours,
    };
    write_atomic(path, |w| {
        serde_json::to_writer(&mut *w, &doc).map_err(io::Error::other)?;
        w.write_all(b"\n")
    })
}

/// Traces every slice and maps its loops to LPS.
fn extract_impl<F>(dims: [usize; 3], a: &[[f64; 4]; 3], inside: F) -> Vec<SliceContours>
where
    F: Fn(usize, usize, usize) -> bool,
{
    let [slices, rows, cols] = dims;
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let map = |c: f64, r: f64, s: f64| -> [f64; 3] {
        std::array::from_fn(|i| a[i][0] * c + a[i][1] * r + a[i][2] * s + a[i][3])
    };
    let mut out = Vec::new();
    for k in 0..slices {
        let loops = slice_loops(rows, cols, |r, c| inside(k, r, c));
        if loops.is_empty() {
            continue;
        }
        let s = k as f64;
        let polylines = loops
            .iter()
            .map(|lp| {
                lp.iter()
                    .map(|&(x2, y2)| map(x2 as f64 / 2.0, y2 as f64 / 2.0, s))
                    .collect()
            })
            .collect();
        out.push(SliceContours {
            index: k,
            position_mm: map(0.0, 0.0, s),
            polylines,
        });
    }
    out
}

/// Segment table: for each 2 x 2 cell case (bit 0 top-left, 1 top-right, 2 bottom-right,
/// 3 bottom-left set when inside), the (from, to) edges of its segments. Edges: 0 top,
/// 1 right, 2 bottom, 3 left. A segment runs from the edge where the corner cycle
/// TL, TR, BR, BL leaves a run of inside corners to the edge where it entered that run,
/// which keeps the inside on the left; saddles (5, 10) give one segment per inside corner.
const SEGMENTS: [&[(u8, u8)]; 16] = [
    &[],
    &[(0, 3)],
    &[(1, 0)],
    &[(1, 3)],
    &[(2, 1)],
    &[(0, 3), (2, 1)],
    &[(2, 0)],
    &[(2, 3)],
    &[(3, 2)],
    &[(0, 2)],
    &[(1, 0), (3, 2)],
    &[(1, 2)],
    &[(3, 1)],
    &[(0, 1)],
    &[(3, 0)],
    &[],
];

/// Closed loops of one slice in doubled index coordinates `(2 * column, 2 * row)`.
fn slice_loops(
    rows: usize,
    cols: usize,
    inside: impl Fn(usize, usize) -> bool,
) -> Vec<Vec<(i64, i64)>> {
    // Row flags padded with one outside pixel on each side; index j is column j - 1.
    let read_row = |r: usize, buf: &mut Vec<bool>| -> bool {
        buf.clear();
        buf.push(false);
        let mut any = false;
        for c in 0..cols {
            let v = inside(r, c);
            any |= v;
            buf.push(v);
        }
        buf.push(false);
        any
    };
    let mut upper = vec![false; cols + 2];
    let mut lower = Vec::with_capacity(cols + 2);
    let mut upper_any = false;
    let mut segments: Vec<((i64, i64), (i64, i64))> = Vec::new();
    // Cell row r spans pixel rows r and r + 1, for r = -1 ..= rows - 1.
    for r in -1..rows as i64 {
        let lower_any = if r + 1 < rows as i64 {
            read_row((r + 1) as usize, &mut lower)
        } else {
            lower.clear();
            lower.resize(cols + 2, false);
            false
        };
        if upper_any || lower_any {
            for j in 0..=cols {
                let case = usize::from(upper[j])
                    | usize::from(upper[j + 1]) << 1
                    | usize::from(lower[j + 1]) << 2
                    | usize::from(lower[j]) << 3;
                let c = j as i64 - 1;
                let mid = |e: u8| match e {
                    0 => (2 * c + 1, 2 * r),
                    1 => (2 * c + 2, 2 * r + 1),
                    2 => (2 * c + 1, 2 * r + 2),
                    _ => (2 * c, 2 * r + 1),
                };
                for &(from, to) in SEGMENTS[case] {
                    segments.push((mid(from), mid(to)));
                }
            }
        }
        std::mem::swap(&mut upper, &mut lower);
        upper_any = lower_any;
    }
    // Every midpoint has exactly one outgoing and one incoming segment: follow them.
    let mut next: HashMap<(i64, i64), (i64, i64), BuildPointHasher> =
        HashMap::with_capacity_and_hasher(segments.len(), BuildPointHasher);
    next.extend(segments.iter().copied());
    let mut loops = Vec::new();
    for &(start, _) in &segments {
        if !next.contains_key(&start) {
            continue;
        }
        let mut lp = Vec::new();
        let mut p = start;
        while let Some(q) = next.remove(&p) {
            lp.push(p);
            p = q;
        }
        loops.push(merge_collinear(lp));
    }
    loops
}

/// Builds [`PointHasher`]s: contour points are small trusted integers, SipHash is not needed.
#[derive(Clone, Copy, Default)]
struct BuildPointHasher;

impl BuildHasher for BuildPointHasher {
    type Hasher = PointHasher;
    fn build_hasher(&self) -> PointHasher {
        PointHasher(0)
    }
}

/// A multiplicative hasher for integer point keys.
struct PointHasher(u64);

impl Hasher for PointHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// Drops points that lie on the straight line through their neighbours (exact in doubled coordinates).
fn merge_collinear(lp: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    let n = lp.len();
    if n < 4 {
        return lp;
    }
    let keep: Vec<(i64, i64)> = (0..n)
        .filter(|&i| {
            let (a, b, c) = (lp[(i + n - 1) % n], lp[i], lp[(i + 1) % n]);
            (b.0 - a.0) * (c.1 - b.1) - (b.1 - a.1) * (c.0 - b.0) != 0
        })
        .map(|i| lp[i])
        .collect();
    if keep.len() >= 3 { keep } else { lp }
}

/// An `InvalidInput` error with `msg`.
fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: [[f64; 4]; 3] = [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ];

    /// Shoelace area in the (x, y) = (L, P) plane; positive = counter-clockwise.
    fn area(p: &[[f64; 3]]) -> f64 {
        (0..p.len())
            .map(|i| {
                let (a, b) = (p[i], p[(i + 1) % p.len()]);
                a[0] * b[1] - b[0] * a[1]
            })
            .sum::<f64>()
            / 2.0
    }

    fn perimeter(p: &[[f64; 3]]) -> f64 {
        (0..p.len())
            .map(|i| {
                let (a, b) = (p[i], p[(i + 1) % p.len()]);
                ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
            })
            .sum()
    }

    fn mask_from(rows: &[&str]) -> (Vec<u8>, [usize; 3]) {
        let m = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')))
            .collect();
        (m, [1, rows.len(), rows[0].len()])
    }

    #[test]
    fn square_gives_one_counter_clockwise_loop_of_the_right_perimeter() {
        let (m, dims) = mask_from(&["......", ".###..", ".###..", ".###..", "......"]);
        let c = extract(&m, dims, &IDENTITY).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].polylines.len(), 1);
        let lp = &c[0].polylines[0];
        let expected = 4.0 * 2.0 + 2.0 * 2f64.sqrt();
        assert!(
            (perimeter(lp) - expected).abs() < 1e-12,
            "{}",
            perimeter(lp)
        );
        // Octagon: 3 x 3 minus four corner triangles of area 1/8.
        assert!((area(lp) - (9.0 - 0.5)).abs() < 1e-12, "{}", area(lp));
        assert_eq!(lp.len(), 8, "collinear midpoints are merged: {lp:?}");
        for p in lp {
            assert!((0.5..=3.5).contains(&p[0]) && (0.5..=3.5).contains(&p[1]));
        }
    }

    #[test]
    fn square_touching_the_image_border_is_closed() {
        let (m, dims) = mask_from(&["##", "##"]);
        let c = extract(&m, dims, &IDENTITY).unwrap();
        assert_eq!(c[0].polylines.len(), 1);
        let lp = &c[0].polylines[0];
        assert!((perimeter(lp) - (4.0 + 2.0 * 2f64.sqrt())).abs() < 1e-12);
        assert!(lp.iter().all(|p| p[0] >= -0.5 && p[1] >= -0.5));
    }

    #[test]
    fn ring_gives_two_loops_of_opposite_orientation() {
        let (m, dims) = mask_from(&[".....", ".###.", ".#.#.", ".###.", "....."]);
        let c = extract(&m, dims, &IDENTITY).unwrap();
        let loops = &c[0].polylines;
        assert_eq!(loops.len(), 2);
        let mut areas: Vec<f64> = loops.iter().map(|l| area(l)).collect();
        areas.sort_by(f64::total_cmp);
        assert!(
            (areas[0] + 0.5).abs() < 1e-12,
            "hole is a clockwise diamond: {areas:?}"
        );
        assert!(
            (areas[1] - 8.5).abs() < 1e-12,
            "outer is counter-clockwise: {areas:?}"
        );
    }

    #[test]
    fn diagonal_pixels_give_two_loops_in_both_saddle_cases() {
        for rows in [[".#.", "..#", "..."], ["..#", ".#.", "..."]] {
            let (m, dims) = mask_from(&rows);
            let c = extract(&m, dims, &IDENTITY).unwrap();
            let loops = &c[0].polylines;
            assert_eq!(loops.len(), 2, "{rows:?}");
            for l in loops {
                assert_eq!(l.len(), 4);
                assert!((area(l) - 0.5).abs() < 1e-12);
                assert!((perimeter(l) - 2.0 * 2f64.sqrt()).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn affine_maps_to_lps_and_slices_are_listed_with_their_position() {
        // 0.5 mm columns along L, 0.8 mm rows along P, 2 mm slices along S.
        let a = [
            [0.5, 0.0, 0.0, -100.0],
            [0.0, 0.8, 0.0, -50.0],
            [0.0, 0.0, 2.0, 300.0],
        ];
        let dims = [3, 4, 4];
        let inside =
            |s: usize, r: usize, c: usize| s == 1 && (1..3).contains(&r) && (1..3).contains(&c);
        let c = extract_with(dims, &inside, &a).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].index, 1);
        assert_eq!(c[0].position_mm, [-100.0, -50.0, 302.0]);
        let lp = &c[0].polylines[0];
        assert!(lp.iter().all(|p| p[2] == 302.0));
        let xs: Vec<f64> = lp.iter().map(|p| p[0]).collect();
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((lo, hi), (-100.0 + 0.25, -100.0 + 1.25));
        assert!(area(lp) > 0.0);
        let mask: Vec<u8> = (0..48)
            .map(|i| u8::from(inside(i / 16, (i / 4) % 4, i % 4)))
            .collect();
        assert_eq!(extract(&mask, dims, &a).unwrap(), c);
    }

    #[test]
    fn wrong_mask_length_is_an_error() {
        let e = extract(&[0; 5], [1, 2, 3], &IDENTITY).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(extract(&[], [usize::MAX, 2, 3], &IDENTITY).is_err());
        assert!(extract(&[], [0, 2, 3], &IDENTITY).unwrap().is_empty());
        let never = |_: usize, _: usize, _: usize| false;
        assert!(extract_with([1, 1, usize::MAX], &never, &IDENTITY).is_err());
        assert!(extract_with([1, MAX_SIDE + 1, 1], &never, &IDENTITY).is_err());
        assert!(
            extract_with([usize::MAX, 0, 0], &never, &IDENTITY)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn json_has_the_documented_shape() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        let (m, dims) = mask_from(&["....", ".#..", "...."]);
        let c = extract(&m, dims, &IDENTITY).unwrap();
        write_json(&p, &c).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["format"], "hounsfield-contours");
        assert_eq!(v["version"], 1);
        assert_eq!(v["frame"], "LPS");
        assert_eq!(v["unit"], "mm");
        let s = &v["slices"][0];
        assert_eq!(s["index"], 0);
        assert_eq!(s["position_mm"], serde_json::json!([0.0, 0.0, 0.0]));
        assert_eq!(s["polylines"][0].as_array().unwrap().len(), 4);
        assert_eq!(s["polylines"][0][0].as_array().unwrap().len(), 3);
        let mut bad = c.clone();
        bad[0].polylines[0][0][1] = f64::NAN;
        let q = dir.path().join("bad.json");
        assert!(write_json(&q, &bad).is_err());
        assert!(!q.exists());
    }
}
