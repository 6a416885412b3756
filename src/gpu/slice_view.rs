//! What a slice view shows, in patient space: a plane (any orientation), the point at the
//! view's centre, the zoom, and the slab projection, turned into the slice shader's
//! uniforms. Pure math: tested on the CPU.

use crate::volume::reslice::{self, Orientation};
use crate::volume::{Volume, VolumeGeometry};
use glam::{DMat4, DVec3};
use serde::{Deserialize, Serialize};

/// Window width and level in HU.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowLevel {
    /// Width, HU.
    pub width: f64,
    /// Level (centre), HU.
    pub level: f64,
}

impl WindowLevel {
    /// Bone 2000/300.
    pub const BONE: Self = Self::new(2000.0, 300.0);
    /// Brain 80/40.
    pub const BRAIN: Self = Self::new(80.0, 40.0);
    /// Soft tissue 400/40.
    pub const SOFT_TISSUE: Self = Self::new(400.0, 40.0);
    /// Lung 1500/−600.
    pub const LUNG: Self = Self::new(1500.0, -600.0);

    /// A window; width at least 1 HU.
    pub const fn new(width: f64, level: f64) -> Self {
        Self {
            width: if width < 1.0 { 1.0 } else { width },
            level,
        }
    }

    /// The window covering the 1st to 99th percentile of the HU above −1000 (air outside
    /// the patient would otherwise dominate).
    pub fn auto(v: &Volume) -> Self {
        let mut hist = vec![0u64; 4096 + 1024];
        let mut n = 0u64;
        // Every 7th voxel is plenty for a histogram and keeps this instant.
        for &h in v.hu.iter().step_by(7) {
            if h > -1000 {
                hist[(i32::from(h) + 1024).clamp(0, 5119) as usize] += 1;
                n += 1;
            }
        }
        if n == 0 {
            return Self::SOFT_TISSUE;
        }
        let at = |q: f64| {
            let target = (q * n as f64) as u64;
            let mut acc = 0u64;
            for (i, c) in hist.iter().enumerate() {
                acc += c;
                if acc > target {
                    return i as f64 - 1024.0;
                }
            }
            4095.0
        };
        let (lo, hi) = (at(0.01), at(0.99));
        Self::new(hi - lo, (hi + lo) / 2.0)
    }
}

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
    fn code(self) -> f32 {
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

/// The slice shader's uniform block (see `shaders/slice.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SliceUniforms {
    /// LPS → voxel index.
    pub ijk_from_lps: [[f32; 4]; 4],
    /// Top-left corner, LPS mm.
    pub origin: [f32; 4],
    /// Left to right edge, LPS mm.
    pub right: [f32; 4],
    /// Top to bottom edge, LPS mm.
    pub down: [f32; 4],
    /// Slab step, LPS mm, and samples on each side.
    pub step: [f32; 4],
    /// Columns, rows, slices, HU per texture unit.
    pub dims: [f32; 4],
    /// Level, width, projection code, unused.
    pub display: [f32; 4],
}

/// The matrix from LPS mm to continuous voxel index `(column, row, slice)`.
pub fn ijk_from_lps(g: &VolumeGeometry) -> DMat4 {
    let [s, r, c] = g.steps();
    DMat4::from_cols(
        c.0.extend(0.0),
        r.0.extend(0.0),
        s.0.extend(0.0),
        g.origin.0.extend(1.0),
    )
    .inverse()
}

/// `[cols, rows, slices]` of a volume.
pub fn texture_dims(v: &Volume) -> [u32; 3] {
    let [n, r, c] = v.dims();
    [c as u32, r as u32, n as u32]
}

/// HU represented by texture value 1.0 (the textures hold HU / 32767).
pub const HU_PER_UNIT: f32 = 32767.0;

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

    /// The uniforms for a view of `size_px` pixels.
    pub fn uniforms(&self, v: &Volume, size_px: [f64; 2]) -> SliceUniforms {
        let origin = self.point_at([0.0, 0.0], size_px);
        let right = self.axes.right * (size_px[0] * self.mm_per_px);
        let down = self.axes.down * (size_px[1] * self.mm_per_px);
        let step_mm = reslice::normal_step(v, self.axes.normal);
        let m = if self.mode == SliceMode::Slice {
            0.0
        } else {
            ((self.slab_mm / 2.0).max(0.0) / step_mm)
                .floor()
                .min(2048.0)
        };
        let [c, r, n] = texture_dims(v);
        uniforms_raw(
            &ijk_from_lps(&v.geometry),
            origin,
            right,
            down,
            self.axes.normal * step_mm,
            m,
            [c, r, n],
            [self.window.level, self.window.width],
            self.mode,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn uniforms_raw(
    ijk: &DMat4,
    origin: DVec3,
    right: DVec3,
    down: DVec3,
    step: DVec3,
    samples_each_side: f64,
    dims: [u32; 3],
    level_width: [f64; 2],
    mode: SliceMode,
) -> SliceUniforms {
    let v4 = |v: DVec3, w: f64| [v.x as f32, v.y as f32, v.z as f32, w as f32];
    SliceUniforms {
        ijk_from_lps: ijk.as_mat4().to_cols_array_2d(),
        origin: v4(origin, 1.0),
        right: v4(right, 0.0),
        down: v4(down, 0.0),
        step: v4(step, samples_each_side),
        dims: [dims[0] as f32, dims[1] as f32, dims[2] as f32, HU_PER_UNIT],
        display: [
            level_width[0] as f32,
            level_width[1] as f32,
            mode.code(),
            0.0,
        ],
    }
}

/// The uniforms that make the shader sample exactly the pixel grid of the CPU reference
/// [`reslice::render`] (pixel centres on the same patient points), for tests.
pub fn uniforms_matching_cpu(
    v: &Volume,
    spec: &reslice::ViewSpec,
    window: WindowLevel,
    mode: SliceMode,
) -> (SliceUniforms, [u32; 2]) {
    let reference = reslice::grid(v, spec);
    let (right, down, normal) = spec.orientation.axes();
    let px = reference.pixel_mm;
    let origin = reference.first_pixel - right * (px / 2.0) - down * (px / 2.0);
    let step_mm = reslice::normal_step(v, normal);
    let m = if mode == SliceMode::Slice {
        0.0
    } else {
        ((spec.slab_mm / 2.0).max(0.0) / step_mm).floor()
    };
    let u = uniforms_raw(
        &ijk_from_lps(&v.geometry),
        origin,
        right * (reference.width as f64 * px),
        down * (reference.height as f64 * px),
        normal * step_mm,
        m,
        texture_dims(v),
        [window.level, window.width],
        mode,
    );
    (u, [reference.width as u32, reference.height as u32])
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
    fn ijk_matrix_inverts_the_geometry() {
        let v = vol();
        let m = ijk_from_lps(&v.geometry);
        let p = v.geometry.position(crate::geom::VoxelCoord {
            slice: 2.0,
            row: 3.0,
            col: 4.0,
        });
        let c = m.transform_point3(p.0);
        assert!((c - DVec3::new(4.0, 3.0, 2.0)).length() < 1e-9);
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
