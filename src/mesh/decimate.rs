//! Decimation with a quadric error metric (meshoptimizer's edge-collapse simplifier, which
//! keeps the topology), to a triangle fraction or under an absolute error bound in mm. The
//! error actually achieved is measured afterwards against the input surface, like
//! smoothing's.

use super::Mesh;
use serde::{Deserialize, Serialize};

/// How far to decimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Decimation {
    /// Keep about this fraction of the triangles (0 < f < 1), within `max_error_mm` when
    /// given.
    TargetFraction {
        /// Fraction of triangles kept.
        fraction: f64,
    },
    /// Remove as many triangles as possible while no collapse moves the surface more than
    /// this (quadric estimate, mm).
    MaxError {
        /// Error bound, mm.
        max_error_mm: f64,
    },
}

/// Decimates; returns the new mesh and the simplifier's own error estimate (mm).
pub fn decimate(m: &Mesh, d: Decimation) -> Result<(Mesh, f64), String> {
    if m.triangles.is_empty() {
        return Ok((m.clone(), 0.0));
    }
    let nv = m.vertices.len();
    if m.triangles
        .iter()
        .any(|t| t.iter().any(|i| *i as usize >= nv))
    {
        return Err("the mesh has triangles indexing missing vertices".into());
    }
    // Positions relative to the centre keep f32 precise to ~0.1 µm on a head.
    let mut c = [0.0f64; 3];
    for v in &m.vertices {
        for a in 0..3 {
            c[a] += v[a] / nv as f64;
        }
    }
    let pos: Vec<f32> = m
        .vertices
        .iter()
        .flat_map(|v| {
            [
                (v[0] - c[0]) as f32,
                (v[1] - c[1]) as f32,
                (v[2] - c[2]) as f32,
            ]
        })
        .collect();
    let bytes: Vec<u8> = pos.iter().flat_map(|x| x.to_le_bytes()).collect();
    let adapter = meshopt::VertexDataAdapter::new(&bytes, 12, 0).map_err(|e| e.to_string())?;
    let indices: Vec<u32> = m.triangles.iter().flatten().copied().collect();
    let (target_count, target_error) = match d {
        Decimation::TargetFraction { fraction } => {
            if !(fraction > 0.0 && fraction < 1.0) {
                return Err(format!("target fraction {fraction} must be in (0, 1)"));
            }
            (
                ((indices.len() / 3) as f64 * fraction) as usize * 3,
                f32::MAX,
            )
        }
        Decimation::MaxError { max_error_mm } => {
            if !(max_error_mm > 0.0 && max_error_mm.is_finite()) {
                return Err(format!("max error {max_error_mm} mm must be positive"));
            }
            (0, max_error_mm as f32)
        }
    };
    let mut err = 0.0f32;
    let out = meshopt::simplify(
        &indices,
        &adapter,
        target_count,
        target_error,
        meshopt::SimplifyOptions::ErrorAbsolute,
        Some(&mut err),
    );
    // Compact: keep referenced vertices, in order of first use.
    let mut remap = vec![u32::MAX; nv];
    let mut vertices = Vec::new();
    let mut triangles = Vec::with_capacity(out.len() / 3);
    for t in out.chunks_exact(3) {
        let mut tri = [0u32; 3];
        for (k, &i) in t.iter().enumerate() {
            let i = i as usize;
            if remap[i] == u32::MAX {
                remap[i] = vertices.len() as u32;
                vertices.push(m.vertices[i]);
            }
            tri[k] = remap[i];
        }
        triangles.push(tri);
    }
    Ok((
        Mesh {
            vertices,
            triangles,
        },
        f64::from(err),
    ))
}
