// Threshold: `lo <= HU <= hi` into the bit-packed mask, one u32 word (32 columns of one
// row) per invocation. The words are the CPU mask's u64 words split in two, low half first
// (their little-endian bytes are the same), so the mask read back is the CPU's bit for bit.

struct Params {
    rows: u32,
    cols: u32,
    // u32 words per mask row (twice the CPU's u64 words).
    rw32: u32,
    slices: u32,
    lo: i32,
    hi: i32,
    // Invocations per row of the dispatch grid (x groups × 64).
    stride: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// HU of this slab, two i16 to a word, voxel 0 of the slab in the low half of word 0.
@group(0) @binding(1) var<storage, read> hu: array<u32>;
@group(0) @binding(2) var<storage, read_write> mask: array<u32>;

fn hu_at(v: u32) -> i32 {
    let w = hu[v >> 1u];
    let half = (w >> ((v & 1u) * 16u)) & 0xffffu;
    // Sign-extend the 16-bit value.
    return bitcast<i32>(half << 16u) >> 16u;
}

@compute @workgroup_size(64)
fn cs_threshold(@builtin(global_invocation_id) id: vec3<u32>) {
    let word = id.x + id.y * p.stride;
    if word >= p.slices * p.rows * p.rw32 {
        return;
    }
    let w = word % p.rw32;
    let row = word / p.rw32;
    let base = row * p.cols;
    // The CPU's comparison: one unsigned 16-bit test, (v - lo) mod 2^16 <= (hi - lo)
    // mod 2^16 (for lo <= hi the same as lo <= v <= hi).
    let range = u32(p.hi - p.lo) & 0xffffu;
    var bits = 0u;
    for (var b = 0u; b < 32u; b++) {
        let c = w * 32u + b;
        if c >= p.cols {
            break;
        }
        let v = hu_at(base + c);
        if (u32(v - p.lo) & 0xffffu) <= range {
            bits |= 1u << b;
        }
    }
    mask[word] = bits;
}
