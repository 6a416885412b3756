//! Surface models to a file (STL binary or ASCII, 3MF, OBJ) with the metadata that says
//! where they came from. One writer for `mesh` and the case; the metadata holds nothing
//! that changes between equal runs (no clock), so equal inputs give equal bytes.

use crate::export::{obj, stl, threemf};
use crate::mesh::Mesh;
use crate::mesh::record::FRAME;
use std::io;
use std::path::Path;

/// Surface file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceFormat {
    /// Binary STL.
    Stl,
    /// ASCII STL.
    StlAscii,
    /// 3MF.
    ThreeMf,
    /// OBJ.
    Obj,
}

impl SurfaceFormat {
    /// The format a file name asks for (`.stl` is binary).
    pub fn of(path: &Path) -> Option<Self> {
        match path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .as_deref()
        {
            Some("stl") => Some(Self::Stl),
            Some("3mf") => Some(Self::ThreeMf),
            Some("obj") => Some(Self::Obj),
            _ => None,
        }
    }
}

/// Where the surfaces came from, written into the file where the format has room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SurfaceMeta {
    /// "Hounsfield 0.1.0".
    pub software: String,
    /// The case pseudonym (never the patient's name).
    pub pseudonym: Option<String>,
    /// Series Instance UID of the source.
    pub series_uid: Option<String>,
    /// Hash of the segmentation the surfaces were made from.
    pub segmentation_hash: Option<String>,
    /// Log entries at that state.
    pub log_position: Option<usize>,
}

/// This build's software string.
pub fn software() -> String {
    format!("Hounsfield {}", env!("CARGO_PKG_VERSION"))
}

/// Writes named surfaces (LPS mm, outward) as one file, atomically.
pub fn write(
    path: &Path,
    format: SurfaceFormat,
    objects: &[(&str, &Mesh)],
    meta: &SurfaceMeta,
) -> io::Result<()> {
    match format {
        SurfaceFormat::Stl | SurfaceFormat::StlAscii => {
            // One object is written as it is; several are merged into one mesh.
            let merged;
            let all: &Mesh = if let [(_, m)] = objects {
                m
            } else {
                let mut a = Mesh::default();
                for (_, m) in objects {
                    let off = a.vertices.len() as u32;
                    a.vertices.extend_from_slice(&m.vertices);
                    a.triangles
                        .extend(m.triangles.iter().map(|t| t.map(|i| i + off)));
                }
                merged = a;
                &merged
            };
            if format == SurfaceFormat::StlAscii {
                stl::write_ascii(path, &all.vertices, &all.triangles, "hounsfield")
            } else {
                // 80 bytes: software, frame, pseudonym and the start of the mask hash.
                let mut header = format!("{} LPS mm", meta.software);
                if let Some(p) = &meta.pseudonym {
                    header.push_str(&format!(" {p}"));
                }
                if let Some(h) = &meta.segmentation_hash {
                    header.push_str(&format!(" seg {}", &h[..h.len().min(16)]));
                }
                stl::write_binary(path, &all.vertices, &all.triangles, &header)
            }
        }
        SurfaceFormat::ThreeMf => {
            let objs: Vec<threemf::Object> = objects
                .iter()
                .map(|(n, m)| threemf::Object {
                    name: n,
                    vertices: &m.vertices,
                    triangles: &m.triangles,
                })
                .collect();
            let position = meta.log_position.map(|p| p.to_string());
            let mut md: Vec<(&str, &str)> = vec![
                ("Application", meta.software.as_str()),
                ("Title", "Hounsfield surface model"),
                ("hf:CoordinateFrame", FRAME),
            ];
            if let Some(p) = &meta.pseudonym {
                md.push(("hf:Pseudonym", p));
            }
            if let Some(u) = &meta.series_uid {
                md.push(("hf:SourceSeriesUID", u));
            }
            if let Some(h) = &meta.segmentation_hash {
                md.push(("hf:SegmentationHash", h));
            }
            if let Some(p) = &position {
                md.push(("hf:LogPosition", p));
            }
            threemf::write(path, &objs, &md)
        }
        SurfaceFormat::Obj => {
            let objs: Vec<obj::Object> = objects
                .iter()
                .map(|(n, m)| (*n, m.vertices.as_slice(), m.triangles.as_slice()))
                .collect();
            obj::write(path, &objs)
        }
    }
}
