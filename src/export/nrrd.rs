//! NRRD export (format version 4, attached header, `.nrrd`) of a 3D volume in DICOM LPS space.
//!
//! Header fields written, in this order: `type` (`uint8` or `int16`), `dimension: 3`,
//! `space: left-posterior-superior`, `sizes` (fastest axis first: columns, rows, slices),
//! `space directions` (one vector in mm per axis, the step from one sample to the next),
//! `kinds: domain domain domain`, `endian: little`, `encoding: raw` or `gzip`, and
//! `space origin` (the LPS mm position of the first sample's centre). A blank line ends the
//! header; the samples follow, little-endian, optionally as one gzip stream.

use std::io::{self, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::io::atomic::write_atomic;

/// Samples converted per buffer before they go to the file or the compressor.
const SAMPLES_PER_CHUNK: usize = 1 << 19;

/// Voxel samples, fastest axis first (column, then row, then slice).
#[derive(Debug, Clone, Copy)]
pub enum Samples<'a> {
    /// Unsigned bytes, e.g. a label mask.
    U8(&'a [u8]),
    /// Signed 16-bit values, e.g. Hounsfield units.
    I16(&'a [i16]),
}

impl Samples<'_> {
    /// Number of samples.
    fn len(&self) -> usize {
        match self {
            Samples::U8(s) => s.len(),
            Samples::I16(s) => s.len(),
        }
    }
}

/// Writes a 3D volume as an attached-header NRRD, gzip-compressed when `gzip` is set.
pub fn write(
    path: &Path,
    sizes: [usize; 3],
    space_directions: [[f64; 3]; 3],
    space_origin: [f64; 3],
    samples: Samples,
    gzip: bool,
) -> io::Result<()> {
    let header = header(sizes, space_directions, space_origin, &samples, gzip)?;
    write_atomic(path, |w| {
        w.write_all(header.as_bytes())?;
        if gzip {
            // Level 3: close to the default's size on CT data at about twice its speed.
            let mut gz = GzEncoder::new(&mut *w, Compression::new(3));
            write_samples(&mut gz, &samples)?;
            gz.try_finish()?;
            Ok(())
        } else {
            write_samples(w, &samples)
        }
    })
}

/// The header text, ending with its blank line, after checking sizes and geometry.
fn header(
    sizes: [usize; 3],
    dirs: [[f64; 3]; 3],
    origin: [f64; 3],
    samples: &Samples,
    gzip: bool,
) -> io::Result<String> {
    let expected = sizes
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .ok_or_else(|| invalid(format!("NRRD sizes {sizes:?} overflow")))?;
    if sizes.contains(&0) {
        return Err(invalid(format!("NRRD sizes {sizes:?} contain a zero")));
    }
    if samples.len() != expected {
        return Err(invalid(format!(
            "NRRD sizes {sizes:?} need {expected} samples, got {}",
            samples.len()
        )));
    }
    if !dirs
        .iter()
        .flatten()
        .chain(origin.iter())
        .all(|c| c.is_finite())
    {
        return Err(invalid(format!(
            "NRRD geometry is not finite: directions {dirs:?}, origin {origin:?}"
        )));
    }
    let vec = |v: [f64; 3]| format!("({},{},{})", v[0], v[1], v[2]);
    let kind = match samples {
        Samples::U8(_) => "uint8",
        Samples::I16(_) => "int16",
    };
    Ok(format!(
        "NRRD0004\n\
         # Complete NRRD file format specification at:\n\
         # http://teem.sourceforge.net/nrrd/format.html\n\
         # Written by Hounsfield\n\
         type: {kind}\n\
         dimension: 3\n\
         space: left-posterior-superior\n\
         sizes: {} {} {}\n\
         space directions: {} {} {}\n\
         kinds: domain domain domain\n\
         endian: little\n\
         encoding: {}\n\
         space origin: {}\n\n",
        sizes[0],
        sizes[1],
        sizes[2],
        vec(dirs[0]),
        vec(dirs[1]),
        vec(dirs[2]),
        if gzip { "gzip" } else { "raw" },
        vec(origin),
    ))
}

/// Writes the samples little-endian in large chunks.
fn write_samples(w: &mut impl Write, samples: &Samples) -> io::Result<()> {
    match samples {
        Samples::U8(s) => w.write_all(s),
        Samples::I16(s) => {
            let mut buf = Vec::with_capacity(SAMPLES_PER_CHUNK * 2);
            for chunk in s.chunks(SAMPLES_PER_CHUNK) {
                buf.clear();
                for v in chunk {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                w.write_all(&buf)?;
            }
            Ok(())
        }
    }
}

/// An `InvalidInput` error with `msg`.
fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::Read;

    /// Splits an attached-header NRRD into its fields and data bytes.
    fn parse(bytes: &[u8]) -> (HashMap<String, String>, Vec<u8>) {
        let end = bytes.windows(2).position(|w| w == b"\n\n").unwrap();
        let text = std::str::from_utf8(&bytes[..end]).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("NRRD0004"));
        let fields = lines
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.split_once(": ").unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        (fields, bytes[end + 2..].to_vec())
    }

    fn geometry() -> ([[f64; 3]; 3], [f64; 3]) {
        (
            [[0.7, 0.0, 0.0], [0.0, 0.7, 0.0], [0.0, 0.0, 1.25]],
            [-179.65, -320.0, -1002.5],
        )
    }

    #[test]
    fn int16_gzip_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ct.nrrd");
        let (d, o) = geometry();
        let sizes = [5, 4, 3];
        let data: Vec<i16> = (0..60).map(|i| (i * 97 - 1024) as i16).collect();
        write(&p, sizes, d, o, Samples::I16(&data), true).unwrap();
        let (f, body) = parse(&std::fs::read(&p).unwrap());
        assert_eq!(f["type"], "int16");
        assert_eq!(f["dimension"], "3");
        assert_eq!(f["space"], "left-posterior-superior");
        assert_eq!(f["sizes"], "5 4 3");
        assert_eq!(f["space directions"], "(0.7,0,0) (0,0.7,0) (0,0,1.25)");
        assert_eq!(f["kinds"], "domain domain domain");
        assert_eq!(f["endian"], "little");
        assert_eq!(f["encoding"], "gzip");
        assert_eq!(f["space origin"], "(-179.65,-320,-1002.5)");
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut raw)
            .unwrap();
        let back: Vec<i16> = raw
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(back, data);
    }

    #[test]
    fn uint8_raw_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mask.nrrd");
        let (d, o) = geometry();
        let data: Vec<u8> = (0..24).map(|i| (i % 2) as u8).collect();
        write(&p, [2, 3, 4], d, o, Samples::U8(&data), false).unwrap();
        let (f, body) = parse(&std::fs::read(&p).unwrap());
        assert_eq!(f["type"], "uint8");
        assert_eq!(f["encoding"], "raw");
        assert_eq!(body, data);
    }

    #[test]
    fn large_volume_spans_several_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.nrrd");
        let (d, o) = geometry();
        let sizes = [128, 96, 100];
        let data: Vec<i16> = (0..sizes.iter().product::<usize>())
            .map(|i| (i % 4000) as i16 - 1000)
            .collect();
        write(&p, sizes, d, o, Samples::I16(&data), false).unwrap();
        let (_, body) = parse(&std::fs::read(&p).unwrap());
        assert_eq!(body.len(), data.len() * 2);
        assert_eq!(&body[body.len() - 2..], &data[data.len() - 1].to_le_bytes());
    }

    #[test]
    fn wrong_length_zero_size_and_nan_geometry_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.nrrd");
        let (d, o) = geometry();
        let e = write(&p, [2, 2, 2], d, o, Samples::U8(&[0; 7]), false).unwrap_err();
        assert!(e.to_string().contains("need 8 samples, got 7"), "{e}");
        assert!(write(&p, [0, 2, 2], d, o, Samples::U8(&[]), false).is_err());
        assert!(write(&p, [usize::MAX, 2, 2], d, o, Samples::U8(&[]), false).is_err());
        let mut bad = d;
        bad[1][1] = f64::NAN;
        assert!(write(&p, [1, 1, 1], bad, o, Samples::U8(&[0]), true).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
