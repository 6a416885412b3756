// Shows a slice view's image 1:1 with the threshold preview over it: pixels whose plane HU
// lies in the range are tinted, and those with a 4-neighbour on the other side of the range
// are outlined. The image and its HU were written by slice.wgsl's `fs_preview` when the
// plane last changed, so a moving threshold costs this pass, not a slice render.

struct Preview {
    // low HU, high HU, unused, unused.
    range: vec4<f32>,
    // colour (rgb) and fill opacity.
    colour: vec4<f32>,
}

@group(0) @binding(0) var<uniform> p: Preview;
@group(0) @binding(1) var image: texture_2d<f32>;
@group(0) @binding(2) var hu: texture_2d<f32>;

// 1 where the pixel's plane HU lies in the range, else 0 (a pixel outside the volume never
// does). Coordinates are clamped into the image: a neighbour beyond its edge reads the pixel
// itself, so the edge is no boundary.
fn in_range(c: vec2<i32>, n: vec2<i32>) -> f32 {
    let h = textureLoad(hu, clamp(c, vec2<i32>(0), n - vec2<i32>(1)), 0).r;
    return select(0.0, 1.0, h >= p.range.x && h <= p.range.y);
}

// Branch-free: a software rasteriser runs every lane of a branch anyway.
@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let n = vec2<i32>(textureDimensions(image));
    // The view is the image's size: uv at a pixel's centre names that pixel.
    let c = clamp(vec2<i32>(floor(in.uv * vec2<f32>(n))), vec2<i32>(0), n - vec2<i32>(1));
    let base = textureLoad(image, c, 0);
    let me = in_range(c, n);
    let around = vec4<f32>(
        in_range(c + vec2<i32>(1, 0), n),
        in_range(c - vec2<i32>(1, 0), n),
        in_range(c + vec2<i32>(0, 1), n),
        in_range(c - vec2<i32>(0, 1), n),
    );
    let tinted = mix(base.rgb, mix(base.rgb, p.colour.rgb, p.colour.a), me);
    let rim = any(around != vec4<f32>(me));
    let rgb = select(tinted, p.colour.rgb, rim);
    // No sample in the volume (alpha 0): black, whatever the range.
    return select(vec4<f32>(0.0, 0.0, 0.0, 1.0), vec4<f32>(rgb, 1.0), base.a > 0.0);
}
