//! Slice-by-slice verification: the Verify section (orientation, coverage per label, confirm,
//! flag with a note, confirm the empty slices at once), the keys of Verify mode (V or Enter
//! confirms and advances, F flags, arrows move without confirming), and the strip drawn
//! beside the view — one cell per slice, unverified / verified / flagged / changed after
//! verification — that jumps to a slice when clicked. Every mark is recorded in the case's
//! ledger with the slice's mask hash, so an edit afterwards shows as changed.

use crate::case::ledger::{MarkState, Orientation, plane_hash};
use crate::ui::App;
use crate::ui::command::UiCommand;
use crate::ui::editor::{PlaneState, Tool};
use crate::ui::tools::ToolInput;
use crate::ui::viewer::Viewer;
use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2};

/// The ledger orientation view `i` shows (the volume axis nearest its normal).
pub fn orientation_of_view(viewer: &Viewer, i: usize) -> Orientation {
    match viewer.nearest_axis(i).1 {
        0 => Orientation::Axial,
        1 => Orientation::Coronal,
        _ => Orientation::Sagittal,
    }
}

/// The slice view showing planes of `o` without obliquity, if any.
pub fn view_of_orientation(viewer: &Viewer, o: Orientation) -> Option<usize> {
    (0..3).find(|&i| orientation_of_view(viewer, i) == o && !viewer.is_oblique())
}

/// Colour of a plane state in the strip.
pub fn state_colour(s: PlaneState) -> Color32 {
    match s {
        PlaneState::Unverified => Color32::from_gray(70),
        PlaneState::Verified => Color32::from_rgb(60, 200, 90),
        PlaneState::Flagged => Color32::from_rgb(240, 170, 40),
        PlaneState::Changed => Color32::from_rgb(230, 60, 60),
    }
}

/// The strip's rectangle inside view `rect`.
pub fn strip_rect(rect: Rect) -> Rect {
    Rect::from_min_max(
        Pos2::new(rect.max.x - 16.0, rect.min.y + 40.0),
        Pos2::new(rect.max.x - 4.0, rect.max.y - 40.0),
    )
}

/// Draws the verification strip in view `i` when Verify mode shows its orientation;
/// returns the slice to jump to when the strip was clicked.
pub fn strip(
    ui: &mut egui::Ui,
    painter: &egui::Painter,
    rect: Rect,
    i: usize,
    viewer: &Viewer,
    tools: &ToolInput<'_>,
) -> Option<usize> {
    let e = &tools.editor;
    if e.tool != Tool::Verify || view_of_orientation(viewer, e.verify.orientation) != Some(i) {
        return None;
    }
    let (_, _, o, _, states) = e.verify.strip.as_ref()?;
    if *o != e.verify.orientation || states.is_empty() {
        return None;
    }
    let r = strip_rect(rect);
    let n = states.len();
    let h = r.height() / n as f32;
    for (k, s) in states.iter().enumerate() {
        // Slice 0 at the bottom, like the slice numbers counting up.
        let y1 = r.max.y - k as f32 * h;
        painter.rect_filled(
            Rect::from_min_max(Pos2::new(r.min.x, y1 - h), Pos2::new(r.max.x, y1)),
            0.0,
            state_colour(*s),
        );
    }
    let (now, _) = viewer.slice_index(i);
    let y = r.max.y - (now as f32 - 0.5) * h;
    painter.line_segment(
        [Pos2::new(r.min.x - 4.0, y), Pos2::new(r.max.x + 2.0, y)],
        Stroke::new(2.0, Color32::WHITE),
    );
    painter.rect_stroke(
        r,
        0.0,
        Stroke::new(1.0, Color32::from_gray(150)),
        egui::StrokeKind::Outside,
    );
    let resp = ui.interact(r, ui.id().with(("verify-strip", i)), Sense::click());
    let p = resp.interact_pointer_pos()?;
    resp.clicked()
        .then(|| (((r.max.y - p.y) / h).floor().max(0.0) as usize).min(n - 1))
}

impl App {
    /// Recomputes the coverage and the strip when the masks, the marks, the orientation or
    /// the active label changed.
    pub(crate) fn refresh_verification(&mut self) {
        let Some(case) = self.case.as_deref() else {
            self.editor.verify.cache = None;
            self.editor.verify.strip = None;
            return;
        };
        let hash = case.session().log().final_hash.clone();
        let marks = case.ledger().history_len;
        let o = self.editor.verify.orientation;
        let label = self.editor.active_label.clone();
        let fresh = |k: &Option<(String, usize, Vec<crate::case::ledger::Coverage>)>| {
            k.as_ref()
                .is_some_and(|(h, m, _)| *h == hash && *m == marks)
        };
        if !fresh(&self.editor.verify.cache) {
            self.editor.verify.cache = Some((hash.clone(), marks, case.coverage()));
        }
        let strip_fresh = self
            .editor
            .verify
            .strip
            .as_ref()
            .is_some_and(|(h, m, so, sl, _)| *h == hash && *m == marks && *so == o && *sl == label);
        if strip_fresh {
            return;
        }
        let seg = case.session().segmentation();
        let Some(l) = seg.get(&label) else {
            self.editor.verify.strip = Some((hash, marks, o, label, Vec::new()));
            return;
        };
        let planes = o.count(seg.dims());
        let mut states = vec![PlaneState::Unverified; planes];
        let mut mask = l.mask.clone();
        for m in case.ledger().marks() {
            if m.label != label || m.orientation != o || m.index >= planes {
                continue;
            }
            states[m.index] = match m.state {
                MarkState::Cleared => PlaneState::Unverified,
                MarkState::Flagged => PlaneState::Flagged,
                MarkState::Verified => {
                    if plane_hash(&mut mask, o, m.index) == m.plane_hash {
                        PlaneState::Verified
                    } else {
                        PlaneState::Changed
                    }
                }
            };
        }
        self.editor.verify.strip = Some((hash, marks, o, label, states));
    }

    /// The index of the slice Verify mode is on, and its view.
    fn verify_position(&self) -> Option<(usize, usize)> {
        let v = self.viewer.as_ref()?;
        let i = view_of_orientation(v, self.editor.verify.orientation)?;
        Some((i, v.slice_index(i).0 - 1))
    }

    /// Keys of Verify mode.
    pub(crate) fn verify_keys(&mut self, ctx: &egui::Context) {
        if self.editor.tool != Tool::Verify || ctx.wants_keyboard_input() {
            return;
        }
        let (confirm, flag, up, down) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::V) || i.key_pressed(egui::Key::Enter),
                i.key_pressed(egui::Key::F),
                i.key_pressed(egui::Key::ArrowUp),
                i.key_pressed(egui::Key::ArrowDown),
            )
        });
        let Some((i, k)) = self.verify_position() else {
            return;
        };
        let o = self.editor.verify.orientation;
        if confirm {
            self.push(UiCommand::Verify {
                orientation: o,
                from: k,
                to: k,
                label: None,
            });
            if let Some(v) = &mut self.viewer {
                v.go_to_slice(i, k + 1);
            }
        }
        if flag {
            let c = flag_command(&mut self.editor.verify.note, o, k);
            self.push(c);
        }
        // Arrows move the verified view even when the pointer is elsewhere.
        let hovered_view = self.hover.is_some();
        if !hovered_view
            && (up || down)
            && let Some(v) = &mut self.viewer
        {
            v.step_slice(i, if up { 1 } else { -1 });
        }
    }

    pub(crate) fn verify_section(&mut self, ui: &mut egui::Ui) {
        let mut cmds = Vec::new();
        ui.horizontal(|ui| {
            for o in Orientation::ALL {
                ui.radio_value(&mut self.editor.verify.orientation, o, o.as_str());
            }
        });
        if self.editor.tool != Tool::Verify && ui.button("Start verifying (Verify tool)").clicked()
        {
            cmds.push(UiCommand::Tool { tool: Tool::Verify });
        }
        if let Some((_, _, cov)) = &self.editor.verify.cache {
            egui::Grid::new("coverage").striped(true).show(ui, |ui| {
                ui.strong("label");
                ui.strong("plane");
                ui.strong("verified");
                ui.strong("flagged");
                ui.strong("changed");
                ui.end_row();
                for c in cov.iter().filter(|c| {
                    c.verified + c.flagged + c.changed_after_verification > 0
                        || c.orientation == self.editor.verify.orientation
                }) {
                    ui.label(&c.label);
                    ui.label(c.orientation.as_str());
                    ui.label(format!("{} of {}", c.verified, c.planes));
                    ui.label(c.flagged.to_string());
                    ui.colored_label(
                        if c.changed_after_verification > 0 {
                            Color32::from_rgb(230, 80, 80)
                        } else {
                            ui.visuals().text_color()
                        },
                        c.changed_after_verification.to_string(),
                    );
                    ui.end_row();
                }
            });
        }
        let position = self.verify_position();
        match position {
            None => {
                ui.colored_label(
                    Color32::from_rgb(230, 170, 60),
                    "No view shows this orientation without obliquity: reset the planes.",
                );
            }
            Some((_, k)) => {
                let o = self.editor.verify.orientation;
                ui.label(format!(
                    "{} slice {k} of `{}`",
                    o.as_str(),
                    self.editor.active_label
                ));
                ui.horizontal(|ui| {
                    if ui.button("Confirm (V)").clicked() {
                        cmds.push(UiCommand::Verify {
                            orientation: o,
                            from: k,
                            to: k,
                            label: None,
                        });
                    }
                    ui.add(
                        egui::TextEdit::singleline(&mut self.editor.verify.note)
                            .hint_text("note")
                            .desired_width(120.0),
                    );
                    if ui.button("Flag (F)").clicked() {
                        cmds.push(flag_command(&mut self.editor.verify.note, o, k));
                    }
                });
                if let Some(empty) = self.empty_unverified_planes()
                    && !empty.is_empty()
                    && ui
                        .button(format!("Confirm the {} empty slices at once", empty.len()))
                        .on_hover_text("Slices where the label has no voxel; each is recorded")
                        .clicked()
                {
                    for k in empty {
                        cmds.push(UiCommand::Verify {
                            orientation: o,
                            from: k,
                            to: k,
                            label: None,
                        });
                    }
                }
            }
        }
        // The legend of the strip.
        ui.horizontal(|ui| {
            for (s, name) in [
                (PlaneState::Unverified, "unverified"),
                (PlaneState::Verified, "verified"),
                (PlaneState::Flagged, "flagged"),
                (PlaneState::Changed, "changed after verification"),
            ] {
                let (r, _) = ui.allocate_exact_size(Vec2::splat(10.0), Sense::hover());
                ui.painter().rect_filled(r, 1.0, state_colour(s));
                ui.small(name);
            }
        });
        self.commands.extend(cmds);
    }

    /// Planes of the active label in the verify orientation that are empty and not verified.
    fn empty_unverified_planes(&self) -> Option<Vec<usize>> {
        let case = self.case.as_deref()?;
        let l = case
            .session()
            .segmentation()
            .get(&self.editor.active_label)?;
        let (_, _, o, _, states) = self.editor.verify.strip.as_ref()?;
        let [n, r, c] = l.mask.dims();
        let empty = |k: usize| match o {
            Orientation::Axial => (0..r).all(|j| l.mask.row_runs(k, j).next().is_none()),
            Orientation::Coronal => (0..n).all(|s| (0..c).all(|i| !l.mask.get(s, k, i))),
            Orientation::Sagittal => (0..n).all(|s| (0..r).all(|j| !l.mask.get(s, j, k))),
        };
        Some(
            states
                .iter()
                .enumerate()
                .filter(|(k, s)| **s != PlaneState::Verified && empty(*k))
                .map(|(k, _)| k)
                .collect(),
        )
    }
}

/// Flags slice `k` with the note typed so far (taken; "flagged" when empty).
fn flag_command(note: &mut String, orientation: Orientation, k: usize) -> UiCommand {
    let note = std::mem::take(note);
    UiCommand::Flag {
        orientation,
        index: k,
        note: if note.trim().is_empty() {
            "flagged".into()
        } else {
            note
        },
    }
}
