//! The series browser: studies and series from the scan, with kind, size, spacing and
//! findings. Series that cannot become a volume stay visible, greyed, with the reason.

use crate::dicom::{ScanReport, Series, SeriesKind};
use crate::feasibility::{Finding, Severity};
use egui::{Color32, RichText};

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserAction {
    /// Load this series (by id).
    Load(String),
}

/// Icon and colour of a severity.
pub fn severity_icon(s: Severity) -> (&'static str, Color32) {
    match s {
        Severity::Info => ("ℹ", Color32::from_rgb(120, 160, 220)),
        Severity::Warning => ("⚠", Color32::from_rgb(235, 170, 40)),
        Severity::Error => ("⛔", Color32::from_rgb(230, 70, 60)),
    }
}

/// The worst severity among findings.
pub fn worst(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).max_by_key(|s| match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
    })
}

/// Why a series is not loadable, in the operator's words.
pub fn not_loadable_reason(s: &Series) -> Option<String> {
    let kind = match s.kind {
        SeriesKind::Localizer => Some("a localizer (scout) image, not a slice stack"),
        SeriesKind::SecondaryCapture => {
            Some("a secondary capture (screenshots or reports), not original image data")
        }
        _ => None,
    };
    match (&s.not_loadable, kind) {
        (Some(r), Some(k)) => Some(format!("{k}: {r}")),
        (Some(r), None) => Some(r.clone()),
        (None, Some(k)) if s.kind != SeriesKind::Volume => Some(k.to_string()),
        _ => None,
    }
}

/// The folder holding the series' first image (scanners name them, e.g. `S2030`).
pub fn folder(s: &Series) -> String {
    s.images
        .first()
        .and_then(|i| i.path.parent())
        .and_then(|p| p.file_name())
        .map_or_else(|| "?".into(), |n| n.to_string_lossy().into_owned())
}

fn spacing_text(s: &Series) -> String {
    let px = s
        .pixel_spacing_mm
        .map_or("?".to_string(), |p| format!("{:.3}", p[1]));
    let dz = s
        .stack
        .as_ref()
        .and_then(|st| st.distance())
        .map_or(String::new(), |d| format!(" × {:.2}", d.median));
    format!("{px}{dz} mm")
}

/// Draws the browser; returns a load request when the operator makes one.
pub fn show(
    ui: &mut egui::Ui,
    report: &ScanReport,
    selected: &mut Option<String>,
) -> Option<BrowserAction> {
    let mut action = None;
    ui.label(format!(
        "{} files, {} series{}",
        report.files_scanned,
        report.series.len(),
        if report.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} files skipped", report.skipped.len())
        }
    ))
    .on_hover_text(
        report
            .skipped
            .iter()
            .take(20)
            .map(|s| format!("{}: {}", s.path.display(), s.reason))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let mut studies: Vec<&str> = report.series.iter().map(|s| s.study_uid.as_str()).collect();
    studies.dedup();
    for study in studies {
        let first = report.series.iter().find(|s| s.study_uid == study);
        let date = first
            .and_then(|s| s.acquisition.study_date.clone())
            .unwrap_or_default();
        let title = format!(
            "Study {} {}",
            date,
            first
                .and_then(|s| s.patient.institution.clone())
                .unwrap_or_default()
        );
        egui::CollapsingHeader::new(title.trim())
            .id_salt(study)
            .default_open(true)
            .show(ui, |ui| {
                for s in report.series.iter().filter(|s| s.study_uid == study) {
                    if let Some(a) = series_row(ui, s, selected) {
                        action = Some(a);
                    }
                }
            });
    }
    if let Some(s) = selected
        .as_ref()
        .and_then(|id| report.series.iter().find(|s| &s.id == id))
    {
        ui.separator();
        details(ui, s, &mut action);
    }
    action
}

fn series_row(
    ui: &mut egui::Ui,
    s: &Series,
    selected: &mut Option<String>,
) -> Option<BrowserAction> {
    let reason = not_loadable_reason(s);
    let loadable = reason.is_none();
    let icon = worst(&s.findings).map(severity_icon);
    let text = format!(
        "{} · {} · {}/ · {} · {}×{}×{} · {}",
        s.id,
        s.kind.as_str(),
        folder(s),
        if s.description.is_empty() {
            "—"
        } else {
            &s.description
        },
        s.columns,
        s.rows,
        s.images.len(),
        spacing_text(s)
    );
    let mut rich = RichText::new(text);
    if !loadable {
        rich = rich.color(ui.visuals().weak_text_color());
    }
    let mut action = None;
    ui.horizontal(|ui| {
        match icon {
            Some((i, c)) => {
                ui.label(RichText::new(i).color(c)).on_hover_text(
                    s.findings
                        .iter()
                        .map(|f| {
                            format!(
                                "{} {}: {}",
                                severity_icon(f.severity).0,
                                f.code.as_str(),
                                f.message
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
            }
            None => {
                ui.label(RichText::new("✔").color(Color32::from_rgb(90, 180, 90)))
                    .on_hover_text("no findings");
            }
        }
        let is_sel = selected.as_deref() == Some(s.id.as_str());
        let r = ui.selectable_label(is_sel, rich);
        let r = match &reason {
            Some(why) => r.on_hover_text(format!("Cannot be loaded as a volume: {why}")),
            None => r.on_hover_text(format!("{} — double-click to load", spacing_text(s))),
        };
        if r.clicked() {
            *selected = Some(s.id.clone());
        }
        if r.double_clicked() && loadable {
            action = Some(BrowserAction::Load(s.id.clone()));
        }
    });
    action
}

fn details(ui: &mut egui::Ui, s: &Series, action: &mut Option<BrowserAction>) {
    ui.strong(format!(
        "Series {} — {} (folder {})",
        s.id,
        s.kind.as_str(),
        folder(s)
    ));
    if !s.description.is_empty() {
        ui.label(&s.description);
    }
    ui.label(format!(
        "{} images, {}×{} pixels, spacing {}",
        s.images.len(),
        s.columns,
        s.rows,
        spacing_text(s)
    ));
    for f in &s.findings {
        let (i, c) = severity_icon(f.severity);
        ui.label(RichText::new(format!("{i} {}", f.code.as_str())).color(c))
            .on_hover_text(&f.message);
    }
    match not_loadable_reason(s) {
        Some(why) => {
            ui.label(RichText::new(format!("Not loadable: {why}")).italics());
        }
        None => {
            if ui.button("Load series").clicked() {
                *action = Some(BrowserAction::Load(s.id.clone()));
            }
        }
    }
}
