//! DICOMweb with ureq: QIDO-RS searches (DICOM JSON), WADO-RS retrieval instance by
//! instance (so progress and cancel are exact and a large series never sits whole in
//! memory), STOW-RS of our objects. TLS through the system's OpenSSL and trust store, or a
//! given CA certificate; HTTP basic authentication with a password held only in memory.

use super::multipart;
use super::{
    Connection, Endpoint, Instance, OnProgress, Outgoing, PacsError, Progress, SeriesRecord,
    Stored, StudyQuery, StudyRecord, check_cancel, check_uid, trim_uid,
};
use base64::Engine;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::AtomicBool;

const DICOM_JSON: &str = "application/dicom+json";
/// The largest answer read into memory: one instance or one search.
const MAX_BODY: u64 = 2 << 30;

struct Client {
    agent: ureq::Agent,
    root: String,
    auth: Option<String>,
    node: String,
}

impl Client {
    fn new(c: &Connection) -> Result<Self, PacsError> {
        let Endpoint::Web { url, user, ca_cert } = &c.endpoint else {
            return Err(PacsError::BadInput("not a DICOMweb node".into()));
        };
        let node = c.endpoint.describe();
        let roots = match ca_cert {
            Some(p) => {
                let pem = std::fs::read(p).map_err(|e| {
                    PacsError::BadInput(format!(
                        "cannot read the CA certificate {}: {e}",
                        p.display()
                    ))
                })?;
                let cert = ureq::tls::Certificate::from_pem(&pem).map_err(|e| {
                    PacsError::BadInput(format!(
                        "{} is not a PEM certificate ({e}): give the CA that signed the server's certificate",
                        p.display()
                    ))
                })?;
                ureq::tls::RootCerts::new_with_certs(&[cert.to_owned()])
            }
            None => ureq::tls::RootCerts::PlatformVerifier,
        };
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .root_certs(roots)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .timeout_connect(Some(c.timeout))
            .timeout_recv_response(Some(c.timeout))
            .timeout_per_read(Some(c.timeout))
            .user_agent(concat!("hounsfield/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let auth = match (user, &c.credentials.password) {
            (None, _) => None,
            (Some(u), Some(p)) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )),
            (Some(u), None) => {
                return Err(PacsError::BadInput(format!(
                    "{node} needs a password for user {u}: set HOUNSFIELD_PACS_PASSWORD (it is never stored)"
                )));
            }
        };
        Ok(Self {
            agent,
            root: url.clone(),
            auth,
            node,
        })
    }

    fn get(&self, path: &str, accept: &str) -> Result<(String, Vec<u8>), PacsError> {
        let url = format!("{}{path}", self.root);
        let mut r = self.agent.get(&url).header("Accept", accept);
        if let Some(a) = &self.auth {
            r = r.header("Authorization", a);
        }
        let resp = r.call().map_err(|e| self.transport(&e))?;
        self.body(resp, path)
    }

    fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(String, Vec<u8>), PacsError> {
        let url = format!("{}{path}", self.root);
        let mut r = self
            .agent
            .post(&url)
            .header("Content-Type", content_type)
            .header("Accept", DICOM_JSON);
        if let Some(a) = &self.auth {
            r = r.header("Authorization", a);
        }
        let resp = r.send(body).map_err(|e| self.transport(&e))?;
        self.body(resp, path)
    }

    fn body(
        &self,
        mut resp: ureq::http::Response<ureq::Body>,
        path: &str,
    ) -> Result<(String, Vec<u8>), PacsError> {
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| self.transport(&e))?;
        match status {
            200..=299 | 409 => Ok((ct, body)),
            401 | 403 => Err(PacsError::Failed(format!(
                "{} refused our credentials (HTTP {status}): check --user and HOUNSFIELD_PACS_PASSWORD",
                self.node
            ))),
            404 => Err(PacsError::Failed(format!(
                "{} has nothing at {path} (HTTP 404): check the service root URL and the UIDs",
                self.node
            ))),
            _ => Err(PacsError::Failed(format!(
                "{} answered HTTP {status} for {path}: {}",
                self.node,
                String::from_utf8_lossy(&body[..body.len().min(300)]).trim()
            ))),
        }
    }

    fn transport(&self, e: &ureq::Error) -> PacsError {
        let node = &self.node;
        PacsError::Failed(match e {
            ureq::Error::Timeout(t) => format!(
                "{node} did not answer in time ({t}): check the URL and network, or raise --timeout"
            ),
            ureq::Error::HostNotFound => format!("{node}: host not found — check the URL"),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
                "nothing answers at {node}: connection refused — check the URL's host and port, and that the server runs"
            ),
            ureq::Error::Tls(m) => {
                format!("TLS with {node} failed: {m} (a private CA? give it with --ca-cert)")
            }
            // native-tls reports handshake and certificate failures as its own variant.
            other if other.to_string().to_ascii_lowercase().contains("tls") => {
                format!("TLS with {node} failed: {other} (a private CA? give it with --ca-cert)")
            }
            other => format!("cannot reach {node}: {other}"),
        })
    }

    fn json(&self, path: &str) -> Result<Vec<Value>, PacsError> {
        let (_, body) = self.get(path, DICOM_JSON)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new()); // 204 No Content: nothing matched
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Array(v)) => Ok(v),
            Ok(_) | Err(_) => Err(PacsError::Failed(format!(
                "{} did not answer {path} with a DICOM JSON array",
                self.node
            ))),
        }
    }
}

/// A search for no study at all: proves the service answers and accepts our credentials.
pub fn echo(c: &Connection) -> Result<(), PacsError> {
    Client::new(c)?
        .json("/studies?limit=1&StudyInstanceUID=1.2.3.4.5.6.7.8.9")
        .map(|_| ())
}

/// QIDO-RS study search.
pub fn find_studies(c: &Connection, q: &StudyQuery) -> Result<Vec<StudyRecord>, PacsError> {
    let client = Client::new(c)?;
    let mut params = vec![
        "includefield=StudyDescription".to_string(),
        "includefield=ModalitiesInStudy".to_string(),
        "includefield=NumberOfStudyRelatedSeries".to_string(),
        "includefield=NumberOfStudyRelatedInstances".to_string(),
    ];
    for (k, v) in [
        ("PatientID", &q.patient_id),
        ("PatientName", &q.patient_name),
        ("StudyDate", &q.study_date),
        ("AccessionNumber", &q.accession),
        ("ModalitiesInStudy", &q.modality),
        ("StudyInstanceUID", &q.study_uid),
    ] {
        if !v.is_empty() {
            params.push(format!("{k}={}", percent(v)));
        }
    }
    let found = client.json(&format!("/studies?{}", params.join("&")))?;
    Ok(found
        .iter()
        .map(|o| StudyRecord {
            study_uid: jtext(o, "0020000D"),
            patient_name: jtext(o, "00100010"),
            patient_id: jtext(o, "00100020"),
            study_date: jtext(o, "00080020"),
            description: jtext(o, "00081030"),
            accession: jtext(o, "00080050"),
            modalities: jtexts(o, "00080061"),
            series: jtext(o, "00201206").parse().ok(),
            instances: jtext(o, "00201208").parse().ok(),
        })
        .filter(|s| !s.study_uid.is_empty())
        .collect())
}

/// QIDO-RS series search in a study.
pub fn find_series(c: &Connection, study_uid: &str) -> Result<Vec<SeriesRecord>, PacsError> {
    let client = Client::new(c)?;
    let found = client.json(&format!(
        "/studies/{study_uid}/series?includefield=SeriesDescription&includefield=NumberOfSeriesRelatedInstances"
    ))?;
    Ok(found
        .iter()
        .map(|o| SeriesRecord {
            study_uid: study_uid.to_string(),
            series_uid: jtext(o, "0020000E"),
            modality: jtext(o, "00080060"),
            number: jtext(o, "00200011"),
            description: jtext(o, "0008103E"),
            instances: jtext(o, "00201209").parse().ok(),
        })
        .filter(|s| !s.series_uid.is_empty())
        .collect())
}

/// WADO-RS, one instance at a time, each kept in the transfer syntax the archive holds.
pub fn get_series(
    c: &Connection,
    study_uid: &str,
    series_uid: &str,
    dest: &Path,
    progress: OnProgress,
    cancel: &AtomicBool,
) -> Result<(Vec<Instance>, u32), PacsError> {
    let client = Client::new(c)?;
    let base = format!("/studies/{study_uid}/series/{series_uid}");
    let listed = client.json(&format!("{base}/instances"))?;
    let uids: Vec<String> = listed
        .iter()
        .map(|o| jtext(o, "00080018"))
        .filter(|u| check_uid(u).is_ok())
        .collect();
    let mut p = Progress {
        total: Some(uids.len() as u32),
        ..Default::default()
    };
    progress(p);
    let mut got = Vec::with_capacity(uids.len());
    for uid in &uids {
        check_cancel(cancel)?;
        let (ct, body) = client.get(
            &format!("{base}/instances/{uid}"),
            "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
        )?;
        let parts = match multipart::boundary(&ct) {
            Some(b) => multipart::parse(&body, &b),
            None => Err(format!("Content-Type `{ct}` has no boundary")),
        }
        .map_err(|e| {
            PacsError::Failed(format!(
                "{} sent a damaged answer for {uid}: {e}",
                client.node
            ))
        })?;
        let Some(part) = parts.into_iter().next() else {
            p.failed += 1;
            progress(p);
            continue;
        };
        got.push(keep_part10(dest, uid, &part.body, &client.node)?);
        p.done += 1;
        progress(p);
    }
    Ok((got, p.failed))
}

/// Checks a received Part 10 file names the instance asked for, and writes it as it came.
fn keep_part10(dest: &Path, uid: &str, bytes: &[u8], node: &str) -> Result<Instance, PacsError> {
    let damaged =
        |why: String| PacsError::Failed(format!("{node} sent a damaged instance {uid}: {why}"));
    if bytes.len() < 132 || &bytes[128..132] != b"DICM" {
        return Err(damaged("no DICOM file header".into()));
    }
    let meta = dicom_object::FileMetaTable::from_reader(&bytes[128..])
        .map_err(|e| damaged(e.to_string()))?;
    let instance = trim_uid(&meta.media_storage_sop_instance_uid);
    if instance != uid {
        return Err(damaged(format!("it is instance {instance}")));
    }
    let file = format!("{uid}.dcm");
    let path = dest.join(&file);
    crate::io::atomic::write_atomic(&path, |w| {
        use std::io::Write;
        w.write_all(bytes)
    })
    .map_err(|e| PacsError::Failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(Instance {
        sop_class: trim_uid(&meta.media_storage_sop_class_uid),
        sop_instance: instance,
        file,
        blake3: blake3::hash(bytes).to_hex().to_string(),
    })
}

/// STOW-RS, one request per file, so progress is per instance and a refusal names it.
pub(crate) fn store(
    c: &Connection,
    objects: &[Outgoing],
    progress: OnProgress,
    cancel: &AtomicBool,
) -> Result<Stored, PacsError> {
    let client = Client::new(c)?;
    let (mut stored, mut p) = Stored::start(&client.node, objects.len());
    for o in objects {
        check_cancel(cancel)?;
        let (body, b) = multipart::build(&[&o.bytes], "application/dicom");
        let ct = format!("multipart/related; type=\"application/dicom\"; boundary={b}");
        let (_, answer) = client.post("/studies", &ct, &body)?;
        let v: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        let accepted = v["00081199"]["Value"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|i| jtext(i, "00081155") == o.instance.sop_instance)
        });
        if accepted {
            stored.accepted.push(o.instance.clone());
            p.done += 1;
        } else {
            let reason = v["00081198"]["Value"]
                .as_array()
                .and_then(|items| items.first())
                .map(|i| format!("failure reason {}", jtext(i, "00081197")))
                .unwrap_or_else(|| "the archive did not list it as stored".into());
            stored.refused.push((o.instance.clone(), reason));
            p.failed += 1;
        }
        progress(p);
    }
    Ok(stored)
}

/// The first value of a DICOM JSON attribute as text (a person name's alphabetic form).
fn jtext(o: &Value, tag: &str) -> String {
    match &o[tag]["Value"][0] {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(m) => m
            .get("Alphabetic")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}

/// Every value of a DICOM JSON attribute, backslash-separated as in DICOM.
fn jtexts(o: &Value, tag: &str) -> String {
    o[tag]["Value"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\\")
        })
        .unwrap_or_default()
}

/// Percent-encodes a query value (RFC 3986 unreserved characters and `*` pass).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'*' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dicom_json_values_read_as_text() {
        let v: Value = serde_json::from_str(
            r#"{"00100010":{"vr":"PN","Value":[{"Alphabetic":"Doe^Jane"}]},
                "00201208":{"vr":"IS","Value":[70]},
                "00080061":{"vr":"CS","Value":["CT","SEG"]}}"#,
        )
        .unwrap();
        assert_eq!(jtext(&v, "00100010"), "Doe^Jane");
        assert_eq!(jtext(&v, "00201208"), "70");
        assert_eq!(jtexts(&v, "00080061"), "CT\\SEG");
        assert_eq!(jtext(&v, "00081030"), "");
        assert_eq!(percent("Doe^J* 1"), "Doe%5EJ*%201");
    }

    #[test]
    fn a_user_without_a_password_is_told_what_to_set() {
        let c = Connection {
            endpoint: Endpoint::parse_web("http://127.0.0.1:9/dicom-web", Some("eng".into()), None)
                .unwrap(),
            credentials: Default::default(),
            timeout: std::time::Duration::from_secs(1),
        };
        let m = echo(&c).unwrap_err().to_string();
        assert!(m.contains("HOUNSFIELD_PACS_PASSWORD"), "{m}");
    }
}
