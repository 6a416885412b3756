//! `pacs`: the hospital's archive from the command line — echo, find studies and series,
//! get a series into a folder, store DICOM files or a case's SEG/RT Structure Set exports,
//! and the saved nodes.

use super::case::user;
use crate::case::Case;
use crate::case::event::SentObject;
use crate::error::Error;
use crate::pacs::{self, Connection, Credentials, Endpoint, Progress, StudyQuery, nodes};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Arguments of `pacs`.
#[derive(Debug, clap::Args)]
pub struct PacsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// `pacs` actions.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Check that a node answers (C-ECHO, or a QIDO-RS search for DICOMweb).
    Echo(NodeArgs),
    /// Find studies (by patient, date, accession, modality), or the series of one study
    /// (--study).
    Find(FindArgs),
    /// Retrieve one series into a folder (C-GET or WADO-RS), with `retrieved.json`
    /// recording where it came from.
    Get(GetArgs),
    /// Send DICOM files, or a case's DICOM exports (recorded in the case), to a node
    /// (C-STORE or STOW-RS).
    Store(StoreArgs),
    /// List, add or remove saved nodes (addresses and user names; never passwords).
    Nodes(NodesArgs),
}

/// A node's address: DIMSE or DICOMweb (shared by every action and `nodes --add`).
#[derive(Debug, Clone, clap::Args)]
pub struct AddressArgs {
    /// A DIMSE node: AE@host:port, e.g. ORTHANC@127.0.0.1:4242.
    #[arg(long, value_name = "AE@HOST:PORT", conflicts_with = "url")]
    pub dimse: Option<String>,
    /// A DICOMweb service root, e.g. https://pacs.example.org/dicom-web.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Our AE title for DIMSE.
    #[arg(long, default_value = pacs::DEFAULT_CALLING_AE)]
    pub calling_ae: String,
    /// User for DICOMweb basic authentication; the password comes from the
    /// HOUNSFIELD_PACS_PASSWORD environment variable and is never stored or logged.
    #[arg(long)]
    pub user: Option<String>,
    /// A PEM CA certificate to trust for https (default: the system's trust store).
    #[arg(long, value_name = "FILE.pem")]
    pub ca_cert: Option<PathBuf>,
}

impl AddressArgs {
    /// The endpoint given, or `None` when neither --dimse nor --url is.
    fn endpoint(&self) -> Result<Option<Endpoint>, Error> {
        Ok(match (&self.dimse, &self.url) {
            (Some(a), _) => Some(Endpoint::parse_dimse(a, &self.calling_ae)?),
            (None, Some(u)) => Some(Endpoint::parse_web(
                u,
                self.user.clone(),
                self.ca_cert.clone(),
            )?),
            (None, None) => None,
        })
    }
}

/// Which node, and how to reach it.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// A saved node by name (see `hounsfield pacs nodes`).
    #[arg(long, conflicts_with_all = ["dimse", "url"], required_unless_present_any = ["dimse", "url"])]
    pub node: Option<String>,
    /// Or the address.
    #[command(flatten)]
    pub address: AddressArgs,
    /// Seconds to wait for a connection or an answer.
    #[arg(long, default_value_t = pacs::DEFAULT_TIMEOUT.as_secs())]
    pub timeout: u64,
}

impl NodeArgs {
    fn endpoint(&self) -> Result<Endpoint, Error> {
        if let Some(name) = &self.node {
            let mut e = nodes::find(name)?.endpoint;
            if let (Endpoint::Web { user, .. }, Some(u)) = (&mut e, &self.address.user) {
                *user = Some(u.clone());
            }
            return Ok(e);
        }
        self.address.endpoint()?.ok_or_else(|| {
            Error::BadInput("give a node: --node NAME, --dimse AE@HOST:PORT or --url URL".into())
        })
    }

    fn connection(&self) -> Result<Connection, Error> {
        if self.timeout == 0 || self.timeout > 3600 {
            return Err(Error::BadInput(
                "--timeout must be 1 to 3600 seconds".into(),
            ));
        }
        Ok(Connection {
            endpoint: self.endpoint()?,
            credentials: Credentials::from_env(),
            timeout: Duration::from_secs(self.timeout),
        })
    }
}

/// Arguments of `pacs find`.
#[derive(Debug, clap::Args)]
pub struct FindArgs {
    /// The node.
    #[command(flatten)]
    pub node: NodeArgs,
    /// Patient ID (wildcards * and ? allowed).
    #[arg(long, default_value = "")]
    pub patient_id: String,
    /// Patient's name (DICOM form, e.g. DOE^JANE*).
    #[arg(long, default_value = "")]
    pub patient_name: String,
    /// Study date YYYYMMDD or range YYYYMMDD-YYYYMMDD.
    #[arg(long, default_value = "")]
    pub study_date: String,
    /// Accession number.
    #[arg(long, default_value = "")]
    pub accession: String,
    /// A modality the study holds, e.g. CT.
    #[arg(long, default_value = "")]
    pub modality: String,
    /// List the series of this study instead.
    #[arg(long, value_name = "STUDY-UID")]
    pub study: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `pacs get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The node.
    #[command(flatten)]
    pub node: NodeArgs,
    /// Study Instance UID.
    #[arg(long, value_name = "UID")]
    pub study: String,
    /// Series Instance UID.
    #[arg(long, value_name = "UID")]
    pub series: String,
    /// The folder to retrieve into (made if absent; must hold no retrieval yet).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Arguments of `pacs store`.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// The node.
    #[command(flatten)]
    pub node: NodeArgs,
    /// DICOM files or folders of them to send.
    #[arg(
        value_name = "FILE",
        required_unless_present = "case",
        conflicts_with = "case"
    )]
    pub files: Vec<PathBuf>,
    /// Send this case's DICOM exports (SEG, RT Structure Set), checked against their
    /// recorded hashes, and record the transmission in the case.
    #[arg(long, value_name = "CASE")]
    pub case: Option<PathBuf>,
    /// Operator name recorded (default: $USER).
    #[arg(long)]
    pub operator: Option<String>,
}

/// Arguments of `pacs nodes`.
#[derive(Debug, clap::Args)]
pub struct NodesArgs {
    /// Save a node under this name (with --dimse or --url).
    #[arg(long, value_name = "NAME", conflicts_with = "remove")]
    pub add: Option<String>,
    /// Forget a saved node.
    #[arg(long, value_name = "NAME")]
    pub remove: Option<String>,
    /// The node to save.
    #[command(flatten)]
    pub address: AddressArgs,
}

/// Runs `pacs`.
pub fn run(a: &PacsArgs) -> Result<(), Error> {
    match &a.action {
        Action::Echo(n) => {
            let c = n.connection()?;
            let t = pacs::echo(&c)?;
            println!("{} answers ({} ms)", c.endpoint.describe(), t.as_millis());
            Ok(())
        }
        Action::Find(f) => find(f),
        Action::Get(g) => get(g),
        Action::Store(s) => store(s),
        Action::Nodes(n) => saved_nodes(n),
    }
}

fn find(f: &FindArgs) -> Result<(), Error> {
    let c = f.node.connection()?;
    if let Some(study) = &f.study {
        let series = pacs::find_series(&c, study)?;
        if f.json {
            return print_json(&series);
        }
        println!("{} series in study {study}:", series.len());
        for s in &series {
            println!(
                "  {:>4}  {:<4} {:>5} images  {:<32} {}",
                s.number,
                s.modality,
                s.instances.map_or("?".into(), |n| n.to_string()),
                s.description,
                s.series_uid
            );
        }
        return Ok(());
    }
    let q = StudyQuery {
        patient_id: f.patient_id.clone(),
        patient_name: f.patient_name.clone(),
        study_date: f.study_date.clone(),
        accession: f.accession.clone(),
        modality: f.modality.clone(),
        study_uid: String::new(),
    };
    let studies = pacs::find_studies(&c, &q)?;
    if f.json {
        return print_json(&studies);
    }
    println!("{} stud(ies) on {}:", studies.len(), c.endpoint.describe());
    for s in &studies {
        println!(
            "  {}  {:<24} {:<12} {:<8} {:>3} series  {}  {}",
            s.study_date,
            s.patient_name,
            s.patient_id,
            s.modalities,
            s.series.map_or("?".into(), |n| n.to_string()),
            s.description,
            s.study_uid
        );
    }
    Ok(())
}

/// One progress line on stderr, rewritten in place, at most once per percent.
fn progress_line(what: &str, p: Progress) {
    let n = p.done + p.failed;
    match p.total {
        Some(t) if t > 0 => {
            if n == t || (n * 100 / t) != ((n.saturating_sub(1)) * 100 / t) {
                eprint!("\r{what}: {n} of {t}");
            }
        }
        _ => eprint!("\r{what}: {n}"),
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<(), Error> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| Error::Failed(e.to_string()))?
    );
    Ok(())
}

fn get(g: &GetArgs) -> Result<(), Error> {
    let c = g.node.connection()?;
    let cancel = AtomicBool::new(false);
    let report = |p: Progress| progress_line("retrieving", p);
    let r = pacs::retrieve_series(&c, &g.study, &g.series, &g.out, &report, &cancel);
    eprintln!();
    let r = r?;
    println!(
        "retrieved {} instance(s) of series {} into {}{}",
        r.instances.len(),
        r.series_uid,
        g.out.display(),
        if r.failed > 0 {
            format!(" ({} failed at the archive)", r.failed)
        } else {
            String::new()
        }
    );
    Ok(())
}

fn store(s: &StoreArgs) -> Result<(), Error> {
    let c = s.node.connection()?;
    let cancel = AtomicBool::new(false);
    let report = |p: Progress| progress_line("sending", p);
    if let Some(case_dir) = &s.case {
        let (mut case, _) = Case::open(case_dir, &user(s.operator.as_deref()), None)?;
        let exports = case.dicom_exports()?;
        if exports.is_empty() {
            return Err(Error::BadInput(
                "the case has no DICOM export to send: make one with `hounsfield export-dicom`"
                    .into(),
            ));
        }
        let files: Vec<PathBuf> = exports.iter().map(|(_, p, _)| p.clone()).collect();
        let stored = pacs::store(&c, &files, &report, &cancel);
        eprintln!();
        let stored = stored?;
        let mut objects = Vec::new();
        for (seq, path, x) in &exports {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let find = |i: &pacs::Instance| Some(&i.file) == name.as_ref();
            let (instance, accepted, refusal) =
                if let Some(i) = stored.accepted.iter().find(|i| find(i)) {
                    (i.clone(), true, String::new())
                } else if let Some((i, why)) = stored.refused.iter().find(|(i, _)| find(i)) {
                    (i.clone(), false, why.clone())
                } else {
                    continue;
                };
            objects.push(SentObject {
                export_seq: *seq,
                path: x.path.clone(),
                sop_instance: instance.sop_instance,
                blake3: x.blake3.clone(),
                accepted,
                refusal,
            });
        }
        case.record_sent(&stored.node, objects)?;
        return summarise(&stored);
    }
    let mut files = Vec::new();
    for f in &s.files {
        if f.is_dir() {
            dicom_files_under(f, &mut files)?;
        } else {
            files.push(f.clone());
        }
    }
    let stored = pacs::store(&c, &files, &report, &cancel);
    eprintln!();
    summarise(&stored?)
}

/// The Part 10 files under a folder, at any depth, in path order (DICOMDIRs and other
/// files are left out).
fn dicom_files_under(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::BadInput(format!("cannot read {}: {e}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            dicom_files_under(&p, out)?;
        } else if p.is_file() && is_dicom_file(&p) && !is_dicomdir(&p) {
            out.push(p);
        }
    }
    Ok(())
}

fn is_dicomdir(p: &std::path::Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.eq_ignore_ascii_case("DICOMDIR"))
        || dicom_object::OpenFileOptions::new()
            .read_until(dicom_dictionary_std::tags::PATIENT_NAME)
            .open_file(p)
            .is_ok_and(|f| {
                f.meta().media_storage_sop_class_uid.trim_end_matches('\0')
                    == "1.2.840.10008.1.3.10"
            })
}

/// A Part 10 file: `DICM` after the 128-byte preamble.
fn is_dicom_file(p: &std::path::Path) -> bool {
    use std::io::Read;
    let mut b = [0u8; 132];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
        && &b[128..] == b"DICM"
}

fn summarise(s: &pacs::Stored) -> Result<(), Error> {
    println!(
        "{}: {} accepted, {} refused",
        s.node,
        s.accepted.len(),
        s.refused.len()
    );
    for (i, why) in &s.refused {
        println!("  refused {} ({}): {why}", i.file, i.sop_instance);
    }
    if s.accepted.is_empty() {
        return Err(Error::Failed(format!("{} accepted nothing", s.node)));
    }
    Ok(())
}

fn saved_nodes(n: &NodesArgs) -> Result<(), Error> {
    if let Some(name) = &n.add {
        let endpoint = n.address.endpoint()?.ok_or_else(|| {
            Error::BadInput("--add needs --dimse AE@HOST:PORT or --url URL".into())
        })?;
        println!("saved `{name}`: {}", endpoint.describe());
        nodes::add(nodes::SavedNode {
            name: name.clone(),
            endpoint,
        })?;
        return Ok(());
    }
    if let Some(name) = &n.remove {
        nodes::remove(name)?;
        println!("forgot `{name}`");
        return Ok(());
    }
    let saved = nodes::load()?;
    if saved.is_empty() {
        println!(
            "no saved node ({}); add one with `hounsfield pacs nodes --add NAME --dimse AE@HOST:PORT`",
            nodes::path()?.display()
        );
    }
    for s in saved {
        println!("{:<16} {}", s.name, s.endpoint.describe());
    }
    Ok(())
}
