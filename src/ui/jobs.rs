//! The window's background work on [`crate::jobs::Job`]: scanning a folder, loading a
//! series, opening a case (a replay), computing a staged operation, reconstructing. Each
//! job gets owned inputs and wakes the window when its typed result is ready; the app turns
//! the result into state on the UI thread, so the case, undo and GPU uploads change in one
//! place.

use super::app::SurfaceColour;
use crate::case::Case;
use crate::case::record::LoadSettings;
use crate::case::source::{self, OpenedSource};
use crate::compute::{Compute, ComputeChoice};
use crate::dicom::{self, ImportOptions, Progress, ScanReport, Series};
use crate::feasibility::Finding;
use crate::gpu::MeshData;
use crate::jobs::Waker;
use crate::mesh::Mesh;
use crate::mesh::pipeline::{self, ReconstructOptions, Reconstruction};
use crate::mesh::record::ReconstructionRecord;
use crate::segment::Mask;
use crate::segment::session::{Computed, Staged};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The window's one compute context, opened by the first worker that needs it and kept,
/// so previews and reconstructions share one device instead of opening one per job. In a
/// window with a GPU that device is the one the views render with ([`SharedCompute::on`]).
#[derive(Clone, Default)]
pub struct SharedCompute {
    open: Arc<std::sync::Mutex<Option<(ComputeChoice, Compute)>>>,
    device: Option<Arc<crate::gpu::device::Gpu>>,
}

impl std::fmt::Debug for SharedCompute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.open.lock().unwrap_or_else(|e| e.into_inner());
        write!(f, "SharedCompute({:?})", g.as_ref().map(|(_, c)| c))
    }
}

impl SharedCompute {
    /// Compute on `device` (the renderer's), not on a device of its own.
    pub fn on(device: crate::gpu::device::Gpu) -> Self {
        Self {
            open: Default::default(),
            device: Some(Arc::new(device)),
        }
    }

    /// The device compute runs on when it is the window's (see [`SharedCompute::on`]).
    pub fn device(&self) -> Option<&wgpu::Device> {
        self.device.as_deref().map(|g| &g.device)
    }

    /// A context already open for `choice` (a benchmark's, a test's).
    pub fn opened(choice: ComputeChoice, compute: Compute) -> Self {
        Self {
            open: Arc::new(std::sync::Mutex::new(Some((choice, compute)))),
            device: None,
        }
    }

    /// The context for `choice`, opened now if it is not open yet (or was opened for
    /// another choice). A GPU asked for but unusable gives the CPU, with the reason.
    pub fn get(&self, choice: ComputeChoice) -> Compute {
        let mut g = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((c, compute)) = &*g
            && *c == choice
        {
            return compute.clone();
        }
        let opened = match &self.device {
            Some(gpu) => crate::compute::open_with(choice, |software_ok| {
                crate::gpu::compute::GpuCompute::open_on(gpu, software_ok)
                    .map(|c| Arc::new(c) as Arc<dyn crate::compute::Accelerator>)
            }),
            None => crate::cli::open_compute(choice),
        };
        let compute = opened.unwrap_or_else(Compute::cpu_because);
        *g = Some((choice, compute.clone()));
        compute
    }
}

/// A job of the window.
pub type Job = crate::jobs::Job<JobResult>;

/// The kinds of job that run beside editing, one of each at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// A reconstruction (or the recomputation of a recorded one, to show it).
    Reconstruct,
    /// A comparison of two labels.
    Compare,
}

/// A volume ready to view, with what the operator must know about it.
#[derive(Debug)]
pub struct LoadedSeries {
    /// The volume with its source record (files, hashes, acquisition), for a case.
    pub opened: OpenedSource,
    /// "S2030 — description (path)".
    pub label: String,
    /// The series id when DICOM.
    pub series_id: Option<String>,
    /// Geometry and pixel findings.
    pub findings: Vec<Finding>,
    /// HU histogram, for the threshold tool.
    pub histogram: super::editor::Histogram,
}

/// A surface shown in the 3D view, with its per-vertex measurements.
#[derive(Debug)]
pub struct BuiltSurface {
    /// The mesh, LPS mm.
    pub mesh: Mesh,
    /// Signed distance from the unsmoothed surface per vertex, mm.
    pub deviation_mm: Option<Vec<f64>>,
    /// Wall thickness per vertex, mm.
    pub thickness_mm: Vec<f64>,
    /// One line for the panel.
    pub summary: String,
    /// The vertex and index buffers for the 3D view, made on the worker for the colouring
    /// chosen when it started (taken by the first upload in that colouring).
    pub drawn: Option<(SurfaceColour, MeshData)>,
}

impl BuiltSurface {
    /// The view of the first reconstruction of `results` with its buffers for `colour`
    /// (the summary says what it is, its end is left to the caller).
    fn of(results: &[Reconstruction], colour: SurfaceColour) -> Option<BuiltSurface> {
        let first = results.first()?;
        let summary = format!(
            "{} triangles, {} shells, {}{}",
            first.mesh.triangles.len(),
            first.certificate.shells,
            if first.certificate.closed && first.certificate.manifold {
                "closed and manifold"
            } else {
                "NOT closed"
            },
            first.smoothing.as_ref().map_or(String::new(), |s| format!(
                "; smoothing moved it at most {:.2} mm (mean {:.3})",
                s.max_mm, s.mean_mm
            ))
        );
        let mut b = BuiltSurface {
            mesh: first.mesh.clone(),
            deviation_mm: first.vertex_deviation_mm.clone(),
            thickness_mm: first.vertex_thickness_mm.clone(),
            summary,
            drawn: None,
        };
        b.drawn = Some((colour, b.mesh_data(colour)));
        Some(b)
    }

    /// The buffers for the 3D view with `colour`'s per-vertex scalar.
    pub fn mesh_data(&self, colour: SurfaceColour) -> MeshData {
        let scalar = match colour {
            SurfaceColour::None => None,
            SurfaceColour::Deviation => self.deviation_mm.as_deref(),
            SurfaceColour::Thickness => Some(self.thickness_mm.as_slice()),
        };
        MeshData::from_mesh(&self.mesh, scalar)
    }

    /// The buffers for `colour`: the worker's when they are for that colouring.
    pub fn take_mesh_data(&mut self, colour: SurfaceColour) -> MeshData {
        match self.drawn.take() {
            Some((c, data)) if c == colour => data,
            _ => self.mesh_data(colour),
        }
    }
}

/// Reconstructions computed for masks taken from the case.
#[derive(Debug)]
pub struct ReconstructedMasks {
    /// (label, mask, mask hash) as taken.
    pub masks: Vec<(String, Mask, String)>,
    /// One reconstruction per mask.
    pub results: Vec<Reconstruction>,
    /// The options used.
    pub opts: ReconstructOptions,
    /// Their record, made on the worker ([`crate::case::reconstruction_record`]).
    pub record: ReconstructionRecord,
    /// What the 3D view shows of the first one (`None` when nothing was reconstructed).
    pub shown: Option<BuiltSurface>,
}

/// What a job delivers.
#[derive(Debug)]
pub enum JobResult {
    /// A folder scanned.
    Scanned(PathBuf, Result<ScanReport, String>),
    /// A series or NIfTI loaded.
    Loaded(Result<Box<LoadedSeries>, String>),
    /// A case opened (replayed) with the series it was made from.
    CaseOpened(PathBuf, Result<(Box<Case>, Box<LoadedSeries>), String>),
    /// A staged operation computed (its name, for messages).
    Computed(String, Result<Box<Computed>, String>),
    /// Surfaces reconstructed.
    Reconstructed(Result<Box<ReconstructedMasks>, String>),
    /// Two labels compared.
    Compared(Result<Box<super::editor::LabelComparison>, String>),
}

fn loaded(opened: OpenedSource, label: String, series_id: Option<String>) -> Box<LoadedSeries> {
    Box::new(LoadedSeries {
        findings: opened.feasibility.findings.clone(),
        histogram: super::editor::Histogram::of(&opened.volume),
        opened,
        label,
        series_id,
    })
}

/// Scans a DICOM folder, file or DICOMDIR.
pub fn scan(path: PathBuf, waker: Option<Waker>) -> Job {
    let label = format!("Scanning {}", path.display());
    Job::spawn(label, 0, waker, move |_| {
        let r = dicom::scan_path(&path, &ImportOptions::default()).map_err(|e| e.to_string());
        JobResult::Scanned(path, r)
    })
}

/// Decodes a series into a volume.
pub fn load_series(series: Series, source: PathBuf, waker: Option<Waker>) -> Job {
    let label = format!("Loading series {}", series.id);
    let total = series.images.len();
    Job::spawn(label, total, waker, move |p| {
        let r = source::from_series(&series, &source, LoadSettings::default(), Some(p))
            .map_err(|e| e.to_string())
            .and_then(|opened| {
                if p.cancel.load(Ordering::Relaxed) {
                    return Err("cancelled".into());
                }
                Ok(loaded(
                    opened,
                    format!(
                        "series {} {} — {}",
                        series.id,
                        series.description,
                        source.display()
                    ),
                    Some(series.id.clone()),
                ))
            });
        JobResult::Loaded(r)
    })
}

/// Reads a NIfTI volume.
pub fn load_nifti(path: PathBuf, waker: Option<Waker>) -> Job {
    let label = format!("Reading {}", path.display());
    Job::spawn(label, 0, waker, move |_| {
        let r = source::open(
            &path,
            None,
            LoadSettings::default(),
            &ImportOptions::default(),
        )
        .map_err(|e| e.to_string())
        .map(|opened| loaded(opened, path.display().to_string(), None));
        JobResult::Loaded(r)
    })
}

/// Opens a case: checks its source files, rebuilds the volume and replays every
/// operation (the hashes are checked on the way).
pub fn open_case(dir: PathBuf, operator: String, waker: Option<Waker>) -> Job {
    let label = format!("Opening {}", dir.display());
    Job::spawn(label, 0, waker, move |_| {
        let r = Case::open(&dir, &operator, None)
            .map_err(|e| e.to_string())
            .map(|(case, _)| {
                let rec = case.record();
                let label = format!(
                    "case {} — series {} {}",
                    rec.name,
                    rec.source.series_id.clone().unwrap_or_default(),
                    rec.source.description
                );
                let opened = OpenedSource {
                    volume: case.volume().clone(),
                    record: rec.source.clone(),
                    acquisition: rec.acquisition.clone(),
                    patient: rec.patient.clone(),
                    feasibility: rec.feasibility.clone(),
                    description: label.clone(),
                };
                let series = rec.source.series_id.clone();
                (Box::new(case), loaded(opened, label, series))
            });
        JobResult::CaseOpened(dir, r)
    })
}

/// Computes a staged operation on the window's compute context (threshold and
/// keep-largest run on the GPU where the preference allows; the log's note says so).
pub fn compute(
    staged: Staged,
    (shared, choice): (SharedCompute, ComputeChoice),
    waker: Option<Waker>,
) -> Job {
    let name = staged.op().name().to_string();
    let label = format!("Computing {name}");
    Job::spawn(label, 0, waker, move |_| {
        let staged = staged.with_compute(shared.get(choice));
        let r = staged.compute().map(Box::new).map_err(|e| e.to_string());
        JobResult::Computed(name, r)
    })
}

/// Reconstructs masks taken from the case, with stage progress and cancellation.
pub fn reconstruct(
    masks: Vec<(String, Mask, String)>,
    volume: Arc<crate::volume::Volume>,
    opts: ReconstructOptions,
    (shared, choice): (SharedCompute, ComputeChoice),
    colour: SurfaceColour,
    waker: Option<Waker>,
) -> Job {
    let label = format!(
        "Reconstructing {}",
        masks
            .iter()
            .map(|m| m.0.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let total = pipeline::STAGES * masks.len();
    Job::spawn(label, total, waker, move |p: &Progress| {
        // A GPU asked for but unusable: the CPU runs, and the record says why.
        let compute = shared.get(choice);
        let mut results = Vec::new();
        for (n, (name, mask, _)) in masks.iter().enumerate() {
            let r = pipeline::reconstruct_with(
                mask,
                &volume.geometry,
                opts.iso_hu.map(|_| &volume.hu),
                &opts,
                p,
                n * pipeline::STAGES,
                &compute,
            );
            match r {
                Ok(x) => results.push(x),
                Err(e) => {
                    return JobResult::Reconstructed(Err(format!("label `{name}`: {e}")));
                }
            }
        }
        // Hashing the meshes and filling the view's buffers take a frame's time or more:
        // done here, the frame the result lands in only records and uploads.
        let record = crate::case::reconstruction_record(&masks, &results, &opts);
        let shown = BuiltSurface::of(&results, colour);
        JobResult::Reconstructed(Ok(Box::new(ReconstructedMasks {
            masks,
            results,
            opts,
            record,
            shown,
        })))
    })
}

/// Compares two labels' masks (Dice, Jaccard, Hausdorff in mm); `a` and `b` are (label,
/// mask, mask hash) as taken from the case.
pub fn compare_labels(
    a: (String, Mask, String),
    b: (String, Mask, String),
    segmentation_hash: String,
    geometry: crate::volume::VolumeGeometry,
    waker: Option<Waker>,
) -> Job {
    let label = format!("Comparing {} with {}", a.0, b.0);
    Job::spawn(label, 0, waker, move |_| {
        let s = geometry.spacing;
        let r = if geometry.is_orthogonal() {
            crate::compare::masks(&a.1, &b.1, [s.slice, s.row, s.col]).map(|figures| {
                Box::new(super::editor::LabelComparison {
                    a: (a.0, a.2),
                    b: (b.0, b.2),
                    segmentation_hash,
                    figures,
                })
            })
        } else {
            Err("the volume's grid is sheared: distances need an orthogonal grid".into())
        };
        JobResult::Compared(r)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workers_buffers_serve_their_colouring_and_no_other() {
        let (vertices, triangles) = crate::mesh::test_meshes::icosphere(5.0, [1.0, 2.0, 3.0], 2);
        let n = vertices.len();
        let mut b = BuiltSurface {
            mesh: Mesh {
                vertices,
                triangles,
            },
            deviation_mm: Some((0..n).map(|i| i as f64 * 0.01).collect()),
            thickness_mm: (0..n).map(|i| 5.0 - i as f64 * 0.01).collect(),
            summary: String::new(),
            drawn: None,
        };
        let want = |b: &BuiltSurface, c| {
            let d = b.mesh_data(c);
            (d.vertices, d.indices)
        };
        let thickness = want(&b, SurfaceColour::Thickness);
        assert_ne!(thickness, want(&b, SurfaceColour::Deviation));
        // Made for the deviation colouring, asked for thickness: not used, recomputed.
        b.drawn = Some((
            SurfaceColour::Deviation,
            b.mesh_data(SurfaceColour::Deviation),
        ));
        let d = b.take_mesh_data(SurfaceColour::Thickness);
        assert_eq!((d.vertices, d.indices), thickness);
        assert!(b.drawn.is_none(), "stale buffers are dropped");
        // Asked for the colouring they were made for: those buffers, once.
        b.drawn = Some((
            SurfaceColour::Thickness,
            MeshData {
                vertices: vec![[7.0; 7]],
                indices: vec![0, 0, 0],
            },
        ));
        assert_eq!(
            b.take_mesh_data(SurfaceColour::Thickness).indices,
            [0, 0, 0]
        );
        let again = b.take_mesh_data(SurfaceColour::Thickness);
        assert_eq!((again.vertices, again.indices), thickness);
    }
}
