//! What the 3D view draws with: the scene it shows, the uniform blocks of the ray caster and
//! the surface shader, a surface's vertex data, and the bricks' HU ranges that let rays skip
//! empty space.

use super::transfer::TransferPreset;
use crate::mesh::Mesh;
use crate::view::{Camera3d, WindowLevel};
use crate::volume::Volume;
use glam::DVec3;

/// The ray-casting shader's uniform block (see `shaders/raycast.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RayUniforms {
    /// LPS → voxel index.
    pub ijk_from_lps: [[f32; 4]; 4],
    /// Clip → LPS.
    pub lps_from_clip: [[f32; 4]; 4],
    /// Columns, rows, slices, HU per unit.
    pub dims: [f32; 4],
    /// Spacing (column, row, slice) mm and the ray step mm.
    pub spacing: [f32; 4],
    /// Mode, transfer-function range, opacity unit.
    pub params: [f32; 4],
    /// Level, width, shading.
    pub display: [f32; 4],
    /// Towards the viewer in the volume's axes.
    pub light: [f32; 4],
}

/// The surface shader's uniform block (see `shaders/mesh.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MeshUniforms {
    /// LPS → clip.
    pub clip_from_lps: [[f32; 4]; 4],
    /// Towards the viewer, LPS.
    pub light: [f32; 4],
    /// Scalar range and whether to colour by it.
    pub range: [f32; 4],
}

impl MeshUniforms {
    /// Seen by `camera` in an image of `size` pixels, coloured by the scalar within `range`.
    pub fn new(camera: &Camera3d, range: Option<[f32; 2]>, size: [u32; 2]) -> Self {
        let aspect = f64::from(size[0].max(1)) / f64::from(size[1].max(1));
        let f = -camera.forward();
        Self {
            clip_from_lps: camera.clip_from_lps(aspect).as_mat4().to_cols_array_2d(),
            light: [f.x as f32, f.y as f32, f.z as f32, 0.0],
            range: match range {
                Some([a, b]) => [a, b, 1.0, 0.0],
                None => [0.0, 1.0, 0.0, 0.0],
            },
        }
    }
}

/// What the 3D view shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scene3d {
    /// Ray-cast volume rendering through a transfer function.
    Volume(TransferPreset),
    /// Full-volume maximum intensity projection.
    Mip(WindowLevel),
    /// Full-volume minimum intensity projection.
    Minip(WindowLevel),
    /// The surface model, coloured by its scalar within a range when given.
    Surface(Option<[f32; 2]>),
}

impl Scene3d {
    /// Short label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Volume(_) => "Volume rendering",
            Self::Mip(_) => "MIP",
            Self::Minip(_) => "MinIP",
            Self::Surface(_) => "Surface",
        }
    }
}

/// A surface ready for the GPU: positions and normals in LPS, one scalar per vertex.
#[derive(Debug, Clone, Default)]
pub struct MeshData {
    /// Interleaved position (3), normal (3), scalar (1).
    pub vertices: Vec<[f32; 7]>,
    /// Triangle indices.
    pub indices: Vec<u32>,
}

impl MeshData {
    /// Area-weighted vertex normals; `scalar` per vertex (0 when absent or mismatched).
    pub fn from_mesh(m: &Mesh, scalar: Option<&[f64]>) -> Self {
        let mut normals = vec![DVec3::ZERO; m.vertices.len()];
        for t in &m.triangles {
            let p = t.map(|i| DVec3::from_array(m.vertices[i as usize]));
            let n = (p[1] - p[0]).cross(p[2] - p[0]);
            for &i in t {
                normals[i as usize] += n;
            }
        }
        let scalar = scalar.filter(|s| s.len() == m.vertices.len());
        let vertices = m
            .vertices
            .iter()
            .zip(&normals)
            .enumerate()
            .map(|(i, (p, n))| {
                let n = n.normalize_or_zero();
                let s = scalar.map_or(0.0, |s| s[i]);
                [
                    p[0] as f32,
                    p[1] as f32,
                    p[2] as f32,
                    n.x as f32,
                    n.y as f32,
                    n.z as f32,
                    s as f32,
                ]
            })
            .collect();
        Self {
            vertices,
            indices: m.triangles.iter().flatten().copied().collect(),
        }
    }
}

/// Voxels per brick edge of the empty-space map (`BRICK` in `raycast.wgsl`).
pub const BRICK: usize = 8;

/// (min, max) HU of every `BRICK`³ brick, including a one-voxel apron so that every
/// trilinear sample inside a brick lies within its range; bricks `[x, y, z]`, x fastest.
pub fn brick_ranges(v: &Volume) -> (Vec<[f32; 2]>, [u32; 3]) {
    use rayon::prelude::*;
    let [n, r, c] = v.dims();
    let b = [c.div_ceil(BRICK), r.div_ceil(BRICK), n.div_ceil(BRICK)];
    let span = |i: usize, len: usize| (i * BRICK).saturating_sub(1)..((i + 1) * BRICK + 1).min(len);
    let ranges = (0..b[0] * b[1] * b[2])
        .into_par_iter()
        .map(|idx| {
            let (bx, by, bz) = (idx % b[0], (idx / b[0]) % b[1], idx / (b[0] * b[1]));
            let (mut lo, mut hi) = (i16::MAX, i16::MIN);
            for k in span(bz, n) {
                for j in span(by, r) {
                    for i in span(bx, c) {
                        let h = v.hu[[k, j, i]];
                        lo = lo.min(h);
                        hi = hi.max(h);
                    }
                }
            }
            [f32::from(lo), f32::from(hi)]
        })
        .collect();
    (ranges, [b[0] as u32, b[1] as u32, b[2] as u32])
}
