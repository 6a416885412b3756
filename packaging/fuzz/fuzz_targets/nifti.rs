//! The NIfTI reader (plain and gzip): header, extensions, voxels. Any panic or abort is a bug.
#![no_main]

use hounsfield::io::nifti::{read_extensions, read_volume};
use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the file name: the reader decides on gzip by the extension.
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let name = if pick & 1 == 0 { "v.nii" } else { "v.nii.gz" };
    let p = scratch::file(name, body);
    let _ = read_extensions(&p);
    let _ = read_volume(&p);
});
