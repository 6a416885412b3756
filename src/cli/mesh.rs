//! `hounsfield mesh`: a mask (or an iso-surface within it) to a certified surface model in
//! STL, 3MF or OBJ, with a JSON sidecar holding the certificate, the parameters, the
//! deviation figures and the hash of the written file.

use super::write_json;
use crate::error::Error;
use crate::export::{obj, stl, threemf};
use crate::io::nifti;
use crate::mesh::check::Certificate;
use crate::mesh::decimate::Decimation;
use crate::mesh::pipeline::{self, ReconstructOptions, Reconstruction};
use crate::mesh::smooth::Smoothing;
use crate::segment::mask::Mask;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Arguments of `mesh`.
#[derive(Debug, clap::Args)]
pub struct MeshArgs {
    /// The mask: a NIfTI label map (0 = background), e.g. from `hounsfield segment`.
    pub mask: PathBuf,
    /// Output model: `.stl` (binary; `--ascii` for text), `.3mf` or `.obj`.
    #[arg(long)]
    pub out: PathBuf,
    /// Only this label value (default: every non-zero value, one object each).
    #[arg(long)]
    pub label: Option<u8>,
    /// Smoothing: `taubin:ITER`, `taubin:ITER:LAMBDA:MU` or `sinc:ITER:PASSBAND`.
    #[arg(long)]
    pub smooth: Option<String>,
    /// While smoothing, move no vertex farther than this, mm.
    #[arg(long)]
    pub max_move: Option<f64>,
    /// Decimate to this fraction of the triangles (0..1).
    #[arg(long, conflicts_with = "max_error")]
    pub decimate: Option<f64>,
    /// Decimate as far as possible within this error, mm.
    #[arg(long)]
    pub max_error: Option<f64>,
    /// Iso-surface of the HU volume at this value, within the mask (needs `--volume`).
    #[arg(long, requires = "volume")]
    pub iso: Option<f64>,
    /// The HU volume (NIfTI) for `--iso`, on the mask's grid.
    #[arg(long)]
    pub volume: Option<PathBuf>,
    /// Report regions thinner than this, mm.
    #[arg(long, default_value_t = pipeline::DEFAULT_THIN_MM)]
    pub thin: f64,
    /// Deviation tolerance for the area-beyond-tolerance figure, mm.
    #[arg(long, default_value_t = pipeline::DEFAULT_TOLERANCE_MM)]
    pub tolerance: f64,
    /// Also write the sidecar here (it is always written beside the model as MODEL.json).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write even a model that is not closed and manifold (the sidecar says so).
    #[arg(long)]
    pub allow_open: bool,
    /// ASCII STL instead of binary.
    #[arg(long)]
    pub ascii: bool,
    /// Keep only the largest shell of each label.
    #[arg(long)]
    pub keep_largest_shell: bool,
    /// Skip the self-intersection count (saves about a second per million triangles).
    #[arg(long)]
    pub no_self_intersections: bool,
    /// Source series UID for the model's metadata.
    #[arg(long)]
    pub series_uid: Option<String>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Stl,
    ThreeMf,
    Obj,
}

fn format_of(p: &Path) -> Result<Format, Error> {
    match p
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .as_deref()
    {
        Some("stl") => Ok(Format::Stl),
        Some("3mf") => Ok(Format::ThreeMf),
        Some("obj") => Ok(Format::Obj),
        _ => Err(Error::BadInput(format!(
            "--out {}: use .stl, .3mf or .obj",
            p.display()
        ))),
    }
}

/// The sidecar path: `model.stl` → `model.stl.json` (so an STL and a 3MF of the same
/// name keep separate reports).
pub fn sidecar_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_os_string();
    s.push(".json");
    PathBuf::from(s)
}

/// The labels whose surface is not closed and manifold; an error (exit 1) when there are
/// any and `allow_open` is not set.
fn open_labels<'a>(
    certs: &[(&'a str, &Certificate)],
    allow_open: bool,
    out: &Path,
) -> Result<Vec<&'a str>, Error> {
    let open: Vec<&str> = certs
        .iter()
        .filter(|(_, c)| !(c.closed && c.manifold))
        .map(|(n, _)| *n)
        .collect();
    if !open.is_empty() && !allow_open {
        return Err(Error::Failed(format!(
            "refusing to write {}: the surface of {} is not closed and manifold; fix the mask or pass --allow-open",
            out.display(),
            open.join(", ")
        )));
    }
    Ok(open)
}

/// Runs `mesh`.
pub fn run(a: &MeshArgs) -> Result<(), Error> {
    super::check_out_dir(&a.out)?;
    let format = format_of(&a.out)?;
    if a.ascii && format != Format::Stl {
        return Err(Error::BadInput("--ascii applies to .stl only".into()));
    }
    let smoothing = a
        .smooth
        .as_deref()
        .map(Smoothing::parse)
        .transpose()
        .map_err(|e| Error::BadInput(format!("--smooth {e}")))?;
    let decimation = match (a.decimate, a.max_error) {
        (Some(f), _) if !(f > 0.0 && f < 1.0) => {
            return Err(Error::BadInput(format!("--decimate {f} must be in (0, 1)")));
        }
        (Some(f), _) => Some(Decimation::TargetFraction { fraction: f }),
        (None, Some(e)) if !(e > 0.0 && e.is_finite()) => {
            return Err(Error::BadInput(format!(
                "--max-error {e} must be a positive number of mm"
            )));
        }
        (None, Some(e)) => Some(Decimation::MaxError { max_error_mm: e }),
        _ => None,
    };
    for (v, name) in [
        (Some(a.thin), "--thin"),
        (Some(a.tolerance), "--tolerance"),
        (a.max_move, "--max-move"),
    ] {
        if let Some(v) = v
            && !(v > 0.0 && v.is_finite())
        {
            return Err(Error::BadInput(format!(
                "{name} {v} must be a positive number of mm"
            )));
        }
    }
    let labels_vol = nifti::read_volume(&a.mask)?;
    let hu = match &a.volume {
        Some(p) => {
            let v = nifti::read_volume(p)?;
            if v.dims() != labels_vol.dims() {
                return Err(Error::BadInput(format!(
                    "--volume {} is {:?} voxels but the mask is {:?}",
                    p.display(),
                    v.dims(),
                    labels_vol.dims()
                )));
            }
            Some(v)
        }
        None => None,
    };
    let mut values: Vec<i16> = labels_vol
        .hu
        .iter()
        .copied()
        .filter(|v| *v > 0)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if let Some(l) = a.label {
        if !values.contains(&i16::from(l)) {
            return Err(Error::BadInput(format!(
                "label {l} does not occur in {}; labels present: {values:?}",
                a.mask.display()
            )));
        }
        values = vec![i16::from(l)];
    }
    if values.is_empty() {
        return Err(Error::BadInput(format!(
            "{} has no non-zero voxels: nothing to reconstruct",
            a.mask.display()
        )));
    }
    let opts = ReconstructOptions {
        iso_hu: a.iso,
        smoothing,
        max_move_mm: a.max_move,
        decimation,
        repair: crate::mesh::repair::RepairOptions {
            keep_largest_shell: a.keep_largest_shell,
            ..Default::default()
        },
        thin_mm: a.thin,
        tolerance_mm: a.tolerance,
        self_intersections: !a.no_self_intersections,
    };
    let mut results: Vec<(String, Reconstruction)> = Vec::new();
    for v in &values {
        let dims = labels_vol.dims();
        let mask = Mask::from_fn(dims, |k, j, i| labels_vol.hu[[k, j, i]] == *v);
        let t0 = std::time::Instant::now();
        let r = pipeline::reconstruct(
            &mask,
            &labels_vol.geometry,
            hu.as_ref().map(|h| &h.hu),
            &opts,
        )
        .map_err(Error::Failed)?;
        eprintln!(
            "label {v}: {} triangles, closed {}, manifold {}, volume {:.1} mm3 ({:.2} s)",
            r.certificate.triangles,
            r.certificate.closed,
            r.certificate.manifold,
            r.certificate.volume_mm3,
            t0.elapsed().as_secs_f64()
        );
        results.push((format!("label_{v}"), r));
    }
    let certs: Vec<(&str, &Certificate)> = results
        .iter()
        .map(|(n, r)| (n.as_str(), &r.certificate))
        .collect();
    let open = open_labels(&certs, a.allow_open, &a.out)?;
    let frame = "DICOM LPS (patient space), millimetres";
    let io = |e: std::io::Error| Error::Failed(format!("cannot write {}: {e}", a.out.display()));
    match format {
        Format::Stl => {
            let mut all = crate::mesh::Mesh::default();
            for (_, r) in &results {
                let off = all.vertices.len() as u32;
                all.vertices.extend_from_slice(&r.mesh.vertices);
                all.triangles
                    .extend(r.mesh.triangles.iter().map(|t| t.map(|i| i + off)));
            }
            if a.ascii {
                stl::write_ascii(&a.out, &all.vertices, &all.triangles, "hounsfield")
                    .map_err(io)?;
            } else {
                stl::write_binary(
                    &a.out,
                    &all.vertices,
                    &all.triangles,
                    &format!("Hounsfield {} {frame}", env!("CARGO_PKG_VERSION")),
                )
                .map_err(io)?;
            }
        }
        Format::ThreeMf => {
            let objects: Vec<threemf::Object> = results
                .iter()
                .map(|(n, r)| threemf::Object {
                    name: n,
                    vertices: &r.mesh.vertices,
                    triangles: &r.mesh.triangles,
                })
                .collect();
            let date = crate::segment::log::now_utc();
            let uid = a.series_uid.clone().unwrap_or_default();
            let app = format!("Hounsfield {}", env!("CARGO_PKG_VERSION"));
            let meta = [
                ("Application", app.as_str()),
                ("Title", "Hounsfield surface model"),
                ("CreationDate", date.as_str()),
                ("hf:SourceSeriesUID", uid.as_str()),
                ("hf:CoordinateFrame", frame),
            ];
            threemf::write(&a.out, &objects, &meta).map_err(io)?;
        }
        Format::Obj => {
            let objects: Vec<obj::Object> = results
                .iter()
                .map(|(n, r)| {
                    (
                        n.as_str(),
                        r.mesh.vertices.as_slice(),
                        r.mesh.triangles.as_slice(),
                    )
                })
                .collect();
            obj::write(&a.out, &objects).map_err(io)?;
        }
    }
    let bytes = std::fs::read(&a.out)
        .map_err(|e| Error::Failed(format!("cannot read back {}: {e}", a.out.display())))?;
    let file_hash = blake3::hash(&bytes).to_hex().to_string();
    let sidecar = sidecar(a, &results, &opts, &file_hash, frame, !open.is_empty());
    write_json(&sidecar_path(&a.out), &sidecar)?;
    if let Some(p) = &a.report {
        write_json(p, &sidecar)?;
    }
    eprintln!(
        "wrote {} (blake3 {file_hash}) and {}",
        a.out.display(),
        sidecar_path(&a.out).display()
    );
    Ok(())
}

fn sidecar(
    a: &MeshArgs,
    results: &[(String, Reconstruction)],
    opts: &ReconstructOptions,
    file_hash: &str,
    frame: &str,
    open: bool,
) -> serde_json::Value {
    let per_label: Vec<serde_json::Value> = results
        .iter()
        .map(|(n, r)| {
            json!({
                "name": n,
                "certificate": r.certificate,
                "extracted_triangles": r.extracted_triangles,
                "repair": r.repair,
                "smoothing": r.smoothing,
                "decimation": r.decimation.as_ref().map(|(d, est)| json!({"deviation": d, "simplifier_error_estimate_mm": est})),
                "thin_regions": r.thin_regions,
            })
        })
        .collect();
    let sum = |f: &dyn Fn(&Reconstruction) -> f64| results.iter().map(|(_, r)| f(r)).sum::<f64>();
    let all = |f: &dyn Fn(&Reconstruction) -> bool| results.iter().all(|(_, r)| f(r));
    let first = &results[0].1;
    let si: Option<usize> = results
        .iter()
        .map(|(_, r)| r.certificate.self_intersections)
        .sum();
    let smoothing = if results.len() == 1 {
        json!(first.smoothing)
    } else {
        json!(
            results
                .iter()
                .map(|(_, r)| &r.smoothing)
                .collect::<Vec<_>>()
        )
    };
    let thin: Vec<serde_json::Value> = results
        .iter()
        .flat_map(|(n, r)| r.thin_regions.iter().map(move |t| json!({"label": n, "centroid_mm": t.centroid_mm, "area_mm2": t.area_mm2, "min_thickness_mm": t.min_thickness_mm, "vertices": t.vertices})))
        .collect();
    json!({
        "format": "hounsfield-mesh-report",
        "version": 1,
        "software": format!("hounsfield {}", env!("CARGO_PKG_VERSION")),
        "frame": frame,
        "file": {"path": a.out, "blake3": file_hash},
        "source_mask": a.mask,
        "triangles": results.iter().map(|(_, r)| r.certificate.triangles).sum::<usize>(),
        "vertices": results.iter().map(|(_, r)| r.certificate.vertices).sum::<usize>(),
        "closed": all(&|r| r.certificate.closed),
        "manifold": all(&|r| r.certificate.manifold),
        "outward": all(&|r| r.certificate.outward),
        "consistently_oriented": all(&|r| r.certificate.consistently_oriented),
        "self_intersections": si,
        "volume_mm3": sum(&|r| r.certificate.volume_mm3),
        "area_mm2": sum(&|r| r.certificate.area_mm2),
        "smoothing": smoothing,
        "thin_regions": thin,
        "allow_open": a.allow_open,
        "written_open": open,
        "reconstruction": {
            "extraction": if opts.iso_hu.is_some() { "iso-surface of HU within the mask, marching cubes with a face-separating case table, padded by one voxel" } else { "discrete marching cubes on the mask, face-separating case table, padded by one voxel" },
            "iso_hu": opts.iso_hu,
            "smoothing": opts.smoothing,
            "max_move_mm": opts.max_move_mm,
            "decimation": opts.decimation,
            "repair": opts.repair,
            "thin_threshold_mm": opts.thin_mm,
            "tolerance_mm": opts.tolerance_mm,
        },
        "labels": per_label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::Mesh;

    #[test]
    fn open_surfaces_are_refused_unless_allowed() {
        let closed = crate::mesh::check::certify(&Mesh {
            vertices: vec![
                [0.0, 0.0, 0.0],
                [1.0, 0.0, 0.0],
                [0.0, 1.0, 0.0],
                [0.0, 0.0, 1.0],
            ],
            triangles: vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
        });
        let mut open = closed.clone();
        open.closed = false;
        open.boundary_edges = 3;
        let out = Path::new("model.stl");
        assert_eq!(
            open_labels(&[("a", &closed)], false, out).ok(),
            Some(vec![])
        );
        let e = open_labels(&[("a", &closed), ("b", &open)], false, out);
        assert!(
            matches!(&e, Err(Error::Failed(m)) if m.contains("label") || m.contains("b")),
            "{e:?}"
        );
        assert_eq!(e.err().map(|x| x.exit_code()), Some(1));
        assert_eq!(
            open_labels(&[("b", &open)], true, out).ok(),
            Some(vec!["b"])
        );
    }

    #[test]
    fn sidecar_sits_beside_the_model_with_its_extension() {
        assert_eq!(
            sidecar_path(Path::new("/x/bone.stl")),
            PathBuf::from("/x/bone.stl.json")
        );
    }
}
