//! One file per operation family; each implements [`super::op::SegOp`].

pub mod boolean;
pub mod brush;
pub mod cluster;
pub mod crop;
pub mod edge;
pub mod import;
pub mod interpolate;
pub mod islands;
pub mod labels;
pub mod lasso;
pub mod level_set;
pub mod morphology;
pub mod region_grow;
pub mod threshold;
pub mod watershed;
