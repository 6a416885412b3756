//! `hounsfield mesh`: a mask (or an iso-surface within it) to a certified surface model in
//! STL, 3MF or OBJ, with a JSON sidecar holding the certificate, the parameters, the
//! deviation figures and the hash of the written file.

use super::write_json;
use crate::error::Error;
use crate::export::surface::{self, SurfaceFormat, SurfaceMeta};
use crate::export::volume::{self as volume_model, MaskProvenance};
use crate::io::nifti;
use crate::mesh::params::MeshParams;
use crate::mesh::pipeline::{self, Reconstruction};
use crate::mesh::record::{FRAME, ReconstructionRecord};
use crate::segment::mask::{Mask, hex};
use serde::Serialize;
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
    /// Write even a model that faces inwards or intersects itself (the sidecar says so).
    #[arg(long)]
    pub allow_defects: bool,
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
    /// Where the surface's topology is computed: `cpu` (the reference), `gpu`, or `auto`
    /// (a GPU that is not a software rasteriser, else the CPU). The model is the same
    /// file either way; the sidecar records which ran.
    #[arg(long, value_enum, default_value_t = crate::compute::ComputeChoice::Cpu)]
    pub compute: crate::compute::ComputeChoice,
}

/// The sidecar path: `model.stl` → `model.stl.json` (so an STL and a 3MF of the same
/// name keep separate reports).
pub fn sidecar_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_os_string();
    s.push(".json");
    PathBuf::from(s)
}

/// Smoothing per label: one object for one label, a list for several (the sidecar's
/// documented shape).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// The file a sidecar describes.
#[derive(Debug, Serialize)]
struct FileRef<'a> {
    path: &'a Path,
    blake3: &'a str,
}

/// The mask the model was made from.
#[derive(Debug, Serialize)]
struct SourceMask<'a> {
    path: &'a Path,
    /// What the mask says of itself (written by `segment` or a case).
    provenance: Option<&'a MaskProvenance>,
}

/// `MODEL.EXT.json`: the reconstruction record with the file it describes. The top-level
/// figures (`triangles` … `thin_regions`) are a public contract.
#[derive(Debug, Serialize)]
struct MeshSidecar<'a> {
    format: &'static str,
    version: u32,
    software: String,
    frame: &'static str,
    file: FileRef<'a>,
    source_mask: SourceMask<'a>,
    #[serde(flatten)]
    totals: &'a crate::mesh::record::Totals,
    smoothing: OneOrMany<Option<&'a crate::mesh::pipeline::DeviationSummary>>,
    thin_regions: Vec<ThinRow<'a>>,
    allow_open: bool,
    written_open: bool,
    allow_defects: bool,
    /// Labels written although they face inwards or intersect themselves.
    written_with_defects: Vec<&'a str>,
    reconstruction: &'a ReconstructionRecord,
}

#[derive(Debug, Serialize)]
struct ThinRow<'a> {
    label: &'a str,
    #[serde(flatten)]
    region: &'a crate::mesh::thickness::ThinRegion,
}

/// Runs `mesh`.
pub fn run(a: &MeshArgs) -> Result<(), Error> {
    let format = SurfaceFormat::of(&a.out).ok_or_else(|| {
        Error::BadInput(format!("--out {}: use .stl, .3mf or .obj", a.out.display()))
    })?;
    if a.ascii && format != SurfaceFormat::Stl {
        return Err(Error::BadInput("--ascii applies to .stl only".into()));
    }
    let format = if a.ascii {
        SurfaceFormat::StlAscii
    } else {
        format
    };
    let side = sidecar_path(&a.out);
    let mut outputs = vec![a.out.as_path(), side.as_path()];
    if let Some(r) = &a.report {
        outputs.push(r.as_path());
    }
    let mut inputs = vec![a.mask.as_path()];
    if let Some(v) = &a.volume {
        inputs.push(v.as_path());
    }
    super::check_outputs(&inputs, &outputs)?;
    let params = MeshParams {
        smooth: a.smooth.clone(),
        max_move_mm: a.max_move,
        decimate: a.decimate,
        max_error_mm: a.max_error,
        iso_hu: a.iso,
        thin_mm: a.thin,
        tolerance_mm: a.tolerance,
        keep_largest_shell: a.keep_largest_shell,
        self_intersections: !a.no_self_intersections,
    };
    let opts = params.options().map_err(|e| {
        Error::BadInput(format!(
            "--{} {}",
            e.field.replace('_', "-").trim_end_matches("-mm"),
            e.message
        ))
    })?;
    let labels_vol = nifti::read_volume(&a.mask)?;
    let provenance = volume_model::read_provenance(&a.mask);
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
    let single = values.len() == 1;
    let compute = super::open_compute(a.compute).map_err(Error::Failed)?;
    let mut results: Vec<(String, Option<String>, Reconstruction)> = Vec::new();
    for v in &values {
        let dims = labels_vol.dims();
        let mut mask = Mask::from_fn(dims, |k, j, i| labels_vol.hu[[k, j, i]] == *v);
        let mask_hash = hex(&mask.hash());
        let t0 = std::time::Instant::now();
        let r = pipeline::reconstruct_with(
            &mask,
            &labels_vol.geometry,
            hu.as_ref().map(|h| &h.hu),
            &opts,
            &crate::dicom::Progress::default(),
            0,
            &compute,
        )
        .map_err(Error::Failed)?;
        eprintln!(
            "label {v}: {} triangles, closed {}, manifold {}, volume {:.1} mm3 ({:.2} s; \
             surface on {})",
            r.certificate.triangles,
            r.certificate.closed,
            r.certificate.manifold,
            r.certificate.volume_mm3,
            t0.elapsed().as_secs_f64(),
            r.compute.line()
        );
        let name = match (&provenance, single) {
            (Some(MaskProvenance { label: Some(l), .. }), true) => l.clone(),
            _ => format!("label_{v}"),
        };
        results.push((name, Some(mask_hash), r));
    }
    let models: Vec<(String, Option<String>, &Reconstruction)> = results
        .iter()
        .map(|(n, h, r)| (n.clone(), h.clone(), r))
        .collect();
    let record = ReconstructionRecord::of(&models, &opts);
    if let Some(why) = record.refusal(a.allow_open, a.allow_defects) {
        return Err(Error::Failed(format!(
            "refusing to write {}: {why} (--allow-open, --allow-defects)",
            a.out.display()
        )));
    }
    for l in &record.labels {
        if let Some(m) = &l.mask_thickness {
            eprintln!("wall thickness {}", m.summary(&l.name));
        }
    }
    for w in record.thin_check_warnings() {
        eprintln!("warning: {w}");
    }
    let open = record.open_labels();
    let defective: Vec<&str> = record.defective_labels().iter().map(|(n, _)| *n).collect();
    let meta = SurfaceMeta {
        software: surface::software(),
        pseudonym: provenance.as_ref().and_then(|p| p.pseudonym.clone()),
        series_uid: a
            .series_uid
            .clone()
            .or_else(|| provenance.as_ref().and_then(|p| p.series_uid.clone())),
        segmentation_hash: provenance.as_ref().map(|p| p.segmentation_hash.clone()),
        log_position: provenance.as_ref().map(|p| p.log_entries),
    };
    let objects: Vec<(&str, &crate::mesh::Mesh)> = results
        .iter()
        .map(|(n, _, r)| (n.as_str(), &r.mesh))
        .collect();
    surface::write(&a.out, format, &objects, &meta)
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", a.out.display())))?;
    let (_, file_hash) = crate::case::source::hash_file(&a.out)
        .map_err(|e| Error::Failed(format!("cannot read back {}: {e}", a.out.display())))?;
    let smoothing = if single {
        OneOrMany::One(record.labels[0].smoothing.as_ref())
    } else {
        OneOrMany::Many(record.labels.iter().map(|l| l.smoothing.as_ref()).collect())
    };
    let sidecar = MeshSidecar {
        format: "hounsfield-mesh-report",
        version: 2,
        software: format!("hounsfield {}", env!("CARGO_PKG_VERSION")),
        frame: FRAME,
        file: FileRef {
            path: &a.out,
            blake3: &file_hash,
        },
        source_mask: SourceMask {
            path: &a.mask,
            provenance: provenance.as_ref(),
        },
        totals: &record.totals,
        smoothing,
        thin_regions: record
            .labels
            .iter()
            .flat_map(|l| {
                l.thin_regions.iter().map(|t| ThinRow {
                    label: &l.name,
                    region: t,
                })
            })
            .collect(),
        allow_open: a.allow_open,
        written_open: !open.is_empty(),
        allow_defects: a.allow_defects,
        written_with_defects: defective,
        reconstruction: &record,
    };
    let write_all = || -> Result<(), Error> {
        write_json(&side, &sidecar)?;
        if let Some(p) = &a.report {
            write_json(p, &sidecar)?;
        }
        Ok(())
    };
    if let Err(e) = write_all() {
        // No model without its record.
        let _ = std::fs::remove_file(&a.out);
        return Err(e);
    }
    match &provenance {
        Some(p) => eprintln!(
            "made from a mask with segmentation hash {} ({} log entries)",
            p.segmentation_hash, p.log_entries
        ),
        None => eprintln!(
            "the mask carries no Hounsfield provenance: the model is not tied to an operation log"
        ),
    }
    eprintln!(
        "wrote {} (blake3 {file_hash}) and {}",
        a.out.display(),
        side.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_sits_beside_the_model_with_its_extension() {
        assert_eq!(
            sidecar_path(Path::new("/x/bone.stl")),
            PathBuf::from("/x/bone.stl.json")
        );
    }
}
