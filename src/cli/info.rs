//! `hounsfield info`: the scan report.

use super::{ImportArgs, input, is_nifti};
use crate::dicom::summary::{PixelReport, ScanSummary, SeriesSummary};
use crate::dicom::{LoadOptions, SeriesKind};
use crate::error::Error;
use crate::feasibility::{Finding, Severity};
use std::path::PathBuf;

/// Arguments of `info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// A DICOM folder (scanned recursively), a DICOM file, a DICOMDIR, or a NIfTI volume.
    pub path: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Read headers only: skip the pixel-based checks (noise, metal, clamping).
    #[arg(long)]
    pub headers_only: bool,
    /// Import options.
    #[command(flatten)]
    pub import: ImportArgs,
}

/// Runs `info`.
pub fn run(a: &InfoArgs) -> Result<(), Error> {
    if is_nifti(&a.path) {
        return nifti_info(a);
    }
    let opts = a.import.options()?;
    let report = input::scan(&a.path, &opts)?;
    let load_opts = LoadOptions {
        resample: false,
        ..Default::default()
    };
    // Pixel findings need the voxels; load one volume at a time to bound memory.
    let extra: Vec<PixelReport> = report
        .series
        .iter()
        .map(|s| {
            if a.headers_only || s.kind != SeriesKind::Volume || !s.is_loadable() {
                return PixelReport::default();
            }
            match input::load(s, &load_opts) {
                Ok(v) => PixelReport {
                    findings: v.findings,
                    stats: Some(v.pixel_stats),
                },
                Err(e) => PixelReport {
                    findings: vec![Finding::new(
                        crate::feasibility::FindingCode::MissingSlices,
                        Severity::Error,
                        format!("the pixel data could not be read: {e}"),
                    )],
                    stats: None,
                },
            }
        })
        .collect();
    let mut summary = ScanSummary::of(&report, &extra);
    // Images listed but never loaded as volumes are still decoded once, so a damaged
    // localizer or single image is reported rather than discovered later.
    if !a.headers_only {
        for s in report
            .series
            .iter()
            .filter(|s| s.kind != SeriesKind::Volume || !s.is_loadable())
        {
            summary
                .skipped
                .extend(crate::dicom::load::verify_images(s, &load_opts.limits));
        }
    }
    if a.json {
        let text =
            serde_json::to_string_pretty(&summary).map_err(|e| Error::Failed(e.to_string()))?;
        println!("{text}");
    } else {
        print_human(&summary);
    }
    Ok(())
}

fn print_human(s: &ScanSummary) {
    println!(
        "{} file(s) scanned, {} series, {} skipped",
        s.files_scanned,
        s.series.len(),
        s.skipped.len()
    );
    for x in &s.series {
        print_series(x);
    }
    if !s.skipped.is_empty() {
        println!("\nSkipped files:");
        for f in &s.skipped {
            println!("  {}: {}", f.path.display(), f.reason);
        }
    }
}

fn print_series(x: &SeriesSummary) {
    println!();
    println!(
        "Series {}  [{}]  {}  ({})",
        x.id,
        x.kind,
        if x.description.is_empty() {
            "(no description)"
        } else {
            &x.description
        },
        x.modality
    );
    println!("  UID           {}", x.series_uid);
    println!(
        "  size          {} x {} x {} images",
        x.columns, x.rows, x.images
    );
    if let Some(p) = x.pixel_spacing_mm {
        println!(
            "  pixel spacing {:.4} x {:.4} mm (row x column)",
            p[0], p[1]
        );
    }
    if let Some(d) = x.slice_distance_mm {
        println!(
            "  slice distance min {:.3} / median {:.3} / max {:.3} mm (from image positions)",
            d.min, d.median, d.max
        );
    }
    if let Some(t) = x.acquisition.slice_thickness_mm {
        println!("  slice thickness {t:.3} mm (tag)");
    }
    if x.gantry_tilt_deg.measured.is_some() || x.gantry_tilt_deg.tag.is_some() {
        println!(
            "  gantry tilt   measured {}, tag {}",
            x.gantry_tilt_deg
                .measured
                .map_or("-".into(), |v| format!("{v:.2} deg")),
            x.gantry_tilt_deg
                .tag
                .map_or("-".into(), |v| format!("{v:.2} deg"))
        );
    }
    let a = &x.acquisition;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!(
        "  scanner       {} {} ({}), software {}",
        opt(&a.manufacturer),
        opt(&a.model),
        opt(&a.station),
        if a.software_versions.is_empty() {
            "-".into()
        } else {
            a.software_versions.join("/")
        }
    );
    println!(
        "  acquired      {} {}; kVp {}; mA {}; mAs {}; CTDIvol {}; kernel {}",
        opt(&a.study_date),
        opt(&a.study_time),
        a.kvp.map_or("-".into(), |v| format!("{v}")),
        a.tube_current_ma
            .map_or("-".into(), |m| format!("{}..{}", m.min, m.max)),
        a.exposure_mas
            .map_or("-".into(), |m| format!("{}..{}", m.min, m.max)),
        a.ctdi_vol_mgy.map_or("-".into(), |v| format!("{v:.2} mGy")),
        if a.reconstruction_kernel.is_empty() {
            "-".into()
        } else {
            a.reconstruction_kernel.join("/")
        }
    );
    if let Some(p) = x.pixel_stats {
        println!(
            "  pixels        noise sigma {} (soft tissue estimate); {} voxel(s) >= {} HU",
            p.noise_sigma_hu
                .map_or("not estimated".into(), |s| format!("{s:.1} HU")),
            p.metal_voxels,
            crate::feasibility::limits::METAL_HU
        );
    }
    if let Some(r) = &x.not_loadable_reason {
        println!("  not loadable: {r}");
    }
    for f in &x.findings {
        let icon = match f.severity {
            Severity::Info => "info ",
            Severity::Warning => "WARN ",
            Severity::Error => "ERROR",
        };
        println!("  {icon} {}: {}", f.code.as_str(), f.message);
    }
}

fn nifti_info(a: &InfoArgs) -> Result<(), Error> {
    let v = crate::io::nifti::read_volume(&a.path)?;
    let g = &v.geometry;
    let [k, j, i] = v.dims();
    let (min, max) =
        v.hu.iter()
            .fold((i16::MAX, i16::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    if a.json {
        let j = serde_json::json!({
            "path": a.path,
            "format": "nifti-1",
            "dims": {"columns": i, "rows": j, "slices": k},
            "spacing_mm": [g.spacing.col, g.spacing.row, g.spacing.slice],
            "origin_lps_mm": [g.origin.0.x, g.origin.0.y, g.origin.0.z],
            "orthogonal": g.is_orthogonal(),
            "hu_range": [min, max],
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&j).map_err(|e| Error::Failed(e.to_string()))?
        );
    } else {
        println!("NIfTI volume {}", a.path.display());
        println!("  size    {i} x {j} x {k} (columns x rows x slices)");
        println!(
            "  spacing {:.4} x {:.4} x {:.4} mm",
            g.spacing.col, g.spacing.row, g.spacing.slice
        );
        println!(
            "  origin  LPS ({:.3}, {:.3}, {:.3}) mm; {}",
            g.origin.0.x,
            g.origin.0.y,
            g.origin.0.z,
            if g.is_orthogonal() {
                "orthogonal grid"
            } else {
                "sheared grid"
            }
        );
        println!("  values  {min} .. {max}");
    }
    Ok(())
}
