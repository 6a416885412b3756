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
/// Surface models.
pub const MESH: &str = include_str!("../../shaders/mesh.wgsl");

/// Every shader with its file name, for validation.
pub const ALL: [(&str, &str); 4] = [
    ("slice.wgsl", SLICE),
    ("raycast.wgsl", RAYCAST),
    ("mesh.wgsl", MESH),
    ("blit.wgsl", BLIT),
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
}
