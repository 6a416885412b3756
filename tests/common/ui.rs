//! Helpers for the window tests driven through egui_kittest.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use egui_kittest::Harness;
use hounsfield::ui::{App, ViewId};
use std::time::{Duration, Instant};

/// A harness drawing `app` in a 1280 × 800 window at 60 frames per second.
pub fn harness(app: App) -> Harness<'static, App> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        // Frames 1/60 s apart, as in the window (double clicks need two within 0.3 s).
        .with_step_dt(1.0 / 60.0)
        .build_state(|ctx, app: &mut App| app.ui(ctx), app)
}

/// Steps the UI until every job is done.
pub fn settle(h: &mut Harness<'static, App>) {
    let t0 = Instant::now();
    while h.state().any_job() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "job did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    h.run_steps(3);
}

/// Where a view was last drawn.
pub fn view_rect(h: &Harness<'static, App>, id: ViewId) -> egui::Rect {
    h.state()
        .view_rects
        .iter()
        .find(|(v, _)| *v == id)
        .map(|(_, r)| *r)
        .unwrap()
}

/// The centre of a view as last drawn.
pub fn view_centre(h: &Harness<'static, App>, id: ViewId) -> egui::Pos2 {
    h.state()
        .view_rects
        .iter()
        .find(|(v, _)| *v == id)
        .map(|(_, r)| r.center())
        .unwrap()
}

/// Sends one input event and draws a frame.
pub fn push(h: &mut Harness<'static, App>, e: egui::Event) {
    h.input_mut().events.push(e);
    h.step();
}

/// Presses or releases a mouse button.
pub fn button(
    h: &mut Harness<'static, App>,
    pos: egui::Pos2,
    button: egui::PointerButton,
    pressed: bool,
) {
    let modifiers = h.input().modifiers;
    push(
        h,
        egui::Event::PointerButton {
            pos,
            button,
            pressed,
            modifiers,
        },
    );
}

/// Drags with a button from one point to another in eight steps.
pub fn drag(
    h: &mut Harness<'static, App>,
    from: egui::Pos2,
    to: egui::Pos2,
    b: egui::PointerButton,
) {
    push(h, egui::Event::PointerMoved(from));
    button(h, from, b, true);
    for k in 1..=8 {
        let t = k as f32 / 8.0;
        push(h, egui::Event::PointerMoved(from + (to - from) * t));
    }
    button(h, to, b, false);
}
