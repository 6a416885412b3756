//! Sending a case's DICOM exports to the archive: which files may go (recorded exports
//! whose bytes are still what was recorded), and the record of what the archive answered.

use super::event::{Event, ExportRecord, SentObject, Transmission};
use super::{Case, CaseError};
use crate::segment::log::now_utc;
use std::path::PathBuf;

impl Case {
    /// The DICOM exports (SEG, RT Structure Set) as they stand: the latest record of each
    /// file, with its path on disk. A file changed or missing since it was recorded is an
    /// error, so nothing unrecorded leaves the case.
    pub fn dicom_exports(&self) -> Result<Vec<(usize, PathBuf, &ExportRecord)>, CaseError> {
        let mut latest: Vec<(usize, &ExportRecord)> = Vec::new();
        for (seq, x) in self.files.exports() {
            if !x.spec.format.is_dicom() {
                continue;
            }
            latest.retain(|(_, y)| y.path != x.path);
            latest.push((seq, x));
        }
        let mut out = Vec::with_capacity(latest.len());
        for (seq, x) in latest {
            let path = self.dir().join(&x.path);
            let bytes = std::fs::read(&path).map_err(|e| {
                CaseError::Input(format!(
                    "export {} is missing ({e}): export it again",
                    x.path
                ))
            })?;
            if blake3::hash(&bytes).to_hex().as_str() != x.blake3 {
                return Err(CaseError::Input(format!(
                    "{} changed since it was exported (blake3 differs from the record): export it again",
                    x.path
                )));
            }
            out.push((seq, path, x));
        }
        Ok(out)
    }

    /// Records what was sent to `node` and what it answered.
    pub fn record_sent(
        &mut self,
        node: &str,
        objects: Vec<SentObject>,
    ) -> Result<usize, CaseError> {
        if objects.is_empty() {
            return Err(CaseError::Input("nothing was sent".into()));
        }
        self.append(Event::Sent(Box::new(Transmission {
            node: node.to_string(),
            objects,
            operator: self.operator.clone(),
            time: now_utc(),
        })))
    }

    /// Every transmission, with its journal position.
    pub fn transmissions(&self) -> Vec<(usize, &Transmission)> {
        self.files
            .events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Event::Sent(t) => Some((i, t.as_ref())),
                _ => None,
            })
            .collect()
    }
}
