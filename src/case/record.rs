//! `case.json`: what a case was made from and why, written once when the case is created.
//! Everything that happens afterwards is an event in the journal (see [`super::event`]);
//! the record never changes, so it can be read, copied and compared without a lock.

use crate::dicom::acquisition::{AcquisitionRecord, MinMedMax, PatientRecord};
use crate::feasibility::{Finding, PixelStats, Severity};
use crate::volume::resample::ResampleRecord;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Schema name written in every `case.json`.
pub const SCHEMA: &str = "hounsfield-case";
/// Schema version; readers refuse newer versions.
pub const VERSION: u32 = 1;

/// Why the model is made (ISO/IEC 3532-1 asks for the clinical purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PurposeCategory {
    /// Design of a cranial (or other) implant.
    CranialImplantDesign,
    /// Planning of a surgery.
    SurgicalPlanning,
    /// An anatomical model (communication, patient consent).
    AnatomicalModel,
    /// Teaching and training.
    Education,
    /// Anything else; the text says what.
    Other,
}

impl PurposeCategory {
    /// Every category.
    pub const ALL: [PurposeCategory; 5] = [
        Self::CranialImplantDesign,
        Self::SurgicalPlanning,
        Self::AnatomicalModel,
        Self::Education,
        Self::Other,
    ];

    /// The name written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CranialImplantDesign => "cranial-implant-design",
            Self::SurgicalPlanning => "surgical-planning",
            Self::AnatomicalModel => "anatomical-model",
            Self::Education => "education",
            Self::Other => "other",
        }
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::CranialImplantDesign => "Cranial implant design",
            Self::SurgicalPlanning => "Surgical planning",
            Self::AnatomicalModel => "Anatomical model",
            Self::Education => "Education",
            Self::Other => "Other",
        }
    }
}

/// The clinical purpose: a category and the operator's own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// The category.
    pub category: PurposeCategory,
    /// Free text (the anatomy, the tissue, the question).
    pub text: String,
}

impl Purpose {
    /// Fails with a message when the purpose is not usable (empty text).
    pub fn check(&self) -> Result<(), String> {
        if self.text.trim().is_empty() {
            return Err("the clinical purpose needs a text saying what the model is for (e.g. \"skull, left parietal defect, implant design\")".into());
        }
        Ok(())
    }
}

/// The software that wrote a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    /// Always "hounsfield".
    pub name: String,
    /// Crate version.
    pub version: String,
    /// Git commit the binary was built from ("unknown" outside a checkout).
    pub commit: String,
    /// Operating system and architecture.
    pub platform: String,
}

impl Software {
    /// This build.
    pub fn this() -> Self {
        Self {
            name: "hounsfield".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            commit: option_env!("HOUNSFIELD_GIT_COMMIT")
                .unwrap_or("unknown")
                .into(),
            platform: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

/// What kind of source a case was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A DICOM series (folder, file or DICOMDIR).
    Dicom,
    /// A NIfTI volume.
    Nifti,
}

/// One source file: where it lies under the source root and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Path relative to the source root, `/`-separated.
    pub path: String,
    /// Size, bytes.
    pub bytes: u64,
    /// blake3 of the content, hex.
    pub blake3: String,
}

/// How the volume was built from the files: everything that changes its voxels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadSettings {
    /// Irregular stacks were resampled onto a regular grid.
    pub resample: bool,
    /// Output slice distance asked for, mm (`None`: the default choice).
    pub slice_distance_mm: Option<f64>,
}

impl Default for LoadSettings {
    fn default() -> Self {
        Self {
            resample: true,
            slice_distance_mm: None,
        }
    }
}

/// The source of a case: referenced, never copied or modified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// DICOM or NIfTI.
    pub kind: SourceKind,
    /// The folder the files were found in, absolute, at creation (a later move is an
    /// event in the journal).
    pub root: PathBuf,
    /// The series selector used (`info`'s id), when DICOM.
    pub series_id: Option<String>,
    /// Study Instance UID.
    pub study_uid: Option<String>,
    /// Series Instance UID.
    pub series_uid: Option<String>,
    /// Series Number.
    pub series_number: Option<i64>,
    /// Series Description.
    pub description: String,
    /// Modality.
    pub modality: Option<String>,
    /// Every file the volume was built from.
    pub files: Vec<SourceFile>,
    /// How the volume was built.
    pub load: LoadSettings,
    /// blake3 of the HU volume and its geometry (see [`crate::segment::log::volume_hash`]).
    pub volume_hash: String,
    /// `[slices, rows, columns]`.
    pub dims: [usize; 3],
    /// Spacing `[slice, row, column]`, mm.
    pub spacing_mm: [f64; 3],
    /// Voxel index `(i, j, k, 1)` → LPS mm.
    pub affine_ijk_to_lps: [[f64; 4]; 4],
}

/// Gantry tilt, measured and tagged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tilt {
    /// From the image positions, degrees.
    pub measured_deg: Option<f64>,
    /// Gantry/Detector Tilt (0018,1120), degrees.
    pub tag_deg: Option<f64>,
}

/// The feasibility assessment of the images (ISO/IEC 3532-1 §6.2), as found at import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feasibility {
    /// Every finding of the series and its pixels.
    pub findings: Vec<Finding>,
    /// Noise and metal measurements.
    pub pixel_stats: Option<PixelStats>,
    /// Slice distance measured from the image positions, mm.
    pub slice_distance_mm: Option<MinMedMax>,
    /// Gantry tilt.
    pub tilt: Tilt,
    /// The resampling that made the grid regular (tilt correction, equal spacing), if any.
    pub resampling: Option<ResampleRecord>,
    /// Volume slices interpolated across missing slices (not acquired).
    pub interpolated_slices: Vec<usize>,
}

impl Feasibility {
    /// Codes of the findings that must be acknowledged before segmenting (warnings and
    /// errors), sorted and unique.
    pub fn codes_to_acknowledge(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| f.code.as_str().to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The whole of `case.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// [`VERSION`] when written.
    pub version: u32,
    /// The case's name (its folder without `.hfcase`).
    pub name: String,
    /// What exports and reports carry instead of the patient's name, ID or birth date.
    pub pseudonym: String,
    /// When the case was created (UTC, RFC 3339).
    pub created: String,
    /// Who created it.
    pub operator: String,
    /// The software that created it.
    pub software: Software,
    /// Why the model is made.
    pub purpose: Purpose,
    /// What it was made from.
    pub source: SourceRecord,
    /// How the images were acquired (ISO/IEC 3532-1: the first record); `None` for a
    /// NIfTI source, which carries none.
    pub acquisition: Option<AcquisitionRecord>,
    /// The feasibility assessment.
    pub feasibility: Feasibility,
    /// Patient-identifying data; left out when the case was created without it. Never
    /// copied into exports or reports.
    pub patient: Option<PatientRecord>,
}

impl CaseRecord {
    /// Checks the schema name and version.
    pub fn check_schema(&self) -> Result<(), String> {
        if self.schema != SCHEMA {
            return Err(format!(
                "schema is `{}`, not `{SCHEMA}`: not a Hounsfield case",
                self.schema
            ));
        }
        if self.version > VERSION {
            return Err(format!(
                "case.json version {} is newer than this Hounsfield reads ({VERSION}); update Hounsfield",
                self.version
            ));
        }
        Ok(())
    }
}

/// A deterministic pseudonym for a source: `HF-` and 10 characters of a hash of the study
/// and series UIDs (or the volume hash), so that the same scan always gets the same
/// pseudonym and equal inputs give equal export bytes.
pub fn pseudonym_for(source: &SourceRecord) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"hounsfield-pseudonym-v1");
    for part in [&source.study_uid, &source.series_uid] {
        h.update(part.as_deref().unwrap_or("").as_bytes());
        h.update(&[0]);
    }
    h.update(source.volume_hash.as_bytes());
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes = h.finalize();
    let code: String = bytes.as_bytes()[..10]
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect();
    format!("HF-{code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purpose_names_round_trip_and_text_is_required() {
        for c in PurposeCategory::ALL {
            let j = serde_json::to_string(&c).unwrap_or_default();
            assert_eq!(j, format!("\"{}\"", c.as_str()));
            let back: Option<PurposeCategory> = serde_json::from_str(&j).ok();
            assert_eq!(back, Some(c));
        }
        let p = Purpose {
            category: PurposeCategory::Other,
            text: "  ".into(),
        };
        assert!(p.check().is_err());
        let bad: Result<Purpose, _> = serde_json::from_str(r#"{"category": "fun", "text": "x"}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn pseudonyms_are_stable_and_differ_between_series() {
        let mut s = SourceRecord {
            kind: SourceKind::Dicom,
            root: PathBuf::from("/x"),
            series_id: Some("1".into()),
            study_uid: Some("1.2.3".into()),
            series_uid: Some("1.2.3.4".into()),
            series_number: Some(1),
            description: String::new(),
            modality: Some("CT".into()),
            files: Vec::new(),
            load: LoadSettings::default(),
            volume_hash: "ab".into(),
            dims: [1, 1, 1],
            spacing_mm: [1.0; 3],
            affine_ijk_to_lps: [[0.0; 4]; 4],
        };
        let a = pseudonym_for(&s);
        assert_eq!(a, pseudonym_for(&s));
        assert!(a.starts_with("HF-") && a.len() == 13, "{a}");
        s.series_uid = Some("1.2.3.5".into());
        assert_ne!(a, pseudonym_for(&s));
    }
}
