//! `phantom` (make a calibration phantom) and `validate` (take one through a recipe and
//! measure the result against its truth). The work is [`crate::phantom`]'s.

use crate::case::recipe::{self, Progress};
use crate::error::Error;
use crate::io::atomic::write_atomic;
use crate::phantom::validate::{self, Validation};
use crate::phantom::{self, PhantomSpec};
use std::path::{Path, PathBuf};

/// Arguments of `phantom`.
#[derive(Debug, clap::Args)]
pub struct PhantomArgs {
    /// The new folder for the DICOM series, truth.json and reference.stl.
    #[arg(long)]
    pub out: PathBuf,
    /// A whole spec as JSON (the `spec` block of a truth.json); the options below then
    /// override its fields.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Only these standard objects (comma-separated: sphere-20, sphere-10, sphere-5,
    /// cylinder-x, plate-2, plate-1, plate-0.5, steps, dome).
    #[arg(long, value_delimiter = ',')]
    pub objects: Option<Vec<String>>,
    /// Pixel spacing, mm.
    #[arg(long)]
    pub pixel_spacing: Option<f64>,
    /// Table movement between slices, mm.
    #[arg(long)]
    pub slice_increment: Option<f64>,
    /// Slice thickness, mm (default: the increment).
    #[arg(long)]
    pub slice_thickness: Option<f64>,
    /// Gantry tilt, degrees.
    #[arg(long, allow_hyphen_values = true)]
    pub tilt: Option<f64>,
    /// Field of view, mm.
    #[arg(long, conflicts_with = "matrix")]
    pub fov: Option<f64>,
    /// Rows and columns (the field of view is this × the pixel spacing).
    #[arg(long)]
    pub matrix: Option<u32>,
    /// PSF full width at half maximum, mm.
    #[arg(long)]
    pub blur: Option<f64>,
    /// Noise standard deviation, HU.
    #[arg(long)]
    pub noise: Option<f64>,
    /// Noise seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Supersampling per voxel edge.
    #[arg(long)]
    pub supersampling: Option<u32>,
    /// Study Date (YYYYMMDD; default: today).
    #[arg(long)]
    pub study_date: Option<String>,
    /// A larger table step after slice K (from 1) by MM: variable slice distance, or a
    /// missing slice (repeatable).
    #[arg(long, value_name = "K:MM")]
    pub gap: Vec<String>,
}

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// A phantom folder made by `hounsfield phantom`.
    pub phantom: PathBuf,
    /// The new case the recipe runs into (`.hfcase` is added when missing);
    /// validation.json is written into it.
    #[arg(long)]
    pub out: PathBuf,
    /// The recipe to validate (its source is replaced by the phantom; default: a
    /// threshold half-way between tissue and the objects, no smoothing).
    #[arg(long)]
    pub recipe: Option<PathBuf>,
    /// Operator name.
    #[arg(long)]
    pub operator: Option<String>,
    /// Print validation.json instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn bad(m: String) -> Error {
    Error::BadInput(m)
}

/// Runs `phantom`.
pub fn run_phantom(a: &PhantomArgs) -> Result<(), Error> {
    let mut spec = match &a.spec {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| bad(format!("cannot read {}: {e}", p.display())))?;
            serde_json::from_str::<PhantomSpec>(&text)
                .map_err(|e| bad(format!("{}: {e}", p.display())))?
        }
        None => PhantomSpec {
            study_date: phantom::today(),
            ..PhantomSpec::default()
        },
    };
    if let Some(names) = &a.objects {
        let all = phantom::standard_objects();
        spec.objects = names
            .iter()
            .map(|n| {
                all.iter().find(|o| o.name == *n).cloned().ok_or_else(|| {
                    bad(format!(
                        "--objects: `{n}` is not a standard object; choose from {}",
                        all.iter()
                            .map(|o| o.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(v) = a.pixel_spacing {
        spec.pixel_spacing_mm = v;
    }
    if let Some(v) = a.slice_increment {
        spec.slice_increment_mm = v;
        if a.slice_thickness.is_none() {
            spec.slice_thickness_mm = v;
        }
    }
    if let Some(v) = a.slice_thickness {
        spec.slice_thickness_mm = v;
    }
    if let Some(v) = a.tilt {
        spec.gantry_tilt_deg = v;
    }
    if let Some(v) = a.fov {
        spec.field_of_view_mm = v;
    }
    if let Some(n) = a.matrix {
        spec.field_of_view_mm = f64::from(n) * spec.pixel_spacing_mm;
    }
    if let Some(v) = a.blur {
        spec.blur_fwhm_mm = v;
    }
    if let Some(v) = a.noise {
        spec.noise_sd_hu = v;
    }
    if let Some(v) = a.seed {
        spec.seed = v;
    }
    if let Some(v) = a.supersampling {
        spec.supersampling = v;
    }
    if let Some(v) = &a.study_date {
        spec.study_date = v.clone();
    }
    for g in &a.gap {
        let parsed = g
            .split_once(':')
            .and_then(|(k, mm)| Some((k.parse().ok()?, mm.parse().ok()?)));
        let Some((after_slice, extra_mm)) = parsed else {
            return Err(bad(format!("--gap {g}: give K:MM, for example 20:0.5")));
        };
        spec.slice_gaps.push(phantom::SliceGap {
            after_slice,
            extra_mm,
        });
    }
    let t0 = std::time::Instant::now();
    let truth = phantom::generate(&spec, &a.out).map_err(|e| match e {
        phantom::PhantomError::Spec(m) => Error::BadInput(m),
        phantom::PhantomError::Io(m) => Error::Failed(m),
    })?;
    let g = &truth.grid;
    println!(
        "phantom {}: {} × {} × {} voxels, {} mm pixels, {} mm slices (thickness {} mm), tilt {}°",
        a.out.display(),
        g.columns,
        g.rows,
        g.slices,
        spec.pixel_spacing_mm,
        g.slice_distance_mm,
        spec.slice_thickness_mm,
        spec.gantry_tilt_deg
    );
    for o in &truth.objects {
        println!("object {} volume {:.3} mm³", o.name, o.volume_mm3);
    }
    println!("series {}", truth.series_uid);
    eprintln!("done in {:.2} s", t0.elapsed().as_secs_f64());
    Ok(())
}

/// Runs `validate`.
pub fn run_validate(a: &ValidateArgs) -> Result<(), Error> {
    let recipe = match &a.recipe {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| bad(format!("cannot read recipe {}: {e}", p.display())))?;
            Some(recipe::parse(&text)?)
        }
        None => None,
    };
    let dir = crate::case::case_dir(&a.out);
    let mut show = |p: Progress| match p {
        Progress::Stage(s) => eprintln!("{s}"),
        Progress::Applied { step, op, ms, .. } => eprintln!("step {step} {op} ({ms:.0} ms)"),
        Progress::Wrote(p, what) => eprintln!("wrote {} ({what})", p.display()),
    };
    let (v, case) = validate::validate(
        &a.phantom,
        recipe.as_ref(),
        &dir,
        a.operator.as_deref(),
        &mut show,
    )?;
    let path = write(&v, &dir)?;
    eprintln!("wrote {}", path.display());
    for p in crate::report::write(
        &case,
        Some(&dir.join("report.json")),
        Some(&dir.join("report.html")),
    )? {
        eprintln!("wrote {}", p.display());
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| Error::Failed(e.to_string()))?
        );
    } else {
        print!("{}", validate::table(&v));
    }
    Ok(())
}

/// Writes `validation.json` into the case.
fn write(v: &Validation, dir: &Path) -> Result<PathBuf, Error> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::Failed(e.to_string()))?;
    let path = dir.join("validation.json");
    write_atomic(&path, |w| std::io::Write::write_all(w, text.as_bytes()))
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}
