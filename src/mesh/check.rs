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
    fn find(&mut self, mut x: u32) -> u32 {
        while self.0[x as usize] != x {
            let p = self.0[x as usize];
            self.0[x as usize] = self.0[p as usize];
            x = p;
        }
        x
    }
    fn union(&mut self, a: u32, b: u32) -> bool {
        let (a, b) = (self.find(a), self.find(b));
        if a == b {
            return false;
        }
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        self.0[hi as usize] = lo;
        true
    }
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
    let used_vertices = {
        let mut used = vec![false; nv];
        for t in &tris {
            for v in t {
                used[*v as usize] = true;
            }
        }
        used
    };
    let vertices = used_vertices.iter().filter(|u| **u).count();
    drop(corners);
    let mut uf = Uf((0..nv as u32).collect());
    for t in &tris {
        uf.union(t[0], t[1]);
        uf.union(t[1], t[2]);
    }
    let shells = (0..nv as u32)
        .filter(|v| used_vertices[*v as usize] && uf.find(*v) == *v)
        .count();
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
    for (v, used) in m.vertices.iter().zip(&used_vertices) {
        if *used {
            for d in 0..3 {
                lo[d] = lo[d].min(v[d]);
                hi[d] = hi[d].max(v[d]);
            }
        }
    }
    if vertices == 0 {
        lo = [0.0; 3];
        hi = [0.0; 3];
    }
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
