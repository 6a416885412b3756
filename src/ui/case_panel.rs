//! The case in the window: the New case dialog (purpose, operator, where), the findings
//! acknowledgement recorded in the case, and the case's summary with its report. Nothing
//! the window makes is outside a case (ISO/IEC 3532-1: every model has its record).

use super::App;
use crate::case::record::{Purpose, PurposeCategory};
use crate::case::{Case, NewCase, case_dir};
use crate::feasibility::Severity;
use std::path::PathBuf;

/// The New case dialog's fields.
#[derive(Debug, Clone)]
pub struct NewCaseForm {
    /// Folder the case goes in.
    pub folder: String,
    /// Case name (the folder gets `.hfcase`).
    pub name: String,
    /// Purpose category.
    pub category: PurposeCategory,
    /// Purpose text.
    pub text: String,
    /// Operator.
    pub operator: String,
    /// Acknowledge the findings once the case exists (the operator asked to).
    pub acknowledge_after: bool,
    /// Why the last Create failed.
    pub error: Option<String>,
}

/// Where cases go unless the operator chose before: `~/Hounsfield cases`.
pub fn default_case_folder() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("Hounsfield cases")
}

fn sanitize(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let t = t.trim_matches('-').to_string();
    if t.is_empty() { "case".into() } else { t }
}

impl App {
    /// Opens the New case dialog for the loaded series.
    pub fn start_new_case(&mut self, acknowledge_after: bool) {
        let Some(l) = &self.loaded else {
            self.messages.push((
                Severity::Error,
                "Load a series before creating a case".into(),
            ));
            return;
        };
        let date = crate::segment::log::now_utc();
        let series = l.series_id.clone().unwrap_or_else(|| "volume".into());
        self.new_case = Some(NewCaseForm {
            folder: self
                .prefs
                .case_folder
                .clone()
                .unwrap_or_else(default_case_folder)
                .display()
                .to_string(),
            name: sanitize(&format!("series-{series}-{}", &date[..10])),
            category: PurposeCategory::CranialImplantDesign,
            text: String::new(),
            operator: if self.prefs.operator.is_empty() {
                std::env::var("USER").unwrap_or_default()
            } else {
                self.prefs.operator.clone()
            },
            acknowledge_after,
            error: None,
        });
    }

    /// Creates the case the dialog describes; `Err` says why not (the dialog stays open).
    pub fn create_case(&mut self) -> Result<(), String> {
        let form = self.new_case.clone().ok_or("no New case dialog is open")?;
        let opened = self
            .loaded
            .as_ref()
            .map(|l| l.opened.clone())
            .ok_or("no series is loaded")?;
        let folder = PathBuf::from(form.folder.trim());
        std::fs::create_dir_all(&folder)
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        let dir = case_dir(&folder.join(sanitize(&form.name)));
        let purpose = Purpose {
            category: form.category,
            text: form.text.trim().to_string(),
        };
        let mut case = Case::create(
            &dir,
            opened,
            NewCase {
                purpose,
                operator: form.operator.trim().to_string(),
                pseudonym: None,
                keep_patient: true,
            },
        )
        .map_err(|e| e.to_string())?;
        case.set_default_label("bone");
        self.prefs.case_folder = Some(folder);
        self.prefs.operator = form.operator.trim().to_string();
        self.messages.push((
            Severity::Info,
            format!(
                "Case {} created; every change is saved as it is made",
                dir.display()
            ),
        ));
        self.case_dir = Some(dir);
        self.replace_case(Some(Box::new(case)));
        self.new_case = None;
        if form.acknowledge_after {
            self.acknowledge_findings();
        }
        Ok(())
    }

    /// Records in the case that the operator read every finding that needs it.
    pub fn acknowledge_findings(&mut self) {
        let Some(case) = &mut self.case else {
            self.start_new_case(true);
            return;
        };
        let codes = case.unacknowledged();
        match case.acknowledge(&codes, None) {
            Ok(()) => {
                if let Some(l) = &mut self.loaded {
                    l.acknowledged = true;
                    l.show_findings = false;
                }
            }
            Err(e) => self.messages.push((
                Severity::Error,
                format!("Acknowledgement not recorded: {e}"),
            )),
        }
    }

    /// The acknowledgement recorded in the case, as one line.
    pub fn acknowledgement_line(&self) -> Option<String> {
        let case = self.case.as_ref()?;
        let acks = case.files().acknowledgements();
        let a = acks.last()?;
        Some(format!(
            "acknowledged by {} at {} (recorded in case {})",
            a.operator,
            a.time,
            case.record().name
        ))
    }

    /// The New case dialog.
    pub fn new_case_window(&mut self, ctx: &egui::Context) {
        let Some(mut form) = self.new_case.take() else {
            return;
        };
        let mut open = true;
        let mut create = false;
        let mut cancel = false;
        egui::Window::new("New case")
            .open(&mut open)
            .collapsible(false)
            .default_width(460.0)
            .show(ctx, |ui| {
                ui.label("A case records everything from this series to the exported model.");
                egui::Grid::new("new-case").num_columns(2).show(ui, |ui| {
                    ui.label("Folder");
                    ui.text_edit_singleline(&mut form.folder);
                    ui.end_row();
                    ui.label("Case name");
                    ui.text_edit_singleline(&mut form.name);
                    ui.end_row();
                    ui.label("Purpose");
                    egui::ComboBox::from_id_salt("purpose-category")
                        .selected_text(form.category.label())
                        .show_ui(ui, |ui| {
                            for c in PurposeCategory::ALL {
                                ui.selectable_value(&mut form.category, c, c.label());
                            }
                        });
                    ui.end_row();
                    ui.label("What the model is for");
                    ui.add(
                        egui::TextEdit::multiline(&mut form.text)
                            .desired_rows(2)
                            .hint_text("e.g. skull, left parietal defect, implant design"),
                    );
                    ui.end_row();
                    ui.label("Operator");
                    ui.text_edit_singleline(&mut form.operator);
                    ui.end_row();
                });
                if let Some(e) = &form.error {
                    ui.colored_label(egui::Color32::from_rgb(220, 80, 60), e);
                }
                ui.horizontal(|ui| {
                    create = ui.button("Create case").clicked();
                    cancel = ui.button("Cancel").clicked();
                });
            });
        if cancel || !open {
            return;
        }
        self.new_case = Some(form);
        if create && let Err(e) = self.create_case() {
            if let Some(f) = &mut self.new_case {
                f.error = Some(e);
            }
        }
    }

    /// The case section of the side panel: what it holds, and its report.
    pub fn case_section(&mut self, ui: &mut egui::Ui) {
        ui.heading("Case");
        let Some(case) = &self.case else {
            if self.loaded.is_some() {
                ui.label("No case yet: segmentation and models are made in a case.");
                if ui
                    .add_enabled(self.job.is_none(), egui::Button::new("New case…"))
                    .clicked()
                {
                    self.start_new_case(false);
                }
            } else if self.job.is_some() && self.case_dir.is_some() {
                ui.label("The case is in use by the running job.");
            }
            ui.separator();
            return;
        };
        let log = case.session().log();
        ui.label(format!(
            "{} ({})",
            case.record().name,
            case.record().pseudonym
        ));
        ui.label(format!(
            "{} — {}",
            case.record().purpose.category.label(),
            case.record().purpose.text
        ));
        ui.label(format!(
            "{} operation(s), {} journal record(s); segmentation {}",
            log.applied().count(),
            case.files().events.len(),
            &log.final_hash[..12]
        ));
        if let Some(line) = self.acknowledgement_line() {
            ui.label(line);
        }
        if ui
            .button("Write report")
            .on_hover_text("report.json and report.html in the case folder")
            .clicked()
        {
            match crate::report::write(
                case,
                Some(&case.dir().join("report.json")),
                Some(&case.dir().join("report.html")),
            ) {
                Ok(p) => self.messages.push((
                    Severity::Info,
                    format!(
                        "Report written: {}",
                        p.last().map_or(String::new(), |p| p.display().to_string())
                    ),
                )),
                Err(e) => self
                    .messages
                    .push((Severity::Error, format!("Report failed: {e}"))),
            }
        }
        ui.separator();
    }
}
