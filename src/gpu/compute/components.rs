//! Keep-largest on the GPU: union-find over voxel indices, then the largest root (ties:
//! the smallest root, i.e. the component whose first voxel comes first — the CPU's rule).

use super::{Access, GpuCompute, Kernels, mask_bytes, mask_from, stride};
use crate::compute::Largest;
use crate::segment::components::Connectivity;
use crate::segment::mask::Mask;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    rows: u32,
    cols: u32,
    rw32: u32,
    conn: u32,
    stride: u32,
    pad: [u32; 2],
}

/// The entry points, in the order they run.
const ENTRIES: [&str; 6] = [
    "cs_init",
    "cs_merge",
    "cs_flatten",
    "cs_best_size",
    "cs_best_root",
    "cs_keep",
];

pub(super) fn kernels(device: &wgpu::Device) -> Kernels {
    Kernels::new(
        device,
        "components",
        crate::gpu::shaders::COMPUTE_COMPONENTS,
        &[
            Access::Uniform,
            Access::ReadWrite,
            Access::ReadWrite,
            Access::ReadWrite,
            Access::ReadWrite,
        ],
        &ENTRIES,
    )
}

pub(super) fn keep_largest(
    g: &GpuCompute,
    mask: &Mask,
    conn: Connectivity,
) -> Result<Largest, String> {
    let [n, rows, cols] = mask.dims();
    let voxels = (n * rows * cols) as u64;
    if voxels == 0 || mask.is_empty() {
        return Ok(Largest {
            mask: Mask::new(mask.dims()),
            components: 0,
            voxels: 0,
        });
    }
    if voxels >= u64::from(u32::MAX) || voxels * 4 > g.budget {
        return Err(format!(
            "{n} × {rows} × {cols} voxels need {} MiB per label buffer, beyond the GPU \
             budget of {} MiB",
            voxels * 4 >> 20,
            g.budget >> 20
        ));
    }
    let rw32 = mask.row_words() * 2;
    let words = (n * rows * rw32) as u64;
    let mask_buf = g.storage("mask", mask_bytes(mask));
    let parent = g.zeroed("parent", voxels);
    let sizes = g.zeroed("sizes", voxels);
    let best = g.storage("best", bytemuck::cast_slice(&[0u32, u32::MAX, 0, 0]));
    let with_stride = |invocations: u64| {
        g.uniform(&Params {
            n: n as u32,
            rows: rows as u32,
            cols: cols as u32,
            rw32: rw32 as u32,
            conn: u32::from(u8::from(conn)),
            stride: stride(invocations),
            pad: [0; 2],
        })
    };
    let per_voxel = with_stride(voxels);
    let per_word = with_stride(words);
    let k = &g.components;
    let voxel_group = g.bind(k, &[&per_voxel, &mask_buf, &parent, &sizes, &best]);
    let word_group = g.bind(k, &[&per_word, &mask_buf, &parent, &sizes, &best]);
    let mut enc = g.encoder();
    let (keep, passes) = k.entries.split_last().ok_or("no kernels")?;
    for pipeline in passes {
        GpuCompute::dispatch(&mut enc, pipeline, &voxel_group, voxels);
    }
    GpuCompute::dispatch(&mut enc, keep, &word_group, words);
    let bytes = g.read(enc, &mask_buf, words * 4)?;
    let kept = mask_from(mask.dims(), &bytes)?;
    let best = g.read(g.encoder(), &best, 16)?;
    let best: Vec<u32> = bytemuck::pod_collect_to_vec(&best);
    Ok(Largest {
        voxels: u64::from(best[0]),
        components: best[2] as usize,
        mask: kept,
    })
}
