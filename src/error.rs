//! The top-level error: what went wrong, for whom (the operation or the input), and the
//! exit code that follows.

use thiserror::Error;

/// Any failure the CLI reports.
#[derive(Debug, Error)]
pub enum Error {
    /// The input or the arguments are wrong (exit code 2).
    #[error("{0}")]
    BadInput(String),
    /// The operation failed (exit code 1).
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// 2 for bad input or arguments, 1 for a failed operation.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::BadInput(_) => 2,
            Self::Failed(_) => 1,
        }
    }
}

impl From<crate::dicom::scan::ScanError> for Error {
    fn from(e: crate::dicom::scan::ScanError) -> Self {
        Self::BadInput(e.to_string())
    }
}

impl From<crate::dicom::LoadError> for Error {
    fn from(e: crate::dicom::LoadError) -> Self {
        use crate::dicom::LoadError as L;
        match e {
            L::NotLoadable { .. }
            | L::BadSpacing(_)
            | L::Slices { .. }
            | L::TooLarge { .. }
            | L::ResampledTooLarge { .. }
            | L::GapTooLarge { .. } => Self::BadInput(e.to_string()),
            L::Cancelled => Self::Failed(e.to_string()),
        }
    }
}

impl From<crate::io::nifti::NiftiError> for Error {
    fn from(e: crate::io::nifti::NiftiError) -> Self {
        match e {
            crate::io::nifti::NiftiError::Format { .. }
            | crate::io::nifti::NiftiError::Open { .. } => Self::BadInput(e.to_string()),
            crate::io::nifti::NiftiError::Io { .. } => Self::Failed(e.to_string()),
        }
    }
}
