//! The window's chrome: menu bar, status bar, messages and the findings banner, and the
//! help window.

use super::App;
use super::browser;
use super::prefs::Layout;
use super::viewer::ViewId;
use crate::feasibility::{Finding, Severity};
use crate::gpu::ViewRenderer;
use egui::{Color32, RichText};

impl App {
    pub(crate) fn menu_bar(&mut self, ctx: &egui::Context) {
        egui::TopBottomPanel::top("menu").show(ctx, |ui| {
            egui::MenuBar::new().ui(ui, |ui| {
                ui.menu_button("File", |ui| {
                    if ui.button("Open folder…").clicked() {
                        ui.close();
                        self.choose(super::file_browser::BrowseFor::Open, true);
                    }
                    if ui.button("Open file… (DICOM, DICOMDIR, NIfTI)").clicked() {
                        ui.close();
                        self.choose(super::file_browser::BrowseFor::Open, false);
                    }
                    if ui.button("Browse in window…").clicked() {
                        ui.close();
                        self.browse(super::file_browser::BrowseFor::Open);
                    }
                    if ui.button("Open from PACS…").clicked() {
                        ui.close();
                        self.open_pacs();
                    }
                    ui.menu_button("Open recent", |ui| {
                        if self.prefs.recent.is_empty() {
                            ui.label("(none)");
                        }
                        for p in self.prefs.recent.clone() {
                            if ui.button(p.display().to_string()).clicked() {
                                ui.close();
                                self.push(super::command::UiCommand::Open { path: p });
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
                    if ui.button("Open case…").clicked() {
                        ui.close();
                        self.choose(super::file_browser::BrowseFor::OpenCase, true);
                    }
                    if ui
                        .button("Review case…")
                        .on_hover_text("Open a case read-only, as the reviewing physician")
                        .clicked()
                    {
                        ui.close();
                        self.choose(super::file_browser::BrowseFor::ReviewCase, true);
                    }
                    ui.menu_button("Recent cases", |ui| {
                        if self.prefs.recent_cases.is_empty() {
                            ui.label("(none)");
                        }
                        for p in self.prefs.recent_cases.clone() {
                            if ui.button(p.display().to_string()).clicked() {
                                ui.close();
                                self.push(super::command::UiCommand::OpenCase {
                                    path: p,
                                    review: false,
                                });
                            }
                        }
                    });
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

    pub(crate) fn status_bar(&mut self, ctx: &egui::Context) {
        egui::TopBottomPanel::bottom("status").show(ctx, |ui| {
            ui.horizontal(|ui| {
                let mut cancel = false;
                let mut cancel_background = None;
                let progress = |ui: &mut egui::Ui, j: &super::jobs::Job| {
                    ui.spinner();
                    ui.label(&j.label);
                    if let Some(f) = j.fraction() {
                        ui.add(
                            egui::ProgressBar::new(f)
                                .desired_width(160.0)
                                .show_percentage(),
                        );
                    }
                };
                if let Some(j) = &self.job {
                    progress(ui, j);
                    cancel = ui.button("Cancel").clicked();
                    ui.separator();
                }
                for (k, j) in &self.background {
                    progress(ui, j);
                    if ui
                        .button("Cancel")
                        .on_hover_text("Editing goes on while this runs")
                        .clicked()
                    {
                        cancel_background = Some(*k);
                    }
                    ui.separator();
                }
                if cancel {
                    self.cancel_job();
                }
                if let Some(k) = cancel_background {
                    self.cancel_background(k);
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
                // The latest note, on one line; the last few on hover.
                let notes: Vec<&str> = self
                    .messages
                    .iter()
                    .filter(|(s, _)| *s == Severity::Info)
                    .map(|(_, m)| m.as_str())
                    .collect();
                if let Some(last) = notes.last() {
                    ui.separator();
                    let (icon, c) = browser::severity_icon(Severity::Info);
                    ui.add(
                        egui::Label::new(RichText::new(format!("{icon} {last}")).color(c))
                            .truncate(),
                    )
                    .on_hover_text(notes.join("\n"));
                }
            });
        });
    }

    /// Warnings and errors above the views, each until dismissed. Notes (infos) go to the
    /// status bar instead: routine feedback (an undo, an export) must not move the views,
    /// which would redraw all of them.
    pub(crate) fn banner(&mut self, ctx: &egui::Context) {
        let mut dismiss = None;
        if self.messages.iter().any(|(s, _)| *s != Severity::Info) {
            egui::TopBottomPanel::top("messages").show(ctx, |ui| {
                for (i, (sev, m)) in self.messages.iter().enumerate() {
                    if *sev == Severity::Info {
                        continue;
                    }
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

    pub(crate) fn help_window(&mut self, ctx: &egui::Context) {
        let mut open = self.show_help;
        egui::Window::new("Mouse and keys")
            .open(&mut open)
            .show(ctx, |ui| {
                for (title, list) in [
                    ("Slice views", super::help::SLICE_BINDINGS),
                    ("3D view", super::help::VIEW3D_BINDINGS),
                    ("Editing", super::help::EDITOR_BINDINGS),
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
