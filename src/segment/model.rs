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

    /// The labels' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.labels.iter().map(|l| l.meta.name.clone()).collect()
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
    /// More than [`MAX_LABEL_MAP_LABELS`] labels are refused: merging them into 255 would
    /// write a map that says something the segmentation does not.
    pub fn label_map(&self) -> Result<Vec<u8>, String> {
        if self.labels.len() > MAX_LABEL_MAP_LABELS {
            return Err(format!(
                "{} labels: a uint8 label map holds at most {MAX_LABEL_MAP_LABELS}; export the labels one at a time, or delete or merge some",
                self.labels.len()
            ));
        }
        let [n, r, c] = self.dims;
        let mut out = vec![0u8; n * r * c];
        for (li, l) in self.labels.iter().enumerate() {
            let v = (li + 1) as u8;
            for k in 0..n {
                for j in 0..r {
                    for (s, e) in l.mask.row_runs(k, j) {
                        let base = (k * r + j) * c;
                        out[base + s..base + e].fill(v);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Labels a uint8 label map can hold (0 is background).
pub const MAX_LABEL_MAP_LABELS: usize = 255;

#[cfg(test)]
mod tests {
    use super::*;

    /// Before: label 256 and beyond were written as 255, merged with label 255.
    #[test]
    fn a_label_map_of_more_than_255_labels_is_refused() {
        let g = VolumeGeometry::axis_aligned(crate::geom::SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        });
        let mut s = Segmentation::new([1, 1, 300], g);
        for i in 0..255 {
            s.ensure(&format!("l{i}")).mask.set(0, 0, i, true);
        }
        let map = s.label_map();
        assert_eq!(map.as_ref().map(|m| m[254]), Ok(255));
        s.ensure("one too many").mask.set(0, 0, 299, true);
        let err = s.label_map().err().unwrap_or_default();
        assert!(err.contains("256 labels"), "{err}");
    }
}
