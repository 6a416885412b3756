//! The render pipelines and bind groups the view renderer draws with: layout entries, one
//! constructor for every pipeline (full-view shaders and surfaces), and bind groups by
//! binding order.

use super::shaders;

/// The 3D view's depth buffer format.
pub(super) const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;

/// A uniform buffer at `binding`, seen by the stages `vis`.
pub(super) fn uniform_entry(binding: u32, vis: wgpu::ShaderStages) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: vis,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// A float texture of dimension `dim` at `binding` (fragment stage).
pub(super) fn texture_entry(
    binding: u32,
    dim: wgpu::TextureViewDimension,
    filterable: bool,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Float { filterable },
            view_dimension: dim,
            multisampled: false,
        },
        count: None,
    }
}

/// An unsigned-integer texture of dimension `dim` at `binding` (fragment stage).
pub(super) fn uint_texture_entry(
    binding: u32,
    dim: wgpu::TextureViewDimension,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Uint,
            view_dimension: dim,
            multisampled: false,
        },
        count: None,
    }
}

/// A sampler at `binding`, filtering or not (fragment stage).
pub(super) fn sampler_entry(binding: u32, filtering: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Sampler(if filtering {
            wgpu::SamplerBindingType::Filtering
        } else {
            wgpu::SamplerBindingType::NonFiltering
        }),
        count: None,
    }
}

/// A bind group whose entries are `resources` in binding order 0, 1, ….
pub(super) fn bind_group(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    resources: &[wgpu::BindingResource<'_>],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry<'_>> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: r.clone(),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

/// What a pipeline draws with: the surface inputs (vertex buffers, depth; the full-view
/// shaders make their triangle from the vertex index), the values of the shader's
/// pipeline-overridable constants, and the fragment entry point (`fs_main` if `None`) with
/// any targets after the first.
#[derive(Default)]
pub(super) struct PipelineInputs<'a> {
    pub(super) vertices: &'a [wgpu::VertexBufferLayout<'a>],
    pub(super) depth: Option<wgpu::DepthStencilState>,
    pub(super) constants: &'a [(&'a str, f64)],
    pub(super) fragment: Option<&'a str>,
    pub(super) more_targets: &'a [wgpu::TextureFormat],
}

/// A render pipeline of the module `source` (`vs_main` and the fragment entry of `inputs`)
/// drawing into `format` (and `inputs`' further targets).
pub(super) fn pipeline(
    device: &wgpu::Device,
    (label, source): (&str, &str),
    layout: &wgpu::BindGroupLayout,
    format: wgpu::TextureFormat,
    inputs: PipelineInputs<'_>,
) -> wgpu::RenderPipeline {
    let PipelineInputs {
        vertices,
        depth,
        constants,
        fragment,
        more_targets,
    } = inputs;
    let targets: Vec<Option<wgpu::ColorTargetState>> = std::iter::once(format)
        .chain(more_targets.iter().copied())
        .map(|format| {
            Some(wgpu::ColorTargetState {
                format,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })
        })
        .collect();
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[layout],
        push_constant_ranges: &[],
    });
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(&pl),
        vertex: wgpu::VertexState {
            module: &module,
            entry_point: Some("vs_main"),
            buffers: vertices,
            compilation_options: Default::default(),
        },
        fragment: Some(wgpu::FragmentState {
            module: &module,
            entry_point: Some(fragment.unwrap_or("fs_main")),
            targets: &targets,
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                ..Default::default()
            },
        }),
        // Surfaces are drawn from both sides (a cut model shows its inside).
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: depth,
        multisample: wgpu::MultisampleState::default(),
        multiview: None,
        cache: None,
    })
}

/// A pipeline of a full-view shader: one triangle over the viewport, no vertex buffers.
pub(super) fn fullscreen_pipeline(
    device: &wgpu::Device,
    label: &str,
    source: &str,
    layout: &wgpu::BindGroupLayout,
    format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    pipeline(
        device,
        (label, source),
        layout,
        format,
        PipelineInputs::default(),
    )
}

/// The surface pipeline: positions, normals and a scalar per vertex, depth-tested.
pub(super) fn mesh_pipeline(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    pipeline(
        device,
        ("mesh", shaders::MESH),
        layout,
        format,
        PipelineInputs {
            vertices: &[wgpu::VertexBufferLayout {
                array_stride: 28,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32],
            }],
            depth: Some(wgpu::DepthStencilState {
                format: DEPTH_FORMAT,
                depth_write_enabled: true,
                depth_compare: wgpu::CompareFunction::Less,
                stencil: Default::default(),
                bias: Default::default(),
            }),
            ..Default::default()
        },
    )
}
