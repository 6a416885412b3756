//! `import_mask`: a label set from a mask made elsewhere (a DICOM SEG from the archive or
//! another workstation). The mask travels inside the operation — bits in `[k][j][i]` order,
//! least significant bit first, deflated and base64-encoded — so the log stays a pure
//! function of (volume, masks, operations) and replays bit for bit without the file.

use crate::segment::mask::Mask;
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, same_grid};
use crate::volume::Volume;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Sets a label to an imported mask (created if absent, replaced if present).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportMask {
    /// The label.
    pub label: String,
    /// Where the mask came from, in words (file, SOP Instance UID, segment, its blake3).
    pub origin: String,
    /// Voxels set, as a check on the data.
    pub voxels: u64,
    /// The mask: packed bits, deflated, base64.
    pub data: String,
}

impl ImportMask {
    /// The operation for `mask`, from `origin`.
    pub fn of(label: &str, origin: String, mask: &Mask) -> Self {
        let [nk, nj, ni] = mask.dims();
        let mut bits = vec![0u8; (nk * nj * ni).div_ceil(8)];
        let mut b = 0usize;
        for k in 0..nk {
            for j in 0..nj {
                for i in 0..ni {
                    if mask.get(k, j, i) {
                        bits[b / 8] |= 1 << (b % 8);
                    }
                    b += 1;
                }
            }
        }
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing into a Vec cannot fail.
        let _ = z.write_all(&bits);
        let packed = z.finish().unwrap_or_default();
        Self {
            label: label.to_string(),
            origin,
            voxels: mask.count(),
            data: base64::engine::general_purpose::STANDARD.encode(packed),
        }
    }

    /// The mask on a grid of `dims`.
    pub fn mask(&self, dims: [usize; 3]) -> Result<Mask, OpError> {
        let packed = base64::engine::general_purpose::STANDARD
            .decode(self.data.as_bytes())
            .map_err(|e| OpError::invalid("data", format!("not base64: {e}")))?;
        let n = dims[0] * dims[1] * dims[2];
        let want = n.div_ceil(8);
        let mut bits = Vec::with_capacity(want);
        flate2::read::DeflateDecoder::new(&packed[..])
            .take(want as u64 + 1)
            .read_to_end(&mut bits)
            .map_err(|e| OpError::invalid("data", format!("not deflate data: {e}")))?;
        if bits.len() != want {
            return Err(OpError::invalid(
                "data",
                format!(
                    "holds {} bytes, the grid {}×{}×{} needs {want}",
                    bits.len(),
                    dims[2],
                    dims[1],
                    dims[0]
                ),
            ));
        }
        let (nj, ni) = (dims[1], dims[2]);
        let m = Mask::from_fn(dims, |k, j, i| {
            let b = (k * nj + j) * ni + i;
            bits[b / 8] >> (b % 8) & 1 == 1
        });
        if m.count() != self.voxels {
            return Err(OpError::invalid(
                "voxels",
                format!("the data sets {} voxels, not {}", m.count(), self.voxels),
            ));
        }
        Ok(m)
    }
}

impl SegOp for ImportMask {
    fn validate(&self, volume: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(volume, seg)?;
        if self.label.trim().is_empty() || self.label.len() > 64 {
            return Err(OpError::invalid(
                "label",
                "a label name is 1 to 64 characters",
            ));
        }
        self.mask(volume.dims()).map(|_| ())
    }
    fn apply(&self, volume: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let m = self.mask(volume.dims())?;
        seg.ensure(&self.label);
        seg.set_mask(&self.label, m);
        Ok(Outcome::changed(&self.label)
            .note(format!("{} voxels from {}", self.voxels, self.origin)))
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![self.label.clone()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mask_travels_through_the_operation_bit_for_bit() {
        let m = Mask::from_fn([5, 7, 9], |k, j, i| (k * 3 + j * 5 + i * 7) % 4 == 0);
        let op = ImportMask::of("bone", "test".into(), &m);
        let back = op.mask([5, 7, 9]).unwrap();
        assert_eq!(back.to_bools(), m.to_bools());
        assert!(op.mask([5, 7, 8]).is_err(), "another grid is refused");
        let mut bad = op.clone();
        bad.voxels += 1;
        assert!(bad.mask([5, 7, 9]).is_err());
        let json =
            serde_json::to_string(&crate::segment::Operation::ImportMask(op.clone())).unwrap();
        assert!(json.contains("\"op\":\"import_mask\""), "{json}");
    }
}
