//! `hounsfield export-volume`: the volume model — a mask, or the HU inside it — as NIfTI or
//! NRRD with the volume's affine, and per-slice outlines as JSON; each with a sidecar that
//! records the hash of the written file.

use super::write_json;
use crate::error::Error;
use crate::export::volume::{self as volume_model, VolumeFile, Voxels};
use crate::io::nifti;
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
    let kind = VolumeFile::of(&a.out).ok_or_else(|| {
        Error::BadInput(format!(
            "--out {}: use .nii, .nii.gz, .nrrd or .json",
            a.out.display()
        ))
    })?;
    if kind == VolumeFile::Outlines && a.masked_hu.is_some() {
        return Err(Error::BadInput(
            "outlines (.json) are drawn from the mask; drop --masked-hu".into(),
        ));
    }
    let mut side = a.out.as_os_str().to_os_string();
    side.push(".sidecar.json");
    let side = PathBuf::from(side);
    let mut inputs = vec![a.mask.as_path()];
    if let Some(h) = &a.masked_hu {
        inputs.push(h.as_path());
    }
    super::check_outputs(&inputs, &[a.out.as_path(), side.as_path()])?;
    let labels = nifti::read_volume(&a.mask)?;
    let provenance = volume_model::read_provenance(&a.mask);
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
    let voxels = match &hu {
        Some(h) => Voxels::Hu(h),
        None => Voxels::Labels(&mask_u8),
    };
    volume_model::write(&a.out, kind, dims, &g, voxels, provenance.as_ref())
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", a.out.display())))?;
    let (_, blake3) = crate::case::source::hash_file(&a.out)
        .map_err(|e| Error::Failed(format!("cannot read back {}: {e}", a.out.display())))?;
    write_json(
        &side,
        &json!({
            "format": "hounsfield-volume-export",
            "software": format!("hounsfield {}", env!("CARGO_PKG_VERSION")),
            "kind": match kind { VolumeFile::Nifti => "nifti", VolumeFile::Nrrd => "nrrd", VolumeFile::Outlines => "outlines" },
            "content": if hu.is_some() { "HU inside the mask, -1024 outside" } else { "mask 0/1" },
            "frame": if kind == VolumeFile::Nifti { "NIfTI RAS (LPS with x, y negated), millimetres" } else { "DICOM LPS, millimetres" },
            "source_mask": {"path": a.mask, "provenance": provenance},
            "label": a.label,
            "voxels": inside.iter().filter(|x| **x).count(),
            "file": {"path": a.out, "blake3": blake3},
        }),
    )?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
