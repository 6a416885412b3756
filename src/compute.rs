//! Which processor runs the integer stages — threshold, keep-largest, surface topology —
//! and the record of what ran.
//!
//! The CPU code is the reference. An [`Accelerator`] (the GPU in `gpu::compute`) must give
//! the same bits: a mask word for word, a component choice, a surface topology index for
//! index. Positions, smoothing and every measurement stay on the CPU, so a model made on
//! any machine is the same file. Nothing here knows wgpu: the GPU layer implements the
//! trait, and [`open`] is handed its constructor by the binary.

use crate::mesh::extract::Topology;
use crate::segment::components::Connectivity;
use crate::segment::mask::Mask;
use crate::volume::Volume;
use ndarray::Array3;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::sync::Arc;

/// What the user asked for (`--compute`, the window's preference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ComputeChoice {
    /// The CPU reference, always.
    #[default]
    Cpu,
    /// The GPU; an error when there is none.
    Gpu,
    /// A GPU that is not a software rasteriser, otherwise the CPU.
    Auto,
}

/// The largest component of a mask, as an accelerator found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Largest {
    /// The component alone.
    pub mask: Mask,
    /// How many components the mask had.
    pub components: usize,
    /// Voxels in the kept one.
    pub voxels: u64,
}

/// A device that computes the integer stages exactly as the CPU does.
pub trait Accelerator: Send + Sync {
    /// "name (backend, type)" for the record.
    fn describe(&self) -> String;
    /// True for a software rasteriser (llvmpipe, lavapipe, WARP): right, but no faster.
    fn is_software(&self) -> bool;
    /// `lo <= HU <= hi`, bit for bit as `threshold::threshold_mask`.
    fn threshold(&self, hu: &Array3<i16>, lo: i32, hi: i32) -> Result<Mask, String>;
    /// The largest component (ties: the one whose first voxel comes first), as
    /// `components::label(..).largest()`.
    fn keep_largest(&self, mask: &Mask, conn: Connectivity) -> Result<Largest, String>;
    /// The surface topology of `mask`, index for index as `extract::topology`.
    fn surface_topology(&self, mask: &Mask) -> Result<Topology, String>;
    /// Uploads `hu` to stay on the device for [`Accelerator::threshold_kept`] (one upload
    /// for many thresholds). The default keeps nothing.
    fn keep(&self, hu: &Array3<i16>) -> Result<Arc<dyn Any + Send + Sync>, String> {
        let _ = hu;
        Err(format!(
            "{} keeps no volumes on the device",
            self.describe()
        ))
    }
    /// [`Accelerator::threshold`] of a volume [`Accelerator::keep`] uploaded.
    fn threshold_kept(
        &self,
        kept: &(dyn Any + Send + Sync),
        lo: i32,
        hi: i32,
    ) -> Result<Mask, String> {
        let _ = (kept, lo, hi);
        Err(format!(
            "{} keeps no volumes on the device",
            self.describe()
        ))
    }
}

/// A scan kept where it is thresholded again and again (the live preview's drag): on the
/// accelerator's device, uploaded once, when there is one that could keep it; the host copy
/// always, for the CPU (the reference and the fallback).
#[derive(Clone)]
pub struct KeptVolume {
    volume: Arc<Volume>,
    on_device: Option<Arc<dyn Any + Send + Sync>>,
    /// Why the accelerator does not hold it.
    note: Option<String>,
}

impl std::fmt::Debug for KeptVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptVolume")
            .field("dims", &self.volume.dims())
            .field("on_device", &self.on_device.is_some())
            .field("note", &self.note)
            .finish()
    }
}

impl KeptVolume {
    /// The host copy only: every threshold runs where the `Compute` asked says.
    pub fn host(volume: Arc<Volume>) -> Self {
        Self {
            volume,
            on_device: None,
            note: None,
        }
    }

    /// The scan.
    pub fn volume(&self) -> &Arc<Volume> {
        &self.volume
    }

    /// True when the accelerator holds it.
    pub fn on_device(&self) -> bool {
        self.on_device.is_some()
    }
}

/// Which path ran, for the case, the sidecar and the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeRecord {
    /// `cpu` or `gpu`.
    pub path: String,
    /// The GPU adapter, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Why the CPU ran although a GPU was asked for or allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The resolved choice: an accelerator, or the CPU with the reason.
#[derive(Clone, Default)]
pub struct Compute {
    accel: Option<Arc<dyn Accelerator>>,
    note: Option<String>,
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.record().path)?;
        if let Some(a) = &self.accel {
            write!(f, " ({})", a.describe())?;
        }
        Ok(())
    }
}

/// How the GPU layer is opened: handed to [`open`] so the core never links wgpu. With
/// `software_ok` false it refuses a software rasteriser before building anything.
pub type Opener = fn(software_ok: bool) -> Result<Arc<dyn Accelerator>, String>;

/// Resolves `choice`. `gpu` without a usable device is an error that says what to do;
/// `auto` falls back to the CPU and says why in the record.
pub fn open(choice: ComputeChoice, opener: Option<Opener>) -> Result<Compute, String> {
    open_with(choice, |software_ok| match opener {
        Some(o) => o(software_ok),
        None => Err(
            "this build has no GPU support (it was built without the `gui` \
                     feature)"
                .into(),
        ),
    })
}

/// [`open`] with any opener (the window's opens compute on the device it renders with).
pub fn open_with(
    choice: ComputeChoice,
    try_open: impl Fn(bool) -> Result<Arc<dyn Accelerator>, String>,
) -> Result<Compute, String> {
    match choice {
        ComputeChoice::Cpu => Ok(Compute::cpu()),
        ComputeChoice::Gpu => try_open(true)
            .map(Compute::gpu)
            .map_err(|e| format!("--compute gpu: {e}. Use --compute cpu (the reference) or auto")),
        ComputeChoice::Auto => Ok(match try_open(false) {
            Ok(a) if a.is_software() => Compute {
                note: Some(format!(
                    "auto: {} is a software rasteriser; the CPU is faster",
                    a.describe()
                )),
                accel: None,
            },
            Ok(a) => Compute::gpu(a),
            Err(e) => Compute::cpu_because(format!("auto: {e}")),
        }),
    }
}

impl Compute {
    /// The CPU reference.
    pub fn cpu() -> Self {
        Self::default()
    }

    /// The CPU, with the reason a GPU is not used.
    pub fn cpu_because(note: String) -> Self {
        Self {
            accel: None,
            note: Some(note),
        }
    }

    /// An accelerator.
    pub fn gpu(accel: Arc<dyn Accelerator>) -> Self {
        Self {
            accel: Some(accel),
            note: None,
        }
    }

    /// The accelerator, when one is in use.
    pub fn accelerator(&self) -> Option<&dyn Accelerator> {
        self.accel.as_deref()
    }

    /// What ran (or will run).
    pub fn record(&self) -> ComputeRecord {
        match &self.accel {
            Some(a) => ComputeRecord {
                path: "gpu".into(),
                adapter: Some(a.describe()),
                note: self.note.clone(),
            },
            None => ComputeRecord {
                path: "cpu".into(),
                adapter: None,
                note: self.note.clone(),
            },
        }
    }

    /// Runs `gpu` on the accelerator, or `cpu` without one. A GPU failure (a lost device,
    /// memory) falls back to `cpu` and says so in the returned record: never a crash,
    /// never a different answer.
    pub fn run<T>(
        &self,
        gpu: impl FnOnce(&dyn Accelerator) -> Result<T, String>,
        cpu: impl FnOnce() -> T,
    ) -> (T, ComputeRecord) {
        match self.accelerator() {
            Some(a) => match gpu(a) {
                Ok(v) => (v, self.record()),
                Err(e) => (
                    cpu(),
                    ComputeRecord {
                        path: "cpu".into(),
                        adapter: Some(a.describe()),
                        note: Some(format!("the GPU failed ({e}); the CPU ran instead")),
                    },
                ),
            },
            None => (cpu(), self.record()),
        }
    }
}

impl Compute {
    /// `lo <= HU <= hi` on the accelerator or the CPU (the one threshold every caller uses).
    pub fn threshold(&self, hu: &Array3<i16>, lo: i32, hi: i32) -> (Mask, ComputeRecord) {
        self.run(
            |a| a.threshold(hu, lo, hi),
            || crate::segment::ops::threshold::threshold_mask(hu, lo, hi),
        )
    }

    /// Keeps `volume` on the accelerator (one upload) for [`Compute::threshold_kept`]; on
    /// the CPU, or when the device cannot hold it, the host copy serves.
    pub fn keep(&self, volume: Arc<Volume>) -> KeptVolume {
        let Some(a) = self.accelerator() else {
            return KeptVolume::host(volume);
        };
        match a.keep(&volume.hu) {
            Ok(d) => KeptVolume {
                volume,
                on_device: Some(d),
                note: None,
            },
            Err(e) => KeptVolume {
                volume,
                on_device: None,
                note: Some(format!(
                    "the GPU could not hold the scan ({e}); the CPU thresholds it"
                )),
            },
        }
    }

    /// `lo <= HU <= hi` of a kept scan: on the device that holds it, else as
    /// [`Compute::threshold`]; the same bits either way.
    pub fn threshold_kept(&self, kept: &KeptVolume, lo: i32, hi: i32) -> (Mask, ComputeRecord) {
        let hu = &kept.volume.hu;
        let cpu = || crate::segment::ops::threshold::threshold_mask(hu, lo, hi);
        match (&kept.on_device, &kept.note, self.accelerator()) {
            (Some(d), _, Some(_)) => self.run(|a| a.threshold_kept(d.as_ref(), lo, hi), cpu),
            (None, Some(note), Some(a)) => (
                cpu(),
                ComputeRecord {
                    path: "cpu".into(),
                    adapter: Some(a.describe()),
                    note: Some(note.clone()),
                },
            ),
            _ => self.threshold(hu, lo, hi),
        }
    }

    /// The largest component of `mask` on the accelerator or the CPU.
    pub fn keep_largest(&self, mask: &Mask, conn: Connectivity) -> (Largest, ComputeRecord) {
        self.run(
            |a| a.keep_largest(mask, conn),
            || {
                let c = crate::segment::components::label(mask, conn, false);
                let keep = c.largest();
                Largest {
                    voxels: keep.map_or(0, |k| c.sizes[k as usize]),
                    mask: c.mask_of(|id| Some(id) == keep),
                    components: c.len(),
                }
            },
        )
    }

    /// The closed surface of `mask`: topology on the accelerator or the CPU, vertices placed
    /// by `pos` here (so the mesh is the same file either way).
    pub fn surface(
        &self,
        mask: &Mask,
        geometry: &crate::volume::VolumeGeometry,
        pos: &dyn crate::mesh::extract::EdgePosition,
    ) -> (crate::mesh::Mesh, ComputeRecord) {
        use crate::mesh::extract;
        self.run(
            |a| {
                a.surface_topology(mask)
                    .and_then(|t| extract::finish(mask, geometry, pos, t))
            },
            || extract::extract(mask, geometry, pos),
        )
    }
}

impl ComputeRecord {
    /// One line for notes and the report: "gpu (NVIDIA …)", "cpu (auto: …)".
    pub fn line(&self) -> String {
        let mut s = self.path.clone();
        let mut extra: Vec<&str> = Vec::new();
        if self.path == "gpu" {
            extra.extend(self.adapter.as_deref());
        }
        extra.extend(self.note.as_deref());
        if !extra.is_empty() {
            s.push_str(&format!(" ({})", extra.join("; ")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing(bool);
    impl Accelerator for Failing {
        fn describe(&self) -> String {
            "test device".into()
        }
        fn is_software(&self) -> bool {
            self.0
        }
        fn threshold(&self, _: &Array3<i16>, _: i32, _: i32) -> Result<Mask, String> {
            Err("device lost".into())
        }
        fn keep_largest(&self, _: &Mask, _: Connectivity) -> Result<Largest, String> {
            Err("device lost".into())
        }
        fn surface_topology(&self, _: &Mask) -> Result<Topology, String> {
            Err("device lost".into())
        }
    }

    /// Keeps a copy "on the device" and counts the uploads.
    #[derive(Default)]
    struct Keeping(std::sync::atomic::AtomicUsize);
    impl Accelerator for Keeping {
        fn describe(&self) -> String {
            "keeping device".into()
        }
        fn is_software(&self) -> bool {
            false
        }
        fn threshold(&self, _: &Array3<i16>, _: i32, _: i32) -> Result<Mask, String> {
            Err("streamed".into())
        }
        fn keep_largest(&self, _: &Mask, _: Connectivity) -> Result<Largest, String> {
            Err("no".into())
        }
        fn surface_topology(&self, _: &Mask) -> Result<Topology, String> {
            Err("no".into())
        }
        fn keep(&self, hu: &Array3<i16>) -> Result<Arc<dyn Any + Send + Sync>, String> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Arc::new(hu.clone()))
        }
        fn threshold_kept(
            &self,
            kept: &(dyn Any + Send + Sync),
            lo: i32,
            hi: i32,
        ) -> Result<Mask, String> {
            let hu = kept.downcast_ref::<Array3<i16>>().ok_or("not mine")?;
            Ok(crate::segment::ops::threshold::threshold_mask(hu, lo, hi))
        }
    }

    fn scan() -> Arc<Volume> {
        Arc::new(Volume {
            hu: Array3::from_shape_fn((3, 5, 70), |(k, j, i)| (i * 40 + j * 7 + k) as i16 - 500),
            geometry: crate::volume::VolumeGeometry::axis_aligned(crate::geom::SpacingMm {
                col: 1.0,
                row: 1.0,
                slice: 1.0,
            }),
        })
    }

    #[test]
    fn a_kept_scan_is_uploaded_once_and_thresholds_as_the_cpu() {
        let dev = Arc::new(Keeping::default());
        let c = Compute::gpu(dev.clone());
        let v = scan();
        let kept = c.keep(v.clone());
        assert!(kept.on_device());
        for (lo, hi) in [(0, 1000), (-500, -400), (226, 3071), (9, 9)] {
            let (m, rec) = c.threshold_kept(&kept, lo, hi);
            assert_eq!(rec.path, "gpu", "{rec:?}");
            assert!(m == crate::segment::ops::threshold::threshold_mask(&v.hu, lo, hi));
        }
        assert_eq!(dev.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        // Kept by the CPU (no device): the CPU thresholds, no note.
        let host = Compute::cpu().keep(v.clone());
        assert!(!host.on_device());
        let (m, rec) = c.threshold_kept(&host, 0, 1000);
        assert_eq!(rec.path, "cpu", "the keeping device streams nothing");
        assert!(m == crate::segment::ops::threshold::threshold_mask(&v.hu, 0, 1000));
    }

    #[test]
    fn a_device_that_cannot_keep_the_scan_leaves_it_to_the_cpu_and_says_why() {
        let c = Compute::gpu(Arc::new(Failing(false)));
        let v = scan();
        let kept = c.keep(v.clone());
        assert!(!kept.on_device());
        let (m, rec) = c.threshold_kept(&kept, 0, 1000);
        assert_eq!(rec.path, "cpu");
        assert!(
            rec.line().contains("could not hold the scan"),
            "{}",
            rec.line()
        );
        assert!(m == crate::segment::ops::threshold::threshold_mask(&v.hu, 0, 1000));
        // A device that kept it but fails later: the CPU, with the failure.
        let kept = Compute::gpu(Arc::new(Keeping::default())).keep(v.clone());
        let (m2, rec) = c.threshold_kept(&kept, 0, 1000);
        assert!(m2 == m);
        assert!(rec.line().contains("the GPU failed"), "{}", rec.line());
    }

    #[test]
    fn choices_resolve_and_say_why() {
        let none = open(ComputeChoice::Gpu, None).unwrap_err();
        assert!(none.contains("--compute cpu"), "{none}");
        let auto = open(ComputeChoice::Auto, None).unwrap();
        assert_eq!(auto.record().path, "cpu");
        assert!(auto.record().note.unwrap().contains("no GPU support"));
        let soft: Opener = |ok| {
            if ok {
                Ok(Arc::new(Failing(true)))
            } else {
                Err("test device is a software rasteriser".into())
            }
        };
        let r = open(ComputeChoice::Auto, Some(soft)).unwrap().record();
        assert_eq!(r.path, "cpu");
        assert!(r.note.unwrap().contains("software rasteriser"));
        let g = open(ComputeChoice::Gpu, Some(soft)).unwrap().record();
        assert_eq!(
            (g.path.as_str(), g.adapter.as_deref()),
            ("gpu", Some("test device"))
        );
        assert_eq!(
            open(ComputeChoice::Cpu, Some(soft)).unwrap().record().path,
            "cpu"
        );
    }

    #[test]
    fn a_failing_device_falls_back_to_the_cpu_and_says_so() {
        let c = Compute::gpu(Arc::new(Failing(false)));
        let hu = Array3::<i16>::zeros((1, 1, 1));
        let (m, rec) = c.run(
            |a| a.threshold(&hu, 0, 1),
            || crate::segment::ops::threshold::threshold_mask(&hu, 0, 1),
        );
        assert_eq!(m.count(), 1);
        assert_eq!(rec.path, "cpu");
        assert!(rec.line().contains("device lost"), "{}", rec.line());
    }
}
