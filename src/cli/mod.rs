//! Command-line interface: clap arguments → validated options → one function per
//! subcommand. Exit codes: 0 success, 1 the operation failed, 2 bad input or arguments.

mod bench;
mod case;
mod compare;
mod convert;
mod export_dicom;
mod export_volume;
mod info;
mod input;
mod man;
mod mesh;
mod pacs;
mod phantom;
mod render;
mod review;
mod segment;
mod sweep;
#[cfg(feature = "gui")]
pub mod view;

use crate::error::Error;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Hounsfield: CT to print-ready bone models, traceable to ISO/IEC 3532-1.
#[derive(Debug, Parser)]
#[command(
    name = "hounsfield",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// More log output on stderr (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Open this DICOM folder, file, DICOMDIR or NIfTI in the window (without a
    /// subcommand; default: the bundled sample).
    #[arg(value_name = "PATH")]
    pub path: Option<std::path::PathBuf>,
    /// The subcommand; without one, the window opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan a DICOM folder, file or DICOMDIR (or read a NIfTI) and report series,
    /// geometry, acquisition and feasibility findings.
    Info(info::InfoArgs),
    /// Convert one series to a NIfTI volume in HU, with a JSON sidecar.
    Convert(convert::ConvertArgs),
    /// Apply a recipe of segmentation operations; write the mask and the operation log.
    Segment(segment::SegmentArgs),
    /// Run a recipe (source, purpose, findings acknowledged, operations, reconstruction,
    /// exports) into a new case, in one process, and write its report.
    Run(case::RunArgs),
    /// Recompute a case (or an operation log from its source volume) and check every hash.
    Replay(segment::ReplayArgs),
    /// Write a case's ISO/IEC 3532-1 report (HTML and JSON).
    Report(case::ReportArgs),
    /// Show a case: purpose, findings and acknowledgement, verification, review, exports.
    Status(case::StatusArgs),
    /// Record a physician's decision on a case, signed with the reviewer's own key:
    /// approve, or return with notes (pinned to a slice or a point).
    Review(review::ReviewArgs),
    /// Take a measurement on a case (distance, angle, area, HU statistics, label volume
    /// and surface area) and record it, or list or withdraw them.
    Measure(review::MeasureArgs),
    /// Reconstruct a certified surface model (STL, 3MF, OBJ) from a mask.
    Mesh(mesh::MeshArgs),
    /// Export the volume model: mask or masked HU as NIfTI/NRRD, or per-slice outlines.
    ExportVolume(export_volume::ExportVolumeArgs),
    /// Export a case's labels as a DICOM Segmentation (one segment per label) and/or an
    /// RT Structure Set (per-slice contours) on the source series, recorded in the case.
    ExportDicom(export_dicom::ExportDicomArgs),
    /// Import a DICOM Segmentation's segments into a case as labels (recorded as
    /// operations holding the masks, so the case replays without the file).
    ImportSeg(export_dicom::ImportSegArgs),
    /// The hospital's archive: echo, find studies and series, get a series into a folder,
    /// store DICOM files or a case's SEG/RT Structure Set (DIMSE or DICOMweb).
    Pacs(pacs::PacsArgs),
    /// Render a slice or slab projection (MIP/MinIP/mean) as a PNG on the CPU.
    Render(render::RenderArgs),
    /// Open the workstation window, or render one frame of it offscreen (--screenshot),
    /// or measure frame times (--bench-frames).
    #[cfg(feature = "gui")]
    View(view::ViewArgs),
    /// Measure performance on real data.
    Bench(bench::BenchArgs),
    /// Make a calibration phantom: a CT series of objects of known geometry, with its
    /// truth and reference surface.
    Phantom(phantom::PhantomArgs),
    /// Take a phantom through a recipe into a case and measure the mask and model against
    /// the truth (ISO/IEC 3532-1 §6.5).
    Validate(phantom::ValidateArgs),
    /// Compare two models (STL, OBJ, 3MF: surface distances both ways, Hausdorff, volume) or two masks
    /// (Dice, Jaccard, Hausdorff and 95 % Hausdorff in mm, volume).
    Compare(compare::CompareArgs),
    /// Vary one parameter of a recipe over a range and measure each result against a
    /// reference: volume, Dice, Hausdorff, surface distance (table, CSV, HTML with plots).
    Sweep(sweep::SweepArgs),
    /// Write the manual pages (roff) generated from these definitions.
    #[command(hide = true)]
    Man(man::ManArgs),
}

/// Parses arguments, runs, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Some(Command::Info(a)) => info::run(&a),
        Some(Command::Convert(a)) => convert::run(&a),
        Some(Command::Segment(a)) => segment::run_segment(&a),
        Some(Command::Run(a)) => case::run(&a),
        Some(Command::Replay(a)) => segment::run_replay(&a),
        Some(Command::Report(a)) => case::report(&a),
        Some(Command::Status(a)) => case::status(&a),
        Some(Command::Review(a)) => review::review(&a),
        Some(Command::Measure(a)) => review::measure(&a),
        Some(Command::Mesh(a)) => mesh::run(&a),
        Some(Command::ExportVolume(a)) => export_volume::run(&a),
        Some(Command::ExportDicom(a)) => export_dicom::run(&a),
        Some(Command::ImportSeg(a)) => export_dicom::import(&a),
        Some(Command::Render(a)) => render::run(&a),
        Some(Command::Bench(a)) => bench::run(&a),
        Some(Command::Phantom(a)) => phantom::run_phantom(&a),
        Some(Command::Validate(a)) => phantom::run_validate(&a),
        Some(Command::Compare(a)) => compare::run(&a),
        Some(Command::Sweep(a)) => sweep::run(&a),
        Some(Command::Pacs(a)) => pacs::run(&a),
        Some(Command::Man(a)) => man::run(&a),
        #[cfg(feature = "gui")]
        Some(Command::View(a)) => view::run(&a),
        #[cfg(feature = "gui")]
        None => view::window(cli.path, None, None, [1400, 900], None),
        #[cfg(not(feature = "gui"))]
        None => Err(Error::BadInput(
            "this build has no window (built without the `gui` feature): give a subcommand".into(),
        )),
    }
}

/// Options shared by the commands that import DICOM.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// Acquisitions older than this many days get the `old-acquisition` finding.
    #[arg(long, default_value_t = crate::feasibility::limits::DEFAULT_MAX_AGE_DAYS)]
    pub max_age_days: i64,
}

impl ImportArgs {
    fn options(&self) -> Result<crate::dicom::ImportOptions, Error> {
        if self.max_age_days < 0 {
            return Err(Error::BadInput("--max-age-days must be 0 or more".into()));
        }
        Ok(crate::dicom::ImportOptions {
            max_age_days: self.max_age_days,
            ..Default::default()
        })
    }
}

/// Writes JSON to a file atomically.
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Failed(e.to_string()))?;
    crate::io::atomic::write_atomic(path, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())?;
        w.write_all(b"\n")
    })
    .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))
}

/// Fails (bad input) when an output's folder does not exist, before any work is done.
fn check_out_dir(out: &std::path::Path) -> Result<(), Error> {
    check_outputs(&[], &[out])
}

/// The absolute form of a path that may not exist yet (its folder must).
fn absolute(p: &std::path::Path) -> Option<std::path::PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.canonicalize().ok()?,
        _ => std::env::current_dir().ok()?,
    };
    Some(dir.join(p.file_name()?))
}

/// Checks outputs before any work: each output's folder exists and can be written, no
/// output is an input, and no two outputs are the same file. Every failure is bad input
/// (exit 2) and nothing has been written.
pub fn check_outputs(
    inputs: &[&std::path::Path],
    outputs: &[&std::path::Path],
) -> Result<(), Error> {
    let mut seen: Vec<(std::path::PathBuf, &std::path::Path)> = Vec::new();
    for out in outputs {
        let dir = match out.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(Error::BadInput(format!(
                "the folder of {} does not exist; create it first",
                out.display()
            )));
        }
        if out.is_dir() {
            return Err(Error::BadInput(format!(
                "{} is a folder; give a file name",
                out.display()
            )));
        }
        let probe = dir.join(format!(".hounsfield-write-probe-{}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
        {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) => {
                return Err(Error::BadInput(format!(
                    "cannot write in {} ({e}); choose another folder for {}",
                    dir.display(),
                    out.display()
                )));
            }
        }
        let Some(abs) = absolute(out) else {
            return Err(Error::BadInput(format!(
                "{} is not a usable path",
                out.display()
            )));
        };
        for input in inputs {
            if absolute(input).is_some_and(|i| i == abs) {
                return Err(Error::BadInput(format!(
                    "the output {} is the input {}: inputs are never overwritten; choose another output name",
                    out.display(),
                    input.display()
                )));
            }
        }
        if let Some((_, other)) = seen.iter().find(|(p, _)| *p == abs) {
            return Err(Error::BadInput(format!(
                "{} and {} are the same file: give each output its own name",
                other.display(),
                out.display()
            )));
        }
        seen.push((abs, out));
    }
    Ok(())
}

pub use crate::io::nifti::is_nifti_path as is_nifti;

/// Resolves `--compute` (or the window's preference) with this build's GPU layer.
pub fn open_compute(
    choice: crate::compute::ComputeChoice,
) -> Result<crate::compute::Compute, String> {
    #[cfg(feature = "gui")]
    let opener: Option<crate::compute::Opener> = Some(crate::gpu::compute::GpuCompute::opener);
    #[cfg(not(feature = "gui"))]
    let opener: Option<crate::compute::Opener> = None;
    crate::compute::open(choice, opener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_that_are_inputs_or_each_other_are_refused() {
        let Ok(d) = tempfile::tempdir() else { return };
        let input = d.path().join("ct.nii.gz");
        assert!(std::fs::write(&input, b"x").is_ok());
        let e = check_outputs(&[&input], &[&input]);
        assert!(
            matches!(&e, Err(Error::BadInput(m)) if m.contains("is the input")),
            "{e:?}"
        );
        // The same file by another spelling.
        let dotted = d.path().join(".").join("ct.nii.gz");
        assert!(check_outputs(&[&input], &[&dotted]).is_err());
        let a = d.path().join("x.stl");
        let e = check_outputs(&[&input], &[&a, &a]);
        assert!(
            matches!(&e, Err(Error::BadInput(m)) if m.contains("same file")),
            "{e:?}"
        );
        assert!(check_outputs(&[&input], &[&a, &d.path().join("x.stl.json")]).is_ok());
        let e = check_outputs(&[], &[&d.path().join("no/such/x.stl")]);
        assert!(
            matches!(&e, Err(Error::BadInput(m)) if m.contains("does not exist")),
            "{e:?}"
        );
        assert_eq!(std::fs::read(&input).ok().as_deref(), Some(b"x".as_slice()));
    }
}
