//! The DICOM front door: scan one file, then load (or, for non-volumes, decode) what it
//! holds, exactly as `hounsfield info`/`convert` do. Any panic or abort is a bug.
#![no_main]

use hounsfield::dicom::{ImportOptions, LoadOptions, load, load::verify_images, scan_path};
use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let p = scratch::file("IM0001.dcm", data);
    let Ok(report) = scan_path(&p, &ImportOptions::default()) else {
        return;
    };
    for series in &report.series {
        if series.is_loadable() {
            let _ = load(series, &LoadOptions::default(), None);
        } else {
            let _ = verify_images(series, &Default::default());
        }
    }
});
