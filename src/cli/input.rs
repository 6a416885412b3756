//! Choosing and loading the input series, shared by the subcommands.

use crate::dicom::{
    self, ImportOptions, LoadOptions, LoadedVolume, ScanReport, Series, SeriesKind,
};
use crate::error::Error;
use std::path::Path;

/// Scans a DICOM path.
pub fn scan(path: &Path, opts: &ImportOptions) -> Result<ScanReport, Error> {
    Ok(dicom::scan_path(path, opts)?)
}

/// Picks the series `--series` names, or the only volume when none is named; otherwise
/// lists the choices as a bad-input error.
pub fn select<'a>(report: &'a ScanReport, selector: Option<&str>) -> Result<&'a Series, Error> {
    let choices = || {
        report
            .series
            .iter()
            .map(|s| {
                format!(
                    "  --series {:<8} {:<18} {:>4} images  {}{}",
                    s.id,
                    s.kind.as_str(),
                    s.images.len(),
                    s.description,
                    s.not_loadable
                        .as_ref()
                        .map_or(String::new(), |r| format!("  (not loadable: {r})"))
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    match selector {
        Some(sel) => {
            let found = report.select(sel);
            match found.as_slice() {
                [one] => Ok(one),
                [] => Err(Error::BadInput(format!(
                    "no series matches --series {sel}; the choices are:\n{}",
                    choices()
                ))),
                _ => Err(Error::BadInput(format!(
                    "--series {sel} matches {} series; use one of these ids:\n{}",
                    found.len(),
                    choices()
                ))),
            }
        }
        None => {
            let vols: Vec<&Series> = report
                .series
                .iter()
                .filter(|s| s.kind == SeriesKind::Volume && s.is_loadable())
                .collect();
            match vols.as_slice() {
                [one] => Ok(one),
                [] => Err(Error::BadInput(format!(
                    "no volume series found; the series are:\n{}",
                    if report.series.is_empty() {
                        "  (none)".to_string()
                    } else {
                        choices()
                    }
                ))),
                _ => Err(Error::BadInput(format!(
                    "{} volume series found; choose one with --series:\n{}",
                    vols.len(),
                    choices()
                ))),
            }
        }
    }
}

/// Loads a series into a volume.
pub fn load(series: &Series, opts: &LoadOptions) -> Result<LoadedVolume, Error> {
    Ok(dicom::load(series, opts, None)?)
}

/// A volume opened for processing, with where it came from.
pub struct OpenedVolume {
    /// The volume.
    pub volume: crate::volume::Volume,
    /// Path and series, for logs.
    pub description: String,
    /// Series Instance UID when DICOM.
    pub series_uid: Option<String>,
}

/// Opens a NIfTI file or a DICOM series (by `--series`, or the only volume).
pub fn open_volume(path: &Path, series: Option<&str>) -> Result<OpenedVolume, Error> {
    if super::is_nifti(path) {
        let volume = crate::io::nifti::read_volume(path)?;
        return Ok(OpenedVolume {
            volume,
            description: path.display().to_string(),
            series_uid: None,
        });
    }
    let report = scan(path, &ImportOptions::default())?;
    let s = select(&report, series)?;
    let loaded = load(s, &LoadOptions::default())?;
    Ok(OpenedVolume {
        volume: loaded.volume,
        description: format!("{} series {}", path.display(), s.id),
        series_uid: Some(s.series_uid.clone()),
    })
}
