//! Review, measurements and the report. The Review section is what a physician reads and
//! decides on: the review state (signature and hashes checked), the findings and their
//! acknowledgement, the verification coverage and the flagged slices, the model's figures,
//! and the decision — approve, or return with a note pinned to a slice or a point —
//! signed with the reviewer's key. Measurements are taken with the Measure tool in the
//! slice views and listed here; the Report section writes the report and opens it in the
//! system browser.

use crate::ui::App;
use crate::ui::command::UiCommand;
use crate::ui::editor::{MeasureTool, NotePin, Tool};
use egui::Color32;

const OK: Color32 = Color32::from_rgb(90, 200, 110);
const BAD: Color32 = Color32::from_rgb(235, 90, 70);

/// Opens `path` in the system's default program (the HTML report in a browser).
pub fn open_in_browser(path: &std::path::Path) -> Result<(), String> {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(program)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| {
            format!(
                "cannot start `{program}` to show the report ({e}); open {} in a browser",
                path.display()
            )
        })
}

impl App {
    /// Says what a new measurement reads.
    pub(crate) fn announce_measurement(&mut self, seq: usize) {
        let Some(c) = self.case.as_deref() else {
            return;
        };
        if let Some((_, m)) = c.measurements().into_iter().find(|(s, _)| *s == seq) {
            let text = format!("{}: {}", m.name, m.summary());
            self.messages
                .push((crate::feasibility::Severity::Info, text));
        }
    }

    /// The review state, recomputed when the journal grew.
    fn review_status(&mut self) -> Option<crate::review::ReviewStatus> {
        let case = self.case.as_deref()?;
        let n = case.files().events.len();
        match &self.editor.review.status {
            Some((m, s)) if *m == n => Some(s.clone()),
            _ => {
                let s = case.review_status();
                self.editor.review.status = Some((n, s.clone()));
                Some(s)
            }
        }
    }

    pub(crate) fn review_section(&mut self, ui: &mut egui::Ui) {
        let Some(status) = self.review_status() else {
            return;
        };
        let mut cmds = Vec::new();
        if self.review_mode {
            ui.colored_label(
                Color32::from_rgb(120, 180, 255),
                "Open for review: read-only. Editing tools are not available.",
            );
        }
        ui.colored_label(if status.approved() { OK } else { BAD }, status.summary());
        for c in &status.changes {
            ui.colored_label(BAD, format!("• {c}"));
        }
        for d in &status.decisions {
            ui.label(format!(
                "record {}: {} by {} at {} — signature {}",
                d.seq,
                d.decision.verdict.as_str(),
                d.decision.reviewer,
                d.decision.time,
                if d.signature_valid {
                    "valid"
                } else {
                    "INVALID"
                }
            ));
            for n in &d.decision.notes {
                ui.add(egui::Label::new(format!("    note: {}", n.text)).wrap());
            }
        }
        ui.separator();
        let busy = self.any_job();
        let f = &mut self.editor.review;
        ui.horizontal(|ui| {
            ui.label("Reviewer");
            ui.text_edit_singleline(&mut f.reviewer);
        });
        ui.label("Note");
        ui.text_edit_multiline(&mut f.note);
        ui.horizontal(|ui| {
            ui.label("Pin to");
            ui.radio_value(&mut f.pin, NotePin::None, "nothing");
            ui.radio_value(&mut f.pin, NotePin::Slice, "axial slice at crosshair");
            ui.radio_value(&mut f.pin, NotePin::Point, "crosshair point");
        });
        let named = !f.reviewer.trim().is_empty();
        ui.horizontal(|ui| {
            let decide = |approve: bool| UiCommand::Review {
                approve,
                reviewer: f.reviewer.clone(),
                note: Some(f.note.clone()).filter(|n| !n.trim().is_empty()),
                pin: Some(f.pin),
            };
            if ui
                .add_enabled(named && !busy, egui::Button::new("Approve and sign"))
                .on_hover_text("Signs the decision with your key; any later change voids it")
                .clicked()
            {
                cmds.push(decide(true));
            }
            if ui
                .add_enabled(
                    named && !busy && !f.note.trim().is_empty(),
                    egui::Button::new("Return with note"),
                )
                .clicked()
            {
                cmds.push(decide(false));
                f.note.clear();
            }
        });
        if !named {
            ui.label("Give your name to sign.");
        }
        ui.separator();
        // What is being approved.
        let Some(case) = self.case.as_deref() else {
            return;
        };
        let rec = case.record();
        let acks = case.files().acknowledgements();
        ui.label(format!(
            "Findings: {} ({} acknowledged)",
            rec.feasibility.findings.len(),
            acks.iter().map(|a| a.codes.len()).sum::<usize>()
        ));
        for f in &rec.feasibility.findings {
            let by = acks
                .iter()
                .find(|a| a.codes.iter().any(|c| c == f.code.as_str()))
                .map_or("not acknowledged".to_string(), |a| {
                    format!("acknowledged by {}", a.operator)
                });
            ui.label(format!("  {}: {} — {by}", f.code.as_str(), f.message));
        }
        for c in case.coverage() {
            let colour = if c.verified == c.planes && c.changed_after_verification == 0 {
                OK
            } else {
                BAD
            };
            ui.colored_label(colour, c.summary());
        }
        let flagged = case.ledger().flagged();
        if !flagged.is_empty() {
            ui.label("Flagged slices (click to show):");
            for (label, o, index, note) in flagged.iter().take(20) {
                let text = format!("  {label} {} {index}: {note}", o.as_str());
                if ui.link(text).clicked() {
                    cmds.push(UiCommand::GoToSlice {
                        view: o.as_str().into(),
                        index: *index,
                    });
                }
            }
        }
        if let Some((seq, r)) = case.files().reconstructions().last() {
            let t = &r.record.totals;
            let current = r
                .masks
                .iter()
                .all(|m| case.mask_hashes().get(&m.label) == Some(&m.mask_hash));
            ui.label(format!(
                "Model (record {seq}): {} triangles, closed {}, {}",
                t.triangles,
                t.closed,
                if current {
                    "made from the masks as they are"
                } else {
                    "MASKS CHANGED since"
                }
            ));
            for l in &r.record.labels {
                if let Some(d) = &l.smoothing {
                    ui.label(format!(
                        "  {}: smoothing deviation max {:.2} mm, mean {:.3} mm",
                        l.name, d.max_mm, d.mean_mm
                    ));
                }
                if !l.thin_regions.is_empty() {
                    ui.colored_label(
                        BAD,
                        format!("  {}: {} thin region(s)", l.name, l.thin_regions.len()),
                    );
                }
            }
            if current
                && ui
                    .add_enabled(
                        self.job.is_none(),
                        egui::Button::new("Show the model in 3D (deviation colours)"),
                    )
                    .on_hover_text("Recomputed in the background and checked against its record")
                    .clicked()
            {
                cmds.push(UiCommand::ShowModel);
            }
        }
        for c in cmds {
            self.push(c);
        }
    }

    pub(crate) fn measure_section(&mut self, ui: &mut egui::Ui) {
        let Some(case) = self.case.as_deref() else {
            return;
        };
        let list: Vec<(usize, String)> = case
            .measurements()
            .into_iter()
            .map(|(seq, m)| {
                (
                    seq,
                    format!("{} ({}): {}", m.name, m.shape.kind(), m.summary()),
                )
            })
            .collect();
        let mut cmds = Vec::new();
        let e = &mut self.editor;
        ui.horizontal_wrapped(|ui| {
            for k in MeasureTool::ALL {
                if ui.radio(e.measure.kind == k, k.label()).clicked() {
                    e.measure.kind = k;
                    e.measure.points.clear();
                    cmds.push(UiCommand::Tool {
                        tool: Tool::Measure,
                    });
                }
            }
        });
        ui.horizontal(|ui| {
            ui.label("Name");
            ui.text_edit_singleline(&mut e.measure.name);
        });
        if e.tool == Tool::Measure {
            ui.label(match e.measure.kind.points_needed() {
                Some(2) => "Click the two ends in a slice view.",
                Some(_) => "Click three points in a slice view, the vertex second.",
                None => "Click the corners in a slice view; double-click or Enter closes.",
            });
        } else if ui.button("Measure in the slice views").clicked() {
            cmds.push(UiCommand::Tool {
                tool: Tool::Measure,
            });
        }
        if ui
            .button(format!("Volume and surface of `{}`", e.active_label))
            .clicked()
        {
            cmds.push(UiCommand::MeasureLabel { label: None });
        }
        if list.is_empty() {
            ui.label("No measurement yet.");
        }
        for (seq, text) in list {
            ui.horizontal(|ui| {
                if ui.small_button("✖").on_hover_text("Withdraw").clicked() {
                    cmds.push(UiCommand::RemoveMeasurement { seq });
                }
                ui.label(text);
            });
        }
        for c in cmds {
            self.push(c);
        }
    }

    pub(crate) fn report_section(&mut self, ui: &mut egui::Ui) {
        let Some(status) = self.review_status() else {
            return;
        };
        let Some(case) = self.case.as_deref() else {
            return;
        };
        let rec = case.record();
        ui.label(format!(
            "{} — {}: {}",
            rec.name,
            rec.purpose.category.label(),
            rec.purpose.text
        ));
        let names = case.session().segmentation().names();
        ui.label(format!(
            "{} label(s): {}; {} operation(s)",
            names.len(),
            names.join(", "),
            case.session().log().applied().count()
        ));
        let exports = case.files().export_states();
        ui.label(format!(
            "{} export(s); {} reconstruction(s); {} measurement(s)",
            exports
                .iter()
                .filter(|(_, _, s)| *s != crate::case::ExportState::Superseded)
                .count(),
            case.files().reconstructions().len(),
            case.measurements().len()
        ));
        ui.colored_label(
            if status.approved() { OK } else { BAD },
            format!("Review: {}", status.summary()),
        );
        let html = case.dir().join("report.html");
        let mut cmds = Vec::new();
        ui.horizontal(|ui| {
            if ui.button("Regenerate report").clicked() {
                cmds.push(UiCommand::WriteReport);
            }
            if ui
                .button("Open report in browser")
                .on_hover_text(html.display().to_string())
                .clicked()
            {
                cmds.push(UiCommand::OpenReport);
            }
        });
        for c in cmds {
            self.push(c);
        }
    }
}
