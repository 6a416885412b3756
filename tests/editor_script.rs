//! The editor's whole workflow as a script, played through the real window under Xvfb
//! (and offscreen): new case, acknowledgement, bone threshold with its preview, the head
//! holder cut away with the scissors, keep largest, a brush stroke undone and redone,
//! every axial slice verified, reconstruction with smoothing, STL/3MF/mask export, report.
//! The case it leaves must replay bit for bit and report full axial coverage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{hounsfield, repo, s, sample};

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
    if !common::have_xvfb() || common::gpu().is_none() {
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
    if common::gpu().is_none() {
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

/// Saves a copy for people to look at when HOUNSFIELD_SHOTS names a folder.
fn keep(img: &hounsfield::gpu::readback::Image, name: &str) {
    if let Some(d) = std::env::var_os("HOUNSFIELD_SHOTS") {
        hounsfield::gpu::readback::save_png(
            img,
            &std::path::Path::new(&d).join(format!("{name}.png")),
        )
        .unwrap();
    }
}

/// Pixels in `rect` whose (r, g, b) pass `f`.
fn count(
    img: &hounsfield::gpu::readback::Image,
    rect: egui::Rect,
    f: impl Fn([i32; 3]) -> bool,
) -> usize {
    let mut n = 0;
    for y in rect.min.y as u32..(rect.max.y as u32).min(img.height) {
        for x in rect.min.x as u32..(rect.max.x as u32).min(img.width) {
            let p = img.at(x, y);
            n += usize::from(f([i32::from(p[0]), i32::from(p[1]), i32::from(p[2])]));
        }
    }
    n
}

#[test]
fn the_views_draw_labels_the_threshold_preview_the_brush_footprint_and_the_strip() {
    use hounsfield::case::record::{Purpose, PurposeCategory};
    use hounsfield::ui::command::UiCommand;
    use hounsfield::ui::editor::Tool;
    use hounsfield::ui::headless::Headless;
    use hounsfield::ui::{App, Layout, Prefs, ViewId};
    let mut h = match Headless::new([1280, 800]) {
        Ok(h) => h,
        Err(e) => {
            common::skip(&format!("no GPU adapter: {e}"));
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::new(Some(h.render_state()), Prefs::default());
    app.open(&sample());
    app.finish_job();
    let run = |app: &mut App, c: UiCommand| {
        app.execute(c).unwrap();
        app.finish_job();
    };
    run(
        &mut app,
        UiCommand::NewCase {
            folder: dir.path().to_path_buf(),
            name: "views".into(),
            purpose: Purpose {
                category: PurposeCategory::Education,
                text: "view test".into(),
            },
            operator: "tester".into(),
        },
    );
    run(&mut app, UiCommand::Acknowledge);
    app.prefs.layout = Layout::Single(ViewId::Axial);
    // Threshold preview: green over bone before anything is applied.
    run(
        &mut app,
        UiCommand::Tool {
            tool: Tool::Threshold,
        },
    );
    run(
        &mut app,
        UiCommand::ThresholdPreset {
            preset: "bone".into(),
        },
    );
    run(
        &mut app,
        UiCommand::GoToSlice {
            view: "axial".into(),
            index: 30,
        },
    );
    let img = h.screenshot(&mut app).unwrap();
    keep(&img, "editor-threshold-preview");
    let view = app.view_rects[0].1;
    let green = count(&img, view, |p| p[1] > p[0] + 60 && p[1] > p[2] + 60);
    assert!(green > 2000, "{green} preview pixels");
    // Applied: the label (bone colour) replaces the preview.
    run(&mut app, UiCommand::ApplyThreshold);
    run(
        &mut app,
        UiCommand::Apply {
            op: serde_json::json!({"op": "keep_largest", "connectivity": 26}),
        },
    );
    run(
        &mut app,
        UiCommand::Tool {
            tool: Tool::Navigate,
        },
    );
    let img = h.screenshot(&mut app).unwrap();
    // The outline is drawn in the label's own colour (241, 214, 145).
    let outline = count(&img, view, |p| {
        (p[0] - 241).abs() < 4 && (p[1] - 214).abs() < 4 && (p[2] - 145).abs() < 4
    });
    assert!(outline > 1000, "{outline} outline pixels");
    assert!(
        app.uploaded_label_slices() >= 70,
        "the label texture was filled"
    );
    // A stroke uploads only the slices it touched.
    let before = app.uploaded_label_slices();
    run(
        &mut app,
        UiCommand::Stroke {
            view: "axial".into(),
            points_mm: vec![[0.0, 60.0, 754.2], [10.0, 60.0, 754.2]],
            radius_mm: Some(3.0),
            mode: None,
            shape: None,
        },
    );
    h.frame(&mut app).unwrap();
    assert_eq!(
        app.uploaded_label_slices() - before,
        1,
        "a disc stroke changes one slice"
    );
    // The brush footprint follows the pointer: a ring of the brush colour around it.
    run(&mut app, UiCommand::Tool { tool: Tool::Brush });
    app.editor.brush.radius_mm = 10.0;
    let c = view.center();
    h.events.push(egui::Event::PointerMoved(c));
    let img = h.screenshot(&mut app).unwrap();
    keep(&img, "editor-brush-cursor");
    let ring = count(
        &img,
        egui::Rect::from_center_size(c, egui::vec2(120.0, 120.0)),
        |p| p[0] > 230 && p[1] > 190 && p[1] < 230 && p[2] < 100,
    );
    assert!(ring > 40, "{ring} footprint pixels");
    // Verification: the strip beside the view, green for the slices confirmed.
    run(&mut app, UiCommand::Tool { tool: Tool::Verify });
    run(
        &mut app,
        UiCommand::Verify {
            orientation: hounsfield::case::ledger::Orientation::Axial,
            from: 0,
            to: 34,
            label: None,
        },
    );
    let img = h.screenshot(&mut app).unwrap();
    keep(&img, "editor-verification-strip");
    let strip = hounsfield::ui::panels::verify::strip_rect(view);
    let total = (strip.width() as usize) * (strip.height() as usize);
    let ok = count(&img, strip, |p| p[1] > 180 && p[0] < 100);
    // About half the strip (35 of 70 slices) is green.
    assert!(
        ok * 10 > total * 4 && ok * 10 < total * 6,
        "{ok} of {total}"
    );
    // The model coloured by the smoothing deviation, with its legend. Its buffers are made
    // on a thread, and with a budget of 2,000 triangles a frame it is drawn in parts.
    h.render_state()
        .renderer
        .write()
        .callback_resources
        .get_mut::<hounsfield::gpu::ViewRenderer>()
        .unwrap()
        .set_triangles_per_frame(Some(2_000));
    // The 3D view at its final size first: a resized view is drawn whole, not in parts.
    app.prefs.layout = Layout::Single(ViewId::ThreeD);
    h.screenshot(&mut app).unwrap();
    let parts = h.marks().surface_parts_drawn;
    run(
        &mut app,
        UiCommand::Reconstruct {
            params: None,
            labels: None,
        },
    );
    let img = h.screenshot(&mut app).unwrap();
    assert!(
        !app.drawing_surface(),
        "the screenshot waits for the whole model"
    );
    assert!(
        h.marks().surface_parts_drawn - parts >= 2,
        "the model was drawn in {} parts",
        h.marks().surface_parts_drawn - parts
    );
    keep(&img, "editor-deviation-heat-map");
    let three_d = app
        .view_rects
        .iter()
        .find(|(v, _)| *v == ViewId::ThreeD)
        .unwrap()
        .1;
    let coloured = count(&img, three_d, |p| (p[0] - p[2]).abs() > 40);
    assert!(coloured > 500, "{coloured} heat-map pixels");
}
