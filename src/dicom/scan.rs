//! Finding the files under a path and reading their headers in parallel. One bad file
//! never stops the scan: each is either used or listed as skipped with its reason.

use super::error::{FileError, SkippedFile};
use super::guard::GuardLimits;
use super::header::{self, DICOMDIR_SOP_CLASS, ImageHeader};
use dicom_dictionary_std::tags;
use rayon::prelude::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a scan could not start at all.
#[derive(Debug, Error)]
pub enum ScanError {
    /// The path does not exist or cannot be read.
    #[error("cannot read {path}: {reason}")]
    Path {
        /// The path given.
        path: PathBuf,
        /// The OS's reason.
        reason: String,
    },
}

/// The outcome of scanning a path.
#[derive(Debug, Default)]
pub struct ScanResult {
    /// How many files were looked at.
    pub files_scanned: usize,
    /// Headers of the files that are DICOM images or objects.
    pub headers: Vec<ImageHeader>,
    /// Files not used, with reasons.
    pub skipped: Vec<SkippedFile>,
}

/// Scans a folder (recursively), a single file, or a DICOMDIR (its referenced files).
pub fn scan(path: &Path, limits: &GuardLimits) -> Result<ScanResult, ScanError> {
    let meta = std::fs::metadata(path).map_err(|e| ScanError::Path {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut files = Vec::new();
    let mut pre_skipped = Vec::new();
    if meta.is_dir() {
        let mut seen = HashSet::new();
        collect_files(path, &mut files, &mut pre_skipped, &mut seen, 0);
    } else if is_dicomdir(path, limits) {
        let mut seen = HashSet::new();
        collect_dicomdir(path, limits, &mut files, &mut pre_skipped, &mut seen, 0);
    } else {
        files.push(path.to_path_buf());
    }
    Ok(read_headers(files, pre_skipped, limits))
}

/// Reads the headers of exactly these files (a case's recorded source files), in parallel.
pub fn scan_files(files: Vec<PathBuf>, limits: &GuardLimits) -> ScanResult {
    read_headers(files, Vec::new(), limits)
}

fn read_headers(
    files: Vec<PathBuf>,
    pre_skipped: Vec<SkippedFile>,
    limits: &GuardLimits,
) -> ScanResult {
    let files_scanned = files.len() + pre_skipped.len();
    let results: Vec<(PathBuf, Result<Vec<ImageHeader>, FileError>)> = files
        .into_par_iter()
        .map(|p| {
            let r =
                super::contain::contain(|| header::read_headers(&p, limits)).unwrap_or_else(|| {
                    Err(FileError::Damaged(
                        "the DICOM reader failed on this file".into(),
                    ))
                });
            (p, r)
        })
        .collect();
    let mut out = ScanResult {
        files_scanned,
        headers: Vec::new(),
        skipped: pre_skipped,
    };
    for (p, r) in results {
        match r {
            Ok(h) => out.headers.extend(h),
            Err(e) => {
                tracing::debug!("skipping {}: {e}", p.display());
                out.skipped.push(SkippedFile {
                    path: p,
                    reason: e.to_string(),
                });
            }
        }
    }
    out
}

/// Deepest folder recursion; deeper trees are reported, not followed.
const MAX_DIR_DEPTH: usize = 64;

fn collect_files(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    skipped: &mut Vec<SkippedFile>,
    seen: &mut HashSet<PathBuf>,
    depth: usize,
) {
    // Canonical paths stop symlink loops.
    if let Ok(c) = dir.canonicalize()
        && !seen.insert(c)
    {
        return;
    }
    if depth > MAX_DIR_DEPTH {
        skipped.push(SkippedFile {
            path: dir.to_path_buf(),
            reason: format!("folder nested deeper than {MAX_DIR_DEPTH} levels; not scanned"),
        });
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            skipped.push(SkippedFile {
                path: dir.to_path_buf(),
                reason: format!("cannot read folder: {e}"),
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => collect_files(&p, files, skipped, seen, depth + 1),
            Ok(m) if m.is_file() => files.push(p),
            Ok(_) => skipped.push(SkippedFile {
                path: p,
                reason: "not a regular file".into(),
            }),
            Err(e) => skipped.push(SkippedFile {
                path: p,
                reason: format!("cannot read: {e}"),
            }),
        }
    }
}

fn is_dicomdir(path: &Path, limits: &GuardLimits) -> bool {
    header::read_meta(path, limits).is_ok_and(|m| m.sop_class == DICOMDIR_SOP_CLASS)
}

/// `root` joined with `parts`, matching each name case-insensitively where the exact one
/// is absent: File IDs are upper case, but discs are often mounted with lower-case names.
fn find_file(root: &Path, parts: &[String]) -> Option<PathBuf> {
    let exact: PathBuf = parts.iter().fold(root.to_path_buf(), |p, s| p.join(s));
    if exact.is_file() {
        return Some(exact);
    }
    let mut cur = root.to_path_buf();
    for part in parts {
        let direct = cur.join(part);
        cur = if direct.exists() {
            direct
        } else {
            std::fs::read_dir(&cur)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.eq_ignore_ascii_case(part))
                })?
        };
    }
    cur.is_file().then_some(cur)
}

/// Follows a DICOMDIR's Referenced File IDs. They are relative to the file-set root, which
/// is usually the DICOMDIR's folder; some exporters (Philips DIRFILE) nest indexes, so the
/// ancestors are tried too.
fn collect_dicomdir(
    path: &Path,
    limits: &GuardLimits,
    files: &mut Vec<PathBuf>,
    skipped: &mut Vec<SkippedFile>,
    seen: &mut HashSet<PathBuf>,
    depth: usize,
) {
    if depth > 8 || !seen.insert(path.to_path_buf()) {
        return;
    }
    let obj = match header::read_checked(path, limits).and_then(|(b, _)| header::parse(&b, false)) {
        Ok(o) => o,
        Err(e) => {
            skipped.push(SkippedFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
            return;
        }
    };
    let Some(records) = obj
        .get(tags::DIRECTORY_RECORD_SEQUENCE)
        .and_then(|e| e.items())
    else {
        skipped.push(SkippedFile {
            path: path.to_path_buf(),
            reason: "DICOMDIR without a Directory Record Sequence".into(),
        });
        return;
    };
    let mut refs = Vec::new();
    for item in records {
        let parts: Vec<String> = item
            .get(tags::REFERENCED_FILE_ID)
            .and_then(|e| e.to_multi_str().ok().map(|v| v.to_vec()))
            .unwrap_or_default()
            .iter()
            .flat_map(|s| {
                s.split(['\\', '/'])
                    .map(|p| p.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty() && s != "..")
            .collect();
        if !parts.is_empty() {
            refs.push(parts);
        }
    }
    for parts in refs {
        let rel: PathBuf = parts.iter().collect();
        let found = path
            .ancestors()
            .skip(1)
            .find_map(|root| find_file(root, &parts));
        match found {
            Some(f) if is_dicomdir(&f, limits) => {
                collect_dicomdir(&f, limits, files, skipped, seen, depth + 1)
            }
            Some(f) => {
                if seen.insert(f.clone()) {
                    files.push(f);
                }
            }
            None => skipped.push(SkippedFile {
                path: rel,
                reason: format!("listed in {} but not found", path.display()),
            }),
        }
    }
}
