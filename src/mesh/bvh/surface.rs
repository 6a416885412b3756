//! The surface behind every acceleration structure: vertices, the usable triangles, the
//! vertex -> triangle incidence and the angle-weighted pseudo-normals that sign distances
//! (Baerentzen & Aanaes 2005). Everything is indexed by input triangle index, so nothing
//! here depends on how a tree or grid orders the triangles.

use crate::mesh::tri::geometry::{Local, closest_on_triangle, usable_triangle};
use glam::DVec3;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

/// Vertices per parallel block when ordering the incidence lists.
const INCIDENCE_BLOCK: usize = 4096;

/// A nearest-point result: the triangle (input index), its vertices, the point, the squared
/// distance and the feature of the triangle the point lies on.
#[derive(Clone, Copy, Debug)]
pub(super) struct Near {
    pub id: u32,
    pub v: [u32; 3],
    pub point: DVec3,
    pub d2: f64,
    pub local: Local,
}

/// The running answer of a bounded nearest-point search: the minimum of (squared distance,
/// input triangle index) over the triangles offered so far within the bound. The tree and
/// the lattice index both search through it, which is why they give the same answer.
pub(super) struct Nearest {
    pub best: Option<Near>,
    /// Squared distance to beat (the bound until something is found).
    pub d2: f64,
    id: u32,
}

impl Nearest {
    /// Nothing found yet; only triangles within `max_d2` (squared mm) count.
    pub fn within(max_d2: f64) -> Nearest {
        Nearest {
            best: None,
            d2: max_d2,
            id: u32::MAX,
        }
    }

    /// The squared search bound for a distance bound in mm, widened by a relative 1e-9 so
    /// that rounding cannot drop the triangle that attains it; infinite for a non-finite one.
    pub fn squared_bound(bound: f64) -> f64 {
        if bound.is_finite() {
            bound * bound * (1.0 + 1e-9) + 1e-18
        } else {
            f64::INFINITY
        }
    }

    /// Offers triangle `id` (vertex indices `v`, corners `a b c`) for the point `p`: kept if
    /// nearer than the best so far, or as near with a lower index.
    #[inline]
    pub fn offer(&mut self, p: DVec3, id: u32, v: [u32; 3], [a, b, c]: [DVec3; 3]) {
        // The triangle's own box is a cheap lower bound that skips most exact tests.
        let bd = (a.min(b).min(c) - p)
            .max(p - a.max(b).max(c))
            .max(DVec3::ZERO);
        if bd.length_squared() > self.d2 {
            return;
        }
        let (point, local) = closest_on_triangle(p, a, b, c);
        let d2 = (p - point).length_squared();
        if d2 < self.d2 || (d2 == self.d2 && id < self.id) {
            self.d2 = d2;
            self.id = id;
            self.best = Some(Near {
                id,
                v,
                point,
                d2,
                local,
            });
        }
    }
}

/// Vertices and usable triangles of one mesh, with incidence.
#[derive(Clone, Debug)]
pub(super) struct Surface {
    pub vertices: Vec<DVec3>,
    /// Input triangles (all of them; see `usable`).
    pub triangles: Vec<[u32; 3]>,
    /// Whether each input triangle is usable: indices in range, finite, not degenerate.
    pub usable: Vec<bool>,
    /// Usable triangles.
    pub count: usize,
    /// Vertex -> incident usable triangles (CSR, ascending input index):
    /// `vt_ids[vt_start[v]..vt_start[v + 1]]`.
    vt_start: Vec<usize>,
    vt_ids: Vec<u32>,
}

impl Surface {
    /// The surface of `vertices`/`triangles` (parallel; the result does not depend on the
    /// thread count). Triangle indices beyond `u32::MAX` are left out.
    pub fn new(vertices: &[[f64; 3]], triangles: &[[u32; 3]]) -> Surface {
        let verts: Vec<DVec3> = vertices.par_iter().map(|v| DVec3::from_array(*v)).collect();
        let usable: Vec<bool> = triangles
            .par_iter()
            .enumerate()
            .map(|(i, t)| i < u32::MAX as usize && usable_triangle(&verts, *t).is_some())
            .collect();
        let count = usable.iter().filter(|&&u| u).count();
        let (vt_start, vt_ids) = incidence(triangles, &usable, verts.len());
        Surface {
            vertices: verts,
            triangles: triangles.to_vec(),
            usable,
            count,
            vt_start,
            vt_ids,
        }
    }

    /// Input triangles left out (out-of-range index, non-finite vertex, zero area).
    pub fn skipped(&self) -> usize {
        self.triangles.len() - self.count
    }

    /// Corner positions of a triangle given by its vertex indices.
    pub fn corners(&self, v: [u32; 3]) -> Option<[DVec3; 3]> {
        Some([
            *self.vertices.get(v[0] as usize)?,
            *self.vertices.get(v[1] as usize)?,
            *self.vertices.get(v[2] as usize)?,
        ])
    }

    /// Vertex indices of a usable triangle.
    pub fn triangle(&self, id: u32) -> Option<[u32; 3]> {
        let i = id as usize;
        (*self.usable.get(i)?).then(|| self.triangles.get(i).copied())?
    }

    /// Unit normal of a triangle (zero if it cannot be formed).
    fn unit_normal(&self, id: u32) -> DVec3 {
        self.triangle(id)
            .and_then(|v| self.corners(v))
            .map_or(DVec3::ZERO, |[a, b, c]| {
                (b - a).cross(c - a).normalize_or_zero()
            })
    }

    /// Usable triangles around a vertex, ascending input index.
    pub fn incident(&self, v: u32) -> &[u32] {
        let v = v as usize;
        match (self.vt_start.get(v), self.vt_start.get(v + 1)) {
            (Some(&s), Some(&e)) => self.vt_ids.get(s..e).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Edge pseudo-normal: sum of the unit normals of every usable triangle containing both
    /// vertices (two on a manifold edge; one on a boundary; all of them if non-manifold).
    fn edge_normal(&self, a: u32, b: u32) -> DVec3 {
        let mut n = DVec3::ZERO;
        for &id in self.incident(a) {
            if self.triangle(id).is_some_and(|t| t.contains(&b)) {
                n += self.unit_normal(id);
            }
        }
        n
    }

    /// Angle-weighted vertex pseudo-normal, unnormalised: the incident unit normals weighted
    /// by their corner angles, summed in input triangle order. Computed when a query needs
    /// it (few do), not for every vertex up front.
    fn vertex_normal(&self, v: u32) -> DVec3 {
        let mut n = DVec3::ZERO;
        for &id in self.incident(v) {
            let Some(t) = self.triangle(id) else {
                continue;
            };
            let (Some(k), Some([a, b, c])) = (t.iter().position(|&x| x == v), self.corners(t))
            else {
                continue;
            };
            let cr = (b - a).cross(c - a);
            let len = cr.length();
            // |cross| is the same at every corner; the third angle completes pi. libm:
            // the same bits on every platform (deviations are recorded and replayed).
            let a0 = libm::atan2(len, (b - a).dot(c - a));
            let a1 = libm::atan2(len, (c - b).dot(a - b));
            let angle = match k {
                0 => a0,
                1 => a1,
                _ => (std::f64::consts::PI - a0 - a1).max(0.0),
            };
            n += angle * cr.normalize_or_zero();
        }
        n
    }

    /// Pseudo-normal (unnormalised) of a feature of a usable triangle.
    pub fn pseudo_normal(&self, id: u32, local: Local) -> DVec3 {
        let Some(v) = self.triangle(id) else {
            return DVec3::ZERO;
        };
        match local {
            Local::Face => self.unit_normal(id),
            Local::Edge(e) => self.edge_normal(corner(v, e), corner(v, e + 1)),
            Local::Vertex(k) => self.vertex_normal(corner(v, k)),
        }
    }

    /// Signed distance from `q` given its nearest point: negative where (q - point) points
    /// against the pseudo-normal of the feature it lies on. Exactly zero only for points on
    /// the boundary of the normal cone; those are called outside.
    pub fn signed(&self, q: DVec3, near: &Near) -> f64 {
        let d = near.d2.sqrt();
        if d == 0.0 {
            return 0.0;
        }
        let n = self.pseudo_normal(near.id, near.local);
        if (q - near.point).dot(n) < 0.0 { -d } else { d }
    }
}

/// Vertex index at local corner `k` (mod 3).
pub(super) fn corner(v: [u32; 3], k: u8) -> u32 {
    v[usize::from(k % 3)]
}

/// Vertex -> incident usable triangles as CSR (`ids[start[v]..start[v + 1]]`), each list
/// ascending: counted and filled in parallel, then each list sorted, so any sum over a list
/// has a fixed order whatever the thread count.
fn incidence(triangles: &[[u32; 3]], usable: &[bool], nv: usize) -> (Vec<usize>, Vec<u32>) {
    let counts: Vec<AtomicU32> = (0..nv).into_par_iter().map(|_| AtomicU32::new(0)).collect();
    let each = |f: &(dyn Fn(u32, u32) + Sync)| {
        triangles
            .par_iter()
            .zip(usable.par_iter())
            .enumerate()
            .for_each(|(i, (t, &u))| {
                if u {
                    for &v in t {
                        f(v, i as u32);
                    }
                }
            });
    };
    each(&|v, _| {
        if let Some(c) = counts.get(v as usize) {
            c.fetch_add(1, Relaxed);
        }
    });
    let mut start = Vec::with_capacity(nv + 1);
    let mut acc = 0usize;
    start.push(0);
    for c in counts {
        acc += c.into_inner() as usize;
        start.push(acc);
    }
    let cursor: Vec<AtomicUsize> = start[..nv]
        .par_iter()
        .map(|&s| AtomicUsize::new(s))
        .collect();
    let filled: Vec<AtomicU32> = (0..acc)
        .into_par_iter()
        .map(|_| AtomicU32::new(0))
        .collect();
    each(&|v, id| {
        if let Some(c) = cursor.get(v as usize) {
            if let Some(x) = filled.get(c.fetch_add(1, Relaxed)) {
                x.store(id, Relaxed);
            }
        }
    });
    drop(cursor);
    let mut lists: Vec<u32> = filled.into_par_iter().map(AtomicU32::into_inner).collect();
    // Blocks of whole lists, sorted in parallel.
    let mut blocks: Vec<(&mut [u32], usize)> = Vec::new();
    let mut rest: &mut [u32] = &mut lists;
    let mut v0 = 0;
    while v0 < nv {
        let v1 = (v0 + INCIDENCE_BLOCK).min(nv);
        let len = start[v1] - start[v0];
        let whole = std::mem::take(&mut rest);
        let (head, tail) = whole.split_at_mut(len.min(whole.len()));
        blocks.push((head, v0));
        rest = tail;
        v0 = v1;
    }
    blocks.into_par_iter().for_each(|(block, v0)| {
        let base = start[v0];
        for v in v0..(v0 + INCIDENCE_BLOCK).min(nv) {
            if let Some(list) = block.get_mut(start[v] - base..start[v + 1] - base) {
                list.sort_unstable();
            }
        }
    });
    (start, lists)
}
