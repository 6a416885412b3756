//! Building a [`Volume`] from a series: parallel decode into one preallocated array, then
//! resampling when the stack is not a regular grid.

use super::error::FileError;
use super::guard::GuardLimits;
use super::pixels;
use super::series::{Series, Stack};
use crate::feasibility::{self, Finding, FindingCode, Severity};
use crate::geom::{LpsDirection, SpacingMm};
use crate::volume::resample::{self, ResampleRecord, StackLayout};
use crate::volume::{Volume, VolumeGeometry};
use ndarray::{Array3, Axis};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use thiserror::Error;

/// Why a series could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The series is not a volume.
    #[error("series {id} cannot be loaded as a volume: {reason}")]
    NotLoadable {
        /// Series selector.
        id: String,
        /// Why.
        reason: String,
    },
    /// Slices failed to decode.
    #[error("series {id}: {} slice(s) could not be decoded: {}", failures.len(), failures.iter().map(|(p, e)| format!("{}: {e}", p.display())).collect::<Vec<_>>().join("; "))]
    Slices {
        /// Series selector.
        id: String,
        /// Each failed file and why.
        failures: Vec<(PathBuf, FileError)>,
    },
    /// The volume would exceed the memory cap.
    #[error("series {id}: {bytes} bytes of voxels exceed the limit of {limit} bytes")]
    TooLarge {
        /// Series selector.
        id: String,
        /// Needed.
        bytes: u64,
        /// Cap.
        limit: u64,
    },
    /// A resampling parameter is invalid.
    #[error(
        "invalid slice distance {0} mm: give {min} to {max} mm",
        min = feasibility::limits::MIN_OUTPUT_SLICE_DISTANCE_MM,
        max = feasibility::limits::MAX_OUTPUT_SLICE_DISTANCE_MM
    )]
    BadSpacing(f64),
    /// The resampled volume would exceed the memory cap.
    #[error(
        "series {id}: resampled at {dz_mm} mm the volume would be {} × {} × {} voxels ({bytes} bytes), above the limit of {limit} bytes; choose a larger slice distance",
        dims[2], dims[1], dims[0]
    )]
    ResampledTooLarge {
        /// Series selector.
        id: String,
        /// Output slice distance, mm.
        dz_mm: f64,
        /// Output `[slices, rows, columns]`.
        dims: [usize; 3],
        /// Needed.
        bytes: u64,
        /// Cap.
        limit: u64,
    },
    /// Two neighbouring slices lie too far apart to interpolate between them.
    #[error(
        "series {id}: slices {k} and {} lie {gap_mm:.2} mm apart (median distance {median_mm:.3} mm); more than {limit_mm:.2} mm cannot be interpolated honestly — check the Image Position (Patient) of those files, remove the stray slice, or load without resampling",
        k + 1
    )]
    GapTooLarge {
        /// Series selector.
        id: String,
        /// Index (from 0, in stack order) of the slice before the gap.
        k: usize,
        /// The gap, mm.
        gap_mm: f64,
        /// Median slice distance, mm.
        median_mm: f64,
        /// Widest gap interpolated, mm.
        limit_mm: f64,
    },
    /// Cancelled by the caller.
    #[error("cancelled")]
    Cancelled,
}

/// How to turn the stack into a volume.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Per-file limits.
    pub limits: GuardLimits,
    /// Resample irregular stacks (tilt, variable distance) onto a regular grid.
    pub resample: bool,
    /// Output slice distance when resampling; default:
    /// [`resample::default_slice_distance`].
    pub slice_distance_mm: Option<f64>,
    /// Largest volume accepted, bytes.
    pub max_volume_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            limits: GuardLimits::default(),
            resample: true,
            slice_distance_mm: None,
            max_volume_bytes: crate::volume::MAX_VOLUME_BYTES,
        }
    }
}

impl LoadOptions {
    /// Refuses a requested output slice distance outside
    /// [`feasibility::limits::MIN_OUTPUT_SLICE_DISTANCE_MM`] ..
    /// [`feasibility::limits::MAX_OUTPUT_SLICE_DISTANCE_MM`] (or not a number).
    pub fn check_slice_distance(dz_mm: f64) -> Result<(), LoadError> {
        use feasibility::limits::{MAX_OUTPUT_SLICE_DISTANCE_MM, MIN_OUTPUT_SLICE_DISTANCE_MM};
        if dz_mm.is_finite()
            && (MIN_OUTPUT_SLICE_DISTANCE_MM..=MAX_OUTPUT_SLICE_DISTANCE_MM).contains(&dz_mm)
        {
            Ok(())
        } else {
            Err(LoadError::BadSpacing(dz_mm))
        }
    }
}

/// A loaded volume and what happened on the way.
#[derive(Debug)]
pub struct LoadedVolume {
    /// The volume.
    pub volume: Volume,
    /// Whether its grid is regular and orthogonal (false only with `resample: false` on an
    /// irregular stack).
    pub regular: bool,
    /// The resampling, when one was done.
    pub resampling: Option<ResampleRecord>,
    /// Findings from the pixel values (noise, metal, clamping).
    pub findings: Vec<Finding>,
    /// The measurements behind them.
    pub pixel_stats: feasibility::PixelStats,
}

/// Progress and cancellation shared with a caller on another thread.
#[derive(Debug, Default)]
pub struct Progress {
    /// Slices decoded so far.
    pub done: AtomicUsize,
    /// Set to stop early.
    pub cancel: AtomicBool,
}

/// Decodes and assembles a series.
pub fn load(
    series: &Series,
    opts: &LoadOptions,
    progress: Option<&Progress>,
) -> Result<LoadedVolume, LoadError> {
    let (Some(stack), None) = (&series.stack, &series.not_loadable) else {
        return Err(LoadError::NotLoadable {
            id: series.id.clone(),
            reason: series
                .not_loadable
                .clone()
                .unwrap_or_else(|| "no slice geometry".into()),
        });
    };
    if let Some(dz) = opts.slice_distance_mm {
        LoadOptions::check_slice_distance(dz)?;
    }
    let (n, rows, cols) = (
        series.images.len(),
        series.rows as usize,
        series.columns as usize,
    );
    let bytes = (n as u64)
        .saturating_mul(rows as u64)
        .saturating_mul(cols as u64)
        .saturating_mul(2);
    if bytes > opts.max_volume_bytes {
        return Err(LoadError::TooLarge {
            id: series.id.clone(),
            bytes,
            limit: opts.max_volume_bytes,
        });
    }
    let plane = plane_geometry(series, stack);
    let regular = stack.is_regular();
    // Everything about the resampling is decided (and refused) before any pixel is read.
    let resample_plan = if !regular && opts.resample {
        Some(plan_resampling(series, stack, &plane, opts)?)
    } else {
        None
    };
    // A multi-frame file is read and parsed once; its frames decode in parallel from it.
    let mut multi_frame: HashMap<&Path, Result<pixels::ImageFile, FileError>> = HashMap::new();
    for h in series.images.iter().filter(|h| h.frame.is_some()) {
        multi_frame.entry(h.path.as_path()).or_insert_with(|| {
            super::contain::contain(|| pixels::ImageFile::open(&h.path, &opts.limits))
                .unwrap_or_else(|| {
                    Err(FileError::Damaged(
                        "the DICOM reader failed on this file".into(),
                    ))
                })
        });
    }
    let mut raw = Array3::<i16>::zeros((n, rows, cols));
    let clamped = AtomicUsize::new(0);
    let failures: Vec<(PathBuf, FileError)> = raw
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(series.images.par_iter())
        .filter_map(|(mut slice, h)| {
            if progress.is_some_and(|p| p.cancel.load(Ordering::Relaxed)) {
                return None;
            }
            let out = slice.as_slice_mut()?;
            let r =
                super::contain::contain(|| match (h.frame, multi_frame.get(h.path.as_path())) {
                    (Some(k), Some(Ok(file))) => {
                        file.decode_into(Some(k), series.rows, series.columns, out)
                    }
                    (Some(_), Some(Err(e))) => Err(e.clone()),
                    _ => {
                        pixels::decode_into(&h.path, series.rows, series.columns, &opts.limits, out)
                    }
                })
                .unwrap_or_else(|| {
                    Err(FileError::Damaged(
                        "the pixel decoder failed on this file".into(),
                    ))
                });
            if let Some(p) = progress {
                p.done.fetch_add(1, Ordering::Relaxed);
            }
            match r {
                Ok(c) => {
                    clamped.fetch_add(c, Ordering::Relaxed);
                    None
                }
                Err(e) => Some((h.path.clone(), e)),
            }
        })
        .collect();
    if progress.is_some_and(|p| p.cancel.load(Ordering::Relaxed)) {
        return Err(LoadError::Cancelled);
    }
    if !failures.is_empty() {
        return Err(LoadError::Slices {
            id: series.id.clone(),
            failures,
        });
    }
    let (volume, resampling) = if regular {
        let mut g = plane;
        let span = stack.depths_mm[n - 1] - stack.depths_mm[0];
        g.spacing.slice = if n > 1 { span / (n - 1) as f64 } else { 1.0 };
        (
            Volume {
                hu: raw,
                geometry: g,
            },
            None,
        )
    } else if let Some((dz, rule)) = resample_plan {
        let mut reasons = Vec::new();
        if stack.tilt_measured_deg > feasibility::limits::TILT_TOLERANCE_DEG {
            reasons.push(format!(
                "gantry tilt {:.2} degrees",
                stack.tilt_measured_deg
            ));
        }
        if !stack.is_uniform() {
            reasons.push("non-uniform slice distance".into());
        }
        let layout = StackLayout {
            origin: plane.origin,
            plane: &plane,
            depths_mm: &stack.depths_mm,
            offsets_mm: &stack.offsets_mm,
        };
        let (v, mut rec) = resample::resample_stack(&raw, &layout, dz, reasons);
        rec.slice_distance_rule = rule;
        drop(raw);
        (v, Some(rec))
    } else {
        // The raw stack: slice steps follow the actual positions (sheared if tilted).
        let mut g = plane;
        let first = series.images[0].position.map(|p| p.0).unwrap_or_default();
        let last = series.images[n - 1]
            .position
            .map(|p| p.0)
            .unwrap_or_default();
        let step = (last - first) / (n.max(2) - 1) as f64;
        g.slice_dir = LpsDirection::new(step).unwrap_or(stack.normal);
        g.spacing.slice = step.length();
        (
            Volume {
                hu: raw,
                geometry: g,
            },
            None,
        )
    };
    let (mut findings, pixel_stats) = feasibility::pixel_findings(&volume);
    let c = clamped.into_inner();
    if c > 0 {
        findings.push(
            Finding::new(
                FindingCode::HuClamped,
                Severity::Warning,
                format!("{c} voxel(s) had HU values outside -32768..32767 and were clamped"),
            )
            .with_value(c as f64),
        );
    }
    Ok(LoadedVolume {
        regular: regular || opts.resample,
        volume,
        resampling,
        findings,
        pixel_stats,
    })
}

/// Decodes every image of a series that is not loaded as a volume (localizers, secondary
/// captures, single images) to find damaged ones; returns them with reasons.
pub fn verify_images(series: &Series, limits: &GuardLimits) -> Vec<super::SkippedFile> {
    // Each file once: the frames of a multi-frame file share it.
    let mut seen = std::collections::HashSet::new();
    let files: Vec<&Path> = series
        .images
        .iter()
        .map(|h| h.path.as_path())
        .filter(|p| seen.insert(*p))
        .collect();
    files
        .into_par_iter()
        .filter_map(|path| {
            let r = super::contain::contain(|| pixels::check_decodes(path, limits)).unwrap_or_else(
                || {
                    Err(FileError::Damaged(
                        "the pixel decoder failed on this file".into(),
                    ))
                },
            );
            r.err().map(|e| super::SkippedFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// The geometry of slice 0 with the plane normal as slice direction.
/// The output slice distance and how it was chosen; refuses gaps too wide to interpolate
/// and outputs above the memory cap.
fn plan_resampling(
    series: &Series,
    stack: &Stack,
    plane: &VolumeGeometry,
    opts: &LoadOptions,
) -> Result<(f64, String), LoadError> {
    let median = stack.distance().map(|m| m.median).unwrap_or(1.0);
    let limit_mm = resample::max_interpolated_gap_mm(median);
    if let Some((k, gap)) = stack
        .distances_mm
        .iter()
        .enumerate()
        .find(|(_, d)| **d > limit_mm + 1e-6)
    {
        return Err(LoadError::GapTooLarge {
            id: series.id.clone(),
            k,
            gap_mm: *gap,
            median_mm: median,
            limit_mm,
        });
    }
    let (dz, rule) = match opts.slice_distance_mm {
        Some(dz) => (dz, "as requested".to_string()),
        None => resample::default_slice_distance(&stack.distances_mm)
            .unwrap_or((1.0, "1 mm (no distance could be measured)".into())),
    };
    let layout = StackLayout {
        origin: plane.origin,
        plane,
        depths_mm: &stack.depths_mm,
        offsets_mm: &stack.offsets_mm,
    };
    let raw = [
        series.images.len(),
        series.rows as usize,
        series.columns as usize,
    ];
    let dims = resample::output_dims(raw, &layout, dz);
    let bytes = dims.iter().fold(2u64, |b, d| b.saturating_mul(*d as u64));
    if bytes > opts.max_volume_bytes {
        return Err(LoadError::ResampledTooLarge {
            id: series.id.clone(),
            dz_mm: dz,
            dims,
            bytes,
            limit: opts.max_volume_bytes,
        });
    }
    Ok((dz, rule))
}

fn plane_geometry(series: &Series, stack: &Stack) -> VolumeGeometry {
    VolumeGeometry {
        origin: series.images[0]
            .position
            .unwrap_or(crate::geom::LpsPointMm::new(0.0, 0.0, 0.0)),
        col_dir: stack.col_dir,
        row_dir: stack.row_dir,
        slice_dir: stack.normal,
        spacing: SpacingMm {
            col: stack.pixel_spacing_mm[1],
            row: stack.pixel_spacing_mm[0],
            slice: 1.0,
        },
    }
}
