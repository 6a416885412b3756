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
}
