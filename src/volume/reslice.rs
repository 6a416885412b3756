//! Reslicing on the CPU: a view plane in patient space, sampled from the volume with
//! trilinear interpolation, as a single slice or a thick slab (maximum, minimum or mean
//! intensity projection). This is the reference that GPU renderers are checked against,
//! and the renderer for machines without a GPU.
//!
//! Display conventions are radiological: axial seen from the feet (patient's left on the
//! right of the screen, anterior up), coronal seen from the front (left on the right,
//! superior up), sagittal seen from the patient's left (anterior on the left, superior up).

use super::Volume;
use crate::geom::{LpsDirection, LpsPointMm};
use glam::DVec3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A standard view plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    /// Perpendicular to superior.
    Axial,
    /// Perpendicular to posterior.
    Coronal,
    /// Perpendicular to left.
    Sagittal,
}

impl Orientation {
    /// (screen right, screen down, normal pointing away from the viewer) in LPS.
    pub fn axes(self) -> (DVec3, DVec3, DVec3) {
        match self {
            // Seen from the feet: right = +L, down = +P, normal = +S (towards the viewer's
            // back is irrelevant; the slab is symmetric).
            Self::Axial => (DVec3::X, DVec3::Y, DVec3::Z),
            // Seen from the front: right = +L, down = −S.
            Self::Coronal => (DVec3::X, DVec3::NEG_Z, DVec3::Y),
            // Seen from the left: right = +P, down = −S.
            Self::Sagittal => (DVec3::Y, DVec3::NEG_Z, DVec3::X),
        }
    }
}

/// How a slab is projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Projection {
    /// Maximum intensity.
    Mip,
    /// Minimum intensity.
    Minip,
    /// Mean intensity.
    Mean,
}

/// What to render.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewSpec {
    /// The plane.
    pub orientation: Orientation,
    /// Position of the plane along its normal, LPS mm (`None`: the volume's centre).
    pub position_mm: Option<f64>,
    /// Slab thickness, mm (0: a single slice).
    pub slab_mm: f64,
    /// Projection of a slab.
    pub projection: Projection,
}

/// A rendered view: HU per pixel (NaN outside the volume), row-major.
#[derive(Debug, Clone)]
pub struct View {
    /// Pixels across.
    pub width: usize,
    /// Pixels down.
    pub height: usize,
    /// Pixel size, mm.
    pub pixel_mm: f64,
    /// Values, `height × width`.
    pub values: Vec<f32>,
    /// Where the plane lies along its normal, LPS mm.
    pub position_mm: f64,
}

/// Trilinear sample at a patient-space point; `None` outside the volume.
pub fn sample(v: &Volume, p: DVec3) -> Option<f32> {
    let c = v.geometry.coord_of(LpsPointMm(p))?;
    let (n, r, cc) = v.hu.dim();
    let (k, j, i) = (c.slice, c.row, c.col);
    if !(k >= 0.0
        && j >= 0.0
        && i >= 0.0
        && k <= (n - 1) as f64
        && j <= (r - 1) as f64
        && i <= (cc - 1) as f64)
    {
        return None;
    }
    let (k0, j0, i0) = (k.floor() as usize, j.floor() as usize, i.floor() as usize);
    let (k1, j1, i1) = (
        (k0 + 1).min(n - 1),
        (j0 + 1).min(r - 1),
        (i0 + 1).min(cc - 1),
    );
    let (fk, fj, fi) = (k - k0 as f64, j - j0 as f64, i - i0 as f64);
    let h = |a: usize, b: usize, c: usize| f64::from(v.hu[[a, b, c]]);
    let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
    let c00 = lerp(h(k0, j0, i0), h(k0, j0, i1), fi);
    let c01 = lerp(h(k0, j1, i0), h(k0, j1, i1), fi);
    let c10 = lerp(h(k1, j0, i0), h(k1, j0, i1), fi);
    let c11 = lerp(h(k1, j1, i0), h(k1, j1, i1), fi);
    Some(lerp(lerp(c00, c01, fj), lerp(c10, c11, fj), fk) as f32)
}

/// The volume's corners in LPS.
fn corners(v: &Volume) -> Vec<DVec3> {
    let [n, r, c] = v.dims();
    let mut out = Vec::with_capacity(8);
    for k in [0, n.saturating_sub(1)] {
        for j in [0, r.saturating_sub(1)] {
            for i in [0, c.saturating_sub(1)] {
                out.push(
                    v.geometry
                        .position(crate::geom::VoxelCoord {
                            slice: k as f64,
                            row: j as f64,
                            col: i as f64,
                        })
                        .0,
                );
            }
        }
    }
    out
}

/// The pixel grid of a view: the whole volume extent in the plane at the finest spacing.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    /// Pixels across.
    pub width: usize,
    /// Pixels down.
    pub height: usize,
    /// Pixel size, mm.
    pub pixel_mm: f64,
    /// LPS point of pixel (0, 0)'s centre.
    pub first_pixel: DVec3,
    /// Position of the plane along its normal, mm.
    pub position_mm: f64,
}

/// The grid [`gpu`] samples for a view.
pub fn grid(v: &Volume, spec: &ViewSpec) -> Grid {
    let (right, down, normal) = spec.orientation.axes();
    let pts = corners(v);
    let range = |d: DVec3| {
        let xs: Vec<f64> = pts.iter().map(|p| p.dot(d)).collect();
        (
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    let (r0, r1) = range(right);
    let (d0, d1) = range(down);
    let (n0, n1) = range(normal);
    let s = v.geometry.spacing;
    let px = s.col.min(s.row).min(s.slice).max(1e-3);
    let width = (((r1 - r0) / px).round() as usize + 1).clamp(1, 4096);
    let height = (((d1 - d0) / px).round() as usize + 1).clamp(1, 4096);
    let pos = spec.position_mm.unwrap_or((n0 + n1) / 2.0);
    Grid {
        width,
        height,
        pixel_mm: px,
        first_pixel: right * r0 + down * d0 + normal * pos,
        position_mm: pos,
    }
}

/// Renders a view of the whole volume extent in the plane, at the finest in-plane spacing.
pub fn render(v: &Volume, spec: &ViewSpec) -> View {
    let (right, down, normal) = spec.orientation.axes();
    let g = grid(v, spec);
    let (width, height, px, pos) = (g.width, g.height, g.pixel_mm, g.position_mm);
    // Step through a slab at the voxel spacing along the normal.
    let step_n = normal_step(v, normal);
    let half = (spec.slab_mm / 2.0).max(0.0);
    let m = (half / step_n).floor() as i64;
    let offsets: Vec<f64> = (-m..=m).map(|q| q as f64 * step_n).collect();
    let values: Vec<f32> = (0..width * height)
        .into_par_iter()
        .map(|idx| {
            let (row, col) = (idx / width, idx % width);
            let base = g.first_pixel + right * (col as f64 * px) + down * (row as f64 * px);
            let mut acc: Option<f32> = None;
            let mut sum = 0.0f64;
            let mut count = 0usize;
            for o in &offsets {
                if let Some(x) = sample(v, base + normal * *o) {
                    acc = Some(match (acc, spec.projection) {
                        (None, _) => x,
                        (Some(a), Projection::Mip) => a.max(x),
                        (Some(a), Projection::Minip) => a.min(x),
                        (Some(a), Projection::Mean) => a,
                    });
                    sum += f64::from(x);
                    count += 1;
                }
            }
            match (spec.projection, acc) {
                (_, None) => f32::NAN,
                (Projection::Mean, Some(_)) => (sum / count as f64) as f32,
                (_, Some(a)) => a,
            }
        })
        .collect();
    View {
        width,
        height,
        pixel_mm: px,
        values,
        position_mm: pos,
    }
}

/// Spacing of the volume along a patient direction (the voxel extent projected on it).
pub fn normal_step(v: &Volume, n: DVec3) -> f64 {
    let [s, r, c] = v.geometry.steps();
    let d = LpsDirection::new(n).map_or(n, LpsDirection::get);
    let proj = [s.0.dot(d).abs(), r.0.dot(d).abs(), c.0.dot(d).abs()];
    proj.iter().copied().fold(0.0, f64::max).max(1e-3)
}

/// Window/level to 8-bit grey; NaN (outside the volume) is black.
pub fn window(view: &View, width_hu: f64, level_hu: f64) -> Vec<u8> {
    let lo = level_hu - width_hu / 2.0;
    let w = width_hu.max(1.0);
    view.values
        .iter()
        .map(|x| {
            if x.is_nan() {
                0
            } else {
                (((f64::from(*x) - lo) / w).clamp(0.0, 1.0) * 255.0).round() as u8
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::SpacingMm;
    use crate::volume::VolumeGeometry;
    use ndarray::Array3;

    fn vol() -> Volume {
        // HU = 10·x + 100·y + 1000·z (x = column, y = row, z = slice, 1 mm voxels).
        let hu = Array3::from_shape_fn((5, 6, 7), |(k, j, i)| (10 * i + 100 * j + 1000 * k) as i16);
        Volume {
            hu,
            geometry: VolumeGeometry::axis_aligned(SpacingMm {
                col: 1.0,
                row: 1.0,
                slice: 1.0,
            }),
        }
    }

    #[test]
    fn axial_is_patient_left_on_the_right_and_anterior_up() {
        let v = vol();
        let view = render(
            &v,
            &ViewSpec {
                orientation: Orientation::Axial,
                position_mm: Some(2.0),
                slab_mm: 0.0,
                projection: Projection::Mip,
            },
        );
        assert_eq!((view.width, view.height), (7, 6));
        // Left (+x) increases to the right; posterior (+y) increases downwards.
        assert_eq!(view.values[0], 2000.0);
        assert_eq!(view.values[6], 2060.0);
        assert_eq!(view.values[5 * 7], 2500.0);
    }

    #[test]
    fn coronal_and_sagittal_put_superior_up() {
        let v = vol();
        let c = render(
            &v,
            &ViewSpec {
                orientation: Orientation::Coronal,
                position_mm: Some(3.0),
                slab_mm: 0.0,
                projection: Projection::Mip,
            },
        );
        assert_eq!((c.width, c.height), (7, 5));
        assert_eq!(c.values[0], 4300.0, "top row is the most superior slice");
        let s = render(
            &v,
            &ViewSpec {
                orientation: Orientation::Sagittal,
                position_mm: Some(1.0),
                slab_mm: 0.0,
                projection: Projection::Mip,
            },
        );
        assert_eq!((s.width, s.height), (6, 5));
        assert_eq!(s.values[0], 4010.0);
        assert_eq!(s.values[5], 4510.0, "posterior on the right");
    }

    #[test]
    fn slabs_project_max_min_and_mean() {
        let v = vol();
        let spec = |p| ViewSpec {
            orientation: Orientation::Axial,
            position_mm: Some(2.0),
            slab_mm: 2.0,
            projection: p,
        };
        assert_eq!(render(&v, &spec(Projection::Mip)).values[0], 3000.0);
        assert_eq!(render(&v, &spec(Projection::Minip)).values[0], 1000.0);
        assert_eq!(render(&v, &spec(Projection::Mean)).values[0], 2000.0);
        let w = window(&render(&v, &spec(Projection::Mip)), 2000.0, 3000.0);
        assert_eq!(w[0], 128);
    }
}
