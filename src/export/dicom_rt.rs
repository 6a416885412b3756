//! RT Structure Set (PS3.3 A.19): each label's per-slice outlines — the same closed
//! polylines in patient millimetres as the outlines export ([`super::contours`]) — as an
//! ROI with its name and colour, on the source series' frame of reference and images.
//! Outer boundaries and holes are separate CLOSED_PLANAR contours of one ROI, which
//! planning systems combine by parity (a hole is inside an outer contour).

use super::contours::SliceContours;
use super::dicom_seg::{
    DerivedMeta, SourceSeries, derived_header, ds, el, item, seq, strs, uid, write_file,
};
use crate::segment::mask::Mask;
use crate::volume::VolumeGeometry;
use dicom_core::{PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use std::path::Path;

/// One ROI: a label's mask, name and colour.
#[derive(Debug, Clone, Copy)]
pub struct Roi<'a> {
    /// The label.
    pub label: &'a str,
    /// Its mask, on the volume's grid.
    pub mask: &'a Mask,
    /// Display colour, RGB.
    pub colour: [u8; 3],
}

/// The Study Component Management SOP Class (what RT Referenced Study names the study by).
const STUDY_COMPONENT: &str = "1.2.840.10008.3.1.2.3.2";

/// Writes the ROIs as one RT Structure Set at `path` (atomically).
pub fn write(
    path: &Path,
    geometry: &VolumeGeometry,
    dims: [usize; 3],
    rois: &[Roi<'_>],
    source: &SourceSeries,
    meta: &DerivedMeta,
) -> Result<(), String> {
    if rois.is_empty() {
        return Err("an RT Structure Set needs at least one label".into());
    }
    let a = geometry.affine_ijk_to_lps();
    let affine = [a[0], a[1], a[2]];
    let mut outlines: Vec<Vec<SliceContours>> = Vec::with_capacity(rois.len());
    for r in rois {
        if r.mask.dims() != dims {
            return Err(format!("label `{}` is not on the volume's grid", r.label));
        }
        let m = r.mask;
        outlines.push(
            super::contours::extract_with(dims, &|k, j, i| m.get(k, j, i), &affine)
                .map_err(|e| e.to_string())?,
        );
    }
    let series_uid = uid(&["rt series", &meta.segmentation_hash, &source.series_uid]);
    let sop_uid = uid(&["rt instance", &meta.segmentation_hash, &source.series_uid]);
    let (date, time) = meta.date_time();
    let study_uid = source
        .copied
        .iter()
        .find(|(t, _, _)| *t == tags::STUDY_INSTANCE_UID)
        .map(|(_, _, v)| v.clone())
        .unwrap_or_default();
    let mut o = InMemDicomObject::new_empty();
    derived_header(
        &mut o,
        source,
        meta,
        (uids::RT_STRUCTURE_SET_STORAGE, &sop_uid),
        ("RTSTRUCT", &series_uid, "902", "Hounsfield structures"),
    );
    let mut put = |e| {
        o.put(e);
    };
    put(el(tags::OPERATORS_NAME, VR::PN, meta.operator.as_str()));
    put(el(tags::INSTANCE_NUMBER, VR::IS, "1"));
    put(el(tags::STRUCTURE_SET_LABEL, VR::SH, "Hounsfield"));
    put(el(
        tags::STRUCTURE_SET_NAME,
        VR::LO,
        "Hounsfield case labels",
    ));
    put(el(tags::STRUCTURE_SET_DATE, VR::DA, date.as_str()));
    put(el(tags::STRUCTURE_SET_TIME, VR::TM, time.as_str()));
    let image_ref = |k: usize| {
        source
            .per_slice
            .get(k)
            .and_then(Option::as_ref)
            .map(|s| s.reference(Vec::new()))
    };
    put(seq(
        tags::REFERENCED_FRAME_OF_REFERENCE_SEQUENCE,
        vec![item(vec![
            el(
                tags::FRAME_OF_REFERENCE_UID,
                VR::UI,
                source.frame_of_reference_uid.as_str(),
            ),
            seq(
                tags::RT_REFERENCED_STUDY_SEQUENCE,
                vec![item(vec![
                    el(tags::REFERENCED_SOP_CLASS_UID, VR::UI, STUDY_COMPONENT),
                    el(
                        tags::REFERENCED_SOP_INSTANCE_UID,
                        VR::UI,
                        study_uid.as_str(),
                    ),
                    seq(
                        tags::RT_REFERENCED_SERIES_SEQUENCE,
                        vec![item(vec![
                            el(
                                tags::SERIES_INSTANCE_UID,
                                VR::UI,
                                source.series_uid.as_str(),
                            ),
                            seq(
                                tags::CONTOUR_IMAGE_SEQUENCE,
                                source
                                    .images
                                    .iter()
                                    .map(|s| s.reference(Vec::new()))
                                    .collect(),
                            ),
                        ])],
                    ),
                ])],
            ),
        ])],
    ));
    let algorithm = if meta.manual_edits {
        "SEMIAUTOMATIC"
    } else {
        "AUTOMATIC"
    };
    put(seq(
        tags::STRUCTURE_SET_ROI_SEQUENCE,
        rois.iter()
            .enumerate()
            .map(|(n, r)| {
                item(vec![
                    el(tags::ROI_NUMBER, VR::IS, (n + 1).to_string().as_str()),
                    el(
                        tags::REFERENCED_FRAME_OF_REFERENCE_UID,
                        VR::UI,
                        source.frame_of_reference_uid.as_str(),
                    ),
                    el(tags::ROI_NAME, VR::LO, r.label),
                    el(tags::ROI_GENERATION_ALGORITHM, VR::CS, algorithm),
                ])
            })
            .collect(),
    ));
    let mut contour_items = Vec::with_capacity(rois.len());
    for (n, (r, slices)) in rois.iter().zip(&outlines).enumerate() {
        let mut contours = Vec::new();
        for s in slices {
            for line in &s.polylines {
                let data: Vec<String> = line.iter().flatten().map(|v| ds(*v)).collect();
                let mut c = Vec::new();
                if let Some(i) = image_ref(s.index) {
                    c.push(seq(tags::CONTOUR_IMAGE_SEQUENCE, vec![i]));
                }
                c.push(el(tags::CONTOUR_GEOMETRIC_TYPE, VR::CS, "CLOSED_PLANAR"));
                c.push(el(
                    tags::NUMBER_OF_CONTOUR_POINTS,
                    VR::IS,
                    line.len().to_string().as_str(),
                ));
                c.push(strs(tags::CONTOUR_DATA, VR::DS, &data));
                contours.push(item(c));
            }
        }
        contour_items.push(item(vec![
            el(
                tags::ROI_DISPLAY_COLOR,
                VR::IS,
                PrimitiveValue::Strs(r.colour.iter().map(|c| c.to_string()).collect()),
            ),
            seq(tags::CONTOUR_SEQUENCE, contours),
            el(
                tags::REFERENCED_ROI_NUMBER,
                VR::IS,
                (n + 1).to_string().as_str(),
            ),
        ]));
    }
    put(seq(tags::ROI_CONTOUR_SEQUENCE, contour_items));
    put(seq(
        tags::RTROI_OBSERVATIONS_SEQUENCE,
        (1..=rois.len())
            .map(|n| {
                item(vec![
                    el(tags::OBSERVATION_NUMBER, VR::IS, n.to_string().as_str()),
                    el(tags::REFERENCED_ROI_NUMBER, VR::IS, n.to_string().as_str()),
                    el(tags::RTROI_INTERPRETED_TYPE, VR::CS, "ORGAN"),
                    el(tags::ROI_INTERPRETER, VR::PN, ""),
                ])
            })
            .collect(),
    ));
    write_file(path, o, uids::RT_STRUCTURE_SET_STORAGE, &sop_uid)
}
