//! The side panel's sections, one file each: display, segment (labels, tools, threshold,
//! brush, operations), history, verification, model (reconstruct and export), compare
//! (two labels, their figures and difference), measurements, review and the report. Each reads
//! the app's state and queues [`crate::ui::command::UiCommand`]s.

pub mod compare;
pub mod display;
pub mod history;
pub mod model;
pub mod review;
pub mod segment;
pub mod verify;

use super::App;
use super::browser::{self, BrowserAction};

impl App {
    /// The side panel: series, case, editor sections, display.
    pub(crate) fn side_panel(&mut self, ctx: &egui::Context) {
        egui::SidePanel::left("controls")
            .default_width(360.0)
            .max_width(620.0)
            .resizable(true)
            .show(ctx, |ui| {
                // Long series descriptions are cut, with the full text on hover.
                ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
                egui::ScrollArea::vertical().show(ui, |ui| {
                    if let Some(report) = &self.report {
                        let selected = &mut self.selected;
                        let action = egui::CollapsingHeader::new("Series")
                            .default_open(self.loaded.is_none())
                            .show(ui, |ui| browser::show(ui, report, selected))
                            .body_returned
                            .flatten();
                        if let Some(BrowserAction::Load(id)) = action {
                            self.load_series(&id);
                        }
                    } else if self.source.is_none() && self.loaded.is_none() {
                        ui.label("File → Open folder… to choose a CT exam, or File → Open case….");
                    }
                    if self.loaded.is_some() || self.case_dir.is_some() {
                        self.case_section(ui);
                    }
                    if self.case.is_some() && self.review_mode {
                        egui::CollapsingHeader::new("Review")
                            .id_salt(("review mode", 0))
                            .default_open(true)
                            .show(ui, |ui| self.review_section(ui));
                        egui::CollapsingHeader::new("Measurements")
                            .id_salt(("review mode", 1))
                            .default_open(true)
                            .show(ui, |ui| self.measure_section(ui));
                        egui::CollapsingHeader::new("Report")
                            .id_salt(("review mode", 2))
                            .default_open(true)
                            .show(ui, |ui| self.report_section(ui));
                        egui::CollapsingHeader::new("History")
                            .id_salt(("review mode", 3))
                            .default_open(false)
                            .show(ui, |ui| self.history_section(ui));
                    } else if self.case.is_some() {
                        egui::CollapsingHeader::new("Segment")
                            .default_open(true)
                            .show(ui, |ui| self.segment_section(ui));
                        egui::CollapsingHeader::new("History")
                            .default_open(false)
                            .show(ui, |ui| self.history_section(ui));
                        egui::CollapsingHeader::new("Verification")
                            .default_open(self.editor.tool == super::editor::Tool::Verify)
                            .show(ui, |ui| self.verify_section(ui));
                        egui::CollapsingHeader::new("Model and export")
                            .default_open(true)
                            .show(ui, |ui| self.model_section(ui));
                        let mut compare = egui::CollapsingHeader::new("Compare labels")
                            .default_open(self.editor.compare.result.is_some());
                        if std::mem::take(&mut self.editor.compare.reveal) {
                            compare = compare.open(Some(true));
                        }
                        compare.show(ui, |ui| self.compare_section(ui));
                        egui::CollapsingHeader::new("Measurements")
                            .default_open(self.editor.tool == super::editor::Tool::Measure)
                            .show(ui, |ui| self.measure_section(ui));
                        egui::CollapsingHeader::new("Review")
                            .default_open(false)
                            .show(ui, |ui| self.review_section(ui));
                        egui::CollapsingHeader::new("Report")
                            .default_open(false)
                            .show(ui, |ui| self.report_section(ui));
                    }
                    if self.viewer.is_some() {
                        egui::CollapsingHeader::new("Display")
                            .default_open(self.case.is_none())
                            .show(ui, |ui| self.display_controls(ui));
                    }
                });
            });
    }
}
