//! The mesh files: an arbitrary mesh (any coordinates, any indices) goes to the STL, OBJ and
//! 3MF writers, which must refuse bad geometry with a message; what they accept must read
//! back. The same mesh goes through the certificate and the surface queries (tree,
//! self-intersections, signed distance, rays), which must answer without panicking. And
//! arbitrary bytes go to the STL reader.
#![no_main]

use hounsfield::export::{obj, stl, threemf};
use hounsfield::mesh::{Mesh, bvh::Bvh, check};
use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let p = scratch::file("in.stl", data);
    let _ = stl::read_binary(&p);

    // The same bytes as a mesh: a vertex count, f32 coordinates, then u32 triangle indices.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n);
    let (coords, idx) = rest.split_at(rest.len().min(n * 12));
    let vertices: Vec<[f64; 3]> = coords
        .chunks_exact(12)
        .map(|c| {
            let f = |i: usize| f64::from(f32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]));
            [f(0), f(4), f(8)]
        })
        .collect();
    let triangles: Vec<[u32; 3]> = idx
        .chunks_exact(12)
        .map(|c| {
            let u = |i: usize| u32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
            [u(0), u(4), u(8)]
        })
        .collect();
    let out = p.with_file_name("out.stl");
    if stl::write_binary(&out, &vertices, &triangles, "fuzz").is_ok() {
        let (_, back) = stl::read_binary(&out).expect("an STL we wrote reads back");
        assert_eq!(back.len(), triangles.len());
    }
    let _ = obj::write(&p.with_file_name("out.obj"), &[("fuzz", &vertices, &triangles)]);
    let object = threemf::Object {
        name: "fuzz <&>",
        vertices: &vertices,
        triangles: &triangles,
    };
    let _ = threemf::write(&p.with_file_name("out.3mf"), &[object], &[("Title", "fuzz")]);

    let mesh = Mesh {
        vertices: vertices.clone(),
        triangles: triangles.clone(),
    };
    let c = check::certify(&mesh);
    assert_eq!(c.triangles, triangles.len());
    let tree = Bvh::build(&vertices, &triangles);
    assert_eq!(tree.self_intersecting_pairs().len(), tree.count_self_intersections());
    for p in vertices.iter().take(8) {
        let _ = tree.signed_distance(*p);
        let _ = tree.ray(*p, [0.3, -0.2, 1.0], 0.0, 10.0, None);
    }
});
