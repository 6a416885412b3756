//! Series made by these tests from the bundled sample's real slices (and one synthetic
//! ramp): gantry tilt, a missing slice, a duplicated slice, mixed spacing. Each is written
//! as DICOM and goes through the real import path.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::series::{sample_volume, straight_series, straight_slices, write_series};

use glam::DVec3;
use hounsfield::dicom::{ImportOptions, LoadOptions, ScanReport, load, scan_path};
use hounsfield::feasibility::FindingCode;
use hounsfield::geom::{LpsPointMm, VoxelIndex};
use hounsfield::volume::Volume;
use hounsfield::volume::resample::sample_at;
use ndarray::{Array2, Axis, s};
use std::path::Path;

fn scan(dir: &Path) -> ScanReport {
    scan_path(dir, &ImportOptions::default()).expect("scan")
}

fn codes(report: &ScanReport) -> Vec<FindingCode> {
    report.series[0].findings.iter().map(|f| f.code).collect()
}

#[test]
fn tilted_series_is_detected_and_its_shear_removed() {
    let v = sample_volume();
    let sp = v.geometry.spacing.col;
    let mid = v.hu.index_axis(Axis(0), 35).to_owned();
    // One row of shift per 2 mm slice: tilt = atan(0.902 / 2) = 24.28 degrees.
    let dz = 2.0;
    let theta = (sp / dz).atan().to_degrees();
    let n = 12;
    let rows = 200;
    // Patient-space content is the same in every slice (a straight cylinder along z):
    // slice k's first pixel is k rows further, so its content is cut k rows later.
    let slices: Vec<(LpsPointMm, Array2<i16>)> = (0..n)
        .map(|k| {
            let pos = LpsPointMm::new(-100.0, -50.0 + k as f64 * sp, 700.0 + k as f64 * dz);
            (pos, mid.slice(s![k..k + rows, ..]).to_owned())
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), &slices, sp, Some(theta));
    let report = scan(dir.path());
    assert_eq!(report.series.len(), 1);
    let series = &report.series[0];
    let measured = series.stack.as_ref().unwrap().tilt_measured_deg;
    assert!(
        (measured - theta).abs() < 0.1,
        "measured {measured} vs {theta}"
    );
    assert!(codes(&report).contains(&FindingCode::GantryTilt));

    // Raw stack: the content moves one row per slice (sheared).
    let raw = load(
        series,
        &LoadOptions {
            resample: false,
            ..Default::default()
        },
        None,
    )
    .unwrap();
    assert!(!raw.volume.geometry.is_orthogonal());
    // Corrected: an orthogonal grid where every slice shows the same rows of `mid`.
    let fixed = load(series, &LoadOptions::default(), None).unwrap();
    let g = fixed.volume.geometry;
    assert!(g.is_orthogonal());
    assert_eq!(fixed.volume.dims(), [n, rows + n - 1, 256]);
    for k in 0..n {
        // Output row r holds patient y = -50 + r*sp, i.e. row r of `mid` (the source rows
        // k..k+rows of mid are covered by slice k).
        let out = fixed.volume.hu.index_axis(Axis(0), k);
        assert_eq!(
            out.slice(s![k..k + rows, ..]),
            mid.slice(s![k..k + rows, ..]),
            "slice {k}"
        );
    }
    // The straight-edge check in one line: along a column that crosses the skull, the first
    // bone row (> 300 HU) is the same in every corrected slice and moves in the raw one.
    let col = 128;
    let edge = |vol: &Volume, k: usize, from: usize| {
        (from..from + rows).find(|&r| vol.hu[[k, r, col]] > 300)
    };
    let fixed_edges: Vec<_> = (0..n).map(|k| edge(&fixed.volume, k, n - 1)).collect();
    assert!(
        fixed_edges
            .iter()
            .all(|e| e.is_some() && *e == fixed_edges[0]),
        "{fixed_edges:?}"
    );
    let raw_edges: Vec<_> = (0..n)
        .map(|k| edge(&raw.volume, k, 0).map(|r| r + k))
        .collect();
    assert!(
        raw_edges.windows(2).all(|w| w[0] == w[1]),
        "raw content is shifted: {raw_edges:?}"
    );

    // And against the DICOM geometry itself: the output at each original pixel's patient
    // position equals that pixel (exactly here, since the shift is a whole row).
    for (k, (pos, px)) in slices.iter().enumerate().step_by(3) {
        for r in (0..rows).step_by(17) {
            for c in (0..256).step_by(13) {
                let p = LpsPointMm(pos.0 + DVec3::new(c as f64 * sp, r as f64 * sp, 0.0));
                let got = sample_at(&fixed.volume, p).unwrap();
                assert_eq!(got, f64::from(px[[r, c]]), "slice {k} pixel ({r},{c})");
            }
        }
    }
}

#[test]
fn fractional_tilt_on_a_linear_ramp_is_exact_at_every_original_pixel() {
    // Bilinear/linear interpolation reproduces a linear function exactly, so any deviation
    // is a geometry error.
    let theta: f64 = 12.5;
    let (n, rows, cols, sp, dz) = (8usize, 40usize, 30usize, 0.7, 1.25);
    let shift = dz * theta.to_radians().tan();
    let ramp = |p: DVec3| 2.0 * p.x + 3.0 * p.y + 4.0 * p.z;
    let slices: Vec<(LpsPointMm, Array2<i16>)> = (0..n)
        .map(|k| {
            let pos = DVec3::new(10.0, 20.0 + k as f64 * shift, 30.0 + k as f64 * dz);
            let px = Array2::from_shape_fn((rows, cols), |(r, c)| {
                ramp(pos + DVec3::new(c as f64 * sp, r as f64 * sp, 0.0)).round() as i16
            });
            (LpsPointMm(pos), px)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), &slices, sp, None);
    let report = scan(dir.path());
    let series = &report.series[0];
    let measured = series.stack.as_ref().unwrap().tilt_measured_deg;
    assert!((measured - theta).abs() < 0.1, "{measured}");
    let fixed = load(series, &LoadOptions::default(), None).unwrap();
    let mut checked = 0;
    for (pos, px) in &slices {
        // Rows 0 and rows-1 have output neighbours outside the acquired region (fill).
        for r in 1..rows - 1 {
            for c in 0..cols {
                let p = LpsPointMm(pos.0 + DVec3::new(c as f64 * sp, r as f64 * sp, 0.0));
                if let Some(got) = sample_at(&fixed.volume, p) {
                    // Rounding to integers in the input and in the output: at most 1 HU.
                    assert!(
                        (got - f64::from(px[[r, c]])).abs() <= 1.0,
                        "{got} vs {}",
                        px[[r, c]]
                    );
                    checked += 1;
                }
            }
        }
    }
    // Pixels outside the output are only those sheared out of the common region.
    assert!(checked > n * rows * cols * 3 / 4, "checked {checked}");
}

#[test]
fn a_removed_slice_gives_missing_slices_and_an_interpolated_uniform_volume() {
    let v = sample_volume();
    let depths: Vec<f64> = (0..12)
        .filter(|k| *k != 6)
        .map(|k| k as f64 * 2.0)
        .collect();
    let dir = straight_series(&v, &depths);
    let report = scan(dir.path());
    assert!(
        codes(&report).contains(&FindingCode::MissingSlices),
        "{:?}",
        codes(&report)
    );
    let out = load(&report.series[0], &LoadOptions::default(), None).unwrap();
    assert_eq!(out.volume.dims()[0], 12);
    assert!((out.volume.geometry.spacing.slice - 2.0).abs() < 1e-9);
    assert!(out.resampling.is_some());
    // The interpolated slice 6 is the mean of its neighbours.
    let a = out.volume.hu[[5, 100, 100]] as f64;
    let b = out.volume.hu[[7, 100, 100]] as f64;
    assert!((out.volume.hu[[6, 100, 100]] as f64 - (a + b) / 2.0).abs() <= 0.5);
}

#[test]
fn a_duplicated_slice_is_reported_and_never_stacked() {
    let v = sample_volume();
    let depths: Vec<f64> = (0..10).map(|k| k as f64 * 2.0).collect();
    let mut slices = straight_slices(&v, &depths);
    let dup = slices[4].clone();
    slices.push(dup);
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), &slices, v.geometry.spacing.col, None);
    let report = scan(dir.path());
    assert!(
        codes(&report).contains(&FindingCode::DuplicateSlices),
        "{:?}",
        codes(&report)
    );
    assert_eq!(report.series[0].images.len(), 10);
    let out = load(&report.series[0], &LoadOptions::default(), None).unwrap();
    assert_eq!(out.volume.dims()[0], 10);
    assert!(
        out.resampling.is_none(),
        "uniform after removing the duplicate"
    );
}

#[test]
fn mixed_spacing_is_reported_and_resampled_to_uniform() {
    let v = sample_volume();
    let depths = [0.0, 1.0, 2.0, 3.0, 4.0, 5.5, 7.0, 8.5, 10.0, 11.5, 13.0];
    let dir = straight_series(&v, &depths);
    let report = scan(dir.path());
    let c = codes(&report);
    assert!(c.contains(&FindingCode::VariableSliceDistance), "{c:?}");
    assert!(
        !c.contains(&FindingCode::MissingSlices),
        "1.5 mm is not >= 1.5 x 1.0 mm median? {c:?}"
    );
    let out = load(&report.series[0], &LoadOptions::default(), None).unwrap();
    assert_eq!(out.volume.dims()[0], 14);
    assert!((out.volume.geometry.spacing.slice - 1.0).abs() < 1e-9);
    // Output slices at original depths reproduce the originals exactly.
    let g = out.volume.geometry;
    for (k, z) in depths.iter().enumerate() {
        let m = (*z / 1.0).round() as usize;
        if (*z - m as f64).abs() < 1e-9 {
            let p = g.position(VoxelIndex::new(m, 0, 0).into());
            assert!((p.0.z - (700.0 + z)).abs() < 1e-6);
            assert_eq!(
                out.volume.hu.index_axis(Axis(0), m),
                v.hu.index_axis(Axis(0), 20 + k)
            );
        }
    }
    // With a user-chosen distance.
    let out = load(
        &report.series[0],
        &LoadOptions {
            slice_distance_mm: Some(0.5),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    assert_eq!(out.volume.dims()[0], 27);
}

#[test]
fn a_close_pair_does_not_set_the_output_slice_distance() {
    // Two slices 0.02 mm apart in a 1 mm series: the default used to be the smallest
    // distance, asking for 50 times the slices.
    let v = sample_volume();
    let mut depths: Vec<f64> = (0..20).map(f64::from).collect();
    depths.insert(6, 5.02);
    let dir = straight_series(&v, &depths);
    let report = scan(dir.path());
    let out = load(&report.series[0], &LoadOptions::default(), None).unwrap();
    let rec = out.resampling.expect("non-uniform: resampled");
    let dz = out.volume.geometry.spacing.slice;
    assert!((0.98 - 1e-9..=1.0 + 1e-9).contains(&dz), "dz {dz}");
    assert!(out.volume.dims()[0] <= 21, "{:?}", out.volume.dims());
    assert!(
        rec.slice_distance_rule.contains("half the median"),
        "{}",
        rec.slice_distance_rule
    );
}

#[test]
fn images_without_rescale_intercept_are_reported() {
    let v = sample_volume();
    let depths: Vec<f64> = (0..12).map(f64::from).collect();
    let dir = straight_series(&v, &depths);
    assert!(!codes(&scan(dir.path())).contains(&FindingCode::RescaleMissing));
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for p in &files[..3] {
        let mut obj = dicom_object::open_file(p).unwrap();
        obj.remove_element(dicom_dictionary_std::tags::RESCALE_INTERCEPT);
        obj.write_to_file(p).unwrap();
    }
    let report = scan(dir.path());
    let f = report.series[0]
        .findings
        .iter()
        .find(|f| f.code == FindingCode::RescaleMissing)
        .expect("reported");
    assert!(f.message.starts_with("3 of 12 images"), "{}", f.message);
}
