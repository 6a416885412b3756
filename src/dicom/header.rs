//! One DICOM file's header: everything the import needs to group, sort, classify and
//! record a slice, read without decoding pixels.

use super::acquisition::PatientRecord;
use super::error::FileError;
use super::guard::{self, GuardLimits, MetaInfo};
use crate::geom::{LpsDirection, LpsPointMm};
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use glam::DVec3;
use std::path::{Path, PathBuf};

/// SOP Class UID of a DICOMDIR.
pub const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";

/// Header attributes of one image file.
#[derive(Debug, Clone, Default)]
pub struct ImageHeader {
    /// The file.
    pub path: PathBuf,
    /// Transfer syntax of the pixel data.
    pub transfer_syntax: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Study Instance UID.
    pub study_uid: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// Series Number.
    pub series_number: Option<i64>,
    /// Modality, e.g. CT.
    pub modality: String,
    /// Image Type values, upper case.
    pub image_type: Vec<String>,
    /// Acquisition Number.
    pub acquisition_number: Option<i64>,
    /// Instance Number.
    pub instance_number: Option<i64>,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub columns: u32,
    /// Pixel Spacing `[row, column]`, mm.
    pub pixel_spacing_mm: Option<[f64; 2]>,
    /// Image Position (Patient): centre of the first pixel, LPS mm.
    pub position: Option<LpsPointMm>,
    /// Image Orientation (Patient): direction of increasing column index.
    pub col_dir: Option<LpsDirection>,
    /// Image Orientation (Patient): direction of increasing row index.
    pub row_dir: Option<LpsDirection>,
    /// Number of Frames (1 when absent; 1 for each frame of an Enhanced CT, see `frame`).
    pub frames: u32,
    /// The frame (0-based) of an Enhanced (multi-frame) CT file this header describes;
    /// `None` for a single-frame image.
    pub frame: Option<u32>,
    /// Samples per Pixel.
    pub samples_per_pixel: u16,
    /// Bits Allocated.
    pub bits_allocated: u16,
    /// Photometric Interpretation.
    pub photometric: String,
    /// Whether the file carries Pixel Data.
    pub has_pixel_data: bool,
    /// Whether Lossy Image Compression (0028,2110) is "01".
    pub lossy_flag: bool,
    /// Rescale Intercept or a Modality LUT is present (else stored values are taken as HU).
    pub hu_mapping_given: bool,
    /// Gantry/Detector Tilt, degrees.
    pub gantry_tilt_deg: Option<f64>,
    /// X-Ray Tube Current, mA.
    pub tube_current_ma: Option<f64>,
    /// Exposure, mAs.
    pub exposure_mas: Option<f64>,
    /// Acquisition attributes that are the same for a whole series.
    pub acq: SeriesAttributes,
    /// Patient-identifying attributes.
    pub patient: PatientRecord,
}

impl ImageHeader {
    /// The file, and the frame for a frame of a multi-frame file: how messages name an image.
    pub fn name(&self) -> String {
        match self.frame {
            Some(k) => format!("{} (frame {})", self.path.display(), k + 1),
            None => self.path.display().to_string(),
        }
    }
}

/// Series-level acquisition attributes, taken from one representative file.
#[derive(Debug, Clone, Default)]
pub struct SeriesAttributes {
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Station Name.
    pub station: Option<String>,
    /// Software Versions.
    pub software_versions: Vec<String>,
    /// Study Date.
    pub study_date: Option<String>,
    /// Study Time.
    pub study_time: Option<String>,
    /// Series Date.
    pub series_date: Option<String>,
    /// Series Time.
    pub series_time: Option<String>,
    /// Acquisition Date.
    pub acquisition_date: Option<String>,
    /// Series Description.
    pub series_description: Option<String>,
    /// Study Description.
    pub study_description: Option<String>,
    /// Protocol Name.
    pub protocol_name: Option<String>,
    /// Body Part Examined.
    pub body_part: Option<String>,
    /// KVP.
    pub kvp: Option<f64>,
    /// Exposure Time, ms.
    pub exposure_time_ms: Option<f64>,
    /// CTDIvol, mGy.
    pub ctdi_vol_mgy: Option<f64>,
    /// Slice Thickness, mm.
    pub slice_thickness_mm: Option<f64>,
    /// Convolution Kernel (all values) plus vendor equivalents.
    pub kernel: Vec<String>,
    /// Filter Type.
    pub filter_type: Option<String>,
    /// Patient Position.
    pub patient_position: Option<String>,
    /// Contrast/Bolus Agent.
    pub contrast_agent: Option<String>,
    /// Spiral Pitch Factor.
    pub spiral_pitch: Option<f64>,
    /// Reconstruction Diameter, mm.
    pub reconstruction_diameter_mm: Option<f64>,
    /// Data Collection Diameter, mm.
    pub data_collection_diameter_mm: Option<f64>,
}

/// Reads a whole file into memory and checks its structure (see [`guard`]).
pub fn read_checked(path: &Path, limits: &GuardLimits) -> Result<(Vec<u8>, MetaInfo), FileError> {
    let size = std::fs::metadata(path)
        .map_err(|e| FileError::Io(e.to_string()))?
        .len();
    if size > limits.max_file_bytes {
        return Err(FileError::TooLarge {
            size,
            limit: limits.max_file_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| FileError::Io(e.to_string()))?;
    let meta = guard::check(&bytes, limits)?;
    Ok((bytes, meta))
}

/// The File Meta Information of a file, reading only its first 64 KiB.
pub fn read_meta(path: &Path, limits: &GuardLimits) -> Result<MetaInfo, FileError> {
    use std::io::Read;
    let mut prefix = Vec::with_capacity(64 << 10);
    std::fs::File::open(path)
        .and_then(|f| f.take(64 << 10).read_to_end(&mut prefix))
        .map_err(|e| FileError::Io(e.to_string()))?;
    guard::meta_only(&prefix, limits)
}

/// Parses checked bytes with dicom-object, up to (not including) the pixel data when
/// `headers_only`. Panics inside dicom-rs become [`FileError::Damaged`].
pub fn parse(bytes: &[u8], headers_only: bool) -> Result<DefaultDicomObject, FileError> {
    let body = bytes
        .get(128..)
        .ok_or_else(|| FileError::NotDicom("too short".into()))?;
    let run = || {
        let mut opts = OpenFileOptions::new().read_preamble(ReadPreamble::Never);
        if headers_only {
            opts = opts.read_until(tags::PIXEL_DATA);
        }
        opts.from_reader(body)
    };
    match super::contain::contain(run) {
        Some(Ok(obj)) => Ok(obj),
        Some(Err(e)) => Err(FileError::Damaged(format!("DICOM parser: {e}"))),
        None => Err(FileError::Damaged(
            "the DICOM parser failed on this file".into(),
        )),
    }
}

/// Text value of a tag, trimmed; `None` when absent or empty.
pub fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let s = obj.get(tag)?.to_str().ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!s.is_empty()).then(|| s.to_string())
}

/// All text values of a tag, trimmed, empty ones dropped.
pub fn texts(obj: &InMemDicomObject, tag: Tag) -> Vec<String> {
    obj.get(tag)
        .and_then(|e| e.to_multi_str().ok().map(|v| v.to_vec()))
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// First numeric value of a tag, if finite.
pub fn number(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    let v = obj.get(tag)?.to_float64().ok()?;
    v.is_finite().then_some(v)
}

/// All numeric values of a tag, if all finite.
pub fn numbers(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let v = obj.get(tag)?.to_multi_float64().ok()?;
    v.iter().all(|x| x.is_finite()).then_some(v)
}

/// Integer value of a tag.
pub fn integer(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    obj.get(tag)?.to_int::<i64>().ok()
}

/// Image Orientation (Patient) of a data set (or a functional group item): the column and
/// row directions.
pub fn orientation_of(obj: &InMemDicomObject) -> (Option<LpsDirection>, Option<LpsDirection>) {
    match numbers(obj, tags::IMAGE_ORIENTATION_PATIENT).filter(|v| v.len() == 6) {
        Some(v) => (
            LpsDirection::new(DVec3::new(v[0], v[1], v[2])),
            LpsDirection::new(DVec3::new(v[3], v[4], v[5])),
        ),
        None => (None, None),
    }
}

/// Image Position (Patient) of a data set (or a functional group item).
pub fn position_of(obj: &InMemDicomObject) -> Option<LpsPointMm> {
    numbers(obj, tags::IMAGE_POSITION_PATIENT)
        .filter(|v| v.len() == 3)
        .map(|v| LpsPointMm::new(v[0], v[1], v[2]))
}

/// Pixel Spacing `[row, column]` of a data set (or a functional group item), when positive.
pub fn pixel_spacing_of(obj: &InMemDicomObject) -> Option<[f64; 2]> {
    numbers(obj, tags::PIXEL_SPACING)
        .filter(|v| v.len() == 2 && v[0] > 0.0 && v[1] > 0.0)
        .map(|v| [v[0], v[1]])
}

/// Extracts an [`ImageHeader`] from a parsed object.
pub fn extract(path: &Path, obj: &DefaultDicomObject, meta: &MetaInfo) -> ImageHeader {
    let (col_dir, row_dir) = orientation_of(obj);
    let position = position_of(obj);
    let pixel_spacing_mm = pixel_spacing_of(obj);
    let mut kernel = texts(obj, tags::CONVOLUTION_KERNEL);
    // Vendor equivalents: Siemens enhanced CT (0018,9315) Reconstruction Algorithm.
    for extra in texts(obj, tags::RECONSTRUCTION_ALGORITHM) {
        if !kernel.contains(&extra) {
            kernel.push(extra);
        }
    }
    let u16_of = |tag| integer(obj, tag).and_then(|v| u16::try_from(v).ok());
    ImageHeader {
        path: path.to_path_buf(),
        transfer_syntax: meta.transfer_syntax.clone(),
        sop_class_uid: text(obj, tags::SOP_CLASS_UID).unwrap_or_else(|| meta.sop_class.clone()),
        sop_instance_uid: text(obj, tags::SOP_INSTANCE_UID).unwrap_or_default(),
        study_uid: text(obj, tags::STUDY_INSTANCE_UID).unwrap_or_default(),
        series_uid: text(obj, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
        series_number: integer(obj, tags::SERIES_NUMBER),
        modality: text(obj, tags::MODALITY).unwrap_or_default().to_uppercase(),
        image_type: texts(obj, tags::IMAGE_TYPE)
            .into_iter()
            .map(|s| s.to_uppercase())
            .collect(),
        acquisition_number: integer(obj, tags::ACQUISITION_NUMBER),
        instance_number: integer(obj, tags::INSTANCE_NUMBER),
        rows: u16_of(tags::ROWS).map_or(0, u32::from),
        columns: u16_of(tags::COLUMNS).map_or(0, u32::from),
        pixel_spacing_mm,
        position,
        col_dir,
        row_dir,
        frames: integer(obj, tags::NUMBER_OF_FRAMES)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(1),
        frame: None,
        samples_per_pixel: u16_of(tags::SAMPLES_PER_PIXEL).unwrap_or(1),
        bits_allocated: u16_of(tags::BITS_ALLOCATED).unwrap_or(0),
        photometric: text(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default(),
        has_pixel_data: meta.pixel_data.is_some(),
        lossy_flag: text(obj, tags::LOSSY_IMAGE_COMPRESSION).as_deref() == Some("01"),
        hu_mapping_given: obj.get(tags::RESCALE_INTERCEPT).is_some()
            || obj.get(tags::MODALITY_LUT_SEQUENCE).is_some(),
        gantry_tilt_deg: number(obj, tags::GANTRY_DETECTOR_TILT),
        tube_current_ma: number(obj, tags::X_RAY_TUBE_CURRENT),
        exposure_mas: number(obj, tags::EXPOSURE),
        acq: SeriesAttributes {
            manufacturer: text(obj, tags::MANUFACTURER),
            model: text(obj, tags::MANUFACTURER_MODEL_NAME),
            station: text(obj, tags::STATION_NAME),
            software_versions: texts(obj, tags::SOFTWARE_VERSIONS),
            study_date: text(obj, tags::STUDY_DATE),
            study_time: text(obj, tags::STUDY_TIME),
            series_date: text(obj, tags::SERIES_DATE),
            series_time: text(obj, tags::SERIES_TIME),
            acquisition_date: text(obj, tags::ACQUISITION_DATE),
            series_description: text(obj, tags::SERIES_DESCRIPTION),
            study_description: text(obj, tags::STUDY_DESCRIPTION),
            protocol_name: text(obj, tags::PROTOCOL_NAME),
            body_part: text(obj, tags::BODY_PART_EXAMINED),
            kvp: number(obj, tags::KVP),
            exposure_time_ms: number(obj, tags::EXPOSURE_TIME),
            ctdi_vol_mgy: number(obj, tags::CTD_IVOL),
            slice_thickness_mm: number(obj, tags::SLICE_THICKNESS),
            kernel,
            filter_type: text(obj, tags::FILTER_TYPE),
            patient_position: text(obj, tags::PATIENT_POSITION),
            contrast_agent: text(obj, tags::CONTRAST_BOLUS_AGENT),
            spiral_pitch: number(obj, tags::SPIRAL_PITCH_FACTOR),
            reconstruction_diameter_mm: number(obj, tags::RECONSTRUCTION_DIAMETER),
            data_collection_diameter_mm: number(obj, tags::DATA_COLLECTION_DIAMETER),
        },
        patient: PatientRecord {
            name: text(obj, tags::PATIENT_NAME),
            id: text(obj, tags::PATIENT_ID),
            birth_date: text(obj, tags::PATIENT_BIRTH_DATE),
            sex: text(obj, tags::PATIENT_SEX),
            age: text(obj, tags::PATIENT_AGE),
            institution: text(obj, tags::INSTITUTION_NAME),
            accession_number: text(obj, tags::ACCESSION_NUMBER),
        },
    }
}

/// Reads, checks and parses the header of one file: one header per image, so an Enhanced
/// (multi-frame) CT gives one per frame (see [`super::enhanced`]). DICOMDIRs are reported as
/// [`FileError::DicomDir`] so that the scanner can follow or skip them.
pub fn read_headers(path: &Path, limits: &GuardLimits) -> Result<Vec<ImageHeader>, FileError> {
    let (bytes, meta) = read_checked(path, limits)?;
    if meta.sop_class == DICOMDIR_SOP_CLASS {
        return Err(FileError::DicomDir);
    }
    let obj = parse(&bytes, true)?;
    drop(bytes);
    let h = checked_header(path, &obj, &meta)?;
    if super::enhanced::is_enhanced_ct(&h.sop_class_uid) && h.has_pixel_data {
        return super::enhanced::frame_headers(h, &obj);
    }
    Ok(vec![h])
}

fn checked_header(
    path: &Path,
    obj: &DefaultDicomObject,
    meta: &MetaInfo,
) -> Result<ImageHeader, FileError> {
    let h = extract(path, obj, meta);
    if let Some(px) = meta.pixel_data {
        super::pixels::check_codec(&meta.transfer_syntax, h.bits_allocated)?;
        if h.rows == 0 || h.columns == 0 {
            return Err(FileError::FrameSize(format!(
                "declared image size is {}x{} pixels",
                h.columns, h.rows
            )));
        }
        let need = u64::from(h.rows)
            * u64::from(h.columns)
            * u64::from(h.samples_per_pixel.max(1))
            * u64::from(h.bits_allocated.div_ceil(8))
            * u64::from(h.frames.max(1));
        if !px.encapsulated && h.bits_allocated >= 8 && px.length < need {
            return Err(FileError::FrameSize(format!(
                "{}x{} pixels x {} frame(s) of {} bits need {need} bytes but Pixel Data holds {}",
                h.columns, h.rows, h.frames, h.bits_allocated, px.length
            )));
        }
    }
    Ok(h)
}
