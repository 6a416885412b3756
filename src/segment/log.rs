//! The operation log: append-only, one entry per applied operation with its time,
//! operator and the hash of every mask it changed. Undo marks an entry `undone` (it is
//! never deleted). Replay recomputes every mask from the source volume and checks each
//! hash, so anyone can verify that a segmentation came from these steps.

use super::mask::hex;
use super::model::Segmentation;
use super::op::Operation;
use crate::volume::Volume;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Format name written in every log.
pub const FORMAT: &str = "hounsfield-operation-log";

/// Whether an entry is part of the current history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    /// In the current history; replayed.
    Applied,
    /// Undone (and, once a new step was applied after it, discarded); kept for the record.
    Undone,
}

/// One logged step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Position in the log, from 0.
    pub index: usize,
    /// The operation, with every parameter resolved.
    pub op: Operation,
    /// When it was applied (UTC, RFC 3339); metadata only, never an input.
    pub time: String,
    /// Who applied it.
    pub operator: String,
    /// Applied or undone.
    pub status: EntryStatus,
    /// blake3 of each changed label's mask after the step (hex), by label name.
    pub hashes: BTreeMap<String, String>,
    /// Hash of the whole segmentation after the step.
    pub segmentation_hash: String,
    /// Values computed on the way (automatic thresholds, voxel counts).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Voxels the step added and removed, per changed label (for the report's summary of
    /// manual edits); metadata, not checked by replay.
    #[serde(default)]
    pub changes: Vec<LabelChange>,
}

/// What one step did to one label's voxels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelChange {
    /// The label (its name after the step).
    pub label: String,
    /// Voxels set by the step.
    pub added: u64,
    /// Voxels cleared by the step.
    pub removed: u64,
    /// The changed slices, as runs of consecutive slice indices.
    pub slices: Vec<SliceRun>,
}

/// Consecutive changed slices `first..=last` and what changed in them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceRun {
    /// First slice index.
    pub first: usize,
    /// Last slice index (inclusive).
    pub last: usize,
    /// Voxels set in these slices.
    pub added: u64,
    /// Voxels cleared in these slices.
    pub removed: u64,
}

/// What the log was recorded on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Where the volume came from (path, series).
    pub description: String,
    /// Series Instance UID, when DICOM.
    #[serde(default)]
    pub series_uid: Option<String>,
    /// blake3 of the HU volume and its geometry (see [`volume_hash`]).
    pub volume_hash: String,
    /// `[slices, rows, columns]`.
    pub dims: [usize; 3],
    /// Spacing `[slice, row, column]`, mm.
    pub spacing_mm: [f64; 3],
    /// The feasibility findings of the source, as the operator saw them.
    #[serde(default)]
    pub findings: Vec<crate::feasibility::Finding>,
    /// Slices of the volume interpolated across gaps of missing slices, not acquired.
    #[serde(default)]
    pub interpolated_slices: Vec<usize>,
}

/// The whole log, as written to LOG.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationLog {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Hounsfield version that wrote it.
    pub software: String,
    /// Where it was written (`ARCH-OS`, e.g. `x86_64-linux`): every hashed operation uses
    /// portable arithmetic (libm), so a log replays the same elsewhere; this says where.
    #[serde(default)]
    pub platform: String,
    /// The source volume.
    pub source: SourceRecord,
    /// Entries in order of application.
    pub entries: Vec<LogEntry>,
    /// Hash of the segmentation after the last applied entry.
    pub final_hash: String,
}

impl OperationLog {
    /// An empty log for a volume whose [`volume_hash`] (hex) is `volume_hash_hex`.
    pub fn new(
        volume: &Volume,
        volume_hash_hex: String,
        description: &str,
        series_uid: Option<String>,
        empty_hash: String,
    ) -> Self {
        let s = volume.geometry.spacing;
        Self {
            format: FORMAT.into(),
            version: 1,
            software: format!("hounsfield {}", env!("CARGO_PKG_VERSION")),
            platform: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
            source: SourceRecord {
                description: description.into(),
                series_uid,
                volume_hash: volume_hash_hex,
                dims: volume.dims(),
                spacing_mm: [s.slice, s.row, s.col],
                findings: Vec::new(),
                interpolated_slices: Vec::new(),
            },
            entries: Vec::new(),
            final_hash: empty_hash,
        }
    }

    /// Entries in the current history, in order.
    pub fn applied(&self) -> impl Iterator<Item = &LogEntry> {
        self.entries
            .iter()
            .filter(|e| e.status == EntryStatus::Applied)
    }
}

/// blake3 of a volume: domain string, dims, geometry (f64 LE) and voxels (i16 LE).
pub fn volume_hash(v: &Volume) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"hounsfield-volume-v1");
    for d in v.dims() {
        h.update(&(d as u64).to_le_bytes());
    }
    let g = v.geometry;
    let s = g.spacing;
    let nums = [
        g.origin.0.x,
        g.origin.0.y,
        g.origin.0.z,
        g.col_dir.get().x,
        g.col_dir.get().y,
        g.col_dir.get().z,
        g.row_dir.get().x,
        g.row_dir.get().y,
        g.row_dir.get().z,
        g.slice_dir.get().x,
        g.slice_dir.get().y,
        g.slice_dir.get().z,
        s.col,
        s.row,
        s.slice,
    ];
    for x in nums {
        h.update(&x.to_le_bytes());
    }
    match v.hu.as_slice() {
        Some(data) => {
            let mut buf = Vec::with_capacity(1 << 20);
            for chunk in data.chunks(1 << 19) {
                buf.clear();
                for x in chunk {
                    buf.extend_from_slice(&x.to_le_bytes());
                }
                h.update_rayon(&buf);
            }
        }
        None => {
            for x in &v.hu {
                h.update(&x.to_le_bytes());
            }
        }
    }
    *h.finalize().as_bytes()
}

/// The outcome of replaying one entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepCheck {
    /// Entry index.
    pub index: usize,
    /// Operation name.
    pub op: String,
    /// `None` when every hash matched; otherwise what differed.
    pub mismatch: Option<String>,
}

/// The outcome of a replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Whether the volume is the one the log was recorded on.
    pub volume_matches: bool,
    /// One line per applied entry, up to the first failure.
    pub steps: Vec<StepCheck>,
    /// Whether the final hash matched.
    pub final_matches: bool,
    /// The segmentation rebuilt.
    #[serde(skip)]
    pub segmentation: Option<Segmentation>,
}

impl ReplayReport {
    /// True when everything matched.
    pub fn ok(&self) -> bool {
        self.volume_matches && self.final_matches && self.steps.iter().all(|s| s.mismatch.is_none())
    }
}

/// Recomputes every applied entry from the volume and checks each hash.
pub fn replay(volume: &Volume, log: &OperationLog) -> ReplayReport {
    let volume_matches = hex(&volume_hash(volume)) == log.source.volume_hash;
    let mut seg = Segmentation::new(volume.dims(), volume.geometry);
    let mut steps = Vec::new();
    for e in log.applied() {
        let mismatch = match e.op.apply(volume, &mut seg) {
            Err(err) => Some(format!("the operation failed: {err}")),
            Ok(_) => {
                let mut bad = None;
                for (label, want) in &e.hashes {
                    let got = seg
                        .hash_of(label)
                        .map_or_else(|| "(label absent)".to_string(), |h| hex(&h));
                    if &got != want {
                        bad = Some(format!("label `{label}`: expected {want}, got {got}"));
                        break;
                    }
                }
                if bad.is_none() {
                    let got = seg.final_hash_hex();
                    if got != e.segmentation_hash {
                        bad = Some(format!(
                            "segmentation: expected {}, got {got}",
                            e.segmentation_hash
                        ));
                    }
                }
                bad
            }
        };
        let failed = mismatch.is_some();
        steps.push(StepCheck {
            index: e.index,
            op: e.op.name().to_string(),
            mismatch,
        });
        if failed {
            return ReplayReport {
                volume_matches,
                steps,
                final_matches: false,
                segmentation: None,
            };
        }
    }
    let final_matches = seg.final_hash_hex() == log.final_hash;
    ReplayReport {
        volume_matches,
        steps,
        final_matches,
        segmentation: Some(seg),
    }
}

/// Now as RFC 3339 UTC, to the second.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day number (days since 1970-01-01; Hinnant).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1000i64, 0, 11_017, 16_472, 20_783] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(crate::feasibility::days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
