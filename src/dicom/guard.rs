//! A structural check of a DICOM file's bytes *before* dicom-rs parses them.
//!
//! dicom-rs 0.10 trusts declared lengths (it allocates what an element says it holds, so a
//! 40-byte file can ask for 4 GB) and recurses into nested sequences without a limit (a
//! file nested thousands deep overflows the stack, which `catch_unwind` cannot catch). This
//! walker reads only element headers, never allocates from a declared length, and stops at
//! a fixed nesting depth, so the parser only ever sees files whose structure is sound.

use super::error::FileError;
use dicom_core::Tag;
use dicom_core::VR;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_dictionary_std::StandardDataDictionary;
use std::io::Read;

/// Limits applied to every file.
#[derive(Debug, Clone, Copy)]
pub struct GuardLimits {
    /// Largest file (or inflated deflate data set) accepted, bytes.
    pub max_file_bytes: u64,
    /// Deepest sequence nesting accepted. Real CT headers nest at most ~5 levels
    /// (functional groups inside per-frame sequences); 32 leaves wide margin while keeping
    /// dicom-rs's recursive parser far from the stack limit.
    pub max_depth: usize,
}

impl Default for GuardLimits {
    fn default() -> Self {
        Self {
            // 2 GiB: an enhanced multi-frame CT of 2000 frames of 512² 16-bit is ~1 GiB.
            max_file_bytes: 2 << 30,
            max_depth: 32,
        }
    }
}

const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_DELIM: Tag = Tag(0xFFFE, 0xE00D);
const SEQ_DELIM: Tag = Tag(0xFFFE, 0xE0DD);
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

/// Transfer syntax UIDs the walker needs to tell apart.
pub mod ts {
    /// Implicit VR Little Endian.
    pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
    /// Explicit VR Little Endian.
    pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
    /// Deflated Explicit VR Little Endian.
    pub const DEFLATED_LE: &str = "1.2.840.10008.1.2.1.99";
    /// Explicit VR Big Endian (retired).
    pub const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
}

/// What the guard learnt from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaInfo {
    /// Transfer Syntax UID (0002,0010), trimmed.
    pub transfer_syntax: String,
    /// Media Storage SOP Class UID (0002,0002), trimmed.
    pub sop_class: String,
    /// The top-level Pixel Data element, if any.
    pub pixel_data: Option<PixelDataInfo>,
}

/// Where the pixel data is and how it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelDataInfo {
    /// Encapsulated (compressed fragments) rather than native.
    pub encapsulated: bool,
    /// Value length in bytes (native), or total bytes of fragments (encapsulated).
    pub length: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    ExplicitLe,
    ImplicitLe,
    ExplicitBe,
}

struct Walker<'a> {
    buf: &'a [u8],
    enc: Encoding,
    max_depth: usize,
    pixel: std::cell::Cell<Option<PixelDataInfo>>,
}

fn fmt_tag(t: Tag) -> String {
    format!("({:04X},{:04X})", t.0, t.1)
}

/// Checks the bytes of a whole file. On success the meta information is returned and the
/// data set is known to be structurally sound: every declared length fits in the file,
/// every sequence and item is terminated, and nesting stays within the limit.
/// The File Meta Information alone (transfer syntax, SOP class) from the start of a file:
/// enough to tell a DICOMDIR without reading, or checking, the rest.
pub fn meta_only(prefix: &[u8], limits: &GuardLimits) -> Result<MetaInfo, FileError> {
    if prefix.len() < 132 || &prefix[128..132] != b"DICM" {
        return Err(FileError::NotDicom(
            "no \"DICM\" marker at byte 128 (not a DICOM Part 10 file)".into(),
        ));
    }
    let (meta, _) = Walker::new(prefix, Encoding::ExplicitLe, limits.max_depth).meta(132)?;
    Ok(meta)
}

pub fn check(bytes: &[u8], limits: &GuardLimits) -> Result<MetaInfo, FileError> {
    if bytes.is_empty() {
        return Err(FileError::Empty);
    }
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(FileError::TooLarge {
            size: bytes.len() as u64,
            limit: limits.max_file_bytes,
        });
    }
    if bytes.len() < 132 || &bytes[128..132] != b"DICM" {
        return Err(FileError::NotDicom(
            "no \"DICM\" marker at byte 128 (not a DICOM Part 10 file)".into(),
        ));
    }
    let meta_walker = Walker::new(bytes, Encoding::ExplicitLe, limits.max_depth);
    let (mut meta, data_start) = meta_walker.meta(132)?;
    let data = &bytes[data_start..];
    match meta.transfer_syntax.as_str() {
        ts::DEFLATED_LE => {
            let inflated = inflate_capped(data, limits.max_file_bytes)?;
            let w = Walker::new(&inflated, Encoding::ExplicitLe, limits.max_depth);
            w.dataset(0, None, 0)?;
            meta.pixel_data = w.pixel.get();
        }
        other => {
            let enc = match other {
                ts::IMPLICIT_LE => Encoding::ImplicitLe,
                ts::EXPLICIT_BE => Encoding::ExplicitBe,
                _ => Encoding::ExplicitLe,
            };
            let w = Walker::new(data, enc, limits.max_depth);
            w.dataset(0, None, 0)?;
            meta.pixel_data = w.pixel.get();
        }
    }
    Ok(meta)
}

fn inflate_capped(data: &[u8], cap: u64) -> Result<Vec<u8>, FileError> {
    let mut out = Vec::new();
    let mut dec = flate2::read::DeflateDecoder::new(data).take(cap + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| FileError::Damaged(format!("deflated data set cannot be inflated: {e}")))?;
    if out.len() as u64 > cap {
        return Err(FileError::TooLarge {
            size: out.len() as u64,
            limit: cap,
        });
    }
    Ok(out)
}

/// Whether a VR's explicit encoding has 2 reserved bytes and a 32-bit length: every VR but
/// the short ones of PS3.5 7.1.2 — including codes that are no VR at all, which dicom-rs
/// reads as UN (long). The guard must read every header exactly as the parser will: a file
/// with VR bytes `S\0` was checked as a short element while the parser took a 1.6 GB length
/// from the same bytes and allocated it (found by fuzzing).
fn has_long_length(vr: &[u8]) -> bool {
    !matches!(
        vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

/// Whether two bytes are one of the standard VR codes (dicom-rs reads any other as UN).
fn is_vr(vr: &[u8]) -> bool {
    const ALL: [&[u8; 2]; 34] = [
        b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB",
        b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
        b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
    ];
    ALL.iter().any(|v| v.as_slice() == vr)
}

impl<'a> Walker<'a> {
    fn new(buf: &'a [u8], enc: Encoding, max_depth: usize) -> Self {
        Self {
            buf,
            enc,
            max_depth,
            pixel: std::cell::Cell::new(None),
        }
    }

    fn u16_at(&self, pos: usize) -> Option<u16> {
        let b = self.buf.get(pos..pos + 2)?;
        Some(match self.enc {
            Encoding::ExplicitBe => u16::from_be_bytes([b[0], b[1]]),
            _ => u16::from_le_bytes([b[0], b[1]]),
        })
    }

    fn u32_at(&self, pos: usize) -> Option<u32> {
        let b = self.buf.get(pos..pos + 4)?;
        Some(match self.enc {
            Encoding::ExplicitBe => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        })
    }

    fn truncated(&self, pos: usize, what: &str) -> FileError {
        FileError::Truncated(format!(
            "file ends at byte {} inside {what} (offset {pos} of the data set)",
            self.buf.len()
        ))
    }

    /// Walks the meta group (always explicit VR little endian); returns the info and where
    /// the data set starts.
    fn meta(&self, mut pos: usize) -> Result<(MetaInfo, usize), FileError> {
        let mut info = MetaInfo {
            transfer_syntax: String::new(),
            sop_class: String::new(),
            pixel_data: None,
        };
        while let Some(group) = self.u16_at(pos) {
            if group != 0x0002 {
                break;
            }
            let (tag, len, value_pos) = self.header(pos)?;
            let len = self.defined_len(tag, len, value_pos)?;
            let value = &self.buf[value_pos..value_pos + len];
            let text = || {
                String::from_utf8_lossy(value)
                    .trim_end_matches(['\0', ' '])
                    .trim()
                    .to_string()
            };
            match tag.1 {
                0x0010 => info.transfer_syntax = text(),
                0x0002 => info.sop_class = text(),
                _ => {}
            }
            pos = value_pos + len;
        }
        if info.transfer_syntax.is_empty() && pos >= self.buf.len() {
            return Err(self.truncated(pos, "the file meta group"));
        }
        if info.transfer_syntax.is_empty() {
            return Err(FileError::Damaged(
                "file meta group has no Transfer Syntax UID (0002,0010)".into(),
            ));
        }
        Ok((info, pos))
    }

    /// Reads an element header at `pos`: (tag, raw length, value position). For items and
    /// delimiters the length follows the tag directly in every encoding.
    fn header(&self, pos: usize) -> Result<(Tag, u32, usize), FileError> {
        let g = self
            .u16_at(pos)
            .ok_or_else(|| self.truncated(pos, "an element tag"))?;
        let e = self
            .u16_at(pos + 2)
            .ok_or_else(|| self.truncated(pos, "an element tag"))?;
        let tag = Tag(g, e);
        if g == 0xFFFE || self.enc == Encoding::ImplicitLe {
            let len = self
                .u32_at(pos + 4)
                .ok_or_else(|| self.truncated(pos, "an element header"))?;
            return Ok((tag, len, pos + 8));
        }
        let vr = self
            .buf
            .get(pos + 4..pos + 6)
            .ok_or_else(|| self.truncated(pos, "an element header"))?;
        if has_long_length(vr) {
            let len = self
                .u32_at(pos + 8)
                .ok_or_else(|| self.truncated(pos, "an element header"))?;
            Ok((tag, len, pos + 12))
        } else {
            let len = self
                .u16_at(pos + 6)
                .ok_or_else(|| self.truncated(pos, "an element header"))?;
            Ok((tag, u32::from(len), pos + 8))
        }
    }

    /// Checks that a defined length fits in what remains of the buffer.
    fn defined_len(&self, tag: Tag, len: u32, value_pos: usize) -> Result<usize, FileError> {
        let available = self.buf.len().saturating_sub(value_pos) as u64;
        if len == UNDEFINED || u64::from(len) > available {
            return Err(FileError::DeclaredLength {
                tag: fmt_tag(tag),
                declared: u64::from(len),
                available,
            });
        }
        Ok(len as usize)
    }

    fn is_sequence(&self, pos: usize, tag: Tag) -> bool {
        match self.enc {
            Encoding::ImplicitLe => StandardDataDictionary
                .by_tag(tag)
                .is_some_and(|e| matches!(e.vr(), VirtualVr::Exact(VR::SQ))),
            _ => self.buf.get(pos + 4..pos + 6) == Some(b"SQ".as_slice()),
        }
    }

    /// Walks data set elements from `pos` to `end` (or, for an undefined-length item, to
    /// its delimiter). Returns the position after what was walked.
    fn dataset(
        &self,
        mut pos: usize,
        end: Option<usize>,
        depth: usize,
    ) -> Result<usize, FileError> {
        loop {
            match end {
                Some(e) if pos >= e => return Ok(pos),
                None if pos >= self.buf.len() => {
                    if depth == 0 {
                        return Ok(pos);
                    }
                    return Err(self.truncated(pos, "an item without its delimiter"));
                }
                _ => {}
            }
            let (tag, len, value_pos) = self.header(pos)?;
            if tag == ITEM_DELIM {
                // Only an undefined-length item ends at a delimiter. Anywhere else the parser
                // reads on past it, so the guard must not stop there (a stray delimiter at
                // the top level hid a 3.7 GB length from the guard: found by fuzzing).
                if depth == 0 || end.is_some() {
                    return Err(FileError::Damaged(format!(
                        "unexpected {} at offset {pos}",
                        fmt_tag(tag)
                    )));
                }
                return Ok(value_pos);
            }
            if tag.0 == 0xFFFE {
                return Err(FileError::Damaged(format!(
                    "unexpected {} among data set elements at offset {pos}",
                    fmt_tag(tag)
                )));
            }
            let is_seq = self.is_sequence(pos, tag);
            if tag == PIXEL_DATA && len == UNDEFINED {
                pos = self.fragments(value_pos)?;
                if depth == 0 {
                    self.pixel.set(Some(PixelDataInfo {
                        encapsulated: true,
                        length: (pos - value_pos) as u64,
                    }));
                }
            } else if tag == PIXEL_DATA && !is_seq {
                pos = value_pos + self.defined_len(tag, len, value_pos)?;
                if depth == 0 {
                    self.pixel.set(Some(PixelDataInfo {
                        encapsulated: false,
                        length: u64::from(len),
                    }));
                }
            } else if is_seq || len == UNDEFINED {
                if depth + 1 > self.max_depth {
                    return Err(FileError::Nesting(self.max_depth));
                }
                // An undefined-length UN in explicit VR holds an implicit VR sequence (and
                // the parser reads a code that is no VR as UN).
                let implicit_un = self.enc == Encoding::ExplicitLe
                    && self
                        .buf
                        .get(pos + 4..pos + 6)
                        .is_some_and(|vr| vr == b"UN" || !is_vr(vr));
                let inner = Walker::new(
                    self.buf,
                    if implicit_un {
                        Encoding::ImplicitLe
                    } else {
                        self.enc
                    },
                    self.max_depth,
                );
                if len == UNDEFINED {
                    pos = inner.sequence(value_pos, None, depth + 1)?;
                } else {
                    let l = self.defined_len(tag, len, value_pos)?;
                    inner.sequence(value_pos, Some(value_pos + l), depth + 1)?;
                    pos = value_pos + l;
                }
            } else {
                pos = value_pos + self.defined_len(tag, len, value_pos)?;
            }
            if let Some(e) = end
                && pos > e
            {
                return Err(FileError::Damaged(format!(
                    "element {} runs past the end of its enclosing item",
                    fmt_tag(tag)
                )));
            }
        }
    }

    /// Walks the items of a sequence.
    fn sequence(
        &self,
        mut pos: usize,
        end: Option<usize>,
        depth: usize,
    ) -> Result<usize, FileError> {
        loop {
            match end {
                Some(e) if pos >= e => return Ok(pos),
                None if pos >= self.buf.len() => {
                    return Err(self.truncated(pos, "a sequence without its delimiter"));
                }
                _ => {}
            }
            let (tag, len, value_pos) = self.header(pos)?;
            if tag == SEQ_DELIM {
                return Ok(value_pos);
            }
            if tag != ITEM {
                return Err(FileError::Damaged(format!(
                    "expected an item in a sequence at offset {pos}, found {}",
                    fmt_tag(tag)
                )));
            }
            if len == UNDEFINED {
                pos = self.dataset(value_pos, None, depth)?;
            } else {
                let l = self.defined_len(tag, len, value_pos)?;
                self.dataset(value_pos, Some(value_pos + l), depth)?;
                pos = value_pos + l;
            }
        }
    }

    /// Walks encapsulated pixel data fragments up to the sequence delimiter.
    fn fragments(&self, mut pos: usize) -> Result<usize, FileError> {
        loop {
            if pos >= self.buf.len() {
                return Err(self.truncated(pos, "encapsulated pixel data"));
            }
            let (tag, len, value_pos) = self.header(pos)?;
            if tag == SEQ_DELIM {
                return Ok(value_pos);
            }
            if tag != ITEM {
                return Err(FileError::Damaged(format!(
                    "expected a pixel data fragment at offset {pos}, found {}",
                    fmt_tag(tag)
                )));
            }
            pos = value_pos + self.defined_len(tag, len, value_pos)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a Part 10 file: preamble, meta with the given transfer syntax, then `body`.
    fn file(ts_uid: &str, body: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 128];
        v.extend_from_slice(b"DICM");
        let mut uid = ts_uid.as_bytes().to_vec();
        if uid.len() % 2 == 1 {
            uid.push(0);
        }
        v.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I']);
        v.extend_from_slice(&(uid.len() as u16).to_le_bytes());
        v.extend_from_slice(&uid);
        v.extend_from_slice(body);
        v
    }

    fn explicit(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&tag.0.to_le_bytes());
        v.extend_from_slice(&tag.1.to_le_bytes());
        v.extend_from_slice(vr);
        if has_long_length(vr) {
            v.extend_from_slice(&[0, 0]);
            v.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            v.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        v.extend_from_slice(value);
        v
    }

    #[test]
    fn accepts_a_simple_explicit_file() {
        let mut body = explicit((0x0010, 0x0010), b"PN", b"DOE^J ");
        body.extend(explicit((0x7FE0, 0x0010), b"OW", &[0u8; 8]));
        let f = file(ts::EXPLICIT_LE, &body);
        let meta = check(&f, &GuardLimits::default());
        assert_eq!(
            meta.map(|m| m.transfer_syntax),
            Ok(ts::EXPLICIT_LE.to_string())
        );
    }

    #[test]
    fn rejects_a_length_beyond_the_file() {
        let mut body = explicit((0x0009, 0x0010), b"OB", &[]);
        let n = body.len();
        body[n - 4..].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        body.extend_from_slice(&[1, 2, 3, 4]);
        let f = file(ts::EXPLICIT_LE, &body);
        let err = check(&f, &GuardLimits::default());
        assert!(matches!(
            err,
            Err(FileError::DeclaredLength {
                declared: 0xFFFF_FFF0,
                ..
            })
        ));
    }

    #[test]
    fn rejects_deep_nesting_without_recursing_into_it() {
        let mut body = Vec::new();
        for _ in 0..10_000 {
            body.extend_from_slice(&[0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0]);
            body.extend_from_slice(&UNDEFINED.to_le_bytes());
            body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
            body.extend_from_slice(&UNDEFINED.to_le_bytes());
        }
        let f = file(ts::EXPLICIT_LE, &body);
        assert_eq!(
            check(&f, &GuardLimits::default()),
            Err(FileError::Nesting(32))
        );
    }

    #[test]
    fn rejects_files_without_marker_and_empty_files() {
        assert_eq!(check(&[], &GuardLimits::default()), Err(FileError::Empty));
        assert!(matches!(
            check(b"hello world", &GuardLimits::default()),
            Err(FileError::NotDicom(_))
        ));
    }

    #[test]
    fn rejects_an_unterminated_sequence() {
        let mut body = Vec::new();
        body.extend_from_slice(&[0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0]);
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        let f = file(ts::EXPLICIT_LE, &body);
        assert!(matches!(
            check(&f, &GuardLimits::default()),
            Err(FileError::Truncated(_))
        ));
    }
}
