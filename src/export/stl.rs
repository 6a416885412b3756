//! STL export (binary and ASCII) of a triangle mesh given in millimetres, DICOM LPS patient space.
//!
//! Facet normals are computed on the fly from the counter-clockwise vertex order
//! (right-hand rule, pointing outwards); a degenerate triangle gets a zero normal. Every
//! file is written through [`write_atomic`] from large buffers, so a 1.6 M-triangle binary
//! STL costs a few dozen large writes rather than one syscall per triangle; for large
//! meshes a second thread fills the next buffer while the current one is written. Indices
//! out of range and coordinates that are not finite `f32` values are errors naming the
//! triangle, and nothing is left on disk.
//!
//! Binary layout: an 80-byte header, a little-endian `u32` triangle count, then per triangle
//! 12 `f32` (normal, three vertices) and a zero `u16` attribute: 50 bytes each.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc;

use crate::io::atomic::write_atomic;

/// Triangles converted per buffer before it is handed to the file writer.
const TRIANGLES_PER_CHUNK: usize = 1 << 15;
/// Bytes of one binary STL facet record.
const FACET_BYTES: usize = 50;

/// Writes a binary STL; `header_text` goes into the 80-byte header (ASCII, truncated).
pub fn write_binary(
    path: &Path,
    vertices: &[[f64; 3]],
    triangles: &[[u32; 3]],
    header_text: &str,
) -> io::Result<()> {
    let count = u32::try_from(triangles.len()).map_err(|_| {
        invalid(format!(
            "binary STL holds at most {} triangles, got {}",
            u32::MAX,
            triangles.len()
        ))
    })?;
    let header = binary_header(header_text);
    write_atomic(path, |w| {
        w.write_all(&header)?;
        w.write_all(&count.to_le_bytes())?;
        if triangles.len() <= 2 * TRIANGLES_PER_CHUNK {
            return write_records_serial(w, vertices, triangles);
        }
        // Large meshes: a second thread converts chunks while this one writes them.
        std::thread::scope(|scope| {
            let (full_tx, full_rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(2);
            let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
            let spawned = std::thread::Builder::new()
                .name("stl-facets".into())
                .spawn_scoped(scope, move || {
                    for (no, chunk) in triangles.chunks(TRIANGLES_PER_CHUNK).enumerate() {
                        let mut buf = empty_rx.try_recv().unwrap_or_default();
                        let r = fill_records(&mut buf, vertices, no * TRIANGLES_PER_CHUNK, chunk)
                            .map(|()| buf);
                        let failed = r.is_err();
                        // A closed channel means the writer stopped on an error.
                        if full_tx.send(r).is_err() || failed {
                            break;
                        }
                    }
                });
            if spawned.is_err() {
                return write_records_serial(w, vertices, triangles);
            }
            for r in full_rx {
                let buf = r?;
                w.write_all(&buf)?;
                let _ = empty_tx.send(buf);
            }
            Ok(())
        })
    })
}

/// Writes the facet records of `triangles` chunk by chunk on this thread.
fn write_records_serial(
    w: &mut impl Write,
    vertices: &[[f64; 3]],
    triangles: &[[u32; 3]],
) -> io::Result<()> {
    let mut buf = Vec::new();
    for (no, chunk) in triangles.chunks(TRIANGLES_PER_CHUNK).enumerate() {
        fill_records(&mut buf, vertices, no * TRIANGLES_PER_CHUNK, chunk)?;
        w.write_all(&buf)?;
    }
    Ok(())
}

/// Replaces `buf` with the 50-byte facet records of `chunk`, whose first triangle is number `first`.
fn fill_records(
    buf: &mut Vec<u8>,
    vertices: &[[f64; 3]],
    first: usize,
    chunk: &[[u32; 3]],
) -> io::Result<()> {
    // Every byte but the two zero attribute bytes is overwritten below.
    buf.clear();
    buf.resize(chunk.len() * FACET_BYTES, 0);
    for (k, (tri, rec)) in chunk
        .iter()
        .zip(buf.chunks_exact_mut(FACET_BYTES))
        .enumerate()
    {
        let p = corners(vertices, first + k, tri)?;
        let (values, finite) = facet(&p);
        if !finite {
            return Err(bad_coordinate(first + k, tri, &p));
        }
        for (dst, v) in rec.chunks_exact_mut(4).zip(values) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
    }
    Ok(())
}

/// Writes an ASCII STL whose `solid` line carries `solid_name` (whitespace becomes `_`).
pub fn write_ascii(
    path: &Path,
    vertices: &[[f64; 3]],
    triangles: &[[u32; 3]],
    solid_name: &str,
) -> io::Result<()> {
    let name = ascii_name(solid_name);
    write_atomic(path, |w| {
        writeln!(w, "solid {name}")?;
        let mut buf = String::with_capacity(TRIANGLES_PER_CHUNK * 64);
        for (chunk_no, chunk) in triangles.chunks(TRIANGLES_PER_CHUNK / 8).enumerate() {
            buf.clear();
            let first = chunk_no * (TRIANGLES_PER_CHUNK / 8);
            for (k, tri) in chunk.iter().enumerate() {
                let p = corners(vertices, first + k, tri)?;
                let (f, finite) = facet(&p);
                if !finite {
                    return Err(bad_coordinate(first + k, tri, &p));
                }
                use std::fmt::Write as _;
                // Writing into a String cannot fail.
                let _ = writeln!(buf, "  facet normal {:e} {:e} {:e}", f[0], f[1], f[2]);
                buf.push_str("    outer loop\n");
                for v in f[3..].chunks_exact(3) {
                    let _ = writeln!(buf, "      vertex {:e} {:e} {:e}", v[0], v[1], v[2]);
                }
                buf.push_str("    endloop\n  endfacet\n");
            }
            w.write_all(buf.as_bytes())?;
        }
        writeln!(w, "endsolid {name}")
    })
}

/// Reads a binary STL back as (facet normals, triangle corners); used by tests and checks.
#[allow(clippy::type_complexity)] // the plain pair is the documented API
pub fn read_binary(path: &Path) -> io::Result<(Vec<[f32; 3]>, Vec<[[f32; 3]; 3]>)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let Some(count_bytes) = bytes.get(80..84) else {
        return Err(invalid(format!(
            "{}: {} bytes is too short for a binary STL",
            path.display(),
            bytes.len()
        )));
    };
    let mut count = [0u8; 4];
    count.copy_from_slice(count_bytes);
    let count = u32::from_le_bytes(count) as usize;
    let body = &bytes[84..];
    if count.checked_mul(FACET_BYTES) != Some(body.len()) {
        return Err(invalid(format!(
            "{}: header says {count} triangles but {} bytes follow (expected {count} x {FACET_BYTES})",
            path.display(),
            body.len()
        )));
    }
    let mut normals = Vec::with_capacity(count);
    let mut tris = Vec::with_capacity(count);
    for rec in body.chunks_exact(FACET_BYTES) {
        let mut f = [0f32; 12];
        for (v, b) in f.iter_mut().zip(rec.chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        normals.push([f[0], f[1], f[2]]);
        tris.push([[f[3], f[4], f[5]], [f[6], f[7], f[8]], [f[9], f[10], f[11]]]);
    }
    Ok((normals, tris))
}

/// The 80-byte header: printable ASCII from `text`, zero padded, never starting with `solid`.
fn binary_header(text: &str) -> [u8; 80] {
    let mut header = [0u8; 80];
    let mut cleaned: Vec<u8> = text
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c as u8
            } else {
                b'?'
            }
        })
        .collect();
    // Readers take a file whose first bytes are "solid" for ASCII STL.
    if cleaned
        .iter()
        .skip_while(|b| **b == b' ')
        .take(5)
        .map(u8::to_ascii_lowercase)
        .eq(b"solid".iter().copied())
    {
        cleaned.splice(0..0, b"binary STL: ".iter().copied());
    }
    let n = cleaned.len().min(header.len());
    header[..n].copy_from_slice(&cleaned[..n]);
    header
}

/// An STL solid name: printable ASCII, whitespace and other characters replaced by `_`.
fn ascii_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    if s.is_empty() { "mesh".into() } else { s }
}

/// Corners of triangle `t`, or an error naming it when an index is out of range.
#[inline]
fn corners(vertices: &[[f64; 3]], t: usize, tri: &[u32; 3]) -> io::Result<[[f64; 3]; 3]> {
    let get = |i: u32| vertices.get(i as usize);
    match (get(tri[0]), get(tri[1]), get(tri[2])) {
        (Some(a), Some(b), Some(c)) => Ok([*a, *b, *c]),
        _ => Err(bad_index(vertices.len(), t, tri)),
    }
}

/// The error for triangle `t` whose indices `tri` do not all fit `n` vertices.
#[cold]
fn bad_index(n: usize, t: usize, tri: &[u32; 3]) -> io::Error {
    let i = tri
        .iter()
        .find(|&&i| i as usize >= n)
        .copied()
        .unwrap_or(tri[0]);
    invalid(format!(
        "triangle {t} refers to vertex {i}, but the mesh has {n} vertices"
    ))
}

/// The error for triangle `t`, one of whose corners is not a finite `f32` value.
#[cold]
fn bad_coordinate(t: usize, tri: &[u32; 3], p: &[[f64; 3]; 3]) -> io::Error {
    let fits = |v: &[f64; 3]| v.iter().all(|c| (*c as f32).is_finite());
    let k = p.iter().position(|v| !fits(v)).unwrap_or(0);
    invalid(format!(
        "triangle {t} uses vertex {} with a non-finite or out-of-f32-range coordinate {:?}",
        tri[k], p[k]
    ))
}

/// Facet record values: unit normal (zero if degenerate) then the three corners, as `f32`.
///
/// The second value is false when a corner is not a finite `f32`.
#[inline]
fn facet(p: &[[f64; 3]; 3]) -> ([f32; 12], bool) {
    let [a, b, c] = p;
    let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
    let n = [
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    ];
    let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    let inv = if len > 0.0 && len.is_finite() {
        1.0 / len
    } else {
        0.0
    };
    let out = [
        (n[0] * inv) as f32,
        (n[1] * inv) as f32,
        (n[2] * inv) as f32,
        a[0] as f32,
        a[1] as f32,
        a[2] as f32,
        b[0] as f32,
        b[1] as f32,
        b[2] as f32,
        c[0] as f32,
        c[1] as f32,
        c[2] as f32,
    ];
    let finite = out[3..].iter().fold(true, |ok, x| ok & x.is_finite());
    (out, finite)
}

/// An `InvalidInput` error with `msg`.
fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit cube at (10, 20, 30) with outward, counter-clockwise triangles.
    pub(crate) fn cube() -> (Vec<[f64; 3]>, Vec<[u32; 3]>) {
        let mut v = Vec::new();
        for i in 0..8u32 {
            v.push([
                10.0 + f64::from(i & 1),
                20.0 + f64::from((i >> 1) & 1),
                30.0 + f64::from((i >> 2) & 1),
            ]);
        }
        let t = vec![
            [0, 2, 1],
            [1, 2, 3],
            [4, 5, 6],
            [5, 7, 6],
            [0, 1, 4],
            [1, 5, 4],
            [2, 6, 3],
            [3, 6, 7],
            [0, 4, 2],
            [2, 4, 6],
            [1, 3, 5],
            [3, 7, 5],
        ];
        (v, t)
    }

    #[test]
    fn binary_round_trip_has_outward_unit_normals_and_exact_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cube.stl");
        let (v, t) = cube();
        write_binary(&p, &v, &t, "Hounsfield test LPS mm").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 84 + 50 * 12);
        let raw = std::fs::read(&p).unwrap();
        assert!(raw.starts_with(b"Hounsfield test LPS mm\0"));
        let (normals, tris) = read_binary(&p).unwrap();
        assert_eq!(tris.len(), 12);
        let centre = [10.5f32, 20.5, 30.5];
        for (n, tri) in normals.iter().zip(&tris) {
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            assert!((len - 1.0).abs() < 1e-6);
            let c: Vec<f32> = (0..3)
                .map(|k| (tri[0][k] + tri[1][k] + tri[2][k]) / 3.0 - centre[k])
                .collect();
            assert!(
                c[0] * n[0] + c[1] * n[1] + c[2] * n[2] > 0.0,
                "normal points inwards"
            );
        }
        assert_eq!(
            tris[0],
            [[10.0, 20.0, 30.0], [10.0, 21.0, 30.0], [11.0, 20.0, 30.0]]
        );
    }

    #[test]
    fn header_is_truncated_and_never_starts_with_solid() {
        let h = binary_header(&"x".repeat(200));
        assert_eq!(h, [b'x'; 80]);
        let h = binary_header("solid bone");
        assert!(h.starts_with(b"binary STL: solid bone\0"));
        let h = binary_header("Knochen \u{e9}\n");
        assert!(h.starts_with(b"Knochen ??\0"));
    }

    #[test]
    fn bad_index_is_an_error_naming_the_triangle_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.stl");
        let (v, mut t) = cube();
        t[7] = [0, 1, 8];
        let e = write_binary(&p, &v, &t, "x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(
            e.to_string().contains("triangle 7 refers to vertex 8"),
            "{e}"
        );
        let e = write_ascii(&p, &v, &t, "x").unwrap_err();
        assert!(e.to_string().contains("triangle 7"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut v2 = v.clone();
        v2[3][1] = f64::NAN;
        let e = write_binary(&p, &v2, &cube().1, "x").unwrap_err();
        assert!(e.to_string().contains("triangle 1 uses vertex 3"), "{e}");
        v2[3][1] = 1e300;
        let e = write_ascii(&p, &v2, &cube().1, "x").unwrap_err();
        assert!(e.to_string().contains("triangle 1 uses vertex 3"), "{e}");
    }

    /// A closed `n x m` torus grid with `2 n m` triangles.
    fn torus(n: u32, m: u32) -> (Vec<[f64; 3]>, Vec<[u32; 3]>) {
        let mut v = Vec::new();
        for i in 0..n {
            let a = f64::from(i) / f64::from(n) * std::f64::consts::TAU;
            for j in 0..m {
                let b = f64::from(j) / f64::from(m) * std::f64::consts::TAU;
                let r = 80.0 + 30.0 * b.cos();
                v.push([r * a.cos(), r * a.sin(), 30.0 * b.sin()]);
            }
        }
        let id = |i: u32, j: u32| (i % n) * m + (j % m);
        let mut t = Vec::new();
        for i in 0..n {
            for j in 0..m {
                t.push([id(i, j), id(i + 1, j), id(i + 1, j + 1)]);
                t.push([id(i, j), id(i + 1, j + 1), id(i, j + 1)]);
            }
        }
        (v, t)
    }

    #[test]
    fn large_mesh_uses_the_pipelined_path_and_keeps_triangle_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("torus.stl");
        let (v, mut t) = torus(300, 200);
        assert!(t.len() > 2 * TRIANGLES_PER_CHUNK);
        write_binary(&p, &v, &t, "torus").unwrap();
        let (normals, tris) = read_binary(&p).unwrap();
        assert_eq!(tris.len(), t.len());
        for k in [0, TRIANGLES_PER_CHUNK - 1, TRIANGLES_PER_CHUNK, t.len() - 1] {
            let want = t[k].map(|i| v[i as usize].map(|c| c as f32));
            assert_eq!(tris[k], want, "triangle {k}");
            let n = normals[k];
            assert!(((n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt() - 1.0).abs() < 1e-5);
        }
        // An error in a late chunk stops the write, names the triangle and keeps the old file.
        let before = std::fs::read(&p).unwrap();
        t[100_000] = [0, 1, 60_000];
        let e = write_binary(&p, &v, &t, "torus").unwrap_err();
        assert!(
            e.to_string()
                .contains("triangle 100000 refers to vertex 60000"),
            "{e}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), before);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn degenerate_triangle_gets_zero_normal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.stl");
        write_binary(&p, &[[0.0; 3], [1.0, 0.0, 0.0]], &[[0, 1, 1]], "x").unwrap();
        let (n, _) = read_binary(&p).unwrap();
        assert_eq!(n, vec![[0.0; 3]]);
    }

    #[test]
    fn empty_mesh_and_truncated_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.stl");
        write_binary(&p, &[], &[], "empty").unwrap();
        assert_eq!(read_binary(&p).unwrap().1.len(), 0);
        std::fs::write(&p, [0u8; 90]).unwrap();
        assert!(read_binary(&p).is_err());
        std::fs::write(&p, [0u8; 10]).unwrap();
        assert!(read_binary(&p).is_err());
    }

    #[test]
    fn ascii_has_one_facet_per_triangle_and_parses_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cube.stl");
        let (v, t) = cube();
        write_ascii(&p, &v, &t, "left femur").unwrap();
        let s = std::fs::read_to_string(&p).unwrap();
        assert!(s.starts_with("solid left_femur\n"));
        assert!(s.ends_with("endsolid left_femur\n"));
        assert_eq!(s.matches("facet normal").count(), 12);
        assert_eq!(s.matches("endloop").count(), 12);
        let first: Vec<f64> = s
            .lines()
            .find(|l| l.trim_start().starts_with("vertex"))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(first, vec![10.0, 20.0, 30.0]);
        let n: Vec<f64> = s
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .skip(2)
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(n, vec![0.0, 0.0, -1.0]);
    }
}
