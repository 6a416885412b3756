//! The verification ledger: which slices of which label an operator has checked, when, and
//! what the slice held at that moment (its mask hash). A slice whose mask changes after it
//! was verified shows as changed and counts as unverified, so verification can never
//! outlive the content it was given for (ISO/IEC 3532-1: boundaries are checked slice by
//! slice before 3D modelling).

use crate::segment::mask::{Mask, hex};
use crate::segment::model::Segmentation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A family of slice planes of the volume grid. The names are those of an axial
/// acquisition: axial planes are the volume's slices (index k), coronal planes hold one
/// row index (j), sagittal planes one column index (i).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Orientation {
    /// Planes of constant k.
    Axial,
    /// Planes of constant j.
    Coronal,
    /// Planes of constant i.
    Sagittal,
}

impl Orientation {
    /// All three.
    pub const ALL: [Orientation; 3] = [Self::Axial, Self::Coronal, Self::Sagittal];

    /// The name written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Axial => "axial",
            Self::Coronal => "coronal",
            Self::Sagittal => "sagittal",
        }
    }

    /// Planes of this orientation on a grid `[slices, rows, columns]`.
    pub fn count(self, dims: [usize; 3]) -> usize {
        match self {
            Self::Axial => dims[0],
            Self::Coronal => dims[1],
            Self::Sagittal => dims[2],
        }
    }
}

/// What the operator said of a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkState {
    /// The boundary is right.
    Verified,
    /// Something needs attention (the note says what).
    Flagged,
    /// A previous mark was withdrawn.
    Cleared,
}

/// One mark: a slice (or a run of empty slices) confirmed, flagged or cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceMark {
    /// The label.
    pub label: String,
    /// The plane family.
    pub orientation: Orientation,
    /// The plane index.
    pub index: usize,
    /// Verified, flagged or cleared.
    pub state: MarkState,
    /// blake3 of the label's mask in that plane at the moment of the mark (see
    /// [`plane_hash`]).
    pub plane_hash: String,
    /// A note (why it was flagged).
    #[serde(default)]
    pub note: Option<String>,
    /// Who marked it.
    pub operator: String,
    /// When (UTC, RFC 3339).
    pub time: String,
}

/// The hash of a label's mask in one plane. Axial planes use the mask's own per-slice hash
/// (the one inside the canonical mask hash); coronal and sagittal planes hash their bits
/// packed row by row into u64 words, after a domain string and the plane's size.
pub fn plane_hash(mask: &mut Mask, orientation: Orientation, index: usize) -> String {
    let [n, r, c] = mask.dims();
    match orientation {
        Orientation::Axial => hex(&mask.slice_hash(index)),
        Orientation::Coronal | Orientation::Sagittal => {
            let (width, domain) = match orientation {
                Orientation::Coronal => (c, &b"hounsfield-plane-coronal-v1"[..]),
                _ => (r, &b"hounsfield-plane-sagittal-v1"[..]),
            };
            let mut h = blake3::Hasher::new();
            h.update(domain);
            h.update(&(n as u64).to_le_bytes());
            h.update(&(width as u64).to_le_bytes());
            let mut words = vec![0u64; width.div_ceil(64)];
            for k in 0..n {
                words.fill(0);
                for x in 0..width {
                    let set = match orientation {
                        Orientation::Coronal => mask.get(k, index, x),
                        _ => mask.get(k, x, index),
                    };
                    if set {
                        words[x / 64] |= 1 << (x % 64);
                    }
                }
                for w in &words {
                    h.update(&w.to_le_bytes());
                }
            }
            h.finalize().to_hex().to_string()
        }
    }
}

/// The ledger: the latest mark of every (label, orientation, plane).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    marks: BTreeMap<(String, Orientation, usize), SliceMark>,
    /// Every mark ever made, in order (the history the report can show).
    pub history_len: usize,
}

/// Verification of one label in one orientation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// The label.
    pub label: String,
    /// The plane family.
    pub orientation: Orientation,
    /// Planes in the volume.
    pub planes: usize,
    /// Verified and unchanged since.
    pub verified: usize,
    /// Flagged.
    pub flagged: usize,
    /// Verified, but the mask changed afterwards (counts as unverified).
    pub changed_after_verification: usize,
    /// Never verified (or cleared); includes the changed ones.
    pub unverified: usize,
    /// The flagged planes with their notes.
    pub flags: Vec<(usize, Option<String>)>,
    /// The changed planes.
    pub changed: Vec<usize>,
}

impl Coverage {
    /// "bone axial: 132 of 140 verified, 2 flagged, 3 changed after verification".
    pub fn summary(&self) -> String {
        format!(
            "{} {}: {} of {} verified, {} flagged, {} changed after verification",
            self.label,
            self.orientation.as_str(),
            self.verified,
            self.planes,
            self.flagged,
            self.changed_after_verification
        )
    }
}

impl Ledger {
    /// Adds a mark (the latest mark of a plane is the one that counts).
    pub fn add(&mut self, mark: SliceMark) {
        self.history_len += 1;
        self.marks
            .insert((mark.label.clone(), mark.orientation, mark.index), mark);
    }

    /// True when no slice was ever marked.
    pub fn is_empty(&self) -> bool {
        self.history_len == 0
    }

    /// The latest marks.
    pub fn marks(&self) -> impl Iterator<Item = &SliceMark> {
        self.marks.values()
    }

    /// The slices flagged now: label, orientation, index and the note.
    pub fn flagged(&self) -> Vec<(String, Orientation, usize, String)> {
        self.marks
            .values()
            .filter(|m| m.state == MarkState::Flagged)
            .map(|m| {
                (
                    m.label.clone(),
                    m.orientation,
                    m.index,
                    m.note.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Coverage of every label of `seg` in every orientation, checked against the masks
    /// as they are now.
    pub fn coverage(&self, seg: &mut Segmentation) -> Vec<Coverage> {
        let dims = seg.dims();
        let names: Vec<String> = seg.names();
        let mut out = Vec::new();
        for name in names {
            for o in Orientation::ALL {
                let planes = o.count(dims);
                let mut c = Coverage {
                    label: name.clone(),
                    orientation: o,
                    planes,
                    verified: 0,
                    flagged: 0,
                    changed_after_verification: 0,
                    unverified: 0,
                    flags: Vec::new(),
                    changed: Vec::new(),
                };
                let marks: Vec<&SliceMark> = self
                    .marks
                    .range((name.clone(), o, 0)..=(name.clone(), o, usize::MAX))
                    .map(|(_, m)| m)
                    .filter(|m| m.index < planes)
                    .collect();
                let Some(label) = seg.get_mut(&name) else {
                    continue;
                };
                for m in marks {
                    match m.state {
                        MarkState::Verified => {
                            if plane_hash(&mut label.mask, o, m.index) == m.plane_hash {
                                c.verified += 1;
                            } else {
                                c.changed_after_verification += 1;
                                c.changed.push(m.index);
                            }
                        }
                        MarkState::Flagged => {
                            c.flagged += 1;
                            c.flags.push((m.index, m.note.clone()));
                        }
                        MarkState::Cleared => {}
                    }
                }
                c.unverified = planes - c.verified - c.flagged;
                out.push(c);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::SpacingMm;
    use crate::volume::VolumeGeometry;

    fn seg() -> Segmentation {
        let g = VolumeGeometry::axis_aligned(SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        });
        let mut s = Segmentation::new([4, 5, 70], g);
        s.set_mask(
            "bone",
            Mask::from_fn([4, 5, 70], |k, j, i| k == 1 && j > 1 && i > 60),
        );
        s
    }

    fn mark(seg: &mut Segmentation, o: Orientation, index: usize, state: MarkState) -> SliceMark {
        let label = seg.get_mut("bone").expect("label");
        SliceMark {
            label: "bone".into(),
            orientation: o,
            index,
            state,
            plane_hash: plane_hash(&mut label.mask, o, index),
            note: (state == MarkState::Flagged).then(|| "rim".into()),
            operator: "test".into(),
            time: "2026-12-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn an_edit_after_verification_shows_as_changed() {
        let mut s = seg();
        let mut l = Ledger::default();
        for k in 0..3 {
            let m = mark(&mut s, Orientation::Axial, k, MarkState::Verified);
            l.add(m);
        }
        let m = mark(&mut s, Orientation::Sagittal, 65, MarkState::Verified);
        l.add(m);
        let m = mark(&mut s, Orientation::Axial, 3, MarkState::Flagged);
        l.add(m);
        let axial = |c: &[Coverage]| {
            c.iter()
                .find(|c| c.orientation == Orientation::Axial)
                .cloned()
                .expect("axial")
        };
        let c = l.coverage(&mut s);
        assert_eq!(
            (axial(&c).verified, axial(&c).flagged, axial(&c).unverified),
            (3, 1, 0)
        );
        // Paint one voxel in slice 1 (also in sagittal plane 65).
        s.get_mut("bone").expect("label").mask.set(1, 0, 65, true);
        let c = l.coverage(&mut s);
        let a = axial(&c);
        assert_eq!(
            (a.verified, a.changed_after_verification, a.changed.clone()),
            (2, 1, vec![1])
        );
        assert_eq!(a.unverified, 1, "the changed slice counts as unverified");
        let sag = c
            .iter()
            .find(|c| c.orientation == Orientation::Sagittal)
            .expect("sagittal");
        assert_eq!((sag.verified, sag.changed_after_verification), (0, 1));
        // Painting outside plane 65 leaves the sagittal mark valid; re-verifying mends axial 1.
        let m = mark(&mut s, Orientation::Sagittal, 65, MarkState::Verified);
        l.add(m);
        s.get_mut("bone").expect("label").mask.set(1, 0, 10, true);
        let m = mark(&mut s, Orientation::Axial, 1, MarkState::Verified);
        l.add(m);
        let c = l.coverage(&mut s);
        assert_eq!(axial(&c).verified, 3);
        let sag = c
            .iter()
            .find(|c| c.orientation == Orientation::Sagittal)
            .expect("sagittal");
        assert_eq!(sag.verified, 1);
    }

    #[test]
    fn plane_hashes_differ_between_planes_and_orientations() {
        let mut s = seg();
        let m = &mut s.get_mut("bone").expect("label").mask;
        let a = plane_hash(m, Orientation::Coronal, 2);
        assert_ne!(a, plane_hash(m, Orientation::Coronal, 0));
        // Equal content, equal hash: planes 2 and 3 hold the same voxels.
        assert_eq!(a, plane_hash(m, Orientation::Coronal, 3));
        assert_ne!(
            plane_hash(m, Orientation::Coronal, 0),
            plane_hash(m, Orientation::Sagittal, 0)
        );
    }
}
