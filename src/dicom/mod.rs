//! DICOM import: scan a path, group and classify series, check their geometry, and decode
//! a series into a Hounsfield-unit volume.
//!
//! The data path is `scan` (headers, in parallel) → `series` (grouping, sorting,
//! findings) → `load` (pixels → HU → regular grid). `guard` protects dicom-rs from hostile
//! files before it sees them.

pub mod acquisition;
pub mod contain;
pub mod enhanced;
pub mod error;
pub mod guard;
pub mod header;
pub mod load;
pub mod pixels;
pub mod scan;
pub mod segmentation;
pub mod series;
pub mod summary;
pub mod write;

pub use error::{FileError, SkippedFile};
pub use load::{LoadError, LoadOptions, LoadedVolume, Progress, load};
pub use series::{ImportOptions, ScanReport, Series, SeriesKind};

/// Scans a path and builds its series report.
pub fn scan_path(
    path: &std::path::Path,
    opts: &ImportOptions,
) -> Result<ScanReport, scan::ScanError> {
    let s = scan::scan(path, &opts.limits)?;
    Ok(series::build(s, opts))
}
