//! The ISO/IEC 3532-1 report of a case: every section filled from the case's record,
//! journal and recomputed state, never typed by hand. [`Report`] is the machine-readable
//! model (`report.json`; its top-level keys are a public contract); [`html`] renders it as
//! one self-contained, printable page with pictures from [`thumbs`].

pub mod html;
pub mod thumbs;

use crate::case::event::{Acknowledgement, Event, ExportRecord};
use crate::case::ledger::Coverage;
use crate::case::record::{Purpose, Software, Tilt};
use crate::case::{Case, CaseFiles, ExportState};
use crate::dicom::acquisition::{AcquisitionRecord, MinMedMax};
use crate::feasibility::{Finding, PixelStats};
use crate::mesh::check::Certificate;
use crate::mesh::record::ReconstructionRecord;
use crate::mesh::thickness::ThinRegion;
use crate::segment::log::{EntryStatus, LabelChange};
use crate::volume::resample::ResampleRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Format name of `report.json`.
pub const FORMAT: &str = "hounsfield-report";
/// Its version.
pub const VERSION: u32 = 1;

/// Who and what made the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identification {
    /// The case's name.
    pub case: String,
    /// The pseudonym that stands for the patient.
    pub pseudonym: String,
    /// The software that wrote this report.
    pub software: Software,
    /// The software that created the case.
    pub case_software: Software,
    /// When the case was created.
    pub case_created: String,
    /// When this report was generated.
    pub generated: String,
    /// Everyone who recorded something in the case, in order of first appearance.
    pub operators: Vec<String>,
}

/// Where the images came from and how they were acquired (§6.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acquisition {
    /// DICOM or NIfTI.
    pub source_kind: String,
    /// Series Instance UID.
    pub series_uid: Option<String>,
    /// Study Instance UID.
    pub study_uid: Option<String>,
    /// Series Number.
    pub series_number: Option<i64>,
    /// Series Description.
    pub description: String,
    /// Modality.
    pub modality: Option<String>,
    /// Source files.
    pub files: usize,
    /// Their total size, bytes.
    pub bytes: u64,
    /// The protocol as read from DICOM (`None` for a NIfTI source).
    pub protocol: Option<AcquisitionRecord>,
    /// Slice distance from the image positions, mm (never the Slice Thickness tag).
    pub slice_distance_mm: Option<MinMedMax>,
    /// Gantry tilt, measured and tagged.
    pub tilt: Tilt,
    /// Resampling applied (tilt correction, spacing), if any.
    pub resampling: Option<ResampleRecord>,
    /// Volume slices interpolated across missing slices, not acquired.
    pub interpolated_slices: Vec<usize>,
    /// The volume grid `[slices, rows, columns]`.
    pub dims: [usize; 3],
    /// Its spacing `[slice, row, column]`, mm.
    pub spacing_mm: [f64; 3],
}

/// The feasibility assessment and its acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feasibility {
    /// Every finding.
    pub findings: Vec<Finding>,
    /// Noise and metal measurements.
    pub pixel_stats: Option<PixelStats>,
    /// Who acknowledged which codes, when.
    pub acknowledgements: Vec<Acknowledgement>,
    /// Codes that need acknowledging and are not acknowledged.
    pub unacknowledged: Vec<String>,
}

/// One operation as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRow {
    /// Log index.
    pub index: usize,
    /// Operation name.
    pub op: String,
    /// Its parameters (JSON, as logged).
    pub parameters: serde_json::Value,
    /// Applied or undone.
    pub status: EntryStatus,
    /// Who.
    pub operator: String,
    /// When.
    pub time: String,
    /// Values computed on the way.
    pub notes: Vec<String>,
    /// Voxels added and removed per label.
    pub changes: Vec<LabelChange>,
    /// Hash of the segmentation after it.
    pub segmentation_hash: String,
}

/// The manual edits in one summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManualEdits {
    /// Brush, lasso and scissors operations in the current history.
    pub strokes: usize,
    /// Voxels they added.
    pub voxels_added: u64,
    /// Voxels they removed.
    pub voxels_removed: u64,
    /// Per stroke: the label and the slice runs it changed.
    pub per_stroke: Vec<LabelChange>,
}

/// One label as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRow {
    /// Name.
    pub name: String,
    /// Voxels set.
    pub voxels: u64,
    /// Their volume, mm³.
    pub volume_mm3: f64,
    /// blake3 of the mask.
    pub mask_hash: String,
    /// Display colour.
    pub color: [u8; 3],
}

/// Segmentation (§6.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segmentation {
    /// Every logged operation, in order (undone ones marked).
    pub operations: Vec<OperationRow>,
    /// The manual edits summarised.
    pub manual_edits: ManualEdits,
    /// The labels now.
    pub labels: Vec<LabelRow>,
    /// Hash of the whole segmentation now.
    pub final_hash: String,
}

/// Slice-by-slice verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// `none` (no slice checked yet), `partial` or `complete` (every slice of every label
    /// verified in at least one orientation).
    pub state: String,
    /// Marks made, including superseded ones.
    pub marks: usize,
    /// Per label and orientation.
    pub coverage: Vec<Coverage>,
}

/// Reconstruction (§6.4): every reconstruction made, the current one last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconstruction {
    /// Journal record of each.
    pub records: Vec<ReconstructionEntry>,
}

/// One reconstruction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconstructionEntry {
    /// Journal position.
    pub seq: usize,
    /// Log entries when it was made.
    pub log_position: usize,
    /// Whether the masks are still those it was made from.
    pub current: bool,
    /// Who.
    pub operator: String,
    /// When.
    pub time: String,
    /// The record.
    pub record: ReconstructionRecord,
}

/// Mesh quality of the latest reconstruction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeshQc {
    /// Journal position of the reconstruction checked (`None`: nothing reconstructed).
    pub reconstruction_seq: Option<usize>,
    /// Certificates by label.
    pub certificates: BTreeMap<String, Certificate>,
    /// Closed, manifold, oriented outward and free of self-intersections.
    pub valid: Option<bool>,
    /// Thin-feature threshold, mm.
    pub thin_threshold_mm: Option<f64>,
    /// Regions thinner than that, by label.
    pub thin_regions: Vec<(String, ThinRegion)>,
    /// Why an empty list would prove nothing (the limit is below what the grid can show).
    #[serde(default)]
    pub thin_check_warnings: Vec<String>,
    /// Wall thickness measured on each label's mask against the same limit.
    #[serde(default)]
    pub mask_thickness: Vec<(String, crate::mesh::mask_thickness::MaskThickness)>,
}

/// A measurement in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasurementRow {
    /// Journal record.
    pub seq: usize,
    /// The measurement.
    pub measurement: crate::measure::Measurement,
}

/// One export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRow {
    /// Journal position.
    pub seq: usize,
    /// The record.
    pub record: ExportRecord,
    /// Whether the file still holds the recorded bytes.
    pub state: String,
}

/// A transmission to an archive, with its journal position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransmissionRow {
    /// Journal position.
    pub seq: usize,
    /// The record.
    pub record: crate::case::event::Transmission,
}

/// What it takes to check the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reproducibility {
    /// blake3 of the HU volume.
    pub volume_hash: String,
    /// blake3 over the source files' recorded hashes, in order.
    pub source_files_hash: String,
    /// Source files.
    pub source_files: usize,
    /// Hash of the segmentation now.
    pub final_hash: String,
    /// Each label's mask hash now.
    pub label_hashes: BTreeMap<String, String>,
    /// Journal records.
    pub journal_records: usize,
    /// The command that replays the case and checks every hash.
    pub replay_command: String,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// Case, pseudonym, software, date.
    pub identification: Identification,
    /// Clinical purpose.
    pub purpose: Purpose,
    /// Acquisition protocol and geometry.
    pub acquisition: Acquisition,
    /// Feasibility findings and their acknowledgement.
    pub feasibility: Feasibility,
    /// Segmentation methods and parameters.
    pub segmentation: Segmentation,
    /// Slice verification.
    pub verification: Verification,
    /// Reconstruction processes and parameters.
    pub reconstruction: Reconstruction,
    /// Mesh quality.
    pub mesh_qc: MeshQc,
    /// Physician review (§6.5): decisions, signatures, and whether they still hold.
    pub review: crate::review::ReviewStatus,
    /// Measurements taken on the case, in patient coordinates.
    #[serde(default)]
    pub measurements: Vec<MeasurementRow>,
    /// Exported files.
    pub exports: Vec<ExportRow>,
    /// DICOM exports sent to an archive, and what it answered.
    #[serde(default)]
    pub transmissions: Vec<TransmissionRow>,
    /// Hashes and the replay command.
    pub reproducibility: Reproducibility,
    /// The phantom validation measured on this case (`validation.json`), if any.
    #[serde(default)]
    pub validation: Option<ValidationSection>,
}

/// A phantom validation attached to the case by `hounsfield validate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationSection {
    /// `current` (measured on the case as it is), `stale` (the segmentation changed
    /// since), or why `validation.json` could not be read.
    pub state: String,
    /// The measurements.
    pub result: Option<crate::phantom::validate::Validation>,
}

fn validation_of(case: &Case) -> Option<ValidationSection> {
    // A validation attached to this (clinical) case: the latest one.
    if let Some(v) = case.files().events.iter().rev().find_map(|e| match e {
        Event::Validated(v) => Some(v),
        _ => None,
    }) {
        let mut differs = Vec::new();
        if !v.same_segmentation {
            differs.push("segmentation");
        }
        if !v.same_reconstruction {
            differs.push("reconstruction");
        }
        return Some(ValidationSection {
            state: if differs.is_empty() {
                format!(
                    "attached: this pipeline with these parameters ({}, blake3 {})",
                    v.path.display(),
                    &v.blake3[..v.blake3.len().min(16)]
                )
            } else {
                format!(
                    "attached, but validated with other {} parameters than this case's ({})",
                    differs.join(" and "),
                    v.path.display()
                )
            },
            result: Some(v.validation.clone()),
        });
    }
    let path = case.dir().join("validation.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            return Some(ValidationSection {
                state: format!("unreadable: {e}"),
                result: None,
            });
        }
    };
    Some(
        match serde_json::from_str::<crate::phantom::validate::Validation>(&text) {
            Ok(v) => ValidationSection {
                state: if v.segmentation_hash == case.session().log().final_hash {
                    "current".into()
                } else {
                    "stale".into()
                },
                result: Some(v),
            },
            Err(e) => ValidationSection {
                state: format!("unreadable: {e}"),
                result: None,
            },
        },
    )
}

fn operators(files: &CaseFiles) -> Vec<String> {
    let mut out = vec![files.record.operator.clone()];
    let mut add = |o: &String| {
        if !out.contains(o) {
            out.push(o.clone());
        }
    };
    for e in &files.events {
        match e {
            Event::Applied { entry } => add(&entry.operator),
            Event::Undone(s) | Event::Redone(s) => add(&s.operator),
            Event::Acknowledged(a) => add(&a.operator),
            Event::Reconstructed(r) => add(&r.operator),
            Event::Exported(x) => add(&x.operator),
            Event::Verified(m) => add(&m.operator),
            Event::SourceMoved(m) => add(&m.operator),
            Event::Validated(v) => add(&v.operator),
            Event::Measured(m) => add(&m.operator),
            Event::MeasurementRemoved(m) => add(&m.operator),
            Event::Sent(t) => add(&t.operator),
            // Reviewers are listed with their decisions, not as operators.
            Event::Reviewed(_) => {}
        }
    }
    out
}

/// Operations that are an operator's hand edits.
pub const MANUAL_OPS: [&str; 3] = ["brush", "lasso", "scissors"];

impl Report {
    /// The report of a case as it is now.
    pub fn of(case: &Case) -> Self {
        let files = case.files();
        let rec = &files.record;
        let log = case.session().log();
        let seg = case.session().segmentation();
        let voxel_mm3 = case.volume().voxel_volume_mm3();
        let hashes = case.mask_hashes();
        let operations: Vec<OperationRow> = log
            .entries
            .iter()
            .map(|e| {
                let mut parameters = serde_json::to_value(&e.op).unwrap_or_default();
                if let Some(m) = parameters.as_object_mut() {
                    m.remove("op");
                }
                OperationRow {
                    index: e.index,
                    op: e.op.name().into(),
                    parameters,
                    status: e.status,
                    operator: e.operator.clone(),
                    time: e.time.clone(),
                    notes: e.notes.clone(),
                    changes: e.changes.clone(),
                    segmentation_hash: e.segmentation_hash.clone(),
                }
            })
            .collect();
        let strokes: Vec<&crate::segment::log::LogEntry> = log
            .applied()
            .filter(|e| MANUAL_OPS.contains(&e.op.name()))
            .collect();
        let manual_edits = ManualEdits {
            strokes: strokes.len(),
            voxels_added: strokes
                .iter()
                .flat_map(|e| &e.changes)
                .map(|c| c.added)
                .sum(),
            voxels_removed: strokes
                .iter()
                .flat_map(|e| &e.changes)
                .map(|c| c.removed)
                .sum(),
            per_stroke: strokes
                .iter()
                .flat_map(|e| e.changes.iter().cloned())
                .collect(),
        };
        let labels: Vec<LabelRow> = seg
            .labels()
            .iter()
            .map(|l| {
                let n = l.mask.count();
                LabelRow {
                    name: l.meta.name.clone(),
                    voxels: n,
                    volume_mm3: n as f64 * voxel_mm3,
                    mask_hash: hashes.get(&l.meta.name).cloned().unwrap_or_default(),
                    color: l.meta.color,
                }
            })
            .collect();
        let coverage = case.coverage();
        let complete = !labels.is_empty()
            && labels.iter().all(|l| {
                coverage
                    .iter()
                    .any(|c| c.label == l.name && c.planes > 0 && c.verified == c.planes)
            });
        let verification = Verification {
            state: if case.ledger().is_empty() {
                "none".into()
            } else if complete {
                "complete".into()
            } else {
                "partial".into()
            },
            marks: case.ledger().history_len,
            coverage,
        };
        let recons: Vec<ReconstructionEntry> = files
            .reconstructions()
            .into_iter()
            .map(|(seq, r)| ReconstructionEntry {
                seq,
                log_position: r.log_position,
                current: r
                    .masks
                    .iter()
                    .all(|m| hashes.get(&m.label) == Some(&m.mask_hash)),
                operator: r.operator.clone(),
                time: r.time.clone(),
                record: r.record.clone(),
            })
            .collect();
        let latest = recons.last();
        let mesh_qc = MeshQc {
            reconstruction_seq: latest.map(|r| r.seq),
            certificates: latest
                .map(|r| {
                    r.record
                        .labels
                        .iter()
                        .map(|l| (l.name.clone(), l.certificate.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            valid: latest.map(|r| {
                let t = &r.record.totals;
                t.closed
                    && t.manifold
                    && t.outward
                    && t.consistently_oriented
                    && t.self_intersections.is_none_or(|n| n == 0)
            }),
            thin_threshold_mm: latest.map(|r| r.record.options.thin_mm),
            thin_regions: latest
                .map(|r| {
                    r.record
                        .labels
                        .iter()
                        .flat_map(|l| l.thin_regions.iter().map(|t| (l.name.clone(), t.clone())))
                        .collect()
                })
                .unwrap_or_default(),
            thin_check_warnings: latest
                .map(|r| r.record.thin_check_warnings())
                .unwrap_or_default(),
            mask_thickness: latest
                .map(|r| {
                    r.record
                        .labels
                        .iter()
                        .filter_map(|l| Some((l.name.clone(), l.mask_thickness.clone()?)))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let exports = files
            .export_states()
            .into_iter()
            .map(|(seq, x, state)| ExportRow {
                seq,
                record: x.clone(),
                state: match state {
                    ExportState::Matches => "matches",
                    ExportState::Changed => "changed",
                    ExportState::Missing => "missing",
                    ExportState::Superseded => "superseded",
                }
                .into(),
            })
            .collect();
        let mut sh = blake3::Hasher::new();
        for f in &rec.source.files {
            sh.update(f.path.as_bytes());
            sh.update(&[0]);
            sh.update(f.blake3.as_bytes());
            sh.update(&[0]);
        }
        let s = &rec.source;
        Report {
            format: FORMAT.into(),
            version: VERSION,
            identification: Identification {
                case: rec.name.clone(),
                pseudonym: rec.pseudonym.clone(),
                software: Software::this(),
                case_software: rec.software.clone(),
                case_created: rec.created.clone(),
                generated: crate::segment::log::now_utc(),
                operators: operators(files),
            },
            purpose: rec.purpose.clone(),
            acquisition: Acquisition {
                source_kind: format!("{:?}", s.kind).to_lowercase(),
                series_uid: s.series_uid.clone(),
                study_uid: s.study_uid.clone(),
                series_number: s.series_number,
                description: s.description.clone(),
                modality: s.modality.clone(),
                files: s.files.len(),
                bytes: s.files.iter().map(|f| f.bytes).sum(),
                protocol: rec.acquisition.clone(),
                slice_distance_mm: rec.feasibility.slice_distance_mm,
                tilt: rec.feasibility.tilt,
                resampling: rec.feasibility.resampling.clone(),
                interpolated_slices: rec.feasibility.interpolated_slices.clone(),
                dims: s.dims,
                spacing_mm: s.spacing_mm,
            },
            feasibility: Feasibility {
                findings: rec.feasibility.findings.clone(),
                pixel_stats: rec.feasibility.pixel_stats,
                acknowledgements: files.acknowledgements().into_iter().cloned().collect(),
                unacknowledged: files.unacknowledged(),
            },
            segmentation: Segmentation {
                operations,
                manual_edits,
                labels,
                final_hash: log.final_hash.clone(),
            },
            verification,
            reconstruction: Reconstruction { records: recons },
            mesh_qc,
            review: case.review_status(),
            measurements: files
                .measurements()
                .into_iter()
                .map(|(seq, m)| MeasurementRow {
                    seq,
                    measurement: m.clone(),
                })
                .collect(),
            exports,
            transmissions: case
                .transmissions()
                .into_iter()
                .map(|(seq, t)| TransmissionRow {
                    seq,
                    record: t.clone(),
                })
                .collect(),
            reproducibility: Reproducibility {
                volume_hash: s.volume_hash.clone(),
                source_files_hash: sh.finalize().to_hex().to_string(),
                source_files: s.files.len(),
                final_hash: log.final_hash.clone(),
                label_hashes: hashes,
                journal_records: files.events.len(),
                replay_command: format!("hounsfield replay {}", files.dir.display()),
            },
            validation: validation_of(case),
        }
    }
}

/// The pictures of a case: three slices through the reconstructed (or first) label with
/// its outline, and the latest model seen from the front (recomputed when its surfaces
/// are not in memory and the masks are unchanged).
pub fn pictures(case: &Case) -> Vec<thumbs::Picture> {
    use crate::volume::reslice::Orientation;
    let seg = case.session().segmentation();
    let recons = case.files().reconstructions();
    let latest = recons.last();
    let label = latest
        .and_then(|(_, r)| r.masks.first().map(|m| m.label.clone()))
        .or_else(|| seg.labels().first().map(|l| l.meta.name.clone()));
    let empty = crate::segment::Mask::new(seg.dims());
    let (mask, color, name) = match label.as_deref().and_then(|l| seg.get(l)) {
        Some(l) => (&l.mask, [255, 200, 0], l.meta.name.clone()),
        None => (&empty, [255, 200, 0], "no label".to_string()),
    };
    let mut out: Vec<thumbs::Picture> = [
        Orientation::Axial,
        Orientation::Coronal,
        Orientation::Sagittal,
    ]
    .into_iter()
    .map(|o| thumbs::slice_with_outline(case.volume(), mask, color, o, &name))
    .collect();
    if let Some((seq, r)) = latest {
        let recomputed: Option<Vec<(String, crate::mesh::Mesh)>> = if case.meshes(*seq).is_some() {
            None
        } else {
            (|| {
                let masks = case
                    .masks_for(&r.masks.iter().map(|m| m.label.clone()).collect::<Vec<_>>())
                    .ok()?;
                if masks
                    .iter()
                    .zip(&r.masks)
                    .any(|((_, _, h), m)| *h != m.mask_hash)
                {
                    return None;
                }
                let results = crate::case::replay::reconstruct_masks(
                    &masks,
                    case.volume(),
                    &r.record.options,
                    &crate::compute::Compute::cpu(),
                )
                .ok()?;
                Some(
                    masks
                        .into_iter()
                        .zip(results)
                        .map(|((l, _, _), x)| (l, x.mesh))
                        .collect(),
                )
            })()
        };
        if let Some(meshes) = case.meshes(*seq).or(recomputed.as_deref()) {
            let objs: Vec<(&str, &crate::mesh::Mesh, [u8; 3])> = meshes
                .iter()
                .map(|(n, m)| {
                    let c = seg.get(n).map_or([241, 214, 145], |l| l.meta.color);
                    (n.as_str(), m, c)
                })
                .collect();
            out.push(thumbs::surface_front(&objs, 520));
        }
    }
    out
}

/// Writes `report.json` and `report.html` for the case as it is now (or `html` / `json`
/// to other paths); returns the paths written.
pub fn write(
    case: &Case,
    json_path: Option<&std::path::Path>,
    html_path: Option<&std::path::Path>,
) -> Result<Vec<std::path::PathBuf>, crate::case::CaseError> {
    use crate::case::CaseError;
    let report = Report::of(case);
    let mut written = Vec::new();
    let put = |p: &std::path::Path, bytes: &[u8]| {
        crate::io::atomic::write_atomic(p, |w| {
            use std::io::Write;
            w.write_all(bytes)
        })
        .map_err(|e| CaseError::Failed(format!("cannot write {}: {e}", p.display())))
    };
    if let Some(p) = json_path {
        let mut text =
            serde_json::to_vec_pretty(&report).map_err(|e| CaseError::Failed(e.to_string()))?;
        text.push(b'\n');
        put(p, &text)?;
        written.push(p.to_path_buf());
    }
    if let Some(p) = html_path {
        let html = html::render(&report, &pictures(case));
        put(p, html.as_bytes())?;
        written.push(p.to_path_buf());
    }
    Ok(written)
}
