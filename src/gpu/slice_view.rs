//! The slice shader's uniforms from a [`SliceView`]: the plane, the slab and the window as
//! `shaders/slice.wgsl` reads them.

use crate::view::{SliceMode, SliceView, WindowLevel};
use crate::volume::reslice;
use crate::volume::{Volume, VolumeGeometry};
use glam::{DMat4, DVec3};

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
    /// Label fill opacity, outline (0/1), view width and height in pixels.
    pub overlay: [f32; 4],
    /// Threshold preview: low HU, high HU, on (0/1); labels drawn at all (0/1).
    pub preview: [f32; 4],
    /// Threshold preview colour (rgb) and opacity.
    pub preview_colour: [f32; 4],
}

// The uniform buffer of a view holds 256 bytes (renderer::UNIFORM_BYTES).
const _: () = assert!(std::mem::size_of::<SliceUniforms>() <= 256);

/// What the slice shader draws over the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overlay {
    /// Label fill opacity, times each label's own (0: outlines only).
    pub fill: f32,
    /// Draw each label's boundary.
    pub outline: bool,
    /// Threshold preview range, HU, when previewing.
    pub preview: Option<[f64; 2]>,
    /// Preview colour, sRGB 0..1.
    pub preview_colour: [f32; 3],
    /// Whether there are labels to draw (skips the label lookups when not).
    pub labels: bool,
}

impl Default for Overlay {
    fn default() -> Self {
        Self {
            fill: 0.45,
            outline: true,
            preview: None,
            preview_colour: [0.2, 0.95, 0.35],
            labels: false,
        }
    }
}

impl Overlay {
    /// Nothing over the image (the reference comparisons of the slice shader).
    pub const NONE: Self = Self {
        fill: 0.0,
        outline: false,
        preview: None,
        preview_colour: [0.0; 3],
        labels: false,
    };

    fn write(&self, u: &mut SliceUniforms, size_px: [f64; 2]) {
        u.overlay = [
            self.fill,
            if self.outline { 1.0 } else { 0.0 },
            size_px[0] as f32,
            size_px[1] as f32,
        ];
        if let Some([lo, hi]) = self.preview {
            u.preview = [lo as f32, hi as f32, 1.0, 0.0];
        }
        u.preview[3] = if self.labels { 1.0 } else { 0.0 };
        let [r, g, b] = self.preview_colour;
        u.preview_colour = [r, g, b, 0.35];
    }
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

/// The uniforms for a view of `size_px` pixels, with `overlay` drawn over it.
pub fn uniforms(sv: &SliceView, v: &Volume, size_px: [f64; 2], overlay: &Overlay) -> SliceUniforms {
    let mut u = image_uniforms(sv, v, size_px);
    overlay.write(&mut u, size_px);
    u
}

fn image_uniforms(sv: &SliceView, v: &Volume, size_px: [f64; 2]) -> SliceUniforms {
    let origin = sv.point_at([0.0, 0.0], size_px);
    let right = sv.axes.right * (size_px[0] * sv.mm_per_px);
    let down = sv.axes.down * (size_px[1] * sv.mm_per_px);
    let step_mm = reslice::normal_step(v, sv.axes.normal);
    let m = if sv.mode == SliceMode::Slice {
        0.0
    } else {
        ((sv.slab_mm / 2.0).max(0.0) / step_mm).floor().min(2048.0)
    };
    let [c, r, n] = texture_dims(v);
    uniforms_raw(
        &ijk_from_lps(&v.geometry),
        origin,
        right,
        down,
        sv.axes.normal * step_mm,
        m,
        [c, r, n],
        [sv.window.level, sv.window.width],
        sv.mode,
    )
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
        overlay: [0.0; 4],
        preview: [0.0; 4],
        preview_colour: [0.0; 4],
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
}
