//! The WGSL sources, compiled into the binary.

/// Slice views (MPR and slab projections).
pub const SLICE: &str = include_str!("../../shaders/slice.wgsl");
/// Ray casting (volume rendering, full-volume MIP/MinIP).
pub const RAYCAST: &str = include_str!("../../shaders/raycast.wgsl");
/// Surface models.
pub const MESH: &str = include_str!("../../shaders/mesh.wgsl");
/// Scaled copy of an offscreen image into the window.
pub const BLIT: &str = include_str!("../../shaders/blit.wgsl");

/// Every shader with its file name, for validation.
pub const ALL: [(&str, &str); 4] = [
    ("slice.wgsl", SLICE),
    ("raycast.wgsl", RAYCAST),
    ("mesh.wgsl", MESH),
    ("blit.wgsl", BLIT),
];
