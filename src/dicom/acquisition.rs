//! The acquisition protocol record (ISO/IEC 3532-1: the first of the four things to record)
//! and, kept apart, the patient-identifying fields.

use serde::{Deserialize, Serialize};

/// Minimum, median and maximum of a measured quantity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MinMedMax {
    /// Smallest value.
    pub min: f64,
    /// Median value.
    pub median: f64,
    /// Largest value.
    pub max: f64,
}

impl MinMedMax {
    /// Summarises `values`; `None` when empty or when any value is not finite.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            min: v[0],
            median,
            max: v[n - 1],
        })
    }
}

/// How the CT was acquired and reconstructed, as read from DICOM. Every field is optional
/// because scanners omit many of them; a missing value is reported as missing, never
/// invented.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AcquisitionRecord {
    /// Manufacturer (0008,0070).
    pub manufacturer: Option<String>,
    /// Manufacturer's Model Name (0008,1090).
    pub model: Option<String>,
    /// Station Name (0008,1010).
    pub station: Option<String>,
    /// Software Versions (0018,1020), all values.
    pub software_versions: Vec<String>,
    /// Study Date (0008,0020), YYYYMMDD.
    pub study_date: Option<String>,
    /// Study Time (0008,0030).
    pub study_time: Option<String>,
    /// Series Date (0008,0021).
    pub series_date: Option<String>,
    /// Series Time (0008,0031).
    pub series_time: Option<String>,
    /// Acquisition Date (0008,0022).
    pub acquisition_date: Option<String>,
    /// Series Description (0008,103E).
    pub series_description: Option<String>,
    /// Protocol Name (0018,1030).
    pub protocol_name: Option<String>,
    /// Body Part Examined (0018,0015).
    pub body_part: Option<String>,
    /// KVP (0018,0060), kV.
    pub kvp: Option<f64>,
    /// X-Ray Tube Current (0018,1151) over the slices, mA.
    pub tube_current_ma: Option<MinMedMax>,
    /// Exposure (0018,1152) over the slices, mAs.
    pub exposure_mas: Option<MinMedMax>,
    /// Exposure Time (0018,1150), ms.
    pub exposure_time_ms: Option<f64>,
    /// CTDIvol (0018,9345), mGy.
    pub ctdi_vol_mgy: Option<f64>,
    /// Slice Thickness (0018,0050), mm: the nominal reconstructed thickness, not the spacing.
    pub slice_thickness_mm: Option<f64>,
    /// Slice distance measured from Image Position (Patient) along the normal, mm.
    pub slice_distance_mm: Option<MinMedMax>,
    /// Pixel Spacing (0028,0030) `[row, column]`, mm.
    pub pixel_spacing_mm: Option<[f64; 2]>,
    /// Rows (0028,0010).
    pub rows: u32,
    /// Columns (0028,0011).
    pub columns: u32,
    /// Number of slices used.
    pub slices: usize,
    /// Convolution Kernel (0018,1210) and vendor equivalents, all values.
    pub reconstruction_kernel: Vec<String>,
    /// Filter Type (0018,1160).
    pub filter_type: Option<String>,
    /// Gantry/Detector Tilt (0018,1120) as tagged, degrees.
    pub gantry_tilt_tag_deg: Option<f64>,
    /// Gantry tilt measured from the image positions, degrees.
    pub gantry_tilt_measured_deg: Option<f64>,
    /// Patient Position (0018,5100), e.g. HFS.
    pub patient_position: Option<String>,
    /// Contrast/Bolus Agent (0018,0010); `None` when the tag is absent.
    pub contrast_agent: Option<String>,
    /// Spiral Pitch Factor (0018,9311).
    pub spiral_pitch: Option<f64>,
    /// Reconstruction Diameter (0018,1100), mm.
    pub reconstruction_diameter_mm: Option<f64>,
    /// Data Collection Diameter (0018,0090), mm.
    pub data_collection_diameter_mm: Option<f64>,
    /// Transfer Syntax UID of the pixel data.
    pub transfer_syntax: String,
    /// Whether that transfer syntax is lossy, or Lossy Image Compression (0028,2110) is "01".
    pub lossy_compression: bool,
}

/// Patient-identifying attributes, kept out of the acquisition record so that exports and
/// reports can leave them out (de-identification) without touching anything else.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PatientRecord {
    /// Patient's Name (0010,0010).
    pub name: Option<String>,
    /// Patient ID (0010,0020).
    pub id: Option<String>,
    /// Patient's Birth Date (0010,0030).
    pub birth_date: Option<String>,
    /// Patient's Sex (0010,0040).
    pub sex: Option<String>,
    /// Patient's Age (0010,1010).
    pub age: Option<String>,
    /// Institution Name (0008,0080).
    pub institution: Option<String>,
    /// Accession Number (0008,0050).
    pub accession_number: Option<String>,
}

/// True for transfer syntaxes that discard information.
pub fn is_lossy_transfer_syntax(uid: &str) -> bool {
    matches!(
        uid,
        "1.2.840.10008.1.2.4.50" // JPEG Baseline
            | "1.2.840.10008.1.2.4.51" // JPEG Extended
            | "1.2.840.10008.1.2.4.81" // JPEG-LS near-lossless
            | "1.2.840.10008.1.2.4.91" // JPEG 2000 (lossy allowed)
            | "1.2.840.10008.1.2.4.93"
            | "1.2.840.10008.1.2.4.100" // MPEG2
            | "1.2.840.10008.1.2.4.101"
            | "1.2.840.10008.1.2.4.102" // MPEG-4
            | "1.2.840.10008.1.2.4.103"
            | "1.2.840.10008.1.2.4.110" // JPEG XL
            | "1.2.840.10008.1.2.4.112"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_med_max_of_even_and_odd() {
        let m = MinMedMax::of(&[3.0, 1.0, 2.0]);
        assert_eq!(
            m,
            Some(MinMedMax {
                min: 1.0,
                median: 2.0,
                max: 3.0
            })
        );
        let m = MinMedMax::of(&[4.0, 1.0, 2.0, 3.0]);
        assert_eq!(m.map(|m| m.median), Some(2.5));
        assert_eq!(MinMedMax::of(&[]), None);
        assert_eq!(MinMedMax::of(&[f64::NAN]), None);
    }

    #[test]
    fn lossless_syntaxes_are_not_lossy() {
        assert!(!is_lossy_transfer_syntax("1.2.840.10008.1.2.1"));
        assert!(!is_lossy_transfer_syntax("1.2.840.10008.1.2.5"));
        assert!(is_lossy_transfer_syntax("1.2.840.10008.1.2.4.50"));
    }
}
