//! The case end to end: `run` on the phantom writes every export and both reports, filled
//! from the run (checked against pydicom, nibabel, trimesh); the same recipe twice gives
//! the same bytes; `replay` checks the source byte for byte and follows a moved folder;
//! unacknowledged findings stop a run; outputs never overwrite inputs; the phantom goes
//! through a real Orthanc (DIMSE and DICOMweb) and its segmentation back.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{hounsfield, run_checker, s};
use std::path::{Path, PathBuf};

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Copies the files of a folder (not recursive).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A recipe for the bundled sample (or a copy of it) at `source`, acknowledging `ack`.
fn sample_recipe(dir: &Path, source: &Path, ack: &[&str]) -> PathBuf {
    let r = serde_json::json!({
        "source": {"path": source},
        "purpose": {"category": "education", "text": "test: skull of the sample"},
        "operator": "test",
        "acknowledge": ack,
        "label": "bone",
        "segmentation": [
            {"op": "threshold", "lo": 226, "hi": 3071},
            {"op": "keep_largest", "connectivity": 26}
        ],
        "exports": [{"file": "bone.stl"}, {"file": "bone-mask.nii.gz"}]
    });
    let p = dir.join(format!("recipe-{}.json", ack.len()));
    std::fs::write(&p, serde_json::to_string_pretty(&r).unwrap()).unwrap();
    p
}

#[test]
fn phantom_recipe_writes_the_case_its_exports_and_a_report_filled_from_the_run() {
    let Some(phantom) = common::phantom() else {
        return;
    };
    let Some(py) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let recipe = common::repo().join("assets/recipes/phantom-bone.json");
    let a = dir.path().join("a.hfcase");
    let b = dir.path().join("b.hfcase");
    for out in [&a, &b] {
        let (code, stdout, err) = hounsfield(&["run", s(&recipe), "--out", s(out)]);
        assert_eq!(code, 0, "{err}");
        assert!(stdout.contains("final_hash"), "{stdout}");
    }
    for f in [
        "case.json",
        "journal.hfj",
        "log.json",
        "report.json",
        "report.html",
    ] {
        assert!(a.join(f).is_file(), "{f} missing");
    }
    // Every contract key, filled.
    let report = read_json(&a.join("report.json"));
    for k in [
        "acquisition",
        "purpose",
        "segmentation",
        "verification",
        "reconstruction",
        "mesh_qc",
        "review",
        "exports",
        "reproducibility",
    ] {
        assert!(
            report.get(k).is_some_and(|v| !v.is_null()),
            "report.json lacks {k}"
        );
    }
    assert_eq!(report["acquisition"]["series_number"], 203);
    assert_eq!(report["purpose"]["category"], "anatomical-model");
    assert_eq!(report["verification"]["state"], "none");
    assert_eq!(report["review"]["state"], "none");
    assert_eq!(
        report["feasibility"]["acknowledgements"][0]["codes"][0],
        "old-acquisition"
    );
    // The segmentation steps are the recipe's, with their parameters.
    let recipe_json = read_json(&recipe);
    let ops = report["segmentation"]["operations"].as_array().unwrap();
    assert_eq!(
        ops.len(),
        recipe_json["segmentation"].as_array().unwrap().len()
    );
    for (op, want) in ops
        .iter()
        .zip(recipe_json["segmentation"].as_array().unwrap())
    {
        assert_eq!(op["op"], want["op"]);
        for (k, v) in want.as_object().unwrap() {
            if k != "op" {
                assert_eq!(&op["parameters"][k], v, "{k}");
            }
        }
    }
    let rec = &report["reconstruction"]["records"][0]["record"];
    assert!(rec["options"]["smoothing"]["iterations"] == 20);
    assert!(rec["labels"][0]["smoothing"]["max_mm"].as_f64().unwrap() > 0.0);
    assert_eq!(report["mesh_qc"]["certificates"]["bone"]["closed"], true);
    // Exports: the recorded blake3 is the file's.
    let exports = report["exports"].as_array().unwrap();
    assert_eq!(exports.len(), 4);
    for x in exports {
        let path = a.join(x["record"]["path"].as_str().unwrap());
        let h = blake3::hash(&std::fs::read(&path).unwrap())
            .to_hex()
            .to_string();
        assert_eq!(x["record"]["blake3"], h, "{}", path.display());
        assert_eq!(x["state"], "matches");
        assert_eq!(x["record"]["units"], "mm");
        // Acceptance 2: the second run wrote the same bytes.
        let other = b.join(x["record"]["path"].as_str().unwrap());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&other).unwrap(),
            "{} differs between two runs of the same recipe",
            x["record"]["path"]
        );
    }
    assert_eq!(
        report["reproducibility"]["final_hash"],
        read_json(&b.join("report.json"))["reproducibility"]["final_hash"]
    );
    // Independent readers agree with the report: pydicom (kVp, kernel, scanner, UID),
    // nibabel (mask grid and voxels), trimesh (watertight STL, volume), the 3MF's XML.
    let first = phantom.join("S21570/S2030/I10");
    let out = common::run_checker(&py, "check_report.py", &[s(&a), s(&first)]);
    assert!(out.contains("\"ok\": true"), "{out}");
    // The HTML page holds the four pictures and the findings.
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    assert_eq!(html.matches("data:image/png;base64,").count(), 4);
    assert!(html.contains("old-acquisition") && html.contains("YA"));
    // The case replays: source, volume, operations, reconstruction and every export.
    let (code, stdout, err) = hounsfield(&["replay", s(&a)]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(
        stdout.contains("record 3 reconstruction of bone: ok"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("equal, and the file matches").count(),
        4,
        "{stdout}"
    );
}

#[test]
fn replay_names_a_changed_source_file_and_follows_a_moved_folder() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("scan");
    copy_dir(&common::sample(), &src);
    let recipe = sample_recipe(
        dir.path(),
        &src,
        &["old-acquisition", "slice-distance-above-1mm"],
    );
    let case = dir.path().join("c.hfcase");
    let (code, _, err) = hounsfield(&["run", s(&recipe), "--out", s(&case)]);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = hounsfield(&["replay", s(&case)]);
    assert_eq!(code, 0, "{stdout}{err}");
    // One byte of one source file changed: exit 1, naming the file.
    let victim = src.join("IM0035.dcm");
    let original = std::fs::read(&victim).unwrap();
    let mut bytes = original.clone();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(&victim, &bytes).unwrap();
    let (code, stdout, err) = hounsfield(&["replay", s(&case)]);
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(
        stdout.contains("IM0035.dcm") && stdout.contains("content changed"),
        "{stdout}"
    );
    assert!(err.contains("IM0035.dcm"), "{err}");
    std::fs::write(&victim, &original).unwrap();
    // The folder moved: replay says where it is gone, --source finds it, the move is
    // recorded and later replays need no --source.
    let moved = dir.path().join("archive/scan-moved");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&src, &moved).unwrap();
    let (code, stdout, err) = hounsfield(&["replay", s(&case)]);
    assert_eq!(code, 2, "{stdout}{err}");
    assert!(err.contains("--source"), "{err}");
    let (code, stdout, err) = hounsfield(&["replay", s(&case), "--source", s(&moved)]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("source moved"), "{stdout}");
    let journal = std::fs::read_to_string(case.join("journal.hfj")).unwrap();
    assert!(
        journal.contains("\"event\":\"source_moved\""),
        "the move is in the journal"
    );
    let (code, stdout, err) = hounsfield(&["replay", s(&case)]);
    assert_eq!(code, 0, "{stdout}{err}");
    // A folder elsewhere with different content is refused, and nothing is recorded.
    let other = dir.path().join("other");
    copy_dir(&moved, &other);
    std::fs::remove_file(other.join("IM0002.dcm")).unwrap();
    let before = std::fs::read(case.join("journal.hfj")).unwrap();
    let (code, stdout, _) = hounsfield(&["replay", s(&case), "--source", s(&other)]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("IM0002.dcm"), "{stdout}");
    assert_eq!(std::fs::read(case.join("journal.hfj")).unwrap(), before);
    // report regenerates on demand, to another file when asked.
    let elsewhere = dir.path().join("again.json");
    let (code, stdout, err) = hounsfield(&[
        "report",
        s(&case),
        "--format",
        "json",
        "--out",
        s(&elsewhere),
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    let again = read_json(&elsewhere);
    assert_eq!(
        again["reproducibility"]["final_hash"],
        read_json(&case.join("report.json"))["reproducibility"]["final_hash"]
    );
    if common::repo().join(".git").exists() {
        let commit = again["identification"]["software"]["commit"]
            .as_str()
            .unwrap();
        assert_eq!(
            commit.len(),
            40,
            "the build records its git commit: {commit}"
        );
    }
    // status names the files and their state.
    let (code, stdout, err) = hounsfield(&["status", s(&case), "--json"]);
    assert_eq!(code, 0, "{err}");
    let st: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(st["exports"].as_array().unwrap().len(), 2);
    assert!(
        st["exports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["state"] == "matches")
    );
    // An export changed by hand shows as changed, and replay fails on it.
    let stl = case.join("exports/bone.stl");
    let mut b = std::fs::read(&stl).unwrap();
    b[100] ^= 0xff;
    std::fs::write(&stl, &b).unwrap();
    let (_, stdout, _) = hounsfield(&["status", s(&case)]);
    assert!(
        stdout.contains("exports/bone.stl") && stdout.contains("changed"),
        "{stdout}"
    );
    let (code, stdout, _) = hounsfield(&["replay", s(&case)]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("changed after export"), "{stdout}");
}

#[test]
fn a_missing_slice_must_be_acknowledged_and_the_report_lists_the_interpolated_slice() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("gap");
    copy_dir(&common::sample(), &src);
    // Slices are 2 mm apart; without IM0035 one gap is 4 mm.
    std::fs::remove_file(src.join("IM0035.dcm")).unwrap();
    let others = ["old-acquisition", "slice-distance-above-1mm"];
    let (code, _, err) = hounsfield(&["info", s(&src)]);
    assert_eq!(code, 0, "{err}");
    let recipe = sample_recipe(dir.path(), &src, &others);
    let case = dir.path().join("gap.hfcase");
    let (code, _, err) = hounsfield(&["run", s(&recipe), "--out", s(&case)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("missing-slices") && err.contains("acknowledge"),
        "{err}"
    );
    assert!(
        !case.exists(),
        "no case is made when findings are not acknowledged"
    );
    let mut all = others.to_vec();
    all.push("missing-slices");
    let recipe = sample_recipe(dir.path(), &src, &all);
    let (code, _, err) = hounsfield(&["run", s(&recipe), "--out", s(&case)]);
    assert_eq!(code, 0, "{err}");
    let report = read_json(&case.join("report.json"));
    let interp = report["acquisition"]["interpolated_slices"]
        .as_array()
        .unwrap();
    assert_eq!(interp.len(), 1, "{interp:?}");
    // Original slice 35 (index 34) is missing: the volume's slice 34 is invented.
    assert_eq!(interp[0], 34);
    assert!(
        report["feasibility"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "missing-slices")
    );
    let html = std::fs::read_to_string(case.join("report.html")).unwrap();
    assert!(html.contains("Interpolated slices (not acquired)</th><td><span class=\"bad\">[34]"));
    // The operation log records the findings and the interpolated slice too.
    let log = read_json(&case.join("log.json"));
    assert_eq!(log["source"]["interpolated_slices"][0], 34);
}

#[test]
fn recipe_mistakes_exit_2_naming_the_field_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = sample_recipe(
        dir.path(),
        &common::sample(),
        &["old-acquisition", "slice-distance-above-1mm"],
    );
    let text = std::fs::read_to_string(&good).unwrap();
    for (from, to, needle) in [
        ("\"operator\"", "\"operatr\"", "operatr"),
        ("\"threshold\"", "\"thresold\"", "unknown op `thresold`"),
        ("\"lo\": 226", "\"lo\": 226, \"low\": 1", "low"),
        ("\"bone.stl\"", "\"bone.stp\"", "exports[0].file"),
        ("\"education\"", "\"fun\"", "purpose.category"),
    ] {
        assert!(text.contains(from), "{from}");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, text.replace(from, to)).unwrap();
        let case = dir.path().join("x.hfcase");
        let (code, _, err) = hounsfield(&["run", s(&bad), "--out", s(&case)]);
        assert_eq!(code, 2, "{to}: {err}");
        assert!(err.contains(needle), "{to}: {err}");
        assert!(!case.exists());
    }
    let missing = dir.path().join("missing.json");
    std::fs::write(
        &missing,
        text.replace(s(&common::sample()), "/no/such/folder"),
    )
    .unwrap();
    let (code, _, err) = hounsfield(&["run", s(&missing), "--out", s(&dir.path().join("y"))]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("source.path"), "{err}");
    // An existing case is never overwritten.
    let case = dir.path().join("c.hfcase");
    assert_eq!(hounsfield(&["run", s(&good), "--out", s(&case)]).0, 0);
    let journal = std::fs::read(case.join("journal.hfj")).unwrap();
    let (code, _, err) = hounsfield(&["run", s(&good), "--out", s(&case)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(case.join("journal.hfj")).unwrap(), journal);
}

#[test]
fn outputs_that_are_inputs_exit_2_and_leave_the_inputs_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let ct = dir.path().join("ct.nii.gz");
    assert_eq!(
        hounsfield(&["convert", s(&common::sample()), "--out", s(&ct)]).0,
        0
    );
    let ct_bytes = std::fs::read(&ct).unwrap();
    let recipe = dir.path().join("r.json");
    std::fs::write(&recipe, common::BONE_RECIPE).unwrap();
    let (code, _, err) = hounsfield(&["segment", s(&ct), "--recipe", s(&recipe), "--out", s(&ct)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is the input"), "{err}");
    assert_eq!(std::fs::read(&ct).unwrap(), ct_bytes);
    // --log onto the mask is refused too.
    let m = dir.path().join("m.nii");
    let (code, _, err) = hounsfield(&[
        "segment",
        s(&ct),
        "--recipe",
        s(&recipe),
        "--out",
        s(&m),
        "--log",
        s(&m),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(!m.exists());
    let (code, _, err) = hounsfield(&["segment", s(&ct), "--recipe", s(&recipe), "--out", s(&m)]);
    assert_eq!(code, 0, "{err}");
    let m_bytes = std::fs::read(&m).unwrap();
    let x = dir.path().join("x.stl");
    let (code, _, err) = hounsfield(&["mesh", s(&m), "--out", s(&x), "--report", s(&x)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("same file"), "{err}");
    assert!(!x.exists());
    let (code, _, err) = hounsfield(&["mesh", s(&m), "--out", s(&m)]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(std::fs::read(&m).unwrap(), m_bytes);
    // A mask made from DICOM carries its log's final hash and series; mesh records both.
    let dm = dir.path().join("d.nii.gz");
    let log = dir.path().join("d.log.json");
    let (code, stdout, err) = hounsfield(&[
        "segment",
        s(&common::sample()),
        "--recipe",
        s(&recipe),
        "--out",
        s(&dm),
        "--log",
        s(&log),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("slice-distance-above-1mm"),
        "segment prints the findings: {err}"
    );
    let logged = read_json(&log);
    assert!(
        logged["source"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "old-acquisition")
    );
    let tmf = dir.path().join("d.3mf");
    let (code, _, err) = hounsfield(&["mesh", s(&dm), "--out", s(&tmf)]);
    assert_eq!(code, 0, "{err}");
    let side = read_json(&dir.path().join("d.3mf.json"));
    let prov = &side["source_mask"]["provenance"];
    assert_eq!(prov["label"], "segment");
    assert_eq!(prov["segmentation_hash"], logged["final_hash"]);
    assert_eq!(prov["series_uid"], logged["source"]["series_uid"]);
    assert!(stdout.contains(logged["final_hash"].as_str().unwrap()));
    assert_eq!(
        side["reconstruction"]["labels"][0]["mask_hash"],
        prov["mask_hash"]
    );
    assert_eq!(side["reconstruction"]["labels"][0]["name"], "segment");
}

/// The README's command-line quick start, taken from the README itself: the bundled recipe
/// must run to every export it lists and replay, or the first thing a user tries fails.
#[test]
fn the_readme_quick_start_recipe_runs_exports_everything_and_replays() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.contains("cargo run --release -- run "))
        .expect("README has the `run` quick start");
    let recipe = line
        .split_whitespace()
        .find(|w| w.ends_with(".json"))
        .expect("the quick start names a recipe");
    let recipe = common::repo().join(recipe);
    let listed: Vec<String> = read_json(&recipe)["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["file"].as_str().unwrap().to_string())
        .collect();
    assert!(!listed.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("sample.hfcase");
    let (code, stdout, err) = hounsfield(&["run", s(&recipe), "--out", s(&case)]);
    assert_eq!(code, 0, "the quick-start recipe failed: {err}");
    for f in &listed {
        let p = case.join("exports").join(f);
        assert!(p.is_file(), "{f} not exported: {stdout}");
    }
    assert!(case.join("report.html").is_file());
    let (code, _, err) = hounsfield(&["replay", s(&case)]);
    assert_eq!(code, 0, "{err}");
}

/// Rewrites one journal record with `edit` applied to its JSON and a fresh CRC: the
/// strongest tampering, which the journal's own check cannot see.
fn tamper_journal(case: &Path, seq: usize, edit: impl Fn(&mut serde_json::Value)) {
    let p = case.join("journal.hfj");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == seq {
            let mut v: serde_json::Value = serde_json::from_str(&line[9..]).unwrap();
            edit(&mut v);
            let json = serde_json::to_string(&v).unwrap();
            out.push_str(&format!(
                "{:08x} {json}\n",
                crc32fast::hash(json.as_bytes())
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    std::fs::write(&p, out).unwrap();
}

fn review_state(case: &Path) -> serde_json::Value {
    let (code, out, err) = hounsfield(&["status", s(case), "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["review"].clone()
}

/// Physician review from the CLI: a return pins its note to a slice (flagged in the
/// ledger); an approval is signed and holds while nothing changes; one voxel erased, or
/// `case.json` edited, voids it and says what changed; a decision edited by hand (with a
/// valid journal CRC) fails its signature. Measurements are recorded and reported.
#[test]
fn an_approval_is_signed_bound_to_the_content_and_voided_by_any_change() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let ph = p.join("sphere");
    let (code, _, err) = hounsfield(&[
        "phantom",
        "--out",
        s(&ph),
        "--objects",
        "sphere-20",
        "--pixel-spacing",
        "1",
        "--slice-increment",
        "1",
        "--slice-thickness",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    let recipe = p.join("r.json");
    let r = serde_json::json!({
        "source": {"path": ph},
        "purpose": {"category": "education", "text": "review test"},
        "operator": "engineer",
        "label": "bone",
        "segmentation": [{"op": "threshold", "lo": 541, "hi": 3071}],
        "reconstruction": {"smooth": "sinc:10:0.1"},
        "exports": [{"file": "bone.stl"}]
    });
    std::fs::write(&recipe, r.to_string()).unwrap();
    let c = p.join("c.hfcase");
    let (code, _, err) = hounsfield(&["run", s(&recipe), "--out", s(&c)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(review_state(&c)["state"], "none");
    let key = p.join("keys").join("reviewer.key");
    let review = |extra: &[&str]| {
        let mut a = vec!["review", s(&c), "--key", s(&key)];
        a.extend_from_slice(extra);
        hounsfield(&a)
    };

    // Returning needs a note; a pinned note flags its slice.
    let (code, _, err) = review(&["--return", "--reviewer", "Dr. A. Reviewer"]);
    assert_eq!(code, 2);
    assert!(err.contains("--note"), "{err}");
    let (code, _, err) = review(&[
        "--return",
        "--reviewer",
        "Dr. A. Reviewer",
        "--note",
        "rim unclear here",
        "--slice",
        "axial:12",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(review_state(&c)["state"], "returned");
    let (_, out, _) = hounsfield(&["status", s(&c), "--json"]);
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    let axial = st["verification"]["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["orientation"] == "axial")
        .unwrap()
        .clone();
    assert_eq!(axial["flagged"], 1, "{axial}");

    // Approve: signed, valid, the content unchanged.
    let (code, out, err) = review(&["--approve", "--reviewer", "Dr. A. Reviewer"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("signature valid"), "{out}");
    let rv = review_state(&c);
    assert_eq!(rv["state"], "approved", "{rv}");
    let last = rv["decisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["signature_valid"], true);
    assert_eq!(last["reviewer"], "Dr. A. Reviewer");
    let approval_seq = last["seq"].as_u64().unwrap() as usize;

    // Measurements go into the case and the report.
    let (code, out, err) = hounsfield(&[
        "measure",
        s(&c),
        "distance",
        "--point",
        "-40,-30,0",
        "--point",
        "-20,-30,0",
        "--name",
        "sphere diameter",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("distance 20.00 mm"), "{out}");
    let (code, out, err) = hounsfield(&["measure", s(&c), "label", "--label", "bone"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("volume"), "{out}");
    let (code, _, err) = hounsfield(&["measure", s(&c), "distance", "--point", "1,2"]);
    assert_eq!(code, 2);
    assert!(err.contains("X,Y,Z"), "{err}");
    assert_eq!(
        review_state(&c)["state"],
        "approved",
        "measuring changes nothing reviewed"
    );
    let (code, _, err) = hounsfield(&["report", s(&c)]);
    assert_eq!(code, 0, "{err}");
    let rep = read_json(&c.join("report.json"));
    assert_eq!(rep["review"]["state"], "approved");
    assert_eq!(rep["measurements"].as_array().unwrap().len(), 2);
    let html = std::fs::read_to_string(c.join("report.html")).unwrap();
    assert!(html.contains("Dr. A. Reviewer") && html.contains("sphere diameter"));

    // One voxel erased (as the editor would): the approval is void and names the label.
    {
        let (mut case, _) = hounsfield::case::Case::open(&c, "engineer", None).unwrap();
        let g = case.volume().geometry;
        let v = g
            .coord_of(hounsfield::geom::LpsPointMm::new(-30.0, -30.0, 0.0))
            .unwrap();
        let centre = g.position(hounsfield::geom::VoxelCoord {
            slice: v.slice.round(),
            row: v.row.round(),
            col: v.col.round(),
        });
        let op: hounsfield::segment::Operation = serde_json::from_value(serde_json::json!({
            "op": "brush", "label": "bone", "centres_mm": [centre.0.to_array()],
            "radius_mm": 0.4, "mode": "erase", "shape": "sphere"
        }))
        .unwrap();
        let e = case.apply(op).unwrap();
        assert_eq!(e.changes[0].removed, 1, "exactly one voxel");
    }
    let rv = review_state(&c);
    assert_eq!(rv["state"], "void", "{rv}");
    let changes = rv["changes"].to_string();
    assert!(changes.contains("label `bone` changed"), "{changes}");
    let (_, out, _) = hounsfield(&["status", s(&c)]);
    assert!(out.contains("VOID"), "{out}");
    let (code, _, err) = hounsfield(&["report", s(&c)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read_json(&c.join("report.json"))["review"]["state"], "void");

    // A new approval holds; editing case.json voids it; restoring the bytes restores it.
    let (code, _, err) = review(&["--approve", "--reviewer", "Dr. A. Reviewer"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(review_state(&c)["state"], "approved");
    let record = std::fs::read(c.join("case.json")).unwrap();
    let edited = String::from_utf8(record.clone())
        .unwrap()
        .replace("review test", "review test, edited");
    std::fs::write(c.join("case.json"), edited).unwrap();
    let rv = review_state(&c);
    assert_eq!(rv["state"], "void");
    assert!(
        rv["changes"].to_string().contains("case.json changed"),
        "{rv}"
    );
    std::fs::write(c.join("case.json"), &record).unwrap();
    assert_eq!(review_state(&c)["state"], "approved");

    // The reviewer's name edited by hand in the decision: the signature fails.
    let (_, out, _) = hounsfield(&["status", s(&c), "--json"]);
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    let seq = st["review"]["decisions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["seq"]
        .as_u64()
        .unwrap() as usize;
    assert!(seq > approval_seq);
    tamper_journal(&c, seq, |v| {
        v["decision"]["reviewer"] = "Dr. B. Impostor".into()
    });
    let rv = review_state(&c);
    assert_eq!(rv["state"], "signature-invalid", "{rv}");
    let d = rv["decisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(d["signature_valid"], false);
    assert!(d["signature_problem"].as_str().unwrap().contains("edited"));
    let (_, out, _) = hounsfield(&["status", s(&c)]);
    assert!(out.contains("INVALID SIGNATURE"), "{out}");
}

/// DICOM SEG and RT Structure Set of the bundled sample's bone label (ISO/IEC 3532-1 asks
/// for standard formats other software reads): refused while slices are unverified unless
/// accepted (recorded); then pydicom decodes SEG frames equal to the case's NIfTI mask
/// voxel for voxel, each frame on its source image, patient, study and frame of reference
/// those of the source, and highdicom reads it; the RT contours filled back at the voxel
/// centres are the mask; dciodvfy reports no error in either; `replay` makes the same bytes.
#[test]
fn dicom_seg_and_rtstruct_of_the_sample_are_valid_and_hold_the_mask() {
    let Some(py) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let r = serde_json::json!({
        "source": {"path": common::sample()},
        "purpose": {"category": "education", "text": "SEG test: skull of the sample"},
        "operator": "test",
        "acknowledge": ["derived-image", "slice-distance-above-1mm", "old-acquisition"],
        "label": "bone",
        "segmentation": [
            {"op": "threshold", "lo": 226, "hi": 3071},
            {"op": "keep_largest", "connectivity": 26}
        ],
        "exports": [{"file": "bone-mask.nii.gz"}]
    });
    let recipe = dir.path().join("r.json");
    std::fs::write(&recipe, r.to_string()).unwrap();
    let c = dir.path().join("seg.hfcase");
    let (code, _, err) = hounsfield(&["run", s(&recipe), "--out", s(&c)]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = hounsfield(&["export-dicom", s(&c), "--seg", "bone.seg.dcm"]);
    assert_eq!(code, 2, "unverified slices need accepting");
    assert!(err.contains("--accept-unverified"), "{err}");
    let (code, _, err) = hounsfield(&["export-dicom", s(&c), "--seg", "bone.dcm"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = hounsfield(&[
        "export-dicom",
        s(&c),
        "--seg",
        "bone.seg.dcm",
        "--rtstruct",
        "bone.rtstruct.dcm",
        "--accept-unverified",
        "--operator",
        "Engineer^Test",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 segment(s) bone"), "{out}");
    assert!(out.contains("1 ROI(s) bone"), "{out}");
    let rt = run_checker(
        &py,
        "check_rtstruct.py",
        &[
            s(&c.join("exports/bone.rtstruct.dcm")),
            s(&c.join("exports/bone-mask.nii.gz")),
            s(&common::sample()),
            "bone",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(rt.trim()).unwrap();
    assert_eq!(v["dciodvfy_errors"], 0, "{v}");
    assert!(v["contours"].as_u64().unwrap() > 70, "{v}");
    // Filled back at the voxel centres, the outlines are the mask.
    assert_eq!(v["differing_voxels"], 0, "{v}");
    let seg = c.join("exports/bone.seg.dcm");
    let report = run_checker(
        &py,
        "check_seg.py",
        &[
            s(&seg),
            s(&c.join("exports/bone-mask.nii.gz")),
            s(&common::sample()),
            "bone",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(v["frames"], 70, "{v}");
    assert_eq!(v["referenced_frames"], 70, "{v}");
    assert_eq!(v["dciodvfy_errors"], 0, "{v}");
    assert_eq!(v["highdicom"], "read", "{v}");
    let (code, out, err) = hounsfield(&["replay", s(&c)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("export exports/bone.seg.dcm: ok"), "{out}");
    assert!(
        out.contains("export exports/bone.rtstruct.dcm: ok"),
        "{out}"
    );
    let (_, out, _) = hounsfield(&["status", s(&c), "--json"]);
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    let x = st["exports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["path"] == "exports/bone.seg.dcm")
        .cloned()
        .unwrap();
    assert_eq!(x["format"], "dicom-seg");
    assert_eq!(x["state"], "matches");

    // Read back: a case started from the SEG holds the very mask, and replays without it.
    let copy = dir.path().join("from-elsewhere.seg.dcm");
    std::fs::copy(&seg, &copy).unwrap();
    let r = serde_json::json!({
        "source": {"path": common::sample()},
        "purpose": {"category": "education", "text": "SEG import test"},
        "operator": "test",
        "acknowledge": ["derived-image", "slice-distance-above-1mm", "old-acquisition"],
        "label": "bone",
        "from_seg": {"file": "from-elsewhere.seg.dcm"},
        "exports": []
    });
    let recipe = dir.path().join("from-seg.json");
    std::fs::write(&recipe, r.to_string()).unwrap();
    let c2 = dir.path().join("from-seg.hfcase");
    let (code, _, err) = hounsfield(&["run", s(&recipe), "--out", s(&c2)]);
    assert_eq!(code, 0, "{err}");
    let hashes =
        |c: &Path| read_json(&c.join("report.json"))["reproducibility"]["label_hashes"].clone();
    assert_eq!(
        hashes(&c2),
        hashes(&c),
        "the imported mask is the exported one"
    );
    std::fs::remove_file(&copy).unwrap();
    let (code, out, err) = hounsfield(&["replay", s(&c2)]);
    assert_eq!(code, 0, "replays without the file: {out}{err}");
    // Into an existing case, under another name; a non-SEG file is refused, saying so.
    let (code, out, err) = hounsfield(&[
        "import-seg",
        s(&c2),
        s(&seg),
        "--segment",
        "1",
        "--label",
        "again",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported label `again`"), "{out}");
    let (code, _, err) = hounsfield(&[
        "import-seg",
        s(&c2),
        s(&c.join("exports/bone.rtstruct.dcm")),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("is not a DICOM Segmentation"), "{err}");
    let (code, _, err) = hounsfield(&["import-seg", s(&c2), s(&seg), "--segment", "7"]);
    assert_eq!(code, 2);
    assert!(err.contains("no segment numbered"), "{err}");
}

/// An Orthanc of its own for one test: loopback ports, a temporary storage folder and
/// configuration (one user for DICOMweb, the called AE title checked), stopped by its
/// process id when dropped.
struct Orthanc {
    child: std::process::Child,
    tls_front: std::process::Child,
    dimse: u16,
    https: u16,
    _dir: tempfile::TempDir,
}

const ORTHANC_USER: &str = "engineer";
const ORTHANC_PASSWORD: &str = "s3cret-for-the-test";

impl Orthanc {
    /// Starts one, or `None` after [`common::skip`] when Debian's `orthanc` and
    /// `orthanc-dicomweb` are not installed.
    fn start() -> Option<Self> {
        let exe = Path::new("/usr/sbin/Orthanc");
        let plugin = Path::new("/usr/share/orthanc/plugins/libOrthancDicomWeb.so");
        if !exe.exists() || !plugin.exists() {
            common::skip(
                "Orthanc or its DICOMweb plugin is not installed (run packaging/setup-debian.sh)",
            );
            return None;
        }
        for _attempt in 0..3 {
            let free = || {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            };
            let (dimse, http) = (free(), free());
            let dir = tempfile::tempdir().unwrap();
            let config = serde_json::json!({
                "Name": "hounsfield-test",
                "StorageDirectory": dir.path().join("db"),
                "IndexDirectory": dir.path().join("db"),
                "DicomAet": "ORTHANC",
                "DicomPort": dimse,
                "HttpPort": http,
                "RemoteAccessAllowed": false,
                "AuthenticationEnabled": true,
                "RegisteredUsers": {ORTHANC_USER: ORTHANC_PASSWORD},
                "DicomCheckCalledAet": true,
                "DicomAlwaysAllowEcho": true,
                "DicomAlwaysAllowStore": true,
                "DicomModalities": {"hf": {"AET": "HOUNSFIELD", "Host": "127.0.0.1", "Port": 11112,
                    "AllowEcho": true, "AllowFind": true, "AllowGet": true, "AllowStore": true}},
                "Plugins": [plugin],
                "DicomWeb": {"Enable": true, "Root": "/dicom-web/"}
            });
            // https as hospitals often run it, a TLS front (socat) before the archive's http,
            // with a certificate of its own the tests trust through --ca-cert. (Debian's
            // Orthanc 1.10 stops on its first own https connection.)
            let key = dir.path().join("key.pem");
            let cert = dir.path().join("cert.pem");
            let ok = std::process::Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                ])
                .args([
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                    "-keyout",
                    s(&key),
                    "-out",
                    s(&cert),
                ])
                .output()
                .expect("openssl runs")
                .status
                .success();
            assert!(ok, "openssl made no certificate");
            let both = dir.path().join("orthanc.pem");
            let mut pem = std::fs::read(&cert).unwrap();
            pem.extend(std::fs::read(&key).unwrap());
            std::fs::write(&both, pem).unwrap();
            let cfg = dir.path().join("orthanc.json");
            std::fs::write(&cfg, config.to_string()).unwrap();
            let log = std::fs::File::create(dir.path().join("orthanc.log")).unwrap();
            let mut child = std::process::Command::new(exe)
                .arg(&cfg)
                .current_dir(dir.path())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("Orthanc starts");
            let t = std::time::Instant::now();
            while t.elapsed() < std::time::Duration::from_secs(30) {
                if child.try_wait().unwrap().is_some() {
                    break; // a port was taken meanwhile: try others
                }
                let up = |p: u16| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
                if up(dimse) && up(http) {
                    let https = free();
                    let tls_front = std::process::Command::new("socat")
                        .arg(format!(
                            "openssl-listen:{https},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={}",
                            s(&both)
                        ))
                        .arg(format!("tcp:127.0.0.1:{http}"))
                        .stderr(std::process::Stdio::null())
                        .spawn()
                        .expect("socat starts");
                    let t = std::time::Instant::now();
                    while !up(https) && t.elapsed() < std::time::Duration::from_secs(10) {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    return Some(Self {
                        child,
                        tls_front,
                        dimse,
                        https,
                        _dir: dir,
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "Orthanc did not start:\n{}",
                std::fs::read_to_string(dir.path().join("orthanc.log")).unwrap_or_default()
            );
        }
        panic!("Orthanc did not start in three attempts");
    }

    fn dimse(&self) -> String {
        format!("ORTHANC@127.0.0.1:{}", self.dimse)
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/dicom-web", self.https)
    }

    /// The certificate its https presents (self-signed).
    fn ca(&self) -> String {
        s(&self._dir.path().join("cert.pem")).to_string()
    }
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = self.tls_front.kill();
        let _ = self.tls_front.wait();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hounsfield` with the archive's password in its environment and its own config folder.
fn hounsfield_pacs(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hounsfield"))
        .args(args)
        .env("HOUNSFIELD_PACS_PASSWORD", ORTHANC_PASSWORD)
        .env("HOUNSFIELD_CONFIG_DIR", cfg)
        .output()
        .expect("the hounsfield binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Pixel data and SOP Instance UID of a DICOM file, to compare a retrieved copy with its
/// original whatever file meta header each has.
fn instance_content(p: &Path) -> (String, Vec<u8>) {
    use dicom_dictionary_std::tags;
    let f = dicom_object::open_file(p).unwrap();
    let uid = f
        .element(tags::SOP_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches('\0')
        .to_string();
    let px = f
        .element(tags::PIXEL_DATA)
        .unwrap()
        .to_bytes()
        .unwrap()
        .into_owned();
    (uid, px)
}

#[test]
fn the_phantom_goes_through_orthanc_and_its_segmentation_comes_back_to_it() {
    let Some(phantom) = common::phantom() else {
        return;
    };
    let Some(orthanc) = Orthanc::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path().join("config");
    let hf = |args: &[&str]| hounsfield_pacs(&cfg, args);
    let (dimse, url, ca) = (orthanc.dimse(), orthanc.url(), orthanc.ca());
    let s2030 = phantom.join("S21570/S2030");

    // Upload: the bone series and the localizer (C-STORE).
    let (code, out, err) = hf(&[
        "pacs",
        "store",
        "--dimse",
        &dimse,
        s(&s2030),
        s(&phantom.join("S21570/S4010")),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("146 accepted, 0 refused"), "{out}");

    // Save the node; echo both ways.
    let (code, _, err) = hf(&["pacs", "nodes", "--add", "archive", "--dimse", &dimse]);
    assert_eq!(code, 0, "{err}");
    let saved = std::fs::read_to_string(cfg.join("pacs-nodes.json")).unwrap();
    assert!(!saved.contains(ORTHANC_PASSWORD), "{saved}");
    let (code, out, err) = hf(&["pacs", "echo", "--node", "archive"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("answers"), "{out}");
    let (code, _, err) = hf(&[
        "pacs",
        "echo",
        "--url",
        &url,
        "--user",
        ORTHANC_USER,
        "--ca-cert",
        &ca,
    ]);
    assert_eq!(code, 0, "{err}");

    // Refusals say what is wrong: an https certificate we were not told to trust,
    let (code, _, err) = hf(&["pacs", "echo", "--url", &url, "--user", ORTHANC_USER]);
    assert_eq!(code, 1);
    assert!(err.contains("TLS") && err.contains("--ca-cert"), "{err}");
    // an AE title the archive does not answer to, a missing or wrong password.
    let (code, _, err) = hf(&[
        "pacs",
        "echo",
        "--dimse",
        &format!("WRONG@127.0.0.1:{}", orthanc.dimse),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused the association") && err.contains("AE title"),
        "{err}"
    );
    let (code, _, err) = hounsfield(&[
        "pacs",
        "find",
        "--url",
        &url,
        "--user",
        ORTHANC_USER,
        "--ca-cert",
        &ca,
    ]);
    assert_eq!(code, 2, "no password set: {err}");
    assert!(err.contains("HOUNSFIELD_PACS_PASSWORD"), "{err}");
    let (code, _, err) = hf(&[
        "pacs",
        "find",
        "--url",
        &url,
        "--user",
        "intruder",
        "--ca-cert",
        &ca,
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused our credentials") && !err.contains(ORTHANC_PASSWORD),
        "{err}"
    );

    // Find the study and its series, over DIMSE and DICOMweb alike.
    let (code, out, err) = hf(&[
        "pacs",
        "find",
        "--node",
        "archive",
        "--modality",
        "CT",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let studies: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(studies.as_array().unwrap().len(), 1, "{studies}");
    let study = studies[0]["study_uid"].as_str().unwrap().to_string();
    assert_eq!(studies[0]["series"], 2, "{studies}");
    let series_of = |node: &[&str]| {
        let mut a = vec!["pacs", "find", "--study", &study, "--json"];
        a.extend_from_slice(node);
        let (code, out, err) = hf(&a);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let by_dimse = series_of(&["--node", "archive"]);
    let by_web = series_of(&["--url", &url, "--user", ORTHANC_USER, "--ca-cert", &ca]);
    assert_eq!(by_dimse, by_web);
    let bone = by_dimse
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["number"] == "203")
        .unwrap_or_else(|| panic!("series 203 listed: {by_dimse}"));
    assert_eq!(bone["instances"], 140, "{bone}");
    let series = bone["series_uid"].as_str().unwrap().to_string();

    // Retrieve it both ways: the same instances as the originals.
    let originals: std::collections::BTreeMap<String, Vec<u8>> = std::fs::read_dir(&s2030)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('I'))
        .map(|e| instance_content(&e.path()))
        .collect();
    assert_eq!(originals.len(), 140);
    for (how, node) in [
        ("dimse", vec!["--node", "archive"]),
        (
            "web",
            vec!["--url", &url, "--user", ORTHANC_USER, "--ca-cert", &ca],
        ),
    ] {
        let dest = work.path().join(how);
        let mut a = vec![
            "pacs",
            "get",
            "--study",
            &study,
            "--series",
            &series,
            "--out",
            s(&dest),
        ];
        a.extend_from_slice(&node);
        let (code, out, err) = hf(&a);
        assert_eq!(code, 0, "{how}: {err}");
        assert!(out.contains("retrieved 140 instance(s)"), "{how}: {out}");
        let manifest = read_json(&dest.join("retrieved.json"));
        assert_eq!(manifest["instances"].as_array().unwrap().len(), 140);
        assert_eq!(manifest["series_uid"], series.as_str());
        let mut n = 0;
        for e in std::fs::read_dir(&dest).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "dcm") {
                let (uid, px) = instance_content(&e.path());
                assert!(
                    originals.get(&uid) == Some(&px),
                    "{how}: {uid} differs from the original"
                );
                n += 1;
            }
        }
        assert_eq!(n, 140, "{how}");
        // A second retrieval never mixes into the first.
        let (code, _, err) = hf(&a);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("already holds a retrieval"), "{err}");
    }

    // Segment the retrieved series into a case; send the SEG (STOW-RS), then the RT
    // Structure Set with it (C-STORE); each transmission is recorded.
    let r = serde_json::json!({
        "source": {"path": work.path().join("dimse")},
        "purpose": {"category": "education", "text": "PACS round trip: skull of the phantom"},
        "operator": "test",
        "acknowledge": ["old-acquisition"],
        "label": "bone",
        "segmentation": [
            {"op": "threshold", "lo": 226, "hi": 3071},
            {"op": "keep_largest", "connectivity": 26}
        ],
        "exports": []
    });
    let recipe = work.path().join("r.json");
    std::fs::write(&recipe, r.to_string()).unwrap();
    let c = work.path().join("pacs.hfcase");
    let (code, _, err) = hf(&["run", s(&recipe), "--out", s(&c)]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = hf(&[
        "pacs",
        "store",
        "--url",
        &url,
        "--user",
        ORTHANC_USER,
        "--ca-cert",
        &ca,
        "--case",
        s(&c),
    ]);
    assert_eq!(code, 2, "nothing exported yet: {err}");
    let (code, _, err) = hf(&[
        "export-dicom",
        s(&c),
        "--seg",
        "bone.seg.dcm",
        "--accept-unverified",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = hf(&[
        "pacs",
        "store",
        "--url",
        &url,
        "--user",
        ORTHANC_USER,
        "--ca-cert",
        &ca,
        "--case",
        s(&c),
        "--operator",
        "Engineer^Test",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 accepted, 0 refused"), "{out}");
    let (code, _, err) = hf(&[
        "export-dicom",
        s(&c),
        "--rtstruct",
        "bone.rtstruct.dcm",
        "--accept-unverified",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = hf(&[
        "pacs",
        "store",
        "--node",
        "archive",
        "--case",
        s(&c),
        "--operator",
        "Engineer^Test",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 accepted, 0 refused"), "{out}");

    // Orthanc holds them, under the phantom's study.
    let now = series_of(&["--node", "archive"]);
    let modalities: Vec<&str> = now
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["modality"].as_str().unwrap())
        .collect();
    assert!(
        modalities.contains(&"SEG") && modalities.contains(&"RTSTRUCT"),
        "{now}"
    );
    let seg_series = now
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["modality"] == "SEG")
        .unwrap();
    let back = work.path().join("seg-back");
    let (code, _, err) = hf(&[
        "pacs",
        "get",
        "--url",
        &url,
        "--user",
        ORTHANC_USER,
        "--ca-cert",
        &ca,
        "--study",
        &study,
        "--series",
        seg_series["series_uid"].as_str().unwrap(),
        "--out",
        s(&back),
    ]);
    assert_eq!(code, 0, "{err}");
    let manifest = read_json(&back.join("retrieved.json"));
    let file = back.join(manifest["instances"][0]["file"].as_str().unwrap());
    assert_eq!(
        instance_content(&file),
        instance_content(&c.join("exports/bone.seg.dcm")),
        "the archived SEG is ours"
    );

    // The case records both transmissions; its status and report say so.
    let (code, out, err) = hf(&["status", s(&c), "--json"]);
    assert_eq!(code, 0, "{err}");
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    let sent = st["transmissions"].as_array().unwrap();
    assert_eq!(sent.len(), 2, "{st}");
    assert!(
        sent[0]["record"]["node"]
            .as_str()
            .unwrap()
            .starts_with("DICOMweb"),
        "{st}"
    );
    assert_eq!(
        sent[1]["record"]["objects"].as_array().unwrap().len(),
        2,
        "{st}"
    );
    assert!(
        sent.iter()
            .all(|t| t["record"]["operator"] == "Engineer^Test"),
        "{st}"
    );
    let journal = std::fs::read_to_string(c.join("journal.hfj")).unwrap();
    assert!(!journal.contains(ORTHANC_PASSWORD));
    let (code, _, err) = hf(&["replay", s(&c)]);
    assert_eq!(code, 0, "the case still replays: {err}");

    // The window's PACS browser: search, retrieve, and the series opens.
    let mut app = hounsfield::ui::App::new(None, hounsfield::ui::Prefs::default());
    let into = work.path().join("window");
    use hounsfield::ui::command::UiCommand;
    app.execute(UiCommand::PacsSearch {
        dimse: Some(dimse.clone()),
        url: None,
        user: None,
        patient_id: None,
        modality: Some("CT".into()),
    })
    .unwrap();
    app.execute(UiCommand::PacsRetrieve {
        series: "203".into(),
        into: Some(into.clone()),
    })
    .unwrap();
    app.finish_job(); // the scan, then the load it starts
    let loaded = app.loaded.as_ref().expect("the retrieved series is open");
    assert_eq!(loaded.opened.volume.dims(), [140, 512, 512]);
    assert!(into.join("retrieved.json").is_file());
    let status = &app.pacs.as_ref().unwrap().status;
    assert!(
        format!("{status:?}").contains("retrieved 140 instance(s)"),
        "{status:?}"
    );

    // Cancelled before it began: nothing is claimed complete.
    let never = std::sync::atomic::AtomicBool::new(true);
    for (how, endpoint) in [
        (
            "dimse",
            hounsfield::pacs::Endpoint::parse_dimse(&dimse, "HOUNSFIELD").unwrap(),
        ),
        (
            "web",
            hounsfield::pacs::Endpoint::parse_web(
                &url,
                Some(ORTHANC_USER.into()),
                Some(ca.clone().into()),
            )
            .unwrap(),
        ),
    ] {
        let c = hounsfield::pacs::Connection {
            endpoint,
            credentials: hounsfield::pacs::Credentials {
                password: Some(ORTHANC_PASSWORD.into()),
            },
            timeout: std::time::Duration::from_secs(30),
        };
        let dest = work.path().join(format!("cancelled-{how}"));
        let r = hounsfield::pacs::retrieve_series(&c, &study, &series, &dest, &|_| {}, &never);
        assert!(
            matches!(r, Err(hounsfield::pacs::PacsError::Cancelled)),
            "{how}: {r:?}"
        );
        assert!(!dest.join("retrieved.json").exists(), "{how}");
    }

    // A changed export is not sent.
    let seg = c.join("exports/bone.seg.dcm");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.push(0);
    std::fs::write(&seg, bytes).unwrap();
    let (code, _, err) = hf(&["pacs", "store", "--node", "archive", "--case", s(&c)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("changed since it was exported"), "{err}");
    drop(orthanc);
}
