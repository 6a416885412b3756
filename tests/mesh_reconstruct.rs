//! Reconstruction on synthetic masks with known answers: smoothing deviation against the
//! analytic change of a sphere's radius, thin plates, decimation, iso-surfaces, OBJ
//! round trip.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use hounsfield::geom::SpacingMm;
use hounsfield::mesh::decimate::Decimation;
use hounsfield::mesh::pipeline::{ReconstructOptions, reconstruct};
use hounsfield::mesh::smooth::Smoothing;
use hounsfield::segment::Mask;
use hounsfield::volume::VolumeGeometry;

fn grid(s: f64) -> VolumeGeometry {
    VolumeGeometry::axis_aligned(SpacingMm {
        col: s,
        row: s,
        slice: s,
    })
}

/// A ball of radius `r` mm centred in a cube of `n` voxels of `s` mm.
fn ball(n: usize, s: f64, r: f64) -> Mask {
    let c = (n as f64 - 1.0) * s / 2.0;
    Mask::from_fn([n, n, n], |k, j, i| {
        let p = [i, j, k].map(|x| x as f64 * s - c);
        (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt() <= r
    })
}

fn mean_radius(v: &[[f64; 3]], c: f64) -> f64 {
    v.iter()
        .map(|p| ((p[0] - c).powi(2) + (p[1] - c).powi(2) + (p[2] - c).powi(2)).sqrt())
        .sum::<f64>()
        / v.len() as f64
}

#[test]
fn smoothing_deviation_matches_the_sphere_radius_change() {
    let (n, s, r) = (60, 0.5, 12.0);
    let m = ball(n, s, r);
    let g = grid(s);
    let c = (n as f64 - 1.0) * s / 2.0;
    let raw = reconstruct(
        &m,
        &g,
        None,
        &ReconstructOptions {
            self_intersections: false,
            ..Default::default()
        },
    )
    .unwrap();
    let opts = ReconstructOptions {
        smoothing: Some(Smoothing::Sinc {
            iterations: 20,
            pass_band: 0.1,
        }),
        ..Default::default()
    };
    let smooth = reconstruct(&m, &g, None, &opts).unwrap();
    let d = smooth.smoothing.clone().unwrap();
    let (r0, r1) = (
        mean_radius(&raw.mesh.vertices, c),
        mean_radius(&smooth.mesh.vertices, c),
    );
    // The smoothed surface is a sphere of radius r1: the volume change follows analytically.
    let analytic_pct = ((r1 / r0).powi(3) - 1.0) * 100.0;
    assert!(
        (d.volume_change_pct - analytic_pct).abs() < 0.3,
        "{} vs {analytic_pct}",
        d.volume_change_pct
    );
    // Staircase corners move by up to about half a voxel diagonal; the mean is small.
    assert!(d.max_mm < 0.5 * s * 3f64.sqrt() + 0.05, "{}", d.max_mm);
    assert!(d.mean_mm < 0.15 * s, "{}", d.mean_mm);
    // The smoothed vertices lie on a sphere much more tightly than the staircase.
    let spread = |v: &[[f64; 3]], rm: f64| {
        (v.iter()
            .map(|p| {
                (((p[0] - c).powi(2) + (p[1] - c).powi(2) + (p[2] - c).powi(2)).sqrt() - rm).powi(2)
            })
            .sum::<f64>()
            / v.len() as f64)
            .sqrt()
    };
    assert!(spread(&smooth.mesh.vertices, r1) < 0.6 * spread(&raw.mesh.vertices, r0));
    assert!((r1 - r).abs() < 0.5 * s, "smoothed radius {r1} near {r}");
    assert!(smooth.certificate.closed && smooth.certificate.manifold && smooth.certificate.outward);
    assert_eq!(smooth.certificate.self_intersections, Some(0));
    assert_eq!(
        smooth.vertex_deviation_mm.as_ref().map(Vec::len),
        Some(smooth.mesh.vertices.len())
    );
}

/// A plate `t_vox` voxels thick, 40 x 40 voxels, in a padded grid of 0.1 mm voxels.
fn plate(t_vox: usize) -> Mask {
    Mask::from_fn([t_vox + 4, 44, 44], |k, j, i| {
        (2..2 + t_vox).contains(&k) && (2..42).contains(&j) && (2..42).contains(&i)
    })
}

#[test]
fn a_0_2_mm_plate_is_thin_and_a_2_mm_plate_is_not() {
    let g = grid(0.1);
    let opts = ReconstructOptions {
        self_intersections: false,
        ..Default::default()
    };
    let thin = reconstruct(&plate(2), &g, None, &opts).unwrap();
    assert!(!thin.thin_regions.is_empty(), "0.2 mm plate not reported");
    let biggest = &thin.thin_regions[0];
    assert!(biggest.area_mm2 > 10.0, "{biggest:?}");
    assert!((biggest.min_thickness_mm - 0.2).abs() < 0.05, "{biggest:?}");
    let thick = reconstruct(&plate(20), &g, None, &opts).unwrap();
    assert!(
        thick.thin_regions.is_empty(),
        "2 mm plate reported: {:?}",
        &thick.thin_regions[..thick.thin_regions.len().min(3)]
    );
}

#[test]
fn decimation_keeps_a_closed_surface_within_the_bound() {
    let m = ball(50, 0.5, 10.0);
    let opts = ReconstructOptions {
        decimation: Some(Decimation::MaxError { max_error_mm: 0.1 }),
        self_intersections: false,
        ..Default::default()
    };
    let r = reconstruct(&m, &grid(0.5), None, &opts).unwrap();
    let (dev, estimate) = r.decimation.clone().unwrap();
    assert!(
        r.certificate.triangles < r.extracted_triangles / 2,
        "{} of {}",
        r.certificate.triangles,
        r.extracted_triangles
    );
    assert!(
        r.certificate.closed && r.certificate.manifold && r.certificate.outward,
        "{:?}",
        r.certificate
    );
    assert!(estimate <= 0.1 + 1e-6, "{estimate}");
    assert!(dev.max_mm < 0.2, "measured {}", dev.max_mm);
}

#[test]
fn iso_surface_is_sub_voxel_accurate() {
    // HU = 1000 - 100 * (distance from centre in mm): the 0 HU surface is a sphere of 10 mm.
    let (n, s) = (32usize, 1.0);
    let c = (n as f64 - 1.0) * s / 2.0;
    let hu = ndarray::Array3::from_shape_fn((n, n, n), |(k, j, i)| {
        let d = ((i as f64 - c).powi(2) + (j as f64 - c).powi(2) + (k as f64 - c).powi(2)).sqrt();
        (1000.0 - 100.0 * d).round() as i16
    });
    let region = Mask::from_fn([n, n, n], |_, _, _| true);
    let opts = ReconstructOptions {
        iso_hu: Some(0.0),
        self_intersections: false,
        ..Default::default()
    };
    let r = reconstruct(&region, &grid(s), Some(&hu), &opts).unwrap();
    let rm = mean_radius(&r.mesh.vertices, c);
    assert!((rm - 10.0).abs() < 0.05, "mean radius {rm}");
    let worst = r
        .mesh
        .vertices
        .iter()
        .map(|p| {
            (((p[0] - c).powi(2) + (p[1] - c).powi(2) + (p[2] - c).powi(2)).sqrt() - 10.0).abs()
        })
        .fold(0.0, f64::max);
    assert!(
        worst < 0.1,
        "worst radial error {worst} mm (a binary surface is off by up to ~0.5 mm)"
    );
    assert!(
        r.certificate.closed && r.certificate.manifold && r.certificate.degenerate_triangles == 0
    );
}

#[test]
fn obj_round_trips_through_tobj() {
    let m = ball(30, 0.5, 6.0);
    let r = reconstruct(
        &m,
        &grid(0.5),
        None,
        &ReconstructOptions {
            self_intersections: false,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ball.obj");
    hounsfield::export::obj::write(&p, &[("ball", &r.mesh.vertices, &r.mesh.triangles)]).unwrap();
    let (models, _) = tobj::load_obj(
        &p,
        &tobj::LoadOptions {
            triangulate: true,
            single_index: true,
            ..Default::default()
        },
    )
    .unwrap();
    let pos = &models[0].mesh.positions;
    assert_eq!(pos.len() / 3, r.mesh.vertices.len());
    assert_eq!(models[0].mesh.indices.len() / 3, r.mesh.triangles.len());
    for axis in 0..3 {
        let ours = r
            .mesh
            .vertices
            .iter()
            .map(|v| v[axis])
            .fold(f64::INFINITY, f64::min);
        let theirs = pos
            .chunks(3)
            .map(|v| f64::from(v[axis]))
            .fold(f64::INFINITY, f64::min);
        assert!(
            (ours - theirs).abs() < 1e-4,
            "axis {axis}: {ours} vs {theirs}"
        );
        let ours = r
            .mesh
            .vertices
            .iter()
            .map(|v| v[axis])
            .fold(f64::NEG_INFINITY, f64::max);
        let theirs = pos
            .chunks(3)
            .map(|v| f64::from(v[axis]))
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(
            (ours - theirs).abs() < 1e-4,
            "axis {axis}: {ours} vs {theirs}"
        );
    }
}

/// Before: the shell filter ran only inside repair, which a closed marching-cubes surface
/// never needs, so `keep_largest_shell` removed nothing.
#[test]
fn keep_largest_shell_removes_the_small_shell_and_says_so() {
    let (n, s) = (40, 0.5);
    let c = (n as f64 - 1.0) * s / 2.0;
    // A ball of 6 mm and, apart from it, a ball of 2 mm.
    let m = Mask::from_fn([n, n, n], |k, j, i| {
        let p = [i, j, k].map(|x| x as f64 * s - c);
        let big = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt() <= 6.0;
        let q = [p[0] - 7.0, p[1] - 7.0, p[2] - 7.0];
        let small = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt() <= 2.0;
        big || small
    });
    let g = grid(s);
    let opts = |keep| ReconstructOptions {
        self_intersections: false,
        repair: hounsfield::mesh::repair::RepairOptions {
            keep_largest_shell: keep,
            ..Default::default()
        },
        ..Default::default()
    };
    let all = reconstruct(&m, &g, None, &opts(false)).unwrap();
    let one = reconstruct(&m, &g, None, &opts(true)).unwrap();
    assert_eq!(all.repair.removed_shells, 0);
    assert_eq!(one.repair.removed_shells, 1);
    assert_eq!(
        one.repair.removed_shell_triangles,
        all.mesh.triangles.len() - one.mesh.triangles.len()
    );
    assert!(one.repair.removed_shell_triangles > 100);
    assert!(one.certificate.closed && one.certificate.manifold);
}

/// Before: at 0.45–1 mm voxels and the 0.3 mm default nothing could ever be flagged, and the
/// empty list said nothing of it.
#[test]
fn a_thin_limit_below_one_voxel_is_reported_as_unable_to_find_anything() {
    use hounsfield::mesh::record::ReconstructionRecord;
    let m = plate(1);
    let g = grid(0.5);
    let run = |thin_mm: f64| {
        let opts = ReconstructOptions {
            thin_mm,
            self_intersections: false,
            ..Default::default()
        };
        let r = reconstruct(&m, &g, None, &opts).unwrap();
        (
            r.thin_regions.len(),
            ReconstructionRecord::of(&[("plate".into(), None, &r)], &opts),
        )
    };
    let (found, rec) = run(0.3);
    assert_eq!(
        found, 0,
        "a one-voxel (0.5 mm) wall cannot be thinner than 0.5 mm"
    );
    assert_eq!(rec.labels[0].thin_detectable_mm, Some(0.5));
    let w = rec.thin_check_warnings();
    assert!(
        w.len() == 1 && w[0].contains("below the thinnest wall"),
        "{w:?}"
    );
    let (found, rec) = run(0.6);
    assert!(found > 0, "the one-voxel plate is found at 0.6 mm");
    assert!(rec.thin_check_warnings().is_empty());
}
