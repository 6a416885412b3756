//! Reconstruction acceptance on the real head phantom (S2030 in ../shared): the bone mask
//! (226–3071 HU, largest component) to STL and 3MF; trimesh, admesh and lib3mf judge the
//! files; the enclosed volume matches the voxels; smoothing reports its deviation.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{hounsfield, phantom, python, s};
use std::process::Command;

#[test]
fn bone_model_is_watertight_for_trimesh_admesh_and_lib3mf() {
    let Some(root) = phantom() else { return };
    let dir = tempfile::tempdir().unwrap();
    let series = root.join("S21570/S2030");
    let mask = common::segment_to(dir.path(), &series, common::BONE_RECIPE, "bone");
    let stl = dir.path().join("bone.stl");
    let threemf = dir.path().join("bone.3mf");
    let (code, _, err) = hounsfield(&["mesh", s(&mask), "--out", s(&stl), "--series-uid", "1.2.3"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = hounsfield(&[
        "mesh",
        s(&mask),
        "--out",
        s(&threemf),
        "--no-self-intersections",
    ]);
    assert_eq!(code, 0, "{err}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bone.stl.json")).unwrap())
            .unwrap();
    assert_eq!(report["closed"], true);
    assert_eq!(report["manifold"], true);
    assert_eq!(report["outward"], true);
    assert_eq!(report["self_intersections"], 0);
    assert_eq!(report["smoothing"], serde_json::Value::Null);
    let triangles = report["triangles"].as_u64().unwrap();
    assert_eq!(
        triangles, 1_575_880,
        "same count as VTK's flying edges on the padded mask"
    );
    // 1,954,176 voxels of 0.451171875 x 0.451171875 x 1 mm.
    let voxels_mm3 = 1_954_176.0 * 0.451171875f64 * 0.451171875 * 1.0;
    let vol = report["volume_mm3"].as_f64().unwrap();
    assert!(
        (vol / voxels_mm3 - 1.0).abs() < 0.02,
        "{vol} vs {voxels_mm3}"
    );
    let hash = blake3::hash(&std::fs::read(&stl).unwrap())
        .to_hex()
        .to_string();
    assert_eq!(report["file"]["blake3"], hash);

    // admesh: no disconnected facets, nothing to fix.
    match Command::new("admesh").arg(&stl).output() {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(
                text.contains("Total disconnected facets        :     0"),
                "{text}"
            );
            assert!(text.contains("Facets reversed       :     0"), "{text}");
            assert!(text.contains("Normals fixed         :     0"), "{text}");
        }
        Err(e) => common::skip(&format!(
            "admesh cannot run: {e} (run packaging/setup-debian.sh)"
        )),
    }

    let Some(py) = python() else { return };
    let text = common::run_checker(&py, "check_mesh.py", &[s(&stl)]);
    assert!(
        text.contains("\"is_watertight\": true")
            && text.contains("\"is_winding_consistent\": true"),
        "{text}"
    );
    let counts = format!("{}:{}", report["vertices"], triangles);
    let text = common::run_checker(&py, "check_3mf.py", &[s(&threemf), &counts, "--manifold"]);
    assert!(
        text.contains(" 0 warnings") && text.contains("OK"),
        "{text}"
    );
}

#[test]
fn sinc_smoothing_reports_a_plausible_deviation() {
    let Some(root) = phantom() else { return };
    let dir = tempfile::tempdir().unwrap();
    let series = root.join("S21570/S2030");
    let mask = common::segment_to(dir.path(), &series, common::BONE_RECIPE, "bone");
    let out = dir.path().join("smooth.obj");
    let (code, _, err) = hounsfield(&[
        "mesh",
        s(&mask),
        "--out",
        s(&out),
        "--smooth",
        "sinc:20:0.1",
        "--no-self-intersections",
    ]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("smooth.obj.json")).unwrap())
            .unwrap();
    let sm = &r["smoothing"];
    let diagonal = (0.451171875f64.powi(2) * 2.0 + 1.0).sqrt();
    let max = sm["max_mm"].as_f64().unwrap();
    assert!(
        max > 0.05 && max < diagonal,
        "max {max} mm vs voxel diagonal {diagonal}"
    );
    for k in [
        "mean_mm",
        "rms_mm",
        "p95_mm",
        "volume_change_pct",
        "area_beyond_tolerance_mm2",
    ] {
        assert!(sm[k].as_f64().is_some(), "{k}");
    }
    assert!(sm["volume_change_pct"].as_f64().unwrap().abs() < 0.5);
    assert_eq!(r["closed"], true);
}
