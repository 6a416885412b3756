//! Thresholding: fixed HU ranges, named presets, and automatic thresholds (Otsu, triangle).

use crate::compute::Compute;
use crate::segment::mask::Mask;
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, same_grid, target};
use crate::segment::presets::Presets;
use crate::volume::Volume;
use ndarray::Array3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Voxels with `lo <= HU <= hi` (inclusive) become the label; nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Lowest HU included.
    pub lo: i32,
    /// Highest HU included.
    pub hi: i32,
    /// Target label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A threshold from the preset table; the log records the HU range it resolved to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdPreset {
    /// Preset name, e.g. "bone".
    pub preset: String,
    /// Filled from the table when absent; an explicit value wins (replay never depends on
    /// the user's preset file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lo: Option<i32>,
    /// As `lo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hi: Option<i32>,
    /// Target label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Automatic threshold method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoMethod {
    /// Otsu: maximises between-class variance.
    Otsu,
    /// Zack's triangle method: the point of the histogram farthest from the line joining
    /// its peak to its far end; suited to one dominant peak (air/soft tissue) and a tail
    /// (bone).
    Triangle,
}

/// Threshold computed from the histogram; voxels at or above it (within `range`) are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdAuto {
    /// The method.
    pub method: AutoMethod,
    /// HU range the histogram is taken over, and the upper bound of the result.
    #[serde(default = "default_range")]
    pub range: [i32; 2],
    /// Target label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

fn default_range() -> [i32; 2] {
    [-1024, 3071]
}

fn check_range(lo: i32, hi: i32, lo_field: &str) -> Result<(), OpError> {
    if lo > hi {
        return Err(OpError::invalid(
            lo_field,
            format!("lo ({lo}) is greater than hi ({hi})"),
        ));
    }
    for (v, f) in [(lo, "lo"), (hi, "hi")] {
        if !(i32::from(i16::MIN)..=i32::from(i16::MAX)).contains(&v) {
            return Err(OpError::invalid(
                f,
                format!("{v} HU is outside -32768..32767"),
            ));
        }
    }
    Ok(())
}

impl SegOp for Threshold {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        check_range(self.lo, self.hi, "lo")
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        self.apply_on(v, seg, &Compute::cpu())
    }
    fn apply_on(
        &self,
        v: &Volume,
        seg: &mut Segmentation,
        compute: &Compute,
    ) -> Result<Outcome, OpError> {
        let t = target(&self.label);
        let (mask, note) = threshold_on(compute, &v.hu, self.lo, self.hi);
        seg.set_mask(t, mask);
        let out = Outcome::changed(t);
        Ok(match note {
            Some(n) => out.note(n),
            None => out,
        })
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

impl ThresholdPreset {
    /// Fills `lo`/`hi` from the table.
    pub fn resolve(&mut self, presets: &Presets) -> Result<(), OpError> {
        if self.lo.is_some() && self.hi.is_some() {
            return Ok(());
        }
        let p = presets.get(&self.preset).ok_or_else(|| {
            OpError::invalid(
                "preset",
                format!(
                    "no preset `{}`; the presets are: {}",
                    self.preset,
                    presets.names().join(", ")
                ),
            )
        })?;
        self.lo = Some(self.lo.unwrap_or(p.lo));
        self.hi = Some(self.hi.unwrap_or(p.hi));
        Ok(())
    }
}

impl SegOp for ThresholdPreset {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        match (self.lo, self.hi) {
            (Some(lo), Some(hi)) => check_range(lo, hi, "lo"),
            _ => Err(OpError::invalid(
                "preset",
                "the preset was not resolved to a HU range",
            )),
        }
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        self.apply_on(v, seg, &Compute::cpu())
    }
    fn apply_on(
        &self,
        v: &Volume,
        seg: &mut Segmentation,
        compute: &Compute,
    ) -> Result<Outcome, OpError> {
        let (lo, hi) = (self.lo.unwrap_or(0), self.hi.unwrap_or(0));
        let t = target(&self.label);
        let (mask, note) = threshold_on(compute, &v.hu, lo, hi);
        seg.set_mask(t, mask);
        let mut text = format!("preset {} = {lo}..{hi} HU", self.preset);
        if let Some(n) = note {
            text.push_str("; ");
            text.push_str(&n);
        }
        Ok(Outcome::changed(t).note(text))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

impl SegOp for ThresholdAuto {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        check_range(self.range[0], self.range[1], "range")
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let hist = histogram(&v.hu);
        let (lo, hi) = (self.range[0], self.range[1]);
        let t = match self.method {
            AutoMethod::Otsu => otsu(&hist, lo, hi),
            AutoMethod::Triangle => triangle(&hist, lo, hi),
        };
        let label = target(&self.label);
        seg.set_mask(label, threshold_mask(&v.hu, t, hi));
        Ok(Outcome::changed(label).note(format!(
            "{:?} threshold = {t} HU (kept {t}..{hi})",
            self.method
        )))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

/// The threshold mask where `compute` says, and a note when not on the CPU alone (which
/// device ran, or why the CPU ran instead).
fn threshold_on(compute: &Compute, hu: &Array3<i16>, lo: i32, hi: i32) -> (Mask, Option<String>) {
    let (mask, record) = compute.threshold(hu, lo, hi);
    let note = (record.path == "gpu" || compute.accelerator().is_some())
        .then(|| format!("computed on {}", record.line()));
    (mask, note)
}

/// The mask of `lo <= hu <= hi`, built 64 voxels to a word, in parallel over slices.
pub fn threshold_mask(hu: &Array3<i16>, lo: i32, hi: i32) -> Mask {
    let (n, rows, cols) = hu.dim();
    let lo = lo.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
    let hi = hi.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
    let mut m = Mask::new([n, rows, cols]);
    let rw = m.row_words();
    let sw = m.slice_words();
    if sw == 0 {
        return m;
    }
    m.words_mut()
        .par_chunks_mut(sw)
        .enumerate()
        .for_each(|(k, slice)| {
            let plane = hu.index_axis(ndarray::Axis(0), k);
            for j in 0..rows {
                let row_words = &mut slice[j * rw..(j + 1) * rw];
                let row = plane.row(j);
                match row.as_slice() {
                    Some(values) => pack_row(values, lo, hi, row_words),
                    None => {
                        let v: Vec<i16> = row.iter().copied().collect();
                        pack_row(&v, lo, hi, row_words);
                    }
                }
            }
        });
    m
}

fn pack_row(values: &[i16], lo: i16, hi: i16, out: &mut [u64]) {
    // One unsigned comparison per voxel on fixed 64-wide chunks: the compiler turns it
    // into vector compares and mask extraction.
    let range = hi.wrapping_sub(lo) as u16;
    let inside = |v: i16| v.wrapping_sub(lo) as u16 <= range;
    let mut chunks = values.chunks_exact(64);
    let mut words = out.iter_mut();
    // Chunks first: zip polls its first iterator first, so no word is skipped at the end.
    for (chunk, w) in chunks.by_ref().zip(words.by_ref()) {
        let mut bits = 0u64;
        for (b, v) in chunk.iter().enumerate() {
            bits |= u64::from(inside(*v)) << b;
        }
        *w = bits;
    }
    if let Some(w) = words.next() {
        let mut bits = 0u64;
        for (b, v) in chunks.remainder().iter().enumerate() {
            bits |= u64::from(inside(*v)) << b;
        }
        *w = bits;
    }
}

/// Histogram of all i16 values: index `hu + 32768`.
pub fn histogram(hu: &Array3<i16>) -> Vec<u64> {
    let data: Vec<&[i16]> = match hu.as_slice() {
        Some(s) => vec![s],
        None => Vec::new(),
    };
    let count = |acc: &mut Vec<u64>, v: i16| acc[(i32::from(v) + 32768) as usize] += 1;
    if let Some(s) = data.first() {
        // Integer counts add up the same in any order: deterministic.
        s.par_chunks(1 << 18)
            .fold(
                || vec![0u64; 65536],
                |mut acc, c| {
                    for v in c {
                        count(&mut acc, *v);
                    }
                    acc
                },
            )
            .reduce(
                || vec![0u64; 65536],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                },
            )
    } else {
        let mut acc = vec![0u64; 65536];
        for v in hu {
            count(&mut acc, *v);
        }
        acc
    }
}

/// Otsu's threshold on `hist` restricted to `lo..=hi`: the first value of the upper class.
pub fn otsu(hist: &[u64], lo: i32, hi: i32) -> i32 {
    let idx = |v: i32| (v + 32768) as usize;
    let (a, b) = (idx(lo), idx(hi));
    let total: f64 = hist[a..=b].iter().map(|c| *c as f64).sum();
    let sum: f64 = (a..=b).map(|i| i as f64 * hist[i] as f64).sum();
    let (mut w0, mut s0) = (0.0f64, 0.0f64);
    let (mut best, mut best_t) = (-1.0f64, lo);
    for (i, c) in hist.iter().enumerate().take(b).skip(a) {
        w0 += *c as f64;
        s0 += i as f64 * *c as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let m0 = s0 / w0;
        let m1 = (sum - s0) / w1;
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_t = i as i32 - 32768 + 1;
        }
    }
    best_t
}

/// The triangle threshold on `hist` restricted to `lo..=hi`.
pub fn triangle(hist: &[u64], lo: i32, hi: i32) -> i32 {
    let idx = |v: i32| (v + 32768) as usize;
    let (a, b) = (idx(lo), idx(hi));
    let Some(peak) = (a..=b).max_by_key(|i| (hist[*i], std::cmp::Reverse(*i))) else {
        return lo;
    };
    // The far end: the last non-empty bin on the longer side of the peak.
    let last = (a..=b).rev().find(|i| hist[*i] > 0).unwrap_or(b);
    let first = (a..=b).find(|i| hist[*i] > 0).unwrap_or(a);
    let (from, to) = if last - peak >= peak - first {
        (peak, last)
    } else {
        (first, peak)
    };
    if from == to {
        return peak as i32 - 32768;
    }
    let (x0, y0, x1, y1) = (from as f64, hist[from] as f64, to as f64, hist[to] as f64);
    let norm = ((y1 - y0).powi(2) + (x1 - x0).powi(2)).sqrt();
    let mut best = (-1.0f64, from);
    for (i, c) in hist.iter().enumerate().take(to + 1).skip(from) {
        let d = ((y1 - y0) * i as f64 - (x1 - x0) * *c as f64 + x1 * y0 - y1 * x0).abs() / norm;
        if d > best.0 {
            best = (d, i);
        }
    }
    best.1 as i32 - 32768
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusive_bounds_and_row_padding() {
        let hu = Array3::from_shape_fn((2, 3, 70), |(k, j, i)| (k * 1000 + j * 100 + i) as i16);
        let m = threshold_mask(&hu, 105, 169);
        assert!(m.get(0, 1, 5) && m.get(0, 1, 69) && !m.get(0, 1, 4) && !m.get(0, 2, 0));
        assert_eq!(m.count(), 65);
        assert_eq!(m.words()[1] >> 6, 0, "padding bits stay zero");
    }

    #[test]
    fn packing_matches_a_naive_loop_for_every_row_width() {
        for cols in [1usize, 5, 63, 64, 65, 127, 128, 130, 512] {
            let hu = Array3::from_shape_fn((2, 3, cols), |(k, j, i)| {
                ((i * 37 + j * 11 + k * 5) % 400) as i16 - 100
            });
            let m = threshold_mask(&hu, -20, 150);
            for ((k, j, i), v) in hu.indexed_iter() {
                assert_eq!(
                    m.get(k, j, i),
                    (-20..=150).contains(v),
                    "cols {cols} at {k},{j},{i}"
                );
            }
        }
    }

    #[test]
    fn otsu_and_triangle_split_two_levels() {
        let hu = Array3::from_shape_fn((4, 10, 10), |(k, _, i)| {
            if k < 2 {
                -1000 + i as i16
            } else {
                700 + i as i16
            }
        });
        let h = histogram(&hu);
        let t = otsu(&h, -1024, 3071);
        assert!((-990..=700).contains(&t), "{t}");
        let m = threshold_mask(&hu, t, 3071);
        assert_eq!(m.count(), 200);
        let t2 = triangle(&h, -1024, 3071);
        assert!((-1000..=709).contains(&t2), "{t2}");
    }

    #[test]
    fn lo_above_hi_names_the_field() {
        let e = check_range(300, 200, "lo").unwrap_err();
        assert!(e.to_string().contains("`lo`"), "{e}");
    }
}
