//! A case as it lies on disk, read without recomputing anything: `case.json` and the
//! journal's events, with the questions that need no source (where the source is, what
//! was acknowledged, which exports still match).

use super::event::{Acknowledgement, Event, ExportRecord, Reconstructed, Record};
use super::journal::{Journal, JournalError};
use super::record::CaseRecord;
use super::{CaseError, JOURNAL_FILE, RECORD_FILE, source};
use std::path::{Path, PathBuf};

/// A case read from disk without recomputing anything: the record and the events.
#[derive(Debug, Clone)]
pub struct CaseFiles {
    /// The case folder.
    pub dir: PathBuf,
    /// `case.json`.
    pub record: CaseRecord,
    /// The journal's events, in order.
    pub events: Vec<Event>,
    /// A torn last journal record that was dropped, with why.
    pub dropped_tail: Option<String>,
}

impl CaseFiles {
    /// Reads a case folder. Nothing is written (a torn journal tail is reported, not cut).
    pub fn read(dir: &Path) -> Result<Self, CaseError> {
        let (files, _) = Self::read_with(dir, true)?;
        Ok(files)
    }

    pub(super) fn read_with(dir: &Path, read_only: bool) -> Result<(Self, Journal), CaseError> {
        if !dir.is_dir() {
            return Err(CaseError::Input(format!(
                "{} is not a case folder (it does not exist or is not a folder)",
                dir.display()
            )));
        }
        let rp = dir.join(RECORD_FILE);
        let text = std::fs::read_to_string(&rp).map_err(|e| {
            CaseError::Input(format!(
                "{} is not a Hounsfield case: cannot read {RECORD_FILE} ({e})",
                dir.display()
            ))
        })?;
        let record: CaseRecord = serde_json::from_str(&text).map_err(|e| {
            CaseError::Input(format!("{}: not a valid case record: {e}", rp.display()))
        })?;
        record
            .check_schema()
            .map_err(|m| CaseError::Input(format!("{}: {m}", rp.display())))?;
        let opened = Journal::open::<Record>(&dir.join(JOURNAL_FILE), read_only)?;
        let mut events = Vec::with_capacity(opened.records.len());
        for (i, r) in opened.records.into_iter().enumerate() {
            if r.seq != i {
                return Err(CaseError::Journal(JournalError::Damaged {
                    path: dir.join(JOURNAL_FILE),
                    record: i,
                    reason: format!("it says it is record {}", r.seq),
                }));
            }
            events.push(r.event);
        }
        Ok((
            Self {
                dir: dir.to_path_buf(),
                record,
                events,
                dropped_tail: opened.dropped_tail,
            },
            opened.journal,
        ))
    }

    /// Where the source files are now: the recorded root, or the last recorded move.
    pub fn source_root(&self) -> PathBuf {
        self.events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::SourceMoved(m) => Some(m.to.clone()),
                _ => None,
            })
            .unwrap_or_else(|| self.record.source.root.clone())
    }

    /// The acknowledgements, in order.
    pub fn acknowledgements(&self) -> Vec<&Acknowledgement> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Acknowledged(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    /// Finding codes that need acknowledging and are not acknowledged yet.
    pub fn unacknowledged(&self) -> Vec<String> {
        let acked: Vec<&String> = self
            .acknowledgements()
            .into_iter()
            .flat_map(|a| &a.codes)
            .collect();
        self.record
            .feasibility
            .codes_to_acknowledge()
            .into_iter()
            .filter(|c| !acked.contains(&c))
            .collect()
    }

    /// Every export with its journal position, in order.
    pub fn exports(&self) -> Vec<(usize, &ExportRecord)> {
        self.events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Event::Exported(x) => Some((i, x)),
                _ => None,
            })
            .collect()
    }

    /// The measurements not withdrawn, with their journal positions.
    pub fn measurements(&self) -> Vec<(usize, &crate::measure::Measurement)> {
        let removed: Vec<usize> = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::MeasurementRemoved(r) => Some(r.seq),
                _ => None,
            })
            .collect();
        self.events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Event::Measured(m) if !removed.contains(&i) => Some((i, m.as_ref())),
                _ => None,
            })
            .collect()
    }

    /// Every reconstruction with its journal position, in order.
    pub fn reconstructions(&self) -> Vec<(usize, &Reconstructed)> {
        self.events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Event::Reconstructed(x) => Some((i, x)),
                _ => None,
            })
            .collect()
    }

    /// Whether each export's file still holds the recorded bytes; the latest record of a
    /// path is the current one, earlier ones are superseded.
    pub fn export_states(&self) -> Vec<(usize, &ExportRecord, ExportState)> {
        let all = self.exports();
        all.iter()
            .map(|(seq, x)| {
                let superseded = all.iter().any(|(s2, y)| s2 > seq && y.path == x.path);
                let state = if superseded {
                    ExportState::Superseded
                } else {
                    match source::hash_file(&self.dir.join(&x.path)) {
                        Err(_) => ExportState::Missing,
                        Ok((_, h)) if h == x.blake3 => ExportState::Matches,
                        Ok(_) => ExportState::Changed,
                    }
                };
                (*seq, *x, state)
            })
            .collect()
    }
}

/// Whether an exported file is as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportState {
    /// Same blake3 as recorded.
    Matches,
    /// The file's content differs from the record.
    Changed,
    /// The file is gone.
    Missing,
    /// A later export wrote the same path.
    Superseded,
}

impl ExportState {
    /// Words for the status and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Matches => "matches",
            Self::Changed => "CHANGED since export",
            Self::Missing => "MISSING",
            Self::Superseded => "superseded by a later export",
        }
    }
}
