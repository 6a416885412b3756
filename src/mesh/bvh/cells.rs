//! Nearest-point queries on a marching-cubes surface through the voxel lattice it came from.
//!
//! Every triangle marching cubes makes lies in one cube of the lattice (its corners are
//! crossing points on that cube's edges, or points inside it). So the triangles within a
//! distance r of a point lie in the cubes that the point's r-neighbourhood meets — with the
//! small bound a deviation query has (a vertex's own old position), one to four cubes of a
//! few triangles each. The tree answers the same query by descending ~20 levels; this index
//! goes straight to the cubes, and builds in a sort of already nearly sorted keys.
//!
//! The answer is the tree's: the minimum of (squared distance, input triangle index) over
//! every triangle within the bound, from the same closest-point arithmetic on the same
//! [`Surface`]. Whether a mesh qualifies is checked when the index is built, triangle by
//! triangle; one that does not gets no index (the caller uses the tree).

use super::surface::{Near, Nearest, Surface};
use crate::volume::VolumeGeometry;
use glam::{DMat3, DVec3};
use rayon::prelude::*;

/// How far (in voxels) a corner may lie outside its triangle's cube and still count as in
/// it: crossing points are computed from exact lattice coordinates, so their round trip
/// through patient space is off by ~1e-13 voxel; this leaves a wide margin. Queries widen
/// their cube range by the same amount, so exactness does not depend on the margin.
const SLACK: f64 = 1e-6;

/// Triangles by lattice cube, with the surface they belong to.
#[derive(Clone, Debug)]
pub struct LatticeCells {
    surface: Surface,
    /// Patient mm -> fractional voxel index (col, row, slice): `to_index * (p - origin)`.
    to_index: DMat3,
    origin: DVec3,
    /// Largest index change per mm along each axis: the norms of `to_index`'s rows, so a
    /// ball of radius r spans at most `r * reach[k]` voxels along axis k.
    reach: DVec3,
    /// Cube coordinates of the first cube, and the cube counts along col, row, slice.
    low: [i64; 3],
    dims: [usize; 3],
    /// Entries of cube row (row, slice) are `start[row + dims[1] * slice]..` the next start;
    /// sorted by column, then triangle.
    start: Vec<u32>,
    /// Column (relative to `low[0]`) and input triangle index of each entry.
    cols: Vec<u32>,
    ids: Vec<u32>,
}

impl LatticeCells {
    /// The index of `vertices`/`triangles` if every usable triangle lies in one cube of the
    /// voxel lattice of `geometry` (as marching cubes on a mask on that grid guarantees);
    /// `None` otherwise, or for a degenerate geometry or an absurd extent.
    pub fn build(
        vertices: &[[f64; 3]],
        triangles: &[[u32; 3]],
        geometry: &VolumeGeometry,
    ) -> Option<LatticeCells> {
        let [s, r, c] = geometry.steps();
        let m = DMat3::from_cols(c.0, r.0, s.0);
        let det = m.determinant();
        if !(det.abs() > 1e-12 && det.is_finite()) {
            return None;
        }
        let to_index = m.inverse();
        let origin = geometry.origin.0;
        let rows = to_index.transpose();
        let reach = DVec3::new(
            rows.x_axis.length(),
            rows.y_axis.length(),
            rows.z_axis.length(),
        );
        let surface = Surface::new(vertices, triangles);
        let index_of = |p: DVec3| to_index * (p - origin);
        // The cube of each usable triangle, or a marker that one lies in no single cube.
        const NOT_USABLE: [i64; 3] = [i64::MIN; 3];
        const STRADDLES: [i64; 3] = [i64::MAX; 3];
        let cube: Vec<[i64; 3]> = (0..surface.triangles.len())
            .into_par_iter()
            .map(|id| {
                let Some(corners) = surface.triangle(id as u32).and_then(|t| surface.corners(t))
                else {
                    return NOT_USABLE;
                };
                let q = corners.map(index_of);
                let centre = (q[0] + q[1] + q[2]) / 3.0;
                let cell = centre.floor();
                let fits = q.iter().all(|p| {
                    (*p - cell).cmpge(DVec3::splat(-SLACK)).all()
                        && (*p - cell).cmple(DVec3::splat(1.0 + SLACK)).all()
                });
                // Beyond 2^40 voxels the lattice is not a volume anyone scanned.
                if !fits || !cell.is_finite() || cell.abs().max_element() > (1u64 << 40) as f64 {
                    return STRADDLES;
                }
                cell.to_array().map(|x| x as i64)
            })
            .collect();
        if cube.par_iter().any(|c| *c == STRADDLES) {
            return None;
        }
        let (low, high) = cube
            .par_iter()
            .filter(|c| **c != NOT_USABLE)
            .fold(
                || ([i64::MAX; 3], [i64::MIN; 3]),
                |(l, h), c| {
                    (
                        std::array::from_fn(|k| l[k].min(c[k])),
                        std::array::from_fn(|k| h[k].max(c[k])),
                    )
                },
            )
            .reduce(
                || ([i64::MAX; 3], [i64::MIN; 3]),
                |(l, h), (a, b)| {
                    (
                        std::array::from_fn(|k| l[k].min(a[k])),
                        std::array::from_fn(|k| h[k].max(b[k])),
                    )
                },
            );
        let empty = low[0] > high[0];
        let dims: [usize; 3] = if empty {
            [1; 3]
        } else {
            std::array::from_fn(|k| usize::try_from(high[k] - low[k] + 1).unwrap_or(usize::MAX))
        };
        // Column and cube-row counts must fit the u32 tables.
        let row_count = dims[1].checked_mul(dims[2])?;
        if dims[0] > u32::MAX as usize || row_count >= u32::MAX as usize {
            return None;
        }
        // (cube row, column, triangle) keys; marching cubes emits them nearly sorted.
        let mut keys: Vec<(u32, u32, u32)> = cube
            .par_iter()
            .enumerate()
            .filter(|(_, c)| **c != NOT_USABLE)
            .map(|(id, c)| {
                let d: [u32; 3] = std::array::from_fn(|k| (c[k] - low[k]) as u32);
                (d[1] + dims[1] as u32 * d[2], d[0], id as u32)
            })
            .collect();
        drop(cube);
        if !keys.par_windows(2).all(|w| w[0] <= w[1]) {
            keys.par_sort_unstable();
        }
        let mut start = vec![0u32; row_count + 1];
        for (n, &(row, _, _)) in keys.iter().enumerate() {
            // Entries are sorted by row: the first entry of each row sets its start, and
            // rows with no entry take the next row's start below.
            if let Some(s) = start.get_mut(row as usize + 1) {
                *s = n as u32 + 1;
            }
        }
        // `start[r + 1]` now holds one past the last entry of row r where r has entries;
        // fill the gaps so that it is one past the last entry of rows 0..=r.
        for r in 1..start.len() {
            if start[r] < start[r - 1] {
                start[r] = start[r - 1];
            }
        }
        let (cols, ids) = keys.into_par_iter().map(|(_, c, id)| (c, id)).unzip();
        Some(LatticeCells {
            surface,
            to_index,
            origin,
            reach,
            low,
            dims,
            start,
            cols,
            ids,
        })
    }

    /// Input triangles left out (out-of-range index, non-finite vertex, zero area).
    pub fn skipped_triangles(&self) -> usize {
        self.surface.skipped()
    }

    /// As [`super::Bvh::signed_distance_within`]: the signed distance to the surface given an
    /// upper bound on it (the unbounded search when nothing lies within it). Same result
    /// as the tree's.
    pub fn signed_distance_within(&self, p: [f64; 3], bound: f64) -> Option<f64> {
        let q = DVec3::from_array(p);
        let max_d2 = Nearest::squared_bound(bound);
        let near = self
            .nearest_within(q, max_d2)
            .or_else(|| self.nearest(q, bound))?;
        Some(self.surface.signed(q, &near))
    }

    /// Nearest point over the whole surface: bounded searches from `hint` mm (or one voxel)
    /// with a doubling bound, each exact for what lies within it, until one finds a
    /// triangle; at the end (or at once for an absurd distance) every cube.
    fn nearest(&self, p: DVec3, hint: f64) -> Option<Near> {
        let voxel = 1.0 / self.reach.max_element();
        let mut r = if hint.is_finite() {
            hint.max(voxel)
        } else {
            voxel
        };
        for _ in 0..64 {
            if !r.is_finite() {
                break;
            }
            if let Some(n) = self.nearest_within(p, r * r) {
                return Some(n);
            }
            r *= 2.0;
        }
        self.nearest_within(p, f64::INFINITY)
    }

    /// Nearest point among the triangles within `max_d2` (squared mm) of `p`, ties to the
    /// lowest triangle index; `None` if none is that close. An infinite bound visits every
    /// cube (the fallback, never the common case).
    pub(super) fn nearest_within(&self, p: DVec3, max_d2: f64) -> Option<Near> {
        if self.ids.is_empty() || !p.is_finite() || max_d2.is_nan() {
            return None;
        }
        let top = self.dims.map(|d| d as i64 - 1);
        let (a, z) = if max_d2.is_finite() {
            // Widened a little so that no rounding can drop a cube the exact ball meets.
            let r = max_d2.sqrt() * (1.0 + 1e-9) + 1e-9;
            let q = self.to_index * (p - self.origin);
            let mut a = [0i64; 3];
            let mut z = [0i64; 3];
            for k in 0..3 {
                // A point x of a triangle in cube c has c <= x <= c + 1 (within SLACK), and
                // |x - q| <= r * reach along axis k.
                let lo = (q[k] - r * self.reach[k] - SLACK).ceil() - 1.0 - self.low[k] as f64;
                let hi = (q[k] + r * self.reach[k] + SLACK).floor() - self.low[k] as f64;
                if !(hi >= 0.0 && lo <= top[k] as f64) {
                    return None;
                }
                a[k] = if lo > 0.0 { lo as i64 } else { 0 };
                z[k] = (hi as i64).min(top[k]);
            }
            (a, z)
        } else {
            ([0; 3], top)
        };
        let mut near = Nearest::within(max_d2);
        for k in a[2]..=z[2] {
            for j in a[1]..=z[1] {
                let row = (j + k * self.dims[1] as i64) as usize;
                let (Some(&s), Some(&e)) = (self.start.get(row), self.start.get(row + 1)) else {
                    continue;
                };
                let (s, e) = (s as usize, e as usize);
                let (Some(cols), Some(ids)) = (self.cols.get(s..e), self.ids.get(s..e)) else {
                    continue;
                };
                let first = cols.partition_point(|&c| i64::from(c) < a[0]);
                for (&c, &id) in cols[first..].iter().zip(&ids[first..]) {
                    if i64::from(c) > z[0] {
                        break;
                    }
                    if let Some(t) = self.surface.triangles.get(id as usize).copied()
                        && let Some(corners) = self.surface.corners(t)
                    {
                        near.offer(p, id, t, corners);
                    }
                }
            }
        }
        near.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::SpacingMm;
    use crate::geom::{LpsDirection, LpsPointMm};
    use crate::mesh::bvh::Bvh;
    use crate::mesh::extract::{Midpoint, extract};
    use crate::mesh::test_meshes::{Rng, icosphere};
    use crate::mesh::tri::geometry::closest_on_triangle;
    use crate::segment::mask::Mask;

    /// An oblique, anisotropic, sheared (tilted) lattice far from the origin.
    fn tilted() -> VolumeGeometry {
        let dir = |v: DVec3| LpsDirection::new(v).expect("unit direction");
        let (c, s) = (0.3f64.cos(), 0.3f64.sin());
        VolumeGeometry {
            origin: LpsPointMm::new(-120.5, 87.25, 1403.0),
            col_dir: dir(DVec3::new(c, s, 0.0)),
            row_dir: dir(DVec3::new(-s, c, 0.0)),
            slice_dir: dir(DVec3::new(0.0, 0.2, 1.0).normalize()),
            spacing: SpacingMm {
                col: 0.43,
                row: 0.43,
                slice: 1.25,
            },
        }
    }

    /// An ellipsoid with random voxels around it (islands, holes, touching corners).
    fn blob(rng: &mut Rng) -> Mask {
        let noise: Vec<bool> = (0..7 * 9 * 8).map(|_| rng.next() < 0.2).collect();
        Mask::from_fn([7, 9, 8], |k, j, i| {
            let d = (k as f64 - 3.0).powi(2) / 4.0
                + (j as f64 - 4.0).powi(2) / 9.0
                + (i as f64 - 3.5).powi(2) / 6.0;
            d < 1.0 || noise[(k * 9 + j) * 8 + i]
        })
    }

    fn brute(s: &Surface, p: DVec3) -> Option<(f64, u32)> {
        (0..s.triangles.len() as u32)
            .filter_map(|id| {
                let [a, b, c] = s.corners(s.triangle(id)?)?;
                let (q, _) = closest_on_triangle(p, a, b, c);
                Some(((p - q).length_squared(), id))
            })
            .min_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)))
    }

    #[test]
    fn nearest_equals_brute_force_and_the_tree_on_marching_cubes_surfaces() {
        let mut rng = Rng(3);
        for g in [
            VolumeGeometry::axis_aligned(SpacingMm {
                col: 1.0,
                row: 1.0,
                slice: 1.0,
            }),
            tilted(),
        ] {
            let m = extract(&blob(&mut rng), &g, &Midpoint);
            let cells = LatticeCells::build(&m.vertices, &m.triangles, &g)
                .expect("a marching-cubes surface fits its lattice");
            let tree = Bvh::build(&m.vertices, &m.triangles);
            let s = Surface::new(&m.vertices, &m.triangles);
            for n in 0..600 {
                // Near the surface (a vertex moved a little, as smoothing does) and anywhere.
                let p = if n % 2 == 0 {
                    let v = m.vertices[(rng.next() * m.vertices.len() as f64) as usize];
                    DVec3::from_array(v)
                        + DVec3::new(
                            rng.range(-0.6, 0.6),
                            rng.range(-0.6, 0.6),
                            rng.range(-0.6, 0.6),
                        )
                } else {
                    g.position(crate::geom::VoxelCoord {
                        slice: rng.range(-3.0, 10.0),
                        row: rng.range(-3.0, 12.0),
                        col: rng.range(-3.0, 11.0),
                    })
                    .0
                };
                let exact = brute(&s, p).expect("non-empty surface");
                for f in [1.0, 1.7, 30.0] {
                    let got = cells.nearest_within(p, exact.0 * f).map(|n| (n.d2, n.id));
                    assert_eq!(got, Some(exact), "bound {f}x at {p}");
                }
                if exact.0 > 0.0 {
                    assert!(cells.nearest_within(p, exact.0 * 0.98).is_none());
                }
                let got = cells.nearest_within(p, f64::INFINITY).map(|n| (n.d2, n.id));
                assert_eq!(got, Some(exact));
                for b in [exact.0.sqrt() * 1.01, 0.0, f64::INFINITY] {
                    assert_eq!(
                        cells.signed_distance_within(p.to_array(), b),
                        tree.signed_distance_within(p.to_array(), b),
                        "bound {b} at {p}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_surface_off_the_lattice_gets_no_index() {
        let g = VolumeGeometry::axis_aligned(SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        });
        let (v, t) = icosphere(5.0, [0.0; 3], 2);
        assert!(LatticeCells::build(&v, &t, &g).is_none());
        // A marching-cubes surface on a different lattice does not fit either.
        let m = extract(&blob(&mut Rng(9)), &tilted(), &Midpoint);
        assert!(LatticeCells::build(&m.vertices, &m.triangles, &g).is_none());
        // Smoothing moves triangles out of their cubes.
        let mut s = m.clone();
        crate::mesh::smooth::smooth(
            &mut s,
            crate::mesh::smooth::Smoothing::Sinc {
                iterations: 10,
                pass_band: 0.1,
            },
            None,
        );
        assert!(LatticeCells::build(&s.vertices, &s.triangles, &tilted()).is_none());
    }

    #[test]
    fn empty_broken_and_degenerate_inputs_do_not_panic() {
        let g = tilted();
        let e = LatticeCells::build(&[], &[], &g).expect("empty fits");
        assert!(e.signed_distance_within([0.0; 3], 1.0).is_none());
        let mut flat = g;
        flat.spacing.slice = 0.0;
        assert!(LatticeCells::build(&[], &[], &flat).is_none());
        // Bad indices and non-finite corners are skipped, not fatal.
        let m = extract(&blob(&mut Rng(1)), &g, &Midpoint);
        let mut v = m.vertices.clone();
        v.push([f64::NAN, 0.0, 0.0]);
        let mut t = m.triangles.clone();
        let nan = v.len() as u32 - 1;
        t.push([0, 1, nan]);
        t.push([0, 1, nan + 5]);
        let c = LatticeCells::build(&v, &t, &g).expect("still a lattice surface");
        assert_eq!(c.skipped_triangles(), 2);
        assert!(
            c.signed_distance_within([f64::NAN, 0.0, 0.0], 1.0)
                .is_none()
        );
        assert!(c.signed_distance_within([1e300, 0.0, 0.0], 1.0).is_some());
    }
}
