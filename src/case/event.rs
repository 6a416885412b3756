//! What happens to a case after it is created, one journal record each: operations and
//! their undo/redo, the acknowledgement of findings, reconstructions, exports, slice
//! verification and moves of the source folder. The state of a case is the fold of its
//! events over its [`super::record::CaseRecord`]; replaying the events recomputes it.

use super::ledger::SliceMark;
use crate::mesh::record::ReconstructionRecord;
use crate::segment::log::LogEntry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One journal record: its position and the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the journal, from 0.
    pub seq: usize,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// Everything that can happen to a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A segmentation operation, as logged (parameters, hashes, time, operator).
    Applied {
        /// The log entry.
        entry: LogEntry,
    },
    /// The operation at `index` was undone.
    Undone(Step),
    /// The operation at `index` was redone.
    Redone(Step),
    /// The operator read the feasibility findings.
    Acknowledged(Acknowledgement),
    /// A surface was reconstructed.
    Reconstructed(Reconstructed),
    /// A file was exported.
    Exported(ExportRecord),
    /// A slice was verified, flagged or cleared.
    Verified(SliceMark),
    /// The source folder was found at a new place, with the same content.
    SourceMoved(SourceMove),
    /// A phantom validation of this case's pipeline was attached (ISO/IEC 3532-1 §6.5).
    Validated(Box<ValidationRef>),
    /// A physician's signed decision (ISO/IEC 3532-1 §6.5).
    Reviewed(Box<crate::review::SignedDecision>),
    /// A measurement was taken.
    Measured(Box<crate::measure::Measurement>),
    /// A measurement was withdrawn.
    MeasurementRemoved(MeasurementRemoval),
    /// DICOM exports were sent to an archive.
    Sent(Box<Transmission>),
}

impl Event {
    /// The event's name, as written in the journal.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Applied { .. } => "applied",
            Self::Undone(_) => "undone",
            Self::Redone(_) => "redone",
            Self::Acknowledged(_) => "acknowledged",
            Self::Reconstructed(_) => "reconstructed",
            Self::Exported(_) => "exported",
            Self::Verified(_) => "verified",
            Self::SourceMoved(_) => "source_moved",
            Self::Validated(_) => "validated",
            Self::Reviewed(_) => "reviewed",
            Self::Measured(_) => "measured",
            Self::MeasurementRemoved(_) => "measurement_removed",
            Self::Sent(_) => "sent",
        }
    }
}

/// An undo or redo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The log entry undone or redone.
    pub index: usize,
    /// Hash of the whole segmentation afterwards.
    pub segmentation_hash: String,
    /// Who.
    pub operator: String,
    /// When (UTC, RFC 3339).
    pub time: String,
}

/// The operator's acknowledgement of the findings (ISO/IEC 3532-1 §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The finding codes read and accepted.
    pub codes: Vec<String>,
    /// Who.
    pub operator: String,
    /// When (UTC, RFC 3339).
    pub time: String,
    /// Why modelling may go ahead despite them, when the operator said.
    #[serde(default)]
    pub note: Option<String>,
}

/// A label's mask as it was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskRef {
    /// The label.
    pub label: String,
    /// blake3 of its mask, hex.
    pub mask_hash: String,
}

/// A reconstruction, with what it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconstructed {
    /// The masks reconstructed.
    pub masks: Vec<MaskRef>,
    /// Hash of the whole segmentation at the time.
    pub segmentation_hash: String,
    /// Log entries at the time (the state after entry `log_position - 1`).
    pub log_position: usize,
    /// The reconstruction record.
    pub record: ReconstructionRecord,
    /// Who.
    pub operator: String,
    /// When (UTC, RFC 3339).
    pub time: String,
}

/// File formats a case exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// Binary STL.
    Stl,
    /// ASCII STL.
    StlAscii,
    /// 3MF package.
    #[serde(rename = "3mf")]
    ThreeMf,
    /// Wavefront OBJ.
    Obj,
    /// NIfTI-1 (`.nii` or `.nii.gz`).
    Nifti,
    /// NRRD.
    Nrrd,
    /// Per-slice outlines as JSON.
    Outlines,
    /// DICOM Segmentation (binary), one segment per label (`.seg.dcm`).
    DicomSeg,
    /// DICOM RT Structure Set, one ROI of per-slice contours per label (`.rtstruct.dcm`).
    RtStruct,
}

impl ExportFormat {
    /// The name written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stl => "stl",
            Self::StlAscii => "stl-ascii",
            Self::ThreeMf => "3mf",
            Self::Obj => "obj",
            Self::Nifti => "nifti",
            Self::Nrrd => "nrrd",
            Self::Outlines => "outlines",
            Self::DicomSeg => "dicom-seg",
            Self::RtStruct => "rtstruct",
        }
    }

    /// Whether it is a DICOM object on the source series (SEG, RT Structure Set).
    pub fn is_dicom(self) -> bool {
        matches!(self, Self::DicomSeg | Self::RtStruct)
    }

    /// Whether it holds a surface (made by a reconstruction).
    pub fn is_surface(self) -> bool {
        matches!(self, Self::Stl | Self::StlAscii | Self::ThreeMf | Self::Obj)
    }

    /// The format a file name asks for, by its extension.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let n = name.to_ascii_lowercase();
        if n.ends_with(".seg.dcm") {
            Some(Self::DicomSeg)
        } else if n.ends_with(".rtstruct.dcm") {
            Some(Self::RtStruct)
        } else if n.ends_with(".stl") {
            Some(Self::Stl)
        } else if n.ends_with(".3mf") {
            Some(Self::ThreeMf)
        } else if n.ends_with(".obj") {
            Some(Self::Obj)
        } else if n.ends_with(".nii") || n.ends_with(".nii.gz") {
            Some(Self::Nifti)
        } else if n.ends_with(".nrrd") {
            Some(Self::Nrrd)
        } else if n.ends_with(".json") {
            Some(Self::Outlines)
        } else {
            None
        }
    }

    /// The coordinate frame and unit the format's content uses.
    pub fn frame(self) -> &'static str {
        match self {
            Self::Nifti => "NIfTI RAS (x and y negated from DICOM LPS), millimetres",
            Self::Nrrd => "NRRD left-posterior-superior (DICOM LPS), millimetres",
            _ => crate::mesh::record::FRAME,
        }
    }
}

/// What a volume export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeContent {
    /// 0/1 for one label.
    Mask,
    /// Label numbers (1, 2, … in label order) for every label.
    LabelMap,
    /// The HU values inside the label, −1024 outside.
    MaskedHu,
}

/// What to export: enough to make the same bytes again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportSpec {
    /// File name inside the case's `exports/` folder.
    pub file: String,
    /// The format.
    pub format: ExportFormat,
    /// The labels it holds (surfaces: one object each; masks: one label, unless a label
    /// map).
    pub labels: Vec<String>,
    /// For volume formats: what the voxels hold.
    #[serde(default)]
    pub content: Option<VolumeContent>,
    /// For surfaces: write it even if it is open or non-manifold (recorded).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_open: bool,
    /// For surfaces: write it even if it faces inwards or intersects itself (recorded).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_defects: bool,
}

/// A file written by the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// What was asked for.
    pub spec: ExportSpec,
    /// Path relative to the case folder.
    pub path: String,
    /// Unit of coordinates.
    pub units: String,
    /// Coordinate frame.
    pub frame: String,
    /// blake3 of the masks it was made from, by label.
    pub mask_hashes: BTreeMap<String, String>,
    /// Hash of the whole segmentation at the time.
    pub segmentation_hash: String,
    /// Log entries at the time.
    pub log_position: usize,
    /// The journal record of the reconstruction it holds (surfaces).
    pub reconstruction_seq: Option<usize>,
    /// Size, bytes.
    pub bytes: u64,
    /// blake3 of the file, hex.
    pub blake3: String,
    /// The software that wrote it ("Hounsfield 0.1.0"; written into the file).
    pub software: String,
    /// When slices were left unverified, the coverage the operator accepted by exporting
    /// anyway (e.g. "bone axial: 132 of 140 verified, 3 changed after verification").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_override: Option<String>,
    /// Who.
    pub operator: String,
    /// When (UTC, RFC 3339).
    pub time: String,
}

/// A phantom validation attached to a case: the measurements, the file they came from,
/// and whether its recipe used this case's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationRef {
    /// The `validation.json` read.
    pub path: PathBuf,
    /// Its blake3.
    pub blake3: String,
    /// Its measurements.
    pub validation: crate::phantom::validate::Validation,
    /// Whether the validated segmentation operations equal this recipe's (labels aside).
    pub same_segmentation: bool,
    /// Whether the validated reconstruction parameters equal this recipe's.
    pub same_reconstruction: bool,
    /// Who attached it.
    pub operator: String,
    /// When (UTC, RFC 3339).
    pub time: String,
}

/// A measurement withdrawn (it stays in the journal; the report lists the others).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasurementRemoval {
    /// The journal record of the measurement.
    pub seq: usize,
    /// Who.
    pub operator: String,
    /// When (UTC, RFC 3339).
    pub time: String,
}

/// DICOM exports sent to an archive, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transmission {
    /// The archive in words (AE title and address, or the DICOMweb URL; never a password).
    pub node: String,
    /// Each object sent.
    pub objects: Vec<SentObject>,
    /// Who.
    pub operator: String,
    /// When (UTC, RFC 3339).
    pub time: String,
}

/// One export sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentObject {
    /// The journal record of the export.
    pub export_seq: usize,
    /// Its path in the case.
    pub path: String,
    /// Its SOP Instance UID.
    pub sop_instance: String,
    /// blake3 of the bytes sent (the export's recorded hash).
    pub blake3: String,
    /// Whether the archive accepted it.
    pub accepted: bool,
    /// The archive's reason, when it refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub refusal: String,
}

/// The source folder found elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMove {
    /// Where it was.
    pub from: PathBuf,
    /// Where it is now.
    pub to: PathBuf,
    /// Files whose size and hash were checked at the new place (all of them).
    pub files_checked: usize,
    /// Who.
    pub operator: String,
    /// When (UTC, RFC 3339).
    pub time: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_flat_tagged_objects() {
        let r = Record {
            seq: 3,
            event: Event::Acknowledged(Acknowledgement {
                codes: vec!["missing-slices".into()],
                operator: "a".into(),
                time: "t".into(),
                note: None,
            }),
        };
        let j = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(j["seq"], 3);
        assert_eq!(j["event"], "acknowledged");
        assert_eq!(j["codes"][0], "missing-slices");
        let back: Record = serde_json::from_value(j).expect("reads back");
        assert_eq!(back, r);
        assert_eq!(
            ExportFormat::from_file_name("x.NII.GZ"),
            Some(ExportFormat::Nifti)
        );
        assert_eq!(
            serde_json::to_string(&ExportFormat::ThreeMf).unwrap_or_default(),
            "\"3mf\""
        );
    }
}
