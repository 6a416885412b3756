//! Image-processing kernels the operations build on: plain functions on arrays, each
//! deterministic whatever the thread count, each tested on known answers.

pub mod bitmorph;
pub mod cluster;
pub mod edt;
pub mod gradient;
pub mod level_set;
pub mod watershed;
