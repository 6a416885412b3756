//! Recipes: the whole pipeline as one JSON document — source, purpose, operator,
//! acknowledged findings, segmentation operations, reconstruction parameters and exports
//! — run headless in one process into a new case (`hounsfield run`). Every field is
//! checked before any work starts; an unknown key or a bad value is refused naming it.
//!
//! ```json
//! {
//!   "source": {"path": "../sample-s2030", "series": "203"},
//!   "purpose": {"category": "education", "text": "skull of the head phantom"},
//!   "operator": "A. Engineer",
//!   "acknowledge": ["old-acquisition"],
//!   "label": "bone",
//!   "segmentation": [{"op": "threshold", "lo": 226, "hi": 3071},
//!                    {"op": "keep_largest", "connectivity": 26}],
//!   "reconstruction": {"smooth": "sinc:20:0.1"},
//!   "exports": [{"file": "bone.stl"}, {"file": "bone.3mf"}, {"file": "bone-mask.nii.gz"}]
//! }
//! ```

use super::event::{ExportFormat, ExportSpec, VolumeContent};
use super::record::{LoadSettings, Purpose};
use super::{Case, CaseError, NewCase, exports, source};
use crate::mesh::params::MeshParams;
use crate::mesh::pipeline::ReconstructOptions;
use crate::segment::Operation;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Name a recipe may give in `"recipe"`.
pub const FORMAT: &str = "hounsfield-recipe";

/// The source block.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// DICOM folder, file or DICOMDIR, or a NIfTI volume; relative to the recipe's folder.
    pub path: PathBuf,
    /// Series selector (Series Number, id or UID) when the folder holds several.
    #[serde(default)]
    pub series: Option<String>,
    /// Resample irregular stacks (default true).
    #[serde(default = "yes")]
    pub resample: bool,
    /// Slice distance for resampling, mm.
    #[serde(default)]
    pub slice_distance_mm: Option<f64>,
}

fn yes() -> bool {
    true
}

/// One export as written in a recipe.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportItem {
    /// File name in the case's `exports/` folder; its extension gives the format.
    pub file: String,
    /// The format, when the extension does not say enough (`stl-ascii`).
    #[serde(default)]
    pub format: Option<ExportFormat>,
    /// Labels (default: the reconstructed labels for surfaces, the recipe's label for
    /// volumes).
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// For volumes: `mask` (default), `label-map` or `masked-hu`.
    #[serde(default)]
    pub content: Option<VolumeContent>,
}

/// A recipe, parsed but not yet checked against a source.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// Where the source is.
    pub source: SourceSpec,
    /// Why the model is made.
    pub purpose: Purpose,
    /// Who runs it (default: `$USER`).
    pub operator: Option<String>,
    /// A pseudonym instead of the derived one.
    pub pseudonym: Option<String>,
    /// Keep the patient block in `case.json` (default true; never in exports or reports).
    pub keep_patient_data: bool,
    /// Finding codes the operator acknowledges.
    pub acknowledge: Vec<String>,
    /// Why modelling may go ahead despite them.
    pub acknowledge_note: Option<String>,
    /// The label operations write when they name none.
    pub label: String,
    /// A DICOM SEG whose segments become labels before the operations run.
    pub from_seg: Option<FromSeg>,
    /// The operations.
    pub segmentation: Vec<Operation>,
    /// Labels to reconstruct.
    pub reconstruct_labels: Vec<String>,
    /// Reconstruction parameters (checked).
    pub reconstruction: Option<ReconstructOptions>,
    /// Refuse to export a surface that is not closed and manifold (default), or not.
    pub allow_open: bool,
    /// Refuse to export a surface that faces inwards or intersects itself (default), or not.
    pub allow_defects: bool,
    /// The exports, resolved.
    pub exports: Vec<ExportSpec>,
    /// A phantom validation of this pipeline to attach (`validation.json` or its case),
    /// relative to the recipe's folder.
    pub validation: Option<PathBuf>,
}

/// The recipe's `from_seg`: start the case from a DICOM Segmentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FromSeg {
    /// The SEG file, relative to the recipe's folder.
    pub file: PathBuf,
    /// Segment Numbers to import (default: all).
    #[serde(default)]
    pub segments: Vec<u16>,
    /// The label name for a single segment (default: its Segment Label).
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    recipe: Option<String>,
    #[serde(default)]
    version: Option<u32>,
    source: SourceSpec,
    purpose: Purpose,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    pseudonym: Option<String>,
    #[serde(default = "yes")]
    keep_patient_data: bool,
    #[serde(default)]
    acknowledge: Vec<String>,
    #[serde(default)]
    acknowledge_note: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    from_seg: Option<FromSeg>,
    #[serde(default)]
    segmentation: serde_json::Value,
    #[serde(default)]
    reconstruction: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    exports: Vec<ExportItem>,
    #[serde(default)]
    validation: Option<PathBuf>,
}

fn bad(m: impl Into<String>) -> CaseError {
    CaseError::Input(m.into())
}

/// Parses a recipe. Errors name the field (`source.series`, `segmentation step 2 (…)`,
/// `exports[1].file`, …).
pub fn parse(text: &str) -> Result<Recipe, CaseError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let raw: Raw = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            bad(format!("recipe: {inner}"))
        } else {
            bad(format!("recipe field `{path}`: {inner}"))
        }
    })?;
    if let Some(r) = &raw.recipe
        && r != FORMAT
    {
        return Err(bad(format!(
            "recipe field `recipe`: `{r}` is not `{FORMAT}`"
        )));
    }
    if let Some(v) = raw.version
        && v != 1
    {
        return Err(bad(format!(
            "recipe field `version`: version {v} is not known to this Hounsfield (1)"
        )));
    }
    raw.purpose
        .check()
        .map_err(|m| bad(format!("recipe field `purpose.text`: {m}")))?;
    if let Some(dz) = raw.source.slice_distance_mm {
        crate::dicom::LoadOptions::check_slice_distance(dz)
            .map_err(|e| bad(format!("recipe field `source.slice_distance_mm`: {e}")))?;
    }
    for c in &raw.acknowledge {
        if crate::feasibility::FindingCode::parse(c).is_none() {
            return Err(bad(format!(
                "recipe field `acknowledge`: `{c}` is not a finding code; the codes are: {}",
                crate::feasibility::FindingCode::ALL
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let label = raw
        .label
        .clone()
        .unwrap_or_else(|| crate::segment::op::DEFAULT_LABEL.to_string());
    if label.trim().is_empty() {
        return Err(bad("recipe field `label`: the label name is empty"));
    }
    // A case that starts from a SEG may have no operation of its own.
    let segmentation = match (&raw.from_seg, &raw.segmentation) {
        (Some(_), serde_json::Value::Null) => Vec::new(),
        (Some(_), serde_json::Value::Array(a)) if a.is_empty() => Vec::new(),
        (None, serde_json::Value::Null) => {
            return Err(bad(
                "recipe: give `segmentation` (the operations) or `from_seg`",
            ));
        }
        (_, v) => Operation::parse_list(v, "segmentation step")
            .map_err(|m| bad(format!("recipe: {m}")))?,
    };
    let mut reconstruct_labels = vec![label.clone()];
    let mut allow_open = false;
    let mut allow_defects = false;
    let reconstruction = match raw.reconstruction {
        None => None,
        Some(mut map) => {
            if let Some(l) = map.remove("labels") {
                reconstruct_labels = serde_json::from_value::<Vec<String>>(l)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        bad("recipe field `reconstruction.labels`: give a non-empty list of label names")
                    })?;
            }
            for (key, flag) in [
                ("allow_open", &mut allow_open),
                ("allow_defects", &mut allow_defects),
            ] {
                if let Some(a) = map.remove(key) {
                    *flag = a.as_bool().ok_or_else(|| {
                        bad(format!(
                            "recipe field `reconstruction.{key}`: true or false"
                        ))
                    })?;
                }
            }
            let params: MeshParams =
                serde_path_to_error::deserialize(serde_json::Value::Object(map)).map_err(|e| {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    bad(format!(
                        "recipe field `reconstruction{}`: {inner}",
                        if path == "." {
                            String::new()
                        } else {
                            format!(".{path}")
                        }
                    ))
                })?;
            Some(params.options().map_err(|e| {
                bad(format!(
                    "recipe field `reconstruction.{}`: {}",
                    e.field, e.message
                ))
            })?)
        }
    };
    let mut specs = Vec::new();
    for (i, x) in raw.exports.iter().enumerate() {
        let field = |f: &str| format!("recipe field `exports[{i}].{f}`");
        let format = match x.format {
            Some(f) => f,
            None => ExportFormat::from_file_name(&x.file).ok_or_else(|| {
                bad(format!(
                    "{}: `{}` has no known extension (.stl, .3mf, .obj, .nii, .nii.gz, .nrrd, .json)",
                    field("file"),
                    x.file
                ))
            })?,
        };
        let labels = x.labels.clone().unwrap_or_else(|| {
            if format.is_surface() {
                reconstruct_labels.clone()
            } else if x.content == Some(VolumeContent::LabelMap) {
                Vec::new()
            } else {
                vec![label.clone()]
            }
        });
        if format.is_surface() {
            for l in &labels {
                if !reconstruct_labels.contains(l) {
                    return Err(bad(format!(
                        "{}: `{l}` is not among the reconstructed labels ({})",
                        field("labels"),
                        reconstruct_labels.join(", ")
                    )));
                }
            }
        }
        let spec = ExportSpec {
            file: x.file.clone(),
            format,
            labels,
            content: x.content,
            allow_open: allow_open && format.is_surface(),
            allow_defects: allow_defects && format.is_surface(),
        };
        if x.content != Some(VolumeContent::LabelMap) || !spec.labels.is_empty() {
            exports::check_spec(&spec).map_err(|m| bad(format!("{}: {m}", field("file"))))?;
        }
        if specs.iter().any(|s: &ExportSpec| s.file == spec.file) {
            return Err(bad(format!(
                "{}: `{}` is exported twice",
                field("file"),
                spec.file
            )));
        }
        specs.push(spec);
    }
    let needs_surface = specs.iter().any(|s| s.format.is_surface());
    let reconstruction = match (reconstruction, needs_surface) {
        (None, true) => Some(
            MeshParams::default()
                .options()
                .map_err(|e| bad(e.to_string()))?,
        ),
        (r, _) => r,
    };
    Ok(Recipe {
        source: raw.source,
        purpose: raw.purpose,
        operator: raw.operator,
        pseudonym: raw.pseudonym,
        keep_patient_data: raw.keep_patient_data,
        acknowledge: raw.acknowledge,
        acknowledge_note: raw.acknowledge_note,
        label,
        segmentation,
        reconstruct_labels,
        reconstruction,
        allow_open,
        allow_defects,
        exports: specs,
        validation: raw.validation,
        from_seg: raw.from_seg,
    })
}

/// What a run reports as it goes.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A stage started.
    Stage(String),
    /// A segmentation step was applied and saved.
    Applied {
        /// Step number, from 1.
        step: usize,
        /// Operation name.
        op: &'static str,
        /// Its notes.
        notes: Vec<String>,
        /// Milliseconds.
        ms: f64,
    },
    /// A file was written.
    Wrote(PathBuf, String),
}

/// The operator's name: the recipe's, else `$USER`, else "unknown".
pub fn operator_of(recipe: &Recipe) -> String {
    recipe
        .operator
        .clone()
        .filter(|o| !o.trim().is_empty())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Runs a recipe into a new case at `dir`: import, feasibility, acknowledgement,
/// segmentation, reconstruction, exports. `recipe_dir` resolves a relative source path;
/// `source_override` replaces it. The report is the caller's (it needs the renderer).
pub fn run(
    recipe: &Recipe,
    recipe_dir: &Path,
    source_override: Option<&Path>,
    dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Case, CaseError> {
    run_on(
        recipe,
        recipe_dir,
        source_override,
        dir,
        progress,
        &crate::compute::Compute::cpu(),
    )
}

/// As [`run`], with threshold, keep-largest and the surface topology where `compute`
/// says (the case and its files are the same; the log's notes and the reconstruction
/// record say which ran).
pub fn run_on(
    recipe: &Recipe,
    recipe_dir: &Path,
    source_override: Option<&Path>,
    dir: &Path,
    progress: &mut dyn FnMut(Progress),
    compute: &crate::compute::Compute,
) -> Result<Case, CaseError> {
    if dir.exists() {
        return Err(bad(format!(
            "{} already exists; choose another name or remove it (a case is never overwritten)",
            dir.display()
        )));
    }
    let src = match source_override {
        Some(p) => p.to_path_buf(),
        None if recipe.source.path.is_absolute() => recipe.source.path.clone(),
        None => recipe_dir.join(&recipe.source.path),
    };
    if !src.exists() {
        return Err(bad(format!(
            "recipe field `source.path`: {} does not exist",
            src.display()
        )));
    }
    if let Ok(root) = source::root_of(&src)
        && let Some(parent) = dir.parent().and_then(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".").canonicalize().ok()
            } else {
                p.canonicalize().ok()
            }
        })
        && parent.starts_with(&root)
        && !crate::io::nifti::is_nifti_path(&src)
    {
        return Err(bad(format!(
            "{} lies inside the source folder {}: the source is never written to; put the case elsewhere",
            dir.display(),
            root.display()
        )));
    }
    progress(Progress::Stage(format!("importing {}", src.display())));
    let opened = source::open(
        &src,
        recipe.source.series.as_deref(),
        LoadSettings {
            resample: recipe.source.resample,
            slice_distance_mm: recipe.source.slice_distance_mm,
        },
        &crate::dicom::ImportOptions::default(),
    )?;
    let required = opened.feasibility.codes_to_acknowledge();
    let missing: Vec<String> = required
        .iter()
        .filter(|c| !recipe.acknowledge.contains(c))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let messages: Vec<String> = opened
            .feasibility
            .findings
            .iter()
            .filter(|f| missing.contains(&f.code.as_str().to_string()))
            .map(|f| format!("  {}: {}", f.code.as_str(), f.message))
            .collect();
        return Err(bad(format!(
            "recipe field `acknowledge`: the findings {} are not acknowledged; read them and add their codes to \"acknowledge\":\n{}",
            missing.join(", "),
            messages.join("\n")
        )));
    }
    let present: Vec<&str> = opened
        .feasibility
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect();
    if let Some(c) = recipe
        .acknowledge
        .iter()
        .find(|c| !present.contains(&c.as_str()))
    {
        return Err(bad(format!(
            "recipe field `acknowledge`: `{c}` is not a finding of this series (its findings: {})",
            if present.is_empty() {
                "none".to_string()
            } else {
                present.join(", ")
            }
        )));
    }
    let operator = operator_of(recipe);
    let mut case = Case::create(
        dir,
        opened,
        NewCase {
            purpose: recipe.purpose.clone(),
            operator: operator.clone(),
            pseudonym: recipe.pseudonym.clone(),
            keep_patient: recipe.keep_patient_data,
        },
    )?;
    case.set_compute(compute.clone());
    progress(Progress::Wrote(
        dir.join(super::RECORD_FILE),
        "case record".into(),
    ));
    case.set_default_label(&recipe.label);
    case.acknowledge(&recipe.acknowledge, recipe.acknowledge_note.clone())?;
    if let Some(f) = &recipe.from_seg {
        let path = if f.file.is_absolute() {
            f.file.clone()
        } else {
            recipe_dir.join(&f.file)
        };
        let (labels, warning) = case
            .import_seg(&path, &f.segments, f.label.as_deref())
            .map_err(|e| prefix(e, "recipe field `from_seg`"))?;
        if let Some(w) = warning {
            progress(Progress::Stage(format!("warning: {w}")));
        }
        progress(Progress::Stage(format!(
            "imported {} from {}",
            labels.join(", "),
            path.display()
        )));
    }
    for (n, op) in recipe.segmentation.iter().enumerate() {
        let name = op.name();
        let t0 = std::time::Instant::now();
        let entry = case
            .apply(op.clone())
            .map_err(|e| prefix(e, &format!("segmentation step {} ({name})", n + 1)))?;
        progress(Progress::Applied {
            step: n + 1,
            op: name,
            notes: entry.notes.clone(),
            ms: t0.elapsed().as_secs_f64() * 1000.0,
        });
    }
    let mut reconstruction = None;
    if let Some(opts) = &recipe.reconstruction {
        progress(Progress::Stage(format!(
            "reconstructing {}",
            recipe.reconstruct_labels.join(", ")
        )));
        let seq = case.reconstruct(&recipe.reconstruct_labels, opts)?;
        reconstruction = Some(seq);
        // Checked before any export, so a refused surface leaves no partial set of files.
        let surface_labels: Vec<String> = recipe
            .exports
            .iter()
            .filter(|s| s.format.is_surface())
            .flat_map(|s| s.labels.iter().cloned())
            .collect();
        if let Some(super::event::Event::Reconstructed(r)) = case.files().events.get(seq)
            && let Some(why) = r
                .record
                .only(&surface_labels)
                .refusal(recipe.allow_open, recipe.allow_defects)
        {
            return Err(CaseError::Failed(format!(
                "{why}: no surface was exported (the reconstruction is recorded in the case); set \"allow_open\" or \"allow_defects\": true to export anyway"
            )));
        }
    }
    if let Some(v) = &recipe.validation {
        let path = if v.is_absolute() {
            v.clone()
        } else {
            recipe_dir.join(v)
        };
        let seq = case
            .attach_validation(&path, &recipe.segmentation, recipe.reconstruction.as_ref())
            .map_err(|e| prefix(e, "recipe field `validation`"))?;
        if let Some(super::event::Event::Validated(x)) = case.files().events.get(seq) {
            progress(Progress::Stage(format!(
                "validation {} attached ({})",
                x.path.display(),
                if x.same_segmentation && x.same_reconstruction {
                    "these parameters"
                } else {
                    "validated with other parameters"
                }
            )));
        }
    }
    for spec in &recipe.exports {
        let mut spec = spec.clone();
        if spec.content == Some(VolumeContent::LabelMap) && spec.labels.is_empty() {
            spec.labels = case.session().segmentation().names();
        }
        let rec = case.export(&spec, reconstruction)?;
        progress(Progress::Wrote(
            case.dir().join(&rec.path),
            format!("blake3 {}", rec.blake3),
        ));
    }
    let log = case.write_log()?;
    progress(Progress::Wrote(log, "operation log".into()));
    Ok(case)
}

fn prefix(e: CaseError, what: &str) -> CaseError {
    match e {
        CaseError::Input(m) => CaseError::Input(format!("{what}: {m}")),
        CaseError::Failed(m) => CaseError::Failed(format!("{what}: {m}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{
        "source": {"path": "x"},
        "purpose": {"category": "education", "text": "skull"},
        "label": "bone",
        "segmentation": [{"op": "threshold", "lo": 226, "hi": 3071}],
        "exports": [{"file": "bone.stl"}, {"file": "bone.nii.gz"}, {"file": "all.nii.gz", "content": "label-map"}]
    }"#;

    fn err(text: &str) -> String {
        parse(text).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn a_recipe_resolves_labels_formats_and_defaults() {
        let r = parse(OK).expect("parses");
        assert_eq!(r.exports[0].format, ExportFormat::Stl);
        assert_eq!(r.exports[0].labels, vec!["bone".to_string()]);
        assert_eq!(r.exports[1].format, ExportFormat::Nifti);
        assert!(
            r.reconstruction.is_some(),
            "a surface export implies a reconstruction"
        );
        assert_eq!(r.reconstruct_labels, vec!["bone".to_string()]);
    }

    #[test]
    fn errors_name_the_field() {
        let e = err(&OK.replace(
            "\"label\": \"bone\",",
            "\"label\": \"bone\", \"colour\": 1,",
        ));
        assert!(e.contains("colour"), "{e}");
        let e = err(&OK.replace("{\"path\": \"x\"}", "{\"path\": \"x\", \"seriess\": \"2\"}"));
        assert!(e.contains("source") && e.contains("seriess"), "{e}");
        let e = err(&OK.replace("\"hi\": 3071", "\"hi\": 3071, \"hii\": 2"));
        assert!(
            e.contains("segmentation step 1") && e.contains("hii"),
            "{e}"
        );
        let e = err(&OK.replace("\"education\"", "\"fun\""));
        assert!(e.contains("purpose.category"), "{e}");
        let e = err(&OK.replace("{\"file\": \"bone.stl\"}", "{\"file\": \"bone.stp\"}"));
        assert!(e.contains("exports[0].file"), "{e}");
        let e = err(&OK.replace(
            "\"exports\"",
            "\"reconstruction\": {\"smooth\": \"sinc:0:1\"}, \"exports\"",
        ));
        assert!(e.contains("reconstruction.smooth"), "{e}");
        let e = err(&OK.replace(
            "\"exports\"",
            "\"reconstruction\": {\"smoth\": \"sinc:20:0.1\"}, \"exports\"",
        ));
        assert!(e.contains("reconstruction") && e.contains("smoth"), "{e}");
        let e = err(&OK.replace("\"label\": \"bone\",", "\"acknowledge\": [\"nope\"],"));
        assert!(e.contains("acknowledge") && e.contains("nope"), "{e}");
        let e = err(&OK.replace("\"skull\"", "\"\""));
        assert!(e.contains("purpose.text"), "{e}");
    }
}
