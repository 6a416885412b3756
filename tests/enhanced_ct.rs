//! Enhanced (multi-frame) CT import: a multi-frame file built here from a real classic
//! series (the bundled sample; the phantom's S2030 when ../shared is present) — frames in
//! reverse order, position and rescale per frame, spacing and orientation shared — imports
//! to the same HU volume and geometry as the classic series, voxel for voxel.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;
use hounsfield::dicom::enhanced::ENHANCED_CT;
use hounsfield::dicom::{ImportOptions, LoadOptions, Series, load, scan_path};
use std::path::{Path, PathBuf};

/// Per-frame attributes: they move into functional groups.
const PER_FRAME: [Tag; 15] = [
    tags::X_RAY_TUBE_CURRENT,
    tags::EXPOSURE,
    tags::IMAGE_POSITION_PATIENT,
    tags::IMAGE_ORIENTATION_PATIENT,
    tags::PIXEL_SPACING,
    tags::SLICE_THICKNESS,
    tags::RESCALE_INTERCEPT,
    tags::RESCALE_SLOPE,
    tags::RESCALE_TYPE,
    tags::INSTANCE_NUMBER,
    tags::SLICE_LOCATION,
    tags::PIXEL_DATA,
    tags::SOP_INSTANCE_UID,
    tags::SOP_CLASS_UID,
    tags::SERIES_INSTANCE_UID,
];

fn sq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

/// A functional group macro: `seq` holding one item with `elements` copied from `from`.
fn group(seq: Tag, from: &InMemDicomObject, elements: &[Tag]) -> DataElement<InMemDicomObject> {
    let item = InMemDicomObject::from_element_iter(
        elements
            .iter()
            .filter_map(|t| from.element(*t).ok().cloned()),
    );
    sq(seq, vec![item])
}

/// Writes the classic single-frame `files` as one Enhanced CT file, frames in reverse order,
/// leaving out the last `missing_groups` per-frame items (a broken file).
fn write_enhanced(files: &[PathBuf], out: &Path, missing_groups: usize) {
    let slices: Vec<_> = files
        .iter()
        .map(|p| {
            OpenFileOptions::new()
                .open_file(p)
                .expect("classic slice opens")
        })
        .collect();
    let first = &slices[0];
    let mut top = InMemDicomObject::from_element_iter(
        first
            .iter()
            .filter(|e| !PER_FRAME.contains(&e.header().tag))
            .cloned(),
    );
    let sop_uid = "2.25.4242424242";
    let put = |o: &mut InMemDicomObject, tag, vr, v: PrimitiveValue| {
        o.put(DataElement::new(tag, vr, v));
    };
    put(&mut top, tags::SOP_CLASS_UID, VR::UI, ENHANCED_CT.into());
    put(&mut top, tags::SOP_INSTANCE_UID, VR::UI, sop_uid.into());
    put(
        &mut top,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        "2.25.4242424243".into(),
    );
    put(&mut top, tags::INSTANCE_NUMBER, VR::IS, "1".into());
    put(
        &mut top,
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        slices.len().to_string().into(),
    );
    top.put(sq(
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![InMemDicomObject::from_element_iter([
            group(
                tags::PIXEL_MEASURES_SEQUENCE,
                first,
                &[tags::PIXEL_SPACING, tags::SLICE_THICKNESS],
            ),
            group(
                tags::PLANE_ORIENTATION_SEQUENCE,
                first,
                &[tags::IMAGE_ORIENTATION_PATIENT],
            ),
        ])],
    ));
    let order: Vec<usize> = (0..slices.len()).rev().collect();
    let per_frame: Vec<InMemDicomObject> = order
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let s = &slices[i];
            let mut content = InMemDicomObject::new_empty();
            put(
                &mut content,
                tags::IN_STACK_POSITION_NUMBER,
                VR::UL,
                PrimitiveValue::from((k + 1) as u32),
            );
            // Dose modulation: mA and mAs per frame, as FD in the CT Exposure macro.
            let mut exposure = InMemDicomObject::new_empty();
            for (from, to) in [
                (tags::X_RAY_TUBE_CURRENT, tags::X_RAY_TUBE_CURRENT_INM_A),
                (tags::EXPOSURE, tags::EXPOSURE_INM_AS),
            ] {
                if let Some(v) = s.element(from).ok().and_then(|e| e.to_float64().ok()) {
                    put(&mut exposure, to, VR::FD, PrimitiveValue::from(v));
                }
            }
            InMemDicomObject::from_element_iter([
                sq(tags::FRAME_CONTENT_SEQUENCE, vec![content]),
                sq(tags::CT_EXPOSURE_SEQUENCE, vec![exposure]),
                group(
                    tags::PLANE_POSITION_SEQUENCE,
                    s,
                    &[tags::IMAGE_POSITION_PATIENT],
                ),
                group(
                    tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                    s,
                    &[
                        tags::RESCALE_INTERCEPT,
                        tags::RESCALE_SLOPE,
                        tags::RESCALE_TYPE,
                    ],
                ),
            ])
        })
        .collect();
    let kept = per_frame.len() - missing_groups;
    top.put(sq(
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        per_frame.into_iter().take(kept).collect(),
    ));
    // Native pixel data, decoded first where the classic files are compressed (the sample
    // is RLE).
    let frame_bytes = |i: usize| -> Vec<u8> {
        let s = &slices[i];
        if s.meta().transfer_syntax().trim_end_matches('\0') == uids::EXPLICIT_VR_LITTLE_ENDIAN {
            return s
                .element(tags::PIXEL_DATA)
                .unwrap()
                .to_bytes()
                .unwrap()
                .into_owned();
        }
        s.decode_pixel_data().unwrap().data().to_vec()
    };
    let pixels: Vec<u8> = order.iter().flat_map(|&i| frame_bytes(i)).collect();
    put(
        &mut top,
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::from(pixels),
    );
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .media_storage_sop_class_uid(ENHANCED_CT)
        .media_storage_sop_instance_uid(sop_uid);
    top.with_meta(meta).unwrap().write_to_file(out).unwrap();
}

fn only_volume(path: &Path) -> Series {
    let report = scan_path(path, &ImportOptions::default()).unwrap();
    let v = report.volumes();
    assert_eq!(v.len(), 1, "one volume series in {}", path.display());
    v[0].clone()
}

/// Builds the Enhanced CT from `classic` and checks its import against the classic one.
fn same_volume_as_classic(classic: &Series) {
    let files: Vec<PathBuf> = classic.images.iter().map(|h| h.path.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("enhanced.dcm");
    write_enhanced(&files, &file, 0);

    let enhanced = only_volume(&file);
    assert_eq!(enhanced.images.len(), files.len(), "one image per frame");
    assert!(enhanced.images.iter().all(|h| h.path == file));
    let a = load(classic, &LoadOptions::default(), None).unwrap();
    let b = load(&enhanced, &LoadOptions::default(), None).unwrap();
    assert_eq!(a.volume.geometry, b.volume.geometry, "geometry");
    assert!(a.volume.hu == b.volume.hu, "HU volume differs");
    // The acquisition record (scanner, kVp, mA, kernel, thickness, tilt, …) is the same.
    // (The multi-frame file is written uncompressed, whatever the classic files were.)
    let mut expected = serde_json::to_value(&classic.acquisition).unwrap();
    expected["transfer_syntax"] = uids::EXPLICIT_VR_LITTLE_ENDIAN.into();
    assert_eq!(
        serde_json::to_value(&enhanced.acquisition).unwrap(),
        expected
    );

    // The CLI converts it like any series, and the sidecar records the one file.
    let nii = dir.path().join("e.nii.gz");
    let (code, _, err) =
        common::hounsfield(&["convert", common::s(&file), "--out", common::s(&nii)]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn enhanced_ct_made_from_the_sample_imports_like_the_classic_series() {
    same_volume_as_classic(&only_volume(&common::sample()));
}

#[test]
fn enhanced_ct_made_from_s2030_imports_like_the_classic_series() {
    let Some(phantom) = common::phantom() else {
        return;
    };
    let report = scan_path(&phantom, &ImportOptions::default()).unwrap();
    let s2030 = report
        .series
        .iter()
        .find(|s| s.id == "203")
        .expect("series 203 in the phantom");
    same_volume_as_classic(s2030);
}

#[test]
fn an_enhanced_ct_with_a_frame_missing_its_groups_is_refused_with_the_reason() {
    let classic = only_volume(&common::sample());
    let files: Vec<PathBuf> = classic.images.iter().map(|h| h.path.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("enhanced.dcm");
    write_enhanced(&files, &file, 1);
    let report = scan_path(&file, &ImportOptions::default()).unwrap();
    assert!(report.volumes().is_empty());
    let reason = &report.skipped.first().expect("the file is skipped").reason;
    assert!(reason.contains("Per-frame Functional Groups"), "{reason}");
}
