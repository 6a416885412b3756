//! Small closed meshes with known geometry, shared by the tests of the `mesh` modules.

use std::collections::HashMap;

/// A mesh as owned vectors.
pub type Mesh = (Vec<[f64; 3]>, Vec<[u32; 3]>);

/// Icosphere of radius `r` centred at `c`, `level` midpoint subdivisions (20 * 4^level
/// triangles), outward counter-clockwise.
pub fn icosphere(r: f64, c: [f64; 3], level: u32) -> Mesh {
    let t = (1.0 + 5f64.sqrt()) / 2.0;
    let mut v: Vec<[f64; 3]> = vec![
        [-1.0, t, 0.0],
        [1.0, t, 0.0],
        [-1.0, -t, 0.0],
        [1.0, -t, 0.0],
        [0.0, -1.0, t],
        [0.0, 1.0, t],
        [0.0, -1.0, -t],
        [0.0, 1.0, -t],
        [t, 0.0, -1.0],
        [t, 0.0, 1.0],
        [-t, 0.0, -1.0],
        [-t, 0.0, 1.0],
    ];
    let mut f: Vec<[u32; 3]> = vec![
        [0, 11, 5],
        [0, 5, 1],
        [0, 1, 7],
        [0, 7, 10],
        [0, 10, 11],
        [1, 5, 9],
        [5, 11, 4],
        [11, 10, 2],
        [10, 7, 6],
        [7, 1, 8],
        [3, 9, 4],
        [3, 4, 2],
        [3, 2, 6],
        [3, 6, 8],
        [3, 8, 9],
        [4, 9, 5],
        [2, 4, 11],
        [6, 2, 10],
        [8, 6, 7],
        [9, 8, 1],
    ];
    let unit = |p: [f64; 3]| {
        let l = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
        [p[0] / l, p[1] / l, p[2] / l]
    };
    for p in v.iter_mut() {
        *p = unit(*p);
    }
    for _ in 0..level {
        let mut mid: HashMap<(u32, u32), u32> = HashMap::new();
        let mut nf = Vec::with_capacity(f.len() * 4);
        for t in &f {
            let mut m = [0u32; 3];
            for e in 0..3 {
                let (a, b) = (t[e], t[(e + 1) % 3]);
                let key = (a.min(b), a.max(b));
                m[e] = *mid.entry(key).or_insert_with(|| {
                    let (pa, pb) = (v[a as usize], v[b as usize]);
                    v.push(unit([pa[0] + pb[0], pa[1] + pb[1], pa[2] + pb[2]]));
                    (v.len() - 1) as u32
                });
            }
            nf.push([t[0], m[0], m[2]]);
            nf.push([t[1], m[1], m[0]]);
            nf.push([t[2], m[2], m[1]]);
            nf.push([m[0], m[1], m[2]]);
        }
        f = nf;
    }
    let v = v
        .into_iter()
        .map(|p| [c[0] + r * p[0], c[1] + r * p[1], c[2] + r * p[2]])
        .collect();
    (v, f)
}

/// Axis-aligned box `lo..hi` with each face split into a grid of quads (two triangles
/// each), `n` squares along every axis; shared vertices, outward counter-clockwise.
pub fn grid_box(lo: [f64; 3], hi: [f64; 3], n: usize) -> Mesh {
    grid_box_n(lo, hi, [n; 3])
}

/// Like [`grid_box`] with `n[k]` divisions along axis k.
pub fn grid_box_n(lo: [f64; 3], hi: [f64; 3], n: [usize; 3]) -> Mesh {
    let n = n.map(|k| k.max(1));
    let mut v: Vec<[f64; 3]> = Vec::new();
    let mut f: Vec<[u32; 3]> = Vec::new();
    let mut index: HashMap<[u64; 3], u32> = HashMap::new();
    let mut vid = |p: [f64; 3], v: &mut Vec<[f64; 3]>| {
        let key = [p[0].to_bits(), p[1].to_bits(), p[2].to_bits()];
        *index.entry(key).or_insert_with(|| {
            v.push(p);
            (v.len() - 1) as u32
        })
    };
    // For each face: normal axis, side, and the two in-plane axes ordered so that
    // (u x v) points along the outward normal.
    let faces = [
        (0usize, 0usize, 2usize, 1usize),
        (0, 1, 1, 2),
        (1, 0, 0, 2),
        (1, 1, 2, 0),
        (2, 0, 1, 0),
        (2, 1, 0, 1),
    ];
    for (axis, side, ua, va) in faces {
        let coord = |i: usize, j: usize| {
            let mut p = [0.0; 3];
            p[axis] = if side == 1 { hi[axis] } else { lo[axis] };
            // Exact ends, so vertices on shared box edges weld bit-for-bit.
            let lerp = |a: f64, b: f64, k: usize, n: usize| match k {
                0 => a,
                k if k == n => b,
                k => a + (b - a) * k as f64 / n as f64,
            };
            p[ua] = lerp(lo[ua], hi[ua], i, n[ua]);
            p[va] = lerp(lo[va], hi[va], j, n[va]);
            p
        };
        for i in 0..n[ua] {
            for j in 0..n[va] {
                let a = vid(coord(i, j), &mut v);
                let b = vid(coord(i + 1, j), &mut v);
                let c = vid(coord(i + 1, j + 1), &mut v);
                let d = vid(coord(i, j + 1), &mut v);
                f.push([a, b, c]);
                f.push([a, c, d]);
            }
        }
    }
    (v, f)
}

/// Rotates about an axis through `c` (Rodrigues), to break vertex alignment.
pub fn rotate(m: &Mesh, c: [f64; 3], axis: [f64; 3], angle: f64) -> Mesh {
    let l = (axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]).sqrt();
    let k = [axis[0] / l, axis[1] / l, axis[2] / l];
    let (s, co) = angle.sin_cos();
    let v =
        m.0.iter()
            .map(|p| {
                let x = [p[0] - c[0], p[1] - c[1], p[2] - c[2]];
                let kx = [
                    k[1] * x[2] - k[2] * x[1],
                    k[2] * x[0] - k[0] * x[2],
                    k[0] * x[1] - k[1] * x[0],
                ];
                let kd = k[0] * x[0] + k[1] * x[1] + k[2] * x[2];
                std::array::from_fn(|i| c[i] + x[i] * co + kx[i] * s + k[i] * kd * (1.0 - co))
            })
            .collect();
    (v, m.1.clone())
}

/// Concatenates meshes (indices offset).
pub fn merge(parts: &[Mesh]) -> Mesh {
    let mut v = Vec::new();
    let mut f = Vec::new();
    for (pv, pf) in parts {
        let off = v.len() as u32;
        v.extend_from_slice(pv);
        f.extend(pf.iter().map(|t| [t[0] + off, t[1] + off, t[2] + off]));
    }
    (v, f)
}

/// Deterministic uniform numbers in [0, 1) (PCG-style LCG), for reproducible tests.
pub struct Rng(pub u64);

impl Rng {
    /// Next number in [0, 1).
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Next number in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

/// Random triangle soup on a coarse grid (many coincident, collinear and coplanar
/// cases) with some NaN, infinite, huge and tiny coordinates and out-of-range indices.
pub fn soup(rng: &mut Rng) -> Mesh {
    let specials = [
        f64::NAN,
        f64::INFINITY,
        -f64::INFINITY,
        1e300,
        -1e-300,
        0.0,
        -0.0,
    ];
    let nv = (rng.next() * 40.0) as usize;
    let v: Vec<[f64; 3]> = (0..nv)
        .map(|_| {
            std::array::from_fn(|_| {
                if rng.next() < 0.05 {
                    specials[(rng.next() * specials.len() as f64) as usize]
                } else {
                    (rng.next() * 4.0).floor() * 0.5
                }
            })
        })
        .collect();
    let t: Vec<[u32; 3]> = (0..(rng.next() * 80.0) as usize)
        .map(|_| std::array::from_fn(|_| (rng.next() * (nv as f64 + 3.0)) as u32))
        .collect();
    (v, t)
}

/// Runs `f` on a rayon pool with `n` threads.
pub fn with_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new().num_threads(n).build() {
        Ok(pool) => pool.install(f),
        Err(e) => panic!("thread pool: {e}"),
    }
}
