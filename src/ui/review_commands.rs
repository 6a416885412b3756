//! The window's review and measurement commands: measuring with points in a view (or on
//! the model in 3D), the reviewer's signed decision, and showing a recorded model again.
//! Applied from [`App::execute`] like every command.

use super::App;
use super::editor::{MeasureTool, NotePin};
use super::jobs::{self, Background};
use crate::case::ledger::Orientation;
use crate::feasibility::Severity;

impl App {
    /// Records a measurement of `kind` with points in view `view` (`3d`: on the model).
    pub(crate) fn measure_points(
        &mut self,
        kind: MeasureTool,
        view: &str,
        points_mm: &[[f64; 3]],
        name: Option<String>,
    ) -> Result<(), String> {
        // Points picked on the model in the 3D view stay where they are.
        let in_3d = view == "3d";
        let i = if in_3d {
            0
        } else {
            super::command::view_index(view)?
        };
        let snapped = if in_3d {
            points_mm.to_vec()
        } else {
            self.snap_to_slice(i, points_mm)?
        };
        let pts: Vec<crate::geom::LpsPointMm> = snapped
            .into_iter()
            .map(|p| crate::geom::LpsPointMm(glam::DVec3::from_array(p)))
            .collect();
        if in_3d && kind.points_needed().is_none() {
            return Err(format!(
                "{} is measured on a slice, not in the 3D view",
                kind.label()
            ));
        }
        use super::editor::MeasureTool;
        use crate::measure::Shape;
        let need = |n: usize| -> Result<(), String> {
            if pts.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "a {} needs {n} points, {} given",
                    kind.label(),
                    pts.len()
                ))
            }
        };
        let shape = match kind {
            MeasureTool::Distance => {
                need(2)?;
                Shape::Distance {
                    a: pts[0],
                    b: pts[1],
                }
            }
            MeasureTool::Angle => {
                need(3)?;
                Shape::Angle {
                    a: pts[0],
                    vertex: pts[1],
                    b: pts[2],
                }
            }
            MeasureTool::Area => Shape::Area { points: pts },
            MeasureTool::Hu => {
                let v = self.viewer.as_ref().ok_or("no volume is loaded")?;
                let orientation = super::panels::verify::orientation_of_view(v, i);
                let index = v.slice_index(i).0.saturating_sub(1);
                Shape::HuStats {
                    orientation,
                    index,
                    points: pts,
                }
            }
        };
        let c = self.case_mut()?;
        let seq = c
            .measure(name.as_deref().unwrap_or(""), shape)
            .map_err(|e| e.to_string())?;
        self.announce_measurement(seq);
        Ok(())
    }

    /// Records the reviewer's decision on the open case, signed with their key; a note
    /// pinned to the axial slice or the point at the crosshair.
    pub(crate) fn record_review(
        &mut self,
        approve: bool,
        reviewer: &str,
        note: Option<String>,
        pin: Option<NotePin>,
    ) -> Result<(), String> {
        self.quiet()?;
        let key = match &self.reviewer_key {
            Some(p) => crate::review::key::ReviewerKey::load_or_create(p),
            None => crate::review::key::ReviewerKey::default_key(),
        }?;
        let v = self.viewer.as_ref().ok_or("no volume is loaded")?;
        let cursor = v.cursor;
        let axial = v.slice_index(0).0.saturating_sub(1);
        let label = self.editor.active_label.clone();
        let mut notes = Vec::new();
        if let Some(text) = note.filter(|t| !t.trim().is_empty()) {
            let pin = pin.unwrap_or(super::editor::NotePin::None);
            notes.push(crate::review::ReviewNote {
                text,
                slice: (pin == super::editor::NotePin::Slice).then_some(crate::review::SliceRef {
                    label,
                    orientation: Orientation::Axial,
                    index: axial,
                }),
                point_lps_mm: (pin == super::editor::NotePin::Point).then(|| cursor.to_array()),
            });
        }
        let verdict = if approve {
            crate::review::Verdict::Approved
        } else {
            crate::review::Verdict::Returned
        };
        let c = self.case_mut()?;
        c.review(verdict, reviewer, notes, &key)
            .map_err(|e| e.to_string())?;
        let summary = c.review_status().summary();
        if key.created {
            self.messages.push((
                Severity::Info,
                format!(
                    "Made your reviewer key {} (fingerprint {})",
                    key.path.display(),
                    key.fingerprint()
                ),
            ));
        }
        self.messages
            .push((Severity::Info, format!("Review: {summary}")));
        Ok(())
    }

    /// Recomputes the latest reconstruction made from the masks as they are, to show it
    /// (checked against its record; nothing is recorded).
    pub(crate) fn show_recorded_model(&mut self) -> Result<(), String> {
        self.background_free(Background::Reconstruct)?;
        let case = self.case.as_deref().ok_or("no case is open")?;
        let now = case.mask_hashes();
        let (seq, r) = case
            .files()
            .reconstructions()
            .into_iter()
            .rev()
            .find(|(_, r)| {
                r.masks
                    .iter()
                    .all(|m| now.get(&m.label) == Some(&m.mask_hash))
            })
            .ok_or("no reconstruction was made from the masks as they are")?;
        let labels: Vec<String> = r.masks.iter().map(|m| m.label.clone()).collect();
        let opts = r.record.options.clone();
        let masks = case.masks_for(&labels).map_err(|e| e.to_string())?;
        let volume = case.volume().clone();
        self.editor.model.showing_record = Some(seq);
        let job = jobs::reconstruct(
            masks,
            volume,
            opts,
            (self.shared_compute.clone(), self.prefs.compute),
            self.surface.colour,
            self.waker(),
        );
        self.start_background(Background::Reconstruct, job);
        Ok(())
    }
}
