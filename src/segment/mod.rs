//! Segmentation: labels as bit-packed masks, every change an [`op::Operation`] recorded in
//! an append-only [`log::OperationLog`] with mask hashes, undo by reversible deltas, and
//! bit-for-bit replay.

pub mod algo;
pub mod components;
pub mod log;
pub mod mask;
pub mod model;
pub mod op;
pub mod ops;
pub mod presets;
pub mod seeds;
pub mod session;
pub mod undo;

pub use log::{OperationLog, replay};
pub use mask::Mask;
pub use model::Segmentation;
pub use op::{OpError, Operation};
pub use session::Session;
