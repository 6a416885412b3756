//! The malformed corpus in tests/malformed (made by make-corpus.py): every file gets a clear
//! skip reason or load error, nothing panics, no allocation exceeds a fixed cap, and the
//! valid files beside them still import.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use hounsfield::dicom::{ImportOptions, LoadOptions, load, scan_path};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Records the largest single allocation, to prove that a declared 4 GB length is never
/// allocated.
struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LARGEST.fetch_max(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LARGEST.fetch_max(new, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// No allocation while importing the corpus may exceed this (the sample's whole volume is
/// 256 x 256 x 70 x 2 = 9 MiB).
const ALLOCATION_CAP: usize = 64 << 20;

#[test]
fn every_malformed_file_is_reported_and_valid_files_still_import() {
    let corpus = common::repo().join("tests/malformed");
    let expected: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(corpus.join("expected.json")).unwrap())
            .unwrap();
    assert!(expected.len() >= 14);
    let dir = tempfile::tempdir().unwrap();
    for name in expected.keys() {
        std::fs::copy(corpus.join(name), dir.path().join(name)).unwrap();
    }
    let valid = dir.path().join("valid");
    std::fs::create_dir(&valid).unwrap();
    for e in std::fs::read_dir(common::sample()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, valid.join(p.file_name().unwrap())).unwrap();
    }

    LARGEST.store(0, Ordering::Relaxed);
    let report = scan_path(dir.path(), &ImportOptions::default()).expect("scan runs");
    // Reasons: from the scan, or from loading the series the file ended up in.
    let mut reasons: BTreeMap<String, String> = report
        .skipped
        .iter()
        .map(|s| {
            (
                s.path.file_name().unwrap().to_string_lossy().into_owned(),
                s.reason.clone(),
            )
        })
        .collect();
    let mut loaded_valid = false;
    for series in &report.series {
        let names: Vec<String> = series
            .images
            .iter()
            .map(|h| h.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        match load(series, &LoadOptions::default(), None) {
            Ok(v) => {
                assert!(
                    names.iter().all(|n| n.starts_with("IM")),
                    "a malformed file loaded: {names:?}"
                );
                assert_eq!(v.volume.dims(), [70, 256, 256]);
                loaded_valid = true;
            }
            Err(e) if series.is_loadable() => {
                let msg = e.to_string();
                for n in names {
                    reasons.entry(n).or_insert_with(|| msg.clone());
                }
            }
            Err(_) => {
                // Not a volume: what `info` does, decode each image once.
                for f in hounsfield::dicom::load::verify_images(series, &Default::default()) {
                    let n = f.path.file_name().unwrap().to_string_lossy().into_owned();
                    reasons.insert(n, f.reason);
                }
            }
        }
    }
    assert!(
        loaded_valid,
        "the valid sample beside the corpus must still import"
    );
    for (name, keyword) in &expected {
        let reason = reasons
            .get(name)
            .unwrap_or_else(|| panic!("{name}: no skip reason or error"));
        assert!(
            reason.to_lowercase().contains(keyword),
            "{name}: expected '{keyword}' in: {reason}"
        );
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    eprintln!("largest single allocation while importing the corpus: {largest} bytes");
    assert!(
        largest < ALLOCATION_CAP,
        "largest allocation {largest} bytes"
    );
}

/// A stray slice 2 m away, an absurd requested slice distance, and an output above the cap
/// are refused with a reason before the volume is allocated (before: 2,001 slices of
/// invented anatomy, or an allocation that aborts).
#[test]
fn resample_bombs_are_refused_before_any_large_allocation() {
    use common::series::{sample_volume, straight_series};
    let v = sample_volume();
    let scan_one = |dir: &std::path::Path| {
        let r = scan_path(dir, &ImportOptions::default()).expect("scan");
        assert_eq!(r.series.len(), 1);
        r
    };
    let mut depths: Vec<f64> = (0..30).map(f64::from).collect();
    depths.push(2000.0);
    let far = straight_series(&v, &depths);
    let mut depths: Vec<f64> = (0..30).map(f64::from).collect();
    depths.insert(11, 10.02);
    let close = straight_series(&v, &depths);
    drop(v);

    let far_report = scan_one(far.path());
    let close_report = scan_one(close.path());
    LARGEST.store(0, Ordering::Relaxed);
    let err = load(&far_report.series[0], &LoadOptions::default(), None)
        .expect_err("a 1971 mm gap is not interpolated")
        .to_string();
    assert!(
        err.contains("1971.00 mm apart") && err.contains("cannot be interpolated honestly"),
        "{err}"
    );
    let err = load(
        &close_report.series[0],
        &LoadOptions {
            slice_distance_mm: Some(1e-4),
            ..Default::default()
        },
        None,
    )
    .expect_err("0.0001 mm is refused")
    .to_string();
    assert!(err.contains("invalid slice distance"), "{err}");
    // The raw stack (31 slices) fits the cap; resampled at 0.1 mm (291 slices) it does not.
    let raw = 31 * 256 * 256 * 2;
    let err = load(
        &close_report.series[0],
        &LoadOptions {
            slice_distance_mm: Some(0.1),
            max_volume_bytes: 4 * raw,
            ..Default::default()
        },
        None,
    )
    .expect_err("the resampled output is capped")
    .to_string();
    assert!(
        err.contains("resampled at 0.1 mm") && err.contains("choose a larger slice distance"),
        "{err}"
    );
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < ALLOCATION_CAP,
        "largest allocation {largest} bytes"
    );
    // The command line says the same and exits 2.
    let out = far.path().join("out.nii.gz");
    let (code, _, stderr) =
        common::hounsfield(&["convert", common::s(far.path()), "--out", common::s(&out)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot be interpolated honestly"),
        "{stderr}"
    );
    assert!(!out.exists());
    let (code, _, stderr) = common::hounsfield(&[
        "convert",
        common::s(close.path()),
        "--out",
        common::s(&out),
        "--slice-distance",
        "1e-4",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("0.1 to 20 mm"), "{stderr}");
}

/// Before: "no volume series found; the series are: (none)", with no word on why.
#[test]
fn a_folder_of_unusable_files_says_why_each_was_skipped() {
    let corpus = common::repo().join("tests/malformed");
    let dir = tempfile::tempdir().unwrap();
    for name in ["jpeg-extended-12bit.dcm", "not-dicom.txt", "empty.dcm"] {
        std::fs::copy(corpus.join(name), dir.path().join(name)).unwrap();
    }
    let out = dir.path().join("out.nii.gz");
    let (code, _, err) =
        common::hounsfield(&["convert", common::s(dir.path()), "--out", common::s(&out)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("every one of the 3 files was skipped"),
        "{err}"
    );
    assert!(err.contains("jpeg-extended-12bit.dcm"), "{err}");
    assert!(err.contains("not-dicom.txt"), "{err}");
    assert!(err.contains("gdcmconv --raw"), "{err}");
}

/// The hostile NIfTI corpus (tests/malformed-nifti, made by its make-corpus.py): every
/// broken file is refused with a reason, the legal variations (big-endian, metres,
/// micrometres) read as the same volume, and nothing allocates what a header claims.
#[test]
fn hostile_nifti_files_are_refused_and_legal_variants_read_alike() {
    use hounsfield::io::nifti::read_volume;
    let corpus = common::repo().join("tests/malformed-nifti");
    let expected: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(corpus.join("expected.json")).unwrap())
            .unwrap();
    assert!(expected.len() >= 12);
    let valid = read_volume(&corpus.join("valid.nii")).expect("the valid file reads");
    LARGEST.store(0, Ordering::Relaxed);
    for (name, want) in &expected {
        let r = read_volume(&corpus.join(name));
        match want.strip_prefix("ok: ") {
            Some(what) => {
                let v = r.unwrap_or_else(|e| panic!("{name} ({what}): {e}"));
                assert_eq!(v.hu, valid.hu, "{name}: voxels");
                let (g, w) = (v.geometry, valid.geometry);
                assert!(
                    (g.origin.0 - w.origin.0).length() < 1e-3
                        && (g.spacing.col - w.spacing.col).abs() < 1e-6
                        && (g.spacing.row - w.spacing.row).abs() < 1e-6
                        && (g.spacing.slice - w.spacing.slice).abs() < 1e-6,
                    "{name}: {g:?} vs {w:?}"
                );
            }
            None => {
                let e = r.err().map(|e| e.to_string().to_lowercase());
                assert!(
                    e.as_deref().is_some_and(|e| e.contains(want.as_str())),
                    "{name}: expected an error with `{want}`, got {e:?}"
                );
            }
        }
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < ALLOCATION_CAP,
        "largest allocation {largest} bytes"
    );
    // The command line: exit 2 with the reason.
    let (code, _, err) = common::hounsfield(&["info", common::s(&corpus.join("zip-bomb.nii.gz"))]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exceed the limit"), "{err}");
}
