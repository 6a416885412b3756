//! DICOM Segmentation (binary; PS3.3 A.51), one segment per label, so that radiology and
//! planning software — and the hospital's archive — show the mask over the CT it was made
//! from. Built from the IOD with dicom-object: the patient and study modules copied from
//! the source images (the object belongs with them in the archive), the source's Frame of
//! Reference, one frame per segment and slice with its plane position and the source image
//! it was derived from, 1-bit pixels packed without padding between frames.
//!
//! Every UID is derived from the content (blake3), and the content date is the time of the
//! segmentation's last operation, so equal inputs give equal bytes, as for every export.

use crate::io::atomic::write_atomic;
use crate::segment::mask::Mask;
use crate::volume::VolumeGeometry;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject, OpenFileOptions};
use std::path::Path;

/// An image of the source series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceImage {
    /// SOP Class UID.
    pub sop_class: String,
    /// SOP Instance UID.
    pub sop_instance: String,
}

impl SourceImage {
    /// An item naming this image (Referenced SOP Class and Instance UID), with `more`.
    pub(crate) fn reference(&self, more: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
        let mut e = vec![
            el(
                tags::REFERENCED_SOP_CLASS_UID,
                VR::UI,
                self.sop_class.as_str(),
            ),
            el(
                tags::REFERENCED_SOP_INSTANCE_UID,
                VR::UI,
                self.sop_instance.as_str(),
            ),
        ];
        e.extend(more);
        item(e)
    }
}

/// What a SEG takes from its source series.
#[derive(Debug, Clone)]
pub struct SourceSeries {
    /// Patient and study attributes, copied as they are.
    pub copied: Vec<(Tag, VR, String)>,
    /// Series Instance UID of the source.
    pub series_uid: String,
    /// Frame of Reference UID of the source.
    pub frame_of_reference_uid: String,
    /// The source image each volume slice is, when the slice is an image of the series
    /// (`None` for slices made by resampling).
    pub per_slice: Vec<Option<SourceImage>>,
    /// Every source image.
    pub images: Vec<SourceImage>,
}

/// Attributes of the Patient and General Study modules copied from the source (Type 1 and
/// 2: written even when empty).
const COPIED: [(Tag, VR); 10] = [
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
    (tags::STUDY_INSTANCE_UID, VR::UI),
    (tags::STUDY_DATE, VR::DA),
    (tags::STUDY_TIME, VR::TM),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::STUDY_ID, VR::SH),
    (tags::ACCESSION_NUMBER, VR::SH),
];

fn text(o: &InMemDicomObject, tag: Tag) -> Option<String> {
    crate::dicom::header::text(o, tag)
}

/// Reads the headers of the source files (`root`/`files`) and maps each volume slice to
/// the image it is (same position, within 0.01 voxel).
pub fn read_source(
    root: &Path,
    files: &[String],
    geometry: &VolumeGeometry,
    dims: [usize; 3],
) -> Result<SourceSeries, String> {
    let mut per_slice: Vec<Option<SourceImage>> = vec![None; dims[0]];
    let mut images = Vec::new();
    let mut first: Option<InMemDicomObject> = None;
    for f in files {
        let p = root.join(f);
        let obj = OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(&p)
            .map_err(|e| format!("cannot read the source image {}: {e}", p.display()))?;
        let o: InMemDicomObject = obj.into_inner();
        let (Some(sop_class), Some(sop_instance)) = (
            text(&o, tags::SOP_CLASS_UID),
            text(&o, tags::SOP_INSTANCE_UID),
        ) else {
            return Err(format!("{}: no SOP Class/Instance UID", p.display()));
        };
        let ipp: Vec<f64> = crate::dicom::header::texts(&o, tags::IMAGE_POSITION_PATIENT)
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        let image = SourceImage {
            sop_class,
            sop_instance,
        };
        if let [x, y, z] = ipp[..]
            && let Some(c) = geometry.coord_of(crate::geom::LpsPointMm::new(x, y, z))
        {
            let k = c.slice.round();
            let on_grid = (c.slice - k).abs() < 0.01 && c.row.abs() < 0.01 && c.col.abs() < 0.01;
            if on_grid && k >= 0.0 && (k as usize) < dims[0] {
                per_slice[k as usize] = Some(image.clone());
            }
        }
        images.push(image);
        if first.is_none() {
            first = Some(o);
        }
    }
    let first = first.ok_or("the source has no image")?;
    let series_uid = text(&first, tags::SERIES_INSTANCE_UID)
        .ok_or("the source images have no Series Instance UID")?;
    let frame_of_reference_uid = text(&first, tags::FRAME_OF_REFERENCE_UID).ok_or(
        "the source images have no Frame of Reference UID, so a DICOM SEG could not be placed on them",
    )?;
    let copied = COPIED
        .iter()
        .map(|&(t, vr)| (t, vr, text(&first, t).unwrap_or_default()))
        .collect();
    Ok(SourceSeries {
        copied,
        series_uid,
        frame_of_reference_uid,
        per_slice,
        images,
    })
}

/// One segment: a label's mask and its name.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// The label.
    pub label: &'a str,
    /// Its mask, on the volume's grid.
    pub mask: &'a Mask,
}

/// Who and what made it.
#[derive(Debug, Clone)]
pub struct DerivedMeta {
    /// "Hounsfield 0.1.0".
    pub software: String,
    /// The operator (Content Creator's Name).
    pub operator: String,
    /// When the segmentation reached this state (RFC 3339, UTC).
    pub time: String,
    /// Hash of the segmentation (seeds the UIDs).
    pub segmentation_hash: String,
    /// Whether an operator edited the masks by hand (SEMIAUTOMATIC, else AUTOMATIC).
    pub manual_edits: bool,
}

impl DerivedMeta {
    /// The segmentation's time as DICOM date (YYYYMMDD) and time (HHMMSS).
    pub fn date_time(&self) -> (String, String) {
        let digits: String = self.time.chars().filter(char::is_ascii_digit).collect();
        (
            digits.get(..8).unwrap_or("19700101").to_string(),
            digits.get(8..14).unwrap_or("000000").to_string(),
        )
    }
}

/// The modules every object derived from the source carries: SOP Common, the patient and
/// study copied from the source, the series (`modality`, UID, number, description), the
/// source's frame of reference and the equipment.
pub(crate) fn derived_header(
    o: &mut InMemDicomObject,
    source: &SourceSeries,
    meta: &DerivedMeta,
    (sop_class, sop_uid): (&str, &str),
    (modality, series_uid, series_number, description): (&str, &str, &str, &str),
) {
    let mut put = |e: DataElement<InMemDicomObject>| {
        o.put(e);
    };
    put(el(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"));
    put(el(tags::SOP_CLASS_UID, VR::UI, sop_class));
    put(el(tags::SOP_INSTANCE_UID, VR::UI, sop_uid));
    for (t, vr, v) in &source.copied {
        put(el(*t, *vr, v.as_str()));
    }
    put(el(tags::MODALITY, VR::CS, modality));
    put(el(tags::SERIES_INSTANCE_UID, VR::UI, series_uid));
    put(el(tags::SERIES_NUMBER, VR::IS, series_number));
    put(el(tags::SERIES_DESCRIPTION, VR::LO, description));
    put(el(
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        source.frame_of_reference_uid.as_str(),
    ));
    put(el(tags::POSITION_REFERENCE_INDICATOR, VR::LO, ""));
    put(el(tags::MANUFACTURER, VR::LO, "Hounsfield"));
    put(el(tags::MANUFACTURER_MODEL_NAME, VR::LO, "Hounsfield"));
    put(el(tags::DEVICE_SERIAL_NUMBER, VR::LO, "1"));
    put(el(tags::SOFTWARE_VERSIONS, VR::LO, meta.software.as_str()));
}

/// Writes `o` as a DICOM file (explicit VR little endian) atomically.
pub(crate) fn write_file(
    path: &Path,
    o: InMemDicomObject,
    sop_class: &str,
    sop_uid: &str,
) -> Result<(), String> {
    let file_meta = FileMetaTableBuilder::new()
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_uid);
    let file = o.with_meta(file_meta).map_err(|e| e.to_string())?;
    write_atomic(path, |w| file.write_all(w).map_err(std::io::Error::other))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A UID under the 2.25 root from a hash of `parts`.
pub(crate) fn uid(parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    let b = h.finalize();
    let mut x = [0u8; 16];
    x.copy_from_slice(&b.as_bytes()[..16]);
    // 2.25 UIDs are a UUID as an integer: keep the value within 128 bits, no leading 0.
    format!("2.25.{}", u128::from_be_bytes(x) >> 1 | 1 << 126)
}

pub(crate) fn ds(v: f64) -> String {
    let s = format!("{v}");
    if s.len() <= 16 {
        return s;
    }
    for d in (0..=10).rev() {
        let t = format!("{v:.d$}");
        if t.len() <= 16 {
            return t;
        }
    }
    format!("{v:.3e}")
}

pub(crate) fn el(tag: Tag, vr: VR, v: impl Into<PrimitiveValue>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, v.into())
}

pub(crate) fn strs(tag: Tag, vr: VR, v: &[String]) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::Strs(v.iter().cloned().collect()))
}

pub(crate) fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

pub(crate) fn item(e: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(e)
}

pub(crate) fn code(value: &str, scheme: &str, meaning: &str) -> InMemDicomObject {
    item(vec![
        el(tags::CODE_VALUE, VR::SH, value),
        el(tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme),
        el(tags::CODE_MEANING, VR::LO, meaning),
    ])
}

/// Writes the segments as one binary DICOM SEG at `path` (atomically).
pub fn write(
    path: &Path,
    geometry: &VolumeGeometry,
    dims: [usize; 3],
    segments: &[Segment<'_>],
    source: &SourceSeries,
    meta: &DerivedMeta,
) -> Result<(), String> {
    let [n, rows, cols] = dims;
    if segments.is_empty() {
        return Err("a DICOM SEG needs at least one label".into());
    }
    if rows > usize::from(u16::MAX) || cols > usize::from(u16::MAX) {
        return Err(format!("{rows} × {cols} pixels do not fit a DICOM image"));
    }
    for s in segments {
        if s.mask.dims() != dims {
            return Err(format!("label `{}` is not on the volume's grid", s.label));
        }
    }
    let frames = segments.len() * n;
    let bits = frames
        .checked_mul(rows * cols)
        .ok_or("the segmentation is too large for one DICOM object")?;
    if bits / 8 > u32::MAX as usize - 16 {
        return Err(format!(
            "{frames} frames of {rows} × {cols} exceed the 4 GiB a DICOM element holds"
        ));
    }
    let series_uid = uid(&["series", &meta.segmentation_hash, &source.series_uid]);
    let sop_uid = uid(&["instance", &meta.segmentation_hash, &source.series_uid]);
    let dim_uid = uid(&["dimensions", &sop_uid]);
    let (date, time) = meta.date_time();
    let c = geometry.col_dir.get();
    let r = geometry.row_dir.get();
    let sp = geometry.spacing;

    let mut o = InMemDicomObject::new_empty();
    derived_header(
        &mut o,
        source,
        meta,
        (uids::SEGMENTATION_STORAGE, &sop_uid),
        ("SEG", &series_uid, "901", "Hounsfield segmentation"),
    );
    let mut put = |e: DataElement<InMemDicomObject>| {
        o.put(e);
    };
    // General Image, Segmentation Image.
    put(el(tags::INSTANCE_NUMBER, VR::IS, "1"));
    put(el(tags::CONTENT_DATE, VR::DA, date.as_str()));
    put(el(tags::CONTENT_TIME, VR::TM, time.as_str()));
    put(strs(
        tags::IMAGE_TYPE,
        VR::CS,
        &["DERIVED".into(), "PRIMARY".into()],
    ));
    put(el(tags::CONTENT_LABEL, VR::CS, "SEGMENTATION"));
    put(el(
        tags::CONTENT_DESCRIPTION,
        VR::LO,
        "Hounsfield case segmentation",
    ));
    put(el(
        tags::CONTENT_CREATOR_NAME,
        VR::PN,
        meta.operator.as_str(),
    ));
    put(el(tags::SEGMENTATION_TYPE, VR::CS, "BINARY"));
    put(el(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00"));
    // Image Pixel.
    put(el(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1u16),
    ));
    put(el(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"));
    put(el(tags::ROWS, VR::US, PrimitiveValue::from(rows as u16)));
    put(el(tags::COLUMNS, VR::US, PrimitiveValue::from(cols as u16)));
    put(el(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(1u16)));
    put(el(tags::BITS_STORED, VR::US, PrimitiveValue::from(1u16)));
    put(el(tags::HIGH_BIT, VR::US, PrimitiveValue::from(0u16)));
    put(el(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    ));
    put(el(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        frames.to_string().as_str(),
    ));
    // Segments.
    let algorithm = if meta.manual_edits {
        "SEMIAUTOMATIC"
    } else {
        "AUTOMATIC"
    };
    let segment_items: Vec<InMemDicomObject> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            item(vec![
                el(
                    tags::SEGMENT_NUMBER,
                    VR::US,
                    PrimitiveValue::from(i as u16 + 1),
                ),
                el(tags::SEGMENT_LABEL, VR::LO, s.label),
                el(tags::SEGMENT_ALGORITHM_TYPE, VR::CS, algorithm),
                el(tags::SEGMENT_ALGORITHM_NAME, VR::LO, meta.software.as_str()),
                seq(
                    tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
                    vec![code("85756007", "SCT", "Tissue")],
                ),
                seq(
                    tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
                    vec![code("272673000", "SCT", "Bone")],
                ),
            ])
        })
        .collect();
    put(seq(tags::SEGMENT_SEQUENCE, segment_items));
    // Dimensions: segment, then position.
    put(seq(
        tags::DIMENSION_ORGANIZATION_SEQUENCE,
        vec![item(vec![el(
            tags::DIMENSION_ORGANIZATION_UID,
            VR::UI,
            dim_uid.as_str(),
        )])],
    ));
    put(el(tags::DIMENSION_ORGANIZATION_TYPE, VR::CS, "3D"));
    let dim = |index: Tag, group: Tag, what: &str| {
        item(vec![
            el(tags::DIMENSION_ORGANIZATION_UID, VR::UI, dim_uid.as_str()),
            el(
                tags::DIMENSION_INDEX_POINTER,
                VR::AT,
                PrimitiveValue::from(index),
            ),
            el(
                tags::FUNCTIONAL_GROUP_POINTER,
                VR::AT,
                PrimitiveValue::from(group),
            ),
            el(tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, what),
        ])
    };
    put(seq(
        tags::DIMENSION_INDEX_SEQUENCE,
        vec![
            dim(
                tags::REFERENCED_SEGMENT_NUMBER,
                tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                "ReferencedSegmentNumber",
            ),
            dim(
                tags::IMAGE_POSITION_PATIENT,
                tags::PLANE_POSITION_SEQUENCE,
                "ImagePositionPatient",
            ),
        ],
    ));
    // Shared functional groups: pixel measures and orientation.
    put(seq(
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![item(vec![
            seq(
                tags::PIXEL_MEASURES_SEQUENCE,
                vec![item(vec![
                    strs(tags::PIXEL_SPACING, VR::DS, &[ds(sp.row), ds(sp.col)]),
                    el(tags::SLICE_THICKNESS, VR::DS, ds(sp.slice).as_str()),
                    el(tags::SPACING_BETWEEN_SLICES, VR::DS, ds(sp.slice).as_str()),
                ])],
            ),
            seq(
                tags::PLANE_ORIENTATION_SEQUENCE,
                vec![item(vec![strs(
                    tags::IMAGE_ORIENTATION_PATIENT,
                    VR::DS,
                    &[c.x, c.y, c.z, r.x, r.y, r.z].map(ds),
                )])],
            ),
        ])],
    ));
    // Per frame: derivation, index, position, segment.
    let mut per_frame = Vec::with_capacity(frames);
    for s in 1..=segments.len() {
        for k in 0..n {
            let p = geometry.position(crate::geom::VoxelCoord {
                slice: k as f64,
                row: 0.0,
                col: 0.0,
            });
            let mut f = Vec::new();
            if let Some(src) = &source.per_slice[k] {
                f.push(seq(
                    tags::DERIVATION_IMAGE_SEQUENCE,
                    vec![item(vec![
                        seq(
                            tags::DERIVATION_CODE_SEQUENCE,
                            vec![code("113076", "DCM", "Segmentation")],
                        ),
                        seq(
                            tags::SOURCE_IMAGE_SEQUENCE,
                            vec![src.reference(vec![seq(
                                tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                                vec![code(
                                    "121322",
                                    "DCM",
                                    "Source image for image processing operation",
                                )],
                            )])],
                        ),
                    ])],
                ));
            }
            f.push(seq(
                tags::FRAME_CONTENT_SEQUENCE,
                vec![item(vec![el(
                    tags::DIMENSION_INDEX_VALUES,
                    VR::UL,
                    PrimitiveValue::U32([s as u32, k as u32 + 1].into_iter().collect()),
                )])],
            ));
            f.push(seq(
                tags::PLANE_POSITION_SEQUENCE,
                vec![item(vec![strs(
                    tags::IMAGE_POSITION_PATIENT,
                    VR::DS,
                    &[ds(p.0.x), ds(p.0.y), ds(p.0.z)],
                )])],
            ));
            f.push(seq(
                tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                vec![item(vec![el(
                    tags::REFERENCED_SEGMENT_NUMBER,
                    VR::US,
                    PrimitiveValue::from(s as u16),
                )])],
            ));
            per_frame.push(item(f));
        }
    }
    put(seq(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame));
    // Common Instance Reference: the source series.
    put(seq(
        tags::REFERENCED_SERIES_SEQUENCE,
        vec![item(vec![
            el(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                source.series_uid.as_str(),
            ),
            seq(
                tags::REFERENCED_INSTANCE_SEQUENCE,
                source
                    .images
                    .iter()
                    .map(|i| i.reference(Vec::new()))
                    .collect(),
            ),
        ])],
    ));
    // Pixels: frame after frame, bit after bit, first pixel in the lowest bit.
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(bits.div_ceil(8) + 1)
        .map_err(|_| "not enough memory for the SEG's pixel data".to_string())?;
    bytes.resize(bits.div_ceil(8), 0u8);
    let mut b = 0usize;
    for s in segments {
        for k in 0..n {
            for j in 0..rows {
                for i in 0..cols {
                    if s.mask.get(k, j, i) {
                        bytes[b >> 3] |= 1 << (b & 7);
                    }
                    b += 1;
                }
            }
        }
    }
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    put(el(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(bytes)));
    write_file(path, o, uids::SEGMENTATION_STORAGE, &sop_uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_valid_and_follow_the_content() {
        let a = uid(&["series", "abc"]);
        assert!(a.starts_with("2.25.") && a.len() <= 64, "{a}");
        assert!(a[5..].chars().all(|c| c.is_ascii_digit()) && !a[5..].starts_with('0'));
        assert_eq!(a, uid(&["series", "abc"]));
        assert_ne!(a, uid(&["series", "abd"]));
        assert!(ds(0.1 + 0.2).len() <= 16);
        assert_eq!(ds(-115.2744140625), "-115.2744140625");
    }
}
