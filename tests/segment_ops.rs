//! Each operation family on small synthetic volumes with a known answer, plus undo/redo,
//! replay and thread-count independence.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use hounsfield::geom::SpacingMm;
use hounsfield::segment::{Operation, Session, replay};
use hounsfield::volume::{Volume, VolumeGeometry};
use ndarray::Array3;
use std::sync::Arc;

/// A volume on a grid of `dims` with `spacing` [slice, row, col] and HU from `f(x, y, z)`
/// in mm (origin at voxel 0).
fn volume(dims: [usize; 3], spacing: [f64; 3], f: impl Fn(f64, f64, f64) -> i16) -> Volume {
    let g = VolumeGeometry::axis_aligned(SpacingMm {
        slice: spacing[0],
        row: spacing[1],
        col: spacing[2],
    });
    let hu = Array3::from_shape_fn((dims[0], dims[1], dims[2]), |(k, j, i)| {
        f(
            i as f64 * spacing[2],
            j as f64 * spacing[1],
            k as f64 * spacing[0],
        )
    });
    Volume { hu, geometry: g }
}

fn op(json: &str) -> Operation {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn session(v: Volume) -> Session {
    Session::new(Arc::new(v), "synthetic", None, "test")
}

fn count(s: &Session, label: &str) -> u64 {
    s.segmentation().get(label).map_or(0, |l| l.mask.count())
}

/// Deterministic pseudo-noise in [-1, 1].
fn noise(x: f64, y: f64, z: f64) -> f64 {
    let h = ((x * 12.9898 + y * 78.233 + z * 37.719).sin() * 43758.5453).fract();
    2.0 * h.abs() - 1.0
}

fn sphere_volume(r: f64) -> Volume {
    volume([32, 32, 32], [1.0, 1.0, 1.0], move |x, y, z| {
        let d = ((x - 16.0).powi(2) + (y - 16.0).powi(2) + (z - 16.0).powi(2)).sqrt();
        if d <= r { 500 } else { 0 }
    })
}

fn voxels_in_ball(r: f64) -> u64 {
    let mut n = 0;
    for k in 0..32 {
        for j in 0..32 {
            for i in 0..32 {
                let d = (((i as f64) - 16.0).powi(2)
                    + ((j as f64) - 16.0).powi(2)
                    + ((k as f64) - 16.0).powi(2))
                .sqrt();
                n += u64::from(d <= r);
            }
        }
    }
    n
}

#[test]
fn region_growing_fills_a_sphere_from_its_centre() {
    let mut s = session(sphere_volume(10.0));
    s.apply(op(r#"{"op": "connected_threshold", "seeds": [{"voxel": [16, 16, 16]}], "lo": 400, "hi": 600}"#)).unwrap();
    assert_eq!(count(&s, "segment"), voxels_in_ball(10.0));
    // Seeds in mm: the same voxel.
    s.apply(op(r#"{"op": "connected_threshold", "seeds": [{"lps_mm": [16.2, 15.9, 16.0]}], "lo": 400, "hi": 600, "label": "b"}"#)).unwrap();
    assert_eq!(count(&s, "b"), voxels_in_ball(10.0));
    // Per slice: only the seed's slice, a disc.
    s.apply(op(r#"{"op": "connected_threshold", "seeds": [{"voxel": [16, 16, 16]}], "lo": 400, "hi": 600, "per_slice": true, "label": "c"}"#)).unwrap();
    let disc = (0..32 * 32).filter(|n| {
        let (j, i) = ((n / 32) as f64, (n % 32) as f64);
        ((i - 16.0).powi(2) + (j - 16.0).powi(2)).sqrt() <= 10.0
    });
    assert_eq!(count(&s, "c"), disc.count() as u64);
}

#[test]
fn confidence_connected_grows_a_noisy_sphere_and_not_the_background() {
    let v = volume([32, 32, 32], [1.0, 1.0, 1.0], |x, y, z| {
        let d = ((x - 16.0).powi(2) + (y - 16.0).powi(2) + (z - 16.0).powi(2)).sqrt();
        let base = if d <= 9.0 { 400.0 } else { 0.0 };
        (base + 20.0 * noise(x, y, z)).round() as i16
    });
    let mut s = session(v);
    s.apply(op(r#"{"op": "confidence_connected", "seeds": [{"voxel": [16, 16, 16]}], "multiplier": 3.0, "iterations": 3}"#)).unwrap();
    assert_eq!(count(&s, "segment"), voxels_in_ball(9.0));
}

#[test]
fn islands_keep_remove_and_split() {
    // Three cubes of 27, 8 and 1 voxels.
    let v = volume([12, 12, 12], [1.0, 1.0, 1.0], |x, y, z| {
        let in_box =
            |a: f64, b: f64| (a..=b).contains(&x) && (a..=b).contains(&y) && (a..=b).contains(&z);
        if in_box(1.0, 3.0) || in_box(6.0, 7.0) || (x == 10.0 && y == 10.0 && z == 10.0) {
            1000
        } else {
            0
        }
    });
    let mut s = session(v);
    s.apply(op(r#"{"op": "threshold", "lo": 500, "hi": 3071}"#))
        .unwrap();
    s.apply(op(
        r#"{"op": "copy_label", "from": "segment", "to": "all"}"#,
    ))
    .unwrap();
    s.apply(op(r#"{"op": "keep_largest", "connectivity": 6}"#))
        .unwrap();
    assert_eq!(count(&s, "segment"), 27);
    s.apply(op(r#"{"op": "copy_label", "from": "all", "to": "big"}"#))
        .unwrap();
    s.apply(op(
        r#"{"op": "remove_small", "min_volume_mm3": 5.0, "label": "big"}"#,
    ))
    .unwrap();
    assert_eq!(count(&s, "big"), 35);
    s.apply(op(r#"{"op": "keep_selected", "seeds": [{"voxel": [10, 10, 10]}], "label": "all", "connectivity": 26}"#)).unwrap();
    assert_eq!(count(&s, "all"), 1);
    s.apply(op(
        r#"{"op": "split_islands", "label": "big", "connectivity": 26}"#,
    ))
    .unwrap();
    assert_eq!((count(&s, "big_1"), count(&s, "big_2")), (27, 8));
}

#[test]
fn morphology_in_millimetres_on_anisotropic_voxels() {
    // 0.5 x 0.5 x 1 mm voxels (column, row, slice); one voxel at the centre.
    let v = volume([21, 41, 41], [1.0, 0.5, 0.5], |x, y, z| {
        if x == 10.0 && y == 10.0 && z == 10.0 {
            1000
        } else {
            0
        }
    });
    let mut s = session(v);
    s.apply(op(r#"{"op": "threshold", "lo": 500, "hi": 3071}"#))
        .unwrap();
    s.apply(op(r#"{"op": "dilate", "radius_mm": 2.0}"#))
        .unwrap();
    let m = &s.segmentation().get("segment").unwrap().mask;
    let run = |f: &dyn Fn(usize) -> bool, n: usize| (0..n).filter(|x| f(*x)).count();
    assert_eq!(
        run(&|i| m.get(10, 20, i), 41),
        9,
        "x: 2 mm = 4 voxels each side"
    );
    assert_eq!(run(&|j| m.get(10, j, 20), 41), 9, "y");
    assert_eq!(
        run(&|k| m.get(k, 20, 20), 21),
        5,
        "z: 2 mm = 2 voxels each side"
    );
    s.apply(op(r#"{"op": "erode", "radius_mm": 2.0}"#)).unwrap();
    assert_eq!(count(&s, "segment"), 1);
}

#[test]
fn closing_bridges_a_gap_and_opening_removes_a_spur() {
    // Two slabs separated by a 1 mm gap.
    let v = volume([20, 20, 20], [1.0, 1.0, 1.0], |x, _, _| {
        if (3.0..=8.0).contains(&x) || (10.0..=15.0).contains(&x) {
            1000
        } else {
            0
        }
    });
    let mut s = session(v);
    s.apply(op(r#"{"op": "threshold", "lo": 500, "hi": 3071}"#))
        .unwrap();
    s.apply(op(r#"{"op": "close", "radius_mm": 1.0}"#)).unwrap();
    let m = &s.segmentation().get("segment").unwrap().mask;
    assert!(m.get(10, 10, 9), "the gap is bridged");
    assert!(!m.get(10, 10, 2) && !m.get(10, 10, 16), "no growth outside");
    s.apply(op(r#"{"op": "open", "radius_mm": 1.5}"#)).unwrap();
    assert!(count(&s, "segment") > 0);
}

#[test]
fn fill_holes_and_hollow() {
    let v = sphere_volume(8.0);
    let mut s = session(v);
    s.apply(op(r#"{"op": "threshold", "lo": 400, "hi": 600}"#))
        .unwrap();
    let full = count(&s, "segment");
    s.apply(op(r#"{"op": "hollow", "thickness_mm": 2.0}"#))
        .unwrap();
    let shell = count(&s, "segment");
    assert!(shell < full && shell > 0);
    assert!(
        !s.segmentation()
            .get("segment")
            .unwrap()
            .mask
            .get(16, 16, 16),
        "centre is hollow"
    );
    s.apply(op(r#"{"op": "fill_holes"}"#)).unwrap();
    assert_eq!(
        count(&s, "segment"),
        full,
        "filling the shell gives the sphere back"
    );
}

#[test]
fn booleans_between_labels() {
    let v = volume([4, 4, 8], [1.0, 1.0, 1.0], |x, _, _| (x * 100.0) as i16);
    let mut s = session(v);
    s.apply(op(
        r#"{"op": "threshold", "lo": 0, "hi": 400, "label": "a"}"#,
    ))
    .unwrap(); // x 0..4: 5 cols
    s.apply(op(
        r#"{"op": "threshold", "lo": 300, "hi": 700, "label": "b"}"#,
    ))
    .unwrap(); // x 3..7: 5 cols
    let per_col = 16;
    for (o, want) in [("union", 8), ("intersect", 2), ("subtract", 3), ("xor", 6)] {
        let j = format!(
            r#"{{"op": "boolean", "operation": "{o}", "a": "a", "b": "b", "into": "r_{o}"}}"#
        );
        s.apply(op(&j)).unwrap();
        assert_eq!(count(&s, &format!("r_{o}")), want * per_col, "{o}");
    }
    s.apply(op(r#"{"op": "invert", "label": "a"}"#)).unwrap();
    assert_eq!(count(&s, "a"), 3 * per_col);
    s.apply(op(r#"{"op": "rename_label", "from": "a", "to": "not_a"}"#))
        .unwrap();
    s.apply(op(r#"{"op": "delete_label", "name": "b"}"#))
        .unwrap();
    assert!(s.segmentation().get("b").is_none() && count(&s, "not_a") == 48);
}

/// Before: only each segment was capped (10,000 positions), so 1,000 centres a metre apart
/// made ten million brush positions.
#[test]
fn a_stroke_of_far_apart_centres_is_refused() {
    let v = volume([20, 40, 40], [1.0, 1.0, 1.0], |_, _, _| 100);
    let mut s = session(v);
    let centres: Vec<[f64; 3]> = (0..1000)
        .map(|k| [1000.0 * f64::from(k % 2), 0.0, 5.0])
        .collect();
    let stroke = serde_json::json!({"op": "brush", "centres_mm": centres, "radius_mm": 1.0,
        "mode": "paint", "shape": "disc", "plane": "axial"});
    let e = s
        .apply(serde_json::from_value(stroke).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("brush positions") && e.contains("split it"),
        "{e}"
    );
}

#[test]
fn brush_disc_and_sphere_have_the_expected_size() {
    let v = volume([21, 81, 81], [1.0, 0.5, 0.5], |_, _, _| 0);
    let mut s = session(v);
    // Disc of radius 5 mm on 0.5 mm pixels: ~ pi r^2 / 0.25 = 314 voxels, one slice.
    s.apply(op(r#"{"op": "brush", "centres_mm": [[20.0, 20.0, 10.0]], "radius_mm": 5.0, "mode": "paint", "shape": "disc", "plane": "axial"}"#)).unwrap();
    let n = count(&s, "segment");
    assert!((300..=330).contains(&n), "{n}");
    let m = &s.segmentation().get("segment").unwrap().mask;
    assert!(m.get(10, 40, 40) && !m.get(9, 40, 40) && !m.get(11, 40, 40));
    // A stroke: two centres 10 mm apart paint a continuous band.
    s.apply(op(r#"{"op": "brush", "centres_mm": [[10.0, 30.0, 5.0], [30.0, 30.0, 5.0]], "radius_mm": 1.0, "mode": "paint", "shape": "disc", "plane": "axial", "label": "band"}"#)).unwrap();
    let band = &s.segmentation().get("band").unwrap().mask;
    assert!(
        (20..=60).all(|i| band.get(5, 60, i)),
        "no gaps along the stroke"
    );
    // Sphere of radius 3 mm: 4/3 pi 27 / (0.25) = 452.
    s.apply(op(r#"{"op": "brush", "centres_mm": [[20.0, 20.0, 10.0]], "radius_mm": 3.0, "mode": "paint", "shape": "sphere", "label": "ball"}"#)).unwrap();
    let n = count(&s, "ball");
    assert!((400..=500).contains(&n), "{n}");
    // Erase with an HU limit that matches nothing changes nothing.
    s.apply(op(r#"{"op": "brush", "centres_mm": [[20.0, 20.0, 10.0]], "radius_mm": 3.0, "mode": "erase", "shape": "sphere", "label": "ball", "hu_range": [100, 200]}"#)).unwrap();
    assert_eq!(count(&s, "ball"), n);
    s.apply(op(r#"{"op": "brush", "centres_mm": [[20.0, 20.0, 10.0]], "radius_mm": 3.0, "mode": "erase", "shape": "sphere", "label": "ball"}"#)).unwrap();
    assert_eq!(count(&s, "ball"), 0);
}

#[test]
fn lasso_scissors_and_interpolation() {
    let v = volume([11, 41, 41], [1.0, 0.5, 0.5], |_, _, _| 0);
    let mut s = session(v);
    // A 5 x 5 mm square on slice 3: 11 x 11 voxels at 0.5 mm (edges inclusive or not).
    s.apply(op(r#"{"op": "lasso", "points_mm": [[4.9,4.9,3],[10.1,4.9,3],[10.1,10.1,3],[4.9,10.1,3]], "plane": "axial", "mode": "paint"}"#)).unwrap();
    assert_eq!(count(&s, "segment"), 121);
    // Scissors along z through a 2 x 2 mm square removes 5 x 5 voxels.
    s.apply(op(r#"{"op": "scissors", "points_mm": [[6.9,6.9,0],[9.1,6.9,0],[9.1,9.1,0],[6.9,9.1,0]], "direction": [0,0,1], "mode": "erase_inside"}"#)).unwrap();
    assert_eq!(count(&s, "segment"), 121 - 25);

    // Interpolation: disc r = 2 mm on slice 0, r = 6 mm on slice 8 -> r ~ 4 mm on slice 4.
    s.apply(op(r#"{"op": "brush", "centres_mm": [[10,10,0]], "radius_mm": 2.0, "mode": "paint", "shape": "disc", "plane": "axial", "label": "i"}"#)).unwrap();
    s.apply(op(r#"{"op": "brush", "centres_mm": [[10,10,8]], "radius_mm": 6.0, "mode": "paint", "shape": "disc", "plane": "axial", "label": "i"}"#)).unwrap();
    s.apply(op(r#"{"op": "interpolate_slices", "label": "i"}"#))
        .unwrap();
    let m = &s.segmentation().get("i").unwrap().mask;
    let width = (0..41).filter(|i| m.get(4, 20, *i)).count();
    assert!(
        (15..=18).contains(&width),
        "about 8 mm wide: {width} voxels"
    );
    assert!(
        (1..8).all(|k| m.get(k, 20, 20)),
        "every slice between is filled"
    );
}

#[test]
fn crop_and_resample() {
    let v = volume([10, 10, 10], [1.0, 1.0, 1.0], |_, _, _| 100);
    let mut s = session(v);
    s.apply(op(r#"{"op": "threshold", "lo": 0, "hi": 200}"#))
        .unwrap();
    s.apply(op(
        r#"{"op": "crop", "min_mm": [2, 2, 2], "max_mm": [5, 5, 5]}"#,
    ))
    .unwrap();
    assert_eq!(count(&s, "segment"), 64);
    s.apply(op(r#"{"op": "resample", "spacing_mm": [0.5, 0.5, 0.5]}"#))
        .unwrap();
    assert_eq!(s.segmentation().dims(), [19, 19, 19]);
    let n = count(&s, "segment");
    assert!((7 * 7 * 7..=9 * 9 * 9).contains(&n), "{n}");
    // After resampling, operations reading HU refuse to run.
    let e = s
        .apply(op(r#"{"op": "threshold", "lo": 0, "hi": 200}"#))
        .unwrap_err();
    assert!(e.to_string().contains("resampled"), "{e}");
}

/// Before: undoing a resample did nothing (a delta cannot span two grids), and the log's
/// final hash then disagreed with a replay.
#[test]
fn a_resample_is_undone_and_redone_exactly() {
    let v = volume(
        [10, 10, 10],
        [1.0, 1.0, 1.0],
        |x, _, _| if x < 5.0 { 100 } else { 0 },
    );
    let mut s = session(v);
    s.apply(op(r#"{"op": "threshold", "lo": 50, "hi": 200}"#))
        .unwrap();
    let before = s.segmentation().clone();
    let hash_before = s.log().final_hash.clone();
    s.apply(op(r#"{"op": "resample", "spacing_mm": [0.5, 0.5, 0.5]}"#))
        .unwrap();
    let after = s.segmentation().clone();
    let hash_after = s.log().final_hash.clone();
    assert_ne!(after.dims(), before.dims());
    assert!(s.undo());
    assert_eq!(s.segmentation(), &before);
    assert_eq!(s.log().final_hash, hash_before);
    assert!(s.redo());
    assert_eq!(s.segmentation(), &after);
    assert_eq!(s.log().final_hash, hash_after);
    // The log with the undone resample replays to the same hash.
    assert!(s.undo());
    let r = replay(s.volume(), s.log());
    assert!(r.ok(), "{:?}", r.steps);
}

#[test]
fn undo_redo_restore_exact_states_and_the_log_keeps_undone_steps() {
    let mut s = session(sphere_volume(8.0));
    let mut hashes = vec![s.log().final_hash.clone()];
    let steps = [
        r#"{"op": "threshold", "lo": 400, "hi": 600}"#,
        r#"{"op": "dilate", "radius_mm": 1.0}"#,
        r#"{"op": "copy_label", "from": "segment", "to": "copy"}"#,
        r#"{"op": "rename_label", "from": "copy", "to": "renamed"}"#,
        r#"{"op": "brush", "centres_mm": [[3,3,3]], "radius_mm": 2.0, "mode": "paint", "shape": "sphere"}"#,
        r#"{"op": "delete_label", "name": "renamed"}"#,
    ];
    for j in steps {
        s.apply(op(j)).unwrap();
        hashes.push(s.log().final_hash.clone());
    }
    for back in (0..steps.len()).rev() {
        assert!(s.undo());
        assert_eq!(s.log().final_hash, hashes[back], "undo to step {back}");
    }
    assert!(!s.undo());
    for (fwd, want) in hashes.iter().enumerate().skip(1) {
        assert!(s.redo());
        assert_eq!(&s.log().final_hash, want, "redo to step {fwd}");
    }
    // Undo two, apply a new step: the redo branch is discarded but kept as undone.
    s.undo();
    s.undo();
    s.apply(op(r#"{"op": "erode", "radius_mm": 1.0}"#)).unwrap();
    assert!(!s.redo());
    let statuses: Vec<_> = s.log().entries.iter().map(|e| e.status).collect();
    use hounsfield::segment::log::EntryStatus::*;
    assert_eq!(
        statuses,
        vec![Applied, Applied, Applied, Applied, Undone, Undone, Applied]
    );
    let r = replay(s.volume(), s.log());
    assert!(r.ok(), "{r:?}");
}

#[test]
fn replay_is_bit_identical_on_1_2_and_7_threads_and_detects_tampering() {
    let v = volume([24, 48, 48], [1.5, 0.7, 0.7], |x, y, z| {
        let d = ((x - 16.0).powi(2) + (y - 16.0).powi(2) + (z - 18.0).powi(2)).sqrt();
        ((if d <= 10.0 { 700.0 } else { 20.0 }) + 30.0 * noise(x, y, z)) as i16
    });
    let mut s = session(v);
    for j in [
        r#"{"op": "threshold_preset", "preset": "bone"}"#,
        r#"{"op": "keep_largest", "connectivity": 26}"#,
        r#"{"op": "close", "radius_mm": 1.0}"#,
        r#"{"op": "fill_holes"}"#,
        r#"{"op": "threshold_auto", "method": "otsu", "label": "otsu"}"#,
        r#"{"op": "brush", "centres_mm": [[10,10,10],[14,12,10]], "radius_mm": 2.5, "mode": "erase", "shape": "disc", "plane": "axial"}"#,
        // Operations whose arithmetic goes through exp and pow (libm).
        r#"{"op": "fuzzy_cmeans", "k": 2, "keep": [1], "m": 2.0, "iterations": 20, "tolerance": 0.001, "seed": 1, "label": "fcm"}"#,
        r#"{"op": "gradient_threshold", "min_hu_per_mm": 200.0, "per_slice": false, "label": "edges"}"#,
        r#"{"op": "geodesic_active_contour", "init": "segment", "iterations": 10, "time_step": 0.5, "curvature_weight": 0.2, "propagation_weight": 1.0, "advection_weight": 1.0, "edge_k": 50.0, "sigma_mm": 1.0, "per_slice": false, "margin_mm": 4.0, "label": "gac"}"#,
    ] {
        s.apply(op(j)).unwrap();
    }
    let log = s.log().clone();
    let vol = s.volume().clone();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| replay(&vol, &log))
    };
    for threads in [1, 2, 7] {
        let r = run(threads);
        assert!(r.ok(), "{threads} threads: {r:?}");
    }
    assert!(!log.platform.is_empty());
    let mut tampered = log.clone();
    if let Operation::Brush(b) = &mut tampered.entries[5].op {
        b.radius_mm = 2.6;
    }
    let r = replay(&vol, &tampered);
    assert!(!r.ok());
    assert_eq!(r.steps.last().map(|s| s.index), Some(5));
    assert!(
        log.entries[0].notes.iter().any(|n| n.contains("226..3071")),
        "{:?}",
        log.entries[0].notes
    );
}

#[test]
fn edges_stop_region_growing_and_canny_finds_a_sphere_surface() {
    // Two plates in the same HU range, 500 | 300, meeting at x = 9.5 mm.
    let v = volume([20, 20, 20], [1.0, 1.0, 1.0], |x, _, _| {
        if x < 10.0 { 500 } else { 300 }
    });
    let mut s = session(v);
    s.apply(op(
        r#"{"op": "connected_threshold", "seeds": [{"voxel": [10, 10, 2]}], "lo": 200, "hi": 600}"#,
    ))
    .unwrap();
    assert_eq!(
        count(&s, "segment"),
        8000,
        "without the edge stop both plates"
    );
    s.apply(op(r#"{"op": "connected_threshold", "seeds": [{"voxel": [10, 10, 2]}], "lo": 200, "hi": 600, "max_gradient_hu_per_mm": 50.0, "label": "stopped"}"#)).unwrap();
    assert_eq!(
        count(&s, "stopped"),
        9 * 400,
        "stops before the interface (x = 0..=8)"
    );
    s.apply(op(
        r#"{"op": "gradient_threshold", "min_hu_per_mm": 50.0, "label": "edge"}"#,
    ))
    .unwrap();
    assert_eq!(
        count(&s, "edge"),
        2 * 400,
        "the two voxel layers at the interface"
    );

    let mut s = session(sphere_volume(9.0));
    s.apply(op(
        r#"{"op": "canny", "sigma_mm": 1.0, "low_hu_per_mm": 20.0, "high_hu_per_mm": 60.0}"#,
    ))
    .unwrap();
    let m = &s.segmentation().get("segment").unwrap().mask;
    let mut radii = Vec::new();
    for k in 0..32 {
        for j in 0..32 {
            for i in 0..32 {
                if m.get(k, j, i) {
                    radii.push(
                        (((i as f64) - 16.0).powi(2)
                            + ((j as f64) - 16.0).powi(2)
                            + ((k as f64) - 16.0).powi(2))
                        .sqrt(),
                    );
                }
            }
        }
    }
    assert!(radii.len() > 500, "{} edge voxels", radii.len());
    assert!(
        radii.iter().all(|r| (7.5..=10.5).contains(r)),
        "edges lie on the surface"
    );
}

#[test]
fn watershed_gives_each_marker_its_own_ball_across_a_bridge() {
    // Two flat balls (1000 HU, radius 5 mm) joined by a dimmer bridge (300 HU).
    let ball = |x: f64, y: f64, z: f64, cx: f64| {
        ((x - cx).powi(2) + (y - 12.0).powi(2) + (z - 12.0).powi(2)).sqrt() <= 5.0
    };
    let v = volume([24, 24, 34], [1.0, 1.0, 1.0], move |x, y, z| {
        if ball(x, y, z, 9.0) || ball(x, y, z, 24.0) {
            1000
        } else if (9.0..=24.0).contains(&x) && (y - 12.0).abs() <= 1.0 && (z - 12.0).abs() <= 1.0 {
            300
        } else {
            0
        }
    });
    let mut s = session(v);
    s.apply(op(
        r#"{"op": "threshold", "lo": 100, "hi": 3071, "label": "blob"}"#,
    ))
    .unwrap();
    s.apply(op(r#"{"op": "brush", "centres_mm": [[9, 12, 12]], "radius_mm": 1.0, "mode": "paint", "shape": "sphere", "label": "left"}"#)).unwrap();
    s.apply(op(r#"{"op": "brush", "centres_mm": [[24, 12, 12]], "radius_mm": 1.0, "mode": "paint", "shape": "sphere", "label": "right"}"#)).unwrap();
    s.apply(op(
        r#"{"op": "watershed", "markers": ["left", "right"], "within": "blob"}"#,
    ))
    .unwrap();
    let (l, r) = (count(&s, "left"), count(&s, "right"));
    assert_eq!(l + r, count(&s, "blob"), "the blob is partitioned");
    let left = &s.segmentation().get("left").unwrap().mask;
    let right = &s.segmentation().get("right").unwrap().mask;
    for k in 0..24 {
        for j in 0..24 {
            for i in 0..34 {
                let (x, y, z) = (i as f64, j as f64, k as f64);
                if ball(x, y, z, 9.0) {
                    assert!(left.get(k, j, i), "left ball voxel {k},{j},{i}");
                }
                if ball(x, y, z, 24.0) {
                    assert!(right.get(k, j, i), "right ball voxel {k},{j},{i}");
                }
            }
        }
    }
}

fn dice(a: &hounsfield::segment::Mask, b: &hounsfield::segment::Mask) -> f64 {
    let inter: u64 = a
        .words()
        .iter()
        .zip(b.words())
        .map(|(x, y)| u64::from((x & y).count_ones()))
        .sum();
    2.0 * inter as f64 / (a.count() + b.count()) as f64
}

#[test]
fn chan_vese_finds_two_noisy_discs_from_a_box() {
    let disc = |x: f64, y: f64| {
        ((x - 12.0).powi(2) + (y - 16.0).powi(2)).sqrt() <= 6.0
            || ((x - 30.0).powi(2) + (y - 16.0).powi(2)).sqrt() <= 6.0
    };
    let v = volume([4, 32, 44], [1.0, 1.0, 1.0], move |x, y, z| {
        ((if disc(x, y) { 300.0 } else { 0.0 }) + 40.0 * noise(x, y, z)).round() as i16
    });
    let mut s = session(v);
    s.apply(op(r#"{"op": "lasso", "points_mm": [[3,5,0],[40,5,0],[40,27,0],[3,27,0]], "plane": "axial", "mode": "paint", "label": "init"}"#)).unwrap();
    for k in 1..4 {
        let j = format!(
            r#"{{"op": "lasso", "points_mm": [[3,5,{k}],[40,5,{k}],[40,27,{k}],[3,27,{k}]], "plane": "axial", "mode": "paint", "label": "init"}}"#
        );
        s.apply(op(&j)).unwrap();
    }
    s.apply(op(r#"{"op": "chan_vese", "init": "init", "iterations": 150, "per_slice": true, "margin_mm": 2.0, "label": "cv"}"#)).unwrap();
    let truth = hounsfield::segment::Mask::from_fn([4, 32, 44], |_, j, i| disc(i as f64, j as f64));
    let d = dice(&s.segmentation().get("cv").unwrap().mask, &truth);
    assert!(d >= 0.95, "Dice {d}");
}

#[test]
fn geodesic_active_contour_expands_to_a_sphere_edge() {
    let mut s = session(sphere_volume(9.0));
    s.apply(op(r#"{"op": "brush", "centres_mm": [[16, 16, 16]], "radius_mm": 3.0, "mode": "paint", "shape": "sphere", "label": "seed"}"#)).unwrap();
    s.apply(op(r#"{"op": "geodesic_active_contour", "init": "seed", "iterations": 250, "edge_k": 20.0, "margin_mm": 10.0, "label": "gac"}"#)).unwrap();
    let n = count(&s, "gac") as f64;
    let want = voxels_in_ball(9.0) as f64;
    assert!((n / want - 1.0).abs() < 0.1, "{n} vs {want}");
}

#[test]
fn kmeans_and_fuzzy_cmeans_separate_three_levels() {
    let v = volume([6, 20, 30], [1.0, 1.0, 1.0], |x, y, z| {
        let base = if x < 10.0 {
            -1000.0
        } else if x < 20.0 {
            40.0
        } else {
            700.0
        };
        (base + 15.0 * noise(x, y, z)).round() as i16
    });
    let mut s = session(v);
    s.apply(op(r#"{"op": "kmeans", "k": 3, "keep": [1], "seed": 7}"#))
        .unwrap();
    assert_eq!(count(&s, "segment"), 6 * 20 * 10);
    let m = &s.segmentation().get("segment").unwrap().mask;
    assert!(m.get(3, 10, 15) && !m.get(3, 10, 5) && !m.get(3, 10, 25));
    let notes = &s.log().entries[0].notes;
    assert!(notes.iter().any(|n| n.contains("centres")), "{notes:?}");
    s.apply(op(
        r#"{"op": "fuzzy_cmeans", "k": 3, "keep": [2], "label": "bright"}"#,
    ))
    .unwrap();
    assert_eq!(count(&s, "bright"), 6 * 20 * 10);
    // With the gradient as a second feature the voxels at the steps form clusters of their
    // own; the darkest cluster stays inside the dark region.
    s.apply(op(
        r#"{"op": "kmeans", "k": 3, "keep": [0], "gradient_weight": 1.0, "label": "dark"}"#,
    ))
    .unwrap();
    let dark = &s.segmentation().get("dark").unwrap().mask;
    assert!(dark.count() > 0);
    assert!((0..6).all(|k| (0..20).all(|j| (10..30).all(|i| !dark.get(k, j, i)))));
}

#[test]
fn an_oblique_disc_brush_along_an_axis_paints_what_the_axis_plane_paints() {
    let mut a = session(sphere_volume(5.0));
    let mut b = session(sphere_volume(5.0));
    a.apply(op(r#"{"op": "brush", "centres_mm": [[16, 16, 16], [20, 18, 16]], "radius_mm": 3, "mode": "paint", "shape": "disc", "plane": "axial", "label": "x"}"#)).unwrap();
    b.apply(op(r#"{"op": "brush", "centres_mm": [[16, 16, 16], [20, 18, 16]], "radius_mm": 3, "mode": "paint", "shape": "disc", "normal": [0, 0, -2], "label": "x"}"#)).unwrap();
    assert!(count(&a, "x") > 0);
    assert_eq!(a.log().final_hash, b.log().final_hash);
    // Tilted 45° about x, the disc cuts several slices.
    let mut c = session(sphere_volume(5.0));
    c.apply(op(r#"{"op": "brush", "centres_mm": [[16, 16, 16]], "radius_mm": 4, "mode": "paint", "shape": "disc", "normal": [0, 1, 1], "label": "x"}"#)).unwrap();
    let m = &c.segmentation().get("x").unwrap().mask;
    let slices = (0..32)
        .filter(|k| (0..32).any(|j| (0..32).any(|i| m.get(*k, j, i))))
        .count();
    assert!(slices >= 5, "{slices} slices");
    for bad in [
        r#""normal": [0, 0, 0]"#,
        r#""normal": [0, 0, 1], "plane": "axial""#,
    ] {
        let mut t = session(sphere_volume(5.0));
        let e = t
            .apply(op(&format!(
                r#"{{"op": "brush", "centres_mm": [[16, 16, 16]], "radius_mm": 2, "mode": "paint", "shape": "disc", {bad}}}"#
            )))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(e.is_err_and(|e| e.contains("normal")), "{bad}");
    }
}

#[test]
fn an_operation_staged_for_a_worker_commits_like_apply_unless_the_session_moved_on() {
    let grow = r#"{"op": "threshold", "lo": 100, "hi": 3071, "label": "ball"}"#;
    let mut direct = session(sphere_volume(6.0));
    direct.apply(op(grow)).unwrap();
    let mut s = session(sphere_volume(6.0));
    let staged = s.stage(op(grow)).unwrap();
    let computed = std::thread::spawn(move || staged.compute())
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(
        computed.changed_slices()[0].1.len(),
        13,
        "a 6 mm ball spans 13 slices"
    );
    s.commit_computed(computed).unwrap();
    assert_eq!(s.log().final_hash, direct.log().final_hash);
    assert!(s.undo());
    assert_eq!(count(&s, "ball"), 0);
    // Staged, then the session changes (a redo): the stale result is refused.
    let staged = s
        .stage(op(
            r#"{"op": "threshold", "lo": 200, "hi": 3071, "label": "ball"}"#,
        ))
        .unwrap();
    assert!(s.redo());
    let before = s.log().final_hash.clone();
    let stale = staged.compute().unwrap();
    assert!(s.commit_computed(stale).is_err());
    assert_eq!(s.log().final_hash, before);
}
