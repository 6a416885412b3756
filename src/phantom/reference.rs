//! The exact reference surface of a phantom's objects: marching cubes of each object's
//! analytic inside test on a fine grid, every vertex then moved along the distance's
//! gradient onto the analytic surface (so it lies on it to 1e-9 mm). Its vertices are the
//! points from which the validation measures the truth-to-model distance.

use super::TruthObject;
use super::shape::Shape;
use crate::geom::{LpsPointMm, SpacingMm};
use crate::mesh::Mesh;
use crate::mesh::extract::{Midpoint, extract};
use crate::segment::Mask;
use crate::volume::VolumeGeometry;
use glam::DVec3;

/// How close to the analytic surface a reference vertex must come, mm.
pub const ON_SURFACE_MM: f64 = 1e-9;

/// Moves `p` onto the zero set of the shape's distance (Newton steps along the numerical
/// gradient); `None` if it does not get there.
pub fn project(shape: &Shape, mut p: DVec3) -> Option<DVec3> {
    let h = 1e-6;
    for _ in 0..12 {
        let d = shape.sdf(p);
        if d.abs() <= ON_SURFACE_MM {
            return Some(p);
        }
        let g = DVec3::new(
            shape.sdf(p + DVec3::X * h) - shape.sdf(p - DVec3::X * h),
            shape.sdf(p + DVec3::Y * h) - shape.sdf(p - DVec3::Y * h),
            shape.sdf(p + DVec3::Z * h) - shape.sdf(p - DVec3::Z * h),
        ) / (2.0 * h);
        let g = g.try_normalize()?;
        p -= g * d;
    }
    (shape.sdf(p).abs() <= ON_SURFACE_MM).then_some(p)
}

/// One object's reference surface at grid step `step_mm`; vertices that would not project
/// are left where marching cubes put them (counted in the second value).
pub fn object_surface(shape: &Shape, step_mm: f64) -> (Mesh, usize) {
    let (lo, hi) = shape.bounds_mm();
    let origin = lo - 2.0 * step_mm;
    let n = ((hi - lo) / step_mm).ceil().as_uvec3() + 5;
    let dims = [n.z as usize, n.y as usize, n.x as usize];
    let geometry = VolumeGeometry {
        origin: LpsPointMm(origin),
        ..VolumeGeometry::axis_aligned(SpacingMm {
            col: step_mm,
            row: step_mm,
            slice: step_mm,
        })
    };
    let mask = Mask::from_fn(dims, |k, j, i| {
        let p = origin + DVec3::new(i as f64, j as f64, k as f64) * step_mm;
        shape.sdf(p) < 0.0
    });
    let mut mesh = extract(&mask, &geometry, &Midpoint);
    let mut missed = 0;
    for v in &mut mesh.vertices {
        match project(shape, DVec3::from(*v)) {
            Some(p) => *v = p.to_array(),
            None => missed += 1,
        }
    }
    (mesh, missed)
}

/// Every object's reference surface in one mesh.
pub fn surface(objects: &[TruthObject], step_mm: f64) -> Mesh {
    let mut all = Mesh::default();
    for o in objects {
        let (m, _) = object_surface(&o.shape, step_mm);
        let off = all.vertices.len() as u32;
        all.vertices.extend_from_slice(&m.vertices);
        all.triangles.extend(
            m.triangles
                .iter()
                .map(|t| [t[0] + off, t[1] + off, t[2] + off]),
        );
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::deviation::signed_volume;

    #[test]
    fn reference_vertices_lie_on_the_surface_and_enclose_the_volume() {
        for o in super::super::standard_objects() {
            let (m, missed) = object_surface(&o.shape, 0.25);
            assert_eq!(missed, 0, "{}", o.name);
            assert!(!m.triangles.is_empty());
            for v in &m.vertices {
                assert!(o.shape.sdf(DVec3::from(*v)).abs() <= ON_SURFACE_MM);
            }
            // A polyhedron inscribed in the surface (its edges chamfered by one grid step):
            // its volume is close to the exact one, a little below.
            let v = signed_volume(&m.vertices, &m.triangles);
            let rel = (v - o.shape.volume_mm3()) / o.shape.volume_mm3();
            assert!(
                rel < 1e-3 && rel > -0.035,
                "{}: {v} vs {}",
                o.name,
                o.shape.volume_mm3()
            );
        }
    }
}
