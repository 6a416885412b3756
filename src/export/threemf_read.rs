//! Reading a 3MF package back: the ZIP container (stored or deflated parts, every local
//! header and CRC checked against the central directory) and the model's meshes. Enough
//! for `compare` and the tests; build-item transforms and components are refused, not
//! silently ignored.

use crate::mesh::Mesh;
use std::io::Read;
use std::path::Path;

/// Largest part inflated (bytes): a 3 M-triangle model is ~230 MB of XML.
const MAX_PART_BYTES: u64 = 2 << 30;

fn u16at(b: &[u8], p: usize) -> Result<usize, String> {
    b.get(p..p + 2)
        .map(|x| usize::from(u16::from_le_bytes([x[0], x[1]])))
        .ok_or_else(|| "truncated ZIP structure".to_string())
}

fn u32at(b: &[u8], p: usize) -> Result<u32, String> {
    b.get(p..p + 4)
        .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
        .ok_or_else(|| "truncated ZIP structure".to_string())
}

/// Every part of a ZIP archive, inflated and checked (CRC, sizes, local headers).
pub fn zip_parts(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
    let from = bytes.len().saturating_sub(22 + 65_535);
    let eocd = (from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&p| u32at(bytes, p) == Ok(0x0605_4b50))
        .ok_or("not a ZIP archive (no end of central directory)")?;
    let n = u16at(bytes, eocd + 10)?;
    let mut p = u32at(bytes, eocd + 16)? as usize;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if u32at(bytes, p)? != 0x0201_4b50 {
            return Err("damaged ZIP central directory".into());
        }
        let method = u16at(bytes, p + 10)?;
        let crc = u32at(bytes, p + 16)?;
        let csize = u32at(bytes, p + 20)?;
        let size = u32at(bytes, p + 24)?;
        let name_len = u16at(bytes, p + 28)?;
        let off = u32at(bytes, p + 42)? as usize;
        if csize == u32::MAX || size == u32::MAX || off == u32::MAX as usize {
            return Err("ZIP64 archives are not read".into());
        }
        if u64::from(size) > MAX_PART_BYTES {
            return Err(format!("a part of {size} bytes is more than is read"));
        }
        let name = bytes
            .get(p + 46..p + 46 + name_len)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or("truncated ZIP central directory")?;
        if u32at(bytes, off)? != 0x0403_4b50 {
            return Err(format!("{name}: damaged local header"));
        }
        let data = off + 30 + u16at(bytes, off + 26)? + u16at(bytes, off + 28)?;
        let raw = bytes
            .get(data..data + csize as usize)
            .ok_or_else(|| format!("{name}: truncated"))?;
        let plain = match method {
            0 => raw.to_vec(),
            8 => {
                let mut v = Vec::new();
                v.try_reserve_exact(size as usize)
                    .map_err(|_| format!("{name}: not enough memory for {size} bytes"))?;
                flate2::read::DeflateDecoder::new(raw)
                    .take(u64::from(size) + 1)
                    .read_to_end(&mut v)
                    .map_err(|e| format!("{name}: {e}"))?;
                v
            }
            m => return Err(format!("{name}: compression method {m} is not read")),
        };
        if plain.len() != size as usize || crc32fast::hash(&plain) != crc {
            return Err(format!("{name}: size or CRC does not match the directory"));
        }
        out.push((name, plain));
        p += 46 + name_len + u16at(bytes, p + 30)? + u16at(bytes, p + 32)?;
    }
    Ok(out)
}

/// The value of attribute `name` in one tag's text.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    let end = tag[at..].find('"')?;
    Some(&tag[at..at + end])
}

/// The meshes of a 3MF model part, in millimetres, as one mesh.
pub fn parse_model(xml: &str) -> Result<Mesh, String> {
    let scale = match xml
        .find("<model")
        .and_then(|p| {
            attr(
                &xml[p..xml[p..].find('>').map_or(xml.len(), |e| p + e)],
                "unit",
            )
        })
        .unwrap_or("millimeter")
    {
        "micron" => 0.001,
        "millimeter" => 1.0,
        "centimeter" => 10.0,
        "inch" => 25.4,
        "foot" => 304.8,
        "meter" => 1000.0,
        u => return Err(format!("unknown 3MF unit `{u}`")),
    };
    let mut m = Mesh::default();
    let mut base = 0u32;
    let mut object_vertices = 0u32;
    for piece in xml.split('<').skip(1) {
        let tag = piece.split('>').next().unwrap_or("");
        let num = |k: &str| -> Result<f64, String> {
            attr(tag, k)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    format!(
                        "a `{}` without a usable `{k}`",
                        tag.split(' ').next().unwrap_or("")
                    )
                })
        };
        if tag.starts_with("mesh") {
            base = m.vertices.len() as u32;
            object_vertices = 0;
        } else if tag.starts_with("vertex ") {
            m.vertices
                .push([num("x")? * scale, num("y")? * scale, num("z")? * scale]);
            object_vertices += 1;
        } else if tag.starts_with("triangle ") {
            let idx = |k: &str| -> Result<u32, String> {
                let v: u32 = attr(tag, k)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("a triangle without a usable `{k}`"))?;
                if v >= object_vertices {
                    return Err(format!("a triangle names vertex {v} of {object_vertices}"));
                }
                Ok(base + v)
            };
            m.triangles.push([idx("v1")?, idx("v2")?, idx("v3")?]);
        } else if tag.starts_with("components")
            || (tag.starts_with("item ") && attr(tag, "transform").is_some())
        {
            return Err("3MF components and build transforms are not read".into());
        }
    }
    Ok(m)
}

/// Reads a 3MF file's model as one mesh (millimetres).
pub fn read(path: &Path) -> Result<Mesh, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let parts = zip_parts(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let (_, model) = parts
        .iter()
        .find(|(n, _)| n.starts_with("3D/") && n.ends_with(".model"))
        .ok_or_else(|| format!("{}: no 3D/*.model part", path.display()))?;
    let xml = std::str::from_utf8(model).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_model(xml).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::threemf::{Object, write};

    #[test]
    fn a_written_package_reads_back_as_the_same_mesh() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("m.3mf");
        let v = vec![
            [0.0, 0.0, 0.0],
            [10.5, 0.0, 0.0],
            [0.0, 3.25, 0.0],
            [0.0, 0.0, -7.0],
        ];
        let t = vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]];
        let objects = [
            Object {
                name: "a",
                vertices: &v,
                triangles: &t,
            },
            Object {
                name: "b",
                vertices: &v,
                triangles: &t[..2],
            },
        ];
        write(&p, &objects, &[]).expect("written");
        let m = read(&p).expect("read");
        assert_eq!(m.vertices.len(), 8);
        assert_eq!(&m.vertices[..4], &v[..]);
        assert_eq!(&m.triangles[..4], &t[..]);
        assert_eq!(m.triangles[4], [4, 6, 5]);
        // A damaged package is refused with a reason.
        let mut bytes = std::fs::read(&p).expect("bytes");
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
        assert!(zip_parts(&bytes).is_err());
        assert!(zip_parts(b"PK not really").is_err());
        assert!(parse_model("<model unit=\"parsec\"></model>").is_err());
        assert!(parse_model("<mesh><vertex x=\"0\" y=\"0\" z=\"0\"/><triangle v1=\"0\" v2=\"1\" v3=\"0\"/></mesh>").is_err());
    }
}
