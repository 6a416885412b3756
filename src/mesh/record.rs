//! The reconstruction record (ISO/IEC 3532-1: the fourth thing to record): a typed summary
//! of one reconstruction — algorithm, parameters, certificate, deviation, repair, thin
//! regions, timings — made by the core from [`Reconstruction`]s, so that the `mesh`
//! sidecar, the case and the report all say the same thing.

use super::Mesh;
use super::check::Certificate;
use super::mask_thickness::MaskThickness;
use super::pipeline::{DeviationSummary, ReconstructOptions, Reconstruction, StageTimings};
use super::repair::RepairReport;
use super::thickness::ThinRegion;
use serde::{Deserialize, Serialize};

/// The coordinate frame and unit of every surface Hounsfield writes.
pub const FRAME: &str = "DICOM LPS (patient space), millimetres";

/// How far decimation moved the surface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecimationSummary {
    /// Measured both ways between the surface before and after.
    pub deviation: DeviationSummary,
    /// The simplifier's own error estimate, mm.
    pub simplifier_error_estimate_mm: f64,
}

/// One label's surface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelModel {
    /// The label (or `label_N` for a label value of a mask file).
    pub name: String,
    /// blake3 of the label's mask it was made from, when known.
    pub mask_hash: Option<String>,
    /// Validity certificate of the final surface.
    pub certificate: Certificate,
    /// Triangles straight out of extraction.
    pub extracted_triangles: usize,
    /// What repair changed.
    pub repair: RepairReport,
    /// How far smoothing moved the surface.
    pub smoothing: Option<DeviationSummary>,
    /// How far decimation moved it.
    pub decimation: Option<DecimationSummary>,
    /// Regions thinner than the threshold.
    pub thin_regions: Vec<ThinRegion>,
    /// The thinnest wall the grid can show, mm: below it the thin check finds nothing.
    #[serde(default)]
    pub thin_detectable_mm: Option<f64>,
    /// Wall thickness measured on the mask against the same limit (`None` in records made
    /// before it was measured).
    #[serde(default)]
    pub mask_thickness: Option<MaskThickness>,
    /// Why self-intersections were not searched for (see
    /// [`super::pipeline::MC_CANNOT_INTERSECT`]); `None`: searched, or not asked.
    #[serde(default)]
    pub self_intersections_rule: Option<String>,
    /// blake3 of the final mesh (see [`mesh_hash`]).
    pub mesh_hash: String,
    /// Stage times.
    pub timings_ms: StageTimings,
    /// Where the surface's topology was computed (cpu, or gpu with the adapter); the
    /// mesh is the same either way. Absent in records made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<crate::compute::ComputeRecord>,
}

/// Figures over all labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Triangles.
    pub triangles: usize,
    /// Vertices.
    pub vertices: usize,
    /// Every surface is closed.
    pub closed: bool,
    /// Every surface is 2-manifold.
    pub manifold: bool,
    /// Every surface faces outwards.
    pub outward: bool,
    /// Every surface is consistently oriented.
    pub consistently_oriented: bool,
    /// Self-intersecting triangle pairs (`None` when not counted).
    pub self_intersections: Option<usize>,
    /// Enclosed volume, mm³.
    pub volume_mm3: f64,
    /// Surface area, mm².
    pub area_mm2: f64,
    /// Regions thinner than the threshold, over all labels.
    pub thin_region_count: usize,
}

/// A whole reconstruction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconstructionRecord {
    /// The extraction algorithm, in words.
    pub algorithm: String,
    /// Every parameter.
    pub options: ReconstructOptions,
    /// Coordinate frame and unit of the vertices.
    pub frame: String,
    /// Figures over all labels.
    pub totals: Totals,
    /// One entry per label, in order.
    pub labels: Vec<LabelModel>,
}

/// blake3 of a mesh: domain string, vertex count, vertices (f64 LE), triangle count,
/// triangles (u32 LE). Equal meshes, bit for bit, have equal hashes.
pub fn mesh_hash(m: &Mesh) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"hounsfield-mesh-v1");
    h.update(&(m.vertices.len() as u64).to_le_bytes());
    let mut buf = Vec::with_capacity(1 << 16);
    for chunk in m.vertices.chunks(2048) {
        buf.clear();
        for v in chunk {
            for c in v {
                buf.extend_from_slice(&c.to_le_bytes());
            }
        }
        h.update(&buf);
    }
    h.update(&(m.triangles.len() as u64).to_le_bytes());
    for chunk in m.triangles.chunks(4096) {
        buf.clear();
        for t in chunk {
            for i in t {
                buf.extend_from_slice(&i.to_le_bytes());
            }
        }
        h.update(&buf);
    }
    h.finalize().to_hex().to_string()
}

/// The words for the extraction `opts` asks for.
pub fn algorithm(opts: &ReconstructOptions) -> &'static str {
    if opts.iso_hu.is_some() {
        "iso-surface of HU within the mask: marching cubes with a face-separating case table, padded by one voxel"
    } else {
        "discrete marching cubes on the mask: face-separating case table, padded by one voxel (closed, 2-manifold by construction)"
    }
}

impl ReconstructionRecord {
    /// The record of `models` (name, mask hash, reconstruction), made with `opts`.
    pub fn of(
        models: &[(String, Option<String>, &Reconstruction)],
        opts: &ReconstructOptions,
    ) -> Self {
        let labels: Vec<LabelModel> = models
            .iter()
            .map(|(name, mask_hash, r)| LabelModel {
                name: name.clone(),
                mask_hash: mask_hash.clone(),
                certificate: r.certificate.clone(),
                extracted_triangles: r.extracted_triangles,
                repair: r.repair.clone(),
                smoothing: r.smoothing.clone(),
                decimation: r.decimation.as_ref().map(|(d, e)| DecimationSummary {
                    deviation: d.clone(),
                    simplifier_error_estimate_mm: *e,
                }),
                thin_regions: r.thin_regions.clone(),
                thin_detectable_mm: Some(r.thin_detectable_mm),
                mask_thickness: Some(r.mask_thickness.clone()),
                self_intersections_rule: r.self_intersections_rule.clone(),
                mesh_hash: mesh_hash(&r.mesh),
                timings_ms: r.timings,
                compute: Some(r.compute.clone()),
            })
            .collect();
        let all = |f: &dyn Fn(&Certificate) -> bool| labels.iter().all(|l| f(&l.certificate));
        let totals = Totals {
            triangles: labels.iter().map(|l| l.certificate.triangles).sum(),
            vertices: labels.iter().map(|l| l.certificate.vertices).sum(),
            closed: all(&|c| c.closed),
            manifold: all(&|c| c.manifold),
            outward: all(&|c| c.outward),
            consistently_oriented: all(&|c| c.consistently_oriented),
            self_intersections: labels
                .iter()
                .map(|l| l.certificate.self_intersections)
                .sum(),
            volume_mm3: labels.iter().map(|l| l.certificate.volume_mm3).sum(),
            area_mm2: labels.iter().map(|l| l.certificate.area_mm2).sum(),
            thin_region_count: labels.iter().map(|l| l.thin_regions.len()).sum(),
        };
        Self {
            algorithm: algorithm(opts).into(),
            options: opts.clone(),
            frame: FRAME.into(),
            totals,
            labels,
        }
    }

    /// The record of some of its labels only (an export of those labels is judged on them).
    pub fn only(&self, labels: &[String]) -> Self {
        let mut r = self.clone();
        r.labels.retain(|l| labels.contains(&l.name));
        r
    }

    /// Labels whose surface is not closed and manifold (a printer would reject them).
    pub fn open_labels(&self) -> Vec<&str> {
        self.labels
            .iter()
            .filter(|l| !(l.certificate.closed && l.certificate.manifold))
            .map(|l| l.name.as_str())
            .collect()
    }

    /// Warnings that the thin-wall check could not have found anything: its limit lies below
    /// the thinnest wall the grid can show, so an empty list proves nothing.
    pub fn thin_check_warnings(&self) -> Vec<String> {
        let limit = self.options.thin_mm;
        self.labels
            .iter()
            .filter_map(|l| {
                let d = l.thin_detectable_mm?;
                (limit < d).then(|| {
                    format!(
                        "label {}: the thin-wall limit {limit} mm is below the thinnest wall this grid can show ({d:.2} mm, one voxel): no thin region can be found; set the limit to {d:.2} mm or more to check walls of one voxel",
                        l.name
                    )
                })
            })
            .collect()
    }

    /// Labels whose surface faces inwards or intersects itself, with what is wrong.
    pub fn defective_labels(&self) -> Vec<(&str, String)> {
        self.labels
            .iter()
            .filter_map(|l| {
                let c = &l.certificate;
                let mut what = Vec::new();
                if !c.outward {
                    what.push("faces inwards".to_string());
                }
                if let Some(n) = c.self_intersections.filter(|n| *n > 0) {
                    what.push(format!("has {n} self-intersecting triangle pairs"));
                }
                (!what.is_empty()).then(|| (l.name.as_str(), what.join(" and ")))
            })
            .collect()
    }

    /// Why these surfaces may not be written as a model, or `None` when they may: an open
    /// or non-manifold surface unless `allow_open`, one facing inwards or intersecting
    /// itself unless `allow_defects` (a printer rejects or misprints both).
    pub fn refusal(&self, allow_open: bool, allow_defects: bool) -> Option<String> {
        let mut why = Vec::new();
        let open = self.open_labels();
        if !allow_open && !open.is_empty() {
            why.push(format!(
                "the surface of {} is not closed and manifold (fix the mask, or allow open surfaces)",
                open.join(", ")
            ));
        }
        if !allow_defects {
            for (name, what) in self.defective_labels() {
                why.push(format!(
                    "the surface of {name} {what} (fix the mask or the smoothing, or allow defects)"
                ));
            }
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// The same record with the timings zeroed: what must be equal when a reconstruction
    /// is recomputed.
    pub fn without_timings(&self) -> Self {
        let mut r = self.clone();
        for l in &mut r.labels {
            l.timings_ms = StageTimings::default();
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before: only open surfaces were refused; an inside-out or self-intersecting model
    /// was written with exit 0 and called certified.
    #[test]
    fn inward_and_self_intersecting_surfaces_are_refused_unless_allowed() {
        use crate::mesh::pipeline::{ReconstructOptions, reconstruct};
        let g = crate::volume::VolumeGeometry::axis_aligned(crate::geom::SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        });
        let mask = crate::segment::Mask::from_fn([8, 8, 8], |k, j, i| {
            (2..6).contains(&k) && (2..6).contains(&j) && (2..6).contains(&i)
        });
        let opts = ReconstructOptions::default();
        let good = reconstruct(&mask, &g, None, &opts).expect("a cube reconstructs");
        let mut inside_out = good.clone();
        for t in &mut inside_out.mesh.triangles {
            t.swap(1, 2);
        }
        inside_out.certificate = crate::mesh::check::certify(&inside_out.mesh);
        assert!(!inside_out.certificate.outward);
        let mut crossing = good.clone();
        crossing.certificate.self_intersections = Some(3);
        let record =
            |r: &Reconstruction| ReconstructionRecord::of(&[("bone".to_string(), None, r)], &opts);
        assert_eq!(record(&good).refusal(false, false), None);
        let why = record(&inside_out)
            .refusal(false, false)
            .unwrap_or_default();
        assert!(why.contains("bone faces inwards"), "{why}");
        let why = record(&crossing).refusal(true, false).unwrap_or_default();
        assert!(why.contains("3 self-intersecting"), "{why}");
        assert_eq!(record(&crossing).refusal(false, true), None);
        // An export of other labels is not held back by this one.
        let two = ReconstructionRecord::of(
            &[
                ("good".to_string(), None, &good),
                ("bone".to_string(), None, &crossing),
            ],
            &opts,
        );
        assert!(two.refusal(false, false).is_some());
        assert_eq!(two.only(&["good".to_string()]).refusal(false, false), None);
        let mut open = good.clone();
        open.certificate.closed = false;
        let why = record(&open).refusal(false, true).unwrap_or_default();
        assert!(why.contains("not closed and manifold"), "{why}");
        assert_eq!(record(&open).refusal(true, false), None);
    }

    #[test]
    fn mesh_hash_sees_every_coordinate_and_index() {
        let m = Mesh {
            vertices: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            triangles: vec![[0, 1, 2]],
        };
        let h = mesh_hash(&m);
        let mut moved = m.clone();
        moved.vertices[2][1] = 1.0 + f64::EPSILON;
        assert_ne!(h, mesh_hash(&moved));
        let mut flipped = m.clone();
        flipped.flip();
        assert_ne!(h, mesh_hash(&flipped));
        assert_eq!(h, mesh_hash(&m.clone()));
    }
}
