//! Every user action in the window is a [`UiCommand`], applied in one place
//! ([`App::execute`]): panels, views and keys queue commands; scripts
//! (`hounsfield view --script`) are lists of them in JSON (`{"cmd": "…", …}`, a public
//! contract documented in the README). Commands that change the case go through the case,
//! so the window can do nothing the record does not hold.

use super::App;
use super::editor::Tool;
use super::jobs::{self, Background};
use crate::case::event::{ExportFormat, ExportSpec, VolumeContent};
use crate::case::ledger::{MarkState, Orientation};
use crate::case::record::Purpose;
use crate::feasibility::Severity;
use crate::mesh::params::MeshParams;
use crate::segment::Operation;
use crate::segment::ops::brush::{BrushMode, BrushShape};
use crate::view::WindowLevel;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;

/// One user action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum UiCommand {
    /// Open a DICOM folder, file, DICOMDIR or NIfTI volume.
    Open {
        /// The path.
        path: PathBuf,
    },
    /// Load a series of the scan (Series Number or id).
    LoadSeries {
        /// Its id.
        id: String,
    },
    /// Create a case from the loaded series.
    NewCase {
        /// Folder the case goes in.
        folder: PathBuf,
        /// Case name.
        name: String,
        /// Clinical purpose.
        purpose: Purpose,
        /// Operator.
        operator: String,
    },
    /// Open a case (replaying it).
    OpenCase {
        /// The `.hfcase` folder.
        path: PathBuf,
        /// Read-only, for a physician's review (no editing tool is reachable).
        #[serde(default)]
        review: bool,
    },
    /// Acknowledge the findings (recorded in the case).
    Acknowledge,
    /// Choose the tool.
    Tool {
        /// The tool.
        tool: Tool,
    },
    /// Choose the layout: `2x2`, `1x3`, `axial`, `coronal`, `sagittal`, `3d`.
    Layout {
        /// The layout.
        layout: String,
    },
    /// Window/level preset: `bone`, `brain`, `soft`, `lung`, `auto`.
    Window {
        /// The preset.
        preset: String,
    },
    /// Move the crosshair to a patient point.
    GoTo {
        /// LPS mm.
        point_mm: [f64; 3],
    },
    /// Show slice `index` (from 0) of a view: `axial`, `coronal` or `sagittal`.
    GoToSlice {
        /// The view.
        view: String,
        /// Slice index, from 0.
        index: usize,
    },
    /// Make a label the active one (created by the next operation that writes it).
    SelectLabel {
        /// Its name.
        name: String,
    },
    /// Change how a label is shown.
    LabelDisplay {
        /// The label.
        name: String,
        /// Shown at all.
        #[serde(default)]
        visible: Option<bool>,
        /// Fill opacity 0..1.
        #[serde(default)]
        opacity: Option<f32>,
        /// Protected from editing tools.
        #[serde(default)]
        locked: Option<bool>,
    },
    /// Set the threshold range (the preview follows).
    SetThreshold {
        /// Lowest HU.
        lo: i32,
        /// Highest HU.
        hi: i32,
    },
    /// Show or hide the threshold's live surface in the 3D view.
    ThresholdSurface {
        /// Show the surface of the range in the 3D view.
        show: bool,
        /// Only the largest 26-connected component (unchanged when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        largest_only: Option<bool>,
    },
    /// Set the threshold range from a preset.
    ThresholdPreset {
        /// Preset name, e.g. `bone`.
        preset: String,
    },
    /// Set the threshold's lower bound by Otsu's method or the triangle method.
    ThresholdAuto {
        /// `otsu` or `triangle`.
        method: String,
    },
    /// Apply the threshold range to the active label.
    ApplyThreshold,
    /// Apply any engine operation (`{"op": …}`); `label` defaults to the active label.
    Apply {
        /// The operation, as in recipes and the log.
        op: serde_json::Value,
    },
    /// A brush stroke in a view's plane (a disc, or a ball).
    Stroke {
        /// `axial`, `coronal` or `sagittal`.
        view: String,
        /// Centres along the stroke, LPS mm.
        points_mm: Vec<[f64; 3]>,
        /// Radius, mm (default: the brush's).
        #[serde(default)]
        radius_mm: Option<f64>,
        /// `paint` or `erase` (default: the brush's).
        #[serde(default)]
        mode: Option<BrushMode>,
        /// `disc` or `sphere` (default: the brush's).
        #[serde(default)]
        shape: Option<BrushShape>,
    },
    /// Fill (or erase) a polygon on a view's slice.
    Lasso {
        /// The view.
        view: String,
        /// Vertices, LPS mm.
        points_mm: Vec<[f64; 3]>,
        /// Erase instead of fill.
        #[serde(default)]
        erase: bool,
    },
    /// Cut through the volume along a view's direction.
    Scissors {
        /// The view.
        view: String,
        /// Vertices, LPS mm.
        points_mm: Vec<[f64; 3]>,
        /// Erase outside the polygon instead of inside.
        #[serde(default)]
        keep_inside: bool,
    },
    /// Undo the last operation.
    Undo,
    /// Redo.
    Redo,
    /// Undo or redo until operation `index` is the last applied.
    GoToStep {
        /// Log index.
        index: usize,
    },
    /// Confirm slices `from..=to` of the active (or given) label in an orientation.
    Verify {
        /// `axial`, `coronal` or `sagittal`.
        orientation: Orientation,
        /// First slice.
        from: usize,
        /// Last slice (inclusive).
        to: usize,
        /// The label (default: active).
        #[serde(default)]
        label: Option<String>,
    },
    /// Flag a slice with a note.
    Flag {
        /// Orientation.
        orientation: Orientation,
        /// Slice.
        index: usize,
        /// Why.
        note: String,
    },
    /// Reconstruct the active label (or `labels`) with these parameters (default: the
    /// panel's), in the background.
    Reconstruct {
        /// Parameters.
        #[serde(default)]
        params: Option<MeshParams>,
        /// Labels.
        #[serde(default)]
        labels: Option<Vec<String>>,
    },
    /// Export into the case: a surface of the last reconstruction (`.stl`, `.3mf`, `.obj`)
    /// or the active label's mask (`.nii`, `.nii.gz`, `.nrrd`, outlines `.json`).
    Export {
        /// File name in the case's `exports/`.
        file: String,
        /// Export although slices are unverified (the coverage is recorded).
        #[serde(default)]
        override_verification: bool,
        /// Export a surface although it faces inwards or intersects itself (recorded).
        #[serde(default)]
        allow_defects: bool,
    },
    /// Compare two labels' masks in the background (Dice, Jaccard, volumes, Hausdorff and
    /// 95 % Hausdorff in mm).
    CompareLabels {
        /// Label A.
        a: String,
        /// Label B.
        b: String,
    },
    /// Show the compared labels' difference (only A, only B, both) in the slice views
    /// instead of the labels, or go back to the labels.
    ShowDifference {
        /// On or off.
        on: bool,
    },
    /// Measure with points in a view's plane (they are moved onto the slice shown), or
    /// points on the model in the `3d` view (distance and angle):
    /// `distance` (2 points), `angle` (3, the vertex second), `area` or `hu` (a closed
    /// curve of 3 or more).
    Measure {
        /// What.
        kind: super::editor::MeasureTool,
        /// The view the points are in.
        view: String,
        /// The points, LPS mm.
        points_mm: Vec<[f64; 3]>,
        /// A name ("defect diameter").
        #[serde(default)]
        name: Option<String>,
    },
    /// Measure a label's volume and surface area.
    MeasureLabel {
        /// The label (default: active).
        #[serde(default)]
        label: Option<String>,
    },
    /// Withdraw the measurement recorded at journal position `seq`.
    RemoveMeasurement {
        /// Its journal record.
        seq: usize,
    },
    /// Record the reviewing physician's decision, signed with their key.
    Review {
        /// Approve (true) or return (false).
        approve: bool,
        /// The reviewer's name.
        reviewer: String,
        /// A note (needed to return).
        #[serde(default)]
        note: Option<String>,
        /// Pin the note to the axial slice at the crosshair (`slice`) or the crosshair's
        /// point (`point`).
        #[serde(default)]
        pin: Option<super::editor::NotePin>,
    },
    /// Show the case's latest reconstruction whose masks are current in the 3D view, with
    /// its deviation and thickness colours: recomputed in the background and checked
    /// against its record (nothing new is recorded).
    ShowModel,
    /// Put the open case into review mode (read-only) or back into editing.
    ReviewMode {
        /// On or off.
        on: bool,
    },
    /// Write the case's report.
    WriteReport,
    /// Write the case's report and open it in the system browser.
    OpenReport,
    /// Import a DICOM SEG's segments into the case as labels (recorded as operations
    /// holding the masks).
    ImportSeg {
        /// The SEG file.
        path: PathBuf,
    },
    /// Open the PACS browser on a node and search its studies (the password, if any, from
    /// HOUNSFIELD_PACS_PASSWORD: scripts never hold one); waits for the answer.
    PacsSearch {
        /// A DIMSE node, AE@host:port.
        #[serde(default)]
        dimse: Option<String>,
        /// A DICOMweb service root.
        #[serde(default)]
        url: Option<String>,
        /// The DICOMweb user.
        #[serde(default)]
        user: Option<String>,
        /// Patient ID to match.
        #[serde(default)]
        patient_id: Option<String>,
        /// Modality in study to match.
        #[serde(default)]
        modality: Option<String>,
    },
    /// In the PACS browser: list the series of the first study found, retrieve the one
    /// with this Series Number into `into` (default: the proposed folder) and open it.
    PacsRetrieve {
        /// The Series Number.
        series: String,
        /// The folder to retrieve into.
        #[serde(default)]
        into: Option<PathBuf>,
    },
    /// Save a screenshot of the window (`NAME.png` in the script's screenshot folder).
    Screenshot {
        /// File name without extension.
        name: String,
    },
    /// Wait for the running job to finish.
    Wait,
}

impl UiCommand {
    /// Whether it changes the segmentation, the ledger, the models or the exports (refused
    /// while a case is open for review).
    pub fn edits(&self) -> bool {
        matches!(
            self,
            Self::Acknowledge
                | Self::ApplyThreshold
                | Self::Apply { .. }
                | Self::Stroke { .. }
                | Self::Lasso { .. }
                | Self::Scissors { .. }
                | Self::Undo
                | Self::Redo
                | Self::GoToStep { .. }
                | Self::Verify { .. }
                | Self::Flag { .. }
                | Self::Reconstruct { .. }
                | Self::Export { .. }
                | Self::ImportSeg { .. }
                | Self::NewCase { .. }
        ) || matches!(self, Self::Tool { tool } if !matches!(tool, Tool::Navigate | Tool::Measure))
    }

    /// Reads one command of a script; an unknown command or field is refused, naming it.
    pub fn parse(v: &serde_json::Value) -> Result<Self, String> {
        let c: Self = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        // serde lets unit commands carry extra fields; a typo must not pass silently.
        let back = serde_json::to_value(&c).map_err(|e| e.to_string())?;
        if let (Some(given), Some(known)) = (v.as_object(), back.as_object())
            && let Some(k) = given.keys().find(|k| !known.contains_key(*k))
        {
            return Err(format!("unknown field `{k}`"));
        }
        Ok(c)
    }

    /// Reads a script: a JSON array of commands; errors name the command (from 1).
    pub fn parse_script(text: &str) -> Result<Vec<Self>, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("the script is not valid JSON: {e}"))?;
        let items = v.as_array().ok_or("a script is a JSON array of commands")?;
        items
            .iter()
            .enumerate()
            .map(|(n, c)| {
                Self::parse(c).map_err(|e| {
                    format!(
                        "script command {} ({}): {e}",
                        n + 1,
                        c.get("cmd").and_then(|x| x.as_str()).unwrap_or("?")
                    )
                })
            })
            .collect()
    }
}

/// A view name as scripts write it.
pub fn view_index(name: &str) -> Result<usize, String> {
    match name {
        "axial" => Ok(0),
        "coronal" => Ok(1),
        "sagittal" => Ok(2),
        _ => Err(format!("view `{name}`: use axial, coronal or sagittal")),
    }
}

/// Operations cheap enough to apply on the UI thread within a frame.
fn is_quick(op: &Operation) -> bool {
    matches!(
        op.name(),
        "brush" | "lasso" | "add_label" | "rename_label" | "copy_label" | "delete_label"
    )
}

impl App {
    /// Queues a command for the end of the frame.
    pub fn push(&mut self, c: UiCommand) {
        self.commands.push(c);
    }

    /// Applies the queued commands; failures become messages.
    pub fn run_commands(&mut self) {
        for c in std::mem::take(&mut self.commands) {
            if let Err(e) = self.execute(c) {
                self.messages.push((Severity::Error, e));
            }
        }
    }

    pub(crate) fn case_mut(&mut self) -> Result<&mut crate::case::Case, String> {
        self.case
            .as_deref_mut()
            .ok_or_else(|| "no case is open: File → New case from this series… first".to_string())
    }

    pub(crate) fn idle(&self) -> Result<(), String> {
        match &self.job {
            Some(j) => Err(format!("wait until “{}” is done", j.label)),
            None => Ok(()),
        }
    }

    /// Applies one command.
    pub fn execute(&mut self, c: UiCommand) -> Result<(), String> {
        if self.review_mode && c.edits() {
            return Err(
                "the case is open for review, read-only: open it with File → Open case… to change it"
                    .into(),
            );
        }
        match c {
            UiCommand::Open { path } => {
                self.open(&path);
                Ok(())
            }
            UiCommand::LoadSeries { id } => {
                self.load_series(&id);
                Ok(())
            }
            UiCommand::NewCase {
                folder,
                name,
                purpose,
                operator,
            } => {
                self.start_new_case(false);
                if let Some(f) = &mut self.new_case {
                    f.folder = folder.display().to_string();
                    f.name = name;
                    f.category = purpose.category;
                    f.text = purpose.text;
                    f.operator = operator;
                }
                self.create_case()
            }
            UiCommand::OpenCase { path, review } => {
                self.idle()?;
                self.cancel_job();
                self.review_mode = review;
                if review {
                    self.editor.tool = Tool::Navigate;
                }
                let op = self.operator();
                self.job = Some(jobs::open_case(path, op, self.waker()));
                Ok(())
            }
            UiCommand::Acknowledge => {
                self.case_mut()?;
                self.acknowledge_findings();
                Ok(())
            }
            UiCommand::Tool { tool } => {
                self.editor.tool = tool;
                self.editor.polygon.points.clear();
                self.editor.brush.stroke = None;
                Ok(())
            }
            UiCommand::Layout { layout } => {
                self.prefs.layout = super::Layout::parse(&layout).ok_or_else(|| {
                    format!("layout `{layout}`: use 2x2, 1x3, axial, coronal, sagittal or 3d")
                })?;
                Ok(())
            }
            UiCommand::Window { preset } => {
                let v = self.viewer.as_mut().ok_or("no volume is loaded")?;
                v.window = if preset == "auto" {
                    WindowLevel::auto(&v.volume)
                } else {
                    WindowLevel::preset(&preset).ok_or_else(|| {
                        format!("window `{preset}`: use bone, brain, soft, lung or auto")
                    })?
                };
                Ok(())
            }
            UiCommand::GoTo { point_mm } => {
                let v = self.viewer.as_mut().ok_or("no volume is loaded")?;
                v.cursor = glam::DVec3::from_array(point_mm);
                Ok(())
            }
            UiCommand::GoToSlice { view, index } => {
                let i = view_index(&view)?;
                let v = self.viewer.as_mut().ok_or("no volume is loaded")?;
                v.go_to_slice(i, index);
                Ok(())
            }
            UiCommand::SelectLabel { name } => {
                if name.trim().is_empty() {
                    return Err("a label needs a name".into());
                }
                self.editor.active_label = name.clone();
                if let Some(c) = self.case.as_deref_mut() {
                    c.set_default_label(&name);
                }
                Ok(())
            }
            UiCommand::LabelDisplay {
                name,
                visible,
                opacity,
                locked,
            } => {
                let d = self.editor.display.entry(name).or_default();
                if let Some(v) = visible {
                    d.visible = v;
                }
                if let Some(o) = opacity {
                    d.opacity = o.clamp(0.0, 1.0);
                }
                if let Some(l) = locked {
                    d.locked = l;
                }
                Ok(())
            }
            UiCommand::SetThreshold { lo, hi } => {
                if lo > hi {
                    return Err(format!(
                        "threshold {lo}..{hi}: the low end is above the high end"
                    ));
                }
                self.editor.threshold.lo = lo;
                self.editor.threshold.hi = hi;
                Ok(())
            }
            UiCommand::ThresholdSurface { show, largest_only } => {
                self.editor.threshold.surface_3d = show;
                if let Some(l) = largest_only {
                    self.editor.threshold.largest_only = l;
                }
                Ok(())
            }
            UiCommand::ThresholdPreset { preset } => {
                let p = self
                    .presets()
                    .get(&preset)
                    .cloned()
                    .ok_or_else(|| format!("no threshold preset `{preset}`"))?;
                self.editor.threshold.lo = p.lo;
                self.editor.threshold.hi = p.hi;
                Ok(())
            }
            UiCommand::ThresholdAuto { method } => {
                let h = self
                    .editor
                    .histogram
                    .as_ref()
                    .ok_or("no volume is loaded")?;
                self.editor.threshold.lo = match method.as_str() {
                    "otsu" => h.otsu(),
                    "triangle" => h.triangle(),
                    _ => return Err(format!("method `{method}`: use otsu or triangle")),
                };
                Ok(())
            }
            UiCommand::ApplyThreshold => {
                let t = self.editor.threshold;
                // A range that is a preset is logged as that preset (with its values).
                let preset = self
                    .presets()
                    .presets
                    .iter()
                    .find(|p| p.lo == t.lo && p.hi == t.hi)
                    .map(|p| p.name.clone());
                let op = match preset {
                    Some(p) => {
                        json!({"op": "threshold_preset", "preset": p, "lo": t.lo, "hi": t.hi})
                    }
                    None => json!({"op": "threshold", "lo": t.lo, "hi": t.hi}),
                };
                self.apply_json(op)
            }
            UiCommand::Apply { op } => self.apply_json(op),
            UiCommand::Stroke {
                view,
                points_mm,
                radius_mm,
                mode,
                shape,
            } => {
                let i = view_index(&view)?;
                let points_mm = self.snap_to_slice(i, &points_mm)?;
                let b = &self.editor.brush;
                let shape = shape.unwrap_or(b.shape);
                let mut op = json!({
                    "op": "brush",
                    "centres_mm": points_mm,
                    "radius_mm": radius_mm.unwrap_or(b.radius_mm),
                    "mode": mode.unwrap_or(b.mode),
                    "shape": shape,
                });
                if let Some([lo, hi]) = b.hu_limit {
                    op["hu_range"] = json!([lo, hi]);
                }
                if shape == BrushShape::Disc {
                    self.plane_of(i, &mut op, "plane", "normal")?;
                }
                self.apply_json(op)
            }
            UiCommand::Lasso {
                view,
                points_mm,
                erase,
            } => {
                let i = view_index(&view)?;
                let points_mm = self.snap_to_slice(i, &points_mm)?;
                let mut op = json!({
                    "op": "lasso",
                    "points_mm": points_mm,
                    "mode": if erase { "erase" } else { "paint" },
                });
                self.plane_of(i, &mut op, "plane", "")?;
                self.apply_json(op)
            }
            UiCommand::Scissors {
                view,
                points_mm,
                keep_inside,
            } => {
                let i = view_index(&view)?;
                let v = self.viewer.as_ref().ok_or("no volume is loaded")?;
                let n = v.axes[i].normal;
                self.apply_json(json!({
                    "op": "scissors",
                    "points_mm": points_mm,
                    "direction": [n.x, n.y, n.z],
                    "mode": if keep_inside { "erase_outside" } else { "erase_inside" },
                }))
            }
            UiCommand::Undo => {
                self.idle()?;
                let c = self.case_mut()?;
                match c.undo().map_err(|e| e.to_string())? {
                    Some(i) => {
                        let name = c.session().log().entries[i].op.name();
                        self.messages
                            .push((Severity::Info, format!("Undid {i}: {name}")));
                    }
                    None => self
                        .messages
                        .push((Severity::Info, "Nothing to undo".into())),
                }
                Ok(())
            }
            UiCommand::Redo => {
                self.idle()?;
                let c = self.case_mut()?;
                match c.redo().map_err(|e| e.to_string())? {
                    Some(i) => {
                        let name = c.session().log().entries[i].op.name();
                        self.messages
                            .push((Severity::Info, format!("Redid {i}: {name}")));
                    }
                    None => self
                        .messages
                        .push((Severity::Info, "Nothing to redo".into())),
                }
                Ok(())
            }
            UiCommand::GoToStep { index } => {
                self.idle()?;
                let c = self.case_mut()?;
                let applied =
                    |c: &crate::case::Case| c.session().log().applied().map(|e| e.index).max();
                // Undo while the last applied step is after `index`, then redo up to it.
                while applied(c).is_some_and(|last| last > index) {
                    if c.undo().map_err(|e| e.to_string())?.is_none() {
                        break;
                    }
                }
                while applied(c).is_none_or(|last| last < index) {
                    match c.session().redo_index() {
                        Some(r) if r <= index => {
                            c.redo().map_err(|e| e.to_string())?;
                        }
                        _ => break,
                    }
                }
                Ok(())
            }
            UiCommand::Verify {
                orientation,
                from,
                to,
                label,
            } => {
                let label = label.unwrap_or_else(|| self.editor.active_label.clone());
                let c = self.case_mut()?;
                for k in from.min(to)..=to.max(from) {
                    c.mark(&label, orientation, k, MarkState::Verified, None)
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            UiCommand::Flag {
                orientation,
                index,
                note,
            } => {
                let label = self.editor.active_label.clone();
                self.case_mut()?
                    .mark(&label, orientation, index, MarkState::Flagged, Some(note))
                    .map_err(|e| e.to_string())
            }
            UiCommand::Reconstruct { params, labels } => {
                self.background_free(Background::Reconstruct)?;
                if let Some(p) = params {
                    self.editor.model.params = p;
                }
                let labels = labels.unwrap_or_else(|| vec![self.editor.active_label.clone()]);
                let opts = self
                    .editor
                    .model
                    .params
                    .options()
                    .map_err(|e| e.to_string())?;
                let case = self.case.as_deref().ok_or("no case is open")?;
                let masks = case.masks_for(&labels).map_err(|e| e.to_string())?;
                let volume = case.volume().clone();
                self.editor.model.labels = labels;
                // A new model, not a recorded one shown again (a cancelled show leaves this).
                self.editor.model.showing_record = None;
                let job = jobs::reconstruct(
                    masks,
                    volume,
                    opts,
                    (self.shared_compute.clone(), self.prefs.compute),
                    self.surface.colour,
                    self.waker(),
                );
                self.start_background(Background::Reconstruct, job);
                Ok(())
            }
            UiCommand::Export {
                file,
                override_verification,
                allow_defects,
            } => self.export(&file, override_verification, allow_defects),
            UiCommand::CompareLabels { a, b } => {
                self.background_free(Background::Compare)?;
                if a == b {
                    return Err(format!("compare `{a}` with another label, not itself"));
                }
                let case = self.case.as_deref().ok_or("no case is open")?;
                let mut masks = case
                    .masks_for(&[a.clone(), b.clone()])
                    .map_err(|e| e.to_string())?;
                let (mb, ma) = (masks.pop(), masks.pop());
                let (Some(ma), Some(mb)) = (ma, mb) else {
                    return Err("both labels are needed".into());
                };
                let hash = case.session().log().final_hash.clone();
                let geometry = case.volume().geometry;
                self.editor.compare.a = a;
                self.editor.compare.b = b;
                let job = jobs::compare_labels(ma, mb, hash, geometry, self.waker());
                self.start_background(Background::Compare, job);
                Ok(())
            }
            UiCommand::ShowDifference { on } => {
                if on && self.editor.compare.result.is_none() {
                    return Err("compare two labels first".into());
                }
                self.editor.compare.difference = on;
                Ok(())
            }
            UiCommand::Measure {
                kind,
                view,
                points_mm,
                name,
            } => self.measure_points(kind, &view, &points_mm, name),
            UiCommand::MeasureLabel { label } => {
                let label = label.unwrap_or_else(|| self.editor.active_label.clone());
                let c = self.case_mut()?;
                let seq = c
                    .measure(
                        &format!("{label} volume"),
                        crate::measure::Shape::Label { label },
                    )
                    .map_err(|e| e.to_string())?;
                self.announce_measurement(seq);
                Ok(())
            }
            UiCommand::RemoveMeasurement { seq } => self
                .case_mut()?
                .remove_measurement(seq)
                .map_err(|e| e.to_string()),
            UiCommand::Review {
                approve,
                reviewer,
                note,
                pin,
            } => self.record_review(approve, &reviewer, note, pin),
            UiCommand::ShowModel => self.show_recorded_model(),
            UiCommand::PacsSearch {
                dimse,
                url,
                user,
                patient_id,
                modality,
            } => self.script_pacs_search(dimse, url, user, patient_id, modality),
            UiCommand::PacsRetrieve { series, into } => self.script_pacs_retrieve(&series, into),
            UiCommand::ImportSeg { path } => {
                self.idle()?;
                let (labels, warning) = self
                    .case_mut()?
                    .import_seg(&path, &[], None)
                    .map_err(|e| e.to_string())?;
                if let Some(w) = warning {
                    self.messages
                        .push((crate::feasibility::Severity::Warning, w));
                }
                if let Some(l) = labels.first() {
                    self.editor.active_label = l.clone();
                }
                self.messages.push((
                    crate::feasibility::Severity::Info,
                    format!("imported {} from {}", labels.join(", "), path.display()),
                ));
                Ok(())
            }
            UiCommand::ReviewMode { on } => {
                self.case_mut()?;
                self.review_mode = on;
                if on {
                    self.editor.tool = Tool::Navigate;
                    self.editor.brush.stroke = None;
                    self.editor.polygon.points.clear();
                }
                Ok(())
            }
            UiCommand::OpenReport => {
                self.execute(UiCommand::WriteReport)?;
                let c = self.case.as_deref().ok_or("no case is open")?;
                let html = c.dir().join("report.html");
                super::panels::review::open_in_browser(&html)
            }
            UiCommand::WriteReport => {
                let c = self.case.as_deref().ok_or("no case is open")?;
                let dir = c.dir().to_path_buf();
                crate::report::write(
                    c,
                    Some(&dir.join("report.json")),
                    Some(&dir.join("report.html")),
                )
                .map_err(|e| e.to_string())?;
                self.messages.push((
                    Severity::Info,
                    format!("Report written: {}", dir.join("report.html").display()),
                ));
                Ok(())
            }
            UiCommand::Screenshot { name } => {
                self.screenshot_requests.push(name);
                Ok(())
            }
            UiCommand::Wait => Ok(()),
        }
    }

    /// Moves points onto the voxel layer view `i` shows (the nearest along the axis closest
    /// to its normal, rounding as the slice shader does), so a stroke edits the slice on
    /// screen even when the plane lies between two layers.
    pub(crate) fn snap_to_slice(
        &self,
        i: usize,
        points: &[[f64; 3]],
    ) -> Result<Vec<[f64; 3]>, String> {
        let v = self.viewer.as_ref().ok_or("no volume is loaded")?;
        let which = v.nearest_axis(i).1;
        let g = v.volume.geometry;
        Ok(points
            .iter()
            .map(
                |p| match g.coord_of(crate::geom::LpsPointMm(glam::DVec3::from_array(*p))) {
                    Some(mut c) => {
                        let snap = |x: f64| (x + 0.5).floor();
                        match which {
                            0 => c.slice = snap(c.slice),
                            1 => c.row = snap(c.row),
                            _ => c.col = snap(c.col),
                        }
                        g.position(c).0.to_array()
                    }
                    None => *p,
                },
            )
            .collect())
    }

    /// Sets the plane of a planar tool from view `i`: the enum field when the view is a
    /// standard plane, else the normal (when `normal_field` is given).
    fn plane_of(
        &self,
        i: usize,
        op: &mut serde_json::Value,
        plane_field: &str,
        normal_field: &str,
    ) -> Result<(), String> {
        let v = self.viewer.as_ref().ok_or("no volume is loaded")?;
        let n = v.axes[i].normal;
        let standard = [
            ("axial", glam::DVec3::Z),
            ("coronal", glam::DVec3::Y),
            ("sagittal", glam::DVec3::X),
        ];
        match standard.iter().find(|(_, s)| n.cross(*s).length() < 1e-9) {
            Some((name, _)) => op[plane_field] = json!(name),
            None if !normal_field.is_empty() => op[normal_field] = json!([n.x, n.y, n.z]),
            None => {
                return Err("this tool works in axial, coronal or sagittal views; reset the planes (the view is oblique)".into());
            }
        }
        Ok(())
    }

    /// The threshold presets (the operator's, else the built-in table).
    pub fn presets(&self) -> crate::segment::presets::Presets {
        self.prefs
            .presets
            .clone()
            .unwrap_or_else(crate::segment::presets::Presets::built_in)
    }

    /// Applies an operation given as JSON: quick ones now, others on a worker.
    fn apply_json(&mut self, mut op: serde_json::Value) -> Result<(), String> {
        self.idle()?;
        let obj = op.as_object_mut().ok_or("an operation is a JSON object")?;
        let name = obj
            .get("op")
            .and_then(|o| o.as_str())
            .ok_or("an operation needs an `op`")?
            .to_string();
        if super::op_templates::takes_label(&name) && !obj.contains_key("label") {
            obj.insert("label".into(), json!(self.editor.active_label));
        }
        if let Some(l) = obj.get("label").and_then(|l| l.as_str())
            && self.editor.display_of(l).locked
        {
            return Err(format!("label `{l}` is locked; unlock it to edit"));
        }
        let op: Operation = serde_json::from_value(op).map_err(|e| format!("{name}: {e}"))?;
        let quick = is_quick(&op);
        let case = self.case_mut()?;
        if quick {
            case.apply(op).map_err(|e| e.to_string())?;
            return Ok(());
        }
        let staged = case.stage(op).map_err(|e| e.to_string())?;
        let waker = self.waker();
        let compute = (self.shared_compute.clone(), self.prefs.compute);
        self.job = Some(jobs::compute(staged, compute, waker));
        Ok(())
    }

    /// Writes an export into the case.
    fn export(
        &mut self,
        file: &str,
        override_verification: bool,
        allow_defects: bool,
    ) -> Result<(), String> {
        self.idle()?;
        let format = ExportFormat::from_file_name(file).ok_or_else(|| {
            format!("{file}: use .stl, .3mf, .obj, .nii, .nii.gz, .nrrd, .json, .seg.dcm or .rtstruct.dcm")
        })?;
        let reconstruction = self.editor.model.reconstruction;
        let labels = if format.is_surface() {
            self.editor.model.labels.clone()
        } else {
            vec![self.editor.active_label.clone()]
        };
        let case = self.case.as_deref_mut().ok_or("no case is open")?;
        let gap = case.verification_gap(&labels);
        if gap.is_some() && !override_verification {
            self.editor.export_confirm = Some((format, file.to_string()));
            return Err(format!(
                "not every slice is verified ({}); confirm the export to record that you accept it",
                gap.unwrap_or_default()
            ));
        }
        let spec = ExportSpec {
            file: file.to_string(),
            format,
            labels,
            content: (!format.is_surface() && !format.is_dicom()).then_some(VolumeContent::Mask),
            allow_open: false,
            allow_defects: allow_defects && format.is_surface(),
        };
        let rec = case
            .export_with(&spec, reconstruction, gap)
            .map_err(|e| e.to_string())?;
        self.editor.export_confirm = None;
        self.messages.push((
            Severity::Info,
            format!("Exported {} (blake3 {}…)", rec.path, &rec.blake3[..16]),
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_read_as_scripts_write_them() {
        let c: Vec<UiCommand> = serde_json::from_str(
            r#"[{"cmd": "threshold_preset", "preset": "bone"}, {"cmd": "apply_threshold"},
                {"cmd": "stroke", "view": "axial", "points_mm": [[1, 2, 3]], "mode": "erase"},
                {"cmd": "verify", "orientation": "axial", "from": 0, "to": 9},
                {"cmd": "export", "file": "bone.stl", "override_verification": true}]"#,
        )
        .expect("parses");
        assert_eq!(c.len(), 5);
        assert_eq!(c[1], UiCommand::ApplyThreshold);
        let e = UiCommand::parse_script(r#"[{"cmd": "undo"}, {"cmd": "undo", "twice": true}]"#);
        assert!(
            e.as_ref()
                .is_err_and(|e| e.contains("command 2") && e.contains("twice")),
            "{e:?}"
        );
        let e = UiCommand::parse_script(r#"[{"cmd": "tool", "tool": "brush", "size": 3}]"#);
        assert!(e.is_err_and(|e| e.contains("size")));
        assert!(UiCommand::parse_script(r#"[{"cmd": "frobnicate"}]"#).is_err());
        assert_eq!(
            UiCommand::parse_script(
                r#"[{"cmd": "stroke", "view": "axial", "points_mm": [[1, 2, 3]]}]"#
            )
            .map(|v| v.len()),
            Ok(1)
        );
        assert!(view_index("axial").is_ok() && view_index("3d").is_err());
    }
}
