//! Replaying a case: the source files are checked against their recorded hashes, the
//! volume is rebuilt from exactly those files, and the journal's events are applied again
//! in order — every operation recomputed and its hashes compared, every undo and redo
//! checked, and (when asked) every reconstruction and export made again and compared bit
//! for bit. Opening a case is a replay without the exports; `hounsfield replay` is one
//! with them, reporting each step.

use super::event::Event;
use super::ledger::Ledger;
use super::{CaseError, CaseFiles, exports, source};
use crate::mesh::Mesh;
use crate::mesh::pipeline::{self, ReconstructOptions, Reconstruction};
use crate::mesh::record::ReconstructionRecord;
use crate::segment::Session;
use crate::segment::mask::{Mask, hex};
use crate::segment::model::Segmentation;
use crate::volume::Volume;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What to recompute.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also recompute reconstructions and exports (slow: a reconstruction per record).
    pub exports: bool,
}

/// One checked step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The journal record, when the step is one.
    pub seq: Option<usize>,
    /// What was checked.
    pub what: String,
    /// `Ok` when it matched (with a note), else what differs.
    pub outcome: Result<String, String>,
}

/// Every step, in order, up to the first failure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The steps.
    pub steps: Vec<Step>,
}

impl Report {
    /// True when every step matched.
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| s.outcome.is_ok())
    }

    /// The first failure, as one line.
    pub fn first_failure(&self) -> Option<String> {
        self.steps.iter().find_map(|s| {
            s.outcome.as_ref().err().map(|e| {
                format!(
                    "{}{}: {e}",
                    s.seq.map_or(String::new(), |q| format!("record {q} ")),
                    s.what
                )
            })
        })
    }
}

/// The state a replay rebuilt.
#[derive(Debug)]
pub struct State {
    /// The segmentation and its log.
    pub session: Session,
    /// The verification ledger.
    pub ledger: Ledger,
    /// The volume.
    pub volume: Arc<Volume>,
    /// Surfaces recomputed, by journal position (with [`Options::exports`]).
    pub meshes: BTreeMap<usize, Vec<(String, Mesh)>>,
}

/// The outcome of a replay: the report, and the state when it got to the end.
#[derive(Debug)]
pub struct Rebuilt {
    /// Per step.
    pub report: Report,
    /// The state after the last event; `None` when a step failed.
    pub state: Option<State>,
}

/// What opening found besides the state.
#[derive(Debug, Clone, Default)]
pub struct Opened {
    /// A torn last journal record that was dropped.
    pub dropped_tail: Option<String>,
    /// The source folder moved: (from, to), now recorded.
    pub moved: Option<(PathBuf, PathBuf)>,
}

/// Where the source is, checked.
#[derive(Debug, Clone)]
pub struct Located {
    /// The folder holding the files.
    pub root: PathBuf,
    /// (recorded root, new root) when the files were found elsewhere.
    pub moved: Option<(PathBuf, PathBuf)>,
}

/// Finds and checks the source files: at `source` when given, else where the case last
/// recorded them. Every file must have its recorded size and blake3.
pub fn locate_source(files: &CaseFiles, source: Option<&Path>) -> Result<Located, CaseError> {
    let current = files.source_root();
    let root = match source {
        Some(s) => source::root_of(s).map_err(CaseError::from)?,
        None => current.clone(),
    };
    if !root.is_dir() {
        return Err(CaseError::Input(format!(
            "the source folder {} is gone; if it moved, give its new place (`--source NEW`)",
            root.display()
        )));
    }
    let problems = source::verify(&root, &files.record.source.files);
    if !problems.is_empty() {
        return Err(CaseError::SourceChanged(problems));
    }
    let moved = (root != current).then(|| (current, root.clone()));
    Ok(Located { root, moved })
}

/// The blake3 of every label's mask.
pub fn mask_hashes(seg: &Segmentation) -> BTreeMap<String, String> {
    let mut s = seg.clone();
    let names: Vec<String> = s.names();
    names
        .into_iter()
        .filter_map(|n| s.hash_of(&n).map(|h| (n, hex(&h))))
        .collect()
}

/// Reconstructs each mask's surface with `opts` (the HU volume serves iso-surfaces).
pub fn reconstruct_masks(
    masks: &[(String, Mask, String)],
    volume: &Volume,
    opts: &ReconstructOptions,
    compute: &crate::compute::Compute,
) -> Result<Vec<Reconstruction>, String> {
    masks
        .iter()
        .map(|(name, m, _)| {
            pipeline::reconstruct_with(
                m,
                &volume.geometry,
                opts.iso_hu.map(|_| &volume.hu),
                opts,
                &crate::dicom::Progress::default(),
                0,
                compute,
            )
            .map_err(|e| format!("label `{name}`: {e}"))
        })
        .collect()
}

/// Removes a scratch folder when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Rebuilds the state of a case from its source (at `root`, already checked) and events.
/// `progress` sees each step as it is checked.
pub fn rebuild(
    files: &CaseFiles,
    root: &Path,
    opts: &Options,
    progress: &mut dyn FnMut(&Step),
) -> Result<Rebuilt, CaseError> {
    let mut report = Report::default();
    let mut push = |report: &mut Report, step: Step| {
        progress(&step);
        let failed = step.outcome.is_err();
        report.steps.push(step);
        !failed
    };
    let rec = &files.record;
    let opened = source::reopen(&rec.source, root)?;
    let got = hex(&crate::segment::log::volume_hash(&opened.volume));
    let volume_ok = push(
        &mut report,
        Step {
            seq: None,
            what: format!(
                "volume from {} source file(s) in {}",
                rec.source.files.len(),
                root.display()
            ),
            outcome: if got == rec.source.volume_hash {
                Ok(format!("blake3 {}", &got[..16]))
            } else {
                Err(format!(
                    "the rebuilt volume's hash is {got}, recorded {}",
                    rec.source.volume_hash
                ))
            },
        },
    );
    if !volume_ok {
        return Ok(Rebuilt {
            report,
            state: None,
        });
    }
    let volume = opened.volume;
    let mut session = Session::with_volume_hash(
        volume.clone(),
        rec.source.volume_hash.clone(),
        &opened.description,
        rec.source.series_uid.clone(),
        &rec.operator,
    );
    session.record_source(
        rec.feasibility.findings.clone(),
        rec.feasibility.interpolated_slices.clone(),
    );
    let mut ledger = Ledger::default();
    let mut meshes: BTreeMap<usize, Vec<(String, Mesh)>> = BTreeMap::new();
    let required = rec.feasibility.codes_to_acknowledge();
    let mut acknowledged: Vec<String> = Vec::new();
    let scratch = Scratch(files.dir.join(format!(".replay-{}", std::process::id())));
    for (seq, event) in files.events.iter().enumerate() {
        let (what, outcome): (String, Result<String, String>) = match event {
            Event::Applied { entry } => {
                let what = format!("operation {} {}", entry.index, entry.op.name());
                let missing: Vec<&String> = required
                    .iter()
                    .filter(|c| !acknowledged.contains(c))
                    .collect();
                let outcome = if !missing.is_empty() {
                    Err(format!(
                        "applied before the findings {missing:?} were acknowledged"
                    ))
                } else {
                    session
                        .replay_entry(entry)
                        .map(|()| format!("segmentation {}", &entry.segmentation_hash[..16]))
                };
                (what, outcome)
            }
            Event::Undone(s) | Event::Redone(s) => {
                let undo = matches!(event, Event::Undone(_));
                let what = format!(
                    "{} of operation {}",
                    if undo { "undo" } else { "redo" },
                    s.index
                );
                let expected = if undo {
                    session.undo_index()
                } else {
                    session.redo_index()
                };
                let outcome = if expected != Some(s.index) {
                    Err(format!(
                        "the next {} is operation {expected:?}, recorded {}",
                        if undo { "undo" } else { "redo" },
                        s.index
                    ))
                } else {
                    if undo {
                        session.undo();
                    } else {
                        session.redo();
                    }
                    let got = &session.log().final_hash;
                    if *got == s.segmentation_hash {
                        Ok(format!("segmentation {}", &got[..16]))
                    } else {
                        Err(format!(
                            "segmentation: expected {}, got {got}",
                            s.segmentation_hash
                        ))
                    }
                };
                (what, outcome)
            }
            Event::Acknowledged(a) => {
                acknowledged.extend(a.codes.iter().cloned());
                (
                    format!("acknowledgement of {}", a.codes.join(", ")),
                    Ok(format!("by {}", a.operator)),
                )
            }
            Event::Verified(m) => {
                ledger.add(m.clone());
                (
                    format!(
                        "{:?} mark of {} plane {} of `{}`",
                        m.state,
                        m.orientation.as_str(),
                        m.index,
                        m.label
                    )
                    .to_lowercase(),
                    Ok(format!("by {}", m.operator)),
                )
            }
            Event::SourceMoved(m) => (
                format!("source moved to {}", m.to.display()),
                Ok(format!("{} files checked", m.files_checked)),
            ),
            Event::Validated(v) => (
                format!("validation {} attached", v.path.display()),
                Ok(format!("by {}", v.operator)),
            ),
            // Its signature and hashes are checked by the review status, not here: a
            // decision that no longer holds is void, but the case still replays.
            Event::Reviewed(r) => (
                format!("review: {}", r.decision.verdict.as_str()),
                Ok(format!("by {}", r.decision.reviewer)),
            ),
            Event::Measured(m) => (
                format!("measurement `{}` ({})", m.name, m.shape.kind()),
                Ok(m.summary()),
            ),
            Event::MeasurementRemoved(m) => (
                format!("measurement of record {} withdrawn", m.seq),
                Ok(format!("by {}", m.operator)),
            ),
            Event::Sent(t) => (
                format!("{} object(s) sent to {}", t.objects.len(), t.node),
                Ok(format!(
                    "{} accepted, by {}",
                    t.objects.iter().filter(|o| o.accepted).count(),
                    t.operator
                )),
            ),
            Event::Reconstructed(r) => {
                let what = format!(
                    "reconstruction of {}",
                    r.masks
                        .iter()
                        .map(|m| m.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let now = mask_hashes(session.segmentation());
                let stale = r
                    .masks
                    .iter()
                    .find(|m| now.get(&m.label) != Some(&m.mask_hash));
                let outcome = if let Some(m) = stale {
                    Err(format!(
                        "label `{}` is not the mask it was made from (expected {}, got {})",
                        m.label,
                        m.mask_hash,
                        now.get(&m.label).map_or("(absent)", String::as_str)
                    ))
                } else if !opts.exports {
                    Ok("masks match (surfaces not recomputed)".into())
                } else {
                    recompute_reconstruction(r, &session, &volume).map(|(rec_meshes, note)| {
                        meshes.insert(seq, rec_meshes);
                        note
                    })
                };
                (what, outcome)
            }
            Event::Exported(x) => {
                let what = format!("export {}", x.path);
                let latest = !files.events[seq + 1..]
                    .iter()
                    .any(|e| matches!(e, Event::Exported(y) if y.path == x.path));
                let outcome = if !opts.exports {
                    Ok("not recomputed".into())
                } else {
                    recompute_export(files, x, latest, &session, &volume, &meshes, &scratch.0)
                };
                (what, outcome)
            }
        };
        if !push(
            &mut report,
            Step {
                seq: Some(seq),
                what,
                outcome,
            },
        ) {
            return Ok(Rebuilt {
                report,
                state: None,
            });
        }
    }
    Ok(Rebuilt {
        report,
        state: Some(State {
            session,
            ledger,
            volume,
            meshes,
        }),
    })
}

fn recompute_reconstruction(
    r: &super::event::Reconstructed,
    session: &Session,
    volume: &Volume,
) -> Result<(Vec<(String, Mesh)>, String), String> {
    let seg = session.segmentation();
    let masks: Vec<(String, Mask, String)> = r
        .masks
        .iter()
        .map(|m| {
            seg.get(&m.label)
                .map(|l| (m.label.clone(), l.mask.clone(), m.mask_hash.clone()))
                .ok_or_else(|| format!("label `{}` is absent", m.label))
        })
        .collect::<Result<_, _>>()?;
    // Replay recomputes on the CPU, the reference: a model made on a GPU must match it.
    let results = reconstruct_masks(
        &masks,
        volume,
        &r.record.options,
        &crate::compute::Compute::cpu(),
    )?;
    let models: Vec<(String, Option<String>, &Reconstruction)> = masks
        .iter()
        .zip(&results)
        .map(|((l, _, h), x)| (l.clone(), Some(h.clone()), x))
        .collect();
    let again = ReconstructionRecord::of(&models, &r.record.options);
    for (want, got) in r.record.labels.iter().zip(&again.labels) {
        if want.mesh_hash != got.mesh_hash {
            return Err(format!(
                "label `{}`: the surface differs (mesh blake3 {}, recorded {})",
                want.name, got.mesh_hash, want.mesh_hash
            ));
        }
        if want.certificate.triangles != got.certificate.triangles
            || want.certificate.closed != got.certificate.closed
            || want.certificate.manifold != got.certificate.manifold
            || want.certificate.self_intersections != got.certificate.self_intersections
        {
            return Err(format!("label `{}`: the certificate differs", want.name));
        }
    }
    let tri = again.totals.triangles;
    Ok((
        masks
            .into_iter()
            .zip(results)
            .map(|((l, _, _), x)| (l, x.mesh))
            .collect(),
        format!("{tri} triangles, mesh hashes equal"),
    ))
}

fn recompute_export(
    files: &CaseFiles,
    x: &super::event::ExportRecord,
    latest: bool,
    session: &Session,
    volume: &Volume,
    meshes: &BTreeMap<usize, Vec<(String, Mesh)>>,
    scratch: &Path,
) -> Result<String, String> {
    if session.log().final_hash != x.segmentation_hash {
        return Err(format!(
            "the segmentation is {}, the export was made from {}",
            session.log().final_hash,
            x.segmentation_hash
        ));
    }
    let empty = Vec::new();
    let surfaces = match x.reconstruction_seq {
        Some(s) => meshes
            .get(&s)
            .ok_or_else(|| format!("the surfaces of record {s} were not recomputed"))?,
        None => &empty,
    };
    std::fs::create_dir_all(scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let tmp = scratch.join(&x.spec.file);
    let provenance = exports::Provenance {
        software: x.software.clone(),
        pseudonym: files.record.pseudonym.clone(),
        series_uid: files.record.source.series_uid.clone(),
        volume_hash: files.record.source.volume_hash.clone(),
        segmentation_hash: x.segmentation_hash.clone(),
        log_position: x.log_position,
        mask_hashes: mask_hashes(session.segmentation()),
        dicom: exports::DicomSource::of(files, session.log(), &x.operator),
    };
    exports::write(
        &x.spec,
        &tmp,
        session.segmentation(),
        volume,
        surfaces,
        &provenance,
    )?;
    let (_, h) = source::hash_file(&tmp).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&tmp);
    if h != x.blake3 {
        return Err(format!(
            "made again, its blake3 is {h}, recorded {}",
            x.blake3
        ));
    }
    if !latest {
        return Ok(format!(
            "blake3 {}… equal (a later export replaced the file)",
            &h[..16]
        ));
    }
    match source::hash_file(&files.dir.join(&x.path)) {
        Ok((_, d)) if d == h => Ok(format!("blake3 {}… equal, and the file matches", &h[..16])),
        Ok((_, d)) => Err(format!(
            "made again identically, but the file on disk was changed after export (blake3 {d})"
        )),
        Err(e) => Err(format!(
            "made again identically, but the file on disk is gone ({e})"
        )),
    }
}
