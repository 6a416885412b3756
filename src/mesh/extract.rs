//! Surface extraction from a binary mask: discrete marching cubes with a case table built
//! from one rule, so that every output is closed and 2-manifold.
//!
//! The rule: on a cube face whose corners alternate inside/outside (the ambiguous face),
//! the two inside corners are separated — inside voxels join only through faces, as in
//! 6-connectivity. Every face is decided the same way from both cubes that share it, so
//! the pieces meet exactly; every crossing point lies on two cube faces, so the curves on
//! a cube's faces form simple closed loops, each triangulated as a fan. Orientation comes
//! from the same rule: each loop runs counter-clockwise seen from outside, so every
//! triangle's normal points from inside to outside.
//!
//! The mask is padded by one empty voxel on every side, so a structure touching the border
//! of the volume is closed there too. Vertices lie at crossing points (edge midpoints for a
//! mask; interpolated HU for an iso-surface) and are converted to LPS millimetres with the
//! volume's geometry.
//!
//! Work is split by cube layer (one slice pair) across threads; vertices are numbered by
//! layer, then by edge, so the output is identical for any thread count.

use super::Mesh;
use crate::geom::VoxelCoord;
use crate::segment::mask::Mask;
use crate::volume::VolumeGeometry;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Corner `c` of a cube: bit 0 = +column (x), bit 1 = +row (y), bit 2 = +slice (z).
const CORNER: [[u8; 3]; 8] = [
    [0, 0, 0],
    [1, 0, 0],
    [0, 1, 0],
    [1, 1, 0],
    [0, 0, 1],
    [1, 0, 1],
    [0, 1, 1],
    [1, 1, 1],
];

/// The 12 cube edges as corner pairs (lower corner first); axis = the bit that differs.
const EDGES: [(u8, u8); 12] = [
    (0, 1),
    (2, 3),
    (4, 5),
    (6, 7),
    (0, 2),
    (1, 3),
    (4, 6),
    (5, 7),
    (0, 4),
    (1, 5),
    (2, 6),
    (3, 7),
];

/// The 6 faces: corners in cyclic order, and the outward normal.
const FACES: [([u8; 4], [i8; 3]); 6] = [
    ([0, 2, 6, 4], [-1, 0, 0]),
    ([1, 3, 7, 5], [1, 0, 0]),
    ([0, 1, 5, 4], [0, -1, 0]),
    ([2, 3, 7, 6], [0, 1, 0]),
    ([0, 1, 3, 2], [0, 0, -1]),
    ([4, 5, 7, 6], [0, 0, 1]),
];

fn edge_of(a: u8, b: u8) -> usize {
    let (a, b) = if a < b { (a, b) } else { (b, a) };
    EDGES.iter().position(|e| *e == (a, b)).unwrap_or(0)
}

fn midpoint(e: usize) -> [f64; 3] {
    let (a, b) = EDGES[e];
    let (pa, pb) = (CORNER[a as usize], CORNER[b as usize]);
    [0, 1, 2].map(|d| (f64::from(pa[d]) + f64::from(pb[d])) / 2.0)
}

fn corner_pos(c: u8) -> [f64; 3] {
    CORNER[c as usize].map(f64::from)
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

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Where [`extract`] finds the vertex of each cube edge: among the 8 crossing rows a cube
/// row touches (0–3: along rows (k, j), (k, j + 1), (k + 1, j), (k + 1, j + 1); 4–5:
/// towards the next row from (k, j), (k + 1, j); 6–7: towards the next slice from (k, j),
/// (k, j + 1)), and the column step from the cube's column. Other processors number
/// vertices by the same rule.
pub fn edge_slots() -> [(u32, u32); 12] {
    EDGES.map(|(a, b)| {
        let o = CORNER[a as usize].map(u32::from);
        let slot = match a ^ b {
            1 => o[2] * 2 + o[1],
            2 => 4 + o[2],
            _ => 6 + o[1],
        };
        (slot, o[0])
    })
}

/// Index standing for the cube's centre vertex in a case's triangles.
pub const CENTRE: u8 = 12;

/// Triangles of every corner configuration, as cube edge indices (or [`CENTRE`]), and
/// where the centre vertex sits in the cube when a case needs one.
pub fn case_table() -> &'static [Case; 256] {
    static TABLE: OnceLock<[Case; 256]> = OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|cfg| triangulate(cfg as u8)))
}

/// One configuration's triangles (cube edge indices or [`CENTRE`]) and, when used, the
/// centre vertex's position in the cube.
pub type Case = (Vec<[u8; 3]>, Option<[f64; 3]>);

/// Whether two cube edges lie on a common face.
fn share_face(a: u8, b: u8) -> bool {
    FACES.iter().any(|(c, _)| {
        let on = |e: u8| {
            let (x, y) = EDGES[e as usize];
            c.contains(&x) && c.contains(&y)
        };
        on(a) && on(b)
    })
}

/// The loops of a configuration triangulated without any diagonal lying on a cube face
/// (such a diagonal could coincide with one from the neighbouring cube and make the edge
/// non-manifold): a fan from a safe apex, or else a fan around a centre vertex.
fn triangulate(cfg: u8) -> Case {
    let mut tris = Vec::new();
    let mut centre = None;
    for lp in loops(cfg) {
        let n = lp.len();
        if n < 3 {
            continue;
        }
        let safe_apex = (0..n).find(|&a| (2..n - 1).all(|d| !share_face(lp[a], lp[(a + d) % n])));
        match safe_apex {
            Some(a) => {
                for d in 1..n - 1 {
                    tris.push([lp[a], lp[(a + d) % n], lp[(a + d + 1) % n]]);
                }
            }
            None => {
                let c = lp.iter().fold([0.0; 3], |acc, e| {
                    let m = midpoint(*e as usize);
                    [acc[0] + m[0], acc[1] + m[1], acc[2] + m[2]]
                });
                centre = Some(c.map(|x| x / n as f64));
                for i in 0..n {
                    tris.push([CENTRE, lp[i], lp[(i + 1) % n]]);
                }
            }
        }
    }
    (tris, centre)
}

/// The oriented loops of crossing edges of one configuration, from the face rule.
fn loops(cfg: u8) -> Vec<Vec<u8>> {
    let inside = |c: u8| cfg & (1 << c) != 0;
    // Directed segments on faces: next[from_edge] = to_edge.
    let mut next: [Option<u8>; 12] = [None; 12];
    for (corners, n) in FACES {
        let nf = n.map(f64::from);
        let crossings: Vec<(usize, u8, u8)> = (0..4)
            .filter_map(|i| {
                let (a, b) = (corners[i], corners[(i + 1) % 4]);
                (inside(a) != inside(b)).then_some((edge_of(a, b), a, b))
            })
            .collect();
        // Pair crossings into segments, each with the direction pointing outwards.
        let mut segments: Vec<(usize, usize, [f64; 3])> = Vec::new();
        match crossings.len() {
            2 => {
                let ins: Vec<u8> = corners.iter().copied().filter(|c| inside(*c)).collect();
                let outs: Vec<u8> = corners.iter().copied().filter(|c| !inside(*c)).collect();
                let mean = |v: &[u8]| {
                    let s = v.iter().fold([0.0; 3], |acc, c| {
                        let p = corner_pos(*c);
                        [acc[0] + p[0], acc[1] + p[1], acc[2] + p[2]]
                    });
                    s.map(|x| x / v.len().max(1) as f64)
                };
                segments.push((crossings[0].0, crossings[1].0, sub(mean(&outs), mean(&ins))));
            }
            4 => {
                // Ambiguous face: cut off each inside corner on its own.
                for &c in corners.iter().filter(|c| inside(**c)) {
                    let es: Vec<usize> = crossings
                        .iter()
                        .filter(|(_, a, b)| *a == c || *b == c)
                        .map(|x| x.0)
                        .collect();
                    if es.len() == 2 {
                        let m = midpoint(es[0]);
                        let m2 = midpoint(es[1]);
                        let mid = [
                            (m[0] + m2[0]) / 2.0,
                            (m[1] + m2[1]) / 2.0,
                            (m[2] + m2[2]) / 2.0,
                        ];
                        segments.push((es[0], es[1], sub(mid, corner_pos(c))));
                    }
                }
            }
            _ => {}
        }
        for (p, q, out_dir) in segments {
            // Boundary direction of a patch with outward normal N, seen from outside:
            // t = N x n_face.
            let t = cross(out_dir, nf);
            let d = sub(midpoint(q), midpoint(p));
            let (from, to) = if dot(d, t) > 0.0 { (p, q) } else { (q, p) };
            next[from] = Some(to as u8);
        }
    }
    let mut out = Vec::new();
    let mut used = [false; 12];
    for start in 0..12 {
        if used[start] || next[start].is_none() {
            continue;
        }
        let mut lp = vec![start as u8];
        used[start] = true;
        let mut cur = start;
        while let Some(n) = next[cur] {
            let n = n as usize;
            if n == start || used[n] {
                break;
            }
            used[n] = true;
            lp.push(n as u8);
            cur = n;
        }
        out.push(lp);
    }
    out
}

/// Where a vertex on a lattice edge lies, as a fraction from the lower endpoint.
pub trait EdgePosition: Sync {
    /// Fraction in (0, 1) along the edge from lattice point `(k, j, i)` (padded
    /// coordinates minus one, i.e. voxel indices, possibly −1) along `axis` (0 = column,
    /// 1 = row, 2 = slice).
    fn fraction(&self, k: isize, j: isize, i: isize, axis: usize) -> f64;
}

/// Midpoints: the discrete (binary) surface.
pub struct Midpoint;

impl EdgePosition for Midpoint {
    fn fraction(&self, _: isize, _: isize, _: isize, _: usize) -> f64 {
        0.5
    }
}

/// Bits of one lattice row, column `c` of the padded grid at bit `c`.
type Row = Vec<u64>;

/// Crossing edges of one lattice row, with popcounts for ranking.
struct Crossings {
    words: Vec<u64>,
    prefix: Vec<u32>,
    base: u32,
}

impl Crossings {
    fn new(words: Vec<u64>, base: u32) -> Self {
        let mut prefix = Vec::with_capacity(words.len());
        let mut acc = 0u32;
        for w in &words {
            prefix.push(acc);
            acc += w.count_ones();
        }
        Self {
            words,
            prefix,
            base,
        }
    }
    /// Index among this row's crossings of the one at column `c`.
    fn rank(&self, c: usize) -> u32 {
        let (w, b) = (c / 64, c % 64);
        let below = if b == 0 {
            0
        } else {
            self.words
                .get(w)
                .map_or(0, |x| (x & ((1u64 << b) - 1)).count_ones())
        };
        self.base + self.prefix.get(w).copied().unwrap_or(0) + below
    }
}

/// The integer part of an extraction: which lattice edges carry vertices and how they
/// join into triangles. Any processor may compute it (the CPU here, a GPU in
/// `gpu::compute`); [`finish`] turns it into positions in one place, so every path gives
/// the same mesh, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Vertices on lattice edges (numbered first; see [`extract`]).
    pub edge_vertices: u32,
    /// Triangles as vertex indices, in the orientation of the index lattice.
    pub triangles: Vec<[u32; 3]>,
    /// Cubes that need a centre vertex, in the order of their vertex numbers.
    pub centres: Vec<CentreCube>,
}

/// A cube with a centre vertex: its lower corner in the padded lattice and its
/// configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CentreCube {
    /// Padded (slice, row, column) of the cube's lower corner.
    pub cube: [u32; 3],
    /// Corner configuration (bit `c` = corner `c` inside).
    pub cfg: u8,
}

/// The mask padded by one empty voxel on every side, read a lattice row at a time; shared
/// by [`topology`] and [`finish`] so both see the same crossings.
struct Lattice<'a> {
    mask: &'a Mask,
    words_per: usize,
    pc: usize,
}

impl<'a> Lattice<'a> {
    fn new(mask: &'a Mask) -> Self {
        let pc = mask.dims()[2] + 2;
        Self {
            mask,
            words_per: pc.div_ceil(64),
            pc,
        }
    }

    /// Bits of padded lattice row (pk, pj).
    fn padded_row(&self, pk: usize, pj: usize) -> Row {
        let [n, rows, _] = self.mask.dims();
        let mut out = vec![0u64; self.words_per];
        if pk == 0 || pk > n || pj == 0 || pj > rows {
            return out;
        }
        for (a, b) in self.mask.row_runs(pk - 1, pj - 1) {
            crate::segment::components::set_bits(&mut out, a + 1, b + 1);
        }
        out
    }

    /// Crossings along a row: between columns c and c + 1, for c < pc - 1.
    fn x_mask(&self, r: &Row) -> Vec<u64> {
        let (pc, words_per) = (self.pc, self.words_per);
        let last_bits = (pc - 1) % 64;
        let full = (pc - 1) / 64;
        (0..words_per)
            .map(|w| {
                let next = if w + 1 < words_per { r[w + 1] & 1 } else { 0 };
                let limit = match w.cmp(&full) {
                    std::cmp::Ordering::Less => u64::MAX,
                    std::cmp::Ordering::Equal => (1u64 << last_bits) - 1,
                    std::cmp::Ordering::Greater => 0,
                };
                (r[w] ^ ((r[w] >> 1) | (next << 63))) & limit
            })
            .collect()
    }
}

/// Crossings between two rows: where their bits differ.
fn xor_rows(a: &Row, b: &Row) -> Vec<u64> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Extracts the closed surface of `mask`, with vertices placed by `pos`.
///
/// Vertices are numbered by lattice row (slice-major), and within a row: crossings along
/// the row, then towards the next row, then towards the next slice, each by column; cube
/// centre vertices (rare ambiguous cases) follow all of them, by layer. Every index comes
/// from popcounts of row bitsets, so no sorting or searching is needed and the numbering
/// is the same on any number of threads.
pub fn extract(mask: &Mask, geometry: &VolumeGeometry, pos: &dyn EdgePosition) -> Mesh {
    let topology = topology(mask);
    // The topology is this mask's own, so its vertex count always matches.
    finish(mask, geometry, pos, topology).unwrap_or_default()
}

/// The topology of `mask`'s surface, computed on the CPU (the reference).
pub fn topology(mask: &Mask) -> Topology {
    let [n, rows, cols] = mask.dims();
    let table = case_table();
    let lattice = Lattice::new(mask);
    let (pn, pr, pc, words_per) = (n + 2, rows + 2, cols + 2, lattice.words_per);
    let padded_row = |pk: usize, pj: usize| lattice.padded_row(pk, pj);
    let x_mask = |r: &Row| lattice.x_mask(r);
    let xor = xor_rows;
    let pop = |v: &[u64]| -> u32 { v.iter().map(|w| w.count_ones()).sum() };
    // Pass 1: crossings per lattice row.
    let counts: Vec<Vec<[u32; 3]>> = (0..pn)
        .into_par_iter()
        .map(|pk| {
            let mut out = Vec::with_capacity(pr);
            let mut cur = padded_row(pk, 0);
            for pj in 0..pr {
                let below = if pj + 1 < pr {
                    padded_row(pk, pj + 1)
                } else {
                    vec![0; words_per]
                };
                let above = if pk + 1 < pn {
                    padded_row(pk + 1, pj)
                } else {
                    vec![0; words_per]
                };
                out.push([
                    pop(&x_mask(&cur)),
                    pop(&xor(&cur, &below)),
                    pop(&xor(&cur, &above)),
                ]);
                cur = below;
            }
            out
        })
        .collect();
    let mut row_offset = vec![0u32; pn * pr + 1];
    let mut total = 0u32;
    for pk in 0..pn {
        for pj in 0..pr {
            row_offset[pk * pr + pj] = total;
            total += counts[pk][pj].iter().sum::<u32>();
        }
    }
    row_offset[pn * pr] = total;
    let edge_vertices = total;
    const CENTRE_FLAG: u32 = 1 << 31;
    // Pass 2: triangles, per cube layer.
    // Per layer: triangles, and the centre vertices (cube coordinates) they introduce.
    type Layer = (Vec<[u32; 3]>, Vec<CentreCube>);
    let layers: Vec<Layer> = (0..pn - 1)
        .into_par_iter()
        .map(|pk| {
            let mut tris: Vec<[u32; 3]> = Vec::new();
            let mut centres: Vec<CentreCube> = Vec::new();
            let mut r00 = padded_row(pk, 0);
            let mut r10 = padded_row(pk + 1, 0);
            for pj in 0..pr - 1 {
                let r01 = padded_row(pk, pj + 1);
                let r11 = padded_row(pk + 1, pj + 1);
                // Four empty rows hold no surface.
                if (0..words_per).any(|w| (r00[w] | r01[w] | r10[w] | r11[w]) != 0) {
                    let off = |k: usize, j: usize| row_offset[k * pr + j];
                    let c_of = |k: usize, j: usize| counts[k][j];
                    // Crossings of the rows this cube row touches.
                    let x = [
                        Crossings::new(x_mask(&r00), off(pk, pj)),
                        Crossings::new(x_mask(&r01), off(pk, pj + 1)),
                        Crossings::new(x_mask(&r10), off(pk + 1, pj)),
                        Crossings::new(x_mask(&r11), off(pk + 1, pj + 1)),
                    ];
                    let y = [
                        Crossings::new(xor(&r00, &r01), off(pk, pj) + c_of(pk, pj)[0]),
                        Crossings::new(xor(&r10, &r11), off(pk + 1, pj) + c_of(pk + 1, pj)[0]),
                    ];
                    let z = [
                        Crossings::new(
                            xor(&r00, &r10),
                            off(pk, pj) + c_of(pk, pj)[0] + c_of(pk, pj)[1],
                        ),
                        Crossings::new(
                            xor(&r01, &r11),
                            off(pk, pj + 1) + c_of(pk, pj + 1)[0] + c_of(pk, pj + 1)[1],
                        ),
                    ];
                    let rowsets = [&r00, &r01, &r10, &r11];
                    for w in 0..words_per {
                        let any = r00[w] | r01[w] | r10[w] | r11[w];
                        let all = r00[w] & r01[w] & r10[w] & r11[w];
                        let carry = |v: &Row| if w + 1 < words_per { v[w + 1] & 1 } else { 0 };
                        let any_n = carry(&r00) | carry(&r01) | carry(&r10) | carry(&r11);
                        let all_n = carry(&r00) & carry(&r01) & carry(&r10) & carry(&r11);
                        if any == 0 && any_n == 0 {
                            continue;
                        }
                        let mixed = any & !all;
                        let mixed_next = (mixed >> 1) | ((any_n & !all_n) << 63);
                        let all_next = (all >> 1) | (all_n << 63);
                        let any_next = (any >> 1) | (any_n << 63);
                        let mut active = mixed | mixed_next | (all ^ all_next) | (any ^ any_next);
                        while active != 0 {
                            let b = active.trailing_zeros() as usize;
                            active &= active - 1;
                            let pi = w * 64 + b;
                            if pi + 1 >= pc {
                                continue;
                            }
                            let bit = |row: &Row, c: usize| (row[c / 64] >> (c % 64)) & 1 == 1;
                            let mut cfg = 0u8;
                            for (c, o) in CORNER.iter().enumerate() {
                                let row = rowsets[(o[2] as usize) * 2 + o[1] as usize];
                                if bit(row, pi + o[0] as usize) {
                                    cfg |= 1 << c;
                                }
                            }
                            let (case, centre) = &table[cfg as usize];
                            let centre_id = centre.map(|_| {
                                centres.push(CentreCube {
                                    cube: [pk as u32, pj as u32, pi as u32],
                                    cfg,
                                });
                                CENTRE_FLAG | (centres.len() as u32 - 1)
                            });
                            for t in case {
                                tris.push(t.map(|e| {
                                    if e == CENTRE {
                                        return centre_id.unwrap_or(0);
                                    }
                                    let (a, bb) = EDGES[e as usize];
                                    let o = CORNER[a as usize];
                                    let col = pi + o[0] as usize;
                                    match a ^ bb {
                                        1 => x[(o[2] as usize) * 2 + o[1] as usize].rank(col),
                                        2 => y[o[2] as usize].rank(col),
                                        _ => z[o[1] as usize].rank(col),
                                    }
                                }));
                            }
                        }
                    }
                }
                r00 = r01;
                r10 = r11;
            }
            (tris, centres)
        })
        .collect();
    let mut centre_offset = Vec::with_capacity(layers.len());
    let mut acc = edge_vertices;
    for (_, c) in &layers {
        centre_offset.push(acc);
        acc += c.len() as u32;
    }
    let triangles: Vec<[u32; 3]> = layers
        .par_iter()
        .zip(centre_offset.par_iter())
        .flat_map_iter(|((tris, _), off)| {
            tris.iter().map(move |t| {
                t.map(|i| {
                    if i & CENTRE_FLAG != 0 {
                        off + (i & !CENTRE_FLAG)
                    } else {
                        i
                    }
                })
            })
        })
        .collect();
    Topology {
        edge_vertices,
        triangles,
        centres: layers.into_iter().flat_map(|(_, c)| c).collect(),
    }
}

/// Places the vertices of `topology` (computed from `mask` by any processor) with `pos`
/// and the volume's geometry. Fails when the topology does not belong to this mask.
pub fn finish(
    mask: &Mask,
    geometry: &VolumeGeometry,
    pos: &dyn EdgePosition,
    topology: Topology,
) -> Result<Mesh, String> {
    let [n, rows, _] = mask.dims();
    let table = case_table();
    let lattice = Lattice::new(mask);
    let (pn, pr, words_per) = (n + 2, rows + 2, lattice.words_per);
    let padded_row = |pk: usize, pj: usize| lattice.padded_row(pk, pj);
    let x_mask = |r: &Row| lattice.x_mask(r);
    let xor = xor_rows;
    let to_lps = |c: [f64; 3]| {
        geometry
            .position(VoxelCoord {
                slice: c[2],
                row: c[1],
                col: c[0],
            })
            .0
            .to_array()
    };
    // Pass 3: edge vertices, by lattice row, in the order of their numbering.
    let mut vertices: Vec<[f64; 3]> = (0..pn)
        .into_par_iter()
        .flat_map_iter(|pk| {
            let mut out = Vec::new();
            let mut cur = padded_row(pk, 0);
            for pj in 0..pr {
                let below = if pj + 1 < pr {
                    padded_row(pk, pj + 1)
                } else {
                    vec![0; words_per]
                };
                let above = if pk + 1 < pn {
                    padded_row(pk + 1, pj)
                } else {
                    vec![0; words_per]
                };
                let (k, j) = (pk as isize - 1, pj as isize - 1);
                for (axis, m) in [
                    (0usize, x_mask(&cur)),
                    (1, xor(&cur, &below)),
                    (2, xor(&cur, &above)),
                ] {
                    for (w, word) in m.iter().enumerate() {
                        let mut bits = *word;
                        while bits != 0 {
                            let b = bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            let i = (w * 64 + b) as isize - 1;
                            let mut c = [i as f64, j as f64, k as f64];
                            c[axis] += pos.fraction(k, j, i, axis);
                            out.push(to_lps(c));
                        }
                    }
                }
                cur = below;
            }
            out
        })
        .collect();
    if vertices.len() != topology.edge_vertices as usize {
        return Err(format!(
            "the surface's topology has {} edge vertices, the mask {}",
            topology.edge_vertices,
            vertices.len()
        ));
    }
    for c in &topology.centres {
        let Some(at) = table[c.cfg as usize].1 else {
            return Err(format!("configuration {} has no centre vertex", c.cfg));
        };
        let [pk, pj, pi] = c.cube.map(f64::from);
        vertices.push(to_lps([
            pi - 1.0 + at[0],
            pj - 1.0 + at[1],
            pk - 1.0 + at[2],
        ]));
    }
    let count = vertices.len();
    if topology
        .triangles
        .iter()
        .flatten()
        .any(|&i| i as usize >= count)
    {
        return Err(format!(
            "the surface's topology refers to vertices beyond its {count}"
        ));
    }
    let mut mesh = Mesh {
        vertices,
        triangles: topology.triangles,
    };
    // Index→LPS maps with a reflection flip orientation: restore outward normals.
    if geometry_is_left_handed(geometry) {
        mesh.flip();
    }
    Ok(mesh)
}

/// True when (column, row, slice) directions form a left-handed frame.
fn geometry_is_left_handed(g: &VolumeGeometry) -> bool {
    let c = g.col_dir.get();
    let r = g.row_dir.get();
    let s = g.slice_dir.get();
    c.cross(r).dot(s) < 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configuration_has_closed_oriented_loops() {
        for cfg in 0..=255u8 {
            let (tris, _) = triangulate(cfg);
            let crossings = EDGES
                .iter()
                .filter(|(a, b)| ((cfg >> a) & 1) != ((cfg >> b) & 1))
                .count();
            let used: std::collections::BTreeSet<u8> = tris
                .iter()
                .flatten()
                .copied()
                .filter(|e| *e != CENTRE)
                .collect();
            assert_eq!(
                used.len(),
                crossings,
                "config {cfg:08b}: every crossing is a vertex"
            );
        }
        assert!(triangulate(0).0.is_empty() && triangulate(255).0.is_empty());
        assert_eq!(triangulate(1).0.len(), 1);
        let with_centre = (0..=255u8).filter(|c| triangulate(*c).1.is_some()).count();
        assert!(with_centre < 40, "{with_centre} cases need a centre vertex");
    }
}

#[cfg(test)]
mod mesh_tests {
    use super::*;
    use crate::geom::SpacingMm;
    use crate::mesh::check::certify;

    fn unit() -> VolumeGeometry {
        VolumeGeometry::axis_aligned(SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        })
    }

    fn assert_valid(m: &Mask, what: &str) {
        let mesh = extract(m, &unit(), &Midpoint);
        let c = certify(&mesh);
        let voxels = m.count() as f64;
        assert!(
            c.closed && c.manifold && c.consistently_oriented,
            "{what}: {c:?}"
        );
        assert_eq!(c.degenerate_triangles, 0, "{what}");
        // What lets the pipeline skip the self-intersection search on these surfaces.
        let tree = crate::mesh::bvh::Bvh::build(&mesh.vertices, &mesh.triangles);
        assert_eq!(tree.count_self_intersections(), 0, "{what}");
        if voxels > 0.0 {
            assert!(c.outward, "{what}: volume {}", c.volume_mm3);
        }
    }

    #[test]
    fn all_256_cube_configurations_give_closed_manifold_outward_meshes() {
        for cfg in 0..=255u8 {
            let m = Mask::from_fn([2, 2, 2], |k, j, i| {
                cfg & (1 << (i | (j << 1) | (k << 2))) != 0
            });
            assert_valid(&m, &format!("config {cfg:08b}"));
        }
    }

    #[test]
    fn random_masks_including_border_touching_ones_are_valid() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for n in 0..1000 {
            let dims = [
                1 + (rnd() % 6) as usize,
                1 + (rnd() % 7) as usize,
                1 + (rnd() % 70) as usize,
            ];
            let density = rnd() % 100;
            let mut m = Mask::new(dims);
            for k in 0..dims[0] {
                for j in 0..dims[1] {
                    for i in 0..dims[2] {
                        m.set(k, j, i, (rnd() % 100) < density);
                    }
                }
            }
            assert_valid(&m, &format!("random mask {n} dims {dims:?}"));
        }
    }

    #[test]
    fn output_is_identical_on_one_and_two_threads() {
        let m = Mask::from_fn([23, 37, 90], |k, j, i| {
            (k * 13 + j * 7 + i * 3) % 11 < 5 || (i + j) % 17 == 0
        });
        let g = VolumeGeometry::axis_aligned(SpacingMm {
            col: 0.45,
            row: 0.45,
            slice: 1.0,
        });
        let run = |t: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .map(|p| p.install(|| extract(&m, &g, &Midpoint)))
                .ok()
        };
        let (a, b) = (run(1), run(2));
        assert!(a.is_some() && a == b);
    }

    #[test]
    fn voxelised_sphere_volume_is_within_one_percent() {
        // Radius 20 mm at 0.5 mm voxels.
        let g = VolumeGeometry::axis_aligned(SpacingMm {
            col: 0.5,
            row: 0.5,
            slice: 0.5,
        });
        let c = 21.0;
        let m = Mask::from_fn([86, 86, 86], |k, j, i| {
            let p = [i, j, k].map(|x| x as f64 * 0.5 - c);
            (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt() <= 20.0
        });
        let mesh = extract(&m, &g, &Midpoint);
        let cert = certify(&mesh);
        let analytic = 4.0 / 3.0 * std::f64::consts::PI * 20f64.powi(3);
        assert!(cert.closed && cert.manifold && cert.outward);
        assert!(
            (cert.volume_mm3 / analytic - 1.0).abs() < 0.01,
            "{} vs {analytic}",
            cert.volume_mm3
        );
        assert_eq!(cert.shells, 1);
        assert_eq!(cert.genus, Some(0));
    }
}

/// Iso-surface positions: along an edge whose two voxels are both in `region`, the vertex
/// sits where linear interpolation of HU crosses `iso` (kept 2 % of an edge away from the
/// voxel centres, so no triangle collapses to zero area when a voxel equals the iso-value
/// exactly); elsewhere at the midpoint. Pair it with the mask `HU ≥ iso ∧ region`.
pub struct IsoEdges<'a> {
    /// HU `[slice, row, column]`.
    pub hu: &'a ndarray::Array3<i16>,
    /// Where interpolation is allowed.
    pub region: &'a Mask,
    /// The iso-value, HU.
    pub iso: f64,
}

impl EdgePosition for IsoEdges<'_> {
    fn fraction(&self, k: isize, j: isize, i: isize, axis: usize) -> f64 {
        let mut b = [k, j, i];
        b[2 - axis] += 1;
        let (n, r, c) = self.hu.dim();
        let inside = |p: [isize; 3]| {
            p[0] >= 0
                && p[1] >= 0
                && p[2] >= 0
                && (p[0] as usize) < n
                && (p[1] as usize) < r
                && (p[2] as usize) < c
                && self.region.get(p[0] as usize, p[1] as usize, p[2] as usize)
        };
        let a = [k, j, i];
        if !(inside(a) && inside(b)) {
            return 0.5;
        }
        let fa = f64::from(self.hu[[a[0] as usize, a[1] as usize, a[2] as usize]]);
        let fb = f64::from(self.hu[[b[0] as usize, b[1] as usize, b[2] as usize]]);
        if (fb - fa).abs() < 1e-9 {
            return 0.5;
        }
        ((self.iso - fa) / (fb - fa)).clamp(0.02, 0.98)
    }
}
