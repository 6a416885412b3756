// Shows an offscreen rendering (the 3D view, drawn at reduced resolution while the user
// drags) scaled to its rectangle in the window.

@group(0) @binding(0) var image: texture_2d<f32>;
@group(0) @binding(1) var image_sampler: sampler;

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    return textureSampleLevel(image, image_sampler, in.uv, 0.0);
}
