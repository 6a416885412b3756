//! Calibration phantoms: CT series of objects of known geometry (ISO/IEC 3532-1 §6.5),
//! written as DICOM through the same writer and read back through the same import as real
//! scans, with their ground truth (`truth.json`) and an exact reference surface
//! (`reference.stl`, every vertex on the analytic surface).
//!
//! Voxels are the analytic partial volume of each object in the voxel's footprint (pixel ×
//! slice thickness along the plane normal, supersampled only where the exact distance says
//! the surface crosses the voxel), optionally blurred by a Gaussian PSF and given Gaussian
//! noise from a recorded seed. [`validate`] takes a phantom through a recipe and measures
//! the result against the truth.

pub mod reference;
pub mod shape;
pub mod validate;
mod voxelize;

pub use shape::{Axis, Shape};

use crate::dicom::write::{CtSlice, write_ct_slice};
use crate::geom::{LpsDirection, LpsPointMm};
use crate::io::atomic::write_atomic;
use glam::DVec3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Name in `truth.json`'s `format`.
pub const FORMAT: &str = "hounsfield-phantom";

/// Largest phantom the generator makes (voxels): 512 × 512 × 1024.
pub const MAX_VOXELS: u64 = 512 * 512 * 1024;

/// HU of the phantom's materials.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Materials {
    /// Outside the body.
    pub air_hu: f64,
    /// The body (a cylinder along z filling the field of view) around the objects.
    pub tissue_hu: f64,
    /// Every object.
    pub bone_hu: f64,
}

impl Default for Materials {
    fn default() -> Self {
        Materials {
            air_hu: -1000.0,
            tissue_hu: 40.0,
            bone_hu: 1040.0,
        }
    }
}

impl Materials {
    /// The threshold half-way between the objects and the tissue around them.
    pub fn half_way_hu(&self) -> f64 {
        (self.tissue_hu + self.bone_hu) / 2.0
    }
}

/// One named object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Object {
    /// Its name in the truth and the validation (unique).
    pub name: String,
    /// Its geometry.
    pub shape: Shape,
}

/// Everything the generator needs; recorded whole in `truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhantomSpec {
    /// Pixel spacing in the image plane, mm (square pixels).
    pub pixel_spacing_mm: f64,
    /// Table movement between slices, mm (with tilt, the distance between planes is this
    /// times cos(tilt)).
    pub slice_increment_mm: f64,
    /// Nominal slice thickness (width of the slice profile along the plane normal), mm.
    pub slice_thickness_mm: f64,
    /// Gantry tilt about the x axis, degrees.
    pub gantry_tilt_deg: f64,
    /// Square field of view (rows = columns = fov / pixel spacing), mm.
    pub field_of_view_mm: f64,
    /// Where the grid's centre lies relative to the objects' origin, mm. Not a multiple
    /// of any usual spacing, so that faces fall neither on voxel centres (a voxel exactly
    /// half full is a tie for a half-way threshold) nor on voxel boundaries — as in a real
    /// scan, where nothing is aligned with the grid.
    pub grid_offset_mm: [f64; 3],
    /// Samples per voxel edge where a surface crosses the voxel (n³ per voxel).
    pub supersampling: u32,
    /// Gaussian point-spread function, full width at half maximum, mm (0: none).
    pub blur_fwhm_mm: f64,
    /// Gaussian noise, standard deviation, HU (0: none).
    pub noise_sd_hu: f64,
    /// Seed of the noise.
    pub seed: u64,
    /// HU of air, tissue and the objects.
    pub materials: Materials,
    /// Study Date written (YYYYMMDD).
    pub study_date: String,
    /// The objects (they must not touch: each keeps a margin of clear tissue).
    pub objects: Vec<Object>,
    /// Larger table steps after some slices (variable slice distance, missing slices).
    #[serde(default)]
    pub slice_gaps: Vec<SliceGap>,
}

/// A larger table step between two slices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceGap {
    /// The slice (from 1) after which the step is larger.
    pub after_slice: usize,
    /// How much larger, mm.
    pub extra_mm: f64,
}

/// Clear tissue kept around every object, mm: the validation attributes a surface point to
/// the object within this distance.
pub const CLEARANCE_MM: f64 = 4.0;

/// The standard objects: spheres of 20, 10 and 5 mm, a cylinder along x, three thin plates
/// (2, 1, 0.5 mm thick along x), a staircase of four steps, and a skull-like dome with a
/// 16 mm circular defect. Placed asymmetrically so that a swapped or mirrored axis moves
/// every centroid; all within z ∈ [−10, 10] mm.
pub fn standard_objects() -> Vec<Object> {
    let o = |name: &str, shape| Object {
        name: name.into(),
        shape,
    };
    vec![
        o(
            "sphere-20",
            Shape::Sphere {
                centre_mm: [-30.0, -30.0, 0.0],
                diameter_mm: 20.0,
            },
        ),
        o(
            "sphere-10",
            Shape::Sphere {
                centre_mm: [-5.0, -30.0, 2.0],
                diameter_mm: 10.0,
            },
        ),
        o(
            "sphere-5",
            Shape::Sphere {
                centre_mm: [12.0, -30.0, -3.0],
                diameter_mm: 5.0,
            },
        ),
        o(
            "cylinder-x",
            Shape::Cylinder {
                centre_mm: [38.0, -25.0, 0.5],
                axis: Axis::X,
                diameter_mm: 10.0,
                length_mm: 30.0,
            },
        ),
        o(
            "plate-2",
            Shape::Block {
                centre_mm: [-35.0, 3.0, 0.0],
                size_mm: [2.0, 20.0, 16.0],
            },
        ),
        o(
            "plate-1",
            Shape::Block {
                centre_mm: [-25.0, 3.0, 0.0],
                size_mm: [1.0, 20.0, 16.0],
            },
        ),
        o(
            "plate-0.5",
            Shape::Block {
                centre_mm: [-15.0, 3.0, 0.0],
                size_mm: [0.5, 20.0, 16.0],
            },
        ),
        o(
            "steps",
            Shape::Steps {
                corner_mm: [0.0, -3.0, -8.0],
                step_width_mm: 6.0,
                heights_mm: vec![16.0, 12.0, 8.0, 4.0],
                depth_mm: 12.0,
            },
        ),
        o(
            "dome",
            Shape::Dome {
                centre_mm: [-5.0, 38.0, -18.5],
                outer_radius_mm: 25.0,
                thickness_mm: 4.0,
                defect_diameter_mm: 16.0,
                cap_deg: 50.0,
            },
        ),
    ]
}

impl Default for PhantomSpec {
    fn default() -> Self {
        PhantomSpec {
            pixel_spacing_mm: 0.5,
            slice_increment_mm: 0.5,
            slice_thickness_mm: 0.5,
            gantry_tilt_deg: 0.0,
            field_of_view_mm: 140.0,
            grid_offset_mm: [0.1371, 0.0713, 0.1637],
            supersampling: 5,
            blur_fwhm_mm: 0.0,
            noise_sd_hu: 0.0,
            seed: 1,
            materials: Materials::default(),
            study_date: "20261201".into(),
            objects: standard_objects(),
            slice_gaps: Vec::new(),
        }
    }
}

/// What went wrong making a phantom.
#[derive(Debug, thiserror::Error)]
pub enum PhantomError {
    /// The spec cannot make a phantom.
    #[error("{0}")]
    Spec(String),
    /// Writing failed.
    #[error("{0}")]
    Io(String),
}

/// The voxel grid of a phantom, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Rows per slice.
    pub rows: usize,
    /// Columns per slice.
    pub columns: usize,
    /// Slices.
    pub slices: usize,
    /// Image Position (Patient) of the first slice, LPS mm.
    pub first_position_mm: [f64; 3],
    /// Direction of increasing column index.
    pub col_dir: [f64; 3],
    /// Direction of increasing row index (tilted about x by the gantry tilt).
    pub row_dir: [f64; 3],
    /// Table movement between slices (along +z), mm.
    pub slice_increment_mm: f64,
    /// Distance between slice planes along their normal, mm (without the gaps).
    pub slice_distance_mm: f64,
    /// Table position of each slice from the first, mm (the increments and the gaps;
    /// empty in phantoms made before gaps existed: every step is the increment).
    #[serde(default)]
    pub table_mm: Vec<f64>,
}

impl Grid {
    /// Image plane normal (col_dir × row_dir).
    pub fn normal(&self) -> DVec3 {
        DVec3::from(self.col_dir).cross(DVec3::from(self.row_dir))
    }

    /// Centre of voxel `(k, j, i)`, LPS mm.
    pub fn position(&self, k: usize, j: usize, i: usize, spacing: f64) -> DVec3 {
        DVec3::from(self.first_position_mm)
            + DVec3::Z
                * self
                    .table_mm
                    .get(k)
                    .copied()
                    .unwrap_or(k as f64 * self.slice_increment_mm)
            + DVec3::from(self.row_dir) * (j as f64 * spacing)
            + DVec3::from(self.col_dir) * (i as f64 * spacing)
    }
}

/// One object in the truth, with its exact measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthObject {
    /// Name.
    pub name: String,
    /// Geometry.
    pub shape: Shape,
    /// Exact volume, mm³.
    pub volume_mm3: f64,
    /// Exact centroid, LPS mm.
    pub centroid_mm: [f64; 3],
    /// Bounding box minimum, LPS mm.
    pub bounds_min_mm: [f64; 3],
    /// Bounding box maximum, LPS mm.
    pub bounds_max_mm: [f64; 3],
}

/// `truth.json`: the spec, the grid and the objects' exact measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// [`FORMAT`].
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// Hounsfield's version that generated it.
    pub generator: String,
    /// The spec.
    pub spec: PhantomSpec,
    /// The grid written.
    pub grid: Grid,
    /// The objects.
    pub objects: Vec<TruthObject>,
    /// Radius of the tissue cylinder (the body) along z through the origin, mm.
    pub body_radius_mm: f64,
    /// Feasibility findings the import must report for this phantom (codes).
    pub expected_findings: Vec<String>,
    /// Study Instance UID.
    pub study_uid: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// Series Number.
    pub series_number: i32,
}

impl Truth {
    /// Reads `truth.json` from a phantom folder.
    pub fn read(dir: &Path) -> Result<Truth, PhantomError> {
        let p = dir.join("truth.json");
        let text = std::fs::read_to_string(&p).map_err(|e| {
            PhantomError::Spec(format!(
                "{} is not a Hounsfield phantom folder (cannot read {}: {e}); make one with `hounsfield phantom --out DIR`",
                dir.display(),
                p.display()
            ))
        })?;
        let t: Truth = serde_json::from_str(&text)
            .map_err(|e| PhantomError::Spec(format!("{}: {e}", p.display())))?;
        if t.format != FORMAT || t.version != 1 {
            return Err(PhantomError::Spec(format!(
                "{}: format `{}` version {} is not {FORMAT} version 1",
                p.display(),
                t.format,
                t.version
            )));
        }
        for o in &t.objects {
            o.shape.check().map_err(|e| {
                PhantomError::Spec(format!("{}: object `{}`: {e}", p.display(), o.name))
            })?;
        }
        Ok(t)
    }
}

fn positive(name: &str, v: f64, max: f64) -> Result<(), PhantomError> {
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(())
    } else {
        Err(PhantomError::Spec(format!(
            "{name} must be greater than 0 and at most {max}, not {v}"
        )))
    }
}

impl PhantomSpec {
    /// Checks the parameters and lays out the grid; refuses absurd sizes before allocating.
    pub fn grid(&self) -> Result<(Grid, f64), PhantomError> {
        positive("pixel_spacing_mm", self.pixel_spacing_mm, 10.0)?;
        positive("slice_increment_mm", self.slice_increment_mm, 20.0)?;
        positive("slice_thickness_mm", self.slice_thickness_mm, 20.0)?;
        positive("field_of_view_mm", self.field_of_view_mm, 1000.0)?;
        if !(self.gantry_tilt_deg.is_finite() && self.gantry_tilt_deg.abs() <= 30.0) {
            return Err(PhantomError::Spec(format!(
                "gantry_tilt_deg must lie within ±30°, not {}",
                self.gantry_tilt_deg
            )));
        }
        if !(1..=16).contains(&self.supersampling) {
            return Err(PhantomError::Spec(format!(
                "supersampling must be 1 to 16 samples per edge, not {}",
                self.supersampling
            )));
        }
        if !(self.blur_fwhm_mm.is_finite() && (0.0..=20.0).contains(&self.blur_fwhm_mm)) {
            return Err(PhantomError::Spec(format!(
                "blur_fwhm_mm must lie within 0–20 mm, not {}",
                self.blur_fwhm_mm
            )));
        }
        if !(self.noise_sd_hu.is_finite() && (0.0..=1000.0).contains(&self.noise_sd_hu)) {
            return Err(PhantomError::Spec(format!(
                "noise_sd_hu must lie within 0–1000 HU, not {}",
                self.noise_sd_hu
            )));
        }
        let m = self.materials;
        for (n, v) in [
            ("air_hu", m.air_hu),
            ("tissue_hu", m.tissue_hu),
            ("bone_hu", m.bone_hu),
        ] {
            if !(v.is_finite() && (-1024.0..=3071.0).contains(&v)) {
                return Err(PhantomError::Spec(format!(
                    "materials.{n} must lie within −1024…3071 HU, not {v}"
                )));
            }
        }
        if self.study_date.len() != 8 || !self.study_date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhantomError::Spec(format!(
                "study_date must be YYYYMMDD, not `{}`",
                self.study_date
            )));
        }
        if self.objects.is_empty() {
            return Err(PhantomError::Spec(
                "a phantom needs at least one object".into(),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for o in &self.objects {
            o.shape
                .check()
                .map_err(|e| PhantomError::Spec(format!("object `{}`: {e}", o.name)))?;
            if o.name.is_empty() || !names.insert(o.name.as_str()) {
                return Err(PhantomError::Spec(format!(
                    "object names must be unique and not empty (`{}`)",
                    o.name
                )));
            }
        }
        // Objects must keep their clearance from each other (boxes as a quick bound first).
        for (a, oa) in self.objects.iter().enumerate() {
            for ob in &self.objects[a + 1..] {
                let (la, ha) = oa.shape.bounds_mm();
                let (lb, hb) = ob.shape.bounds_mm();
                let gap = (la - hb).max(lb - ha).max_element();
                if gap < CLEARANCE_MM {
                    return Err(PhantomError::Spec(format!(
                        "objects `{}` and `{}` are {gap:.1} mm apart (bounding boxes); keep {CLEARANCE_MM} mm between objects",
                        oa.name, ob.name
                    )));
                }
            }
        }
        let n = (self.field_of_view_mm / self.pixel_spacing_mm).round();
        if !(8.0..=4096.0).contains(&n) {
            return Err(PhantomError::Spec(format!(
                "field of view / pixel spacing gives a {n} × {n} matrix; use 8 to 4096"
            )));
        }
        let n = n as usize;
        let spacing = self.pixel_spacing_mm;
        let off = DVec3::from(self.grid_offset_mm);
        if !off.is_finite() || off.abs().max_element() > 10.0 {
            return Err(PhantomError::Spec(format!(
                "grid_offset_mm must be finite and within 10 mm, not {:?}",
                self.grid_offset_mm
            )));
        }
        // The body is centred on the objects' origin and stays inside the field of view.
        let body_radius = spacing * n as f64 / 2.0 - 2.0 * spacing - off.x.abs().max(off.y.abs());
        let (mut lo, mut hi) = (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY));
        for o in &self.objects {
            let (l, h) = o.shape.bounds_mm();
            lo = lo.min(l);
            hi = hi.max(h);
            let far = [l.x.abs(), h.x.abs()]
                .iter()
                .fold(0.0f64, |a, b| a.max(*b))
                .hypot([l.y.abs(), h.y.abs()].iter().fold(0.0f64, |a, b| a.max(*b)));
            if far + CLEARANCE_MM > body_radius {
                return Err(PhantomError::Spec(format!(
                    "object `{}` reaches {far:.1} mm from the axis; the body (radius {body_radius:.1} mm) must surround it with {CLEARANCE_MM} mm: widen field_of_view_mm",
                    o.name
                )));
            }
        }
        let tilt = self.gantry_tilt_deg.to_radians();
        // Rows tilt so that the slice vector gives the tag's sign (as dcm2niix reads it).
        let row_dir = DVec3::new(0.0, tilt.cos(), -tilt.sin());
        // A tilted plane through (0, 0, z) reaches z + y·tan(tilt) at y: cover every object.
        let reach = lo.y.abs().max(hi.y.abs()) * tilt.tan().abs();
        let margin = 2.0 + self.slice_thickness_mm;
        let z0 = lo.z - margin - reach;
        let z1 = hi.z + margin + reach;
        for g in &self.slice_gaps {
            if !(g.extra_mm.is_finite() && g.extra_mm > 0.0 && g.extra_mm <= 20.0)
                || g.after_slice == 0
            {
                return Err(PhantomError::Spec(format!(
                    "slice_gaps: give a slice from 1 and 0 < extra ≤ 20 mm, not {}:{}",
                    g.after_slice, g.extra_mm
                )));
            }
        }
        // Slices every increment (plus the gaps) until the objects are covered.
        let mut table = vec![0.0f64];
        while table.last().copied().unwrap_or(0.0) < z1 - z0 && table.len() <= 4096 {
            let k = table.len();
            let extra: f64 = self
                .slice_gaps
                .iter()
                .filter(|g| g.after_slice == k)
                .map(|g| g.extra_mm)
                .sum();
            table.push(table[k - 1] + self.slice_increment_mm + extra);
        }
        let slices = table.len();
        if let Some(g) = self.slice_gaps.iter().find(|g| g.after_slice >= slices) {
            return Err(PhantomError::Spec(format!(
                "slice_gaps: slice {} is not followed by another (the phantom has {slices})",
                g.after_slice
            )));
        }
        let voxels = (n * n) as u64 * slices as u64;
        if voxels > MAX_VOXELS || slices > 4096 {
            return Err(PhantomError::Spec(format!(
                "{n} × {n} × {slices} voxels is more than a phantom may have ({MAX_VOXELS}); use a coarser spacing or fewer objects"
            )));
        }
        let half = (n as f64 - 1.0) / 2.0 * spacing;
        let first = DVec3::new(off.x, off.y, z0 + off.z) - DVec3::X * half - row_dir * half;
        Ok((
            Grid {
                rows: n,
                columns: n,
                slices,
                first_position_mm: first.to_array(),
                col_dir: [1.0, 0.0, 0.0],
                row_dir: row_dir.to_array(),
                slice_increment_mm: self.slice_increment_mm,
                slice_distance_mm: self.slice_increment_mm * tilt.cos(),
                table_mm: table,
            },
            body_radius,
        ))
    }
}

/// A DICOM UID (2.25 form) derived from the spec and a role, so the same spec gives the
/// same UIDs.
fn uid(spec_hash: &blake3::Hash, role: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(spec_hash.as_bytes());
    h.update(role.as_bytes());
    let b = h.finalize();
    let mut x = [0u8; 16];
    x.copy_from_slice(&b.as_bytes()[..16]);
    // A 2.25 UID is a UUID as a decimal integer: 122 bits keep it a valid variant-1 UUID.
    let v = u128::from_be_bytes(x) >> 6;
    format!("2.25.{v}")
}

/// Findings the import must raise for this spec (`old-acquisition` depends on the day it
/// is read and is left out).
fn expected_findings(spec: &PhantomSpec, grid: &Grid) -> Vec<String> {
    use crate::feasibility::{FindingCode as F, limits};
    let mut v = Vec::new();
    let mut expect = |yes: bool, code: F| {
        if yes {
            v.push(code.as_str().to_string());
        }
    };
    expect(
        grid.slice_distance_mm > limits::MAX_SLICE_DISTANCE_MM,
        F::SliceDistanceAbove1mm,
    );
    expect(
        spec.gantry_tilt_deg.abs() > limits::TILT_TOLERANCE_DEG,
        F::GantryTilt,
    );
    expect(
        spec.pixel_spacing_mm > limits::MAX_PIXEL_SPACING_MM,
        F::LowInPlaneResolution,
    );
    expect(grid.slices < limits::MIN_SLICES, F::TooFewSlices);
    let steps: Vec<f64> = grid.table_mm.windows(2).map(|w| w[1] - w[0]).collect();
    let mut sorted = steps.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let cos = spec.gantry_tilt_deg.to_radians().cos();
    // As the import counts them: gaps of 1.5 medians are missing slices; the other
    // distances are variable when their range exceeds the tolerance.
    let non_gap: Vec<f64> = steps
        .iter()
        .copied()
        .filter(|s| *s < limits::MISSING_GAP_RATIO * median)
        .collect();
    let range = non_gap.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - non_gap.iter().copied().fold(f64::INFINITY, f64::min);
    expect(
        range * cos > limits::SLICE_DISTANCE_TOLERANCE_MM,
        F::VariableSliceDistance,
    );
    expect(
        steps
            .iter()
            .any(|s| *s >= limits::MISSING_GAP_RATIO * median),
        F::MissingSlices,
    );
    expect(spec.noise_sd_hu > limits::MAX_NOISE_SIGMA_HU, F::NoiseHigh);
    v
}

/// Today (UTC) as a DICOM date.
pub fn today() -> String {
    let (y, m, d) = crate::segment::log::civil_from_days(crate::feasibility::today_days());
    format!("{y:04}{m:02}{d:02}")
}

/// Generates the phantom into `dir` (created; must not exist or be empty): one DICOM file
/// per slice, `truth.json` and `reference.stl`. Returns the truth.
pub fn generate(spec: &PhantomSpec, dir: &Path) -> Result<Truth, PhantomError> {
    let (grid, body_radius) = spec.grid()?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| PhantomError::Io(format!("{}: {e}", dir.display())))?
            .next()
            .is_some()
    {
        return Err(PhantomError::Spec(format!(
            "{} exists and is not empty; give a new folder",
            dir.display()
        )));
    }
    let hu = voxelize::voxelize(spec, &grid, body_radius)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| PhantomError::Io(format!("cannot create {}: {e}", dir.display())))?;
    let spec_json = serde_json::to_vec(spec).map_err(|e| PhantomError::Io(e.to_string()))?;
    let spec_hash = blake3::hash(&spec_json);
    let study_uid = uid(&spec_hash, "study");
    let series_uid = uid(&spec_hash, "series");
    let frame_uid = uid(&spec_hash, "frame-of-reference");
    let series_number = 1;
    let description = format!(
        "Hounsfield phantom {} mm x {} mm, tilt {} deg",
        spec.pixel_spacing_mm, spec.slice_increment_mm, spec.gantry_tilt_deg
    );
    let plane = grid.rows * grid.columns;
    let row_dir = LpsDirection::new(DVec3::from(grid.row_dir))
        .ok_or_else(|| PhantomError::Spec("degenerate row direction".into()))?;
    let tilt_tag = (spec.gantry_tilt_deg != 0.0).then_some(spec.gantry_tilt_deg);
    (0..grid.slices).into_par_iter().try_for_each(|k| {
        let pos = grid.position(k, 0, 0, spec.pixel_spacing_mm);
        let sop = uid(&spec_hash, &format!("image {k}"));
        write_ct_slice(
            &dir.join(format!("IM{:05}.dcm", k + 1)),
            &CtSlice {
                study_uid: &study_uid,
                series_uid: &series_uid,
                sop_uid: &sop,
                series_number,
                instance_number: k as i32 + 1,
                position: LpsPointMm(pos),
                col_dir: LpsDirection::X,
                row_dir,
                pixel_spacing_mm: [spec.pixel_spacing_mm, spec.pixel_spacing_mm],
                rows: grid.rows as u16,
                columns: grid.columns as u16,
                hu: &hu[k * plane..(k + 1) * plane],
                gantry_tilt_deg: tilt_tag,
                study_date: &spec.study_date,
                slice_thickness_mm: spec.slice_thickness_mm,
                frame_of_reference_uid: Some(&frame_uid),
                series_description: Some(&description),
            },
        )
        .map_err(|e| PhantomError::Io(format!("cannot write slice {}: {e}", k + 1)))
    })?;
    let objects = spec
        .objects
        .iter()
        .map(|o| {
            let (lo, hi) = o.shape.bounds_mm();
            TruthObject {
                name: o.name.clone(),
                shape: o.shape.clone(),
                volume_mm3: o.shape.volume_mm3(),
                centroid_mm: o.shape.centroid_mm().to_array(),
                bounds_min_mm: lo.to_array(),
                bounds_max_mm: hi.to_array(),
            }
        })
        .collect();
    let expected = expected_findings(spec, &grid);
    let truth = Truth {
        format: FORMAT.into(),
        version: 1,
        generator: format!("hounsfield {}", env!("CARGO_PKG_VERSION")),
        spec: spec.clone(),
        grid,
        objects,
        body_radius_mm: body_radius,
        expected_findings: expected,
        study_uid,
        series_uid,
        series_number,
    };
    let reference = reference::surface(&truth.objects, spec.pixel_spacing_mm.min(0.5) / 2.0);
    crate::export::stl::write_binary(
        &dir.join("reference.stl"),
        &reference.vertices,
        &reference.triangles,
        "Hounsfield phantom reference surface (vertices on the analytic surface), LPS mm",
    )
    .map_err(|e| PhantomError::Io(format!("cannot write reference.stl: {e}")))?;
    let text = serde_json::to_string_pretty(&truth).map_err(|e| PhantomError::Io(e.to_string()))?;
    write_atomic(&dir.join("truth.json"), |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })
    .map_err(|e| PhantomError::Io(format!("cannot write truth.json: {e}")))?;
    Ok(truth)
}
