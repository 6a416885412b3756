//! From file headers to series: grouping, splitting, classification, sorting along the
//! slice normal, slice distances, gantry tilt, and the geometry findings.

use super::acquisition::{AcquisitionRecord, MinMedMax, PatientRecord, is_lossy_transfer_syntax};
use super::error::{FileError, SkippedFile};
use super::header::ImageHeader;
use super::scan::ScanResult;
use crate::feasibility::{Finding, FindingCode, Severity, days_from_dicom_date, limits};
use crate::geom::LpsDirection;
use serde::Serialize;
use std::collections::BTreeMap;

/// What a series is, for modelling purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeriesKind {
    /// A stack of parallel slices that can become a volume.
    Volume,
    /// Scout / localizer images.
    Localizer,
    /// Derived secondary images (reformats, annotations) — not original data.
    Derived,
    /// Secondary capture (screenshots, dose reports).
    SecondaryCapture,
    /// One image only.
    SingleImage,
    /// Anything else (non-CT, multi-frame, no geometry).
    Other,
}

impl SeriesKind {
    /// Name as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Volume => "volume",
            Self::Localizer => "localizer",
            Self::Derived => "derived",
            Self::SecondaryCapture => "secondary-capture",
            Self::SingleImage => "single-image",
            Self::Other => "other",
        }
    }
}

/// Options of the import.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Per-file safety limits.
    pub limits: super::guard::GuardLimits,
    /// Acquisitions older than this many days get `old-acquisition`.
    pub max_age_days: i64,
    /// "Today" in days since 1970-01-01, for the age check.
    pub today_days: i64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            limits: Default::default(),
            max_age_days: limits::DEFAULT_MAX_AGE_DAYS,
            today_days: crate::feasibility::today_days(),
        }
    }
}

/// The geometry of a sorted slice stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Direction of increasing column index.
    pub col_dir: LpsDirection,
    /// Direction of increasing row index.
    pub row_dir: LpsDirection,
    /// Slice normal: `col_dir × row_dir`.
    pub normal: LpsDirection,
    /// Each slice's position along the normal, mm, increasing.
    pub depths_mm: Vec<f64>,
    /// Distances between adjacent slices along the normal, mm.
    pub distances_mm: Vec<f64>,
    /// Each slice's in-plane offset from slice 0, `(along col_dir, along row_dir)`, mm.
    /// Non-zero offsets growing with depth are the shear of a gantry tilt.
    pub offsets_mm: Vec<(f64, f64)>,
    /// Tilt measured from the shear, degrees (unsigned).
    pub tilt_measured_deg: f64,
    /// Pixel spacing `[row, column]`, mm.
    pub pixel_spacing_mm: [f64; 2],
}

impl Stack {
    /// Whether the stack is already a regular grid: no tilt, uniform distance.
    pub fn is_regular(&self) -> bool {
        self.tilt_measured_deg <= limits::TILT_TOLERANCE_DEG && self.is_uniform()
    }

    /// Whether all distances agree with the median within tolerance.
    pub fn is_uniform(&self) -> bool {
        match MinMedMax::of(&self.distances_mm) {
            Some(m) => m.max - m.min <= limits::SLICE_DISTANCE_TOLERANCE_MM,
            None => true,
        }
    }

    /// Slice distance statistics.
    pub fn distance(&self) -> Option<MinMedMax> {
        MinMedMax::of(&self.distances_mm)
    }
}

/// One series, as found by the scan.
#[derive(Debug, Clone)]
pub struct Series {
    /// Selector users give to `--series`: the Series Number, with `:part` when a series
    /// was split, or `#index` when it has no number.
    pub id: String,
    /// Study Instance UID.
    pub study_uid: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// Series Number.
    pub series_number: Option<i64>,
    /// Series Description.
    pub description: String,
    /// Modality.
    pub modality: String,
    /// Classification.
    pub kind: SeriesKind,
    /// Why the series cannot be loaded as a volume, when it cannot.
    pub not_loadable: Option<String>,
    /// Images, sorted along the normal for volumes; duplicates removed.
    pub images: Vec<ImageHeader>,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub columns: u32,
    /// Pixel spacing `[row, column]`, mm.
    pub pixel_spacing_mm: Option<[f64; 2]>,
    /// Stack geometry (volumes only).
    pub stack: Option<Stack>,
    /// Feasibility findings.
    pub findings: Vec<Finding>,
    /// The acquisition protocol record.
    pub acquisition: AcquisitionRecord,
    /// Patient-identifying data, kept apart.
    pub patient: PatientRecord,
}

impl Series {
    /// True when a volume can be built from it.
    pub fn is_loadable(&self) -> bool {
        self.not_loadable.is_none()
    }

    /// Adds a finding unless one with that code exists.
    pub fn add_finding(&mut self, f: Finding) {
        if !self.findings.iter().any(|x| x.code == f.code) {
            self.findings.push(f);
        }
    }
}

/// The scan of a path turned into series.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Files looked at.
    pub files_scanned: usize,
    /// Files not used.
    pub skipped: Vec<SkippedFile>,
    /// Series found, in (study, series number, UID) order.
    pub series: Vec<Series>,
}

impl ScanReport {
    /// Finds a series by `--series` selector: its id, Series Number, or Series Instance UID.
    pub fn select(&self, selector: &str) -> Vec<&Series> {
        let s = selector.trim();
        let exact: Vec<&Series> = self
            .series
            .iter()
            .filter(|x| x.id == s || x.series_uid == s)
            .collect();
        if !exact.is_empty() {
            return exact;
        }
        self.series
            .iter()
            .filter(|x| x.series_number.is_some_and(|n| n.to_string() == s))
            .collect()
    }

    /// The volume series.
    pub fn volumes(&self) -> Vec<&Series> {
        self.series
            .iter()
            .filter(|s| s.kind == SeriesKind::Volume)
            .collect()
    }
}

/// Groups, splits, classifies and sorts the scanned headers.
pub fn build(scan: ScanResult, opts: &ImportOptions) -> ScanReport {
    let mut skipped = scan.skipped;
    let mut groups: BTreeMap<(String, String), Vec<ImageHeader>> = BTreeMap::new();
    for h in scan.headers {
        if !h.has_pixel_data {
            skipped.push(SkippedFile {
                reason: FileError::NoPixelData(format!("SOP class {}", h.sop_class_uid))
                    .to_string(),
                path: h.path,
            });
            continue;
        }
        groups
            .entry((h.study_uid.clone(), h.series_uid.clone()))
            .or_default()
            .push(h);
    }
    let mut series = Vec::new();
    for ((study_uid, series_uid), images) in groups {
        let parts = split(images);
        let n_parts = parts.len();
        for (i, part) in parts.into_iter().enumerate() {
            let part_no = (n_parts > 1).then_some(i + 1);
            series.extend(make_series(
                &study_uid,
                &series_uid,
                part,
                part_no,
                opts,
                &mut skipped,
            ));
        }
    }
    series.sort_by(|a, b| {
        (&a.study_uid, a.series_number, &a.series_uid, &a.id).cmp(&(
            &b.study_uid,
            b.series_number,
            &b.series_uid,
            &b.id,
        ))
    });
    for (i, s) in series.iter_mut().enumerate() {
        if s.series_number.is_none() {
            s.id = format!("#{}", i + 1);
        }
    }
    ScanReport {
        files_scanned: scan.files_scanned,
        skipped,
        series,
    }
}

/// The attributes that must agree for images to share a volume.
fn shape_key(h: &ImageHeader) -> String {
    let r = |v: f64| (v * 1e4).round() as i64;
    let dir = |d: Option<LpsDirection>| {
        d.map_or("none".to_string(), |d| {
            let v = d.get();
            format!("{},{},{}", r(v.x), r(v.y), r(v.z))
        })
    };
    let ps = h
        .pixel_spacing_mm
        .map_or("none".to_string(), |p| format!("{},{}", r(p[0]), r(p[1])));
    format!(
        "{}x{}|{}|{}|{}|f{}|{}",
        h.rows,
        h.columns,
        dir(h.col_dir),
        dir(h.row_dir),
        ps,
        h.frames,
        h.image_type.get(2).cloned().unwrap_or_default()
    )
}

/// Splits a series that mixes sizes or orientations; splits by acquisition only when the
/// acquisitions overlap in space (repeated scans), so that axial step-and-shoot series with
/// one acquisition number per rotation stay whole.
fn split(images: Vec<ImageHeader>) -> Vec<Vec<ImageHeader>> {
    let mut by_shape: BTreeMap<String, Vec<ImageHeader>> = BTreeMap::new();
    for h in images {
        by_shape.entry(shape_key(&h)).or_default().push(h);
    }
    let mut out = Vec::new();
    for (_, group) in by_shape {
        let mut by_acq: BTreeMap<Option<i64>, Vec<ImageHeader>> = BTreeMap::new();
        for h in &group {
            by_acq
                .entry(h.acquisition_number)
                .or_default()
                .push(h.clone());
        }
        let overlapping = by_acq.len() > 1
            && has_duplicate_positions(&group)
            && by_acq
                .values()
                .all(|g| g.len() > 1 && !has_duplicate_positions(g));
        if overlapping {
            out.extend(by_acq.into_values());
        } else {
            out.push(group);
        }
    }
    out
}

fn has_duplicate_positions(images: &[ImageHeader]) -> bool {
    let mut z: Vec<f64> = images
        .iter()
        .filter_map(|h| {
            let n = h.col_dir?.cross(h.row_dir?)?;
            Some(h.position?.0.dot(n.get()))
        })
        .collect();
    z.sort_by(f64::total_cmp);
    z.windows(2)
        .any(|w| (w[1] - w[0]).abs() < limits::DUPLICATE_DISTANCE_MM)
}

fn is_secondary_capture(sop_class: &str) -> bool {
    sop_class.starts_with("1.2.840.10008.5.1.4.1.1.7")
}

fn classify(images: &[ImageHeader]) -> (SeriesKind, Option<String>) {
    let first = &images[0];
    if is_secondary_capture(&first.sop_class_uid) {
        return (
            SeriesKind::SecondaryCapture,
            Some(
                "secondary capture (a picture of a screen or report), not image data for modelling"
                    .into(),
            ),
        );
    }
    if first.image_type.get(2).is_some_and(|t| t == "LOCALIZER") {
        return (
            SeriesKind::Localizer,
            Some("localizer (scout) image: a projection, not slices of a volume".into()),
        );
    }
    if first.image_type.first().is_some_and(|t| t == "DERIVED")
        && first.image_type.get(1).is_some_and(|t| t == "SECONDARY")
    {
        return (
            SeriesKind::Derived,
            Some("derived secondary images, not original data".into()),
        );
    }
    if first.frames > 1 {
        return (
            SeriesKind::Other,
            Some("multi-frame images are not supported yet; export the series as single-frame images".into()),
        );
    }
    if first.samples_per_pixel != 1 {
        return (
            SeriesKind::Other,
            Some(format!(
                "colour images ({} samples per pixel) are not CT data",
                first.samples_per_pixel
            )),
        );
    }
    if images.len() == 1 {
        return (
            SeriesKind::SingleImage,
            Some("a single image cannot form a volume".into()),
        );
    }
    if first.modality != "CT" {
        return (SeriesKind::Other, None);
    }
    (SeriesKind::Volume, None)
}

fn make_series(
    study_uid: &str,
    series_uid: &str,
    mut images: Vec<ImageHeader>,
    part: Option<usize>,
    opts: &ImportOptions,
    skipped: &mut Vec<SkippedFile>,
) -> Option<Series> {
    images.sort_by(|a, b| {
        (a.instance_number, &a.path, a.frame).cmp(&(b.instance_number, &b.path, b.frame))
    });
    let (mut kind, mut not_loadable) = classify(&images);
    if matches!(kind, SeriesKind::Volume | SeriesKind::SingleImage)
        || (kind == SeriesKind::Other && not_loadable.is_none())
    {
        // Cross-sectional images without usable geometry cannot be placed: skip each.
        let (good, bad): (Vec<_>, Vec<_>) = images.into_iter().partition(has_geometry);
        for h in bad {
            let frame = h
                .frame
                .map(|k| format!(" (frame {})", k + 1))
                .unwrap_or_default();
            skipped.push(SkippedFile {
                reason: FileError::Geometry(format!(
                    "Image Position/Orientation (Patient) or Pixel Spacing missing or invalid{frame}"
                ))
                .to_string(),
                path: h.path,
            });
        }
        images = good;
        if images.is_empty() {
            return None;
        }
        if images.len() == 1 && kind == SeriesKind::Volume {
            kind = SeriesKind::SingleImage;
            not_loadable = Some("a single image cannot form a volume".into());
        }
    }
    let mut findings = Vec::new();
    let first = images[0].clone();
    let number = first.series_number;
    let id = match (number, part) {
        (Some(n), Some(p)) => format!("{n}:{p}"),
        (Some(n), None) => n.to_string(),
        (None, _) => String::new(),
    };
    let mut description = first.acq.series_description.clone().unwrap_or_default();
    if let Some(p) = part {
        description = format!("{description} (part {p}: {}x{})", first.columns, first.rows);
    }
    if first.modality != "CT" {
        findings.push(Finding::new(
            FindingCode::NotCt,
            Severity::Warning,
            format!(
                "modality is {}, not CT: Hounsfield units and the bone presets do not apply",
                if first.modality.is_empty() {
                    "missing"
                } else {
                    &first.modality
                }
            ),
        ));
    }
    match kind {
        SeriesKind::Localizer => findings.push(Finding::new(
            FindingCode::Localizer,
            Severity::Info,
            "localizer (scout) image; never stacked into a volume",
        )),
        SeriesKind::SecondaryCapture => findings.push(Finding::new(
            FindingCode::SecondaryCapture,
            Severity::Info,
            "secondary capture; not image data for modelling",
        )),
        SeriesKind::Derived => findings.push(Finding::new(
            FindingCode::DerivedImage,
            Severity::Info,
            format!(
                "derived image ({}); not original data",
                first.image_type.join("\\")
            ),
        )),
        _ => {
            if first.image_type.first().is_some_and(|t| t == "DERIVED") {
                findings.push(Finding::new(
                    FindingCode::DerivedImage,
                    Severity::Info,
                    format!(
                        "derived image ({}): processed from original data; check how before modelling",
                        first.image_type.join("\\")
                    ),
                ));
            }
        }
    }

    let mut stack = None;
    if kind == SeriesKind::Volume && images.len() >= 2 {
        let (s, dupes) = sort_stack(&mut images);
        if !dupes.is_empty() {
            findings.push(
                Finding::new(
                    FindingCode::DuplicateSlices,
                    Severity::Warning,
                    format!(
                        "{} image(s) at a position already occupied were left out of the stack (kept the lowest Instance Number): {}",
                        dupes.len(),
                        dupes
                            .iter()
                            .map(ImageHeader::name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_value(dupes.len() as f64),
            );
        }
        geometry_findings(&s, &images[0], &mut findings);
        stack = Some(s);
    }
    if kind == SeriesKind::Volume
        && let Some(ps) = first.pixel_spacing_mm
        && ps[0].max(ps[1]) > limits::MAX_PIXEL_SPACING_MM
    {
        findings.push(
            Finding::new(
                FindingCode::LowInPlaneResolution,
                Severity::Warning,
                format!(
                    "pixel spacing {:.3} x {:.3} mm is coarser than {} mm: thin bone will be lost",
                    ps[0],
                    ps[1],
                    limits::MAX_PIXEL_SPACING_MM
                ),
            )
            .with_value(ps[0].max(ps[1])),
        );
    }
    if kind == SeriesKind::Volume && images.len() < limits::MIN_SLICES {
        findings.push(
            Finding::new(
                FindingCode::TooFewSlices,
                if images.len() < 3 {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                format!(
                    "only {} slices (fewer than {})",
                    images.len(),
                    limits::MIN_SLICES
                ),
            )
            .with_value(images.len() as f64),
        );
    }
    let unmapped = images.iter().filter(|h| !h.hu_mapping_given).count();
    if unmapped > 0 && kind == SeriesKind::Volume {
        findings.push(
            Finding::new(
                FindingCode::RescaleMissing,
                Severity::Warning,
                format!(
                    "{unmapped} of {} images carry neither Rescale Intercept nor a Modality LUT: their stored values were taken as HU (intercept 0); check that bone reads several hundred HU before thresholding",
                    images.len()
                ),
            )
            .with_value(unmapped as f64),
        );
    }
    let lossy = images
        .iter()
        .any(|h| h.lossy_flag || is_lossy_transfer_syntax(&h.transfer_syntax));
    if lossy && kind == SeriesKind::Volume {
        findings.push(Finding::new(
            FindingCode::LossyCompression,
            Severity::Warning,
            format!(
                "lossy compression (transfer syntax {}, or Lossy Image Compression = 01): edges and HU values may be altered",
                first.transfer_syntax
            ),
        ));
    }
    if kind == SeriesKind::Volume
        && let Some(date) = first
            .acq
            .study_date
            .as_deref()
            .or(first.acq.series_date.as_deref())
        && let Some(days) = days_from_dicom_date(date)
    {
        let age = opts.today_days - days;
        if age > opts.max_age_days {
            findings.push(
                Finding::new(
                    FindingCode::OldAcquisition,
                    Severity::Warning,
                    format!(
                        "acquired {date}, {age} days ago (more than {} days): the anatomy may have changed since",
                        opts.max_age_days
                    ),
                )
                .with_value(age as f64),
            );
        }
    }
    let acquisition = acquisition_record(&images, stack.as_ref(), lossy);
    Some(Series {
        id,
        study_uid: study_uid.to_string(),
        series_uid: series_uid.to_string(),
        series_number: number,
        description,
        modality: first.modality.clone(),
        kind,
        not_loadable,
        rows: first.rows,
        columns: first.columns,
        pixel_spacing_mm: first.pixel_spacing_mm,
        patient: first.patient.clone(),
        images,
        stack,
        findings,
        acquisition,
    })
}

fn has_geometry(h: &ImageHeader) -> bool {
    h.position.is_some()
        && h.pixel_spacing_mm.is_some()
        && h.col_dir
            .zip(h.row_dir)
            .is_some_and(|(c, r)| c.cross(r).is_some() && c.get().dot(r.get()).abs() < 1e-3)
}

/// Sorts images along the normal; removes duplicates (returned). Requires geometry.
fn sort_stack(images: &mut Vec<ImageHeader>) -> (Stack, Vec<ImageHeader>) {
    let first = images[0].clone();
    let col_dir = first.col_dir.unwrap_or(LpsDirection::X);
    let row_dir = first.row_dir.unwrap_or(LpsDirection::Y);
    let normal = col_dir.cross(row_dir).unwrap_or(LpsDirection::Z);
    let depth = |h: &ImageHeader| h.position.map_or(0.0, |p| p.0.dot(normal.get()));
    images.sort_by(|a, b| {
        depth(a)
            .total_cmp(&depth(b))
            .then((a.instance_number, &a.path, a.frame).cmp(&(b.instance_number, &b.path, b.frame)))
    });
    let mut kept: Vec<ImageHeader> = Vec::with_capacity(images.len());
    let mut dupes = Vec::new();
    for h in images.drain(..) {
        match kept.last() {
            Some(prev) if (depth(&h) - depth(prev)).abs() < limits::DUPLICATE_DISTANCE_MM => {
                // Keep the lower instance number of the pair.
                if h.instance_number < prev.instance_number {
                    let old = kept.pop();
                    kept.push(h);
                    dupes.extend(old);
                } else {
                    dupes.push(h);
                }
            }
            _ => kept.push(h),
        }
    }
    *images = kept;
    let depths_mm: Vec<f64> = images.iter().map(depth).collect();
    let distances_mm: Vec<f64> = depths_mm.windows(2).map(|w| w[1] - w[0]).collect();
    let p0 = images[0].position.map_or(glam::DVec3::ZERO, |p| p.0);
    let offsets_mm: Vec<(f64, f64)> = images
        .iter()
        .map(|h| {
            let d = h.position.map_or(glam::DVec3::ZERO, |p| p.0) - p0;
            (d.dot(col_dir.get()), d.dot(row_dir.get()))
        })
        .collect();
    let depth_span = depths_mm.last().copied().unwrap_or(0.0) - depths_mm[0];
    let tilt_measured_deg = match offsets_mm.last() {
        Some(&(oc, or)) if depth_span > 0.0 => (oc.hypot(or) / depth_span).atan().to_degrees(),
        _ => 0.0,
    };
    let stack = Stack {
        col_dir,
        row_dir,
        normal,
        depths_mm,
        distances_mm,
        offsets_mm,
        tilt_measured_deg,
        pixel_spacing_mm: first.pixel_spacing_mm.unwrap_or([1.0, 1.0]),
    };
    (stack, dupes)
}

fn geometry_findings(s: &Stack, first: &ImageHeader, findings: &mut Vec<Finding>) {
    let Some(d) = s.distance() else {
        return;
    };
    if d.median > limits::MAX_SLICE_DISTANCE_MM + 1e-3 {
        findings.push(
            Finding::new(
                FindingCode::SliceDistanceAbove1mm,
                Severity::Warning,
                format!(
                    "slice distance {:.3} mm (median, from image positions) is above {} mm: thin bone between slices will be missed",
                    d.median,
                    limits::MAX_SLICE_DISTANCE_MM
                ),
            )
            .with_value(d.median),
        );
    }
    let gaps: Vec<(usize, f64)> = s
        .distances_mm
        .iter()
        .enumerate()
        .filter(|(_, x)| **x >= limits::MISSING_GAP_RATIO * d.median)
        .map(|(i, x)| (i, *x))
        .collect();
    if !gaps.is_empty() {
        findings.push(
            Finding::new(
                FindingCode::MissingSlices,
                Severity::Warning,
                format!(
                    "{} gap(s) of at least {}x the median distance {:.3} mm: {}; the gap is interpolated when resampling",
                    gaps.len(),
                    limits::MISSING_GAP_RATIO,
                    d.median,
                    gaps.iter()
                        .map(|(i, x)| format!("{x:.3} mm after slice {i} (at {:.2} mm)", s.depths_mm[*i]))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_value(gaps.len() as f64),
        );
    }
    let non_gap: Vec<f64> = s
        .distances_mm
        .iter()
        .copied()
        .filter(|x| *x < limits::MISSING_GAP_RATIO * d.median)
        .collect();
    if let Some(ng) = MinMedMax::of(&non_gap)
        && ng.max - ng.min > limits::SLICE_DISTANCE_TOLERANCE_MM
    {
        findings.push(
            Finding::new(
                FindingCode::VariableSliceDistance,
                Severity::Warning,
                format!(
                    "slice distance varies from {:.3} to {:.3} mm; the volume is resampled to a uniform distance",
                    ng.min, ng.max
                ),
            )
            .with_value(ng.max - ng.min),
        );
    }
    let tag = first.gantry_tilt_deg;
    if s.tilt_measured_deg > limits::TILT_TOLERANCE_DEG {
        let mut msg = format!(
            "gantry tilt: the image positions shear by {:.2} degrees{}; the volume is resampled onto an orthogonal grid to remove it",
            s.tilt_measured_deg,
            tag.map_or(" (no Gantry/Detector Tilt tag)".to_string(), |t| format!(
                " (Gantry/Detector Tilt tag: {t:.2} degrees)"
            ))
        );
        if let Some(t) = tag
            && (t.abs() - s.tilt_measured_deg).abs() > 0.5
        {
            msg.push_str("; the tag and the geometry disagree: the geometry is used");
        }
        findings.push(
            Finding::new(FindingCode::GantryTilt, Severity::Warning, msg)
                .with_value(s.tilt_measured_deg),
        );
    } else if let Some(t) = tag
        && t.abs() > limits::TILT_TOLERANCE_DEG
    {
        findings.push(
            Finding::new(
                FindingCode::GantryTilt,
                Severity::Info,
                format!(
                    "Gantry/Detector Tilt tag says {t:.2} degrees but the image positions show no shear (the scanner resampled already, or the orientation carries the tilt): no correction needed"
                ),
            )
            .with_value(0.0),
        );
    }
}

fn acquisition_record(
    images: &[ImageHeader],
    stack: Option<&Stack>,
    lossy: bool,
) -> AcquisitionRecord {
    let first = &images[0];
    let a = &first.acq;
    let collect = |f: fn(&ImageHeader) -> Option<f64>| {
        let v: Vec<f64> = images.iter().filter_map(f).collect();
        MinMedMax::of(&v)
    };
    AcquisitionRecord {
        manufacturer: a.manufacturer.clone(),
        model: a.model.clone(),
        station: a.station.clone(),
        software_versions: a.software_versions.clone(),
        study_date: a.study_date.clone(),
        study_time: a.study_time.clone(),
        series_date: a.series_date.clone(),
        series_time: a.series_time.clone(),
        acquisition_date: a.acquisition_date.clone(),
        series_description: a.series_description.clone(),
        protocol_name: a.protocol_name.clone(),
        body_part: a.body_part.clone(),
        kvp: a.kvp,
        tube_current_ma: collect(|h| h.tube_current_ma),
        exposure_mas: collect(|h| h.exposure_mas),
        exposure_time_ms: a.exposure_time_ms,
        ctdi_vol_mgy: a.ctdi_vol_mgy,
        slice_thickness_mm: a.slice_thickness_mm,
        slice_distance_mm: stack.and_then(Stack::distance),
        pixel_spacing_mm: first.pixel_spacing_mm,
        rows: first.rows,
        columns: first.columns,
        slices: images.len(),
        reconstruction_kernel: a.kernel.clone(),
        filter_type: a.filter_type.clone(),
        gantry_tilt_tag_deg: first.gantry_tilt_deg,
        gantry_tilt_measured_deg: stack.map(|s| s.tilt_measured_deg),
        patient_position: a.patient_position.clone(),
        contrast_agent: a.contrast_agent.clone(),
        spiral_pitch: a.spiral_pitch,
        reconstruction_diameter_mm: a.reconstruction_diameter_mm,
        data_collection_diameter_mm: a.data_collection_diameter_mm,
        transfer_syntax: first.transfer_syntax.clone(),
        lossy_compression: lossy,
    }
}
