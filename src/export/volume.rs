//! The volume model: a mask, a label map or the HU inside a mask, written as NIfTI or NRRD
//! on the volume's grid, or as per-slice outlines (JSON). One writer for `segment`,
//! `export-volume` and the case, so each file says where it came from the same way: a
//! NIfTI carries a [`MaskProvenance`] in a header extension (JSON, `ecode` 6) and the
//! segmentation hash in its description.

use crate::export::{contours, nrrd};
use crate::io::nifti::{self, ECODE_COMMENT, Extension, VoxelData};
use crate::volume::VolumeGeometry;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;

/// Format name of [`MaskProvenance`].
pub const PROVENANCE_FORMAT: &str = "hounsfield-mask-provenance";

/// Where a mask file came from: enough to tie it to an operation log and a series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskProvenance {
    /// Always [`PROVENANCE_FORMAT`].
    pub format: String,
    /// Software and version that wrote it.
    pub software: String,
    /// The label written (`None` for a label map of all labels).
    pub label: Option<String>,
    /// blake3 of that label's mask (the operation log's per-label hash).
    pub mask_hash: Option<String>,
    /// Hash of the whole segmentation: the operation log's `final_hash`.
    pub segmentation_hash: String,
    /// Log entries when it was written.
    pub log_entries: usize,
    /// blake3 of the HU volume the log was recorded on.
    pub volume_hash: String,
    /// Series Instance UID of the source, when DICOM.
    pub series_uid: Option<String>,
    /// The case's pseudonym, when written by a case.
    #[serde(default)]
    pub pseudonym: Option<String>,
}

impl MaskProvenance {
    /// The NIfTI description: `hf seg ` and the segmentation hash (fits the 80 bytes).
    pub fn description(&self) -> String {
        format!("hf seg {}", self.segmentation_hash)
    }
}

/// Reads the provenance of a NIfTI mask written by Hounsfield; `None` when it has none.
pub fn read_provenance(path: &Path) -> Option<MaskProvenance> {
    nifti::read_extensions(path)
        .ok()?
        .into_iter()
        .filter(|e| e.code == ECODE_COMMENT)
        .find_map(|e| {
            serde_json::from_slice::<MaskProvenance>(&e.data)
                .ok()
                .filter(|p| p.format == PROVENANCE_FORMAT)
        })
}

/// The file kinds of a volume model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeFile {
    /// NIfTI-1, gzip when the name ends in `.gz`.
    Nifti,
    /// NRRD, gzip-encoded.
    Nrrd,
    /// Per-slice outlines, JSON (`hounsfield-contours`).
    Outlines,
}

impl VolumeFile {
    /// The kind a file name asks for.
    pub fn of(path: &Path) -> Option<Self> {
        use crate::case::event::ExportFormat;
        match ExportFormat::from_file_name(&path.to_string_lossy())? {
            ExportFormat::Nifti => Some(Self::Nifti),
            ExportFormat::Nrrd => Some(Self::Nrrd),
            ExportFormat::Outlines => Some(Self::Outlines),
            _ => None,
        }
    }
}

/// Voxels to write, `[slice, row, column]` order.
#[derive(Debug, Clone, Copy)]
pub enum Voxels<'a> {
    /// 0/1 mask or label numbers.
    Labels(&'a [u8]),
    /// HU values.
    Hu(&'a [i16]),
}

/// Writes a volume model atomically.
pub fn write(
    path: &Path,
    kind: VolumeFile,
    dims: [usize; 3],
    geometry: &VolumeGeometry,
    voxels: Voxels<'_>,
    provenance: Option<&MaskProvenance>,
) -> io::Result<()> {
    let to_io = |e: nifti::NiftiError| io::Error::other(e.to_string());
    match kind {
        VolumeFile::Nifti => {
            let data = match voxels {
                Voxels::Labels(d) => VoxelData::U8(d),
                Voxels::Hu(d) => VoxelData::I16(d),
            };
            let (description, extensions) = match provenance {
                Some(p) => (
                    p.description(),
                    vec![Extension {
                        code: ECODE_COMMENT,
                        data: serde_json::to_vec(p).map_err(io::Error::other)?,
                    }],
                ),
                None => (
                    match voxels {
                        Voxels::Labels(_) => "Hounsfield mask".to_string(),
                        Voxels::Hu(_) => "Hounsfield masked HU".to_string(),
                    },
                    Vec::new(),
                ),
            };
            nifti::write_with_extensions(path, dims, geometry, data, &description, &extensions)
                .map_err(to_io)
        }
        VolumeFile::Nrrd => {
            let [s, r, c] = geometry.steps();
            let dirs = [c.0.to_array(), r.0.to_array(), s.0.to_array()];
            let sizes = [dims[2], dims[1], dims[0]];
            let samples = match voxels {
                Voxels::Labels(d) => nrrd::Samples::U8(d),
                Voxels::Hu(d) => nrrd::Samples::I16(d),
            };
            nrrd::write(
                path,
                sizes,
                dirs,
                geometry.origin.0.to_array(),
                samples,
                true,
            )
        }
        VolumeFile::Outlines => {
            let Voxels::Labels(mask) = voxels else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "outlines are drawn from a mask, not from HU values",
                ));
            };
            let aff = geometry.affine_ijk_to_lps();
            let c = contours::extract(mask, dims, &[aff[0], aff[1], aff[2]])?;
            contours::write_json(path, &c)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::SpacingMm;

    #[test]
    fn provenance_travels_in_the_nifti() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let p = dir.path().join("m.nii.gz");
        let g = VolumeGeometry::axis_aligned(SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 2.0,
        });
        let prov = MaskProvenance {
            format: PROVENANCE_FORMAT.into(),
            software: "hounsfield test".into(),
            label: Some("bone".into()),
            mask_hash: Some("aa".into()),
            segmentation_hash: "b".repeat(64),
            log_entries: 2,
            volume_hash: "cc".into(),
            series_uid: Some("1.2.3".into()),
            pseudonym: None,
        };
        let data = vec![0u8, 1, 1, 0, 0, 1, 0, 0];
        let w = write(
            &p,
            VolumeFile::Nifti,
            [2, 2, 2],
            &g,
            Voxels::Labels(&data),
            Some(&prov),
        );
        assert!(w.is_ok(), "{w:?}");
        assert_eq!(read_provenance(&p), Some(prov.clone()));
        assert!(prov.description().len() < 80);
        let v = nifti::read_volume(&p).expect("reads");
        assert_eq!(v.hu.iter().filter(|x| **x == 1).count(), 3);
    }
}
