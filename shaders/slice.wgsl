// Slice views: one plane (MPR, any orientation) or a thick slab projected along the plane's
// normal (MIP, MinIP, mean), window/levelled to grey. The volume is a 3D texture of HU
// scaled into [-1, 1]; nothing is re-uploaded when the plane, slab or window changes.
// Over it: the labels (fill and a one-pixel outline, per-label colour and opacity, from a
// label-number texture at the nearest voxel). With the threshold preview on, `fs_preview`
// also writes the plane's HU per pixel, and preview.wgsl tints and outlines the range as
// it shows the image: moving a threshold redraws no slice.

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
    // threshold preview: low HU, high HU (both read by preview.wgsl, not here), on (0/1:
    // fs_preview) and labels drawn (0/1): the pipelines' choice.
    preview: vec4<f32>,
    // threshold preview colour (rgb) and fill opacity (preview.wgsl's).
    preview_colour: vec4<f32>,
}

// A pipeline constant: a view without labels runs none of that code (a software
// rasteriser runs both sides of a branch).
override LABELS: bool = true;

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

// The label number at the voxel nearest continuous voxel index `c` (0 outside).
fn label_at(c_in: vec3<f32>) -> u32 {
    let c = floor(c_in + vec3<f32>(0.5));
    let n = u.dims.xyz;
    if any(c < vec3<f32>(0.0)) || any(c > n - vec3<f32>(1.0)) {
        return 0u;
    }
    return textureLoad(labels, vec3<i32>(c), 0).r;
}

// A value at the pixels left, right, above and below, two of them read from the pixel's
// 2×2 quad mates through fine derivatives (free) and two given (read by this pixel):
// `far` holds the value at the neighbours outside the quad (x, y).
fn neighbours(v: f32, far: vec2<f32>, frag: vec2<f32>) -> array<f32, 4> {
    let odd = vec2<bool>((i32(floor(frag.x)) & 1) == 1, (i32(floor(frag.y)) & 1) == 1);
    let ddx = dpdxFine(v);
    let ddy = dpdyFine(v);
    // Even column: the quad mate is on the right (v + ddx); odd: on the left (v - ddx).
    let right = select(v + ddx, far.x, odd.x);
    let left = select(far.x, v - ddx, odd.x);
    let down = select(v + ddy, far.y, odd.y);
    let up = select(far.y, v - ddy, odd.y);
    return array<f32, 4>(right, left, down, up);
}

// The sign (+1 right/down, −1 left/up) of the neighbour a pixel reads itself.
fn far_side(frag: vec2<f32>) -> vec2<f32> {
    let odd = vec2<bool>((i32(floor(frag.x)) & 1) == 1, (i32(floor(frag.y)) & 1) == 1);
    return select(vec2<f32>(-1.0), vec2<f32>(1.0), odd);
}

// Draws the labels over the grey value `g` at point `p`. Every pixel runs this (no early
// return): the quad derivatives need all four pixels. The outline marks a pixel when a
// 4-neighbour differs.
fn overlay(g: vec3<f32>, p: vec3<f32>, frag: vec2<f32>) -> vec3<f32> {
    var rgb = g;
    // One screen pixel along each view axis, in mm.
    let dx = u.right.xyz / max(u.overlay.z, 1.0);
    let dy = u.down.xyz / max(u.overlay.w, 1.0);
    let side = far_side(frag);
    if LABELS {
        // The index map is affine: neighbours are one matrix product away.
        let c = (u.ijk_from_lps * vec4<f32>(p, 1.0)).xyz;
        let cx = (u.ijk_from_lps * vec4<f32>(dx, 0.0)).xyz;
        let cy = (u.ijk_from_lps * vec4<f32>(dy, 0.0)).xyz;
        let l = label_at(c);
        let far = vec2<f32>(f32(label_at(c + side.x * cx)), f32(label_at(c + side.y * cy)));
        let ls = neighbours(f32(l), far, frag);
        if l > 0u {
            let col = textureLoad(palette, vec2<i32>(i32(l), 0), 0);
            rgb = mix(rgb, col.rgb, col.a * u.overlay.x);
        }
        if u.overlay.y > 0.0 {
            // An outline where a neighbouring pixel shows another label: the boundary.
            for (var k = 0; k < 4; k++) {
                let o = u32(round(ls[k]));
                if o != l {
                    let edge = max(l, o);
                    let col = textureLoad(palette, vec2<i32>(i32(edge), 0), 0);
                    if col.a > 0.0 {
                        rgb = col.rgb;
                    }
                    break;
                }
            }
        }
    }
    return rgb;
}

// A slice pixel: its colour (grey and labels), whether any sample lay in the volume, and
// the plane's own HU sample (value, inside the hull).
struct Shaded {
    rgb: vec3<f32>,
    covered: bool,
    plane: vec2<f32>,
}

fn shade(in: VsOut) -> Shaded {
    let p = u.origin.xyz + u.right.xyz * in.uv.x + u.down.xyz * in.uv.y;
    let m = i32(u.step.w);
    let mode = i32(u.display.z);
    var acc = 0.0;
    var sum = 0.0;
    var count = 0.0;
    var plane = vec2<f32>(0.0, 0.0);
    for (var s = -m; s <= m; s++) {
        let h = hu_at(p + u.step.xyz * f32(s));
        if s == 0 {
            plane = h;
        }
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
    if mode == 3 && count > 0.0 {
        acc = sum / count;
    }
    let lo = u.display.x - u.display.y * 0.5;
    let g = clamp((acc - lo) / max(u.display.y, 1.0), 0.0, 1.0);
    var out: Shaded;
    out.rgb = overlay(vec3<f32>(g, g, g), p, in.position.xy);
    out.covered = count > 0.0;
    out.plane = plane;
    return out;
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let s = shade(in);
    // Outside the volume: black (decided after the overlay, which needs every pixel).
    return select(vec4<f32>(0.0, 0.0, 0.0, 1.0), vec4<f32>(s.rgb, 1.0), s.covered);
}

// What preview.wgsl reads: the colour with alpha 0 where no sample lay in the volume (shown
// black), and the plane's HU, or NOT_IN_VOLUME outside the voxel centres' hull.
struct WithHu {
    @location(0) colour: vec4<f32>,
    @location(1) hu: f32,
}

// Below any HU a preview range can start at: the plane sample lay outside the volume.
const NOT_IN_VOLUME: f32 = -3.0e38;

@fragment
fn fs_preview(in: VsOut) -> WithHu {
    let s = shade(in);
    var out: WithHu;
    out.colour = select(vec4<f32>(0.0, 0.0, 0.0, 0.0), vec4<f32>(s.rgb, 1.0), s.covered);
    out.hu = select(NOT_IN_VOLUME, s.plane.x, s.plane.y > 0.0);
    return out;
}
