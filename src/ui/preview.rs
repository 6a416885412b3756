//! The threshold tool's live 3D preview: while the handles move, a worker makes the surface
//! of the range ([`crate::mesh::preview`]) on a thinned lattice, and once they rest, on the
//! full one; the 3D view shows the newest. One worker at a time: a request that arrives
//! while one runs cancels it at its next stage and goes next, so the view never lags more
//! than one update behind the handles.

use super::jobs::SharedCompute;
use crate::compute::{Compute, ComputeChoice, KeptVolume};
use crate::jobs::{Job, Poll, Waker};
use crate::mesh::preview::{self, CANCELLED, PreviewRequest, PreviewSurface};
use crate::volume::Volume;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the range must rest before the full lattice is previewed.
pub const REST: Duration = Duration::from_millis(150);

/// The preview's own thread pool: one core fewer than the machine has, so the window (and
/// a software rasteriser drawing it) keeps one while the handles move. `None`: the global
/// pool (one core only, or no pool could be made).
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores > 1)
            .then(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(cores - 1)
                    .thread_name(|i| format!("hounsfield-preview-{i}"))
                    .build()
                    .ok()
            })
            .flatten()
    })
    .as_ref()
}

/// What the preview wants: the range and whether only the largest component shows.
pub type Wanted = (i32, i32, bool);

/// The preview's state.
#[derive(Default)]
pub struct SurfacePreview {
    job: Option<(PreviewRequest, Job<Result<PreviewSurface, String>>)>,
    /// The surface on show, when there is one.
    pub shown: Option<Arc<PreviewSurface>>,
    /// Counts every new surface (the GPU upload's key).
    pub generation: u64,
    /// Why the last preview failed (not retried until the range changes).
    pub error: Option<String>,
    error_reported: bool,
    wanted: Option<(Wanted, Instant)>,
    /// The lattice step while the handles move, for the volume below.
    drag_step: usize,
    /// The volume previewed (its address), to start afresh on another.
    volume: usize,
    /// Its lattices kept on the compute device, shared with the workers.
    kept: KeptLattices,
}

/// The lattices of one scan kept where they are thresholded, by step and compute choice:
/// a drag uploads each once.
#[derive(Clone, Default)]
struct KeptLattices(Arc<Mutex<Vec<(usize, ComputeChoice, KeptVolume)>>>);

impl KeptLattices {
    /// The lattice of `volume` at `step`, kept by `compute` now if it is not yet.
    fn get(
        &self,
        volume: &Arc<Volume>,
        step: usize,
        choice: ComputeChoice,
        compute: &Compute,
    ) -> KeptVolume {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, k)) = g.iter().find(|(s, c, _)| *s == step && *c == choice) {
            return k.clone();
        }
        // Another choice means another device: what the old one holds is of no use.
        g.retain(|(_, c, _)| *c == choice);
        let kept = compute.keep(preview::lattice(volume, step));
        g.push((step, choice, kept.clone()));
        kept
    }

    /// Lets the device memory go.
    fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl std::fmt::Debug for SurfacePreview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SurfacePreview")
            .field("running", &self.job.as_ref().map(|j| j.0))
            .field("shown", &self.shown.as_ref().map(|s| s.request))
            .field("generation", &self.generation)
            .finish()
    }
}

/// Where the workers get their volume and compute context.
pub struct PreviewEnv<'a> {
    /// The scan.
    pub volume: &'a Arc<Volume>,
    /// The window's compute context.
    pub compute: &'a SharedCompute,
    /// The preference.
    pub choice: ComputeChoice,
    /// Wakes the window when a surface is ready.
    pub waker: Option<Waker>,
}

impl SurfacePreview {
    /// True while a surface is being made or one is still due for the range asked.
    pub fn busy(&self) -> bool {
        self.job.is_some() || self.due().is_some()
    }

    /// Brings the preview towards `wanted` (`None`: no preview; the surface is dropped).
    /// Returns when the window should look again (the rest timer), if it should.
    pub fn update(
        &mut self,
        wanted: Option<Wanted>,
        env: Option<PreviewEnv<'_>>,
    ) -> Option<Duration> {
        self.poll();
        let (Some(w), Some(env)) = (wanted, env) else {
            if let Some((_, j)) = self.job.take() {
                j.cancel();
            }
            self.shown = None;
            self.wanted = None;
            self.error = None;
            self.kept.clear();
            return None;
        };
        let id = Arc::as_ptr(env.volume) as usize;
        if id != self.volume {
            if let Some((_, j)) = self.job.take() {
                j.cancel();
            }
            self.shown = None;
            self.volume = id;
            self.kept = KeptLattices::default();
            self.drag_step = preview::step_for(env.volume.dims(), preview::DRAG_VOXELS);
        }
        if self.wanted.is_none_or(|(old, _)| old != w) {
            self.wanted = Some((w, Instant::now()));
            self.error = None;
        }
        if let Some((req, j)) = &self.job {
            if (req.lo, req.hi, req.largest_only) != w {
                j.cancel();
            }
            return None;
        }
        let step = self.due()?;
        if step == 1
            && let Some((_, since)) = self.wanted
        {
            let left = REST.saturating_sub(since.elapsed());
            let coarse_shown = self
                .shown
                .as_ref()
                .is_some_and(|s| (s.request.lo, s.request.hi, s.request.largest_only) == w);
            // Only the full lattice is left to do: wait until the handles rest.
            if coarse_shown && !left.is_zero() {
                return Some(left);
            }
        }
        let req = PreviewRequest {
            lo: w.0,
            hi: w.1,
            largest_only: w.2,
            step,
        };
        let volume = env.volume.clone();
        let shared = env.compute.clone();
        let choice = env.choice;
        let kept = self.kept.clone();
        let job = Job::spawn(
            format!("Previewing {}..{} HU in 3D", w.0, w.1),
            0,
            env.waker,
            move |p| {
                let compute = shared.get(choice);
                let run = || {
                    let lattice = kept.get(&volume, req.step, choice, &compute);
                    preview::surface_kept(&lattice, req, &compute, &p.cancel)
                };
                match pool() {
                    Some(pool) => pool.install(run),
                    None => run(),
                }
            },
        );
        self.job = Some((req, job));
        None
    }

    /// The step the next surface needs, if one is due: the dragging step for a new range,
    /// then the full lattice.
    fn due(&self) -> Option<usize> {
        let (w, _) = self.wanted?;
        if self.error.is_some() {
            return None;
        }
        let shown = self
            .shown
            .as_ref()
            .filter(|s| (s.request.lo, s.request.hi, s.request.largest_only) == w);
        match shown {
            Some(s) if s.request.step == 1 => None,
            Some(_) => Some(1),
            None => Some(self.drag_step.max(1)),
        }
    }

    fn poll(&mut self) {
        let Some((_, j)) = &self.job else {
            return;
        };
        match j.poll() {
            Poll::Running => {}
            Poll::Done(r) => {
                self.job = None;
                match r {
                    Ok(s) => {
                        self.shown = Some(Arc::new(s));
                        self.generation += 1;
                    }
                    Err(e) if e == CANCELLED => {}
                    Err(e) => {
                        self.error = Some(e);
                        self.error_reported = false;
                    }
                }
            }
            Poll::Lost => {
                self.job = None;
                self.error = Some("the preview worker stopped without a surface".into());
                self.error_reported = false;
            }
        }
    }

    /// The failure, once: for the window's messages.
    pub fn new_error(&mut self) -> Option<String> {
        if self.error_reported {
            return None;
        }
        self.error_reported = true;
        self.error.clone()
    }

    /// Waits for the running surface (scripts, tests).
    pub fn wait(&mut self) {
        while self.job.is_some() {
            self.poll();
            if self.job.is_some() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::SpacingMm;
    use crate::volume::VolumeGeometry;
    use ndarray::Array3;

    /// 8.4 M voxels (above the dragging budget, so the dragging step is 2): a slab of bone.
    fn volume() -> Arc<Volume> {
        let hu = Array3::from_shape_fn((8, 1024, 1024), |(k, j, i)| {
            if (2..6).contains(&k) && (100..900).contains(&j) && (200..700).contains(&i) {
                if (400..420).contains(&j) { 1500 } else { 400 }
            } else {
                -1000
            }
        });
        Arc::new(Volume {
            hu,
            geometry: VolumeGeometry::axis_aligned(SpacingMm {
                col: 0.4,
                row: 0.4,
                slice: 1.0,
            }),
        })
    }

    fn env<'a>(v: &'a Arc<Volume>, c: &'a SharedCompute) -> Option<PreviewEnv<'a>> {
        Some(PreviewEnv {
            volume: v,
            compute: c,
            choice: ComputeChoice::Cpu,
            waker: None,
        })
    }

    #[test]
    fn a_new_range_is_shown_thinned_first_then_whole_once_it_rests() {
        let v = volume();
        let c = SharedCompute::default();
        let mut p = SurfacePreview::default();
        assert!(!p.busy());
        p.update(Some((226, 3071, false)), env(&v, &c));
        assert!(p.busy());
        p.wait();
        p.update(Some((226, 3071, false)), env(&v, &c));
        let s = p.shown.clone().expect("the thinned surface");
        assert_eq!(s.request.step, 2);
        assert_eq!(s.grid, [4, 512, 512]);
        assert!(s.caption().contains("every 2nd voxel"), "{}", s.caption());
        // The full lattice waits for the handles to rest, then follows.
        while let Some(wait) = p.update(Some((226, 3071, false)), env(&v, &c)) {
            std::thread::sleep(wait);
        }
        p.wait();
        p.update(Some((226, 3071, false)), env(&v, &c));
        let s = p.shown.clone().expect("the full surface");
        assert_eq!(s.request.step, 1);
        assert_eq!(s.grid, [8, 1024, 1024]);
        assert!(!p.busy(), "{p:?}");
        assert_eq!(p.generation, 2);
        let full = preview::surface(
            &v.hu,
            &v.geometry,
            s.request,
            &crate::compute::Compute::cpu(),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(s.mesh, full.mesh);
    }

    #[test]
    fn a_range_that_moves_on_cancels_the_running_surface_and_goes_next() {
        let v = volume();
        let c = SharedCompute::default();
        let mut p = SurfacePreview::default();
        p.update(Some((226, 3071, false)), env(&v, &c));
        // The handles move before it is done: the running worker is asked to stop.
        p.update(Some((1000, 3071, false)), env(&v, &c));
        let running = p.job.as_ref().expect("still running").1.cancelled();
        assert!(running);
        p.wait();
        p.update(Some((1000, 3071, false)), env(&v, &c));
        p.wait();
        p.update(Some((1000, 3071, false)), env(&v, &c));
        let s = p.shown.clone().expect("the new range's surface");
        assert_eq!((s.request.lo, s.request.hi), (1000, 3071));
        // Only the dense strip is in range: fewer triangles than the whole slab.
        assert!(!s.mesh.triangles.is_empty());
        // No preview wanted: the surface goes, nothing runs.
        p.update(None, env(&v, &c));
        assert!(p.shown.is_none() && !p.busy());
    }

    #[test]
    fn an_empty_volume_gives_an_empty_surface_not_an_error() {
        let v = Arc::new(Volume {
            hu: Array3::from_elem((3, 4, 5), -1000i16),
            geometry: VolumeGeometry::axis_aligned(SpacingMm {
                col: 1.0,
                row: 1.0,
                slice: 1.0,
            }),
        });
        let c = SharedCompute::default();
        let mut p = SurfacePreview::default();
        p.update(Some((226, 3071, true)), env(&v, &c));
        p.wait();
        p.update(Some((226, 3071, true)), env(&v, &c));
        let s = p
            .shown
            .clone()
            .unwrap_or_else(|| panic!("{:?} {:?}", p.error, p));
        assert!(s.mesh.triangles.is_empty());
        assert_eq!(s.components, Some(0));
        assert!(p.error.is_none());
    }
}
