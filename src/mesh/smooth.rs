//! Smoothing that removes the stair-steps of voxel surfaces: Taubin's λ|μ filter and the
//! windowed-sinc filter (Taubin, Zhang and Golub 1996, as in VTK's
//! vtkWindowedSincPolyDataFilter), both on the uniform-weight Laplacian, optionally
//! limited to move no vertex farther than a given distance. Neither shrinks a closed
//! surface the way plain Laplacian smoothing does; how far they moved it is measured
//! afterwards (see `deviation`), never assumed.

use super::Mesh;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A smoothing filter and its parameters, as recorded in reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Smoothing {
    /// Taubin λ|μ: `iterations` pairs of a shrinking (λ) and an inflating (μ) step.
    Taubin {
        /// Pairs of steps.
        iterations: usize,
        /// Positive step.
        lambda: f64,
        /// Negative step (|μ| slightly above λ).
        mu: f64,
    },
    /// Windowed sinc: a low-pass filter of `iterations` Chebyshev terms with pass band
    /// `pass_band` in (0, 2) (smaller = smoother; VTK's default is 0.1).
    Sinc {
        /// Chebyshev terms.
        iterations: usize,
        /// Pass-band frequency.
        pass_band: f64,
    },
}

impl std::fmt::Display for Smoothing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Taubin {
                iterations,
                lambda,
                mu,
            } => write!(f, "Taubin, {iterations} iterations, λ {lambda}, μ {mu}"),
            Self::Sinc {
                iterations,
                pass_band,
            } => write!(
                f,
                "windowed sinc, {iterations} iterations, pass band {pass_band}"
            ),
        }
    }
}

impl Smoothing {
    /// Parses `taubin:ITER` or `sinc:ITER:PASSBAND` (the CLI syntax).
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |x: &str, what: &str| -> Result<f64, String> {
            x.parse::<f64>()
                .map_err(|_| format!("{what} `{x}` is not a number"))
        };
        let iters = |x: &str| -> Result<usize, String> {
            match x.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => Ok(n),
                _ => Err(format!("iterations `{x}` must be 1..=1000")),
            }
        };
        match parts.as_slice() {
            ["taubin", it] => Ok(Self::Taubin {
                iterations: iters(it)?,
                lambda: 0.5,
                mu: -0.53,
            }),
            ["taubin", it, l, m] => {
                let (lambda, mu) = (num(l, "lambda")?, num(m, "mu")?);
                if !(lambda > 0.0 && lambda < 1.0 && mu < -lambda && mu > -1.0) {
                    return Err("taubin needs 0 < lambda < 1 and -1 < mu < -lambda".into());
                }
                Ok(Self::Taubin {
                    iterations: iters(it)?,
                    lambda,
                    mu,
                })
            }
            ["sinc", it, pb] => {
                let pass_band = num(pb, "pass band")?;
                if !(pass_band > 0.0 && pass_band < 2.0) {
                    return Err(format!("pass band {pass_band} must be in (0, 2)"));
                }
                Ok(Self::Sinc {
                    iterations: iters(it)?,
                    pass_band,
                })
            }
            _ => Err(format!(
                "`{s}`: use taubin:ITER, taubin:ITER:LAMBDA:MU or sinc:ITER:PASSBAND"
            )),
        }
    }
}

/// Hamming-windowed Chebyshev coefficients of the ideal low-pass filter with pass band
/// `k_pb`. As in Taubin's report and VTK, the cut-off angle θ_pb = acos(1 − k_pb/2) is
/// shifted by σ, found by Newton's method, so that the windowed filter passes the pass-band
/// frequency with gain exactly 1 (the window alone would cut it).
pub fn sinc_coefficients(n: usize, k_pb: f64) -> Vec<f64> {
    use std::f64::consts::PI;
    // libm: the same coefficients, so the same mesh hash, on every platform.
    let theta = libm::acos((1.0 - 0.5 * k_pb).clamp(-1.0, 1.0));
    let w: Vec<f64> = (0..=n)
        .map(|i| 0.54 + 0.46 * libm::cos(i as f64 * PI / (n as f64 + 1.0)))
        .collect();
    let c_of = |s: f64| -> Vec<f64> {
        (0..=n)
            .map(|i| {
                if i == 0 {
                    (theta + s) / PI
                } else {
                    2.0 * libm::sin(i as f64 * (theta + s)) / (i as f64 * PI)
                }
            })
            .collect()
    };
    let mut sigma = 0.0;
    for _ in 0..100 {
        let c = c_of(sigma);
        let f: f64 = (0..=n)
            .map(|i| w[i] * c[i] * libm::cos(i as f64 * theta))
            .sum();
        let fp: f64 = (0..=n)
            .map(|i| {
                let d = if i == 0 {
                    1.0 / PI
                } else {
                    2.0 * libm::cos(i as f64 * (theta + sigma)) / PI
                };
                w[i] * d * libm::cos(i as f64 * theta)
            })
            .sum();
        if (f - 1.0).abs() < 1e-10 || fp.abs() < 1e-12 {
            break;
        }
        sigma -= (f - 1.0) / fp;
        sigma = sigma.clamp(-theta, PI - theta);
    }
    let c = c_of(sigma);
    (0..=n).map(|i| w[i] * c[i]).collect()
}

/// Vertex neighbourhoods in compressed rows.
struct Adjacency {
    start: Vec<usize>,
    nbrs: Vec<u32>,
}

fn adjacency(m: &Mesh) -> Adjacency {
    let nv = m.vertices.len();
    let valid = |t: &&[u32; 3]| t.iter().all(|i| (*i as usize) < nv);
    // Counting pass, fill pass, then sort and dedup each short list: no global sort.
    let mut start = vec![0usize; nv + 1];
    for t in m.triangles.iter().filter(valid) {
        for v in t {
            start[*v as usize + 1] += 2;
        }
    }
    for v in 0..nv {
        start[v + 1] += start[v];
    }
    let mut fill = start.clone();
    let mut raw = vec![0u32; start[nv]];
    for t in m.triangles.iter().filter(valid) {
        for e in 0..3 {
            let (a, b, c) = (t[e], t[(e + 1) % 3], t[(e + 2) % 3]);
            raw[fill[a as usize]] = b;
            raw[fill[a as usize] + 1] = c;
            fill[a as usize] += 2;
        }
    }
    let lists: Vec<Vec<u32>> = (0..nv)
        .into_par_iter()
        .map(|v| {
            let mut l = raw[start[v]..start[v + 1]].to_vec();
            l.sort_unstable();
            l.dedup();
            l
        })
        .collect();
    let mut out_start = Vec::with_capacity(nv + 1);
    let mut nbrs = Vec::with_capacity(raw.len() / 2);
    out_start.push(0);
    for l in lists {
        nbrs.extend_from_slice(&l);
        out_start.push(nbrs.len());
    }
    Adjacency {
        start: out_start,
        nbrs,
    }
}

/// `K p = p − mean(neighbours)` for every vertex.
fn laplacian(adj: &Adjacency, p: &[[f64; 3]], out: &mut [[f64; 3]]) {
    out.par_iter_mut().enumerate().for_each(|(v, o)| {
        let nb = &adj.nbrs[adj.start[v]..adj.start[v + 1]];
        if nb.is_empty() {
            *o = [0.0; 3];
            return;
        }
        let mut s = [0.0; 3];
        for n in nb {
            let q = p[*n as usize];
            s = [s[0] + q[0], s[1] + q[1], s[2] + q[2]];
        }
        let k = nb.len() as f64;
        *o = [p[v][0] - s[0] / k, p[v][1] - s[1] / k, p[v][2] - s[2] / k];
    });
}

/// Smooths `m` in place; with `max_move_mm`, no vertex ends farther than that from where it
/// started.
pub fn smooth(m: &mut Mesh, s: Smoothing, max_move_mm: Option<f64>) {
    let adj = adjacency(m);
    let original = m.vertices.clone();
    let nv = m.vertices.len();
    let mut lap = vec![[0.0; 3]; nv];
    match s {
        Smoothing::Taubin {
            iterations,
            lambda,
            mu,
        } => {
            for _ in 0..iterations {
                for f in [lambda, mu] {
                    laplacian(&adj, &m.vertices, &mut lap);
                    m.vertices.par_iter_mut().zip(&lap).for_each(|(p, l)| {
                        // Moving towards the neighbours' mean is −K p.
                        *p = [p[0] - f * l[0], p[1] - f * l[1], p[2] - f * l[2]];
                    });
                }
            }
        }
        Smoothing::Sinc {
            iterations,
            pass_band,
        } => {
            let n = iterations;
            let coef = sinc_coefficients(n, pass_band);
            let gain: f64 = coef.iter().sum();
            let coef: Vec<f64> = coef.iter().map(|c| c / gain).collect();
            // T0 p = p; T1 p = p − ½Kp; T(i+1) = 2 T(i) − K T(i) − T(i−1).
            let mut t_prev = original.clone();
            laplacian(&adj, &t_prev, &mut lap);
            let mut t_cur: Vec<[f64; 3]> = t_prev
                .iter()
                .zip(&lap)
                .map(|(p, l)| [p[0] - 0.5 * l[0], p[1] - 0.5 * l[1], p[2] - 0.5 * l[2]])
                .collect();
            let mut acc: Vec<[f64; 3]> = t_prev
                .iter()
                .zip(&t_cur)
                .map(|(a, b)| [0, 1, 2].map(|d| coef[0] * a[d] + coef[1] * b[d]))
                .collect();
            for c in coef.iter().skip(2) {
                laplacian(&adj, &t_cur, &mut lap);
                // T(i+1) overwrites T(i−1) in place, then the two swap roles.
                t_prev
                    .par_iter_mut()
                    .zip(t_cur.par_iter())
                    .zip(lap.par_iter())
                    .zip(acc.par_iter_mut())
                    .for_each(|(((p, t), l), a)| {
                        for d in 0..3 {
                            p[d] = 2.0 * t[d] - l[d] - p[d];
                            a[d] += c * p[d];
                        }
                    });
                std::mem::swap(&mut t_prev, &mut t_cur);
            }
            m.vertices = acc;
        }
    }
    if let Some(limit) = max_move_mm {
        m.vertices.par_iter_mut().zip(&original).for_each(|(p, o)| {
            let d = [p[0] - o[0], p[1] - o[1], p[2] - o[2]];
            let len = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
            if len > limit && len > 0.0 {
                let f = limit / len;
                *p = [o[0] + d[0] * f, o[1] + d[1] * f, o[2] + d[2] * f];
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cli_forms() {
        assert_eq!(
            Smoothing::parse("sinc:20:0.1"),
            Ok(Smoothing::Sinc {
                iterations: 20,
                pass_band: 0.1
            })
        );
        assert!(matches!(
            Smoothing::parse("taubin:10"),
            Ok(Smoothing::Taubin { iterations: 10, .. })
        ));
        assert!(Smoothing::parse("sinc:20").is_err());
        assert!(Smoothing::parse("sinc:0:0.1").is_err());
        assert!(Smoothing::parse("sinc:20:3").is_err());
        assert!(Smoothing::parse("gauss:3").is_err());
    }
}
