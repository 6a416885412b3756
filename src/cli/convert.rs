//! `hounsfield convert`: one series to NIfTI, with a JSON sidecar holding the acquisition
//! record, the findings and the geometry.

use super::{ImportArgs, input, is_nifti, write_json};
use crate::dicom::LoadOptions;
use crate::dicom::summary::{PixelReport, SeriesSummary};
use crate::error::Error;
use crate::io::nifti;
use std::path::{Path, PathBuf};

/// Arguments of `convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// A DICOM folder, file or DICOMDIR.
    pub path: PathBuf,
    /// The series: its Series Number, the id `info` shows, or its Series Instance UID.
    /// May be omitted when there is exactly one volume series.
    #[arg(long)]
    pub series: Option<String>,
    /// Output file, `.nii` or `.nii.gz`. `FILE.json` is written beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// Keep the raw slice stack even when it is tilted or irregularly spaced (the output
    /// is then not a regular grid; the sidecar says so).
    #[arg(long)]
    pub no_resample: bool,
    /// Slice distance in mm for resampling (default: the smallest measured distance).
    #[arg(long)]
    pub slice_distance: Option<f64>,
    /// Import options.
    #[command(flatten)]
    pub import: ImportArgs,
}

/// The sidecar path for an output: `x.nii.gz` → `x.json`.
pub fn sidecar_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".nii.gz")
        .or_else(|| name.strip_suffix(".nii"))
        .unwrap_or(&name);
    out.with_file_name(format!("{stem}.json"))
}

/// Runs `convert`.
pub fn run(a: &ConvertArgs) -> Result<(), Error> {
    if !is_nifti(&a.out) {
        return Err(Error::BadInput(format!(
            "--out {} must end in .nii or .nii.gz",
            a.out.display()
        )));
    }
    if let Some(dz) = a.slice_distance {
        LoadOptions::check_slice_distance(dz)
            .map_err(|e| Error::BadInput(format!("--slice-distance: {e}")))?;
    }
    super::check_out_dir(&a.out)?;
    let opts = a.import.options()?;
    let report = input::scan(&a.path, &opts)?;
    let series = input::select(&report, a.series.as_deref())?;
    let loaded = input::load(
        series,
        &LoadOptions {
            resample: !a.no_resample,
            slice_distance_mm: a.slice_distance,
            ..Default::default()
        },
    )?;
    let v = &loaded.volume;
    let desc = format!("Hounsfield HU; series {}", series.id);
    nifti::write_volume(&a.out, v, &desc)?;
    let g = &v.geometry;
    let [k, j, i] = v.dims();
    let summary = SeriesSummary::of(
        series,
        &PixelReport {
            findings: loaded.findings.clone(),
            stats: Some(loaded.pixel_stats),
        },
    );
    let sidecar = serde_json::json!({
        "hounsfield_version": env!("CARGO_PKG_VERSION"),
        "source": a.path,
        "output": a.out,
        "frames": {
            "nifti": "RAS (x and y negated from DICOM LPS), millimetres",
            "this_file": "LPS (DICOM patient space), millimetres",
        },
        "geometry": {
            "dims": {"columns": i, "rows": j, "slices": k},
            "origin_lps_mm": [g.origin.0.x, g.origin.0.y, g.origin.0.z],
            "col_dir_lps": g.col_dir.get().to_array(),
            "row_dir_lps": g.row_dir.get().to_array(),
            "slice_dir_lps": g.slice_dir.get().to_array(),
            "spacing_mm": {"column": g.spacing.col, "row": g.spacing.row, "slice": g.spacing.slice},
            "regular": loaded.regular && g.is_orthogonal(),
            "note": if loaded.regular && g.is_orthogonal() {
                "regular orthogonal grid"
            } else {
                "NOT geometrically regular: the raw slice stack was kept (--no-resample); the affine is sheared or the spacing uneven"
            },
        },
        "resampling": loaded.resampling,
        "series": summary,
        "patient": series.patient,
    });
    let side = sidecar_path(&a.out);
    write_json(&side, &sidecar)?;
    eprintln!(
        "wrote {} ({i} x {j} x {k}, {:.4} x {:.4} x {:.4} mm{}) and {}",
        a.out.display(),
        g.spacing.col,
        g.spacing.row,
        g.spacing.slice,
        if loaded.resampling.is_some() {
            ", resampled"
        } else {
            ""
        },
        side.display()
    );
    for f in &summary.findings {
        if f.severity >= crate::feasibility::Severity::Warning {
            eprintln!("  {:?} {}: {}", f.severity, f.code.as_str(), f.message);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_names() {
        assert_eq!(
            sidecar_path(Path::new("/a/b.nii.gz")),
            PathBuf::from("/a/b.json")
        );
        assert_eq!(sidecar_path(Path::new("b.nii")), PathBuf::from("b.json"));
    }
}
