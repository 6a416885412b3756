// Connected components of a bit-packed mask by union-find (Playne and Hawick's merge with
// atomicMin) over the set voxels only: voxel v is numbered by its rank among the set
// voxels in raster order (the word's prefix count plus the set bits below it), so the
// label arrays hold one word per set voxel, not per voxel. Every union links the larger
// root under the smaller, so whatever the order of the merges each component's root
// ends as its smallest rank — its first voxel in raster order, which is also the CPU's tie
// rule for "largest".

struct Params {
    n: u32,
    rows: u32,
    cols: u32,
    rw32: u32,
    // 6, 18 or 26.
    conn: u32,
    stride: u32,
    // Set voxels.
    members: u32,
    _pad: u32,
}

// best[0]: the largest size; best[1]: the smallest root of that size; best[2]: components.
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> mask: array<u32>;
// Set voxels in the words before each word.
@group(0) @binding(2) var<storage, read> prefix: array<u32>;
@group(0) @binding(3) var<storage, read_write> parent: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> sizes: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> best: array<atomic<u32>, 4>;

fn words() -> u32 {
    return p.n * p.rows * p.rw32;
}

fn word_of(k: u32, j: u32, i: u32) -> u32 {
    return (k * p.rows + j) * p.rw32 + i / 32u;
}

fn below(w: u32, b: u32) -> u32 {
    if b == 0u {
        return 0u;
    }
    return countOneBits(mask[w] & ((1u << b) - 1u));
}

// The rank of voxel (k, j, i), or 0xffffffff when it is outside the mask or the volume.
fn rank(k: i32, j: i32, i: i32) -> u32 {
    if k < 0 || j < 0 || i < 0 || u32(k) >= p.n || u32(j) >= p.rows || u32(i) >= p.cols {
        return 0xffffffffu;
    }
    let w = word_of(u32(k), u32(j), u32(i));
    let b = u32(i) % 32u;
    if ((mask[w] >> b) & 1u) == 0u {
        return 0xffffffffu;
    }
    return prefix[w] + below(w, b);
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

fn index_of(id: vec3<u32>) -> u32 {
    return id.x + id.y * p.stride;
}

// Per mask word: each set voxel starts as its own root.
@compute @workgroup_size(64)
fn cs_init(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = index_of(id);
    if w >= words() {
        return;
    }
    let count = countOneBits(mask[w]);
    for (var q = 0u; q < count; q++) {
        let r = prefix[w] + q;
        atomicStore(&parent[r], r);
        atomicStore(&sizes[r], 0u);
    }
}

// Per mask word: each set voxel joins the set neighbours before it in raster order (13 at
// most); a neighbour with `steps` non-zero offsets counts under 6- (1), 18- (2) or 26- (3)
// connectivity.
@compute @workgroup_size(64)
fn cs_merge(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = index_of(id);
    if w >= words() {
        return;
    }
    let row = w / p.rw32;
    let k = i32(row / p.rows);
    let j = i32(row % p.rows);
    var bits = mask[w];
    while bits != 0u {
        let b = firstTrailingBit(bits);
        bits &= bits - 1u;
        let i = i32((w % p.rw32) * 32u + b);
        let r = prefix[w] + below(w, b);
        for (var dk = -1; dk <= 0; dk++) {
            for (var dj = -1; dj <= 1; dj++) {
                for (var di = -1; di <= 1; di++) {
                    let before = dk < 0 || (dk == 0 && (dj < 0 || (dj == 0 && di < 0)));
                    let steps = u32(abs(dk) + abs(dj) + abs(di));
                    let allowed = steps == 1u || (steps == 2u && p.conn >= 18u) || p.conn >= 26u;
                    if before && allowed {
                        let u = rank(k + dk, j + dj, i + di);
                        if u != 0xffffffffu {
                            merge(r, u);
                        }
                    }
                }
            }
        }
    }
}

// Per set voxel (by rank): point at the root, count the component's size.
@compute @workgroup_size(64)
fn cs_flatten(@builtin(global_invocation_id) id: vec3<u32>) {
    let r = index_of(id);
    if r >= p.members {
        return;
    }
    let root = find(r);
    atomicStore(&parent[r], root);
    atomicAdd(&sizes[root], 1u);
    if root == r {
        atomicAdd(&best[2], 1u);
    }
}

@compute @workgroup_size(64)
fn cs_best_size(@builtin(global_invocation_id) id: vec3<u32>) {
    let r = index_of(id);
    if r >= p.members || atomicLoad(&parent[r]) != r {
        return;
    }
    atomicMax(&best[0], atomicLoad(&sizes[r]));
}

@compute @workgroup_size(64)
fn cs_best_root(@builtin(global_invocation_id) id: vec3<u32>) {
    let r = index_of(id);
    if r >= p.members || atomicLoad(&parent[r]) != r {
        return;
    }
    if atomicLoad(&sizes[r]) == atomicLoad(&best[0]) {
        atomicMin(&best[1], r);
    }
}

// Per mask word, in place: only the set voxels of the chosen root stay.
@compute @workgroup_size(64)
fn cs_keep(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = index_of(id);
    if w >= words() {
        return;
    }
    let keep = atomicLoad(&best[1]);
    let word = mask[w];
    var bits = word;
    var out = 0u;
    var q = 0u;
    while bits != 0u {
        let b = firstTrailingBit(bits);
        bits &= bits - 1u;
        if atomicLoad(&parent[prefix[w] + q]) == keep {
            out |= 1u << b;
        }
        q += 1u;
    }
    mask[w] = out;
}
