//! JPEG-LS (1.2.840.10008.1.2.4.80 lossless, .81 near-lossless), as archives and 3D Slicer
//! hold it: the bundled sample re-encoded by DCMTK (an independent encoder) imports to
//! exactly the uncompressed volume; near-lossless stays within its NEAR bound and is flagged
//! as lossy.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use hounsfield::dicom::{ImportOptions, LoadOptions, LoadedVolume, load, scan_path};
use std::path::Path;
use std::process::Command;

fn run(tool: &str, args: &[&Path]) {
    let out = Command::new(tool).args(args).output().expect(tool);
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn load_only(dir: &Path) -> (LoadedVolume, String) {
    let report = scan_path(dir, &ImportOptions::default()).unwrap();
    let series = report.volumes();
    assert_eq!(series.len(), 1, "{:?}", report.skipped);
    let ts = series[0].acquisition.transfer_syntax.clone();
    (load(series[0], &LoadOptions::default(), None).unwrap(), ts)
}

#[test]
fn jpeg_ls_from_dcmtk_decodes_bit_exact_and_near_lossless_within_its_bound() {
    if !common::have_dcmtk() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [raw, lossless, near] = ["raw", "jls", "jls-near"].map(|d| {
        let p = dir.path().join(d);
        std::fs::create_dir(&p).unwrap();
        p
    });
    for e in std::fs::read_dir(common::sample()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "dcm") {
            continue;
        }
        let name = p.file_name().unwrap();
        let r = raw.join(name);
        run("dcmdrle", &[&p, &r]);
        run("dcmcjpls", &[&r, &lossless.join(name)]);
        // +en: near-lossless with NEAR = 2 (stored values; the sample's slope is 1).
        let out = Command::new("dcmcjpls")
            .arg("+en")
            .args([&r, &near.join(name)])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let (reference, _) = load_only(&raw);
    let (exact, ts) = load_only(&lossless);
    assert_eq!(ts, "1.2.840.10008.1.2.4.80");
    assert_eq!(exact.volume.geometry, reference.volume.geometry);
    assert!(
        exact.volume.hu == reference.volume.hu,
        "JPEG-LS lossless is not bit-exact"
    );

    let (lossy, ts) = load_only(&near);
    assert_eq!(ts, "1.2.840.10008.1.2.4.81");
    let worst = lossy
        .volume
        .hu
        .iter()
        .zip(reference.volume.hu.iter())
        .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
        .max()
        .unwrap();
    assert!(
        worst <= 2,
        "near-lossless error {worst} HU exceeds NEAR = 2"
    );
    assert!(worst > 0, "near-lossless output should differ somewhere");
    let report = scan_path(&near, &ImportOptions::default()).unwrap();
    let codes: Vec<_> = report.volumes()[0]
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect();
    assert!(codes.contains(&"lossy-compression"), "{codes:?}");
}
