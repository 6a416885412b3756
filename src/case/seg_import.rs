//! Starting from a DICOM SEG: its segments become labels of the case through
//! `import_mask` operations, so the journal holds the masks themselves and the case
//! replays without the file.

use super::{Case, CaseError};
use crate::segment::Operation;
use crate::segment::ops::import::ImportMask;
use std::path::Path;

impl Case {
    /// Imports the SEG at `path` onto the case's volume: every segment, or those numbered
    /// in `only`, each as the label of its Segment Label (or `rename` for a single one).
    /// Returns the labels written and a warning when the SEG names another series.
    pub fn import_seg(
        &mut self,
        path: &Path,
        only: &[u16],
        rename: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), CaseError> {
        let v = self.volume().clone();
        let seg = crate::dicom::segmentation::read(path, v.dims(), &v.geometry)
            .map_err(CaseError::Input)?;
        let chosen: Vec<_> = seg
            .segments
            .iter()
            .filter(|s| only.is_empty() || only.contains(&s.number))
            .collect();
        if chosen.is_empty() {
            let have: Vec<String> = seg
                .segments
                .iter()
                .map(|s| format!("{} `{}`", s.number, s.label))
                .collect();
            return Err(CaseError::Input(format!(
                "{} has no segment numbered {only:?}; it has {}",
                path.display(),
                have.join(", ")
            )));
        }
        if rename.is_some() && chosen.len() != 1 {
            return Err(CaseError::Input(
                "a new label name needs exactly one segment (--segment N)".into(),
            ));
        }
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut labels = Vec::new();
        for s in chosen {
            let label: String =
                rename.map_or_else(|| s.label.trim().chars().take(64).collect(), str::to_string);
            let origin = format!(
                "DICOM SEG {file} (SOP Instance {}, blake3 {}) segment {} `{}`",
                seg.sop_instance,
                &seg.blake3[..16],
                s.number,
                s.label
            );
            self.apply(Operation::ImportMask(ImportMask::of(
                &label, origin, &s.mask,
            )))?;
            labels.push(label);
        }
        let ours = self.files.record.source.series_uid.clone();
        let warning = match (&seg.referenced_series, &ours) {
            (Some(theirs), Some(ours)) if theirs != ours => Some(format!(
                "the SEG references series {theirs}, the case is on {ours}: its frames fit this grid, but check it is the series it was drawn on"
            )),
            _ => None,
        };
        Ok((labels, warning))
    }
}
