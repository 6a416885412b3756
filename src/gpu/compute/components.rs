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
    set: u32,
    pad: u32,
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
            Access::Read,
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
    let rw32 = mask.row_words() * 2;
    let mask_words: &[u32] = bytemuck::cast_slice(mask.words());
    let words = mask_words.len() as u64;
    // Ranks of the set voxels: the set voxels before each word.
    let mut prefix = Vec::with_capacity(mask_words.len());
    let mut set = 0u64;
    for w in mask_words {
        prefix.push(set as u32);
        set += u64::from(w.count_ones());
    }
    if set >= u64::from(u32::MAX) || set * 4 > g.budget || words * 4 > g.budget {
        return Err(format!(
            "{set} mask voxels need {} MiB per label buffer, beyond the GPU budget of {} MiB",
            (set * 4) >> 20,
            g.budget >> 20
        ));
    }
    let mask_buf = g.storage("mask", mask_bytes(mask));
    let prefix_buf = g.storage("prefix", bytemuck::cast_slice(&prefix));
    let parent = g.zeroed("parent", set);
    let sizes = g.zeroed("sizes", set);
    let best = g.storage("best", bytemuck::cast_slice(&[0u32, u32::MAX, 0, 0]));
    let with_stride = |invocations: u64| {
        g.uniform(&Params {
            n: n as u32,
            rows: rows as u32,
            cols: cols as u32,
            rw32: rw32 as u32,
            conn: u32::from(u8::from(conn)),
            stride: stride(invocations),
            set: set as u32,
            pad: 0,
        })
    };
    let per_word = with_stride(words);
    let per_voxel = with_stride(set);
    let k = &g.components;
    let bind = |u: &wgpu::Buffer| g.bind(k, &[u, &mask_buf, &prefix_buf, &parent, &sizes, &best]);
    let (word_group, voxel_group) = (bind(&per_word), bind(&per_voxel));
    let mut enc = g.encoder();
    // init and merge run per word, flatten and the choice per set voxel, keep per word.
    for (n, pipeline) in k.entries.iter().enumerate() {
        let (group, count) = match n {
            0 | 1 | 5 => (&word_group, words),
            _ => (&voxel_group, set),
        };
        GpuCompute::dispatch(&mut enc, pipeline, group, count);
    }
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
