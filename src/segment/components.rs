//! Connected components of a mask, on runs of set voxels along rows (as cc3d and
//! ITK's scanline labellers do): rows are cut into runs, runs that touch in neighbouring
//! rows are joined with a union-find, and component ids are numbered by their first voxel
//! in memory order — so every result is the same whatever the thread count.

use super::mask::Mask;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Voxel connectivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Connectivity {
    /// Faces only (4 in a slice).
    Six,
    /// Faces and edges (8 in a slice).
    Eighteen,
    /// Faces, edges and corners (8 in a slice).
    TwentySix,
}

impl TryFrom<u8> for Connectivity {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            6 => Ok(Self::Six),
            18 => Ok(Self::Eighteen),
            26 => Ok(Self::TwentySix),
            _ => Err(format!("connectivity must be 6, 18 or 26, not {v}")),
        }
    }
}

impl From<Connectivity> for u8 {
    fn from(c: Connectivity) -> u8 {
        match c {
            Connectivity::Six => 6,
            Connectivity::Eighteen => 18,
            Connectivity::TwentySix => 26,
        }
    }
}

/// A run of set voxels `[start, end)` in row `j` of slice `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Slice.
    pub k: u32,
    /// Row.
    pub j: u32,
    /// First column.
    pub start: u32,
    /// One past the last column.
    pub end: u32,
}

/// The components of a mask.
#[derive(Debug, Clone)]
pub struct Components {
    dims: [usize; 3],
    /// All runs, in memory order.
    pub runs: Vec<Run>,
    /// Index of the first run of each row `(k * rows + j)`, plus one past the end.
    row_start: Vec<usize>,
    /// Component id of each run.
    pub comp_of_run: Vec<u32>,
    /// Voxel count of each component, by id (ids ordered by first voxel).
    pub sizes: Vec<u64>,
}

struct UnionFind(Vec<u32>);

impl UnionFind {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.0[x as usize] != x {
            let p = self.0[x as usize];
            self.0[x as usize] = self.0[p as usize];
            x = p;
        }
        x
    }
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        // The smaller root wins, so roots are first runs: deterministic.
        if ra < rb {
            self.0[rb as usize] = ra;
        } else if rb < ra {
            self.0[ra as usize] = rb;
        }
    }
}

/// Labels the components of `mask`. With `per_slice`, components never cross slices.
pub fn label(mask: &Mask, conn: Connectivity, per_slice: bool) -> Components {
    let [n, rows, _] = mask.dims();
    let per_slice_runs: Vec<Vec<Run>> = (0..n)
        .into_par_iter()
        .map(|k| {
            let mut v = Vec::new();
            for j in 0..rows {
                for (s, e) in mask.row_runs(k, j) {
                    v.push(Run {
                        k: k as u32,
                        j: j as u32,
                        start: s as u32,
                        end: e as u32,
                    });
                }
            }
            v
        })
        .collect();
    let runs: Vec<Run> = per_slice_runs.into_iter().flatten().collect();
    let mut row_start = vec![0usize; n * rows + 1];
    {
        let mut r = 0;
        for (row, slot) in row_start.iter_mut().enumerate().take(n * rows) {
            *slot = r;
            while r < runs.len() && (runs[r].k as usize * rows + runs[r].j as usize) == row {
                r += 1;
            }
        }
        row_start[n * rows] = runs.len();
    }
    let mut uf = UnionFind((0..runs.len() as u32).collect());
    // Neighbour rows (dk, dj) already visited, with the column tolerance for touching.
    let in_slice: &[(usize, isize, u32)] = match conn {
        Connectivity::Six => &[(0, -1, 0)],
        _ => &[(0, -1, 1)],
    };
    let across: &[(usize, isize, u32)] = match conn {
        Connectivity::Six => &[(1, 0, 0)],
        Connectivity::Eighteen => &[(1, 0, 1), (1, -1, 0), (1, 1, 0)],
        Connectivity::TwentySix => &[(1, 0, 1), (1, -1, 1), (1, 1, 1)],
    };
    for k in 0..n {
        for j in 0..rows {
            let cur = row_start[k * rows + j]..row_start[k * rows + j + 1];
            if cur.is_empty() {
                continue;
            }
            let neighbours =
                in_slice
                    .iter()
                    .chain(if per_slice { [].iter() } else { across.iter() });
            for &(dk, dj, tol) in neighbours {
                if k < dk {
                    continue;
                }
                let nj = j as isize + dj;
                if nj < 0 || nj >= rows as isize {
                    continue;
                }
                let nk = k - dk;
                let other =
                    row_start[nk * rows + nj as usize]..row_start[nk * rows + nj as usize + 1];
                join_rows(&runs, cur.clone(), other, tol, &mut uf);
            }
        }
    }
    // Compact ids in order of first run.
    let mut id_of_root = vec![u32::MAX; runs.len()];
    let mut comp_of_run = vec![0u32; runs.len()];
    let mut sizes: Vec<u64> = Vec::new();
    for r in 0..runs.len() {
        let root = uf.find(r as u32) as usize;
        if id_of_root[root] == u32::MAX {
            id_of_root[root] = sizes.len() as u32;
            sizes.push(0);
        }
        let id = id_of_root[root];
        comp_of_run[r] = id;
        sizes[id as usize] += u64::from(runs[r].end - runs[r].start);
    }
    Components {
        dims: mask.dims(),
        runs,
        row_start,
        comp_of_run,
        sizes,
    }
}

/// Joins runs of two rows that touch (overlap, or within `tol` columns diagonally).
fn join_rows(
    runs: &[Run],
    a: std::ops::Range<usize>,
    b: std::ops::Range<usize>,
    tol: u32,
    uf: &mut UnionFind,
) {
    let (mut x, mut y) = (a.start, b.start);
    while x < a.end && y < b.end {
        let (ra, rb) = (runs[x], runs[y]);
        if ra.start < rb.end + tol && rb.start < ra.end + tol {
            uf.union(x as u32, y as u32);
        }
        // Advance the run that ends first.
        if ra.end < rb.end {
            x += 1;
        } else {
            y += 1;
        }
    }
}

impl Components {
    /// Number of components.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// True when the mask was empty.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// The largest component (ties: the one whose first voxel comes first).
    pub fn largest(&self) -> Option<u32> {
        let mut best: Option<(u64, u32)> = None;
        for (id, s) in self.sizes.iter().enumerate() {
            if best.is_none_or(|(bs, _)| *s > bs) {
                best = Some((*s, id as u32));
            }
        }
        best.map(|(_, id)| id)
    }

    /// The component holding voxel `(k, j, i)`, if set.
    pub fn component_at(&self, k: usize, j: usize, i: usize) -> Option<u32> {
        let [n, rows, _] = self.dims;
        if k >= n || j >= rows {
            return None;
        }
        let r = self.row_start[k * rows + j]..self.row_start[k * rows + j + 1];
        self.runs[r.clone()]
            .iter()
            .position(|run| (run.start as usize) <= i && i < run.end as usize)
            .map(|p| self.comp_of_run[r.start + p])
    }

    /// Whether a component touches the grid border.
    pub fn touches_border(&self) -> Vec<bool> {
        self.touches_border_in(false)
    }

    /// As [`Self::touches_border`]; with `in_plane`, the first and last slices are not
    /// border (for per-slice components).
    pub fn touches_border_in(&self, in_plane: bool) -> Vec<bool> {
        let [n, rows, cols] = self.dims;
        let mut t = vec![false; self.sizes.len()];
        for (run, id) in self.runs.iter().zip(&self.comp_of_run) {
            let (k, j) = (run.k as usize, run.j as usize);
            let slice_border = !in_plane && (k == 0 || k + 1 == n);
            if slice_border || j == 0 || j + 1 == rows || run.start == 0 || run.end as usize == cols
            {
                t[*id as usize] = true;
            }
        }
        t
    }

    /// A mask of the components for which `keep(id)` holds.
    pub fn mask_of<F: Fn(u32) -> bool + Sync>(&self, keep: F) -> Mask {
        let mut m = Mask::new(self.dims);
        let [_, rows, _] = self.dims;
        let rw = m.row_words();
        let sw = m.slice_words();
        if sw == 0 {
            return m;
        }
        m.words_mut()
            .par_chunks_mut(sw)
            .enumerate()
            .for_each(|(k, slice)| {
                let r = self.row_start[k * rows]..self.row_start[(k + 1) * rows];
                for idx in r {
                    if !keep(self.comp_of_run[idx]) {
                        continue;
                    }
                    let run = self.runs[idx];
                    let row = &mut slice[run.j as usize * rw..(run.j as usize + 1) * rw];
                    set_bits(row, run.start as usize, run.end as usize);
                }
            });
        m
    }
}

/// Sets bits `[start, end)` in a row of words.
pub fn set_bits(row: &mut [u64], start: usize, end: usize) {
    let mut c = start;
    while c < end {
        let w = c / 64;
        let lo = c % 64;
        let hi = (end - w * 64).min(64);
        let bits = if hi - lo == 64 {
            u64::MAX
        } else {
            ((1u64 << (hi - lo)) - 1) << lo
        };
        if let Some(x) = row.get_mut(w) {
            *x |= bits;
        }
        c = w * 64 + hi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(dims: [usize; 3], set: &[(usize, usize, usize)]) -> Mask {
        let mut m = Mask::new(dims);
        for &(k, j, i) in set {
            m.set(k, j, i, true);
        }
        m
    }

    #[test]
    fn diagonal_voxels_join_only_with_enough_connectivity() {
        // Corner neighbours across slices.
        let m = mask([2, 2, 2], &[(0, 0, 0), (1, 1, 1)]);
        assert_eq!(label(&m, Connectivity::Six, false).len(), 2);
        assert_eq!(label(&m, Connectivity::Eighteen, false).len(), 2);
        assert_eq!(label(&m, Connectivity::TwentySix, false).len(), 1);
        // Edge neighbours across slices.
        let m = mask([2, 2, 2], &[(0, 0, 0), (1, 1, 0)]);
        assert_eq!(label(&m, Connectivity::Six, false).len(), 2);
        assert_eq!(label(&m, Connectivity::Eighteen, false).len(), 1);
        // In-slice diagonal.
        let m = mask([1, 2, 2], &[(0, 0, 0), (0, 1, 1)]);
        assert_eq!(label(&m, Connectivity::Six, false).len(), 2);
        assert_eq!(label(&m, Connectivity::Eighteen, false).len(), 1);
    }

    #[test]
    fn sizes_largest_and_mask_of() {
        let mut m = Mask::new([3, 10, 100]);
        for i in 1..71 {
            m.set(1, 5, i, true);
        }
        for i in 80..100 {
            m.set(2, 9, i, true);
        }
        m.set(0, 0, 0, true);
        let c = label(&m, Connectivity::TwentySix, false);
        assert_eq!(c.len(), 3);
        assert_eq!(c.sizes, vec![1, 70, 20]);
        let big = c.largest().unwrap();
        assert_eq!(c.sizes[big as usize], 70);
        assert_eq!(c.component_at(1, 5, 10), Some(big));
        assert_eq!(c.component_at(1, 5, 75), None);
        assert_eq!(c.component_at(1, 5, 0), None);
        let only = c.mask_of(|id| id == big);
        assert_eq!(only.count(), 70);
        assert!(only.get(1, 5, 70) && !only.get(1, 5, 0) && !only.get(2, 9, 90));
        assert_eq!(c.touches_border(), vec![true, false, true]);
    }

    #[test]
    fn u_shape_merges_two_branches() {
        // Two vertical bars joined at the bottom row: one component.
        let mut m = Mask::new([1, 5, 5]);
        for j in 0..5 {
            m.set(0, j, 0, true);
            m.set(0, j, 4, true);
        }
        for i in 0..5 {
            m.set(0, 4, i, true);
        }
        assert_eq!(label(&m, Connectivity::Six, true).len(), 1);
    }

    #[test]
    fn set_bits_spans_words() {
        let mut row = [0u64; 3];
        set_bits(&mut row, 60, 130);
        assert_eq!(row[0], 0xF000_0000_0000_0000);
        assert_eq!(row[1], u64::MAX);
        assert_eq!(row[2], 0b11);
    }
}
