//! Decoding one image's pixels into Hounsfield units.

use super::error::FileError;
use super::guard::{GuardLimits, PixelDataInfo};
use super::header::{self, number};
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use std::path::Path;

/// How stored values become HU.
#[derive(Debug, Clone)]
enum ModalityTransform {
    /// `hu = stored * slope + intercept`.
    Rescale { slope: f64, intercept: f64 },
    /// A Modality LUT: `hu = lut[clamp(stored - first, 0, len - 1)]`.
    Lut { first: i64, table: Vec<f64> },
}

/// RLE Lossless.
const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Checks each RLE fragment's header (PS3.5 G.3.1: 64 bytes, at most 15 segments, offsets
/// inside the fragment) before the decoder sizes its tables from it: the decoder trusted
/// the segment count and allocated 8 GB for a 1 KB file (found by fuzzing).
fn check_rle_headers(obj: &DefaultDicomObject) -> Result<(), FileError> {
    if obj.meta().transfer_syntax().trim_end_matches('\0') != RLE_LOSSLESS {
        return Ok(());
    }
    let Some(fragments) = obj
        .get(tags::PIXEL_DATA)
        .and_then(|e| e.value().fragments())
    else {
        return Ok(());
    };
    for (n, f) in fragments.iter().enumerate() {
        let word = |i: usize| {
            f.get(4 * i..4 * i + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let bad = |why: String| {
            Err(FileError::Damaged(format!(
                "RLE fragment {} has a bad header: {why}",
                n + 1
            )))
        };
        let Some(segments) = word(0).filter(|_| f.len() >= 64) else {
            return bad(format!(
                "{} bytes, shorter than the 64-byte header",
                f.len()
            ));
        };
        if segments > 15 {
            return bad(format!(
                "it declares {segments} segments (at most 15 exist)"
            ));
        }
        for s in 1..=segments as usize {
            if word(s).is_none_or(|o| o as usize > f.len()) {
                return bad(format!(
                    "segment {s} starts past the fragment's {} bytes",
                    f.len()
                ));
            }
        }
    }
    Ok(())
}

/// JPEG Extended (Process 2 & 4): 8-bit samples decode, 12-bit ones do not.
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";

/// Checks that a built-in decoder reads this transfer syntax at this sample size
/// (Bits Allocated): the JPEG decoder reads 8-bit samples only, so 12-bit JPEG Extended —
/// common in older archives — is refused by name rather than reported as damaged.
pub fn check_codec(uid: &str, bits_allocated: u16) -> Result<(), FileError> {
    check_transfer_syntax(uid)?;
    if uid == JPEG_EXTENDED && bits_allocated > 8 {
        return Err(FileError::UnsupportedTransferSyntax {
            uid: uid.to_string(),
            name: "JPEG Extended with 12-bit samples: the built-in JPEG decoder reads 8-bit samples only".into(),
        });
    }
    Ok(())
}

/// Checks that the transfer syntax has a built-in decoder.
pub fn check_transfer_syntax(uid: &str) -> Result<(), FileError> {
    match TransferSyntaxRegistry.get(uid) {
        None => Err(FileError::UnsupportedTransferSyntax {
            uid: uid.to_string(),
            name: "unknown".into(),
        }),
        Some(ts) if !ts.can_decode_all() => Err(FileError::UnsupportedTransferSyntax {
            uid: uid.to_string(),
            name: ts.name().to_string(),
        }),
        Some(_) => Ok(()),
    }
}

/// Decodes the file's single frame into `out` (`rows × columns` HU values, row-major).
/// Returns how many values were clamped to the i16 range.
pub fn decode_into(
    path: &Path,
    rows: u32,
    columns: u32,
    limits: &GuardLimits,
    out: &mut [i16],
) -> Result<usize, FileError> {
    ImageFile::open(path, limits)?.decode_into(None, rows, columns, out)
}

/// A checked, parsed image file whose frames can be decoded (in parallel: decoding takes
/// `&self`), so a multi-frame file is read once, not once per frame.
pub struct ImageFile {
    obj: DefaultDicomObject,
    info: PixelDataInfo,
}

impl ImageFile {
    /// Reads, checks and parses a file with pixel data in a supported transfer syntax.
    pub fn open(path: &Path, limits: &GuardLimits) -> Result<Self, FileError> {
        let (bytes, meta) = header::read_checked(path, limits)?;
        check_transfer_syntax(&meta.transfer_syntax)?;
        let info = meta
            .pixel_data
            .ok_or_else(|| FileError::NoPixelData("no Pixel Data element".into()))?;
        let obj = header::parse(&bytes, false)?;
        Ok(Self { obj, info })
    }

    /// Decodes one frame (`None`: a single-frame file) into `out` (`rows × columns` HU
    /// values, row-major), with the frame's own rescale for an Enhanced CT. Returns how many
    /// values were clamped to the i16 range.
    pub fn decode_into(
        &self,
        frame: Option<u32>,
        rows: u32,
        columns: u32,
        out: &mut [i16],
    ) -> Result<usize, FileError> {
        let obj = &self.obj;
        let r = header::integer(obj, tags::ROWS).unwrap_or(0);
        let c = header::integer(obj, tags::COLUMNS).unwrap_or(0);
        if r != i64::from(rows) || c != i64::from(columns) {
            return Err(FileError::FrameSize(format!(
                "image is {c}x{r}, the series is {columns}x{rows}"
            )));
        }
        let bits = header::integer(obj, tags::BITS_ALLOCATED).unwrap_or(0);
        check_codec(
            obj.meta().transfer_syntax().trim_end_matches('\0'),
            u16::try_from(bits).unwrap_or(0),
        )?;
        if !matches!(bits, 8 | 16 | 32) {
            return Err(FileError::BadImage(format!(
                "Bits Allocated {bits} is not 8, 16 or 32"
            )));
        }
        let pixels = rows as usize * columns as usize;
        if pixels == 0 || out.len() != pixels {
            return Err(FileError::BadImage(format!(
                "image of {columns}x{rows} pixels"
            )));
        }
        let frames = header::integer(obj, tags::NUMBER_OF_FRAMES)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1)
            .max(1);
        if let Some(k) = frame
            && k >= frames
        {
            return Err(FileError::BadImage(format!(
                "frame {} asked of a file of {frames} frame(s)",
                k + 1
            )));
        }
        let bytes_per = (bits / 8) as usize;
        let need =
            (pixels * bytes_per) as u64 * u64::from(if frame.is_some() { frames } else { 1 });
        if !self.info.encapsulated && self.info.length < need {
            return Err(FileError::FrameSize(format!(
                "{frames} frame(s) of {columns}x{rows} pixels of {bits} bits need {need} bytes but Pixel Data holds {}",
                self.info.length
            )));
        }
        let transform = modality_transform(obj, frame)?;
        check_rle_headers(obj)?;
        let decoded = super::contain::contain(|| match frame {
            Some(k) => obj.decode_pixel_data_frame(k),
            None => obj.decode_pixel_data(),
        })
        .ok_or_else(|| FileError::Damaged("the pixel data codec failed on this file".into()))?
        .map_err(|e| FileError::Damaged(format!("cannot decode pixel data: {e}")))?;
        let data = decoded.data();
        if data.len() < pixels * bytes_per {
            return Err(FileError::FrameSize(format!(
                "decoded {} bytes, expected {} for {columns}x{rows} pixels of {bits} bits",
                data.len(),
                pixels * bytes_per
            )));
        }
        let signed = decoded.pixel_representation() == dicom_pixeldata::PixelRepresentation::Signed;
        let stored = u32::from(decoded.bits_stored()).clamp(1, bits as u32);
        Ok(to_hu(
            &data[..pixels * bytes_per],
            bytes_per,
            stored,
            signed,
            &transform,
            out,
        ))
    }
}

/// Decodes a file's pixel data only to prove that it decodes (any photometry, any frame
/// count): for images that are listed but never loaded as a volume.
pub fn check_decodes(path: &Path, limits: &GuardLimits) -> Result<(), FileError> {
    let (bytes, meta) = header::read_checked(path, limits)?;
    check_transfer_syntax(&meta.transfer_syntax)?;
    if meta.pixel_data.is_none() {
        return Err(FileError::NoPixelData("no Pixel Data element".into()));
    }
    let obj = header::parse(&bytes, false)?;
    drop(bytes);
    check_rle_headers(&obj)?;
    let decoded = super::contain::contain(|| obj.decode_pixel_data())
        .ok_or_else(|| FileError::Damaged("the pixel data codec failed on this file".into()))?
        .map_err(|e| FileError::Damaged(format!("cannot decode pixel data: {e}")))?;
    let need = decoded.rows() as usize
        * decoded.columns() as usize
        * usize::from(decoded.samples_per_pixel())
        * usize::from(decoded.bits_allocated().div_ceil(8))
        * decoded.number_of_frames() as usize;
    if decoded.data().len() < need {
        return Err(FileError::FrameSize(format!(
            "decoded {} bytes, expected {need}",
            decoded.data().len()
        )));
    }
    Ok(())
}

/// How `frame`'s stored values become HU: an Enhanced CT frame's Pixel Value
/// Transformation (its own, else the shared one), else the top level's Modality LUT or
/// rescale.
fn modality_transform(
    obj: &DefaultDicomObject,
    frame: Option<u32>,
) -> Result<ModalityTransform, FileError> {
    if let Some(k) = frame
        && let Some(item) =
            super::enhanced::FrameGroups::of(obj, k).item(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE)
    {
        return Ok(rescale_of(item));
    }
    if let Some(item) = obj
        .get(tags::MODALITY_LUT_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|i| i.first())
    {
        let desc = item
            .get(tags::LUT_DESCRIPTOR)
            .and_then(|e| e.to_multi_int::<i64>().ok());
        let data = item
            .get(tags::LUT_DATA)
            .and_then(|e| e.to_multi_int::<i64>().ok());
        let signed = header::integer(obj, tags::PIXEL_REPRESENTATION) == Some(1);
        return match (desc, data) {
            (Some(d), Some(t)) => modality_lut(&d, t, signed).map_err(FileError::BadImage),
            _ => Err(FileError::BadImage(
                "the Modality LUT lacks its LUT Descriptor or LUT Data".into(),
            )),
        };
    }
    Ok(rescale_of(obj))
}

fn rescale_of(obj: &InMemDicomObject) -> ModalityTransform {
    let slope = number(obj, tags::RESCALE_SLOPE)
        .filter(|s| *s != 0.0)
        .unwrap_or(1.0);
    let intercept = number(obj, tags::RESCALE_INTERCEPT).unwrap_or(0.0);
    ModalityTransform::Rescale { slope, intercept }
}

/// A Modality LUT from its descriptor (entries, first stored value mapped, bits) and data
/// (PS3.3 C.11.1.1). The first mapped value is signed when the pixels are (Pixel
/// Representation 1) even where the descriptor is written as US — read as unsigned, −2048
/// became 63488 and mapped every pixel to the first entry. 0 entries means 65536.
fn modality_lut(
    desc: &[i64],
    data: Vec<i64>,
    signed_pixels: bool,
) -> Result<ModalityTransform, String> {
    let [entries, first, _bits] = desc else {
        return Err(format!(
            "the Modality LUT Descriptor has {} values, not 3",
            desc.len()
        ));
    };
    // Both US and SS encodings of the 16-bit fields read back as the same bits.
    let entries = match *entries as u16 {
        0 => 65536,
        n => usize::from(n),
    };
    let first = if signed_pixels {
        i64::from(*first as u16 as i16)
    } else {
        i64::from(*first as u16)
    };
    if data.len() != entries {
        return Err(format!(
            "the Modality LUT holds {} entries but its descriptor says {entries}",
            data.len()
        ));
    }
    Ok(ModalityTransform::Lut {
        first,
        table: data.into_iter().map(|v| v as f64).collect(),
    })
}

/// Converts raw little-endian samples to HU, clamping to i16. Returns the clamp count.
fn to_hu(
    data: &[u8],
    bytes_per: usize,
    bits_stored: u32,
    signed: bool,
    t: &ModalityTransform,
    out: &mut [i16],
) -> usize {
    let mask: u32 = if bits_stored >= 32 {
        u32::MAX
    } else {
        (1u32 << bits_stored) - 1
    };
    let shift = 32 - bits_stored;
    let stored = |i: usize| -> i64 {
        let raw = match bytes_per {
            1 => u32::from(data[i]),
            2 => u32::from(u16::from_le_bytes([data[2 * i], data[2 * i + 1]])),
            _ => u32::from_le_bytes([
                data[4 * i],
                data[4 * i + 1],
                data[4 * i + 2],
                data[4 * i + 3],
            ]),
        } & mask;
        if signed {
            // Sign-extend from bits_stored.
            i64::from(((raw << shift) as i32) >> shift)
        } else {
            i64::from(raw)
        }
    };
    let mut clamped = 0usize;
    let mut put = |o: &mut i16, v: f64| {
        let r = v.round();
        if r < f64::from(i16::MIN) || r > f64::from(i16::MAX) || r.is_nan() {
            clamped += 1;
        }
        *o = r.clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
    };
    match t {
        ModalityTransform::Rescale { slope, intercept }
            if *slope == 1.0 && intercept.fract() == 0.0 && intercept.abs() < 1e9 =>
        {
            // The common CT case: an integer shift, done in integers.
            let b = *intercept as i64;
            for (i, o) in out.iter_mut().enumerate() {
                let v = stored(i) + b;
                let c = v.clamp(i64::from(i16::MIN), i64::from(i16::MAX));
                clamped += usize::from(c != v);
                *o = c as i16;
            }
        }
        ModalityTransform::Rescale { slope, intercept } => {
            for (i, o) in out.iter_mut().enumerate() {
                put(o, stored(i) as f64 * slope + intercept);
            }
        }
        ModalityTransform::Lut { first, table } => {
            let last = table.len() as i64 - 1;
            for (i, o) in out.iter_mut().enumerate() {
                let idx = (stored(i) - first).clamp(0, last) as usize;
                put(o, table[idx]);
            }
        }
    }
    clamped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_12_bit_with_intercept() {
        // 0x1FFF has a stray bit above bit 11 that must be masked off.
        let data = [0x00, 0x00, 0xFF, 0x0F, 0xFF, 0x1F];
        let mut out = [0i16; 3];
        let t = ModalityTransform::Rescale {
            slope: 1.0,
            intercept: -1024.0,
        };
        let c = to_hu(&data, 2, 12, false, &t, &mut out);
        assert_eq!(out, [-1024, 3071, 3071]);
        assert_eq!(c, 0);
    }

    #[test]
    fn signed_samples_are_sign_extended() {
        let v: i16 = -2000;
        let b = v.to_le_bytes();
        let mut out = [0i16; 1];
        let t = ModalityTransform::Rescale {
            slope: 1.0,
            intercept: 0.0,
        };
        to_hu(&b, 2, 16, true, &t, &mut out);
        assert_eq!(out, [-2000]);
        // 12-bit signed: 0x800 is -2048.
        let b = 0x0800u16.to_le_bytes();
        to_hu(&b, 2, 12, true, &t, &mut out);
        assert_eq!(out, [-2048]);
    }

    #[test]
    fn slope_and_clamp_are_counted() {
        let data = 30000u16.to_le_bytes();
        let mut out = [0i16; 1];
        let t = ModalityTransform::Rescale {
            slope: 2.0,
            intercept: -10.0,
        };
        let c = to_hu(&data, 2, 16, false, &t, &mut out);
        assert_eq!((out[0], c), (i16::MAX, 1));
        let t = ModalityTransform::Rescale {
            slope: 0.5,
            intercept: 1.0,
        };
        to_hu(&7u16.to_le_bytes(), 2, 16, false, &t, &mut out);
        assert_eq!(out[0], 5); // 4.5 rounds away from zero
    }

    #[test]
    fn a_signed_lut_start_and_a_wrong_length_are_read_right() {
        // Before: −2048 written as US 63488 mapped every pixel to the first entry.
        let t = modality_lut(&[4, 63488, 16], vec![-1000, 0, 500, 1000], true).unwrap();
        let data: Vec<u8> = [-2048i16, -2047, -2046, -2045]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = [0i16; 4];
        to_hu(&data, 2, 16, true, &t, &mut out);
        assert_eq!(out, [-1000, 0, 500, 1000]);
        // The same bits for unsigned pixels start at 63488.
        assert!(matches!(
            modality_lut(&[4, 63488, 16], vec![0; 4], false),
            Ok(ModalityTransform::Lut { first: 63488, .. })
        ));
        let e = modality_lut(&[4, 0, 16], vec![0; 3], false)
            .err()
            .unwrap_or_default();
        assert!(e.contains("3 entries but its descriptor says 4"), "{e}");
        assert!(modality_lut(&[0, 0, 16], vec![0; 65536], false).is_ok());
    }

    #[test]
    fn lut_maps_and_saturates() {
        let t = ModalityTransform::Lut {
            first: 10,
            table: vec![-100.0, 0.0, 100.0],
        };
        let data = [5u8, 11, 12, 200];
        let mut out = [0i16; 4];
        to_hu(&data, 1, 8, false, &t, &mut out);
        assert_eq!(out, [-100, 0, 100, 100]);
    }
}
