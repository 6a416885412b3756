//! NIfTI-1 (`.nii`, `.nii.gz`) read and write with correct qform and sform.
//!
//! NIfTI's world frame is RAS; ours is LPS, so x and y are negated on the way in and out.
//! The array order `[slice, row, column]` in C layout is NIfTI's order with i (column)
//! fastest, so voxel data is written as it lies in memory.

use crate::io::atomic::write_atomic;
use crate::volume::{Volume, VolumeGeometry};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use ndarray::Array3;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// True when a path names a NIfTI file (`.nii` or `.nii.gz`, any case).
pub fn is_nifti_path(p: &Path) -> bool {
    let s = p.to_string_lossy().to_ascii_lowercase();
    s.ends_with(".nii") || s.ends_with(".nii.gz")
}

/// Why a NIfTI file could not be read or written.
#[derive(Debug, Error)]
pub enum NiftiError {
    /// I/O failure.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The input file cannot be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a NIfTI-1 file, or an unsupported variant.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Voxel data to write.
#[derive(Debug, Clone, Copy)]
pub enum VoxelData<'a> {
    /// Signed 16-bit (HU).
    I16(&'a [i16]),
    /// Unsigned 8-bit (masks, labels).
    U8(&'a [u8]),
}

impl VoxelData<'_> {
    fn len(&self) -> usize {
        match self {
            Self::I16(d) => d.len(),
            Self::U8(d) => d.len(),
        }
    }
}

const HEADER_SIZE: usize = 348;
const VOX_OFFSET: usize = 352;
const DT_UINT8: i16 = 2;
const DT_INT16: i16 = 4;
const DT_INT32: i16 = 8;
const DT_FLOAT32: i16 = 16;
const DT_FLOAT64: i16 = 64;
const DT_INT8: i16 = 256;
const DT_UINT16: i16 = 512;
const NIFTI_UNITS_MM: u8 = 2;
const XFORM_SCANNER_ANAT: i16 = 1;

fn is_gz(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Writes a volume's HU values.
pub fn write_volume(path: &Path, volume: &Volume, description: &str) -> Result<(), NiftiError> {
    // Volumes are built in standard layout; only a view would need the copy.
    let data: std::borrow::Cow<'_, [i16]> = match volume.hu.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(volume.hu.iter().copied().collect()),
    };
    write(
        path,
        volume.dims(),
        &volume.geometry,
        VoxelData::I16(&data),
        description,
    )
}

/// A NIfTI-1 header extension: a code and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// `ecode` (6 = comment, used for Hounsfield's JSON provenance).
    pub code: i32,
    /// The content (padded with zeros to a multiple of 16 bytes on disk).
    pub data: Vec<u8>,
}

/// `NIFTI_ECODE_COMMENT`: free text, here JSON.
pub const ECODE_COMMENT: i32 = 6;

/// Writes voxel data of `dims = [slices, rows, columns]` with the given geometry.
pub fn write(
    path: &Path,
    dims: [usize; 3],
    geometry: &VolumeGeometry,
    data: VoxelData<'_>,
    description: &str,
) -> Result<(), NiftiError> {
    write_with_extensions(path, dims, geometry, data, description, &[])
}

/// As [`write`], with header extensions after the header.
pub fn write_with_extensions(
    path: &Path,
    dims: [usize; 3],
    geometry: &VolumeGeometry,
    data: VoxelData<'_>,
    description: &str,
    extensions: &[Extension],
) -> Result<(), NiftiError> {
    let io_err = |source| NiftiError::Io {
        path: path.to_path_buf(),
        source,
    };
    if data.len() != dims.iter().product::<usize>()
        || dims.iter().any(|d| *d == 0 || *d > i16::MAX as usize)
    {
        return Err(NiftiError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "cannot write {:?} voxels with dimensions {dims:?}",
                data.len()
            ),
        });
    }
    let mut header = build_header(dims, geometry, &data, description);
    // The extender: a flag saying whether extensions follow, then each as
    // (esize, ecode, data) with esize a multiple of 16 that counts its own 8 bytes.
    header.extend_from_slice(&[u8::from(!extensions.is_empty()), 0, 0, 0]);
    for e in extensions {
        let size = (8 + e.data.len()).div_ceil(16) * 16;
        header.extend_from_slice(&(size as i32).to_le_bytes());
        header.extend_from_slice(&e.code.to_le_bytes());
        header.extend_from_slice(&e.data);
        header.resize(header.len() + size - 8 - e.data.len(), 0);
    }
    let vox_offset = header.len() as f32;
    header[108..112].copy_from_slice(&vox_offset.to_le_bytes());
    write_atomic(path, |w| {
        if is_gz(path) {
            // Fast compression: CT compresses ~2x at level 1 and barely better at 9, which
            // costs 5-10x the time.
            let mut gz = GzEncoder::new(w, Compression::fast());
            write_body(&mut gz, &header, &data)?;
            gz.finish()?;
            Ok(())
        } else {
            write_body(w, &header, &data)
        }
    })
    .map_err(io_err)
}

fn write_body<W: Write>(w: &mut W, header: &[u8], data: &VoxelData<'_>) -> std::io::Result<()> {
    w.write_all(header)?;
    match data {
        VoxelData::U8(d) => w.write_all(d),
        VoxelData::I16(d) => {
            let mut buf = Vec::with_capacity(1 << 16);
            for chunk in d.chunks(1 << 15) {
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

fn build_header(
    dims: [usize; 3],
    g: &VolumeGeometry,
    data: &VoxelData<'_>,
    description: &str,
) -> Vec<u8> {
    let mut h = vec![0u8; HEADER_SIZE];
    let put_i16 =
        |h: &mut [u8], off: usize, v: i16| h[off..off + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 =
        |h: &mut [u8], off: usize, v: f32| h[off..off + 4].copy_from_slice(&v.to_le_bytes());
    h[0..4].copy_from_slice(&(HEADER_SIZE as i32).to_le_bytes());
    h[38] = b'r';
    let [nk, nj, ni] = dims;
    for (i, v) in [3, ni, nj, nk, 1, 1, 1, 1].iter().enumerate() {
        put_i16(&mut h, 40 + 2 * i, *v as i16);
    }
    let (dt, bitpix) = match data {
        VoxelData::I16(_) => (DT_INT16, 16),
        VoxelData::U8(_) => (DT_UINT8, 8),
    };
    put_i16(&mut h, 70, dt);
    put_i16(&mut h, 72, bitpix);
    let a = g.affine_ijk_to_ras();
    let quat = quaternion(&a);
    let qfac = quat.map_or(1.0, |q| q.3);
    let s = g.spacing;
    for (i, v) in [qfac, s.col, s.row, s.slice, 1.0, 1.0, 1.0, 1.0]
        .iter()
        .enumerate()
    {
        put_f32(&mut h, 76 + 4 * i, *v as f32);
    }
    put_f32(&mut h, 108, VOX_OFFSET as f32);
    put_f32(&mut h, 112, 1.0);
    put_f32(&mut h, 116, 0.0);
    h[123] = NIFTI_UNITS_MM;
    let d = description.as_bytes();
    let n = d.len().min(79);
    h[148..148 + n].copy_from_slice(&d[..n]);
    if let Some((b, c, dq, _)) = quat {
        put_i16(&mut h, 252, XFORM_SCANNER_ANAT);
        put_f32(&mut h, 256, b as f32);
        put_f32(&mut h, 260, c as f32);
        put_f32(&mut h, 264, dq as f32);
        put_f32(&mut h, 268, a[0][3] as f32);
        put_f32(&mut h, 272, a[1][3] as f32);
        put_f32(&mut h, 276, a[2][3] as f32);
    }
    put_i16(&mut h, 254, XFORM_SCANNER_ANAT);
    for (row, off) in [(0, 280), (1, 296), (2, 312)] {
        for (col, v) in a[row].iter().enumerate() {
            put_f32(&mut h, off + 4 * col, *v as f32);
        }
    }
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

/// The qform quaternion `(b, c, d, qfac)` of an affine whose 3×3 part is a rotation times
/// positive scales (possibly with a reflection); `None` for sheared affines, which only the
/// sform can hold. Follows nifti1_io's `mat44_to_quatern`.
fn quaternion(a: &[[f64; 4]; 4]) -> Option<(f64, f64, f64, f64)> {
    let col = |j: usize| glam::DVec3::new(a[0][j], a[1][j], a[2][j]);
    let (x, y, mut z) = (col(0).normalize(), col(1).normalize(), col(2).normalize());
    if x.dot(y).abs() > 1e-4 || x.dot(z).abs() > 1e-4 || y.dot(z).abs() > 1e-4 {
        return None;
    }
    let det = x.dot(y.cross(z));
    let qfac = if det > 0.0 { 1.0 } else { -1.0 };
    if det < 0.0 {
        z = -z;
    }
    let (r11, r21, r31) = (x.x, x.y, x.z);
    let (r12, r22, r32) = (y.x, y.y, y.z);
    let (r13, r23, r33) = (z.x, z.y, z.z);
    let trace = r11 + r22 + r33 + 1.0;
    let (mut qa, mut b, mut c, mut d);
    if trace > 0.5 {
        qa = 0.5 * trace.sqrt();
        b = 0.25 * (r32 - r23) / qa;
        c = 0.25 * (r13 - r31) / qa;
        d = 0.25 * (r21 - r12) / qa;
    } else {
        let xd = 1.0 + r11 - (r22 + r33);
        let yd = 1.0 + r22 - (r11 + r33);
        let zd = 1.0 + r33 - (r11 + r22);
        if xd > 1.0 {
            b = 0.5 * xd.sqrt();
            c = 0.25 * (r12 + r21) / b;
            d = 0.25 * (r13 + r31) / b;
            qa = 0.25 * (r32 - r23) / b;
        } else if yd > 1.0 {
            c = 0.5 * yd.sqrt();
            b = 0.25 * (r12 + r21) / c;
            d = 0.25 * (r23 + r32) / c;
            qa = 0.25 * (r13 - r31) / c;
        } else {
            d = 0.5 * zd.sqrt();
            b = 0.25 * (r13 + r31) / d;
            c = 0.25 * (r23 + r32) / d;
            qa = 0.25 * (r21 - r12) / d;
        }
        if qa < 0.0 {
            b = -b;
            c = -c;
            d = -d;
            qa = -qa;
        }
    }
    let _ = qa;
    Some((b, c, d, qfac))
}

/// The file's bytes, decompressed when it ends in `.gz`.
fn open_reader(path: &Path) -> Result<Box<dyn Read>, NiftiError> {
    let file = std::fs::File::open(path).map_err(|source| NiftiError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(if is_gz(path) {
        Box::new(GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    })
}

/// Reads the header extensions of a NIfTI-1 file (without its voxels).
pub fn read_extensions(path: &Path) -> Result<Vec<Extension>, NiftiError> {
    let fmt = |reason: String| NiftiError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = open_reader(path)?;
    let mut h = vec![0u8; HEADER_SIZE + 4];
    reader
        .read_exact(&mut h)
        .map_err(|e| fmt(format!("cannot read the NIfTI header: {e}")))?;
    let le = i32::from_le_bytes([h[0], h[1], h[2], h[3]]) == HEADER_SIZE as i32;
    let i32_at = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            i32::from_le_bytes(a)
        } else {
            i32::from_be_bytes(a)
        }
    };
    let vox = {
        let a = [h[108], h[109], h[110], h[111]];
        f64::from(if le {
            f32::from_le_bytes(a)
        } else {
            f32::from_be_bytes(a)
        })
    };
    if h[HEADER_SIZE] == 0 || !(vox.is_finite() && vox >= (HEADER_SIZE + 4) as f64) {
        return Ok(Vec::new());
    }
    // Extensions live between the extender and the voxels; never read past a small cap.
    let area = (vox as usize - HEADER_SIZE - 4).min(1 << 20);
    let mut bytes = vec![0u8; area];
    reader
        .read_exact(&mut bytes)
        .map_err(|e| fmt(format!("file ends inside its header extensions: {e}")))?;
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let size = i32_at(&bytes[pos..]);
        let code = i32_at(&bytes[pos + 4..]);
        if size < 16 || size % 16 != 0 || pos + size as usize > bytes.len() {
            break;
        }
        let data = &bytes[pos + 8..pos + size as usize];
        let end = data.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
        out.push(Extension {
            code,
            data: data[..end].to_vec(),
        });
        pos += size as usize;
    }
    Ok(out)
}

/// Reads a NIfTI-1 volume as HU (`scl_slope`/`scl_inter` applied, rounded, clamped to i16).
pub fn read_volume(path: &Path) -> Result<Volume, NiftiError> {
    let fmt = |reason: String| NiftiError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = open_reader(path)?;
    let mut h = vec![0u8; HEADER_SIZE];
    reader.read_exact(&mut h).map_err(|e| {
        fmt(format!(
            "cannot read the 348-byte NIfTI header (the file is truncated or damaged): {e}"
        ))
    })?;
    let le = i32::from_le_bytes([h[0], h[1], h[2], h[3]]) == HEADER_SIZE as i32;
    let be = i32::from_be_bytes([h[0], h[1], h[2], h[3]]) == HEADER_SIZE as i32;
    if !le && !be {
        return Err(fmt("not a NIfTI-1 file (sizeof_hdr is not 348)".into()));
    }
    if &h[344..347] != b"n+1" && &h[344..347] != b"ni1" {
        return Err(fmt("not a NIfTI-1 file (magic is not n+1)".into()));
    }
    if &h[344..347] == b"ni1" {
        return Err(fmt(
            "two-file NIfTI (.hdr/.img) is not supported; convert to .nii".into(),
        ));
    }
    let i16_at = |o: usize| {
        let b = [h[o], h[o + 1]];
        if le {
            i16::from_le_bytes(b)
        } else {
            i16::from_be_bytes(b)
        }
    };
    let f32_at = |o: usize| {
        let b = [h[o], h[o + 1], h[o + 2], h[o + 3]];
        f64::from(if le {
            f32::from_le_bytes(b)
        } else {
            f32::from_be_bytes(b)
        })
    };
    let ndim = i16_at(40);
    if !(2..=7).contains(&ndim) {
        return Err(fmt(format!("dim[0] = {ndim} is not 2..7")));
    }
    let dim = |i: usize| {
        if i as i16 <= ndim {
            i16_at(40 + 2 * i)
        } else {
            1
        }
    };
    let (ni, nj, nk) = (dim(1), dim(2), dim(3));
    if ni < 1 || nj < 1 || nk < 1 {
        return Err(fmt(format!("invalid dimensions {ni}x{nj}x{nk}")));
    }
    if (4..=7).any(|i| dim(i) > 1) {
        return Err(fmt(
            "4D and higher NIfTI volumes are not supported; extract one 3D volume".into(),
        ));
    }
    let (ni, nj, nk) = (ni as usize, nj as usize, nk as usize);
    let datatype = i16_at(70);
    let bytes_per = match datatype {
        DT_UINT8 | DT_INT8 => 1,
        DT_INT16 | DT_UINT16 => 2,
        DT_INT32 | DT_FLOAT32 => 4,
        DT_FLOAT64 => 8,
        other => return Err(fmt(format!("unsupported NIfTI datatype code {other}"))),
    };
    // The cap is on the volume built (i16 HU), shared with DICOM, and checked before
    // anything is read: a small .nii.gz may declare gigabytes.
    let n = ni * nj * nk;
    let out_bytes = n as u64 * 2;
    if out_bytes > crate::volume::MAX_VOLUME_BYTES {
        return Err(fmt(format!(
            "{ni}x{nj}x{nk} voxels ({out_bytes} bytes as HU) exceed the limit of {} bytes",
            crate::volume::MAX_VOLUME_BYTES
        )));
    }
    let vox_offset = f32_at(108);
    // A single-file NIfTI has the 4-byte extender after the header.
    if !(vox_offset.is_finite() && vox_offset >= (HEADER_SIZE + 4) as f64 && vox_offset <= 4e9) {
        return Err(fmt(format!("invalid vox_offset {vox_offset}")));
    }
    // Skip the extender and the extensions without allocating what they declare.
    let gap = vox_offset as u64 - HEADER_SIZE as u64;
    let skipped = std::io::copy(&mut (&mut reader).take(gap), &mut std::io::sink())
        .map_err(|e| fmt(format!("cannot read the header extensions: {e}")))?;
    if skipped < gap {
        return Err(fmt(format!(
            "the file ends before the voxel data (vox_offset {vox_offset}, {} bytes after the header)",
            skipped
        )));
    }
    let mut slope = f32_at(112);
    let inter = f32_at(116);
    if slope == 0.0 || !slope.is_finite() {
        slope = 1.0;
    }
    let inter = if inter.is_finite() { inter } else { 0.0 };
    let value = |b: &[u8]| -> i16 {
        let v = match datatype {
            DT_UINT8 => f64::from(b[0]),
            DT_INT8 => f64::from(b[0] as i8),
            DT_INT16 => f64::from(if le {
                i16::from_le_bytes([b[0], b[1]])
            } else {
                i16::from_be_bytes([b[0], b[1]])
            }),
            DT_UINT16 => f64::from(if le {
                u16::from_le_bytes([b[0], b[1]])
            } else {
                u16::from_be_bytes([b[0], b[1]])
            }),
            DT_INT32 => {
                let a = [b[0], b[1], b[2], b[3]];
                f64::from(if le {
                    i32::from_le_bytes(a)
                } else {
                    i32::from_be_bytes(a)
                })
            }
            DT_FLOAT32 => {
                let a = [b[0], b[1], b[2], b[3]];
                f64::from(if le {
                    f32::from_le_bytes(a)
                } else {
                    f32::from_be_bytes(a)
                })
            }
            _ => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[..8]);
                if le {
                    f64::from_le_bytes(a)
                } else {
                    f64::from_be_bytes(a)
                }
            }
        };
        let hu = v * slope + inter;
        if hu.is_nan() {
            0
        } else {
            hu.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
        }
    };
    // A plain file must hold what its header declares before the volume is allocated (a
    // 1 KB file declaring 3 GiB was allocated in full, found by fuzzing). A gzip stream's
    // length is unknown until read: there the volume grows only with the data decompressed.
    let declared = vox_offset as u64 + n as u64 * bytes_per as u64;
    if !is_gz(path) {
        let len = std::fs::metadata(path)
            .map_err(|e| NiftiError::Io {
                path: path.to_path_buf(),
                source: e,
            })?
            .len();
        if len < declared {
            return Err(fmt(format!(
                "the file holds {len} bytes but its header declares {declared}                  (vox_offset + {ni}x{nj}x{nk} voxels of {bytes_per} bytes): truncated, or a wrong header"
            )));
        }
    }
    const CHUNK: usize = 1 << 16;
    let oom = || {
        fmt(format!(
            "not enough memory for {ni}x{nj}x{nk} voxels ({out_bytes} bytes)"
        ))
    };
    // Decoded a chunk at a time straight into the volume: no copy of the raw bytes.
    let mut data: Vec<i16> = Vec::new();
    data.try_reserve_exact(if is_gz(path) { n.min(1 << 24) } else { n })
        .map_err(|_| oom())?;
    let mut chunk = vec![0u8; bytes_per * CHUNK];
    while data.len() < n {
        if data.capacity() - data.len() < CHUNK {
            let more = (n - data.len()).min(data.len().max(CHUNK));
            data.try_reserve_exact(more).map_err(|_| oom())?;
        }
        let want = (n - data.len()).min(CHUNK) * bytes_per;
        let buf = &mut chunk[..want];
        reader.read_exact(buf).map_err(|e| {
            fmt(format!(
                "truncated or damaged voxel data: {} of {n} voxels of {ni}x{nj}x{nk} read ({e})",
                data.len()
            ))
        })?;
        data.extend(buf.chunks_exact(bytes_per).map(value));
    }
    let hu = Array3::from_shape_vec((nk, nj, ni), data).map_err(|e| fmt(e.to_string()))?;
    // Spatial units (xyzt_units, low 3 bits): metres and micrometres exist; millimetres
    // and "unknown" are read as mm.
    let unit_mm = match h[123] & 0x07 {
        1 => 1000.0,
        3 => 0.001,
        _ => 1.0,
    };
    let pixdim = |i: usize| f32_at(76 + 4 * i);
    let ras = if i16_at(254) > 0 {
        let row = |o: usize| [f32_at(o), f32_at(o + 4), f32_at(o + 8), f32_at(o + 12)];
        [row(280), row(296), row(312), [0.0, 0.0, 0.0, 1.0]]
    } else if i16_at(252) > 0 {
        qform_affine(
            [f32_at(256), f32_at(260), f32_at(264)],
            [f32_at(268), f32_at(272), f32_at(276)],
            [pixdim(1), pixdim(2), pixdim(3)],
            if pixdim(0) < 0.0 { -1.0 } else { 1.0 },
        )
    } else {
        let p = |i: usize| if pixdim(i) > 0.0 { pixdim(i) } else { 1.0 };
        [
            [p(1), 0.0, 0.0, 0.0],
            [0.0, p(2), 0.0, 0.0],
            [0.0, 0.0, p(3), 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    };
    if ras.iter().flatten().any(|v| !v.is_finite()) || (1..=3).any(|i| !pixdim(i).is_finite()) {
        return Err(fmt(
            "the voxel-to-patient affine (sform/qform or pixdim) is not finite".into(),
        ));
    }
    let mut lps = ras;
    for row in lps.iter_mut().take(3) {
        for v in row.iter_mut() {
            *v *= unit_mm;
        }
    }
    for v in &mut lps[0] {
        *v = -*v;
    }
    for v in &mut lps[1] {
        *v = -*v;
    }
    let geometry = VolumeGeometry::from_affine_ijk_to_lps(&lps)
        .ok_or_else(|| fmt("the affine has a zero-length axis".into()))?;
    Ok(Volume { hu, geometry })
}

/// The qform affine from quaternion, offsets, spacings and qfac (nifti1_io's
/// `quatern_to_mat44`).
fn qform_affine(bcd: [f64; 3], offset: [f64; 3], pix: [f64; 3], qfac: f64) -> [[f64; 4]; 4] {
    let [b, c, d] = bcd;
    let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
    let r = [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - c * c - b * b,
        ],
    ];
    let p = |x: f64| if x > 0.0 { x } else { 1.0 };
    let s = [p(pix[0]), p(pix[1]), p(pix[2]) * qfac];
    let mut m = [[0.0; 4]; 4];
    for i in 0..3 {
        for j in 0..3 {
            m[i][j] = r[i][j] * s[j];
        }
        m[i][3] = offset[i];
    }
    m[3][3] = 1.0;
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::{LpsDirection, LpsPointMm, SpacingMm};
    use glam::DVec3;

    fn volume() -> Volume {
        let hu = Array3::from_shape_fn((3, 4, 5), |(k, j, i)| (k * 100 + j * 10 + i) as i16 - 50);
        let mut g = VolumeGeometry::axis_aligned(SpacingMm {
            col: 0.45,
            row: 0.5,
            slice: 1.25,
        });
        g.origin = LpsPointMm::new(-115.5, -1.85, 694.21);
        Volume { hu, geometry: g }
    }

    #[test]
    fn round_trip_keeps_values_and_geometry() {
        let Ok(dir) = tempfile::tempdir() else { return };
        for name in ["v.nii", "v.nii.gz"] {
            let p = dir.path().join(name);
            let v = volume();
            assert!(write_volume(&p, &v, "test").is_ok());
            let back = read_volume(&p);
            assert!(back.is_ok(), "{back:?}");
            let Ok(back) = back else { return };
            assert_eq!(back.hu, v.hu);
            let d = back.geometry.origin.0 - v.geometry.origin.0;
            assert!(d.length() < 1e-3, "{d:?}");
            assert!((back.geometry.spacing.col - 0.45).abs() < 1e-6);
            assert_eq!(back.geometry.col_dir, LpsDirection::X);
        }
    }

    #[test]
    fn extensions_round_trip_and_the_voxels_follow_them() {
        let Ok(dir) = tempfile::tempdir() else { return };
        for name in ["e.nii", "e.nii.gz"] {
            let p = dir.path().join(name);
            let v = volume();
            let data: Vec<i16> = v.hu.iter().copied().collect();
            let ext = Extension {
                code: ECODE_COMMENT,
                data: br#"{"format": "hounsfield-mask"}"#.to_vec(),
            };
            let w = write_with_extensions(
                &p,
                v.dims(),
                &v.geometry,
                VoxelData::I16(&data),
                "t",
                std::slice::from_ref(&ext),
            );
            assert!(w.is_ok(), "{w:?}");
            assert_eq!(read_extensions(&p).ok(), Some(vec![ext.clone()]));
            assert_eq!(read_volume(&p).ok().map(|b| b.hu), Some(v.hu.clone()));
        }
        let plain = dir.path().join("p.nii");
        assert!(write_volume(&plain, &volume(), "t").is_ok());
        assert_eq!(read_extensions(&plain).ok(), Some(vec![]));
    }

    #[test]
    fn qform_matches_sform_for_an_oblique_volume() {
        let mut v = volume();
        let c = LpsDirection::new(DVec3::new(1.0, 0.2, 0.0));
        let r = LpsDirection::new(DVec3::new(-0.2, 1.0, 0.0));
        let (Some(c), Some(r)) = (c, r) else { return };
        v.geometry.col_dir = c;
        v.geometry.row_dir = r;
        let a = v.geometry.affine_ijk_to_ras();
        let q = quaternion(&a);
        assert!(q.is_some());
        let Some((b, cq, d, qfac)) = q else { return };
        let s = v.geometry.spacing;
        let m = qform_affine(
            [b, cq, d],
            [a[0][3], a[1][3], a[2][3]],
            [s.col, s.row, s.slice],
            qfac,
        );
        for i in 0..3 {
            for j in 0..4 {
                assert!(
                    (m[i][j] - a[i][j]).abs() < 1e-9,
                    "{i},{j}: {} vs {}",
                    m[i][j],
                    a[i][j]
                );
            }
        }
    }

    #[test]
    fn rejects_garbage() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let p = dir.path().join("x.nii");
        assert!(std::fs::write(&p, b"not a nifti file").is_ok());
        assert!(matches!(read_volume(&p), Err(NiftiError::Format { .. })));
    }
}
