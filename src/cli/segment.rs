//! `hounsfield segment` (apply a recipe, write the mask and the log) and
//! `hounsfield replay` (recompute a log and check every hash).

use super::{input, write_json};
use crate::error::Error;
use crate::io::nifti::{self, VoxelData};
use crate::segment::log::{OperationLog, replay};
use crate::segment::presets::Presets;
use crate::segment::{Operation, Session};
use std::path::PathBuf;
use std::sync::Arc;

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
}

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The operation log.
    pub log: PathBuf,
    /// The DICOM folder or NIfTI volume it was recorded on.
    pub input: PathBuf,
    /// The DICOM series, when the folder holds several.
    #[arg(long)]
    pub series: Option<String>,
}

/// Parses a recipe; errors name the step and the field.
pub fn parse_recipe(text: &str) -> Result<Vec<Operation>, Error> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::BadInput(format!("the recipe is not valid JSON: {e}")))?;
    let items = v
        .as_array()
        .ok_or_else(|| Error::BadInput("the recipe must be a JSON array of operations".into()))?;
    if items.is_empty() {
        return Err(Error::BadInput("the recipe has no operations".into()));
    }
    items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let name = item.get("op").and_then(|o| o.as_str()).unwrap_or("?");
            if item.get("op").is_none() {
                return Err(Error::BadInput(format!(
                    "recipe step {}: missing field `op` (one of: {})",
                    n + 1,
                    Operation::NAMES.join(", ")
                )));
            }
            serde_json::from_value::<Operation>(item.clone()).map_err(|e| {
                let known = Operation::NAMES.contains(&name);
                Error::BadInput(if known {
                    format!("recipe step {} ({name}): {e}", n + 1)
                } else {
                    format!(
                        "recipe step {}: unknown op `{name}`; the operations are: {}",
                        n + 1,
                        Operation::NAMES.join(", ")
                    )
                })
            })
        })
        .collect()
}

/// Runs `segment`.
pub fn run_segment(a: &SegmentArgs) -> Result<(), Error> {
    if !super::is_nifti(&a.out) {
        return Err(Error::BadInput(format!(
            "--out {} must end in .nii or .nii.gz",
            a.out.display()
        )));
    }
    super::check_out_dir(&a.out)?;
    let text = std::fs::read_to_string(&a.recipe)
        .map_err(|e| Error::BadInput(format!("cannot read recipe {}: {e}", a.recipe.display())))?;
    let ops = parse_recipe(&text)?;
    let presets = match &a.presets {
        Some(p) => Presets::load(p).map_err(Error::BadInput)?,
        None => Presets::built_in(),
    };
    let opened = input::open_volume(&a.input, a.series.as_deref())?;
    let operator = a
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let mut session = Session::new(
        Arc::new(opened.volume),
        &opened.description,
        opened.series_uid,
        &operator,
    );
    session.presets = presets;
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
    let dims = seg.dims();
    let data: Vec<u8> = if a.all_labels {
        seg.label_map()
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
        let m = &label.mask;
        let [n, r, c] = dims;
        let mut out = vec![0u8; n * r * c];
        for k in 0..n {
            for j in 0..r {
                for (s, e) in m.row_runs(k, j) {
                    out[(k * r + j) * c + s..(k * r + j) * c + e].fill(1);
                }
            }
        }
        out
    };
    nifti::write(
        &a.out,
        dims,
        &seg.geometry,
        VoxelData::U8(&data),
        "Hounsfield mask",
    )?;
    let log = session.log();
    if let Some(p) = &a.log {
        write_json(p, log)?;
    }
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

/// Runs `replay`.
pub fn run_replay(a: &ReplayArgs) -> Result<(), Error> {
    let text = std::fs::read_to_string(&a.log)
        .map_err(|e| Error::BadInput(format!("cannot read {}: {e}", a.log.display())))?;
    let log: OperationLog = serde_json::from_str(&text).map_err(|e| {
        Error::BadInput(format!("{} is not an operation log: {e}", a.log.display()))
    })?;
    if log.format != crate::segment::log::FORMAT {
        return Err(Error::BadInput(format!(
            "{} is not a Hounsfield operation log",
            a.log.display()
        )));
    }
    let opened = input::open_volume(&a.input, a.series.as_deref())?;
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
