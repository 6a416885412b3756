//! Finding a GPU (or Mesa's software Vulkan) and opening a device with what the renderers
//! need.

/// Why rendering is not possible.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No adapter at all.
    #[error(
        "no GPU adapter found (wgpu saw no Vulkan, Metal, DirectX 12 or OpenGL device). \
         Install a GPU driver, or Mesa's software Vulkan (Debian: apt-get install \
         mesa-vulkan-drivers). Everything that does not draw (info, convert, segment, mesh, \
         render) works without one from the command line"
    )]
    NoAdapter,
    /// The adapter refused the device.
    #[error("the GPU ({adapter}) refused to open a device: {reason}")]
    Device {
        /// Adapter name.
        adapter: String,
        /// wgpu's message.
        reason: String,
    },
    /// The volume does not fit the adapter's limits.
    #[error("{0}")]
    TooLarge(String),
    /// Reading a rendered image back failed.
    #[error("reading the rendered image back failed: {0}")]
    Readback(String),
}

/// Features we use when the adapter has them: 16-bit normalised textures hold HU exactly
/// in half the memory of 32-bit floats, and are filterable.
pub fn wanted_features(adapter: &wgpu::Adapter) -> wgpu::Features {
    adapter.features()
        & (wgpu::Features::TEXTURE_FORMAT_16BIT_NORM | wgpu::Features::FLOAT32_FILTERABLE)
}

/// Limits we ask for: the adapter's own, so large 3D textures fit.
pub fn wanted_limits(adapter: &wgpu::Adapter) -> wgpu::Limits {
    adapter.limits()
}

/// The device descriptor the window and the headless renderer both use.
pub fn device_descriptor(adapter: &wgpu::Adapter) -> wgpu::DeviceDescriptor<'static> {
    wgpu::DeviceDescriptor {
        label: Some("hounsfield"),
        required_features: wanted_features(adapter),
        required_limits: wanted_limits(adapter),
        memory_hints: wgpu::MemoryHints::MemoryUsage,
        trace: wgpu::Trace::Off,
    }
}

/// A device for offscreen rendering.
pub struct Gpu {
    /// The adapter.
    pub adapter: wgpu::Adapter,
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
}

impl Gpu {
    /// Opens the best adapter without a window.
    pub fn headless() -> Result<Self, RenderError> {
        let instance = wgpu::Instance::new(&wgpu::InstanceDescriptor {
            backends: wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY),
            ..Default::default()
        });
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
        }))
        .map_err(|_| RenderError::NoAdapter)?;
        let (device, queue) = pollster::block_on(
            adapter.request_device(&device_descriptor(&adapter)),
        )
        .map_err(|e| RenderError::Device {
            adapter: adapter.get_info().name,
            reason: e.to_string(),
        })?;
        Ok(Self {
            adapter,
            device,
            queue,
        })
    }

    /// "name (backend, type)" for reports.
    pub fn describe(&self) -> String {
        describe_adapter(&self.adapter)
    }
}

/// "name (backend, type)" of an adapter.
pub fn describe_adapter(adapter: &wgpu::Adapter) -> String {
    let i = adapter.get_info();
    format!("{} ({:?}, {:?})", i.name, i.backend, i.device_type)
}
