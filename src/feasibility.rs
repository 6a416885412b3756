//! Feasibility findings: what the operator must know about the images before segmenting
//! (ISO/IEC 3532-1 asks that the feasibility of the original images be assessed).
//!
//! Each finding has a stable code (a public contract in `info --json` and the reports), a
//! severity and a message written for the operator.

use serde::{Deserialize, Serialize};

/// How much a finding matters for modelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no action needed.
    Info,
    /// Modelling is possible but accuracy may suffer; review before segmenting.
    Warning,
    /// The images are not fit for modelling as they are.
    Error,
}

/// Stable finding codes; serialised by [`FindingCode::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingCode {
    /// Median slice distance above 1 mm.
    SliceDistanceAbove1mm,
    /// Slice distances differ.
    VariableSliceDistance,
    /// Gaps of at least 1.5× the median distance.
    MissingSlices,
    /// Several images at one position.
    DuplicateSlices,
    /// Positions shear: the stack was acquired with gantry tilt.
    GantryTilt,
    /// A localizer (scout) image.
    Localizer,
    /// Derived image (not original data).
    DerivedImage,
    /// Secondary capture (screenshots, dose sheets).
    SecondaryCapture,
    /// Not a CT modality.
    NotCt,
    /// Pixels larger than 1 mm.
    LowInPlaneResolution,
    /// Too few slices for a 3D model.
    TooFewSlices,
    /// Lossy compression was used.
    LossyCompression,
    /// Older than the configured age.
    OldAcquisition,
    /// Estimated noise above the threshold.
    NoiseHigh,
    /// Very dense voxels in streak-like clusters.
    MetalArtefactSuspected,
    /// HU values outside i16 were clamped.
    HuClamped,
    /// The source carries no acquisition protocol (a NIfTI volume).
    AcquisitionUnknown,
    /// Images without Rescale Intercept or Modality LUT: stored values taken as HU.
    RescaleMissing,
}

impl FindingCode {
    /// The code as written in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SliceDistanceAbove1mm => "slice-distance-above-1mm",
            Self::VariableSliceDistance => "variable-slice-distance",
            Self::MissingSlices => "missing-slices",
            Self::DuplicateSlices => "duplicate-slices",
            Self::GantryTilt => "gantry-tilt",
            Self::Localizer => "localizer",
            Self::DerivedImage => "derived-image",
            Self::SecondaryCapture => "secondary-capture",
            Self::NotCt => "not-ct",
            Self::LowInPlaneResolution => "low-in-plane-resolution",
            Self::TooFewSlices => "too-few-slices",
            Self::LossyCompression => "lossy-compression",
            Self::OldAcquisition => "old-acquisition",
            Self::NoiseHigh => "noise-high",
            Self::MetalArtefactSuspected => "metal-artefact-suspected",
            Self::HuClamped => "hu-clamped",
            Self::AcquisitionUnknown => "acquisition-unknown",
            Self::RescaleMissing => "rescale-missing",
        }
    }

    /// Every code, in declaration order.
    pub const ALL: [FindingCode; 18] = [
        Self::SliceDistanceAbove1mm,
        Self::VariableSliceDistance,
        Self::MissingSlices,
        Self::DuplicateSlices,
        Self::GantryTilt,
        Self::Localizer,
        Self::DerivedImage,
        Self::SecondaryCapture,
        Self::NotCt,
        Self::LowInPlaneResolution,
        Self::TooFewSlices,
        Self::LossyCompression,
        Self::OldAcquisition,
        Self::NoiseHigh,
        Self::MetalArtefactSuspected,
        Self::HuClamped,
        Self::AcquisitionUnknown,
        Self::RescaleMissing,
    ];

    /// The code written as `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl Serialize for FindingCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FindingCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown finding code `{text}`")))
    }
}

/// One feasibility finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable code.
    pub code: FindingCode,
    /// Severity.
    pub severity: Severity,
    /// What was found and what it means, for the operator.
    pub message: String,
    /// The measured value behind the finding, when there is one (unit in the message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

impl Finding {
    /// Builds a finding.
    pub fn new(code: FindingCode, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            code,
            severity,
            message: message.into(),
            value: None,
        }
    }

    /// Attaches the measured value.
    pub fn with_value(mut self, v: f64) -> Self {
        self.value = Some(v);
        self
    }
}

/// Thresholds of the checks, with where they come from.
pub mod limits {
    /// ISO/IEC 3532-1: a slice distance under 1 mm is typically sufficient for modelling.
    pub const MAX_SLICE_DISTANCE_MM: f64 = 1.0;
    /// Slice distances may differ by this much (mm) before we call them variable: IPP is
    /// usually written with 0.01 mm or coarser precision, so smaller differences are noise.
    pub const SLICE_DISTANCE_TOLERANCE_MM: f64 = 0.02;
    /// A gap this many times the median distance is a missing slice (dcm2niix and ITK use
    /// similar ratios to call a series non-uniform).
    pub const MISSING_GAP_RATIO: f64 = 1.5;
    /// Positions closer than this (mm, along the normal) are the same slice.
    pub const DUPLICATE_DISTANCE_MM: f64 = 0.01;
    /// Resampled slice distances below this (mm) describe no CT (the thinnest
    /// reconstructions are ~0.25 mm) and multiply the volume for nothing.
    pub const MIN_OUTPUT_SLICE_DISTANCE_MM: f64 = 0.1;
    /// Resampled slice distances above this (mm) discard most of any head CT.
    pub const MAX_OUTPUT_SLICE_DISTANCE_MM: f64 = 20.0;
    /// A gap is interpolated only when it spans at most this many median distances ...
    pub const MAX_INTERPOLATED_GAP_RATIO: f64 = 5.0;
    /// ... and at most this many mm (beyond, the "slices" would be invented anatomy); one
    /// missing slice (two median distances) is always interpolated.
    pub const MAX_INTERPOLATED_GAP_MM: f64 = 10.0;
    /// Tilt below this (degrees) is rounding in IPP, not tilt: 0.01 mm over 100 mm is
    /// 0.006°.
    pub const TILT_TOLERANCE_DEG: f64 = 0.05;
    /// Pixels above 1 mm cannot show cortical bone of 1–2 mm reliably.
    pub const MAX_PIXEL_SPACING_MM: f64 = 1.0;
    /// Below this many slices a series is not a volume worth modelling from (a structure of
    /// a few cm at ≤ 1 mm spacing spans dozens of slices).
    pub const MIN_SLICES: usize = 10;
    /// Default age (days, ~6 months) after which an acquisition may no longer show the
    /// anatomy as it is now (growth, resorption, surgery).
    pub const DEFAULT_MAX_AGE_DAYS: i64 = 183;
    /// Noise σ (HU) above which bone thresholding at ~226 HU picks up soft tissue (~40 HU)
    /// noise: at σ = 60 HU the bone threshold is only ~3σ above soft tissue.
    pub const MAX_NOISE_SIGMA_HU: f64 = 60.0;
    /// HU above which a voxel is denser than any bone (cortical bone ≤ ~2000 HU; metal
    /// implants saturate the scale near 3071 HU with 12-bit data).
    pub const METAL_HU: i16 = 3000;
    /// Metal voxels needed before we suspect artefacts (a few isolated voxels are noise).
    pub const METAL_MIN_VOXELS: usize = 50;
}

/// Parses a DICOM DA value (YYYYMMDD) into days since 1970-01-01.
pub fn days_from_dicom_date(da: &str) -> Option<i64> {
    let d = da.trim();
    if d.len() < 8 || !d.as_bytes()[..8].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let y: i64 = d[0..4].parse().ok()?;
    let m: i64 = d[4..6].parse().ok()?;
    let day: i64 = d[6..8].parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(y, m, day))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Today, in days since 1970-01-01 (UTC).
pub fn today_days() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    secs.div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_dicom_date("20150206"), Some(16_472));
        assert_eq!(days_from_dicom_date("2015"), None);
        assert_eq!(days_from_dicom_date("20151399"), None);
    }

    #[test]
    fn codes_serialise_as_documented() {
        let j = serde_json::to_string(&FindingCode::SliceDistanceAbove1mm).unwrap_or_default();
        assert_eq!(j, "\"slice-distance-above-1mm\"");
        assert_eq!(
            serde_json::to_string(&FindingCode::MetalArtefactSuspected).unwrap_or_default(),
            "\"metal-artefact-suspected\""
        );
        for c in FindingCode::ALL {
            assert_eq!(FindingCode::parse(c.as_str()), Some(c));
            let back: Result<FindingCode, _> = serde_json::from_str(&format!("\"{}\"", c.as_str()));
            assert_eq!(back.ok(), Some(c));
        }
        assert!(serde_json::from_str::<FindingCode>("\"no-such-code\"").is_err());
    }
}

/// Measurements behind the pixel-based findings, reported even when nothing is found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PixelStats {
    /// Estimated noise σ in soft tissue, HU (`None` without enough soft tissue).
    pub noise_sigma_hu: Option<f64>,
    /// Voxels at or above the metal threshold.
    pub metal_voxels: usize,
}

/// Noise and metal checks on the voxel values.
pub fn pixel_findings(volume: &crate::volume::Volume) -> (Vec<Finding>, PixelStats) {
    use rayon::prelude::*;
    let hu = &volume.hu;
    let (n, _, _) = hu.dim();
    let mut out = Vec::new();
    // Per-slice block noise and metal counts, in parallel over slices.
    let per_slice: Vec<(Vec<f64>, usize)> = (0..n)
        .into_par_iter()
        .map(|k| {
            let s = hu.index_axis(ndarray::Axis(0), k);
            let metal = s.iter().filter(|v| **v >= limits::METAL_HU).count();
            (block_sigmas(&s), metal)
        })
        .collect();
    let all: Vec<f64> = per_slice
        .iter()
        .flat_map(|(b, _)| b.iter().copied())
        .collect();
    let sigma = low_quartile(&all);
    if let Some(sigma) = sigma
        && all.len() >= NOISE_MIN_BLOCKS
        && sigma > limits::MAX_NOISE_SIGMA_HU
    {
        out.push(
            Finding::new(
                FindingCode::NoiseHigh,
                Severity::Warning,
                format!(
                    "estimated noise sigma {sigma:.1} HU in soft tissue (lower quartile of the standard deviations of {} blocks of 8x8 pixels) is above {} HU: thresholds will pick up noise",
                    all.len(),
                    limits::MAX_NOISE_SIGMA_HU
                ),
            )
            .with_value(sigma),
        );
    }
    let metal_total: usize = per_slice.iter().map(|(_, m)| *m).sum();
    let stats = PixelStats {
        noise_sigma_hu: sigma.filter(|_| all.len() >= NOISE_MIN_BLOCKS),
        metal_voxels: metal_total,
    };
    if metal_total >= limits::METAL_MIN_VOXELS {
        let slices: Vec<usize> = per_slice
            .iter()
            .enumerate()
            .filter(|(_, (_, m))| *m >= 10)
            .map(|(k, _)| k)
            .collect();
        // Streaks raise the local noise in the slices that hold the metal.
        let metal_sigma = low_quartile(
            &slices
                .iter()
                .flat_map(|k| per_slice[*k].0.iter().copied())
                .collect::<Vec<_>>(),
        );
        let streaky = matches!((metal_sigma, sigma), (Some(m), Some(s)) if m > 1.5 * s);
        if !slices.is_empty() {
            out.push(
                Finding::new(
                    FindingCode::MetalArtefactSuspected,
                    Severity::Warning,
                    format!(
                        "{metal_total} voxels at or above {} HU in {} slice(s) ({}..{}){}: metal causes streaks that corrupt thresholds nearby; review these slices",
                        limits::METAL_HU,
                        slices.len(),
                        slices[0],
                        slices[slices.len() - 1],
                        if streaky { ", with raised noise in those slices (streaks)" } else { "" }
                    ),
                )
                .with_value(metal_total as f64),
            );
        }
    }
    (out, stats)
}

/// Blocks needed before a noise estimate is trusted.
const NOISE_MIN_BLOCKS: usize = 50;

/// Standard deviations of 8×8 blocks whose mean is soft tissue (−100..200 HU). Blocks that
/// straddle an edge also have such means and inflate the upper part of the distribution —
/// in a head with little soft tissue, most of it — so the estimate is its lower quartile,
/// which for pure noise is ~0.93 σ (64-sample standard deviations).
fn block_sigmas(s: &ndarray::ArrayView2<'_, i16>) -> Vec<f64> {
    const B: usize = 8;
    let (rows, cols) = s.dim();
    let mut out = Vec::new();
    for r0 in (0..rows.saturating_sub(B - 1)).step_by(B) {
        for c0 in (0..cols.saturating_sub(B - 1)).step_by(B) {
            let mut sum = 0f64;
            let mut sq = 0f64;
            for r in r0..r0 + B {
                for c in c0..c0 + B {
                    let v = f64::from(s[[r, c]]);
                    sum += v;
                    sq += v * v;
                }
            }
            let n = (B * B) as f64;
            let mean = sum / n;
            if (-100.0..=200.0).contains(&mean) {
                let var = (sq / n - mean * mean).max(0.0) * n / (n - 1.0);
                out.push(var.sqrt());
            }
        }
    }
    out
}

fn low_quartile(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    Some(s[s.len() / 4])
}
