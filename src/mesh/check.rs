//! The mesh validity certificate: what a print shop checks (closed, 2-manifold,
//! consistently oriented, outward, no self-intersections, no degenerate faces) and what a
//! clinician wants to know (volume, area, extent, shells, genus).

use super::Mesh;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The certificate of one mesh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    /// Vertices referenced by triangles.
    pub vertices: usize,
    /// Triangles.
    pub triangles: usize,
    /// Edges used by exactly one triangle.
    pub boundary_edges: usize,
    /// Edges used by more than two triangles.
    pub nonmanifold_edges: usize,
    /// Vertices whose triangles do not form a single fan.
    pub nonmanifold_vertices: usize,
    /// Edges traversed twice in the same direction (inconsistent orientation).
    pub misoriented_edges: usize,
    /// Triangles of (nearly) zero area, or with repeated vertices.
    pub degenerate_triangles: usize,
    /// Triangles indexing a vertex that does not exist.
    pub invalid_indices: usize,
    /// No boundary edges.
    pub closed: bool,
    /// Every edge has exactly two triangles and every vertex one fan.
    pub manifold: bool,
    /// Every edge is traversed once in each direction.
    pub consistently_oriented: bool,
    /// Enclosed signed volume is positive (normals point outwards).
    pub outward: bool,
    /// Pairs of triangles that intersect (not counting shared vertices or edges);
    /// `None` when not computed.
    pub self_intersections: Option<usize>,
    /// Connected pieces.
    pub shells: usize,
    /// V − E + F.
    pub euler_characteristic: i64,
    /// Total genus (handles) for a closed manifold: (2·shells − χ) / 2.
    pub genus: Option<i64>,
    /// Enclosed volume (divergence theorem), mm³.
    pub volume_mm3: f64,
    /// Surface area, mm².
    pub area_mm2: f64,
    /// Bounding box minimum corner, LPS mm.
    pub bbox_min_mm: [f64; 3],
    /// Bounding box maximum corner, LPS mm.
    pub bbox_max_mm: [f64; 3],
}

impl Certificate {
    /// Closed, manifold, consistently oriented, outward, no degenerate or invalid faces,
    /// and (when computed) no self-intersections.
    pub fn printable(&self) -> bool {
        self.closed
            && self.manifold
            && self.consistently_oriented
            && self.outward
            && self.degenerate_triangles == 0
            && self.invalid_indices == 0
            && self.self_intersections.unwrap_or(0) == 0
    }
}

/// Area below which a triangle counts as degenerate, mm² (a 0.001 mm sliver of a 1 mm edge).
pub const DEGENERATE_AREA_MM2: f64 = 1e-6;

struct Uf(Vec<u32>);

impl Uf {
    fn find(&mut self, x: u32) -> u32 {
        find(&mut self.0, x)
    }
    fn union(&mut self, a: u32, b: u32) -> bool {
        union(&mut self.0, a, b)
    }
}

/// Root of `x` in a union-find forest (path halving).
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[x as usize];
        parent[x as usize] = parent[p as usize];
        x = p;
    }
    x
}

/// Joins the sets of `a` and `b` under the lower root; false if they were one set.
fn union(parent: &mut [u32], a: u32, b: u32) -> bool {
    let (a, b) = (find(parent, a), find(parent, b));
    if a == b {
        return false;
    }
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    parent[hi as usize] = lo;
    true
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// Signed volume and area, summed in fixed chunks in a fixed order.
pub fn volume_and_area(m: &Mesh) -> (f64, f64) {
    let nv = m.vertices.len();
    let parts: Vec<(f64, f64)> = m
        .triangles
        .par_chunks(1 << 14)
        .map(|c| {
            let (mut vol, mut area) = (0.0, 0.0);
            for t in c {
                if t.iter().any(|i| *i as usize >= nv) {
                    continue;
                }
                let [a, b, cc] = t.map(|i| m.vertices[i as usize]);
                let n = cross(sub(b, a), sub(cc, a));
                area += 0.5 * (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                vol += (a[0] * (b[1] * cc[2] - b[2] * cc[1])
                    - a[1] * (b[0] * cc[2] - b[2] * cc[0])
                    + a[2] * (b[0] * cc[1] - b[1] * cc[0]))
                    / 6.0;
            }
            (vol, area)
        })
        .collect();
    parts
        .iter()
        .fold((0.0, 0.0), |(v, a), (pv, pa)| (v + pv, a + pa))
}

/// Computes the certificate (without self-intersections: see [`with_self_intersections`]).
pub fn certify(m: &Mesh) -> Certificate {
    let nv = m.vertices.len();
    let invalid_indices = m
        .triangles
        .iter()
        .filter(|t| t.iter().any(|i| *i as usize >= nv))
        .count();
    let tris: Vec<[u32; 3]> = m
        .triangles
        .iter()
        .copied()
        .filter(|t| t.iter().all(|i| (*i as usize) < nv))
        .collect();
    let Topology {
        edges,
        boundary,
        nonmanifold,
        misoriented,
        nonmanifold_vertices,
        used: used_vertices,
    } = topology(&tris, nv);
    let vertices = used_vertices.iter().filter(|u| **u).count();
    let mut uf = Uf((0..nv as u32).collect());
    for t in &tris {
        uf.union(t[0], t[1]);
        uf.union(t[1], t[2]);
    }
    let shells = (0..nv as u32)
        .filter(|v| used_vertices[*v as usize] && uf.find(*v) == *v)
        .count();
    let Measures {
        degenerate_triangles,
        volume_mm3,
        area_mm2,
        lo,
        hi,
    } = measures(m, &tris, &used_vertices);
    let euler = vertices as i64 - edges as i64 + tris.len() as i64;
    let closed = boundary == 0;
    let manifold = nonmanifold == 0 && nonmanifold_vertices == 0 && boundary == 0;
    Certificate {
        vertices,
        triangles: m.triangles.len(),
        boundary_edges: boundary,
        nonmanifold_edges: nonmanifold,
        nonmanifold_vertices,
        misoriented_edges: misoriented,
        degenerate_triangles,
        invalid_indices,
        closed,
        manifold,
        consistently_oriented: misoriented == 0,
        outward: volume_mm3 > 0.0,
        self_intersections: None,
        shells,
        euler_characteristic: euler,
        genus: (closed && manifold).then(|| (2 * shells as i64 - euler) / 2),
        volume_mm3,
        area_mm2,
        bbox_min_mm: lo,
        bbox_max_mm: hi,
    }
}

/// [`certify`] of a mesh whose vertices moved (smoothing) since `before` was computed on it:
/// the topology (edges, fans, shells, genus) is `before`'s, only the figures that depend
/// on positions (degenerate triangles, volume, area, orientation, box) are measured again.
/// The caller guarantees the same triangles and vertex count (the tests check that the
/// result then equals [`certify`]).
pub fn certify_moved(m: &Mesh, before: &Certificate) -> Certificate {
    let nv = m.vertices.len();
    let tris: Vec<[u32; 3]> = m
        .triangles
        .iter()
        .copied()
        .filter(|t| t.iter().all(|i| (*i as usize) < nv))
        .collect();
    let mut used = vec![false; nv];
    for t in &tris {
        for &i in t {
            used[i as usize] = true;
        }
    }
    let Measures {
        degenerate_triangles,
        volume_mm3,
        area_mm2,
        lo,
        hi,
    } = measures(m, &tris, &used);
    Certificate {
        degenerate_triangles,
        outward: volume_mm3 > 0.0,
        self_intersections: None,
        volume_mm3,
        area_mm2,
        bbox_min_mm: lo,
        bbox_max_mm: hi,
        ..before.clone()
    }
}

/// The figures of a certificate that depend on vertex positions.
struct Measures {
    degenerate_triangles: usize,
    volume_mm3: f64,
    area_mm2: f64,
    lo: [f64; 3],
    hi: [f64; 3],
}

/// [`Measures`] of `m` over its in-range triangles `tris`, the box over the `used` vertices.
fn measures(m: &Mesh, tris: &[[u32; 3]], used: &[bool]) -> Measures {
    let degenerate_triangles = tris
        .par_iter()
        .filter(|t| {
            if t[0] == t[1] || t[1] == t[2] || t[0] == t[2] {
                return true;
            }
            let [a, b, c] = t.map(|i| m.vertices[i as usize]);
            let n = cross(sub(b, a), sub(c, a));
            0.5 * (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt() < DEGENERATE_AREA_MM2
        })
        .count();
    let (volume_mm3, area_mm2) = volume_and_area(m);
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for (v, used) in m.vertices.iter().zip(used) {
        if *used {
            for d in 0..3 {
                lo[d] = lo[d].min(v[d]);
                hi[d] = hi[d].max(v[d]);
            }
        }
    }
    if !used.iter().any(|u| *u) {
        lo = [0.0; 3];
        hi = [0.0; 3];
    }
    Measures {
        degenerate_triangles,
        volume_mm3,
        area_mm2,
        lo,
        hi,
    }
}

/// Edge and vertex-fan counts of a triangle list whose indices are all below `nv`.
#[derive(Debug, PartialEq)]
struct Topology {
    /// Distinct undirected edges (a self-edge `a -> a` counts as one).
    edges: usize,
    /// Edges in one triangle.
    boundary: usize,
    /// Edges in more than two triangles.
    nonmanifold: usize,
    /// Edges in two triangles that run the same way along it.
    misoriented: usize,
    /// Vertices whose link (the opposite edges of their triangles) is not one piece.
    nonmanifold_vertices: usize,
    /// Whether each vertex is in some triangle.
    used: Vec<bool>,
}

/// [`Topology`] in one parallel pass over the vertices: every triangle corner
/// `(v, next, previous)` is filed under `v` (counted, then filled, in parallel), and each
/// vertex then classifies the edges to its higher neighbours and checks its own link.
///
/// Why that finds every edge once: triangle `(v, x, y)` has the directed edges `v -> x`,
/// `x -> y` and `y -> v`; the corner at `v` records `v -> x` as `x` and `y -> v` as `y`.
/// So for an edge `{lo, hi}` with `lo < hi`, the corners at `lo` hold every `lo -> hi`
/// (as `x == hi`) and every `hi -> lo` (as `y == hi`). A self-edge `a -> a` is recorded
/// once, as `x == a`, and counted like a reversed edge (as the sorted-key method did).
/// Fans up to this many corners are checked without allocating.
const FAN_ON_STACK: usize = 32;

fn topology(tris: &[[u32; 3]], nv: usize) -> Topology {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
    let counts: Vec<AtomicU32> = (0..nv).into_par_iter().map(|_| AtomicU32::new(0)).collect();
    tris.par_iter().for_each(|t| {
        for &v in t {
            if let Some(c) = counts.get(v as usize) {
                c.fetch_add(1, Relaxed);
            }
        }
    });
    let mut start = Vec::with_capacity(nv + 1);
    let mut acc = 0usize;
    start.push(0usize);
    for c in &counts {
        acc += c.load(Relaxed) as usize;
        start.push(acc);
    }
    let used: Vec<bool> = counts.par_iter().map(|c| c.load(Relaxed) > 0).collect();
    counts.par_iter().for_each(|c| c.store(0, Relaxed));
    // (next, previous) packed in one word so a corner is written in one store.
    let filled: Vec<AtomicU64> = (0..acc)
        .into_par_iter()
        .map(|_| AtomicU64::new(0))
        .collect();
    tris.par_iter().for_each(|t| {
        for c in 0..3 {
            let (v, x, y) = (t[c], t[(c + 1) % 3], t[(c + 2) % 3]);
            let (Some(k), Some(&s)) = (counts.get(v as usize), start.get(v as usize)) else {
                continue;
            };
            if let Some(e) = filled.get(s + k.fetch_add(1, Relaxed) as usize) {
                e.store(u64::from(x) << 32 | u64::from(y), Relaxed);
            }
        }
    });
    drop(counts);
    let corners: Vec<(u32, u32)> = filled
        .into_par_iter()
        .map(|e| {
            let e = e.into_inner();
            ((e >> 32) as u32, e as u32)
        })
        .collect();
    let per_vertex = |v: usize| -> [usize; 5] {
        let (Some(&s), Some(&e)) = (start.get(v), start.get(v + 1)) else {
            return [0; 5];
        };
        let group = corners.get(s..e).unwrap_or(&[]);
        if group.is_empty() {
            return [0; 5];
        }
        let v = v as u32;
        let mut out = [0usize; 5];
        // The distinct vertices of the link, on the stack for ordinary fans.
        let mut stack = [0u32; 2 * FAN_ON_STACK];
        let mut heap = Vec::new();
        let ids: &mut [u32] = if group.len() <= FAN_ON_STACK {
            &mut stack[..2 * group.len()]
        } else {
            heap.resize(2 * group.len(), 0);
            &mut heap
        };
        for (k, &(x, y)) in group.iter().enumerate() {
            ids[2 * k] = x;
            ids[2 * k + 1] = y;
        }
        ids.sort_unstable();
        let mut n = 0;
        for k in 0..ids.len() {
            if k == 0 || ids[k] != ids[n - 1] {
                ids[n] = ids[k];
                n += 1;
            }
        }
        let ids = &mut ids[..n];
        let self_edges = group.iter().filter(|&&(x, _)| x == v).count();
        // Each neighbour above v once (and v itself when it has self-edges).
        for &w in ids.iter() {
            let (fwd, back) = if w == v {
                (0, self_edges)
            } else if w > v {
                (
                    group.iter().filter(|&&(x, _)| x == w).count(),
                    group.iter().filter(|&&(_, y)| y == w).count(),
                )
            } else {
                continue;
            };
            if fwd + back == 0 {
                continue;
            }
            out[0] += 1;
            match fwd + back {
                1 => out[1] += 1,
                2 if fwd == 1 => {}
                2 => out[3] += 1,
                _ => out[2] += 1,
            }
        }
        // The link: one connected piece? Union-find over positions in `ids`.
        let mut pstack = [0u32; 2 * FAN_ON_STACK];
        let mut pheap = Vec::new();
        let parent: &mut [u32] = if n <= 2 * FAN_ON_STACK {
            &mut pstack[..n]
        } else {
            pheap.resize(n, 0);
            &mut pheap
        };
        for (k, p) in parent.iter_mut().enumerate() {
            *p = k as u32;
        }
        let mut pieces = n;
        for &(x, y) in group {
            if let (Ok(a), Ok(b)) = (ids.binary_search(&x), ids.binary_search(&y))
                && union(parent, a as u32, b as u32)
            {
                pieces -= 1;
            }
        }
        out[4] = usize::from(pieces != 1);
        out
    };
    let sums = (0..nv)
        .into_par_iter()
        .map(per_vertex)
        .reduce(|| [0; 5], |a, b| std::array::from_fn(|k| a[k] + b[k]));
    Topology {
        edges: sums[0],
        boundary: sums[1],
        nonmanifold: sums[2],
        misoriented: sums[3],
        nonmanifold_vertices: sums[4],
        used,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::test_meshes::*;

    /// The reference: every directed edge as a sorted key, every corner sorted by vertex.
    fn topology_by_sorting(tris: &[[u32; 3]], nv: usize) -> Topology {
        // Directed edges, keyed so that both directions of an edge sort together.
        let mut keys: Vec<u64> = tris
            .par_iter()
            .flat_map_iter(|t| {
                (0..3).map(move |e| {
                    let (a, b) = (t[e], t[(e + 1) % 3]);
                    let (lo, hi, dir) = if a < b { (a, b, 0u64) } else { (b, a, 1u64) };
                    ((u64::from(lo) << 32 | u64::from(hi)) << 1) | dir
                })
            })
            .collect();
        keys.par_sort_unstable();
        let (mut boundary, mut nonmanifold, mut misoriented, mut edges) =
            (0usize, 0usize, 0usize, 0usize);
        let mut i = 0;
        while i < keys.len() {
            let base = keys[i] >> 1;
            let mut j = i;
            let (mut fwd, mut back) = (0, 0);
            while j < keys.len() && keys[j] >> 1 == base {
                if keys[j] & 1 == 0 {
                    fwd += 1;
                } else {
                    back += 1;
                }
                j += 1;
            }
            edges += 1;
            match fwd + back {
                1 => boundary += 1,
                2 if fwd == 1 => {}
                2 => misoriented += 1,
                _ => nonmanifold += 1,
            }
            i = j;
        }
        drop(keys);
        // Vertex fans: the link of each vertex (the opposite edges of its triangles) must be
        // one connected piece.
        let mut corners: Vec<(u32, u32, u32)> = tris
            .iter()
            .flat_map(|t| (0..3).map(move |c| (t[c], t[(c + 1) % 3], t[(c + 2) % 3])))
            .collect();
        corners.par_sort_unstable();
        let mut nonmanifold_vertices = 0;
        let mut i = 0;
        while i < corners.len() {
            let v = corners[i].0;
            let mut j = i;
            while j < corners.len() && corners[j].0 == v {
                j += 1;
            }
            let group = &corners[i..j];
            let mut ids: Vec<u32> = group.iter().flat_map(|c| [c.1, c.2]).collect();
            ids.sort_unstable();
            ids.dedup();
            let mut uf = Uf((0..ids.len() as u32).collect());
            let mut pieces = ids.len();
            for c in group {
                let (a, b) = (ids.binary_search(&c.1), ids.binary_search(&c.2));
                if let (Ok(a), Ok(b)) = (a, b)
                    && uf.union(a as u32, b as u32)
                {
                    pieces -= 1;
                }
            }
            if pieces != 1 {
                nonmanifold_vertices += 1;
            }
            i = j;
        }
        let mut used = vec![false; nv];
        for t in tris {
            for v in t {
                used[*v as usize] = true;
            }
        }
        Topology {
            edges,
            boundary,
            nonmanifold,
            misoriented,
            nonmanifold_vertices,
            used,
        }
    }

    #[test]
    fn certificate_after_moving_vertices_equals_the_full_one() {
        let mut rng = Rng(17);
        let mut meshes = vec![
            icosphere(3.0, [0.0; 3], 2),
            grid_box([0.0; 3], [1.0, 2.0, 3.0], 3),
        ];
        for _ in 0..100 {
            meshes.push(soup(&mut rng));
        }
        for (k, (v, t)) in meshes.into_iter().enumerate() {
            let before = crate::mesh::Mesh {
                vertices: v.clone(),
                triangles: t.clone(),
            };
            let c = certify(&before);
            // Moved: jittered; collapsed onto one vertex (degenerate); mirrored (inward).
            let jitter: Vec<[f64; 3]> = v
                .iter()
                .map(|p| p.map(|x| x + rng.range(-0.2, 0.2)))
                .collect();
            let collapsed: Vec<[f64; 3]> = v
                .iter()
                .map(|_| v.first().copied().unwrap_or_default())
                .collect();
            let mirrored: Vec<[f64; 3]> = v.iter().map(|p| [-p[0], p[1], p[2]]).collect();
            for moved in [jitter, collapsed, mirrored] {
                let m = crate::mesh::Mesh {
                    vertices: moved,
                    triangles: t.clone(),
                };
                let full = certify(&m);
                // NaN volumes (soups with infinite corners) compare by their bits.
                let fast = certify_moved(&m, &c);
                assert_eq!(format!("{fast:?}"), format!("{full:?}"), "mesh {k}");
            }
        }
    }

    #[test]
    fn one_pass_topology_equals_the_sorted_reference() {
        let mut rng = Rng(31);
        let mut meshes = vec![
            icosphere(3.0, [0.0; 3], 2),
            grid_box([0.0; 3], [1.0, 2.0, 3.0], 3),
            merge(&[
                icosphere(1.0, [0.0; 3], 1),
                icosphere(1.0, [0.5, 0.0, 0.0], 1),
            ]),
        ];
        for _ in 0..300 {
            meshes.push(soup(&mut rng));
        }
        // Damaged closed meshes: a triangle removed, one flipped, one duplicated, a vertex
        // repeated in a triangle, two spheres glued at a vertex.
        let (v, t) = icosphere(2.0, [0.0; 3], 1);
        let mut holes = t.clone();
        holes.remove(3);
        let mut flipped = t.clone();
        flipped[5].swap(1, 2);
        let mut dup = t.clone();
        dup.push(t[7]);
        let mut repeated = t.clone();
        repeated[9] = [repeated[9][0], repeated[9][0], repeated[9][1]];
        for tt in [holes, flipped, dup, repeated] {
            meshes.push((v.clone(), tt));
        }
        let (v2, t2) = icosphere(2.0, [4.0, 0.0, 0.0], 1);
        let n = v.len() as u32;
        let mut glued_v = v.clone();
        glued_v.extend(v2);
        let mut glued_t = t.clone();
        glued_t.extend(t2.iter().map(|f| f.map(|i| if i == 0 { 0 } else { i + n })));
        meshes.push((glued_v, glued_t));
        for (k, (v, t)) in meshes.iter().enumerate() {
            let nv = v.len();
            let tris: Vec<[u32; 3]> = t
                .iter()
                .copied()
                .filter(|f| f.iter().all(|&i| (i as usize) < nv))
                .collect();
            assert_eq!(
                topology(&tris, nv),
                topology_by_sorting(&tris, nv),
                "mesh {k}"
            );
        }
        // The damaged ones are not all clean (the reference is being exercised).
        let bad = meshes[meshes.len() - 5..]
            .iter()
            .filter(|(v, t)| {
                let r = topology(t, v.len());
                r.boundary + r.nonmanifold + r.misoriented + r.nonmanifold_vertices > 0
            })
            .count();
        assert_eq!(bad, 5);
    }
}
