//! Surface models: extraction from masks, checks, smoothing and measurement.
//!
//! A [`Mesh`] holds vertices in LPS millimetres and triangles counter-clockwise seen from
//! outside (outward normals).

pub mod bvh;
pub mod check;
pub mod decimate;
pub mod deviation;
pub mod extract;
pub mod mask_thickness;
pub mod params;
pub mod pipeline;
pub mod preview;
pub mod record;
pub mod repair;
pub mod smooth;
#[cfg(test)]
pub(crate) mod test_meshes;
pub mod thickness;
pub(crate) mod tri;

use serde::Serialize;

/// A triangle mesh in LPS millimetres.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Mesh {
    /// Vertex positions, LPS mm.
    pub vertices: Vec<[f64; 3]>,
    /// Triangles as vertex indices, counter-clockwise seen from outside.
    pub triangles: Vec<[u32; 3]>,
}

impl Mesh {
    /// Reverses every triangle's orientation.
    pub fn flip(&mut self) {
        for t in &mut self.triangles {
            t.swap(1, 2);
        }
    }
}
