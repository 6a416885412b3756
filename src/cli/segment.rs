//! `hounsfield segment` (apply a recipe, write the mask and the log) and
//! `hounsfield replay` (recompute a log and check every hash).

use super::{input, write_json};
use crate::error::Error;
use crate::export::volume::{
    self as volume_model, MaskProvenance, PROVENANCE_FORMAT, VolumeFile, Voxels,
};
use crate::segment::log::{OperationLog, replay};
use crate::segment::presets::Presets;
use crate::segment::{Operation, Session};
use std::path::PathBuf;

/// Arguments of `segment`.
#[derive(Debug, clap::Args)]
pub struct SegmentArgs {
    /// A DICOM folder or a NIfTI volume.
    pub input: PathBuf,
    /// The DICOM series (Series Number, id or UID), when the folder holds several.
    #[arg(long)]
    pub series: Option<String>,
    /// A JSON array of operations, e.g. `[{"op": "threshold", "lo": 226, "hi": 3071}]`.
    #[arg(long)]
    pub recipe: PathBuf,
    /// Output mask, `.nii` or `.nii.gz` (uint8, the input's grid and affine).
    #[arg(long)]
    pub out: PathBuf,
    /// Write the operation log (with every step's hash and `final_hash`) here.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// The label operations write when they name none, and the label written to `--out`.
    #[arg(long)]
    pub label: Option<String>,
    /// Write every label as its number (1, 2, ... in label order) instead of one label 0/1.
    #[arg(long)]
    pub all_labels: bool,
    /// Operator name recorded in the log (default: $USER).
    #[arg(long)]
    pub operator: Option<String>,
    /// Threshold preset table (default: the built-in assets/presets/thresholds.json).
    #[arg(long)]
    pub presets: Option<PathBuf>,
    /// Where threshold and keep-largest run: `cpu` (the reference), `gpu`, or `auto` (a
    /// GPU that is not a software rasteriser, else the CPU). The mask is the same either
    /// way; each step's note in the log says which ran.
    #[arg(long, value_enum, default_value_t = crate::compute::ComputeChoice::Cpu)]
    pub compute: crate::compute::ComputeChoice,
}

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A case folder (NAME.hfcase), or an operation log (LOG.json) followed by its input.
    pub target: PathBuf,
    /// For an operation log: the DICOM folder or NIfTI volume it was recorded on.
    pub input: Option<PathBuf>,
    /// For an operation log: the DICOM series, when the folder holds several.
    #[arg(long)]
    pub series: Option<String>,
    /// For a case: the source folder's new place, when it moved (the move is recorded).
    #[arg(long)]
    pub source: Option<PathBuf>,
}

/// Parses a recipe; errors name the step and the field.
pub fn parse_recipe(text: &str) -> Result<Vec<Operation>, Error> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::BadInput(format!("the recipe is not valid JSON: {e}")))?;
    Operation::parse_list(&v, "recipe step").map_err(Error::BadInput)
}

/// Runs `segment`.
pub fn run_segment(a: &SegmentArgs) -> Result<(), Error> {
    if !super::is_nifti(&a.out) {
        return Err(Error::BadInput(format!(
            "--out {} must end in .nii or .nii.gz",
            a.out.display()
        )));
    }
    let mut outputs = vec![a.out.as_path()];
    if let Some(l) = &a.log {
        outputs.push(l.as_path());
    }
    let mut inputs = vec![a.input.as_path(), a.recipe.as_path()];
    if let Some(p) = &a.presets {
        inputs.push(p.as_path());
    }
    super::check_outputs(&inputs, &outputs)?;
    let text = std::fs::read_to_string(&a.recipe)
        .map_err(|e| Error::BadInput(format!("cannot read recipe {}: {e}", a.recipe.display())))?;
    let ops = parse_recipe(&text)?;
    let presets = match &a.presets {
        Some(p) => Presets::load(p).map_err(Error::BadInput)?,
        None => Presets::built_in(),
    };
    let opened = input::open_volume(&a.input, a.series.as_deref())?;
    input::print_findings(&opened);
    let operator = a
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let mut session = Session::with_volume_hash(
        opened.volume.clone(),
        opened.record.volume_hash.clone(),
        &opened.description,
        opened.record.series_uid.clone(),
        &operator,
    );
    session.record_source(
        opened.feasibility.findings.clone(),
        opened.feasibility.interpolated_slices.clone(),
    );
    session.presets = presets;
    session.compute = super::open_compute(a.compute).map_err(Error::Failed)?;
    if let Some(l) = &a.label {
        session.default_label = l.clone();
    }
    for (n, op) in ops.into_iter().enumerate() {
        let name = op.name();
        let t0 = std::time::Instant::now();
        let entry = session
            .apply(op)
            .map_err(|e| Error::BadInput(format!("recipe step {} ({name}): {e}", n + 1)))?;
        eprintln!(
            "step {} {name}: {} ({:.0} ms)",
            n + 1,
            if entry.notes.is_empty() {
                "done".to_string()
            } else {
                entry.notes.join("; ")
            },
            t0.elapsed().as_secs_f64() * 1000.0
        );
    }
    let seg = session.segmentation();
    let hashes = crate::case::replay::mask_hashes(seg);
    let (data, label): (Vec<u8>, Option<String>) = if a.all_labels {
        (
            seg.label_map()
                .map_err(|e| Error::BadInput(format!("--all-labels: {e}")))?,
            None,
        )
    } else {
        let name = match &a.label {
            Some(l) => l.clone(),
            None if seg.labels().len() == 1 => seg.labels()[0].meta.name.clone(),
            None => session.default_label.clone(),
        };
        let label = seg.get(&name).ok_or_else(|| {
            Error::BadInput(format!(
                "no label `{name}` to write; the labels are: {}; choose one with --label or write all with --all-labels",
                seg.labels().iter().map(|l| l.meta.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?;
        (label.mask.to_u8(1), Some(name))
    };
    let log = session.log();
    let provenance = MaskProvenance {
        format: PROVENANCE_FORMAT.into(),
        software: crate::export::surface::software(),
        mask_hash: label.as_ref().and_then(|l| hashes.get(l).cloned()),
        label,
        segmentation_hash: log.final_hash.clone(),
        log_entries: log.entries.len(),
        volume_hash: log.source.volume_hash.clone(),
        series_uid: log.source.series_uid.clone(),
        pseudonym: None,
    };
    // The log first: a mask on disk always has its log beside it when one was asked for.
    if let Some(p) = &a.log {
        write_json(p, log)?;
    }
    volume_model::write(
        &a.out,
        VolumeFile::Nifti,
        seg.dims(),
        &seg.geometry,
        Voxels::Labels(&data),
        Some(&provenance),
    )
    .map_err(|e| {
        // No half result: a log without its mask would look final.
        if let Some(p) = &a.log {
            let _ = std::fs::remove_file(p);
        }
        Error::Failed(format!("cannot write {}: {e}", a.out.display()))
    })?;
    for l in seg.labels() {
        let s = seg.geometry.spacing;
        let n = l.mask.count();
        eprintln!(
            "label {}: {n} voxels, {:.1} mm3",
            l.meta.name,
            n as f64 * s.col * s.row * s.slice
        );
    }
    println!("final_hash {}", log.final_hash);
    Ok(())
}

/// Runs `replay`: a case folder, or an operation log with its input.
pub fn run_replay(a: &ReplayArgs) -> Result<(), Error> {
    let is_case = a.target.is_dir() && a.target.join(crate::case::RECORD_FILE).is_file();
    match (&a.input, is_case) {
        (None, true) => return super::case::replay(&a.target, a.source.as_deref()),
        (None, false) => {
            return Err(Error::BadInput(format!(
                "{} is not a case folder; to replay an operation log give its input too: hounsfield replay LOG.json INPUT",
                a.target.display()
            )));
        }
        (Some(_), true) => {
            return Err(Error::BadInput(format!(
                "{} is a case: it names its own source (use --source NEW if the source moved)",
                a.target.display()
            )));
        }
        (Some(_), false) => {}
    }
    let input_path = a.input.as_deref().unwrap_or(a.target.as_path());
    let text = std::fs::read_to_string(&a.target)
        .map_err(|e| Error::BadInput(format!("cannot read {}: {e}", a.target.display())))?;
    let log: OperationLog = serde_json::from_str(&text).map_err(|e| {
        Error::BadInput(format!(
            "{} is not an operation log: {e}",
            a.target.display()
        ))
    })?;
    if log.format != crate::segment::log::FORMAT {
        return Err(Error::BadInput(format!(
            "{} is not a Hounsfield operation log",
            a.target.display()
        )));
    }
    let opened = input::open_volume(input_path, a.series.as_deref())?;
    let r = replay(&opened.volume, &log);
    if !r.volume_matches {
        println!("volume: MISMATCH (the input is not the volume the log was recorded on)");
    } else {
        println!("volume: ok");
    }
    for s in &r.steps {
        match &s.mismatch {
            None => println!("step {} {}: ok", s.index, s.op),
            Some(m) => println!("step {} {}: MISMATCH {m}", s.index, s.op),
        }
    }
    println!(
        "final_hash: {}",
        if r.final_matches { "ok" } else { "MISMATCH" }
    );
    if r.ok() {
        Ok(())
    } else {
        Err(Error::Failed("replay did not reproduce the log".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_errors_name_step_and_field() {
        let e = parse_recipe(r#"[{"op": "threshold", "lo": 1}]"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("step 1") && e.contains("`hi`"), "{e}");
        let e = parse_recipe(r#"[{"op": "threshold", "lo": 1, "hi": 2}, {"op": "frobnicate"}]"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("step 2") && e.contains("unknown op `frobnicate`"),
            "{e}"
        );
        let e = parse_recipe(r#"[{"op": "keep_largest", "connectivity": 7}]"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("6, 18 or 26"), "{e}");
        let e = parse_recipe(r#"[{"op": "threshold", "lo": 1, "hi": 2, "hii": 3}]"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hii"), "unknown fields are refused: {e}");
        let ok = parse_recipe(
            r#"[{"op": "threshold", "lo": 226, "hi": 3071}, {"op": "keep_largest", "connectivity": 26}]"#,
        );
        assert_eq!(ok.map(|v| v.len()).ok(), Some(2));
    }
}
