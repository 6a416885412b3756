//! Self-intersections: every pair of triangles whose boxes overlap is tested with exact
//! predicates, except pairs that meet at a vertex whose fan is provably flat enough to be
//! a height field over a coordinate plane (see [`safe_fans`]); on a smooth surface those
//! are nearly all of the pairs, and none of them can intersect.

use super::surface::Surface;
use super::{Bvh, Child};
use crate::mesh::tri::intersect::pair_intersects;
use crate::mesh::tri::predicates::orient2d;
use glam::DVec3;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Traversal steps this close to the root fork onto rayon (2^10 tasks and more: plenty
/// to balance, few enough to cost nothing).
const PAR_DEPTH: u32 = 10;

impl Bvh {
    /// Number of unordered triangle pairs that intersect (touching counts), decided with exact
    /// orientation predicates; see [`Bvh::self_intersecting_pairs`] for which pairs are tested.
    pub fn count_self_intersections(&self) -> usize {
        let safe = safe_fans(&self.surface);
        let never = AtomicBool::new(false);
        self.traverse(&safe, &never, &|| 0usize, &|n, _, _| *n += 1, &|a, b| a + b)
    }

    /// [`Bvh::count_self_intersections`], stopping early with `None` once `cancel` is set
    /// (checked at every step of the traversal).
    pub fn count_self_intersections_cancellable(&self, cancel: &AtomicBool) -> Option<usize> {
        let safe = safe_fans(&self.surface);
        let n = self.traverse(&safe, cancel, &|| 0usize, &|n, _, _| *n += 1, &|a, b| a + b);
        (!cancel.load(Relaxed)).then_some(n)
    }

    /// Intersecting pairs `(i, j)`, `i < j` input triangle indices, sorted. Pairs sharing no
    /// vertex: any contact. Sharing one vertex: contact anywhere but that vertex (a fold).
    /// Sharing an edge: only coplanar fold-over. Vertices are shared by index, so the mesh
    /// must be welded (unwelded copies touch their neighbours and are reported). Duplicate
    /// triangles (all three indices shared) are not reported.
    pub fn self_intersecting_pairs(&self) -> Vec<(u32, u32)> {
        let safe = safe_fans(&self.surface);
        let mut pairs = self.traverse(
            &safe,
            &AtomicBool::new(false),
            &Vec::new,
            &|v, a, b| v.push((a.min(b), a.max(b))),
            &|mut a, mut b| {
                a.append(&mut b);
                a
            },
        );
        pairs.sort_unstable();
        pairs
    }

    /// Folds `hit(acc, i, j)` over every intersecting pair (input indices) by a traversal of
    /// the tree against itself: each pair of overlapping leaves once, so every candidate
    /// pair is tested exactly once. Subtrees fork onto rayon; `merge` joins their results.
    fn traverse<R: Send>(
        &self,
        safe: &[bool],
        cancel: &AtomicBool,
        zero: &(dyn Fn() -> R + Sync),
        hit: &(dyn Fn(&mut R, u32, u32) + Sync),
        merge: &(dyn Fn(R, R) -> R + Sync),
    ) -> R {
        let Some(root) = self.root else {
            return zero();
        };
        let t = Traversal {
            bvh: self,
            safe,
            cancel,
            zero,
            hit,
            merge,
        };
        t.within(root, 0)
    }
}

/// One self-intersection traversal: the tree, the safe fans and the fold.
struct Traversal<'a, R> {
    bvh: &'a Bvh,
    safe: &'a [bool],
    /// Once set, every further step returns `zero` (the caller discards the result).
    cancel: &'a AtomicBool,
    zero: &'a (dyn Fn() -> R + Sync),
    hit: &'a (dyn Fn(&mut R, u32, u32) + Sync),
    merge: &'a (dyn Fn(R, R) -> R + Sync),
}

/// Triangles of one leaf, loaded once for all the pairs it takes part in.
struct LeafTris {
    n: usize,
    v: [[u32; 3]; LEAF_MAX],
    id: [u32; LEAF_MAX],
    p: [[DVec3; 3]; LEAF_MAX],
    lo: [DVec3; LEAF_MAX],
    hi: [DVec3; LEAF_MAX],
}

/// Capacity of [`LeafTris`]: at least the tree's largest leaf.
const LEAF_MAX: usize = super::LEAF_SIZE;

impl<R: Send> Traversal<'_, R> {
    /// Every pair inside one subtree.
    fn within(&self, ch: Child, depth: u32) -> R {
        if self.cancel.load(Relaxed) {
            return (self.zero)();
        }
        if ch.count > 0 {
            let a = self.load(&ch);
            let mut acc = (self.zero)();
            for i in 0..a.n {
                for j in i + 1..a.n {
                    self.test(&mut acc, &a, i, &a, j);
                }
            }
            return acc;
        }
        let Some(node) = self.bvh.nodes.get(ch.index as usize) else {
            return (self.zero)();
        };
        let [l, r] = node.c;
        let d = depth + 1;
        if depth < PAR_DEPTH {
            let ((x, y), z) = rayon::join(
                || rayon::join(|| self.within(l, d), || self.within(r, d)),
                || self.between(l, r, d),
            );
            (self.merge)((self.merge)(x, y), z)
        } else {
            let x = self.within(l, d);
            let y = self.within(r, d);
            let z = self.between(l, r, d);
            (self.merge)((self.merge)(x, y), z)
        }
    }

    /// Every pair with one triangle in `a` and one in `b` (disjoint subtrees).
    fn between(&self, a: Child, b: Child, depth: u32) -> R {
        if !a.overlaps_child(&b) || self.cancel.load(Relaxed) {
            return (self.zero)();
        }
        if a.count > 0 && b.count > 0 {
            let (x, y) = (self.load(&a), self.load(&b));
            let mut acc = (self.zero)();
            for i in 0..x.n {
                for j in 0..y.n {
                    self.test(&mut acc, &x, i, &y, j);
                }
            }
            return acc;
        }
        // Split the internal one; of two internal ones, the one with the larger box.
        let split_a = b.count > 0
            || (a.count == 0 && (a.hi() - a.lo()).max_element() >= (b.hi() - b.lo()).max_element());
        let (keep, split) = if split_a { (b, a) } else { (a, b) };
        let Some(node) = self.bvh.nodes.get(split.index as usize) else {
            return (self.zero)();
        };
        let [l, r] = node.c;
        let d = depth + 1;
        if depth < PAR_DEPTH {
            let (x, y) = rayon::join(|| self.between(l, keep, d), || self.between(r, keep, d));
            (self.merge)(x, y)
        } else {
            let x = self.between(l, keep, d);
            let y = self.between(r, keep, d);
            (self.merge)(x, y)
        }
    }

    /// A leaf's triangles with their corners and boxes.
    fn load(&self, ch: &Child) -> LeafTris {
        let mut t = LeafTris {
            n: 0,
            v: [[0; 3]; LEAF_MAX],
            id: [0; LEAF_MAX],
            p: [[DVec3::ZERO; 3]; LEAF_MAX],
            lo: [DVec3::ZERO; LEAF_MAX],
            hi: [DVec3::ZERO; LEAF_MAX],
        };
        for sl in self.bvh.leaf(ch).iter().take(LEAF_MAX) {
            let Some(p) = self.bvh.corners(sl.v) else {
                continue;
            };
            let k = t.n;
            t.v[k] = sl.v;
            t.id[k] = sl.id;
            t.p[k] = p;
            t.lo[k] = p[0].min(p[1]).min(p[2]);
            t.hi[k] = p[0].max(p[1]).max(p[2]);
            t.n += 1;
        }
        t
    }

    /// Tests one candidate pair: boxes, then the safe-fan rule by index, then the exact test.
    fn test(&self, acc: &mut R, a: &LeafTris, i: usize, b: &LeafTris, j: usize) {
        if a.lo[i].cmpgt(b.hi[j]).any() || a.hi[i].cmplt(b.lo[j]).any() {
            return;
        }
        let (pv, qv) = (a.v[i], b.v[j]);
        let mut shared_safe = false;
        for &x in &pv {
            if qv.contains(&x) && self.safe.get(x as usize).copied().unwrap_or(false) {
                shared_safe = true;
            }
        }
        if shared_safe {
            return;
        }
        if pair_intersects(pv, a.p[i], qv, b.p[j]) {
            (self.hit)(acc, a.id[i], b.id[j]);
        }
    }
}

/// For each vertex, whether no two of its triangles can intersect anywhere but where they
/// share vertices by index (so that the pairs meeting there need no geometric test).
///
/// True when the vertex's usable triangles form one closed fan and, projected onto the
/// coordinate plane across the fan's dominant normal axis (exact: a coordinate is
/// dropped), every triangle keeps its orientation (exact `orient2d` > 0) and the rim winds
/// once around the vertex. Then the projected triangles tile the plane around the vertex
/// exactly once, each projects one-to-one, and so the fan is the graph of a function over
/// that plane: two triangles meet only above points where their projections meet, which
/// for triangles of one fan is their shared vertex or shared edge. That rules out the fold
/// a pair sharing a vertex or an edge is tested for (see [`Bvh::self_intersecting_pairs`]).
fn safe_fans(surface: &Surface) -> Vec<bool> {
    (0..surface.vertices.len())
        .into_par_iter()
        .map(|v| fan_is_height_field(surface, v as u32))
        .collect()
}

/// Largest fan [`fan_is_height_field`] looks at; larger ones are simply tested pair by pair.
const FAN_MAX: usize = 32;

/// See [`safe_fans`].
fn fan_is_height_field(surface: &Surface, v: u32) -> bool {
    let ids = surface.incident(v);
    if ids.len() < 3 || ids.len() > FAN_MAX {
        return false;
    }
    let Some(&pv) = surface.vertices.get(v as usize) else {
        return false;
    };
    // Rim edges a -> b of the triangles (v, a, b), and the fan's normal.
    let mut rim = [(0u32, 0u32); FAN_MAX];
    let mut rim_at = [(DVec3::ZERO, DVec3::ZERO); FAN_MAX];
    let mut normal = DVec3::ZERO;
    for (k, &id) in ids.iter().enumerate() {
        let Some(t) = surface.triangle(id) else {
            return false;
        };
        let Some(at) = t.iter().position(|&x| x == v) else {
            return false;
        };
        let (a, b) = (t[(at + 1) % 3], t[(at + 2) % 3]);
        if a == v || b == v || a == b {
            return false;
        }
        let (Some(&pa), Some(&pb)) = (
            surface.vertices.get(a as usize),
            surface.vertices.get(b as usize),
        ) else {
            return false;
        };
        normal += (pa - pv).cross(pb - pv);
        rim[k] = (a, b);
        rim_at[k] = (pa, pb);
    }
    let rim = &rim[..ids.len()];
    // One closed cycle: every a is some b, each once, and following a -> b visits all.
    let next = |a: u32| rim.iter().find(|e| e.0 == a).map(|e| e.1);
    let (start, _) = rim[0];
    let mut at = start;
    for step in 0..rim.len() {
        let Some(b) = next(at) else {
            return false;
        };
        at = b;
        if at == start {
            if step + 1 != rim.len() {
                return false;
            }
            break;
        }
    }
    if at != start
        || rim
            .iter()
            .any(|e| rim.iter().filter(|f| f.0 == e.0).count() != 1)
    {
        return false;
    }
    // Coordinate plane across the dominant axis, ordered so the fan turns counter-clockwise.
    let k = if normal.x.abs() >= normal.y.abs() && normal.x.abs() >= normal.z.abs() {
        0
    } else if normal.y.abs() >= normal.z.abs() {
        1
    } else {
        2
    };
    if normal[k] == 0.0 || !normal[k].is_finite() {
        return false;
    }
    // (y, z), (z, x), (x, y) give the x, y, z components of the normal as orient2d.
    let (u, w) = [(1, 2), (2, 0), (0, 1)][k];
    let (u, w) = if normal[k] > 0.0 { (u, w) } else { (w, u) };
    let proj = |p: DVec3| [p[u], p[w]];
    let o = proj(pv);
    let mut crossings = 0;
    for &(pa, pb) in &rim_at[..rim.len()] {
        let (qa, qb) = (proj(pa), proj(pb));
        if orient2d(o, qa, qb) <= 0 {
            return false;
        }
        // Upward crossings of the ray from the vertex along +u (every rim edge has the
        // vertex on its left, so this counts the winding number).
        if qa[1] <= o[1] && qb[1] > o[1] {
            crossings += 1;
        }
    }
    crossings == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::test_meshes::*;

    /// Every intersecting pair by brute force over all pairs, without the safe-fan rule.
    fn brute(m: &Mesh) -> Vec<(u32, u32)> {
        let bvh = Bvh::build(&m.0, &m.1);
        let usable: Vec<usize> = (0..m.1.len())
            .filter(|&i| bvh.surface.triangle(i as u32).is_some())
            .collect();
        let mut out = Vec::new();
        for (x, &i) in usable.iter().enumerate() {
            for &j in &usable[x + 1..] {
                let p = m.1[i].map(|k| DVec3::from_array(m.0[k as usize]));
                let q = m.1[j].map(|k| DVec3::from_array(m.0[k as usize]));
                if pair_intersects(m.1[i], p, m.1[j], q) {
                    out.push((i as u32, j as u32));
                }
            }
        }
        out
    }

    #[test]
    fn traversal_with_safe_fans_finds_exactly_the_brute_force_pairs() {
        let mut rng = Rng(7);
        let mut skipped_some = false;
        let mut found_some = false;
        for (round, noise) in [0.0, 0.05, 0.3, 1.0, 3.0, 8.0]
            .iter()
            .cycle()
            .take(18)
            .enumerate()
        {
            let (mut v, t) = icosphere(10.0, [0.0; 3], 2);
            for p in v.iter_mut() {
                for c in p.iter_mut() {
                    *c += rng.range(-noise, *noise);
                }
            }
            // Now and then a vertex snapped onto a neighbour's plane or onto another
            // vertex's position: touching and coplanar cases.
            if round % 3 == 1 {
                v[5] = v[17];
                let (a, b, c) = (
                    v[t[0][0] as usize],
                    v[t[0][1] as usize],
                    v[t[0][2] as usize],
                );
                v[t[40][0] as usize] = std::array::from_fn(|k| (a[k] + b[k] + c[k]) / 3.0);
            }
            let m = (v, t);
            let bvh = Bvh::build(&m.0, &m.1);
            let want = brute(&m);
            assert_eq!(bvh.self_intersecting_pairs(), want, "round {round}");
            assert_eq!(bvh.count_self_intersections(), want.len());
            let stop = AtomicBool::new(false);
            assert_eq!(
                bvh.count_self_intersections_cancellable(&stop),
                Some(want.len())
            );
            stop.store(true, Relaxed);
            assert_eq!(bvh.count_self_intersections_cancellable(&stop), None);
            let safe = safe_fans(&bvh.surface);
            skipped_some |= safe.iter().any(|&s| s);
            found_some |= !want.is_empty();
        }
        assert!(skipped_some && found_some);
    }

    #[test]
    fn a_folded_fan_is_not_safe_and_a_flat_one_is() {
        // A flat square fan of four triangles around the centre: safe.
        let v = vec![
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [-1.0, 0.0, 0.0],
            [0.0, -1.0, 0.0],
        ];
        let t = vec![[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 1]];
        assert!(safe_fans(&Surface::new(&v, &t))[0]);
        // The same rim wound twice around the centre (eight triangles over four sectors
        // each covered twice): not safe although every triangle faces up.
        let v2 = vec![
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [-1.0, 0.0, 0.0],
            [0.0, -1.0, 0.0],
            [2.0, 0.1, 0.5],
            [0.1, 2.0, 0.5],
            [-2.0, 0.1, 0.5],
            [0.1, -2.0, 0.5],
        ];
        let t2 = vec![
            [0, 1, 2],
            [0, 2, 3],
            [0, 3, 4],
            [0, 4, 5],
            [0, 5, 6],
            [0, 6, 7],
            [0, 7, 8],
            [0, 8, 1],
        ];
        assert!(!safe_fans(&Surface::new(&v2, &t2))[0]);
        // One triangle flipped over its neighbour: not safe.
        let mut v3 = v.clone();
        v3[2] = [1.0, -0.5, 0.2];
        assert!(!safe_fans(&Surface::new(&v3, &t))[0]);
        // An open fan (a triangle missing): not safe.
        assert!(!safe_fans(&Surface::new(&v, &t[..3]))[0]);
    }
}
