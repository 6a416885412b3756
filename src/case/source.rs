//! The source of a case: opening a DICOM series or a NIfTI volume with everything the
//! record needs (files and their hashes, findings, acquisition, resampling), checking the
//! files again later, and rebuilding the same volume from exactly the recorded files.

use super::record::{Feasibility, LoadSettings, SourceFile, SourceKind, SourceRecord, Tilt};
use crate::dicom::acquisition::{AcquisitionRecord, PatientRecord};
use crate::dicom::{self, ImportOptions, LoadOptions, ScanReport, Series, SeriesKind};
use crate::feasibility::{Finding, FindingCode, Severity};
use crate::segment::log::volume_hash;
use crate::segment::mask::hex;
use crate::volume::Volume;
use rayon::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a source cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceError {
    /// The path, the series or a setting is wrong (the user can fix it).
    Input(String),
    /// Reading or decoding failed.
    Failed(String),
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Input(m) | Self::Failed(m) => f.write_str(m),
        }
    }
}

impl From<crate::error::Error> for SourceError {
    fn from(e: crate::error::Error) -> Self {
        match e {
            crate::error::Error::BadInput(m) => Self::Input(m),
            crate::error::Error::Failed(m) => Self::Failed(m),
        }
    }
}

/// A source opened: the volume and everything the case records about it.
#[derive(Debug, Clone)]
pub struct OpenedSource {
    /// The HU volume (shared with the views that show it).
    pub volume: std::sync::Arc<Volume>,
    /// Files, UIDs, load settings and the volume hash.
    pub record: SourceRecord,
    /// The acquisition protocol (DICOM only).
    pub acquisition: Option<AcquisitionRecord>,
    /// Patient-identifying data (DICOM only).
    pub patient: Option<PatientRecord>,
    /// The feasibility assessment.
    pub feasibility: Feasibility,
    /// "PATH series ID", for logs.
    pub description: String,
}

/// A file that is not as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The file, as it should be found.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

/// Picks the series `selector` names, or the only volume when none is named; otherwise
/// lists the choices.
pub fn select<'a>(
    report: &'a ScanReport,
    selector: Option<&str>,
) -> Result<&'a Series, SourceError> {
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
                [] => Err(SourceError::Input(format!(
                    "no series matches --series {sel}; the choices are:\n{}",
                    choices()
                ))),
                _ => Err(SourceError::Input(format!(
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
                [] if report.series.is_empty() => Err(SourceError::Input(nothing_usable(report))),
                [] => Err(SourceError::Input(format!(
                    "no volume series found; the series are:\n{}",
                    choices()
                ))),
                _ => Err(SourceError::Input(format!(
                    "{} volume series found; choose one with --series:\n{}",
                    vols.len(),
                    choices()
                ))),
            }
        }
    }
}

/// Why a scan found no series at all: the skip reasons, most frequent first, each with a
/// file it applies to, and what to do.
fn nothing_usable(report: &ScanReport) -> String {
    let mut by_reason: std::collections::BTreeMap<&str, (usize, &Path)> = Default::default();
    for f in &report.skipped {
        by_reason.entry(f.reason.as_str()).or_insert((0, &f.path)).0 += 1;
    }
    if by_reason.is_empty() {
        return "no DICOM images were found there: give the folder that holds the series (or its DICOMDIR)".into();
    }
    let mut rows: Vec<_> = by_reason.into_iter().collect();
    rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    let mut out = format!(
        "no series could be read: every one of the {} files was skipped:",
        report.skipped.len()
    );
    for (reason, (n, example)) in rows.iter().take(8) {
        out.push_str(&format!("\n  {n} × {reason} (e.g. {})", example.display()));
    }
    if rows.len() > 8 {
        out.push_str(&format!("\n  … and {} other reasons", rows.len() - 8));
    }
    out.push_str(
        "\nGive the folder that holds the CT images; compressed files whose transfer syntax is not supported can be converted to an uncompressed one first (e.g. `gdcmconv --raw` or `dcmdjpeg`).",
    );
    out
}

/// The folder a path's files are recorded relative to: the path itself when a folder,
/// else the folder holding it; absolute and without symbolic links.
pub fn root_of(path: &Path) -> Result<PathBuf, SourceError> {
    let c = path
        .canonicalize()
        .map_err(|e| SourceError::Input(format!("cannot read {}: {e}", path.display())))?;
    Ok(if c.is_dir() {
        c
    } else {
        c.parent().map(Path::to_path_buf).unwrap_or(c)
    })
}

fn relative(root: &Path, file: &Path) -> Result<String, SourceError> {
    let c = file
        .canonicalize()
        .map_err(|e| SourceError::Failed(format!("cannot read {}: {e}", file.display())))?;
    let rel = c.strip_prefix(root).map_err(|_| {
        SourceError::Input(format!(
            "{} lies outside the source folder {}; give the folder that holds every file of the series",
            c.display(),
            root.display()
        ))
    })?;
    Ok(rel
        .components()
        .map(|p| p.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/"))
}

/// blake3 and size of a file, streamed.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((n, h.finalize().to_hex().to_string()))
}

fn describe(root: &Path, files: &[PathBuf]) -> Result<Vec<SourceFile>, SourceError> {
    files
        .par_iter()
        .map(|f| {
            let path = relative(root, f)?;
            let (bytes, blake3) = hash_file(f)
                .map_err(|e| SourceError::Failed(format!("cannot read {}: {e}", f.display())))?;
            Ok(SourceFile {
                path,
                bytes,
                blake3,
            })
        })
        .collect()
}

/// Checks every recorded file under `root`: present, same size, same blake3.
pub fn verify(root: &Path, files: &[SourceFile]) -> Vec<FileProblem> {
    let mut problems: Vec<FileProblem> = files
        .par_iter()
        .filter_map(|f| {
            let p = root.join(&f.path);
            match hash_file(&p) {
                Err(e) => Some(FileProblem {
                    path: p,
                    problem: format!("cannot be read ({e})"),
                }),
                Ok((bytes, _)) if bytes != f.bytes => Some(FileProblem {
                    path: p,
                    problem: format!("size changed: {bytes} bytes, recorded {}", f.bytes),
                }),
                Ok((_, h)) if h != f.blake3 => Some(FileProblem {
                    path: p,
                    problem: format!("content changed: blake3 {h}, recorded {}", f.blake3),
                }),
                Ok(_) => None,
            }
        })
        .collect();
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    problems
}

/// Opens a DICOM series (by `series`, or the only volume) or a NIfTI volume.
pub fn open(
    path: &Path,
    series: Option<&str>,
    settings: LoadSettings,
    import: &ImportOptions,
) -> Result<OpenedSource, SourceError> {
    if crate::io::nifti::is_nifti_path(path) {
        return open_nifti(path);
    }
    root_of(path)?;
    let report = dicom::scan_path(path, import).map_err(|e| SourceError::Input(e.to_string()))?;
    let s = select(&report, series)?;
    from_series(s, path, settings, None)
}

/// Loads a series found by scanning `scanned` (the path given to the scan), with
/// progress and cancellation for a caller on another thread.
pub fn from_series(
    s: &Series,
    scanned: &Path,
    settings: LoadSettings,
    progress: Option<&dicom::Progress>,
) -> Result<OpenedSource, SourceError> {
    let root = root_of(scanned)?;
    // Each file once: the frames of a multi-frame file share it.
    let mut seen = std::collections::HashSet::new();
    let files: Vec<PathBuf> = s
        .images
        .iter()
        .filter(|h| seen.insert(&h.path))
        .map(|h| h.path.clone())
        .collect();
    let description = format!("{} series {}", scanned.display(), s.id);
    load_series(s, root, &files, None, settings, description, progress)
}

fn open_nifti(path: &Path) -> Result<OpenedSource, SourceError> {
    let volume = crate::io::nifti::read_volume(path)
        .map_err(|e| SourceError::from(crate::error::Error::from(e)))?;
    let root = root_of(path)?;
    let files = describe(&root, &[path.to_path_buf()])?;
    let record = source_record(
        &volume,
        SourceKind::Nifti,
        root,
        None,
        files,
        LoadSettings::default(),
    );
    let findings = vec![Finding::new(
        FindingCode::AcquisitionUnknown,
        Severity::Warning,
        "the source is a NIfTI volume: the acquisition protocol (scanner, kVp, tube current, kernel, slice thickness, patient position) is not recorded in it and cannot be reported; the geometry and the feasibility of the original images cannot be checked",
    )];
    Ok(OpenedSource {
        record,
        acquisition: None,
        patient: None,
        feasibility: Feasibility {
            findings,
            pixel_stats: None,
            slice_distance_mm: None,
            tilt: Tilt {
                measured_deg: None,
                tag_deg: None,
            },
            resampling: None,
            interpolated_slices: Vec::new(),
        },
        description: path.display().to_string(),
        volume: std::sync::Arc::new(volume),
    })
}

fn source_record(
    volume: &Volume,
    kind: SourceKind,
    root: PathBuf,
    series: Option<&Series>,
    files: Vec<SourceFile>,
    load: LoadSettings,
) -> SourceRecord {
    let g = &volume.geometry;
    let s = g.spacing;
    SourceRecord {
        kind,
        root,
        series_id: series.map(|s| s.id.clone()),
        study_uid: series.map(|s| s.study_uid.clone()),
        series_uid: series.map(|s| s.series_uid.clone()),
        series_number: series.and_then(|s| s.series_number),
        description: series.map(|s| s.description.clone()).unwrap_or_default(),
        modality: series.map(|s| s.modality.clone()),
        files,
        load,
        volume_hash: hex(&volume_hash(volume)),
        dims: volume.dims(),
        spacing_mm: [s.slice, s.row, s.col],
        affine_ijk_to_lps: g.affine_ijk_to_lps(),
    }
}

fn load_series(
    s: &Series,
    root: PathBuf,
    files: &[PathBuf],
    hashed: Option<Vec<SourceFile>>,
    settings: LoadSettings,
    description: String,
    progress: Option<&dicom::Progress>,
) -> Result<OpenedSource, SourceError> {
    let loaded = dicom::load(
        s,
        &LoadOptions {
            resample: settings.resample,
            slice_distance_mm: settings.slice_distance_mm,
            ..Default::default()
        },
        progress,
    )
    .map_err(|e| SourceError::from(crate::error::Error::from(e)))?;
    let described = match hashed {
        Some(h) => h,
        None => describe(&root, files)?,
    };
    let record = source_record(
        &loaded.volume,
        SourceKind::Dicom,
        root,
        Some(s),
        described,
        settings,
    );
    let mut findings = s.findings.clone();
    findings.extend(loaded.findings.iter().cloned());
    let interpolated_slices = loaded
        .resampling
        .as_ref()
        .map(|r| r.interpolated_slices.clone())
        .unwrap_or_default();
    Ok(OpenedSource {
        record,
        acquisition: Some(s.acquisition.clone()),
        patient: Some(s.patient.clone()),
        feasibility: Feasibility {
            findings,
            pixel_stats: Some(loaded.pixel_stats),
            slice_distance_mm: s.stack.as_ref().and_then(|st| st.distance()),
            tilt: Tilt {
                measured_deg: s.stack.as_ref().map(|st| st.tilt_measured_deg),
                tag_deg: s.images.first().and_then(|h| h.gantry_tilt_deg),
            },
            resampling: loaded.resampling,
            interpolated_slices,
        },
        description,
        volume: std::sync::Arc::new(loaded.volume),
    })
}

/// Rebuilds the volume of a recorded source from exactly its files under `root` (after
/// [`verify`]); the caller compares [`SourceRecord::volume_hash`].
pub fn reopen(record: &SourceRecord, root: &Path) -> Result<OpenedSource, SourceError> {
    let files: Vec<PathBuf> = record.files.iter().map(|f| root.join(&f.path)).collect();
    match record.kind {
        SourceKind::Nifti => {
            let [f] = files.as_slice() else {
                return Err(SourceError::Input(
                    "a NIfTI source must be exactly one file".into(),
                ));
            };
            open_nifti(f)
        }
        SourceKind::Dicom => {
            let scanned = dicom::scan::scan_files(files.clone(), &ImportOptions::default().limits);
            let report = dicom::series::build(scanned, &ImportOptions::default());
            let uid = record.series_uid.as_deref().unwrap_or("");
            let candidates: Vec<&Series> = report
                .series
                .iter()
                .filter(|s| s.series_uid == uid)
                .collect();
            let s = match candidates.as_slice() {
                [one] => *one,
                _ => candidates
                    .iter()
                    .copied()
                    .find(|s| Some(&s.id) == record.series_id.as_ref())
                    .ok_or_else(|| {
                        SourceError::Failed(format!(
                            "the recorded files no longer form series {uid}"
                        ))
                    })?,
            };
            load_series(
                s,
                root.to_path_buf(),
                &files,
                Some(record.files.clone()),
                record.load,
                format!("{} series {}", root.display(), s.id),
                None,
            )
        }
    }
}
