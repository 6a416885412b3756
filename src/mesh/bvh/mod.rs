//! Bounding-volume hierarchy over the triangles of a mesh: closest point, signed distance
//! (angle-weighted pseudo-normals), ray casting and exact self-intersection counting.
//!
//! Meshes are plain slices: vertices `[f64; 3]` in millimetres, triangles `[u32; 3]`
//! counter-clockwise seen from outside. Triangles with an out-of-range index, a non-finite
//! vertex or (near-)zero area are left out of the tree and counted in
//! [`Bvh::skipped_triangles`]; no input makes a query panic.
//!
//! Signs and self-intersections assume what marching cubes gives: a welded (shared vertex
//! indices), consistently oriented, closed 2-manifold. Signed distances use the
//! angle-weighted pseudo-normals of Baerentzen & Aanaes (2005), correct at edges and
//! corners where the plain face normal is not. Triangle pairs are tested with exact
//! orientation predicates (floating-point filter, expansion arithmetic when in doubt).
//!
//! Reproducibility: the tree depends only on the input (median splits with ties broken by
//! triangle index), and every query returns the minimum of a total order (distance or ray
//! parameter, then triangle index), so results are bit-identical for any rayon thread count.

use crate::mesh::tri::geometry::{Local, ray_triangle};
pub use cells::LatticeCells;
use glam::DVec3;
use surface::{Near, Nearest, Surface, corner};

mod build;
mod cells;
mod intersections;
mod surface;

/// Most triangles in a leaf; median splits then leave 2..=4 per leaf.
const LEAF_SIZE: usize = 4;
/// Subtrees smaller than this are built on the current thread: forking would cost more.
const PAR_BUILD_MIN: usize = 8192;
/// Traversal stack size. Median splits give a depth of at most ceil(log2(n)) <= 32 for
/// u32 triangle counts, and a depth-first stack never holds more than depth + 1 entries.
const STACK: usize = 64;

/// Which part of a triangle the closest point lies on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Interior of the triangle.
    Face,
    /// Interior of the edge between these two vertex indices, in the triangle's winding order.
    Edge(u32, u32),
    /// This vertex index.
    Vertex(u32),
}

/// Nearest point of the mesh surface to a query point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// Index of the triangle in the input slice.
    pub triangle: u32,
    /// Nearest surface point (mm).
    pub point: [f64; 3],
    /// Unsigned distance from the query point to `point` (mm).
    pub distance: f64,
    /// Face, edge or vertex of `triangle` that `point` lies on.
    pub feature: Feature,
}

/// Reference to a subtree with its box: a leaf of `count > 0` consecutive slots from
/// `index`, or (`count == 0`) the internal node `nodes[index]`. Boxes are f32 rounded
/// outwards: still conservative, and a whole node fits one 64-byte cache line.
#[derive(Clone, Copy, Debug)]
struct Child {
    lo: [f32; 3],
    hi: [f32; 3],
    index: u32,
    count: u32,
}

impl Child {
    const EMPTY: Child = Child {
        lo: [0.0; 3],
        hi: [0.0; 3],
        index: 0,
        count: 0,
    };

    /// Reference over the exact box `lo..hi`, rounded outwards to f32.
    fn new(lo: DVec3, hi: DVec3, index: u32, count: u32) -> Child {
        Child {
            lo: lo.to_array().map(f32_down),
            hi: hi.to_array().map(f32_up),
            index,
            count,
        }
    }

    /// Lower box corner in f64 (exact conversion).
    fn lo(&self) -> DVec3 {
        DVec3::new(self.lo[0].into(), self.lo[1].into(), self.lo[2].into())
    }

    /// Upper box corner in f64 (exact conversion).
    fn hi(&self) -> DVec3 {
        DVec3::new(self.hi[0].into(), self.hi[1].into(), self.hi[2].into())
    }

    /// Squared distance from `p` to the box (0 inside).
    fn dist2(&self, p: DVec3) -> f64 {
        (self.lo() - p)
            .max(p - self.hi())
            .max(DVec3::ZERO)
            .length_squared()
    }

    /// Whether the two boxes overlap (closed), compared in f32 as stored (exact).
    fn overlaps_child(&self, b: &Child) -> bool {
        (0..3).all(|k| self.lo[k] <= b.hi[k] && b.lo[k] <= self.hi[k])
    }

    /// [`Self::entry`] for a ray whose inverse direction is finite in every component:
    /// the same slab arithmetic without branches (no lane can be NaN then), so the same
    /// answer.
    fn entry_finite(&self, o: DVec3, inv: DVec3, t_min: f64, t_max: f64) -> Option<f64> {
        let ta = (self.lo() - o) * inv;
        let tb = (self.hi() - o) * inv;
        let t0 = ta.min(tb).max_element().max(t_min);
        let t1 = ta.max(tb).min_element().min(t_max);
        (t0 <= t1).then_some(t0)
    }

    /// Ray parameter where the ray enters the box within `[t_min, t_max]`, if it does.
    fn entry(&self, o: DVec3, d: DVec3, inv: DVec3, t_min: f64, t_max: f64) -> Option<f64> {
        let (mut t0, mut t1) = (t_min, t_max);
        let (nlo, nhi) = (self.lo(), self.hi());
        for k in 0..3 {
            let (lo, hi) = (nlo[k], nhi[k]);
            if d[k] == 0.0 {
                // Parallel to this slab: inside it or never (avoids 0 * inf = NaN).
                if o[k] < lo || o[k] > hi {
                    return None;
                }
                continue;
            }
            let ta = (lo - o[k]) * inv[k];
            let tb = (hi - o[k]) * inv[k];
            t0 = t0.max(ta.min(tb));
            t1 = t1.min(ta.max(tb));
            if t0 > t1 {
                return None;
            }
        }
        Some(t0)
    }
}

/// Internal node: both children with their boxes, so one read decides where to descend.
#[derive(Clone, Copy, Debug)]
struct Node {
    c: [Child; 2],
}

/// Largest f32 not above `x` (`x` not NaN).
fn f32_down(x: f64) -> f32 {
    let y = x as f32;
    if f64::from(y) <= x {
        y
    } else if y == 0.0 {
        -f32::from_bits(1)
    } else if y > 0.0 {
        f32::from_bits(y.to_bits() - 1)
    } else {
        f32::from_bits(y.to_bits() + 1)
    }
}

/// Smallest f32 not below `x` (`x` not NaN).
fn f32_up(x: f64) -> f32 {
    -f32_down(-x)
}

/// A usable triangle in tree order: its vertex indices and its index in the input.
#[derive(Clone, Copy, Debug)]
struct Slot {
    v: [u32; 3],
    id: u32,
}

/// Bounding-volume hierarchy over the usable triangles of one mesh, with the adjacency and
/// pseudo-normals needed for signed distances.
#[derive(Clone, Debug)]
pub struct Bvh {
    surface: Surface,
    /// Whole tree; `None` when no triangle is usable.
    root: Option<Child>,
    /// Internal nodes, depth-first: a node's left subtree follows it, then its right subtree.
    nodes: Vec<Node>,
    /// Usable triangles in tree order: a leaf is a range of them.
    slots: Vec<Slot>,
}

/// Fixed-capacity traversal stack; see [`STACK`] for why it cannot overflow.
struct Stack<T: Copy> {
    items: [T; STACK],
    len: usize,
}

impl<T: Copy> Stack<T> {
    fn new(fill: T) -> Self {
        Stack {
            items: [fill; STACK],
            len: 0,
        }
    }

    fn push(&mut self, t: T) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = t;
            self.len += 1;
        }
    }

    fn pop(&mut self) -> Option<T> {
        self.len = self.len.checked_sub(1)?;
        self.items.get(self.len).copied()
    }
}

impl Bvh {
    /// Number of triangles in the tree (usable input triangles).
    pub fn triangle_count(&self) -> usize {
        self.slots.len()
    }

    /// Number of input triangles left out: out-of-range index, non-finite vertex or zero area.
    pub fn skipped_triangles(&self) -> usize {
        self.surface.skipped()
    }

    /// Whether the tree holds no triangle (every query then returns `None` or 0).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Nearest surface point to `p`; ties go to the lowest triangle index. `None` if the
    /// tree is empty or `p` is not finite.
    pub fn closest(&self, p: [f64; 3]) -> Option<Hit> {
        let near = self.nearest(DVec3::from_array(p))?;
        let feature = match near.local {
            Local::Face => Feature::Face,
            Local::Edge(e) => Feature::Edge(corner(near.v, e), corner(near.v, e + 1)),
            Local::Vertex(k) => Feature::Vertex(corner(near.v, k)),
        };
        Some(Hit {
            triangle: near.id,
            point: near.point.to_array(),
            distance: near.d2.sqrt(),
            feature,
        })
    }

    /// Distance to the surface, negative inside a closed consistently oriented mesh: the sign
    /// of (p - nearest point) . angle-weighted pseudo-normal of the nearest face, edge or
    /// vertex (Baerentzen & Aanaes 2005; on boundary or non-manifold edges the sum of the
    /// incident face normals). `None` if the tree is empty or `p` is not finite.
    pub fn signed_distance(&self, p: [f64; 3]) -> Option<f64> {
        let q = DVec3::from_array(p);
        let near = self.nearest(q)?;
        Some(self.surface.signed(q, &near))
    }

    /// As [`Self::signed_distance`], given an upper bound on the distance (for example the
    /// distance to a point known to lie on the surface); same result, faster. Falls back to
    /// the unbounded search when nothing lies within the bound.
    pub fn signed_distance_within(&self, p: [f64; 3], bound: f64) -> Option<f64> {
        let q = DVec3::from_array(p);
        let max_d2 = Nearest::squared_bound(bound);
        let near = self.nearest_within(q, max_d2).or_else(|| self.nearest(q))?;
        Some(self.surface.signed(q, &near))
    }

    /// Unit angle-weighted pseudo-normal of the feature a [`Hit`] lies on (`None` for a
    /// triangle not in the tree or a zero normal sum).
    pub fn pseudo_normal(&self, hit: &Hit) -> Option<[f64; 3]> {
        let v = self.surface.triangle(hit.triangle)?;
        let local = match hit.feature {
            Feature::Face => Local::Face,
            Feature::Edge(a, b) => (0..3u8)
                .find(|&e| {
                    let (p, q) = (corner(v, e), corner(v, e + 1));
                    (p, q) == (a, b) || (q, p) == (a, b)
                })
                .map(Local::Edge)?,
            Feature::Vertex(w) => (0..3u8).find(|&k| corner(v, k) == w).map(Local::Vertex)?,
        };
        let n = self
            .surface
            .pseudo_normal(hit.triangle, local)
            .normalize_or_zero();
        (n != DVec3::ZERO).then(|| n.to_array())
    }

    /// Nearest ray hit with `t_min <= t <= t_max` (point = origin + t * dir, `dir` need not be
    /// unit), both faces, optionally ignoring one triangle: `(triangle, t)`.
    pub fn ray(
        &self,
        origin: [f64; 3],
        dir: [f64; 3],
        t_min: f64,
        t_max: f64,
        ignore: Option<u32>,
    ) -> Option<(u32, f64)> {
        self.ray_filtered(origin, dir, t_min, t_max, |t| Some(t) != ignore)
    }

    /// Like [`Bvh::ray`] but skips every triangle (input index) for which `accept` is false.
    pub fn ray_filtered<F: Fn(u32) -> bool>(
        &self,
        origin: [f64; 3],
        dir: [f64; 3],
        t_min: f64,
        t_max: f64,
        accept: F,
    ) -> Option<(u32, f64)> {
        let o = DVec3::from_array(origin);
        let d = DVec3::from_array(dir);
        if !o.is_finite() || !d.is_finite() || d == DVec3::ZERO || t_min.is_nan() || t_max.is_nan()
        {
            return None;
        }
        let root = self.root?;
        if t_min > t_max {
            return None;
        }
        let inv = DVec3::ONE / d;
        let finite = inv.is_finite();
        let mut best: Option<(u32, f64)> = None;
        let mut best_t = t_max;
        let mut stack = Stack::new((Child::EMPTY, 0.0f64));
        if let Some(t) = root.entry(o, d, inv, t_min, best_t) {
            stack.push((root, t));
        }
        while let Some((ch, tn)) = stack.pop() {
            if tn > best_t {
                continue;
            }
            if ch.count > 0 {
                for sl in self.leaf(&ch) {
                    let Some([a, b, c]) = self.corners(sl.v) else {
                        continue;
                    };
                    let Some(t) = ray_triangle(o, d, a, b, c) else {
                        continue;
                    };
                    if t < t_min || t > best_t || !accept(sl.id) {
                        continue;
                    }
                    if t < best_t || best.is_none_or(|(id, _)| sl.id < id) {
                        best_t = t;
                        best = Some((sl.id, t));
                    }
                }
            } else {
                let Some(node) = self.nodes.get(ch.index as usize) else {
                    continue;
                };
                let [l, r] = node.c;
                let (tl, tr) = if finite {
                    (
                        l.entry_finite(o, inv, t_min, best_t),
                        r.entry_finite(o, inv, t_min, best_t),
                    )
                } else {
                    (
                        l.entry(o, d, inv, t_min, best_t),
                        r.entry(o, d, inv, t_min, best_t),
                    )
                };
                // Push the farther child first so the nearer one is searched first.
                match (tl, tr) {
                    (Some(x), Some(y)) if x <= y => {
                        stack.push((r, y));
                        stack.push((l, x));
                    }
                    (Some(x), Some(y)) => {
                        stack.push((l, x));
                        stack.push((r, y));
                    }
                    (Some(x), None) => stack.push((l, x)),
                    (None, Some(y)) => stack.push((r, y)),
                    (None, None) => {}
                }
            }
        }
        best
    }

    // ---- internals ----

    /// Slots of a leaf (empty if the reference is malformed).
    fn leaf(&self, ch: &Child) -> &[Slot] {
        let s = ch.index as usize;
        self.slots.get(s..s + ch.count as usize).unwrap_or(&[])
    }

    /// Corner positions of a triangle.
    fn corners(&self, v: [u32; 3]) -> Option<[DVec3; 3]> {
        self.surface.corners(v)
    }

    /// Nearest point over the whole tree; minimum of (squared distance, triangle index).
    fn nearest(&self, p: DVec3) -> Option<Near> {
        self.nearest_within(p, f64::INFINITY)
    }

    /// As [`Self::nearest`], skipping everything farther than `max_d2` (squared mm). With a
    /// bound known to be at least the true distance the answer is the same, found sooner.
    fn nearest_within(&self, p: DVec3, max_d2: f64) -> Option<Near> {
        let root = self.root?;
        if !p.is_finite() {
            return None;
        }
        let mut near = Nearest::within(max_d2);
        let mut stack = Stack::new((Child::EMPTY, 0.0f64));
        stack.push((root, root.dist2(p)));
        while let Some((ch, nd2)) = stack.pop() {
            // `>` rather than `>=`: a box at exactly the best distance may hold a tie with a
            // lower triangle index.
            if nd2 > near.d2 {
                continue;
            }
            if ch.count > 0 {
                for sl in self.leaf(&ch) {
                    if let Some(corners) = self.corners(sl.v) {
                        near.offer(p, sl.id, sl.v, corners);
                    }
                }
            } else {
                let Some(node) = self.nodes.get(ch.index as usize) else {
                    continue;
                };
                let [l, r] = node.c;
                let dl = l.dist2(p);
                let dr = r.dist2(p);
                let ((n1, d1), (n2, d2)) = if dl <= dr {
                    ((l, dl), (r, dr))
                } else {
                    ((r, dr), (l, dl))
                };
                // Farther child first, so the nearer is searched first and prunes more.
                if d2 <= near.d2 {
                    stack.push((n2, d2));
                }
                if d1 <= near.d2 {
                    stack.push((n1, d1));
                }
            }
        }
        near.best
    }
}

/// Internal nodes in the subtree over `n` triangles. The shape depends on `n` alone (halves
/// of `n/2` and `n - n/2`), which lets every subtree be written into its own pre-sized
/// slice in parallel. Evaluated on the pair (g(k), g(k+1)) so it costs O(log n).
fn internal_nodes(n: usize) -> usize {
    fn g_pair(k: usize) -> (usize, usize) {
        if k < LEAF_SIZE {
            return (0, 0);
        }
        let (a, b) = g_pair(k / 2);
        let gk = if k <= LEAF_SIZE {
            0
        } else if k.is_multiple_of(2) {
            1 + 2 * a
        } else {
            1 + a + b
        };
        let gk1 = if k % 2 == 1 { 1 + 2 * b } else { 1 + a + b };
        (gk, gk1)
    }
    g_pair(n).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::test_meshes::*;
    use crate::mesh::tri::intersect::pair_intersects;
    use rayon::prelude::*;

    fn unit_box() -> Mesh {
        grid_box([0.0, 0.0, 0.0], [2.0, 3.0, 4.0], 1)
    }

    /// Exact signed distance to the box lo..hi (negative inside).
    fn box_sdf(p: [f64; 3], lo: [f64; 3], hi: [f64; 3]) -> f64 {
        let mut out = 0.0f64;
        let mut inside = f64::INFINITY;
        for k in 0..3 {
            let d = (lo[k] - p[k]).max(p[k] - hi[k]);
            out += d.max(0.0).powi(2);
            inside = inside.min(-d);
        }
        if out > 0.0 { out.sqrt() } else { -inside }
    }

    /// Tessellation depth of an inscribed polyhedron: R minus the smallest face-plane
    /// distance from the centre (the polyhedron lies between radii R - h and R).
    fn sagitta(m: &Mesh, r: f64, c: [f64; 3]) -> f64 {
        let c = DVec3::from_array(c);
        let mut min_plane = f64::INFINITY;
        for t in &m.1 {
            let [a, b, cc] = t.map(|i| DVec3::from_array(m.0[i as usize]));
            let n = (b - a).cross(cc - a).normalize();
            min_plane = min_plane.min(n.dot(a - c).abs());
        }
        r - min_plane
    }

    #[test]
    fn internal_node_count_matches_recursion() {
        fn naive(n: usize) -> usize {
            if n <= LEAF_SIZE {
                0
            } else {
                1 + naive(n / 2) + naive(n - n / 2)
            }
        }
        for n in 0..3000 {
            assert_eq!(internal_nodes(n), naive(n), "n = {n}");
        }
        assert_eq!(internal_nodes(1_600_003), naive(1_600_003));
    }

    #[test]
    fn empty_mesh_answers_none() {
        let bvh = Bvh::build(&[], &[]);
        assert!(bvh.is_empty());
        assert_eq!(bvh.closest([0.0; 3]), None);
        assert_eq!(bvh.signed_distance([0.0; 3]), None);
        assert_eq!(bvh.ray([0.0; 3], [1.0, 0.0, 0.0], 0.0, 10.0, None), None);
        assert_eq!(bvh.count_self_intersections(), 0);
    }

    #[test]
    fn bad_triangles_are_skipped_not_fatal() {
        let v = vec![
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [2.0, 0.0, 0.0],
            [f64::NAN, 0.0, 0.0],
        ];
        let t = vec![
            [0, 1, 2],     // fine
            [0, 1, 99],    // out of range
            [0, 0, 1],     // repeated index
            [0, 1, 3],     // collinear
            [0, 1, 4],     // NaN vertex
            [u32::MAX; 3], // out of range
        ];
        let bvh = Bvh::build(&v, &t);
        assert_eq!(bvh.triangle_count(), 1);
        assert_eq!(bvh.skipped_triangles(), 5);
        let h = bvh.closest([0.2, 0.2, 1.0]).unwrap();
        assert_eq!(h.triangle, 0);
        assert_eq!(h.feature, Feature::Face);
        assert!((h.distance - 1.0).abs() < 1e-15);
        assert_eq!(bvh.closest([f64::NAN, 0.0, 0.0]), None);
        assert_eq!(bvh.signed_distance([0.0, f64::INFINITY, 0.0]), None);
        assert_eq!(bvh.ray([0.2, 0.2, 1.0], [0.0; 3], 0.0, 1.0, None), None);
        assert_eq!(
            bvh.ray([0.2, 0.2, 1.0], [0.0, 0.0, -1.0], 2.0, 1.0, None),
            None
        );
        assert_eq!(bvh.count_self_intersections(), 0);
        let fake = Hit {
            triangle: 3,
            point: [0.0; 3],
            distance: 0.0,
            feature: Feature::Face,
        };
        assert_eq!(bvh.pseudo_normal(&fake), None);
    }

    #[test]
    fn closest_point_on_box_matches_analytic() {
        let (v, t) = unit_box();
        let bvh = Bvh::build(&v, &t);
        let (lo, hi) = ([0.0, 0.0, 0.0], [2.0, 3.0, 4.0]);
        let mut rng = Rng(7);
        for _ in 0..5000 {
            let p = [
                rng.range(-2.0, 4.0),
                rng.range(-2.0, 5.0),
                rng.range(-2.0, 6.0),
            ];
            let want = box_sdf(p, lo, hi);
            let h = bvh.closest(p).unwrap();
            assert!((h.distance - want.abs()).abs() < 1e-12, "{p:?}");
            let q = DVec3::from_array(h.point);
            assert!((q.distance(DVec3::from_array(p)) - h.distance).abs() < 1e-12);
            let s = bvh.signed_distance(p).unwrap();
            assert!((s - want).abs() < 1e-12, "{p:?}: {s} vs {want}");
        }
    }

    #[test]
    fn closest_point_on_sphere_within_tessellation_bounds() {
        let (r, c) = (10.0, [1.0, -2.0, 3.0]);
        let m = icosphere(r, c, 4);
        let h = sagitta(&m, r, c);
        assert!(h > 0.0 && h < 0.02, "sagitta {h}");
        let bvh = Bvh::build(&m.0, &m.1);
        let mut rng = Rng(11);
        for _ in 0..3000 {
            let dir = DVec3::new(
                rng.range(-1.0, 1.0),
                rng.range(-1.0, 1.0),
                rng.range(-1.0, 1.0),
            )
            .normalize();
            let rad = rng.range(0.0, 20.0);
            let p = DVec3::from_array(c) + dir * rad;
            let d = bvh.closest(p.to_array()).unwrap().distance;
            let s = bvh.signed_distance(p.to_array()).unwrap();
            if rad > r {
                assert!(d >= rad - r - 1e-12 && d <= rad - (r - h) + 1e-12);
                assert!(s > 0.0);
            } else if rad < r - h {
                assert!(d >= r - h - rad - 1e-12 && d <= r - rad + 1e-12);
                assert!(s < 0.0);
            }
            assert_eq!(s.abs(), d);
        }
    }

    #[test]
    fn signed_distance_at_box_edges_and_corners() {
        let (v, t) = unit_box();
        let bvh = Bvh::build(&v, &t);
        // Points whose nearest point is an edge or corner: the face normal of a triangle
        // there is orthogonal to p - q, so only the pseudo-normal gives the sign.
        let cases: [([f64; 3], f64); 8] = [
            ([2.0, 3.5, 1.0], 0.5),
            ([2.5, 3.0, 1.0], 0.5),
            ([2.0, 3.0, 4.7], 0.7),
            ([-0.3, 0.0, 0.0], 0.3),
            ([0.0, -0.3, 0.0], 0.3),
            ([0.0, 0.0, -0.3], 0.3),
            ([1.0, 1.5, 2.0], -1.0),
            ([1.99, 2.99, 3.99], -0.01),
        ];
        for (p, want) in cases {
            let s = bvh.signed_distance(p).unwrap();
            assert!((s - want).abs() < 1e-12, "{p:?}: {s} vs {want}");
        }
        let h = bvh.closest([2.0, 3.0, 4.7]).unwrap();
        assert_eq!(
            h.feature,
            Feature::Vertex(v.iter().position(|x| *x == [2.0, 3.0, 4.0]).unwrap() as u32)
        );
        let n = bvh.pseudo_normal(&h).unwrap();
        assert!((DVec3::from_array(n) - DVec3::ONE.normalize()).length() < 1e-12);
    }

    #[test]
    fn signed_distance_at_sharp_tetrahedron_edges() {
        // Regular tetrahedron: dihedral angles of 70.5 degrees, so for points outside near
        // an edge the *other* face's normal often gives the wrong sign.
        let v = vec![
            [1.0, 1.0, 1.0],
            [1.0, -1.0, -1.0],
            [-1.0, 1.0, -1.0],
            [-1.0, -1.0, 1.0],
        ];
        let t = vec![[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]];
        let bvh = Bvh::build(&v, &t);
        let planes: Vec<(DVec3, DVec3)> = t
            .iter()
            .map(|f| {
                let [a, b, c] = f.map(|i| DVec3::from_array(v[i as usize]));
                (a, (b - a).cross(c - a).normalize())
            })
            .collect();
        let inside = |p: DVec3| planes.iter().all(|(a, n)| n.dot(p - *a) < 0.0);
        let mut rng = Rng(3);
        let mut naive_wrong = 0;
        for _ in 0..20000 {
            let p = DVec3::new(
                rng.range(-2.0, 2.0),
                rng.range(-2.0, 2.0),
                rng.range(-2.0, 2.0),
            );
            let s = bvh.signed_distance(p.to_array()).unwrap();
            if s.abs() < 1e-9 {
                continue;
            }
            assert_eq!(s < 0.0, inside(p), "{p:?} {s}");
            let h = bvh.closest(p.to_array()).unwrap();
            let n = planes[h.triangle as usize].1;
            if (n.dot(p - DVec3::from_array(h.point)) < 0.0) != inside(p) {
                naive_wrong += 1;
            }
        }
        assert!(
            naive_wrong > 100,
            "test should cover cases naive normals get wrong"
        );
    }

    #[test]
    fn branchless_slab_test_equals_the_branching_one() {
        let mut r = Rng(41);
        // Coarse values so that origins land exactly on box faces and rays run along them.
        let v = |r: &mut Rng| (r.next() * 8.0).floor() * 0.25 - 1.0;
        for _ in 0..20000 {
            let (a, b) = (
                DVec3::new(v(&mut r), v(&mut r), v(&mut r)),
                DVec3::new(v(&mut r), v(&mut r), v(&mut r)),
            );
            let ch = Child::new(a.min(b), a.max(b), 0, 1);
            let o = DVec3::new(v(&mut r), v(&mut r), v(&mut r));
            let d =
                DVec3::new(v(&mut r), v(&mut r), v(&mut r)) * 3.0 + DVec3::splat(0.1 * r.next());
            let inv = DVec3::ONE / d;
            if !inv.is_finite() {
                continue;
            }
            let (t0, t1) = (r.range(-1.0, 1.0), r.range(0.0, 4.0));
            assert_eq!(
                ch.entry_finite(o, inv, t0, t1),
                ch.entry(o, d, inv, t0, t1),
                "{o} {d}"
            );
        }
    }

    #[test]
    fn ray_hits_box_faces() {
        let (v, t) = unit_box();
        let bvh = Bvh::build(&v, &t);
        let (tri, tt) = bvh
            .ray([1.0, 1.0, -5.0], [0.0, 0.0, 2.0], 0.0, 100.0, None)
            .unwrap();
        assert!((tt - 2.5).abs() < 1e-12);
        // From inside, the exit through the top.
        let (tri2, t2) = bvh
            .ray([1.0, 1.0, 1.0], [0.0, 0.0, 1.0], 0.0, 100.0, None)
            .unwrap();
        assert!((t2 - 3.0).abs() < 1e-12);
        assert_ne!(tri, tri2);
        // Ignoring the entry triangle: the exit.
        let (_, t3) = bvh
            .ray([1.0, 1.0, -5.0], [0.0, 0.0, 2.0], 0.0, 100.0, Some(tri))
            .unwrap();
        assert!((t3 - 4.5).abs() < 1e-12);
        // Range limits and misses.
        assert_eq!(
            bvh.ray([1.0, 1.0, -5.0], [0.0, 0.0, 1.0], 0.0, 4.0, None),
            None
        );
        assert_eq!(
            bvh.ray([5.0, 1.0, -5.0], [0.0, 0.0, 1.0], 0.0, 100.0, None),
            None
        );
        // Through a face diagonal (shared edge of two triangles) and through a corner.
        assert!(
            bvh.ray([1.0, 1.5, -1.0], [0.0, 0.0, 1.0], 0.0, 9.0, None)
                .is_some()
        );
        let (_, tc) = bvh
            .ray([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], 0.0, 9.0, None)
            .unwrap();
        assert!((tc - 1.0).abs() < 1e-12);
        // Ray lying in a box face plane, axis-parallel: slab test must not produce NaN.
        let (_, tp) = bvh
            .ray([-1.0, 0.0, 2.0], [1.0, 0.0, 0.0], 0.0, 9.0, None)
            .unwrap();
        assert!((tp - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ray_hits_sphere_at_radius() {
        let m = icosphere(5.0, [0.0; 3], 3);
        let h = sagitta(&m, 5.0, [0.0; 3]);
        let bvh = Bvh::build(&m.0, &m.1);
        let mut rng = Rng(5);
        for _ in 0..500 {
            let d = DVec3::new(
                rng.range(-1.0, 1.0),
                rng.range(-1.0, 1.0),
                rng.range(-1.0, 1.0),
            );
            let (_, t) = bvh
                .ray([0.0; 3], d.normalize().to_array(), 0.0, 100.0, None)
                .unwrap();
            assert!(t <= 5.0 + 1e-12 && t >= 5.0 - h - 1e-12);
        }
    }

    #[test]
    fn convex_meshes_do_not_self_intersect() {
        let s = icosphere(10.0, [0.0; 3], 3);
        assert_eq!(Bvh::build(&s.0, &s.1).count_self_intersections(), 0);
        let b = grid_box([0.0; 3], [1.0, 2.0, 3.0], 4);
        assert_eq!(Bvh::build(&b.0, &b.1).count_self_intersections(), 0);
        let two = merge(&[
            grid_box([0.0; 3], [1.0; 3], 3),
            grid_box([1.5, 0.0, 0.0], [2.5, 1.0, 1.0], 3),
        ]);
        assert_eq!(Bvh::build(&two.0, &two.1).count_self_intersections(), 0);
    }

    #[test]
    fn interpenetrating_boxes_intersect() {
        // Crossing in general position, and crossing exactly along coincident grid edges.
        for (lo, hi) in [
            ([1.1, 0.7, 1.3], [3.1, 2.7, 3.3]),
            ([1.0, 1.0, 1.0], [3.0, 3.0, 3.0]),
        ] {
            check_interpenetrating(lo, hi);
        }
    }

    fn check_interpenetrating(lo: [f64; 3], hi: [f64; 3]) {
        let m = merge(&[grid_box([0.0; 3], [2.0; 3], 2), grid_box(lo, hi, 2)]);
        let bvh = Bvh::build(&m.0, &m.1);
        let pairs = bvh.self_intersecting_pairs();
        assert_eq!(pairs.len(), bvh.count_self_intersections());
        assert!(!pairs.is_empty());
        // Every reported pair is one triangle from each box.
        let n0 = 2 * 2 * 2 * 6;
        assert!(
            pairs
                .iter()
                .all(|&(a, b)| (a as usize) < n0 && (b as usize) >= n0)
        );
        // Brute force over all pairs agrees (BVH candidate search misses nothing).
        let mut brute = 0;
        for i in 0..m.1.len() {
            for j in i + 1..m.1.len() {
                let p = m.1[i].map(|k| DVec3::from_array(m.0[k as usize]));
                let q = m.1[j].map(|k| DVec3::from_array(m.0[k as usize]));
                if pair_intersects(m.1[i], p, m.1[j], q) {
                    brute += 1;
                }
            }
        }
        assert_eq!(brute, pairs.len());
    }

    #[test]
    fn pushed_in_vertex_folds_through_its_neighbours() {
        // Pull one icosphere vertex through the centre to the far side: its fan now cuts the
        // opposite surface and its own triangles fold over their one-vertex neighbours.
        let (mut v, t) = icosphere(10.0, [0.0; 3], 2);
        assert_eq!(Bvh::build(&v, &t).count_self_intersections(), 0);
        v[0] = [-v[0][0] * 1.5, -v[0][1] * 1.5, -v[0][2] * 1.5];
        let bvh = Bvh::build(&v, &t);
        assert!(bvh.count_self_intersections() > 0);
        // A small inward dent stays valid.
        let (mut v2, t2) = icosphere(10.0, [0.0; 3], 2);
        v2[0] = [v2[0][0] * 0.98, v2[0][1] * 0.98, v2[0][2] * 0.98];
        assert_eq!(Bvh::build(&v2, &t2).count_self_intersections(), 0);
    }

    #[test]
    fn random_soups_with_hostile_values_never_panic() {
        let mut rng = Rng(2024);
        for round in 0..30 {
            let (v, t) = soup(&mut rng);
            let bvh = Bvh::build(&v, &t);
            assert_eq!(bvh.triangle_count() + bvh.skipped_triangles(), t.len());
            let pairs = bvh.self_intersecting_pairs();
            assert_eq!(pairs.len(), bvh.count_self_intersections());
            for _ in 0..50 {
                let p: [f64; 3] = std::array::from_fn(|_| rng.range(-1.0, 3.0));
                let d: [f64; 3] = std::array::from_fn(|_| rng.range(-1.0, 1.0));
                if let Some(h) = bvh.closest(p) {
                    assert!(h.distance >= 0.0);
                    let _ = bvh.pseudo_normal(&h);
                }
                let _ = bvh.signed_distance(p);
                let _ = bvh.ray(p, d, 0.0, f64::INFINITY, Some(round));
                let _ = bvh.ray(p, [0.0, 0.0, 1.0], f64::NEG_INFINITY, 0.0, None);
            }
        }
    }

    #[test]
    fn results_identical_across_thread_counts() {
        // Large enough (> 4 x PAR_BUILD_MIN triangles) for every parallel build path.
        let m = merge(&[
            icosphere(10.0, [0.0; 3], 6),
            grid_box([5.0, -3.0, -3.0], [14.0, 3.0, 3.0], 6),
        ]);
        assert!(m.1.len() > 4 * PAR_BUILD_MIN);
        let run = || {
            let bvh = Bvh::build(&m.0, &m.1);
            let mut rng = Rng(17);
            let pts: Vec<[f64; 3]> = (0..4000)
                .map(|_| {
                    [
                        rng.range(-15.0, 15.0),
                        rng.range(-15.0, 15.0),
                        rng.range(-15.0, 15.0),
                    ]
                })
                .collect();
            let hits: Vec<Option<Hit>> = pts.par_iter().map(|p| bvh.closest(*p)).collect();
            let sd: Vec<u64> = pts
                .par_iter()
                .map(|p| bvh.signed_distance(*p).unwrap().to_bits())
                .collect();
            let rays: Vec<Option<(u32, f64)>> = pts
                .par_iter()
                .map(|p| bvh.ray(*p, [0.3, -0.2, 1.0], 0.0, 50.0, None))
                .collect();
            (hits, sd, rays, bvh.self_intersecting_pairs())
        };
        let one = with_threads(1, run);
        let two = with_threads(2, run);
        assert_eq!(one.0, two.0);
        assert_eq!(one.1, two.1);
        assert_eq!(one.2, two.2);
        assert_eq!(one.3, two.3);
        assert!(!one.3.is_empty());
    }
}
