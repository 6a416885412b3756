//! A segmentation session: the volume, the current labels, the log and the undo history.
//! All changes go through [`Session::apply`], so the log, undo and hashes stay in step.

use super::log::{self, EntryStatus, LabelChange, LogEntry, OperationLog, SliceRun};
use super::mask::{Mask, hex};
use super::model::Segmentation;
use super::op::{OpError, Operation};
use super::presets::Presets;
use super::undo::Delta;
use crate::volume::Volume;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Undo history is trimmed (oldest first) beyond this many bytes; trimmed steps stay in
/// the log and replay, they just cannot be undone interactively.
pub const DEFAULT_UNDO_BUDGET_BYTES: usize = 512 << 20;

/// A live segmentation with its log.
#[derive(Debug)]
pub struct Session {
    volume: Arc<Volume>,
    seg: Segmentation,
    log: OperationLog,
    undo: Vec<(usize, Delta)>,
    redo: Vec<(usize, Delta)>,
    /// Who is applying operations.
    pub operator: String,
    /// Label used when an operation names none.
    pub default_label: String,
    /// Threshold preset table.
    pub presets: Presets,
    /// Undo memory cap, bytes.
    pub undo_budget_bytes: usize,
    /// Where threshold and keep-largest run (the CPU unless set); the masks are the same.
    pub compute: crate::compute::Compute,
    generation: u64,
}

/// An operation with owned copies of its inputs, ready to compute on any thread.
#[derive(Debug)]
pub struct Staged {
    op: Operation,
    volume: Arc<Volume>,
    before: Segmentation,
    touched: Vec<String>,
    generation: u64,
    time: String,
    operator: String,
    compute: crate::compute::Compute,
}

/// What computing a staged operation produced, ready to commit.
#[derive(Debug)]
pub struct Computed {
    op: Operation,
    after: Segmentation,
    delta: Delta,
    outcome: super::op::Outcome,
    changes: Vec<LabelChange>,
    hashes: BTreeMap<String, String>,
    segmentation_hash: String,
    generation: u64,
    time: String,
    operator: String,
}

impl Staged {
    /// The operation, as it will be logged.
    pub fn op(&self) -> &Operation {
        &self.op
    }

    /// Runs on `compute` instead of the session's (the window's shared context, opened
    /// on the worker's thread).
    pub fn with_compute(mut self, compute: crate::compute::Compute) -> Self {
        self.compute = compute;
        self
    }

    /// Runs the operation (the slow part; no session needed).
    pub fn compute(self) -> Result<Computed, OpError> {
        let Staged {
            op,
            volume,
            before,
            touched,
            generation,
            time,
            operator,
            compute,
        } = self;
        let mut after = before.clone();
        let outcome = op.apply_on(&volume, &mut after, &compute)?;
        let before_masks: BTreeMap<String, Mask> = touched
            .iter()
            .filter_map(|n| before.get(n).map(|l| (n.clone(), l.mask.clone())))
            .collect();
        let delta = if before.dims() != after.dims() || before.geometry != after.geometry {
            Delta::regrid(&before, &after)
        } else {
            Delta::between(
                before.metas(),
                &before_masks,
                &after,
                outcome.renamed.clone(),
            )
        };
        let changes = label_changes(&before_masks, &after, &outcome);
        let mut hashes = BTreeMap::new();
        for name in &outcome.changed {
            if let Some(h) = after.hash_of(name) {
                hashes.insert(name.clone(), hex(&h));
            }
        }
        let segmentation_hash = after.final_hash_hex();
        Ok(Computed {
            op,
            after,
            delta,
            outcome,
            changes,
            hashes,
            segmentation_hash,
            generation,
            time,
            operator,
        })
    }
}

impl Computed {
    /// Slices whose mask the operation changed, by label (for redrawing only those).
    pub fn changed_slices(&self) -> Vec<(String, Vec<usize>)> {
        self.changes
            .iter()
            .map(|c| {
                (
                    c.label.clone(),
                    c.slices.iter().flat_map(|r| r.first..=r.last).collect(),
                )
            })
            .collect()
    }
}

impl Session {
    /// Starts an empty segmentation on a volume.
    pub fn new(
        volume: Arc<Volume>,
        description: &str,
        series_uid: Option<String>,
        operator: &str,
    ) -> Self {
        let h = hex(&log::volume_hash(&volume));
        Self::with_volume_hash(volume, h, description, series_uid, operator)
    }

    /// As [`Self::new`], with the volume's hash (hex) already known: it costs a pass over
    /// the whole volume, which a workstation does once per loaded series.
    pub fn with_volume_hash(
        volume: Arc<Volume>,
        volume_hash_hex: String,
        description: &str,
        series_uid: Option<String>,
        operator: &str,
    ) -> Self {
        let mut seg = Segmentation::new(volume.dims(), volume.geometry);
        let empty = seg.final_hash_hex();
        let log = OperationLog::new(&volume, volume_hash_hex, description, series_uid, empty);
        Self {
            volume,
            seg,
            log,
            undo: Vec::new(),
            redo: Vec::new(),
            operator: operator.to_string(),
            default_label: super::op::DEFAULT_LABEL.to_string(),
            presets: Presets::built_in(),
            undo_budget_bytes: DEFAULT_UNDO_BUDGET_BYTES,
            compute: crate::compute::Compute::cpu(),
            generation: 0,
        }
    }

    /// The current segmentation.
    pub fn segmentation(&self) -> &Segmentation {
        &self.seg
    }

    /// The log.
    pub fn log(&self) -> &OperationLog {
        &self.log
    }

    /// The volume.
    pub fn volume(&self) -> &Volume {
        &self.volume
    }

    /// Resolves an operation as it would be logged (implicit label, preset range).
    pub fn resolve(&self, mut op: Operation) -> Result<Operation, OpError> {
        op.resolve_label(&self.default_label);
        op.resolve_presets(&self.presets)?;
        Ok(op)
    }

    /// Applies an operation, logs it with hashes, and records its undo delta. On error
    /// nothing changes.
    pub fn apply(&mut self, op: Operation) -> Result<&LogEntry, OpError> {
        let op = self.resolve(op)?;
        let operator = self.operator.clone();
        let index = self.commit(op, log::now_utc(), operator)?;
        Ok(&self.log.entries[index])
    }

    /// Re-applies a logged entry (rebuilding a session from a journal): the operation is
    /// recomputed, and the entry is kept with its recorded time and operator. Errors say
    /// what differs from the record; the session is then no longer trustworthy.
    pub fn replay_entry(&mut self, entry: &LogEntry) -> Result<(), String> {
        let index = self
            .commit(entry.op.clone(), entry.time.clone(), entry.operator.clone())
            .map_err(|e| format!("the operation failed: {e}"))?;
        let got = &self.log.entries[index];
        if index != entry.index {
            return Err(format!(
                "it became log entry {index}, recorded as {}",
                entry.index
            ));
        }
        for (label, want) in &entry.hashes {
            match got.hashes.get(label) {
                Some(h) if h == want => {}
                other => {
                    return Err(format!(
                        "label `{label}`: expected {want}, got {}",
                        other.map_or("(label absent)", |h| h.as_str())
                    ));
                }
            }
        }
        if got.segmentation_hash != entry.segmentation_hash {
            return Err(format!(
                "segmentation: expected {}, got {}",
                entry.segmentation_hash, got.segmentation_hash
            ));
        }
        Ok(())
    }

    /// Takes back the last applied step entirely, as if it had never been applied (its
    /// log entry is removed): for a step whose record could not be saved.
    pub fn discard_last(&mut self) -> bool {
        let Some(last) = self.log.entries.len().checked_sub(1) else {
            return false;
        };
        match self.undo.last() {
            Some((index, _)) if *index == last => {}
            _ => return false,
        }
        if let Some((_, delta)) = self.undo.pop() {
            delta.undo(&mut self.seg);
            self.generation += 1;
        }
        self.log.entries.pop();
        self.log.final_hash = self.seg.final_hash_hex();
        true
    }

    /// Records the source's feasibility findings and interpolated slices in the log.
    pub fn record_source(
        &mut self,
        findings: Vec<crate::feasibility::Finding>,
        interpolated: Vec<usize>,
    ) {
        self.log.source.findings = findings;
        self.log.source.interpolated_slices = interpolated;
    }

    fn commit(&mut self, op: Operation, time: String, operator: String) -> Result<usize, OpError> {
        let staged = self.stage_as(op, time, operator)?;
        let computed = staged.compute()?;
        self.commit_computed(computed)
    }

    /// Prepares an operation to run away from the session (on a worker): resolves and
    /// validates it and takes owned copies of what it reads. The views keep the session
    /// meanwhile; [`Self::commit_computed`] takes the result back.
    pub fn stage(&mut self, op: Operation) -> Result<Staged, OpError> {
        let op = self.resolve(op)?;
        let operator = self.operator.clone();
        self.stage_as(op, log::now_utc(), operator)
    }

    fn stage_as(
        &mut self,
        op: Operation,
        time: String,
        operator: String,
    ) -> Result<Staged, OpError> {
        op.validate(&self.volume, &self.seg)?;
        let touched: Vec<String> = op.writes().unwrap_or_else(|| self.seg.names());
        // Hash first: afterwards only the slices the step touched are stale, and the
        // delta compares just those.
        for n in &touched {
            let _ = self.seg.hash_of(n);
        }
        Ok(Staged {
            op,
            volume: self.volume.clone(),
            before: self.seg.clone(),
            touched,
            generation: self.generation,
            time,
            operator,
            compute: self.compute.clone(),
        })
    }

    /// Takes a computed operation into the session: logs it with its hashes and keeps its
    /// undo delta. Refused when the session changed after the operation was staged.
    pub fn commit_computed(&mut self, c: Computed) -> Result<usize, OpError> {
        if c.generation != self.generation {
            return Err(OpError::invalid(
                "op",
                "the segmentation changed while the operation ran; apply it again",
            ));
        }
        self.seg = c.after;
        // A new step discards the redo branch; its entries stay in the log as undone.
        self.redo.clear();
        let index = self.log.entries.len();
        self.log.entries.push(LogEntry {
            index,
            op: c.op,
            time: c.time,
            operator: c.operator,
            status: EntryStatus::Applied,
            hashes: c.hashes,
            segmentation_hash: c.segmentation_hash.clone(),
            notes: c.outcome.notes,
            changes: c.changes,
        });
        self.log.final_hash = c.segmentation_hash;
        self.undo.push((index, c.delta));
        self.trim_undo();
        self.generation += 1;
        Ok(index)
    }

    /// Counts every change to the segmentation (apply, undo, redo), so a result computed
    /// on an older state is recognised.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The log index the next undo would take back.
    pub fn undo_index(&self) -> Option<usize> {
        self.undo.last().map(|(i, _)| *i)
    }

    /// The log index the next redo would restore.
    pub fn redo_index(&self) -> Option<usize> {
        self.redo.last().map(|(i, _)| *i)
    }

    /// Undoes the last applied step; false when there is none to undo.
    pub fn undo(&mut self) -> bool {
        let Some((index, delta)) = self.undo.pop() else {
            return false;
        };
        delta.undo(&mut self.seg);
        self.generation += 1;
        self.log.entries[index].status = EntryStatus::Undone;
        self.log.final_hash = self.seg.final_hash_hex();
        self.redo.push((index, delta));
        true
    }

    /// Redoes the last undone step; false when there is none.
    pub fn redo(&mut self) -> bool {
        let Some((index, delta)) = self.redo.pop() else {
            return false;
        };
        delta.redo(&mut self.seg);
        self.generation += 1;
        self.log.entries[index].status = EntryStatus::Applied;
        self.log.final_hash = self.seg.final_hash_hex();
        self.undo.push((index, delta));
        true
    }

    /// Bytes held by undo and redo deltas.
    pub fn undo_bytes(&self) -> usize {
        self.undo
            .iter()
            .chain(&self.redo)
            .map(|(_, d)| d.size_bytes())
            .sum()
    }

    /// Steps that can be undone now.
    pub fn undo_depth(&self) -> usize {
        self.undo.len()
    }

    fn trim_undo(&mut self) {
        while self.undo.len() > 1 && self.undo_bytes() > self.undo_budget_bytes {
            self.undo.remove(0);
        }
    }
}

/// Voxels added and removed per changed label, by runs of consecutive changed slices. Only
/// slices whose hash went stale can differ (see [`Session::apply`]).
fn label_changes(
    before: &BTreeMap<String, Mask>,
    seg: &Segmentation,
    outcome: &super::op::Outcome,
) -> Vec<LabelChange> {
    let dims = seg.dims();
    let empty = Mask::new(dims);
    let mut out = Vec::new();
    for name in &outcome.changed {
        let before_name = outcome
            .renamed
            .iter()
            .find(|(_, to)| to == name)
            .map_or(name.as_str(), |(from, _)| from.as_str());
        let old = before.get(before_name).unwrap_or(&empty);
        let now = seg.get(name).map_or(&empty, |l| &l.mask);
        if old.dims() != now.dims() {
            continue;
        }
        let sw = now.slice_words();
        let stale = now.stale_slices();
        let slices: Vec<usize> = if std::ptr::eq(now, &empty) {
            (0..dims[0]).collect()
        } else {
            stale
        };
        let mut change = LabelChange {
            label: name.clone(),
            added: 0,
            removed: 0,
            slices: Vec::new(),
        };
        for k in slices {
            let (a, b) = (
                &old.words()[k * sw..(k + 1) * sw],
                &now.words()[k * sw..(k + 1) * sw],
            );
            let added: u64 = a
                .iter()
                .zip(b)
                .map(|(x, y)| u64::from((y & !x).count_ones()))
                .sum();
            let removed: u64 = a
                .iter()
                .zip(b)
                .map(|(x, y)| u64::from((x & !y).count_ones()))
                .sum();
            if added + removed == 0 {
                continue;
            }
            change.added += added;
            change.removed += removed;
            match change.slices.last_mut() {
                Some(r) if r.last + 1 == k => {
                    r.last = k;
                    r.added += added;
                    r.removed += removed;
                }
                _ => change.slices.push(SliceRun {
                    first: k,
                    last: k,
                    added,
                    removed,
                }),
            }
        }
        out.push(change);
    }
    out
}
