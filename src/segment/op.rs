//! Operations: every change to a segmentation is a serialisable value with all its
//! parameters. Each family lives in its own file under `ops/` and implements [`SegOp`];
//! adding an operation is adding a file and one line to the `operations!` table below.
//!
//! Applying an operation is a pure function of (volume, current masks, operation): no
//! clock, no unrecorded randomness, and the same bits on any number of threads.

use super::model::Segmentation;
use super::ops;
use crate::volume::Volume;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why an operation cannot be applied.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum OpError {
    /// A parameter is invalid; names the field.
    #[error("field `{field}`: {message}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A label the operation reads does not exist.
    #[error("label `{0}` does not exist")]
    NoLabel(String),
    /// The segmentation grid differs from the volume's (after `resample`).
    #[error("this operation reads the image, but the segmentation was resampled onto another grid")]
    GridMismatch,
}

impl OpError {
    /// An invalid-field error.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// What applying an operation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Labels whose mask or metadata changed (names after the step).
    pub changed: Vec<String>,
    /// Labels renamed, `(from, to)`: undo follows identities, not names.
    pub renamed: Vec<(String, String)>,
    /// Values computed on the way (e.g. an automatic threshold), for the record.
    pub notes: Vec<String>,
}

impl Outcome {
    /// One changed label.
    pub fn changed(label: &str) -> Self {
        Self {
            changed: vec![label.to_string()],
            ..Default::default()
        }
    }

    /// Adds a note.
    pub fn note(mut self, n: impl Into<String>) -> Self {
        self.notes.push(n.into());
        self
    }
}

/// One operation family.
pub trait SegOp {
    /// Checks the parameters against the volume and segmentation; errors name the field.
    fn validate(&self, volume: &Volume, seg: &Segmentation) -> Result<(), OpError>;
    /// Applies the operation.
    fn apply(&self, volume: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError>;
    /// Applies it with an accelerator where the operation has a GPU path (threshold,
    /// keep-largest); the result is the CPU's, bit for bit, and the note says which ran.
    fn apply_on(
        &self,
        volume: &Volume,
        seg: &mut Segmentation,
        compute: &crate::compute::Compute,
    ) -> Result<Outcome, OpError> {
        let _ = compute;
        self.apply(volume, seg)
    }
    /// The label it writes, when it writes one and the recipe may leave it implicit.
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        None
    }
    /// The labels it may change, when known in advance: undo then snapshots only those.
    fn writes(&self) -> Option<Vec<String>> {
        None
    }
}

/// Resolves an optional target label.
pub fn target(label: &Option<String>) -> &str {
    label.as_deref().unwrap_or(DEFAULT_LABEL)
}

/// The label used when neither the recipe nor `--label` names one.
pub const DEFAULT_LABEL: &str = "segment";

/// Fails when the segmentation is not on the volume's grid.
pub fn same_grid(volume: &Volume, seg: &Segmentation) -> Result<(), OpError> {
    if volume.dims() == seg.dims() {
        Ok(())
    } else {
        Err(OpError::GridMismatch)
    }
}

/// An optional label (`within`, `region`) as a boolean array, for kernels that take one.
pub fn region_bools(
    seg: &Segmentation,
    name: &Option<String>,
) -> Result<Option<ndarray::Array3<bool>>, OpError> {
    name.as_ref()
        .map(|w| {
            seg.get(w)
                .map(|l| l.mask.to_bools())
                .ok_or_else(|| OpError::NoLabel(w.clone()))
        })
        .transpose()
}

/// Fails when `name` is not a label.
pub fn require_label(seg: &Segmentation, name: &str, field: &str) -> Result<(), OpError> {
    if seg.get(name).is_some() {
        Ok(())
    } else {
        Err(OpError::invalid(
            field,
            format!("label `{name}` does not exist"),
        ))
    }
}

macro_rules! operations {
    ($($variant:ident($ty:ty) = $name:literal,)*) => {
        /// Every operation, tagged by `"op"` in JSON.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "op")]
        pub enum Operation {
            $(
                #[doc = concat!("`", $name, "`")]
                #[serde(rename = $name)]
                $variant($ty),
            )*
        }

        impl Operation {
            fn inner(&self) -> &dyn SegOp {
                match self { $(Self::$variant(o) => o,)* }
            }
            fn inner_mut(&mut self) -> &mut dyn SegOp {
                match self { $(Self::$variant(o) => o,)* }
            }
            /// The operation's JSON name.
            pub fn name(&self) -> &'static str {
                match self { $(Self::$variant(_) => $name,)* }
            }
            /// All operation names.
            pub const NAMES: &'static [&'static str] = &[$($name,)*];
        }
    };
}

operations! {
    Threshold(ops::threshold::Threshold) = "threshold",
    ThresholdPreset(ops::threshold::ThresholdPreset) = "threshold_preset",
    ThresholdAuto(ops::threshold::ThresholdAuto) = "threshold_auto",
    KeepLargest(ops::islands::KeepLargest) = "keep_largest",
    KeepSelected(ops::islands::KeepSelected) = "keep_selected",
    RemoveSmall(ops::islands::RemoveSmall) = "remove_small",
    SplitIslands(ops::islands::SplitIslands) = "split_islands",
    ConnectedThreshold(ops::region_grow::ConnectedThreshold) = "connected_threshold",
    ConfidenceConnected(ops::region_grow::ConfidenceConnected) = "confidence_connected",
    GradientThreshold(ops::edge::GradientThreshold) = "gradient_threshold",
    Canny(ops::edge::Canny) = "canny",
    Watershed(ops::watershed::Watershed) = "watershed",
    ChanVese(ops::level_set::ChanVese) = "chan_vese",
    GeodesicActiveContour(ops::level_set::GeodesicActiveContour) = "geodesic_active_contour",
    KMeans(ops::cluster::KMeans) = "kmeans",
    FuzzyCMeans(ops::cluster::FuzzyCMeans) = "fuzzy_cmeans",
    Boolean(ops::boolean::Boolean) = "boolean",
    Invert(ops::boolean::Invert) = "invert",
    AddLabel(ops::labels::AddLabel) = "add_label",
    CopyLabel(ops::labels::CopyLabel) = "copy_label",
    RenameLabel(ops::labels::RenameLabel) = "rename_label",
    DeleteLabel(ops::labels::DeleteLabel) = "delete_label",
    Dilate(ops::morphology::Dilate) = "dilate",
    Erode(ops::morphology::Erode) = "erode",
    Open(ops::morphology::Open) = "open",
    Close(ops::morphology::Close) = "close",
    FillHoles(ops::morphology::FillHoles) = "fill_holes",
    Hollow(ops::morphology::Hollow) = "hollow",
    Brush(ops::brush::Brush) = "brush",
    Lasso(ops::lasso::Lasso) = "lasso",
    Scissors(ops::lasso::Scissors) = "scissors",
    InterpolateSlices(ops::interpolate::InterpolateSlices) = "interpolate_slices",
    Crop(ops::crop::Crop) = "crop",
    Resample(ops::crop::Resample) = "resample",
    ImportMask(ops::import::ImportMask) = "import_mask",
}

impl Operation {
    /// Parses a JSON array of operations; errors name the step (`what` N, from 1), the
    /// operation and the field.
    pub fn parse_list(v: &serde_json::Value, what: &str) -> Result<Vec<Operation>, String> {
        let items = v
            .as_array()
            .ok_or_else(|| format!("{what}s must be a JSON array of operations"))?;
        if items.is_empty() {
            return Err(format!(
                "there is no {what}: the list of operations is empty"
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(n, item)| {
                let name = item.get("op").and_then(|o| o.as_str()).unwrap_or("?");
                if item.get("op").is_none() {
                    return Err(format!(
                        "{what} {}: missing field `op` (one of: {})",
                        n + 1,
                        Self::NAMES.join(", ")
                    ));
                }
                serde_json::from_value::<Operation>(item.clone()).map_err(|e| {
                    if Self::NAMES.contains(&name) {
                        format!("{what} {} ({name}): {e}", n + 1)
                    } else {
                        format!(
                            "{what} {}: unknown op `{name}`; the operations are: {}",
                            n + 1,
                            Self::NAMES.join(", ")
                        )
                    }
                })
            })
            .collect()
    }

    /// Fills an implicit target label with `default`, so the log records it explicitly.
    pub fn resolve_label(&mut self, default: &str) {
        if let Some(t) = self.inner_mut().target_mut()
            && t.is_none()
        {
            *t = Some(default.to_string());
        }
    }

    /// Checks parameters.
    pub fn validate(&self, volume: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        self.inner().validate(volume, seg)
    }

    /// The labels it may change, when known in advance.
    pub fn writes(&self) -> Option<Vec<String>> {
        self.inner().writes()
    }

    /// Fills a preset's HU range from the table, so the log records it.
    pub fn resolve_presets(&mut self, presets: &super::presets::Presets) -> Result<(), OpError> {
        if let Self::ThresholdPreset(p) = self {
            p.resolve(presets)?;
        }
        Ok(())
    }

    /// Validates, then applies.
    pub fn apply(&self, volume: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        self.apply_on(volume, seg, &crate::compute::Compute::cpu())
    }

    /// Validates, then applies where `compute` says (see [`SegOp::apply_on`]).
    pub fn apply_on(
        &self,
        volume: &Volume,
        seg: &mut Segmentation,
        compute: &crate::compute::Compute,
    ) -> Result<Outcome, OpError> {
        self.inner().validate(volume, seg)?;
        self.inner().apply_on(volume, seg, compute)
    }
}
