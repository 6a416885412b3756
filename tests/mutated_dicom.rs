//! Robustness: hundreds of randomly damaged copies of a real (RLE-compressed) slice go
//! through the header reader and the pixel decoder. Every one must end in a value or a
//! clear error — no panic escapes, no abort, no runaway allocation.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use hounsfield::dicom::guard::GuardLimits;
use hounsfield::dicom::{header, pixels};

#[test]
fn damaged_copies_of_a_real_slice_never_crash_the_import() {
    let src = common::sample().join("IM0001.dcm");
    let original = std::fs::read(&src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let limits = GuardLimits::default();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut ok, mut rejected) = (0, 0);
    for n in 0..400 {
        let mut bytes = original.clone();
        match n % 4 {
            // Truncate anywhere.
            0 => bytes.truncate((rnd() as usize) % bytes.len()),
            // Flip a few bytes in the header region.
            1 => {
                for _ in 0..1 + rnd() % 4 {
                    let i = 128 + (rnd() as usize) % 1500.min(bytes.len() - 128);
                    bytes[i] ^= (rnd() & 0xFF) as u8;
                }
            }
            // Flip bytes anywhere (pixel data included).
            2 => {
                for _ in 0..1 + rnd() % 16 {
                    let i = (rnd() as usize) % bytes.len();
                    bytes[i] = (rnd() & 0xFF) as u8;
                }
            }
            // Overwrite a 4-byte length-sized word with a huge value.
            _ => {
                let i = 132 + (rnd() as usize) % (bytes.len() - 136);
                bytes[i..i + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
            }
        }
        let p = dir.path().join(format!("m{n}.dcm"));
        std::fs::write(&p, &bytes).unwrap();
        match header::read_headers(&p, &limits) {
            Ok(hs) => {
                let h = &hs[0];
                let mut out = vec![0i16; (h.rows as usize * h.columns as usize).min(1 << 24)];
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    pixels::decode_into(&p, h.rows, h.columns, &limits, &mut out)
                }));
                assert!(
                    r.is_ok(),
                    "mutation {n}: the decoder panicked outside its guard"
                );
                ok += usize::from(r.is_ok_and(|x| x.is_ok()));
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                rejected += 1;
            }
        }
    }
    eprintln!("{ok} decoded, {rejected} rejected with a reason");
    assert!(rejected > 50, "most damage is noticed");
}
