//! Label bookkeeping: add, copy, rename, delete.

use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, require_label};
use crate::volume::Volume;
use serde::{Deserialize, Serialize};

fn check_name(name: &str, field: &str) -> Result<(), OpError> {
    if name.trim().is_empty() || name.len() > 64 {
        return Err(OpError::invalid(
            field,
            "a label name is 1 to 64 characters",
        ));
    }
    Ok(())
}

/// Adds an empty label (or updates its clinical name and colour).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddLabel {
    /// Name used by operations.
    pub name: String,
    /// Clinical name for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinical_name: Option<String>,
    /// Display colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<[u8; 3]>,
}

/// Copies a label's mask to another label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyLabel {
    /// Source.
    pub from: String,
    /// Destination (created or overwritten).
    pub to: String,
}

/// Renames a label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameLabel {
    /// Old name.
    pub from: String,
    /// New name (must be free).
    pub to: String,
}

/// Deletes a label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteLabel {
    /// The label.
    pub name: String,
}

impl SegOp for AddLabel {
    fn validate(&self, _: &Volume, _: &Segmentation) -> Result<(), OpError> {
        check_name(&self.name, "name")
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let l = seg.ensure(&self.name);
        if let Some(c) = &self.clinical_name {
            l.meta.clinical_name = c.clone();
        }
        if let Some(c) = self.color {
            l.meta.color = c;
        }
        Ok(Outcome::changed(&self.name))
    }
}

impl SegOp for CopyLabel {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        check_name(&self.to, "to")?;
        require_label(seg, &self.from, "from")
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let m = seg
            .get(&self.from)
            .ok_or_else(|| OpError::NoLabel(self.from.clone()))?
            .mask
            .clone();
        seg.set_mask(&self.to, m);
        Ok(Outcome::changed(&self.to))
    }
}

impl SegOp for RenameLabel {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        check_name(&self.to, "to")?;
        require_label(seg, &self.from, "from")?;
        if seg.get(&self.to).is_some() {
            return Err(OpError::invalid(
                "to",
                format!("label `{}` already exists", self.to),
            ));
        }
        Ok(())
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let l = seg
            .get_mut(&self.from)
            .ok_or_else(|| OpError::NoLabel(self.from.clone()))?;
        l.meta.name = self.to.clone();
        Ok(Outcome {
            changed: vec![self.to.clone()],
            renamed: vec![(self.from.clone(), self.to.clone())],
            notes: Vec::new(),
        })
    }
}

impl SegOp for DeleteLabel {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        require_label(seg, &self.name, "name")
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        seg.remove(&self.name);
        Ok(Outcome::changed(&self.name))
    }
}
