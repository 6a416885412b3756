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
