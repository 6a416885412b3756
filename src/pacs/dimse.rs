//! DIMSE over dicom-ul: C-ECHO, C-FIND (study root, study and series level), C-GET with
//! the instances coming back as C-STORE sub-operations on the same association (so the
//! archive needs no route back to us, unlike C-MOVE), and C-STORE of our objects.
//!
//! dicom-ul gives associations and PDUs; the DIMSE messages (PS3.7 §9) are built here:
//! a command set in Implicit VR Little Endian with its group length, then the data set in
//! the transfer syntax negotiated for the presentation context.

use super::{
    Connection, Endpoint, Instance, OnProgress, Outgoing, PacsError, Progress, SeriesRecord,
    Stored, StudyQuery, StudyRecord, check_cancel, trim_uid, write_instance,
};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use dicom_ul::{ClientAssociation, ClientAssociationOptions};
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::AtomicBool;

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const VERIFICATION: &str = "1.2.840.10008.1.1";
const FIND_STUDY_ROOT: &str = "1.2.840.10008.5.1.4.1.2.2.1";
const GET_STUDY_ROOT: &str = "1.2.840.10008.5.1.4.1.2.2.3";

/// What a retrieval accepts: the image kinds a CT exam holds and our own objects.
const STORAGE_CLASSES: [&str; 8] = [
    "1.2.840.10008.5.1.4.1.1.2",     // CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",   // Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.7",     // Secondary Capture
    "1.2.840.10008.5.1.4.1.1.4",     // MR Image
    "1.2.840.10008.5.1.4.1.1.66.4",  // Segmentation
    "1.2.840.10008.5.1.4.1.1.481.3", // RT Structure Set
    "1.2.840.10008.5.1.4.1.1.88.22", // Enhanced SR
    "1.2.840.10008.5.1.4.1.1.1",     // CR Image
];

/// Transfer syntaxes we store as they come (the importer decodes all of them).
const STORAGE_SYNTAXES: [&str; 6] = [
    EXPLICIT_LE,
    IMPLICIT_LE,
    "1.2.840.10008.1.2.4.80", // JPEG-LS lossless
    "1.2.840.10008.1.2.4.90", // JPEG 2000 lossless
    "1.2.840.10008.1.2.4.70", // JPEG lossless, first-order prediction
    "1.2.840.10008.1.2.5",    // RLE lossless
];

// Command fields (PS3.7 E.1).
const C_STORE_RQ: u16 = 0x0001;
const C_STORE_RSP: u16 = 0x8001;
const C_GET_RQ: u16 = 0x0010;
const C_GET_RSP: u16 = 0x8010;
const C_FIND_RQ: u16 = 0x0020;
const C_FIND_RSP: u16 = 0x8020;
const C_ECHO_RQ: u16 = 0x0030;
const C_ECHO_RSP: u16 = 0x8030;
const C_CANCEL_RQ: u16 = 0x0FFF;
/// Command Data Set Type: no data set follows.
const NO_DATA_SET: u16 = 0x0101;

const PENDING: [u16; 2] = [0xFF00, 0xFF01];
const CANCELLED: u16 = 0xFE00;

/// A received DIMSE message.
struct Message {
    context: u8,
    command: InMemDicomObject,
    data: Option<Vec<u8>>,
}

impl Message {
    fn field(&self) -> u16 {
        uint(&self.command, tags::COMMAND_FIELD).unwrap_or(0)
    }
    fn status(&self) -> u16 {
        uint(&self.command, tags::STATUS).unwrap_or(0xFFFF)
    }
    fn error_comment(&self) -> String {
        text(&self.command, tags::ERROR_COMMENT)
            .map(|c| format!(": {c}"))
            .unwrap_or_default()
    }
}

/// An open association and what was negotiated.
struct Association {
    inner: Option<ClientAssociation<TcpStream>>,
    node: String,
    next_id: u16,
}

impl Association {
    /// Opens an association proposing `contexts`, taking the SCP role for `scp_roles`.
    fn open(
        c: &Connection,
        contexts: &[(&str, Vec<&str>)],
        scp_roles: &[&str],
    ) -> Result<Self, PacsError> {
        let Endpoint::Dimse {
            ae_title,
            host,
            port,
            calling_ae,
        } = &c.endpoint
        else {
            return Err(PacsError::BadInput("not a DIMSE node".into()));
        };
        let node = c.endpoint.describe();
        let mut o = ClientAssociationOptions::new()
            .calling_ae_title(calling_ae.as_str())
            .called_ae_title(ae_title.as_str())
            .connection_timeout(c.timeout)
            .read_timeout(c.timeout)
            .write_timeout(c.timeout);
        for (abstract_syntax, syntaxes) in contexts {
            o = o.with_presentation_context(*abstract_syntax, syntaxes.clone());
        }
        for class in scp_roles {
            o = o.with_role_selection(*class, false, true);
        }
        let mut a = o
            .establish((host.as_str(), *port))
            .map_err(|e| PacsError::Failed(association_error(&node, c, &e)))?;
        // A command and its data set go as separate small writes: without this, Nagle's
        // algorithm and the peer's delayed ACK cost ~40 ms per message.
        let _ = a.inner_stream().set_nodelay(true);
        Ok(Self {
            inner: Some(a),
            node,
            next_id: 1,
        })
    }

    fn assoc(&mut self) -> &mut ClientAssociation<TcpStream> {
        #[allow(clippy::expect_used)]
        self.inner
            .as_mut()
            .expect("the association is open until released")
    }

    /// The accepted presentation context for an abstract syntax, with its transfer syntax.
    fn context(&mut self, abstract_syntax: &str) -> Option<(u8, String)> {
        self.assoc()
            .presentation_contexts()
            .iter()
            .find(|p| trim_uid(&p.abstract_syntax) == abstract_syntax)
            .map(|p| (p.id, trim_uid(&p.transfer_syntax)))
    }

    fn transfer_syntax_of(&mut self, context: u8) -> Option<String> {
        self.assoc()
            .presentation_contexts()
            .iter()
            .find(|p| p.id == context)
            .map(|p| trim_uid(&p.transfer_syntax))
    }

    fn message_id(&mut self) -> u16 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    fn send_command(&mut self, context: u8, command: &InMemDicomObject) -> Result<(), PacsError> {
        let data = encode_command(command)?;
        let pdu = Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: context,
                value_type: PDataValueType::Command,
                is_last: true,
                data,
            }],
        };
        let node = self.node.clone();
        self.assoc()
            .send(&pdu)
            .map_err(|e| PacsError::Failed(format!("cannot send to {node}: {}", chain(&e))))
    }

    fn send_data(&mut self, context: u8, bytes: &[u8]) -> Result<(), PacsError> {
        let node = self.node.clone();
        let fail = |e: std::io::Error| PacsError::Failed(format!("cannot send to {node}: {e}"));
        let mut w = self.assoc().send_pdata(context);
        w.write_all(bytes).map_err(fail)?;
        w.finish().map_err(fail)
    }

    /// Receives one whole message: its command, then its data set when it has one.
    fn receive(&mut self) -> Result<Message, PacsError> {
        let mut command = Vec::new();
        let mut data = Vec::new();
        let mut parsed: Option<(u8, InMemDicomObject)> = None;
        loop {
            let node = self.node.clone();
            let pdu = self
                .assoc()
                .receive()
                .map_err(|e| PacsError::Failed(receive_error(&node, &e)))?;
            let values = match pdu {
                Pdu::PData { data } => data,
                Pdu::AbortRQ { source } => {
                    self.inner = None;
                    return Err(PacsError::Failed(format!(
                        "{node} aborted the association ({source:?})"
                    )));
                }
                Pdu::ReleaseRQ => {
                    self.inner = None;
                    return Err(PacsError::Failed(format!(
                        "{node} closed the association before answering"
                    )));
                }
                other => {
                    return Err(PacsError::Failed(format!(
                        "{node} sent an unexpected PDU: {}",
                        pdu_name(&other)
                    )));
                }
            };
            for v in values {
                match v.value_type {
                    PDataValueType::Command => {
                        command.extend_from_slice(&v.data);
                        if v.is_last {
                            let o = decode(&command, IMPLICIT_LE).map_err(|e| {
                                PacsError::Failed(format!("{node} sent a damaged command: {e}"))
                            })?;
                            let has_data = uint(&o, tags::COMMAND_DATA_SET_TYPE)
                                .is_some_and(|t| t != NO_DATA_SET);
                            if !has_data {
                                return Ok(Message {
                                    context: v.presentation_context_id,
                                    command: o,
                                    data: None,
                                });
                            }
                            parsed = Some((v.presentation_context_id, o));
                        }
                    }
                    PDataValueType::Data => {
                        data.extend_from_slice(&v.data);
                        if v.is_last {
                            let Some((context, command)) = parsed.take() else {
                                return Err(PacsError::Failed(format!(
                                    "{node} sent a data set before its command"
                                )));
                            };
                            return Ok(Message {
                                context,
                                command,
                                data: Some(std::mem::take(&mut data)),
                            });
                        }
                    }
                }
            }
        }
    }

    /// Releases the association (an A-RELEASE handshake).
    fn release(mut self) {
        if let Some(a) = self.inner.take() {
            let _ = a.release();
        }
    }
}

impl Drop for Association {
    fn drop(&mut self) {
        // Left open by an error: abort rather than leave the archive waiting.
        if let Some(a) = self.inner.take() {
            let _ = a.abort();
        }
    }
}

/// C-ECHO.
pub fn echo(c: &Connection) -> Result<(), PacsError> {
    let mut a = Association::open(c, &[(VERIFICATION, vec![IMPLICIT_LE, EXPLICIT_LE])], &[])?;
    let (pc, _) = need_context(&mut a, VERIFICATION, "verification (C-ECHO)")?;
    let id = a.message_id();
    let cmd = command(&[
        el(tags::AFFECTED_SOP_CLASS_UID, VR::UI, VERIFICATION),
        el(tags::COMMAND_FIELD, VR::US, C_ECHO_RQ),
        el(tags::MESSAGE_ID, VR::US, id),
        el(tags::COMMAND_DATA_SET_TYPE, VR::US, NO_DATA_SET),
    ]);
    a.send_command(pc, &cmd)?;
    let m = a.receive()?;
    if m.field() != C_ECHO_RSP || m.status() != 0 {
        return Err(PacsError::Failed(format!(
            "{} answered C-ECHO with status {:#06x}{}",
            a.node,
            m.status(),
            m.error_comment()
        )));
    }
    a.release();
    Ok(())
}

/// C-FIND at study level.
pub fn find_studies(c: &Connection, q: &StudyQuery) -> Result<Vec<StudyRecord>, PacsError> {
    let keys = vec![
        el(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "STUDY"),
        el(tags::STUDY_INSTANCE_UID, VR::UI, q.study_uid.as_str()),
        el(tags::PATIENT_NAME, VR::PN, q.patient_name.as_str()),
        el(tags::PATIENT_ID, VR::LO, q.patient_id.as_str()),
        el(tags::STUDY_DATE, VR::DA, q.study_date.as_str()),
        el(tags::ACCESSION_NUMBER, VR::SH, q.accession.as_str()),
        el(tags::MODALITIES_IN_STUDY, VR::CS, q.modality.as_str()),
        el(tags::STUDY_DESCRIPTION, VR::LO, ""),
        el(tags::NUMBER_OF_STUDY_RELATED_SERIES, VR::IS, ""),
        el(tags::NUMBER_OF_STUDY_RELATED_INSTANCES, VR::IS, ""),
    ];
    let found = find(c, keys)?;
    Ok(found
        .iter()
        .map(|o| StudyRecord {
            study_uid: text(o, tags::STUDY_INSTANCE_UID).unwrap_or_default(),
            patient_name: text(o, tags::PATIENT_NAME).unwrap_or_default(),
            patient_id: text(o, tags::PATIENT_ID).unwrap_or_default(),
            study_date: text(o, tags::STUDY_DATE).unwrap_or_default(),
            description: text(o, tags::STUDY_DESCRIPTION).unwrap_or_default(),
            accession: text(o, tags::ACCESSION_NUMBER).unwrap_or_default(),
            modalities: text(o, tags::MODALITIES_IN_STUDY).unwrap_or_default(),
            series: number(o, tags::NUMBER_OF_STUDY_RELATED_SERIES),
            instances: number(o, tags::NUMBER_OF_STUDY_RELATED_INSTANCES),
        })
        .collect())
}

/// C-FIND at series level.
pub fn find_series(c: &Connection, study_uid: &str) -> Result<Vec<SeriesRecord>, PacsError> {
    let keys = vec![
        el(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "SERIES"),
        el(tags::STUDY_INSTANCE_UID, VR::UI, study_uid),
        el(tags::SERIES_INSTANCE_UID, VR::UI, ""),
        el(tags::MODALITY, VR::CS, ""),
        el(tags::SERIES_NUMBER, VR::IS, ""),
        el(tags::SERIES_DESCRIPTION, VR::LO, ""),
        el(tags::NUMBER_OF_SERIES_RELATED_INSTANCES, VR::IS, ""),
    ];
    let found = find(c, keys)?;
    Ok(found
        .iter()
        .map(|o| SeriesRecord {
            study_uid: text(o, tags::STUDY_INSTANCE_UID).unwrap_or_else(|| study_uid.to_string()),
            series_uid: text(o, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
            modality: text(o, tags::MODALITY).unwrap_or_default(),
            number: text(o, tags::SERIES_NUMBER).unwrap_or_default(),
            description: text(o, tags::SERIES_DESCRIPTION).unwrap_or_default(),
            instances: number(o, tags::NUMBER_OF_SERIES_RELATED_INSTANCES),
        })
        .collect())
}

fn find(
    c: &Connection,
    keys: Vec<DataElement<InMemDicomObject>>,
) -> Result<Vec<InMemDicomObject>, PacsError> {
    let mut a = Association::open(c, &[(FIND_STUDY_ROOT, vec![EXPLICIT_LE, IMPLICIT_LE])], &[])?;
    let (pc, ts) = need_context(&mut a, FIND_STUDY_ROOT, "study root query (C-FIND)")?;
    let id = a.message_id();
    let cmd = command(&[
        el(tags::AFFECTED_SOP_CLASS_UID, VR::UI, FIND_STUDY_ROOT),
        el(tags::COMMAND_FIELD, VR::US, C_FIND_RQ),
        el(tags::MESSAGE_ID, VR::US, id),
        el(tags::PRIORITY, VR::US, 0u16),
        el(tags::COMMAND_DATA_SET_TYPE, VR::US, 0x0001u16),
    ]);
    a.send_command(pc, &cmd)?;
    a.send_data(
        pc,
        &encode(&InMemDicomObject::from_element_iter(keys), &ts)?,
    )?;
    let mut out = Vec::new();
    loop {
        let m = a.receive()?;
        if m.field() != C_FIND_RSP {
            return Err(PacsError::Failed(format!(
                "{} answered C-FIND with command {:#06x}",
                a.node,
                m.field()
            )));
        }
        let status = m.status();
        if PENDING.contains(&status) {
            let Some(data) = &m.data else { continue };
            let o = decode(data, &ts).map_err(|e| {
                PacsError::Failed(format!("{} sent a damaged C-FIND answer: {e}", a.node))
            })?;
            out.push(o);
        } else if status == 0 {
            break;
        } else {
            return Err(PacsError::Failed(format!(
                "{} refused the search: C-FIND status {status:#06x}{}",
                a.node,
                m.error_comment()
            )));
        }
    }
    a.release();
    Ok(out)
}

/// C-GET of one series; the instances arrive as C-STORE requests on the same association.
pub fn get_series(
    c: &Connection,
    study_uid: &str,
    series_uid: &str,
    dest: &Path,
    progress: OnProgress,
    cancel: &AtomicBool,
) -> Result<(Vec<Instance>, u32), PacsError> {
    let mut contexts = vec![(GET_STUDY_ROOT, vec![EXPLICIT_LE, IMPLICIT_LE])];
    for class in STORAGE_CLASSES {
        contexts.push((class, STORAGE_SYNTAXES.to_vec()));
    }
    let mut a = Association::open(c, &contexts, &STORAGE_CLASSES)?;
    let (pc, ts) = need_context(&mut a, GET_STUDY_ROOT, "study root retrieve (C-GET)")?;
    let id = a.message_id();
    let cmd = command(&[
        el(tags::AFFECTED_SOP_CLASS_UID, VR::UI, GET_STUDY_ROOT),
        el(tags::COMMAND_FIELD, VR::US, C_GET_RQ),
        el(tags::MESSAGE_ID, VR::US, id),
        el(tags::PRIORITY, VR::US, 0u16),
        el(tags::COMMAND_DATA_SET_TYPE, VR::US, 0x0001u16),
    ]);
    let keys = InMemDicomObject::from_element_iter([
        el(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "SERIES"),
        el(tags::STUDY_INSTANCE_UID, VR::UI, study_uid),
        el(tags::SERIES_INSTANCE_UID, VR::UI, series_uid),
    ]);
    a.send_command(pc, &cmd)?;
    a.send_data(pc, &encode(&keys, &ts)?)?;
    let mut got = Vec::new();
    let mut p = Progress::default();
    let mut cancel_sent = false;
    let mut write_error: Option<PacsError> = None;
    loop {
        if !cancel_sent && check_cancel(cancel).is_err() {
            a.send_command(pc, &cancel_request(id))?;
            cancel_sent = true;
        }
        let m = a.receive()?;
        match m.field() {
            C_STORE_RQ => {
                let class = text(&m.command, tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default();
                let instance =
                    text(&m.command, tags::AFFECTED_SOP_INSTANCE_UID).unwrap_or_default();
                let sub_id = uint(&m.command, tags::MESSAGE_ID).unwrap_or(0);
                let sub_ts = a.transfer_syntax_of(m.context).unwrap_or_default();
                let written = match (&m.data, &write_error) {
                    (Some(data), None) => write_instance(dest, &class, &instance, &sub_ts, data),
                    (None, None) => Err(PacsError::Failed(format!(
                        "{} sent instance {instance} without its data set",
                        a.node
                    ))),
                    (_, Some(_)) => Err(PacsError::Cancelled),
                };
                // 0xA700: out of resources — the archive marks the sub-operation failed.
                let status = if written.is_ok() { 0u16 } else { 0xA700 };
                let rsp = command(&[
                    el(tags::AFFECTED_SOP_CLASS_UID, VR::UI, class.as_str()),
                    el(tags::COMMAND_FIELD, VR::US, C_STORE_RSP),
                    el(tags::MESSAGE_ID_BEING_RESPONDED_TO, VR::US, sub_id),
                    el(tags::COMMAND_DATA_SET_TYPE, VR::US, NO_DATA_SET),
                    el(tags::STATUS, VR::US, status),
                    el(tags::AFFECTED_SOP_INSTANCE_UID, VR::UI, instance.as_str()),
                ]);
                a.send_command(m.context, &rsp)?;
                match written {
                    Ok(i) => {
                        got.push(i);
                        p.done += 1;
                        progress(p);
                    }
                    Err(PacsError::Cancelled) => {}
                    Err(e) => {
                        // Keep answering until the archive ends the C-GET, then report.
                        write_error = Some(e);
                        if !cancel_sent {
                            a.send_command(pc, &cancel_request(id))?;
                            cancel_sent = true;
                        }
                    }
                }
            }
            C_GET_RSP => {
                let status = m.status();
                let remaining = uint(&m.command, tags::NUMBER_OF_REMAINING_SUBOPERATIONS);
                let failed = uint(&m.command, tags::NUMBER_OF_FAILED_SUBOPERATIONS).unwrap_or(0);
                p.failed = u32::from(failed);
                if let Some(r) = remaining {
                    p.total = Some(p.done + p.failed + u32::from(r));
                }
                if PENDING.contains(&status) {
                    progress(p);
                    continue;
                }
                a.release();
                if let Some(e) = write_error {
                    return Err(e);
                }
                if status == CANCELLED || cancel_sent {
                    return Err(PacsError::Cancelled);
                }
                // 0xB000: some sub-operations failed — a warning; the manifest counts them.
                if status != 0 && status != 0xB000 {
                    return Err(PacsError::Failed(format!(
                        "{} could not send the series: C-GET status {status:#06x}{}",
                        c.endpoint.describe(),
                        m.error_comment()
                    )));
                }
                p.total = Some(p.done + p.failed);
                progress(p);
                return Ok((got, p.failed));
            }
            other => {
                return Err(PacsError::Failed(format!(
                    "{} sent command {other:#06x} during C-GET",
                    a.node
                )));
            }
        }
    }
}

/// C-STORE of each file, in the transfer syntax the archive accepts for its class.
pub(crate) fn store(
    c: &Connection,
    objects: &[Outgoing],
    progress: OnProgress,
    cancel: &AtomicBool,
) -> Result<Stored, PacsError> {
    let mut proposed: Vec<(String, Vec<String>)> = Vec::new();
    for o in objects {
        let class = o.instance.sop_class.clone();
        let ts = o.transfer_syntax();
        let mut syntaxes = vec![ts.clone()];
        if is_native(&ts) {
            syntaxes.extend([EXPLICIT_LE.to_string(), IMPLICIT_LE.to_string()]);
        }
        syntaxes.dedup();
        match proposed.iter_mut().find(|(c, _)| *c == class) {
            Some((_, v)) => {
                for s in syntaxes {
                    if !v.contains(&s) {
                        v.push(s);
                    }
                }
            }
            None => proposed.push((class, syntaxes)),
        }
    }
    if proposed.len() > 127 {
        return Err(PacsError::BadInput(
            "more than 127 kinds of object in one store: send them in parts".into(),
        ));
    }
    let contexts: Vec<(&str, Vec<&str>)> = proposed
        .iter()
        .map(|(c, v)| (c.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    let mut a = Association::open(c, &contexts, &[])?;
    let (mut stored, mut p) = Stored::start(&a.node, objects.len());
    for o in objects {
        check_cancel(cancel)?;
        let class = &o.instance.sop_class;
        let Some((pc, ts)) = a.context(class) else {
            stored.refused.push((
                o.instance.clone(),
                format!("the archive accepts no object of SOP class {class}"),
            ));
            p.failed += 1;
            progress(p);
            continue;
        };
        let Some(syntax) = TransferSyntaxRegistry.get(&ts) else {
            return Err(PacsError::Failed(format!(
                "the archive chose transfer syntax {ts}, which this build cannot encode"
            )));
        };
        if ts != o.transfer_syntax() && !(is_native(&ts) && is_native(&o.transfer_syntax())) {
            stored.refused.push((
                o.instance.clone(),
                format!(
                    "the archive wants {ts} and the file is {}: convert it first",
                    o.transfer_syntax()
                ),
            ));
            p.failed += 1;
            progress(p);
            continue;
        }
        let mut data = Vec::new();
        o.object
            .write_dataset_with_ts(&mut data, syntax)
            .map_err(|e| PacsError::Failed(format!("cannot encode {}: {e}", o.path.display())))?;
        let id = a.message_id();
        let cmd = command(&[
            el(tags::AFFECTED_SOP_CLASS_UID, VR::UI, class.as_str()),
            el(tags::COMMAND_FIELD, VR::US, C_STORE_RQ),
            el(tags::MESSAGE_ID, VR::US, id),
            el(tags::PRIORITY, VR::US, 0u16),
            el(tags::COMMAND_DATA_SET_TYPE, VR::US, 0x0001u16),
            el(
                tags::AFFECTED_SOP_INSTANCE_UID,
                VR::UI,
                o.instance.sop_instance.as_str(),
            ),
        ]);
        a.send_command(pc, &cmd)?;
        a.send_data(pc, &data)?;
        let m = a.receive()?;
        let status = m.status();
        if m.field() != C_STORE_RSP {
            return Err(PacsError::Failed(format!(
                "{} answered C-STORE with command {:#06x}",
                a.node,
                m.field()
            )));
        }
        // 0xB000, 0xB006, 0xB007: stored with a warning (coerced or discarded elements).
        if status == 0 || (status & 0xF000) == 0xB000 {
            stored.accepted.push(o.instance.clone());
            p.done += 1;
        } else {
            stored.refused.push((
                o.instance.clone(),
                format!("C-STORE status {status:#06x}{}", m.error_comment()),
            ));
            p.failed += 1;
        }
        progress(p);
    }
    a.release();
    Ok(stored)
}

/// C-CANCEL of the request with message id `id`.
fn cancel_request(id: u16) -> InMemDicomObject {
    command(&[
        el(tags::COMMAND_FIELD, VR::US, C_CANCEL_RQ),
        el(tags::MESSAGE_ID_BEING_RESPONDED_TO, VR::US, id),
        el(tags::COMMAND_DATA_SET_TYPE, VR::US, NO_DATA_SET),
    ])
}

fn is_native(ts: &str) -> bool {
    ts == EXPLICIT_LE || ts == IMPLICIT_LE
}

fn need_context(
    a: &mut Association,
    abstract_syntax: &str,
    what: &str,
) -> Result<(u8, String), PacsError> {
    a.context(abstract_syntax).ok_or_else(|| {
        PacsError::Failed(format!(
            "{} does not offer {what}: ask its administrator to allow our AE title",
            a.node
        ))
    })
}

fn el(tag: Tag, vr: VR, v: impl Into<PrimitiveValue>) -> DataElement<InMemDicomObject> {
    let v: PrimitiveValue = v.into();
    let v = match &v {
        PrimitiveValue::Str(s) if s.is_empty() => PrimitiveValue::Empty,
        _ => v,
    };
    DataElement::new(tag, vr, v)
}

fn command(elements: &[DataElement<InMemDicomObject>]) -> InMemDicomObject {
    InMemDicomObject::command_from_element_iter(elements.iter().cloned())
}

/// A command set: Implicit VR Little Endian, led by its group length.
fn encode_command(o: &InMemDicomObject) -> Result<Vec<u8>, PacsError> {
    encode(o, IMPLICIT_LE)
}

fn encode(o: &InMemDicomObject, ts: &str) -> Result<Vec<u8>, PacsError> {
    let syntax = TransferSyntaxRegistry
        .get(ts)
        .ok_or_else(|| PacsError::Failed(format!("unknown transfer syntax {ts}")))?;
    let mut out = Vec::new();
    o.write_dataset_with_ts(&mut out, syntax)
        .map_err(|e| PacsError::Failed(format!("cannot encode a DIMSE message: {e}")))?;
    Ok(out)
}

fn decode(bytes: &[u8], ts: &str) -> Result<InMemDicomObject, String> {
    let syntax = TransferSyntaxRegistry
        .get(ts)
        .ok_or_else(|| format!("unknown transfer syntax {ts}"))?;
    InMemDicomObject::read_dataset_with_ts(bytes, syntax).map_err(|e| e.to_string())
}

fn text(o: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = o.element(tag).ok()?;
    let s = e.to_str().ok()?;
    let s = s.trim_end_matches(['\0', ' ']).trim_start();
    (!s.is_empty()).then(|| s.to_string())
}

fn uint(o: &InMemDicomObject, tag: Tag) -> Option<u16> {
    o.element(tag).ok()?.to_int::<u16>().ok()
}

fn number(o: &InMemDicomObject, tag: Tag) -> Option<u32> {
    text(o, tag)?.trim().parse().ok()
}

fn pdu_name(p: &Pdu) -> &'static str {
    match p {
        Pdu::Unknown { .. } => "unknown",
        Pdu::AssociationRQ(_) => "A-ASSOCIATE-RQ",
        Pdu::AssociationAC(_) => "A-ASSOCIATE-AC",
        Pdu::AssociationRJ(_) => "A-ASSOCIATE-RJ",
        Pdu::PData { .. } => "P-DATA",
        Pdu::ReleaseRQ => "A-RELEASE-RQ",
        Pdu::ReleaseRP => "A-RELEASE-RP",
        Pdu::AbortRQ { .. } => "A-ABORT",
    }
}

/// The error and its causes in one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = c.source();
    }
    None
}

fn association_error(node: &str, c: &Connection, e: &dicom_ul::association::Error) -> String {
    use dicom_ul::association::Error as E;
    match e {
        E::Rejected { .. } => format!(
            "{node} refused the association ({}): check the AE titles — the archive must know ours",
            chain(e)
        ),
        E::NoAcceptedPresentationContexts { .. } => {
            format!("{node} accepted the association but none of the services we asked for")
        }
        _ => match io_kind(e) {
            Some(std::io::ErrorKind::ConnectionRefused) => format!(
                "nothing answers at {node}: connection refused — check the host and port, and that the archive runs"
            ),
            Some(std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => format!(
                "{node} did not answer within {} s: check the host, port and network",
                c.timeout.as_secs()
            ),
            _ => format!("cannot associate with {node}: {}", chain(e)),
        },
    }
}

fn receive_error(node: &str, e: &dicom_ul::association::Error) -> String {
    match io_kind(e) {
        Some(std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => {
            format!("{node} stopped answering (timeout): try again, or raise --timeout")
        }
        _ => format!("lost the association with {node}: {}", chain(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_set_is_implicit_le_led_by_its_group_length() {
        let c = command(&[
            el(tags::AFFECTED_SOP_CLASS_UID, VR::UI, VERIFICATION),
            el(tags::COMMAND_FIELD, VR::US, C_ECHO_RQ),
            el(tags::MESSAGE_ID, VR::US, 7u16),
            el(tags::COMMAND_DATA_SET_TYPE, VR::US, NO_DATA_SET),
        ]);
        let b = encode_command(&c).unwrap();
        // (0000,0000) UL, 4 bytes, then the length of everything after it.
        assert_eq!(&b[..8], &[0, 0, 0, 0, 4, 0, 0, 0]);
        let len = u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize;
        assert_eq!(len, b.len() - 12);
        let back = decode(&b, IMPLICIT_LE).unwrap();
        assert_eq!(uint(&back, tags::MESSAGE_ID), Some(7));
        assert_eq!(uint(&back, tags::COMMAND_FIELD), Some(C_ECHO_RQ));
        assert_eq!(
            text(&back, tags::AFFECTED_SOP_CLASS_UID).unwrap(),
            VERIFICATION
        );
    }

    #[test]
    fn nothing_listening_is_a_clear_refusal() {
        // A port just freed: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Connection {
            endpoint: Endpoint::parse_dimse(&format!("PACS@127.0.0.1:{port}"), "HF").unwrap(),
            credentials: Default::default(),
            timeout: std::time::Duration::from_secs(5),
        };
        let m = echo(&c).unwrap_err().to_string();
        assert!(
            m.contains("connection refused") && m.contains("port"),
            "{m}"
        );
    }

    #[test]
    fn a_silent_peer_is_a_timeout_not_a_hang() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        // Accepts the connection and never answers.
        let t = std::thread::spawn(move || {
            let s = l.accept();
            std::thread::sleep(std::time::Duration::from_millis(1500));
            drop(s);
        });
        let c = Connection {
            endpoint: Endpoint::parse_dimse(&format!("PACS@127.0.0.1:{port}"), "HF").unwrap(),
            credentials: Default::default(),
            timeout: std::time::Duration::from_secs(1),
        };
        let m = echo(&c).unwrap_err().to_string();
        assert!(
            m.contains("did not answer") || m.contains("timeout") || m.contains("lost"),
            "{m}"
        );
        t.join().unwrap();
    }
}
