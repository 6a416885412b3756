//! Reading a binary DICOM Segmentation (PS3.3 A.51) back onto the series it was made on:
//! each segment's frames placed on the volume's slices by their Image Position (Patient),
//! checked against the volume's grid and orientation, so a case can start from a SEG made
//! here, in 3D Slicer or by the archive's planning software.

use crate::segment::mask::Mask;
use crate::volume::VolumeGeometry;
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::path::Path;

/// One segment read from a SEG.
#[derive(Debug, Clone)]
pub struct ImportedSegment {
    /// Segment Number.
    pub number: u16,
    /// Segment Label.
    pub label: String,
    /// The mask on the volume's grid.
    pub mask: Mask,
}

/// A SEG read onto a volume.
#[derive(Debug, Clone)]
pub struct ImportedSeg {
    /// SOP Instance UID of the SEG.
    pub sop_instance: String,
    /// The series it references, when it says.
    pub referenced_series: Option<String>,
    /// blake3 of the file.
    pub blake3: String,
    /// Its segments.
    pub segments: Vec<ImportedSegment>,
}

fn text(o: &InMemDicomObject, tag: Tag) -> Option<String> {
    let s = o
        .element(tag)
        .ok()?
        .to_str()
        .ok()?
        .trim_end_matches(['\0', ' '])
        .trim()
        .to_string();
    (!s.is_empty()).then_some(s)
}

fn floats(o: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    o.element(tag).ok()?.to_multi_float64().ok()
}

fn first_item(o: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    o.element(tag).ok()?.items()?.first()
}

/// Reads the SEG at `path` onto a volume of `dims` with `geometry`.
pub fn read(
    path: &Path,
    dims: [usize; 3],
    geometry: &VolumeGeometry,
) -> Result<ImportedSeg, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path.display();
    if bytes.len() < 132 || &bytes[128..132] != b"DICM" {
        return Err(format!("{name} is not a DICOM Part 10 file"));
    }
    let obj = dicom_object::from_reader(&bytes[128..]).map_err(|e| format!("{name}: {e}"))?;
    let class = obj
        .meta()
        .media_storage_sop_class_uid
        .trim_end_matches('\0')
        .to_string();
    if class != "1.2.840.10008.5.1.4.1.1.66.4" {
        return Err(format!(
            "{name} is not a DICOM Segmentation (SOP class {class})"
        ));
    }
    if text(&obj, tags::SEGMENTATION_TYPE).as_deref() != Some("BINARY") {
        return Err(format!(
            "{name} is a {} segmentation: only BINARY segmentations can be imported",
            text(&obj, tags::SEGMENTATION_TYPE).unwrap_or_else(|| "typeless".into())
        ));
    }
    let rows = obj
        .element(tags::ROWS)
        .ok()
        .and_then(|e| e.to_int::<usize>().ok())
        .unwrap_or(0);
    let cols = obj
        .element(tags::COLUMNS)
        .ok()
        .and_then(|e| e.to_int::<usize>().ok())
        .unwrap_or(0);
    let [nk, nj, ni] = dims;
    if rows != nj || cols != ni {
        return Err(format!(
            "{name} has {cols}×{rows} frames and the series {ni}×{nj} slices: it was made on another grid"
        ));
    }
    let frames = text(&obj, tags::NUMBER_OF_FRAMES)
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let pixels = obj
        .element(tags::PIXEL_DATA)
        .map_err(|_| format!("{name} has no pixel data"))?
        .to_bytes()
        .map_err(|e| format!("{name}: {e}"))?;
    let per_frame = rows * cols;
    if pixels.len() < (frames * per_frame).div_ceil(8) {
        return Err(format!(
            "{name} holds {} bytes of pixels, {frames} frames of {cols}×{rows} bits need {}",
            pixels.len(),
            (frames * per_frame).div_ceil(8)
        ));
    }
    // Orientation: shared, or per frame (checked on each frame below).
    let shared = first_item(&obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let shared_iop = shared
        .and_then(|s| first_item(s, tags::PLANE_ORIENTATION_SEQUENCE))
        .and_then(|p| floats(p, tags::IMAGE_ORIENTATION_PATIENT));
    let segments_seq = obj
        .element(tags::SEGMENT_SEQUENCE)
        .ok()
        .and_then(|e| e.items())
        .ok_or_else(|| format!("{name} has no Segment Sequence"))?;
    let mut segments: Vec<ImportedSegment> = segments_seq
        .iter()
        .map(|s| ImportedSegment {
            number: s
                .element(tags::SEGMENT_NUMBER)
                .ok()
                .and_then(|e| e.to_int::<u16>().ok())
                .unwrap_or(0),
            label: text(s, tags::SEGMENT_LABEL).unwrap_or_else(|| "segment".into()),
            mask: Mask::new(dims),
        })
        .collect();
    let per_frame_groups = obj
        .element(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .and_then(|e| e.items())
        .ok_or_else(|| format!("{name} has no Per-Frame Functional Groups"))?;
    if per_frame_groups.len() != frames {
        return Err(format!(
            "{name} describes {} frames and holds {frames}",
            per_frame_groups.len()
        ));
    }
    let (col_dir, row_dir) = (geometry.col_dir.get(), geometry.row_dir.get());
    for (f, g) in per_frame_groups.iter().enumerate() {
        let number = first_item(g, tags::SEGMENT_IDENTIFICATION_SEQUENCE)
            .and_then(|s| s.element(tags::REFERENCED_SEGMENT_NUMBER).ok())
            .and_then(|e| e.to_int::<u16>().ok())
            .ok_or_else(|| format!("{name}: frame {} names no segment", f + 1))?;
        let seg = segments
            .iter_mut()
            .find(|s| s.number == number)
            .ok_or_else(|| {
                format!(
                    "{name}: frame {} is of segment {number}, which is not described",
                    f + 1
                )
            })?;
        let iop = first_item(g, tags::PLANE_ORIENTATION_SEQUENCE)
            .and_then(|p| floats(p, tags::IMAGE_ORIENTATION_PATIENT))
            .or_else(|| shared_iop.clone())
            .filter(|v| v.len() == 6)
            .ok_or_else(|| format!("{name}: frame {} has no orientation", f + 1))?;
        let along_row = glam::DVec3::new(iop[0], iop[1], iop[2]);
        let along_col = glam::DVec3::new(iop[3], iop[4], iop[5]);
        if along_row.dot(col_dir) < 0.9999 || along_col.dot(row_dir) < 0.9999 {
            return Err(format!(
                "{name}: frame {} is oriented otherwise than the series' slices",
                f + 1
            ));
        }
        let ipp = first_item(g, tags::PLANE_POSITION_SEQUENCE)
            .and_then(|p| floats(p, tags::IMAGE_POSITION_PATIENT))
            .filter(|v| v.len() == 3)
            .ok_or_else(|| format!("{name}: frame {} has no position", f + 1))?;
        let at = geometry
            .coord_of(crate::geom::LpsPointMm(glam::DVec3::new(
                ipp[0], ipp[1], ipp[2],
            )))
            .ok_or("the series' geometry is degenerate")?;
        let k = at.slice.round();
        if (at.slice - k).abs() > 0.05
            || at.row.abs() > 0.05
            || at.col.abs() > 0.05
            || k < 0.0
            || k >= nk as f64
        {
            return Err(format!(
                "{name}: frame {} at ({:.2}, {:.2}, {:.2}) mm lies on no slice of the series: it was made on another series or grid",
                f + 1,
                ipp[0],
                ipp[1],
                ipp[2]
            ));
        }
        let k = k as usize;
        let base = f * per_frame;
        for j in 0..nj {
            for i in 0..ni {
                let b = base + j * ni + i;
                if pixels[b / 8] >> (b % 8) & 1 == 1 {
                    seg.mask.set(k, j, i, true);
                }
            }
        }
    }
    segments.retain(|s| s.number != 0);
    if segments.is_empty() {
        return Err(format!("{name} describes no segment"));
    }
    let referenced_series = first_item(&obj, tags::REFERENCED_SERIES_SEQUENCE)
        .and_then(|r| text(r, tags::SERIES_INSTANCE_UID));
    Ok(ImportedSeg {
        sop_instance: text(&obj, tags::SOP_INSTANCE_UID).unwrap_or_default(),
        referenced_series,
        blake3: blake3::hash(&bytes).to_hex().to_string(),
        segments,
    })
}
