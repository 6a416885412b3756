//! A case's review decisions and measurements: the physician's signed decision on the
//! case as it is now (see [`crate::review`]), its state, and measurements taken on the
//! volume — each a journal event.

use super::event::{self, Event};
use super::ledger::MarkState;
use super::{Case, CaseError};
use crate::segment::log::now_utc;

impl Case {
    /// Records a physician's decision on the case as it is now, signed with `key`. Notes
    /// pinned to a slice flag that slice in the ledger (with the note). An approval needs
    /// the findings acknowledged and something to approve (a label).
    pub fn review(
        &mut self,
        verdict: crate::review::Verdict,
        reviewer: &str,
        notes: Vec<crate::review::ReviewNote>,
        key: &crate::review::key::ReviewerKey,
    ) -> Result<usize, CaseError> {
        use crate::review::{Decision, SignedDecision, Verdict};
        let reviewer = reviewer.trim();
        if reviewer.is_empty() {
            return Err(CaseError::Input(
                "a review needs the reviewer's name (--reviewer NAME)".into(),
            ));
        }
        if verdict == Verdict::Approved {
            let open = self.unacknowledged();
            if !open.is_empty() {
                return Err(CaseError::Unacknowledged(open));
            }
            if self.session.segmentation().labels().is_empty() {
                return Err(CaseError::Input(
                    "there is nothing to approve: the case has no label".into(),
                ));
            }
        }
        if verdict == Verdict::Returned && notes.iter().all(|n| n.text.trim().is_empty()) {
            return Err(CaseError::Input(
                "returning a case needs a note saying what to change (--note TEXT)".into(),
            ));
        }
        let planes = self.session.segmentation().dims();
        for n in &notes {
            if let Some(sl) = &n.slice {
                if self.session.segmentation().get(&sl.label).is_none() {
                    return Err(CaseError::Input(format!(
                        "the note is pinned to label `{}`, which does not exist",
                        sl.label
                    )));
                }
                let count = sl.orientation.count(planes);
                if sl.index >= count {
                    return Err(CaseError::Input(format!(
                        "the note is pinned to {} plane {}, which does not exist (0..{count})",
                        sl.orientation.as_str(),
                        sl.index
                    )));
                }
            }
        }
        let reviewed = crate::review::snapshot(
            &self.files,
            self.mask_hashes(),
            self.session.log().final_hash.clone(),
        );
        let decision = Decision {
            verdict,
            reviewer: reviewer.to_string(),
            time: now_utc(),
            notes: notes.clone(),
            reviewed,
            public_key: String::new(),
            fingerprint: String::new(),
            software: format!("Hounsfield {}", env!("CARGO_PKG_VERSION")),
        };
        let signed = SignedDecision::sign(decision, key);
        let seq = self.append(Event::Reviewed(Box::new(signed)))?;
        let who = std::mem::replace(&mut self.operator, reviewer.to_string());
        let mut flagged = Ok(());
        for n in &notes {
            if let Some(sl) = &n.slice {
                flagged = self.mark(
                    &sl.label,
                    sl.orientation,
                    sl.index,
                    MarkState::Flagged,
                    Some(format!("review: {}", n.text)),
                );
                if flagged.is_err() {
                    break;
                }
            }
        }
        self.operator = who;
        flagged.map(|()| seq)
    }

    /// The review state now: decisions, signatures, and what changed since.
    pub fn review_status(&self) -> crate::review::ReviewStatus {
        crate::review::status(
            &self.files,
            &self.mask_hashes(),
            &self.session.log().final_hash,
        )
    }

    /// Takes a measurement on the case's volume and records it.
    pub fn measure(
        &mut self,
        name: &str,
        shape: crate::measure::Shape,
    ) -> Result<usize, CaseError> {
        let mask = match &shape {
            crate::measure::Shape::Label { label } => Some(
                self.session
                    .segmentation()
                    .get(label)
                    .map(|l| l.mask.clone())
                    .ok_or_else(|| CaseError::Input(format!("label `{label}` does not exist")))?,
            ),
            _ => None,
        };
        let figures = crate::measure::compute(&shape, &self.volume, mask.as_ref())
            .map_err(CaseError::Input)?;
        let name = if name.trim().is_empty() {
            format!("{} {}", shape.kind(), self.measurements().len() + 1)
        } else {
            name.trim().to_string()
        };
        self.append(Event::Measured(Box::new(crate::measure::Measurement {
            name,
            shape,
            figures,
            operator: self.operator.clone(),
            time: now_utc(),
        })))
    }

    /// Withdraws the measurement recorded at journal position `seq`.
    pub fn remove_measurement(&mut self, seq: usize) -> Result<(), CaseError> {
        if !self.measurements().iter().any(|(s, _)| *s == seq) {
            return Err(CaseError::Input(format!(
                "journal record {seq} is not a current measurement"
            )));
        }
        self.append(Event::MeasurementRemoved(event::MeasurementRemoval {
            seq,
            operator: self.operator.clone(),
            time: now_utc(),
        }))
        .map(|_| ())
    }

    /// The measurements not withdrawn, with their journal positions.
    pub fn measurements(&self) -> Vec<(usize, &crate::measure::Measurement)> {
        self.files.measurements()
    }
}
