//! `review` (a physician's signed decision) and `measure` (measurements recorded in the
//! case), the headless path to what the window's Review panel and measuring tools do.

use super::case::user;
use crate::case::Case;
use crate::case::ledger::Orientation;
use crate::error::Error;
use crate::measure::{Shape, parse_point};
use crate::review::key::ReviewerKey;
use crate::review::{ReviewNote, SliceRef, Verdict};
use std::path::PathBuf;

/// Arguments of `review`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("verdict").required(true).args(["approve", "return_"])))]
pub struct ReviewArgs {
    /// The case folder.
    pub case: PathBuf,
    /// Approve the case for manufacture as it is now.
    #[arg(long)]
    pub approve: bool,
    /// Return the case to the operator (needs --note).
    #[arg(long = "return")]
    pub return_: bool,
    /// A note (repeatable).
    #[arg(long = "note", value_name = "TEXT")]
    pub notes: Vec<String>,
    /// Pin the (first) note to a slice, `axial:INDEX`, `coronal:INDEX` or
    /// `sagittal:INDEX`; that slice is flagged in the ledger with the note.
    #[arg(long, value_name = "AXIS:INDEX")]
    pub slice: Option<String>,
    /// The label whose slice `--slice` names (default: the case's first label).
    #[arg(long)]
    pub label: Option<String>,
    /// Pin the (first) note to a point on the model, LPS millimetres `X,Y,Z`.
    #[arg(long, value_name = "X,Y,Z")]
    pub point: Option<String>,
    /// The reviewer's name as it goes into the case and the report.
    #[arg(long)]
    pub reviewer: String,
    /// The signing key (default: the reviewer key in the user's config folder, made on
    /// first use).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

/// Parses `axial:12`.
pub fn parse_slice(s: &str) -> Result<(Orientation, usize), String> {
    let bad =
        || format!("`{s}` is not a slice: give AXIS:INDEX with AXIS axial, coronal or sagittal");
    let (a, i) = s.split_once(':').ok_or_else(bad)?;
    let o = match a.trim() {
        "axial" => Orientation::Axial,
        "coronal" => Orientation::Coronal,
        "sagittal" => Orientation::Sagittal,
        _ => return Err(bad()),
    };
    Ok((o, i.trim().parse().map_err(|_| bad())?))
}

/// Runs `review`.
pub fn review(a: &ReviewArgs) -> Result<(), Error> {
    let key = match &a.key {
        Some(p) => ReviewerKey::load_or_create(p),
        None => ReviewerKey::default_key(),
    }
    .map_err(Error::BadInput)?;
    if key.created {
        println!(
            "made a new reviewer key {} (fingerprint {})",
            key.path.display(),
            key.fingerprint()
        );
    }
    let (mut case, _) = Case::open(&a.case, &user(None), None)?;
    let mut notes: Vec<ReviewNote> = a
        .notes
        .iter()
        .map(|t| ReviewNote {
            text: t.clone(),
            slice: None,
            point_lps_mm: None,
        })
        .collect();
    if (a.slice.is_some() || a.point.is_some()) && notes.is_empty() {
        return Err(Error::BadInput(
            "--slice and --point pin a note: give the note with --note TEXT".into(),
        ));
    }
    if let Some(s) = &a.slice {
        let (orientation, index) = parse_slice(s).map_err(Error::BadInput)?;
        let label = match &a.label {
            Some(l) => l.clone(),
            None => case
                .session()
                .segmentation()
                .names()
                .into_iter()
                .next()
                .ok_or_else(|| Error::BadInput("the case has no label to pin a note to".into()))?,
        };
        notes[0].slice = Some(SliceRef {
            label,
            orientation,
            index,
        });
    }
    if let Some(p) = &a.point {
        notes[0].point_lps_mm = Some(parse_point(p).map_err(Error::BadInput)?.0.to_array());
    }
    let verdict = if a.approve {
        Verdict::Approved
    } else {
        Verdict::Returned
    };
    let seq = case.review(verdict, &a.reviewer, notes, &key)?;
    println!(
        "recorded {} by {} (journal record {seq}), signed with key {}",
        verdict.as_str(),
        a.reviewer.trim(),
        key.fingerprint()
    );
    println!("review: {}", case.review_status().summary());
    Ok(())
}

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MeasureKind {
    /// Between two --point.
    Distance,
    /// At the second of three --point.
    Angle,
    /// Of the closed curve through three or more --point (one slice plane).
    Area,
    /// HU statistics inside the closed curve through --point on --plane.
    Hu,
    /// Volume and surface area of --label.
    Label,
}

/// Arguments of `measure`.
#[derive(Debug, clap::Args)]
pub struct MeasureArgs {
    /// The case folder.
    pub case: PathBuf,
    /// What to measure (omit with --list or --remove).
    #[arg(value_enum, required_unless_present_any = ["list", "remove"])]
    pub kind: Option<MeasureKind>,
    /// A position, LPS millimetres `X,Y,Z` (repeatable, in order).
    #[arg(long = "point", value_name = "X,Y,Z", allow_hyphen_values = true)]
    pub points: Vec<String>,
    /// The slice of an `hu` measurement, `axial:INDEX`, `coronal:INDEX` or `sagittal:INDEX`.
    #[arg(long, value_name = "AXIS:INDEX")]
    pub plane: Option<String>,
    /// The label of a `label` measurement.
    #[arg(long)]
    pub label: Option<String>,
    /// A name for it ("defect diameter").
    #[arg(long, default_value = "")]
    pub name: String,
    /// List the case's measurements.
    #[arg(long, conflicts_with_all = ["kind", "remove"])]
    pub list: bool,
    /// Withdraw the measurement recorded at this journal position.
    #[arg(long, value_name = "SEQ")]
    pub remove: Option<usize>,
    /// Operator name recorded (default: $USER).
    #[arg(long)]
    pub operator: Option<String>,
}

fn shape_of(a: &MeasureArgs, kind: MeasureKind) -> Result<Shape, String> {
    let pts = a
        .points
        .iter()
        .map(|p| parse_point(p))
        .collect::<Result<Vec<_>, _>>()?;
    let need = |n: usize, exact: bool| -> Result<(), String> {
        if pts.len() < n || (exact && pts.len() != n) {
            Err(format!(
                "this measurement needs {}{n} --point, {} given",
                if exact { "" } else { "at least " },
                pts.len()
            ))
        } else {
            Ok(())
        }
    };
    Ok(match kind {
        MeasureKind::Distance => {
            need(2, true)?;
            Shape::Distance {
                a: pts[0],
                b: pts[1],
            }
        }
        MeasureKind::Angle => {
            need(3, true)?;
            Shape::Angle {
                a: pts[0],
                vertex: pts[1],
                b: pts[2],
            }
        }
        MeasureKind::Area => {
            need(3, false)?;
            Shape::Area { points: pts }
        }
        MeasureKind::Hu => {
            need(3, false)?;
            let plane = a
                .plane
                .as_deref()
                .ok_or("an hu measurement needs --plane AXIS:INDEX")?;
            let (orientation, index) = parse_slice(plane)?;
            Shape::HuStats {
                orientation,
                index,
                points: pts,
            }
        }
        MeasureKind::Label => Shape::Label {
            label: a
                .label
                .clone()
                .ok_or("a label measurement needs --label NAME")?,
        },
    })
}

/// Runs `measure`.
pub fn measure(a: &MeasureArgs) -> Result<(), Error> {
    let shape = match a.kind {
        Some(k) => Some(shape_of(a, k).map_err(Error::BadInput)?),
        None => None,
    };
    let (mut case, _) = Case::open(&a.case, &user(a.operator.as_deref()), None)?;
    if let Some(seq) = a.remove {
        case.remove_measurement(seq)?;
        println!("withdrew the measurement of journal record {seq}");
    }
    if let Some(shape) = shape {
        let seq = case.measure(&a.name, shape)?;
        if let Some((_, m)) = case.measurements().into_iter().find(|(s, _)| *s == seq) {
            println!("{} (journal record {seq}): {}", m.name, m.summary());
        }
    }
    if a.list {
        if case.measurements().is_empty() {
            println!("no measurements");
        }
        for (seq, m) in case.measurements() {
            println!("{seq}: {} ({}): {}", m.name, m.shape.kind(), m.summary());
        }
    }
    Ok(())
}
