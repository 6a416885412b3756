//! Threshold on the GPU, in slabs of slices within the budget.

use super::{Access, GpuCompute, Kernels, mask_from, stride};
use crate::segment::mask::Mask;
use ndarray::Array3;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    rw32: u32,
    slices: u32,
    lo: i32,
    hi: i32,
    stride: u32,
    pad: u32,
}

pub(super) fn kernels(device: &wgpu::Device) -> Kernels {
    Kernels::new(
        device,
        "threshold",
        crate::gpu::shaders::COMPUTE_THRESHOLD,
        &[Access::Uniform, Access::Read, Access::ReadWrite],
        &["cs_threshold"],
    )
}

pub(super) fn run(g: &GpuCompute, hu: &Array3<i16>, lo: i32, hi: i32) -> Result<Mask, String> {
    let (n, rows, cols) = hu.dim();
    let mut out = Mask::new([n, rows, cols]);
    if out.words().is_empty() {
        return Ok(out);
    }
    let hu = hu.as_standard_layout();
    let values = hu.as_slice().ok_or("the HU volume is not contiguous")?;
    // The CPU clamps the range to i16 first; so does this.
    let lo = lo.clamp(i32::from(i16::MIN), i32::from(i16::MAX));
    let hi = hi.clamp(i32::from(i16::MIN), i32::from(i16::MAX));
    let rw32 = out.row_words() * 2;
    let slice_bytes = (rows * cols * 2).max(rows * rw32 * 4) as u64 + 4;
    let per_slab = ((g.budget / slice_bytes) as usize).clamp(1, n);
    let sw = out.slice_words();
    for k0 in (0..n).step_by(per_slab) {
        let k1 = (k0 + per_slab).min(n);
        let slab = &values[k0 * rows * cols..k1 * rows * cols];
        let words = ((k1 - k0) * rows * rw32) as u64;
        let hu_buf = g.storage("hu slab", bytemuck::cast_slice(slab));
        let mask_buf = g.zeroed("mask slab", words);
        let params = Params {
            rows: rows as u32,
            cols: cols as u32,
            rw32: rw32 as u32,
            slices: (k1 - k0) as u32,
            lo,
            hi,
            stride: stride(words),
            pad: 0,
        };
        let u = g.uniform(&params);
        let group = g.bind(&g.threshold, &[&u, &hu_buf, &mask_buf]);
        let mut enc = g.encoder();
        GpuCompute::dispatch(&mut enc, &g.threshold.entries[0], &group, words);
        let bytes = g.read(enc, &mask_buf, words * 4)?;
        let part = mask_from([k1 - k0, rows, cols], &bytes)?;
        out.words_mut()[k0 * sw..k1 * sw].copy_from_slice(part.words());
    }
    Ok(out)
}
