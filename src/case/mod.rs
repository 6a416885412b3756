//! The case: one durable, replayable record from the scan to the exported model.
//!
//! A case is a folder `NAME.hfcase/` holding
//! - `case.json` ([`record::CaseRecord`]): the source (files with sizes and blake3, UIDs,
//!   volume hash), the acquisition record, the feasibility findings, the resampling, the
//!   clinical purpose, the operator, and (optionally) the patient block. Written once.
//! - `journal.hfj` ([`journal`]): every event after creation ([`event::Event`]) — each
//!   operation with its hashes, undo/redo, the acknowledgement of findings, slice
//!   verification, reconstructions, exports, moves of the source folder. An event is
//!   acknowledged to the caller only once it is on disk, so there is no unsaved work.
//! - `exports/`: the files the case wrote, each recorded with its blake3.
//! - `log.json`, `report.json`, `report.html`: derived, regenerated on demand.
//!
//! The source DICOM is referenced, never copied or modified. Source and journal are the
//! truth; masks, meshes and exports are derived and can be recomputed bit for bit
//! ([`replay`]). Opening a case checks the source files' hashes and recomputes the masks.

pub mod event;
pub mod exports;
pub mod files;
pub mod journal;
pub mod ledger;
pub mod recipe;
pub mod record;
pub mod replay;
mod review;
mod seg_import;
mod send;
pub mod source;

use crate::mesh::Mesh;
use crate::mesh::pipeline::{ReconstructOptions, Reconstruction};
use crate::mesh::record::ReconstructionRecord;
use crate::segment::log::{LogEntry, now_utc};
use crate::segment::session::{Computed, Staged};
use crate::segment::{Operation, Session};
use crate::volume::Volume;
use event::{
    Acknowledgement, Event, ExportRecord, ExportSpec, MaskRef, Reconstructed, Record, SourceMove,
    Step,
};
pub use files::{CaseFiles, ExportState};
use journal::{Journal, JournalError};
use ledger::{Ledger, MarkState, Orientation, SliceMark};
use record::{CaseRecord, Purpose};
use source::{FileProblem, OpenedSource};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// File name of the record.
pub const RECORD_FILE: &str = "case.json";
/// File name of the journal.
pub const JOURNAL_FILE: &str = "journal.hfj";
/// Folder of the exports.
pub const EXPORTS_DIR: &str = "exports";
/// Folder suffix of a case.
pub const SUFFIX: &str = ".hfcase";

/// Why a case operation failed.
#[derive(Debug, Error)]
pub enum CaseError {
    /// Something the user gave is wrong (exit 2).
    #[error("{0}")]
    Input(String),
    /// The work failed (exit 1).
    #[error("{0}")]
    Failed(String),
    /// Findings must be acknowledged before segmenting (exit 2).
    #[error(
        "the feasibility findings {} must be acknowledged before the first segmentation operation (read them with `hounsfield status`, then acknowledge them: in a recipe, \"acknowledge\": [codes])",
        .0.join(", ")
    )]
    Unacknowledged(Vec<String>),
    /// Source files are missing or changed (exit 1).
    #[error("the source is not as recorded: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    SourceChanged(Vec<FileProblem>),
    /// The journal cannot be read or written.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl From<CaseError> for crate::error::Error {
    fn from(e: CaseError) -> Self {
        match e {
            CaseError::Input(_) | CaseError::Unacknowledged(_) => Self::BadInput(e.to_string()),
            CaseError::Journal(JournalError::Damaged { .. }) => Self::BadInput(e.to_string()),
            _ => Self::Failed(e.to_string()),
        }
    }
}

impl From<source::SourceError> for CaseError {
    fn from(e: source::SourceError) -> Self {
        match e {
            source::SourceError::Input(m) => Self::Input(m),
            source::SourceError::Failed(m) => Self::Failed(m),
        }
    }
}

/// What a new case needs besides its source.
#[derive(Debug, Clone)]
pub struct NewCase {
    /// Why the model is made.
    pub purpose: Purpose,
    /// Who creates it.
    pub operator: String,
    /// A pseudonym to use instead of the derived one.
    pub pseudonym: Option<String>,
    /// Keep the patient block in `case.json` (it never goes into exports or reports).
    pub keep_patient: bool,
}

/// An open case: the record, the journal, and the live segmentation rebuilt from it.
#[derive(Debug)]
pub struct Case {
    files: CaseFiles,
    journal: Journal,
    session: Session,
    ledger: Ledger,
    volume: Arc<Volume>,
    /// Surfaces reconstructed in this process, by the journal position of their record.
    meshes: BTreeMap<usize, Vec<(String, Mesh)>>,
    /// Who is working on the case now (recorded with every event).
    pub operator: String,
}

/// The path of a case folder for a name or path: `x` and `x.hfcase` both give `x.hfcase`.
pub fn case_dir(path: &Path) -> PathBuf {
    if path.to_string_lossy().ends_with(SUFFIX) {
        path.to_path_buf()
    } else {
        let mut s = path.as_os_str().to_os_string();
        s.push(SUFFIX);
        PathBuf::from(s)
    }
}

fn append_move(
    files: &mut CaseFiles,
    journal: &mut Journal,
    from: &Path,
    to: &Path,
    operator: &str,
) -> Result<(), CaseError> {
    let event = Event::SourceMoved(SourceMove {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        files_checked: files.record.source.files.len(),
        operator: operator.to_string(),
        time: now_utc(),
    });
    journal.append(&Record {
        seq: files.events.len(),
        event: event.clone(),
    })?;
    files.events.push(event);
    Ok(())
}

/// Records that the source of the case at `dir` is now at `to`, after checking every file
/// there (size and blake3); nothing is recorded when it is where the case says already.
pub fn record_source_move(dir: &Path, to: &Path, operator: &str) -> Result<(), CaseError> {
    let (mut files, mut journal) = CaseFiles::read_with(dir, false)?;
    let located = replay::locate_source(&files, Some(to))?;
    if let Some((from, to)) = &located.moved {
        append_move(&mut files, &mut journal, from, to, operator)?;
    }
    Ok(())
}

fn io_failed<'a>(what: &str, path: &'a Path) -> impl Fn(std::io::Error) -> CaseError + 'a {
    let what = what.to_string();
    move |e| CaseError::Failed(format!("cannot {what} {}: {e}", path.display()))
}

/// The record of `results`, one reconstruction per mask of `masks` (label, mask, mask
/// hash, as from [`Case::masks_for`]): what [`Case::record_prepared`] records.
pub fn reconstruction_record(
    masks: &[(String, crate::segment::Mask, String)],
    results: &[Reconstruction],
    opts: &ReconstructOptions,
) -> ReconstructionRecord {
    let models: Vec<(String, Option<String>, &Reconstruction)> = masks
        .iter()
        .zip(results)
        .map(|((l, _, h), r)| (l.clone(), Some(h.clone()), r))
        .collect();
    ReconstructionRecord::of(&models, opts)
}

impl Case {
    /// Creates a case folder for an opened source. The folder appears complete or not at
    /// all: it is assembled under a temporary name and renamed into place.
    pub fn create(dir: &Path, source: OpenedSource, new: NewCase) -> Result<Self, CaseError> {
        new.purpose.check().map_err(CaseError::Input)?;
        if new.operator.trim().is_empty() {
            return Err(CaseError::Input("the operator's name is empty".into()));
        }
        if dir.exists() {
            return Err(CaseError::Input(format!(
                "{} already exists; choose another name or remove it (a case is never overwritten)",
                dir.display()
            )));
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(SUFFIX).to_string())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| CaseError::Input(format!("{} is not a folder name", dir.display())))?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(CaseError::Input(format!(
                "the folder {} does not exist; create it first",
                parent.display()
            )));
        }
        let pseudonym = new
            .pseudonym
            .clone()
            .unwrap_or_else(|| record::pseudonym_for(&source.record));
        let OpenedSource {
            volume,
            record: src,
            acquisition,
            patient,
            feasibility,
            description,
        } = source;
        let record = CaseRecord {
            schema: record::SCHEMA.into(),
            version: record::VERSION,
            name,
            pseudonym,
            created: now_utc(),
            operator: new.operator.clone(),
            software: record::Software::this(),
            purpose: new.purpose,
            source: src,
            acquisition,
            feasibility,
            patient: if new.keep_patient { patient } else { None },
        };
        let tmp = parent.join(format!(
            ".{}.creating-{}",
            dir.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            std::process::id()
        ));
        let build = || -> Result<(), CaseError> {
            std::fs::create_dir(&tmp).map_err(io_failed("create", &tmp))?;
            std::fs::create_dir(tmp.join(EXPORTS_DIR)).map_err(io_failed("create", &tmp))?;
            let json =
                serde_json::to_vec_pretty(&record).map_err(|e| CaseError::Failed(e.to_string()))?;
            let rp = tmp.join(RECORD_FILE);
            crate::io::atomic::write_atomic(&rp, |w| {
                use std::io::Write;
                w.write_all(&json)?;
                w.write_all(b"\n")
            })
            .map_err(io_failed("write", &rp))?;
            Journal::create(&tmp.join(JOURNAL_FILE))?;
            journal::sync_dir(&tmp).map_err(io_failed("sync", &tmp))?;
            std::fs::rename(&tmp, dir).map_err(io_failed("create", dir))?;
            journal::sync_dir(&parent).map_err(io_failed("sync", &parent))
        };
        if let Err(e) = build() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let opened = Journal::open::<Record>(&dir.join(JOURNAL_FILE), false)?;
        let mut session = Session::with_volume_hash(
            volume.clone(),
            record.source.volume_hash.clone(),
            &description,
            record.source.series_uid.clone(),
            &new.operator,
        );
        session.record_source(
            record.feasibility.findings.clone(),
            record.feasibility.interpolated_slices.clone(),
        );
        Ok(Self {
            files: CaseFiles {
                dir: dir.to_path_buf(),
                record,
                events: Vec::new(),
                dropped_tail: None,
            },
            journal: opened.journal,
            session,
            ledger: Ledger::default(),
            volume,
            meshes: BTreeMap::new(),
            operator: new.operator,
        })
    }

    /// Opens a case: checks the source files (at `source` when given: a moved folder with
    /// the same content is accepted and the move recorded), rebuilds the volume, and
    /// recomputes every operation, checking its hashes. A case that does not replay
    /// exactly is refused with what differs.
    pub fn open(
        dir: &Path,
        operator: &str,
        source: Option<&Path>,
    ) -> Result<(Self, replay::Opened), CaseError> {
        let (mut files, mut case_journal) = CaseFiles::read_with(dir, false)?;
        let located = replay::locate_source(&files, source)?;
        let rebuilt = replay::rebuild(
            &files,
            &located.root,
            &replay::Options::default(),
            &mut |_| {},
        )?;
        let replay::Rebuilt { state, report, .. } = rebuilt;
        let Some(state) = state.filter(|_| report.ok()) else {
            return Err(CaseError::Failed(format!(
                "{} does not replay as recorded: {}",
                dir.display(),
                report.first_failure().unwrap_or_else(|| "unknown".into())
            )));
        };
        // A move is recorded only once everything replayed from the new place.
        if let Some((from, to)) = &located.moved {
            append_move(&mut files, &mut case_journal, from, to, operator)?;
        }
        let mut session = state.session;
        session.operator = operator.to_string();
        let opened = replay::Opened {
            dropped_tail: files.dropped_tail.clone(),
            moved: located.moved,
        };
        Ok((
            Self {
                files,
                journal: case_journal,
                session,
                ledger: state.ledger,
                volume: state.volume,
                meshes: BTreeMap::new(),
                operator: operator.to_string(),
            },
            opened,
        ))
    }

    fn append(&mut self, event: Event) -> Result<usize, CaseError> {
        let seq = self.files.events.len();
        self.journal.append(&Record {
            seq,
            event: event.clone(),
        })?;
        self.files.events.push(event);
        Ok(seq)
    }

    /// Attaches a phantom validation (`validation.json`, or the validation case holding
    /// it) to the case, noting whether it validated these `segmentation` operations
    /// (labels aside) and this `reconstruction`.
    pub fn attach_validation(
        &mut self,
        path: &Path,
        segmentation: &[crate::segment::Operation],
        reconstruction: Option<&crate::mesh::pipeline::ReconstructOptions>,
    ) -> Result<usize, CaseError> {
        let file = if path.is_dir() {
            path.join("validation.json")
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&file).map_err(|e| {
            CaseError::Input(format!(
                "cannot read the validation {}: {e} (make one with `hounsfield validate`)",
                file.display()
            ))
        })?;
        let validation: crate::phantom::validate::Validation = serde_json::from_slice(&bytes)
            .map_err(|e| CaseError::Input(format!("{}: not a validation: {e}", file.display())))?;
        let strip = |v: serde_json::Value| -> serde_json::Value {
            match v {
                serde_json::Value::Array(items) => serde_json::Value::Array(
                    items
                        .into_iter()
                        .map(|mut o| {
                            if let Some(m) = o.as_object_mut() {
                                m.remove("label");
                            }
                            o
                        })
                        .collect(),
                ),
                other => other,
            }
        };
        let ours = strip(serde_json::to_value(segmentation).unwrap_or_default());
        let theirs = strip(validation.recipe["segmentation"].clone());
        let same_reconstruction = serde_json::to_value(reconstruction).unwrap_or_default()
            == validation.recipe["reconstruction"];
        let event = Event::Validated(Box::new(event::ValidationRef {
            path: file.canonicalize().unwrap_or(file),
            blake3: blake3::hash(&bytes).to_hex().to_string(),
            validation,
            same_segmentation: ours == theirs,
            same_reconstruction,
            operator: self.operator.clone(),
            time: now_utc(),
        }));
        self.append(event)
    }

    /// The record and events.
    pub fn files(&self) -> &CaseFiles {
        &self.files
    }

    /// `case.json`.
    pub fn record(&self) -> &CaseRecord {
        &self.files.record
    }

    /// The case folder.
    pub fn dir(&self) -> &Path {
        &self.files.dir
    }

    /// The live segmentation and its log.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Sets the label operations write when they name none.
    pub fn set_default_label(&mut self, label: &str) {
        self.session.default_label = label.to_string();
    }

    /// The verification ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The source volume.
    pub fn volume(&self) -> &Arc<Volume> {
        &self.volume
    }

    /// Finding codes that still need acknowledging.
    pub fn unacknowledged(&self) -> Vec<String> {
        self.files.unacknowledged()
    }

    /// Records that the operator read the findings `codes` (each must be a finding of
    /// this case).
    pub fn acknowledge(&mut self, codes: &[String], note: Option<String>) -> Result<(), CaseError> {
        let known: Vec<&str> = self
            .files
            .record
            .feasibility
            .findings
            .iter()
            .map(|f| f.code.as_str())
            .collect();
        for c in codes {
            if !known.contains(&c.as_str()) {
                return Err(CaseError::Input(format!(
                    "`{c}` is not a finding of this case; its findings are: {}",
                    if known.is_empty() {
                        "(none)".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        if codes.is_empty() {
            return Ok(());
        }
        let mut codes = codes.to_vec();
        codes.sort();
        codes.dedup();
        self.append(Event::Acknowledged(Acknowledgement {
            codes,
            operator: self.operator.clone(),
            time: now_utc(),
            note,
        }))?;
        Ok(())
    }

    /// Applies a segmentation operation and saves it; returns once it is on disk. Refused
    /// while findings are unacknowledged. If saving fails, the operation is taken back.
    pub fn apply(&mut self, op: Operation) -> Result<&LogEntry, CaseError> {
        let staged = self.stage(op)?;
        let name = staged.op().name();
        let computed = staged
            .compute()
            .map_err(|e| CaseError::Input(format!("{name}: {e}")))?;
        self.commit(computed)
    }

    /// Prepares an operation to compute on a worker (see [`Session::stage`]); refused while
    /// findings are unacknowledged.
    pub fn stage(&mut self, op: Operation) -> Result<Staged, CaseError> {
        let missing = self.unacknowledged();
        if !missing.is_empty() {
            return Err(CaseError::Unacknowledged(missing));
        }
        self.session.operator = self.operator.clone();
        let name = op.name();
        self.session
            .stage(op)
            .map_err(|e| CaseError::Input(format!("{name}: {e}")))
    }

    /// Takes a computed operation into the case and saves it; returns once it is on disk.
    pub fn commit(&mut self, computed: Computed) -> Result<&LogEntry, CaseError> {
        let index = self
            .session
            .commit_computed(computed)
            .map_err(|e| CaseError::Input(e.to_string()))?;
        let entry = self.session.log().entries[index].clone();
        if let Err(e) = self.append(Event::Applied { entry }) {
            self.session.discard_last();
            return Err(e);
        }
        Ok(&self.session.log().entries[index])
    }

    /// Undoes the last step and saves that; `None` when there is nothing to undo.
    pub fn undo(&mut self) -> Result<Option<usize>, CaseError> {
        let Some(index) = self.session.undo_index() else {
            return Ok(None);
        };
        self.session.undo();
        let step = self.step(index);
        if let Err(e) = self.append(Event::Undone(step)) {
            self.session.redo();
            return Err(e);
        }
        Ok(Some(index))
    }

    /// Redoes the last undone step and saves that; `None` when there is nothing to redo.
    pub fn redo(&mut self) -> Result<Option<usize>, CaseError> {
        let Some(index) = self.session.redo_index() else {
            return Ok(None);
        };
        self.session.redo();
        let step = self.step(index);
        if let Err(e) = self.append(Event::Redone(step)) {
            self.session.undo();
            return Err(e);
        }
        Ok(Some(index))
    }

    fn step(&self, index: usize) -> Step {
        Step {
            index,
            segmentation_hash: self.session.log().final_hash.clone(),
            operator: self.operator.clone(),
            time: now_utc(),
        }
    }

    /// Marks a plane of a label verified, flagged (with a note) or cleared, bound to the
    /// plane's current content.
    pub fn mark(
        &mut self,
        label: &str,
        orientation: Orientation,
        index: usize,
        state: MarkState,
        note: Option<String>,
    ) -> Result<(), CaseError> {
        let planes = orientation.count(self.session.segmentation().dims());
        if index >= planes {
            return Err(CaseError::Input(format!(
                "{} plane {index} does not exist (0..{planes})",
                orientation.as_str()
            )));
        }
        let mut mask = self
            .session
            .segmentation()
            .get(label)
            .map(|l| l.mask.clone())
            .ok_or_else(|| CaseError::Input(format!("label `{label}` does not exist")))?;
        let mark = SliceMark {
            label: label.to_string(),
            orientation,
            index,
            state,
            plane_hash: ledger::plane_hash(&mut mask, orientation, index),
            note,
            operator: self.operator.clone(),
            time: now_utc(),
        };
        self.append(Event::Verified(mark.clone()))?;
        self.ledger.add(mark);
        Ok(())
    }

    /// The masks of `labels` as they are now (hash included), for a reconstruction that
    /// may run elsewhere.
    pub fn masks_for(
        &self,
        labels: &[String],
    ) -> Result<Vec<(String, crate::segment::Mask, String)>, CaseError> {
        let seg = self.session.segmentation();
        labels
            .iter()
            .map(|l| {
                let label = seg.get(l).ok_or_else(|| {
                    CaseError::Input(format!(
                        "label `{l}` does not exist; the labels are: {}",
                        seg.labels()
                            .iter()
                            .map(|x| x.meta.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
                if label.mask.is_empty() {
                    return Err(CaseError::Input(format!(
                        "label `{l}` is empty: nothing to reconstruct"
                    )));
                }
                let mut m = label.mask.clone();
                let h = crate::segment::mask::hex(&m.hash());
                Ok((l.clone(), m, h))
            })
            .collect()
    }

    /// Where this session's threshold, keep-largest and surface topology run (the CPU
    /// unless set; the results are the same).
    pub fn set_compute(&mut self, compute: crate::compute::Compute) {
        self.session.compute = compute;
    }

    /// Reconstructs the surfaces of `labels` here and records them.
    pub fn reconstruct(
        &mut self,
        labels: &[String],
        opts: &ReconstructOptions,
    ) -> Result<usize, CaseError> {
        let masks = self.masks_for(labels)?;
        let results = replay::reconstruct_masks(&masks, &self.volume, opts, &self.session.compute)
            .map_err(CaseError::Failed)?;
        self.record_reconstruction(&masks, results, opts)
    }

    /// Records a reconstruction made from `masks` (as returned by [`Self::masks_for`]);
    /// refused when a mask changed in the meantime. Returns its journal position.
    pub fn record_reconstruction(
        &mut self,
        masks: &[(String, crate::segment::Mask, String)],
        results: Vec<Reconstruction>,
        opts: &ReconstructOptions,
    ) -> Result<usize, CaseError> {
        let record = reconstruction_record(masks, &results, opts);
        self.record_prepared(masks, results, record)
    }

    /// [`Self::record_reconstruction`] with the record already made by
    /// [`reconstruction_record`] from the same masks and results (a worker makes it, so
    /// that committing on the UI thread does not hash every mesh).
    pub fn record_prepared(
        &mut self,
        masks: &[(String, crate::segment::Mask, String)],
        results: Vec<Reconstruction>,
        record: ReconstructionRecord,
    ) -> Result<usize, CaseError> {
        let now = self.mask_hashes();
        for (l, _, h) in masks {
            if now.get(l) != Some(h) {
                return Err(CaseError::Input(format!(
                    "label `{l}` changed while its surface was being reconstructed; reconstruct again"
                )));
            }
        }
        let matches =
            record.labels.len() == masks.len()
                && results.len() == masks.len()
                && record.labels.iter().zip(masks).all(|(r, (l, _, h))| {
                    r.name == *l && r.mask_hash.as_deref() == Some(h.as_str())
                });
        if !matches {
            return Err(CaseError::Input(
                "the reconstruction record does not belong to these masks; reconstruct again"
                    .into(),
            ));
        }
        let seq = self.append(Event::Reconstructed(Reconstructed {
            masks: masks
                .iter()
                .map(|(l, _, h)| MaskRef {
                    label: l.clone(),
                    mask_hash: h.clone(),
                })
                .collect(),
            segmentation_hash: self.session.log().final_hash.clone(),
            log_position: self.session.log().entries.len(),
            record,
            operator: self.operator.clone(),
            time: now_utc(),
        }))?;
        self.meshes.insert(
            seq,
            masks
                .iter()
                .zip(results)
                .map(|((l, _, _), r)| (l.clone(), r.mesh))
                .collect(),
        );
        Ok(seq)
    }

    /// The surfaces of a reconstruction made in this process.
    pub fn meshes(&self, seq: usize) -> Option<&[(String, Mesh)]> {
        self.meshes.get(&seq).map(Vec::as_slice)
    }

    /// The blake3 of every label's mask now.
    pub fn mask_hashes(&self) -> BTreeMap<String, String> {
        replay::mask_hashes(self.session.segmentation())
    }

    /// Writes an export into `exports/` and records it. Surfaces come from the
    /// reconstruction at `reconstruction` (made in this process, on the current masks).
    pub fn export(
        &mut self,
        spec: &ExportSpec,
        reconstruction: Option<usize>,
    ) -> Result<ExportRecord, CaseError> {
        self.export_with(spec, reconstruction, None)
    }

    /// The verification of the labels an export holds, when it is incomplete: one line
    /// per label (its best orientation), e.g. "bone axial: 132 of 140 verified, 3 changed
    /// after verification"; `None` when every label is fully verified in some orientation.
    pub fn verification_gap(&self, labels: &[String]) -> Option<String> {
        let cov = self.coverage();
        let mut lines = Vec::new();
        for l in labels {
            let best = cov
                .iter()
                .filter(|c| &c.label == l)
                .max_by_key(|c| (c.verified * 1000) / c.planes.max(1));
            match best {
                Some(c) if c.verified == c.planes && c.planes > 0 => {}
                Some(c) => lines.push(format!(
                    "{l} {}: {} of {} verified{}{}",
                    c.orientation.as_str(),
                    c.verified,
                    c.planes,
                    if c.changed_after_verification > 0 {
                        format!(
                            ", {} changed after verification",
                            c.changed_after_verification
                        )
                    } else {
                        String::new()
                    },
                    if c.flagged > 0 {
                        format!(", {} flagged", c.flagged)
                    } else {
                        String::new()
                    }
                )),
                None => lines.push(format!("{l}: no verification")),
            }
        }
        (!lines.is_empty()).then(|| lines.join("; "))
    }

    /// As [`Self::export`], recording that the operator exported despite incomplete
    /// verification (`verification_override`: the coverage they accepted).
    pub fn export_with(
        &mut self,
        spec: &ExportSpec,
        reconstruction: Option<usize>,
        verification_override: Option<String>,
    ) -> Result<ExportRecord, CaseError> {
        exports::check_spec(spec).map_err(CaseError::Input)?;
        let hashes = self.mask_hashes();
        let empty: Vec<(String, Mesh)> = Vec::new();
        let meshes: &[(String, Mesh)] = if spec.format.is_surface() {
            let seq = reconstruction.ok_or_else(|| {
                CaseError::Input(format!(
                    "{}: a surface export needs a reconstruction first",
                    spec.file
                ))
            })?;
            let Some(Event::Reconstructed(r)) = self.files.events.get(seq) else {
                return Err(CaseError::Input(format!(
                    "journal record {seq} is not a reconstruction"
                )));
            };
            // A printer rejects or misprints these: refused unless the spec allows it.
            if let Some(why) = r
                .record
                .only(&spec.labels)
                .refusal(spec.allow_open, spec.allow_defects)
            {
                return Err(CaseError::Input(format!("{}: {why}", spec.file)));
            }
            for m in &r.masks {
                if hashes.get(&m.label) != Some(&m.mask_hash) {
                    return Err(CaseError::Input(format!(
                        "label `{}` changed after its surface was reconstructed; reconstruct again before exporting",
                        m.label
                    )));
                }
            }
            self.meshes.get(&seq).ok_or_else(|| {
                CaseError::Input(
                    "the surfaces of that reconstruction are not in memory; reconstruct again"
                        .into(),
                )
            })?
        } else {
            &empty
        };
        let dir = self.files.dir.join(EXPORTS_DIR);
        std::fs::create_dir_all(&dir).map_err(io_failed("create", &dir))?;
        let path = dir.join(&spec.file);
        let provenance = exports::Provenance {
            software: crate::export::surface::software(),
            pseudonym: self.files.record.pseudonym.clone(),
            series_uid: self.files.record.source.series_uid.clone(),
            volume_hash: self.files.record.source.volume_hash.clone(),
            segmentation_hash: self.session.log().final_hash.clone(),
            log_position: self.session.log().entries.len(),
            mask_hashes: hashes.clone(),
            dicom: exports::DicomSource::of(&self.files, self.session.log(), &self.operator),
        };
        exports::write(
            spec,
            &path,
            self.session.segmentation(),
            &self.volume,
            meshes,
            &provenance,
        )
        .map_err(CaseError::Failed)?;
        let (bytes, blake3) = source::hash_file(&path).map_err(io_failed("read back", &path))?;
        let record = ExportRecord {
            spec: spec.clone(),
            path: format!("{EXPORTS_DIR}/{}", spec.file),
            units: "mm".into(),
            frame: spec.format.frame().into(),
            mask_hashes: spec
                .labels
                .iter()
                .filter_map(|l| hashes.get(l).map(|h| (l.clone(), h.clone())))
                .collect(),
            segmentation_hash: provenance.segmentation_hash.clone(),
            log_position: provenance.log_position,
            reconstruction_seq: reconstruction.filter(|_| spec.format.is_surface()),
            bytes,
            blake3,
            software: provenance.software.clone(),
            verification_override,
            operator: self.operator.clone(),
            time: now_utc(),
        };
        self.append(Event::Exported(record.clone()))?;
        Ok(record)
    }

    /// Writes the operation log as `log.json` (for `hounsfield replay LOG.json INPUT`).
    pub fn write_log(&self) -> Result<PathBuf, CaseError> {
        let p = self.files.dir.join("log.json");
        let text = serde_json::to_vec_pretty(self.session.log())
            .map_err(|e| CaseError::Failed(e.to_string()))?;
        crate::io::atomic::write_atomic(&p, |w| {
            use std::io::Write;
            w.write_all(&text)?;
            w.write_all(b"\n")
        })
        .map_err(io_failed("write", &p))?;
        Ok(p)
    }

    /// The ledger's coverage against the masks now.
    pub fn coverage(&self) -> Vec<ledger::Coverage> {
        let mut seg = self.session.segmentation().clone();
        self.ledger.coverage(&mut seg)
    }
}
