//! Enhanced (multi-frame) CT: one file holds a whole series, and each frame's position,
//! orientation, pixel spacing and rescale live in functional groups — the frame's own item
//! of the Per-frame Functional Groups Sequence, else the Shared Functional Groups Sequence —
//! rather than at the top level (PS3.3 C.7.6.16). The import turns every frame into its own
//! [`ImageHeader`], so grouping, sorting, geometry checks and findings are exactly those of
//! a classic series of single-frame files.

use super::error::FileError;
use super::header::{self, ImageHeader, integer, number, texts};
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// SOP Class UID of Enhanced CT Image Storage.
pub const ENHANCED_CT: &str = "1.2.840.10008.5.1.4.1.1.2.1";
/// SOP Class UID of Legacy Converted Enhanced CT Image Storage (same functional groups).
pub const LEGACY_CONVERTED_ENHANCED_CT: &str = "1.2.840.10008.5.1.4.1.1.2.2";
/// Most frames one file may declare: far above any CT series (a 0.5 mm whole-body scan is
/// ~4000 slices), low enough that the per-frame headers stay small.
pub const MAX_FRAMES: u32 = 20_000;

/// Whether a SOP class is one of the enhanced CT classes imported frame by frame.
pub fn is_enhanced_ct(sop_class: &str) -> bool {
    sop_class == ENHANCED_CT || sop_class == LEGACY_CONVERTED_ENHANCED_CT
}

/// The functional group items that describe one frame.
#[derive(Debug, Clone, Copy)]
pub struct FrameGroups<'a> {
    per_frame: Option<&'a InMemDicomObject>,
    shared: Option<&'a InMemDicomObject>,
}

impl<'a> FrameGroups<'a> {
    /// The groups of frame `k` (0-based) of `obj`.
    pub fn of(obj: &'a InMemDicomObject, k: u32) -> Self {
        let first = |tag: Tag| obj.get(tag).and_then(|e| e.items()).and_then(|i| i.first());
        Self {
            per_frame: obj
                .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
                .and_then(|e| e.items())
                .and_then(|i| i.get(k as usize)),
            shared: first(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE),
        }
    }

    /// The item of the functional group macro `seq`: the frame's own, else the shared one.
    pub fn item(&self, seq: Tag) -> Option<&'a InMemDicomObject> {
        let inner = |g: Option<&'a InMemDicomObject>| {
            g.and_then(|g| g.get(seq))
                .and_then(|e| e.items())
                .and_then(|i| i.first())
        };
        inner(self.per_frame).or_else(|| inner(self.shared))
    }

    /// A number from the group macro `seq`.
    fn number(&self, seq: Tag, tag: Tag) -> Option<f64> {
        number(self.item(seq)?, tag)
    }
}

/// One header per frame of an Enhanced CT file, from the file's header `base` and its
/// parsed object (pixel data not needed).
pub fn frame_headers(
    base: ImageHeader,
    obj: &InMemDicomObject,
) -> Result<Vec<ImageHeader>, FileError> {
    let frames = base.frames;
    if frames == 0 || frames > MAX_FRAMES {
        return Err(FileError::BadImage(format!(
            "Enhanced CT declares {frames} frames (1 to {MAX_FRAMES} are accepted)"
        )));
    }
    let items = obj
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items())
        .map_or(0, |i| i.len());
    if items != frames as usize {
        return Err(FileError::Geometry(format!(
            "Enhanced CT of {frames} frames has {items} Per-frame Functional Groups items \
             (one per frame is required to place the frames)"
        )));
    }
    let mut series = base;
    fill_series_attributes(&mut series, &FrameGroups::of(obj, 0));
    let top_rescale = series.hu_mapping_given;
    let mut out = Vec::with_capacity(frames as usize);
    for k in 0..frames {
        let g = FrameGroups::of(obj, k);
        let mut h = series.clone();
        h.frames = 1;
        h.frame = Some(k);
        h.position = g
            .item(tags::PLANE_POSITION_SEQUENCE)
            .and_then(header::position_of);
        (h.col_dir, h.row_dir) = g
            .item(tags::PLANE_ORIENTATION_SEQUENCE)
            .map_or((None, None), header::orientation_of);
        h.pixel_spacing_mm = g
            .item(tags::PIXEL_MEASURES_SEQUENCE)
            .and_then(header::pixel_spacing_of);
        h.hu_mapping_given = top_rescale
            || g.item(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE)
                .is_some_and(|i| i.get(tags::RESCALE_INTERCEPT).is_some());
        let frame_type: Vec<String> = g
            .item(tags::CT_IMAGE_FRAME_TYPE_SEQUENCE)
            .map(|i| texts(i, tags::FRAME_TYPE))
            .unwrap_or_default();
        if !frame_type.is_empty() {
            h.image_type = frame_type.into_iter().map(|s| s.to_uppercase()).collect();
        }
        if let Some(ma) = g.number(tags::CT_EXPOSURE_SEQUENCE, tags::X_RAY_TUBE_CURRENT_INM_A) {
            h.tube_current_ma = Some(ma);
        }
        if let Some(mas) = g.number(tags::CT_EXPOSURE_SEQUENCE, tags::EXPOSURE_INM_AS) {
            h.exposure_mas = Some(mas);
        }
        if let Some(n) = g
            .item(tags::FRAME_CONTENT_SEQUENCE)
            .and_then(|i| integer(i, tags::IN_STACK_POSITION_NUMBER))
        {
            // Keeps the scanner's order visible where positions tie (they are refused later).
            h.instance_number = Some(n);
        }
        out.push(h);
    }
    Ok(out)
}

/// The acquisition attributes an Enhanced CT keeps in functional groups (frame 0's, which
/// the series record takes like a classic series takes its first file's), where the top
/// level does not have them.
fn fill_series_attributes(h: &mut ImageHeader, g: &FrameGroups<'_>) {
    let acq = &mut h.acq;
    let or = |v: &mut Option<f64>, seq: Tag, tag: Tag| {
        if v.is_none() {
            *v = g.number(seq, tag);
        }
    };
    or(&mut acq.kvp, tags::CTX_RAY_DETAILS_SEQUENCE, tags::KVP);
    or(
        &mut acq.slice_thickness_mm,
        tags::PIXEL_MEASURES_SEQUENCE,
        tags::SLICE_THICKNESS,
    );
    or(
        &mut acq.reconstruction_diameter_mm,
        tags::CT_RECONSTRUCTION_SEQUENCE,
        tags::RECONSTRUCTION_DIAMETER,
    );
    or(
        &mut acq.data_collection_diameter_mm,
        tags::CT_ACQUISITION_DETAILS_SEQUENCE,
        tags::DATA_COLLECTION_DIAMETER,
    );
    or(
        &mut acq.spiral_pitch,
        tags::CT_TABLE_DYNAMICS_SEQUENCE,
        tags::SPIRAL_PITCH_FACTOR,
    );
    or(
        &mut acq.exposure_time_ms,
        tags::CT_EXPOSURE_SEQUENCE,
        tags::EXPOSURE_TIME_INMS,
    );
    if h.gantry_tilt_deg.is_none() {
        h.gantry_tilt_deg = g.number(
            tags::CT_ACQUISITION_DETAILS_SEQUENCE,
            tags::GANTRY_DETECTOR_TILT,
        );
    }
    if acq.kernel.is_empty()
        && let Some(r) = g.item(tags::CT_RECONSTRUCTION_SEQUENCE)
    {
        acq.kernel = texts(r, tags::CONVOLUTION_KERNEL);
        for extra in texts(r, tags::RECONSTRUCTION_ALGORITHM) {
            if !acq.kernel.contains(&extra) {
                acq.kernel.push(extra);
            }
        }
    }
    if acq.filter_type.is_none() {
        acq.filter_type = g
            .item(tags::CTX_RAY_DETAILS_SEQUENCE)
            .and_then(|i| header::text(i, tags::FILTER_TYPE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR, value::DataSetSequence};

    fn item(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
        InMemDicomObject::from_element_iter(elements)
    }

    fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
        DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
    }

    fn ds(tag: Tag, v: &[f64]) -> DataElement<InMemDicomObject> {
        let s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        DataElement::new(tag, VR::DS, PrimitiveValue::Strs(s.into()))
    }

    #[test]
    fn a_frame_takes_its_own_group_before_the_shared_one() {
        let plane = |z: f64| {
            item(vec![seq(
                tags::PLANE_POSITION_SEQUENCE,
                vec![item(vec![ds(tags::IMAGE_POSITION_PATIENT, &[0.0, 0.0, z])])],
            )])
        };
        let mut per_frame: Vec<InMemDicomObject> = (0..3).map(|k| plane(k as f64 * 2.5)).collect();
        // Frame 2 overrides the shared spacing.
        per_frame[2].put(seq(
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![item(vec![ds(tags::PIXEL_SPACING, &[0.7, 0.7])])],
        ));
        let shared = item(vec![
            seq(
                tags::PIXEL_MEASURES_SEQUENCE,
                vec![item(vec![ds(tags::PIXEL_SPACING, &[0.5, 0.5])])],
            ),
            seq(
                tags::PLANE_ORIENTATION_SEQUENCE,
                vec![item(vec![ds(
                    tags::IMAGE_ORIENTATION_PATIENT,
                    &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                )])],
            ),
        ]);
        let obj = item(vec![
            seq(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![shared]),
            seq(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame),
        ]);
        let base = ImageHeader {
            frames: 3,
            ..Default::default()
        };
        let hs = frame_headers(base.clone(), &obj).expect("three frames");
        assert_eq!(hs.len(), 3);
        assert_eq!(hs[1].frame, Some(1));
        assert_eq!(hs[1].frames, 1);
        assert_eq!(hs[2].position.map(|p| p.0.z), Some(5.0));
        assert_eq!(hs[0].pixel_spacing_mm, Some([0.5, 0.5]));
        assert_eq!(hs[2].pixel_spacing_mm, Some([0.7, 0.7]));
        assert!(
            hs.iter()
                .all(|h| h.row_dir.is_some() && h.col_dir.is_some())
        );

        // One item short: refused, naming the count.
        let short = ImageHeader { frames: 4, ..base };
        let e = frame_headers(short, &obj).expect_err("3 items for 4 frames");
        assert!(e.to_string().contains("3 Per-frame"), "{e}");
    }
}
