//! Playing a script — a list of [`UiCommand`]s — through the real window, one command per
//! frame (and at a chosen pace for demonstrations), waiting for each background job, and
//! saving the screenshots the script asks for. Trainers show techniques with it; tests
//! drive the whole window with it.

use super::App;
use super::command::UiCommand;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A script in progress.
pub struct ScriptRunner {
    queue: VecDeque<UiCommand>,
    /// Time between commands.
    pub pace: Duration,
    last: Option<Instant>,
    /// Where `new_case` puts the case, overriding the script's folder and name.
    pub case_out: Option<PathBuf>,
    /// Commands run so far.
    pub done: usize,
    /// The first command that failed, with why.
    pub error: Option<String>,
    errors_seen: usize,
}

fn error_messages(app: &App) -> Vec<&String> {
    app.messages
        .iter()
        .filter(|(s, _)| *s == crate::feasibility::Severity::Error)
        .map(|(_, m)| m)
        .collect()
}

impl ScriptRunner {
    /// A runner for `commands`.
    pub fn new(commands: Vec<UiCommand>, pace: Duration, case_out: Option<PathBuf>) -> Self {
        Self {
            queue: commands.into(),
            pace,
            last: None,
            case_out,
            done: 0,
            error: None,
            errors_seen: 0,
        }
    }

    /// True when every command ran (or one failed) and no job is left.
    pub fn finished(&self, app: &App) -> bool {
        (self.queue.is_empty() || self.error.is_some()) && !app.busy()
    }

    /// Runs the next command when the app is idle and the pace allows; returns whether one
    /// ran.
    pub fn step(&mut self, app: &mut App) -> bool {
        // A job or a queued command of the last step that failed stops the script.
        let errors = error_messages(app);
        if self.error.is_none() && errors.len() > self.errors_seen {
            self.error = Some(format!(
                "after script command {}: {}",
                self.done,
                errors.last().map_or("", |m| m.as_str())
            ));
        }
        self.errors_seen = errors.len();
        if self.error.is_some() || app.busy() || !app.commands.is_empty() {
            return false;
        }
        if self.last.is_some_and(|t| t.elapsed() < self.pace) {
            return false;
        }
        let Some(mut c) = self.queue.pop_front() else {
            return false;
        };
        if let (UiCommand::NewCase { folder, name, .. }, Some(out)) = (&mut c, &self.case_out) {
            let dir = crate::case::case_dir(out);
            *folder = dir
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), PathBuf::from);
            *name = dir
                .file_name()
                .map(|n| {
                    n.to_string_lossy()
                        .trim_end_matches(crate::case::SUFFIX)
                        .to_string()
                })
                .unwrap_or_default();
        }
        self.done += 1;
        let what = serde_json::to_value(&c)
            .ok()
            .and_then(|v| v.get("cmd").and_then(|x| x.as_str()).map(str::to_string))
            .unwrap_or_default();
        if let Err(e) = app.execute(c) {
            self.error = Some(format!("script command {} ({what}): {e}", self.done));
        }
        self.last = Some(Instant::now());
        true
    }

    /// Commands not yet run.
    pub fn remaining(&self) -> usize {
        self.queue.len()
    }
}
