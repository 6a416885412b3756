// Surface topology of a bit-packed mask: the integer half of `mesh::extract`, index for
// index. One invocation per lattice row (count) or cube row (emit); a row walks its
// columns 32 at a time, like the CPU walks them 64 at a time.
//
// count: per lattice row, the crossings along the row, towards the next row and towards
//        the next slice; per cube row, its triangles and centre vertices.
// The host scans those counts (exclusive prefix sums, in row order) — so the output order
// is fixed, no atomics — and uploads the bases.
// emit:  per cube row, its triangles from its base, each vertex numbered as the CPU
//        numbers it (its row's base plus the crossings before it in that row), and its
//        centre cubes. Positions are computed on the CPU from these indices (`finish`).
//
// The lattice is the mask padded by one empty voxel on every side: padded (pk, pj, pc)
// is mask voxel (pk - 1, pj - 1, pc - 1).

struct Params {
    n: u32,
    rows: u32,
    cols: u32,
    // Padded rows and columns (rows + 2, cols + 2), padded slices (n + 2).
    pr: u32,
    pc: u32,
    pn: u32,
    // u32 words per padded row, per mask row.
    wp: u32,
    rw32: u32,
    // First mask slice held by `mask`.
    mk0: u32,
    // First cube layer of this dispatch, and how many.
    a: u32,
    layers: u32,
    // Index of this chunk's first triangle and centre; edge vertices in the whole mesh.
    tri0: u32,
    centre0: u32,
    edge_vertices: u32,
    stride: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
// [0, 257): first packed triangle of each configuration; [257, 513): 1 when it has a
// centre vertex; [513, 525): per cube edge, crossing row (bits 0–7) and column step (8–);
// [525, …): triangles, three cube edges (12 = the centre) in bytes 0, 1, 2.
@group(0) @binding(2) var<storage, read> table: array<u32>;
// count: 3 crossing counts per lattice row; emit: 3 vertex bases per lattice row, for the
// layers a ..= a + layers.
@group(0) @binding(3) var<storage, read_write> rowdata: array<u32>;
// count: triangles and centres per cube row; emit: their bases.
@group(0) @binding(4) var<storage, read_write> cubedata: array<u32>;
@group(0) @binding(5) var<storage, read_write> tris: array<u32>;
// Per centre cube: pk, pj, pi, configuration.
@group(0) @binding(6) var<storage, read_write> centres: array<u32>;

const T_CENTRE: u32 = 257u;
const T_EDGE: u32 = 513u;
const T_TRIS: u32 = 525u;
const CENTRE: u32 = 12u;

fn mword(k: u32, j: u32, w: i32) -> u32 {
    if w < 0 || u32(w) >= p.rw32 {
        return 0u;
    }
    return mask[((k - p.mk0) * p.rows + j) * p.rw32 + u32(w)];
}

// Word `w` of padded lattice row (pk, pj): padded columns 32w .. 32w + 31.
fn prow(pk: u32, pj: u32, w: u32) -> u32 {
    if pk == 0u || pk > p.n || pj == 0u || pj > p.rows || w >= p.wp {
        return 0u;
    }
    let k = pk - 1u;
    let j = pj - 1u;
    return (mword(k, j, i32(w)) << 1u) | (mword(k, j, i32(w) - 1) >> 31u);
}

// Crossings along a row exist between columns c and c + 1 for c < pc - 1.
fn along_limit(w: u32) -> u32 {
    let lo = w * 32u;
    let end = p.pc - 1u;
    if end <= lo {
        return 0u;
    }
    if end - lo >= 32u {
        return 0xffffffffu;
    }
    return (1u << (end - lo)) - 1u;
}

fn xword(pk: u32, pj: u32, w: u32) -> u32 {
    let r = prow(pk, pj, w);
    let next = prow(pk, pj, w + 1u);
    return (r ^ ((r >> 1u) | (next << 31u))) & along_limit(w);
}

fn bit(pk: u32, pj: u32, c: u32) -> u32 {
    return (prow(pk, pj, c / 32u) >> (c % 32u)) & 1u;
}

// Cubes of cube row (pk, pj) whose 8 corners are not all equal, in word w.
fn changing(pk: u32, pj: u32, w: u32) -> u32 {
    let r00 = prow(pk, pj, w);
    let r01 = prow(pk, pj + 1u, w);
    let r10 = prow(pk + 1u, pj, w);
    let r11 = prow(pk + 1u, pj + 1u, w);
    let n00 = prow(pk, pj, w + 1u);
    let n01 = prow(pk, pj + 1u, w + 1u);
    let n10 = prow(pk + 1u, pj, w + 1u);
    let n11 = prow(pk + 1u, pj + 1u, w + 1u);
    let some = r00 | r01 | r10 | r11;
    let every = r00 & r01 & r10 & r11;
    let any_n = (n00 | n01 | n10 | n11) & 1u;
    let all_n = (n00 & n01 & n10 & n11) & 1u;
    let some_next = (some >> 1u) | (any_n << 31u);
    let every_next = (every >> 1u) | (all_n << 31u);
    return (some | some_next) & ~(every & every_next);
}

// Corner c: bit 0 = +column, bit 1 = +row, bit 2 = +slice.
fn config(pk: u32, pj: u32, pi: u32) -> u32 {
    var cfg = 0u;
    for (var c = 0u; c < 8u; c++) {
        cfg |= bit(pk + (c >> 2u), pj + ((c >> 1u) & 1u), pi + (c & 1u)) << c;
    }
    return cfg;
}

@compute @workgroup_size(64)
fn cs_count(@builtin(global_invocation_id) id: vec3<u32>) {
    let idx = id.x + id.y * p.stride;
    if idx >= p.layers * p.pr {
        return;
    }
    let pj = idx % p.pr;
    let pk = p.a + idx / p.pr;
    var cx = 0u;
    var cy = 0u;
    var cz = 0u;
    for (var w = 0u; w < p.wp; w++) {
        let r = prow(pk, pj, w);
        cx += countOneBits(xword(pk, pj, w));
        cy += countOneBits(r ^ prow(pk, pj + 1u, w));
        cz += countOneBits(r ^ prow(pk + 1u, pj, w));
    }
    rowdata[idx * 3u] = cx;
    rowdata[idx * 3u + 1u] = cy;
    rowdata[idx * 3u + 2u] = cz;
    if pj + 1u >= p.pr {
        return;
    }
    var nt = 0u;
    var nc = 0u;
    for (var w = 0u; w < p.wp; w++) {
        var bits = changing(pk, pj, w);
        while bits != 0u {
            let pi = w * 32u + firstTrailingBit(bits);
            bits &= bits - 1u;
            if pi + 1u >= p.pc {
                continue;
            }
            let cfg = config(pk, pj, pi);
            nt += table[cfg + 1u] - table[cfg];
            nc += table[T_CENTRE + cfg];
        }
    }
    let cube = (idx / p.pr) * (p.pr - 1u) + pj;
    cubedata[cube * 2u] = nt;
    cubedata[cube * 2u + 1u] = nc;
}

// The 8 crossing rows a cube row touches: along rows (pk, pj), (pk, pj + 1),
// (pk + 1, pj), (pk + 1, pj + 1); towards the next row from (pk, pj), (pk + 1, pj);
// towards the next slice from (pk, pj), (pk, pj + 1).
fn crossing_word(s: u32, pk: u32, pj: u32, w: u32) -> u32 {
    switch s {
        case 0u: { return xword(pk, pj, w); }
        case 1u: { return xword(pk, pj + 1u, w); }
        case 2u: { return xword(pk + 1u, pj, w); }
        case 3u: { return xword(pk + 1u, pj + 1u, w); }
        case 4u: { return prow(pk, pj, w) ^ prow(pk, pj + 1u, w); }
        case 5u: { return prow(pk + 1u, pj, w) ^ prow(pk + 1u, pj + 1u, w); }
        case 6u: { return prow(pk, pj, w) ^ prow(pk + 1u, pj, w); }
        default: { return prow(pk, pj + 1u, w) ^ prow(pk + 1u, pj + 1u, w); }
    }
}

@compute @workgroup_size(64)
fn cs_emit(@builtin(global_invocation_id) id: vec3<u32>) {
    let idx = id.x + id.y * p.stride;
    if idx >= p.layers * (p.pr - 1u) {
        return;
    }
    let l = idx / (p.pr - 1u);
    let pj = idx % (p.pr - 1u);
    let pk = p.a + l;
    let rd00 = (l * p.pr + pj) * 3u;
    let rd01 = (l * p.pr + pj + 1u) * 3u;
    let rd10 = ((l + 1u) * p.pr + pj) * 3u;
    let rd11 = ((l + 1u) * p.pr + pj + 1u) * 3u;
    var pre = array<u32, 8>(
        rowdata[rd00], rowdata[rd01], rowdata[rd10], rowdata[rd11],
        rowdata[rd00 + 1u], rowdata[rd10 + 1u],
        rowdata[rd00 + 2u], rowdata[rd01 + 2u],
    );
    var t = cubedata[idx * 2u] - p.tri0;
    var centre = cubedata[idx * 2u + 1u];
    var cw = array<u32, 8>(0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u);
    for (var w = 0u; w < p.wp; w++) {
        for (var s = 0u; s < 8u; s++) {
            cw[s] = crossing_word(s, pk, pj, w);
        }
        var bits = changing(pk, pj, w);
        while bits != 0u {
            let pi = w * 32u + firstTrailingBit(bits);
            bits &= bits - 1u;
            if pi + 1u >= p.pc {
                continue;
            }
            let cfg = config(pk, pj, pi);
            let has_centre = table[T_CENTRE + cfg] == 1u;
            let centre_id = p.edge_vertices + centre;
            if has_centre {
                let c = (centre - p.centre0) * 4u;
                centres[c] = pk;
                centres[c + 1u] = pj;
                centres[c + 2u] = pi;
                centres[c + 3u] = cfg;
                centre += 1u;
            }
            for (var q = table[cfg]; q < table[cfg + 1u]; q++) {
                let packed = table[T_TRIS + q];
                for (var v = 0u; v < 3u; v++) {
                    let e = (packed >> (8u * v)) & 0xffu;
                    var vid = centre_id;
                    if e != CENTRE {
                        let info = table[T_EDGE + e];
                        let s = info & 0xffu;
                        let col = pi + (info >> 8u);
                        if col / 32u == w {
                            let b = col % 32u;
                            var below = 0u;
                            if b > 0u {
                                below = countOneBits(cw[s] & ((1u << b) - 1u));
                            }
                            vid = pre[s] + below;
                        } else {
                            vid = pre[s] + countOneBits(cw[s]);
                        }
                    }
                    tris[t * 3u + v] = vid;
                }
                t += 1u;
            }
        }
        for (var s = 0u; s < 8u; s++) {
            pre[s] += countOneBits(cw[s]);
        }
    }
}
