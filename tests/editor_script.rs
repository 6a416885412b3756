//! The editor's whole workflow as a script, played through the real window under Xvfb
//! (and offscreen): new case, acknowledgement, bone threshold with its preview, the head
//! holder cut away with the scissors, keep largest, a brush stroke undone and redone,
//! every axial slice verified, reconstruction with smoothing, STL/3MF/mask export, report.
//! The case it leaves must replay bit for bit and report full axial coverage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{hounsfield, repo, s, sample};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn check_case(case: &std::path::Path) {
    let (code, stdout, err) = hounsfield(&["replay", s(case)]);
    assert_eq!(code, 0, "{stdout}{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("report.json")).unwrap()).unwrap();
    let bone_axial = report["verification"]["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "bone" && c["orientation"] == "axial")
        .cloned()
        .unwrap();
    assert_eq!(bone_axial["verified"], bone_axial["planes"], "{bone_axial}");
    let ops: Vec<&str> = report["segmentation"]["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["threshold_preset", "scissors", "keep_largest", "brush"]
    );
    assert_eq!(
        report["segmentation"]["manual_edits"]["strokes"], 2,
        "scissors and brush"
    );
    let exports: Vec<&str> = report["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["record"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        exports,
        [
            "exports/bone.stl",
            "exports/bone.3mf",
            "exports/bone-mask.nii.gz"
        ]
    );
    assert_eq!(report["mesh_qc"]["certificates"]["bone"]["closed"], true);
}

#[test]
fn the_sample_editor_script_runs_in_a_window_under_xvfb() {
    let xvfb = std::process::Command::new("sh")
        .args(["-c", "command -v xvfb-run"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !xvfb {
        assert!(!in_ci(), "CI=true but xvfb-run is missing");
        eprintln!("skipping: no xvfb-run");
        return;
    }
    if let Err(e) = hounsfield::gpu::Gpu::headless() {
        assert!(!in_ci(), "CI=true but no GPU adapter: {e}");
        eprintln!("skipping: {e}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("window.hfcase");
    let shots = dir.path().join("shots");
    std::fs::create_dir(&shots).unwrap();
    let script = repo().join("assets/scripts/sample-editor.json");
    let o = std::process::Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x1024x24"])
        .arg(env!("CARGO_BIN_EXE_hounsfield"))
        .args([
            "view",
            s(&sample()),
            "--in-window",
            "--size",
            "1280x800",
            "--script",
        ])
        .arg(&script)
        .arg("--case")
        .arg(&case)
        .arg("--screenshot-dir")
        .arg(&shots)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    for name in ["01-threshold-preview", "03-verified", "04-model"] {
        assert!(shots.join(format!("{name}.png")).is_file(), "{name}");
    }
    check_case(&case);
}

#[test]
fn the_same_script_offscreen_gives_the_same_exports() {
    if let Err(e) = hounsfield::gpu::Gpu::headless() {
        assert!(!in_ci(), "CI=true but no GPU adapter: {e}");
        eprintln!("skipping: {e}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = repo().join("assets/scripts/sample-editor.json");
    let mut cases = Vec::new();
    for n in ["a", "b"] {
        let case = dir.path().join(format!("{n}.hfcase"));
        let (code, out, err) = hounsfield(&[
            "view",
            s(&sample()),
            "--script",
            s(&script),
            "--case",
            s(&case),
            "--screenshot-dir",
            s(dir.path()),
        ]);
        assert_eq!(code, 0, "{out}{err}");
        check_case(&case);
        cases.push(case);
    }
    // Two plays of the same script: the same mask and model, byte for byte.
    for f in ["bone.stl", "bone.3mf", "bone-mask.nii.gz"] {
        assert_eq!(
            std::fs::read(cases[0].join("exports").join(f)).unwrap(),
            std::fs::read(cases[1].join("exports").join(f)).unwrap(),
            "{f}"
        );
    }
    // A script error names the command and exits 1; a bad script exits 2 before running.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"cmd": "apply_threshold"}]"#).unwrap();
    let (code, _, err) = hounsfield(&["view", s(&sample()), "--script", s(&bad)]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("script command 1") && err.contains("case"),
        "{err}"
    );
    std::fs::write(&bad, r#"[{"cmd": "apply_treshold"}]"#).unwrap();
    let (code, _, err) = hounsfield(&["view", s(&sample()), "--script", s(&bad)]);
    assert_eq!(code, 2, "{err}");
}
