//! The Segment section: the labels (active, colour, visibility, opacity, lock, add, rename,
//! delete), the tools, and each tool's settings — the threshold over the histogram with a
//! live preview, the brush, the polygon tools, seeds — and every other engine operation
//! with its parameters.

use crate::segment::Operation;
use crate::segment::ops::brush::{BrushMode, BrushShape};
use crate::ui::App;
use crate::ui::command::UiCommand;
use crate::ui::editor::{HIST_MAX_HU, HIST_MIN_HU, Histogram, Tool};
use crate::ui::op_templates;
use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2};
use serde_json::{Value, json};

impl App {
    pub(crate) fn segment_section(&mut self, ui: &mut egui::Ui) {
        self.labels_list(ui);
        if ui
            .button("Import DICOM SEG…")
            .on_hover_text("its segments become labels, recorded in the case with their masks")
            .clicked()
        {
            self.choose(crate::ui::file_browser::BrowseFor::ImportSeg, false);
        }
        ui.separator();
        ui.horizontal_wrapped(|ui| {
            for t in Tool::ALL {
                if ui
                    .selectable_label(self.editor.tool == t, t.label())
                    .clicked()
                {
                    self.push(UiCommand::Tool { tool: t });
                }
            }
        });
        match self.editor.tool {
            Tool::Threshold => self.threshold_panel(ui),
            Tool::Brush => self.brush_panel(ui),
            Tool::Lasso | Tool::Scissors => self.polygon_panel(ui),
            Tool::Seed => {
                ui.label(format!(
                    "{} seed(s): click in a slice view; the Operations form below uses them.",
                    self.editor.form.seeds.len()
                ));
                if ui.button("Clear seeds").clicked() {
                    self.editor.form.seeds.clear();
                }
            }
            Tool::Verify => {
                ui.label(
                    "Step through slices in the Verify section: V or Enter confirms, F flags.",
                );
            }
            Tool::Measure => {
                ui.label("Measure in the slice views: the Measurements section says how.");
            }
            Tool::Navigate => {}
        }
        ui.separator();
        self.operation_form(ui);
    }

    fn labels_list(&mut self, ui: &mut egui::Ui) {
        let Some(case) = self.case.as_deref() else {
            return;
        };
        let seg = case.session().segmentation();
        let vox_mm3 = case.volume().voxel_volume_mm3();
        let mut cmds = Vec::new();
        let active = self.editor.active_label.clone();
        for l in seg.labels() {
            let name = &l.meta.name;
            let [r, g, b] = l.meta.color;
            let d = self.editor.display_of(name);
            let n = l.mask.count();
            ui.horizontal(|ui| {
                let (rect, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
                ui.painter()
                    .rect_filled(rect, 2.0, Color32::from_rgb(r, g, b));
                if ui
                    .add_sized(
                        [110.0, 18.0],
                        egui::Button::selectable(&active == name, name.as_str()),
                    )
                    .on_hover_text(format!(
                        "{n} voxels, {:.1} cm³",
                        n as f64 * vox_mm3 / 1000.0
                    ))
                    .clicked()
                {
                    cmds.push(UiCommand::SelectLabel { name: name.clone() });
                }
                let mut visible = d.visible;
                if ui
                    .checkbox(&mut visible, "")
                    .on_hover_text("Visible")
                    .changed()
                {
                    cmds.push(UiCommand::LabelDisplay {
                        name: name.clone(),
                        visible: Some(visible),
                        opacity: None,
                        locked: None,
                    });
                }
                let mut opacity = d.opacity;
                ui.spacing_mut().slider_width = 60.0;
                if ui
                    .add(egui::Slider::new(&mut opacity, 0.0..=1.0).show_value(false))
                    .on_hover_text("Fill opacity")
                    .changed()
                {
                    cmds.push(UiCommand::LabelDisplay {
                        name: name.clone(),
                        visible: None,
                        opacity: Some(opacity),
                        locked: None,
                    });
                }
                let mut locked = d.locked;
                if ui
                    .checkbox(&mut locked, "lock")
                    .on_hover_text("Locked: tools leave it alone")
                    .changed()
                {
                    cmds.push(UiCommand::LabelDisplay {
                        name: name.clone(),
                        visible: None,
                        opacity: None,
                        locked: Some(locked),
                    });
                }
                ui.small(format!("{:.0} cm³", n as f64 * vox_mm3 / 1000.0));
            });
        }
        if seg.get(&active).is_none() {
            ui.small(format!(
                "Active label `{active}`: created by the next operation that writes it."
            ));
        }
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.editor.new_label)
                    .desired_width(110.0)
                    .hint_text("label name"),
            );
            let name = self.editor.new_label.trim().to_string();
            if ui
                .add_enabled(!name.is_empty(), egui::Button::new("Add"))
                .clicked()
            {
                cmds.push(UiCommand::Apply {
                    op: json!({"op": "add_label", "name": name}),
                });
                cmds.push(UiCommand::SelectLabel { name: name.clone() });
                self.editor.new_label.clear();
            }
            let exists = seg.get(&active).is_some();
            if ui
                .add_enabled(
                    exists && !name.is_empty(),
                    egui::Button::new("Rename active"),
                )
                .clicked()
            {
                cmds.push(UiCommand::Apply {
                    op: json!({"op": "rename_label", "from": active, "to": name}),
                });
                cmds.push(UiCommand::SelectLabel { name: name.clone() });
                self.editor.new_label.clear();
            }
            if ui
                .add_enabled(exists, egui::Button::new("Delete active"))
                .on_hover_text("Recorded, and undoable")
                .clicked()
            {
                cmds.push(UiCommand::Apply {
                    op: json!({"op": "delete_label", "name": active}),
                });
            }
        });
        self.commands.extend(cmds);
    }

    fn threshold_panel(&mut self, ui: &mut egui::Ui) {
        let presets = self.presets();
        let t = &mut self.editor.threshold;
        if let Some(h) = &self.editor.histogram {
            self.editor.histogram_rect = Some(histogram_range(ui, h, &mut t.lo, &mut t.hi));
        }
        ui.horizontal(|ui| {
            ui.add(
                egui::DragValue::new(&mut t.lo)
                    .range(HIST_MIN_HU..=HIST_MAX_HU)
                    .prefix("from "),
            );
            ui.add(
                egui::DragValue::new(&mut t.hi)
                    .range(HIST_MIN_HU..=HIST_MAX_HU)
                    .prefix("to "),
            );
            ui.label("HU");
            ui.checkbox(&mut t.preview, "Preview");
        });
        ui.horizontal(|ui| {
            ui.add_enabled(
                t.preview,
                egui::Checkbox::new(&mut t.surface_3d, "3D surface"),
            )
            .on_hover_text(
                "The 3D view shows the surface of the range while the handles move \
                     (on a thinned lattice for large scans, then the full one). A preview, \
                     not a model: Apply and Reconstruct make what the case records.",
            );
            ui.add_enabled(
                t.preview && t.surface_3d,
                egui::Checkbox::new(&mut t.largest_only, "largest only"),
            )
            .on_hover_text("Only the largest 26-connected component of the range");
        });
        if t.lo > t.hi {
            std::mem::swap(&mut t.lo, &mut t.hi);
        }
        let (lo, hi) = (t.lo, t.hi);
        let mut cmds = Vec::new();
        ui.horizontal_wrapped(|ui| {
            let current = presets
                .presets
                .iter()
                .find(|p| p.lo == lo && p.hi == hi)
                .map_or("custom".to_string(), |p| p.name.clone());
            egui::ComboBox::from_id_salt("threshold-preset")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    for p in &presets.presets {
                        if ui
                            .selectable_label(false, format!("{} ({}..{})", p.name, p.lo, p.hi))
                            .on_hover_text(&p.note)
                            .clicked()
                        {
                            cmds.push(UiCommand::ThresholdPreset {
                                preset: p.name.clone(),
                            });
                        }
                    }
                });
            if ui
                .button("Otsu")
                .on_hover_text("Lower bound by Otsu's method")
                .clicked()
            {
                cmds.push(UiCommand::ThresholdAuto {
                    method: "otsu".into(),
                });
            }
            if ui
                .button("Triangle")
                .on_hover_text("Lower bound by the triangle method")
                .clicked()
            {
                cmds.push(UiCommand::ThresholdAuto {
                    method: "triangle".into(),
                });
            }
        });
        if let (Some(h), Some(c)) = (&self.editor.histogram, self.case.as_deref()) {
            let n = h.count_in(lo, hi);
            ui.small(format!(
                "{n} voxels in range, {:.1} cm³",
                n as f64 * c.volume().voxel_volume_mm3() / 1000.0
            ));
        }
        ui.horizontal(|ui| {
            if ui
                .button(format!("Apply to `{}`", self.editor.active_label))
                .on_hover_text(
                    "One operation in the case (a preset's range is logged as that preset)",
                )
                .clicked()
            {
                cmds.push(UiCommand::ApplyThreshold);
            }
            let mut name = String::new();
            if ui.button("Save range as preset").clicked() {
                name = format!("custom_{lo}_{hi}");
            }
            if !name.is_empty() {
                let mut p = presets.clone();
                p.presets.retain(|x| x.name != name);
                p.presets.push(crate::segment::presets::Preset {
                    name,
                    lo,
                    hi,
                    note: "saved from the window".into(),
                });
                self.prefs.presets = Some(p);
            }
        });
        self.commands.extend(cmds);
    }

    fn brush_panel(&mut self, ui: &mut egui::Ui) {
        let b = &mut self.editor.brush;
        ui.add(
            egui::Slider::new(&mut b.radius_mm, 0.25..=50.0)
                .logarithmic(true)
                .text("radius mm ([ ], shift+wheel)"),
        );
        ui.horizontal(|ui| {
            ui.radio_value(&mut b.mode, BrushMode::Paint, "Paint");
            ui.radio_value(&mut b.mode, BrushMode::Erase, "Erase");
            ui.separator();
            ui.radio_value(&mut b.shape, BrushShape::Disc, "Disc (in the view's plane)");
            ui.radio_value(&mut b.shape, BrushShape::Sphere, "Ball");
        });
        let mut limit = b.hu_limit.is_some();
        ui.horizontal(|ui| {
            if ui.checkbox(&mut limit, "Only HU in").changed() {
                b.hu_limit = limit.then_some([226, 3071]);
            }
            if let Some([lo, hi]) = &mut b.hu_limit {
                ui.add(egui::DragValue::new(lo).range(-1024..=3071));
                ui.label("..");
                ui.add(egui::DragValue::new(hi).range(-1024..=3071));
            }
        });
        ui.small("Left drag paints in a slice view; one stroke is one operation.");
    }

    fn polygon_panel(&mut self, ui: &mut egui::Ui) {
        let lasso = self.editor.tool == Tool::Lasso;
        let p = &mut self.editor.polygon;
        ui.checkbox(
            &mut p.invert,
            if lasso {
                "Erase inside (instead of fill)"
            } else {
                "Keep inside (erase outside)"
            },
        );
        ui.small(format!(
            "{} point(s): click to add, double-click or Enter to close, Escape to drop.{}",
            p.points.len(),
            if lasso {
                ""
            } else {
                " The cut goes through the whole volume along the view."
            }
        ));
        if ui
            .add_enabled(p.points.len() >= 3, egui::Button::new("Close and apply"))
            .clicked()
        {
            let mut t = crate::ui::tools::ToolInput::new(&mut self.editor, self.case.as_deref());
            t.close_polygon();
            let cmds = t.commands;
            self.commands.extend(cmds);
        }
    }

    fn operation_form(&mut self, ui: &mut egui::Ui) {
        let f = &mut self.editor.form;
        ui.horizontal(|ui| {
            ui.label("Operation");
            egui::ComboBox::from_id_salt("operation")
                .selected_text(f.name.clone())
                .show_ui(ui, |ui| {
                    for n in Operation::NAMES
                        .iter()
                        .filter(|n| op_templates::in_panel(n))
                    {
                        if ui.selectable_label(f.name == *n, *n).clicked() {
                            f.name = n.to_string();
                            f.params = op_templates::template(n);
                        }
                    }
                });
        });
        if let Some(obj) = f.params.as_object_mut() {
            let keys: Vec<String> = obj.keys().cloned().collect();
            egui::Grid::new("op-params").num_columns(2).show(ui, |ui| {
                for k in keys {
                    ui.label(&k);
                    if let Some(v) = obj.get_mut(&k) {
                        value_editor(ui, v);
                    }
                    ui.end_row();
                }
            });
        }
        if let Some((field, _)) = op_templates::point_field(&f.name) {
            ui.small(format!(
                "`{field}`: {} point(s) clicked with the Seeds tool will be used",
                f.seeds.len()
            ));
        }
        let points: Vec<[f64; 3]> = f.seeds.iter().map(|p| p.to_array()).collect();
        let r = op_templates::build(&f.name, &f.params, &points, &self.editor.active_label);
        match r {
            Ok(op) => {
                let busy = self.job.is_some();
                if ui
                    .add_enabled(!busy, egui::Button::new(format!("Apply {}", f.name)))
                    .clicked()
                {
                    let v = serde_json::to_value(&op).unwrap_or(Value::Null);
                    self.commands.push(UiCommand::Apply { op: v });
                }
            }
            Err(e) => {
                ui.colored_label(Color32::from_rgb(220, 120, 80), e);
            }
        }
    }
}

/// An editor for one JSON value: numbers, booleans, text, lists of numbers; anything else
/// as JSON text.
fn value_editor(ui: &mut egui::Ui, v: &mut Value) {
    match v {
        Value::Bool(b) => {
            ui.checkbox(b, "");
        }
        Value::Number(n) => {
            let is_int = n.is_i64() || n.is_u64();
            let mut x = n.as_f64().unwrap_or(0.0);
            if ui
                .add(egui::DragValue::new(&mut x).speed(if is_int { 1.0 } else { 0.1 }))
                .changed()
            {
                *v = if is_int {
                    json!(x.round() as i64)
                } else {
                    json!(x)
                };
            }
        }
        Value::String(s) => {
            ui.text_edit_singleline(s);
        }
        Value::Array(a) if a.iter().all(Value::is_number) && !a.is_empty() => {
            ui.horizontal(|ui| {
                for x in a.iter_mut() {
                    value_editor(ui, x);
                }
            });
        }
        other => {
            let mut text = other.to_string();
            if ui.text_edit_singleline(&mut text).changed()
                && let Ok(parsed) = serde_json::from_str::<Value>(&text)
            {
                *other = parsed;
            }
        }
    }
}

/// The HU histogram (log counts) with the range shaded and two draggable handles; returns
/// where it was drawn.
pub fn histogram_range(ui: &mut egui::Ui, h: &Histogram, lo: &mut i32, hi: &mut i32) -> Rect {
    let width = ui.available_width().max(120.0);
    let (rect, resp) = ui.allocate_exact_size(Vec2::new(width, 90.0), Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, Color32::from_gray(24));
    let span = (HIST_MAX_HU - HIST_MIN_HU + 1) as f32;
    let x_of = |hu: i32| rect.min.x + (hu - HIST_MIN_HU) as f32 / span * rect.width();
    let hu_of = |x: f32| {
        (HIST_MIN_HU as f32 + (x - rect.min.x) / rect.width() * span)
            .round()
            .clamp(HIST_MIN_HU as f32, HIST_MAX_HU as f32) as i32
    };
    // One bar per pixel column: log of the voxels in its HU span.
    let cols = rect.width().max(1.0) as usize;
    let sums: Vec<u64> = (0..cols)
        .map(|c| {
            let a = HIST_MIN_HU + (c as f32 / cols as f32 * span) as i32;
            let b = HIST_MIN_HU + ((c + 1) as f32 / cols as f32 * span) as i32 - 1;
            h.count_in(a, b.max(a))
        })
        .collect();
    let top = sums.iter().copied().max().unwrap_or(1).max(1) as f32;
    let scale = (1.0 + top).ln();
    painter.rect_filled(
        Rect::from_x_y_ranges(x_of(*lo)..=x_of(*hi), rect.y_range()),
        0.0,
        Color32::from_rgba_unmultiplied(60, 230, 90, 40),
    );
    for (c, n) in sums.iter().enumerate() {
        if *n == 0 {
            continue;
        }
        let frac = (1.0 + *n as f32).ln() / scale;
        let x = rect.min.x + c as f32 + 0.5;
        painter.line_segment(
            [
                Pos2::new(x, rect.max.y),
                Pos2::new(x, rect.max.y - frac * (rect.height() - 4.0)),
            ],
            Stroke::new(1.0, Color32::from_gray(170)),
        );
    }
    for (hu, label) in [(*lo, "lo"), (*hi, "hi")] {
        let x = x_of(hu);
        painter.line_segment(
            [Pos2::new(x, rect.min.y), Pos2::new(x, rect.max.y)],
            Stroke::new(2.0, Color32::from_rgb(60, 230, 90)),
        );
        painter.text(
            Pos2::new(x + 2.0, rect.min.y + 2.0),
            egui::Align2::LEFT_TOP,
            format!("{label} {hu}"),
            egui::FontId::monospace(10.0),
            Color32::from_rgb(60, 230, 90),
        );
    }
    // Drag moves the nearer handle.
    if let Some(p) = resp.interact_pointer_pos()
        && (resp.dragged() || resp.clicked())
    {
        let hu = hu_of(p.x);
        if (p.x - x_of(*lo)).abs() <= (p.x - x_of(*hi)).abs() {
            *lo = hu.min(*hi);
        } else {
            *hi = hu.max(*lo);
        }
    }
    rect
}
