//! `hounsfield bench`: timings on real data, printed with the peer commands to compare.

use super::input;
use crate::dicom::{ImportOptions, LoadOptions};
use crate::error::Error;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub what: BenchWhat,
}

/// Benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchWhat {
    /// Folder scan + decode + HU volume of one series.
    Import {
        /// A DICOM folder holding the series (e.g. ct-head-phantom/S21570/S2030).
        path: PathBuf,
        /// The series, when the folder holds several.
        #[arg(long)]
        series: Option<String>,
        /// Repetitions (the first is included; page cache is warm after it).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// Surface extraction, certificate, smoothing, deviation and writing on the bone mask.
    Mesh {
        /// A DICOM folder (e.g. ct-head-phantom/S21570/S2030) or a NIfTI volume.
        path: PathBuf,
        /// The series, when the folder holds several.
        #[arg(long)]
        series: Option<String>,
        /// Repetitions of each timed step.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Also time threshold, keep-largest and extraction on the GPU (`gpu`, or `auto`
        /// for a GPU that is not a software rasteriser) beside the CPU, and check the
        /// results are identical.
        #[arg(long, value_enum, default_value_t = crate::compute::ComputeChoice::Cpu)]
        compute: crate::compute::ComputeChoice,
    },
    /// The whole job and the case's cost: journal appends (each fsynced) on this disk, and
    /// a recipe run through the case against the same work without one (import,
    /// operations, reconstruction, exports), then the report; names the peer route.
    #[command(alias = "e2e")]
    Case {
        /// A recipe (e.g. assets/recipes/phantom-bone.json).
        recipe: PathBuf,
        /// Where to put the scratch cases (the disk to measure); default: the system's
        /// temporary folder.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Repetitions of each pipeline.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Journal appends to time.
        #[arg(long, default_value_t = 200)]
        appends: usize,
    },
    /// The window's live 3D threshold preview (threshold, optionally the largest
    /// component, surface) at every lattice step up to the one used while dragging.
    Preview {
        /// A DICOM folder (e.g. ct-head-phantom/S21570/S2030) or a NIfTI volume.
        path: PathBuf,
        /// The series, when the folder holds several.
        #[arg(long)]
        series: Option<String>,
        /// Lowest HU.
        #[arg(long, default_value_t = 226, allow_negative_numbers = true)]
        lo: i32,
        /// Highest HU.
        #[arg(long, default_value_t = 3071, allow_negative_numbers = true)]
        hi: i32,
        /// Only the largest component (the panel's "largest only").
        #[arg(long)]
        largest_only: bool,
        /// Repetitions of each step.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Where the stages run; with a GPU the CPU's surface is also made and compared.
        #[arg(long, value_enum, default_value_t = crate::compute::ComputeChoice::Cpu)]
        compute: crate::compute::ComputeChoice,
    },
    /// Threshold + largest component, region growing, fill holes, closing, brush strokes.
    Segment {
        /// A DICOM folder (e.g. ct-head-phantom/S21570/S2030) or a NIfTI volume.
        path: PathBuf,
        /// The series, when the folder holds several.
        #[arg(long)]
        series: Option<String>,
        /// Repetitions of each timed step.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
}

/// Runs a benchmark.
pub fn run(a: &BenchArgs) -> Result<(), Error> {
    match &a.what {
        BenchWhat::Import {
            path,
            series,
            repeats,
        } => import(path, series.as_deref(), *repeats),
        BenchWhat::Segment {
            path,
            series,
            repeats,
        } => segment(path, series.as_deref(), *repeats),
        BenchWhat::Mesh {
            path,
            series,
            repeats,
            compute,
        } => {
            let c = super::open_compute(*compute).map_err(Error::Failed)?;
            mesh(path, series.as_deref(), *repeats, &c)
        }
        BenchWhat::Preview {
            path,
            series,
            lo,
            hi,
            largest_only,
            repeats,
            compute,
        } => {
            let c = super::open_compute(*compute).map_err(Error::Failed)?;
            let req = crate::mesh::preview::PreviewRequest {
                lo: *lo,
                hi: *hi,
                largest_only: *largest_only,
                step: 1,
            };
            preview(path, series.as_deref(), req, *repeats, &c)
        }
        BenchWhat::Case {
            recipe,
            dir,
            repeats,
            appends,
        } => case(recipe, dir.as_deref(), *repeats, *appends),
    }
}

fn case(
    recipe_path: &std::path::Path,
    dir: Option<&std::path::Path>,
    repeats: usize,
    appends: usize,
) -> Result<(), Error> {
    use crate::case::journal::Journal;
    use crate::case::{event, exports, recipe};
    let text = std::fs::read_to_string(recipe_path)
        .map_err(|e| Error::BadInput(format!("cannot read {}: {e}", recipe_path.display())))?;
    let r = recipe::parse(&text)?;
    let recipe_dir = recipe_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
    let base = dir.map_or_else(std::env::temp_dir, std::path::Path::to_path_buf);
    let scratch = base.join(format!("hounsfield-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| Error::BadInput(format!("cannot create {}: {e}", scratch.display())))?;
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(scratch.clone());
    println!(
        "bench case: {} in {}; threads {}",
        recipe_path.display(),
        scratch.display(),
        rayon::current_num_threads()
    );
    // 1. Journal appends: a typical record (a brush stroke's log entry), each fsynced.
    let stroke = serde_json::json!({"seq": 0, "event": "applied", "entry": {
        "index": 0, "op": {"op": "brush", "centres_mm": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
        "radius_mm": 2.5, "mode": "paint", "shape": "disc", "plane": "axial", "label": "bone"},
        "time": "2026-12-01T00:00:00Z", "operator": "bench", "status": "applied",
        "hashes": {"bone": "0".repeat(64)}, "segmentation_hash": "0".repeat(64), "notes": [],
        "changes": [{"label": "bone", "added": 120, "removed": 0, "slices": [{"first": 3, "last": 3, "added": 120, "removed": 0}]}]}});
    let mut j =
        Journal::create(&scratch.join("journal.hfj")).map_err(|e| Error::Failed(e.to_string()))?;
    let mut ts = Vec::with_capacity(appends);
    for _ in 0..appends.max(1) {
        let t0 = Instant::now();
        j.append(&stroke)
            .map_err(|e| Error::Failed(e.to_string()))?;
        ts.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    ts.sort_by(f64::total_cmp);
    println!(
        "  journal append + fdatasync ({} bytes): median {:.3} ms  p95 {:.3} ms  max {:.3} ms over {} appends",
        stroke.to_string().len() + 10,
        ts[ts.len() / 2],
        ts[ts.len() * 95 / 100],
        ts[ts.len() - 1],
        ts.len()
    );
    // 2. The same work without a case: scan, decode, operations, reconstruction, exports.
    let src = if r.source.path.is_absolute() {
        r.source.path.clone()
    } else {
        recipe_dir.join(&r.source.path)
    };
    let bare_dir = scratch.join("bare");
    std::fs::create_dir_all(&bare_dir).map_err(|e| Error::Failed(e.to_string()))?;
    let ((bmin, bmed), _) = time(repeats, || {
        let volume = if crate::io::nifti::is_nifti_path(&src) {
            crate::io::nifti::read_volume(&src)?
        } else {
            let report = input::scan(&src, &ImportOptions::default())?;
            let s = input::select(&report, r.source.series.as_deref())?;
            input::load(s, &LoadOptions::default())?.volume
        };
        let volume = std::sync::Arc::new(volume);
        let mut session = crate::segment::Session::new(volume.clone(), "bench", None, "bench");
        session.default_label = r.label.clone();
        for op in &r.segmentation {
            session
                .apply(op.clone())
                .map_err(|e| Error::BadInput(e.to_string()))?;
        }
        let mut meshes = Vec::new();
        if let Some(opts) = &r.reconstruction {
            for l in &r.reconstruct_labels {
                let m = session
                    .segmentation()
                    .get(l)
                    .ok_or_else(|| Error::BadInput(format!("no label {l}")))?;
                let rec = crate::mesh::pipeline::reconstruct(
                    &m.mask,
                    &volume.geometry,
                    opts.iso_hu.map(|_| &volume.hu),
                    opts,
                )
                .map_err(Error::Failed)?;
                meshes.push((l.clone(), rec.mesh));
            }
        }
        let provenance = exports::Provenance {
            software: crate::export::surface::software(),
            pseudonym: "bench".into(),
            series_uid: None,
            volume_hash: String::new(),
            segmentation_hash: session.log().final_hash.clone(),
            log_position: session.log().entries.len(),
            mask_hashes: Default::default(),
            dicom: None,
        };
        for spec in &r.exports {
            let mut spec: event::ExportSpec = spec.clone();
            if spec.labels.is_empty() {
                spec.labels = vec![r.label.clone()];
            }
            exports::write(
                &spec,
                &bare_dir.join(&spec.file),
                session.segmentation(),
                &volume,
                &meshes,
                &provenance,
            )
            .map_err(Error::Failed)?;
        }
        Ok(())
    })?;
    println!(
        "  without a case (import, operations, reconstruction, exports): min {bmin:.3} s  median {bmed:.3} s"
    );
    let mut n = 0;
    let ((cmin, cmed), case) = time(repeats, || {
        n += 1;
        let out = scratch.join(format!("run{n}.hfcase"));
        Ok(recipe::run(&r, &recipe_dir, None, &out, &mut |_| {})?)
    })?;
    println!(
        "  the same through a case (+ source file hashes, case.json, fsynced journal, mask and export hashes, log.json): min {cmin:.3} s  median {cmed:.3} s  ({:+.1} % on the median)",
        (cmed / bmed - 1.0) * 100.0
    );
    let ((rmin, rmed), _) = time(repeats, || {
        crate::report::write(
            &case,
            Some(&scratch.join("report.json")),
            Some(&scratch.join("report.html")),
        )?;
        Ok(())
    })?;
    println!(
        "  report (JSON + HTML with four CPU-rendered pictures): min {rmin:.3} s  median {rmed:.3} s"
    );
    println!(
        "  whole job in one process (through a case, plus the report): median {:.3} s",
        cmed + rmed
    );
    println!(
        "    peer (no checks, STL only): python ../shared/bench/peers/peers.py --e2e pydicom-cc3d-vtk --dir SERIES_FOLDER; packaging/bench-e2e.sh races `hounsfield run` against it as whole processes, alternating"
    );
    Ok(())
}

fn mesh(
    path: &std::path::Path,
    series: Option<&str>,
    repeats: usize,
    compute: &crate::compute::Compute,
) -> Result<(), Error> {
    use crate::mesh::{check, extract, smooth};
    let opened = input::open_volume(path, series)?;
    let v = opened.volume;
    let t = crate::segment::ops::threshold::threshold_mask(&v.hu, 226, 3071);
    let c = crate::segment::components::label(
        &t,
        crate::segment::components::Connectivity::TwentySix,
        false,
    );
    let big = c.largest();
    let mask = c.mask_of(|id| Some(id) == big);
    println!(
        "bench mesh: {} bone 226..3071 + largest component: {} voxels; threads {}",
        path.display(),
        mask.count(),
        rayon::current_num_threads()
    );
    let ((emin, emed), m) = time(repeats, || {
        Ok(extract::extract(&mask, &v.geometry, &extract::Midpoint))
    })?;
    println!(
        "  extraction (discrete marching cubes, padded, closed): min {emin:.3} s  median {emed:.3} s  ({} triangles, {} vertices)",
        m.triangles.len(),
        m.vertices.len()
    );
    println!(
        "    peers: vtkDiscreteFlyingEdges3D 0.20 s, vtkFlyingEdges3D 0.19 s on the mask padded by one voxel (1,575,880 triangles)"
    );
    if let Some(a) = compute.accelerator() {
        gpu_stages(a, &v.hu, &mask, &m, &v.geometry, repeats)?;
    } else if let Some(note) = compute.record().note {
        println!("  GPU stages not timed: {note}");
    }
    let ((cmin, cmed), cert) = time(repeats, || Ok(check::certify(&m)))?;
    println!(
        "  certificate of the extracted surface (edges, fans, shells, volume, area): min {cmin:.3} s  median {cmed:.3} s  closed {} manifold {} outward {} shells {} genus {:?}",
        cert.closed, cert.manifold, cert.outward, cert.shells, cert.genus
    );
    let ((smin, smed), smoothed) = time(repeats.min(3), || {
        let mut mm = m.clone();
        smooth::smooth(
            &mut mm,
            smooth::Smoothing::Sinc {
                iterations: 20,
                pass_band: 0.1,
            },
            None,
        );
        Ok(mm)
    })?;
    println!("  windowed sinc 20 iterations, pass band 0.1: min {smin:.3} s  median {smed:.3} s");
    let ((mmin, mmed), moved) = time(repeats, || Ok(check::certify_moved(&smoothed, &cert)))?;
    println!(
        "  certificate of the smoothed surface (the extraction's topology reused, as the pipeline does): min {mmin:.3} s  median {mmed:.3} s  (target <= 0.15 s)  outward {} degenerate {}",
        moved.outward, moved.degenerate_triangles
    );
    let ((bmin, bmed), tree) = time(repeats.min(3), || {
        Ok(crate::mesh::bvh::Bvh::build(
            &smoothed.vertices,
            &smoothed.triangles,
        ))
    })?;
    println!(
        "  BVH build (smoothed surface; built once, shared by the checks below): min {bmin:.3} s  median {bmed:.3} s"
    );
    let ((dmin, dmed), d) = time(repeats.min(3), || {
        crate::mesh::deviation::deviation_given(
            &tree,
            Some(&v.geometry),
            &m.vertices,
            &m.triangles,
            &smoothed.vertices,
            &smoothed.triangles,
            0.2,
            &std::sync::atomic::AtomicBool::new(false),
        )
        .ok_or_else(|| Error::Failed("the deviation was cancelled".into()))
    })?;
    println!(
        "  deviation both ways (signed, given the tree): min {dmin:.3} s  median {dmed:.3} s  (max {:.3} mm, mean {:.3} mm, volume {:+.4} %; target <= 0.25 s)",
        d.max_mm, d.mean_mm, d.volume_change_pct
    );
    println!(
        "  smoothing + deviation: min {:.3} s  median {:.3} s",
        smin + dmin,
        smed + dmed
    );
    println!(
        "    peer: vtkWindowedSincPolyDataFilter 20 iterations, pass band 0.1, smoothing alone: 1.07 s (target: ours with deviation <= 1.5 x)"
    );
    let ((imin, imed), n) = time(repeats.min(3), || Ok(tree.count_self_intersections()))?;
    println!(
        "  self-intersections (smoothed surface, given the tree): min {imin:.3} s  median {imed:.3} s  ({n} pairs; target <= 0.5 s; the unsmoothed surface is not searched: it cannot intersect itself)"
    );
    let ((tmin, tmed), thick) = time(repeats.min(3), || {
        Ok(crate::mesh::thickness::vertex_thickness_with(
            &tree,
            &smoothed.vertices,
            &smoothed.triangles,
            crate::mesh::pipeline::THICKNESS_CAP_MM,
        ))
    })?;
    let thin =
        crate::mesh::thickness::thin_regions(&smoothed.vertices, &smoothed.triangles, &thick, 0.3);
    println!(
        "  wall thickness (inward rays, given the tree): min {tmin:.3} s  median {tmed:.3} s  ({} regions thinner than 0.3 mm; target <= 0.3 s)",
        thin.len()
    );
    drop(tree);
    let ((kmin, kmed), mt) = time(repeats.min(3), || {
        Ok(crate::mesh::mask_thickness::measure(
            &mask,
            &v.geometry,
            1.5,
        ))
    })?;
    println!(
        "  wall thickness on the mask (distance transform, limit 1.5 mm): min {kmin:.3} s  median {kmed:.3} s  ({} thin regions)",
        mt.thin_region_count
    );
    let dir = std::env::temp_dir().join(format!("hounsfield-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::Failed(e.to_string()))?;
    let stl = dir.join("bench.stl");
    let ((wmin, wmed), _) = time(repeats, || {
        crate::export::stl::write_binary(&stl, &m.vertices, &m.triangles, "bench")
            .map_err(|e| Error::Failed(e.to_string()))
    })?;
    println!(
        "  binary STL write ({} bytes, atomic, fsync): min {wmin:.3} s  median {wmed:.3} s",
        84 + 50 * m.triangles.len()
    );
    println!("    peer: vtkSTLWriter binary 0.46 s (numpy-stl 0.51 s, trimesh 0.51 s)");
    let tmf = dir.join("bench.3mf");
    let ((xmin, xmed), _) = time(repeats.min(3), || {
        let o = [crate::export::threemf::Object {
            name: "bone",
            vertices: &m.vertices,
            triangles: &m.triangles,
        }];
        crate::export::threemf::write(&tmf, &o, &[("Title", "bench")])
            .map_err(|e| Error::Failed(e.to_string()))
    })?;
    println!("  3MF write: min {xmin:.3} s  median {xmed:.3} s  (target <= 0.25 s)");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// min and median of timings, seconds.
fn stat(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (
        s.first().copied().unwrap_or(0.0),
        s.get(s.len() / 2).copied().unwrap_or(0.0),
    )
}

/// Times `f` `repeats` times; returns (min, median) seconds and the last result.
/// Threshold + keep-largest + extraction on the GPU beside the CPU, on the same mask;
/// fails unless every result is the CPU's.
fn gpu_stages(
    a: &dyn crate::compute::Accelerator,
    hu: &ndarray::Array3<i16>,
    mask: &crate::segment::mask::Mask,
    mesh: &crate::mesh::Mesh,
    geometry: &crate::volume::VolumeGeometry,
    repeats: usize,
) -> Result<(), Error> {
    use crate::mesh::extract;
    use crate::segment::components::{self, Connectivity};
    let conn = Connectivity::TwentySix;
    println!("  GPU: {}", a.describe());
    let ((tmin, tmed), t) = time(repeats, || {
        a.threshold(hu, 226, 3071).map_err(Error::Failed)
    })?;
    let ((ctmin, ctmed), cpu_t) = time(repeats, || {
        Ok(crate::segment::ops::threshold::threshold_mask(
            hu, 226, 3071,
        ))
    })?;
    let ((kmin, kmed), k) = time(repeats, || a.keep_largest(&t, conn).map_err(Error::Failed))?;
    let ((ckmin, ckmed), _) = time(repeats, || {
        let c = components::label(&cpu_t, conn, false);
        let big = c.largest();
        Ok(c.mask_of(|id| Some(id) == big))
    })?;
    let ((smin, smed), topo) = time(repeats, || a.surface_topology(mask).map_err(Error::Failed))?;
    let ((cmin, cmed), _) = time(repeats, || Ok(extract::topology(mask)))?;
    let same_mesh =
        extract::finish(mask, geometry, &extract::Midpoint, topo).map_err(Error::Failed)? == *mesh;
    println!(
        "  threshold: GPU min {tmin:.3} s median {tmed:.3} s | CPU min {ctmin:.3} s median {ctmed:.3} s | identical {}",
        t == cpu_t
    );
    println!(
        "  keep largest (26): GPU min {kmin:.3} s median {kmed:.3} s | CPU min {ckmin:.3} s median {ckmed:.3} s | identical {}",
        k.mask == *mask
    );
    println!(
        "  surface topology: GPU min {smin:.3} s median {smed:.3} s | CPU min {cmin:.3} s median {cmed:.3} s | mesh identical {same_mesh}"
    );
    println!(
        "  threshold + keep largest + topology: GPU {:.3} s | CPU {:.3} s (medians; GPU times include upload and readback)",
        tmed + kmed + smed,
        ctmed + ckmed + cmed
    );
    if t != cpu_t || k.mask != *mask || !same_mesh {
        return Err(Error::Failed(
            "the GPU's result differs from the CPU's; this is a bug: please report it".into(),
        ));
    }
    Ok(())
}

fn preview(
    path: &std::path::Path,
    series: Option<&str>,
    req: crate::mesh::preview::PreviewRequest,
    repeats: usize,
    compute: &crate::compute::Compute,
) -> Result<(), Error> {
    use crate::mesh::preview;
    let v = std::sync::Arc::new(input::open_volume(path, series)?.volume);
    let dragging = preview::step_for(v.dims(), preview::DRAG_VOXELS);
    println!(
        "bench preview: {} {}..{} HU{}; {:?}; on {}; threads {}",
        path.display(),
        req.lo,
        req.hi,
        if req.largest_only {
            " largest component"
        } else {
            ""
        },
        v.dims(),
        compute.record().line(),
        rayon::current_num_threads()
    );
    let never = std::sync::atomic::AtomicBool::new(false);
    for step in 1..=dragging.max(2) {
        let r = preview::PreviewRequest { step, ..req };
        // As the window does: the lattice kept on the device once, then every range on it.
        let t0 = Instant::now();
        let kept = compute.keep(preview::lattice(&v, step));
        let keep_s = t0.elapsed().as_secs_f64();
        let ((min, med), p) = time(repeats, || {
            preview::surface_kept(&kept, r, compute, &never).map_err(Error::Failed)
        })?;
        let role = if step == 1 {
            "at rest"
        } else if step == dragging {
            "while dragging"
        } else {
            ""
        };
        println!(
            "  step {step} {role:>14}: {:?} lattice, {} triangles: min {min:.3} s  median {med:.3} s  ({:.1} updates/s; target >= 20 on a GPU)",
            p.grid,
            p.mesh.triangles.len(),
            1.0 / med.max(1e-9)
        );
        println!(
            "    lattice ready in {keep_s:.3} s, once per drag ({})",
            if kept.on_device() {
                "thinned and uploaded"
            } else {
                "thinned; the CPU reads it in place"
            }
        );
        if compute.accelerator().is_some() {
            let cpu = preview::surface(
                &v.hu,
                &v.geometry,
                r,
                &crate::compute::Compute::cpu(),
                &never,
            )
            .map_err(Error::Failed)?;
            if cpu.mesh != p.mesh {
                return Err(Error::Failed(
                    "the GPU's preview differs from the CPU's; this is a bug: please report it"
                        .into(),
                ));
            }
            println!("    identical to the CPU's surface ({})", p.compute.line());
        }
    }
    println!(
        "  peers: 3D Slicer's Threshold effect and InVesalius rebuild the 3D surface only after each change (\"Show 3D\" / Apply); none previews it live"
    );
    Ok(())
}

fn time<T>(
    repeats: usize,
    mut f: impl FnMut() -> Result<T, Error>,
) -> Result<((f64, f64), T), Error> {
    let mut ts = Vec::new();
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        last = Some(f()?);
        ts.push(t0.elapsed().as_secs_f64());
    }
    let v = last.ok_or_else(|| Error::Failed("no run".into()))?;
    Ok((stat(&ts), v))
}

fn segment(path: &std::path::Path, series: Option<&str>, repeats: usize) -> Result<(), Error> {
    use crate::segment::{Operation, Session};
    let opened = input::open_volume(path, series)?;
    let volume = opened.volume;
    let dims = volume.dims();
    let op = |j: &str| -> Result<Operation, Error> {
        serde_json::from_str(j).map_err(|e| Error::Failed(format!("bench recipe: {e}")))
    };
    let apply = |s: &mut Session, o: Operation| -> Result<u64, Error> {
        s.apply(o).map_err(|e| Error::Failed(e.to_string()))?;
        Ok(s.segmentation()
            .labels()
            .last()
            .map_or(0, |l| l.mask.count()))
    };
    let t0 = Instant::now();
    let vhash = crate::segment::mask::hex(&crate::segment::log::volume_hash(&volume));
    let hash_s = t0.elapsed().as_secs_f64();
    let new = || Session::with_volume_hash(volume.clone(), vhash.clone(), "bench", None, "bench");
    println!(
        "bench segment: {} ({} x {} x {}), threads {}",
        path.display(),
        dims[2],
        dims[1],
        dims[0],
        rayon::current_num_threads()
    );
    println!("  volume hash for the log (once per loaded series): {hash_s:.3} s");
    let ((tmin, tmed), n) = time(repeats, || {
        let mut s = new();
        apply(&mut s, op(r#"{"op": "threshold", "lo": 226, "hi": 3071}"#)?)?;
        apply(&mut s, op(r#"{"op": "keep_largest", "connectivity": 26}"#)?)
    })?;
    println!(
        "  threshold 226..3071 + keep_largest 26, logged and hashed: min {tmin:.3} s  median {tmed:.3} s  ({n} voxels)"
    );
    println!(
        "    peers: numpy threshold 0.035 s + cc3d.connected_components(connectivity=26) + bincount 0.43 s;"
    );
    println!(
        "           SimpleITK BinaryThreshold 0.10 s + ConnectedComponent(fullyConnected) + RelabelComponent 0.54 s"
    );
    let seed = [dims[0] * 66 / 140, dims[1] * 268 / 512, dims[2] * 398 / 512];
    let ((gmin, gmed), n) = time(repeats, || {
        let mut s = new();
        let j = format!(
            r#"{{"op": "connected_threshold", "seeds": [{{"voxel": {seed:?}}}], "lo": 226, "hi": 3071}}"#
        );
        apply(&mut s, op(&j)?)
    })?;
    println!(
        "  connected_threshold from {seed:?}, 226..3071, 26-connected: min {gmin:.3} s  median {gmed:.3} s  ({n} voxels)"
    );
    println!(
        "    peer: SimpleITK ConnectedThreshold(seedList=[(398, 268, 66)], lower=226, upper=3071), fully connected: 0.66 s"
    );
    let threshold_then = |what: &str| -> Result<u64, Error> {
        let mut t = new();
        apply(&mut t, op(r#"{"op": "threshold", "lo": 226, "hi": 3071}"#)?)?;
        apply(&mut t, op(what)?)
    };
    let ((fmin, fmed), _) = time(repeats, || threshold_then(r#"{"op": "fill_holes"}"#))?;
    println!("  threshold + fill_holes (3D): min {fmin:.3} s  median {fmed:.3} s");
    println!(
        "    peers (fill only): SimpleITK BinaryFillhole 0.78 s, scipy.ndimage.binary_fill_holes 2.29 s"
    );
    let ((cmin, cmed), _) = time(repeats.min(3), || {
        threshold_then(r#"{"op": "close", "radius_mm": 1.0}"#)
    })?;
    println!(
        "  threshold + close, ball of radius 1 mm (exact, anisotropic voxels): min {cmin:.3} s  median {cmed:.3} s"
    );
    println!(
        "    peers (ball of radius 2 voxels in index space, another shape): scipy binary_closing 2.05 s, SimpleITK 6.36 s"
    );
    let mut s = new();
    apply(&mut s, op(r#"{"op": "threshold", "lo": 226, "hi": 3071}"#)?)?;
    let g = volume.geometry;
    let c = g
        .position(crate::geom::VoxelCoord {
            slice: dims[0] as f64 / 2.0,
            row: dims[1] as f64 / 2.0,
            col: dims[2] as f64 / 2.0,
        })
        .0;
    let mut ts = Vec::new();
    for n in 0..200 {
        let a = n as f64 * 0.37;
        let (x, y) = (c.x + 50.0 * a.cos(), c.y + 50.0 * a.sin());
        let j = format!(
            r#"{{"op": "brush", "centres_mm": [[{x}, {y}, {z}], [{x2}, {y2}, {z}]], "radius_mm": 2.5, "mode": "paint", "shape": "disc", "plane": "axial"}}"#,
            z = c.z,
            x2 = x + 2.0,
            y2 = y + 1.0,
        );
        let o = op(&j)?;
        let t0 = Instant::now();
        s.apply(o).map_err(|e| Error::Failed(e.to_string()))?;
        ts.push(t0.elapsed().as_secs_f64());
    }
    let (bmin, bmed) = stat(&ts);
    let mut sorted = ts.clone();
    sorted.sort_by(f64::total_cmp);
    let p95 = sorted.get(sorted.len() * 95 / 100).copied().unwrap_or(0.0);
    println!(
        "  brush stroke (5 mm disc, 2 centres) applied + logged + undo delta + hashes: min {:.2} ms  median {:.2} ms  p95 {:.2} ms (200 strokes; target < 5 ms)",
        bmin * 1e3,
        bmed * 1e3,
        p95 * 1e3
    );
    println!(
        "  undo memory after threshold + 200 strokes: {:.2} MiB; one mask {:.2} MiB",
        s.undo_bytes() as f64 / 1048576.0,
        s.segmentation()
            .labels()
            .first()
            .map_or(0, |l| l.mask.size_bytes()) as f64
            / 1048576.0
    );
    println!(
        "  peers' script: ../shared/bench/peers/peers.py (stages b_threshold, c_lcc, d_region_grow, e_morph)"
    );
    Ok(())
}

fn import(path: &std::path::Path, series: Option<&str>, repeats: usize) -> Result<(), Error> {
    if repeats == 0 {
        return Err(Error::BadInput("--repeats must be at least 1".into()));
    }
    let opts = ImportOptions::default();
    let rss_before = peak_rss_kib();
    let mut scan_s = Vec::new();
    let mut load_s = Vec::new();
    let mut total_s = Vec::new();
    let mut size = 0usize;
    let mut dims = [0usize; 3];
    for _ in 0..repeats {
        let t0 = Instant::now();
        let report = input::scan(path, &opts)?;
        let s = input::select(&report, series)?;
        let t1 = Instant::now();
        let v = input::load(s, &LoadOptions::default())?;
        let t2 = Instant::now();
        size = v.volume.size_bytes();
        dims = v.volume.dims();
        scan_s.push((t1 - t0).as_secs_f64());
        load_s.push((t2 - t1).as_secs_f64());
        total_s.push((t2 - t0).as_secs_f64());
    }
    let (smin, smed) = stat(&scan_s);
    let (lmin, lmed) = stat(&load_s);
    let (tmin, tmed) = stat(&total_s);
    let peak = peak_rss_kib();
    println!("bench import: {}", path.display());
    println!(
        "  volume {} x {} x {} = {:.1} MiB of i16; threads {}",
        dims[2],
        dims[1],
        dims[0],
        size as f64 / 1048576.0,
        rayon::current_num_threads()
    );
    println!("  scan (headers, grouping)   min {smin:.3} s  median {smed:.3} s");
    println!("  decode + HU volume         min {lmin:.3} s  median {lmed:.3} s");
    println!("  total                      min {tmin:.3} s  median {tmed:.3} s  ({repeats} runs)");
    if let (Some(b), Some(p)) = (rss_before, peak) {
        println!(
            "  peak RSS {:.1} MiB (process), {:.1} MiB before the first run; peak / volume = {:.2}",
            p as f64 / 1024.0,
            b as f64 / 1024.0,
            (p as f64 * 1024.0) / size.max(1) as f64
        );
    }
    println!("  peers (same folder, same machine):");
    println!("    dcm2niix -z n -o /tmp/out {}", path.display());
    println!("    SimpleITK: ImageSeriesReader(GetGDCMSeriesFileNames(dir)).Execute()");
    println!("    see ../shared/bench/peers/peers.py (stage a_load)");
    Ok(())
}

/// Peak resident set size of this process, KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}
