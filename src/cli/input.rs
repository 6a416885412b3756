//! Choosing and loading the input series, shared by the subcommands (the core's
//! [`crate::case::source`] does the work; this maps its errors to exit codes).

use crate::case::record::LoadSettings;
use crate::case::source::{self, OpenedSource};
use crate::dicom::{self, ImportOptions, LoadOptions, LoadedVolume, ScanReport, Series};
use crate::error::Error;
use crate::feasibility::Severity;
use std::path::Path;

/// Scans a DICOM path.
pub fn scan(path: &Path, opts: &ImportOptions) -> Result<ScanReport, Error> {
    Ok(dicom::scan_path(path, opts)?)
}

/// Picks the series `--series` names, or the only volume when none is named; otherwise
/// lists the choices as a bad-input error.
pub fn select<'a>(report: &'a ScanReport, selector: Option<&str>) -> Result<&'a Series, Error> {
    source::select(report, selector).map_err(source_error)
}

/// Loads a series into a volume.
pub fn load(series: &Series, opts: &LoadOptions) -> Result<LoadedVolume, Error> {
    Ok(dicom::load(series, opts, None)?)
}

/// A source error as a CLI error.
pub fn source_error(e: source::SourceError) -> Error {
    match e {
        source::SourceError::Input(m) => Error::BadInput(m),
        source::SourceError::Failed(m) => Error::Failed(m),
    }
}

/// Opens a NIfTI file or a DICOM series (by `--series`, or the only volume), with its
/// findings and file hashes.
pub fn open_volume(path: &Path, series: Option<&str>) -> Result<OpenedSource, Error> {
    if !path.exists() {
        return Err(Error::BadInput(format!(
            "{} does not exist",
            path.display()
        )));
    }
    source::open(
        path,
        series,
        LoadSettings::default(),
        &ImportOptions::default(),
    )
    .map_err(source_error)
}

/// Prints the warnings and errors among a source's findings on stderr.
pub fn print_findings(opened: &OpenedSource) {
    for f in &opened.feasibility.findings {
        if f.severity >= Severity::Warning {
            eprintln!(
                "finding {:?} {}: {}",
                f.severity,
                f.code.as_str(),
                f.message
            );
        }
    }
    if !opened.feasibility.interpolated_slices.is_empty() {
        eprintln!(
            "interpolated slices (not acquired): {:?}",
            opened.feasibility.interpolated_slices
        );
    }
}
