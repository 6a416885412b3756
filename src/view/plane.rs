//! What a slice view shows, in patient space: a plane (any orientation), the point at the
//! view's centre, the zoom, the slab projection and the window. Pure math, shared by the
//! CPU renderer, the CLI and the window; [`crate::gpu::slice_view`] turns it into the
//! shader's uniforms.

use crate::volume::Volume;
use crate::volume::reslice::Orientation;
use glam::DVec3;
use serde::{Deserialize, Serialize};

pub use super::window::WindowLevel;

/// How a slice view projects its slab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SliceMode {
    /// A single plane (MPR).
    Slice,
    /// Maximum intensity over the slab.
    Mip,
    /// Minimum intensity over the slab.
    Minip,
    /// Mean over the slab.
    Mean,
}

impl SliceMode {
    /// Code the shader uses.
    pub fn code(self) -> f32 {
        match self {
            Self::Slice => 0.0,
            Self::Mip => 1.0,
            Self::Minip => 2.0,
            Self::Mean => 3.0,
        }
    }

    /// Short label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Slice => "MPR",
            Self::Mip => "MIP",
            Self::Minip => "MinIP",
            Self::Mean => "Mean",
        }
    }
}

/// An orthonormal view frame in LPS: screen right, screen down, and the normal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaneAxes {
    /// Screen right, LPS unit vector.
    pub right: DVec3,
    /// Screen down, LPS unit vector.
    pub down: DVec3,
    /// Plane normal (`right × down`), LPS unit vector.
    pub normal: DVec3,
}

impl PlaneAxes {
    /// The standard frame of an orientation: radiological (patient's left on screen right
    /// in axial and coronal views) or neurological (mirrored).
    pub fn standard(o: Orientation, radiological: bool) -> Self {
        let (right, down, normal) = o.axes();
        let right = if !radiological && o != Orientation::Sagittal {
            -right
        } else {
            right
        };
        Self {
            right,
            down,
            normal: if right.cross(down).dot(normal) < 0.0 {
                -normal
            } else {
                normal
            },
        }
    }

    /// Rotated about an LPS axis through the origin.
    pub fn rotated(&self, axis: DVec3, angle_rad: f64) -> Self {
        let q = glam::DQuat::from_axis_angle(axis.normalize(), angle_rad);
        Self {
            right: q * self.right,
            down: q * self.down,
            normal: q * self.normal,
        }
    }
}

/// The patient-direction letter of an LPS direction (its dominant axis).
pub fn direction_letter(d: DVec3) -> char {
    let a = d.abs();
    if a.x >= a.y && a.x >= a.z {
        if d.x >= 0.0 { 'L' } else { 'R' }
    } else if a.y >= a.z {
        if d.y >= 0.0 { 'P' } else { 'A' }
    } else if d.z >= 0.0 {
        'S'
    } else {
        'I'
    }
}

/// One slice view's content.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceView {
    /// The plane's frame.
    pub axes: PlaneAxes,
    /// The LPS point at the centre of the view (on the plane).
    pub centre: DVec3,
    /// Zoom: millimetres per pixel.
    pub mm_per_px: f64,
    /// Slab thickness, mm (ignored for a single slice).
    pub slab_mm: f64,
    /// Projection.
    pub mode: SliceMode,
    /// Window/level.
    pub window: WindowLevel,
}

impl SliceView {
    /// The view centred on the volume, zoomed to fit `size_px`.
    pub fn fit(v: &Volume, axes: PlaneAxes, size_px: [f64; 2]) -> Self {
        let (lo, hi) = extent_in(v, &axes);
        let centre_pl = (lo + hi) / 2.0;
        let centre = axes.right * centre_pl.x + axes.down * centre_pl.y + axes.normal * centre_pl.z;
        let mm_per_px = ((hi.x - lo.x) / size_px[0].max(1.0))
            .max((hi.y - lo.y) / size_px[1].max(1.0))
            .max(1e-3)
            * 1.02;
        Self {
            axes,
            centre,
            mm_per_px,
            slab_mm: 0.0,
            mode: SliceMode::Slice,
            window: WindowLevel::BONE,
        }
    }

    /// The LPS point under a pixel position (pixels from the view's top-left corner).
    pub fn point_at(&self, px: [f64; 2], size_px: [f64; 2]) -> DVec3 {
        self.centre
            + self.axes.right * ((px[0] - size_px[0] / 2.0) * self.mm_per_px)
            + self.axes.down * ((px[1] - size_px[1] / 2.0) * self.mm_per_px)
    }

    /// The pixel position of an LPS point (projected onto the plane).
    pub fn pixel_of(&self, p: DVec3, size_px: [f64; 2]) -> [f64; 2] {
        let d = p - self.centre;
        [
            size_px[0] / 2.0 + d.dot(self.axes.right) / self.mm_per_px,
            size_px[1] / 2.0 + d.dot(self.axes.down) / self.mm_per_px,
        ]
    }

    /// Position of the plane along its normal, mm.
    pub fn depth_mm(&self) -> f64 {
        self.centre.dot(self.axes.normal)
    }
}

/// Bounds of the volume's corners in the plane frame `(right, down, normal)`.
pub fn extent_in(v: &Volume, axes: &PlaneAxes) -> (DVec3, DVec3) {
    let mut lo = DVec3::splat(f64::INFINITY);
    let mut hi = DVec3::splat(f64::NEG_INFINITY);
    let [n, r, c] = v.dims();
    for k in [0, n.saturating_sub(1)] {
        for j in [0, r.saturating_sub(1)] {
            for i in [0, c.saturating_sub(1)] {
                let p = v
                    .geometry
                    .position(crate::geom::VoxelCoord {
                        slice: k as f64,
                        row: j as f64,
                        col: i as f64,
                    })
                    .0;
                let q = DVec3::new(p.dot(axes.right), p.dot(axes.down), p.dot(axes.normal));
                lo = lo.min(q);
                hi = hi.max(q);
            }
        }
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::SpacingMm;
    use crate::volume::VolumeGeometry;
    use ndarray::Array3;

    fn vol() -> Volume {
        Volume {
            hu: Array3::from_shape_fn((4, 5, 6), |(k, j, i)| (i + 10 * j + 100 * k) as i16),
            geometry: VolumeGeometry::axis_aligned(SpacingMm {
                col: 0.5,
                row: 0.5,
                slice: 2.0,
            }),
        }
    }

    #[test]
    fn radiological_axial_puts_patient_left_on_screen_right() {
        let a = PlaneAxes::standard(Orientation::Axial, true);
        assert_eq!(direction_letter(a.right), 'L');
        assert_eq!(direction_letter(-a.down), 'A');
        let n = PlaneAxes::standard(Orientation::Axial, false);
        assert_eq!(direction_letter(n.right), 'R');
        let s = PlaneAxes::standard(Orientation::Sagittal, true);
        assert_eq!(direction_letter(-s.right), 'A');
        assert_eq!(direction_letter(-s.down), 'S');
        for o in [
            Orientation::Axial,
            Orientation::Coronal,
            Orientation::Sagittal,
        ] {
            for rad in [true, false] {
                let a = PlaneAxes::standard(o, rad);
                assert!((a.right.cross(a.down) - a.normal).length() < 1e-12);
            }
        }
    }

    #[test]
    fn pixel_and_point_are_inverse() {
        let v = vol();
        let s = SliceView::fit(
            &v,
            PlaneAxes::standard(Orientation::Coronal, true),
            [300.0, 200.0],
        );
        let p = s.point_at([17.0, 150.0], [300.0, 200.0]);
        let q = s.pixel_of(p, [300.0, 200.0]);
        assert!((q[0] - 17.0).abs() < 1e-9 && (q[1] - 150.0).abs() < 1e-9);
    }

    #[test]
    fn auto_window_spans_the_tissue() {
        let v = Volume {
            hu: Array3::from_shape_fn((10, 10, 10), |(k, _, _)| (k as i16) * 100 - 1400),
            geometry: VolumeGeometry::axis_aligned(SpacingMm {
                col: 1.0,
                row: 1.0,
                slice: 1.0,
            }),
        };
        let w = WindowLevel::auto(&v);
        // Values above −1000 (air is ignored): −900..−500 by 100.
        assert!(w.level > -900.0 && w.level < -500.0, "{w:?}");
        assert!(w.width <= 400.0 && w.width >= 300.0, "{w:?}");
    }
}
