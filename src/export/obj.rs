//! Wavefront OBJ export of one or more named meshes in millimetres, DICOM LPS patient space.
//!
//! The file starts with comment lines stating the frame and unit, then for each object an
//! `o name` line, its `v x y z` lines and its `f a b c` faces (1-based, indices offset by the
//! vertices of the objects before it). Coordinates are the shortest decimal that
//! round-trips the `f64` value, so nothing is lost. No normals, texture coordinates or
//! materials are written.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

use crate::io::atomic::write_atomic;

/// One named mesh: (name, LPS millimetre vertices, counter-clockwise triangles).
pub type Object<'a> = (&'a str, &'a [[f64; 3]], &'a [[u32; 3]]);

/// Bytes of text generated before they are handed to the file writer.
const FLUSH_AT: usize = 1 << 20;

/// Writes `objects` as one OBJ file, one `o` group per object.
pub fn write(path: &Path, objects: &[Object]) -> io::Result<()> {
    let mut total: u64 = 0;
    for (k, (name, vertices, triangles)) in objects.iter().enumerate() {
        check(k, name, vertices, triangles)?;
        total += vertices.len() as u64;
    }
    let (nobj, ntri) = (
        objects.len(),
        objects.iter().map(|o| o.2.len()).sum::<usize>(),
    );
    write_atomic(path, |w| {
        let mut s = String::with_capacity(FLUSH_AT + 4096);
        s.push_str("# Hounsfield OBJ export\n");
        s.push_str(
            "# frame: DICOM patient LPS (x to patient left, y to posterior, z to superior)\n",
        );
        s.push_str("# unit: millimetre\n");
        let _ = writeln!(s, "# {nobj} objects, {total} vertices, {ntri} triangles");
        let mut base: u64 = 1;
        for (name, vertices, triangles) in objects {
            let _ = writeln!(s, "o {}", clean_name(name));
            for v in *vertices {
                let _ = writeln!(s, "v {} {} {}", v[0], v[1], v[2]);
                if s.len() >= FLUSH_AT {
                    w.write_all(s.as_bytes())?;
                    s.clear();
                }
            }
            for t in *triangles {
                let _ = writeln!(
                    s,
                    "f {} {} {}",
                    base + u64::from(t[0]),
                    base + u64::from(t[1]),
                    base + u64::from(t[2])
                );
                if s.len() >= FLUSH_AT {
                    w.write_all(s.as_bytes())?;
                    s.clear();
                }
            }
            base += vertices.len() as u64;
        }
        w.write_all(s.as_bytes())
    })
}

/// An object name on one line: control characters become `_`, empty names become `mesh`.
fn clean_name(name: &str) -> String {
    let s: String = name
        .trim()
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    if s.is_empty() { "mesh".into() } else { s }
}

/// Rejects out-of-range indices and non-finite coordinates, naming the object and element.
fn check(k: usize, name: &str, vertices: &[[f64; 3]], triangles: &[[u32; 3]]) -> io::Result<()> {
    for (i, v) in vertices.iter().enumerate() {
        if !v.iter().all(|c| c.is_finite()) {
            return Err(invalid(format!(
                "object {k} ({name:?}): vertex {i} has a non-finite coordinate {v:?}"
            )));
        }
    }
    let n = vertices.len();
    for (t, tri) in triangles.iter().enumerate() {
        if let Some(i) = tri.iter().find(|&&i| i as usize >= n) {
            return Err(invalid(format!(
                "object {k} ({name:?}): triangle {t} refers to vertex {i}, but the mesh has {n} vertices"
            )));
        }
    }
    Ok(())
}

/// An `InvalidInput` error with `msg`.
fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bbox(p: &[f32]) -> ([f32; 3], [f32; 3]) {
        let mut lo = [f32::INFINITY; 3];
        let mut hi = [f32::NEG_INFINITY; 3];
        for v in p.chunks_exact(3) {
            for k in 0..3 {
                lo[k] = lo[k].min(v[k]);
                hi[k] = hi[k].max(v[k]);
            }
        }
        (lo, hi)
    }

    #[test]
    fn round_trip_through_tobj_keeps_counts_and_bounding_boxes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.obj");
        let a: Vec<[f64; 3]> = vec![
            [-120.25, 33.5, 1002.0],
            [-100.0, 33.5, 1002.0],
            [-120.25, 60.125, 1002.0],
            [-120.25, 33.5, 1010.75],
        ];
        let ta = [[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]];
        let b: Vec<[f64; 3]> = vec![[1.0, 2.0, 3.0], [4.0, 2.0, 3.0], [1.0, 5.0, 3.0]];
        let tb = [[0, 1, 2]];
        write(&p, &[("left femur", &a, &ta), ("block\n2", &b, &tb)]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("# unit: millimetre"));
        assert!(text.contains("o block_2\n"));
        assert!(
            text.contains("f 5 6 7\n"),
            "second object's faces are offset"
        );
        let opts = tobj::LoadOptions {
            triangulate: true,
            single_index: true,
            ..Default::default()
        };
        let (models, _) = tobj::load_obj(&p, &opts).unwrap();
        assert_eq!(models.len(), 2);
        assert_eq!(models[0].name, "left femur");
        assert_eq!(models[1].name, "block_2");
        let m0 = &models[0].mesh;
        assert_eq!(m0.positions.len() / 3, 4);
        assert_eq!(m0.indices.len(), 12);
        assert_eq!(
            bbox(&m0.positions),
            ([-120.25, 33.5, 1002.0], [-100.0, 60.125, 1010.75])
        );
        let m1 = &models[1].mesh;
        assert_eq!(m1.positions.len() / 3, 3);
        assert_eq!(bbox(&m1.positions), ([1.0, 2.0, 3.0], [4.0, 5.0, 3.0]));
        // Face winding survives: the first face of the first object is 0 2 1.
        let first: Vec<[f32; 3]> = m0.indices[..3]
            .iter()
            .map(|&i| {
                let i = i as usize * 3;
                [m0.positions[i], m0.positions[i + 1], m0.positions[i + 2]]
            })
            .collect();
        assert_eq!(first[1], [-120.25, 60.125, 1002.0]);
    }

    #[test]
    fn coordinates_round_trip_exactly_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.obj");
        let v = [[0.1 + 0.2, -1.0e-7, 123456.789], [0.0; 3], [1.0; 3]];
        write(&p, &[("x", &v, &[[0, 1, 2]])]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let line = text.lines().find(|l| l.starts_with("v ")).unwrap();
        let back: Vec<f64> = line[2..].split(' ').map(|x| x.parse().unwrap()).collect();
        assert_eq!(back, v[0].to_vec());
    }

    #[test]
    fn bad_index_is_an_error_and_no_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.obj");
        let v = [[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let e = write(
            &p,
            &[
                ("ok", &v, &[[0, 1, 2]]),
                ("bad", &v, &[[0, 1, 2], [2, 3, 0]]),
            ],
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(
            e.to_string()
                .contains("object 1 (\"bad\"): triangle 1 refers to vertex 3"),
            "{e}"
        );
        let e = write(&p, &[("inf", &[[f64::INFINITY, 0.0, 0.0]], &[])]).unwrap_err();
        assert!(e.to_string().contains("vertex 0"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
