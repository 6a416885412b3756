//! Physician review (ISO/IEC 3532-1 §6.5): a decision — approve, or return with notes — bound
//! to the exact content reviewed (the hashes of `case.json`, every label's mask, the
//! reconstructions and the exports) and signed with the reviewer's own ed25519 key.
//!
//! The decision is a journal event like every other. What makes it more than a status flag
//! is that [`status`] recomputes what it was given for: any change afterwards — one voxel of
//! a label, an export re-made, `case.json` edited — shows the approval as void and says
//! what changed, and an edited decision (a reviewer's name changed by hand) fails its
//! signature.

pub mod key;

use crate::case::event::Event;
use crate::case::files::{CaseFiles, ExportState};
use crate::case::ledger::Orientation;
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Domain separation: a review signature can never be taken for a signature of anything
/// else made with the same key.
const CONTEXT: &[u8] = b"hounsfield review decision 1\n";

/// Approve for manufacture, or return to the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The segmentation and model may be manufactured as they are.
    Approved,
    /// The operator must change something first (the notes say what).
    Returned,
}

impl Verdict {
    /// The name written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Returned => "returned",
        }
    }
}

/// A slice a note is pinned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceRef {
    /// The label whose ledger the slice reopens in.
    pub label: String,
    /// The orientation.
    pub orientation: Orientation,
    /// The plane index.
    pub index: usize,
}

/// A reviewer's note, optionally pinned to a slice or a point on the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewNote {
    /// What the reviewer says.
    pub text: String,
    /// The slice it is about (it is flagged in the ledger with this note).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<SliceRef>,
    /// The point on the model it is about, patient LPS millimetres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_lps_mm: Option<[f64; 3]>,
}

/// An export as reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewedExport {
    /// Its journal record.
    pub seq: usize,
    /// Path in the case.
    pub path: String,
    /// blake3 of the file.
    pub blake3: String,
}

/// What the reviewer saw, by hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewed {
    /// blake3 of `case.json`'s bytes.
    pub case_record_blake3: String,
    /// Journal records before the decision.
    pub journal_records: usize,
    /// Hash of the whole segmentation.
    pub segmentation_hash: String,
    /// Each label's mask hash.
    pub masks: BTreeMap<String, String>,
    /// The journal records of the reconstructions made from these masks.
    pub reconstructions: Vec<usize>,
    /// The current exports.
    pub exports: Vec<ReviewedExport>,
}

/// The decision, as signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Approve or return.
    pub verdict: Verdict,
    /// Who decided (the physician's name as they give it).
    pub reviewer: String,
    /// When (UTC, RFC 3339).
    pub time: String,
    /// The notes.
    pub notes: Vec<ReviewNote>,
    /// What was reviewed.
    pub reviewed: Reviewed,
    /// The reviewer's ed25519 public key, hex.
    pub public_key: String,
    /// Its fingerprint ([`key::fingerprint`]).
    pub fingerprint: String,
    /// The software that recorded it.
    pub software: String,
}

impl Decision {
    /// The bytes the signature covers.
    pub fn message(&self) -> Vec<u8> {
        let mut m = CONTEXT.to_vec();
        // Field order is the struct's and maps are sorted, so the encoding is canonical.
        m.extend(serde_json::to_vec(self).unwrap_or_default());
        m
    }
}

/// A decision with its signature: the journal event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedDecision {
    /// The decision.
    pub decision: Decision,
    /// ed25519 signature of [`Decision::message`], hex.
    pub signature: String,
}

impl SignedDecision {
    /// Signs `decision` with `key` (its public key and fingerprint are written into it).
    pub fn sign(mut decision: Decision, key: &key::ReviewerKey) -> Self {
        decision.public_key = key::public_hex(&key.public());
        decision.fingerprint = key.fingerprint();
        let signature = key.sign(&decision.message());
        Self {
            decision,
            signature,
        }
    }

    /// Whether the signature holds for the decision as it is written; why not otherwise.
    pub fn verify(&self) -> Result<(), String> {
        let d = &self.decision;
        let public = key::parse_public(&d.public_key)?;
        if key::fingerprint(&public) != d.fingerprint {
            return Err("the fingerprint does not belong to the public key".into());
        }
        let sig =
            key::from_hex::<64>(&self.signature).ok_or("the signature is not 128 hex digits")?;
        public
            .verify_strict(&d.message(), &Signature::from_bytes(&sig))
            .map_err(|_| {
                "the signature does not match the decision: it was edited after it was signed"
                    .to_string()
            })
    }
}

/// What the case holds now, to compare with what was reviewed.
pub fn snapshot(
    files: &CaseFiles,
    masks: BTreeMap<String, String>,
    segmentation_hash: String,
) -> Reviewed {
    let reconstructions = files
        .reconstructions()
        .into_iter()
        .filter(|(_, r)| {
            r.masks
                .iter()
                .all(|m| masks.get(&m.label) == Some(&m.mask_hash))
        })
        .map(|(seq, _)| seq)
        .collect();
    let exports = files
        .export_states()
        .into_iter()
        .filter(|(_, _, s)| *s != ExportState::Superseded)
        .map(|(seq, x, _)| ReviewedExport {
            seq,
            path: x.path.clone(),
            blake3: x.blake3.clone(),
        })
        .collect();
    Reviewed {
        case_record_blake3: record_blake3(files),
        journal_records: files.events.len(),
        segmentation_hash,
        masks,
        reconstructions,
        exports,
    }
}

/// blake3 of `case.json` as it is on disk ("unreadable: …" when it cannot be read).
pub fn record_blake3(files: &CaseFiles) -> String {
    match std::fs::read(files.dir.join(crate::case::RECORD_FILE)) {
        Ok(b) => blake3::hash(&b).to_hex().to_string(),
        Err(e) => format!("unreadable: {e}"),
    }
}

/// One decision as the status and the report show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRow {
    /// Journal record.
    pub seq: usize,
    /// The decision as recorded.
    pub decision: Decision,
    /// Whether the signature holds.
    pub signature_valid: bool,
    /// Why not, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_problem: Option<String>,
}

/// The review state of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewStatus {
    /// `none`, `approved`, `returned`, `void` (approved, then changed) or
    /// `signature-invalid` (the latest decision was edited after signing).
    pub state: String,
    /// Every decision, oldest first.
    pub decisions: Vec<DecisionRow>,
    /// For `void`: what changed after the approval; for `signature-invalid`: why.
    pub changes: Vec<String>,
}

impl ReviewStatus {
    /// Whether the case is approved now (signature valid, nothing changed since).
    pub fn approved(&self) -> bool {
        self.state == "approved"
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let who = self.decisions.last().map(|d| {
            format!(
                "{} at {} (key {})",
                d.decision.reviewer, d.decision.time, d.decision.fingerprint
            )
        });
        match (self.state.as_str(), who) {
            ("none", _) | (_, None) => "not reviewed".into(),
            ("approved", Some(w)) => format!("APPROVED by {w}; signature valid, content unchanged"),
            ("returned", Some(w)) => format!("RETURNED by {w}"),
            ("void", Some(w)) => format!("approval by {w} is VOID: {}", self.changes.join("; ")),
            (_, Some(w)) => format!(
                "decision by {w} has an INVALID SIGNATURE: {}",
                self.changes.join("; ")
            ),
        }
    }
}

/// The review state of a case: its decisions, their signatures, and what changed since
/// the latest one. `masks` and `segmentation_hash` are the case's now (from a replay).
pub fn status(
    files: &CaseFiles,
    masks: &BTreeMap<String, String>,
    segmentation_hash: &str,
) -> ReviewStatus {
    let decisions: Vec<DecisionRow> = files
        .events
        .iter()
        .enumerate()
        .filter_map(|(seq, e)| match e {
            Event::Reviewed(s) => {
                let check = s.verify();
                Some(DecisionRow {
                    seq,
                    decision: s.decision.clone(),
                    signature_valid: check.is_ok(),
                    signature_problem: check.err(),
                })
            }
            _ => None,
        })
        .collect();
    let Some(last) = decisions.last() else {
        return ReviewStatus {
            state: "none".into(),
            decisions,
            changes: Vec::new(),
        };
    };
    if let Some(p) = &last.signature_problem {
        let changes = vec![p.clone()];
        return ReviewStatus {
            state: "signature-invalid".into(),
            decisions,
            changes,
        };
    }
    if last.decision.verdict == Verdict::Returned {
        return ReviewStatus {
            state: "returned".into(),
            decisions,
            changes: Vec::new(),
        };
    }
    let now = snapshot(files, masks.clone(), segmentation_hash.to_string());
    let changes = differences(&last.decision.reviewed, &now, files, last.seq);
    ReviewStatus {
        state: if changes.is_empty() {
            "approved"
        } else {
            "void"
        }
        .into(),
        decisions,
        changes,
    }
}

/// What differs between the content reviewed and the content now, in words.
fn differences(was: &Reviewed, now: &Reviewed, files: &CaseFiles, seq: usize) -> Vec<String> {
    let mut out = Vec::new();
    if was.case_record_blake3 != now.case_record_blake3 {
        out.push(format!(
            "case.json changed after the review (blake3 {} → {})",
            short(&was.case_record_blake3),
            short(&now.case_record_blake3)
        ));
    }
    for (label, h) in &was.masks {
        match now.masks.get(label) {
            None => out.push(format!("label `{label}` was removed after the review")),
            Some(n) if n != h => out.push(format!(
                "label `{label}` changed after the review (mask {} → {})",
                short(h),
                short(n)
            )),
            Some(_) => {}
        }
    }
    for label in now.masks.keys().filter(|l| !was.masks.contains_key(*l)) {
        out.push(format!("label `{label}` was added after the review"));
    }
    for (i, e) in files.events.iter().enumerate().skip(seq + 1) {
        match e {
            Event::Exported(x) => out.push(format!(
                "{} was exported again after the review (journal record {i})",
                x.path
            )),
            Event::Reconstructed(_) => out.push(format!(
                "a new reconstruction was made after the review (journal record {i})"
            )),
            _ => {}
        }
    }
    let states = files.export_states();
    for x in &was.exports {
        match states.iter().find(|(s, _, _)| *s == x.seq) {
            Some((_, _, ExportState::Changed)) => out.push(format!(
                "{} was changed on disk after the review (its blake3 is no longer {})",
                x.path,
                short(&x.blake3)
            )),
            Some((_, _, ExportState::Missing)) => {
                out.push(format!("{} is missing", x.path));
            }
            _ => {}
        }
    }
    out
}

fn short(h: &str) -> &str {
    h.get(..16).unwrap_or(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision() -> Decision {
        Decision {
            verdict: Verdict::Approved,
            reviewer: "Dr. A. Reviewer".into(),
            time: "2026-12-02T10:00:00Z".into(),
            notes: vec![ReviewNote {
                text: "rim at 0.1 mm".into(),
                slice: None,
                point_lps_mm: Some([0.1, -20.000000000000004, 1e-7]),
            }],
            reviewed: Reviewed {
                case_record_blake3: "aa".into(),
                journal_records: 4,
                segmentation_hash: "bb".into(),
                masks: BTreeMap::from([("bone".into(), "cc".into())]),
                reconstructions: vec![2],
                exports: vec![],
            },
            public_key: String::new(),
            fingerprint: String::new(),
            software: "Hounsfield test".into(),
        }
    }

    #[test]
    fn a_signature_holds_after_a_json_round_trip_and_breaks_on_any_edit() {
        let dir = tempfile::tempdir().expect("tmp");
        let k = key::ReviewerKey::load_or_create(&dir.path().join(key::KEY_FILE)).expect("key");
        let s = SignedDecision::sign(decision(), &k);
        assert_eq!(s.verify(), Ok(()));
        let text = serde_json::to_string(&s).expect("json");
        let back: SignedDecision = serde_json::from_str(&text).expect("read");
        assert_eq!(
            back.verify(),
            Ok(()),
            "floats and maps re-encode to the same bytes"
        );
        let mut edited = back.clone();
        edited.decision.reviewer = "Dr. B. Other".into();
        assert!(edited.verify().unwrap_err().contains("edited"));
        let mut edited = back.clone();
        edited
            .decision
            .reviewed
            .masks
            .insert("bone".into(), "cd".into());
        assert!(edited.verify().is_err());
        // Another key cannot pass for this one: its fingerprint would differ.
        let k2 = key::ReviewerKey::load_or_create(&dir.path().join("other.key")).expect("key");
        let mut swapped = back;
        swapped.decision.public_key = key::public_hex(&k2.public());
        assert!(swapped.verify().unwrap_err().contains("fingerprint"));
    }
}
