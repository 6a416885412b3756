//! Segmentation acceptance on the real head phantom (S2030 in ../shared): the voxels of
//! threshold + largest component agree with numpy + scipy, a ten-operation log with brush
//! strokes replays bit for bit on one and two threads, and undo memory stays bounded.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{hounsfield, phantom, python, s};
use hounsfield::segment::{Operation, Session};
use std::process::Command;
use std::sync::Arc;

#[test]
fn threshold_and_largest_component_match_scipy() {
    let Some(root) = phantom() else { return };
    let dir = tempfile::tempdir().unwrap();
    let series = root.join("S21570/S2030");
    let vol = dir.path().join("s2030.nii.gz");
    let (code, _, err) = hounsfield(&["convert", s(&series), "--out", s(&vol)]);
    assert_eq!(code, 0, "{err}");
    let recipe = dir.path().join("recipe.json");
    std::fs::write(&recipe, r#"[{"op": "threshold", "lo": 226, "hi": 3071}, {"op": "keep_largest", "connectivity": 26}]"#).unwrap();
    let mask = dir.path().join("mask.nii.gz");
    let log = dir.path().join("log.json");
    let (code, out, err) = hounsfield(&[
        "segment",
        s(&series),
        "--recipe",
        s(&recipe),
        "--out",
        s(&mask),
        "--log",
        s(&log),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1954176 voxels"), "{err}");
    assert!(out.starts_with("final_hash "));
    let logj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
    assert_eq!(logj["final_hash"].as_str().map(str::len), Some(64));
    assert_eq!(logj["entries"][1]["op"]["op"], "keep_largest");

    let Some(py) = python() else { return };
    let o = Command::new(py)
        .args([
            s(&common::repo().join("tests/py/check_segment.py")),
            s(&vol),
            s(&mask),
            "226",
            "3071",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        text.contains("\"reference_voxels\": 1954176") && text.contains("\"differing_voxels\": 0"),
        "{text}"
    );
}

/// Fifteen different operation kinds on S2030, brush strokes among them (positions in LPS mm
/// inside the phantom: x -115.5..115.5, y -1.85..229.2, z 694.2..833.2).
const RECIPE: &str = r#"[
  {"op": "threshold_preset", "preset": "bone", "label": "bone"},
  {"op": "keep_largest", "connectivity": 26, "label": "bone"},
  {"op": "fill_holes", "per_slice": true, "label": "bone"},
  {"op": "close", "radius_mm": 1.0, "label": "bone"},
  {"op": "brush", "centres_mm": [[0, 100, 760], [10, 105, 760], [20, 110, 760]], "radius_mm": 2.5, "mode": "paint", "shape": "disc", "plane": "axial", "label": "bone"},
  {"op": "brush", "centres_mm": [[-30, 80, 770]], "radius_mm": 3.0, "mode": "erase", "shape": "sphere", "label": "bone", "hu_range": [226, 800]},
  {"op": "lasso", "points_mm": [[-10, 60, 750], [10, 60, 750], [10, 80, 750], [-10, 80, 750]], "plane": "axial", "mode": "paint", "label": "bone"},
  {"op": "connected_threshold", "seeds": [{"voxel": [66, 268, 398]}], "lo": 226, "hi": 3071, "label": "grown"},
  {"op": "boolean", "operation": "subtract", "a": "bone", "b": "grown", "into": "difference"},
  {"op": "remove_small", "min_volume_mm3": 10.0, "label": "difference"},
  {"op": "crop", "min_mm": [-100, 0, 700], "max_mm": [100, 220, 830], "label": "grown"},
  {"op": "dilate", "radius_mm": 0.5, "label": "grown"},
  {"op": "canny", "sigma_mm": 1.0, "low_hu_per_mm": 100, "high_hu_per_mm": 300, "per_slice": true, "label": "edges"},
  {"op": "kmeans", "k": 3, "keep": [2], "seed": 1, "label": "clusters"},
  {"op": "brush", "centres_mm": [[0, 110, 765]], "radius_mm": 4.0, "mode": "paint", "shape": "sphere", "label": "cv"},
  {"op": "chan_vese", "init": "cv", "iterations": 20, "margin_mm": 4.0},
  {"op": "watershed", "markers": ["cv", "difference"], "within": "bone"}
]"#;

#[test]
fn a_fifteen_operation_log_replays_on_one_and_two_threads() {
    let Some(root) = phantom() else { return };
    let dir = tempfile::tempdir().unwrap();
    let series = root.join("S21570/S2030");
    let recipe = dir.path().join("recipe.json");
    std::fs::write(&recipe, RECIPE).unwrap();
    let mut finals = Vec::new();
    for threads in ["1", "2"] {
        let log = dir.path().join(format!("log{threads}.json"));
        let mask = dir.path().join(format!("mask{threads}.nii.gz"));
        let o = Command::new(env!("CARGO_BIN_EXE_hounsfield"))
            .env("RAYON_NUM_THREADS", threads)
            .args([
                "segment",
                s(&series),
                "--recipe",
                s(&recipe),
                "--out",
                s(&mask),
                "--all-labels",
                "--log",
                s(&log),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        finals.push(String::from_utf8_lossy(&o.stdout).into_owned());
    }
    assert_eq!(finals[0], finals[1], "same final hash on 1 and 2 threads");
    // Replay the one-thread log on one and on two threads.
    let log = dir.path().join("log1.json");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
    let kinds: std::collections::BTreeSet<&str> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["op"]["op"].as_str())
        .collect();
    assert!(kinds.len() >= 10, "{kinds:?}");
    for threads in ["1", "2"] {
        let o = Command::new(env!("CARGO_BIN_EXE_hounsfield"))
            .env("RAYON_NUM_THREADS", threads)
            .args(["replay", s(&log), s(&series)])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "replay on {threads} threads:\n{text}");
        let steps = j["entries"].as_array().unwrap().len();
        assert_eq!(text.matches(": ok").count(), steps + 2, "{text}");
    }
}

#[test]
fn two_hundred_brush_strokes_undo_within_twice_one_mask() {
    let Some(root) = phantom() else { return };
    let report =
        hounsfield::dicom::scan_path(&root.join("S21570/S2030"), &Default::default()).unwrap();
    let v = hounsfield::dicom::load(report.volumes()[0], &Default::default(), None)
        .unwrap()
        .volume;
    let mut s = Session::new(Arc::new(v), "S2030", None, "test");
    let op = |j: &str| -> Operation { serde_json::from_str(j).unwrap() };
    s.apply(op(r#"{"op": "threshold", "lo": 226, "hi": 3071}"#))
        .unwrap();
    s.apply(op(r#"{"op": "keep_largest", "connectivity": 26}"#))
        .unwrap();
    let before = s.undo_bytes();
    let mask_bytes = s.segmentation().get("segment").unwrap().mask.size_bytes();
    let start = s.log().final_hash.clone();
    for n in 0..200 {
        let a = n as f64 * 0.37;
        let (x, y, z) = (
            60.0 * a.cos(),
            110.0 + 60.0 * a.sin(),
            700.0 + (n % 130) as f64,
        );
        let mode = if n % 3 == 0 { "erase" } else { "paint" };
        let j = format!(
            r#"{{"op": "brush", "centres_mm": [[{x}, {y}, {z}], [{}, {}, {z}]], "radius_mm": 2.5, "mode": "{mode}", "shape": "disc", "plane": "axial"}}"#,
            x + 3.0,
            y + 2.0
        );
        s.apply(op(&j)).unwrap();
    }
    let strokes = s.undo_bytes() - before;
    eprintln!(
        "undo: 200 strokes hold {strokes} bytes; threshold + keep_largest {before} bytes; one mask {mask_bytes} bytes"
    );
    assert!(
        s.undo_bytes() < 2 * mask_bytes,
        "all undo data {} >= 2 masks {}",
        s.undo_bytes(),
        2 * mask_bytes
    );
    let end = s.log().final_hash.clone();
    for _ in 0..200 {
        assert!(s.undo());
    }
    assert_eq!(s.log().final_hash, start);
    for _ in 0..200 {
        assert!(s.redo());
    }
    assert_eq!(s.log().final_hash, end);
}
