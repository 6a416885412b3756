//! The editor's state: the active tool, the label display, the threshold, brush and
//! polygon in progress, the generic operation form, verification and reconstruction
//! settings. Panels read and write it, views feed it input, and everything that changes
//! the case goes through a [`super::command::UiCommand`].

use crate::case::ledger::{Coverage, Orientation};
use crate::mesh::params::MeshParams;
use crate::segment::ops::brush::{BrushMode, BrushShape};
use crate::volume::Volume;
use glam::DVec3;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a left drag in a slice view does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// Move the crosshair (the viewer's own bindings).
    Navigate,
    /// Threshold with a live preview.
    Threshold,
    /// Paint or erase with a disc or ball.
    Brush,
    /// Fill or erase a polygon on the slice.
    Lasso,
    /// Cut through the volume along the view direction.
    Scissors,
    /// Click to place region-growing seeds and island picks.
    Seed,
    /// Step through slices and confirm them.
    Verify,
    /// Click points to measure a distance, an angle, an area or HU statistics.
    Measure,
}

impl Tool {
    /// Every tool, in panel order.
    pub const ALL: [Tool; 8] = [
        Self::Navigate,
        Self::Threshold,
        Self::Brush,
        Self::Lasso,
        Self::Scissors,
        Self::Seed,
        Self::Verify,
        Self::Measure,
    ];

    /// Button text.
    pub fn label(self) -> &'static str {
        match self {
            Self::Navigate => "Navigate",
            Self::Threshold => "Threshold",
            Self::Brush => "Brush",
            Self::Lasso => "Lasso",
            Self::Scissors => "Scissors",
            Self::Seed => "Seeds",
            Self::Verify => "Verify",
            Self::Measure => "Measure",
        }
    }
}

/// How a label is shown (display only: not part of the case).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelDisplay {
    /// Drawn at all.
    pub visible: bool,
    /// Fill opacity, 0..1 (outlines stay).
    pub opacity: f32,
    /// Editing tools leave it alone.
    pub locked: bool,
}

impl Default for LabelDisplay {
    fn default() -> Self {
        Self {
            visible: true,
            opacity: 1.0,
            locked: false,
        }
    }
}

/// The threshold tool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdState {
    /// Lowest HU included.
    pub lo: i32,
    /// Highest HU included.
    pub hi: i32,
    /// Show the preview in the slice views.
    pub preview: bool,
    /// With the preview, show the range's surface in the 3D view.
    pub surface_3d: bool,
    /// The 3D preview shows only the largest 26-connected component.
    pub largest_only: bool,
}

/// The brush.
#[derive(Debug, Clone, PartialEq)]
pub struct BrushState {
    /// Radius, mm.
    pub radius_mm: f64,
    /// Paint or erase.
    pub mode: BrushMode,
    /// Disc in the view's plane, or ball.
    pub shape: BrushShape,
    /// Change only voxels within this HU range.
    pub hu_limit: Option<[i32; 2]>,
    /// The stroke being drawn: the view and its centres so far, LPS mm.
    pub stroke: Option<(usize, Vec<DVec3>)>,
}

/// A polygon being drawn for the lasso or scissors.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Polygon {
    /// The view it is drawn in.
    pub view: Option<usize>,
    /// Vertices, LPS mm.
    pub points: Vec<DVec3>,
    /// Lasso: erase instead of fill; scissors: keep inside instead of erasing it.
    pub invert: bool,
}

/// The generic operation panel.
#[derive(Debug, Clone, PartialEq)]
pub struct OpForm {
    /// Operation name.
    pub name: String,
    /// Its parameters (JSON, edited field by field).
    pub params: serde_json::Value,
    /// Seeds clicked in the views, LPS mm (filled into `seeds_mm` / `points_mm`).
    pub seeds: Vec<DVec3>,
}

/// Verification mode.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyState {
    /// The orientation being stepped through.
    pub orientation: Orientation,
    /// Note for the next flag.
    pub note: String,
    /// Coverage computed for this segmentation hash and mark count.
    pub cache: Option<(String, usize, Vec<Coverage>)>,
    /// Per-plane states of the active label in `orientation` (for the strip), same key.
    pub strip: Option<(String, usize, Orientation, String, Vec<PlaneState>)>,
}

/// One plane's verification state, as the strip shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaneState {
    /// Never verified (or cleared).
    Unverified,
    /// Verified and unchanged since.
    Verified,
    /// Flagged.
    Flagged,
    /// Verified, then changed.
    Changed,
}

/// Reconstruction and export settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelState {
    /// Labels to reconstruct (default: the active one).
    pub labels: Vec<String>,
    /// Parameters.
    pub params: MeshParams,
    /// File name stem for exports.
    pub export_name: String,
    /// The journal record of the last reconstruction made in this session.
    pub reconstruction: Option<usize>,
    /// The thin region picked in the list.
    pub picked_thin: Option<usize>,
    /// Export surfaces that face inwards or intersect themselves (recorded in the export).
    pub allow_defects: bool,
    /// The exports' states as last checked: journal length, when, and (path, state)
    /// lines. Checking hashes every file, so it is redone when the journal grows or
    /// every few seconds (a file changed outside), not every frame.
    pub export_lines: Option<(usize, std::time::Instant, Vec<String>)>,
    /// A recorded reconstruction being recomputed to show it (review): checked against
    /// its record, not recorded again.
    pub showing_record: Option<usize>,
}

/// HU histogram of the volume: the engine's own (one count per i16 value), so the Otsu and
/// triangle buttons give exactly what the `threshold_auto` operation computes.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Counts, index `hu + 32768`.
    pub counts: Vec<u64>,
}

/// Lowest HU the histogram shows.
pub const HIST_MIN_HU: i32 = -1024;
/// Highest HU the histogram shows.
pub const HIST_MAX_HU: i32 = 3071;

impl Histogram {
    /// Counts every voxel.
    pub fn of(v: &Volume) -> Self {
        Self {
            counts: crate::segment::ops::threshold::histogram(&v.hu),
        }
    }

    /// Voxels with HU in `lo..=hi`.
    pub fn count_in(&self, lo: i32, hi: i32) -> u64 {
        if lo > hi {
            return 0;
        }
        let idx = |h: i32| (h.clamp(-32768, 32767) + 32768) as usize;
        self.counts[idx(lo)..=idx(hi)].iter().sum()
    }

    /// Otsu's threshold over the displayed range (the operation's default range).
    pub fn otsu(&self) -> i32 {
        crate::segment::ops::threshold::otsu(&self.counts, HIST_MIN_HU, HIST_MAX_HU)
    }

    /// The triangle threshold over the displayed range.
    pub fn triangle(&self) -> i32 {
        crate::segment::ops::threshold::triangle(&self.counts, HIST_MIN_HU, HIST_MAX_HU)
    }
}

/// What the Measure tool measures with the points clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MeasureTool {
    /// Two clicks.
    Distance,
    /// Three clicks, the vertex second.
    Angle,
    /// A closed curve (double-click or Enter closes it).
    Area,
    /// HU statistics inside a closed curve.
    Hu,
}

impl MeasureTool {
    /// Every one, in panel order.
    pub const ALL: [MeasureTool; 4] = [Self::Distance, Self::Angle, Self::Area, Self::Hu];

    /// Button text.
    pub fn label(self) -> &'static str {
        match self {
            Self::Distance => "Distance",
            Self::Angle => "Angle",
            Self::Area => "Area",
            Self::Hu => "HU statistics",
        }
    }

    /// Points that complete it (`None`: a curve, closed by the user).
    pub fn points_needed(self) -> Option<usize> {
        match self {
            Self::Distance => Some(2),
            Self::Angle => Some(3),
            Self::Area | Self::Hu => None,
        }
    }
}

/// The Measure tool: the kind, the points so far and the name for the next measurement.
#[derive(Debug, Clone)]
pub struct MeasureState {
    /// What the clicks measure.
    pub kind: MeasureTool,
    /// The view the points are in.
    pub view: Option<usize>,
    /// Points clicked so far, LPS mm.
    pub points: Vec<glam::DVec3>,
    /// Name for the next measurement.
    pub name: String,
}

/// Where a review note is pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotePin {
    /// Nowhere.
    None,
    /// The axial slice at the crosshair (flagged in the ledger).
    Slice,
    /// The crosshair's point on the model.
    Point,
}

/// The Review panel's form.
#[derive(Debug, Clone)]
pub struct ReviewForm {
    /// The reviewer's name.
    pub reviewer: String,
    /// The note being written.
    pub note: String,
    /// Where it is pinned.
    pub pin: NotePin,
    /// The review state as last computed, with the journal length it was computed at.
    pub status: Option<(usize, crate::review::ReviewStatus)>,
}

/// Everything the editor holds between frames.
#[derive(Debug, Clone)]
pub struct Editor {
    /// Active tool.
    pub tool: Tool,
    /// The label tools write to.
    pub active_label: String,
    /// Display settings by label name.
    pub display: BTreeMap<String, LabelDisplay>,
    /// Threshold tool.
    pub threshold: ThresholdState,
    /// Brush.
    pub brush: BrushState,
    /// Lasso / scissors polygon.
    pub polygon: Polygon,
    /// Generic operation panel.
    pub form: OpForm,
    /// Verification.
    pub verify: VerifyState,
    /// Reconstruction and export.
    pub model: ModelState,
    /// The volume's histogram.
    pub histogram: Option<Histogram>,
    /// Name for a new label.
    pub new_label: String,
    /// An export waiting for the operator to accept incomplete verification.
    pub export_confirm: Option<(crate::case::event::ExportFormat, String)>,
    /// Where the histogram was drawn last (points), for input tests.
    pub histogram_rect: Option<egui::Rect>,
    /// Two labels compared (for trainers: two techniques on one scan).
    pub compare: CompareState,
    /// The Measure tool.
    pub measure: MeasureState,
    /// The Review panel.
    pub review: ReviewForm,
}

/// Two labels compared: the pick, the figures, and the difference overlay.
#[derive(Debug, Clone, Default)]
pub struct CompareState {
    /// Label A.
    pub a: String,
    /// Label B.
    pub b: String,
    /// The last comparison: labels, their mask hashes when compared, the figures.
    pub result: Option<LabelComparison>,
    /// Show only-A, only-B and both in the slice views instead of the labels.
    pub difference: bool,
    /// Open the section on the next frame (a comparison just finished).
    pub reveal: bool,
    /// The difference labels built for the overlay, with the segmentation hash they came
    /// from.
    pub overlay: Option<(String, std::sync::Arc<crate::segment::model::Segmentation>)>,
}

/// Two labels' masks compared.
#[derive(Debug, Clone)]
pub struct LabelComparison {
    /// Label A and its mask hash when compared.
    pub a: (String, String),
    /// Label B and its mask hash.
    pub b: (String, String),
    /// The segmentation's hash when compared (any later change makes the figures stale).
    pub segmentation_hash: String,
    /// The figures.
    pub figures: crate::compare::MaskComparison,
}

/// Names and colours of the difference overlay's labels.
pub const DIFFERENCE_LABELS: [(&str, [u8; 3]); 3] = [
    ("only A", [230, 60, 50]),
    ("only B", [40, 120, 230]),
    ("A and B", [240, 220, 80]),
];

/// The difference of two masks as three labels (only A, only B, both), slice hashes
/// computed (the GPU upload compares them).
pub fn difference_labels(
    a: &crate::segment::Mask,
    b: &crate::segment::Mask,
    geometry: crate::volume::VolumeGeometry,
) -> crate::segment::model::Segmentation {
    use crate::segment::Mask;
    let mut seg = crate::segment::model::Segmentation::new(a.dims(), geometry);
    let combine = |f: fn(u64, u64) -> u64| {
        let mut m = Mask::new(a.dims());
        for ((o, x), y) in m.words_mut().iter_mut().zip(a.words()).zip(b.words()) {
            *o = f(*x, *y);
        }
        m
    };
    let masks = [
        combine(|x, y| x & !y),
        combine(|x, y| !x & y),
        combine(|x, y| x & y),
    ];
    for ((name, colour), m) in DIFFERENCE_LABELS.iter().zip(masks) {
        seg.set_mask(name, m);
        if let Some(l) = seg.get_mut(name) {
            l.meta.color = *colour;
        }
    }
    let _ = seg.final_hash();
    seg
}

impl Default for Editor {
    fn default() -> Self {
        Self {
            tool: Tool::Navigate,
            active_label: "bone".into(),
            display: BTreeMap::new(),
            threshold: ThresholdState {
                lo: 226,
                hi: 3071,
                preview: true,
                surface_3d: true,
                largest_only: false,
            },
            brush: BrushState {
                radius_mm: 3.0,
                mode: BrushMode::Paint,
                shape: BrushShape::Disc,
                hu_limit: None,
                stroke: None,
            },
            polygon: Polygon::default(),
            form: OpForm {
                name: "keep_largest".into(),
                params: super::op_templates::template("keep_largest"),
                seeds: Vec::new(),
            },
            verify: VerifyState {
                orientation: Orientation::Axial,
                note: String::new(),
                cache: None,
                strip: None,
            },
            model: ModelState {
                labels: Vec::new(),
                params: MeshParams {
                    // 20 x 0.1 left self-intersections on the head phantom; 0.2 does not.
                    smooth: Some("sinc:20:0.2".into()),
                    ..Default::default()
                },
                export_name: "model".into(),
                reconstruction: None,
                picked_thin: None,
                allow_defects: false,
                export_lines: None,
                showing_record: None,
            },
            histogram: None,
            new_label: String::new(),
            export_confirm: None,
            histogram_rect: None,
            compare: CompareState::default(),
            measure: MeasureState {
                kind: MeasureTool::Distance,
                view: None,
                points: Vec::new(),
                name: String::new(),
            },
            review: ReviewForm {
                reviewer: String::new(),
                note: String::new(),
                pin: NotePin::None,
                status: None,
            },
        }
    }
}

impl Editor {
    /// The display of a label (default when never set).
    pub fn display_of(&self, name: &str) -> LabelDisplay {
        self.display.get(name).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::SpacingMm;
    use crate::volume::VolumeGeometry;

    #[test]
    fn the_histogram_counts_every_voxel_and_splits_two_levels() {
        let hu = ndarray::Array3::from_shape_fn((3, 4, 5), |(k, j, i)| {
            [-2000i16, 0, 500, 4000][((k * 4 + j) * 5 + i) % 4]
        });
        let v = Volume {
            hu,
            geometry: VolumeGeometry::axis_aligned(SpacingMm {
                col: 1.0,
                row: 1.0,
                slice: 1.0,
            }),
        };
        let h = Histogram::of(&v);
        assert_eq!(h.counts.iter().sum::<u64>(), 60);
        assert_eq!(h.count_in(-2000, -2000), 15);
        assert_eq!(h.count_in(-1024, 3071), 30);
        assert_eq!(h.count_in(0, 500), 30);
        assert_eq!(h.count_in(600, 100), 0);
        let t = h.otsu();
        assert!(t > 0 && t <= 500, "{t}");
    }
}
