// Slice views: one plane (MPR, any orientation) or a thick slab projected along the plane's
// normal (MIP, MinIP, mean), window/levelled to grey. The volume is a 3D texture of HU
// scaled into [-1, 1]; nothing is re-uploaded when the plane, slab or window changes.
// Over it: the labels (fill and a one-pixel outline, per-label colour and opacity, from a
// label-number texture at the nearest voxel) and a threshold preview (voxels whose HU lies
// in a range, tinted and outlined), computed here so that moving a threshold costs a
// uniform write, not a pass over the volume.

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
    // fill opacity (0..1, times the label's own), outline (0/1), view width and height px.
    overlay: vec4<f32>,
    // threshold preview: low HU, high HU, on (0/1), unused.
    preview: vec4<f32>,
    // threshold preview colour (rgb) and fill opacity.
    preview_colour: vec4<f32>,
}

@group(0) @binding(0) var<uniform> u: Slice;
@group(0) @binding(1) var volume: texture_3d<f32>;
@group(0) @binding(2) var volume_sampler: sampler;
@group(0) @binding(3) var labels: texture_3d<u32>;
@group(0) @binding(4) var palette: texture_2d<f32>;

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

// The label number at the voxel nearest a patient point (0 outside the volume).
fn label_at(lps: vec3<f32>) -> u32 {
    let c = floor((u.ijk_from_lps * vec4<f32>(lps, 1.0)).xyz + vec3<f32>(0.5));
    let n = u.dims.xyz;
    if any(c < vec3<f32>(0.0)) || any(c > n - vec3<f32>(1.0)) {
        return 0u;
    }
    return textureLoad(labels, vec3<i32>(c), 0).r;
}

// Whether a point's HU lies in the preview range.
fn in_range(lps: vec3<f32>) -> bool {
    let h = hu_at(lps);
    return h.y > 0.0 && h.x >= u.preview.x && h.x <= u.preview.y;
}

// Draws the labels and the threshold preview over the grey value `g` at point `p`.
fn overlay(g: vec3<f32>, p: vec3<f32>) -> vec3<f32> {
    var rgb = g;
    // One screen pixel along each view axis, in mm.
    let dx = u.right.xyz / max(u.overlay.z, 1.0);
    let dy = u.down.xyz / max(u.overlay.w, 1.0);
    let l = label_at(p);
    if l > 0u {
        let c = textureLoad(palette, vec2<i32>(i32(l), 0), 0);
        rgb = mix(rgb, c.rgb, c.a * u.overlay.x);
    }
    if u.overlay.y > 0.0 {
        // An outline where a neighbouring pixel shows another label: the boundary.
        let ls = array<u32, 4>(label_at(p + dx), label_at(p - dx), label_at(p + dy), label_at(p - dy));
        for (var k = 0; k < 4; k++) {
            if ls[k] != l {
                let edge = max(l, ls[k]);
                let c = textureLoad(palette, vec2<i32>(i32(edge), 0), 0);
                if c.a > 0.0 {
                    rgb = c.rgb;
                }
                break;
            }
        }
    }
    if u.preview.z > 0.0 {
        let inside = in_range(p);
        if inside {
            rgb = mix(rgb, u.preview_colour.rgb, u.preview_colour.a);
        }
        let edge = in_range(p + dx) != inside || in_range(p - dx) != inside
            || in_range(p + dy) != inside || in_range(p - dy) != inside;
        if edge {
            rgb = u.preview_colour.rgb;
        }
    }
    return rgb;
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
    return vec4<f32>(overlay(vec3<f32>(g, g, g), p), 1.0);
}
