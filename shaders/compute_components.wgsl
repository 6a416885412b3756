// Connected components of a bit-packed mask by union-find on voxel indices (Playne and
// Hawick's merge with atomicMin): every union links the larger root under the smaller, so
// whatever the order of the merges, each component's root ends as its smallest voxel
// index — its first voxel in raster order, which is also the CPU's tie rule for "largest".

struct Params {
    n: u32,
    rows: u32,
    cols: u32,
    rw32: u32,
    // 6, 18 or 26.
    conn: u32,
    stride: u32,
    _pad0: u32,
    _pad1: u32,
}

// best[0]: the largest size; best[1]: the smallest root of that size; best[2]: components.
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> mask: array<u32>;
@group(0) @binding(2) var<storage, read_write> parent: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> sizes: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> best: array<atomic<u32>, 4>;

const NONE: u32 = 0xffffffffu;

fn voxels() -> u32 {
    return p.n * p.rows * p.cols;
}

fn inside(k: i32, j: i32, i: i32) -> bool {
    if k < 0 || j < 0 || i < 0 || u32(k) >= p.n || u32(j) >= p.rows || u32(i) >= p.cols {
        return false;
    }
    let w = mask[(u32(k) * p.rows + u32(j)) * p.rw32 + u32(i) / 32u];
    return ((w >> (u32(i) % 32u)) & 1u) == 1u;
}

fn find(x: u32) -> u32 {
    var r = x;
    loop {
        let up = atomicLoad(&parent[r]);
        if up == r {
            break;
        }
        r = up;
    }
    return r;
}

fn merge(a0: u32, b0: u32) {
    var a = a0;
    var b = b0;
    loop {
        a = find(a);
        b = find(b);
        if a == b {
            break;
        }
        if a < b {
            let old = atomicMin(&parent[b], a);
            if old == b {
                break;
            }
            b = old;
        } else {
            let old = atomicMin(&parent[a], b);
            if old == a {
                break;
            }
            a = old;
        }
    }
}

fn coords(v: u32) -> vec3<i32> {
    let i = v % p.cols;
    let j = (v / p.cols) % p.rows;
    let k = v / (p.cols * p.rows);
    return vec3<i32>(i32(k), i32(j), i32(i));
}

fn voxel_of(id: vec3<u32>) -> u32 {
    return id.x + id.y * p.stride;
}

@compute @workgroup_size(64)
fn cs_init(@builtin(global_invocation_id) id: vec3<u32>) {
    let v = voxel_of(id);
    if v >= voxels() {
        return;
    }
    let c = coords(v);
    if inside(c.x, c.y, c.z) {
        atomicStore(&parent[v], v);
    } else {
        atomicStore(&parent[v], NONE);
    }
    atomicStore(&sizes[v], 0u);
}

@compute @workgroup_size(64)
fn cs_merge(@builtin(global_invocation_id) id: vec3<u32>) {
    let v = voxel_of(id);
    if v >= voxels() || atomicLoad(&parent[v]) == NONE {
        return;
    }
    let c = coords(v);
    // The 13 neighbours that come before this voxel in raster order; a neighbour with
    // `steps` non-zero offsets is joined under 6- (1), 18- (2) or 26- (3) connectivity.
    for (var dk = -1; dk <= 0; dk++) {
        for (var dj = -1; dj <= 1; dj++) {
            for (var di = -1; di <= 1; di++) {
                let before = dk < 0 || (dk == 0 && (dj < 0 || (dj == 0 && di < 0)));
                if !before {
                    continue;
                }
                let steps = u32(abs(dk) + abs(dj) + abs(di));
                let allowed = steps == 1u || (steps == 2u && p.conn >= 18u) || p.conn >= 26u;
                if allowed && inside(c.x + dk, c.y + dj, c.z + di) {
                    let u = u32(i32(v) + (dk * i32(p.rows) + dj) * i32(p.cols) + di);
                    merge(v, u);
                }
            }
        }
    }
}

@compute @workgroup_size(64)
fn cs_flatten(@builtin(global_invocation_id) id: vec3<u32>) {
    let v = voxel_of(id);
    if v >= voxels() || atomicLoad(&parent[v]) == NONE {
        return;
    }
    let r = find(v);
    atomicStore(&parent[v], r);
    atomicAdd(&sizes[r], 1u);
    if r == v {
        atomicAdd(&best[2], 1u);
    }
}

@compute @workgroup_size(64)
fn cs_best_size(@builtin(global_invocation_id) id: vec3<u32>) {
    let v = voxel_of(id);
    if v >= voxels() || atomicLoad(&parent[v]) != v {
        return;
    }
    atomicMax(&best[0], atomicLoad(&sizes[v]));
}

@compute @workgroup_size(64)
fn cs_best_root(@builtin(global_invocation_id) id: vec3<u32>) {
    let v = voxel_of(id);
    if v >= voxels() || atomicLoad(&parent[v]) != v {
        return;
    }
    if atomicLoad(&sizes[v]) == atomicLoad(&best[0]) {
        atomicMin(&best[1], v);
    }
}

// Rewrites the mask in place: one word per invocation, the bits of the chosen root.
@compute @workgroup_size(64)
fn cs_keep(@builtin(global_invocation_id) id: vec3<u32>) {
    let word = voxel_of(id);
    if word >= p.n * p.rows * p.rw32 {
        return;
    }
    let w = word % p.rw32;
    let row = word / p.rw32;
    let keep = atomicLoad(&best[1]);
    var bits = 0u;
    for (var b = 0u; b < 32u; b++) {
        let c = w * 32u + b;
        if c >= p.cols {
            break;
        }
        if atomicLoad(&parent[row * p.cols + c]) == keep {
            bits |= 1u << b;
        }
    }
    mask[word] = bits;
}
