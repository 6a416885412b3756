//! Series written by the tests as DICOM from the bundled sample's real slices, at chosen
//! positions, so they go through the real import path.

use hounsfield::dicom::write::{CtSlice, write_ct_slice};
use hounsfield::dicom::{ImportOptions, LoadOptions, load, scan_path};
use hounsfield::geom::{LpsDirection, LpsPointMm};
use hounsfield::volume::Volume;
use ndarray::{Array2, Axis};
use std::path::Path;

/// The bundled sample as a volume.
pub fn sample_volume() -> Volume {
    let report = scan_path(&super::sample(), &ImportOptions::default()).expect("sample scans");
    let series = report.volumes()[0];
    load(series, &LoadOptions::default(), None)
        .expect("sample loads")
        .volume
}

/// Writes slices `(position, pixels)` as one series into `dir`.
pub fn write_series(
    dir: &Path,
    slices: &[(LpsPointMm, Array2<i16>)],
    spacing: f64,
    tilt_tag: Option<f64>,
) {
    for (k, (pos, px)) in slices.iter().enumerate() {
        let (rows, cols) = px.dim();
        let data = px
            .as_standard_layout()
            .to_owned()
            .into_raw_vec_and_offset()
            .0;
        let sop = format!("2.25.1000{k}");
        write_ct_slice(
            &dir.join(format!("IM{k:04}.dcm")),
            &CtSlice {
                study_uid: "2.25.77",
                series_uid: "2.25.78",
                sop_uid: &sop,
                series_number: 7,
                instance_number: k as i32 + 1,
                position: *pos,
                col_dir: LpsDirection::X,
                row_dir: LpsDirection::Y,
                pixel_spacing_mm: [spacing, spacing],
                rows: rows as u16,
                columns: cols as u16,
                hu: &data,
                gantry_tilt_deg: tilt_tag,
                study_date: "20260101",
                slice_thickness_mm: 1.0,
                frame_of_reference_uid: None,
                series_description: None,
            },
        )
        .expect("slice written");
    }
}

/// Slices 20, 21, … of `v` placed straight above each other at `depths` (mm).
pub fn straight_slices(v: &Volume, depths: &[f64]) -> Vec<(LpsPointMm, Array2<i16>)> {
    depths
        .iter()
        .enumerate()
        .map(|(k, z)| {
            (
                LpsPointMm::new(-100.0, -80.0, 700.0 + z),
                v.hu.index_axis(Axis(0), (20 + k) % v.dims()[0]).to_owned(),
            )
        })
        .collect()
}

/// A folder holding slices 20, 21, … of `v` straight above each other at `depths` (mm),
/// written as one series with `v`'s pixel spacing.
pub fn straight_series(v: &Volume, depths: &[f64]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    write_series(
        dir.path(),
        &straight_slices(v, depths),
        v.geometry.spacing.col,
        None,
    );
    dir
}
