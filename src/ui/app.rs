//! The workstation window: menus, series browser, findings banner, display controls, the
//! view layout and the status bar. `App::ui` draws one frame; eframe, the headless
//! renderer and the UI tests all drive the same function.

use super::browser::{self, BrowserAction};
use super::jobs::{BuiltSurface, Job, JobResult, LoadedSeries};
use super::prefs::{Layout, Prefs};
use super::viewer::{SceneMode, ViewId, Viewer};
use super::views::{self, Drag, ViewEnv, ViewEvent};
use crate::dicom::{ScanReport, SeriesKind};
use crate::feasibility::{Finding, Severity};
use crate::gpu::renderer::MeshData;
use crate::gpu::transfer::TransferPreset;
use crate::gpu::{Scene3d, SliceMode, ViewPreset, ViewRenderer, WindowLevel};
use eframe::egui_wgpu;
use egui::{Color32, RichText};
use glam::DVec3;
use std::path::{Path, PathBuf};

/// Scalar shown on the surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceColour {
    /// Plain bone colour.
    None,
    /// Distance moved by smoothing, mm.
    Deviation,
    /// Wall thickness, mm.
    Thickness,
}

/// The surface panel's state.
pub struct SurfaceState {
    /// Threshold low, HU.
    pub lo_hu: i32,
    /// Threshold high, HU.
    pub hi_hu: i32,
    /// Smooth (windowed sinc 20, 0.1) and measure the deviation.
    pub smooth: bool,
    /// The built surface.
    pub built: Option<BuiltSurface>,
    /// Colour by.
    pub colour: SurfaceColour,
    uploaded_colour: Option<SurfaceColour>,
}

/// The loaded volume with what the operator has to see.
pub struct Loaded {
    /// "S2030 … — path".
    pub label: String,
    /// Series id when DICOM.
    pub series_id: Option<String>,
    /// Findings of the series and its pixels.
    pub findings: Vec<Finding>,
    /// The operator's acknowledgement of the warnings is recorded in the case.
    pub acknowledged: bool,
    /// The banner shows the findings in full.
    pub show_findings: bool,
    /// The source record (files, hashes, acquisition) a case is made from.
    pub opened: crate::case::source::OpenedSource,
}

/// The application state.
pub struct App {
    /// Persisted preferences.
    pub prefs: Prefs,
    /// The opened path.
    pub source: Option<PathBuf>,
    /// The scan of a DICOM source.
    pub report: Option<ScanReport>,
    /// Series selected in the browser.
    pub selected: Option<String>,
    /// The loaded volume's description.
    pub loaded: Option<Loaded>,
    /// The views.
    pub viewer: Option<Viewer>,
    /// Work in progress.
    pub job: Option<Job>,
    /// Surface state.
    pub surface: SurfaceState,
    /// Messages for the operator (errors stay until dismissed).
    pub messages: Vec<(Severity, String)>,
    /// Show the bindings window.
    pub show_help: bool,
    /// wgpu state when drawing on a GPU.
    pub render_state: Option<egui_wgpu::RenderState>,
    /// Why there is no GPU drawing, when there is none.
    pub gpu_note: Option<String>,
    drags: [Option<Drag>; 4],
    hover: Option<(DVec3, Option<f32>)>,
    maximised_from: Option<Layout>,
    /// Load this series automatically once the scan is in.
    pub auto_series: Option<String>,
    /// Set the views up like this when the volume appears (command-line options).
    pub setup: Option<super::setup::ViewSetup>,
    /// Where each view was drawn in the last frame, points.
    pub view_rects: Vec<(ViewId, egui::Rect)>,
    /// The open case (away while a job works on it).
    pub case: Option<Box<crate::case::Case>>,
    /// The open case's folder (kept while a job holds the case).
    pub case_dir: Option<PathBuf>,
    /// The New case dialog, when open.
    pub new_case: Option<super::case_panel::NewCaseForm>,
}

impl App {
    /// A new window state; `render_state` is `None` without a GPU (and in UI logic tests).
    pub fn new(render_state: Option<egui_wgpu::RenderState>, prefs: Prefs) -> Self {
        let gpu_note = if render_state.is_none() {
            Some("No GPU renderer: views are not drawn (see Help → About)".to_string())
        } else {
            None
        };
        if let Some(rs) = &render_state {
            let r = ViewRenderer::new(&rs.device, &rs.queue, rs.target_format);
            rs.renderer.write().callback_resources.insert(r);
        }
        Self {
            prefs,
            source: None,
            report: None,
            selected: None,
            loaded: None,
            viewer: None,
            job: None,
            surface: SurfaceState {
                lo_hu: 226,
                hi_hu: 3071,
                smooth: true,
                built: None,
                colour: SurfaceColour::Deviation,
                uploaded_colour: None,
            },
            messages: Vec::new(),
            show_help: false,
            render_state,
            gpu_note,
            drags: [None; 4],
            hover: None,
            maximised_from: None,
            auto_series: None,
            setup: None,
            view_rects: Vec::new(),
            case: None,
            case_dir: None,
            new_case: None,
        }
    }

    /// Opens a DICOM folder/file/DICOMDIR or a NIfTI file in the background.
    pub fn open(&mut self, path: &Path) {
        self.cancel_job();
        self.source = Some(path.to_path_buf());
        self.prefs.remember(path.to_path_buf());
        self.report = None;
        self.selected = None;
        if crate::io::nifti::is_nifti_path(path) {
            self.job = Some(Job::load_nifti(path.to_path_buf()));
        } else {
            self.job = Some(Job::scan(path.to_path_buf()));
        }
    }

    /// Starts loading a series of the current scan.
    pub fn load_series(&mut self, id: &str) {
        let (Some(report), Some(src)) = (&self.report, &self.source) else {
            return;
        };
        let Some(s) = report.series.iter().find(|s| s.id == id) else {
            self.messages
                .push((Severity::Error, format!("no series {id} in this scan")));
            return;
        };
        if let Some(why) = browser::not_loadable_reason(s) {
            self.messages.push((
                Severity::Warning,
                format!("Series {id} cannot be loaded: {why}"),
            ));
            return;
        }
        self.selected = Some(id.to_string());
        self.job = Some(Job::load_series(s.clone(), src.clone()));
    }

    /// Stops the running job.
    pub fn cancel_job(&mut self) {
        if let Some(j) = self.job.take() {
            j.cancel();
        }
    }

    /// Waits for the running job and handles its result (headless use and tests).
    pub fn finish_job(&mut self) {
        while let Some(j) = self.job.take() {
            let r = j.wait();
            self.handle(r);
        }
    }

    fn poll_job(&mut self) {
        if let Some(r) = self.job.as_ref().and_then(Job::poll) {
            self.job = None;
            self.handle(r);
        }
    }

    fn handle(&mut self, r: JobResult) {
        match r {
            JobResult::Scanned(path, Ok(report)) => {
                let volumes: Vec<String> = report
                    .series
                    .iter()
                    .filter(|s| s.kind == SeriesKind::Volume && s.is_loadable())
                    .map(|s| s.id.clone())
                    .collect();
                let wanted = self
                    .auto_series
                    .take()
                    .or_else(|| match volumes.as_slice() {
                        [one] => Some(one.clone()),
                        _ => None,
                    });
                if report.series.is_empty() {
                    self.messages.push((
                        Severity::Error,
                        format!("No DICOM images found in {}", path.display()),
                    ));
                }
                self.report = Some(report);
                if let Some(id) = wanted {
                    self.load_series(&id);
                }
            }
            JobResult::Scanned(path, Err(e)) => {
                self.messages.push((
                    Severity::Error,
                    format!("Cannot read {}: {e}", path.display()),
                ));
            }
            JobResult::Loaded(Ok(l)) => self.show_loaded(*l),
            JobResult::Loaded(Err(e)) => {
                if e != "cancelled" {
                    self.messages
                        .push((Severity::Error, format!("Loading failed: {e}")));
                }
                self.recover_case();
            }
            JobResult::Surface(case, r) => {
                self.case = Some(case);
                self.surface_done(r);
            }
        }
    }

    /// A worker that held the case stopped without giving it back: reopen it from disk,
    /// where every saved step is.
    fn recover_case(&mut self) {
        if self.case.is_some() || self.job.is_some() {
            return;
        }
        let Some(dir) = self.case_dir.clone() else {
            return;
        };
        match crate::case::Case::open(&dir, &self.prefs.operator, None) {
            Ok((c, _)) => {
                self.messages.push((
                    Severity::Warning,
                    format!(
                        "The case was reopened from {} after the worker stopped",
                        dir.display()
                    ),
                ));
                self.case = Some(Box::new(c));
            }
            Err(e) => self.messages.push((
                Severity::Error,
                format!("The case {} cannot be reopened: {e}", dir.display()),
            )),
        }
    }

    fn surface_done(&mut self, r: Result<BuiltSurface, String>) {
        match r {
            Ok(s) => {
                self.messages
                    .push((Severity::Info, format!("Surface: {}", s.summary)));
                self.surface.built = Some(s);
                self.surface.uploaded_colour = None;
                if let Some(v) = &mut self.viewer {
                    v.scene = SceneMode::Surface;
                }
            }
            Err(e) => {
                self.messages
                    .push((Severity::Error, format!("Surface failed: {e}")));
            }
        }
    }

    /// Shows a loaded volume (uploads it to the GPU once).
    pub fn show_loaded(&mut self, l: LoadedSeries) {
        let volume = l.opened.volume.clone();
        // A case belongs to one series: another series closes it (it is all on disk).
        self.case = None;
        self.case_dir = None;
        self.new_case = None;
        if let Some(rs) = &self.render_state {
            let mut r = rs.renderer.write();
            if let Some(vr) = r.callback_resources.get_mut::<ViewRenderer>() {
                match vr.set_volume(&rs.device, &rs.queue, &volume) {
                    Ok(()) => self.gpu_note = None,
                    Err(e) => {
                        self.gpu_note = Some(e.to_string());
                        self.messages.push((Severity::Error, e.to_string()));
                    }
                }
                vr.set_mesh(&rs.device, None);
            }
        }
        let mut viewer = Viewer::new(volume);
        viewer.set_radiological(self.prefs.radiological);
        viewer.transfer = self.prefs.transfer;
        viewer.slab_mm = self.prefs.slab_mm;
        self.viewer = Some(viewer);
        self.surface.built = None;
        let acknowledged = !l
            .findings
            .iter()
            .any(|f| matches!(f.severity, Severity::Warning | Severity::Error));
        self.loaded = Some(Loaded {
            label: l.label,
            series_id: l.series_id,
            findings: l.findings,
            acknowledged,
            show_findings: !acknowledged,
            opened: l.opened,
        });
        if let Some(s) = self.setup {
            s.apply(self);
        }
    }

    fn gpu_ready(&self) -> bool {
        self.render_state.is_some() && self.gpu_note.is_none()
    }

    fn upload_surface(&mut self) {
        let (Some(rs), Some(b)) = (&self.render_state, &self.surface.built) else {
            return;
        };
        if self.surface.uploaded_colour == Some(self.surface.colour) {
            return;
        }
        let scalar = match self.surface.colour {
            SurfaceColour::None => None,
            SurfaceColour::Deviation => b.deviation_mm.as_deref(),
            SurfaceColour::Thickness => Some(b.thickness_mm.as_slice()),
        };
        let data = MeshData::from_mesh(&b.mesh, scalar);
        if let Some(vr) = rs
            .renderer
            .write()
            .callback_resources
            .get_mut::<ViewRenderer>()
        {
            vr.set_mesh(&rs.device, Some(&data));
        }
        self.surface.uploaded_colour = Some(self.surface.colour);
    }

    /// The 3D scene and its legend.
    pub fn scene(&self) -> (Scene3d, Option<(&'static str, [f32; 2])>) {
        let Some(v) = &self.viewer else {
            return (Scene3d::Volume(TransferPreset::CtBone), None);
        };
        match v.scene {
            SceneMode::Volume => (Scene3d::Volume(v.transfer), None),
            SceneMode::Mip => (Scene3d::Mip(v.window), None),
            SceneMode::Minip => (Scene3d::Minip(v.window), None),
            SceneMode::Surface => {
                let range = self
                    .surface
                    .built
                    .as_ref()
                    .and_then(|b| match self.surface.colour {
                        SurfaceColour::None => None,
                        SurfaceColour::Deviation => b.deviation_mm.as_ref().map(|d| {
                            let m = d.iter().fold(0.0f64, |a, x| a.max(x.abs())).max(1e-3) as f32;
                            ("deviation mm", [-m, m])
                        }),
                        SurfaceColour::Thickness => Some(("thickness mm", [0.0, 5.0])),
                    });
                (Scene3d::Surface(range.map(|r| r.1)), range)
            }
        }
    }

    /// Draws one frame.
    pub fn ui(&mut self, ctx: &egui::Context) {
        self.poll_job();
        self.upload_surface();
        if self.job.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        }
        self.menu_bar(ctx);
        self.status_bar(ctx);
        self.banner(ctx);
        self.side_panel(ctx);
        self.central(ctx);
        self.help_window(ctx);
        self.new_case_window(ctx);
    }

    fn menu_bar(&mut self, ctx: &egui::Context) {
        egui::TopBottomPanel::top("menu").show(ctx, |ui| {
            egui::MenuBar::new().ui(ui, |ui| {
                ui.menu_button("File", |ui| {
                    if ui.button("Open folder…").clicked() {
                        ui.close();
                        if let Some(p) = rfd::FileDialog::new().pick_folder() {
                            self.open(&p);
                        }
                    }
                    if ui.button("Open file… (DICOM, DICOMDIR, NIfTI)").clicked() {
                        ui.close();
                        if let Some(p) = rfd::FileDialog::new().pick_file() {
                            self.open(&p);
                        }
                    }
                    ui.menu_button("Open recent", |ui| {
                        if self.prefs.recent.is_empty() {
                            ui.label("(none)");
                        }
                        for p in self.prefs.recent.clone() {
                            if ui.button(p.display().to_string()).clicked() {
                                ui.close();
                                self.open(&p);
                            }
                        }
                    });
                    ui.separator();
                    if ui
                        .add_enabled(
                            self.loaded.is_some() && self.job.is_none(),
                            egui::Button::new("New case from this series…"),
                        )
                        .clicked()
                    {
                        ui.close();
                        self.start_new_case(false);
                    }
                    ui.separator();
                    if ui.button("Quit").clicked() {
                        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                    }
                });
                ui.menu_button("View", |ui| {
                    for (l, name) in [
                        (Layout::Grid2x2, "2×2"),
                        (Layout::Row1x3, "1×3"),
                        (Layout::Single(ViewId::Axial), "Axial only"),
                        (Layout::Single(ViewId::Coronal), "Coronal only"),
                        (Layout::Single(ViewId::Sagittal), "Sagittal only"),
                        (Layout::Single(ViewId::ThreeD), "3D only"),
                    ] {
                        if ui.radio(self.prefs.layout == l, name).clicked() {
                            self.prefs.layout = l;
                            self.maximised_from = None;
                        }
                    }
                    ui.separator();
                    let mut rad = self.prefs.radiological;
                    if ui
                        .checkbox(
                            &mut rad,
                            "Radiological convention (patient's left on screen right)",
                        )
                        .changed()
                    {
                        self.prefs.radiological = rad;
                        if let Some(v) = &mut self.viewer {
                            v.set_radiological(rad);
                        }
                    }
                });
                ui.menu_button("Help", |ui| {
                    if ui.button("Mouse and keys").clicked() {
                        self.show_help = true;
                        ui.close();
                    }
                });
                ui.separator();
                for (l, name) in [(Layout::Grid2x2, "2×2"), (Layout::Row1x3, "1×3")] {
                    if ui.selectable_label(self.prefs.layout == l, name).clicked() {
                        self.prefs.layout = l;
                        self.maximised_from = None;
                    }
                }
                if ui.button("?").on_hover_text("Mouse and keys").clicked() {
                    self.show_help = true;
                }
            });
        });
    }

    fn status_bar(&mut self, ctx: &egui::Context) {
        egui::TopBottomPanel::bottom("status").show(ctx, |ui| {
            ui.horizontal(|ui| {
                let mut cancel = false;
                if let Some(j) = &self.job {
                    ui.spinner();
                    ui.label(&j.label);
                    if let Some(f) = j.fraction() {
                        ui.add(
                            egui::ProgressBar::new(f)
                                .desired_width(160.0)
                                .show_percentage(),
                        );
                    }
                    cancel = ui.button("Cancel").clicked();
                    ui.separator();
                }
                if cancel {
                    self.cancel_job();
                }
                if let Some(l) = &self.loaded {
                    ui.label(&l.label);
                }
                if let Some(v) = &self.viewer {
                    let [n, r, c] = v.volume.dims();
                    let s = v.volume.geometry.spacing;
                    ui.label(format!(
                        "{c}×{r}×{n} · {:.3}×{:.3}×{:.3} mm",
                        s.col, s.row, s.slice
                    ));
                }
                if let Some((p, hu)) = self.hover {
                    ui.separator();
                    ui.monospace(format!(
                        "LPS ({:.1}, {:.1}, {:.1}) mm  {}",
                        p.x,
                        p.y,
                        p.z,
                        hu.map_or("outside".into(), |h| format!("{h:.0} HU"))
                    ));
                }
            });
        });
    }

    fn banner(&mut self, ctx: &egui::Context) {
        let mut dismiss = None;
        if !self.messages.is_empty() {
            egui::TopBottomPanel::top("messages").show(ctx, |ui| {
                for (i, (sev, m)) in self.messages.iter().enumerate() {
                    ui.horizontal(|ui| {
                        let (icon, c) = browser::severity_icon(*sev);
                        ui.label(RichText::new(format!("{icon} {m}")).color(c));
                        if ui.small_button("✖").on_hover_text("Dismiss").clicked() {
                            dismiss = Some(i);
                        }
                    });
                }
            });
        }
        if let Some(i) = dismiss {
            self.messages.remove(i);
        }
        let ack_line = self.acknowledgement_line();
        let has_case = self.case.is_some();
        let Some(l) = &mut self.loaded else {
            return;
        };
        let serious: Vec<Finding> = l
            .findings
            .iter()
            .filter(|f| matches!(f.severity, Severity::Warning | Severity::Error))
            .cloned()
            .collect();
        if serious.is_empty() {
            return;
        }
        let worst = browser::worst(&l.findings).unwrap_or(Severity::Warning);
        let fill = match worst {
            Severity::Error => Color32::from_rgb(110, 25, 20),
            _ => Color32::from_rgb(105, 75, 10),
        };
        let mut acknowledge = false;
        egui::TopBottomPanel::top("findings")
            .frame(egui::Frame::new().fill(fill).inner_margin(6.0))
            .show(ctx, |ui| {
                if l.acknowledged && !l.show_findings {
                    ui.horizontal(|ui| {
                        ui.label(
                            RichText::new(format!(
                                "⚠ {} feasibility finding(s) on this series — {}",
                                serious.len(),
                                ack_line.as_deref().unwrap_or("acknowledged")
                            ))
                            .color(Color32::WHITE),
                        );
                        if ui.small_button("Show").clicked() {
                            l.show_findings = true;
                        }
                    });
                    return;
                }
                ui.label(
                    RichText::new("Feasibility findings — review before segmenting")
                        .strong()
                        .color(Color32::WHITE),
                );
                for f in &serious {
                    let (icon, _) = browser::severity_icon(f.severity);
                    ui.label(
                        RichText::new(format!("{icon} {}: {}", f.code.as_str(), f.message))
                            .color(Color32::WHITE),
                    );
                }
                if l.acknowledged {
                    if let Some(a) = &ack_line {
                        ui.label(RichText::new(a).color(Color32::WHITE));
                    }
                    if ui.small_button("Hide").clicked() {
                        l.show_findings = false;
                    }
                } else if has_case {
                    acknowledge = ui
                        .button("I have read these findings")
                        .on_hover_text("Recorded in the case with your name and the time")
                        .clicked();
                } else {
                    acknowledge = ui
                        .button("I have read these findings (create a case to record it)…")
                        .clicked();
                }
            });
        if acknowledge {
            self.acknowledge_findings();
        }
    }

    fn side_panel(&mut self, ctx: &egui::Context) {
        egui::SidePanel::left("controls")
            .default_width(340.0)
            .max_width(600.0)
            .resizable(true)
            .show(ctx, |ui| {
                // Long series descriptions are cut, with the full text on hover.
                ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
                egui::ScrollArea::vertical().show(ui, |ui| {
                    if let Some(report) = &self.report {
                        ui.heading("Series");
                        if let Some(BrowserAction::Load(id)) =
                            browser::show(ui, report, &mut self.selected)
                        {
                            self.load_series(&id);
                        }
                        ui.separator();
                    } else if self.source.is_none() {
                        ui.label("File → Open folder… to choose a CT exam.");
                    }
                    if self.loaded.is_some() || self.case_dir.is_some() {
                        self.case_section(ui);
                    }
                    self.display_controls(ui);
                });
            });
    }

    fn display_controls(&mut self, ui: &mut egui::Ui) {
        let Some(v) = &mut self.viewer else {
            return;
        };
        ui.heading("Slices");
        ui.horizontal_wrapped(|ui| {
            for (_, name, w) in WindowLevel::PRESETS {
                if ui
                    .selectable_label(v.window == w, name)
                    .on_hover_text(format!("W {:.0} L {:.0}", w.width, w.level))
                    .clicked()
                {
                    v.window = w;
                }
            }
            if ui
                .button("Auto")
                .on_hover_text("1st to 99th percentile of the tissue")
                .clicked()
            {
                v.window = WindowLevel::auto(&v.volume);
            }
        });
        let mut w = v.window.width;
        let mut l = v.window.level;
        let a = ui.add(egui::Slider::new(&mut w, 1.0..=5000.0).text("Window HU"));
        let b = ui.add(egui::Slider::new(&mut l, -1500.0..=3000.0).text("Level HU"));
        if a.changed() || b.changed() {
            v.window = WindowLevel::new(w, l);
        }
        ui.horizontal(|ui| {
            for m in [
                SliceMode::Slice,
                SliceMode::Mip,
                SliceMode::Minip,
                SliceMode::Mean,
            ] {
                ui.radio_value(&mut v.slice_mode, m, m.label());
            }
        });
        if ui
            .add_enabled(
                v.slice_mode != SliceMode::Slice,
                egui::Slider::new(&mut v.slab_mm, 1.0..=200.0)
                    .text("Slab mm")
                    .logarithmic(true),
            )
            .changed()
        {
            self.prefs.slab_mm = v.slab_mm;
        }
        ui.horizontal(|ui| {
            if ui
                .button("Reset planes")
                .on_hover_text("Undo oblique rotation")
                .clicked()
            {
                v.reset_orientation();
            }
            if ui.button("Reset zoom").clicked() {
                v.reset_zoom();
            }
        });
        ui.separator();
        ui.heading("3D");
        ui.horizontal(|ui| {
            for m in SceneMode::ALL {
                ui.radio_value(&mut v.scene, m, m.label());
            }
        });
        egui::ComboBox::from_label("Transfer function")
            .selected_text(v.transfer.label())
            .show_ui(ui, |ui| {
                for t in TransferPreset::ALL {
                    if ui.selectable_value(&mut v.transfer, t, t.label()).clicked() {
                        self.prefs.transfer = t;
                    }
                }
            });
        ui.horizontal(|ui| {
            if ui.button("Anterior").clicked() {
                v.view_3d(ViewPreset::Anterior);
            }
            if ui.button("Lateral").clicked() {
                v.view_3d(ViewPreset::Left);
            }
            if ui.button("Superior").clicked() {
                v.view_3d(ViewPreset::Superior);
            }
            if ui.button("Reset view").clicked() {
                v.reset_3d();
            }
        });
        ui.separator();
        ui.heading("Surface");
        let s = &mut self.surface;
        ui.horizontal(|ui| {
            ui.add(
                egui::DragValue::new(&mut s.lo_hu)
                    .range(-1024..=3071)
                    .prefix("from "),
            );
            ui.add(
                egui::DragValue::new(&mut s.hi_hu)
                    .range(-1024..=3071)
                    .prefix("to "),
            );
            ui.label("HU");
        });
        ui.checkbox(&mut s.smooth, "Smooth (windowed sinc 20 × 0.1) and measure");
        let busy = self.job.is_some();
        let can = !busy && self.case.is_some();
        let clicked = ui
            .add_enabled(can, egui::Button::new("Build bone surface"))
            .on_hover_text(
                "In the case: threshold into label `bone`, keep the largest island, reconstruct and measure — every step recorded",
            )
            .on_disabled_hover_text(if busy {
                "Wait for the running job"
            } else {
                "Create a case first (File → New case from this series…)"
            })
            .clicked();
        if clicked && let Some(case) = self.case.take() {
            self.job = Some(Job::case_surface(case, s.lo_hu, s.hi_hu, s.smooth));
        }
        if let Some(b) = &s.built {
            ui.label(&b.summary);
            ui.horizontal(|ui| {
                ui.label("Colour:");
                ui.radio_value(&mut s.colour, SurfaceColour::None, "none");
                if b.deviation_mm.is_some() {
                    ui.radio_value(&mut s.colour, SurfaceColour::Deviation, "deviation");
                }
                ui.radio_value(&mut s.colour, SurfaceColour::Thickness, "thickness");
            });
        }
    }

    fn central(&mut self, ctx: &egui::Context) {
        let env = ViewEnv {
            gpu: self.gpu_ready(),
            gpu_note: self.gpu_note.clone(),
            pixels_per_point: ctx.pixels_per_point(),
        };
        let (scene, legend) = self.scene();
        egui::CentralPanel::default()
            .frame(egui::Frame::new().fill(Color32::from_gray(12)))
            .show(ctx, |ui| {
                let Some(viewer) = &mut self.viewer else {
                    ui.centered_and_justified(|ui| {
                        ui.label(if self.job.is_some() {
                            "Loading…"
                        } else {
                            "No volume loaded: choose a series in the browser, or File → Open."
                        });
                    });
                    return;
                };
                let full = ui.available_rect_before_wrap();
                let gap = 2.0;
                let cells: Vec<(ViewId, egui::Rect)> = match self.prefs.layout {
                    Layout::Grid2x2 => {
                        let w = (full.width() - gap) / 2.0;
                        let h = (full.height() - gap) / 2.0;
                        let at = |c: f32, r: f32| {
                            egui::Rect::from_min_size(
                                full.min + egui::vec2(c * (w + gap), r * (h + gap)),
                                egui::vec2(w, h),
                            )
                        };
                        vec![
                            (ViewId::Axial, at(0.0, 0.0)),
                            (ViewId::ThreeD, at(1.0, 0.0)),
                            (ViewId::Coronal, at(0.0, 1.0)),
                            (ViewId::Sagittal, at(1.0, 1.0)),
                        ]
                    }
                    Layout::Row1x3 => {
                        let w = (full.width() - 2.0 * gap) / 3.0;
                        ViewId::SLICES
                            .iter()
                            .enumerate()
                            .map(|(k, v)| {
                                (
                                    *v,
                                    egui::Rect::from_min_size(
                                        full.min + egui::vec2(k as f32 * (w + gap), 0.0),
                                        egui::vec2(w, full.height()),
                                    ),
                                )
                            })
                            .collect()
                    }
                    Layout::Single(v) => vec![(v, full)],
                };
                let mut events = Vec::new();
                self.view_rects.clone_from(&cells);
                for (id, rect) in cells {
                    let drag = &mut self.drags[id.index()];
                    events.extend(match id {
                        ViewId::ThreeD => {
                            views::scene_view(ui, rect, viewer, scene, legend, &env, drag)
                        }
                        _ => views::slice_view(ui, rect, viewer, id, &env, drag),
                    });
                }
                self.hover = None;
                for e in events {
                    match e {
                        ViewEvent::Hover(p, hu) => self.hover = Some((p, hu)),
                        ViewEvent::ToggleMaximise(v) => match self.maximised_from.take() {
                            Some(prev) => self.prefs.layout = prev,
                            None => {
                                self.maximised_from = Some(self.prefs.layout);
                                self.prefs.layout = Layout::Single(v);
                            }
                        },
                    }
                }
            });
    }

    fn help_window(&mut self, ctx: &egui::Context) {
        let mut open = self.show_help;
        egui::Window::new("Mouse and keys")
            .open(&mut open)
            .show(ctx, |ui| {
                for (title, list) in [
                    ("Slice views", super::help::SLICE_BINDINGS),
                    ("3D view", super::help::VIEW3D_BINDINGS),
                ] {
                    ui.strong(title);
                    egui::Grid::new(title).striped(true).show(ui, |ui| {
                        for (k, a) in list {
                            ui.label(*k);
                            ui.label(*a);
                            ui.end_row();
                        }
                    });
                }
                ui.separator();
                ui.strong("Renderer");
                match &self.render_state {
                    Some(rs) => {
                        ui.label(crate::gpu::device::describe_adapter(&rs.adapter));
                        if let Some(vr) =
                            rs.renderer.read().callback_resources.get::<ViewRenderer>()
                        {
                            ui.label(format!(
                                "Volume texture: {}",
                                vr.volume_format_description()
                            ));
                        }
                    }
                    None => {
                        ui.label(self.gpu_note.clone().unwrap_or_default());
                    }
                }
            });
        self.show_help = open;
    }
}

impl eframe::App for App {
    fn update(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.ui(ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.prefs);
    }
}
