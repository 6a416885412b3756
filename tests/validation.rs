//! The validation suite (ISO/IEC 3532-1 §6.5): phantoms of known geometry are generated,
//! read back by independent tools, taken through `hounsfield validate` (the same code as
//! `run`), and their errors held to stated tolerances — tight enough that a half-voxel
//! shift in the geometry, a swapped axis, a wrong spacing, an uncorrected tilt or a
//! smoothing that shrinks small objects makes a test here fail.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{hounsfield, s};
use serde_json::Value;
use std::path::Path;

/// Generates a phantom with `args` into `dir/name` and validates it (optionally with a
/// recipe); returns validation.json.
fn validate(dir: &Path, name: &str, args: &[&str], recipe: Option<&str>) -> Value {
    let ph = dir.join(name);
    let mut a = vec!["phantom", "--out", s(&ph), "--study-date", "20261201"];
    a.extend_from_slice(args);
    let (code, out, err) = hounsfield(&a);
    assert_eq!(code, 0, "{out}{err}");
    let case = dir.join(format!("{name}-validation.hfcase"));
    let mut v = vec!["validate", s(&ph), "--out", s(&case), "--operator", "test"];
    let rp = dir.join(format!("{name}.recipe.json"));
    if let Some(r) = recipe {
        std::fs::write(&rp, r).unwrap();
        v.extend_from_slice(&["--recipe", s(&rp)]);
    }
    let (code, out, err) = hounsfield(&v);
    assert_eq!(code, 0, "{out}{err}");
    eprintln!("{name}:\n{out}");
    let text = std::fs::read_to_string(case.join("validation.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn object<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no object {name}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn dimension(o: &Value, name: &str) -> (f64, f64) {
    let d = o["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no dimension {name} in {}", o["name"]));
    (f(&d["true_mm"]), f(&d["error_mm"]))
}

/// Every object found, where it belongs, with its dimensions and surface within
/// `tol` (per the stated table); the import's geometry as generated.
struct Tolerances {
    sphere_diameter_mm: f64,
    sphere_p95_mm: f64,
    centroid_mm: f64,
    planar_centroid_mm: f64,
    dice: f64,
    dome_mm: f64,
}

fn check(v: &Value, t: &Tolerances) {
    assert_eq!(v["import"]["matches"], true, "{}", v["import"]);
    assert_eq!(v["stray_model_vertices"], 0);
    assert_eq!(v["stray_mask_voxels"], 0);
    for o in v["objects"].as_array().unwrap() {
        let name = o["name"].as_str().unwrap();
        assert_eq!(o["found"], true, "{name}");
        assert!(f(&o["dice"]) >= t.dice, "{name} Dice {}", o["dice"]);
        let c = f(&o["centroid_error_mm"]);
        let limit = match o["kind"].as_str().unwrap() {
            // A binary surface puts a plane face half-way between voxel centres: the face
            // may sit up to half a voxel off, and so may the centroid of an object with
            // flat faces across the grid (blocks, steps, a cylinder's ends).
            "block" | "steps" | "cylinder" => t.planar_centroid_mm,
            _ => t.centroid_mm,
        };
        assert!(c <= limit, "{name}: centroid off by {c} mm (limit {limit})");
    }
    for name in ["sphere-20", "sphere-10", "sphere-5"] {
        let o = object(v, name);
        let (_, e) = dimension(o, "diameter");
        assert!(e.abs() <= t.sphere_diameter_mm, "{name} diameter error {e}");
        for dir in ["model_to_truth", "truth_to_model"] {
            let p95 = f(&o[dir]["p95_mm"]);
            assert!(p95 < t.sphere_p95_mm, "{name} {dir} p95 {p95}");
        }
    }
    let dome = object(v, "dome");
    for d in [
        "wall thickness",
        "defect diameter at the outer surface",
        "outer radius",
    ] {
        let (_, e) = dimension(dome, d);
        assert!(e.abs() <= t.dome_mm, "dome {d} error {e}");
    }
}

#[test]
fn a_half_millimetre_phantom_validates_within_the_stated_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Slices 0.6 mm thick every 0.5 mm (overlapping, as scanners often reconstruct): the
    // distance must come from the positions, never from Slice Thickness.
    let v = validate(
        dir.path(),
        "iso05",
        &["--noise", "10", "--slice-thickness", "0.6"],
        None,
    );
    // Acceptance: 0.5 mm isotropic, mild noise, half-way threshold, no smoothing.
    check(
        &v,
        &Tolerances {
            sphere_diameter_mm: 0.1,
            sphere_p95_mm: 0.25,
            centroid_mm: 0.05,
            planar_centroid_mm: 0.25,
            dice: 0.98,
            dome_mm: 0.1,
        },
    );
    // Plates of 2, 1 and 0.5 mm are all there, their thickness within half a voxel.
    for p in ["plate-2", "plate-1", "plate-0.5"] {
        let (_, e) = dimension(object(&v, p), "size x");
        assert!(e.abs() <= 0.25, "{p} thickness error {e}");
    }
    // The independent readers.
    if let Some(py) = common::python()
        && common::have_dcm2niix()
    {
        let out = common::run_checker(
            &py,
            "check_phantom.py",
            &[
                s(&dir.path().join("iso05")),
                s(&dir.path().join("dcm2niix")),
            ],
        );
        assert!(out.contains("\"ok\": true"), "{out}");
    }
}

#[test]
fn a_clinical_grid_with_tilt_validates_within_the_stated_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Like the real phantom: 0.45 mm pixels, 1 mm slices; and tilted by 15°, which the
    // import must measure and correct (else every object off-centre in y moves in z).
    let v = validate(
        dir.path(),
        "tilt",
        &[
            "--pixel-spacing",
            "0.45",
            "--slice-increment",
            "1",
            "--tilt",
            "15",
            "--noise",
            "20",
        ],
        None,
    );
    assert_eq!(
        v["import"]["findings"],
        serde_json::json!(["gantry-tilt"]),
        "{}",
        v["import"]
    );
    assert!((f(&v["import"]["measured_tilt_deg"]).abs() - 15.0).abs() < 0.01);
    check(
        &v,
        &Tolerances {
            sphere_diameter_mm: 0.15,
            sphere_p95_mm: 0.45,
            centroid_mm: 0.1,
            planar_centroid_mm: 0.35,
            dice: 0.96,
            dome_mm: 0.2,
        },
    );
    if let Some(py) = common::python()
        && common::have_dcm2niix()
    {
        let out = common::run_checker(
            &py,
            "check_phantom.py",
            &[s(&dir.path().join("tilt")), s(&dir.path().join("dcm2niix"))],
        );
        assert!(out.contains("\"ok\": true"), "{out}");
    }
}

#[test]
fn smoothing_shrinks_small_objects_no_more_than_stated() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"{
        "source": {"path": "."},
        "purpose": {"category": "other", "text": "validation of the smoothed model"},
        "label": "phantom",
        "segmentation": [{"op": "threshold", "lo": 541, "hi": 3071}],
        "reconstruction": {"smooth": "sinc:20:0.1", "allow_defects": true}
    }"#;
    let v = validate(
        dir.path(),
        "smooth",
        &["--objects", "sphere-20,sphere-10,sphere-5,dome"],
        Some(recipe),
    );
    // Windowed sinc keeps volume; the 5 mm sphere may lose at most 0.1 mm of diameter.
    for name in ["sphere-20", "sphere-10", "sphere-5"] {
        let o = object(&v, name);
        let (_, e) = dimension(o, "diameter");
        assert!(e.abs() <= 0.1, "{name}: smoothed diameter error {e}");
        assert!(f(&o["model_volume_error_pct"]).abs() < 3.0, "{name}");
    }
}

#[test]
fn bad_phantom_requests_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // Absurd size: refused before any allocation.
    let (code, _, err) = hounsfield(&[
        "phantom",
        "--out",
        s(&p.join("huge")),
        "--pixel-spacing",
        "0.01",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("matrix"), "{err}");
    assert!(!p.join("huge").exists());
    let (code, _, err) = hounsfield(&["phantom", "--out", s(&p.join("t")), "--tilt", "45"]);
    assert_eq!(code, 2);
    assert!(err.contains("±30"), "{err}");
    let (code, _, err) = hounsfield(&["phantom", "--out", s(&p.join("o")), "--objects", "cube"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a standard object"), "{err}");
    // Not a phantom folder.
    std::fs::create_dir_all(p.join("empty")).unwrap();
    let (code, _, err) = hounsfield(&[
        "validate",
        s(&p.join("empty")),
        "--out",
        s(&p.join("v.hfcase")),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a Hounsfield phantom folder"), "{err}");
    // A folder that is not empty is never written into.
    std::fs::write(p.join("empty/keep.txt"), "x").unwrap();
    let (code, _, err) = hounsfield(&["phantom", "--out", s(&p.join("empty"))]);
    assert_eq!(code, 2);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(std::fs::read_dir(p.join("empty")).unwrap().count(), 1);
}

/// `compare` through the CLI: a model against itself gives 0, against a sphere 0.5 mm
/// larger 0.5 mm; a mask against itself Dice 1; mixed or broken inputs are refused.
#[test]
fn compare_reads_models_and_masks_and_measures_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let sphere = |name: &str, d: f64| {
        let spec = serde_json::json!({
            "pixel_spacing_mm": 0.5, "slice_increment_mm": 0.5, "slice_thickness_mm": 0.5,
            "gantry_tilt_deg": 0.0, "field_of_view_mm": 40.0,
            "grid_offset_mm": [0.1371, 0.0713, 0.1637], "supersampling": 4,
            "blur_fwhm_mm": 0.0, "noise_sd_hu": 0.0, "seed": 1,
            "materials": {"air_hu": -1000.0, "tissue_hu": 40.0, "bone_hu": 1040.0},
            "study_date": "20261201",
            "objects": [{"name": "ball", "shape": {"kind": "sphere", "centre_mm": [1.0, 2.0, 0.5], "diameter_mm": d}}]
        });
        let sp = p.join(format!("{name}.spec.json"));
        std::fs::write(&sp, spec.to_string()).unwrap();
        let out = p.join(name);
        let (code, o, e) = hounsfield(&["phantom", "--spec", s(&sp), "--out", s(&out)]);
        assert_eq!(code, 0, "{o}{e}");
        out
    };
    let a = sphere("a", 10.0).join("reference.stl");
    let b = sphere("b", 11.0).join("reference.stl");
    let json = |args: &[&str]| -> Value {
        let (code, out, err) = hounsfield(args);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let same = json(&["compare", s(&a), s(&a), "--json"]);
    assert_eq!(f(&same["hausdorff_mm"]), 0.0);
    let c = json(&["compare", s(&a), s(&b), "--json"]);
    for d in ["a_to_b", "b_to_a"] {
        let mean = f(&c[d]["mean_mm"]);
        assert!((mean - 0.5).abs() <= 0.02, "{d}: {mean}");
    }
    // Masks: the phantom thresholded by `segment`, against itself.
    let mask = common::segment_to(
        p,
        &p.join("a"),
        r#"[{"op": "threshold", "lo": 541, "hi": 3071}]"#,
        "a-mask",
    );
    let m = json(&["compare", s(&mask), s(&mask), "--json"]);
    assert_eq!(f(&m["dice"]), 1.0);
    assert_eq!(f(&m["hausdorff95_mm"]), 0.0);
    // The same model written as STL and as 3MF reads back alike.
    let (stl, tmf) = (p.join("m.stl"), p.join("m.3mf"));
    for out in [&stl, &tmf] {
        let (code, o, e) = hounsfield(&["mesh", s(&mask), "--out", s(out), "--allow-defects"]);
        assert_eq!(code, 0, "{o}{e}");
    }
    let x = json(&["compare", s(&stl), s(&tmf), "--json"]);
    assert!(f(&x["hausdorff_mm"]) < 1e-4, "{x}");
    // One of each, and a broken model, are refused with a reason.
    let (code, _, err) = hounsfield(&["compare", s(&a), s(&mask)]);
    assert_eq!(code, 2);
    assert!(err.contains("not one of each"), "{err}");
    let broken = p.join("broken.stl");
    std::fs::write(&broken, b"solid nothing").unwrap();
    let (code, _, err) = hounsfield(&["compare", s(&broken), s(&a)]);
    assert_eq!(code, 2);
    assert!(err.contains("too short"), "{err}");
}

/// `sweep` of the threshold on a phantom: one row per value, the value the recipe names
/// equal to the reference, the volume falling as the threshold rises; files written.
#[test]
fn a_threshold_sweep_gives_a_row_per_value_against_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let ph = p.join("ph");
    let (code, o, e) = hounsfield(&["phantom", "--out", s(&ph), "--objects", "sphere-20,plate-1"]);
    assert_eq!(code, 0, "{o}{e}");
    let recipe = p.join("r.json");
    std::fs::write(&recipe, r#"[{"op": "threshold", "lo": 541, "hi": 3071}]"#).unwrap();
    let out = p.join("sweep");
    let (code, o, e) = hounsfield(&[
        "sweep",
        s(&ph),
        "--recipe",
        s(&recipe),
        "--vary",
        "1.lo",
        "--values",
        "291:791:250",
        "--out",
        s(&out),
    ]);
    assert_eq!(code, 0, "{o}{e}");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(f(&rows[1]["value"]), 541.0);
    assert_eq!(f(&rows[1]["mask"]["dice"]), 1.0);
    assert_eq!(f(&rows[1]["surface_hausdorff_mm"]), 0.0);
    let vol: Vec<f64> = rows.iter().map(|r| f(&r["volume_mm3"])).collect();
    assert!(vol[0] > vol[1] && vol[1] > vol[2], "{vol:?}");
    assert!(
        std::fs::read_to_string(out.join("sweep.html"))
            .unwrap()
            .contains("<svg")
    );
    assert_eq!(
        std::fs::read_to_string(out.join("sweep.csv"))
            .unwrap()
            .lines()
            .count(),
        4
    );
    // A field the step does not have is named, with the fields it has.
    let (code, _, err) = hounsfield(&[
        "sweep",
        s(&ph),
        "--recipe",
        s(&recipe),
        "--vary",
        "1.low",
        "--values",
        "1:2:1",
        "--out",
        s(&p.join("x")),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no field `low` (its fields: hi, lo)"), "{err}");
}

/// A validation attached to a case through the recipe: recorded in the journal with the
/// file's hash, and the report's section 13 says whether it validated these parameters.
#[test]
fn a_recipe_attaches_its_validation_and_the_report_says_if_the_parameters_match() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let recipe = |lo: i32, validation: Option<&Path>| {
        serde_json::json!({
            "source": {"path": s(&common::sample())},
            "purpose": {"category": "education", "text": "attached validation test"},
            "operator": "tester",
            "acknowledge": ["old-acquisition", "slice-distance-above-1mm"],
            "label": "bone",
            "segmentation": [{"op": "threshold", "lo": lo, "hi": 3071}],
            "reconstruction": {"smooth": "sinc:20:0.2", "allow_defects": true},
            "validation": validation.map(s),
        })
        .to_string()
    };
    // The pipeline validated on a phantom (the recipe's source is replaced by it).
    let v = validate(
        p,
        "attach",
        &["--objects", "sphere-10,dome"],
        Some(&recipe(541, None)),
    );
    assert_eq!(v["import"]["matches"], true);
    let vcase = p.join("attach-validation.hfcase");
    for (lo, same) in [(541, true), (226, false)] {
        let r = p.join(format!("clinical-{lo}.json"));
        std::fs::write(&r, recipe(lo, Some(&vcase))).unwrap();
        let case = p.join(format!("clinical-{lo}.hfcase"));
        let (code, out, err) = hounsfield(&["run", s(&r), "--out", s(&case)]);
        assert_eq!(code, 0, "{out}{err}");
        let files = hounsfield::case::CaseFiles::read(&case).unwrap();
        assert!(files.events.iter().any(|e| e.name() == "validated"));
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("report.json")).unwrap())
                .unwrap();
        let state = report["validation"]["state"].as_str().unwrap();
        assert_eq!(state.contains("these parameters"), same, "{state}");
        assert_eq!(state.contains("other segmentation"), !same, "{state}");
        assert_eq!(
            report["validation"]["result"]["objects"][0]["name"],
            "sphere-10"
        );
        let html = std::fs::read_to_string(case.join("report.html")).unwrap();
        assert!(html.contains("was validated on the phantom"));
        // The case replays with the validation in its journal.
        let (code, out, err) = hounsfield(&["replay", s(&case)]);
        assert_eq!(code, 0, "{out}{err}");
    }
    // The two cases' labels compared straight from the cases (each replayed on opening).
    let label = |lo: i32| format!("{}#bone", s(&p.join(format!("clinical-{lo}.hfcase"))));
    let (code, out, err) = hounsfield(&["compare", &label(541), &label(226), "--json"]);
    assert_eq!(code, 0, "{err}");
    let m: Value = serde_json::from_str(&out).unwrap();
    assert!(f(&m["dice"]) > 0.5 && f(&m["dice"]) < 1.0, "{m}");
    assert!(f(&m["volume_b_mm3"]) > f(&m["volume_a_mm3"]));
    let (code, _, err) = hounsfield(&[
        "compare",
        &label(541),
        &format!("{}#nothing", s(&p.join("clinical-541.hfcase"))),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("`nothing` does not exist"), "{err}");
    // A missing validation is refused naming the field.
    let r = p.join("missing.json");
    std::fs::write(&r, recipe(541, Some(&p.join("nowhere.hfcase")))).unwrap();
    let (code, _, err) = hounsfield(&["run", s(&r), "--out", s(&p.join("m.hfcase"))]);
    assert_ne!(code, 0);
    assert!(err.contains("recipe field `validation`"), "{err}");
}

/// A table step twice the others (a missing slice): the import names both findings,
/// fills the one slice by interpolation, and the objects still measure right.
#[test]
fn a_missing_slice_is_found_filled_and_the_objects_still_measure_right() {
    let dir = tempfile::tempdir().unwrap();
    let v = validate(
        dir.path(),
        "gap",
        &["--objects", "sphere-20,sphere-10,dome", "--gap", "24:0.5"],
        None,
    );
    // And a smaller extra step: a variable distance, no missing slice.
    let w = validate(
        dir.path(),
        "variable",
        &[
            "--objects",
            "sphere-20",
            "--gap",
            "10:0.2",
            "--gap",
            "30:0.1",
        ],
        None,
    );
    assert_eq!(w["import"]["matches"], true, "{}", w["import"]);
    assert_eq!(
        w["import"]["findings"],
        serde_json::json!(["variable-slice-distance"])
    );
    let (_, e) = dimension(object(&w, "sphere-20"), "diameter");
    assert!(
        e.abs() <= 0.1,
        "sphere-20 diameter error {e} with variable spacing"
    );
    assert_eq!(v["import"]["matches"], true, "{}", v["import"]);
    assert_eq!(
        v["import"]["expected_findings"],
        serde_json::json!(["missing-slices"])
    );
    for name in ["sphere-20", "sphere-10"] {
        let o = object(&v, name);
        let (_, e) = dimension(o, "diameter");
        assert!(e.abs() <= 0.1, "{name} diameter error {e}");
        assert!(f(&o["centroid_error_mm"]) <= 0.1, "{name}");
    }
    if let Some(py) = common::python()
        && common::have_dcm2niix()
    {
        let out = common::run_checker(
            &py,
            "check_phantom.py",
            &[s(&dir.path().join("gap")), s(&dir.path().join("dcm2niix"))],
        );
        assert!(out.contains("\"ok\": true"), "{out}");
    }
}

/// The bone pipeline itself — threshold half-way, keep the largest 26-connected component,
/// no smoothing — on each sphere alone (keep largest would keep one object of many):
/// 0.5 mm isotropic, mild noise; diameters within 0.1 mm, surface p95 under 0.25 mm.
#[test]
fn threshold_and_keep_largest_measure_each_sphere_within_a_tenth_of_a_millimetre() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"{
        "source": {"path": "."},
        "purpose": {"category": "other", "text": "the bone pipeline on one sphere"},
        "label": "phantom",
        "segmentation": [{"op": "threshold", "lo": 541, "hi": 3071},
                         {"op": "keep_largest", "connectivity": 26}],
        "reconstruction": {"allow_defects": true}
    }"#;
    for name in ["sphere-20", "sphere-10", "sphere-5"] {
        let v = validate(
            dir.path(),
            name,
            &["--objects", name, "--noise", "10", "--matrix", "280"],
            Some(recipe),
        );
        assert_eq!(v["import"]["matches"], true);
        let o = object(&v, name);
        let (_, e) = dimension(o, "diameter");
        assert!(e.abs() <= 0.1, "{name} diameter error {e}");
        for d in ["model_to_truth", "truth_to_model"] {
            let p95 = f(&o[d]["p95_mm"]);
            assert!(p95 < 0.25, "{name} {d} p95 {p95}");
        }
    }
}
