//! File formats other than DICOM, and the atomic-write rule every writer follows.

pub mod atomic;
pub mod nifti;
