//! Hounsfield: CT scans to print-ready bone models, with every step recorded
//! (ISO/IEC 3532-1:2023).
//!
//! # Conventions
//! - Volumes are `ndarray::Array3` indexed `[slice, row, column]` (k, j, i), C layout.
//! - Positions are millimetres in DICOM patient space, LPS (+x left, +y posterior,
//!   +z superior). NIfTI files are RAS; the conversion happens only in [`io::nifti`].
//! - [`geom`] gives each frame and unit its own type.
//!
//! # Module map (the data path)
//! [`dicom`] (import) → [`volume`] (HU + geometry) → [`feasibility`] (findings) →
//! [`io`] (NIfTI, atomic writes) → [`segment`] → [`mesh`] → [`export`] → [`cli`].
//! These core modules never use a UI or GPU crate; [`gpu`] (wgpu and the WGSL shaders)
//! and [`ui`] (egui/eframe) are thin layers above them.

pub mod case;
pub mod cli;
pub mod compare;
pub mod compute;
pub mod dicom;
pub mod error;
pub mod export;
pub mod feasibility;
pub mod geom;
#[cfg(feature = "gui")]
pub mod gpu;
pub mod io;
pub mod jobs;
pub mod measure;
pub mod mesh;
pub mod pacs;
pub mod phantom;
pub mod report;
pub mod review;
pub mod segment;
pub mod sweep;
#[cfg(feature = "gui")]
pub mod ui;
pub mod view;
pub mod volume;
