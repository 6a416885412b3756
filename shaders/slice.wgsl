// Slice views: one plane (MPR, any orientation) or a thick slab projected along the plane's
// normal (MIP, MinIP, mean), window/levelled to grey. The volume is a 3D texture of HU
// scaled into [-1, 1]; nothing is re-uploaded when the plane, slab or window changes.

struct Slice {
    // Patient LPS mm -> continuous voxel index (column, row, slice).
    ijk_from_lps: mat4x4<f32>,
    // LPS mm at the top-left corner of the view (uv = 0, 0).
    origin: vec4<f32>,
    // LPS mm from the left edge to the right edge of the view.
    right: vec4<f32>,
    // LPS mm from the top edge to the bottom edge of the view.
    down: vec4<f32>,
    // xyz: LPS mm between slab samples along the normal; w: samples on each side.
    step: vec4<f32>,
    // columns, rows, slices, HU per texture unit.
    dims: vec4<f32>,
    // level HU, width HU, projection (0 slice, 1 MIP, 2 MinIP, 3 mean), unused.
    display: vec4<f32>,
}

@group(0) @binding(0) var<uniform> u: Slice;
@group(0) @binding(1) var volume: texture_3d<f32>;
@group(0) @binding(2) var volume_sampler: sampler;

// HU at a patient point and whether the point lies within the voxel centres' hull (the
// same rule as the CPU reference, volume::reslice::sample).
fn hu_at(lps: vec3<f32>) -> vec2<f32> {
    let c = (u.ijk_from_lps * vec4<f32>(lps, 1.0)).xyz;
    let n = u.dims.xyz;
    let eps = 1e-3;
    if any(c < vec3<f32>(-eps)) || any(c > n - vec3<f32>(1.0 - eps)) {
        return vec2<f32>(0.0, 0.0);
    }
    let t = (c + vec3<f32>(0.5)) / n;
    return vec2<f32>(textureSampleLevel(volume, volume_sampler, t, 0.0).r * u.dims.w, 1.0);
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let p = u.origin.xyz + u.right.xyz * in.uv.x + u.down.xyz * in.uv.y;
    let m = i32(u.step.w);
    let mode = i32(u.display.z);
    var acc = 0.0;
    var sum = 0.0;
    var count = 0.0;
    for (var s = -m; s <= m; s++) {
        let h = hu_at(p + u.step.xyz * f32(s));
        if h.y > 0.0 {
            if count == 0.0 {
                acc = h.x;
            } else if mode == 1 {
                acc = max(acc, h.x);
            } else if mode == 2 {
                acc = min(acc, h.x);
            }
            sum += h.x;
            count += 1.0;
        }
    }
    if count == 0.0 {
        return vec4<f32>(0.0, 0.0, 0.0, 1.0);
    }
    if mode == 3 {
        acc = sum / count;
    }
    let lo = u.display.x - u.display.y * 0.5;
    let g = clamp((acc - lo) / max(u.display.y, 1.0), 0.0, 1.0);
    return vec4<f32>(g, g, g, 1.0);
}
