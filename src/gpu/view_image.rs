//! A view's offscreen image and what it shows, so that an unchanged view is shown again
//! rather than redrawn, and which voxels' labels (and pixels) a slice image read, so that a
//! label upload makes stale only the images, and the parts of them, that show it.

use super::pipelines::{DEPTH_FORMAT, bind_group};
use super::scene3d::Scene3d;
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

/// Pixels of an image: half-open x (column) and y (row) ranges.
pub(super) type PixelRect = [[u32; 2]; 2];

/// Whether two boxes share a voxel.
pub(super) fn boxes_meet(a: &VoxelBox, b: &VoxelBox) -> bool {
    a.iter().zip(b).all(|(a, b)| a[0] < b[1] && b[0] < a[1])
}

impl Drawn {
    /// The key of a slice image. The threshold preview's range and colour are left out:
    /// they are applied as the image is shown (preview.wgsl), so moving them keeps it.
    pub(super) fn slice(u: &SliceUniforms, size: [u32; 2]) -> Self {
        let mut shown = *u;
        shown.preview[0] = 0.0;
        shown.preview[1] = 0.0;
        shown.preview_colour = [0.0; 4];
        let mut uniforms = [0; std::mem::size_of::<SliceUniforms>()];
        uniforms.copy_from_slice(bytemuck::bytes_of(&shown));
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

/// The pixels of a slice image of `size` whose colour can depend on the labels of the
/// voxels in `written` (`None`: none can), quad-aligned so that a render scissored to them
/// computes the same pixels as a whole one. A pixel shows the label of the voxel nearest
/// its point on the plane and outlines against its 4-neighbours': so the box, widened by
/// half a voxel, is projected onto the plane (any pixel whose point lies in it lies within
/// its corners' projections), and widened by the neighbour and a rounding pixel.
pub(super) fn pixels_reading(
    u: &SliceUniforms,
    size: [u32; 2],
    written: &VoxelBox,
) -> Option<PixelRect> {
    let whole = [[0, size[0]], [0, size[1]]];
    let m = glam::DMat4::from_cols_array_2d(&u.ijk_from_lps.map(|c| c.map(f64::from)));
    let lps_from_ijk = m.inverse();
    let v3 = |a: [f32; 4]| glam::DVec3::new(a[0].into(), a[1].into(), a[2].into());
    let (o, r, d) = (v3(u.origin), v3(u.right), v3(u.down));
    // In-plane coordinates (0..1 across, 0..1 down) of a point: the Gram system of the
    // plane's two edges, which need not be orthogonal.
    let (rr, rd, dd) = (r.dot(r), r.dot(d), d.dot(d));
    let det = rr * dd - rd * rd;
    // A degenerate (or non-finite) plane: every pixel may show anything.
    if det.is_nan() || det.abs() <= 1e-12 {
        return Some(whole);
    }
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for corner in 0..8 {
        let c = glam::DVec3::from_array(std::array::from_fn(|a| {
            let [first, end] = written[a];
            if corner & (1 << a) == 0 {
                f64::from(first) - 0.5
            } else {
                f64::from(end) - 0.5
            }
        }));
        let rel = lps_from_ijk.transform_point3(c) - o;
        let (pr, pd) = (rel.dot(r), rel.dot(d));
        let uv = [(dd * pr - rd * pd) / det, (rr * pd - rd * pr) / det];
        for a in 0..2 {
            let px = uv[a] * f64::from(size[a]);
            lo[a] = lo[a].min(px);
            hi[a] = hi[a].max(px);
        }
    }
    let mut rect = whole;
    for a in 0..2 {
        if !(lo[a].is_finite() && hi[a].is_finite()) {
            return Some(whole);
        }
        // Pixel x's point is at x + 0.5; one more pixel each side for the outline.
        let first = ((lo[a] - 0.5).floor() - 2.0).max(0.0);
        let end = ((hi[a] - 0.5).floor() + 3.0).min(f64::from(size[a]));
        if first >= end {
            return None;
        }
        let first = first as u32 & !1;
        let end = ((end as u32 + 1) & !1).min(size[a]);
        rect[a] = [first, end];
    }
    Some(rect)
}

/// A view's offscreen image, shown 1:1 (a slice) or scaled (the 3D view).
pub(super) struct Offscreen {
    pub(super) size: [u32; 2],
    /// Slices are shown 1:1 (nearest); the 3D view is scaled (linear, depth for surfaces).
    pub(super) kind: OffscreenKind,
    pub(super) color: wgpu::Texture,
    pub(super) color_view: wgpu::TextureView,
    pub(super) depth_view: Option<wgpu::TextureView>,
    pub(super) blit: wgpu::BindGroup,
    /// A slice image's plane HU per pixel and what shows it with the threshold preview.
    pub(super) preview: Option<PreviewImage>,
}

/// The threshold preview of a slice image: its HU per pixel (written with the image) and
/// the range and colour it is shown with (written every frame, so a moving threshold
/// redraws nothing but the 1:1 copy).
pub(super) struct PreviewImage {
    pub(super) hu_view: wgpu::TextureView,
    pub(super) uniforms: wgpu::Buffer,
    pub(super) show: wgpu::BindGroup,
}

/// What preview.wgsl reads: low and high HU (and two unused), colour and fill opacity.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct PreviewUniforms {
    pub(super) range: [f32; 4],
    pub(super) colour: [f32; 4],
}

/// The format of a slice image's HU: exact to the f32 the slice shader sampled.
pub(super) const HU_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R32Float;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
/// A slice image (nearest copy, no depth) or the 3D view (scaled, depth for surfaces).
pub(super) enum OffscreenKind {
    Slice,
    Scene,
}

impl Offscreen {
    /// A new image of `size` pixels (1..=8192 each way) of `kind`, with what shows it.
    pub(super) fn new(
        device: &wgpu::Device,
        size: [u32; 2],
        kind: OffscreenKind,
        layouts: &ImageLayouts<'_>,
    ) -> Offscreen {
        let ImageLayouts {
            format,
            blit: blit_layout,
            preview: preview_layout,
            sampler,
        } = *layouts;
        let extent = wgpu::Extent3d {
            width: size[0],
            height: size[1],
            depth_or_array_layers: 1,
        };
        let color = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("view image"),
            size: extent,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let depth_view = (kind == OffscreenKind::Scene).then(|| {
            device
                .create_texture(&wgpu::TextureDescriptor {
                    label: Some("3d view depth"),
                    size: extent,
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: DEPTH_FORMAT,
                    usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
                    view_formats: &[],
                })
                .create_view(&Default::default())
        });
        let color_view = color.create_view(&Default::default());
        let blit = bind_group(
            device,
            "blit",
            blit_layout,
            &[
                wgpu::BindingResource::TextureView(&color_view),
                wgpu::BindingResource::Sampler(sampler),
            ],
        );
        let preview = (kind == OffscreenKind::Slice).then(|| {
            let hu_view = device
                .create_texture(&wgpu::TextureDescriptor {
                    label: Some("slice image HU"),
                    size: extent,
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: HU_FORMAT,
                    usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                        | wgpu::TextureUsages::TEXTURE_BINDING,
                    view_formats: &[],
                })
                .create_view(&Default::default());
            let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("preview uniforms"),
                size: std::mem::size_of::<PreviewUniforms>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let show = bind_group(
                device,
                "preview",
                preview_layout,
                &[
                    uniforms.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&color_view),
                    wgpu::BindingResource::TextureView(&hu_view),
                ],
            );
            PreviewImage {
                hu_view,
                uniforms,
                show,
            }
        });
        Offscreen {
            size,
            kind,
            color,
            color_view,
            depth_view,
            blit,
            preview,
        }
    }
}

/// What a view image is made for: the window's format, the layouts of the bind groups
/// that show it (a plain copy, or through the threshold preview), and the copy's sampler.
#[derive(Clone, Copy)]
pub(super) struct ImageLayouts<'a> {
    pub(super) format: wgpu::TextureFormat,
    pub(super) blit: &'a wgpu::BindGroupLayout,
    pub(super) preview: &'a wgpu::BindGroupLayout,
    pub(super) sampler: &'a wgpu::Sampler,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pixel whose label, or a 4-neighbour's, comes from a voxel of the written box
    /// (the slice shader's own arithmetic, in f32) lies in the rect `pixels_reading` gives;
    /// on standard and oblique planes, anisotropic voxels, odd sizes and random boxes.
    #[test]
    fn the_pixels_reading_a_box_hold_every_pixel_that_shows_its_labels() {
        use crate::geom::SpacingMm;
        use crate::gpu::slice_view::{Overlay, uniforms};
        use crate::view::{PlaneAxes, SliceView};
        use crate::volume::reslice::Orientation;
        use crate::volume::{Volume, VolumeGeometry};
        use glam::{DVec3, Vec3, Vec4Swizzles};
        let v = Volume {
            hu: ndarray::Array3::zeros((30, 40, 50)),
            geometry: VolumeGeometry::axis_aligned(SpacingMm {
                col: 0.7,
                row: 0.9,
                slice: 2.5,
            }),
        };
        let tilted =
            PlaneAxes::standard(Orientation::Axial, true).rotated(DVec3::new(1.0, 0.5, 0.2), 0.6);
        let planes = [
            PlaneAxes::standard(Orientation::Axial, true),
            PlaneAxes::standard(Orientation::Coronal, true),
            PlaneAxes::standard(Orientation::Sagittal, false),
            tilted,
        ];
        let mut seed = 12345_u64;
        let mut next = |n: u32| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % u64::from(n)) as u32
        };
        let (mut checked, mut nothing) = (0, 0);
        for axes in planes {
            for size in [[53_u32, 47_u32], [64, 64]] {
                let px = [f64::from(size[0]), f64::from(size[1])];
                let mut sv = SliceView::fit(&v, axes, px);
                sv.mm_per_px *= 0.6;
                sv.centre += axes.normal * 3.1;
                let u = uniforms(&sv, &v, px, &Overlay::NONE);
                let m = glam::Mat4::from_cols_array_2d(&u.ijk_from_lps);
                let v3 = |a: [f32; 4]| Vec3::new(a[0], a[1], a[2]);
                let (o, r, d) = (v3(u.origin), v3(u.right), v3(u.down));
                let (dx, dy) = (r / size[0] as f32, d / size[1] as f32);
                for _ in 0..40 {
                    let written: VoxelBox = std::array::from_fn(|a| {
                        let n = [50, 40, 30][a];
                        let first = next(n);
                        [first, (first + 1 + next(6)).min(n)]
                    });
                    let rect = pixels_reading(&u, size, &written);
                    let in_box = |p: Vec3| {
                        let c = (m * p.extend(1.0)).xyz();
                        let c = (c + Vec3::splat(0.5)).floor();
                        (0..3).all(|a| c[a] >= written[a][0] as f32 && c[a] < written[a][1] as f32)
                    };
                    for y in 0..size[1] {
                        for x in 0..size[0] {
                            let p = o
                                + r * ((x as f32 + 0.5) / size[0] as f32)
                                + d * ((y as f32 + 0.5) / size[1] as f32);
                            let reads = [p, p + dx, p - dx, p + dy, p - dy].into_iter().any(in_box);
                            if !reads {
                                continue;
                            }
                            checked += 1;
                            let Some([[x0, x1], [y0, y1]]) = rect else {
                                panic!("({x}, {y}) shows {written:?}, but no pixel is said to");
                            };
                            assert!(
                                (x0..x1).contains(&x) && (y0..y1).contains(&y),
                                "({x}, {y}) shows {written:?}, outside {rect:?}"
                            );
                        }
                    }
                    if let Some([[x0, x1], [y0, y1]]) = rect {
                        assert!(x0 % 2 == 0 && y0 % 2 == 0 && x0 < x1 && y0 < y1, "{rect:?}");
                        assert!((x1 % 2 == 0 || x1 == size[0]) && (y1 % 2 == 0 || y1 == size[1]));
                    } else {
                        nothing += 1;
                    }
                }
            }
        }
        assert!(
            checked > 1000 && nothing > 0,
            "{checked} pixels, {nothing} boxes unseen"
        );
    }

    #[test]
    fn boxes_meet_only_where_they_share_a_voxel() {
        let a = [[0, 10], [0, 10], [4, 5]];
        assert!(boxes_meet(&a, &[[9, 20], [0, 1], [0, 5]]));
        assert!(!boxes_meet(&a, &[[10, 20], [0, 10], [4, 5]]));
        assert!(!boxes_meet(&a, &[[0, 10], [0, 10], [5, 6]]));
        assert!(!boxes_meet(&a, &[[0, 0], [0, 0], [0, 0]]));
    }
}
