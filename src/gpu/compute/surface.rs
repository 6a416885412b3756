//! Surface topology on the GPU: count per row → exclusive scan on the host (fixed order,
//! no atomics) → emit per cube row, in slabs of cube layers within the budget. Every
//! index is the CPU's (`mesh::extract::topology`): the same numbering rule, integer
//! arithmetic only, so the seams between slabs are invisible.

use super::{Access, GpuCompute, Kernels, stride};
use crate::mesh::extract::{CENTRE, CentreCube, Topology, case_table, edge_slots};
use crate::segment::mask::Mask;

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    rows: u32,
    cols: u32,
    pr: u32,
    pc: u32,
    pn: u32,
    wp: u32,
    rw32: u32,
    mk0: u32,
    a: u32,
    layers: u32,
    tri0: u32,
    centre0: u32,
    edge_vertices: u32,
    stride: u32,
    pad: u32,
}

pub(super) fn kernels(device: &wgpu::Device) -> Kernels {
    use Access::{Read, ReadWrite, Uniform};
    Kernels::new(
        device,
        "surface",
        crate::gpu::shaders::COMPUTE_SURFACE,
        &[
            Uniform, Read, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite,
        ],
        &["cs_count", "cs_emit"],
    )
}

/// The case table as the shader reads it (layout in `compute_surface.wgsl`).
fn table() -> Vec<u32> {
    let cases = case_table();
    let mut start = Vec::with_capacity(257);
    let mut tris = Vec::new();
    for (case, _) in cases.iter() {
        start.push(tris.len() as u32);
        for t in case {
            tris.push(
                t.iter()
                    .enumerate()
                    .fold(0u32, |acc, (q, e)| acc | (u32::from(*e) << (8 * q))),
            );
        }
    }
    start.push(tris.len() as u32);
    let mut out = start;
    out.extend(cases.iter().map(|(_, c)| u32::from(c.is_some())));
    out.extend(edge_slots().iter().map(|(slot, step)| slot | (step << 8)));
    out.extend(tris);
    debug_assert_eq!(u32::from(CENTRE), 12);
    out
}

fn u32_of(v: u64, what: &str) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("the surface has more {what} than 32-bit indices hold"))
}

pub(super) fn topology(g: &GpuCompute, mask: &Mask) -> Result<Topology, String> {
    let [n, rows, cols] = mask.dims();
    if n == 0 || rows == 0 || cols == 0 {
        return Ok(Topology {
            edge_vertices: 0,
            triangles: Vec::new(),
            centres: Vec::new(),
        });
    }
    let (pn, pr, pc) = (n + 2, rows + 2, cols + 2);
    let rw32 = mask.row_words() * 2;
    let base = Params {
        n: n as u32,
        rows: rows as u32,
        cols: cols as u32,
        pr: pr as u32,
        pc: pc as u32,
        pn: pn as u32,
        wp: pc.div_ceil(32) as u32,
        rw32: rw32 as u32,
        ..Default::default()
    };
    let table = g.storage("case table", bytemuck::cast_slice(&table()));
    let words: &[u32] = bytemuck::cast_slice(mask.words());
    let slice_words = rows * rw32;
    // Cube layers per slab: its mask slices (one more than its layers) and its row data
    // within the budget.
    let per_layer = (slice_words * 4).max(pr * 12) as u64;
    let max_layers = ((g.budget / per_layer).saturating_sub(1) as usize).max(1);
    let cube_layers = pn - 1;
    let mask_slab = |a: usize, b: usize| {
        let (k0, k1) = (a.saturating_sub(1), b.min(n));
        (
            k0,
            g.storage(
                "mask slab",
                bytemuck::cast_slice(&words[k0 * slice_words..k1.max(k0) * slice_words]),
            ),
        )
    };
    // Count.
    let mut row_counts: Vec<u32> = Vec::with_capacity(pn * pr * 3);
    let mut cube_counts: Vec<u32> = Vec::with_capacity(cube_layers * (pr - 1) * 2);
    for a in (0..cube_layers).step_by(max_layers) {
        let b = (a + max_layers).min(cube_layers);
        let (mk0, slab) = mask_slab(a, b);
        let rows_n = ((b - a) * pr) as u64;
        let rowdata = g.zeroed("row counts", rows_n * 3);
        let cubedata = g.zeroed("cube counts", ((b - a) * (pr - 1) * 2) as u64);
        let unused = g.zeroed("unused", 1);
        let u = g.uniform(&Params {
            mk0: mk0 as u32,
            a: a as u32,
            layers: (b - a) as u32,
            stride: stride(rows_n),
            ..base
        });
        let group = g.bind(
            &g.surface,
            &[&u, &slab, &table, &rowdata, &cubedata, &unused, &unused],
        );
        let mut enc = g.encoder();
        GpuCompute::dispatch(&mut enc, &g.surface.entries[0], &group, rows_n);
        let r = g.read(enc, &rowdata, rows_n * 12)?;
        row_counts.extend(bytemuck::pod_collect_to_vec::<u8, u32>(&r));
        let c = g.read(g.encoder(), &cubedata, ((b - a) * (pr - 1) * 8) as u64)?;
        cube_counts.extend(bytemuck::pod_collect_to_vec::<u8, u32>(&c));
    }
    // The last lattice layer is padding: no crossings.
    row_counts.resize(pn * pr * 3, 0);
    // Scan.
    let mut row_base = Vec::with_capacity(row_counts.len());
    let mut acc = 0u64;
    for c in row_counts.chunks_exact(3) {
        let off = u32_of(acc, "vertices")?;
        let x = u64::from(c[0]);
        let y = u64::from(c[1]);
        row_base.extend_from_slice(&[
            off,
            u32_of(acc + x, "vertices")?,
            u32_of(acc + x + y, "vertices")?,
        ]);
        acc += x + y + u64::from(c[2]);
    }
    let edge_vertices = u32_of(acc, "vertices")?;
    let mut cube_base = Vec::with_capacity(cube_counts.len());
    let (mut tri_acc, mut centre_acc) = (0u64, 0u64);
    for c in cube_counts.chunks_exact(2) {
        cube_base.extend_from_slice(&[
            u32_of(tri_acc, "triangles")?,
            u32_of(centre_acc, "vertices")?,
        ]);
        tri_acc += u64::from(c[0]);
        centre_acc += u64::from(c[1]);
    }
    u32_of(tri_acc * 3, "triangle indices")?;
    u32_of(u64::from(edge_vertices) + centre_acc, "vertices")?;
    // Emit, in slabs whose triangles also fit the budget.
    let layer_tris = |l: usize| -> u64 {
        cube_counts[l * (pr - 1) * 2..(l + 1) * (pr - 1) * 2]
            .chunks_exact(2)
            .map(|c| u64::from(c[0]))
            .sum()
    };
    let layer_centres = |l: usize| -> u64 {
        cube_counts[l * (pr - 1) * 2..(l + 1) * (pr - 1) * 2]
            .chunks_exact(2)
            .map(|c| u64::from(c[1]))
            .sum()
    };
    let mut triangles: Vec<[u32; 3]> = Vec::with_capacity(tri_acc as usize);
    let mut centres: Vec<CentreCube> = Vec::with_capacity(centre_acc as usize);
    let mut a = 0;
    while a < cube_layers {
        let (mut b, mut tris, mut cens) = (a, 0u64, 0u64);
        while b < cube_layers
            && b - a < max_layers
            && (b == a || (tris + layer_tris(b)) * 12 <= g.budget)
        {
            tris += layer_tris(b);
            cens += layer_centres(b);
            b += 1;
        }
        if tris * 12 > g.budget {
            return Err(format!(
                "one slice layer of the surface holds {tris} triangles, beyond the GPU \
                 budget of {} MiB",
                g.budget >> 20
            ));
        }
        if tris > 0 {
            let (mk0, slab) = mask_slab(a, b);
            let rowdata = g.storage(
                "row bases",
                bytemuck::cast_slice(&row_base[a * pr * 3..(b + 1) * pr * 3]),
            );
            let first = a * (pr - 1) * 2;
            let cubedata = g.storage(
                "cube bases",
                bytemuck::cast_slice(&cube_base[first..b * (pr - 1) * 2]),
            );
            let tri_buf = g.zeroed("triangles", tris * 3);
            let centre_buf = g.zeroed("centres", cens * 4);
            let cubes = ((b - a) * (pr - 1)) as u64;
            let u = g.uniform(&Params {
                mk0: mk0 as u32,
                a: a as u32,
                layers: (b - a) as u32,
                tri0: cube_base[first],
                centre0: cube_base[first + 1],
                edge_vertices,
                stride: stride(cubes),
                ..base
            });
            let group = g.bind(
                &g.surface,
                &[
                    &u,
                    &slab,
                    &table,
                    &rowdata,
                    &cubedata,
                    &tri_buf,
                    &centre_buf,
                ],
            );
            let mut enc = g.encoder();
            GpuCompute::dispatch(&mut enc, &g.surface.entries[1], &group, cubes);
            let t = g.read(enc, &tri_buf, tris * 12)?;
            let t: Vec<u32> = bytemuck::pod_collect_to_vec(&t);
            triangles.extend(t.chunks_exact(3).map(|c| [c[0], c[1], c[2]]));
            if cens > 0 {
                let c = g.read(g.encoder(), &centre_buf, cens * 16)?;
                let c: Vec<u32> = bytemuck::pod_collect_to_vec(&c);
                centres.extend(c.chunks_exact(4).map(|c| CentreCube {
                    cube: [c[0], c[1], c[2]],
                    cfg: c[3] as u8,
                }));
            }
        }
        a = b;
    }
    Ok(Topology {
        edge_vertices,
        triangles,
        centres,
    })
}
