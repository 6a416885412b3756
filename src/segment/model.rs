//! The segmentation: named labels, each a binary mask on the volume's grid. The source
//! image is never modified; a segmentation only ever holds masks.

use super::mask::{Hash, Mask, hex};
use crate::volume::VolumeGeometry;
use serde::{Deserialize, Serialize};

/// Display colours given to new labels in turn (bone first).
const PALETTE: [[u8; 3]; 8] = [
    [241, 214, 145],
    [216, 101, 79],
    [128, 174, 128],
    [111, 184, 210],
    [221, 130, 101],
    [144, 238, 144],
    [192, 104, 88],
    [220, 245, 20],
];

/// A label's metadata (everything but the mask).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelMeta {
    /// Unique name used by operations.
    pub name: String,
    /// Clinical name for reports, e.g. "skull".
    pub clinical_name: String,
    /// Display colour, sRGB.
    pub color: [u8; 3],
}

/// One label: metadata and mask.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Metadata.
    pub meta: LabelMeta,
    /// Voxels.
    pub mask: Mask,
}

/// Labels on one grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Segmentation {
    dims: [usize; 3],
    /// Where the grid lies in patient space.
    pub geometry: VolumeGeometry,
    labels: Vec<Label>,
}

impl Segmentation {
    /// An empty segmentation on a grid.
    pub fn new(dims: [usize; 3], geometry: VolumeGeometry) -> Self {
        Self {
            dims,
            geometry,
            labels: Vec::new(),
        }
    }

    /// `[slices, rows, columns]`.
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }

    /// Changes the grid (resampling); drops all labels, which the caller re-adds.
    pub fn regrid(&mut self, dims: [usize; 3], geometry: VolumeGeometry) {
        self.dims = dims;
        self.geometry = geometry;
        self.labels.clear();
    }

    /// Labels in order.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// Label metadata in order.
    pub fn metas(&self) -> Vec<LabelMeta> {
        self.labels.iter().map(|l| l.meta.clone()).collect()
    }

    /// The label named `name`.
    pub fn get(&self, name: &str) -> Option<&Label> {
        self.labels.iter().find(|l| l.meta.name == name)
    }

    /// The label named `name`, mutable.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Label> {
        self.labels.iter_mut().find(|l| l.meta.name == name)
    }

    /// The label named `name`, created empty if missing.
    pub fn ensure(&mut self, name: &str) -> &mut Label {
        let idx = match self.labels.iter().position(|l| l.meta.name == name) {
            Some(i) => i,
            None => {
                let color = PALETTE[self.labels.len() % PALETTE.len()];
                self.labels.push(Label {
                    meta: LabelMeta {
                        name: name.to_string(),
                        clinical_name: name.to_string(),
                        color,
                    },
                    mask: Mask::new(self.dims),
                });
                self.labels.len() - 1
            }
        };
        &mut self.labels[idx]
    }

    /// Replaces a label's mask (creating the label if needed).
    pub fn set_mask(&mut self, name: &str, mask: Mask) {
        self.ensure(name).mask = mask;
    }

    /// Removes a label; returns it.
    pub fn remove(&mut self, name: &str) -> Option<Label> {
        let i = self.labels.iter().position(|l| l.meta.name == name)?;
        Some(self.labels.remove(i))
    }

    /// Puts labels in the order and with the metadata of `metas`; labels not listed are
    /// dropped, listed ones missing are created empty.
    pub fn restore_metas(&mut self, metas: &[LabelMeta]) {
        let mut old = std::mem::take(&mut self.labels);
        for m in metas {
            let mask = match old.iter().position(|l| l.meta.name == m.name) {
                Some(i) => old.remove(i).mask,
                None => Mask::new(self.dims),
            };
            self.labels.push(Label {
                meta: m.clone(),
                mask,
            });
        }
    }

    /// Hash of one label's mask.
    pub fn hash_of(&mut self, name: &str) -> Option<Hash> {
        self.get_mut(name).map(|l| l.mask.hash())
    }

    /// The hash of the whole segmentation: label names, in order, with their mask hashes.
    pub fn final_hash(&mut self) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(b"hounsfield-segmentation-v1");
        for l in &mut self.labels {
            h.update(&(l.meta.name.len() as u64).to_le_bytes());
            h.update(l.meta.name.as_bytes());
            h.update(&l.mask.hash());
        }
        *h.finalize().as_bytes()
    }

    /// Hex of [`Self::final_hash`].
    pub fn final_hash_hex(&mut self) -> String {
        hex(&self.final_hash())
    }

    /// Voxel values for a label map: 0 outside, label index + 1 inside (later labels win).
    pub fn label_map(&self) -> Vec<u8> {
        let [n, r, c] = self.dims;
        let mut out = vec![0u8; n * r * c];
        for (li, l) in self.labels.iter().enumerate() {
            let v = (li + 1).min(255) as u8;
            for k in 0..n {
                for j in 0..r {
                    for (s, e) in l.mask.row_runs(k, j) {
                        let base = (k * r + j) * c;
                        out[base + s..base + e].fill(v);
                    }
                }
            }
        }
        out
    }
}
