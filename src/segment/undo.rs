//! Reversible deltas: undo never copies whole volumes per step. A delta holds, for each
//! label a step changed, the xor of its mask words before and after, stored as runs of
//! non-zero words (ITK-SNAP keeps run-length diffs the same way), plus the label list
//! before and after and any renames.

use super::mask::{Mask, XorRuns};
use super::model::{LabelMeta, Segmentation};
use std::collections::BTreeMap;

/// What one step changed, reversibly.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    /// Labels before the step.
    pub before: Vec<LabelMeta>,
    /// Labels after the step.
    pub after: Vec<LabelMeta>,
    /// Renames `(from, to)` done by the step.
    pub renamed: Vec<(String, String)>,
    /// Mask xors, keyed by the label's name before the step (after, for new labels).
    pub masks: Vec<(String, XorRuns)>,
    /// A step that changed the grid (resample): xors cannot span two grids, so the whole
    /// segmentation before and after is kept (bit masks: 1 bit per voxel per label).
    pub regrid: Option<Box<(Segmentation, Segmentation)>>,
}

impl Delta {
    /// Computes the delta between `before` (the touched labels as they were; the
    /// metadata of all) and the segmentation now.
    pub fn between(
        before_metas: Vec<LabelMeta>,
        before_masks: &BTreeMap<String, Mask>,
        after: &Segmentation,
        renamed: Vec<(String, String)>,
    ) -> Self {
        let dims = after.dims();
        let after_name = |before: &str| -> String {
            renamed
                .iter()
                .find(|(f, _)| f == before)
                .map_or(before.to_string(), |(_, t)| t.clone())
        };
        let mut masks = Vec::new();
        let empty = Mask::new(dims);
        for (name, old) in before_masks {
            let now = after.get(&after_name(name)).map_or(&empty, |l| &l.mask);
            // `old` had every slice hashed before the step (see Session::apply), so the
            // slices stale in `now` are the only ones that can differ, unless the step
            // replaced the mask (then all are stale).
            let stale = now.stale_slices();
            let runs = if std::ptr::eq(now, &empty) {
                now.diff_runs(old)
            } else {
                now.diff_runs_in(old, &stale)
            };
            if let Some(runs) = runs
                && !runs.is_empty()
            {
                masks.push((name.clone(), runs));
            }
        }
        // Labels created by the step.
        for l in after.labels() {
            let existed = before_metas
                .iter()
                .any(|m| after_name(&m.name) == l.meta.name);
            if !existed
                && let Some(runs) = l.mask.diff_runs(&empty)
                && !runs.is_empty()
            {
                masks.push((l.meta.name.clone(), runs));
            }
        }
        Self {
            before: before_metas,
            after: after.metas(),
            renamed,
            masks,
            regrid: None,
        }
    }

    /// The delta of a step that moved the segmentation to another grid.
    pub fn regrid(before: &Segmentation, after: &Segmentation) -> Self {
        Self {
            before: before.metas(),
            after: after.metas(),
            renamed: Vec::new(),
            masks: Vec::new(),
            regrid: Some(Box::new((before.clone(), after.clone()))),
        }
    }

    /// True when the step changed nothing.
    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
            && self.before == self.after
            && self.renamed.is_empty()
            && self.regrid.is_none()
    }

    /// Memory held, bytes.
    pub fn size_bytes(&self) -> usize {
        let meta = |v: &Vec<LabelMeta>| {
            v.iter()
                .map(|m| m.name.len() + m.clinical_name.len() + 64)
                .sum::<usize>()
        };
        meta(&self.before)
            + meta(&self.after)
            + self
                .masks
                .iter()
                .map(|(n, r)| n.len() + 48 + r.size_bytes())
                .sum::<usize>()
            + self.regrid.as_ref().map_or(0, |b| {
                [&b.0, &b.1]
                    .iter()
                    .flat_map(|s| s.labels())
                    .map(|l| l.mask.words().len() * 8)
                    .sum()
            })
    }

    /// Takes `seg` from the state after the step back to the state before it.
    pub fn undo(&self, seg: &mut Segmentation) {
        if let Some(b) = &self.regrid {
            *seg = b.0.clone();
            return;
        }
        for (from, to) in &self.renamed {
            if let Some(l) = seg.get_mut(to) {
                l.meta.name = from.clone();
            }
        }
        self.xor(seg);
        seg.restore_metas(&self.before);
    }

    /// Takes `seg` from the state before the step to the state after it.
    pub fn redo(&self, seg: &mut Segmentation) {
        if let Some(b) = &self.regrid {
            *seg = b.1.clone();
            return;
        }
        self.xor(seg);
        for (from, to) in &self.renamed {
            if let Some(l) = seg.get_mut(from) {
                l.meta.name = to.clone();
            }
        }
        seg.restore_metas(&self.after);
    }

    fn xor(&self, seg: &mut Segmentation) {
        for (name, runs) in &self.masks {
            seg.ensure(name).mask.xor_runs(runs);
        }
    }
}
