//! Islands (connected components): keep the largest, keep those holding seeds, remove the
//! small ones, or split each into its own label.

use crate::segment::components::{self, Connectivity};
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, require_label, target};
use crate::segment::seeds::{self, Seed};
use crate::volume::Volume;
use serde::{Deserialize, Serialize};

fn default_conn() -> Connectivity {
    Connectivity::TwentySix
}

/// Keeps only the largest island of the label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepLargest {
    /// 6, 18 or 26.
    #[serde(default = "default_conn")]
    pub connectivity: Connectivity,
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Keeps the islands that hold a seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepSelected {
    /// Seeds.
    pub seeds: Vec<Seed>,
    /// 6, 18 or 26.
    #[serde(default = "default_conn")]
    pub connectivity: Connectivity,
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Removes islands smaller than a volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveSmall {
    /// Islands below this volume (mm³) are removed.
    pub min_volume_mm3: f64,
    /// 6, 18 or 26.
    #[serde(default = "default_conn")]
    pub connectivity: Connectivity,
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Splits the label's islands into labels `<prefix>1`, `<prefix>2`, ... by decreasing size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitIslands {
    /// 6, 18 or 26.
    #[serde(default = "default_conn")]
    pub connectivity: Connectivity,
    /// At most this many new labels (the largest islands).
    #[serde(default = "default_max_labels")]
    pub max_labels: usize,
    /// Islands below this volume (mm³) get no label.
    #[serde(default)]
    pub min_volume_mm3: f64,
    /// Prefix of the new labels' names (default: the label's name and `_`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The label split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

fn default_max_labels() -> usize {
    10
}

impl SegOp for KeepLargest {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        require_label(seg, target(&self.label), "label")
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        self.apply_on(v, seg, &crate::compute::Compute::cpu())
    }
    fn apply_on(
        &self,
        _: &Volume,
        seg: &mut Segmentation,
        compute: &crate::compute::Compute,
    ) -> Result<Outcome, OpError> {
        let t = target(&self.label);
        let l = seg.get(t).ok_or_else(|| OpError::NoLabel(t.into()))?;
        let (largest, record) = compute.keep_largest(&l.mask, self.connectivity);
        let mut note = format!(
            "{} islands; kept the largest, {} voxels",
            largest.components, largest.voxels
        );
        if compute.accelerator().is_some() {
            note.push_str(&format!("; computed on {}", record.line()));
        }
        seg.set_mask(t, largest.mask);
        Ok(Outcome::changed(t).note(note))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

impl SegOp for KeepSelected {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        require_label(seg, target(&self.label), "label")?;
        seeds::resolve(&self.seeds, seg.dims(), &seg.geometry).map(|_| ())
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let t = target(&self.label);
        let s = seeds::resolve(&self.seeds, seg.dims(), &seg.geometry)?;
        let l = seg.get(t).ok_or_else(|| OpError::NoLabel(t.into()))?;
        let c = components::label(&l.mask, self.connectivity, false);
        let ids: Vec<u32> = s
            .iter()
            .filter_map(|v| c.component_at(v[0], v[1], v[2]))
            .collect();
        let m = c.mask_of(|id| ids.contains(&id));
        seg.set_mask(t, m);
        Ok(Outcome::changed(t).note(format!("kept {} of {} islands", ids.len(), c.len())))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

impl SegOp for RemoveSmall {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        if !(self.min_volume_mm3.is_finite() && self.min_volume_mm3 >= 0.0) {
            return Err(OpError::invalid(
                "min_volume_mm3",
                "must be a volume of 0 mm³ or more",
            ));
        }
        require_label(seg, target(&self.label), "label")
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let t = target(&self.label);
        let s = seg.geometry.spacing;
        let voxel = s.col * s.row * s.slice;
        let l = seg.get(t).ok_or_else(|| OpError::NoLabel(t.into()))?;
        let c = components::label(&l.mask, self.connectivity, false);
        let keep: Vec<bool> = c
            .sizes
            .iter()
            .map(|n| *n as f64 * voxel >= self.min_volume_mm3)
            .collect();
        let removed = keep.iter().filter(|k| !**k).count();
        let m = c.mask_of(|id| keep[id as usize]);
        seg.set_mask(t, m);
        Ok(Outcome::changed(t).note(format!("removed {removed} of {} islands", c.len())))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

impl SegOp for SplitIslands {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        if self.max_labels == 0 || self.max_labels > 250 {
            return Err(OpError::invalid("max_labels", "must be 1..=250"));
        }
        if !(self.min_volume_mm3.is_finite() && self.min_volume_mm3 >= 0.0) {
            return Err(OpError::invalid(
                "min_volume_mm3",
                "must be a volume of 0 mm³ or more",
            ));
        }
        require_label(seg, target(&self.label), "label")
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let t = target(&self.label).to_string();
        let prefix = self.prefix.clone().unwrap_or_else(|| format!("{t}_"));
        let s = seg.geometry.spacing;
        let voxel = s.col * s.row * s.slice;
        let l = seg.get(&t).ok_or_else(|| OpError::NoLabel(t.clone()))?;
        let c = components::label(&l.mask, self.connectivity, false);
        let mut order: Vec<u32> = (0..c.len() as u32)
            .filter(|id| c.sizes[*id as usize] as f64 * voxel >= self.min_volume_mm3)
            .collect();
        // Largest first; ties by first voxel (id order).
        order.sort_by(|a, b| {
            c.sizes[*b as usize]
                .cmp(&c.sizes[*a as usize])
                .then(a.cmp(b))
        });
        order.truncate(self.max_labels);
        let mut out = Outcome::default();
        for (n, id) in order.iter().enumerate() {
            let name = format!("{prefix}{}", n + 1);
            seg.set_mask(&name, c.mask_of(|x| x == *id));
            out.changed.push(name);
        }
        Ok(out.note(format!("{} islands, {} labelled", c.len(), order.len())))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
}
