//! GPU compute against the CPU reference, bit for bit: threshold masks, keep-largest and
//! surface topology (hence the mesh file), on random masks (border-touching ones
//! included), on the phantom's bone mask, and in slabs far smaller than the volume.
//!
//! Needs a wgpu adapter (Mesa's lavapipe in CI): without one the tests skip, except with
//! CI=true where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use hounsfield::compute::Accelerator;
use hounsfield::geom::SpacingMm;
use hounsfield::gpu::compute::{DEFAULT_BUDGET, GpuCompute};
use hounsfield::mesh::extract::{self, Midpoint};
use hounsfield::segment::components::{self, Connectivity};
use hounsfield::segment::mask::Mask;
use hounsfield::segment::ops::threshold::threshold_mask;
use hounsfield::volume::VolumeGeometry;
use ndarray::Array3;

fn compute(budget: u64) -> Option<GpuCompute> {
    common::gpu().map(|g| GpuCompute::on(&g, budget).expect("compute pipelines"))
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random mask: blobs of random density, some touching the border, some not.
fn random_mask(rng: &mut Rng) -> Mask {
    let dims = [
        1 + rng.below(12) as usize,
        1 + rng.below(40) as usize,
        1 + rng.below(100) as usize,
    ];
    let density = rng.below(100);
    let margin = rng.below(2) as usize;
    let mut m = Mask::new(dims);
    for k in 0..dims[0] {
        for j in 0..dims[1] {
            for i in 0..dims[2] {
                let interior = k >= margin
                    && j >= margin
                    && i >= margin
                    && k + margin < dims[0]
                    && j + margin < dims[1]
                    && i + margin < dims[2];
                if interior && rng.below(100) < density {
                    m.set(k, j, i, true);
                }
            }
        }
    }
    m
}

fn geometry() -> VolumeGeometry {
    VolumeGeometry::axis_aligned(SpacingMm {
        col: 0.45,
        row: 0.45,
        slice: 1.0,
    })
}

fn assert_same_largest(g: &GpuCompute, m: &Mask, conn: Connectivity, what: &str) {
    let c = components::label(m, conn, false);
    let keep = c.largest();
    let cpu = c.mask_of(|id| Some(id) == keep);
    let gpu = g.keep_largest(m, conn).expect("keep largest");
    assert!(gpu.mask == cpu, "{what}: keep-largest ({conn:?}) differs");
    assert_eq!(gpu.components, c.len(), "{what}: component count");
    assert_eq!(
        gpu.voxels,
        keep.map_or(0, |k| c.sizes[k as usize]),
        "{what}: kept size"
    );
}

#[test]
fn two_hundred_random_masks_give_the_cpus_topology_and_largest_component() {
    let Some(g) = compute(DEFAULT_BUDGET) else {
        return;
    };
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    for n in 0..200 {
        let m = random_mask(&mut rng);
        let what = format!("random mask {n} {:?}", m.dims());
        let gpu = g.surface_topology(&m).expect("gpu topology");
        assert_eq!(gpu, extract::topology(&m), "{what}: topology");
        let conn = [
            Connectivity::Six,
            Connectivity::Eighteen,
            Connectivity::TwentySix,
        ][n % 3];
        assert_same_largest(&g, &m, conn, &what);
    }
}

#[test]
fn random_hu_volumes_threshold_to_the_cpus_mask() {
    let Some(g) = compute(DEFAULT_BUDGET) else {
        return;
    };
    let mut rng = Rng(77);
    for n in 0..40 {
        let dims = (
            1 + rng.below(9) as usize,
            1 + rng.below(33) as usize,
            1 + rng.below(140) as usize,
        );
        let hu = Array3::from_shape_fn(dims, |_| (rng.below(65_536) as i64 - 32_768) as i16);
        let (lo, hi) = match n % 4 {
            0 => (226, 3071),
            1 => (-40_000, 40_000),
            2 => (i32::from(i16::MIN), i32::from(i16::MIN)),
            _ => (rng.below(4000) as i32 - 2000, rng.below(4000) as i32),
        };
        let cpu = threshold_mask(&hu, lo, hi);
        let gpu = g.threshold(&hu, lo, hi).expect("gpu threshold");
        assert!(gpu == cpu, "volume {n} {dims:?} [{lo}, {hi}]");
    }
}

#[test]
fn slabs_far_smaller_than_the_volume_give_the_same_bits() {
    // 64 KiB buffers: the threshold and the surface of this volume run in many slabs.
    let Some(small) = compute(1 << 16) else {
        return;
    };
    let whole = compute(DEFAULT_BUDGET).expect("the same adapter");
    let dims = (60, 70, 90);
    let hu = Array3::from_shape_fn(dims, |(k, j, i)| {
        let (x, y, z) = (i as f64 - 45.0, j as f64 - 35.0, (k as f64 - 30.0) * 1.3);
        let r = (x * x + y * y + z * z).sqrt();
        if (20.0..24.0).contains(&r) || (i + 2 * j + 3 * k) % 37 == 0 {
            1200
        } else {
            -1000
        }
    });
    let cpu = threshold_mask(&hu, 226, 3071);
    assert!(small.threshold(&hu, 226, 3071).unwrap() == cpu);
    let topo = small.surface_topology(&cpu).unwrap();
    assert_eq!(topo, extract::topology(&cpu));
    assert_eq!(topo, whole.surface_topology(&cpu).unwrap());
    let mesh = extract::finish(&cpu, &geometry(), &Midpoint, topo).unwrap();
    assert_eq!(mesh, extract::extract(&cpu, &geometry(), &Midpoint));
    // Keep-largest does not chunk: beyond the budget it says so (the caller runs the CPU).
    let e = small
        .keep_largest(&cpu, Connectivity::TwentySix)
        .unwrap_err();
    assert!(e.contains("budget"), "{e}");
    assert_same_largest(&whole, &cpu, Connectivity::TwentySix, "sphere shell");
}

#[test]
fn the_phantoms_bone_mask_and_surface_are_the_cpus_on_the_gpu() {
    let Some(g) = compute(DEFAULT_BUDGET) else {
        return;
    };
    let Some(root) = common::phantom() else {
        return;
    };
    let report =
        hounsfield::dicom::scan_path(&root.join("S21570/S2030"), &Default::default()).unwrap();
    let v = hounsfield::dicom::load(report.volumes()[0], &Default::default(), None)
        .unwrap()
        .volume;
    let cpu = threshold_mask(&v.hu, 226, 3071);
    let gpu = g.threshold(&v.hu, 226, 3071).unwrap();
    assert!(gpu == cpu, "bone threshold");
    assert_same_largest(&g, &cpu, Connectivity::TwentySix, "S2030 bone");
    let bone = g.keep_largest(&cpu, Connectivity::TwentySix).unwrap().mask;
    let topo = g.surface_topology(&bone).unwrap();
    let mesh = extract::finish(&bone, &v.geometry, &Midpoint, topo).unwrap();
    let reference = extract::extract(&bone, &v.geometry, &Midpoint);
    assert!(mesh.triangles.len() > 1_000_000);
    assert!(mesh == reference, "S2030 bone surface");
}

#[test]
fn the_live_threshold_preview_on_the_gpu_is_the_cpus_surface() {
    use hounsfield::compute::Compute;
    use hounsfield::mesh::preview::{self, PreviewRequest};
    let Some(g) = compute(DEFAULT_BUDGET) else {
        return;
    };
    let Some(root) = common::phantom() else {
        return;
    };
    let report =
        hounsfield::dicom::scan_path(&root.join("S21570/S2030"), &Default::default()).unwrap();
    let v = hounsfield::dicom::load(report.volumes()[0], &Default::default(), None)
        .unwrap()
        .volume;
    let gpu = Compute::gpu(std::sync::Arc::new(g));
    // The dragging step on S2030, and a coarser one; the full lattice is the phantom test's.
    assert_eq!(preview::step_for(v.dims(), preview::DRAG_VOXELS), 2);
    for (step, largest_only) in [(2, true), (3, false)] {
        let req = PreviewRequest {
            lo: 226,
            hi: 3071,
            largest_only,
            step,
        };
        let never = Default::default();
        let on_gpu = preview::surface(&v.hu, &v.geometry, req, &gpu, &never).unwrap();
        let on_cpu = preview::surface(&v.hu, &v.geometry, req, &Compute::cpu(), &never).unwrap();
        assert_eq!(on_gpu.compute.path, "gpu", "{:?}", on_gpu.compute);
        assert!(on_gpu.mesh.triangles.len() > 10_000);
        assert!(on_gpu.mesh == on_cpu.mesh, "step {step}");
        assert_eq!(on_gpu.voxels, on_cpu.voxels);
        assert_eq!(on_gpu.components, on_cpu.components);
    }
}

#[test]
fn a_scan_kept_on_the_device_is_uploaded_once_and_thresholds_to_the_cpus_mask() {
    use hounsfield::compute::Compute;
    use std::sync::Arc;
    // Many slabs (64 KiB buffers) and one.
    for budget in [1 << 16, DEFAULT_BUDGET] {
        let Some(g) = compute(budget) else {
            return;
        };
        let g = Arc::new(g);
        let mut rng = Rng(5 + budget);
        let dims = (23, 37, 101);
        let hu = Array3::from_shape_fn(dims, |_| (rng.below(65_536) as i64 - 32_768) as i16);
        let bytes = (hu.len() * 2) as u64;
        let c = Compute::gpu(g.clone());
        let volume = Arc::new(hounsfield::volume::Volume {
            hu: hu.clone(),
            geometry: geometry(),
        });
        let kept = c.keep(volume);
        assert!(kept.on_device(), "{kept:?}");
        assert_eq!(g.hu_uploaded(), bytes);
        for n in 0..12 {
            let (lo, hi) = match n % 3 {
                0 => (226, 3071),
                1 => (i32::from(i16::MIN), i32::from(i16::MIN)),
                _ => (rng.below(4000) as i32 - 2000, rng.below(4000) as i32),
            };
            let (m, rec) = c.threshold_kept(&kept, lo, hi);
            assert_eq!(rec.path, "gpu", "{rec:?}");
            assert!(
                m == threshold_mask(&hu, lo, hi),
                "[{lo}, {hi}] budget {budget}"
            );
        }
        assert_eq!(
            g.hu_uploaded(),
            bytes,
            "thresholds of a kept scan upload nothing"
        );
        // A streamed threshold uploads the scan again.
        assert!(g.threshold(&hu, 226, 3071).unwrap() == threshold_mask(&hu, 226, 3071));
        assert_eq!(g.hu_uploaded(), 2 * bytes);
        // Another device cannot use these buffers: the CPU runs, and says why.
        let other = Compute::gpu(Arc::new(compute(budget).unwrap()));
        let (m, rec) = other.threshold_kept(&kept, 226, 3071);
        assert!(m == threshold_mask(&hu, 226, 3071));
        assert_eq!(rec.path, "cpu");
        assert!(rec.line().contains("another device"), "{}", rec.line());
    }
}

#[test]
fn the_windows_preview_drag_uploads_each_lattice_once() {
    use hounsfield::compute::{Compute, ComputeChoice};
    use hounsfield::mesh::preview;
    use hounsfield::ui::jobs::SharedCompute;
    use hounsfield::ui::preview::{PreviewEnv, SurfacePreview};
    use std::sync::Arc;
    let Some(g) = compute(DEFAULT_BUDGET) else {
        return;
    };
    let g = Arc::new(g);
    // 6.4 M voxels, above the dragging budget: dragged every 2nd voxel, then whole.
    let dims = (10, 800, 800);
    let hu = Array3::from_shape_fn(dims, |(k, j, i)| {
        let (x, y) = (i as f64 - 400.0, j as f64 - 400.0);
        let r = (x * x + y * y).sqrt();
        if (2..8).contains(&k) && (200.0..260.0).contains(&r) {
            if j % 50 < 10 { 1500 } else { 500 }
        } else {
            -1000
        }
    });
    let v = Arc::new(hounsfield::volume::Volume {
        hu,
        geometry: geometry(),
    });
    assert_eq!(preview::step_for(v.dims(), preview::DRAG_VOXELS), 2);
    let shared = SharedCompute::opened(ComputeChoice::Gpu, Compute::gpu(g.clone()));
    let env = || {
        Some(PreviewEnv {
            volume: &v,
            compute: &shared,
            choice: ComputeChoice::Gpu,
            waker: None,
        })
    };
    let mut p = SurfacePreview::default();
    for w in [(226, 3071, false), (1000, 3071, false), (226, 3071, true)] {
        // Thinned first, then the full lattice once the range rests.
        for _ in 0..2 {
            while let Some(wait) = p.update(Some(w), env()) {
                std::thread::sleep(wait);
            }
            p.wait();
        }
        p.update(Some(w), env());
        let s = p.shown.clone().expect("a surface");
        assert_eq!((s.request.lo, s.request.hi, s.request.step), (w.0, w.1, 1));
        assert_eq!(s.compute.path, "gpu", "{:?}", s.compute);
        let cpu = preview::surface(
            &v.hu,
            &v.geometry,
            s.request,
            &Compute::cpu(),
            &Default::default(),
        )
        .unwrap();
        assert!(s.mesh == cpu.mesh, "{w:?}");
        assert!(!s.mesh.triangles.is_empty());
    }
    let whole = (v.hu.len() * 2) as u64;
    let thinned = (5 * 400 * 400 * 2) as u64;
    assert_eq!(g.hu_uploaded(), whole + thinned, "each lattice once");
    // Leaving the threshold tool lets the device memory go; coming back uploads again.
    p.update(None, env());
    p.update(Some((226, 3071, false)), env());
    p.wait();
    assert_eq!(g.hu_uploaded(), whole + 2 * thinned);
}

#[test]
fn the_window_computes_on_the_device_it_renders_with() {
    use hounsfield::compute::ComputeChoice;
    use hounsfield::ui::app::App;
    use hounsfield::ui::headless::Headless;
    use hounsfield::ui::prefs::Prefs;
    use std::sync::Arc;
    if common::gpu().is_none() {
        return;
    }
    let window = Headless::new([320, 240]).expect("an offscreen window");
    let rs = window.render_state();
    let app = App::new(Some(rs.clone()), Prefs::default());
    assert!(
        app.shared_compute.device() == Some(&rs.device),
        "one device"
    );
    // The threshold's live 3D surface starts off where a software rasteriser draws.
    let software = rs.adapter.get_info().device_type == wgpu::DeviceType::Cpu;
    assert_eq!(app.editor.threshold.surface_3d, !software);
    let compute = app.shared_compute.get(ComputeChoice::Gpu);
    let rec = compute.record();
    assert_eq!(rec.path, "gpu", "{rec:?}");
    assert_eq!(rec.adapter.as_deref(), Some(window.describe().as_str()));
    // Work on the shared device gives the CPU's bits.
    let hu = Array3::from_shape_fn((5, 9, 70), |(k, j, i)| (i * 37 + j * 11 + k) as i16 - 900);
    let kept = compute.keep(Arc::new(hounsfield::volume::Volume {
        hu: hu.clone(),
        geometry: geometry(),
    }));
    assert!(kept.on_device());
    let (m, rec) = compute.threshold_kept(&kept, 226, 3071);
    assert_eq!(rec.path, "gpu");
    assert!(m == threshold_mask(&hu, 226, 3071));
    // Without a window the context opens a device of its own.
    assert!(
        App::new(None, Prefs::default())
            .shared_compute
            .device()
            .is_none()
    );
}

#[test]
fn segment_and_mesh_with_compute_gpu_write_the_cpus_files_and_say_which_ran() {
    if compute(DEFAULT_BUDGET).is_none() {
        return;
    }
    let Some(root) = common::phantom() else {
        return;
    };
    let series = root.join("S21570/S2030");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("gpu-compute-cli");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let recipe = dir.join("bone.json");
    std::fs::write(
        &recipe,
        r#"[{"op": "threshold", "lo": 226, "hi": 3071, "label": "bone"},
            {"op": "keep_largest", "connectivity": 26, "label": "bone"}]"#,
    )
    .unwrap();
    let s = common::s;
    let mut hashes = Vec::new();
    for c in ["cpu", "gpu"] {
        let mask = dir.join(format!("bone-{c}.nii.gz"));
        let log = dir.join(format!("log-{c}.json"));
        let (code, _, err) = common::hounsfield(&[
            "segment",
            s(&series),
            "--recipe",
            s(&recipe),
            "--out",
            s(&mask),
            "--log",
            s(&log),
            "--compute",
            c,
        ]);
        assert_eq!(code, 0, "{err}");
        let log: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
        hashes.push(log["final_hash"].as_str().unwrap().to_string());
        let notes = log["entries"].to_string();
        assert_eq!(notes.contains("computed on gpu"), c == "gpu", "{notes}");
        let model = dir.join(format!("bone-{c}.stl"));
        let (code, _, err) =
            common::hounsfield(&["mesh", s(&mask), "--out", s(&model), "--compute", c]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains(&format!("surface on {c}")), "{err}");
        let sidecar: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("bone-{c}.stl.json"))).unwrap(),
        )
        .unwrap();
        let ran = &sidecar["reconstruction"]["labels"][0]["compute"];
        assert_eq!(ran["path"], c, "{sidecar}");
        assert_eq!(ran["adapter"].is_string(), c == "gpu", "{ran}");
    }
    assert_eq!(hashes[0], hashes[1], "the masks' final hashes");
    let a = std::fs::read(dir.join("bone-cpu.stl")).unwrap();
    let b = std::fs::read(dir.join("bone-gpu.stl")).unwrap();
    assert!(a.len() > 50_000_000 && a == b, "the STL files differ");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_512_by_512_by_900_volume_in_slabs_gives_the_unchunked_cpu_mesh() {
    // 4 MiB buffers: the 29 MiB mask runs as slabs of about 120 slices, and the seams cut
    // through every structure below (tubes along z, a shell, a sheet with holes).
    let Some(g) = compute(4 << 20) else { return };
    let dims = [900, 512, 512];
    let mask = Mask::from_fn(dims, |k, j, i| {
        let (x, y, z) = (i as f64 - 256.0, j as f64 - 256.0, k as f64 - 450.0);
        let tube = |cx: f64, cy: f64, r: f64| ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() < r;
        let r = (x * x + y * y + z * z).sqrt();
        tube(-150.0, 0.0, 12.0)
            || tube(120.0, 90.0, 4.5)
            || (200.0..203.0).contains(&r)
            || (k % 97 == 3 && (i / 16 + j / 16) % 3 != 0 && i > 300)
    });
    let topo = g.surface_topology(&mask).expect("gpu topology in slabs");
    let geometry = geometry();
    let mesh = extract::finish(&mask, &geometry, &Midpoint, topo).unwrap();
    let reference = extract::extract(&mask, &geometry, &Midpoint);
    assert!(mesh.triangles.len() > 1_000_000, "{}", mesh.triangles.len());
    assert!(mesh == reference, "slabbed GPU mesh differs from the CPU's");
    let c = hounsfield::mesh::check::certify(&mesh);
    assert!(c.closed && c.manifold, "{c:?}");
}
