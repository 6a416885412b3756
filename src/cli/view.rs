//! `hounsfield view` (and `hounsfield [PATH]`): the workstation window, or one frame of it
//! rendered offscreen to a PNG, or a frame-time benchmark.

use crate::error::Error;
use crate::gpu::device::RenderError;
use crate::gpu::transfer::TransferPreset;
use crate::gpu::{ViewPreset, readback};
use crate::ui::command::UiCommand;
use crate::ui::headless::{FrameMarks, FrameStats, Headless, PerFrame};
use crate::ui::setup::{ViewMode, ViewSetup, WindowChoice};
use crate::ui::{App, Layout, Prefs, SceneMode, ViewId};
use std::path::{Path, PathBuf};

/// Transfer-function names on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransferArg {
    /// CT-Bone.
    Bone,
    /// CT-Skin.
    Skin,
    /// CT-Soft tissue.
    Soft,
}

/// 3D viewpoints on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum View3dArg {
    /// From the front.
    Anterior,
    /// From the patient's left.
    Left,
    /// From above.
    Superior,
}

/// Arguments of `view`.
#[derive(Debug, Clone, clap::Args)]
pub struct ViewArgs {
    /// DICOM folder, file, DICOMDIR or NIfTI (default: the bundled sample).
    pub path: Option<PathBuf>,
    /// Series to load (id, number or UID); default: the only volume.
    #[arg(long)]
    pub series: Option<String>,
    /// Render one frame offscreen to this PNG and exit (no display needed).
    #[arg(long, value_name = "OUT.png")]
    pub screenshot: Option<PathBuf>,
    /// Render N frames while scrolling slices and rotating the 3D view; print mean and p95
    /// frame time per view.
    #[arg(long, value_name = "N")]
    pub bench_frames: Option<usize>,
    /// With --screenshot: draw in a real window (needs a display) instead of offscreen.
    #[arg(long)]
    pub in_window: bool,
    /// Layout: 2x2, 1x3, axial, coronal, sagittal or 3d.
    #[arg(long, default_value = "2x2")]
    pub layout: String,
    /// What the views show.
    #[arg(long, value_enum, default_value = "mpr")]
    pub mode: ViewMode,
    /// Window size in pixels, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x800")]
    pub size: String,
    /// Position of the main slice plane along its normal, LPS mm.
    #[arg(long)]
    pub slice_mm: Option<f64>,
    /// Slab thickness for MIP/MinIP, mm.
    #[arg(long, default_value_t = 20.0)]
    pub slab_mm: f64,
    /// Window: bone, brain, soft, lung, auto, or WIDTH,LEVEL in HU.
    #[arg(long, default_value = "bone")]
    pub window: String,
    /// Volume-rendering transfer function.
    #[arg(long, value_enum, default_value = "bone")]
    pub transfer: TransferArg,
    /// 3D viewpoint.
    #[arg(long, value_enum, default_value = "anterior")]
    pub view3d: View3dArg,
    /// Also write the benchmark figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// With --bench-frames: only the views whose name contains this text (e.g. `3D`).
    #[arg(long)]
    pub only: Option<String>,
    /// Play this script (a JSON list of window commands, see the README) and exit;
    /// offscreen unless --in-window.
    #[arg(long, value_name = "SCRIPT.json")]
    pub script: Option<PathBuf>,
    /// With --script: make the script's `new_case` here.
    #[arg(long, value_name = "OUT.hfcase")]
    pub case: Option<PathBuf>,
    /// With --script: where its `screenshot` commands save `NAME.png`.
    #[arg(long, value_name = "DIR")]
    pub screenshot_dir: Option<PathBuf>,
    /// With --script: milliseconds between commands (for demonstrations).
    #[arg(long, default_value_t = 0)]
    pub pace: u64,
    /// Open this case read-only for a physician's review (as File → Review case…), in the
    /// window or, with --screenshot --in-window, for one frame.
    #[arg(long, value_name = "CASE.hfcase", conflicts_with_all = ["script", "bench_frames"])]
    pub review: Option<PathBuf>,
}

/// What the window does besides being used.
enum WindowMode {
    /// Used by a person until closed.
    Interactive,
    /// Saves one screenshot once the volume is shown, then closes.
    Screenshot(PathBuf),
    /// Plays a script, saving its screenshots in the folder, then closes.
    Script(crate::ui::script::ScriptRunner, Option<PathBuf>),
}

fn parse_size(s: &str) -> Result<[u32; 2], Error> {
    let bad = || Error::BadInput(format!("--size `{s}`: use WIDTHxHEIGHT, e.g. 1280x800"));
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    if !(64..=8192).contains(&w) || !(64..=8192).contains(&h) {
        return Err(Error::BadInput(format!(
            "--size {s}: each side must be 64 to 8192 pixels"
        )));
    }
    Ok([w, h])
}

impl ViewArgs {
    fn setup(&self) -> Result<ViewSetup, Error> {
        let layout = Layout::parse(&self.layout).ok_or_else(|| {
            Error::BadInput(format!(
                "--layout `{}`: use 2x2, 1x3, axial, coronal, sagittal or 3d",
                self.layout
            ))
        })?;
        if !(self.slab_mm.is_finite() && self.slab_mm > 0.0 && self.slab_mm <= 1000.0) {
            return Err(Error::BadInput(
                "--slab-mm must be above 0 and at most 1000".into(),
            ));
        }
        if self.slice_mm.is_some_and(|z| !z.is_finite()) {
            return Err(Error::BadInput("--slice-mm must be a number".into()));
        }
        Ok(ViewSetup {
            layout,
            mode: self.mode,
            slice_mm: self.slice_mm,
            slab_mm: self.slab_mm,
            window: WindowChoice::parse(&self.window).map_err(Error::BadInput)?,
            transfer: match self.transfer {
                TransferArg::Bone => TransferPreset::CtBone,
                TransferArg::Skin => TransferPreset::CtSkin,
                TransferArg::Soft => TransferPreset::CtSoftTissue,
            },
            view3d: match self.view3d {
                View3dArg::Anterior => ViewPreset::Anterior,
                View3dArg::Left => ViewPreset::Left,
                View3dArg::Superior => ViewPreset::Superior,
            },
        })
    }
}

/// The bundled sample: beside the working directory, the executable, where the Debian
/// package installs it (`/usr/share/hounsfield/assets`), or in the source tree.
pub fn bundled_sample() -> Option<PathBuf> {
    let rel = Path::new("assets").join("sample-s2030");
    let mut candidates = vec![rel.clone()];
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            candidates.push(up.join(&rel));
            candidates.push(up.join("share/hounsfield").join(&rel));
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(&rel));
    candidates.into_iter().find(|p| p.is_dir())
}

fn source(path: &Option<PathBuf>) -> Result<PathBuf, Error> {
    match path {
        Some(p) if p.exists() => Ok(p.clone()),
        Some(p) => Err(Error::BadInput(format!("{} does not exist", p.display()))),
        None => bundled_sample().ok_or_else(|| {
            Error::BadInput(
                "the bundled sample (assets/sample-s2030) was not found; give a DICOM folder \
                 or NIfTI file to open"
                    .into(),
            )
        }),
    }
}

fn render_error(e: RenderError) -> Error {
    Error::Failed(e.to_string())
}

/// Runs `view`.
pub fn run(a: &ViewArgs) -> Result<(), Error> {
    let path = source(&a.path)?;
    let setup = a.setup()?;
    let size = parse_size(&a.size)?;
    if let Some(out) = &a.screenshot {
        super::check_out_dir(out)?;
    }
    if let Some(j) = &a.json {
        super::check_out_dir(j)?;
    }
    if let Some(script) = &a.script {
        return run_script(a, &path, script, setup, size);
    }
    if let Some(case) = &a.review {
        let dir = crate::case::case_dir(case);
        crate::case::CaseFiles::read(&dir)?;
        let mode = match &a.screenshot {
            Some(out) => WindowMode::Screenshot(out.clone()),
            None => WindowMode::Interactive,
        };
        let first = vec![UiCommand::OpenCase {
            path: dir,
            review: true,
        }];
        return window_with(None, None, Some(setup), size, mode, first);
    }
    match (&a.screenshot, a.bench_frames) {
        (Some(out), None) if a.in_window => window_with(
            Some(path),
            a.series.clone(),
            Some(setup),
            size,
            WindowMode::Screenshot(out.clone()),
            Vec::new(),
        ),
        (Some(out), None) => {
            let (mut h, mut app) = headless_app(&path, a.series.as_deref(), setup, size)?;
            let img = h.screenshot(&mut app).map_err(render_error)?;
            readback::save_png(&img, out)
                .map_err(|e| Error::Failed(format!("cannot write {}: {e}", out.display())))?;
            println!(
                "{} ({}×{}, {})",
                out.display(),
                img.width,
                img.height,
                h.describe()
            );
            Ok(())
        }
        (None, Some(n)) => bench(&path, a, setup, size, n),
        (Some(_), Some(_)) => Err(Error::BadInput(
            "--screenshot and --bench-frames are separate runs; give one".into(),
        )),
        (None, None) => window(Some(path), a.series.clone(), Some(setup), size, None),
    }
}

/// Plays a script offscreen or in a window.
fn run_script(
    a: &ViewArgs,
    path: &Path,
    script: &Path,
    setup: ViewSetup,
    size: [u32; 2],
) -> Result<(), Error> {
    if a.screenshot.is_some() || a.bench_frames.is_some() {
        return Err(Error::BadInput(
            "--script runs on its own; drop --screenshot and --bench-frames (the script takes its screenshots)".into(),
        ));
    }
    let text = std::fs::read_to_string(script)
        .map_err(|e| Error::BadInput(format!("cannot read {}: {e}", script.display())))?;
    let commands = UiCommand::parse_script(&text).map_err(Error::BadInput)?;
    let shots = commands
        .iter()
        .any(|c| matches!(c, UiCommand::Screenshot { .. }));
    match &a.screenshot_dir {
        Some(d) if !d.is_dir() => {
            return Err(Error::BadInput(format!(
                "--screenshot-dir {} is not a folder; create it first",
                d.display()
            )));
        }
        None if shots => {
            return Err(Error::BadInput(
                "the script takes screenshots: give --screenshot-dir DIR".into(),
            ));
        }
        _ => {}
    }
    if let Some(c) = &a.case {
        let dir = crate::case::case_dir(c);
        if dir.exists() {
            return Err(Error::BadInput(format!(
                "--case {}: it exists already; a script makes a new case",
                dir.display()
            )));
        }
        super::check_outputs(&[], &[dir.as_path()])?;
    }
    let runner = crate::ui::script::ScriptRunner::new(
        commands,
        std::time::Duration::from_millis(a.pace),
        a.case.clone(),
    );
    if a.in_window {
        return window_with(
            Some(path.to_path_buf()),
            a.series.clone(),
            Some(setup),
            size,
            WindowMode::Script(runner, a.screenshot_dir.clone()),
            Vec::new(),
        );
    }
    let (mut h, mut app) = headless_app(path, a.series.as_deref(), setup, size)?;
    let mut runner = runner;
    let total = runner.remaining();
    let started = std::time::Instant::now();
    loop {
        if a.pace > 0 {
            std::thread::sleep(std::time::Duration::from_millis(a.pace.min(5000)));
        }
        let ran = runner.step(&mut app);
        app.finish_job();
        h.frame(&mut app).map_err(render_error)?;
        for name in std::mem::take(&mut app.screenshot_requests) {
            let dir = a
                .screenshot_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("."));
            let out = dir.join(format!("{name}.png"));
            let img = h.screenshot(&mut app).map_err(render_error)?;
            readback::save_png(&img, &out)
                .map_err(|e| Error::Failed(format!("cannot write {}: {e}", out.display())))?;
            eprintln!("screenshot {}", out.display());
        }
        if runner.finished(&app) && !ran {
            break;
        }
    }
    if let Some(e) = runner.error {
        return Err(Error::Failed(e));
    }
    eprintln!(
        "script {}: {total} commands in {:.1} s{}",
        script.display(),
        started.elapsed().as_secs_f64(),
        app.case_dir
            .as_ref()
            .map_or(String::new(), |d| format!("; case {}", d.display()))
    );
    Ok(())
}

/// Loads the source into an app drawing offscreen.
fn headless_app(
    path: &Path,
    series: Option<&str>,
    setup: ViewSetup,
    size: [u32; 2],
) -> Result<(Headless, App), Error> {
    let h = Headless::new(size).map_err(render_error)?;
    let mut app = App::new(Some(h.render_state()), Prefs::default());
    app.auto_series = series.map(str::to_string);
    app.setup = Some(setup);
    app.open(path);
    app.finish_job();
    if app.viewer.is_none() {
        if let Some(report) = &app.report {
            super::input::select(report, series)?;
        }
        let why: Vec<String> = app.messages.iter().map(|(_, m)| m.clone()).collect();
        return Err(Error::BadInput(if why.is_empty() {
            format!("nothing to show in {}", path.display())
        } else {
            why.join("; ")
        }));
    }
    Ok((h, app))
}

fn bench(
    path: &Path,
    a: &ViewArgs,
    setup: ViewSetup,
    size: [u32; 2],
    n: usize,
) -> Result<(), Error> {
    if n == 0 || n > 100_000 {
        return Err(Error::BadInput("--bench-frames must be 1 to 100000".into()));
    }
    let (mut h, mut app) = headless_app(path, a.series.as_deref(), setup, size)?;
    let Some(v) = app.viewer.as_ref() else {
        return Err(Error::Failed("no volume".into()));
    };
    let [ns, nr, nc] = v.volume.dims();
    println!(
        "view bench: {} frames per view at {}×{} on {}; volume {nc}×{nr}×{ns}",
        n,
        size[0],
        size[1],
        h.describe()
    );
    let mut rows = Vec::new();
    type Scenario = (&'static str, Layout, Option<SceneMode>, bool);
    let volume = Some(SceneMode::Volume);
    let three_d = Layout::Single(ViewId::ThreeD);
    let scenarios: [Scenario; 8] = [
        (
            "2x2 window, scrolling slices",
            Layout::Grid2x2,
            volume,
            false,
        ),
        (
            "2x2 window, scrolling + rotating 3D, interacting",
            Layout::Grid2x2,
            volume,
            true,
        ),
        (
            "axial (maximised)",
            Layout::Single(ViewId::Axial),
            None,
            false,
        ),
        (
            "coronal (maximised)",
            Layout::Single(ViewId::Coronal),
            None,
            false,
        ),
        (
            "sagittal (maximised)",
            Layout::Single(ViewId::Sagittal),
            None,
            false,
        ),
        ("3D volume rendering, interacting", three_d, volume, true),
        ("3D volume rendering, at rest", three_d, volume, false),
        ("3D MIP, interacting", three_d, Some(SceneMode::Mip), true),
    ];
    for (name, layout, scene, interacting) in scenarios {
        if a.only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        app.prefs.layout = layout;
        if let Some(v) = &mut app.viewer {
            if let Some(s) = scene {
                v.scene = s;
            }
        }
        // Warm-up: pipelines, offscreen targets and egui's fonts.
        for _ in 0..3 {
            h.frame(&mut app).map_err(render_error)?;
        }
        let mut times = Vec::with_capacity(n);
        let marks = h.marks();
        for f in 0..n {
            if let Some(v) = &mut app.viewer {
                // Scroll back and forth through the middle of the stack, turn the camera.
                let dir = if (f / 20) % 2 == 0 { 1 } else { -1 };
                for i in 0..3 {
                    v.step_slice(i, dir);
                }
                // Only a drag turns the camera: scrolling alone leaves the 3D view still.
                if interacting || layout == Layout::Single(ViewId::ThreeD) {
                    v.camera.rotate(6.0, 1.0);
                }
                v.simulate_drag = interacting;
            }
            times.push(h.frame(&mut app).map_err(render_error)?);
        }
        let s = FrameStats::of(&times);
        let per_frame = h.marks().per_frame_since(&marks, n);
        println!(
            "  {name:<50} mean {:>7.2} ms  p95 {:>7.2} ms  ({:.1} fps; {per_frame})",
            s.mean_ms, s.p95_ms, s.fps
        );
        rows.push(serde_json::json!({"view": name, "stats": s, "per_frame": per_frame}));
    }
    if a.only
        .as_ref()
        .is_none_or(|o| "editor".contains(o.as_str()) || o.contains("editor"))
    {
        rows.extend(bench_editor(&mut h, &mut app, n)?);
    }
    if let Some(j) = &a.json {
        super::write_json(
            j,
            &serde_json::json!({
                "adapter": h.describe(),
                "size": size,
                "frames": n,
                "volume": [nc, nr, ns],
                "views": rows,
            }),
        )?;
    }
    Ok(())
}

/// Times the editor's frames: the threshold preview while its handles move (against the
/// same frames without the preview), painting one stroke per frame, undoing a stroke,
/// and frames while an operation computes in the background.
fn bench_editor(
    h: &mut Headless,
    app: &mut App,
    n: usize,
) -> Result<Vec<serde_json::Value>, Error> {
    use crate::ui::command::UiCommand;
    use crate::ui::editor::Tool;
    let scratch =
        std::env::temp_dir().join(format!("hounsfield-view-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| Error::Failed(format!("cannot create {}: {e}", scratch.display())))?;
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(scratch.clone());
    let run = |app: &mut App, c: UiCommand| -> Result<(), Error> {
        app.execute(c).map_err(Error::Failed)?;
        app.finish_job();
        Ok(())
    };
    run(
        app,
        UiCommand::NewCase {
            folder: scratch.clone(),
            name: "bench".into(),
            purpose: crate::case::record::Purpose {
                category: crate::case::record::PurposeCategory::Other,
                text: "frame benchmark".into(),
            },
            operator: "bench".into(),
        },
    )?;
    if app
        .case
        .as_ref()
        .is_some_and(|c| !c.unacknowledged().is_empty())
    {
        run(app, UiCommand::Acknowledge)?;
    }
    run(
        app,
        UiCommand::ThresholdPreset {
            preset: "bone".into(),
        },
    )?;
    run(app, UiCommand::ApplyThreshold)?;
    app.prefs.layout = Layout::Grid2x2;
    let mut rows = Vec::new();
    // A row's figures, with what was rendered and the UI thread's time per frame.
    let mut report = |name: &str, times: &[std::time::Duration], per_frame: PerFrame| {
        let s = FrameStats::of(times);
        let max = times
            .iter()
            .map(|t| t.as_secs_f64() * 1000.0)
            .fold(0.0, f64::max);
        println!(
            "  {name:<50} mean {:>7.2} ms  p95 {:>7.2} ms  max {max:>7.2} ms  ({:.1} fps; {per_frame})",
            s.mean_ms, s.p95_ms, s.fps
        );
        rows.push(
            serde_json::json!({"view": name, "stats": s, "max_ms": max, "per_frame": per_frame}),
        );
    };
    // The slices' shader preview alone, then with the live 3D surface (a worker making
    // the range's surface while the handles move, drawn in the 3D view).
    for (preview, surface) in [(false, false), (true, false), (true, true)] {
        app.editor.tool = Tool::Threshold;
        app.editor.threshold.preview = preview;
        app.editor.threshold.surface_3d = surface;
        for _ in 0..3 {
            h.frame(app).map_err(render_error)?;
        }
        let mut times = Vec::with_capacity(n);
        let surfaces = app.preview.generation;
        let marks = h.marks();
        for f in 0..n {
            // A drag of the low handle back and forth between 150 and 450 HU.
            let t = (f % 60) as i32;
            app.editor.threshold.lo = 150 + 10 * if t < 30 { t } else { 60 - t };
            times.push(h.frame(app).map_err(render_error)?);
        }
        report(
            match (preview, surface) {
                (false, _) => "editor: 2x2, threshold handles moving, no preview",
                (true, false) => "editor: 2x2, threshold handles moving, preview",
                (true, true) => "editor: 2x2, threshold handles moving, preview + 3D",
            },
            &times,
            h.marks().per_frame_since(&marks, n),
        );
        if surface {
            println!(
                "    ({} 3D surfaces shown during the drag)",
                app.preview.generation - surfaces
            );
        }
        app.preview.wait();
    }
    app.editor.threshold.surface_3d = true;
    // Painting: a 5 mm stroke applied, logged, saved and drawn every frame.
    app.editor.tool = Tool::Brush;
    // The switch from the threshold tool ends its preview, so every view changes once:
    // that frame is the tool switch's, not the first stroke's.
    h.frame(app).map_err(render_error)?;
    let centre = app.viewer.as_ref().map(|v| v.cursor).unwrap_or_default();
    let mut times = Vec::with_capacity(n);
    let mut undo_ms = Vec::new();
    // Marks summed over the stroke frames and over the undo frames.
    let (mut stroke_marks, mut undo_marks) = (FrameMarks::default(), FrameMarks::default());
    for f in 0..n {
        let a = f as f64 * 0.2;
        let p = |d: f64| {
            [
                centre.x + 30.0 * (a + d).cos(),
                centre.y + 30.0 * (a + d).sin(),
                centre.z,
            ]
        };
        let t0 = std::time::Instant::now();
        let before = h.marks();
        app.execute(UiCommand::Stroke {
            view: "axial".into(),
            points_mm: vec![p(0.0), p(0.1)],
            radius_mm: Some(5.0),
            mode: None,
            shape: None,
        })
        .map_err(Error::Failed)?;
        h.frame(app).map_err(render_error)?;
        times.push(t0.elapsed());
        stroke_marks.add_span(&before, &h.marks());
        // Every tenth stroke is undone (and the last, so a short run measures one too).
        if f % 10 == 9 || (n < 10 && f + 1 == n) {
            let t0 = std::time::Instant::now();
            let before = h.marks();
            app.execute(UiCommand::Undo).map_err(Error::Failed)?;
            h.frame(app).map_err(render_error)?;
            undo_ms.push(t0.elapsed());
            undo_marks.add_span(&before, &h.marks());
        }
    }
    report(
        "editor: 2x2, one 5 mm stroke per frame (apply + draw)",
        &times,
        stroke_marks.per_frame_since(&FrameMarks::default(), times.len()),
    );
    report(
        "editor: 2x2, undo of a stroke (undo + draw)",
        &undo_ms,
        undo_marks.per_frame_since(&FrameMarks::default(), undo_ms.len()),
    );
    // Frames while work runs on a worker: keep-largest (editing waits for it), then a
    // reconstruction beside editing (smoothing and every check).
    app.editor.tool = Tool::Navigate;
    // A row's name, the command that starts the work, and whether it still runs.
    type Busy = fn(&App) -> bool;
    let background: [(&str, UiCommand, Busy); 2] = [
        (
            "editor: 2x2, scrolling while keep_largest runs",
            UiCommand::Apply {
                op: serde_json::json!({"op": "keep_largest", "connectivity": 26}),
            },
            |a| a.job.is_some(),
        ),
        (
            "editor: 2x2, scrolling while a reconstruction runs",
            UiCommand::Reconstruct {
                params: None,
                labels: None,
            },
            |a| a.running(crate::ui::app::Background::Reconstruct),
        ),
    ];
    for (name, command, running) in background {
        app.execute(command).map_err(Error::Failed)?;
        let mut times = Vec::new();
        let marks = h.marks();
        // Until the work has landed and its result is drawn (a model is drawn in parts).
        while (running(app) || app.drawing_surface()) && times.len() < 100_000 {
            if let Some(v) = &mut app.viewer {
                v.step_slice(0, if times.len() % 40 < 20 { 1 } else { -1 });
            }
            times.push(h.frame(app).map_err(render_error)?);
        }
        let per_frame = h.marks().per_frame_since(&marks, times.len());
        h.frame(app).map_err(render_error)?;
        if !times.is_empty() {
            report(name, &times, per_frame);
        }
    }
    Ok(rows)
}

struct WindowApp {
    app: App,
    mode: WindowMode,
    frames_ready: u32,
    pending_shot: Option<PathBuf>,
    outcome: std::sync::Arc<std::sync::Mutex<Option<Result<(), String>>>>,
}

impl WindowApp {
    fn finish(&self, ctx: &egui::Context, r: Result<(), String>) {
        if let Ok(mut o) = self.outcome.lock() {
            *o = Some(r);
        }
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

impl eframe::App for WindowApp {
    fn update(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        eframe::App::update(&mut self.app, ctx, frame);
        if matches!(self.mode, WindowMode::Interactive) {
            return;
        }
        let shot = ctx.input(|i| {
            i.raw.events.iter().find_map(|e| match e {
                egui::Event::Screenshot { image, .. } => Some(image.clone()),
                _ => None,
            })
        });
        if let Some(img) = shot
            && let Some(out) = self.pending_shot.take()
        {
            let r = readback::save_png(
                &readback::Image {
                    width: img.size[0] as u32,
                    height: img.size[1] as u32,
                    rgba: img.as_raw().to_vec(),
                },
                &out,
            )
            .map_err(|e| format!("cannot write {}: {e}", out.display()));
            match (&self.mode, r) {
                (WindowMode::Screenshot(_), r) => return self.finish(ctx, r),
                (_, Err(e)) => return self.finish(ctx, Err(e)),
                (_, Ok(())) => eprintln!("screenshot {}", out.display()),
            }
        }
        let failed = self.app.job.is_none() && self.app.viewer.is_none();
        if failed {
            let why = self
                .app
                .messages
                .iter()
                .map(|(_, m)| m.clone())
                .collect::<Vec<_>>()
                .join("; ");
            return self.finish(ctx, Err(why));
        }
        // Ready once loaded and nothing is left to draw (a model is drawn in parts).
        let ready =
            self.app.viewer.is_some() && self.app.job.is_none() && !self.app.drawing_surface();
        match &mut self.mode {
            WindowMode::Interactive => {}
            WindowMode::Screenshot(out) => {
                if ready && self.pending_shot.is_none() {
                    self.frames_ready += 1;
                    if self.frames_ready == 4 {
                        self.pending_shot = Some(out.clone());
                        ctx.send_viewport_cmd(
                            egui::ViewportCommand::Screenshot(Default::default()),
                        );
                    }
                }
            }
            WindowMode::Script(runner, dir) => {
                if self.pending_shot.is_none() {
                    if let Some(name) = self.app.screenshot_requests.first().cloned() {
                        // Two frames after the command, so the views show its result.
                        self.frames_ready += 1;
                        if self.frames_ready >= 3 {
                            self.app.screenshot_requests.remove(0);
                            self.frames_ready = 0;
                            let d = dir.clone().unwrap_or_else(|| PathBuf::from("."));
                            self.pending_shot = Some(d.join(format!("{name}.png")));
                            ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(
                                Default::default(),
                            ));
                        }
                    } else if ready {
                        runner.step(&mut self.app);
                        if runner.finished(&self.app) && self.app.screenshot_requests.is_empty() {
                            let r = match runner.error.take() {
                                Some(e) => Err(e),
                                None => Ok(()),
                            };
                            return self.finish(ctx, r);
                        }
                    }
                }
            }
        }
        ctx.request_repaint();
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if matches!(self.mode, WindowMode::Interactive) {
            eframe::App::save(&mut self.app, storage);
        }
    }
}

/// Opens the window (blocking until it is closed).
pub fn window(
    path: Option<PathBuf>,
    series: Option<String>,
    setup: Option<ViewSetup>,
    size: [u32; 2],
    screenshot: Option<PathBuf>,
) -> Result<(), Error> {
    let mode = match screenshot {
        Some(s) => WindowMode::Screenshot(s),
        None => WindowMode::Interactive,
    };
    window_with(path, series, setup, size, mode, Vec::new())
}

/// Opens the window on `path` (default: the bundled sample), or, when `first` holds
/// commands (open a case), on what they open.
fn window_with(
    path: Option<PathBuf>,
    series: Option<String>,
    setup: Option<ViewSetup>,
    size: [u32; 2],
    mode: WindowMode,
    first: Vec<UiCommand>,
) -> Result<(), Error> {
    let interactive = matches!(mode, WindowMode::Interactive);
    let path = match path {
        Some(p) => Some(source(&Some(p))?),
        None => bundled_sample(),
    };
    let outcome = std::sync::Arc::new(std::sync::Mutex::new(None));
    let out2 = outcome.clone();
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        viewport: egui::ViewportBuilder::default()
            .with_title("Hounsfield")
            .with_inner_size([size[0] as f32, size[1] as f32]),
        persist_window: interactive,
        wgpu_options: eframe::egui_wgpu::WgpuConfiguration {
            wgpu_setup: eframe::egui_wgpu::WgpuSetup::CreateNew(
                eframe::egui_wgpu::WgpuSetupCreateNew {
                    device_descriptor: std::sync::Arc::new(crate::gpu::device::device_descriptor),
                    ..Default::default()
                },
            ),
            ..Default::default()
        },
        ..Default::default()
    };
    let result = eframe::run_native(
        "Hounsfield",
        options,
        Box::new(move |cc| {
            let prefs: Prefs = if interactive {
                cc.storage
                    .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
                    .unwrap_or_default()
            } else {
                Prefs::default()
            };
            cc.egui_ctx.set_visuals(egui::Visuals::dark());
            let mut app = App::new(cc.wgpu_render_state.clone(), prefs);
            app.auto_series = series;
            app.setup = setup;
            if first.is_empty() {
                if let Some(p) = &path {
                    app.open(p);
                }
            }
            for c in first {
                app.push(c);
            }
            Ok(Box::new(WindowApp {
                app,
                mode,
                frames_ready: 0,
                pending_shot: None,
                outcome: out2,
            }))
        }),
    );
    if let Err(e) = result {
        let hint = if std::env::var_os("DISPLAY").is_none()
            && std::env::var_os("WAYLAND_DISPLAY").is_none()
        {
            " There is no display (DISPLAY/WAYLAND_DISPLAY unset): run it in a desktop session, \
             or render offscreen with `hounsfield view PATH --screenshot OUT.png`."
        } else {
            ""
        };
        return Err(Error::Failed(format!(
            "cannot open the window: {e}.{hint} Without a GPU: {}",
            RenderError::NoAdapter
        )));
    }
    if !interactive {
        let r = outcome.lock().ok().and_then(|mut o| o.take());
        match r {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(Error::Failed(e)),
            None => {
                return Err(Error::Failed("the window closed before it was done".into()));
            }
        }
    }
    Ok(())
}
