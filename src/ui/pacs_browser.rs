//! The PACS browser (File → Open from PACS…): pick or type a node, search studies, pick a
//! series, retrieve it with progress and cancel into a folder, and open it. The archive
//! work runs on its own job, beside the window's, so the views stay live while it
//! retrieves. Passwords live in this window's memory only; nodes are saved without them
//! (the CLI's `pacs-nodes.json`).

use super::App;
use crate::feasibility::Severity;
use crate::jobs::{Job, Poll};
use crate::pacs::{
    self, Connection, Credentials, Endpoint, Retrieval, SeriesRecord, StudyQuery, StudyRecord,
    nodes,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Which transport the form describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// DIMSE: AE title, host, port.
    Dimse,
    /// DICOMweb: a service root URL.
    Web,
}

/// What an archive job brings back.
#[derive(Debug)]
pub enum PacsResult {
    /// C-ECHO or its DICOMweb equivalent.
    Echo(Result<Duration, String>),
    /// A study search.
    Studies(Result<Vec<StudyRecord>, String>),
    /// The series of a study.
    Series(Result<Vec<SeriesRecord>, String>),
    /// A retrieval into a folder.
    Retrieved(PathBuf, Result<Retrieval, String>),
}

/// The browser's state.
pub struct PacsBrowser {
    /// DIMSE or DICOMweb.
    pub transport: Transport,
    /// The archive's AE title.
    pub ae_title: String,
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: String,
    /// Our AE title.
    pub calling_ae: String,
    /// The DICOMweb service root.
    pub url: String,
    /// The DICOMweb user.
    pub user: String,
    /// The password: this window's memory only.
    pub password: String,
    /// A PEM CA certificate for https.
    pub ca_cert: String,
    /// Seconds to wait.
    pub timeout_s: u64,
    /// Name to save the node under.
    pub save_as: String,
    /// The saved nodes.
    pub saved: Vec<nodes::SavedNode>,
    /// The search keys.
    pub query: StudyQuery,
    /// Found studies.
    pub studies: Vec<StudyRecord>,
    /// The study picked.
    pub study: Option<usize>,
    /// Its series.
    pub series: Vec<SeriesRecord>,
    /// The series picked.
    pub picked: Option<usize>,
    /// Where the next retrieval goes.
    pub dest: String,
    /// The running archive job.
    pub job: Option<Job<PacsResult>>,
    /// Instances expected by the running retrieval, once known.
    pub total: Arc<AtomicU32>,
    /// The last outcome, in words.
    pub status: Option<(Severity, String)>,
}

impl Default for PacsBrowser {
    fn default() -> Self {
        let mut b = Self {
            transport: Transport::Dimse,
            ae_title: String::new(),
            host: "127.0.0.1".into(),
            port: "104".into(),
            calling_ae: pacs::DEFAULT_CALLING_AE.into(),
            url: String::new(),
            user: String::new(),
            password: String::new(),
            ca_cert: String::new(),
            timeout_s: pacs::DEFAULT_TIMEOUT.as_secs(),
            save_as: String::new(),
            saved: Vec::new(),
            query: StudyQuery::default(),
            studies: Vec::new(),
            study: None,
            series: Vec::new(),
            picked: None,
            dest: String::new(),
            job: None,
            total: Arc::new(AtomicU32::new(0)),
            status: None,
        };
        b.reload_saved();
        b
    }
}

impl PacsBrowser {
    /// Reads the saved nodes again; a damaged file is reported, never overwritten.
    pub fn reload_saved(&mut self) {
        match nodes::load() {
            Ok(n) => self.saved = n,
            Err(e) => self.status = Some((Severity::Warning, e.to_string())),
        }
    }

    /// Fills the form from a saved node.
    pub fn use_saved(&mut self, n: &nodes::SavedNode) {
        self.save_as = n.name.clone();
        match &n.endpoint {
            Endpoint::Dimse {
                ae_title,
                host,
                port,
                calling_ae,
            } => {
                self.transport = Transport::Dimse;
                self.ae_title = ae_title.clone();
                self.host = host.clone();
                self.port = port.to_string();
                self.calling_ae = calling_ae.clone();
            }
            Endpoint::Web { url, user, ca_cert } => {
                self.transport = Transport::Web;
                self.url = url.clone();
                self.user = user.clone().unwrap_or_default();
                self.ca_cert = ca_cert
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
            }
        }
    }

    /// The node the form describes.
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        match self.transport {
            Transport::Dimse => Endpoint::parse_dimse(
                &format!(
                    "{}@{}:{}",
                    self.ae_title.trim(),
                    self.host.trim(),
                    self.port.trim()
                ),
                self.calling_ae.trim(),
            ),
            Transport::Web => Endpoint::parse_web(
                self.url.trim(),
                Some(self.user.trim().to_string()).filter(|u| !u.is_empty()),
                Some(PathBuf::from(self.ca_cert.trim())).filter(|p| !p.as_os_str().is_empty()),
            ),
        }
        .map_err(|e| e.to_string())
    }

    fn connection(&self) -> Result<Connection, String> {
        Ok(Connection {
            endpoint: self.endpoint()?,
            credentials: Credentials {
                password: Some(self.password.clone()).filter(|p| !p.is_empty()),
            },
            timeout: Duration::from_secs(self.timeout_s.clamp(1, 3600)),
        })
    }

    /// Whether an archive job runs.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    fn start(
        &mut self,
        label: String,
        waker: Option<crate::jobs::Waker>,
        work: impl FnOnce(Connection, &crate::jobs::Progress) -> PacsResult + Send + 'static,
    ) {
        if self.busy() {
            return;
        }
        match self.connection() {
            Ok(c) => {
                self.status = None;
                self.job = Some(Job::spawn(label, 0, waker, move |p| work(c, p)));
            }
            Err(e) => self.status = Some((Severity::Error, e)),
        }
    }

    /// Checks the node answers.
    pub fn echo(&mut self, waker: Option<crate::jobs::Waker>) {
        self.start("Echo".into(), waker, |c, _| {
            PacsResult::Echo(pacs::echo(&c).map_err(|e| e.to_string()))
        });
    }

    /// Searches studies with the form's keys.
    pub fn search(&mut self, waker: Option<crate::jobs::Waker>) {
        let q = self.query.clone();
        self.start("Searching the archive".into(), waker, move |c, _| {
            PacsResult::Studies(pacs::find_studies(&c, &q).map_err(|e| e.to_string()))
        });
    }

    /// Lists the series of study `i` of the results.
    pub fn pick_study(&mut self, i: usize, waker: Option<crate::jobs::Waker>) {
        let Some(uid) = self.studies.get(i).map(|s| s.study_uid.clone()) else {
            return;
        };
        self.study = Some(i);
        self.series.clear();
        self.picked = None;
        self.start("Listing series".into(), waker, move |c, _| {
            PacsResult::Series(pacs::find_series(&c, &uid).map_err(|e| e.to_string()))
        });
    }

    /// Picks series `i` and proposes a folder for it under `base`.
    pub fn pick_series(&mut self, i: usize, base: &std::path::Path) {
        let (Some(s), Some(st)) = (
            self.series.get(i),
            self.study.and_then(|k| self.studies.get(k)),
        ) else {
            return;
        };
        self.picked = Some(i);
        let tail: String = s
            .series_uid
            .chars()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        self.dest = base
            .join(format!(
                "{}-S{}-{}",
                if st.study_date.is_empty() {
                    "undated"
                } else {
                    &st.study_date
                },
                if s.number.is_empty() { "x" } else { &s.number },
                tail
            ))
            .display()
            .to_string();
    }

    /// Retrieves the picked series into [`Self::dest`].
    pub fn retrieve(&mut self, waker: Option<crate::jobs::Waker>) {
        let (Some(s), dest) = (
            self.picked.and_then(|i| self.series.get(i)).cloned(),
            PathBuf::from(self.dest.trim()),
        ) else {
            self.status = Some((Severity::Error, "pick a series first".into()));
            return;
        };
        if dest.as_os_str().is_empty() {
            self.status = Some((Severity::Error, "give a folder to retrieve into".into()));
            return;
        }
        let total = self.total.clone();
        total.store(s.instances.unwrap_or(0), Ordering::Relaxed);
        let label = format!("Retrieving series {} ({})", s.number, s.description);
        self.start(label, waker, move |c, p| {
            let on = |q: pacs::Progress| {
                p.done.store(q.done as usize, Ordering::Relaxed);
                if let Some(t) = q.total {
                    total.store(t, Ordering::Relaxed);
                }
            };
            let r = pacs::retrieve_series(&c, &s.study_uid, &s.series_uid, &dest, &on, &p.cancel);
            PacsResult::Retrieved(dest, r.map_err(|e| e.to_string()))
        });
    }

    /// Saves the form's node under [`Self::save_as`] (no password).
    pub fn save_node(&mut self) {
        let r = self.endpoint().and_then(|endpoint| {
            nodes::add(nodes::SavedNode {
                name: self.save_as.trim().to_string(),
                endpoint,
            })
            .map_err(|e| e.to_string())
        });
        match r {
            Ok(()) => {
                self.status = Some((Severity::Info, format!("saved `{}`", self.save_as.trim())));
                self.reload_saved();
            }
            Err(e) => self.status = Some((Severity::Error, e)),
        }
    }
}

impl App {
    /// Opens the PACS browser.
    pub fn open_pacs(&mut self) {
        if self.pacs.is_none() {
            self.pacs = Some(Box::default());
        }
    }

    /// The `pacs_search` script command.
    pub(crate) fn script_pacs_search(
        &mut self,
        dimse: Option<String>,
        url: Option<String>,
        user: Option<String>,
        patient_id: Option<String>,
        modality: Option<String>,
    ) -> Result<(), String> {
        self.open_pacs();
        let waker = self.waker();
        let b = self
            .pacs
            .as_deref_mut()
            .ok_or("the PACS browser did not open")?;
        match (dimse, url) {
            (Some(a), None) => {
                let e = Endpoint::parse_dimse(&a, pacs::DEFAULT_CALLING_AE)
                    .map_err(|e| e.to_string())?;
                b.use_saved(&nodes::SavedNode {
                    name: String::new(),
                    endpoint: e,
                });
            }
            (None, Some(u)) => {
                let e = Endpoint::parse_web(&u, user, None).map_err(|e| e.to_string())?;
                b.use_saved(&nodes::SavedNode {
                    name: String::new(),
                    endpoint: e,
                });
                b.password = Credentials::from_env().password.unwrap_or_default();
            }
            _ => return Err("pacs_search needs one of `dimse` or `url`".into()),
        }
        b.query.patient_id = patient_id.unwrap_or_default();
        b.query.modality = modality.unwrap_or_default();
        b.search(waker);
        self.finish_pacs();
        self.pacs_error()
    }

    /// The `pacs_retrieve` script command.
    pub(crate) fn script_pacs_retrieve(
        &mut self,
        series: &str,
        into: Option<PathBuf>,
    ) -> Result<(), String> {
        let waker = self.waker();
        let base = self.pacs_base();
        let b = self
            .pacs
            .as_deref_mut()
            .ok_or("no PACS search yet (pacs_search)")?;
        if b.studies.is_empty() {
            return Err("the PACS search found no study".into());
        }
        b.pick_study(0, waker);
        self.finish_pacs();
        self.pacs_error()?;
        let waker = self.waker();
        let b = self.pacs.as_deref_mut().ok_or("the PACS browser closed")?;
        let i = b
            .series
            .iter()
            .position(|s| s.number.trim() == series)
            .ok_or_else(|| format!("the study has no series {series}"))?;
        b.pick_series(i, &base);
        if let Some(d) = into {
            b.dest = d.display().to_string();
        }
        b.retrieve(waker);
        self.finish_pacs();
        self.pacs_error()
    }

    fn pacs_error(&self) -> Result<(), String> {
        match self.pacs.as_deref().and_then(|b| b.status.as_ref()) {
            Some((Severity::Error, e)) => Err(e.clone()),
            _ => Ok(()),
        }
    }

    /// Where retrievals go by default: `pacs/` in the case folder, or in the home folder.
    fn pacs_base(&self) -> PathBuf {
        self.prefs
            .case_folder
            .clone()
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Hounsfield")))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("pacs")
    }

    /// Takes the archive job's result when it is ready.
    pub(crate) fn poll_pacs(&mut self) {
        let Some(b) = self.pacs.as_deref_mut() else {
            return;
        };
        let Some(j) = &b.job else { return };
        let r = match j.poll() {
            Poll::Running => return,
            Poll::Done(r) => r,
            Poll::Lost => {
                b.job = None;
                b.status = Some((
                    Severity::Error,
                    "the archive worker stopped without a result".into(),
                ));
                return;
            }
        };
        b.job = None;
        self.pacs_done(r);
    }

    /// Waits for the archive job (headless use, tests).
    pub fn finish_pacs(&mut self) {
        let Some(j) = self.pacs.as_deref_mut().and_then(|b| b.job.take()) else {
            return;
        };
        match j.wait() {
            Some(r) => self.pacs_done(r),
            None => {
                if let Some(b) = self.pacs.as_deref_mut() {
                    b.status = Some((
                        Severity::Error,
                        "the archive worker stopped without a result".into(),
                    ));
                }
            }
        }
    }

    fn pacs_done(&mut self, r: PacsResult) {
        let Some(b) = self.pacs.as_deref_mut() else {
            return;
        };
        let node = b.endpoint().map(|e| e.describe()).unwrap_or_default();
        match r {
            PacsResult::Echo(Ok(t)) => {
                b.status = Some((
                    Severity::Info,
                    format!("{node} answers ({} ms)", t.as_millis()),
                ));
            }
            PacsResult::Studies(Ok(s)) => {
                b.status = Some((Severity::Info, format!("{} stud(ies) found", s.len())));
                b.studies = s;
                b.study = None;
                b.series.clear();
                b.picked = None;
            }
            PacsResult::Series(Ok(s)) => {
                b.status = Some((Severity::Info, format!("{} series", s.len())));
                b.series = s;
            }
            PacsResult::Retrieved(dest, Ok(r)) => {
                let msg = format!(
                    "retrieved {} instance(s) from {} into {}{}",
                    r.instances.len(),
                    r.node,
                    dest.display(),
                    if r.failed > 0 {
                        format!(" ({} failed at the archive)", r.failed)
                    } else {
                        String::new()
                    }
                );
                b.status = Some((Severity::Info, msg.clone()));
                self.messages.push((Severity::Info, msg));
                // The folder holds one series: the scan loads it by itself.
                self.open(&dest);
            }
            PacsResult::Echo(Err(e)) | PacsResult::Studies(Err(e)) | PacsResult::Series(Err(e)) => {
                b.status = Some((Severity::Error, e));
            }
            PacsResult::Retrieved(dest, Err(e)) => {
                b.status = Some((
                    Severity::Error,
                    format!(
                        "{e} (what arrived stays in {}, without a manifest)",
                        dest.display()
                    ),
                ));
            }
        }
    }

    /// Draws the PACS browser window.
    pub(crate) fn pacs_window(&mut self, ctx: &egui::Context) {
        self.poll_pacs();
        let Some(mut b) = self.pacs.take() else {
            return;
        };
        if b.busy() {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        let repaint = self.ctx.clone();
        let waker = move || {
            repaint.clone().map(|c| {
                let w: crate::jobs::Waker = Box::new(move || c.request_repaint());
                w
            })
        };
        let base = self.pacs_base();
        let mut open = true;
        egui::Window::new("Open from PACS")
            .open(&mut open)
            .default_width(640.0)
            .show(ctx, |ui| pacs_form(ui, &mut b, &waker, &base));
        if open {
            self.pacs = Some(b);
        } else if let Some(j) = &b.job {
            j.cancel();
        }
    }
}

fn pacs_form(
    ui: &mut egui::Ui,
    b: &mut PacsBrowser,
    waker: &dyn Fn() -> Option<crate::jobs::Waker>,
    base: &std::path::Path,
) {
    let idle = !b.busy();
    ui.horizontal(|ui| {
        ui.label("Saved:");
        let saved = b.saved.clone();
        egui::ComboBox::from_id_salt("pacs saved")
            .selected_text(if b.save_as.is_empty() {
                "—"
            } else {
                b.save_as.as_str()
            })
            .show_ui(ui, |ui| {
                for n in &saved {
                    if ui.selectable_label(b.save_as == n.name, &n.name).clicked() {
                        b.use_saved(n);
                    }
                }
            });
        ui.radio_value(&mut b.transport, Transport::Dimse, "DIMSE");
        ui.radio_value(&mut b.transport, Transport::Web, "DICOMweb");
    });
    // Rows, not a grid: a grid keeps the column widths of the frame it first drew.
    match b.transport {
        Transport::Dimse => {
            ui.horizontal(|ui| {
                ui.label("AE title");
                ui.add(egui::TextEdit::singleline(&mut b.ae_title).desired_width(130.0));
                ui.label("Host");
                ui.add(egui::TextEdit::singleline(&mut b.host).desired_width(150.0));
                ui.label("Port");
                ui.add(egui::TextEdit::singleline(&mut b.port).desired_width(60.0));
            });
            ui.horizontal(|ui| {
                ui.label("Our AE title");
                ui.add(egui::TextEdit::singleline(&mut b.calling_ae).desired_width(130.0));
            });
        }
        Transport::Web => {
            ui.horizontal(|ui| {
                ui.label("URL");
                ui.add(egui::TextEdit::singleline(&mut b.url).desired_width(360.0));
                ui.label("CA (PEM)");
                ui.add(egui::TextEdit::singleline(&mut b.ca_cert).desired_width(140.0));
            });
            ui.horizontal(|ui| {
                ui.label("User");
                ui.add(egui::TextEdit::singleline(&mut b.user).desired_width(150.0));
                ui.label("Password");
                ui.add(
                    egui::TextEdit::singleline(&mut b.password)
                        .password(true)
                        .desired_width(150.0),
                )
                .on_hover_text("kept in memory for this window only; never saved");
            });
        }
    }
    ui.horizontal(|ui| {
        if ui.add_enabled(idle, egui::Button::new("Echo")).clicked() {
            b.echo(waker());
        }
        ui.add(
            egui::TextEdit::singleline(&mut b.save_as)
                .hint_text("name")
                .desired_width(110.0),
        );
        if ui
            .add_enabled(!b.save_as.trim().is_empty(), egui::Button::new("Save node"))
            .clicked()
        {
            b.save_node();
        }
        ui.label("Timeout s");
        ui.add(egui::DragValue::new(&mut b.timeout_s).range(1..=3600));
    });
    ui.separator();
    ui.horizontal(|ui| {
        ui.label("Patient ID");
        ui.add(egui::TextEdit::singleline(&mut b.query.patient_id).desired_width(120.0));
        ui.label("Name");
        ui.add(
            egui::TextEdit::singleline(&mut b.query.patient_name)
                .hint_text("DOE^J*")
                .desired_width(140.0),
        );
        ui.label("Accession");
        ui.add(egui::TextEdit::singleline(&mut b.query.accession).desired_width(100.0));
    });
    ui.horizontal(|ui| {
        ui.label("Study date");
        ui.add(
            egui::TextEdit::singleline(&mut b.query.study_date)
                .hint_text("20240101-20241231")
                .desired_width(150.0),
        );
        ui.label("Modality");
        ui.add(
            egui::TextEdit::singleline(&mut b.query.modality)
                .hint_text("CT")
                .desired_width(50.0),
        );
        if ui
            .add_enabled(idle, egui::Button::new("🔍 Search"))
            .clicked()
        {
            b.search(waker());
        }
    });
    if !b.studies.is_empty() {
        ui.separator();
        ui.label(egui::RichText::new("Studies").strong());
        let mut pick = None;
        egui::ScrollArea::vertical()
            .id_salt("pacs studies")
            .max_height(140.0)
            .show(ui, |ui| {
                for (i, s) in b.studies.iter().enumerate() {
                    let text = format!(
                        "{}  {}  {}  {}  {} series — {}",
                        s.study_date,
                        s.patient_name,
                        s.patient_id,
                        s.modalities,
                        s.series.map_or("?".into(), |n| n.to_string()),
                        s.description
                    );
                    if ui
                        .selectable_label(b.study == Some(i), text)
                        .on_hover_text(&s.study_uid)
                        .clicked()
                    {
                        pick = Some(i);
                    }
                }
            });
        if let Some(i) = pick
            && idle
        {
            b.pick_study(i, waker());
        }
    }
    if !b.series.is_empty() {
        ui.label(egui::RichText::new("Series").strong());
        let mut pick = None;
        egui::ScrollArea::vertical()
            .id_salt("pacs series")
            .max_height(160.0)
            .show(ui, |ui| {
                for (i, s) in b.series.iter().enumerate() {
                    let text = format!(
                        "S{}  {}  {} images — {}",
                        s.number,
                        s.modality,
                        s.instances.map_or("?".into(), |n| n.to_string()),
                        s.description
                    );
                    if ui
                        .selectable_label(b.picked == Some(i), text)
                        .on_hover_text(&s.series_uid)
                        .clicked()
                    {
                        pick = Some(i);
                    }
                }
            });
        if let Some(i) = pick {
            b.pick_series(i, base);
        }
    }
    if b.picked.is_some() {
        ui.horizontal(|ui| {
            ui.label("Into");
            ui.add(egui::TextEdit::singleline(&mut b.dest).desired_width(420.0));
            if ui
                .add_enabled(idle, egui::Button::new("⬇ Retrieve and open"))
                .clicked()
            {
                b.retrieve(waker());
            }
        });
    }
    if let Some(j) = &b.job {
        ui.horizontal(|ui| {
            let done = j.progress.done.load(Ordering::Relaxed) as u32;
            let total = b.total.load(Ordering::Relaxed);
            let bar = if total > 0 {
                egui::ProgressBar::new(done as f32 / total as f32)
                    .text(format!("{} — {done} of {total}", j.label))
            } else {
                egui::ProgressBar::new(0.0)
                    .animate(true)
                    .text(j.label.clone())
            };
            ui.add(bar.desired_width(440.0));
            if ui.button("Cancel").clicked() {
                j.cancel();
            }
        });
    }
    if let Some((sev, text)) = &b.status {
        let (icon, colour) = super::browser::severity_icon(*sev);
        ui.colored_label(colour, format!("{icon} {text}"));
    }
}
