//! An in-window file browser: the system file dialog (`rfd`) needs a desktop portal or
//! zenity, which a minimal Linux install lacks — then the dialog returns at once and Open
//! would do nothing. The browser lists folders and files, goes up and into folders, and
//! opens what is chosen; it is used when the system dialog cannot open, and on request.

use super::App;
use super::command::UiCommand;
use std::path::{Path, PathBuf};

/// What the chosen path is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowseFor {
    /// A DICOM folder, file, DICOMDIR or NIfTI.
    Open,
    /// A `.hfcase` folder.
    OpenCase,
    /// A `.hfcase` folder, opened read-only for a physician's review.
    ReviewCase,
    /// A DICOM SEG file to import into the open case.
    ImportSeg,
}

/// The browser's state.
#[derive(Debug, Clone)]
pub struct FileBrowser {
    /// What it is for.
    pub purpose: BrowseFor,
    /// The folder shown.
    pub dir: PathBuf,
    /// The path field (editable).
    pub text: String,
    /// Why the folder cannot be listed, when it cannot.
    pub error: Option<String>,
}

/// A folder's entries: (name, is folder), folders first, sorted; hidden ones left out.
pub fn entries(dir: &Path) -> Result<Vec<(String, bool)>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut v: Vec<(String, bool)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (!name.starts_with('.')).then(|| (name, e.path().is_dir()))
        })
        .collect();
    v.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(a.0.to_lowercase().cmp(&b.0.to_lowercase()))
    });
    Ok(v)
}

impl FileBrowser {
    /// A browser starting at `dir`.
    pub fn new(purpose: BrowseFor, dir: PathBuf) -> Self {
        Self {
            purpose,
            text: dir.display().to_string(),
            dir,
            error: None,
        }
    }

    fn go(&mut self, dir: PathBuf) {
        self.text = dir.display().to_string();
        self.dir = dir;
        self.error = None;
    }
}

/// The system dialog for `purpose`; `None` when the user cancelled or no dialog could open.
/// Returns also whether it came back too fast for a person (no dialog was shown).
pub fn system_dialog(purpose: BrowseFor, folder: bool) -> (Option<PathBuf>, bool) {
    let t0 = std::time::Instant::now();
    let d = rfd::FileDialog::new();
    let r = match (purpose, folder) {
        (BrowseFor::OpenCase | BrowseFor::ReviewCase, _) | (_, true) => d.pick_folder(),
        _ => d.pick_file(),
    };
    let instant = r.is_none() && t0.elapsed() < std::time::Duration::from_millis(250);
    (r, instant)
}

impl App {
    /// Opens the in-window browser.
    pub fn browse(&mut self, purpose: BrowseFor) {
        let start = self
            .source
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("/"));
        self.file_browser = Some(FileBrowser::new(purpose, start));
    }

    /// Chooses a path for `purpose` with the system dialog, or the in-window browser when
    /// the system has none.
    pub fn choose(&mut self, purpose: BrowseFor, folder: bool) {
        match system_dialog(purpose, folder) {
            (Some(p), _) => self.open_chosen(purpose, p),
            (None, true) => {
                self.messages.push((
                    crate::feasibility::Severity::Info,
                    "No system file dialog answered (a desktop portal or zenity is needed); using the in-window browser".into(),
                ));
                self.browse(purpose);
            }
            (None, false) => {}
        }
    }

    fn open_chosen(&mut self, purpose: BrowseFor, p: PathBuf) {
        match purpose {
            BrowseFor::Open => self.push(UiCommand::Open { path: p }),
            BrowseFor::OpenCase => self.push(UiCommand::OpenCase {
                path: p,
                review: false,
            }),
            BrowseFor::ReviewCase => self.push(UiCommand::OpenCase {
                path: p,
                review: true,
            }),
            BrowseFor::ImportSeg => self.push(UiCommand::ImportSeg { path: p }),
        }
    }

    /// The in-window browser, when open.
    pub(crate) fn file_browser_window(&mut self, ctx: &egui::Context) {
        let Some(mut b) = self.file_browser.take() else {
            return;
        };
        let mut open = true;
        let mut chosen = None;
        egui::Window::new(match b.purpose {
            BrowseFor::Open => "Open a folder or file",
            BrowseFor::OpenCase => "Open a case (.hfcase folder)",
            BrowseFor::ReviewCase => "Review a case (.hfcase folder, read-only)",
            BrowseFor::ImportSeg => "Import a DICOM SEG file into the case",
        })
        .open(&mut open)
        .default_width(520.0)
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                if ui.button("⬆ Up").clicked()
                    && let Some(p) = b.dir.parent()
                {
                    let p = p.to_path_buf();
                    b.go(p);
                }
                let r = ui.add(egui::TextEdit::singleline(&mut b.text).desired_width(380.0));
                if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    let p = PathBuf::from(b.text.trim());
                    if p.is_dir() {
                        b.go(p);
                    } else if p.exists() {
                        chosen = Some(p);
                    } else {
                        b.error = Some(format!("{} does not exist", p.display()));
                    }
                }
            });
            match entries(&b.dir) {
                Err(e) => {
                    ui.colored_label(egui::Color32::from_rgb(230, 90, 70), e);
                }
                Ok(list) => {
                    egui::ScrollArea::vertical()
                        .max_height(320.0)
                        .show(ui, |ui| {
                            for (name, is_dir) in list {
                                let text = if is_dir {
                                    format!("📁 {name}")
                                } else {
                                    name.clone()
                                };
                                let r = ui.selectable_label(false, text);
                                let path = b.dir.join(&name);
                                let case = is_dir && name.ends_with(crate::case::SUFFIX);
                                if r.double_clicked() {
                                    if case || !is_dir {
                                        chosen = Some(path);
                                    } else {
                                        b.go(path);
                                    }
                                } else if r.clicked() {
                                    b.text = path.display().to_string();
                                }
                            }
                        });
                }
            }
            if let Some(e) = &b.error {
                ui.colored_label(egui::Color32::from_rgb(230, 90, 70), e);
            }
            ui.horizontal(|ui| {
                if ui.button("Open").clicked() {
                    let p = PathBuf::from(b.text.trim());
                    if p.exists() {
                        chosen = Some(p);
                    } else {
                        b.error = Some(format!("{} does not exist", p.display()));
                    }
                }
                if ui.button("Open the folder shown").clicked() {
                    chosen = Some(b.dir.clone());
                }
            });
        });
        match chosen {
            Some(p) => self.open_chosen(b.purpose, p),
            None if open => self.file_browser = Some(b),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_come_first_and_hidden_entries_are_left_out() {
        let Ok(d) = tempfile::tempdir() else { return };
        for f in ["b.dcm", "A.nii", ".hidden"] {
            assert!(std::fs::write(d.path().join(f), b"x").is_ok());
        }
        assert!(std::fs::create_dir(d.path().join("zz")).is_ok());
        let e = entries(d.path()).unwrap_or_default();
        assert_eq!(
            e,
            vec![
                ("zz".to_string(), true),
                ("A.nii".to_string(), false),
                ("b.dcm".to_string(), false)
            ]
        );
        assert!(entries(&d.path().join("nope")).is_err());
    }
}
