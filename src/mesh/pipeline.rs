//! Reconstruction as one recorded procedure: extract → (repair if needed) → smooth →
//! decimate → certify → thin-feature check. Every step's parameters and every measured
//! change are kept for the report; nothing changes geometry without a record.

use super::check::{self, Certificate};
use super::decimate::{self, Decimation};
use super::deviation;
use super::extract::{IsoEdges, Midpoint};
use super::mask_thickness::MaskThickness;
use super::repair::{self, RepairOptions, RepairReport};
use super::smooth::{self, Smoothing};
use super::thickness::{self, ThinRegion};
use super::{Mesh, bvh::Bvh};
use crate::compute::{Compute, ComputeRecord};
use crate::segment::mask::Mask;
use crate::volume::VolumeGeometry;
use ndarray::Array3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Default thickness below which a feature may not print, mm (ISO/IEC 3532-1: ~0.3 mm).
pub const DEFAULT_THIN_MM: f64 = 0.3;
/// Default deviation tolerance for the "area beyond tolerance" figure, mm.
pub const DEFAULT_TOLERANCE_MM: f64 = 0.2;
/// Thickness rays stop here, mm: anything thicker is "thick enough", and the window's
/// thickness colours end here. A thin-region limit above it raises it; below it, the thin
/// regions do not depend on the cap (a hit nearer than the limit is nearer than the cap).
pub const THICKNESS_CAP_MM: f64 = 5.0;

/// What to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconstructOptions {
    /// Iso-surface of HU at this value (within the mask) instead of the mask's surface.
    pub iso_hu: Option<f64>,
    /// Smoothing filter.
    pub smoothing: Option<Smoothing>,
    /// No vertex moves farther than this while smoothing, mm.
    pub max_move_mm: Option<f64>,
    /// Decimation.
    pub decimation: Option<Decimation>,
    /// Repair options (repair runs when a check fails or the largest shell alone is asked
    /// for, and then says what it did).
    pub repair: RepairOptions,
    /// Thin-feature threshold, mm.
    pub thin_mm: f64,
    /// Deviation tolerance, mm.
    pub tolerance_mm: f64,
    /// Count self-intersections (BVH; about a second per million triangles).
    pub self_intersections: bool,
}

impl Default for ReconstructOptions {
    fn default() -> Self {
        Self {
            iso_hu: None,
            smoothing: None,
            max_move_mm: None,
            decimation: None,
            repair: RepairOptions::default(),
            thin_mm: DEFAULT_THIN_MM,
            tolerance_mm: DEFAULT_TOLERANCE_MM,
            self_intersections: true,
        }
    }
}

/// How far a step moved the surface (the public `smoothing` block of MESH.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviationSummary {
    /// Largest |distance| between the surfaces (both directions), mm.
    pub max_mm: f64,
    /// Mean |distance|, mm.
    pub mean_mm: f64,
    /// Root mean square distance, mm.
    pub rms_mm: f64,
    /// 95th percentile of |distance|, mm.
    pub p95_mm: f64,
    /// Surface area moved farther than the tolerance, mm².
    pub area_beyond_tolerance_mm2: f64,
    /// The tolerance used, mm.
    pub tolerance_mm: f64,
    /// Enclosed volume before, mm³.
    pub volume_before_mm3: f64,
    /// Enclosed volume after, mm³.
    pub volume_after_mm3: f64,
    /// Change in enclosed volume, mm³.
    pub volume_change_mm3: f64,
    /// Change in enclosed volume, %.
    pub volume_change_pct: f64,
}

/// Everything reconstruction produced and measured.
#[derive(Debug, Clone)]
pub struct Reconstruction {
    /// Where the surface's topology was computed.
    pub compute: ComputeRecord,
    /// The final mesh.
    pub mesh: Mesh,
    /// Its certificate.
    pub certificate: Certificate,
    /// Triangles straight out of extraction.
    pub extracted_triangles: usize,
    /// What repair changed (all zero when nothing needed repair).
    pub repair: RepairReport,
    /// How far smoothing moved the surface.
    pub smoothing: Option<DeviationSummary>,
    /// How far decimation moved it, and the simplifier's own estimate.
    pub decimation: Option<(DeviationSummary, f64)>,
    /// Per-vertex signed deviation of the final mesh from the unsmoothed one, mm (for the
    /// viewer's heat map).
    pub vertex_deviation_mm: Option<Vec<f64>>,
    /// Per-vertex wall thickness, mm (capped at [`THICKNESS_CAP_MM`] or the thin limit).
    pub vertex_thickness_mm: Vec<f64>,
    /// Regions thinner than the threshold.
    pub thin_regions: Vec<ThinRegion>,
    /// The thinnest wall this grid can show, mm (one voxel along its finest axis): a wall
    /// extracted from a mask is never thinner, so a lower thin limit can flag nothing.
    pub thin_detectable_mm: f64,
    /// Wall thickness measured on the mask itself against the same limit.
    pub mask_thickness: MaskThickness,
    /// Why self-intersections were not searched for although asked (`None`: searched).
    pub self_intersections_rule: Option<String>,
    /// How long each stage took.
    pub timings: StageTimings,
}

/// Why the unsmoothed, undecimated marching-cubes surface of a binary mask needs no search
/// for self-intersections: every triangle lies in its cube (its corners are edge midpoints
/// of that cube), so triangles of different cubes can meet only on a shared cube face,
/// where both cubes cut the same segments between the same welded midpoints (one face
/// rule); within a cube, none of the 256 cases of the table intersects itself (tested,
/// with 1,000 random masks, in `extract`). Scaling and shearing the grid keep this: they
/// are affine.
pub const MC_CANNOT_INTERSECT: &str = "not searched: an unsmoothed marching-cubes surface of a binary mask cannot intersect itself (each triangle lies in its own grid cube and meets the next cube's only along shared welded edges; all 256 cube cases tested)";

/// Wall time of each reconstruction stage, ms (metadata for the report and benchmarks;
/// never an input).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings {
    /// Surface extraction.
    pub extract_ms: f64,
    /// Repair, when needed.
    pub repair_ms: f64,
    /// Smoothing.
    pub smooth_ms: f64,
    /// Deviation measurements (smoothing and decimation).
    pub deviation_ms: f64,
    /// Decimation.
    pub decimate_ms: f64,
    /// Certificate.
    pub certify_ms: f64,
    /// Self-intersection count.
    pub self_intersections_ms: f64,
    /// Wall thickness and thin regions on the surface (runs beside `mask_thickness_ms`:
    /// the two overlap).
    pub thickness_ms: f64,
    /// Wall thickness on the mask (beside the surface rays).
    #[serde(default)]
    pub mask_thickness_ms: f64,
    /// Everything.
    pub total_ms: f64,
}

/// Milliseconds since `t`, and restarts `t`.
fn lap(t: &mut std::time::Instant) -> f64 {
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    *t = std::time::Instant::now();
    ms
}

fn summary(d: &deviation::Deviation, tol: f64) -> DeviationSummary {
    DeviationSummary {
        max_mm: d.max_mm,
        mean_mm: d.mean_mm,
        rms_mm: d.rms_mm,
        p95_mm: d.p95_mm,
        area_beyond_tolerance_mm2: d.area_beyond_tolerance_mm2,
        tolerance_mm: tol,
        volume_before_mm3: d.volume_original_mm3,
        volume_after_mm3: d.volume_modified_mm3,
        volume_change_mm3: d.volume_change_mm3,
        volume_change_pct: d.volume_change_pct,
    }
}

fn needs_repair(c: &Certificate) -> bool {
    !(c.closed
        && c.manifold
        && c.consistently_oriented
        && c.degenerate_triangles == 0
        && c.invalid_indices == 0)
}

/// Reconstructs the surface of `mask` (or the iso-surface of `hu` within it).
pub fn reconstruct(
    mask: &Mask,
    geometry: &VolumeGeometry,
    hu: Option<&Array3<i16>>,
    opts: &ReconstructOptions,
) -> Result<Reconstruction, String> {
    reconstruct_with(
        mask,
        geometry,
        hu,
        opts,
        &crate::dicom::Progress::default(),
        0,
        &Compute::cpu(),
    )
}

/// The error of a reconstruction stopped through `Progress::cancel`.
const CANCELLED: &str = "cancelled";

/// Stages [`reconstruct_with`] reports in `Progress::done` (one per finished stage).
pub const STAGES: usize = 6;

/// As [`reconstruct`], setting `progress.done` to `offset` plus the stages finished
/// (extraction, repair, smoothing, decimation, certificate and self-intersections,
/// thickness: [`STAGES`] in all) and stopping with `Err("cancelled")` at the next stage
/// once `progress.cancel` is set (the deviation, self-intersection and thickness stages
/// also check it inside, so a cancel takes effect within milliseconds). The surface's
/// topology (and an iso-surface's threshold) run where `compute` says; the result is the
/// same either way, and [`Reconstruction::compute`] says which ran.
pub fn reconstruct_with(
    mask: &Mask,
    geometry: &VolumeGeometry,
    hu: Option<&Array3<i16>>,
    opts: &ReconstructOptions,
    progress: &crate::dicom::Progress,
    offset: usize,
    compute: &Compute,
) -> Result<Reconstruction, String> {
    use std::sync::atomic::Ordering;
    let stage = |n: usize| -> Result<(), String> {
        progress.done.store(offset + n, Ordering::Relaxed);
        if progress.cancel.load(Ordering::Relaxed) {
            Err(CANCELLED.to_string())
        } else {
            Ok(())
        }
    };
    let started = std::time::Instant::now();
    let mut t = started;
    let mut timings = StageTimings::default();
    let (mut mesh, compute_record) = match (opts.iso_hu, hu) {
        (Some(iso), Some(hu)) => {
            if hu.dim() != (mask.dims()[0], mask.dims()[1], mask.dims()[2]) {
                return Err("the HU volume and the mask have different grids".into());
            }
            let lo = iso.ceil().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i32;
            let hi = i32::from(i16::MAX);
            let (above, _) = compute.threshold(hu, lo, hi);
            let mut inside = above;
            for (w, m) in inside.words_mut().iter_mut().zip(mask.words()) {
                *w &= m;
            }
            compute.surface(
                &inside,
                geometry,
                &IsoEdges {
                    hu,
                    region: mask,
                    iso,
                },
            )
        }
        (Some(_), None) => return Err("an iso-surface needs the HU volume".into()),
        _ => compute.surface(mask, geometry, &Midpoint),
    };
    let extracted_triangles = mesh.triangles.len();
    timings.extract_ms = lap(&mut t);
    stage(1)?;
    let mut repair_report = RepairReport::default();
    // A surface from marching cubes is always closed, so the shell filter must not wait
    // for a failed check. The check's topology stays valid while only vertices move.
    let mut extracted_certificate =
        (!opts.repair.keep_largest_shell).then(|| check::certify(&mesh));
    if extracted_certificate.as_ref().is_none_or(needs_repair) {
        repair_report = repair::repair(&mut mesh, opts.repair);
        extracted_certificate = None;
    }
    timings.repair_ms = lap(&mut t);
    stage(2)?;
    // The unsmoothed surface, kept only while a measurement needs it.
    let reference = (opts.smoothing.is_some() || opts.decimation.is_some()).then(|| mesh.clone());
    let mut smoothing = None;
    let mut vertex_deviation_mm = None;
    // The tree over the current `mesh`, built once and shared by deviation, the
    // self-intersection search and the thickness rays; dropped whenever the mesh changes.
    let mut tree: Option<Bvh> = None;
    if let (Some(s), Some(reference)) = (opts.smoothing, &reference) {
        smooth::smooth(&mut mesh, s, opts.max_move_mm);
        timings.smooth_ms = lap(&mut t);
        let smoothed = Bvh::build(&mesh.vertices, &mesh.triangles);
        let d = deviation::deviation_given(
            &smoothed,
            Some(geometry),
            &reference.vertices,
            &reference.triangles,
            &mesh.vertices,
            &mesh.triangles,
            opts.tolerance_mm,
            &progress.cancel,
        )
        .ok_or(CANCELLED)?;
        smoothing = Some(summary(&d, opts.tolerance_mm));
        vertex_deviation_mm = Some(d.per_vertex_mm);
        tree = Some(smoothed);
        timings.deviation_ms += lap(&mut t);
    }
    stage(3)?;
    let mut decimation = None;
    if let Some(d) = opts.decimation {
        tree = None;
        let before = mesh.clone();
        let (out, estimate) = decimate::decimate(&mesh, d)?;
        mesh = out;
        timings.decimate_ms = lap(&mut t);
        let dev = deviation::deviation(
            &before.vertices,
            &before.triangles,
            &mesh.vertices,
            &mesh.triangles,
            opts.tolerance_mm,
        );
        decimation = Some((summary(&dev, opts.tolerance_mm), estimate));
        timings.deviation_ms += lap(&mut t);
        let c = check::certify(&mesh);
        if needs_repair(&c) {
            repair_report.add(&repair::repair(&mut mesh, opts.repair));
        }
    }
    // Smoothing moves vertices only; with nothing else changed the extraction's topology
    // still holds for the final certificate.
    let topology_kept = decimation.is_none()
        && reference.as_ref().is_none_or(|r| {
            r.triangles == mesh.triangles && r.vertices.len() == mesh.vertices.len()
        });
    if let (Some(reference), Some(_)) = (reference, opts.decimation) {
        // The heat map shows the final surface against the unsmoothed, undecimated one.
        let b = Bvh::build(&reference.vertices, &reference.triangles);
        vertex_deviation_mm = Some(
            mesh.vertices
                .par_iter()
                .map(|p| b.signed_distance(*p).unwrap_or(f64::NAN))
                .collect(),
        );
        timings.deviation_ms += lap(&mut t);
    }
    stage(4)?;
    let mut certificate = match extracted_certificate {
        Some(c) if topology_kept => check::certify_moved(&mesh, &c),
        _ => check::certify(&mesh),
    };
    timings.certify_ms = lap(&mut t);
    let tree = tree.unwrap_or_else(|| Bvh::build(&mesh.vertices, &mesh.triangles));
    let mut self_intersections_rule = None;
    if opts.self_intersections {
        if opts.iso_hu.is_none()
            && opts.smoothing.is_none()
            && opts.decimation.is_none()
            && repair_report.only_removed_shells()
        {
            certificate.self_intersections = Some(0);
            self_intersections_rule = Some(MC_CANNOT_INTERSECT.to_string());
        } else {
            certificate.self_intersections = Some(
                tree.count_self_intersections_cancellable(&progress.cancel)
                    .ok_or(CANCELLED)?,
            );
        }
    }
    timings.self_intersections_ms = lap(&mut t);
    stage(5)?;
    // The two thickness measures are independent (surface rays, the mask's distance
    // transform): run side by side so that one's serial parts fill the other's gaps.
    let ((vertex_thickness_mm, thin_regions, surface_ms), (mask_thickness, mask_ms)) = rayon::join(
        || {
            let t0 = std::time::Instant::now();
            let v = thickness::vertex_thickness_cancellable(
                &tree,
                &mesh.vertices,
                &mesh.triangles,
                THICKNESS_CAP_MM.max(opts.thin_mm),
                &progress.cancel,
            )
            .unwrap_or_default();
            let r = thickness::thin_regions(&mesh.vertices, &mesh.triangles, &v, opts.thin_mm);
            (v, r, t0.elapsed().as_secs_f64() * 1000.0)
        },
        || {
            let t0 = std::time::Instant::now();
            let m = super::mask_thickness::measure(mask, geometry, opts.thin_mm);
            (m, t0.elapsed().as_secs_f64() * 1000.0)
        },
    );
    drop(tree);
    // A cancelled ray pass left no thickness; the stage check below says so.
    if progress.cancel.load(Ordering::Relaxed) {
        return Err(CANCELLED.to_string());
    }
    timings.thickness_ms = surface_ms;
    timings.mask_thickness_ms = mask_ms;
    lap(&mut t);
    stage(STAGES)?;
    timings.total_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Reconstruction {
        mesh,
        certificate,
        extracted_triangles,
        repair: repair_report,
        smoothing,
        decimation,
        vertex_deviation_mm,
        vertex_thickness_mm,
        thin_regions,
        mask_thickness,
        self_intersections_rule,
        thin_detectable_mm: geometry
            .spacing
            .col
            .min(geometry.spacing.row)
            .min(geometry.spacing.slice),
        timings,
        compute: compute_record,
    })
}
