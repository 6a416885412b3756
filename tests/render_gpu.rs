//! Shader tests: synthetic volumes rendered offscreen through the real WGSL shaders (on
//! Mesa's lavapipe in CI) and compared pixel by pixel with the CPU reference
//! (`volume::reslice`). A shader that samples the wrong axis fails these.
//!
//! Needs a wgpu adapter: without one the tests skip, except with CI=true where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use glam::DVec3;
use hounsfield::geom::SpacingMm;
use hounsfield::gpu::readback::{self, Image};
use hounsfield::gpu::renderer::ViewDraw;
use hounsfield::gpu::slice_view::uniforms_matching_cpu;
use hounsfield::gpu::{Camera3d, Gpu, Scene3d, SliceMode, ViewPreset, ViewRenderer, WindowLevel};
use hounsfield::segment::Mask;
use hounsfield::volume::reslice::{self, Orientation, Projection, ViewSpec};
use hounsfield::volume::{Volume, VolumeGeometry};
use ndarray::Array3;

fn gpu() -> Option<Gpu> {
    common::gpu()
}

fn renderer(g: &Gpu, v: &Volume) -> ViewRenderer {
    let mut r = ViewRenderer::new(&g.device, &g.queue, readback::FORMAT);
    r.set_volume(&g.device, &g.queue, v).expect("volume fits");
    r
}

/// An anisotropic volume whose value tells each axis apart: HU = 3·col + 40·row + 700·slice − 1000.
fn gradient() -> Volume {
    Volume {
        hu: Array3::from_shape_fn((6, 20, 30), |(k, j, i)| {
            (3 * i + 40 * j + 700 * k) as i16 - 1000
        }),
        geometry: VolumeGeometry::axis_aligned(SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        }),
    }
}

/// Two spheres of different brightness at different depths in a −1000 HU background.
fn spheres(background: i16, a: i16, b: i16) -> Volume {
    let c1 = DVec3::new(10.0, 12.0, 8.0);
    let c2 = DVec3::new(28.0, 26.0, 18.0);
    Volume {
        hu: Array3::from_shape_fn((28, 40, 40), |(k, j, i)| {
            let p = DVec3::new(i as f64, j as f64, k as f64);
            if (p - c1).length() <= 6.0 {
                a
            } else if (p - c2).length() <= 8.0 {
                b
            } else {
                background
            }
        }),
        geometry: VolumeGeometry::axis_aligned(SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        }),
    }
}

/// The two spheres (−1000 / 400 / 900 HU) with label 1 in a box around voxels i 2..18,
/// j 4..20 on every slice, red: the volume, a renderer with both uploaded, and the labels'
/// bytes.
fn labelled_spheres(g: &Gpu) -> (Volume, ViewRenderer, Vec<u8>) {
    let v = spheres(-1000, 400, 900);
    let mut r = renderer(g, &v);
    let labels = Mask::from_fn(v.dims(), |_, j, i| {
        (2..18).contains(&i) && (4..20).contains(&j)
    })
    .to_u8(1);
    r.set_labels(&g.device, &g.queue, 0, &labels);
    r.set_label_palette(&g.queue, &[[255, 0, 0, 255]]);
    (v, r, labels)
}

/// A 40 × 40 pixel slice view `sv` of `v` with `overlay`, through the renderer's one shared
/// slot, read back.
fn draw_40(
    g: &Gpu,
    r: &mut ViewRenderer,
    v: &Volume,
    sv: &hounsfield::view::SliceView,
    overlay: &hounsfield::gpu::slice_view::Overlay,
) -> Image {
    let size = [40, 40];
    let u = hounsfield::gpu::slice_view::uniforms(sv, v, [40.0, 40.0], overlay);
    readback::render_view(
        &g.device,
        &g.queue,
        r,
        &ViewDraw::Slice { uniforms: u, size },
        size,
    )
    .expect("rendered")
}

/// GPU slice/slab vs the CPU reference: the number of pixels more than 1 grey level apart.
fn compare(
    g: &Gpu,
    v: &Volume,
    spec: ViewSpec,
    mode: SliceMode,
    window: WindowLevel,
) -> (usize, usize, Image, Vec<u8>) {
    let mut r = renderer(g, v);
    let (u, size) = uniforms_matching_cpu(v, &spec, window, mode);
    let img = readback::render_view(
        &g.device,
        &g.queue,
        &mut r,
        &ViewDraw::Slice { uniforms: u, size },
        size,
    )
    .expect("rendered");
    let cpu = reslice::window(&reslice::render(v, &spec), window.width, window.level);
    let gpu = img.grey();
    assert_eq!(gpu.len(), cpu.len());
    let bad = gpu
        .iter()
        .zip(&cpu)
        .filter(|(a, b)| (i32::from(**a) - i32::from(**b)).abs() > 1)
        .count();
    (bad, cpu.len(), img, cpu)
}

#[test]
fn axial_slice_of_a_gradient_matches_the_cpu() {
    let Some(g) = gpu() else { return };
    let v = gradient();
    // Slice 3 exactly (voxel centres), then one between slices 2 and 3 (interpolated).
    for (z, tol) in [(3.0, 0), (2.5, 0)] {
        let spec = ViewSpec {
            orientation: Orientation::Axial,
            position_mm: Some(z),
            slab_mm: 0.0,
            projection: Projection::Mip,
        };
        let w = WindowLevel::new(4200.0, 1000.0);
        let (bad, n, img, cpu) = compare(&g, &v, spec, SliceMode::Slice, w);
        assert!(bad <= tol, "z {z}: {bad} of {n} pixels differ");
        // The gradient really is there: brighter to the right and downwards.
        assert!(img.at(25, 10)[0] > img.at(2, 10)[0]);
        assert!(img.at(10, 18)[0] > img.at(10, 1)[0]);
        assert!(cpu.iter().any(|&x| x > 0 && x < 255));
    }
}

#[test]
fn coronal_and_sagittal_slices_match_the_cpu() {
    let Some(g) = gpu() else { return };
    let v = gradient();
    for (o, pos) in [(Orientation::Coronal, 7.0), (Orientation::Sagittal, 11.0)] {
        let spec = ViewSpec {
            orientation: o,
            position_mm: Some(pos),
            slab_mm: 0.0,
            projection: Projection::Mip,
        };
        let (bad, n, _, _) = compare(
            &g,
            &v,
            spec,
            SliceMode::Slice,
            WindowLevel::new(4200.0, 1000.0),
        );
        assert_eq!(bad, 0, "{o:?}: {bad} of {n} pixels differ");
    }
}

#[test]
fn mip_of_two_spheres_matches_the_cpu() {
    let Some(g) = gpu() else { return };
    let v = spheres(-1000, 400, 1500);
    let spec = ViewSpec {
        orientation: Orientation::Axial,
        position_mm: Some(13.0),
        slab_mm: 30.0,
        projection: Projection::Mip,
    };
    let w = WindowLevel::new(2600.0, 250.0);
    let (bad, n, img, _) = compare(&g, &v, spec, SliceMode::Mip, w);
    assert_eq!(bad, 0, "{bad} of {n} pixels differ");
    // Both spheres appear, at their own brightness, though they lie at different depths.
    let grey = |hu: f64| (((hu - (w.level - w.width / 2.0)) / w.width) * 255.0).round() as i32;
    assert!((i32::from(img.at(10, 12)[0]) - grey(400.0)).abs() <= 1);
    assert!((i32::from(img.at(28, 26)[0]) - grey(1500.0)).abs() <= 1);
    assert!((i32::from(img.at(35, 5)[0]) - grey(-1000.0)).abs() <= 1);
}

#[test]
fn minip_and_mean_slabs_match_the_cpu() {
    let Some(g) = gpu() else { return };
    let v = spheres(100, -500, -900);
    for (mode, proj) in [
        (SliceMode::Minip, Projection::Minip),
        (SliceMode::Mean, Projection::Mean),
    ] {
        let spec = ViewSpec {
            orientation: Orientation::Coronal,
            position_mm: Some(20.0),
            slab_mm: 40.0,
            projection: proj,
        };
        let (bad, n, img, _) = compare(&g, &v, spec, mode, WindowLevel::new(1200.0, -400.0));
        // Means are sums of interpolated samples in f32 on both sides: allow a few
        // rounding flips at grey-level boundaries, none for the exact MinIP.
        let tol = if mode == SliceMode::Minip { 0 } else { n / 200 };
        assert!(bad <= tol, "{mode:?}: {bad} of {n} pixels differ");
        if mode == SliceMode::Minip {
            // The darker sphere (−900 HU → grey 21) shows through 100 HU tissue (grey 234).
            let darkest = img.grey().into_iter().min().unwrap();
            assert!((i32::from(darkest) - 21).abs() <= 1, "darkest {darkest}");
            assert!(
                img.grey()
                    .iter()
                    .filter(|&&x| (i32::from(x) - 234).abs() <= 1)
                    .count()
                    > n / 2
            );
        }
    }
}

fn scene(g: &Gpu, v: &Volume, s: Scene3d, preset: ViewPreset, size: [u32; 2]) -> Image {
    let mut r = renderer(g, v);
    let centre = DVec3::new(19.5, 19.5, 13.5);
    let cam = Camera3d::framing(centre, 30.0, preset);
    readback::render_view(
        &g.device,
        &g.queue,
        &mut r,
        &ViewDraw::Scene {
            scene: s,
            camera: cam,
            size,
            step_factor: 0.5,
        },
        size,
    )
    .expect("rendered")
}

/// Brightness-weighted centroid of an image's red channel, as fractions of its size.
fn centroid(img: &Image) -> (f64, f64) {
    let (mut sx, mut sy, mut s) = (0.0, 0.0, 0.0);
    for y in 0..img.height {
        for x in 0..img.width {
            let w = f64::from(img.at(x, y)[0]);
            sx += w * f64::from(x);
            sy += w * f64::from(y);
            s += w;
        }
    }
    (
        sx / s / f64::from(img.width),
        sy / s / f64::from(img.height),
    )
}

#[test]
fn full_volume_mip_from_the_front_puts_patient_left_on_screen_right() {
    let Some(g) = gpu() else { return };
    // One bright sphere on the patient's left (+x), superior (+z).
    let c = DVec3::new(30.0, 20.0, 20.0);
    let v = Volume {
        hu: Array3::from_shape_fn((28, 40, 40), |(k, j, i)| {
            if (DVec3::new(i as f64, j as f64, k as f64) - c).length() <= 5.0 {
                2000
            } else {
                -1000
            }
        }),
        geometry: VolumeGeometry::axis_aligned(SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        }),
    };
    let img = scene(
        &g,
        &v,
        Scene3d::Mip(WindowLevel::new(3000.0, 500.0)),
        ViewPreset::Anterior,
        [96, 96],
    );
    let (x, y) = centroid(&img);
    assert!(
        x > 0.55,
        "sphere on the patient's left must be right of centre, at {x}"
    );
    assert!(y < 0.45, "a superior sphere must be above centre, at {y}");
    // The MinIP of the same volume is the background everywhere the rays cross it.
    let min = scene(
        &g,
        &v,
        Scene3d::Minip(WindowLevel::new(3000.0, 500.0)),
        ViewPreset::Anterior,
        [96, 96],
    );
    assert_eq!(min.at(48, 48)[0], 0);
}

#[test]
fn volume_rendering_shows_bone_and_not_air() {
    let Some(g) = gpu() else { return };
    let v = spheres(-1000, 1200, 40);
    let img = scene(
        &g,
        &v,
        Scene3d::Volume(hounsfield::gpu::transfer::TransferPreset::CtBone),
        ViewPreset::Anterior,
        [128, 128],
    );
    // The bone sphere (x = 10 → screen left of centre from the front) is lit; soft tissue
    // (40 HU) is transparent under CT-Bone, so the other sphere leaves the background black.
    let (x, _) = centroid(&img);
    assert!(x < 0.45, "bone sphere at {x}");
    assert!(img.rgba.chunks_exact(4).filter(|p| p[0] > 100).count() > 50);
    assert_eq!(img.at(2, 2), [0, 0, 0, 255]);
}

#[test]
fn surfaces_are_drawn_with_their_scalar_colours() {
    let Some(g) = gpu() else { return };
    let v = spheres(-1000, 1200, 1200);
    let mesh = mesh_of(&v);
    // Scalar: the vertex's x, so the colour runs cold (patient right) to warm (left).
    let xs: Vec<f64> = mesh.vertices.iter().map(|p| p[0]).collect();
    let mut r = renderer(&g, &v);
    r.set_mesh(
        &g.device,
        Some(&hounsfield::gpu::MeshData::from_mesh(&mesh, Some(&xs))),
    );
    let cam = Camera3d::framing(DVec3::new(19.5, 19.5, 13.5), 30.0, ViewPreset::Anterior);
    let img = readback::render_view(
        &g.device,
        &g.queue,
        &mut r,
        &ViewDraw::Scene {
            scene: Scene3d::Surface(Some([0.0, 40.0])),
            camera: cam,
            size: [128, 128],
            step_factor: 1.0,
        },
        [128, 128],
    )
    .expect("rendered");
    let (mut cold, mut warm) = (0, 0);
    for p in img.rgba.chunks_exact(4) {
        if i32::from(p[2]) > i32::from(p[0]) + 30 {
            cold += 1;
        }
        if i32::from(p[0]) > i32::from(p[2]) + 30 {
            warm += 1;
        }
    }
    assert!(cold > 30 && warm > 30, "cold {cold} warm {warm}");
}

#[test]
fn empty_space_skipping_changes_no_pixel() {
    let Some(g) = gpu() else { return };
    // Bone and soft-tissue spheres, and one-voxel bone plates on the first voxel of a
    // brick: samples in the neighbouring brick see them only through interpolation, so a
    // brick map without its apron would drop them.
    let mut v = spheres(-1000, 1200, 40);
    for ((k, j, i), h) in v.hu.indexed_iter_mut() {
        if i == 8 || (j == 16 && k < 12) || (k == 16 && i > 20) {
            *h = 2000;
        }
    }
    let centre = DVec3::new(19.5, 19.5, 13.5);
    for preset in [ViewPreset::Anterior, ViewPreset::Left, ViewPreset::Superior] {
        let mut cam = Camera3d::framing(centre, 30.0, preset);
        cam.rotate(37.0, -21.0);
        for s in [
            Scene3d::Volume(hounsfield::gpu::transfer::TransferPreset::CtBone),
            Scene3d::Volume(hounsfield::gpu::transfer::TransferPreset::CtSkin),
            Scene3d::Mip(WindowLevel::new(3000.0, 500.0)),
            Scene3d::Minip(WindowLevel::new(3000.0, 500.0)),
        ] {
            let mut r = renderer(&g, &v);
            let draw = ViewDraw::Scene {
                scene: s,
                camera: cam,
                size: [96, 96],
                step_factor: 0.5,
            };
            let fast = readback::render_view(&g.device, &g.queue, &mut r, &draw, [96, 96]).unwrap();
            r.empty_space_skipping = false;
            let full = readback::render_view(&g.device, &g.queue, &mut r, &draw, [96, 96]).unwrap();
            let off = fast
                .rgba
                .iter()
                .zip(&full.rgba)
                .filter(|(a, b)| (i32::from(**a) - i32::from(**b)).abs() > 1)
                .count();
            assert_eq!(off, 0, "{preset:?} {s:?}: {off} channels differ");
            // (The MinIP of spheres in air is the air.)
            if !matches!(s, Scene3d::Minip(_)) {
                assert!(
                    full.rgba.chunks_exact(4).any(|p| p[0] > 50),
                    "{preset:?} {s:?} shows something"
                );
            }
        }
    }
}

#[test]
fn labels_are_filled_and_outlined_and_the_threshold_preview_follows_hu() {
    use hounsfield::gpu::slice_view::{Overlay, uniforms};
    use hounsfield::view::{PlaneAxes, SliceView};
    let Some(g) = gpu() else { return };
    // Label 1: a box around voxels i 2..18, j 4..20 on every slice.
    let (v, mut r, _) = labelled_spheres(&g);
    // Axial through sphere 1 (z = 8), one pixel per voxel, no window tint: bone window.
    let axes = PlaneAxes::standard(Orientation::Axial, true);
    let mut sv = SliceView::fit(&v, axes, [40.0, 40.0]);
    sv.mm_per_px = 1.0;
    sv.centre = DVec3::new(19.5, 19.5, 8.0);
    sv.window = WindowLevel::new(2000.0, 0.0);
    let size = [40.0, 40.0];
    let draw = |r: &mut ViewRenderer, o: &Overlay| {
        let u = uniforms(&sv, &v, size, o);
        readback::render_view(
            &g.device,
            &g.queue,
            r,
            &ViewDraw::Slice {
                uniforms: u,
                size: [40, 40],
            },
            [40, 40],
        )
        .expect("rendered")
    };
    let plain = draw(&mut r, &Overlay::NONE);
    let labelled = draw(
        &mut r,
        &Overlay {
            fill: 0.5,
            outline: true,
            preview: None,
            preview_colour: [0.0, 1.0, 0.0],
            labels: true,
        },
    );
    // Pixel (x, y) shows voxel (i, j) = (x, y): inside the box tinted red, outside plain.
    // On bone (400 HU, grey 178) half red: 217, 89, 89; on air (grey 0): 128, 0, 0.
    let bone = labelled.at(10, 12);
    assert!(
        bone[0] > plain.at(10, 12)[0] + 30 && bone[1] < plain.at(10, 12)[1] - 60,
        "{bone:?}"
    );
    assert_eq!(plain.at(16, 6)[0], 0);
    let air = labelled.at(16, 6);
    assert!((126..=129).contains(&air[0]) && air[1] == 0, "{air:?}");
    assert_eq!(labelled.at(30, 30), plain.at(30, 30));
    // The boundary column x = 2 and row y = 4 are outlined in full red.
    assert_eq!(&labelled.at(2, 10)[..3], &[255, 0, 0]);
    assert_eq!(&labelled.at(10, 4)[..3], &[255, 0, 0]);
    // Exactly the pixels with a 4-neighbour of another label are outlined, on both sides
    // of the boundary and at even and odd positions (half the neighbours come from the
    // pixel's quad mates, half are read).
    let inside = |x: i64, y: i64| (2..18).contains(&x) && (4..20).contains(&y);
    for y in 1..39_i64 {
        for x in 1..39_i64 {
            let me = inside(x, y);
            let edge = [(1, 0), (-1, 0), (0, 1), (0, -1)]
                .iter()
                .any(|(a, b)| inside(x + a, y + b) != me);
            let red = labelled.at(x as u32, y as u32)[..3] == [255, 0, 0];
            assert_eq!(
                red, edge,
                "pixel ({x}, {y}): outlined {red}, boundary {edge}"
            );
        }
    }
    // A hidden label (alpha 0) draws nothing.
    r.set_label_palette(&g.queue, &[[255, 0, 0, 0]]);
    assert_eq!(
        draw(
            &mut r,
            &Overlay {
                labels: true,
                ..Overlay::default()
            }
        )
        .rgba,
        plain.rgba
    );
    // Preview 300..500 HU: sphere 1 (400 HU) tinted green, sphere 2 (900 HU) not.
    let preview = draw(
        &mut r,
        &Overlay {
            fill: 0.0,
            outline: false,
            preview: Some([300.0, 500.0]),
            preview_colour: [0.0, 1.0, 0.0],
            labels: false,
        },
    );
    let c = preview.at(10, 12);
    assert!(
        c[1] > plain.at(10, 12)[1] && c[0] < plain.at(10, 12)[0],
        "{c:?} vs {:?}",
        plain.at(10, 12)
    );
    assert_eq!(preview.at(35, 35), plain.at(35, 35));
    // Its rim is outlined: the pixel 6 voxels left of the centre (10, 12) is edge green.
    let rim = (4..=16)
        .filter(|x| preview.at(*x, 12)[..3] == [0, 255, 0])
        .count();
    assert!(rim >= 2, "{rim} rim pixels");
}

#[test]
fn an_unchanged_slice_view_is_shown_again_and_a_label_upload_it_reads_redraws_it() {
    use hounsfield::gpu::slice_view::Overlay;
    use hounsfield::view::{PlaneAxes, SliceView};
    let Some(g) = gpu() else { return };
    let (v, mut r, labelled) = labelled_spheres(&g);
    let [n, rows, cols] = v.dims();
    let per_slice = rows * cols;
    // A standard view centred on `centre`, one pixel per voxel, bone window.
    let view = |o: Orientation, centre: DVec3| {
        let mut sv = SliceView::fit(&v, PlaneAxes::standard(o, true), [40.0, 40.0]);
        sv.mm_per_px = 1.0;
        sv.centre = centre;
        sv.window = WindowLevel::new(2000.0, 0.0);
        sv
    };
    // Axial through slice 8, labels drawn.
    let mut sv = view(Orientation::Axial, DVec3::new(19.5, 19.5, 8.0));
    let overlay = Overlay {
        labels: true,
        ..Overlay::default()
    };
    let draw = |r: &mut ViewRenderer, sv: &SliceView, o: &Overlay| draw_40(&g, r, &v, sv, o);
    let first = draw(&mut r, &sv, &overlay);
    let rendered = r.slices_rendered();
    // The same view again: shown, not rendered.
    assert_eq!(draw(&mut r, &sv, &overlay).rgba, first.rgba);
    assert_eq!(r.slices_rendered(), rendered);
    // Labels cleared on slices 20.. (far from the plane): still shown as it was, and
    // still right.
    r.set_labels(&g.device, &g.queue, 20, &vec![0u8; (n - 20) * per_slice]);
    assert_eq!(draw(&mut r, &sv, &overlay).rgba, first.rgba);
    assert_eq!(r.slices_rendered(), rendered);
    // Labels cleared on slice 8 (the plane): rendered again, and now without them.
    r.set_labels(&g.device, &g.queue, 8, &vec![0u8; per_slice]);
    let cleared = draw(&mut r, &sv, &overlay);
    assert_eq!(r.slices_rendered(), rendered + 1);
    assert_eq!(cleared.rgba, draw(&mut r, &sv, &Overlay::NONE).rgba);
    assert_eq!(r.slices_rendered(), rendered + 2);
    // A view that draws no labels is not made stale by a label upload.
    r.set_labels(
        &g.device,
        &g.queue,
        8,
        &labelled[8 * per_slice..9 * per_slice],
    );
    draw(&mut r, &sv, &Overlay::NONE);
    assert_eq!(r.slices_rendered(), rendered + 2);
    // The labels back on slice 8: the labelled view shows them again, as at first.
    assert_eq!(draw(&mut r, &sv, &overlay).rgba, first.rgba);
    assert_eq!(r.slices_rendered(), rendered + 3);
    // A palette change redraws every labelled view; a new window redraws the view.
    r.set_label_palette(&g.queue, &[[0, 0, 255, 255]]);
    let blue = draw(&mut r, &sv, &overlay);
    assert_ne!(blue.rgba, first.rgba);
    assert_eq!(r.slices_rendered(), rendered + 4);
    sv.window = WindowLevel::new(400.0, 40.0);
    assert_ne!(draw(&mut r, &sv, &overlay).rgba, blue.rgba);
    assert_eq!(r.slices_rendered(), rendered + 5);
    // An oblique plane through slice 8 reads the slices its corners cross: an upload on
    // one of them, away from the centre, redraws the pixels that show it.
    sv.axes = PlaneAxes {
        right: DVec3::X,
        down: DVec3::new(0.0, 0.8, 0.6),
        normal: DVec3::new(0.0, -0.6, 0.8),
    };
    let oblique = draw(&mut r, &sv, &overlay);
    assert_eq!(r.slices_rendered(), rendered + 6);
    let parts = r.slice_parts_rendered();
    r.set_labels(&g.device, &g.queue, 3, &vec![0u8; per_slice]);
    let after = draw(&mut r, &sv, &overlay);
    assert_eq!(r.slices_rendered(), rendered + 6);
    assert_eq!(r.slice_parts_rendered(), parts + 1);
    assert_ne!(after.rgba, oblique.rgba);
    // A coronal view through row 10 reads rows 8..13 or so: a change on slice 8 in rows
    // 30..35 leaves it as it was; one in rows 9..11 redraws the part that shows it.
    let coronal = view(Orientation::Coronal, DVec3::new(19.5, 10.0, 14.0));
    let before = draw(&mut r, &coronal, &overlay);
    let count = r.slices_rendered();
    let mut slice8 = labelled[8 * per_slice..9 * per_slice].to_vec();
    slice8[30 * cols..35 * cols].fill(1);
    r.set_label_box(
        &g.device,
        &g.queue,
        8,
        [[0, cols as u32], [30, 35]],
        &slice8[30 * cols..35 * cols],
    );
    assert_eq!(draw(&mut r, &coronal, &overlay).rgba, before.rgba);
    assert_eq!(r.slices_rendered(), count);
    let parts = r.slice_parts_rendered();
    slice8[9 * cols..11 * cols].fill(0);
    r.set_label_box(
        &g.device,
        &g.queue,
        8,
        [[0, cols as u32], [9, 11]],
        &slice8[9 * cols..11 * cols],
    );
    assert_ne!(draw(&mut r, &coronal, &overlay).rgba, before.rgba);
    assert_eq!(r.slices_rendered(), count);
    assert_eq!(r.slice_parts_rendered(), parts + 1);
}

#[test]
fn a_label_change_redraws_only_the_pixels_that_show_it_and_they_equal_a_whole_render() {
    use hounsfield::gpu::slice_view::{Overlay, uniforms};
    use hounsfield::view::{PlaneAxes, SliceView};
    let Some(g) = gpu() else { return };
    let (v, mut r, mut labels) = labelled_spheres(&g);
    let [_, rows, cols] = v.dims();
    let per_slice = rows * cols;
    let palette = [[255, 0, 0, 255], [0, 0, 255, 200]];
    r.set_label_palette(&g.queue, &palette);
    // Four views in slots of their own, as in the window: axial (with the threshold
    // preview), coronal and sagittal through the change, and an oblique plane; odd sizes
    // and zoom, so the parts have odd edges and do not fall on voxel boundaries.
    let tilted =
        PlaneAxes::standard(Orientation::Axial, true).rotated(DVec3::new(1.0, 0.5, 0.2), 0.6);
    let views: Vec<(SliceView, Overlay)> = [
        (
            PlaneAxes::standard(Orientation::Axial, true),
            Some([300.0, 500.0]),
        ),
        (PlaneAxes::standard(Orientation::Coronal, true), None),
        (PlaneAxes::standard(Orientation::Sagittal, true), None),
        (tilted, None),
    ]
    .into_iter()
    .map(|(axes, preview)| {
        let mut sv = SliceView::fit(&v, axes, [45.0, 37.0]);
        sv.mm_per_px *= 0.8;
        sv.centre = DVec3::new(12.3, 10.2, 8.0);
        sv.window = WindowLevel::new(2000.0, 0.0);
        let overlay = Overlay {
            fill: 0.5,
            outline: true,
            preview,
            preview_colour: [0.0, 1.0, 0.0],
            labels: true,
        };
        (sv, overlay)
    })
    .collect();
    let size = [45, 37];
    let draw = |r: &mut ViewRenderer, slot: u64, (sv, o): &(SliceView, Overlay)| {
        let u = uniforms(sv, &v, [45.0, 37.0], o);
        readback::render_slot(
            &g.device,
            &g.queue,
            r,
            slot,
            &ViewDraw::Slice { uniforms: u, size },
            size,
        )
        .expect("rendered")
    };
    // Each view as a renderer that never saw the change draws it: whole.
    let whole = |labels: &[u8]| {
        let mut fresh = renderer(&g, &v);
        fresh.set_labels(&g.device, &g.queue, 0, labels);
        fresh.set_label_palette(&g.queue, &palette);
        views
            .iter()
            .map(|view| draw(&mut fresh, 0, view).rgba)
            .collect::<Vec<_>>()
    };
    let first: Vec<_> = views
        .iter()
        .enumerate()
        .map(|(k, view)| draw(&mut r, k as u64, view))
        .collect();
    assert_eq!(
        first.iter().map(|i| i.rgba.clone()).collect::<Vec<_>>(),
        whole(&labels)
    );
    // A stroke: label 2 in a disc of radius 3 around voxel (12, 10) on slice 8.
    let slice8 = &mut labels[8 * per_slice..9 * per_slice];
    for j in 7..14 {
        for i in 9..16 {
            if (i as f64 - 12.0).hypot(j as f64 - 10.0) <= 3.0 {
                slice8[j * cols + i] = 2;
            }
        }
    }
    let (whole_before, parts_before) = (r.slices_rendered(), r.slice_parts_rendered());
    // Only the box of the change is sent, as the window sends it.
    let area: Vec<u8> = (7..14)
        .flat_map(|j| labels[8 * per_slice + j * cols + 9..8 * per_slice + j * cols + 16].to_vec())
        .collect();
    r.set_label_box(&g.device, &g.queue, 8, [[9, 16], [7, 14]], &area);
    let after: Vec<_> = views
        .iter()
        .enumerate()
        .map(|(k, view)| draw(&mut r, k as u64, view).rgba)
        .collect();
    // Every view crosses the disc: each had a part, none was drawn whole ...
    assert_eq!(r.slices_rendered(), whole_before);
    assert_eq!(r.slice_parts_rendered(), parts_before + 4);
    // ... and each shows exactly what a whole render shows.
    let expected = whole(&labels);
    for (k, (a, e)) in after.iter().zip(&expected).enumerate() {
        assert_eq!(a, e, "view {k} after the stroke");
        assert_ne!(a, &first[k].rgba, "view {k} shows the stroke");
    }
    // Moving the axial view's threshold after that redraws nothing and still agrees.
    let mut moved = views[0];
    moved.1.preview = Some([800.0, 1000.0]);
    let shown = draw(&mut r, 0, &moved).rgba;
    assert_eq!(r.slices_rendered(), whole_before);
    let mut fresh = renderer(&g, &v);
    fresh.set_labels(&g.device, &g.queue, 0, &labels);
    fresh.set_label_palette(&g.queue, &palette);
    assert_eq!(shown, draw(&mut fresh, 0, &moved).rgba);
    // A change on a slice far from the axial plane (slice 25) leaves that view alone.
    labels[25 * per_slice..26 * per_slice].fill(2);
    let count = (r.slices_rendered(), r.slice_parts_rendered());
    r.set_labels(
        &g.device,
        &g.queue,
        25,
        &labels[25 * per_slice..26 * per_slice],
    );
    draw(&mut r, 0, &views[0]);
    assert_eq!((r.slices_rendered(), r.slice_parts_rendered()), count);
}

#[test]
fn the_threshold_preview_tints_and_outlines_exactly_its_range_and_moving_it_redraws_no_slice() {
    use hounsfield::gpu::slice_view::Overlay;
    use hounsfield::view::{PlaneAxes, SliceView};
    let Some(g) = gpu() else { return };
    let (v, mut r, _) = labelled_spheres(&g);
    // Axial through slice 12, which cuts both spheres; pixel (x, y) samples voxel (x, y, 12)
    // at its centre, so its HU is the voxel's exactly.
    let mut sv = SliceView::fit(
        &v,
        PlaneAxes::standard(Orientation::Axial, true),
        [40.0, 40.0],
    );
    sv.mm_per_px = 1.0;
    sv.centre = DVec3::new(19.5, 19.5, 12.0);
    sv.window = WindowLevel::new(2000.0, 0.0);
    let draw = |r: &mut ViewRenderer, sv: &SliceView, o: &Overlay| draw_40(&g, r, &v, sv, o);
    let previewing = |range: [f64; 2], labels: bool| Overlay {
        fill: 0.5,
        outline: true,
        preview: Some(range),
        preview_colour: [0.0, 1.0, 0.0],
        labels,
    };
    let plain = draw(&mut r, &sv, &Overlay::NONE);
    let hu = |x: i64, y: i64| v.hu[[12, y as usize, x as usize]];
    // Each pixel against its voxel: outlined where a 4-neighbour in the image lies on the
    // other side of the range, tinted where in it, as without the preview elsewhere.
    let check = |img: &Image, base: &Image, range: [i16; 2]| {
        let inside = |x: i64, y: i64| (range[0]..=range[1]).contains(&hu(x, y));
        let (mut tinted, mut outlined) = (0, 0);
        for y in 0..40_i64 {
            for x in 0..40_i64 {
                let me = inside(x, y);
                let edge = [(1, 0), (-1, 0), (0, 1), (0, -1)].iter().any(|(a, b)| {
                    let (nx, ny) = (x + a, y + b);
                    (0..40).contains(&nx) && (0..40).contains(&ny) && inside(nx, ny) != me
                });
                let (px, was) = (img.at(x as u32, y as u32), base.at(x as u32, y as u32));
                if edge {
                    assert_eq!(&px[..3], &[0, 255, 0], "({x}, {y}) is on the range's rim");
                    outlined += 1;
                } else if me {
                    assert!(
                        px[1] > was[1] && px != was,
                        "({x}, {y}) tinted: {px:?} vs {was:?}"
                    );
                    tinted += 1;
                } else {
                    assert_eq!(px, was, "({x}, {y}) is outside the range");
                }
            }
        }
        assert!(
            tinted > 10 && outlined > 10,
            "{tinted} tinted, {outlined} outlined"
        );
    };
    let low = draw(&mut r, &sv, &previewing([300.0, 500.0], false));
    check(&low, &plain, [300, 500]);
    // Moving the range redraws no slice image: only the 1:1 copy applies the new range.
    let count = r.slices_rendered();
    let high = draw(&mut r, &sv, &previewing([800.0, 1000.0], false));
    assert_eq!(r.slices_rendered(), count);
    check(&high, &plain, [800, 1000]);
    assert_ne!(high.rgba, low.rgba);
    // Over the labels: the labelled image is what the preview tints and outlines.
    let labels_only = draw(
        &mut r,
        &sv,
        &Overlay {
            preview: None,
            ..previewing([0.0, 0.0], true)
        },
    );
    let over = draw(&mut r, &sv, &previewing([300.0, 500.0], true));
    check(&over, &labels_only, [300, 500]);
    // Off again: the plain image, as before.
    assert_eq!(draw(&mut r, &sv, &Overlay::NONE).rgba, plain.rgba);
    // Beyond the volume's edge the view stays black, even where the range takes in the
    // background; the background's pixels at the edge are outlined.
    sv.centre = DVec3::new(9.5, 19.5, 12.0);
    let edge = draw(&mut r, &sv, &previewing([-2000.0, 0.0], false));
    for y in 0..40 {
        for x in 0..10 {
            assert_eq!(
                edge.at(x, y),
                [0, 0, 0, 255],
                "({x}, {y}) lies outside the volume"
            );
        }
        assert_eq!(
            &edge.at(10, y)[..3],
            &[0, 255, 0],
            "(10, {y}) is the volume's edge"
        );
    }
}

/// The surface of `v`'s voxels of 300 HU and more, ready for the GPU.
fn surface_of(v: &Volume) -> hounsfield::gpu::MeshData {
    hounsfield::gpu::MeshData::from_mesh(&mesh_of(v), None)
}

/// The surface of `v`'s voxels of 300 HU and more (smoothed, not checked for
/// self-intersections).
fn mesh_of(v: &Volume) -> hounsfield::mesh::Mesh {
    let mask = hounsfield::segment::ops::threshold::threshold_mask(&v.hu, 300, 3071);
    hounsfield::mesh::pipeline::reconstruct(
        &mask,
        &v.geometry,
        None,
        &hounsfield::mesh::pipeline::ReconstructOptions {
            self_intersections: false,
            ..Default::default()
        },
    )
    .expect("mesh")
    .mesh
}

/// On a slow rasteriser a new surface over the frame's triangle budget is drawn in parts
/// behind the image shown; once complete it equals a whole draw byte for byte (the parts
/// share depth). A newer surface waits for the one under way, and a moved camera is drawn
/// whole at once.
#[test]
fn a_large_surface_is_drawn_in_parts_behind_the_shown_image_and_equals_a_whole_draw() {
    let Some(g) = gpu() else { return };
    let v = spheres(-1000, 1200, 1200);
    let data = surface_of(&v);
    // The first sphere alone: a little over a third of the triangles.
    let first_only = surface_of(&spheres(-1000, 1200, -1000));
    let triangles = data.indices.len() as u32 / 3;
    // From beyond the first sphere towards the second: the first sphere's triangles (the
    // extraction's first, by slice) hide part of the second's, so the parts must share depth.
    let (c1, c2) = (DVec3::new(10.0, 12.0, 8.0), DVec3::new(28.0, 26.0, 18.0));
    let looking = |forward: DVec3| Camera3d {
        rotation: glam::DQuat::from_rotation_arc(DVec3::NEG_Z, forward.normalize()),
        ..Camera3d::framing((c1 + c2) / 2.0, 26.0, ViewPreset::Anterior)
    };
    let (cam, moved) = (looking(c2 - c1), looking(DVec3::new(18.0, 14.0, -4.0)));
    let size = [96, 96];
    let surface = |camera| ViewDraw::Scene {
        scene: Scene3d::Surface(None),
        camera,
        size,
        step_factor: 1.0,
    };
    let whole = |data, camera| {
        let mut r = renderer(&g, &v);
        r.set_mesh(&g.device, Some(data));
        readback::render_view(&g.device, &g.queue, &mut r, &surface(camera), size)
            .expect("rendered")
    };
    let (reference, reference_moved) = (whole(&data, cam), whole(&data, moved));
    let reference_first = whole(&first_only, cam);
    assert_ne!(reference.rgba, reference_first.rgba);
    let frame = |r: &mut ViewRenderer, d: &ViewDraw| {
        readback::render_slot(&g.device, &g.queue, r, 7, d, size).expect("rendered")
    };

    let mut r = renderer(&g, &v);
    r.set_triangles_per_frame(Some(triangles / 4 + 1));
    let mip = ViewDraw::Scene {
        scene: Scene3d::Mip(WindowLevel::BONE),
        camera: cam,
        size,
        step_factor: 1.0,
    };
    let before = frame(&mut r, &mip);
    assert_ne!(
        before.rgba, reference.rgba,
        "the MIP and the surface differ"
    );
    r.set_mesh(&g.device, Some(&data));
    // Three frames keep showing the MIP while the surface is drawn behind it.
    for part in 1..=3 {
        let shown = frame(&mut r, &surface(cam));
        assert!(
            shown.rgba == before.rgba,
            "part {part}: the MIP is still shown"
        );
        assert!(r.drawing_underway(), "part {part} of 4");
    }
    // A newer surface set meanwhile waits: the one under way is finished and shown, and
    // the newer one follows in two parts (a surface arriving every frame still appears).
    r.set_mesh(&g.device, Some(&first_only));
    let parts = r.surface_parts_drawn();
    assert!(
        frame(&mut r, &surface(cam)).rgba == reference.rgba,
        "the surface drawn in parts equals one drawn whole"
    );
    assert!(r.drawing_underway(), "the newer surface is under way");
    assert!(frame(&mut r, &surface(cam)).rgba == reference.rgba);
    assert!(frame(&mut r, &surface(cam)).rgba == reference_first.rgba);
    assert!(!r.drawing_underway());
    assert_eq!(r.surface_parts_drawn() - parts, 3);
    // Shown again, not drawn again.
    assert!(frame(&mut r, &surface(cam)).rgba == reference_first.rgba);
    assert_eq!(r.surface_parts_drawn() - parts, 3);
    // The same again from the start, in four parts.
    r.set_mesh(&g.device, Some(&data));
    for _ in 1..=3 {
        assert!(frame(&mut r, &surface(cam)).rgba == reference_first.rgba);
    }
    assert!(frame(&mut r, &surface(cam)).rgba == reference.rgba);
    assert_eq!(r.surface_parts_drawn() - parts, 7);
    // A turned camera is the user steering: drawn whole in that frame, even mid-way.
    r.set_mesh(&g.device, Some(&data));
    frame(&mut r, &surface(cam));
    assert!(r.drawing_underway());
    assert!(frame(&mut r, &surface(moved)).rgba == reference_moved.rgba);
    assert!(!r.drawing_underway());
    assert_eq!(r.surface_parts_drawn() - parts, 8);
    // Without a budget (the default) a new surface is drawn whole at once.
    let mut r = renderer(&g, &v);
    frame(&mut r, &mip);
    r.set_mesh(&g.device, Some(&data));
    assert!(frame(&mut r, &surface(cam)).rgba == reference.rgba);
    assert_eq!(r.surface_parts_drawn(), 0);
}
