//! Background work for the window: scanning a folder, loading a series, building a surface
//! in the case. Each job runs on its own thread and reports once through a channel; the UI
//! polls every frame, shows progress and can cancel, and never waits.

use crate::case::Case;
use crate::case::record::LoadSettings;
use crate::case::source::{self, OpenedSource};
use crate::dicom::{self, ImportOptions, Progress, ScanReport, Series};
use crate::feasibility::Finding;
use crate::mesh::Mesh;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::Instant;

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
    Loaded(Result<Box<LoadedSeries>, String>),
    /// A surface built in a case; the case comes back either way.
    Surface(Box<Case>, Result<BuiltSurface, String>),
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
            let r = source::from_series(&series, &source, LoadSettings::default(), Some(p))
                .map_err(|e| e.to_string())
                .and_then(|opened| {
                    if p.cancel.load(Ordering::Relaxed) {
                        return Err("cancelled".into());
                    }
                    Ok(Box::new(LoadedSeries {
                        findings: opened.feasibility.findings.clone(),
                        opened,
                        label: format!(
                            "series {} {} — {}",
                            series.id,
                            series.description,
                            source.display()
                        ),
                        series_id: Some(series.id.clone()),
                    }))
                });
            JobResult::Loaded(r)
        })
    }

    /// Reads a NIfTI volume.
    pub fn load_nifti(path: PathBuf) -> Self {
        let label = format!("Reading {}", path.display());
        Self::spawn(label, 0, move |_| {
            let r = source::open(
                &path,
                None,
                LoadSettings::default(),
                &ImportOptions::default(),
            )
            .map_err(|e| e.to_string())
            .map(|opened| LoadedSeries {
                findings: opened.feasibility.findings.clone(),
                opened,
                label: path.display().to_string(),
                series_id: None,
            });
            JobResult::Loaded(r.map(Box::new))
        })
    }

    /// In the case: thresholds `lo..hi` HU into label `bone`, keeps the largest island and
    /// reconstructs a smoothed, measured surface — every step recorded in the case. The
    /// case travels to the worker and back (nothing else can change it meanwhile).
    pub fn case_surface(case: Box<Case>, lo_hu: i32, hi_hu: i32, smooth: bool) -> Self {
        let label = format!("Building the surface of {lo_hu}..{hi_hu} HU in the case");
        Self::spawn(label, 0, move |p| {
            let mut case = case;
            let r = build_surface(&mut case, lo_hu, hi_hu, smooth, p);
            JobResult::Surface(case, r)
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
    case: &mut Case,
    lo: i32,
    hi: i32,
    smooth: bool,
    p: &Progress,
) -> Result<BuiltSurface, String> {
    use crate::mesh::params::MeshParams;
    use crate::segment::Operation;
    if lo > hi {
        return Err(format!("the threshold range {lo}..{hi} HU is empty"));
    }
    let label = "bone";
    let ops = serde_json::json!([
        {"op": "threshold", "lo": lo, "hi": hi, "label": label},
        {"op": "keep_largest", "connectivity": 26, "label": label}
    ]);
    for op in Operation::parse_list(&ops, "step")? {
        case.apply(op).map_err(|e| e.to_string())?;
        if p.cancel.load(Ordering::Relaxed) {
            return Err("cancelled (the operations done so far are saved in the case)".into());
        }
    }
    let params = MeshParams {
        smooth: smooth.then(|| "sinc:20:0.1".to_string()),
        self_intersections: false,
        ..Default::default()
    };
    let opts = params.options().map_err(|e| e.to_string())?;
    let masks = case
        .masks_for(&[label.to_string()])
        .map_err(|e| e.to_string())?;
    let results = crate::case::replay::reconstruct_masks(&masks, case.volume(), &opts)?;
    let first = results
        .first()
        .ok_or_else(|| "nothing was reconstructed".to_string())?;
    let summary = format!(
        "{} triangles, {} shells, {}{} (recorded in the case)",
        first.mesh.triangles.len(),
        first.certificate.shells,
        if first.certificate.closed {
            "closed"
        } else {
            "NOT closed"
        },
        first.smoothing.as_ref().map_or(String::new(), |s| format!(
            "; smoothing moved it at most {:.2} mm (mean {:.3})",
            s.max_mm, s.mean_mm
        ))
    );
    let deviation_mm = first.vertex_deviation_mm.clone();
    let thickness_mm = first.vertex_thickness_mm.clone();
    let seq = case
        .record_reconstruction(&masks, results, &opts)
        .map_err(|e| e.to_string())?;
    let mesh = case
        .meshes(seq)
        .and_then(|m| m.first())
        .map(|(_, m)| m.clone())
        .ok_or_else(|| "the reconstruction was not kept".to_string())?;
    Ok(BuiltSurface {
        mesh,
        deviation_mm,
        thickness_mm,
        summary,
    })
}
