//! The case commands: `run` (a recipe into a new case, one process), `replay` of a case,
//! `report` and `status`. The work is the core's ([`crate::case`], [`crate::report`]);
//! these print it.

use crate::case::recipe::{self, Progress};
use crate::case::replay::{self as case_replay, Step};
use crate::case::{self as case_mod, Case, CaseError, CaseFiles};
use crate::error::Error;
use crate::report::{self, Report};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The recipe (JSON): source, purpose, operator, acknowledged findings, operations,
    /// reconstruction and exports. See `assets/recipes/`.
    pub recipe: PathBuf,
    /// The new case folder (`.hfcase` is added when missing); it must not exist.
    #[arg(long)]
    pub out: PathBuf,
    /// Use this source instead of the recipe's `source.path`.
    #[arg(long)]
    pub source: Option<PathBuf>,
    /// Operator name (instead of the recipe's `operator`).
    #[arg(long)]
    pub operator: Option<String>,
    /// Where threshold, keep-largest and the surface topology run: `cpu` (the reference),
    /// `gpu`, or `auto` (a GPU that is not a software rasteriser, else the CPU). The case
    /// is the same either way; its log and reconstruction record say which ran.
    #[arg(long, value_enum, default_value_t = crate::compute::ComputeChoice::Cpu)]
    pub compute: crate::compute::ComputeChoice,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML page.
    Html,
    /// The machine-readable report.
    Json,
}

/// Arguments of `report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The case folder.
    pub case: PathBuf,
    /// Only this format (default: both, as report.json and report.html in the case).
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Write the report here instead of into the case (needs --format).
    #[arg(long, requires = "format")]
    pub out: Option<PathBuf>,
    /// Operator name recorded if opening the case records anything (default: $USER).
    #[arg(long)]
    pub operator: Option<String>,
}

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The case folder.
    pub case: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The operator's name: the one given, else $USER.
pub fn user(explicit: Option<&str>) -> String {
    explicit
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

fn print_step(s: &Step) {
    let at = s.seq.map_or(String::new(), |q| format!("record {q} "));
    match &s.outcome {
        Ok(note) => println!("{at}{}: ok ({note})", s.what),
        Err(m) => println!("{at}{}: MISMATCH {m}", s.what),
    }
}

/// Runs `run`.
pub fn run(a: &RunArgs) -> Result<(), Error> {
    let text = std::fs::read_to_string(&a.recipe)
        .map_err(|e| Error::BadInput(format!("cannot read recipe {}: {e}", a.recipe.display())))?;
    let mut recipe = recipe::parse(&text)?;
    if let Some(o) = &a.operator {
        recipe.operator = Some(o.clone());
    }
    let dir = case_mod::case_dir(&a.out);
    if !dir.exists() {
        super::check_outputs(&[a.recipe.as_path()], &[dir.as_path()])?;
    }
    let recipe_dir = a
        .recipe
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let started = std::time::Instant::now();
    let mut show = |p: Progress| match p {
        Progress::Stage(s) => eprintln!("{s}"),
        Progress::Applied {
            step,
            op,
            notes,
            ms,
        } => eprintln!(
            "step {step} {op}: {} ({ms:.0} ms, saved)",
            if notes.is_empty() {
                "done".to_string()
            } else {
                notes.join("; ")
            }
        ),
        Progress::Wrote(p, what) => eprintln!("wrote {} ({what})", p.display()),
    };
    let compute = super::open_compute(a.compute).map_err(Error::Failed)?;
    let result = recipe::run_on(
        &recipe,
        &recipe_dir,
        a.source.as_deref(),
        &dir,
        &mut show,
        &compute,
    );
    let case = match result {
        Ok(c) => c,
        Err(e) => {
            if dir.exists() {
                eprintln!(
                    "the case {} keeps every step done so far (hounsfield status {} shows them); remove it to start again",
                    dir.display(),
                    dir.display()
                );
            }
            return Err(e.into());
        }
    };
    for f in &case.record().feasibility.findings {
        if f.severity >= crate::feasibility::Severity::Warning {
            eprintln!(
                "finding {:?} {} (acknowledged): {}",
                f.severity,
                f.code.as_str(),
                f.message
            );
        }
    }
    eprintln!("writing the report");
    let written = report::write(
        &case,
        Some(&dir.join("report.json")),
        Some(&dir.join("report.html")),
    )?;
    for p in &written {
        eprintln!("wrote {}", p.display());
    }
    println!("case {}", dir.display());
    for (_, x) in case.files().exports() {
        println!(
            "export {} {} blake3 {}",
            x.path,
            x.spec.format.as_str(),
            x.blake3
        );
    }
    println!("final_hash {}", case.session().log().final_hash);
    eprintln!("done in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Replays a case and prints every step; exit 0 only when everything matches.
pub fn replay(dir: &Path, source: Option<&Path>) -> Result<(), Error> {
    let files = CaseFiles::read(dir)?;
    if let Some(t) = &files.dropped_tail {
        println!("journal: {t}");
    }
    let located = match case_replay::locate_source(&files, source) {
        Ok(l) => l,
        Err(CaseError::SourceChanged(problems)) => {
            for p in &problems {
                println!("source: MISMATCH {p}");
            }
            return Err(Error::Failed(format!(
                "the source differs from the record: {}",
                problems
                    .iter()
                    .map(|p| p.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "source: ok ({} files in {}, sizes and blake3 as recorded)",
        files.record.source.files.len(),
        located.root.display()
    );
    let rebuilt = case_replay::rebuild(
        &files,
        &located.root,
        &case_replay::Options { exports: true },
        &mut print_step,
    )?;
    if !rebuilt.report.ok() {
        return Err(Error::Failed(format!(
            "replay did not reproduce the case: {}",
            rebuilt.report.first_failure().unwrap_or_default()
        )));
    }
    if let Some((from, to)) = &located.moved {
        // Record the move only once everything replayed from the new place.
        case_mod::record_source_move(dir, to, &user(None))?;
        println!(
            "source moved: {} → {} (recorded in the case)",
            from.display(),
            to.display()
        );
    }
    println!(
        "replay: every step matches ({} journal records, final hash {})",
        files.events.len(),
        rebuilt
            .state
            .as_ref()
            .map_or(String::new(), |s| s.session.log().final_hash.clone())
    );
    Ok(())
}

/// Runs `report`.
pub fn report(a: &ReportArgs) -> Result<(), Error> {
    let (case, opened) = Case::open(&a.case, &user(a.operator.as_deref()), None)?;
    if let Some(t) = &opened.dropped_tail {
        eprintln!("journal: {t}");
    }
    let dir = case.dir().to_path_buf();
    let (json_path, html_path) = match (a.format, &a.out) {
        (None, _) => (Some(dir.join("report.json")), Some(dir.join("report.html"))),
        (Some(ReportFormat::Json), out) => (
            Some(out.clone().unwrap_or_else(|| dir.join("report.json"))),
            None,
        ),
        (Some(ReportFormat::Html), out) => (
            None,
            Some(out.clone().unwrap_or_else(|| dir.join("report.html"))),
        ),
    };
    let outs: Vec<&Path> = json_path
        .iter()
        .chain(html_path.iter())
        .map(PathBuf::as_path)
        .collect();
    super::check_outputs(&[], &outs)?;
    for p in report::write(&case, json_path.as_deref(), html_path.as_deref())? {
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// Runs `status`.
pub fn status(a: &StatusArgs) -> Result<(), Error> {
    let files = CaseFiles::read(&a.case)?;
    // The full state needs the source; without it, say what can be said.
    match Case::open(&a.case, &user(None), None) {
        Ok((case, _)) => {
            let r = Report::of(&case);
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status_json(&r))
                        .map_err(|e| Error::Failed(e.to_string()))?
                );
            } else {
                print_status(&r);
            }
            Ok(())
        }
        Err(e) => {
            let why = e.to_string();
            if a.json {
                let v = json!({
                    "case": files.record.name,
                    "pseudonym": files.record.pseudonym,
                    "purpose": files.record.purpose,
                    "source": {"root": files.source_root(), "state": "not verified", "problem": why},
                    "findings": files.record.feasibility.findings,
                    "acknowledgements": files.acknowledgements(),
                    "unacknowledged": files.unacknowledged(),
                    "exports": files.export_states().iter().map(|(seq, x, s)| json!({"seq": seq, "path": x.path, "format": x.spec.format, "blake3": x.blake3, "state": s.as_str()})).collect::<Vec<_>>(),
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v).map_err(|e| Error::Failed(e.to_string()))?
                );
            } else {
                println!(
                    "case {} (pseudonym {})",
                    files.record.name, files.record.pseudonym
                );
                println!("source: NOT VERIFIED: {why}");
                for (_, x, s) in files.export_states() {
                    println!(
                        "export {} {}: {}",
                        x.path,
                        x.spec.format.as_str(),
                        s.as_str()
                    );
                }
            }
            Err(Error::Failed(format!("the case cannot be opened: {why}")))
        }
    }
}

fn status_json(r: &Report) -> serde_json::Value {
    json!({
        "case": r.identification.case,
        "pseudonym": r.identification.pseudonym,
        "purpose": r.purpose,
        "source": {"state": "matches", "files": r.acquisition.files, "series_uid": r.acquisition.series_uid},
        "findings": r.feasibility.findings,
        "acknowledgements": r.feasibility.acknowledgements,
        "unacknowledged": r.feasibility.unacknowledged,
        "segmentation": {
            "operations": r.segmentation.operations.len(),
            "applied": r.segmentation.operations.iter().filter(|o| o.status == crate::segment::log::EntryStatus::Applied).count(),
            "labels": r.segmentation.labels,
            "final_hash": r.segmentation.final_hash,
        },
        "verification": r.verification,
        "reconstructions": r.reconstruction.records.iter().map(|x| json!({"seq": x.seq, "current": x.current, "triangles": x.record.totals.triangles, "closed": x.record.totals.closed})).collect::<Vec<_>>(),
        "review": {"state": r.review.state, "summary": r.review.summary(), "changes": r.review.changes, "decisions": r.review.decisions.iter().map(|d| json!({"seq": d.seq, "verdict": d.decision.verdict, "reviewer": d.decision.reviewer, "time": d.decision.time, "fingerprint": d.decision.fingerprint, "signature_valid": d.signature_valid, "signature_problem": d.signature_problem, "notes": d.decision.notes})).collect::<Vec<_>>()},
        "measurements": r.measurements,
        "exports": r.exports.iter().map(|x| json!({"seq": x.seq, "path": x.record.path, "format": x.record.spec.format, "blake3": x.record.blake3, "state": x.state})).collect::<Vec<_>>(),
        "transmissions": r.transmissions,
    })
}

fn print_status(r: &Report) {
    let id = &r.identification;
    println!(
        "case {} (pseudonym {}), created {}",
        id.case, id.pseudonym, id.case_created
    );
    println!(
        "purpose: {} — {}",
        r.purpose.category.label(),
        r.purpose.text
    );
    println!(
        "source: {} file(s), all with their recorded size and blake3; series {} {}",
        r.acquisition.files,
        r.acquisition
            .series_number
            .map_or("-".into(), |n| n.to_string()),
        r.acquisition.description
    );
    if r.feasibility.findings.is_empty() {
        println!("findings: none");
    }
    for f in &r.feasibility.findings {
        let ack = r
            .feasibility
            .acknowledgements
            .iter()
            .find(|a| a.codes.iter().any(|c| c == f.code.as_str()));
        println!(
            "finding {:?} {}: {}{}",
            f.severity,
            f.code.as_str(),
            f.message,
            match ack {
                Some(a) => format!(" [acknowledged by {} at {}]", a.operator, a.time),
                None if f.severity >= crate::feasibility::Severity::Warning =>
                    " [NOT ACKNOWLEDGED]".to_string(),
                None => String::new(),
            }
        );
    }
    let s = &r.segmentation;
    println!(
        "segmentation: {} operation(s) logged; final hash {}",
        s.operations.len(),
        s.final_hash
    );
    for l in &s.labels {
        println!(
            "  label {}: {} voxels, {:.1} mm3",
            l.name, l.voxels, l.volume_mm3
        );
    }
    println!("verification: {}", r.verification.state);
    for c in &r.verification.coverage {
        println!("  {}", c.summary());
    }
    for x in &r.reconstruction.records {
        println!(
            "reconstruction (record {}): {} triangles, closed {}, {}",
            x.seq,
            x.record.totals.triangles,
            x.record.totals.closed,
            if x.current {
                "masks unchanged since"
            } else {
                "MASKS CHANGED since"
            }
        );
    }
    println!("review: {}", r.review.summary());
    for d in &r.review.decisions {
        println!(
            "  record {}: {} by {} at {}, key {}, signature {}",
            d.seq,
            d.decision.verdict.as_str(),
            d.decision.reviewer,
            d.decision.time,
            d.decision.fingerprint,
            if d.signature_valid {
                "valid".to_string()
            } else {
                format!("INVALID ({})", d.signature_problem.as_deref().unwrap_or(""))
            }
        );
        for n in &d.decision.notes {
            println!("    note: {}", n.text);
        }
    }
    for c in &r.review.changes {
        println!("  changed: {c}");
    }
    for m in &r.measurements {
        println!(
            "measurement {} `{}` ({}): {}",
            m.seq,
            m.measurement.name,
            m.measurement.shape.kind(),
            m.measurement.summary()
        );
    }
    if r.exports.is_empty() {
        println!("exports: none");
    }
    for x in &r.exports {
        println!(
            "export {} {} blake3 {}: {}",
            x.record.path,
            x.record.spec.format.as_str(),
            x.record.blake3,
            x.state
        );
    }
    for t in &r.transmissions {
        for x in &t.record.objects {
            println!(
                "sent (record {}) {} to {} at {} by {}: {}",
                t.seq,
                x.path,
                t.record.node,
                t.record.time,
                t.record.operator,
                if x.accepted {
                    "accepted".to_string()
                } else {
                    format!("refused: {}", x.refusal)
                }
            );
        }
    }
}
