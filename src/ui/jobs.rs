//! Background work for the window: scanning a folder, loading a series, building a surface.
//! Each job runs on its own thread and reports once through a channel; the UI polls every
//! frame, shows progress and can cancel, and never waits.

use crate::dicom::{self, ImportOptions, LoadOptions, Progress, ScanReport, Series};
use crate::feasibility::Finding;
use crate::mesh::Mesh;
use crate::volume::Volume;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::Instant;

/// A volume ready to view, with what the operator must know about it.
#[derive(Debug)]
pub struct LoadedSeries {
    /// The volume.
    pub volume: Volume,
    /// "S2030 — description (path)".
    pub label: String,
    /// The series id when DICOM.
    pub series_id: Option<String>,
    /// Geometry and pixel findings.
    pub findings: Vec<Finding>,
}

/// A surface built from a threshold, with its per-vertex measurements.
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
}

/// What a job delivers.
#[derive(Debug)]
pub enum JobResult {
    /// A folder scanned.
    Scanned(PathBuf, Result<ScanReport, String>),
    /// A series or NIfTI loaded.
    Loaded(Result<LoadedSeries, String>),
    /// A surface built.
    Surface(Result<BuiltSurface, String>),
}

/// A running job.
pub struct Job {
    /// What it does, for the status bar.
    pub label: String,
    /// Progress (slices decoded) and the cancel flag.
    pub progress: Arc<Progress>,
    /// Slices to decode (0: unknown).
    pub total: usize,
    /// When it started.
    pub started: Instant,
    rx: Receiver<JobResult>,
}

impl Job {
    fn spawn(
        label: String,
        total: usize,
        work: impl FnOnce(&Progress) -> JobResult + Send + 'static,
    ) -> Self {
        let (tx, rx) = channel();
        let failed = tx.clone();
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        let spawned = std::thread::Builder::new()
            .name("hounsfield-job".into())
            .spawn(move || {
                let _ = tx.send(work(&p));
            });
        if let Err(e) = spawned {
            let _ = failed.send(JobResult::Loaded(Err(format!(
                "cannot start a worker thread: {e}"
            ))));
        }
        Self {
            label,
            progress,
            total,
            started: Instant::now(),
            rx,
        }
    }

    /// Scans a DICOM folder, file or DICOMDIR.
    pub fn scan(path: PathBuf) -> Self {
        let label = format!("Scanning {}", path.display());
        Self::spawn(label, 0, move |_| {
            let r = dicom::scan_path(&path, &ImportOptions::default()).map_err(|e| e.to_string());
            JobResult::Scanned(path, r)
        })
    }

    /// Decodes a series into a volume.
    pub fn load_series(series: Series, source: PathBuf) -> Self {
        let label = format!("Loading series {}", series.id);
        let total = series.images.len();
        Self::spawn(label, total, move |p| {
            let r = dicom::load(&series, &LoadOptions::default(), Some(p))
                .map_err(|e| e.to_string())
                .and_then(|l| {
                    if p.cancel.load(Ordering::Relaxed) {
                        return Err("cancelled".into());
                    }
                    let mut findings = series.findings.clone();
                    findings.extend(l.findings);
                    Ok(LoadedSeries {
                        volume: l.volume,
                        label: format!(
                            "series {} {} — {}",
                            series.id,
                            series.description,
                            source.display()
                        ),
                        series_id: Some(series.id.clone()),
                        findings,
                    })
                });
            JobResult::Loaded(r)
        })
    }

    /// Reads a NIfTI volume.
    pub fn load_nifti(path: PathBuf) -> Self {
        let label = format!("Reading {}", path.display());
        Self::spawn(label, 0, move |_| {
            let r = crate::io::nifti::read_volume(&path)
                .map_err(|e| e.to_string())
                .map(|volume| LoadedSeries {
                    volume,
                    label: path.display().to_string(),
                    series_id: None,
                    findings: Vec::new(),
                });
            JobResult::Loaded(r)
        })
    }

    /// Thresholds, keeps the largest island, and reconstructs a smoothed, measured surface.
    pub fn surface(volume: Arc<Volume>, lo_hu: i32, hi_hu: i32, smooth: bool) -> Self {
        let label = format!("Building the surface of {lo_hu}..{hi_hu} HU");
        Self::spawn(label, 0, move |p| {
            JobResult::Surface(build_surface(&volume, lo_hu, hi_hu, smooth, p))
        })
    }

    /// The result, once there is one.
    pub fn poll(&self) -> Option<JobResult> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(JobResult::Loaded(Err(
                "the worker stopped without a result (see the log)".into(),
            ))),
        }
    }

    /// Waits for the result (headless use).
    pub fn wait(self) -> JobResult {
        self.rx.recv().unwrap_or_else(|_| {
            JobResult::Loaded(Err(
                "the worker stopped without a result (see the log)".into()
            ))
        })
    }

    /// Asks the worker to stop; its result is ignored.
    pub fn cancel(&self) {
        self.progress.cancel.store(true, Ordering::Relaxed);
    }

    /// Fraction done, when known.
    pub fn fraction(&self) -> Option<f32> {
        (self.total > 0)
            .then(|| self.progress.done.load(Ordering::Relaxed) as f32 / self.total as f32)
    }
}

fn build_surface(
    v: &Volume,
    lo: i32,
    hi: i32,
    smooth: bool,
    p: &Progress,
) -> Result<BuiltSurface, String> {
    use crate::mesh::pipeline::{ReconstructOptions, reconstruct};
    use crate::mesh::smooth::Smoothing;
    use crate::segment::components::{Connectivity, label};
    if lo > hi {
        return Err(format!("the threshold range {lo}..{hi} HU is empty"));
    }
    let mask = crate::segment::ops::threshold::threshold_mask(&v.hu, lo, hi);
    let comps = label(&mask, Connectivity::TwentySix, false);
    let Some(largest) = comps.largest() else {
        return Err(format!("no voxel lies within {lo}..{hi} HU"));
    };
    let mask = comps.mask_of(|id| id == largest);
    if p.cancel.load(Ordering::Relaxed) {
        return Err("cancelled".into());
    }
    let opts = ReconstructOptions {
        smoothing: smooth.then_some(Smoothing::Sinc {
            iterations: 20,
            pass_band: 0.1,
        }),
        self_intersections: false,
        ..Default::default()
    };
    let r = reconstruct(&mask, &v.geometry, None, &opts)?;
    let summary = format!(
        "{} triangles, {} shells, {}{}",
        r.mesh.triangles.len(),
        r.certificate.shells,
        if r.certificate.closed {
            "closed"
        } else {
            "NOT closed"
        },
        r.smoothing.as_ref().map_or(String::new(), |s| format!(
            "; smoothing moved it at most {:.2} mm (mean {:.3})",
            s.max_mm, s.mean_mm
        ))
    );
    Ok(BuiltSurface {
        mesh: r.mesh,
        deviation_mm: r.vertex_deviation_mm,
        thickness_mm: r.vertex_thickness_mm,
        summary,
    })
}
