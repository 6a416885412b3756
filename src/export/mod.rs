//! Writers for the standard formats: surface models (STL, 3MF, OBJ), volumes (NRRD;
//! NIfTI lives in `io`) and per-slice outlines. Every writer is atomic.

pub mod contours;
pub mod dicom_rt;
pub mod dicom_seg;
pub mod image;
pub mod nrrd;
pub mod obj;
pub mod stl;
pub mod surface;
pub mod threemf;
pub mod threemf_read;
pub mod volume;
