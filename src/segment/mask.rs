//! A binary mask on a volume's grid, bit-packed.
//!
//! Layout: every row of `columns` voxels occupies `row_words = ceil(columns / 64)` u64
//! words, bit `i % 64` of word `i / 64` for column `i`; rows follow each other, then slices.
//! Row padding keeps every row and slice word-aligned, so runs are found with bit tricks
//! and a slice can be hashed on its own. A 512×512×140 mask takes 4.6 MB.
//!
//! The mask hash (blake3) is defined on this canonical encoding: the domain string
//! `hounsfield-mask-v1`, the dimensions `[slices, rows, columns]` as u64 little endian,
//! then the blake3 hash of each slice's words (u64 little endian, padding bits zero), in
//! slice order. Hashing per slice lets an edit that touches a few slices rehash only those.

use rayon::prelude::*;

/// A blake3 hash, shown as hex.
pub type Hash = [u8; 32];

/// Hex form of a hash.
pub fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// The words where two masks differ, xored: runs `(start word, length)` over one buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XorRuns {
    /// `(first word, number of words)` of each run.
    pub runs: Vec<(u32, u32)>,
    /// The xor words of all runs, concatenated.
    pub words: Vec<u64>,
}

impl XorRuns {
    /// True when nothing differs.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Memory held, bytes.
    pub fn size_bytes(&self) -> usize {
        self.runs.len() * 8 + self.words.len() * 8
    }
}

/// A bit-packed binary mask `[slice, row, column]`.
#[derive(Debug, Clone)]
pub struct Mask {
    dims: [usize; 3],
    row_words: usize,
    words: Vec<u64>,
    slice_hash: Vec<Option<Hash>>,
}

impl PartialEq for Mask {
    fn eq(&self, other: &Self) -> bool {
        self.dims == other.dims && self.words == other.words
    }
}

impl Mask {
    /// An empty mask.
    pub fn new(dims: [usize; 3]) -> Self {
        let row_words = dims[2].div_ceil(64);
        Self {
            dims,
            row_words,
            words: vec![0; dims[0] * dims[1] * row_words],
            slice_hash: vec![None; dims[0]],
        }
    }

    /// `[slices, rows, columns]`.
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }

    /// Words per row.
    pub fn row_words(&self) -> usize {
        self.row_words
    }

    /// Words per slice.
    pub fn slice_words(&self) -> usize {
        self.dims[1] * self.row_words
    }

    /// The packed words (read-only).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The packed words for writing; every slice is marked changed.
    pub fn words_mut(&mut self) -> &mut [u64] {
        self.slice_hash.iter_mut().for_each(|h| *h = None);
        &mut self.words
    }

    /// The words of slices `range`, for writing; only those are marked changed.
    pub fn slices_mut(&mut self, range: std::ops::Range<usize>) -> &mut [u64] {
        let sw = self.slice_words();
        let r = range.start.min(self.dims[0])..range.end.min(self.dims[0]);
        for h in &mut self.slice_hash[r.clone()] {
            *h = None;
        }
        &mut self.words[r.start * sw..r.end * sw]
    }

    /// Size of the packed data, bytes.
    pub fn size_bytes(&self) -> usize {
        self.words.len() * 8
    }

    fn locate(&self, k: usize, j: usize, i: usize) -> Option<(usize, u64)> {
        let [n, rows, cols] = self.dims;
        (k < n && j < rows && i < cols)
            .then(|| ((k * rows + j) * self.row_words + i / 64, 1u64 << (i % 64)))
    }

    /// The voxel's value; false outside the grid.
    pub fn get(&self, k: usize, j: usize, i: usize) -> bool {
        self.locate(k, j, i)
            .is_some_and(|(w, b)| self.words[w] & b != 0)
    }

    /// Sets a voxel; ignored outside the grid.
    pub fn set(&mut self, k: usize, j: usize, i: usize, v: bool) {
        if let Some((w, b)) = self.locate(k, j, i) {
            if v {
                self.words[w] |= b;
            } else {
                self.words[w] &= !b;
            }
            self.slice_hash[k] = None;
        }
    }

    /// Number of voxels set.
    pub fn count(&self) -> u64 {
        self.words
            .par_chunks(1 << 14)
            .map(|c| c.iter().map(|w| u64::from(w.count_ones())).sum::<u64>())
            .sum()
    }

    /// True when no voxel is set.
    pub fn is_empty(&self) -> bool {
        self.words.par_iter().all(|w| *w == 0)
    }

    /// Clears every voxel.
    pub fn clear(&mut self) {
        self.words_mut().fill(0);
    }

    /// Builds a mask from a predicate on voxel indices, in parallel over slices.
    pub fn from_fn<F>(dims: [usize; 3], f: F) -> Self
    where
        F: Fn(usize, usize, usize) -> bool + Sync,
    {
        let mut m = Self::new(dims);
        let (rows, cols, rw) = (dims[1], dims[2], m.row_words);
        let sw = rows * rw;
        if sw > 0 {
            m.words
                .par_chunks_mut(sw)
                .enumerate()
                .for_each(|(k, slice)| {
                    for j in 0..rows {
                        let row = &mut slice[j * rw..(j + 1) * rw];
                        for i in 0..cols {
                            if f(k, j, i) {
                                row[i / 64] |= 1u64 << (i % 64);
                            }
                        }
                    }
                });
        }
        m
    }

    /// Converts from a boolean array of the same shape.
    pub fn from_bools(a: ndarray::ArrayView3<'_, bool>) -> Self {
        let (n, r, c) = a.dim();
        Self::from_fn([n, r, c], |k, j, i| a[[k, j, i]])
    }

    /// Converts to a boolean array.
    pub fn to_bools(&self) -> ndarray::Array3<bool> {
        let [n, r, c] = self.dims;
        let mut out = ndarray::Array3::from_elem((n, r, c), false);
        out.axis_iter_mut(ndarray::Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(k, mut s)| {
                for j in 0..r {
                    for i in 0..c {
                        s[[j, i]] = self.get(k, j, i);
                    }
                }
            });
        out
    }

    /// The mask as bytes `[slice, row, column]`: `value` inside, 0 outside.
    pub fn to_u8(&self, value: u8) -> Vec<u8> {
        let [n, r, c] = self.dims;
        let mut out = vec![0u8; n * r * c];
        for k in 0..n {
            for j in 0..r {
                let base = (k * r + j) * c;
                for (s, e) in self.row_runs(k, j) {
                    out[base + s..base + e].fill(value);
                }
            }
        }
        out
    }

    /// The canonical hash (see the module docs); recomputes only changed slices.
    pub fn hash(&mut self) -> Hash {
        let sw = self.slice_words();
        let stale: Vec<usize> = (0..self.dims[0])
            .filter(|k| self.slice_hash[*k].is_none())
            .collect();
        let words = &self.words;
        let fresh: Vec<(usize, Hash)> = stale
            .par_iter()
            .map(|&k| (k, hash_words(&words[k * sw..(k + 1) * sw])))
            .collect();
        for (k, h) in fresh {
            self.slice_hash[k] = Some(h);
        }
        let mut h = blake3::Hasher::new();
        h.update(b"hounsfield-mask-v1");
        for d in self.dims {
            h.update(&(d as u64).to_le_bytes());
        }
        for s in &self.slice_hash {
            h.update(&s.unwrap_or([0; 32]));
        }
        *h.finalize().as_bytes()
    }

    /// The cached hash of slice `k`, when it is up to date.
    pub fn cached_slice_hash(&self, k: usize) -> Option<Hash> {
        self.slice_hash.get(k).copied().flatten()
    }

    /// The hash of slice `k`'s words, as it enters the canonical hash (cached).
    pub fn slice_hash(&mut self, k: usize) -> Hash {
        if let Some(h) = self.slice_hash[k] {
            return h;
        }
        let sw = self.slice_words();
        let h = hash_words(&self.words[k * sw..(k + 1) * sw]);
        self.slice_hash[k] = Some(h);
        h
    }

    /// Applies xor runs: the reversible delta of an edit (applying it twice is a no-op).
    pub fn xor_runs(&mut self, runs: &XorRuns) {
        let sw = self.slice_words().max(1);
        let mut offset = 0usize;
        for &(start, len) in &runs.runs {
            let (s, len) = (start as usize, len as usize);
            for o in 0..len {
                if let (Some(dst), Some(w)) =
                    (self.words.get_mut(s + o), runs.words.get(offset + o))
                {
                    *dst ^= *w;
                }
            }
            offset += len;
            let first = s / sw;
            let last = (s + len).div_ceil(sw).min(self.dims[0]);
            for h in self.slice_hash.iter_mut().take(last).skip(first) {
                *h = None;
            }
        }
    }

    /// Slices changed since the hash was last computed.
    pub fn stale_slices(&self) -> Vec<usize> {
        (0..self.dims[0])
            .filter(|k| self.slice_hash[*k].is_none())
            .collect()
    }

    /// As [`Self::diff_runs`], comparing only `slices` (the others are known equal).
    pub fn diff_runs_in(&self, other: &Mask, slices: &[usize]) -> Option<XorRuns> {
        if self.dims != other.dims {
            return None;
        }
        let sw = self.slice_words();
        // One part per slice, joined in slice order: independent of the thread count.
        let parts: Vec<XorRuns> = slices
            .par_iter()
            .map(|&k| {
                let base = k * sw;
                xor_part(
                    &self.words[base..base + sw],
                    &other.words[base..base + sw],
                    base,
                )
            })
            .collect();
        Some(join_parts(parts))
    }

    /// Where `self` and `other` differ, as xor runs; `None` when the shapes differ.
    pub fn diff_runs(&self, other: &Mask) -> Option<XorRuns> {
        if self.dims != other.dims {
            return None;
        }
        // Fixed chunks keep the result independent of the thread count.
        const CHUNK: usize = 1 << 14;
        let parts: Vec<XorRuns> = self
            .words
            .par_chunks(CHUNK)
            .zip(other.words.par_chunks(CHUNK))
            .enumerate()
            .map(|(c, (a, b))| xor_part(a, b, c * CHUNK))
            .collect();
        Some(join_parts(parts))
    }

    /// Iterates the runs of set voxels in row `(k, j)` as half-open column ranges.
    pub fn row_runs(&self, k: usize, j: usize) -> RowRuns<'_> {
        let start = (k * self.dims[1] + j) * self.row_words;
        RowRuns {
            words: &self.words[start..start + self.row_words],
            cols: self.dims[2],
            pos: 0,
        }
    }
}

/// Xor runs of two equal-length word slices starting at word `base`.
fn xor_part(a: &[u64], b: &[u64], base: usize) -> XorRuns {
    let mut out = XorRuns::default();
    let mut open = false;
    for (o, (x, y)) in a.iter().zip(b).enumerate() {
        let d = x ^ y;
        if d == 0 {
            open = false;
            continue;
        }
        match out.runs.last_mut() {
            Some(last) if open => last.1 += 1,
            _ => out.runs.push(((base + o) as u32, 1)),
        }
        open = true;
        out.words.push(d);
    }
    out
}

/// Concatenates parts in order, merging a run that continues across a part boundary.
fn join_parts(parts: Vec<XorRuns>) -> XorRuns {
    let mut all = XorRuns::default();
    for p in parts {
        for (n, r) in p.runs.iter().enumerate() {
            match all.runs.last_mut() {
                Some(last) if n == 0 && last.0 + last.1 == r.0 => last.1 += r.1,
                _ => all.runs.push(*r),
            }
        }
        all.words.extend(p.words);
    }
    all
}

fn hash_words(words: &[u64]) -> Hash {
    let mut h = blake3::Hasher::new();
    let mut buf = [0u8; 8 * 256];
    for chunk in words.chunks(256) {
        for (o, w) in chunk.iter().enumerate() {
            buf[o * 8..o * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        h.update(&buf[..chunk.len() * 8]);
    }
    *h.finalize().as_bytes()
}

/// Runs of set bits in one row.
pub struct RowRuns<'a> {
    words: &'a [u64],
    cols: usize,
    pos: usize,
}

impl Iterator for RowRuns<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let start = self.next_bit(true)?;
        self.pos = start;
        let end = self.next_bit(false).unwrap_or(self.cols);
        self.pos = end;
        Some((start, end))
    }
}

impl RowRuns<'_> {
    /// The first column at or after `pos` whose bit equals `set`.
    fn next_bit(&self, set: bool) -> Option<usize> {
        let mut p = self.pos;
        while p < self.cols {
            let w = self.words[p / 64];
            let w = if set { w } else { !w };
            let masked = w & (u64::MAX << (p % 64));
            if masked != 0 {
                let c = (p / 64) * 64 + masked.trailing_zeros() as usize;
                return (c < self.cols).then_some(c);
            }
            p = (p / 64 + 1) * 64;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count_and_runs() {
        let mut m = Mask::new([2, 3, 130]);
        for i in [0, 1, 2, 63, 64, 65, 129] {
            m.set(1, 2, i, true);
        }
        assert!(m.get(1, 2, 64) && !m.get(1, 2, 3) && !m.get(5, 0, 0));
        assert_eq!(m.count(), 7);
        let runs: Vec<_> = m.row_runs(1, 2).collect();
        assert_eq!(runs, vec![(0, 3), (63, 66), (129, 130)]);
        assert_eq!(m.row_runs(0, 0).count(), 0);
    }

    #[test]
    fn full_row_run_ends_at_the_last_column() {
        let m = Mask::from_fn([1, 1, 128], |_, _, _| true);
        assert_eq!(m.row_runs(0, 0).collect::<Vec<_>>(), vec![(0, 128)]);
    }

    #[test]
    fn hash_depends_on_content_and_dims_and_is_cached_correctly() {
        let mut a = Mask::new([3, 4, 5]);
        let mut b = Mask::new([3, 5, 4]);
        assert_ne!(a.hash(), b.hash());
        let h0 = a.hash();
        a.set(2, 1, 1, true);
        let h1 = a.hash();
        assert_ne!(h0, h1);
        let mut c = a.clone();
        assert_eq!(c.hash(), h1);
        a.set(2, 1, 1, false);
        assert_eq!(a.hash(), h0);
    }

    #[test]
    fn xor_delta_undoes_and_redoes() {
        let before = Mask::from_fn([4, 8, 70], |k, j, i| (k + j + i) % 3 == 0);
        let after = Mask::from_fn([4, 8, 70], |k, j, i| (k * j + i) % 5 == 0);
        let runs = after.diff_runs(&before).unwrap();
        let mut m = before.clone();
        m.xor_runs(&runs);
        assert_eq!(m, after);
        m.xor_runs(&runs);
        assert_eq!(m, before);
        let mut h = m.clone();
        assert_eq!(h.hash(), before.clone().hash());
    }
}
