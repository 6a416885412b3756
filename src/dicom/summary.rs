//! The serialisable summary of a series: the public JSON contract of `info --json` and of
//! the sidecar `convert` writes. Field names here are never renamed, only added to.

use super::acquisition::{AcquisitionRecord, MinMedMax};
use super::error::SkippedFile;
use super::series::{ScanReport, Series};
use crate::feasibility::{Finding, PixelStats};
use serde::Serialize;

/// Gantry tilt as measured from the geometry and as tagged.
#[derive(Debug, Clone, Serialize)]
pub struct TiltSummary {
    /// From the image positions, degrees (unsigned).
    pub measured: Option<f64>,
    /// Gantry/Detector Tilt (0018,1120), degrees.
    pub tag: Option<f64>,
}

/// One series, as `info --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesSummary {
    /// What `--series` accepts.
    pub id: String,
    /// Study Instance UID.
    pub study_uid: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// Series Number.
    pub series_number: Option<i64>,
    /// Series Description.
    pub description: String,
    /// Modality.
    pub modality: String,
    /// Classification.
    pub kind: &'static str,
    /// Whether it can be loaded as a volume.
    pub loadable: bool,
    /// Why not, when not.
    pub not_loadable_reason: Option<String>,
    /// Images used (duplicates excluded).
    pub images: usize,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub columns: u32,
    /// Pixel spacing `[row, column]`, mm.
    pub pixel_spacing_mm: Option<[f64; 2]>,
    /// Slice distance from image positions, mm.
    pub slice_distance_mm: Option<MinMedMax>,
    /// Tilt.
    pub gantry_tilt_deg: TiltSummary,
    /// Acquisition protocol record.
    pub acquisition: AcquisitionRecord,
    /// Feasibility findings.
    pub findings: Vec<Finding>,
    /// Noise and metal measurements (absent when pixels were not read).
    pub pixel_stats: Option<PixelStats>,
}

/// Findings and measurements from a series' pixels.
#[derive(Debug, Clone, Default)]
pub struct PixelReport {
    /// Findings.
    pub findings: Vec<Finding>,
    /// Measurements.
    pub stats: Option<PixelStats>,
}

impl SeriesSummary {
    /// Summarises a series, with what its pixels showed.
    pub fn of(s: &Series, px: &PixelReport) -> Self {
        let mut findings = s.findings.clone();
        findings.extend(px.findings.iter().cloned());
        Self {
            id: s.id.clone(),
            study_uid: s.study_uid.clone(),
            series_uid: s.series_uid.clone(),
            series_number: s.series_number,
            description: s.description.clone(),
            modality: s.modality.clone(),
            kind: s.kind.as_str(),
            loadable: s.is_loadable(),
            not_loadable_reason: s.not_loadable.clone(),
            images: s.images.len(),
            rows: s.rows,
            columns: s.columns,
            pixel_spacing_mm: s.pixel_spacing_mm,
            slice_distance_mm: s.stack.as_ref().and_then(|st| st.distance()),
            gantry_tilt_deg: TiltSummary {
                measured: s.stack.as_ref().map(|st| st.tilt_measured_deg),
                tag: s.images.first().and_then(|h| h.gantry_tilt_deg),
            },
            acquisition: s.acquisition.clone(),
            findings,
            pixel_stats: px.stats,
        }
    }
}

/// The whole scan, as `info --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    /// Files looked at.
    pub files_scanned: usize,
    /// Files not used, with reasons.
    pub skipped: Vec<SkippedFile>,
    /// Series found.
    pub series: Vec<SeriesSummary>,
}

impl ScanSummary {
    /// Summarises a scan; `extra[i]` holds what the pixels of `report.series[i]` showed.
    pub fn of(report: &ScanReport, extra: &[PixelReport]) -> Self {
        Self {
            files_scanned: report.files_scanned,
            skipped: report.skipped.clone(),
            series: report
                .series
                .iter()
                .enumerate()
                .map(|(i, s)| SeriesSummary::of(s, extra.get(i).unwrap_or(&PixelReport::default())))
                .collect(),
        }
    }
}
