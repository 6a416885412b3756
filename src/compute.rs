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
use ndarray::Array3;
use serde::{Deserialize, Serialize};
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
    let try_open = |software_ok: bool| -> Result<Arc<dyn Accelerator>, String> {
        match opener {
            Some(o) => o(software_ok),
            None => Err(
                "this build has no GPU support (it was built without the `gui` \
                         feature)"
                    .into(),
            ),
        }
    };
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
