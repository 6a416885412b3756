//! The editor driven through its panels and views with egui_kittest (no GPU needed): the
//! threshold handles and Apply, a brush stroke, undo, and slice verification that a later
//! edit invalidates — each checked in the case the window writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ui::{button, drag, harness, push, settle, view_centre, view_rect};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use hounsfield::case::ledger::Orientation;
use hounsfield::case::record::{Purpose, PurposeCategory};
use hounsfield::segment::log::EntryStatus;
use hounsfield::ui::command::UiCommand;
use hounsfield::ui::editor::Tool;
use hounsfield::ui::{App, Prefs, ViewId};

/// The sample loaded, a case made and its findings acknowledged.
fn editor(dir: &std::path::Path) -> Harness<'static, App> {
    let mut app = App::new(None, Prefs::default());
    app.open(&common::sample());
    let mut h = harness(app);
    settle(&mut h);
    let s = h.state_mut();
    s.execute(UiCommand::NewCase {
        folder: dir.to_path_buf(),
        name: "editor".into(),
        purpose: Purpose {
            category: PurposeCategory::Education,
            text: "editor test".into(),
        },
        operator: "tester".into(),
    })
    .unwrap();
    s.execute(UiCommand::Acknowledge).unwrap();
    h.run_steps(2);
    h
}

fn case<'a>(h: &'a Harness<'static, App>) -> &'a hounsfield::case::Case {
    h.state().case.as_deref().expect("a case is open")
}

#[test]
fn threshold_handles_set_the_range_and_apply_logs_exactly_those_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = editor(dir.path());
    h.get_by_label("Threshold").click();
    h.run_steps(2);
    assert_eq!(h.state().editor.tool, Tool::Threshold);
    let r = h
        .state()
        .editor
        .histogram_rect
        .expect("the histogram is drawn");
    let (lo0, hi0) = (h.state().editor.threshold.lo, h.state().editor.threshold.hi);
    // Drag the low handle (at 226 HU) to the left third of the histogram.
    let span = 3071.0 + 1024.0;
    let x = |hu: f32| r.min.x + (hu + 1024.0) / span * r.width();
    let y = r.center().y;
    drag(
        &mut h,
        egui::pos2(x(lo0 as f32), y),
        egui::pos2(x(400.0), y),
        egui::PointerButton::Primary,
    );
    let t = h.state().editor.threshold;
    assert!((t.lo - 400).abs() <= 5, "low handle at {}", t.lo);
    assert_eq!(t.hi, hi0, "the high handle stays");
    // The preview follows the handles.
    h.run_steps(1);
    let preview = h.state().viewer.as_ref().unwrap().overlay.preview;
    assert_eq!(preview, Some([f64::from(t.lo), f64::from(t.hi)]));
    h.get_by_label("Apply to `bone`").click();
    h.run_steps(1);
    settle(&mut h);
    let log = case(&h).session().log();
    let e = log.entries.last().expect("an operation was applied");
    assert_eq!(e.op.name(), "threshold");
    let j = serde_json::to_value(&e.op).unwrap();
    assert_eq!(
        (j["lo"].as_i64(), j["hi"].as_i64()),
        (Some(i64::from(t.lo)), Some(i64::from(t.hi)))
    );
    assert_eq!(j["label"], "bone");
    // And it is in the journal on disk.
    let files = hounsfield::case::CaseFiles::read(case(&h).dir()).unwrap();
    assert!(files.events.iter().any(|e| e.name() == "applied"));
}

/// Steps the UI until the 3D threshold preview has caught up with the handles.
fn settle_preview(h: &mut Harness<'static, App>) {
    let t0 = std::time::Instant::now();
    while h.state().preview.busy() {
        assert!(t0.elapsed().as_secs() < 120, "the preview did not finish");
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.step();
    }
    h.run_steps(2);
}

#[test]
fn the_threshold_surface_follows_the_range_in_the_3d_view_and_records_nothing() {
    use hounsfield::mesh::preview::{self, PreviewRequest};
    let dir = tempfile::tempdir().unwrap();
    let mut h = editor(dir.path());
    let entries = case(&h).session().log().entries.len();
    assert!(
        h.state().preview_shown().is_none(),
        "no preview outside the tool"
    );
    h.get_by_label("Threshold").click();
    h.run_steps(2);
    h.state_mut()
        .execute(UiCommand::SetThreshold { lo: 300, hi: 3071 })
        .unwrap();
    h.run_steps(1);
    settle_preview(&mut h);
    let volume = h.state().viewer.as_ref().unwrap().volume.clone();
    let expect = |lo, largest_only| {
        preview::surface(
            &volume.hu,
            &volume.geometry,
            PreviewRequest {
                lo,
                hi: 3071,
                largest_only,
                step: 1,
            },
            &hounsfield::compute::Compute::cpu(),
            &Default::default(),
        )
        .unwrap()
    };
    let shown = h
        .state()
        .preview_shown()
        .expect("the 3D view previews")
        .clone();
    // The bundled sample fits the dragging budget: the full lattice at once.
    assert_eq!(shown.request.step, 1);
    same_mesh(&shown.mesh, &expect(300, false).mesh);
    let view = h.state().scene();
    assert_eq!(view.scene, hounsfield::gpu::Scene3d::Surface(None));
    let caption = view.caption.expect("a caption");
    assert!(
        caption.starts_with("Threshold preview 300..3071 HU"),
        "{caption}"
    );
    // Largest only, ticked in the panel.
    h.get_by_label("largest only").click();
    h.run_steps(1);
    settle_preview(&mut h);
    let largest = h
        .state()
        .preview_shown()
        .expect("the largest component")
        .clone();
    let want = expect(300, true);
    same_mesh(&largest.mesh, &want.mesh);
    assert!(largest.components.unwrap() > 1, "{:?}", largest.components);
    assert!(largest.mesh.triangles.len() < shown.mesh.triangles.len());
    // A new range replaces the surface.
    h.state_mut()
        .execute(UiCommand::SetThreshold { lo: 700, hi: 3071 })
        .unwrap();
    h.run_steps(1);
    settle_preview(&mut h);
    let moved = h.state().preview_shown().unwrap().clone();
    assert_eq!((moved.request.lo, moved.request.largest_only), (700, true));
    same_mesh(&moved.mesh, &expect(700, true).mesh);
    // Off from a script command, and gone once the tool changes: the case holds nothing of it.
    h.state_mut()
        .execute(UiCommand::ThresholdSurface {
            show: false,
            largest_only: None,
        })
        .unwrap();
    h.run_steps(1);
    assert!(h.state().preview_shown().is_none());
    assert!(h.state().preview.shown.is_none(), "the surface is dropped");
    h.state_mut()
        .execute(UiCommand::ThresholdSurface {
            show: true,
            largest_only: Some(false),
        })
        .unwrap();
    h.get_by_label("Navigate").click();
    h.run_steps(2);
    assert!(h.state().preview_shown().is_none());
    let view = h.state().scene();
    assert_ne!(view.scene, hounsfield::gpu::Scene3d::Surface(None));
    assert!(view.caption.is_none());
    assert_eq!(case(&h).session().log().entries.len(), entries);
}

/// Asserts two meshes are the same without printing thousands of vertices when they are not.
#[track_caller]
fn same_mesh(got: &hounsfield::mesh::Mesh, want: &hounsfield::mesh::Mesh) {
    assert_eq!(
        (got.vertices.len(), got.triangles.len()),
        (want.vertices.len(), want.triangles.len()),
        "vertex and triangle counts"
    );
    assert!(got == want, "same counts, different vertices or triangles");
}

/// Presses a key and draws a frame.
fn key(h: &mut Harness<'static, App>, k: egui::Key, modifiers: egui::Modifiers) {
    h.input_mut().events.push(egui::Event::Key {
        key: k,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers,
    });
    h.input_mut().modifiers = modifiers;
    h.step();
    h.input_mut().events.push(egui::Event::Key {
        key: k,
        physical_key: None,
        pressed: false,
        repeat: false,
        modifiers,
    });
    h.input_mut().modifiers = egui::Modifiers::NONE;
    h.step();
}

#[test]
fn a_brush_stroke_paints_where_dragged_and_undo_restores_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = editor(dir.path());
    h.get_by_label("Brush").click();
    h.run_steps(2);
    let before = case(&h).session().log().final_hash.clone();
    let c = view_centre(&h, ViewId::Axial);
    let from = c + egui::vec2(-30.0, 10.0);
    let to = c + egui::vec2(30.0, 10.0);
    // Where the stroke lies in the patient: the view's mapping of those points.
    let rect = view_rect(&h, ViewId::Axial);
    let size = [f64::from(rect.width()), f64::from(rect.height())];
    let mut viewer = h.state().viewer.clone().unwrap();
    let sv = viewer.slice_view(0, size);
    let local = |p: egui::Pos2| [f64::from(p.x - rect.min.x), f64::from(p.y - rect.min.y)];
    let mid = sv.point_at(local(c + egui::vec2(0.0, 10.0)), size);
    let off = sv.point_at(local(c + egui::vec2(0.0, 60.0)), size);
    drag(&mut h, from, to, egui::PointerButton::Primary);
    h.run_steps(2);
    let case_now = case(&h);
    let e = case_now
        .session()
        .log()
        .entries
        .last()
        .expect("the stroke is an operation");
    assert_eq!(e.op.name(), "brush");
    assert_eq!(
        case_now.session().log().entries.len(),
        1,
        "one stroke, one operation"
    );
    let seg = case_now.session().segmentation();
    let mask = &seg.get("bone").expect("painted into the active label").mask;
    let voxel = |p: glam::DVec3| {
        let v = seg
            .geometry
            .coord_of(hounsfield::geom::LpsPointMm(p))
            .unwrap();
        // The slice shown: the layer nearest the plane, ties upwards (as the shader draws).
        let k = (v.slice + 0.5).floor() as usize;
        mask.get(k, v.row.round() as usize, v.col.round() as usize)
    };
    assert!(voxel(mid), "the middle of the stroke is painted");
    assert!(!voxel(off), "50 px away is not");
    assert!(e.changes[0].added > 0);
    assert_ne!(case_now.session().log().final_hash, before);
    // Ctrl+Z takes it back: the hash returns, and the log keeps the step as undone.
    key(&mut h, egui::Key::Z, egui::Modifiers::COMMAND);
    let log = case(&h).session().log();
    assert_eq!(log.final_hash, before);
    assert_eq!(log.entries[0].status, EntryStatus::Undone);
    key(
        &mut h,
        egui::Key::Z,
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
    );
    assert_ne!(case(&h).session().log().final_hash, before, "redo");
}

#[test]
fn an_edit_after_verification_shows_the_slice_changed_and_coverage_drops() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = editor(dir.path());
    {
        let s = h.state_mut();
        s.execute(UiCommand::ThresholdPreset {
            preset: "bone".into(),
        })
        .unwrap();
        s.execute(UiCommand::ApplyThreshold).unwrap();
        s.finish_job();
        s.execute(UiCommand::GoToSlice {
            view: "axial".into(),
            index: 30,
        })
        .unwrap();
    }
    // Let the panel settle (the new label's row moves the tool buttons down).
    h.run_steps(3);
    h.get_by_label("Verify").click();
    h.run_steps(2);
    assert_eq!(h.state().editor.tool, Tool::Verify);
    // V three times: slices 30, 31, 32 confirmed, the view moves on each time.
    for _ in 0..3 {
        key(&mut h, egui::Key::V, egui::Modifiers::NONE);
    }
    let axial = |h: &Harness<'static, App>| {
        case(h)
            .coverage()
            .into_iter()
            .find(|c| c.label == "bone" && c.orientation == Orientation::Axial)
            .unwrap()
    };
    let c = axial(&h);
    assert_eq!((c.verified, c.changed_after_verification), (3, 0));
    assert_eq!(h.state().viewer.as_ref().unwrap().slice_index(0).0 - 1, 33);
    // The strip shows them.
    let strip = &h.state().editor.verify.strip.as_ref().unwrap().4;
    assert_eq!(
        strip[30..33],
        [hounsfield::ui::editor::PlaneState::Verified; 3]
    );
    // Paint on slice 31 with the brush: it shows as changed, coverage drops to 2.
    {
        let s = h.state_mut();
        s.execute(UiCommand::GoToSlice {
            view: "axial".into(),
            index: 31,
        })
        .unwrap();
    }
    h.run_steps(3);
    h.get_by_label("Brush").click();
    h.run_steps(2);
    let c0 = view_centre(&h, ViewId::Axial);
    push(&mut h, egui::Event::PointerMoved(c0));
    button(&mut h, c0, egui::PointerButton::Primary, true);
    button(&mut h, c0, egui::PointerButton::Primary, false);
    h.run_steps(2);
    let c = axial(&h);
    assert_eq!(
        (c.verified, c.changed_after_verification, c.changed.clone()),
        (2, 1, vec![31])
    );
    // The report says so too.
    let r = hounsfield::report::Report::of(case(&h));
    assert_eq!(r.verification.state, "partial");
    assert!(
        r.verification
            .coverage
            .iter()
            .any(|c| c.changed == vec![31])
    );
}

/// Two labels compared from the panel: the figures of `compare`, and the difference drawn
/// in their place (only A, only B, both) until a label changes.
#[test]
fn two_labels_are_compared_and_their_difference_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = editor(dir.path());
    for (label, lo) in [("bone", 226), ("dense", 700)] {
        let s = h.state_mut();
        s.execute(UiCommand::Apply {
            op: serde_json::json!({"op": "threshold", "lo": lo, "hi": 3071, "label": label}),
        })
        .unwrap();
        settle(&mut h);
    }
    let seg = case(&h).session().segmentation();
    let (a, b) = (
        seg.get("bone").unwrap().mask.count(),
        seg.get("dense").unwrap().mask.count(),
    );
    assert!(b > 0 && b < a);
    // Room in the side panel: fold the sections above, open this one.
    for section in ["Segment", "Model and export", "Compare labels"] {
        h.get_by_label(section).click();
        h.run_steps(1);
    }
    h.run_steps(2);
    h.get_by_label("Compare A with B").click();
    h.run_steps(1);
    settle(&mut h);
    let r = h.state().editor.compare.result.clone().expect("compared");
    assert_eq!((r.a.0.as_str(), r.b.0.as_str()), ("bone", "dense"));
    let f = &r.figures;
    assert_eq!((f.voxels_a, f.voxels_b, f.voxels_both), (a, b, b));
    assert!((f.dice - 2.0 * b as f64 / (a + b) as f64).abs() < 1e-12);
    assert!(f.hausdorff_mm > 0.0);
    // The difference in the slices: dense ⊂ bone, so nothing is only B.
    h.get_by_label("Show the difference in the slices").click();
    h.run_steps(2);
    assert!(h.state().editor.compare.difference);
    let d = h.state_mut().difference_overlay().expect("overlay");
    let count = |n: &str| d.get(n).unwrap().mask.count();
    assert_eq!(
        (count("only A"), count("only B"), count("A and B")),
        (a - b, 0, b)
    );
    // A change to either label makes the figures stale and the labels come back.
    h.state_mut()
        .execute(UiCommand::Apply {
            op: serde_json::json!({"op": "threshold", "lo": 900, "hi": 3071, "label": "dense"}),
        })
        .unwrap();
    settle(&mut h);
    assert!(h.state_mut().difference_overlay().is_none());
    h.run_steps(2);
    assert!(
        h.query_by_label("The labels changed since: compare again.")
            .is_some()
    );
}

/// A physician's caliper: with the Measure tool, two clicks on the edges of a 20 mm
/// sphere (where its image crosses half-way between tissue and object, as an eye places
/// them) read 20.0 ± 0.5 mm, recorded in the case at those patient positions and listed
/// in the report.
#[test]
fn a_distance_measured_across_a_20_mm_sphere_reads_20_mm() {
    let dir = tempfile::tempdir().unwrap();
    let spec = hounsfield::phantom::PhantomSpec {
        objects: hounsfield::phantom::standard_objects()
            .into_iter()
            .filter(|o| o.name == "sphere-20")
            .collect(),
        ..Default::default()
    };
    let series = dir.path().join("sphere");
    hounsfield::phantom::generate(&spec, &series).unwrap();
    let mut app = App::new(None, Prefs::default());
    app.open(&series);
    let mut h = harness(app);
    settle(&mut h);
    let s = h.state_mut();
    s.execute(UiCommand::NewCase {
        folder: dir.path().to_path_buf(),
        name: "measure".into(),
        purpose: Purpose {
            category: PurposeCategory::Education,
            text: "measurement test".into(),
        },
        operator: "tester".into(),
    })
    .unwrap();
    s.execute(UiCommand::Layout {
        layout: "axial".into(),
    })
    .unwrap();
    s.execute(UiCommand::GoTo {
        point_mm: [-30.0, -30.0, 0.0],
    })
    .unwrap();
    h.run_steps(3);
    // Fold the editing sections so the Measurements section is on screen, and open it.
    for section in ["Segment", "Model and export", "Measurements"] {
        h.get_by_label(section).click();
        h.run_steps(2);
    }
    h.get_by_label("Measure in the slice views").click();
    h.run_steps(2);
    assert_eq!(h.state().editor.tool, Tool::Measure);

    // The screen row through the sphere's centre, and where its image crosses half-way.
    let rect = view_rect(&h, ViewId::Axial);
    let size = [f64::from(rect.width()), f64::from(rect.height())];
    let mut viewer = h.state().viewer.clone().unwrap();
    let sv = viewer.slice_view(0, size);
    let centre = sv.pixel_of(glam::DVec3::new(-30.0, -30.0, 0.0), size);
    let volume = viewer.volume.clone();
    let half = spec.materials.half_way_hu();
    let hu_at = |x: f64| {
        let p = sv.point_at([x, centre[1]], size);
        hounsfield::volume::resample::sample_at(&volume, hounsfield::geom::LpsPointMm(p))
            .unwrap_or(-1000.0)
    };
    let crossing = |from: f64, step: f64| {
        let mut x = from;
        while hu_at(x + step) >= half {
            x += step;
        }
        // Linear between the last pixel inside and the first outside.
        let (a, b) = (hu_at(x), hu_at(x + step));
        x + step * (a - half) / (a - b)
    };
    let left = crossing(centre[0], -1.0);
    let right = crossing(centre[0], 1.0);
    let at = |x: f64| rect.min + egui::vec2(x as f32, centre[1] as f32);
    for x in [left, right] {
        push(&mut h, egui::Event::PointerMoved(at(x)));
        button(&mut h, at(x), egui::PointerButton::Primary, true);
        button(&mut h, at(x), egui::PointerButton::Primary, false);
        h.run_steps(8);
    }
    let c = case(&h);
    let ms = c.measurements();
    assert_eq!(ms.len(), 1, "two clicks, one distance");
    let m = ms[0].1;
    assert_eq!(m.shape.kind(), "distance");
    let d = m.figures[0].value;
    eprintln!("measured across the sphere: {d:.3} mm");
    assert!((d - 20.0).abs() <= 0.5, "the sphere measures {d:.3} mm");
    assert_eq!(m.figures[0].unit, "mm");
    // Stored in patient coordinates: both ends on the sphere's equator, 10 mm out.
    for p in m.shape.points() {
        let r = (p.0 - glam::DVec3::new(-30.0, -30.0, 0.0)).length();
        assert!((r - 10.0).abs() <= 0.5, "an end {r:.3} mm from the centre");
    }
    // HU statistics inside a square in the sphere, on the slice shown: the object's HU.
    let square: Vec<[f64; 3]> = [
        (-33.0, -33.0),
        (-27.0, -33.0),
        (-27.0, -27.0),
        (-33.0, -27.0),
    ]
    .iter()
    .map(|&(x, y)| [x, y, 0.0])
    .collect();
    h.state_mut()
        .execute(UiCommand::Measure {
            kind: hounsfield::ui::editor::MeasureTool::Hu,
            view: "axial".into(),
            points_mm: square,
            name: Some("inside".into()),
        })
        .unwrap();
    let c = case(&h);
    let (_, hu) = c.measurements()[1];
    let hounsfield::measure::Shape::HuStats { index, points, .. } = &hu.shape else {
        panic!("an HU measurement: {:?}", hu.shape);
    };
    let on = c.volume().geometry.coord_of(points[0]).unwrap().slice;
    assert_eq!(
        *index as f64,
        on.round(),
        "the statistics are of the slice shown"
    );
    assert_eq!(hu.figures[0].value, spec.materials.bone_hu);
    // On the model in the 3D view: two clicks on the sphere's surface measure between
    // the points the rays hit, which lie on the sphere (a 10 mm radius).
    let s = h.state_mut();
    s.execute(UiCommand::SetThreshold {
        lo: half as i32,
        hi: 3071,
    })
    .unwrap();
    s.execute(UiCommand::ApplyThreshold).unwrap();
    settle(&mut h);
    h.state_mut()
        .execute(UiCommand::Reconstruct {
            params: None,
            labels: None,
        })
        .unwrap();
    settle(&mut h);
    assert!(h.state().surface.built.is_some(), "the sphere's surface");
    h.state_mut()
        .execute(UiCommand::Layout {
            layout: "3d".into(),
        })
        .unwrap();
    h.run_steps(3);
    let rect = view_rect(&h, ViewId::ThreeD);
    let camera = h.state().viewer.as_ref().unwrap().camera;
    let centre = glam::DVec3::new(-30.0, -30.0, 0.0);
    let mut expected = Vec::new();
    for side in [-5.0, 5.0] {
        let q =
            hounsfield::ui::views::project_3d(&camera, rect.size(), centre + camera.right() * side)
                .unwrap();
        // Where that pixel's ray meets the true sphere first.
        let (o, d) = hounsfield::ui::views::ray_3d(&camera, rect.size(), q);
        let (a, b) = (d.length_squared(), 2.0 * d.dot(o - centre));
        let c0 = (o - centre).length_squared() - 100.0;
        let t = (-b - (b * b - 4.0 * a * c0).sqrt()) / (2.0 * a);
        expected.push(o + d * t);
        let at = rect.min + q.to_vec2();
        push(&mut h, egui::Event::PointerMoved(at));
        button(&mut h, at, egui::PointerButton::Primary, true);
        button(&mut h, at, egui::PointerButton::Primary, false);
        h.run_steps(8);
    }
    let c = case(&h);
    let m = c.measurements().last().unwrap().1.clone();
    assert_eq!(m.shape.kind(), "distance");
    let got = m.shape.points();
    for (p, e) in got.iter().zip(&expected) {
        assert!(
            p.0.distance(*e) < 0.3,
            "picked {p:?}, the sphere is at {e:?}"
        );
    }
    let want = expected[0].distance(expected[1]);
    assert!(
        (m.figures[0].value - want).abs() < 0.3,
        "{} vs {want}",
        m.figures[0].value
    );

    // Shown on screen and listed in the report.
    h.run_steps(2);
    assert!(
        h.query_by_label_contains(&format!("(distance): distance {d:.2} mm"))
            .is_some(),
        "the Measurements section lists it"
    );
    h.state_mut().execute(UiCommand::WriteReport).unwrap();
    let html = std::fs::read_to_string(case(&h).dir().join("report.html")).unwrap();
    assert!(html.contains("Measurements") && html.contains(&format!("{d:.2} mm")));
}

/// Review mode: the case opens read-only (editing commands are refused, the editing
/// sections are gone), and *Approve and sign* records a decision signed with the
/// reviewer's key that holds until the content changes.
#[test]
fn review_mode_is_read_only_and_its_approval_is_signed() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = editor(dir.path());
    let s = h.state_mut();
    s.reviewer_key = Some(dir.path().join("keys").join("reviewer.key"));
    s.execute(UiCommand::ThresholdPreset {
        preset: "bone".into(),
    })
    .unwrap();
    s.execute(UiCommand::ApplyThreshold).unwrap();
    settle(&mut h);
    h.state_mut()
        .execute(UiCommand::ReviewMode { on: true })
        .unwrap();
    h.run_steps(3);
    assert!(h.query_by_label("Segment").is_none(), "no editing section");
    let before = case(&h).session().log().final_hash.clone();
    let err = h
        .state_mut()
        .execute(UiCommand::Apply {
            op: serde_json::json!({"op": "keep_largest"}),
        })
        .unwrap_err();
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(case(&h).session().log().final_hash, before);
    h.state_mut().editor.review.reviewer = "Dr. K. Reviewer".into();
    h.run_steps(2);
    h.get_by_label("Approve and sign").click();
    h.run_steps(3);
    let st = case(&h).review_status();
    assert!(st.approved(), "{}", st.summary());
    let d = &st.decisions[0];
    assert!(d.signature_valid);
    assert_eq!(d.decision.reviewer, "Dr. K. Reviewer");
    assert!(
        h.query_all_by_label_contains("APPROVED by Dr. K. Reviewer")
            .next()
            .is_some(),
        "the panel shows the approval"
    );
    // Back to editing, one stroke: the approval is void and says which label changed.
    let s = h.state_mut();
    s.execute(UiCommand::ReviewMode { on: false }).unwrap();
    let p = s.viewer.as_ref().unwrap().cursor.to_array();
    s.execute(UiCommand::Stroke {
        view: "axial".into(),
        points_mm: vec![p],
        radius_mm: Some(3.0),
        mode: Some(hounsfield::segment::ops::brush::BrushMode::Paint),
        shape: None,
    })
    .unwrap();
    h.run_steps(2);
    let st = case(&h).review_status();
    assert_eq!(st.state, "void");
    assert!(
        st.changes
            .iter()
            .any(|c| c.contains("label `bone` changed"))
    );
}

/// A DICOM SEG saved from the window comes back through *Import DICOM SEG…*'s command as
/// the same mask, recorded as an `import_mask` operation.
#[test]
fn a_saved_dicom_seg_imports_back_as_the_same_mask() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = editor(dir.path());
    assert!(
        h.query_by_label("Import DICOM SEG…").is_some(),
        "the button is in the Segment panel"
    );
    let s = h.state_mut();
    s.execute(UiCommand::Apply {
        op: serde_json::json!({"op": "threshold", "lo": 226, "hi": 3071, "label": "bone"}),
    })
    .unwrap();
    settle(&mut h);
    let before = {
        let mut m = case(&h)
            .session()
            .segmentation()
            .get("bone")
            .unwrap()
            .mask
            .clone();
        m.hash()
    };
    h.state_mut()
        .execute(UiCommand::Export {
            file: "bone.seg.dcm".into(),
            override_verification: true,
            allow_defects: false,
        })
        .unwrap();
    settle(&mut h);
    let seg = case(&h).dir().join("exports/bone.seg.dcm");
    assert!(seg.is_file());
    h.state_mut()
        .execute(UiCommand::Apply {
            op: serde_json::json!({"op": "delete_label", "name": "bone"}),
        })
        .unwrap();
    settle(&mut h);
    assert!(case(&h).session().segmentation().get("bone").is_none());
    h.state_mut()
        .execute(UiCommand::ImportSeg { path: seg })
        .unwrap();
    settle(&mut h);
    let mut m = case(&h)
        .session()
        .segmentation()
        .get("bone")
        .expect("imported")
        .mask
        .clone();
    assert_eq!(m.hash(), before);
    let last = case(&h).session().log().applied().last().unwrap().op.name();
    assert_eq!(last, "import_mask");
    // Refused in review mode, like every edit.
    h.state_mut()
        .execute(UiCommand::ReviewMode { on: true })
        .unwrap();
    let e = h.state_mut().execute(UiCommand::ImportSeg {
        path: dir.path().join("x.dcm"),
    });
    assert!(e.is_err());
}

#[test]
fn editing_goes_on_while_a_reconstruction_runs_and_a_label_changed_meanwhile_is_refused() {
    use hounsfield::ui::app::Background;
    let dir = tempfile::tempdir().unwrap();
    let mut h = editor(dir.path());
    for (label, lo) in [("bone", 226), ("dense", 700)] {
        h.state_mut()
            .execute(UiCommand::Apply {
                op: serde_json::json!({"op": "threshold", "lo": lo, "hi": 3071, "label": label}),
            })
            .unwrap();
        settle(&mut h);
    }
    let models = |h: &Harness<'static, App>| case(h).files().reconstructions().len();
    let reconstruct = |label: &str| UiCommand::Reconstruct {
        params: None,
        labels: Some(vec![label.to_string()]),
    };
    // The label being reconstructed changes before its surface lands: refused, with why.
    let s = h.state_mut();
    s.execute(reconstruct("dense")).unwrap();
    assert!(s.running(Background::Reconstruct));
    s.execute(UiCommand::Undo)
        .expect("undo does not wait for the reconstruction");
    settle(&mut h);
    assert_eq!(models(&h), 0);
    assert!(
        h.state()
            .messages
            .iter()
            .any(|(_, m)| m.contains("changed while its surface was being reconstructed")),
        "{:?}",
        h.state().messages
    );
    // Another label is made while one reconstructs; a second reconstruction waits.
    let s = h.state_mut();
    s.execute(UiCommand::Redo).unwrap();
    s.execute(reconstruct("bone")).unwrap();
    let e = s.execute(reconstruct("dense")).unwrap_err();
    assert!(e.contains("wait until"), "{e}");
    s.execute(UiCommand::Apply {
        op: serde_json::json!({"op": "threshold", "lo": 1200, "hi": 3071, "label": "densest"}),
    })
    .expect("editing goes on beside the reconstruction");
    assert!(s.any_job());
    settle(&mut h);
    assert!(!h.state().any_job());
    assert_eq!(models(&h), 1, "{:?}", h.state().messages);
    let (_, r) = case(&h).files().reconstructions()[0];
    assert_eq!(r.masks[0].label, "bone");
    // What the 3D view shows is the recorded mesh, with the buffers the worker made for
    // the colouring chosen (no renderer here, so nothing has taken them yet).
    let shown = h
        .state()
        .surface
        .built
        .as_ref()
        .expect("a surface is shown");
    assert_eq!(
        hounsfield::mesh::record::mesh_hash(&shown.mesh),
        r.record.labels[0].mesh_hash
    );
    let (colour, drawn) = shown.drawn.as_ref().expect("the worker made the buffers");
    assert_eq!(*colour, h.state().surface.colour);
    let again = shown.mesh_data(*colour);
    assert!(drawn.vertices == again.vertices && drawn.indices == again.indices);
    assert!(
        case(&h)
            .session()
            .segmentation()
            .get("densest")
            .is_some_and(|l| l.mask.count() > 0)
    );
    // Showing the recorded model again, cancelled, then a new reconstruction: it is
    // recorded as a new model, not taken for the shown one.
    let s = h.state_mut();
    s.execute(UiCommand::ShowModel).unwrap();
    assert!(s.running(Background::Reconstruct));
    s.cancel_background(Background::Reconstruct);
    s.execute(reconstruct("densest")).unwrap();
    settle(&mut h);
    assert_eq!(models(&h), 2, "{:?}", h.state().messages);
    // Another case stops what runs beside editing: nothing of it lands there.
    let s = h.state_mut();
    s.execute(reconstruct("densest")).unwrap();
    let other = tempfile::tempdir().unwrap();
    s.execute(UiCommand::NewCase {
        folder: other.path().to_path_buf(),
        name: "other".into(),
        purpose: Purpose {
            category: PurposeCategory::Education,
            text: "second case".into(),
        },
        operator: "tester".into(),
    })
    .unwrap();
    assert!(!s.running(Background::Reconstruct));
    settle(&mut h);
    assert_eq!(models(&h), 0, "the new case has no model");
}
