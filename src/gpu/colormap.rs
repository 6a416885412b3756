//! The colour map of per-vertex scalars; `shaders/mesh.wgsl` has the same function.

/// Moreland's cool-to-warm map (three stops), `t` in 0..1 → RGB 0..1.
pub fn cool_warm(t: f32) -> [f32; 3] {
    const COLD: [f32; 3] = [0.230, 0.299, 0.754];
    const MID: [f32; 3] = [0.865, 0.865, 0.865];
    const WARM: [f32; 3] = [0.706, 0.016, 0.150];
    let x = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let mix = |a: [f32; 3], b: [f32; 3], s: f32| {
        [
            a[0] + (b[0] - a[0]) * s,
            a[1] + (b[1] - a[1]) * s,
            a[2] + (b[2] - a[2]) * s,
        ]
    };
    if x < 0.5 {
        mix(COLD, MID, x * 2.0)
    } else {
        mix(MID, WARM, x * 2.0 - 1.0)
    }
}
