//! Panel logic through egui_kittest (no GPU needed: the views show a placeholder): the
//! series browser on the real exam, layout switching, window/level presets, and the help
//! bindings kept in step with the README.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ui::{button, drag, harness, push, settle, view_centre};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use hounsfield::gpu::WindowLevel;
use hounsfield::ui::{App, Layout, Prefs, ViewId};

#[test]
fn series_browser_marks_localizer_and_secondary_capture_and_shows_the_findings_banner() {
    let Some(exam) = common::phantom() else {
        return;
    };
    let mut app = App::new(None, Prefs::default());
    app.open(&exam);
    let mut h = harness(app);
    settle(&mut h);
    // Three volume series: nothing is loaded until the operator picks one.
    assert!(h.state().viewer.is_none());
    // Rows read "number · kind · folder/ · …"; the scanner's folders are S1000, S2010, ….
    assert!(
        h.query_by_label_contains("localizer · S1000/").is_some(),
        "localizer row"
    );
    assert!(
        h.query_all_by_label_contains("secondary-capture · S4010/")
            .count()
            == 4,
        "secondary capture row"
    );
    // Choosing a localizer offers no Load button: it is not a volume.
    h.get_by_label_contains("localizer · S1000/").click();
    h.run_steps(2);
    assert_eq!(h.state().selected.as_deref(), Some("100"));
    assert!(h.query_by_label("Load series").is_none());
    assert!(h.query_by_label_contains("Not loadable").is_some());

    h.get_by_label_contains("volume · S2010/").click();
    h.run_steps(2);
    assert_eq!(h.state().selected.as_deref(), Some("201"));
    h.get_by_label("Load series").click();
    h.run_steps(1);
    settle(&mut h);
    assert!(
        h.state().viewer.is_some(),
        "S2010 loaded: {:?}",
        h.state().messages
    );
    assert!(h.query_by_label_contains("Feasibility findings").is_some());
    // The banner line (code: message), beside the browser's list of codes.
    assert!(
        h.query_by_label_contains("slice-distance-above-1mm: slice distance 5.000 mm")
            .is_some()
    );
    // Acknowledging needs a case to record it in: the button opens the New case dialog.
    h.get_by_label("I have read these findings (create a case to record it)…")
        .click();
    h.run_steps(2);
    assert!(
        h.query_by_label("Create case").is_some(),
        "the New case dialog"
    );
    let cases = tempfile::tempdir().unwrap();
    // An empty purpose is refused, and the dialog says why.
    h.state_mut().new_case.as_mut().unwrap().folder = cases.path().display().to_string();
    h.get_by_label("Create case").click();
    h.run_steps(2);
    assert!(h.state().case.is_none());
    assert!(h.query_by_label_contains("clinical purpose").is_some());
    {
        let f = h.state_mut().new_case.as_mut().unwrap();
        f.text = "skull for an implant (test)".into();
        f.operator = "Dr Test".into();
        f.name = "s2010".into();
    }
    h.get_by_label("Create case").click();
    h.run_steps(2);
    assert!(h.state().case.is_some(), "{:?}", h.state().messages);
    assert!(h.state().loaded.as_ref().is_some_and(|l| l.acknowledged));
    assert!(
        h.query_all_by_label_contains("acknowledged by Dr Test")
            .count()
            >= 1
    );
    // It is in the case on disk, with the codes.
    let files = hounsfield::case::CaseFiles::read(&cases.path().join("s2010.hfcase")).unwrap();
    let acks = files.acknowledgements();
    assert_eq!(acks.len(), 1);
    assert!(
        acks[0]
            .codes
            .iter()
            .any(|c| c == "slice-distance-above-1mm")
    );
    assert_eq!(acks[0].operator, "Dr Test");
    assert!(files.unacknowledged().is_empty());
}

fn sample_app() -> Harness<'static, App> {
    let mut app = App::new(None, Prefs::default());
    app.open(&common::sample());
    let mut h = harness(app);
    settle(&mut h);
    assert!(h.state().viewer.is_some(), "{:?}", h.state().messages);
    h
}

#[test]
fn layout_buttons_switch_the_layout() {
    let mut h = sample_app();
    assert_eq!(h.state().prefs.layout, Layout::Grid2x2);
    h.get_by_label("1×3").click();
    h.run_steps(2);
    assert_eq!(h.state().prefs.layout, Layout::Row1x3);
    h.get_by_label("2×2").click();
    h.run_steps(2);
    assert_eq!(h.state().prefs.layout, Layout::Grid2x2);
}

#[test]
fn window_presets_set_width_and_level() {
    let mut h = sample_app();
    for (name, w) in [
        ("Brain", WindowLevel::BRAIN),
        ("Lung", WindowLevel::LUNG),
        ("Soft tissue", WindowLevel::SOFT_TISSUE),
        ("Bone", WindowLevel::BONE),
    ] {
        h.get_by_label(name).click();
        h.run_steps(2);
        assert_eq!(
            h.state().viewer.as_ref().map(|v| v.window),
            Some(w),
            "{name}"
        );
    }
    h.get_by_label("Auto").click();
    h.run_steps(2);
    let auto = h.state().viewer.as_ref().map(|v| v.window).unwrap();
    assert!(auto.width > 100.0 && auto.width < 4000.0, "{auto:?}");
}

#[test]
fn the_readme_lists_every_binding() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    for (k, a) in hounsfield::ui::help::SLICE_BINDINGS
        .iter()
        .chain(hounsfield::ui::help::VIEW3D_BINDINGS)
        .chain(hounsfield::ui::help::EDITOR_BINDINGS)
    {
        assert!(
            readme.contains(&format!("| {k} | {a} |")),
            "README lacks the binding `{k}` → `{a}`"
        );
    }
}

/// The script commands are a public contract: every one is in the README's table (serde
/// lists the names it knows when it meets one it does not).
#[test]
fn the_readme_lists_every_script_command() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let err = hounsfield::ui::command::UiCommand::parse(&serde_json::json!({"cmd": "no-such"}))
        .unwrap_err();
    let (_, names) = err
        .split_once("expected one of")
        .expect("serde lists the commands");
    let names: Vec<&str> = names
        .split(',')
        .map(|n| n.trim().trim_matches(|c| c == '`' || c == ' ' || c == '.'))
        .filter(|n| !n.is_empty())
        .collect();
    assert!(names.len() >= 25, "{names:?}");
    for n in names {
        assert!(
            readme.contains(&format!("| `{n}` |"))
                || readme.contains(&format!("| `{n}`, `"))
                || readme.contains(&format!(", `{n}` |")),
            "README lacks the script command `{n}`"
        );
    }
}

#[test]
fn wheel_and_keys_step_slices_in_the_view_under_the_pointer() {
    let mut h = sample_app();
    let c = view_centre(&h, ViewId::Axial);
    let k0 = h.state().viewer.as_ref().unwrap().slice_index(0).0;
    push(&mut h, egui::Event::PointerMoved(c));
    push(
        &mut h,
        egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Line,
            delta: egui::vec2(0.0, 1.0),
            modifiers: egui::Modifiers::NONE,
        },
    );
    let v = h.state().viewer.as_ref().unwrap();
    assert_eq!(v.slice_index(0).0, k0 + 1);
    // The coronal plane did not move.
    let j0 = v.slice_index(1).0;
    h.key_press(egui::Key::PageDown);
    h.step();
    let v = h.state().viewer.as_ref().unwrap();
    assert_eq!(v.slice_index(0).0, k0 + 1 - 10);
    assert_eq!(v.slice_index(1).0, j0);
}

#[test]
fn right_drag_sets_window_and_level_and_double_click_maximises() {
    let mut h = sample_app();
    let c = view_centre(&h, ViewId::Coronal);
    let before = h.state().viewer.as_ref().unwrap().window;
    drag(
        &mut h,
        c,
        c + egui::vec2(80.0, 40.0),
        egui::PointerButton::Secondary,
    );
    let after = h.state().viewer.as_ref().unwrap().window;
    assert!(after.width > before.width, "{before:?} → {after:?}");
    assert!(after.level > before.level, "{before:?} → {after:?}");

    push(&mut h, egui::Event::PointerMoved(c));
    for _ in 0..2 {
        button(&mut h, c, egui::PointerButton::Primary, true);
        button(&mut h, c, egui::PointerButton::Primary, false);
    }
    h.run_steps(2);
    assert_eq!(h.state().prefs.layout, Layout::Single(ViewId::Coronal));
}

#[test]
fn left_click_moves_the_crosshair_and_ctrl_drag_on_its_line_makes_the_planes_oblique() {
    let mut h = sample_app();
    let c = view_centre(&h, ViewId::Axial);
    // Click off-centre: the cursor moves there, so the other views' planes move.
    let j0 = h.state().viewer.as_ref().unwrap().slice_index(1).0;
    push(&mut h, egui::Event::PointerMoved(c + egui::vec2(0.0, 40.0)));
    button(
        &mut h,
        c + egui::vec2(0.0, 40.0),
        egui::PointerButton::Primary,
        true,
    );
    button(
        &mut h,
        c + egui::vec2(0.0, 40.0),
        egui::PointerButton::Primary,
        false,
    );
    h.run_steps(2);
    let v = h.state().viewer.as_ref().unwrap();
    assert!(
        v.slice_index(1).0 > j0,
        "coronal plane follows the crosshair down (posterior)"
    );
    assert!(!v.is_oblique());
    // Grab the horizontal (coronal) line right of the crosshair and turn it.
    let cur = c + egui::vec2(0.0, 40.0);
    h.input_mut().modifiers = egui::Modifiers::CTRL;
    drag(
        &mut h,
        cur + egui::vec2(60.0, 0.0),
        cur + egui::vec2(55.0, 30.0),
        egui::PointerButton::Primary,
    );
    h.input_mut().modifiers = egui::Modifiers::NONE;
    h.step();
    assert!(h.state().viewer.as_ref().unwrap().is_oblique());
    h.get_by_label("Reset planes").click();
    h.run_steps(2);
    assert!(!h.state().viewer.as_ref().unwrap().is_oblique());
}

#[test]
fn wheel_zoom_in_3d_draws_fast_until_the_wheel_pauses() {
    let mut h = sample_app();
    let c = view_centre(&h, ViewId::ThreeD);
    let d0 = h.state().viewer.as_ref().unwrap().camera.distance_mm;
    push(&mut h, egui::Event::PointerMoved(c));
    push(
        &mut h,
        egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Line,
            delta: egui::vec2(0.0, 2.0),
            modifiers: egui::Modifiers::NONE,
        },
    );
    let v = h.state().viewer.as_ref().unwrap();
    assert!(v.camera.distance_mm < d0, "wheel up comes closer");
    assert!(v.interacting);
    h.run_steps(30);
    assert!(!h.state().viewer.as_ref().unwrap().interacting);
}
