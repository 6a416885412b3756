//! Panel logic through egui_kittest (no GPU needed: the views show a placeholder): the
//! series browser on the real exam, layout switching, window/level presets, and the help
//! bindings kept in step with the README.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use hounsfield::gpu::WindowLevel;
use hounsfield::ui::{App, Layout, Prefs};
use std::time::{Duration, Instant};

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_state(|ctx, app: &mut App| app.ui(ctx), app)
}

/// Steps the UI until the background job is done.
fn settle(h: &mut Harness<'static, App>) {
    let t0 = Instant::now();
    while h.state().job.is_some() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "job did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    h.run_steps(3);
}

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
    h.get_by_label("I have read these findings").click();
    h.run_steps(2);
    assert!(h.state().loaded.as_ref().is_some_and(|l| l.acknowledged));
    assert!(h.query_by_label_contains("(read)").is_some());
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
    {
        assert!(
            readme.contains(&format!("| {k} | {a} |")),
            "README lacks the binding `{k}` → `{a}`"
        );
    }
}
