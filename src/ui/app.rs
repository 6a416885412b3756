//! The workstation window's state and frame: what is loaded, the case, the editor, the
//! running job, and the views. `App::ui` draws one frame — chrome ([`super::chrome`]),
//! panels ([`super::panels`]), views — then applies the frame's commands
//! ([`super::command`]) and brings the GPU up to date ([`super::gpu_sync`]); eframe, the
//! headless renderer, scripts and the UI tests all drive the same function.

use super::command::UiCommand;
use super::editor::Editor;
use super::gpu_sync::{GpuSync, SurfaceKey};
pub use super::jobs::Background;
use super::jobs::{self, BuiltSurface, Job, JobResult, LoadedSeries};
use super::prefs::{Layout, Prefs};
use super::viewer::{SceneMode, ViewId, Viewer};
use super::views::{self, Drag, ViewEnv, ViewEvent};
use crate::dicom::{ScanReport, SeriesKind};
use crate::feasibility::{Finding, Severity};
use crate::gpu::MeshData;
use crate::gpu::transfer::TransferPreset;
use crate::gpu::{Scene3d, ViewRenderer};
use crate::jobs::Poll;
use eframe::egui_wgpu;
use egui::Color32;
use glam::DVec3;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// The surface shown in the 3D view.
pub struct SurfaceState {
    /// The surface, when one was reconstructed.
    pub built: Option<BuiltSurface>,
    /// Colour by.
    pub colour: SurfaceColour,
    /// Counts surfaces built (for the GPU upload).
    pub generation: u64,
    /// A tree over the built surface for picking points in the 3D view, with the
    /// generation it was built for.
    pub picker: Option<(u64, std::sync::Arc<crate::mesh::bvh::Bvh>)>,
}

impl SurfaceState {
    /// The nearest point of the built surface along a ray (origin, direction, LPS mm).
    pub fn pick(&mut self, origin: DVec3, dir: DVec3) -> Option<DVec3> {
        let mesh = &self.built.as_ref()?.mesh;
        let tree = match &self.picker {
            Some((g, t)) if *g == self.generation => t.clone(),
            _ => {
                let t = std::sync::Arc::new(crate::mesh::bvh::Bvh::build(
                    &mesh.vertices,
                    &mesh.triangles,
                ));
                self.picker = Some((self.generation, t.clone()));
                t
            }
        };
        let (_, t) = tree.ray(origin.to_array(), dir.to_array(), 0.0, 1.0, None)?;
        Some(origin + dir * t)
    }
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
    /// Work in progress that editing waits for (loading, opening a case, an operation).
    pub job: Option<Job>,
    /// Work that runs beside editing, one of each kind at a time: a reconstruction and a
    /// comparison read snapshots of the masks and are checked against the case when they
    /// land (a label changed meanwhile is refused with the reason).
    pub background: Vec<(Background, Job)>,
    /// The surface in the 3D view.
    pub surface: SurfaceState,
    /// Messages for the operator (errors stay until dismissed).
    pub messages: Vec<(Severity, String)>,
    /// Show the bindings window.
    pub show_help: bool,
    /// wgpu state when drawing on a GPU.
    pub render_state: Option<egui_wgpu::RenderState>,
    /// Why there is no GPU drawing, when there is none.
    pub gpu_note: Option<String>,
    pub(crate) drags: [Option<Drag>; 4],
    pub(crate) hover: Option<(DVec3, Option<f32>)>,
    pub(crate) maximised_from: Option<Layout>,
    /// Load this series automatically once the scan is in.
    pub auto_series: Option<String>,
    /// Set the views up like this when the volume appears (command-line options).
    pub setup: Option<super::setup::ViewSetup>,
    /// Where each view was drawn in the last frame, points.
    pub view_rects: Vec<(ViewId, egui::Rect)>,
    /// The open case.
    pub case: Option<Box<crate::case::Case>>,
    /// The open case's folder.
    pub case_dir: Option<PathBuf>,
    /// The New case dialog, when open.
    pub new_case: Option<super::case_panel::NewCaseForm>,
    /// The editor: tools, label display, threshold, brush, verification, model.
    pub editor: Editor,
    /// Commands queued this frame.
    pub commands: Vec<UiCommand>,
    /// Screenshots asked for by commands (names), taken by the caller.
    pub screenshot_requests: Vec<String>,
    /// The in-window file browser (when the system dialog is unavailable).
    pub file_browser: Option<super::file_browser::FileBrowser>,
    /// The PACS browser, while open.
    pub pacs: Option<Box<super::pacs_browser::PacsBrowser>>,
    /// The case is open for a physician's review: read-only, no editing tool reachable.
    pub review_mode: bool,
    /// The reviewer's signing key (`None`: the one in the user's config folder).
    pub reviewer_key: Option<PathBuf>,
    /// The threshold tool's live 3D surface.
    pub preview: super::preview::SurfacePreview,
    /// The compute context every window job shares (opened by the first that needs it).
    pub shared_compute: super::jobs::SharedCompute,
    gpu: GpuSync,
    pub(crate) ctx: Option<egui::Context>,
}

/// Triangles of a new surface one frame draws on a software rasteriser (~15–20 ms on
/// lavapipe, 2 cores; docs/benchmarks.md).
const SOFTWARE_TRIANGLES_PER_FRAME: u32 = 75_000;

impl App {
    /// A new window state; `render_state` is `None` without a GPU (and in UI logic tests).
    pub fn new(render_state: Option<egui_wgpu::RenderState>, prefs: Prefs) -> Self {
        let gpu_note = if render_state.is_none() {
            Some("No GPU renderer: views are not drawn (see Help → About)".to_string())
        } else {
            None
        };
        if let Some(rs) = &render_state {
            let mut r = ViewRenderer::new(&rs.device, &rs.queue, rs.target_format);
            if rs.adapter.get_info().device_type == wgpu::DeviceType::Cpu {
                // A software rasteriser draws ~1 M triangles a tenth of a second: a new
                // model is drawn over frames behind the last image, so no frame stalls.
                r.set_triangles_per_frame(Some(SOFTWARE_TRIANGLES_PER_FRAME));
            }
            rs.renderer.write().callback_resources.insert(r);
        }
        let mut editor = Editor::default();
        if render_state
            .as_ref()
            .is_some_and(|rs| rs.adapter.get_info().device_type == wgpu::DeviceType::Cpu)
        {
            // A software rasteriser draws the threshold's live 3D surface at a few frames a
            // second (docs/benchmarks.md): the slices come first; the box turns it on.
            editor.threshold.surface_3d = false;
        }
        let shared_compute = match &render_state {
            // Compute on the device the views draw with: one device, one set of memory.
            Some(rs) => super::jobs::SharedCompute::on(crate::gpu::device::Gpu {
                adapter: rs.adapter.clone(),
                device: rs.device.clone(),
                queue: rs.queue.clone(),
            }),
            None => Default::default(),
        };
        Self {
            prefs,
            source: None,
            report: None,
            selected: None,
            loaded: None,
            viewer: None,
            job: None,
            background: Vec::new(),
            surface: SurfaceState {
                built: None,
                colour: SurfaceColour::Deviation,
                generation: 0,
                picker: None,
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
            editor,
            commands: Vec::new(),
            screenshot_requests: Vec::new(),
            file_browser: None,
            pacs: None,
            review_mode: false,
            reviewer_key: None,
            preview: Default::default(),
            shared_compute,
            gpu: GpuSync::default(),
            ctx: None,
        }
    }

    /// The operator's name: the preference, else `$USER`.
    pub fn operator(&self) -> String {
        if self.prefs.operator.trim().is_empty() {
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        } else {
            self.prefs.operator.clone()
        }
    }

    /// Wakes the window when a job is done.
    pub(crate) fn waker(&self) -> Option<crate::jobs::Waker> {
        self.ctx.clone().map(|c| {
            let w: crate::jobs::Waker = Box::new(move || c.request_repaint());
            w
        })
    }

    /// Opens a DICOM folder/file/DICOMDIR or a NIfTI file in the background.
    pub fn open(&mut self, path: &Path) {
        self.cancel_job();
        self.source = Some(path.to_path_buf());
        self.prefs.remember(path.to_path_buf());
        self.report = None;
        self.selected = None;
        let w = self.waker();
        if crate::io::nifti::is_nifti_path(path) {
            self.job = Some(jobs::load_nifti(path.to_path_buf(), w));
        } else {
            self.job = Some(jobs::scan(path.to_path_buf(), w));
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
        if let Some(why) = super::browser::not_loadable_reason(s) {
            self.messages.push((
                Severity::Warning,
                format!("Series {id} cannot be loaded: {why}"),
            ));
            return;
        }
        let s = s.clone();
        let src = src.clone();
        self.cancel_job();
        self.job = Some(jobs::load_series(s, src, self.waker()));
    }

    /// Stops the running job; its result is dropped.
    pub fn cancel_job(&mut self) {
        if let Some(j) = self.job.take() {
            j.cancel();
        }
    }

    /// Stops the background job of `kind`; its result is dropped.
    pub fn cancel_background(&mut self, kind: Background) {
        self.background.retain(|(k, j)| {
            if *k == kind {
                j.cancel();
            }
            *k != kind
        });
    }

    /// Starts `job` beside editing (the caller checked [`App::background_free`]).
    pub(crate) fn start_background(&mut self, kind: Background, job: Job) {
        self.background.push((kind, job));
    }

    /// Ok when no job of `kind` runs.
    pub(crate) fn background_free(&self, kind: Background) -> Result<(), String> {
        match self.background.iter().find(|(k, _)| *k == kind) {
            Some((_, j)) => Err(format!("wait until “{}” is done", j.label)),
            None => Ok(()),
        }
    }

    /// True while a job of `kind` runs.
    pub fn running(&self, kind: Background) -> bool {
        self.background.iter().any(|(k, _)| *k == kind)
    }

    /// Ok when nothing runs at all (a signature must not race a result landing).
    pub(crate) fn quiet(&self) -> Result<(), String> {
        self.idle()?;
        match self.background.first() {
            Some((_, j)) => Err(format!("wait until “{}” is done", j.label)),
            None => Ok(()),
        }
    }

    /// True while any job runs, in front or beside editing.
    pub fn any_job(&self) -> bool {
        self.job.is_some() || !self.background.is_empty()
    }

    /// Another case (or none) from now on: what runs beside editing belongs to the old one
    /// and is stopped, so nothing of it lands in the new one.
    pub(crate) fn replace_case(&mut self, case: Option<Box<crate::case::Case>>) {
        for (_, j) in self.background.drain(..) {
            j.cancel();
        }
        self.case = case;
    }

    /// Waits for every running job and handles its result (headless use, scripts, tests).
    pub fn finish_job(&mut self) {
        loop {
            let j = match self.job.take() {
                Some(j) => j,
                None if !self.background.is_empty() => self.background.remove(0).1,
                None => break,
            };
            match j.wait() {
                Some(r) => self.handle(r),
                None => self.job_lost(),
            }
            self.run_commands();
        }
    }

    fn poll_job(&mut self) {
        if let Some(j) = &self.job {
            match j.poll() {
                Poll::Running => {}
                Poll::Done(r) => {
                    self.job = None;
                    self.handle(r);
                }
                Poll::Lost => {
                    self.job = None;
                    self.job_lost();
                }
            }
        }
        let mut i = 0;
        while i < self.background.len() {
            match self.background[i].1.poll() {
                Poll::Running => i += 1,
                Poll::Done(r) => {
                    self.background.remove(i);
                    self.handle(r);
                }
                Poll::Lost => {
                    self.background.remove(i);
                    self.job_lost();
                }
            }
        }
    }

    fn job_lost(&mut self) {
        self.messages.push((
            Severity::Error,
            "the worker stopped without a result (see the log); nothing was changed".into(),
        ));
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
            }
            JobResult::CaseOpened(dir, Ok((case, l))) => {
                self.show_loaded(*l);
                let acknowledged = case.unacknowledged().is_empty();
                self.editor.active_label = case.session().default_label.clone();
                if let Some(first) = case.session().segmentation().labels().first()
                    && case
                        .session()
                        .segmentation()
                        .get(&self.editor.active_label)
                        .is_none()
                {
                    self.editor.active_label = first.meta.name.clone();
                }
                if let Some(l) = &mut self.loaded {
                    l.acknowledged = acknowledged;
                    l.show_findings = !acknowledged;
                }
                self.messages.push((
                    Severity::Info,
                    format!(
                        "Case {} opened: {} operation(s) replayed, every hash matched",
                        dir.display(),
                        case.session().log().applied().count()
                    ),
                ));
                self.prefs.remember_case(dir.clone());
                self.case_dir = Some(dir);
                self.replace_case(Some(case));
            }
            JobResult::CaseOpened(dir, Err(e)) => self.messages.push((
                Severity::Error,
                format!("Cannot open the case {}: {e}", dir.display()),
            )),
            JobResult::Computed(name, Ok(computed)) => {
                let r = match self.case.as_deref_mut() {
                    Some(c) => c
                        .commit(*computed)
                        .map(|e| e.notes.join("; "))
                        .map_err(|e| e.to_string()),
                    None => Err("the case was closed meanwhile".into()),
                };
                match r {
                    Ok(notes) => self.messages.push((
                        Severity::Info,
                        format!(
                            "{name}: {}",
                            if notes.is_empty() {
                                "done".into()
                            } else {
                                notes
                            }
                        ),
                    )),
                    Err(e) => self
                        .messages
                        .push((Severity::Error, format!("{name}: {e}"))),
                }
            }
            JobResult::Computed(name, Err(e)) => {
                self.messages
                    .push((Severity::Error, format!("{name}: {e}")));
            }
            JobResult::Reconstructed(r) => self.reconstruction_done(r),
            JobResult::Compared(r) => match r {
                Ok(c) => {
                    self.editor.compare.overlay = None;
                    self.editor.compare.result = Some(*c);
                    self.editor.compare.reveal = true;
                }
                Err(e) => self
                    .messages
                    .push((Severity::Error, format!("comparing labels: {e}"))),
            },
        }
    }

    fn reconstruction_done(&mut self, r: Result<Box<jobs::ReconstructedMasks>, String>) {
        let r = r.and_then(|x| {
            let mut x = *x;
            let mut shown = x.shown.take().ok_or("nothing was reconstructed")?;
            if let Some(seq) = self.editor.model.showing_record.take() {
                let what = self.recorded_surface_shown(seq, &x)?;
                shown.summary = format!("{} ({what})", shown.summary);
                return Ok(shown);
            }
            let case = self
                .case
                .as_deref_mut()
                .ok_or("the case was closed meanwhile")?;
            let seq = case
                .record_prepared(&x.masks, x.results, x.record)
                .map_err(|e| e.to_string())?;
            self.editor.model.reconstruction = Some(seq);
            self.editor.model.picked_thin = None;
            shown.summary = format!("{} (recorded in the case)", shown.summary);
            Ok(shown)
        });
        match r {
            Ok(s) => {
                self.messages
                    .push((Severity::Info, format!("Surface: {}", s.summary)));
                self.surface.built = Some(s);
                self.surface.generation += 1;
                if let Some(v) = &mut self.viewer {
                    v.scene = SceneMode::Surface;
                }
            }
            Err(e) => {
                self.messages
                    .push((Severity::Error, format!("Reconstruction failed: {e}")));
            }
        }
    }

    /// Checks a recorded reconstruction recomputed for display against its record (mesh
    /// blake3 per label): says so, or an error; nothing is recorded.
    fn recorded_surface_shown(
        &self,
        seq: usize,
        x: &jobs::ReconstructedMasks,
    ) -> Result<String, String> {
        let case = self
            .case
            .as_deref()
            .ok_or("the case was closed meanwhile")?;
        let Some(crate::case::event::Event::Reconstructed(r)) = case.files().events.get(seq) else {
            return Err(format!("journal record {seq} is not a reconstruction"));
        };
        for (want, got) in r.record.labels.iter().zip(&x.record.labels) {
            if want.mesh_hash != got.mesh_hash {
                return Err(format!(
                    "the surface of `{}` recomputed differs from record {seq} (mesh blake3 {}, recorded {}): run `hounsfield replay` on the case",
                    want.name, got.mesh_hash, want.mesh_hash
                ));
            }
        }
        Ok(format!("recomputed: the same mesh as record {seq}"))
    }

    /// Shows a loaded volume (uploads it to the GPU once).
    pub fn show_loaded(&mut self, l: LoadedSeries) {
        let volume = l.opened.volume.clone();
        // A case belongs to one series: another series closes it (it is all on disk).
        self.replace_case(None);
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
            }
        }
        self.gpu.reset(volume.dims());
        let mut viewer = Viewer::new(volume);
        viewer.set_radiological(self.prefs.radiological);
        viewer.transfer = self.prefs.transfer;
        viewer.slab_mm = self.prefs.slab_mm;
        self.viewer = Some(viewer);
        self.surface.built = None;
        self.surface.generation += 1;
        self.editor.histogram = Some(l.histogram);
        self.editor.model.reconstruction = None;
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

    pub(crate) fn gpu_ready(&self) -> bool {
        self.render_state.is_some() && self.gpu_note.is_none()
    }

    /// The difference labels when the overlay is on and the comparison is current (built
    /// once per pair of masks).
    pub fn difference_overlay(
        &mut self,
    ) -> Option<std::sync::Arc<crate::segment::model::Segmentation>> {
        let c = &self.editor.compare;
        if !c.difference {
            return None;
        }
        let r = c.result.as_ref()?;
        let case = self.case.as_deref()?;
        let now = &case.session().log().final_hash;
        if *now != r.segmentation_hash {
            return None;
        }
        if let Some((h, seg)) = &c.overlay
            && h == now
        {
            return Some(seg.clone());
        }
        let s = case.session().segmentation();
        let (la, lb) = (s.get(&r.a.0)?, s.get(&r.b.0)?);
        let seg = std::sync::Arc::new(super::editor::difference_labels(
            &la.mask,
            &lb.mask,
            case.volume().geometry,
        ));
        self.editor.compare.overlay = Some((now.clone(), seg.clone()));
        Some(seg)
    }

    /// Brings the GPU up to date: labels, palette, surface.
    fn sync_gpu(&mut self) {
        let Some(rs) = self.render_state.clone() else {
            return;
        };
        if self.viewer.is_none() {
            return;
        }
        let difference = self.difference_overlay();
        let seg = match &difference {
            Some(d) => Some(d.as_ref()),
            None => self.case.as_deref().map(|c| c.session().segmentation()),
        };
        self.gpu.labels(&rs, seg, &self.editor);
        let colour = self.surface.colour;
        let waker = self.waker();
        let changed = if let Some(p) = self.preview_shown().cloned() {
            let key = SurfaceKey::Preview(self.preview.generation);
            self.gpu.mesh(&rs, Some(key), waker, || {
                move || Some(MeshData::from_mesh(&p.mesh, None))
            })
        } else {
            let key = self
                .surface
                .built
                .as_ref()
                .map(|_| SurfaceKey::Model(self.surface.generation, colour as u8));
            let built = &mut self.surface.built;
            self.gpu.mesh(&rs, key, waker, || {
                let data = built.as_mut().map(|b| b.take_mesh_data(colour));
                move || data
            })
        };
        // A surface just shown, or one still drawn in parts, needs the next frame.
        let more = match changed {
            Ok(changed) => changed || self.gpu.drawing_underway(&rs),
            Err(e) => {
                self.messages
                    .push((Severity::Error, format!("3D view: {e}")));
                true
            }
        };
        if more && let Some(ctx) = &self.ctx {
            ctx.request_repaint();
        }
    }

    /// True while the 3D view's surface is being uploaded or drawn in parts.
    pub fn drawing_surface(&self) -> bool {
        self.gpu.surface_pending()
            || self
                .render_state
                .as_ref()
                .is_some_and(|rs| self.gpu.drawing_underway(rs))
    }

    /// Label slices uploaded since the volume appeared.
    pub fn uploaded_label_slices(&self) -> usize {
        self.gpu.uploaded_slices
    }

    /// The threshold preview's surface, while the 3D view shows it.
    pub fn preview_shown(&self) -> Option<&Arc<crate::mesh::preview::PreviewSurface>> {
        self.preview_wanted().and(self.preview.shown.as_ref())
    }

    /// The 3D scene, its legend and a caption replacing the scene's name.
    pub fn scene(&self) -> views::ShownScene {
        let shown = |scene, legend, caption| views::ShownScene {
            scene,
            legend,
            caption,
        };
        let Some(v) = &self.viewer else {
            return shown(Scene3d::Volume(TransferPreset::CtBone), None, None);
        };
        if let Some(p) = self.preview_shown() {
            return shown(Scene3d::Surface(None), None, Some(p.caption()));
        }
        let (scene, legend) = match v.scene {
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
                        SurfaceColour::Thickness => Some((
                            "thickness mm",
                            [0.0, crate::mesh::pipeline::THICKNESS_CAP_MM as f32],
                        )),
                    });
                (Scene3d::Surface(range.map(|r| r.1)), range)
            }
        };
        shown(scene, legend, None)
    }

    /// Draws one frame.
    pub fn ui(&mut self, ctx: &egui::Context) {
        if self.ctx.is_none() {
            self.ctx = Some(ctx.clone());
        }
        self.poll_job();
        self.keys(ctx);
        if self.any_job() {
            // Progress bars move while the job runs; its end wakes the window anyway.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        let labels = self
            .case
            .as_deref()
            .is_some_and(|c| !c.session().segmentation().labels().is_empty());
        if let Some(v) = &mut self.viewer {
            v.overlay.labels = labels;
            let t = self.editor.threshold;
            v.overlay.preview = (self.editor.tool == super::editor::Tool::Threshold && t.preview)
                .then(|| [f64::from(t.lo), f64::from(t.hi)]);
        }
        self.refresh_verification();
        self.prune_messages();
        self.menu_bar(ctx);
        self.status_bar(ctx);
        self.banner(ctx);
        self.side_panel(ctx);
        self.central(ctx);
        self.help_window(ctx);
        self.new_case_window(ctx);
        self.file_browser_window(ctx);
        self.pacs_window(ctx);
        self.run_commands();
        // After the panels and commands, so a range or checkbox changed this frame is
        // previewed from this frame on.
        self.update_preview(ctx);
        self.sync_gpu();
    }

    /// The range the 3D view previews now: the threshold tool's, while its preview and its
    /// 3D surface are on and a volume is shown.
    pub fn preview_wanted(&self) -> Option<super::preview::Wanted> {
        let t = self.editor.threshold;
        (self.viewer.is_some()
            && self.editor.tool == super::editor::Tool::Threshold
            && t.preview
            && t.surface_3d)
            .then_some((t.lo.min(t.hi), t.lo.max(t.hi), t.largest_only))
    }

    fn update_preview(&mut self, ctx: &egui::Context) {
        let wanted = self.preview_wanted();
        let waker = self.waker();
        let env = self.viewer.as_ref().map(|v| super::preview::PreviewEnv {
            volume: &v.volume,
            compute: &self.shared_compute,
            choice: self.prefs.compute,
            waker,
        });
        if let Some(after) = self.preview.update(wanted, env) {
            ctx.request_repaint_after(after);
        }
        // Not retried for this range: the next change of the handles tries again.
        if let Some(e) = self.preview.new_error() {
            self.messages
                .push((Severity::Error, format!("3D threshold preview: {e}")));
        }
    }

    /// True while a job runs or the 3D preview is still catching up with the handles.
    pub fn busy(&self) -> bool {
        self.any_job() || self.preview.busy() || self.drawing_surface()
    }

    /// Keeps every warning and error (until dismissed) and the last three notes.
    fn prune_messages(&mut self) {
        let infos = self
            .messages
            .iter()
            .filter(|(s, _)| *s == Severity::Info)
            .count();
        let mut drop = infos.saturating_sub(3);
        self.messages.retain(|(s, _)| {
            if *s == Severity::Info && drop > 0 {
                drop -= 1;
                false
            } else {
                true
            }
        });
    }

    /// Keyboard shortcuts that apply anywhere: undo/redo, tool keys.
    fn keys(&mut self, ctx: &egui::Context) {
        if ctx.wants_keyboard_input() {
            return;
        }
        let (undo, redo) = ctx.input(|i| {
            let z = i.key_pressed(egui::Key::Z) && i.modifiers.command;
            (z && !i.modifiers.shift, z && i.modifiers.shift)
        });
        if undo {
            self.push(UiCommand::Undo);
        }
        if redo {
            self.push(UiCommand::Redo);
        }
        self.verify_keys(ctx);
    }

    fn central(&mut self, ctx: &egui::Context) {
        let env = ViewEnv {
            gpu: self.gpu_ready(),
            gpu_note: self.gpu_note.clone(),
            pixels_per_point: ctx.pixels_per_point(),
        };
        let shown = self.scene();
        let mut tools = super::tools::ToolInput::new(&mut self.editor, self.case.as_deref());
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
                let cells = super::layout::cells(self.prefs.layout, full);
                let mut events: Vec<ViewEvent> = Vec::new();
                self.view_rects.clone_from(&cells);
                for (id, rect) in cells {
                    let drag = &mut self.drags[id.index()];
                    events.extend(match id {
                        ViewId::ThreeD => {
                            views::scene_view(ui, rect, viewer, &shown, &env, drag, &tools)
                        }
                        _ => views::slice_view(ui, rect, viewer, id, &env, drag, &mut tools),
                    });
                }
                self.hover = None;
                for e in &events {
                    if let ViewEvent::Pick(o, d) = e {
                        let hit = self.surface.pick(*o, *d);
                        let r = match hit {
                            Some(p) => tools.pick_3d(p),
                            None => Err("no surface under the pointer: click on the model".into()),
                        };
                        if let Err(m) = r {
                            self.messages.push((Severity::Warning, m));
                        }
                    }
                }
                self.commands.append(&mut tools.commands);
                for e in events {
                    match e {
                        ViewEvent::Pick(..) => {}
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
}

impl eframe::App for App {
    fn update(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.ui(ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.prefs);
    }
}
