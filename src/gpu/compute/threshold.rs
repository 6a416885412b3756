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

/// A scan uploaded once, in the slabs [`run`] would upload one at a time.
pub(super) struct Kept {
    /// The [`GpuCompute`] whose device holds the slabs.
    pub(super) owner: u64,
    dims: [usize; 3],
    slabs: Vec<(usize, usize, wgpu::Buffer)>,
}

/// Slices per slab: the HU and the mask of one slab fit the budget.
fn slab_slices(g: &GpuCompute, dims: [usize; 3]) -> usize {
    let [n, rows, cols] = dims;
    let rw32 = cols.div_ceil(64) * 2;
    let slice_bytes = (rows * cols * 2).max(rows * rw32 * 4) as u64 + 4;
    ((g.budget / slice_bytes) as usize).clamp(1, n.max(1))
}

/// The HU in memory order, copied only when `hu` is not laid out that way.
fn values(hu: &Array3<i16>) -> std::borrow::Cow<'_, [i16]> {
    match hu.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(hu.iter().copied().collect()),
    }
}

/// A slab's HU in a new buffer, counted.
fn upload(g: &GpuCompute, label: &str, slab: &[i16]) -> wgpu::Buffer {
    g.hu_uploaded.fetch_add(
        std::mem::size_of_val(slab) as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    g.storage(label, bytemuck::cast_slice(slab))
}

/// Uploads every slab of `hu` to stay on the device.
pub(super) fn keep(g: &GpuCompute, hu: &Array3<i16>) -> Kept {
    let (n, rows, cols) = hu.dim();
    let values = values(hu);
    let per_slab = slab_slices(g, [n, rows, cols]);
    let slabs = (0..n)
        .step_by(per_slab)
        .map(|k0| {
            let k1 = (k0 + per_slab).min(n);
            let slab = &values[k0 * rows * cols..k1 * rows * cols];
            (k0, k1, upload(g, "kept hu slab", slab))
        })
        .collect();
    Kept {
        owner: g.id,
        dims: [n, rows, cols],
        slabs,
    }
}

/// The threshold of a kept scan.
pub(super) fn run_kept(g: &GpuCompute, kept: &Kept, lo: i32, hi: i32) -> Result<Mask, String> {
    let mut out = Mask::new(kept.dims);
    for (k0, k1, buf) in &kept.slabs {
        slab(g, &mut out, *k0, *k1, buf, lo, hi)?;
    }
    Ok(out)
}

/// The threshold of `hu`, uploading one slab at a time (the device never holds more than
/// the budget).
pub(super) fn run(g: &GpuCompute, hu: &Array3<i16>, lo: i32, hi: i32) -> Result<Mask, String> {
    let (n, rows, cols) = hu.dim();
    let mut out = Mask::new([n, rows, cols]);
    if out.words().is_empty() {
        return Ok(out);
    }
    let values = values(hu);
    let per_slab = slab_slices(g, [n, rows, cols]);
    for k0 in (0..n).step_by(per_slab) {
        let k1 = (k0 + per_slab).min(n);
        let hu_buf = upload(g, "hu slab", &values[k0 * rows * cols..k1 * rows * cols]);
        slab(g, &mut out, k0, k1, &hu_buf, lo, hi)?;
    }
    Ok(out)
}

/// Slices `k0..k1` of `out` from the HU of those slices in `hu_buf`.
fn slab(
    g: &GpuCompute,
    out: &mut Mask,
    k0: usize,
    k1: usize,
    hu_buf: &wgpu::Buffer,
    lo: i32,
    hi: i32,
) -> Result<(), String> {
    let [_, rows, cols] = out.dims();
    if out.words().is_empty() {
        return Ok(());
    }
    // The CPU clamps the range to i16 first; so does this.
    let lo = lo.clamp(i32::from(i16::MIN), i32::from(i16::MAX));
    let hi = hi.clamp(i32::from(i16::MIN), i32::from(i16::MAX));
    let rw32 = out.row_words() * 2;
    let sw = out.slice_words();
    let words = ((k1 - k0) * rows * rw32) as u64;
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
    let group = g.bind(&g.threshold, &[&u, hu_buf, &mask_buf]);
    let mut enc = g.encoder();
    GpuCompute::dispatch(&mut enc, &g.threshold.entries[0], &group, words);
    let bytes = g.read(enc, &mask_buf, words * 4)?;
    let part = mask_from([k1 - k0, rows, cols], &bytes)?;
    out.words_mut()[k0 * sw..k1 * sw].copy_from_slice(part.words());
    Ok(())
}
