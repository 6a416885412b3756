//! The hospital's archive: find studies and series, retrieve a series into a folder, and
//! send our DICOM objects (SEG, RT Structure Set) back — over DIMSE ([`dimse`]: C-ECHO,
//! C-FIND, C-GET, C-STORE with dicom-ul) or DICOMweb ([`web`]: QIDO-RS, WADO-RS, STOW-RS).
//! One set of operations, two transports: the CLI and the window call these and never
//! know which one a node speaks.
//!
//! Credentials live only in memory ([`Credentials`] has no serialised form and a redacted
//! `Debug`); saved nodes ([`nodes`]) keep addresses and user names, never passwords.

pub mod dimse;
pub mod multipart;
pub mod nodes;
pub mod web;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Our AE title when none is given.
pub const DEFAULT_CALLING_AE: &str = "HOUNSFIELD";

/// How long to wait for a connection or an answer when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a node is and how to speak to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Endpoint {
    /// A DIMSE application entity.
    Dimse {
        /// The archive's AE title (the called AE).
        ae_title: String,
        /// Host name or address.
        host: String,
        /// TCP port.
        port: u16,
        /// Our AE title (the calling AE).
        calling_ae: String,
    },
    /// A DICOMweb service root, e.g. `https://pacs.example.org/dicom-web`.
    Web {
        /// The service root URL (no trailing slash needed).
        url: String,
        /// The user for HTTP basic authentication (the password is never stored).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// A PEM file with the certificate authority to trust instead of the system's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_cert: Option<PathBuf>,
    },
}

impl Endpoint {
    /// A DIMSE endpoint from an `AE@host:port` address.
    pub fn parse_dimse(address: &str, calling_ae: &str) -> Result<Self, PacsError> {
        let bad = || {
            PacsError::BadInput(format!(
                "`{address}` is not a DIMSE address: give AE@host:port, e.g. ORTHANC@127.0.0.1:4242"
            ))
        };
        let (ae, rest) = address.split_once('@').ok_or_else(bad)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        check_ae(ae)?;
        check_ae(calling_ae)?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Self::Dimse {
            ae_title: ae.to_string(),
            host: host.to_string(),
            port,
            calling_ae: calling_ae.to_string(),
        })
    }

    /// A DICOMweb endpoint from its service root URL.
    pub fn parse_web(
        url: &str,
        user: Option<String>,
        ca_cert: Option<PathBuf>,
    ) -> Result<Self, PacsError> {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) || url.len() < 10 {
            return Err(PacsError::BadInput(format!(
                "`{url}` is not a DICOMweb URL: give the service root, e.g. http://127.0.0.1:8042/dicom-web"
            )));
        }
        if url.contains('@') {
            return Err(PacsError::BadInput(
                "put no user or password in the URL (it would show in logs): use --user and the HOUNSFIELD_PACS_PASSWORD variable".into(),
            ));
        }
        Ok(Self::Web {
            url: url.trim_end_matches('/').to_string(),
            user,
            ca_cert,
        })
    }

    /// The node in words, safe for logs and records (never a password).
    pub fn describe(&self) -> String {
        match self {
            Self::Dimse {
                ae_title,
                host,
                port,
                calling_ae,
            } => format!("DIMSE {ae_title}@{host}:{port} (as {calling_ae})"),
            Self::Web { url, user, .. } => match user {
                Some(u) => format!("DICOMweb {url} (user {u})"),
                None => format!("DICOMweb {url}"),
            },
        }
    }
}

/// An AE title is 1–16 characters of printable ASCII, no backslash.
fn check_ae(ae: &str) -> Result<(), PacsError> {
    let ok = !ae.trim().is_empty()
        && ae.len() <= 16
        && ae.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(PacsError::BadInput(format!(
            "`{ae}` is not an AE title: 1 to 16 printable ASCII characters"
        )))
    }
}

/// A password for a node, held only in memory.
#[derive(Clone, Default)]
pub struct Credentials {
    /// The password (HTTP basic authentication for DICOMweb).
    pub password: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.password.is_some() {
            "Credentials(password: <redacted>)"
        } else {
            "Credentials(none)"
        })
    }
}

impl Credentials {
    /// The password from `HOUNSFIELD_PACS_PASSWORD`, if set.
    pub fn from_env() -> Self {
        Self {
            password: std::env::var("HOUNSFIELD_PACS_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty()),
        }
    }
}

/// A node and how to reach it now.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Where and how.
    pub endpoint: Endpoint,
    /// Its password, if it needs one.
    pub credentials: Credentials,
    /// Connection and answer timeout.
    pub timeout: Duration,
}

/// What went wrong talking to an archive.
#[derive(Debug, thiserror::Error)]
pub enum PacsError {
    /// The request or the node is wrong (exit code 2).
    #[error("{0}")]
    BadInput(String),
    /// The archive could not be reached, refused, timed out or failed (exit code 1).
    #[error("{0}")]
    Failed(String),
    /// The operator cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl From<PacsError> for crate::error::Error {
    fn from(e: PacsError) -> Self {
        match e {
            PacsError::BadInput(m) => Self::BadInput(m),
            PacsError::Failed(m) => Self::Failed(m),
            PacsError::Cancelled => Self::Failed("cancelled".into()),
        }
    }
}

/// Matching keys of a study search; empty fields match everything. Wildcards `*` and `?`
/// and date ranges (`20200101-20201231`) are passed to the archive as DICOM matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyQuery {
    /// Patient ID.
    pub patient_id: String,
    /// Patient's name.
    pub patient_name: String,
    /// Study date or range.
    pub study_date: String,
    /// Accession number.
    pub accession: String,
    /// A modality the study holds (e.g. CT).
    pub modality: String,
    /// One study by its UID.
    pub study_uid: String,
}

/// A study the archive holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StudyRecord {
    /// Study Instance UID.
    pub study_uid: String,
    /// Patient's name.
    pub patient_name: String,
    /// Patient ID.
    pub patient_id: String,
    /// Study date (YYYYMMDD).
    pub study_date: String,
    /// Study description.
    pub description: String,
    /// Accession number.
    pub accession: String,
    /// Modalities in the study.
    pub modalities: String,
    /// Number of series, when the archive says.
    pub series: Option<u32>,
    /// Number of instances, when the archive says.
    pub instances: Option<u32>,
}

/// A series of a study.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeriesRecord {
    /// Study Instance UID.
    pub study_uid: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// Modality.
    pub modality: String,
    /// Series number.
    pub number: String,
    /// Series description.
    pub description: String,
    /// Number of instances, when the archive says.
    pub instances: Option<u32>,
}

/// Progress of a retrieval or a store: what is done of what is known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Instances done.
    pub done: u32,
    /// Instances failed.
    pub failed: u32,
    /// Instances expected in all, once known.
    pub total: Option<u32>,
}

/// Reports progress; returns nothing, must be cheap.
pub type OnProgress<'a> = &'a (dyn Fn(Progress) + Sync);

/// One retrieved or sent instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// SOP Class UID.
    pub sop_class: String,
    /// SOP Instance UID.
    pub sop_instance: String,
    /// The file, for retrievals: its name in the folder.
    pub file: String,
    /// blake3 of the file's bytes.
    pub blake3: String,
}

/// What a retrieval brought: written beside the files as `retrieved.json`, so the folder
/// says where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retrieval {
    /// The node in words (no password).
    pub node: String,
    /// Study Instance UID.
    pub study_uid: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// When the retrieval finished (UTC, RFC 3339).
    pub retrieved_at: String,
    /// The instances, sorted by file name.
    pub instances: Vec<Instance>,
    /// Instances the archive reported as failed.
    pub failed: u32,
}

/// The manifest a retrieval writes into its folder.
pub const MANIFEST: &str = "retrieved.json";

/// What a store sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stored {
    /// The node in words.
    pub node: String,
    /// Instances the archive accepted.
    pub accepted: Vec<Instance>,
    /// Instances refused, with the archive's reason.
    pub refused: Vec<(Instance, String)>,
}

impl Stored {
    /// Nothing sent yet to `node`, and the progress of sending `n` objects.
    pub(crate) fn start(node: &str, n: usize) -> (Self, Progress) {
        (
            Self {
                node: node.to_string(),
                accepted: Vec::new(),
                refused: Vec::new(),
            },
            Progress {
                total: Some(n as u32),
                ..Default::default()
            },
        )
    }
}

/// Checks that a node answers: C-ECHO, or a QIDO-RS search for nothing.
pub fn echo(c: &Connection) -> Result<Duration, PacsError> {
    let t = std::time::Instant::now();
    match &c.endpoint {
        Endpoint::Dimse { .. } => dimse::echo(c)?,
        Endpoint::Web { .. } => web::echo(c)?,
    }
    Ok(t.elapsed())
}

/// Studies matching a query.
pub fn find_studies(c: &Connection, q: &StudyQuery) -> Result<Vec<StudyRecord>, PacsError> {
    let mut v = match &c.endpoint {
        Endpoint::Dimse { .. } => dimse::find_studies(c, q)?,
        Endpoint::Web { .. } => web::find_studies(c, q)?,
    };
    v.sort_by(|a, b| {
        (b.study_date.as_str(), a.study_uid.as_str())
            .cmp(&(a.study_date.as_str(), b.study_uid.as_str()))
    });
    Ok(v)
}

/// The series of a study.
pub fn find_series(c: &Connection, study_uid: &str) -> Result<Vec<SeriesRecord>, PacsError> {
    check_uid(study_uid)?;
    let mut v = match &c.endpoint {
        Endpoint::Dimse { .. } => dimse::find_series(c, study_uid)?,
        Endpoint::Web { .. } => web::find_series(c, study_uid)?,
    };
    v.sort_by_key(|s| {
        (
            s.number.trim().parse::<i64>().unwrap_or(i64::MAX),
            s.series_uid.clone(),
        )
    });
    Ok(v)
}

/// Retrieves one series into `dest` (created if absent; must hold no DICOM files yet),
/// writing each instance atomically as `<SOP Instance UID>.dcm` and the manifest last.
/// A cancelled or failed retrieval leaves the files it finished and no manifest.
pub fn retrieve_series(
    c: &Connection,
    study_uid: &str,
    series_uid: &str,
    dest: &Path,
    progress: OnProgress,
    cancel: &AtomicBool,
) -> Result<Retrieval, PacsError> {
    check_uid(study_uid)?;
    check_uid(series_uid)?;
    prepare_dest(dest)?;
    let (mut instances, failed) = match &c.endpoint {
        Endpoint::Dimse { .. } => {
            dimse::get_series(c, study_uid, series_uid, dest, progress, cancel)?
        }
        Endpoint::Web { .. } => web::get_series(c, study_uid, series_uid, dest, progress, cancel)?,
    };
    if instances.is_empty() {
        return Err(PacsError::Failed(format!(
            "{} sent no instance of series {series_uid} (study {study_uid}): check the UIDs with `hounsfield pacs find`",
            c.endpoint.describe()
        )));
    }
    instances.sort_by(|a, b| a.file.cmp(&b.file));
    let r = Retrieval {
        node: c.endpoint.describe(),
        study_uid: study_uid.to_string(),
        series_uid: series_uid.to_string(),
        retrieved_at: crate::segment::log::now_utc(),
        instances,
        failed,
    };
    let text = serde_json::to_string_pretty(&r).map_err(|e| PacsError::Failed(e.to_string()))?;
    let path = dest.join(MANIFEST);
    crate::io::atomic::write_atomic(&path, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())?;
        w.write_all(b"\n")
    })
    .map_err(|e| PacsError::Failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(r)
}

/// Sends DICOM files to a node (C-STORE or STOW-RS).
pub fn store(
    c: &Connection,
    files: &[PathBuf],
    progress: OnProgress,
    cancel: &AtomicBool,
) -> Result<Stored, PacsError> {
    if files.is_empty() {
        return Err(PacsError::BadInput("no file to send".into()));
    }
    let objects = files
        .iter()
        .map(|f| Outgoing::read(f))
        .collect::<Result<Vec<_>, _>>()?;
    match &c.endpoint {
        Endpoint::Dimse { .. } => dimse::store(c, &objects, progress, cancel),
        Endpoint::Web { .. } => web::store(c, &objects, progress, cancel),
    }
}

/// A DICOM file about to be sent.
pub(crate) struct Outgoing {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub object: dicom_object::DefaultDicomObject,
    pub instance: Instance,
}

impl Outgoing {
    fn read(path: &Path) -> Result<Self, PacsError> {
        let bytes = std::fs::read(path)
            .map_err(|e| PacsError::BadInput(format!("cannot read {}: {e}", path.display())))?;
        let object = dicom_object::from_reader(&bytes[128.min(bytes.len())..]).map_err(|e| {
            PacsError::BadInput(format!(
                "{} is not a DICOM file with a file meta header ({e}): send DICOM Part 10 files",
                path.display()
            ))
        })?;
        let meta = object.meta();
        let instance = Instance {
            sop_class: trim_uid(&meta.media_storage_sop_class_uid),
            sop_instance: trim_uid(&meta.media_storage_sop_instance_uid),
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            blake3: blake3::hash(&bytes).to_hex().to_string(),
        };
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            object,
            instance,
        })
    }

    /// The transfer syntax the file is in.
    pub fn transfer_syntax(&self) -> String {
        trim_uid(self.object.meta().transfer_syntax())
    }
}

/// A UID without the padding NUL or space.
pub(crate) fn trim_uid(s: &str) -> String {
    s.trim_end_matches(['\0', ' ']).to_string()
}

/// A UID is digits and dots, at most 64 characters.
pub(crate) fn check_uid(uid: &str) -> Result<(), PacsError> {
    let ok = !uid.is_empty()
        && uid.len() <= 64
        && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !uid.starts_with('.')
        && !uid.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(PacsError::BadInput(format!(
            "`{uid}` is not a DICOM UID (digits and dots, at most 64)"
        )))
    }
}

/// Makes `dest` and refuses one that already holds DICOM files: a retrieval never mixes
/// series or overwrites a folder's contents.
fn prepare_dest(dest: &Path) -> Result<(), PacsError> {
    std::fs::create_dir_all(dest).map_err(|e| {
        PacsError::BadInput(format!("cannot make the folder {}: {e}", dest.display()))
    })?;
    let entries = std::fs::read_dir(dest)
        .map_err(|e| PacsError::BadInput(format!("cannot read {}: {e}", dest.display())))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".dcm") || name == MANIFEST {
            return Err(PacsError::BadInput(format!(
                "{} already holds a retrieval ({name}): give an empty or new folder",
                dest.display()
            )));
        }
    }
    Ok(())
}

/// Writes one received instance as a Part 10 file: preamble, file meta, and the data set
/// bytes exactly as they came.
pub(crate) fn write_instance(
    dest: &Path,
    sop_class: &str,
    sop_instance: &str,
    transfer_syntax: &str,
    dataset: &[u8],
) -> Result<Instance, PacsError> {
    check_uid(sop_instance).map_err(|_| {
        PacsError::Failed(format!(
            "the archive sent an instance with an invalid SOP Instance UID `{sop_instance}`"
        ))
    })?;
    let meta = dicom_object::FileMetaTableBuilder::new()
        .transfer_syntax(transfer_syntax)
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .build()
        .map_err(|e| PacsError::Failed(format!("cannot make the file meta header: {e}")))?;
    let mut bytes = vec![0u8; 128];
    bytes.extend_from_slice(b"DICM");
    meta.write(&mut bytes)
        .map_err(|e| PacsError::Failed(format!("cannot encode the file meta header: {e}")))?;
    bytes.extend_from_slice(dataset);
    let file = format!("{sop_instance}.dcm");
    let path = dest.join(&file);
    crate::io::atomic::write_atomic(&path, |w| {
        use std::io::Write;
        w.write_all(&bytes)
    })
    .map_err(|e| PacsError::Failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(Instance {
        sop_class: sop_class.to_string(),
        sop_instance: sop_instance.to_string(),
        file,
        blake3: blake3::hash(&bytes).to_hex().to_string(),
    })
}

/// Fails with `Cancelled` once the operator asked.
pub(crate) fn check_cancel(cancel: &AtomicBool) -> Result<(), PacsError> {
    if cancel.load(Ordering::Relaxed) {
        Err(PacsError::Cancelled)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_bad_ones_say_what_to_give() {
        let e = Endpoint::parse_dimse("ORTHANC@127.0.0.1:4242", "HF").unwrap();
        assert_eq!(e.describe(), "DIMSE ORTHANC@127.0.0.1:4242 (as HF)");
        for bad in [
            "ORTHANC",
            "@h:1",
            "A@h",
            "A@h:x",
            "A@:1",
            "A@h:0",
            "WAYTOOLONGAETITLE1@h:1",
        ] {
            let m = Endpoint::parse_dimse(bad, "HF").unwrap_err().to_string();
            assert!(
                m.contains("AE@host:port") || m.contains("AE title"),
                "{bad}: {m}"
            );
        }
        let w = Endpoint::parse_web("https://pacs/dicom-web/", Some("eng".into()), None).unwrap();
        assert_eq!(w.describe(), "DICOMweb https://pacs/dicom-web (user eng)");
        assert!(Endpoint::parse_web("ftp://x/y", None, None).is_err());
        let m = Endpoint::parse_web("https://u:pw@pacs/dicom-web", None, None)
            .unwrap_err()
            .to_string();
        assert!(m.contains("--user") && !m.contains("pw@"), "{m}");
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let c = Credentials {
            password: Some("s3cret".into()),
        };
        let s = format!("{c:?}");
        assert!(!s.contains("s3cret") && s.contains("redacted"), "{s}");
    }

    #[test]
    fn uids_are_checked() {
        assert!(check_uid("1.2.840.10008.1.1").is_ok());
        for bad in ["", "1.2.a", ".1.2", "1.2.", &"1".repeat(65)] {
            assert!(check_uid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_received_instance_is_a_readable_part10_file() {
        let d = tempfile::tempdir().unwrap();
        let mut o = dicom_object::InMemDicomObject::new_empty();
        o.put(dicom_core::DataElement::new(
            dicom_dictionary_std::tags::SOP_INSTANCE_UID,
            dicom_core::VR::UI,
            "1.2.3.4",
        ));
        let mut ds = Vec::new();
        let ts = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
        o.write_dataset_with_ts(&mut ds, &ts).unwrap();
        let i = write_instance(
            d.path(),
            "1.2.840.10008.5.1.4.1.1.2",
            "1.2.3.4",
            "1.2.840.10008.1.2.1",
            &ds,
        )
        .unwrap();
        let f = dicom_object::open_file(d.path().join(&i.file)).unwrap();
        assert_eq!(
            trim_uid(&f.meta().media_storage_sop_instance_uid),
            "1.2.3.4"
        );
        assert_eq!(
            f.element(dicom_dictionary_std::tags::SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap(),
            "1.2.3.4"
        );
        let m = prepare_dest(d.path()).unwrap_err().to_string();
        assert!(m.contains("already holds"), "{m}");
    }
}
