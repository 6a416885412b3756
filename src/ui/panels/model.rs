//! The Model and export section: reconstruction parameters (smoothing, decimation, thin
//! limit, tolerance) and Run (a background job with a progress bar and cancel), then the
//! certificate, the deviation figures, the thin regions (click one to go there), and the
//! exports into the case — which warn with the verification coverage and need an explicit,
//! recorded confirmation when slices are unverified.

use crate::case::event::Event;
use crate::ui::App;
use crate::ui::command::UiCommand;
use egui::Color32;

/// Smoothing choices of the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SmoothKind {
    None,
    Sinc,
    Taubin,
}

impl App {
    pub(crate) fn model_section(&mut self, ui: &mut egui::Ui) {
        let mut cmds = Vec::new();
        // Exports and other reconstructions wait for this one; editing does not.
        let busy = self.running(super::super::jobs::Background::Reconstruct);
        let m = &mut self.editor.model;
        let p = &mut m.params;
        let kind = match p.smooth.as_deref() {
            Some(s) if s.starts_with("sinc") => SmoothKind::Sinc,
            Some(s) if s.starts_with("taubin") => SmoothKind::Taubin,
            _ => SmoothKind::None,
        };
        let mut k = kind;
        let (mut iters, mut band) = parse_smooth(p.smooth.as_deref());
        ui.horizontal(|ui| {
            ui.label("Smoothing");
            ui.radio_value(&mut k, SmoothKind::None, "none");
            ui.radio_value(&mut k, SmoothKind::Sinc, "windowed sinc");
            ui.radio_value(&mut k, SmoothKind::Taubin, "Taubin");
        });
        if k != SmoothKind::None {
            ui.horizontal(|ui| {
                ui.add(
                    egui::DragValue::new(&mut iters)
                        .range(1..=200)
                        .prefix("iterations "),
                );
                if k == SmoothKind::Sinc {
                    ui.add(
                        egui::DragValue::new(&mut band)
                            .range(0.01..=1.9)
                            .speed(0.01)
                            .prefix("pass band "),
                    );
                }
            });
        }
        p.smooth = match k {
            SmoothKind::None => None,
            SmoothKind::Sinc => Some(format!("sinc:{iters}:{band}")),
            SmoothKind::Taubin => Some(format!("taubin:{iters}")),
        };
        if p.smooth.is_none() {
            p.max_move_mm = None;
        }
        let mut decimate = p.decimate.is_some();
        ui.horizontal(|ui| {
            if ui.checkbox(&mut decimate, "Decimate to").changed() {
                p.decimate = decimate.then_some(0.5);
            }
            if let Some(f) = &mut p.decimate {
                ui.add(egui::DragValue::new(f).range(0.01..=0.99).speed(0.01));
                ui.label("of the triangles");
            }
        });
        ui.horizontal(|ui| {
            ui.add(
                egui::DragValue::new(&mut p.thin_mm)
                    .range(0.05..=5.0)
                    .speed(0.01)
                    .prefix("thin below "),
            );
            ui.label("mm");
            ui.add(
                egui::DragValue::new(&mut p.tolerance_mm)
                    .range(0.01..=5.0)
                    .speed(0.01)
                    .prefix("tolerance "),
            );
            ui.label("mm");
        });
        ui.checkbox(&mut p.self_intersections, "Count self-intersections");
        ui.horizontal(|ui| {
            use crate::compute::ComputeChoice;
            ui.label("Surface computed on");
            egui::ComboBox::from_id_salt("compute choice")
                .selected_text(match self.prefs.compute {
                    ComputeChoice::Auto => "a real GPU, else the CPU",
                    ComputeChoice::Cpu => "the CPU (reference)",
                    ComputeChoice::Gpu => "the GPU",
                })
                .show_ui(ui, |ui| {
                    for (c, text) in [
                        (ComputeChoice::Auto, "a real GPU, else the CPU"),
                        (ComputeChoice::Cpu, "the CPU (reference)"),
                        (ComputeChoice::Gpu, "the GPU"),
                    ] {
                        ui.selectable_value(&mut self.prefs.compute, c, text);
                    }
                })
                .response
                .on_hover_text(
                    "Threshold and keep-largest operations, the 3D threshold preview and \
                     the surface's topology: the same mask and mesh either way (the GPU's \
                     results are the CPU's, bit for bit); the record says which ran",
                );
        });
        let label = self.editor.active_label.clone();
        if ui
            .add_enabled(!busy, egui::Button::new(format!("Reconstruct `{label}`")))
            .on_hover_text("In the background; Cancel in the status bar stops it")
            .clicked()
        {
            cmds.push(UiCommand::Reconstruct {
                params: None,
                labels: None,
            });
        }
        // The last reconstruction of this session.
        let record = self.case.as_deref().and_then(|c| {
            let seq = self.editor.model.reconstruction?;
            match c.files().events.get(seq) {
                Some(Event::Reconstructed(r)) => Some(r.clone()),
                _ => None,
            }
        });
        if let Some(r) = &record {
            let t = &r.record.totals;
            let ok =
                t.closed && t.manifold && t.outward && t.self_intersections.is_none_or(|n| n == 0);
            ui.colored_label(
                if ok {
                    Color32::from_rgb(90, 210, 110)
                } else {
                    Color32::from_rgb(230, 90, 70)
                },
                format!(
                    "{} triangles; closed {}, manifold {}, outward {}, self-intersections {}",
                    t.triangles,
                    t.closed,
                    t.manifold,
                    t.outward,
                    t.self_intersections
                        .map_or("not counted".into(), |n| n.to_string())
                ),
            );
            ui.label(format!(
                "volume {:.1} cm³, area {:.1} cm²",
                t.volume_mm3 / 1000.0,
                t.area_mm2 / 100.0
            ));
            for l in &r.record.labels {
                if let Some(d) = &l.smoothing {
                    ui.label(format!(
                        "{}: smoothing moved the surface max {:.3} mm, mean {:.3}, p95 {:.3}; {:.1} mm² beyond {} mm; volume {:+.2} %",
                        l.name, d.max_mm, d.mean_mm, d.p95_mm, d.area_beyond_tolerance_mm2, d.tolerance_mm, d.volume_change_pct
                    ));
                }
            }
            for l in &r.record.labels {
                if let Some(c) = &l.compute {
                    ui.label(format!("{}: surface computed on {}", l.name, c.line()));
                }
            }
            for l in &r.record.labels {
                if let Some(m) = &l.mask_thickness {
                    ui.label(m.summary(&l.name));
                }
            }
            let thin: Vec<(String, crate::mesh::thickness::ThinRegion)> = r
                .record
                .labels
                .iter()
                .flat_map(|l| l.thin_regions.iter().map(|t| (l.name.clone(), t.clone())))
                .collect();
            ui.label(format!(
                "{} region(s) thinner than {} mm (may not print){}",
                thin.len(),
                r.record.options.thin_mm,
                if thin.is_empty() {
                    ""
                } else {
                    ": click one to go there"
                }
            ));
            egui::ScrollArea::vertical()
                .max_height(120.0)
                .id_salt("thin")
                .show(ui, |ui| {
                    for (n, (label, t)) in thin.iter().enumerate().take(200) {
                        let text = format!(
                            "{label}: {:.2} mm² at ({:.1}, {:.1}, {:.1}), thinnest {:.2} mm",
                            t.area_mm2,
                            t.centroid_mm[0],
                            t.centroid_mm[1],
                            t.centroid_mm[2],
                            t.min_thickness_mm
                        );
                        if ui
                            .selectable_label(self.editor.model.picked_thin == Some(n), text)
                            .clicked()
                        {
                            self.editor.model.picked_thin = Some(n);
                            cmds.push(UiCommand::GoTo {
                                point_mm: t.centroid_mm,
                            });
                        }
                    }
                });
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("Export as");
            ui.add(
                egui::TextEdit::singleline(&mut self.editor.model.export_name).desired_width(120.0),
            );
        });
        if let Some(r) = &record {
            let defects = r.record.defective_labels();
            if defects.is_empty() {
                self.editor.model.allow_defects = false;
            } else {
                for (name, what) in &defects {
                    ui.colored_label(
                        Color32::from_rgb(230, 90, 70),
                        format!("The surface of {name} {what}: a printer may reject it."),
                    );
                }
                ui.checkbox(
                    &mut self.editor.model.allow_defects,
                    "Export it anyway (recorded in the export)",
                );
            }
        }
        let stem = self.editor.model.export_name.trim().to_string();
        ui.horizontal_wrapped(|ui| {
            let surface = record.is_some() && !busy && !stem.is_empty();
            for ext in ["stl", "3mf", "obj"] {
                if ui
                    .add_enabled(surface, egui::Button::new(format!("Save .{ext}")))
                    .on_disabled_hover_text("Reconstruct first")
                    .clicked()
                {
                    cmds.push(UiCommand::Export {
                        file: format!("{stem}.{ext}"),
                        override_verification: false,
                        allow_defects: self.editor.model.allow_defects,
                    });
                }
            }
            // The active label's volume exports: button, file name ending, what it is.
            let volume_exports = [
                ("Save mask .nii.gz", "-mask.nii.gz", "The active label's mask as NIfTI"),
                (
                    "Save DICOM SEG",
                    ".seg.dcm",
                    "The active label as a DICOM Segmentation on the source series (for PACS, radiology and planning software)",
                ),
                (
                    "Save RT Structure Set",
                    ".rtstruct.dcm",
                    "The active label's outlines, slice by slice, as a DICOM RT Structure Set on the source series",
                ),
            ];
            for (button, ending, what) in volume_exports {
                if ui
                    .add_enabled(!busy && !stem.is_empty(), egui::Button::new(button))
                    .on_hover_text(what)
                    .clicked()
                {
                    cmds.push(UiCommand::Export {
                        file: format!("{stem}{ending}"),
                        override_verification: false,
                        allow_defects: false,
                    });
                }
            }
        });
        if let Some((_, file)) = self.editor.export_confirm.clone() {
            let gap = self
                .case
                .as_deref()
                .and_then(|c| c.verification_gap(&self.editor.model.labels.clone()));
            ui.colored_label(
                Color32::from_rgb(240, 180, 60),
                format!("Not every slice is verified: {}", gap.unwrap_or_default()),
            );
            ui.horizontal(|ui| {
                if ui
                    .button(format!("Export {file} anyway (recorded)"))
                    .clicked()
                {
                    cmds.push(UiCommand::Export {
                        file: file.clone(),
                        override_verification: true,
                        allow_defects: self.editor.model.allow_defects,
                    });
                }
                if ui.button("Cancel").clicked() {
                    self.editor.export_confirm = None;
                }
            });
        }
        if let Some(c) = self.case.as_deref() {
            let events = c.files().events.len();
            let stale = self
                .editor
                .model
                .export_lines
                .as_ref()
                .is_none_or(|(n, at, _)| {
                    *n != events || at.elapsed() > std::time::Duration::from_secs(5)
                });
            if stale {
                let lines = c
                    .files()
                    .export_states()
                    .iter()
                    .rev()
                    .take(8)
                    .map(|(_, x, s)| format!("{} — {}", x.path, s.as_str()))
                    .collect();
                self.editor.model.export_lines = Some((events, std::time::Instant::now(), lines));
            }
            if let Some((_, _, lines)) = &self.editor.model.export_lines
                && !lines.is_empty()
            {
                ui.small("Exports of this case:");
                for l in lines {
                    ui.small(l);
                }
            }
        }
        self.commands.extend(cmds);
    }
}

/// Iterations and pass band of a smoothing string (defaults 20 and 0.1).
fn parse_smooth(s: Option<&str>) -> (usize, f64) {
    let parts: Vec<&str> = s.unwrap_or("").split(':').collect();
    let it = parts.get(1).and_then(|x| x.parse().ok()).unwrap_or(20);
    let band = parts.get(2).and_then(|x| x.parse().ok()).unwrap_or(0.1);
    (it, band)
}
