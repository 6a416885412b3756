//! Image-processing kernels the operations build on: plain functions on arrays, each
//! deterministic whatever the thread count, each tested on known answers.

pub mod edt;
pub mod gradient;
pub mod watershed;
