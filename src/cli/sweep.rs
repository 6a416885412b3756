//! `sweep`: one parameter of a recipe varied over a range, each result measured against a
//! reference. The work is [`crate::sweep`]'s.

use super::input;
use crate::error::Error;
use crate::io::atomic::write_atomic;
use crate::segment::Mask;
use crate::sweep;
use std::path::{Path, PathBuf};

/// Arguments of `sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// DICOM folder, file or DICOMDIR, or a NIfTI volume.
    pub input: PathBuf,
    /// Series (number, id or UID) when the folder holds several.
    #[arg(long)]
    pub series: Option<String>,
    /// The segmentation recipe (a JSON list of operations, as for `segment`).
    #[arg(long)]
    pub recipe: PathBuf,
    /// What to vary: STEP.FIELD, the 1-based step and its numeric field (`1.lo`).
    #[arg(long)]
    pub vary: String,
    /// The values: FROM:TO:STEP (`150:400:25`).
    #[arg(long)]
    pub values: String,
    /// The label to measure (default: the only one the recipe makes).
    #[arg(long)]
    pub label: Option<String>,
    /// Reference mask (NIfTI on the volume's grid; default: the recipe as written).
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Measure masks only (no surfaces: faster).
    #[arg(long)]
    pub no_surface: bool,
    /// The new folder for sweep.json, sweep.csv and sweep.html.
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_vary(s: &str) -> Result<(usize, String), Error> {
    let bad = || Error::BadInput(format!("--vary {s}: give STEP.FIELD, for example 1.lo"));
    let (step, field) = s.split_once('.').ok_or_else(bad)?;
    let step: usize = step.parse().map_err(|_| bad())?;
    if field.is_empty() {
        return Err(bad());
    }
    Ok((step, field.to_string()))
}

fn parse_values(s: &str) -> Result<Vec<f64>, Error> {
    let parts: Vec<f64> = s
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| Error::BadInput(format!("--values {s}: give FROM:TO:STEP numbers")))?;
    match parts[..] {
        [from, to, step] => sweep::values(from, to, step).map_err(Error::BadInput),
        _ => Err(Error::BadInput(format!("--values {s}: give FROM:TO:STEP"))),
    }
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    write_atomic(path, |w| std::io::Write::write_all(w, text.as_bytes()))
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))
}

/// Runs `sweep`.
pub fn run(a: &SweepArgs) -> Result<(), Error> {
    let (step, field) = parse_vary(&a.vary)?;
    let values = parse_values(&a.values)?;
    if a.out.exists() {
        return Err(Error::BadInput(format!(
            "{} exists; give a new folder",
            a.out.display()
        )));
    }
    let text = std::fs::read_to_string(&a.recipe)
        .map_err(|e| Error::BadInput(format!("cannot read recipe {}: {e}", a.recipe.display())))?;
    let ops = super::segment::parse_recipe(&text)?;
    let opened = input::open_volume(&a.input, a.series.as_deref())?;
    let reference = match &a.reference {
        Some(p) => {
            let v = crate::io::nifti::read_volume(p)
                .map_err(|e| Error::BadInput(format!("{}: {e}", p.display())))?;
            let hu = &v.hu;
            let m = Mask::from_fn(v.dims(), |k, j, i| hu[[k, j, i]] > 0);
            Some((m, format!("the mask {}", p.display())))
        }
        None => None,
    };
    let t0 = std::time::Instant::now();
    println!(
        "{:>10} {:>10} {:>9} {:>8} {:>8} {:>9} {:>9}",
        field, "volume mm³", "change %", "Dice", "HD95 mm", "surf mean", "surf p95"
    );
    let s = sweep::run(
        &opened.volume,
        &opened.description,
        &ops,
        step,
        &field,
        &values,
        a.label.as_deref(),
        reference,
        !a.no_surface,
        &mut |r| {
            let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
            println!(
                "{:>10} {:>10.1} {:>+9.2} {:>8.4} {:>8.2} {:>9} {:>9}",
                r.value,
                r.volume_mm3,
                r.volume_change_pct,
                r.mask.dice,
                r.mask.hausdorff95_mm,
                opt(r.surface_mean_mm),
                opt(r.surface_p95_mm)
            );
        },
    )
    .map_err(Error::BadInput)?;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Error::Failed(format!("cannot create {}: {e}", a.out.display())))?;
    let json = serde_json::to_string_pretty(&s).map_err(|e| Error::Failed(e.to_string()))?;
    write(&a.out.join("sweep.json"), &json)?;
    write(&a.out.join("sweep.csv"), &sweep::csv(&s))?;
    write(&a.out.join("sweep.html"), &sweep::html(&s))?;
    eprintln!(
        "wrote {}/sweep.json, sweep.csv, sweep.html ({:.1} s)",
        a.out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
