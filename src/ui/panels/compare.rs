//! The Compare section: two labels of one scan (say, two techniques a trainer shows side
//! by side) compared with the figures of `hounsfield compare`, and their difference — only
//! A, only B, both — drawn in the slice views in place of the labels.

use crate::ui::App;
use crate::ui::command::UiCommand;
use crate::ui::editor::DIFFERENCE_LABELS;

fn swatch(ui: &mut egui::Ui, c: [u8; 3], text: &str) {
    let (r, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
    ui.painter()
        .rect_filled(r, 2.0, egui::Color32::from_rgb(c[0], c[1], c[2]));
    ui.label(text);
}

impl App {
    pub(crate) fn compare_section(&mut self, ui: &mut egui::Ui) {
        let Some(case) = self.case.as_deref() else {
            return;
        };
        let names: Vec<String> = case.session().segmentation().names();
        if names.len() < 2 {
            ui.label("Make a second label (another technique on this scan) to compare two.");
            return;
        }
        let now = case.session().log().final_hash.clone();
        let busy = self.running(super::super::jobs::Background::Compare);
        let mut cmds = Vec::new();
        let c = &mut self.editor.compare;
        if !names.contains(&c.a) {
            c.a = names[0].clone();
        }
        if !names.contains(&c.b) || c.b == c.a {
            c.b = names
                .iter()
                .find(|n| **n != c.a)
                .cloned()
                .unwrap_or_default();
        }
        ui.horizontal(|ui| {
            for (id, pick) in [("A", &mut c.a), ("B", &mut c.b)] {
                egui::ComboBox::from_label(id)
                    .selected_text(pick.as_str())
                    .show_ui(ui, |ui| {
                        for n in &names {
                            ui.selectable_value(pick, n.clone(), n);
                        }
                    });
            }
        });
        if ui
            .add_enabled(!busy && c.a != c.b, egui::Button::new("Compare A with B"))
            .clicked()
        {
            cmds.push(UiCommand::CompareLabels {
                a: c.a.clone(),
                b: c.b.clone(),
            });
        }
        if let Some(r) = &c.result {
            let f = &r.figures;
            let current = r.segmentation_hash == now;
            ui.label(format!("{} (A) with {} (B)", r.a.0, r.b.0));
            ui.label(format!("Dice {:.4} · Jaccard {:.4}", f.dice, f.jaccard));
            ui.label(format!(
                "Volume A {:.1} cm³, B {:.1} cm³ (B − A {:+.1} cm³)",
                f.volume_a_mm3 / 1000.0,
                f.volume_b_mm3 / 1000.0,
                f.volume_difference_mm3 / 1000.0
            ));
            ui.label(format!(
                "Hausdorff {:.2} mm · 95 % {:.2} mm",
                f.hausdorff_mm, f.hausdorff95_mm
            ));
            ui.label(format!(
                "Mean boundary distance: A to B {:.2} mm, B to A {:.2} mm",
                f.a_to_b.mean_mm, f.b_to_a.mean_mm
            ));
            if !current {
                ui.colored_label(
                    egui::Color32::from_rgb(200, 120, 0),
                    "The labels changed since: compare again.",
                );
            }
            let mut on = c.difference;
            if ui
                .add_enabled(
                    current,
                    egui::Checkbox::new(&mut on, "Show the difference in the slices"),
                )
                .changed()
            {
                cmds.push(UiCommand::ShowDifference { on });
            }
            if c.difference && current {
                ui.horizontal(|ui| {
                    for (name, colour) in DIFFERENCE_LABELS {
                        swatch(ui, colour, name);
                    }
                });
            }
        }
        for cmd in cmds {
            self.push(cmd);
        }
    }
}
