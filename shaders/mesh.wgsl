// Surface models in the 3D view: headlight shading, optionally coloured per vertex by a
// scalar (smoothing deviation, wall thickness) through a cool-to-warm colour map.

struct MeshUniforms {
    clip_from_lps: mat4x4<f32>,
    // Direction towards the viewer, LPS.
    light: vec4<f32>,
    // scalar at the cold end, scalar at the warm end, colour by scalar (1) or not (0), unused.
    range: vec4<f32>,
}

@group(0) @binding(0) var<uniform> u: MeshUniforms;

struct VsIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) scalar: f32,
}

struct VsOut {
    @builtin(position) position: vec4<f32>,
    @location(0) normal: vec3<f32>,
    @location(1) scalar: f32,
}

@vertex
fn vs_main(v: VsIn) -> VsOut {
    var o: VsOut;
    o.position = u.clip_from_lps * vec4<f32>(v.position, 1.0);
    o.normal = v.normal;
    o.scalar = v.scalar;
    return o;
}

// Moreland's cool-to-warm map, three stops; the Rust twin is render::colormap::cool_warm.
fn cool_warm(t: f32) -> vec3<f32> {
    let cold = vec3<f32>(0.230, 0.299, 0.754);
    let mid = vec3<f32>(0.865, 0.865, 0.865);
    let warm = vec3<f32>(0.706, 0.016, 0.150);
    let x = clamp(t, 0.0, 1.0);
    if x < 0.5 {
        return mix(cold, mid, x * 2.0);
    }
    return mix(mid, warm, x * 2.0 - 1.0);
}

@fragment
fn fs_main(in: VsOut, @builtin(front_facing) front: bool) -> @location(0) vec4<f32> {
    var n = normalize(in.normal);
    if !front {
        n = -n;
    }
    let l = normalize(u.light.xyz);
    var base = vec3<f32>(0.89, 0.85, 0.76);
    if u.range.z > 0.5 {
        base = cool_warm((in.scalar - u.range.x) / max(u.range.y - u.range.x, 1e-6));
    }
    let diffuse = max(dot(n, l), 0.0);
    let specular = pow(max(dot(n, l), 0.0), 32.0);
    return vec4<f32>(base * (0.2 + 0.8 * diffuse) + vec3<f32>(0.15 * specular), 1.0);
}
