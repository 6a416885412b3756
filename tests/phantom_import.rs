//! Acceptance on the real CT exam in ../shared/data/ct-head-phantom: classification,
//! geometry, the NIfTI affine and the HU values.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{hounsfield, phantom, python, s};
use serde_json::Value;

fn series_by_number(j: &Value, n: i64) -> Vec<&Value> {
    j["series"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["series_number"] == n).collect())
        .unwrap_or_default()
}

#[test]
fn info_json_classifies_the_exam() {
    let Some(root) = phantom() else { return };
    let (code, out, err) = hounsfield(&["info", "--json", s(&root)]);
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).expect("info --json prints JSON");
    for n in [201, 202, 203] {
        let v = series_by_number(&j, n);
        assert_eq!(v.len(), 1, "series {n}");
        assert_eq!(v[0]["kind"], "volume", "series {n}");
    }
    let loc = series_by_number(&j, 100);
    assert_eq!(loc.len(), 1);
    assert_eq!(loc[0]["kind"], "localizer");
    let sc = series_by_number(&j, 401);
    assert!(!sc.is_empty());
    for x in sc {
        assert!(
            x["kind"] == "secondary-capture" || x["kind"] == "derived",
            "{x}"
        );
        assert_eq!(x["loadable"], false);
    }
    // Every DIRFILE is listed as skipped with a reason.
    let skipped = j["skipped"].as_array().expect("skipped list");
    let dirfiles: Vec<&Value> = skipped
        .iter()
        .filter(|x| x["path"].as_str().is_some_and(|p| p.ends_with("DIRFILE")))
        .collect();
    assert_eq!(dirfiles.len(), 6);
    assert!(
        dirfiles
            .iter()
            .all(|x| x["reason"].as_str().is_some_and(|r| r.contains("DICOMDIR")))
    );

    let s2030 = series_by_number(&j, 203)[0];
    assert_eq!(s2030["images"], 140);
    assert_eq!(s2030["rows"], 512);
    assert_eq!(s2030["columns"], 512);
    let ps = s2030["pixel_spacing_mm"][0].as_f64().unwrap_or(0.0);
    assert!((ps - 0.451).abs() < 0.001, "{ps}");
    for k in ["min", "median", "max"] {
        let d = s2030["slice_distance_mm"][k].as_f64().unwrap_or(0.0);
        assert!((d - 1.0).abs() < 1e-3, "{k} {d}");
    }
    assert_eq!(s2030["acquisition"]["reconstruction_kernel"][0], "YA");
    assert_eq!(s2030["acquisition"]["kvp"], 120.0);
    assert!(
        s2030["gantry_tilt_deg"]["measured"]
            .as_f64()
            .is_some_and(|t| t < 0.01)
    );

    let s2010 = series_by_number(&j, 201)[0];
    let codes: Vec<&str> = s2010["findings"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["code"].as_str()).collect())
        .unwrap_or_default();
    assert!(codes.contains(&"slice-distance-above-1mm"), "{codes:?}");
    let s2030_codes: Vec<&str> = s2030["findings"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["code"].as_str()).collect())
        .unwrap_or_default();
    assert!(!s2030_codes.contains(&"slice-distance-above-1mm"));
    assert!(
        s2030_codes.contains(&"old-acquisition"),
        "2015 data is old: {s2030_codes:?}"
    );
}

#[test]
fn convert_s2030_matches_dicom_geometry_and_values() {
    let Some(root) = phantom() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("s2030.nii.gz");
    let (code, _, err) = hounsfield(&["convert", s(&root), "--series", "203", "--out", s(&out)]);
    assert_eq!(code, 0, "{err}");
    assert!(dir.path().join("s2030.json").is_file());

    // Our own reader: voxel (0,0,k) lies at IPP of the k-th slice along the normal.
    let v = hounsfield::io::nifti::read_volume(&out).expect("reads back");
    assert_eq!(v.dims(), [140, 512, 512]);
    let report = hounsfield::dicom::scan_path(
        &root.join("S21570/S2030"),
        &hounsfield::dicom::ImportOptions::default(),
    )
    .expect("scan");
    let series = &report.volumes()[0];
    for k in [0usize, 1, 70, 139] {
        let ipp = series.images[k].position.expect("IPP");
        let p = v
            .geometry
            .position(hounsfield::geom::VoxelIndex::new(k, 0, 0).into());
        assert!((p.0 - ipp.0).length() < 1e-3, "slice {k}: {p:?} vs {ipp:?}");
    }

    // The independent check: nibabel + pydicom.
    let Some(py) = python() else { return };
    let check = common::repo().join("tests/py/check_convert.py");
    let o = std::process::Command::new(py)
        .args([s(&check), s(&out), s(&root.join("S21570/S2030"))])
        .output()
        .expect("python runs");
    assert!(
        o.status.success(),
        "check_convert.py failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let line = String::from_utf8_lossy(&o.stdout);
    assert!(line.contains("\"voxel_mismatches\": 0"), "{line}");
}

#[test]
fn convert_without_series_lists_choices_and_exits_2() {
    let Some(root) = phantom() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("x.nii");
    let (code, _, err) = hounsfield(&["convert", s(&root), "--out", s(&out)]);
    assert_eq!(code, 2);
    assert!(err.contains("--series 203"), "{err}");
    assert!(!out.exists());
    let (code, _, err) = hounsfield(&["convert", s(&root), "--series", "100", "--out", s(&out)]);
    assert_eq!(code, 2);
    assert!(err.contains("localizer"), "{err}");
}

#[test]
fn a_dicomdir_is_followed_to_its_images() {
    let Some(root) = phantom() else { return };
    // Philips DIRFILEs are DICOMDIRs; the root one lists the series' own DIRFILEs.
    let dirfile = root.join("S21570/DIRFILE");
    let (code, out, err) = hounsfield(&["info", "--json", "--headers-only", s(&dirfile)]);
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["files_scanned"], 315);
    assert_eq!(series_by_number(&j, 203)[0]["images"], 140);
    assert_eq!(j["series"].as_array().map(Vec::len), Some(8));
}

/// Before: File IDs were matched case-sensitively, so a disc mounted with lower-case names
/// imported nothing from its DICOMDIR.
#[test]
fn a_dicomdir_on_a_lower_case_copy_still_finds_its_images() {
    let Some(root) = phantom() else { return };
    let src = root.join("S21570/S2010");
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("s21570/s2010");
    std::fs::create_dir_all(&dst).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_lowercase();
        std::fs::copy(&p, dst.join(&name)).unwrap();
        n += 1;
    }
    let (code, out, err) =
        hounsfield(&["info", "--json", "--headers-only", s(&dst.join("dirfile"))]);
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    // Every file but the index itself is an image of the 5 mm series.
    assert_eq!(series_by_number(&j, 201)[0]["images"], n - 1, "{out}");
}
