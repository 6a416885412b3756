//! Repair: merge duplicate vertices, drop degenerate and duplicate faces, orient every
//! shell consistently and outwards, close small holes, optionally keep only the largest
//! shell — and report each change.

use super::Mesh;
use super::check::DEGENERATE_AREA_MM2;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Repair options.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RepairOptions {
    /// Keep only the shell with the largest enclosed volume.
    pub keep_largest_shell: bool,
    /// Close boundary loops of at most this many edges.
    pub max_hole_edges: usize,
}

impl Default for RepairOptions {
    fn default() -> Self {
        Self {
            keep_largest_shell: false,
            max_hole_edges: 32,
        }
    }
}

/// What a repair changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RepairReport {
    /// Vertices merged into an identical one.
    pub merged_vertices: usize,
    /// Faces removed for zero area or repeated vertices.
    pub removed_degenerate: usize,
    /// Faces removed as duplicates of another.
    pub removed_duplicates: usize,
    /// Faces flipped to agree with their neighbours or to face outwards.
    pub flipped: usize,
    /// Holes closed.
    pub holes_filled: usize,
    /// Shells removed (with `keep_largest_shell`).
    pub removed_shells: usize,
    /// Triangles of the removed shells.
    #[serde(default)]
    pub removed_shell_triangles: usize,
}

impl RepairReport {
    /// Whether nothing but whole shells was removed (which moves no remaining triangle).
    pub fn only_removed_shells(&self) -> bool {
        let Self {
            merged_vertices,
            removed_degenerate,
            removed_duplicates,
            flipped,
            holes_filled,
            removed_shells: _,
            removed_shell_triangles: _,
        } = *self;
        merged_vertices + removed_degenerate + removed_duplicates + flipped + holes_filled == 0
    }

    /// Adds what a later repair pass changed.
    pub fn add(&mut self, r: &RepairReport) {
        self.merged_vertices += r.merged_vertices;
        self.removed_degenerate += r.removed_degenerate;
        self.removed_duplicates += r.removed_duplicates;
        self.flipped += r.flipped;
        self.holes_filled += r.holes_filled;
        self.removed_shells += r.removed_shells;
        self.removed_shell_triangles += r.removed_shell_triangles;
    }
}

fn area2(m: &Mesh, t: &[u32; 3]) -> f64 {
    let [a, b, c] = t.map(|i| m.vertices[i as usize]);
    let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
    let n = [
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    ];
    (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt() * 0.5
}

/// Repairs `m` in place.
pub fn repair(m: &mut Mesh, opts: RepairOptions) -> RepairReport {
    let mut r = RepairReport::default();
    let nv = m.vertices.len();
    m.triangles.retain(|t| t.iter().all(|i| (*i as usize) < nv));
    // Merge identical positions.
    let mut order: Vec<u32> = (0..nv as u32).collect();
    order.sort_by(|a, b| {
        let (pa, pb) = (m.vertices[*a as usize], m.vertices[*b as usize]);
        pa[0]
            .total_cmp(&pb[0])
            .then(pa[1].total_cmp(&pb[1]))
            .then(pa[2].total_cmp(&pb[2]))
            .then(a.cmp(b))
    });
    let mut canon: Vec<u32> = (0..nv as u32).collect();
    for w in order.windows(2) {
        if m.vertices[w[0] as usize] == m.vertices[w[1] as usize] {
            canon[w[1] as usize] = canon[w[0] as usize];
            r.merged_vertices += 1;
        }
    }
    for t in &mut m.triangles {
        *t = t.map(|i| canon[i as usize]);
    }
    let before = m.triangles.len();
    let mm = m.clone();
    m.triangles.retain(|t| {
        t[0] != t[1] && t[1] != t[2] && t[0] != t[2] && area2(&mm, t) >= DEGENERATE_AREA_MM2
    });
    r.removed_degenerate = before - m.triangles.len();
    let mut seen = std::collections::BTreeSet::new();
    let before = m.triangles.len();
    m.triangles.retain(|t| {
        let mut k = *t;
        k.sort_unstable();
        seen.insert(k)
    });
    r.removed_duplicates = before - m.triangles.len();
    r.holes_filled = fill_holes(m, opts.max_hole_edges);
    r.flipped = orient(m);
    if opts.keep_largest_shell {
        let before = m.triangles.len();
        r.removed_shells = keep_largest(m);
        r.removed_shell_triangles = before - m.triangles.len();
    }
    compact(m);
    r
}

/// Edge → the faces using it.
fn edge_faces(m: &Mesh) -> BTreeMap<(u32, u32), Vec<usize>> {
    let mut map: BTreeMap<(u32, u32), Vec<usize>> = BTreeMap::new();
    for (f, t) in m.triangles.iter().enumerate() {
        for e in 0..3 {
            let (a, b) = (t[e], t[(e + 1) % 3]);
            map.entry((a.min(b), a.max(b))).or_default().push(f);
        }
    }
    map
}

/// Shells as lists of faces, in order of their first face.
fn shells(m: &Mesh) -> Vec<Vec<usize>> {
    let ef = edge_faces(m);
    let mut shell_of = vec![usize::MAX; m.triangles.len()];
    let mut out = Vec::new();
    for seed in 0..m.triangles.len() {
        if shell_of[seed] != usize::MAX {
            continue;
        }
        let id = out.len();
        let mut faces = vec![seed];
        shell_of[seed] = id;
        let mut q = VecDeque::from([seed]);
        while let Some(f) = q.pop_front() {
            let t = m.triangles[f];
            for e in 0..3 {
                let (a, b) = (t[e], t[(e + 1) % 3]);
                for &g in ef.get(&(a.min(b), a.max(b))).map_or(&[][..], Vec::as_slice) {
                    if shell_of[g] == usize::MAX {
                        shell_of[g] = id;
                        faces.push(g);
                        q.push_back(g);
                    }
                }
            }
        }
        out.push(faces);
    }
    out
}

/// Makes neighbouring faces agree (breadth first from each shell's first face), then
/// flips shells with negative volume. Returns the faces flipped.
fn orient(m: &mut Mesh) -> usize {
    let ef = edge_faces(m);
    let mut flipped = 0;
    let mut done = vec![false; m.triangles.len()];
    for seed in 0..m.triangles.len() {
        if done[seed] {
            continue;
        }
        done[seed] = true;
        let mut shell = vec![seed];
        let mut q = VecDeque::from([seed]);
        while let Some(f) = q.pop_front() {
            let t = m.triangles[f];
            for e in 0..3 {
                let (a, b) = (t[e], t[(e + 1) % 3]);
                let faces = ef.get(&(a.min(b), a.max(b))).cloned().unwrap_or_default();
                // Only manifold edges define a neighbour unambiguously.
                if faces.len() != 2 {
                    continue;
                }
                for g in faces {
                    if done[g] {
                        continue;
                    }
                    let u = m.triangles[g];
                    // Consistent when g traverses the shared edge as b -> a.
                    let same_dir = (0..3).any(|k| u[k] == a && u[(k + 1) % 3] == b);
                    if same_dir {
                        m.triangles[g].swap(1, 2);
                        flipped += 1;
                    }
                    done[g] = true;
                    shell.push(g);
                    q.push_back(g);
                }
            }
        }
        if shell_volume(m, &shell) < 0.0 {
            for f in &shell {
                m.triangles[*f].swap(1, 2);
            }
            flipped += shell.len();
        }
    }
    flipped
}

/// Signed volume enclosed by some faces of `m` (divergence theorem), mm³.
fn shell_volume(m: &Mesh, faces: &[usize]) -> f64 {
    let tris: Vec<[u32; 3]> = faces.iter().map(|f| m.triangles[*f]).collect();
    super::deviation::signed_volume(&m.vertices, &tris)
}

/// Closes boundary loops of at most `max_edges` edges with a fan around their centroid.
fn fill_holes(m: &mut Mesh, max_edges: usize) -> usize {
    let ef = edge_faces(m);
    // Boundary edges in the direction their face traverses them; the patch runs opposite.
    let mut next: BTreeMap<u32, u32> = BTreeMap::new();
    for (&(a, b), faces) in &ef {
        if faces.len() == 1 {
            let t = m.triangles[faces[0]];
            let forward = (0..3).any(|k| t[k] == a && t[(k + 1) % 3] == b);
            let (from, to) = if forward { (b, a) } else { (a, b) };
            next.insert(from, to);
        }
    }
    let mut filled = 0;
    let mut visited = std::collections::BTreeSet::new();
    let starts: Vec<u32> = next.keys().copied().collect();
    for s in starts {
        if visited.contains(&s) {
            continue;
        }
        let mut lp = vec![s];
        visited.insert(s);
        let mut cur = s;
        let mut closed = false;
        while let Some(&n) = next.get(&cur) {
            if n == s {
                closed = true;
                break;
            }
            if !visited.insert(n) || lp.len() > max_edges {
                break;
            }
            lp.push(n);
            cur = n;
        }
        if !closed || lp.len() < 3 || lp.len() > max_edges {
            continue;
        }
        let c = lp.iter().fold([0.0; 3], |acc, v| {
            let p = m.vertices[*v as usize];
            [acc[0] + p[0], acc[1] + p[1], acc[2] + p[2]]
        });
        let centre = c.map(|x| x / lp.len() as f64);
        let ci = m.vertices.len() as u32;
        m.vertices.push(centre);
        for i in 0..lp.len() {
            m.triangles.push([ci, lp[i], lp[(i + 1) % lp.len()]]);
        }
        filled += 1;
    }
    filled
}

/// Keeps the shell with the largest |volume|; returns the number removed.
fn keep_largest(m: &mut Mesh) -> usize {
    let sh = shells(m);
    if sh.len() <= 1 {
        return 0;
    }
    let vol = |faces: &Vec<usize>| shell_volume(m, faces).abs();
    let mut best = 0;
    for (i, s) in sh.iter().enumerate() {
        if vol(s) > vol(&sh[best]) {
            best = i;
        }
    }
    let mut keep: Vec<usize> = sh[best].clone();
    keep.sort_unstable();
    m.triangles = keep.into_iter().map(|f| m.triangles[f]).collect();
    sh.len() - 1
}

/// Drops unreferenced vertices, keeping order.
fn compact(m: &mut Mesh) {
    let mut used = vec![false; m.vertices.len()];
    for t in &m.triangles {
        for v in t {
            used[*v as usize] = true;
        }
    }
    let mut remap = vec![0u32; m.vertices.len()];
    let mut out = Vec::new();
    for (i, v) in m.vertices.iter().enumerate() {
        if used[i] {
            remap[i] = out.len() as u32;
            out.push(*v);
        }
    }
    m.vertices = out;
    for t in &mut m.triangles {
        *t = t.map(|i| remap[i as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::check::certify;

    fn tetra() -> Mesh {
        Mesh {
            vertices: vec![
                [0.0, 0.0, 0.0],
                [1.0, 0.0, 0.0],
                [0.0, 1.0, 0.0],
                [0.0, 0.0, 1.0],
            ],
            triangles: vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
        }
    }

    #[test]
    fn a_clean_tetrahedron_is_unchanged() {
        let mut m = tetra();
        let r = repair(&mut m, RepairOptions::default());
        assert_eq!(r, RepairReport::default());
        assert!(certify(&m).printable());
    }

    #[test]
    fn flips_holes_duplicates_and_shells_are_repaired() {
        let mut m = tetra();
        m.triangles[1].swap(1, 2); // one face flipped
        m.triangles.push([1, 1, 2]); // degenerate
        m.triangles.push([2, 1, 0]); // duplicate of face 0, reversed
        let mut other = tetra();
        for v in &mut other.vertices {
            v[0] += 10.0;
        }
        m.vertices.extend(
            other
                .vertices
                .iter()
                .map(|v| [v[0] * 0.5, v[1] * 0.5, v[2] * 0.5]),
        );
        m.triangles
            .extend(other.triangles.iter().map(|t| t.map(|i| i + 4)));
        m.triangles.remove(9); // a hole in the second tetrahedron
        let r = repair(
            &mut m,
            RepairOptions {
                keep_largest_shell: true,
                max_hole_edges: 8,
            },
        );
        assert_eq!(r.removed_degenerate, 1);
        assert_eq!(r.removed_duplicates, 1);
        assert_eq!(r.holes_filled, 1);
        assert_eq!(r.removed_shells, 1);
        // The small tetrahedron: three faces and the three of the fan closing its hole.
        assert_eq!(r.removed_shell_triangles, 6);
        let c = certify(&m);
        assert!(c.printable(), "{c:?}");
        assert_eq!(c.triangles, 4);
    }
}
