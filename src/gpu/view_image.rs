//! What a view's image shows, so that an unchanged view is shown again rather than
//! redrawn, and which voxels' labels a slice image read, so that a label upload makes
//! stale only the images that read it.

use super::renderer::Scene3d;
use super::slice_view::SliceUniforms;
use crate::view::Camera3d;

/// What a slot's offscreen image shows: when the next frame asks for the same, the image
/// is shown again instead of being redrawn (a software rasteriser spends its frame
/// running the view shaders; most frames change one view or none).
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Drawn {
    /// The 3D view: scene, camera, size, ray step factor, surface generation, and whether
    /// empty space was skipped.
    Scene(Scene3d, Camera3d, [u32; 2], f32, u64, bool),
    /// A slice view: its uniforms' bytes and size.
    Slice {
        uniforms: [u8; std::mem::size_of::<SliceUniforms>()],
        size: [u32; 2],
        /// The voxels (column, row, slice ranges, half-open) whose labels the image can
        /// have read, when it drew labels: an upload there makes the image stale.
        labels_read: Option<VoxelBox>,
    },
}

/// A box of voxels: half-open column, row and slice ranges.
pub(super) type VoxelBox = [[u32; 2]; 3];

/// Whether two boxes share a voxel.
pub(super) fn boxes_meet(a: &VoxelBox, b: &VoxelBox) -> bool {
    a.iter().zip(b).all(|(a, b)| a[0] < b[1] && b[0] < a[1])
}

impl Drawn {
    /// The key of a slice image.
    pub(super) fn slice(u: &SliceUniforms, size: [u32; 2]) -> Self {
        let mut uniforms = [0; std::mem::size_of::<SliceUniforms>()];
        uniforms.copy_from_slice(bytemuck::bytes_of(u));
        Self::Slice {
            uniforms,
            size,
            labels_read: (u.preview[3] > 0.0).then(|| labels_read(u, size)),
        }
    }
}

/// The voxels whose labels a slice view of `size` pixels can read: the box around the
/// plane's corners (and the slab's ends) in voxel index, widened on each axis by one
/// pixel's step and one voxel for the nearest-voxel rounding and the outline's neighbours.
fn labels_read(u: &SliceUniforms, size: [u32; 2]) -> VoxelBox {
    let m = glam::Mat4::from_cols_array_2d(&u.ijk_from_lps);
    let v3 = |a: [f32; 4]| glam::Vec3::new(a[0], a[1], a[2]);
    let (o, r, d, step) = (v3(u.origin), v3(u.right), v3(u.down), v3(u.step));
    let slab = step * u.step[3];
    let (mut lo, mut hi) = (glam::Vec3::INFINITY, glam::Vec3::NEG_INFINITY);
    for corner in [o, o + r, o + d, o + r + d] {
        for p in [corner - slab, corner + slab] {
            let c = m.transform_point3(p);
            lo = lo.min(c);
            hi = hi.max(c);
        }
    }
    let per_px = |e: glam::Vec3, n: u32| (m.transform_vector3(e) / n.max(1) as f32).abs();
    let margin = per_px(r, size[0]).max(per_px(d, size[1])) + glam::Vec3::ONE;
    let dims = glam::Vec3::new(u.dims[0], u.dims[1], u.dims[2]).max(glam::Vec3::ZERO);
    let lo = (lo - margin).floor().clamp(glam::Vec3::ZERO, dims);
    let hi = (hi + margin + glam::Vec3::ONE)
        .ceil()
        .clamp(glam::Vec3::ZERO, dims);
    std::array::from_fn(|a| {
        if lo[a].is_finite() && hi[a].is_finite() {
            [lo[a] as u32, hi[a] as u32]
        } else {
            [0, dims[a] as u32]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_meet_only_where_they_share_a_voxel() {
        let a = [[0, 10], [0, 10], [4, 5]];
        assert!(boxes_meet(&a, &[[9, 20], [0, 1], [0, 5]]));
        assert!(!boxes_meet(&a, &[[10, 20], [0, 10], [4, 5]]));
        assert!(!boxes_meet(&a, &[[0, 10], [0, 10], [5, 6]]));
        assert!(!boxes_meet(&a, &[[0, 0], [0, 0], [0, 0]]));
    }
}
