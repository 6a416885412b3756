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
use std::path::PathBuf;
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
    #[error("invalid slice distance {0} mm: give a positive number of millimetres")]
    BadSpacing(f64),
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
    /// Output slice distance when resampling; default: the smallest measured distance.
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
            max_volume_bytes: 8 << 30,
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
    if let Some(dz) = opts.slice_distance_mm
        && !(dz.is_finite() && dz > 0.0)
    {
        return Err(LoadError::BadSpacing(dz));
    }
    let (n, rows, cols) = (
        series.images.len(),
        series.rows as usize,
        series.columns as usize,
    );
    let bytes = (n * rows * cols * 2) as u64;
    if bytes > opts.max_volume_bytes {
        return Err(LoadError::TooLarge {
            id: series.id.clone(),
            bytes,
            limit: opts.max_volume_bytes,
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
            let r = super::contain::contain(|| {
                pixels::decode_into(&h.path, series.rows, series.columns, &opts.limits, out)
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
    let plane = plane_geometry(series, stack);
    let regular = stack.is_regular();
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
    } else if opts.resample {
        let dz = opts.slice_distance_mm.unwrap_or_else(|| {
            stack
                .distances_mm
                .iter()
                .copied()
                .filter(|d| *d > 0.0)
                .fold(f64::INFINITY, f64::min)
        });
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
        let (v, rec) = resample::resample_stack(&raw, &layout, dz, reasons);
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
    series
        .images
        .par_iter()
        .filter_map(|h| {
            let r = super::contain::contain(|| pixels::check_decodes(&h.path, limits))
                .unwrap_or_else(|| {
                    Err(FileError::Damaged(
                        "the pixel decoder failed on this file".into(),
                    ))
                });
            r.err().map(|e| super::SkippedFile {
                path: h.path.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// The geometry of slice 0 with the plane normal as slice direction.
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
