//! Boolean operations between labels, and inversion.

use crate::segment::mask::Mask;
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, require_label, target};
use crate::volume::Volume;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoolOp {
    /// a ∪ b.
    Union,
    /// a ∩ b.
    Intersect,
    /// a ∖ b.
    Subtract,
    /// a ⊕ b.
    Xor,
}

/// `into = a <op> b`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boolean {
    /// The operator.
    pub operation: BoolOp,
    /// First operand.
    pub a: String,
    /// Second operand.
    pub b: String,
    /// Result label (default: `a`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
}

/// Inverts a label within the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invert {
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl SegOp for Boolean {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        require_label(seg, &self.a, "a")?;
        require_label(seg, &self.b, "b")
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let a = seg
            .get(&self.a)
            .ok_or_else(|| OpError::NoLabel(self.a.clone()))?;
        let b = seg
            .get(&self.b)
            .ok_or_else(|| OpError::NoLabel(self.b.clone()))?;
        let mut out = Mask::new(a.mask.dims());
        let f: fn(u64, u64) -> u64 = match self.operation {
            BoolOp::Union => |x, y| x | y,
            BoolOp::Intersect => |x, y| x & y,
            BoolOp::Subtract => |x, y| x & !y,
            BoolOp::Xor => |x, y| x ^ y,
        };
        out.words_mut()
            .par_iter_mut()
            .zip(a.mask.words().par_iter().zip(b.mask.words()))
            .for_each(|(o, (x, y))| *o = f(*x, *y));
        let into = self.into.clone().unwrap_or_else(|| self.a.clone());
        seg.set_mask(&into, out);
        Ok(Outcome::changed(&into))
    }
}

impl SegOp for Invert {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        require_label(seg, target(&self.label), "label")
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let t = target(&self.label);
        let l = seg.get_mut(t).ok_or_else(|| OpError::NoLabel(t.into()))?;
        let [_, _, cols] = l.mask.dims();
        let rw = l.mask.row_words();
        // Padding bits beyond the last column stay zero.
        let last_bits = cols % 64;
        let last_mask = if last_bits == 0 {
            u64::MAX
        } else {
            (1u64 << last_bits) - 1
        };
        for (idx, w) in l.mask.words_mut().iter_mut().enumerate() {
            *w = !*w;
            if rw > 0 && idx % rw == rw - 1 {
                *w &= last_mask;
            }
        }
        Ok(Outcome::changed(t))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}
