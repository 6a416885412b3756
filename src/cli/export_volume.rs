//! `hounsfield export-volume`: the volume model — a mask, or the HU inside it — as NIfTI or
//! NRRD with the volume's affine, and per-slice outlines as JSON; each with a sidecar that
//! records the hash of the written file.

use super::write_json;
use crate::error::Error;
use crate::export::{contours, nrrd};
use crate::io::nifti::{self, VoxelData};
use serde_json::json;
use std::path::PathBuf;

/// Arguments of `export-volume`.
#[derive(Debug, clap::Args)]
pub struct ExportVolumeArgs {
    /// The mask: a NIfTI label map (0 = background).
    pub mask: PathBuf,
    /// Output: `.nii`, `.nii.gz`, `.nrrd` (gzip-encoded), or `.json` for per-slice outlines.
    #[arg(long)]
    pub out: PathBuf,
    /// Only this label value (default: every non-zero value).
    #[arg(long)]
    pub label: Option<u8>,
    /// Write the HU of this volume inside the mask (−1024 outside) instead of the mask.
    #[arg(long)]
    pub masked_hu: Option<PathBuf>,
}

/// Runs `export-volume`.
pub fn run(a: &ExportVolumeArgs) -> Result<(), Error> {
    let name = a.out.to_string_lossy().to_ascii_lowercase();
    let kind = if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        "nifti"
    } else if name.ends_with(".nrrd") {
        "nrrd"
    } else if name.ends_with(".json") {
        "outlines"
    } else {
        return Err(Error::BadInput(format!(
            "--out {}: use .nii, .nii.gz, .nrrd or .json",
            a.out.display()
        )));
    };
    if kind == "outlines" && a.masked_hu.is_some() {
        return Err(Error::BadInput(
            "outlines (.json) are drawn from the mask; drop --masked-hu".into(),
        ));
    }
    super::check_out_dir(&a.out)?;
    let labels = nifti::read_volume(&a.mask)?;
    let dims = labels.dims();
    let inside: Vec<bool> = labels
        .hu
        .iter()
        .map(|v| match a.label {
            Some(l) => *v == i16::from(l),
            None => *v > 0,
        })
        .collect();
    if !inside.iter().any(|x| *x) {
        return Err(Error::BadInput(format!(
            "{} has no voxel of the selected label",
            a.mask.display()
        )));
    }
    let g = labels.geometry;
    let io = |e: std::io::Error| Error::Failed(format!("cannot write {}: {e}", a.out.display()));
    let hu = match &a.masked_hu {
        Some(p) => {
            let v = nifti::read_volume(p)?;
            if v.dims() != dims {
                return Err(Error::BadInput(format!(
                    "{} is {:?} voxels but the mask is {dims:?}",
                    p.display(),
                    v.dims()
                )));
            }
            Some(
                v.hu.iter()
                    .zip(&inside)
                    .map(|(h, m)| if *m { *h } else { -1024 })
                    .collect::<Vec<i16>>(),
            )
        }
        None => None,
    };
    let mask_u8: Vec<u8> = inside.iter().map(|m| u8::from(*m)).collect();
    match kind {
        "nifti" => match &hu {
            Some(h) => nifti::write(&a.out, dims, &g, VoxelData::I16(h), "Hounsfield masked HU")?,
            None => nifti::write(&a.out, dims, &g, VoxelData::U8(&mask_u8), "Hounsfield mask")?,
        },
        "nrrd" => {
            let [s, r, c] = g.steps();
            let dirs = [c.0.to_array(), r.0.to_array(), s.0.to_array()];
            let sizes = [dims[2], dims[1], dims[0]];
            let samples = match &hu {
                Some(h) => nrrd::Samples::I16(h),
                None => nrrd::Samples::U8(&mask_u8),
            };
            nrrd::write(&a.out, sizes, dirs, g.origin.0.to_array(), samples, true).map_err(io)?;
        }
        _ => {
            let aff = g.affine_ijk_to_lps();
            let affine = [aff[0], aff[1], aff[2]];
            let c = contours::extract(&mask_u8, dims, &affine).map_err(io)?;
            contours::write_json(&a.out, &c).map_err(io)?;
        }
    }
    let bytes = std::fs::read(&a.out)
        .map_err(|e| Error::Failed(format!("cannot read back {}: {e}", a.out.display())))?;
    let mut side = a.out.as_os_str().to_os_string();
    side.push(".sidecar.json");
    write_json(
        &PathBuf::from(side),
        &json!({
            "format": "hounsfield-volume-export",
            "software": format!("hounsfield {}", env!("CARGO_PKG_VERSION")),
            "kind": kind,
            "content": if hu.is_some() { "HU inside the mask, -1024 outside" } else { "mask 0/1" },
            "frame": if kind == "nifti" { "NIfTI RAS (LPS with x, y negated), millimetres" } else { "DICOM LPS, millimetres" },
            "source_mask": a.mask,
            "label": a.label,
            "voxels": inside.iter().filter(|x| **x).count(),
            "file": {"path": a.out, "blake3": blake3::hash(&bytes).to_hex().to_string()},
        }),
    )?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
