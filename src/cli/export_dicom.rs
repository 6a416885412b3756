//! `export-dicom`: a case's labels as DICOM objects (SEG, RT Structure Set) for the archive and for radiology
//! and planning software, written into the case's `exports/` and recorded like every
//! export.

use super::case::user;
use crate::case::Case;
use crate::case::event::{ExportFormat, ExportSpec};
use crate::error::Error;
use std::path::PathBuf;

/// Arguments of `export-dicom`.
#[derive(Debug, clap::Args)]
pub struct ExportDicomArgs {
    /// The case folder.
    pub case: PathBuf,
    /// Write a binary DICOM Segmentation, one segment per label: a file name ending
    /// `.seg.dcm`, written in the case's `exports/`.
    #[arg(
        long,
        value_name = "FILE.seg.dcm",
        required_unless_present = "rtstruct"
    )]
    pub seg: Option<String>,
    /// Write an RT Structure Set, one ROI of per-slice contours per label: a file name
    /// ending `.rtstruct.dcm`.
    #[arg(long, value_name = "FILE.rtstruct.dcm")]
    pub rtstruct: Option<String>,
    /// A label to include (repeatable; default: every label).
    #[arg(long = "label", value_name = "NAME")]
    pub labels: Vec<String>,
    /// Export although slices of the labels are unverified (the coverage is recorded).
    #[arg(long)]
    pub accept_unverified: bool,
    /// Operator name recorded (default: $USER).
    #[arg(long)]
    pub operator: Option<String>,
}

/// Runs `export-dicom`.
pub fn run(a: &ExportDicomArgs) -> Result<(), Error> {
    let (mut case, _) = Case::open(&a.case, &user(a.operator.as_deref()), None)?;
    let labels = if a.labels.is_empty() {
        case.session().segmentation().names()
    } else {
        a.labels.clone()
    };
    if labels.is_empty() {
        return Err(Error::BadInput("the case has no label to export".into()));
    }
    let gap = case.verification_gap(&labels);
    if let (Some(g), false) = (&gap, a.accept_unverified) {
        return Err(Error::BadInput(format!(
            "not every slice is verified ({g}): verify them in the window, or export anyway with --accept-unverified (recorded)"
        )));
    }
    let files = [
        (a.seg.as_ref(), ExportFormat::DicomSeg, "segment"),
        (a.rtstruct.as_ref(), ExportFormat::RtStruct, "ROI"),
    ];
    for (file, format, what) in files {
        let Some(file) = file else { continue };
        let spec = ExportSpec {
            file: file.clone(),
            format,
            labels: labels.clone(),
            content: None,
            allow_open: false,
            allow_defects: false,
        };
        let x = case.export_with(&spec, None, gap.clone())?;
        println!(
            "exported {} ({} bytes, blake3 {}): {} {what}(s) {}",
            x.path,
            x.bytes,
            x.blake3,
            x.spec.labels.len(),
            x.spec.labels.join(", ")
        );
    }
    Ok(())
}

/// Arguments of `import-seg`.
#[derive(Debug, clap::Args)]
pub struct ImportSegArgs {
    /// The case folder (made from the series the SEG was drawn on).
    pub case: PathBuf,
    /// The DICOM Segmentation file.
    pub seg: PathBuf,
    /// A segment to import, by its Segment Number (repeatable; default: all).
    #[arg(long = "segment", value_name = "N")]
    pub segments: Vec<u16>,
    /// The label name for a single imported segment (default: its Segment Label).
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// Operator name recorded (default: $USER).
    #[arg(long)]
    pub operator: Option<String>,
}

/// Runs `import-seg`.
pub fn import(a: &ImportSegArgs) -> Result<(), Error> {
    let (mut case, _) = Case::open(&a.case, &user(a.operator.as_deref()), None)?;
    let (labels, warning) = case.import_seg(&a.seg, &a.segments, a.label.as_deref())?;
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    for l in &labels {
        let n = case
            .session()
            .segmentation()
            .get(l)
            .map_or(0, |x| x.mask.count());
        println!("imported label `{l}`: {n} voxels");
    }
    Ok(())
}
