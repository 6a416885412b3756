//! Writing CT slices as DICOM (explicit VR little endian, signed 16-bit HU). Used to build
//! derived and synthetic series (tests, samples) through the same import path as real data.

use crate::geom::{LpsDirection, LpsPointMm};
use crate::io::atomic::write_atomic;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use std::path::Path;

/// One CT slice to write.
#[derive(Debug, Clone)]
pub struct CtSlice<'a> {
    /// Study Instance UID.
    pub study_uid: &'a str,
    /// Series Instance UID.
    pub series_uid: &'a str,
    /// SOP Instance UID.
    pub sop_uid: &'a str,
    /// Series Number.
    pub series_number: i32,
    /// Instance Number.
    pub instance_number: i32,
    /// Image Position (Patient).
    pub position: LpsPointMm,
    /// Direction of increasing column index.
    pub col_dir: LpsDirection,
    /// Direction of increasing row index.
    pub row_dir: LpsDirection,
    /// Pixel Spacing `[row, column]`, mm.
    pub pixel_spacing_mm: [f64; 2],
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub columns: u16,
    /// HU values, row-major, `rows × columns`.
    pub hu: &'a [i16],
    /// Gantry/Detector Tilt tag, degrees.
    pub gantry_tilt_deg: Option<f64>,
    /// Study Date (YYYYMMDD).
    pub study_date: &'a str,
    /// Slice Thickness, mm.
    pub slice_thickness_mm: f64,
    /// Frame of Reference UID (the Frame of Reference module is written when given).
    pub frame_of_reference_uid: Option<&'a str>,
    /// Series Description.
    pub series_description: Option<&'a str>,
}

/// A DS value: the shortest exact decimal when it fits DS's 16 characters, otherwise as many
/// decimals as fit (geometry must not lose precision to formatting).
fn ds(v: f64) -> String {
    let exact = format!("{v}");
    if exact.len() <= 16 {
        return exact;
    }
    for decimals in (0..=12).rev() {
        let s = format!("{v:.decimals$}");
        if s.len() <= 16 {
            return s;
        }
    }
    format!("{v:.6e}")
}

fn strs<S: AsRef<str>>(v: &[S]) -> PrimitiveValue {
    PrimitiveValue::Strs(v.iter().map(|s| s.as_ref().to_string()).collect())
}

/// Writes one slice atomically.
pub fn write_ct_slice(path: &Path, s: &CtSlice<'_>) -> std::io::Result<()> {
    if s.hu.len() != usize::from(s.rows) * usize::from(s.columns) {
        return Err(std::io::Error::other(
            "pixel count does not match rows x columns",
        ));
    }
    let mut o = InMemDicomObject::new_empty();
    let mut put = |tag, vr, v: PrimitiveValue| {
        o.put(DataElement::new(tag, vr, v));
    };
    let c = s.col_dir.get();
    let r = s.row_dir.get();
    let p = s.position.0;
    put(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE.into());
    put(tags::SOP_INSTANCE_UID, VR::UI, s.sop_uid.into());
    put(
        tags::IMAGE_TYPE,
        VR::CS,
        strs(&["ORIGINAL", "PRIMARY", "AXIAL"]),
    );
    put(tags::STUDY_DATE, VR::DA, s.study_date.into());
    put(tags::MODALITY, VR::CS, "CT".into());
    put(tags::MANUFACTURER, VR::LO, "Hounsfield synthetic".into());
    put(tags::PATIENT_NAME, VR::PN, "SYNTHETIC^PHANTOM".into());
    put(tags::PATIENT_ID, VR::LO, "SYNTH".into());
    put(
        tags::SLICE_THICKNESS,
        VR::DS,
        ds(s.slice_thickness_mm).into(),
    );
    // Type 2 attributes of the Patient, Study and Series modules: present, empty.
    put(tags::PATIENT_BIRTH_DATE, VR::DA, "".into());
    put(tags::PATIENT_SEX, VR::CS, "O".into());
    put(tags::STUDY_TIME, VR::TM, "120000".into());
    put(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "".into());
    put(tags::STUDY_ID, VR::SH, "1".into());
    put(tags::ACCESSION_NUMBER, VR::SH, "".into());
    put(tags::PATIENT_POSITION, VR::CS, "HFS".into());
    put(tags::KVP, VR::DS, "120".into());
    put(tags::ACQUISITION_NUMBER, VR::IS, "1".into());
    put(tags::RESCALE_TYPE, VR::LO, "HU".into());
    if let Some(d) = s.series_description {
        put(tags::SERIES_DESCRIPTION, VR::LO, d.into());
    }
    if let Some(f) = s.frame_of_reference_uid {
        put(tags::FRAME_OF_REFERENCE_UID, VR::UI, f.into());
        put(tags::POSITION_REFERENCE_INDICATOR, VR::LO, "".into());
        put(
            tags::SLICE_LOCATION,
            VR::DS,
            ds(s.position.0.dot(s.col_dir.get().cross(s.row_dir.get()))).into(),
        );
    }
    if let Some(t) = s.gantry_tilt_deg {
        put(tags::GANTRY_DETECTOR_TILT, VR::DS, ds(t).into());
    }
    put(tags::STUDY_INSTANCE_UID, VR::UI, s.study_uid.into());
    put(tags::SERIES_INSTANCE_UID, VR::UI, s.series_uid.into());
    put(
        tags::SERIES_NUMBER,
        VR::IS,
        s.series_number.to_string().into(),
    );
    put(
        tags::INSTANCE_NUMBER,
        VR::IS,
        s.instance_number.to_string().into(),
    );
    put(
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        strs(&[ds(p.x), ds(p.y), ds(p.z)]),
    );
    put(
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        strs(&[ds(c.x), ds(c.y), ds(c.z), ds(r.x), ds(r.y), ds(r.z)]),
    );
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2".into(),
    );
    put(tags::ROWS, VR::US, PrimitiveValue::from(s.rows));
    put(tags::COLUMNS, VR::US, PrimitiveValue::from(s.columns));
    put(
        tags::PIXEL_SPACING,
        VR::DS,
        strs(&[ds(s.pixel_spacing_mm[0]), ds(s.pixel_spacing_mm[1])]),
    );
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
    put(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(1u16),
    );
    put(tags::RESCALE_INTERCEPT, VR::DS, "0".into());
    put(tags::RESCALE_SLOPE, VR::DS, "1".into());
    let bytes: Vec<u8> = s.hu.iter().flat_map(|v| v.to_le_bytes()).collect();
    put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(bytes));
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
        .media_storage_sop_instance_uid(s.sop_uid);
    let file = o.with_meta(meta).map_err(std::io::Error::other)?;
    write_atomic(path, |w| file.write_all(w).map_err(std::io::Error::other))
}
