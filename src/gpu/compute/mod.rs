//! GPU compute: threshold, keep-largest and surface topology on wgpu, giving the CPU's
//! bits exactly (see [`crate::compute`]). Headless: a worker or the CLI opens its own
//! device, no window or renderer lock involved.
//!
//! Memory: every buffer stays within the device's binding and buffer limits and within
//! [`DEFAULT_BUDGET`] (or the budget given); threshold and surface extraction work in
//! slabs of slices, so any volume fits, and the seams give the same result as one piece.
//! Keep-largest needs two words per voxel at once; a volume beyond that is refused with
//! the reason (the caller then runs the CPU and records why).

mod components;
mod surface;
mod threshold;

use crate::compute::{Accelerator, Largest};
use crate::gpu::device::{Gpu, describe_adapter};
use crate::mesh::extract::Topology;
use crate::segment::components::Connectivity;
use crate::segment::mask::Mask;
use ndarray::Array3;
use std::any::Any;
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// The most one buffer may hold unless the caller says otherwise: 512 MiB.
pub const DEFAULT_BUDGET: u64 = 512 << 20;

/// Invocations per workgroup in every compute shader.
const GROUP: u32 = 64;

/// A device with the compute pipelines built.
pub struct GpuCompute {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: String,
    software: bool,
    budget: u64,
    /// This instance among all opened (a kept scan names its owner).
    id: u64,
    /// Held while work is on the device: wgpu's error scopes belong to the device, not the
    /// thread, so two workers' scopes must not interleave.
    work: std::sync::Mutex<()>,
    /// HU bytes uploaded so far (a kept scan once, a streamed one every time).
    hu_uploaded: std::sync::atomic::AtomicU64,
    threshold: Kernels,
    components: Kernels,
    surface: Kernels,
}

impl GpuCompute {
    /// Opens the best adapter headless, with the default memory budget; with
    /// `software_ok` false a software rasteriser is refused before anything is built.
    pub fn open(software_ok: bool) -> Result<Self, String> {
        let gpu = Gpu::headless().map_err(|e| e.to_string())?;
        Self::open_on(&gpu, software_ok)
    }

    /// [`GpuCompute::open`] on a device already open (the window's, which the views
    /// render with: one device, one set of memory).
    pub fn open_on(gpu: &Gpu, software_ok: bool) -> Result<Self, String> {
        if !software_ok && gpu.adapter.get_info().device_type == wgpu::DeviceType::Cpu {
            return Err(format!(
                "{} is a software rasteriser; the CPU is faster",
                gpu.describe()
            ));
        }
        Self::on(gpu, DEFAULT_BUDGET)
    }

    /// The pipelines on an open device; no buffer above `budget` bytes. Fails when the
    /// device refuses a shader or a pipeline.
    pub fn on(gpu: &Gpu, budget: u64) -> Result<Self, String> {
        let device = gpu.device.clone();
        let info = gpu.adapter.get_info();
        let limits = device.limits();
        let budget = budget
            .min(u64::from(limits.max_storage_buffer_binding_size))
            .min(limits.max_buffer_size)
            .max(1 << 16);
        device.push_error_scope(wgpu::ErrorFilter::Validation);
        let (threshold, components, surface) = (
            threshold::kernels(&device),
            components::kernels(&device),
            surface::kernels(&device),
        );
        if let Some(e) = pollster::block_on(device.pop_error_scope()) {
            return Err(format!("the GPU refused the compute shaders: {e}"));
        }
        Ok(Self {
            threshold,
            components,
            surface,
            queue: gpu.queue.clone(),
            adapter: describe_adapter(&gpu.adapter),
            software: info.device_type == wgpu::DeviceType::Cpu,
            budget,
            hu_uploaded: Default::default(),
            work: Default::default(),
            id: {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
            device,
        })
    }

    /// The opener handed to [`crate::compute::open`].
    pub fn opener(software_ok: bool) -> Result<Arc<dyn Accelerator>, String> {
        Self::open(software_ok).map(|g| Arc::new(g) as Arc<dyn Accelerator>)
    }

    /// HU bytes uploaded so far: what keeping a scan on the device saves.
    pub fn hu_uploaded(&self) -> u64 {
        self.hu_uploaded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The largest buffer this instance makes, bytes.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    fn storage(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        // wgpu refuses empty buffers; one word more costs nothing.
        let mut padded;
        let contents = if !bytes.len().is_multiple_of(4) || bytes.is_empty() {
            padded = bytes.to_vec();
            padded.resize(bytes.len().div_ceil(4).max(1) * 4, 0);
            &padded[..]
        } else {
            bytes
        };
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
            })
    }

    fn zeroed(&self, label: &str, words: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: words.max(1) * 4,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn uniform<T: bytemuck::Pod>(&self, value: &T) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("compute params"),
                contents: bytemuck::bytes_of(value),
                usage: wgpu::BufferUsages::UNIFORM,
            })
    }

    fn bind(&self, kernels: &Kernels, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &kernels.layout,
            entries: &entries,
        })
    }

    /// Records one dispatch of `invocations` (laid out as rows of `stride` invocations).
    fn dispatch(
        encoder: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        group: &wgpu::BindGroup,
        invocations: u64,
    ) {
        let (x, y) = grid(invocations);
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, group, &[]);
        pass.dispatch_workgroups(x, y, 1);
    }

    /// Submits `encoder`, then copies `buffer`'s first `bytes` back.
    fn read(
        &self,
        mut encoder: wgpu::CommandEncoder,
        buffer: &wgpu::Buffer,
        bytes: u64,
    ) -> Result<Vec<u8>, String> {
        let size = bytes.div_ceil(4).max(1) * 4;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("compute readback"),
            size,
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::Wait)
            .map_err(|e| format!("the GPU did not finish: {e}"))?;
        rx.recv()
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("reading the result back failed: {e}"))?;
        let data = slice.get_mapped_range();
        let out = data[..bytes as usize].to_vec();
        drop(data);
        staging.unmap();
        Ok(out)
    }

    /// Runs `f` with out-of-memory and validation errors caught: any becomes an `Err`
    /// (the caller falls back to the CPU), never a panic in wgpu's default handler.
    fn guarded<T>(&self, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        let _work = self.work.lock().unwrap_or_else(|e| e.into_inner());
        self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let validation = pollster::block_on(self.device.pop_error_scope());
        let memory = pollster::block_on(self.device.pop_error_scope());
        if let Some(e) = memory {
            return Err(format!("the GPU ran out of memory: {e}"));
        }
        if let Some(e) = validation {
            return Err(format!("the GPU refused the work: {e}"));
        }
        out
    }

    fn encoder(&self) -> wgpu::CommandEncoder {
        self.device.create_command_encoder(&Default::default())
    }
}

/// Workgroups for `invocations`, as (x, y) within the 65,535-per-dimension limit; the
/// shaders number invocations as `id.x + id.y * stride`, [`stride`] of them.
fn grid(invocations: u64) -> (u32, u32) {
    let groups = invocations.div_ceil(u64::from(GROUP)).max(1);
    let x = groups.min(65_535);
    (x as u32, groups.div_ceil(x) as u32)
}

/// Invocations per row of the grid [`grid`] lays out.
fn stride(invocations: u64) -> u32 {
    grid(invocations).0 * GROUP
}

/// A mask's words as the u32 words the shaders use (the same bytes).
fn mask_bytes(mask: &Mask) -> &[u8] {
    bytemuck::cast_slice(mask.words())
}

/// A mask of `dims` from u32 words read back.
fn mask_from(dims: [usize; 3], bytes: &[u8]) -> Result<Mask, String> {
    let mut m = Mask::new(dims);
    let want = m.words().len() * 8;
    if bytes.len() < want {
        return Err(format!(
            "the GPU returned {} bytes of mask, not {want}",
            bytes.len()
        ));
    }
    for (w, b) in m.words_mut().iter_mut().zip(bytes.chunks_exact(8)) {
        *w = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    }
    Ok(m)
}

/// How a shader declares a binding; the layout must say the same.
#[derive(Clone, Copy)]
enum Access {
    Uniform,
    Read,
    ReadWrite,
}

/// The entry points of one shader, sharing one explicit bind group layout (every entry
/// point sees every binding, so one bind group serves them all).
struct Kernels {
    layout: wgpu::BindGroupLayout,
    entries: Vec<wgpu::ComputePipeline>,
}

impl Kernels {
    fn new(
        device: &wgpu::Device,
        label: &str,
        src: &str,
        bindings: &[Access],
        entries: &[&str],
    ) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        });
        let layout_entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
            .iter()
            .enumerate()
            .map(|(i, a)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match a {
                        Access::Uniform => wgpu::BufferBindingType::Uniform,
                        Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                        Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(label),
            entries: &layout_entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(label),
            bind_group_layouts: &[&layout],
            push_constant_ranges: &[],
        });
        let entries = entries
            .iter()
            .map(|e| {
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(e),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(e),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
            .collect();
        Self { layout, entries }
    }
}

impl Accelerator for GpuCompute {
    fn describe(&self) -> String {
        self.adapter.clone()
    }

    fn is_software(&self) -> bool {
        self.software
    }

    fn threshold(&self, hu: &Array3<i16>, lo: i32, hi: i32) -> Result<Mask, String> {
        self.guarded(|| threshold::run(self, hu, lo, hi))
    }

    fn keep(&self, hu: &Array3<i16>) -> Result<Arc<dyn Any + Send + Sync>, String> {
        self.guarded(|| Ok(Arc::new(threshold::keep(self, hu)) as Arc<dyn Any + Send + Sync>))
    }

    fn threshold_kept(
        &self,
        kept: &(dyn Any + Send + Sync),
        lo: i32,
        hi: i32,
    ) -> Result<Mask, String> {
        let kept = kept
            .downcast_ref::<threshold::Kept>()
            .filter(|k| k.owner == self.id)
            .ok_or("the scan was kept by another device")?;
        self.guarded(|| threshold::run_kept(self, kept, lo, hi))
    }

    fn keep_largest(&self, mask: &Mask, conn: Connectivity) -> Result<Largest, String> {
        self.guarded(|| components::keep_largest(self, mask, conn))
    }

    fn surface_topology(&self, mask: &Mask) -> Result<Topology, String> {
        self.guarded(|| surface::topology(self, mask))
    }
}
