//! Validation of the 2D-to-3D conversion (ISO/IEC 3532-1 §6.5): a phantom goes through a
//! recipe — the same code as `hounsfield run`, into a case — and its mask and surface are
//! measured against the analytic truth, object by object.
//!
//! Each mask voxel and model vertex belongs to the object within [`CLEARANCE_MM`]/2 of it
//! (objects are generated at least that far apart). Per object: volume of the model and of
//! the mask against the exact volume; the model's volume centroid against the exact one
//! (catches shifts, swapped or mirrored axes, wrong spacing, uncorrected tilt); dimensions
//! from fits to the vertices of each face (a sphere fit, circle fit, or face planes); the
//! distance of every model vertex to the analytic surface (exact) and of every reference
//! point to the model; Dice of the mask against the analytic mask (voxel centres inside).

use super::reference::object_surface;
use super::shape::{Feature, Shape, steps_outline};
use super::{CLEARANCE_MM, Truth, TruthObject};
use crate::case::recipe::{self, Progress, Recipe};
use crate::case::{Case, CaseError};
pub use crate::compare::Distances;
use crate::mesh::Mesh;
use crate::mesh::bvh::Bvh;
use crate::segment::Mask;
use crate::volume::VolumeGeometry;
use glam::{DVec2, DVec3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Name in `validation.json`'s `format`.
pub const FORMAT: &str = "hounsfield-validation";

/// Fewest vertices on a face for a fit to mean anything.
const MIN_FIT_POINTS: usize = 12;

/// A dimension: what the truth says and what the model gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    /// What is measured ("diameter", "size x", "height of step 2", …).
    pub name: String,
    /// How: the fit it comes from.
    pub method: String,
    /// The true value, mm.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub true_mm: f64,
    /// The model's value, mm (`None`: too few vertices on the faces it needs).
    pub measured_mm: Option<f64>,
    /// `measured − true`, mm.
    pub error_mm: Option<f64>,
}

/// One object's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectResult {
    /// Object name.
    pub name: String,
    /// Kind of shape.
    pub kind: String,
    /// Whether the model has a surface there.
    pub found: bool,
    /// Model vertices attributed to the object.
    pub model_vertices: usize,
    /// Exact volume, mm³.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub true_volume_mm3: f64,
    /// Volume enclosed by the model's triangles of this object, mm³.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub model_volume_mm3: f64,
    /// `(model − true) / true`, %.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub model_volume_error_pct: f64,
    /// Mask voxels × voxel volume, mm³.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub mask_volume_mm3: f64,
    /// `(mask − true) / true`, %.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub mask_volume_error_pct: f64,
    /// Model volume centroid − exact centroid, LPS mm.
    #[serde(deserialize_with = "crate::compare::nan::de3")]
    pub centroid_offset_mm: [f64; 3],
    /// |centroid offset|, mm.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub centroid_error_mm: f64,
    /// Dimensions.
    pub dimensions: Vec<Dimension>,
    /// Each model vertex to the analytic surface (exact distance).
    pub model_to_truth: Distances,
    /// Each reference point (on the analytic surface) to the model.
    pub truth_to_model: Distances,
    /// Largest of both directions' maxima (the symmetric Hausdorff distance), mm.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub hausdorff_mm: f64,
    /// Dice of the mask against the analytic mask (voxel centre inside).
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub dice: f64,
}

/// What the import made of the phantom, against what was generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportCheck {
    /// Pixel spacing generated, mm.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub pixel_spacing_mm: f64,
    /// Slice distance along the plane normal generated, mm.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub slice_distance_mm: f64,
    /// Median slice distance the import measured, mm.
    pub measured_slice_distance_mm: Option<f64>,
    /// Tilt generated, degrees.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub tilt_deg: f64,
    /// Tilt the import measured from the positions, degrees.
    pub measured_tilt_deg: Option<f64>,
    /// Noise generated, HU.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub noise_sd_hu: f64,
    /// Noise σ the import estimated, HU.
    pub measured_noise_sd_hu: Option<f64>,
    /// Findings the phantom must raise.
    pub expected_findings: Vec<String>,
    /// Findings the import raised (`old-acquisition` left out: it depends on the day).
    pub findings: Vec<String>,
    /// Whether spacing, tilt and findings are what was generated.
    pub matches: bool,
}

/// `validation.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// [`FORMAT`].
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// Hounsfield's version.
    pub software: String,
    /// When (UTC).
    pub time: String,
    /// The phantom folder.
    pub phantom: String,
    /// The phantom's Series Instance UID.
    pub series_uid: String,
    /// The case the recipe ran into.
    pub case: String,
    /// The label measured.
    pub label: String,
    /// The segmentation's final hash when measured (a later change makes it stale).
    pub segmentation_hash: String,
    /// The recipe's segmentation and reconstruction, as run (JSON).
    pub recipe: serde_json::Value,
    /// The import check.
    pub import: ImportCheck,
    /// Per object.
    pub objects: Vec<ObjectResult>,
    /// Model vertices near no object (spurious surface).
    pub stray_model_vertices: usize,
    /// Mask voxels near no object.
    pub stray_mask_voxels: u64,
}

/// The recipe `validate` runs when given none: a threshold half-way between tissue and the
/// objects (values exactly half-way, voxels cut in half, left out), no smoothing, and the
/// findings the import raises acknowledged (they are compared with the truth's instead).
pub fn default_recipe(truth: &Truth, findings: &[String]) -> Result<Recipe, CaseError> {
    let half = truth.spec.materials.half_way_hu();
    let lo = half.floor() as i32 + 1;
    let text = serde_json::json!({
        "recipe": recipe::FORMAT,
        "version": 1,
        "source": {"path": "."},
        "purpose": {
            "category": "other",
            "text": format!("validation of the 2D-to-3D conversion on phantom {}", truth.series_uid),
        },
        "acknowledge": findings,
        "acknowledge_note": "a phantom of known geometry: its findings are compared with the ones it was generated to have",
        "label": "phantom",
        "segmentation": [{"op": "threshold", "lo": lo, "hi": 3071}],
        "reconstruction": {"allow_defects": true, "allow_open": true},
        "exports": [],
    });
    recipe::parse(&text.to_string())
}

/// Runs `recipe` (or [`default_recipe`]) on the phantom in `phantom` into the new case
/// `case_dir` and measures the result. The recipe's source is the phantom.
pub fn validate(
    phantom: &Path,
    recipe: Option<&Recipe>,
    case_dir: &Path,
    operator: Option<&str>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Validation, Case), CaseError> {
    let truth = Truth::read(phantom).map_err(|e| CaseError::Input(e.to_string()))?;
    progress(Progress::Stage("reading the phantom's findings".into()));
    let opened = crate::case::source::open(
        phantom,
        None,
        crate::case::record::LoadSettings {
            resample: true,
            slice_distance_mm: None,
        },
        &crate::dicom::ImportOptions::default(),
    )?;
    let raised: Vec<String> = opened
        .feasibility
        .findings
        .iter()
        .map(|f| f.code.as_str().to_string())
        .collect();
    drop(opened);
    let mut r = match recipe {
        Some(r) => r.clone(),
        None => default_recipe(&truth, &raised)?,
    };
    if let Some(o) = operator {
        r.operator = Some(o.to_string());
    }
    // The recipe's acknowledgements are for its own source: a phantom's findings are
    // compared with its truth instead. Nor does a validation attach a validation.
    r.acknowledge = raised.clone();
    r.acknowledge_note = Some(
        "a phantom of known geometry: its findings are compared with the ones it was generated to have"
            .into(),
    );
    r.validation = None;
    if r.reconstruction.is_none() {
        return Err(CaseError::Input(
            "the recipe reconstructs no surface (no \"reconstruction\"): a validation measures the model, so add one".into(),
        ));
    }
    let case = recipe::run(&r, Path::new("."), Some(phantom), case_dir, progress)?;
    progress(Progress::Stage("measuring against the truth".into()));
    let label = r
        .reconstruct_labels
        .first()
        .cloned()
        .unwrap_or_else(|| r.label.clone());
    let mask = case
        .session()
        .segmentation()
        .get(&label)
        .map(|l| l.mask.clone())
        .ok_or_else(|| CaseError::Input(format!("the recipe made no label `{label}`")))?;
    let seq = case
        .files()
        .reconstructions()
        .last()
        .map(|(s, _)| *s)
        .ok_or_else(|| CaseError::Failed("the recipe made no reconstruction".into()))?;
    let mesh = case
        .meshes(seq)
        .and_then(|m| m.iter().find(|(l, _)| *l == label))
        .map(|(_, m)| m.clone())
        .ok_or_else(|| CaseError::Failed(format!("no surface of `{label}` was made")))?;
    let geometry = case.volume().geometry;
    let rec = case.record();
    let mut findings: Vec<String> = raised
        .into_iter()
        .filter(|c| c != crate::feasibility::FindingCode::OldAcquisition.as_str())
        .collect();
    findings.sort();
    findings.dedup();
    let mut expected = truth.expected_findings.clone();
    expected.sort();
    let measured_slice = rec.feasibility.slice_distance_mm.as_ref().map(|m| m.median);
    let measured_tilt = rec.feasibility.tilt.measured_deg;
    let tilt_ok = measured_tilt.map_or(truth.spec.gantry_tilt_deg == 0.0, |t| {
        (t.abs() - truth.spec.gantry_tilt_deg.abs()).abs() < 0.01
    });
    let slice_ok = measured_slice.is_some_and(|m| (m - truth.grid.slice_distance_mm).abs() < 0.005);
    let import = ImportCheck {
        pixel_spacing_mm: truth.spec.pixel_spacing_mm,
        slice_distance_mm: truth.grid.slice_distance_mm,
        measured_slice_distance_mm: measured_slice,
        tilt_deg: truth.spec.gantry_tilt_deg,
        measured_tilt_deg: measured_tilt,
        noise_sd_hu: truth.spec.noise_sd_hu,
        measured_noise_sd_hu: rec
            .feasibility
            .pixel_stats
            .as_ref()
            .and_then(|p| p.noise_sigma_hu),
        matches: findings == expected && tilt_ok && slice_ok,
        expected_findings: expected,
        findings,
    };
    let (objects, stray_model_vertices, stray_mask_voxels) =
        measure(&truth, &mask, &geometry, &mesh);
    let v = Validation {
        format: FORMAT.into(),
        version: 1,
        software: format!("hounsfield {}", env!("CARGO_PKG_VERSION")),
        time: crate::segment::log::now_utc(),
        phantom: phantom.display().to_string(),
        series_uid: truth.series_uid.clone(),
        case: case.dir().display().to_string(),
        label,
        segmentation_hash: case.session().log().final_hash.clone(),
        recipe: serde_json::json!({
            "segmentation": r.segmentation,
            "reconstruction": r.reconstruction,
        }),
        import,
        objects,
        stray_model_vertices,
        stray_mask_voxels,
    };
    Ok((v, case))
}

/// The object (index) within half the clearance of `p`, with its distance and face.
fn owner(objects: &[TruthObject], p: DVec3) -> Option<(usize, f64, Feature)> {
    let reach = CLEARANCE_MM / 2.0;
    objects.iter().enumerate().find_map(|(i, o)| {
        let lo = DVec3::from(o.bounds_min_mm) - reach;
        let hi = DVec3::from(o.bounds_max_mm) + reach;
        if !(p.cmpge(lo).all() && p.cmple(hi).all()) {
            return None;
        }
        let (d, f) = o.shape.sdf_feature(p);
        (d < reach).then_some((i, d, f))
    })
}

/// Per-object mask counts: (mask voxels, analytic voxels, both), and stray mask voxels.
fn mask_counts(objects: &[TruthObject], mask: &Mask, g: &VolumeGeometry) -> (Vec<[u64; 3]>, u64) {
    let [n, rows, cols] = mask.dims();
    let per_slice: Vec<(Vec<[u64; 3]>, u64)> = (0..n)
        .into_par_iter()
        .map(|k| {
            let mut c = vec![[0u64; 3]; objects.len()];
            let mut stray = 0;
            for j in 0..rows {
                for i in 0..cols {
                    let p = g.position(crate::geom::VoxelIndex::new(k, j, i).into()).0;
                    let m = mask.get(k, j, i);
                    match owner(objects, p) {
                        Some((o, d, _)) => {
                            let t = d < 0.0;
                            c[o][0] += u64::from(m);
                            c[o][1] += u64::from(t);
                            c[o][2] += u64::from(m && t);
                        }
                        None => stray += u64::from(m),
                    }
                }
            }
            (c, stray)
        })
        .collect();
    let mut total = vec![[0u64; 3]; objects.len()];
    let mut stray = 0;
    for (c, s) in per_slice {
        for (t, x) in total.iter_mut().zip(c) {
            for q in 0..3 {
                t[q] += x[q];
            }
        }
        stray += s;
    }
    (total, stray)
}

fn measure(
    truth: &Truth,
    mask: &Mask,
    g: &VolumeGeometry,
    mesh: &Mesh,
) -> (Vec<ObjectResult>, usize, u64) {
    let objects = &truth.objects;
    let owners: Vec<Option<(usize, f64, Feature)>> = mesh
        .vertices
        .par_iter()
        .map(|v| owner(objects, DVec3::from(*v)))
        .collect();
    let stray_vertices = owners.iter().filter(|o| o.is_none()).count();
    let (counts, stray_voxels) = mask_counts(objects, mask, g);
    let voxel_mm3 = g.spacing.col * g.spacing.row * g.spacing.slice;
    let bvh = Bvh::build(&mesh.vertices, &mesh.triangles);
    let step = truth.spec.pixel_spacing_mm.min(0.5) / 2.0;
    let results = objects
        .iter()
        .enumerate()
        .map(|(idx, o)| {
            // Vertices by face, and the distances, of this object.
            let names = o.shape.feature_names();
            let mut faces: Vec<Vec<DVec3>> = vec![Vec::new(); names.len()];
            let mut to_truth = Vec::new();
            for (v, own) in mesh.vertices.iter().zip(&owners) {
                if let Some((i, d, f)) = own
                    && *i == idx
                {
                    faces[*f].push(DVec3::from(*v));
                    to_truth.push(*d);
                }
            }
            // Volume and centroid from this object's triangles (divergence theorem).
            let (mut vol, mut moment) = (0.0, DVec3::ZERO);
            for t in &mesh.triangles {
                if t.iter()
                    .all(|&k| owners[k as usize].is_some_and(|(i, _, _)| i == idx))
                {
                    let [a, b, c] = t.map(|k| DVec3::from(mesh.vertices[k as usize]));
                    let v6 = a.dot(b.cross(c));
                    vol += v6 / 6.0;
                    moment += (a + b + c) * (v6 / 24.0);
                }
            }
            let found = !to_truth.is_empty() && vol > 0.0;
            let centroid = if found { moment / vol } else { DVec3::NAN };
            let offset = centroid - DVec3::from(o.centroid_mm);
            let (reference, _) = object_surface(&o.shape, step);
            let to_model: Vec<f64> = if bvh.is_empty() {
                Vec::new()
            } else {
                reference
                    .vertices
                    .par_iter()
                    .filter_map(|p| bvh.signed_distance(*p).map(|d| -d))
                    .collect()
            };
            let model_to_truth = Distances::of(&to_truth);
            let truth_to_model = Distances::of(&to_model);
            let [m, t, both] = counts[idx];
            let dice = if m + t == 0 {
                f64::NAN
            } else {
                2.0 * both as f64 / (m + t) as f64
            };
            let pct = |x: f64| (x - o.volume_mm3) / o.volume_mm3 * 100.0;
            ObjectResult {
                name: o.name.clone(),
                kind: kind(&o.shape).into(),
                found,
                model_vertices: to_truth.len(),
                true_volume_mm3: o.volume_mm3,
                model_volume_mm3: vol,
                model_volume_error_pct: pct(vol),
                mask_volume_mm3: m as f64 * voxel_mm3,
                mask_volume_error_pct: pct(m as f64 * voxel_mm3),
                centroid_offset_mm: offset.to_array(),
                centroid_error_mm: offset.length(),
                dimensions: dimensions(&o.shape, &faces, offset),
                hausdorff_mm: model_to_truth.max_mm.max(truth_to_model.max_mm),
                model_to_truth,
                truth_to_model,
                dice,
            }
        })
        .collect();
    (results, stray_vertices, stray_voxels)
}

fn kind(s: &Shape) -> &'static str {
    match s {
        Shape::Sphere { .. } => "sphere",
        Shape::Cylinder { .. } => "cylinder",
        Shape::Block { .. } => "block",
        Shape::Steps { .. } => "steps",
        Shape::Dome { .. } => "dome",
    }
}

/// Least-squares sphere (or, in 2D, circle) through points: centre and radius.
fn fit_sphere(points: &[DVec3]) -> Option<(DVec3, f64)> {
    if points.len() < MIN_FIT_POINTS {
        return None;
    }
    // |p|² = 2 c·p + k, k = r² − |c|²; normal equations of the 4 unknowns, centred for
    // conditioning.
    let mean = points.iter().copied().sum::<DVec3>() / points.len() as f64;
    let mut a = [[0.0f64; 4]; 4];
    let mut b = [0.0f64; 4];
    for p in points {
        let q = *p - mean;
        let row = [2.0 * q.x, 2.0 * q.y, 2.0 * q.z, 1.0];
        let rhs = q.length_squared();
        for i in 0..4 {
            for j in 0..4 {
                a[i][j] += row[i] * row[j];
            }
            b[i] += row[i] * rhs;
        }
    }
    let x = solve4(a, b)?;
    let c = DVec3::new(x[0], x[1], x[2]);
    let r2 = x[3] + c.length_squared();
    (r2 > 0.0).then(|| (c + mean, r2.sqrt()))
}

/// Least-squares circle through 2D points.
fn fit_circle(points: &[DVec2]) -> Option<(DVec2, f64)> {
    // The 3 × 3 system of the circle, padded to the 4 × 4 solver with an identity row.
    if points.len() < MIN_FIT_POINTS {
        return None;
    }
    let mean = points.iter().copied().sum::<DVec2>() / points.len() as f64;
    let mut a = [[0.0f64; 4]; 4];
    let mut b = [0.0f64; 4];
    for p in points {
        let q = *p - mean;
        let row = [2.0 * q.x, 2.0 * q.y, 1.0];
        let rhs = q.length_squared();
        for i in 0..3 {
            for j in 0..3 {
                a[i][j] += row[i] * row[j];
            }
            b[i] += row[i] * rhs;
        }
    }
    a[3][3] = 1.0;
    let x = solve4(a, b)?;
    let c = DVec2::new(x[0], x[1]);
    let r2 = x[2] + c.length_squared();
    (r2 > 0.0).then(|| (c + mean, r2.sqrt()))
}

/// Gaussian elimination with partial pivoting.
fn solve4(mut a: [[f64; 4]; 4], mut b: [f64; 4]) -> Option<[f64; 4]> {
    for col in 0..4 {
        let piv = (col..4).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        let pivot_row = a[col];
        for r in col + 1..4 {
            let f = a[r][col] / pivot_row[col];
            for (x, p) in a[r].iter_mut().zip(pivot_row).skip(col) {
                *x -= f * p;
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = [0.0; 4];
    for r in (0..4).rev() {
        let s: f64 = (r + 1..4).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

/// Mean coordinate `axis` of a face's vertices (the face plane's fitted position).
fn plane(face: &[DVec3], axis: usize) -> Option<f64> {
    (face.len() >= MIN_FIT_POINTS)
        .then(|| face.iter().map(|p| p[axis]).sum::<f64>() / face.len() as f64)
}

fn dim(name: impl Into<String>, method: &str, true_mm: f64, measured: Option<f64>) -> Dimension {
    Dimension {
        name: name.into(),
        method: method.into(),
        true_mm,
        measured_mm: measured,
        error_mm: measured.map(|m| m - true_mm),
    }
}

fn between(faces: &[Vec<DVec3>], plus: usize, minus: usize, axis: usize) -> Option<f64> {
    Some(plane(faces.get(plus)?, axis)? - plane(faces.get(minus)?, axis)?)
}

/// The dimensions of a shape measured on its faces' vertices; `shift` is how far the
/// model's centroid lies from the true one (where the dome's centre is taken to be).
fn dimensions(shape: &Shape, faces: &[Vec<DVec3>], shift: DVec3) -> Vec<Dimension> {
    const PLANES: &str = "distance between least-squares planes of the two faces";
    match shape {
        Shape::Sphere { diameter_mm, .. } => vec![dim(
            "diameter",
            "least-squares sphere",
            *diameter_mm,
            fit_sphere(&faces[0]).map(|(_, r)| 2.0 * r),
        )],
        Shape::Block { size_mm, .. } => (0..3)
            .map(|a| {
                dim(
                    format!("size {}", ["x", "y", "z"][a]),
                    PLANES,
                    size_mm[a],
                    between(faces, 2 * a, 2 * a + 1, a),
                )
            })
            .collect(),
        Shape::Cylinder {
            axis,
            diameter_mm,
            length_mm,
            ..
        } => {
            let a = axis.index();
            let (u, v) = ((a + 1) % 3, (a + 2) % 3);
            let side: Vec<DVec2> = faces[0].iter().map(|p| DVec2::new(p[u], p[v])).collect();
            vec![
                dim(
                    "diameter",
                    "least-squares circle across the axis",
                    *diameter_mm,
                    fit_circle(&side).map(|(_, r)| 2.0 * r),
                ),
                dim("length", PLANES, *length_mm, between(faces, 1, 2, a)),
            ]
        }
        Shape::Steps {
            step_width_mm,
            heights_mm,
            depth_mm,
            ..
        } => {
            let outline = steps_outline(*step_width_mm, heights_mm);
            let e = outline.len();
            let n = heights_mm.len() as f64;
            // Edge 0 is the base, edge 1 the far end (x = n·w), the last edge the near end.
            let mut v = vec![
                dim(
                    "length x",
                    PLANES,
                    n * step_width_mm,
                    between(faces, 1, e - 1, 0),
                ),
                dim("depth y", PLANES, *depth_mm, between(faces, e, e + 1, 1)),
            ];
            for (i, &h) in heights_mm.iter().enumerate() {
                let mid = (i as f64 + 0.5) * step_width_mm;
                let top = (0..e).find(|&k| {
                    let (a, b) = (outline[k], outline[(k + 1) % e]);
                    (a.y - h).abs() < 1e-12
                        && (b.y - h).abs() < 1e-12
                        && a.x.min(b.x) <= mid
                        && mid <= a.x.max(b.x)
                });
                let measured = top.and_then(|t| between(faces, t, 0, 2));
                v.push(dim(
                    format!("height of step {}", i + 1),
                    PLANES,
                    h,
                    measured,
                ));
            }
            v
        }
        Shape::Dome {
            centre_mm,
            outer_radius_mm,
            thickness_mm,
            defect_diameter_mm,
            ..
        } => {
            // A cap spans too little of its sphere for a free sphere fit (centre and
            // radius trade off along the axis): the centre is the true one moved with the
            // model's centroid, and each radius the mean distance from it.
            let centre = DVec3::from(*centre_mm)
                + if shift.is_finite() {
                    shift
                } else {
                    DVec3::ZERO
                };
            let mean_r = |face: &[DVec3]| {
                (face.len() >= MIN_FIT_POINTS).then(|| {
                    face.iter().map(|p| (*p - centre).length()).sum::<f64>() / face.len() as f64
                })
            };
            let (outer_r, inner_r) = (mean_r(&faces[0]), mean_r(&faces[1]));
            let wall_angle = (faces[2].len() >= MIN_FIT_POINTS).then(|| {
                faces[2]
                    .iter()
                    .map(|p| {
                        let d = *p - centre;
                        d.x.hypot(d.y).atan2(d.z)
                    })
                    .sum::<f64>()
                    / faces[2].len() as f64
            });
            let r_out = outer_r;
            const FROM_CENTRE: &str = "mean distance from the centre (moved with the centroid)";
            vec![
                dim("outer radius", FROM_CENTRE, *outer_radius_mm, r_out),
                dim(
                    "inner radius",
                    FROM_CENTRE,
                    outer_radius_mm - thickness_mm,
                    inner_r,
                ),
                dim(
                    "wall thickness",
                    "outer radius − inner radius",
                    *thickness_mm,
                    r_out.zip(inner_r).map(|(o, i)| o - i),
                ),
                dim(
                    "defect diameter at the outer surface",
                    "2 × outer radius × sin(mean polar angle of the defect wall)",
                    *defect_diameter_mm,
                    r_out.zip(wall_angle).map(|(r, a)| 2.0 * r * a.sin()),
                ),
                dim(
                    "defect rim position (into the defect)",
                    "mean signed distance of the defect wall's vertices to the true wall",
                    0.0,
                    (faces[2].len() >= MIN_FIT_POINTS).then(|| {
                        faces[2].iter().map(|p| shape.sdf(*p)).sum::<f64>() / faces[2].len() as f64
                    }),
                ),
            ]
        }
    }
}

/// The validation as a fixed-width table.
pub fn table(v: &Validation) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let i = &v.import;
    let _ = writeln!(
        s,
        "import: slice distance {:.3} mm (measured {}), tilt {}° (measured {}), noise {} HU (estimated {}), findings [{}] (expected [{}]): {}",
        i.slice_distance_mm,
        i.measured_slice_distance_mm
            .map_or("-".into(), |x| format!("{x:.3}")),
        i.tilt_deg,
        i.measured_tilt_deg
            .map_or("-".into(), |x| format!("{x:.2}")),
        i.noise_sd_hu,
        i.measured_noise_sd_hu
            .map_or("-".into(), |x| format!("{x:.1}")),
        i.findings.join(", "),
        i.expected_findings.join(", "),
        if i.matches {
            "as generated"
        } else {
            "MISMATCH"
        }
    );
    let _ = writeln!(
        s,
        "{:<11} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6}",
        "object", "vol err%", "mask %", "centre", "m→t p95", "t→m p95", "max", "bias", "Dice"
    );
    for o in &v.objects {
        let _ = writeln!(
            s,
            "{:<11} {:>8.2} {:>8.2} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>+7.3} {:>6.4}{}",
            o.name,
            o.model_volume_error_pct,
            o.mask_volume_error_pct,
            o.centroid_error_mm,
            o.model_to_truth.p95_mm,
            o.truth_to_model.p95_mm,
            o.hausdorff_mm,
            o.model_to_truth.mean_signed_mm,
            o.dice,
            if o.found { "" } else { "  NOT FOUND" }
        );
        for d in &o.dimensions {
            let _ = writeln!(
                s,
                "    {:<38} true {:>8.3} mm  measured {:>8}  error {:>8}",
                d.name,
                d.true_mm,
                d.measured_mm.map_or("-".into(), |x| format!("{x:.3}")),
                d.error_mm.map_or("-".into(), |x| format!("{x:+.3}"))
            );
        }
    }
    let _ = writeln!(
        s,
        "stray surface vertices: {}, stray mask voxels: {}",
        v.stray_model_vertices, v.stray_mask_voxels
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_recover_a_sphere_and_a_circle() {
        let c = DVec3::new(3.0, -2.0, 7.0);
        let pts: Vec<DVec3> = (0..200)
            .map(|i| {
                let t = i as f64 * 0.7;
                let z = (i as f64 / 100.0) - 1.0;
                let r = (1.0 - z * z).sqrt();
                c + DVec3::new(r * t.cos(), r * t.sin(), z) * 4.5
            })
            .collect();
        let (fc, fr) = fit_sphere(&pts).expect("fit");
        assert!(
            (fc - c).length() < 1e-9 && (fr - 4.5).abs() < 1e-9,
            "{fc} {fr}"
        );
        let circle: Vec<DVec2> = (0..50)
            .map(|i| DVec2::new(1.0, 2.0) + DVec2::from_angle(i as f64 * 0.3) * 2.5)
            .collect();
        let (cc, cr) = fit_circle(&circle).expect("fit");
        assert!((cc - DVec2::new(1.0, 2.0)).length() < 1e-9 && (cr - 2.5).abs() < 1e-9);
        assert!(fit_sphere(&pts[..5]).is_none());
    }
}
