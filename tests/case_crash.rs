//! Crash safety of the case journal: a `hounsfield run` that applies many operations is
//! killed with SIGKILL at 120 moments spread over its whole run (import, case creation,
//! every operation, reconstruction, exports). After each kill, opening the case restores
//! every operation the child had reported as saved, and the replay's hashes match.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use hounsfield::case::{Case, CaseFiles};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KILLS: usize = 120;
const STROKES: usize = 40;

/// A 40 × 48 × 48 volume: a 1000 HU ball in water, written as NIfTI.
fn source(dir: &Path) -> std::path::PathBuf {
    use hounsfield::geom::SpacingMm;
    use hounsfield::volume::{Volume, VolumeGeometry};
    let hu = ndarray::Array3::from_shape_fn((40, 48, 48), |(k, j, i)| {
        let d2 = (k as f64 - 20.0).powi(2) + (j as f64 - 24.0).powi(2) + (i as f64 - 24.0).powi(2);
        if d2 < 144.0 { 1000 } else { 0 }
    });
    let v = Volume {
        hu,
        geometry: VolumeGeometry::axis_aligned(SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        }),
    };
    let p = dir.join("ball.nii.gz");
    hounsfield::io::nifti::write_volume(&p, &v, "crash test").unwrap();
    p
}

fn recipe(dir: &Path, src: &Path) -> std::path::PathBuf {
    let mut ops = vec![serde_json::json!({"op": "threshold", "lo": 500, "hi": 3071})];
    for n in 0..STROKES {
        let z = 8.0 + (n % 24) as f64;
        ops.push(serde_json::json!({
            "op": "brush",
            "centres_mm": [[10.0 + n as f64 * 0.5, 12.0, z], [30.0, 36.0 - n as f64 * 0.3, z]],
            "radius_mm": 2.0,
            "mode": if n % 3 == 2 { "erase" } else { "paint" },
            "shape": "disc",
            "plane": "axial"
        }));
    }
    let r = serde_json::json!({
        "source": {"path": src},
        "purpose": {"category": "other", "text": "crash test"},
        "operator": "crash test",
        "acknowledge": ["acquisition-unknown"],
        "label": "ball",
        "segmentation": ops,
        "exports": [{"file": "ball.stl"}, {"file": "ball.nii.gz"}]
    });
    let p = dir.join("recipe.json");
    std::fs::write(&p, r.to_string()).unwrap();
    p
}

/// Runs the recipe, killing it after `after` (never, when `None`); returns when (since the
/// start) each step was reported saved.
fn run_and_kill(recipe: &Path, out: &Path, after: Option<Duration>) -> Vec<Duration> {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hounsfield"))
        .args(["run", common::s(recipe), "--out", common::s(out)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("step ") && line.contains("saved") {
                let _ = tx.send(started.elapsed());
            }
        }
    });
    if let Some(d) = after {
        std::thread::sleep(d);
        let _ = child.kill(); // SIGKILL on Unix
    }
    let _ = child.wait();
    let _ = reader.join();
    rx.try_iter().collect()
}

#[test]
fn every_saved_operation_survives_sigkill_at_any_moment() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let recipe = recipe(dir.path(), &src);
    // One full run tells how long a run takes here, after one that is not timed: the first
    // start of a freshly built binary reads it from disk, and a span that long would put
    // most kills after the operations.
    let warm = dir.path().join("warm.hfcase");
    assert_eq!(run_and_kill(&recipe, &warm, None).len(), STROKES + 1);
    let _ = std::fs::remove_dir_all(&warm);
    let full = dir.path().join("full.hfcase");
    let t0 = Instant::now();
    let saved = run_and_kill(&recipe, &full, None);
    assert_eq!(saved.len(), STROKES + 1);
    let span = t0.elapsed();
    let ops_end = saved[saved.len() - 1];
    let (case, _) = Case::open(&full, "test", None).unwrap();
    let complete_hash = case.session().log().final_hash.clone();
    drop(case);
    let mut restored_counts = Vec::new();
    for i in 0..KILLS {
        // Moments spread evenly (a Weyl sequence): four in five over the operations, the
        // rest over the whole run (reconstruction, exports, report).
        let frac = (i as f64 * 0.618_033_988_75).fract();
        let at = if i % 5 == 4 {
            span.mul_f64(1.1 * frac)
        } else {
            ops_end.mul_f64(1.2 * frac)
        };
        let out = dir.path().join(format!("k{i}.hfcase"));
        let acked = run_and_kill(&recipe, &out, Some(at)).len();
        if !out.exists() {
            assert_eq!(acked, 0, "kill {i}: steps saved but no case folder");
            restored_counts.push(0);
            continue;
        }
        let files = CaseFiles::read(&out).unwrap_or_else(|e| panic!("kill {i} at {at:?}: {e}"));
        let (case, opened) = Case::open(&out, "test", None)
            .unwrap_or_else(|e| panic!("kill {i} at {at:?}: the case does not reopen: {e}"));
        let applied = case.session().log().applied().count();
        assert!(
            applied >= acked,
            "kill {i} at {at:?}: {acked} step(s) were reported saved, {applied} restored"
        );
        assert!(
            applied <= acked + 1,
            "kill {i}: more steps than were started"
        );
        assert_eq!(files.events.len(), case.files().events.len());
        if let Some(t) = &opened.dropped_tail {
            eprintln!("kill {i}: {t}");
        }
        if applied == STROKES + 1 {
            assert_eq!(case.session().log().final_hash, complete_hash);
        }
        restored_counts.push(applied);
        let _ = std::fs::remove_dir_all(&out);
    }
    // The kills landed all over the run: before the case, between operations, after them.
    let distinct: std::collections::BTreeSet<usize> = restored_counts.iter().copied().collect();
    assert!(restored_counts.contains(&0), "{restored_counts:?}");
    assert!(distinct.len() >= 15, "kills hit only {distinct:?}");
    let mut histogram = std::collections::BTreeMap::new();
    for c in &restored_counts {
        *histogram.entry(*c).or_insert(0) += 1;
    }
    eprintln!("{KILLS} kills over a {span:?} run; operations restored → kills: {histogram:?}");
}
