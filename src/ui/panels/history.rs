//! The History section: the operation log with readable parameters, undo and redo that
//! say what they will undo, and a click on an entry to go back (or forward) to the state
//! after it — by recorded undos and redos, so the journal keeps every move.

use crate::segment::log::EntryStatus;
use crate::ui::App;
use crate::ui::command::UiCommand;

/// One line of parameters: the operation's JSON without `op` and `label`, shortened.
pub fn summary(op: &crate::segment::Operation) -> String {
    let mut v = serde_json::to_value(op).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.remove("op");
        m.remove("label");
        for pts in ["centres_mm", "points_mm"] {
            if let Some(a) = m.get(pts).and_then(|x| x.as_array()).map(|a| a.len()) {
                m.insert(pts.into(), serde_json::json!(format!("{a} points")));
            }
        }
    }
    let s = v.to_string();
    if s.chars().count() > 70 {
        format!("{}…", s.chars().take(69).collect::<String>())
    } else {
        s
    }
}

impl App {
    pub(crate) fn history_section(&mut self, ui: &mut egui::Ui) {
        let Some(case) = self.case.as_deref() else {
            return;
        };
        let s = case.session();
        let log = s.log();
        let busy = self.job.is_some();
        let mut cmds = Vec::new();
        ui.horizontal(|ui| {
            let undo = s.undo_index().map(|i| (i, log.entries[i].op.name()));
            let redo = s.redo_index().map(|i| (i, log.entries[i].op.name()));
            if ui
                .add_enabled(
                    !busy && undo.is_some(),
                    egui::Button::new(match undo {
                        Some((i, n)) => format!("Undo {i}: {n}"),
                        None => "Undo".into(),
                    }),
                )
                .on_hover_text("Ctrl+Z")
                .clicked()
            {
                cmds.push(UiCommand::Undo);
            }
            if ui
                .add_enabled(
                    !busy && redo.is_some(),
                    egui::Button::new(match redo {
                        Some((i, n)) => format!("Redo {i}: {n}"),
                        None => "Redo".into(),
                    }),
                )
                .on_hover_text("Ctrl+Shift+Z")
                .clicked()
            {
                cmds.push(UiCommand::Redo);
            }
        });
        let last = log.applied().map(|e| e.index).max();
        egui::ScrollArea::vertical()
            .max_height(220.0)
            .id_salt("history")
            .show(ui, |ui| {
                for e in log.entries.iter().rev() {
                    let undone = e.status == EntryStatus::Undone;
                    let text = format!(
                        "{} {} {}{}",
                        e.index,
                        e.op.name(),
                        summary(&e.op),
                        if undone { "  (undone)" } else { "" }
                    );
                    let label = egui::RichText::new(text).monospace();
                    let label = if undone { label.weak() } else { label };
                    let r = ui
                        .selectable_label(Some(e.index) == last, label)
                        .on_hover_text(format!(
                            "{} by {}\n{}\n{}",
                            e.time,
                            e.operator,
                            e.changes
                                .iter()
                                .map(|c| format!(
                                    "{}: +{} / −{} voxels",
                                    c.label, c.added, c.removed
                                ))
                                .collect::<Vec<_>>()
                                .join("\n"),
                            e.notes.join("\n")
                        ));
                    if r.clicked() && !busy {
                        cmds.push(UiCommand::GoToStep { index: e.index });
                    }
                }
            });
        self.commands.extend(cmds);
    }
}
