//! The `mesh` and `export-volume` commands end to end on the bundled sample (no ../shared
//! needed): files written atomically, sidecars with hashes, bad arguments exit 2.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{hounsfield, s};

fn bone_mask(dir: &std::path::Path) -> std::path::PathBuf {
    let recipe = dir.join("recipe.json");
    std::fs::write(&recipe, r#"[{"op": "threshold_preset", "preset": "bone"}, {"op": "keep_largest", "connectivity": 26}]"#).unwrap();
    let mask = dir.join("mask.nii.gz");
    let (code, _, err) = hounsfield(&[
        "segment",
        s(&common::sample()),
        "--recipe",
        s(&recipe),
        "--out",
        s(&mask),
    ]);
    assert_eq!(code, 0, "{err}");
    mask
}

#[test]
fn mesh_writes_every_format_with_a_certified_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let mask = bone_mask(dir.path());
    for ext in ["stl", "3mf", "obj"] {
        let out = dir.path().join(format!("bone.{ext}"));
        let (code, _, err) = hounsfield(&[
            "mesh",
            s(&mask),
            "--out",
            s(&out),
            "--smooth",
            "taubin:10",
            "--thin",
            "0.3",
        ]);
        assert_eq!(code, 0, "{ext}: {err}");
        let side: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("bone.{ext}.json"))).unwrap(),
        )
        .unwrap();
        for k in [
            "triangles",
            "vertices",
            "closed",
            "manifold",
            "outward",
            "self_intersections",
            "volume_mm3",
            "area_mm2",
            "smoothing",
            "thin_regions",
        ] {
            assert!(side.get(k).is_some(), "{ext}: missing {k}");
        }
        assert_eq!(side["closed"], true);
        assert!(side["smoothing"]["max_mm"].as_f64().is_some());
        // Smoothed: searched, not assumed.
        assert!(side["self_intersections"].as_u64().is_some());
        assert_eq!(
            side["reconstruction"]["labels"][0]["self_intersections_rule"],
            serde_json::Value::Null
        );
        let hash = blake3::hash(&std::fs::read(&out).unwrap())
            .to_hex()
            .to_string();
        assert_eq!(side["file"]["blake3"], hash);
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left behind");
}

#[test]
fn mesh_rejects_bad_arguments_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let mask = bone_mask(dir.path());
    let out = dir.path().join("x.stl");
    for args in [
        vec!["--smooth", "sinc:20"],
        vec!["--decimate", "1.5"],
        vec!["--label", "7"],
        vec!["--thin", "-1"],
    ] {
        let mut a = vec!["mesh", s(&mask), "--out", s(&out)];
        a.extend(args.iter().copied());
        let (code, _, err) = hounsfield(&a);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!out.exists());
    }
    let (code, _, _) = hounsfield(&["mesh", s(&mask), "--out", s(&dir.path().join("x.ply"))]);
    assert_eq!(code, 2);
}

#[test]
fn export_volume_writes_nifti_nrrd_and_outlines() {
    let dir = tempfile::tempdir().unwrap();
    let mask = bone_mask(dir.path());
    let vol = dir.path().join("vol.nii.gz");
    assert_eq!(
        hounsfield(&["convert", s(&common::sample()), "--out", s(&vol)]).0,
        0
    );
    let nrrd = dir.path().join("mask.nrrd");
    let hu = dir.path().join("bone_hu.nii.gz");
    let lines = dir.path().join("outlines.json");
    assert_eq!(
        hounsfield(&["export-volume", s(&mask), "--out", s(&nrrd)]).0,
        0
    );
    assert_eq!(
        hounsfield(&[
            "export-volume",
            s(&mask),
            "--out",
            s(&hu),
            "--masked-hu",
            s(&vol)
        ])
        .0,
        0
    );
    assert_eq!(
        hounsfield(&["export-volume", s(&mask), "--out", s(&lines)]).0,
        0
    );
    let head = std::fs::read(&nrrd).unwrap();
    let text = String::from_utf8_lossy(&head[..200.min(head.len())]).into_owned();
    assert!(
        text.starts_with("NRRD0004") && text.contains("left-posterior-superior"),
        "{text}"
    );
    let masked = hounsfield::io::nifti::read_volume(&hu).unwrap();
    let m = hounsfield::io::nifti::read_volume(&mask).unwrap();
    let v = hounsfield::io::nifti::read_volume(&vol).unwrap();
    for ((a, b), c) in masked.hu.iter().zip(m.hu.iter()).zip(v.hu.iter()) {
        assert_eq!(*a, if *b > 0 { *c } else { -1024 });
    }
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&lines).unwrap()).unwrap();
    assert_eq!(j["format"], "hounsfield-contours");
    assert!(j["slices"].as_array().unwrap().len() > 10);
    let side = dir.path().join("outlines.json.sidecar.json");
    assert!(side.is_file());
}

#[test]
fn render_writes_radiological_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let sample = common::sample();
    for (plane, extra) in [
        ("axial", vec!["--slab-mm", "20", "--mode", "mip"]),
        ("coronal", vec![]),
        ("sagittal", vec!["--mode", "minip", "--slab-mm", "4"]),
    ] {
        let out = dir.path().join(format!("{plane}.png"));
        let mut a = vec!["render", s(&sample), "--out", s(&out), "--plane", plane];
        a.extend(extra.iter().copied());
        let (code, _, err) = hounsfield(&a);
        assert_eq!(code, 0, "{plane}: {err}");
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
    }
    let (code, _, _) = hounsfield(&["render", s(&sample), "--out", s(&dir.path().join("x.jpg"))]);
    assert_eq!(code, 2);
}

/// The wall thickness measured on the mask reaches the sidecar and the operator: with a
/// limit of a few voxels the sample's skull has thin regions (each below the limit, none
/// thinner than one voxel); with a limit below one voxel it has none, and says so.
#[test]
fn mesh_reports_wall_thickness_measured_on_the_mask() {
    let dir = tempfile::tempdir().unwrap();
    let mask = bone_mask(dir.path());
    let out = dir.path().join("bone.stl");
    let measured = |limit: &str| {
        let (code, _, err) = hounsfield(&["mesh", s(&mask), "--out", s(&out), "--thin", limit]);
        assert_eq!(code, 0, "{err}");
        let side: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("bone.stl.json")).unwrap(),
        )
        .unwrap();
        // Unsmoothed marching cubes: the search is skipped, and the record says why.
        let label = &side["reconstruction"]["labels"][0];
        assert_eq!(side["self_intersections"], 0);
        assert!(
            label["self_intersections_rule"]
                .as_str()
                .is_some_and(|r| r.contains("cannot intersect")),
            "{label}"
        );
        (label["mask_thickness"].clone(), err)
    };
    let (m, err) = measured("3");
    assert!(err.contains("on the mask,"), "{err}");
    let regions = m["thin_regions"].as_array().unwrap();
    assert!(!regions.is_empty(), "{m}");
    assert!(m["thin_region_count"].as_u64().unwrap() >= regions.len() as u64);
    for r in regions {
        let t = r["thickness_mm"].as_f64().unwrap();
        assert!((0.9..3.0).contains(&t), "{r}");
    }
    let (m, err) = measured("0.3");
    assert_eq!(m["thin_region_count"], 0, "{m}");
    assert!(err.contains("no wall thinner than 0.3 mm"), "{err}");
}
