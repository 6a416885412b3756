//! Why a single DICOM file could not be used.

use std::path::PathBuf;
use thiserror::Error;

/// Why one file was skipped by the import. Each message is written for the operator: it
/// says what is wrong; `SkipReason::advice` says what to do.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum FileError {
    /// The file could not be read from disk.
    #[error("cannot read file: {0}")]
    Io(String),
    /// Zero bytes.
    #[error("empty file (0 bytes)")]
    Empty,
    /// Not a DICOM Part 10 file (no "DICM" marker at byte 128).
    #[error("not DICOM: {0}")]
    NotDicom(String),
    /// A DICOMDIR-style index, not an image.
    #[error("directory index (DICOMDIR), not an image; the files it lists are scanned directly")]
    DicomDir,
    /// The structure ends before a declared element does.
    #[error("damaged: truncated: {0}")]
    Truncated(String),
    /// An element declares more bytes than the file holds.
    #[error(
        "damaged: element {tag} has declared length {declared} bytes but only {available} bytes remain in the file (truncated, or a corrupt length)"
    )]
    DeclaredLength {
        /// The tag, formatted (gggg,eeee).
        tag: String,
        /// Declared length in bytes.
        declared: u64,
        /// Bytes left in the file after the element header.
        available: u64,
    },
    /// Sequences nested deeper than the cap.
    #[error("damaged: sequence nesting deeper than {0} levels")]
    Nesting(usize),
    /// Larger than the per-file cap.
    #[error("file of {size} bytes exceeds the per-file limit of {limit} bytes")]
    TooLarge {
        /// File size.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// Transfer syntax that no built-in codec decodes.
    #[error(
        "unsupported transfer syntax {uid} ({name}); convert the file to an uncompressed or lossless syntax (e.g. `gdcmconv --raw`)"
    )]
    UnsupportedTransferSyntax {
        /// Transfer syntax UID.
        uid: String,
        /// Human name, when known.
        name: String,
    },
    /// A DICOM object without Pixel Data.
    #[error("not an image: no pixel data ({0})")]
    NoPixelData(String),
    /// Image attributes make no sense (zero rows, colour CT, ...).
    #[error("not a usable image: {0}")]
    BadImage(String),
    /// Geometry attributes are missing or invalid.
    #[error("missing or invalid geometry: {0}")]
    Geometry(String),
    /// Declared frame size disagrees with the pixel data.
    #[error("damaged: frame size mismatch: {0}")]
    FrameSize(String),
    /// The DICOM parser or codec failed.
    #[error("damaged: {0}")]
    Damaged(String),
}

/// A file the import did not use, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Why it was not used.
    pub reason: String,
}
