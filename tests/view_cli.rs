//! `hounsfield view`: offscreen screenshots of the whole window through the wgpu renderer
//! (lavapipe in CI), the window itself under Xvfb, and the frame benchmark's report.
//! Needs a wgpu adapter (and xvfb-run for the window test): skips without, fails with CI=true.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{hounsfield, sample};
use std::path::Path;

fn have_gpu() -> bool {
    common::gpu().is_some()
}

fn png(path: &Path) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    assert_eq!(info.color_type, png::ColorType::Rgba);
    (info.width, info.height, buf)
}

/// Fraction of pixels in a rectangle (fractions of the image) brighter than `level`.
fn bright(img: &(u32, u32, Vec<u8>), x0: f64, y0: f64, x1: f64, y1: f64, level: u8) -> f64 {
    let (w, h, px) = img;
    let (mut n, mut b) = (0usize, 0usize);
    for y in (y0 * f64::from(*h)) as u32..(y1 * f64::from(*h)) as u32 {
        for x in (x0 * f64::from(*w)) as u32..(x1 * f64::from(*w)) as u32 {
            let i = ((y * w + x) * 4) as usize;
            n += 1;
            if px[i] > level {
                b += 1;
            }
        }
    }
    b as f64 / n.max(1) as f64
}

#[test]
fn offscreen_screenshot_of_the_sample_shows_bone_in_every_view() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("2x2.png");
    let s = sample();
    let (code, stdout, stderr) = hounsfield(&[
        "view",
        s.to_str().unwrap(),
        "--screenshot",
        out.to_str().unwrap(),
        "--size",
        "960x640",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let img = png(&out);
    assert_eq!((img.0, img.1), (960, 640));
    // Right of the side panel, each quadrant of the view area holds some bright bone.
    for (x0, y0) in [(0.45, 0.1), (0.75, 0.1), (0.45, 0.55), (0.75, 0.55)] {
        let f = bright(&img, x0, y0, x0 + 0.2, y0 + 0.3, 200);
        assert!(f > 0.003, "quadrant at {x0},{y0}: {f}");
    }
}

#[test]
fn bad_view_arguments_are_refused_with_a_reason() {
    let s = sample();
    let (code, _, err) = hounsfield(&[
        "view",
        s.to_str().unwrap(),
        "--layout",
        "3x3",
        "--screenshot",
        "x.png",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--layout"), "{err}");
    let (code, _, err) = hounsfield(&[
        "view",
        s.to_str().unwrap(),
        "--size",
        "12",
        "--screenshot",
        "x.png",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--size"), "{err}");
    let (code, _, err) = hounsfield(&["view", "/no/such/folder", "--screenshot", "x.png"]);
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn bench_frames_reports_every_view() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let s = sample();
    let (code, stdout, stderr) = hounsfield(&[
        "view",
        s.to_str().unwrap(),
        "--bench-frames",
        "4",
        "--size",
        "640x400",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for v in [
        "axial",
        "coronal",
        "sagittal",
        "3D volume rendering, interacting",
        "editor: 2x2, threshold handles moving, preview",
        "editor: 2x2, threshold handles moving, preview + 3D",
        "editor: 2x2, one 5 mm stroke per frame",
        "editor: 2x2, scrolling while a reconstruction runs",
        "editor: 2x2, undo of a stroke",
    ] {
        assert!(stdout.contains(v), "{v} missing in\n{stdout}");
    }
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let views = j["views"].as_array().unwrap();
    assert!((14..=15).contains(&views.len()), "{}", views.len());
    for v in views {
        assert!(v["stats"]["mean_ms"].as_f64().unwrap() > 0.0);
        let name = v["view"].as_str().unwrap_or_default();
        // Undo runs every tenth stroke; the background row lasts as long as the job.
        if !name.contains("undo") && !name.contains("while") {
            assert_eq!(v["stats"]["frames"], 4, "{name}");
        }
    }
}

#[test]
fn the_window_under_xvfb_takes_its_own_screenshot() {
    if !common::have_xvfb() {
        return;
    }
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("window.png");
    let s = sample();
    let o = std::process::Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x1024x24"])
        .arg(env!("CARGO_BIN_EXE_hounsfield"))
        .args([
            "view",
            s.to_str().unwrap(),
            "--in-window",
            "--size",
            "900x600",
            "--screenshot",
        ])
        .arg(&out)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let img = png(&out);
    assert!(img.0 >= 600 && img.1 >= 400, "{}×{}", img.0, img.1);
    assert!(bright(&img, 0.4, 0.05, 0.95, 0.95, 200) > 0.003);
}

#[test]
fn without_an_adapter_drawing_says_what_to_install_and_the_cli_still_works() {
    let s = sample();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.png");
    // No DirectX 12 on Linux: wgpu finds no adapter at all.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hounsfield"))
        .args([
            "view",
            s.to_str().unwrap(),
            "--screenshot",
            out.to_str().unwrap(),
        ])
        .env("WGPU_BACKEND", "dx12")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no GPU adapter") && err.contains("mesa-vulkan-drivers"),
        "{err}"
    );
    assert!(!out.exists());
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hounsfield"))
        .args(["info", s.to_str().unwrap(), "--headers-only"])
        .env("WGPU_BACKEND", "dx12")
        .output()
        .unwrap();
    assert!(o.status.success());
}

#[test]
fn a_surface_built_in_the_window_is_drawn_coloured_by_thickness() {
    use hounsfield::ui::app::SurfaceColour;
    use hounsfield::ui::command::UiCommand;
    use hounsfield::ui::headless::Headless;
    use hounsfield::ui::{App, Layout, Prefs, SceneMode, ViewId};
    if !have_gpu() {
        return;
    }
    let mut h = Headless::new([900, 600]).unwrap();
    let mut app = App::new(Some(h.render_state()), Prefs::default());
    app.open(&sample());
    app.finish_job();
    // The surface is made in a case: create one, acknowledging the findings.
    let cases = tempfile::tempdir().unwrap();
    app.start_new_case(true);
    {
        let f = app.new_case.as_mut().unwrap();
        f.folder = cases.path().display().to_string();
        f.name = "window".into();
        f.text = "test surface".into();
        f.operator = "test".into();
    }
    app.create_case().unwrap();
    for c in [
        UiCommand::ThresholdPreset {
            preset: "bone".into(),
        },
        UiCommand::ApplyThreshold,
        UiCommand::Apply {
            op: serde_json::json!({"op": "keep_largest", "connectivity": 26}),
        },
        UiCommand::Reconstruct {
            params: None,
            labels: None,
        },
    ] {
        app.execute(c).unwrap();
        app.finish_job();
    }
    let built = app.surface.built.as_ref().expect("surface built");
    assert!(built.summary.contains("closed"), "{}", built.summary);
    // Every step is in the case: acknowledgement, two operations, the reconstruction.
    let case = app.case.as_ref().expect("the case is open");
    let names: Vec<&str> = case.files().events.iter().map(|e| e.name()).collect();
    assert_eq!(
        names,
        ["acknowledged", "applied", "applied", "reconstructed"]
    );
    let files = hounsfield::case::CaseFiles::read(&cases.path().join("window.hfcase")).unwrap();
    assert_eq!(files.events.len(), 4);
    assert_eq!(app.viewer.as_ref().unwrap().scene, SceneMode::Surface);
    app.prefs.layout = Layout::Single(ViewId::ThreeD);
    app.surface.colour = SurfaceColour::Thickness;
    let img = h.screenshot(&mut app).unwrap();
    readback_save(&img, "surface-thickness");
    // Bone 0–5 mm thick runs cold to warm: both ends of the map appear on the skull.
    let (mut cold, mut warm) = (0, 0);
    for p in img.rgba.chunks_exact(4) {
        let (r, b) = (i32::from(p[0]), i32::from(p[2]));
        cold += usize::from(b > r + 40);
        warm += usize::from(r > b + 40);
    }
    assert!(cold > 500 && warm > 500, "cold {cold} warm {warm}");
    assert!(h.frame(&mut app).is_ok());
}

/// Keeps a copy for a human to look at when HOUNSFIELD_SHOTS names a folder.
fn readback_save(img: &hounsfield::gpu::readback::Image, name: &str) {
    if let Some(d) = std::env::var_os("HOUNSFIELD_SHOTS") {
        let p = std::path::Path::new(&d).join(format!("{name}.png"));
        hounsfield::gpu::readback::save_png(img, &p).unwrap();
    }
}

#[test]
fn a_nifti_volume_opens_like_a_dicom_series() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let nii = dir.path().join("sample.nii.gz");
    let out = dir.path().join("axial.png");
    let s = sample();
    let (code, _, err) = hounsfield(&[
        "convert",
        s.to_str().unwrap(),
        "--out",
        nii.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = hounsfield(&[
        "view",
        nii.to_str().unwrap(),
        "--layout",
        "axial",
        "--size",
        "640x480",
        "--screenshot",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    let img = png(&out);
    let f = bright(&img, 0.55, 0.1, 0.98, 0.9, 150);
    assert!(f > 0.003, "bone fraction {f}");
}
