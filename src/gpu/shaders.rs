//! The WGSL sources, compiled into the binary. WGSL has no include: the full-viewport
//! vertex stage (`fullscreen.wgsl`) is prepended to the shaders that draw a whole view.

macro_rules! fullscreen {
    ($file:literal) => {
        concat!(
            include_str!("../../shaders/fullscreen.wgsl"),
            include_str!(concat!("../../shaders/", $file))
        )
    };
}

/// Slice views (MPR and slab projections).
pub const SLICE: &str = fullscreen!("slice.wgsl");
/// Ray casting (volume rendering, full-volume MIP/MinIP).
pub const RAYCAST: &str = fullscreen!("raycast.wgsl");
/// Scaled copy of an offscreen image into the window.
pub const BLIT: &str = fullscreen!("blit.wgsl");
/// A slice image shown 1:1 with the threshold preview over it.
pub const PREVIEW: &str = fullscreen!("preview.wgsl");
/// Surface models.
pub const MESH: &str = include_str!("../../shaders/mesh.wgsl");

/// Threshold into a bit-packed mask (compute).
pub const COMPUTE_THRESHOLD: &str = include_str!("../../shaders/compute_threshold.wgsl");
/// Connected components and keep-largest (compute).
pub const COMPUTE_COMPONENTS: &str = include_str!("../../shaders/compute_components.wgsl");
/// Surface topology of a mask (compute).
pub const COMPUTE_SURFACE: &str = include_str!("../../shaders/compute_surface.wgsl");

/// Every compute shader with its file name and entry points, for validation.
pub const COMPUTE: [(&str, &str, &[&str]); 3] = [
    (
        "compute_threshold.wgsl",
        COMPUTE_THRESHOLD,
        &["cs_threshold"],
    ),
    (
        "compute_components.wgsl",
        COMPUTE_COMPONENTS,
        &[
            "cs_init",
            "cs_merge",
            "cs_flatten",
            "cs_best_size",
            "cs_best_root",
            "cs_keep",
        ],
    ),
    (
        "compute_surface.wgsl",
        COMPUTE_SURFACE,
        &["cs_count", "cs_emit"],
    ),
];

/// Every shader with its file name, for validation.
pub const ALL: [(&str, &str); 5] = [
    ("slice.wgsl", SLICE),
    ("raycast.wgsl", RAYCAST),
    ("mesh.wgsl", MESH),
    ("blit.wgsl", BLIT),
    ("preview.wgsl", PREVIEW),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shader parses and validates (no GPU needed: naga is wgpu's own front end).
    #[test]
    fn every_shader_validates() {
        for (name, src) in ALL {
            let module = naga::front::wgsl::parse_str(src)
                .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::empty(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(
                module.entry_points.iter().any(|e| e.name == "vs_main"),
                "{name}"
            );
            assert!(
                module.entry_points.iter().any(|e| e.name == "fs_main"),
                "{name}"
            );
        }
    }

    /// Every compute shader parses, validates and has its entry points, each a compute
    /// stage.
    #[test]
    fn every_compute_shader_validates() {
        for (name, src, entries) in COMPUTE {
            let module = naga::front::wgsl::parse_str(src)
                .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::empty(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            for entry in entries {
                assert!(
                    module
                        .entry_points
                        .iter()
                        .any(|e| e.name == *entry && e.stage == naga::ShaderStage::Compute),
                    "{name}: {entry}"
                );
            }
        }
    }
}
