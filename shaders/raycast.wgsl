// The 3D view's volume: rays from the camera through the volume's box, either composited
// front to back through a transfer function with gradient shading (volume rendering), or
// reduced to their maximum / minimum (full-volume MIP / MinIP).

struct Ray {
    // Patient LPS mm -> continuous voxel index (column, row, slice).
    ijk_from_lps: mat4x4<f32>,
    // Clip space -> LPS mm (inverse view-projection).
    lps_from_clip: mat4x4<f32>,
    // columns, rows, slices, HU per texture unit.
    dims: vec4<f32>,
    // voxel spacing along column, row, slice (mm), ray step (mm).
    spacing: vec4<f32>,
    // mode (0 volume rendering, 1 MIP, 2 MinIP), transfer function HU at lut 0 and lut 1,
    // opacity reference step (mm).
    params: vec4<f32>,
    // level HU, width HU (MIP / MinIP), shading on (1) / off (0), HU below which the
    // transfer function is fully transparent.
    display: vec4<f32>,
    // xyz: direction towards the viewer in the volume's own (column, row, slice) axes;
    // w: 1 to skip bricks that cannot change the result (empty-space skipping).
    light: vec4<f32>,
}

@group(0) @binding(0) var<uniform> u: Ray;
@group(0) @binding(1) var volume: texture_3d<f32>;
@group(0) @binding(2) var volume_sampler: sampler;
@group(0) @binding(3) var lut: texture_2d<f32>;
@group(0) @binding(4) var lut_sampler: sampler;
// (min, max) HU of each 8×8×8 brick of voxels, with a one-voxel apron: every trilinear
// sample taken inside a brick lies within its range.
@group(0) @binding(5) var bricks: texture_3d<f32>;

const BRICK: f32 = 8.0;

fn value_at(c: vec3<f32>) -> f32 {
    let t = (c + vec3<f32>(0.5)) / u.dims.xyz;
    return textureSampleLevel(volume, volume_sampler, t, 0.0).r * u.dims.w;
}

fn unproject(ndc: vec2<f32>, z: f32) -> vec3<f32> {
    let h = u.lps_from_clip * vec4<f32>(ndc, z, 1.0);
    return h.xyz / h.w;
}

fn safe_inverse(d: vec3<f32>) -> vec3<f32> {
    let tiny = vec3<f32>(1e-12);
    return 1.0 / select(d, tiny, abs(d) < tiny);
}

// (min, max) HU of the brick holding voxel coordinate p.
fn brick_range(p: vec3<f32>) -> vec2<f32> {
    let last = vec3<i32>(textureDimensions(bricks)) - vec3<i32>(1);
    let b = clamp(vec3<i32>(floor((p + vec3<f32>(0.5)) / BRICK)), vec3<i32>(0), last);
    return textureLoad(bricks, b, 0).xy;
}

// Index of the first sample after the ray leaves the brick holding p.
fn past_brick(p: vec3<f32>, o: vec3<f32>, inv: vec3<f32>, t0: f32, t1: f32, step: f32, s: i32) -> i32 {
    let lo = floor((p + vec3<f32>(0.5)) / BRICK) * BRICK - vec3<f32>(0.5);
    let ta = (lo - o) * inv;
    let tb = (lo + vec3<f32>(BRICK) - o) * inv;
    let far = max(ta, tb);
    let te = min(min(min(far.x, far.y), far.z), t1 + step);
    return max(s + 1, i32(ceil((te - t0) / step - 0.5)));
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let ndc = vec2<f32>(in.uv.x * 2.0 - 1.0, 1.0 - in.uv.y * 2.0);
    let near = unproject(ndc, 0.0);
    let far = unproject(ndc, 1.0);
    let dir = normalize(far - near);
    // The ray in voxel index space; t stays in LPS millimetres.
    let o = (u.ijk_from_lps * vec4<f32>(near, 1.0)).xyz;
    let d = (u.ijk_from_lps * vec4<f32>(dir, 0.0)).xyz;
    let inv = safe_inverse(d);
    let lo = (vec3<f32>(-0.5) - o) * inv;
    let hi = (u.dims.xyz - vec3<f32>(0.5) - o) * inv;
    let t0 = max(max(min(lo.x, hi.x), min(lo.y, hi.y)), max(min(lo.z, hi.z), 0.0));
    let t1 = min(min(max(lo.x, hi.x), max(lo.y, hi.y)), max(lo.z, hi.z));
    let mode = i32(u.params.x);
    if t1 <= t0 {
        return vec4<f32>(0.0, 0.0, 0.0, 1.0);
    }
    let step = u.spacing.w;
    let n = min(i32((t1 - t0) / step) + 1, 8192);
    let clamp_hi = u.dims.xyz - vec3<f32>(1.0);
    let skip = u.light.w > 0.5;
    if mode != 0 {
        var acc = select(1e9, -1e9, mode == 1);
        var s = 0;
        loop {
            if s >= n {
                break;
            }
            let p = o + d * (t0 + (f32(s) + 0.5) * step);
            if skip {
                // A brick wholly below the maximum so far (above the minimum) changes nothing.
                let r = brick_range(p);
                if (mode == 1 && r.y <= acc) || (mode == 2 && r.x >= acc) {
                    s = past_brick(p, o, inv, t0, t1, step, s);
                    continue;
                }
            }
            let v = value_at(clamp(p, vec3<f32>(0.0), clamp_hi));
            acc = select(min(acc, v), max(acc, v), mode == 1);
            s += 1;
        }
        let g = clamp((acc - (u.display.x - u.display.y * 0.5)) / max(u.display.y, 1.0), 0.0, 1.0);
        return vec4<f32>(g, g, g, 1.0);
    }
    var color = vec3<f32>(0.0);
    var alpha = 0.0;
    let tf_lo = u.params.y;
    let tf_span = max(u.params.z - u.params.y, 1.0);
    let correction = step / u.params.w;
    var s = 0;
    loop {
        if s >= n {
            break;
        }
        let p = o + d * (t0 + (f32(s) + 0.5) * step);
        // A brick wholly below the first HU with any opacity is empty: jump past it.
        if skip && brick_range(p).y < u.display.w {
            s = past_brick(p, o, inv, t0, t1, step, s);
            continue;
        }
        s += 1;
        let c = clamp(p, vec3<f32>(0.0), clamp_hi);
        let v = value_at(c);
        if v < u.display.w {
            continue;
        }
        let tf = textureSampleLevel(lut, lut_sampler, vec2<f32>((v - tf_lo) / tf_span, 0.5), 0.0);
        if tf.a <= 0.002 {
            continue;
        }
        let a = 1.0 - pow(1.0 - min(tf.a, 0.999), correction);
        var rgb = tf.rgb;
        if u.display.z > 0.5 {
            let g = vec3<f32>(
                value_at(c + vec3<f32>(1.0, 0.0, 0.0)) - value_at(c - vec3<f32>(1.0, 0.0, 0.0)),
                value_at(c + vec3<f32>(0.0, 1.0, 0.0)) - value_at(c - vec3<f32>(0.0, 1.0, 0.0)),
                value_at(c + vec3<f32>(0.0, 0.0, 1.0)) - value_at(c - vec3<f32>(0.0, 0.0, 1.0)),
            ) / (2.0 * u.spacing.xyz);
            let len = length(g);
            if len > 1e-3 {
                // Gradients point into denser tissue: the surface faces the other way.
                let nrm = -g / len;
                let l = normalize(u.light.xyz);
                let diffuse = abs(dot(nrm, l));
                let specular = pow(max(dot(nrm, l), 0.0), 24.0);
                rgb = rgb * (0.25 + 0.75 * diffuse) + vec3<f32>(0.25 * specular);
            }
        }
        color += (1.0 - alpha) * a * rgb;
        alpha += (1.0 - alpha) * a;
        if alpha > 0.98 {
            break;
        }
    }
    return vec4<f32>(color, 1.0);
}
