//! The state of the four views over one loaded volume — planes, crosshair, zoom, window,
//! slab, camera — and the navigation rules, free of any UI toolkit so they can be tested.

use crate::gpu::transfer::TransferPreset;
use crate::gpu::{Camera3d, SliceMode, SliceView, ViewPreset, WindowLevel};
use crate::view::{PlaneAxes, direction_letter, extent_in};
use crate::volume::Volume;
use crate::volume::reslice::{Orientation, normal_step};
use glam::DVec3;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The four views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ViewId {
    /// Axial slice view.
    Axial,
    /// Coronal slice view.
    Coronal,
    /// Sagittal slice view.
    Sagittal,
    /// 3D view.
    ThreeD,
}

impl ViewId {
    /// The slice views.
    pub const SLICES: [Self; 3] = [Self::Axial, Self::Coronal, Self::Sagittal];

    /// Index of a slice view (0..3); the 3D view is 3.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Self::Axial => "Axial",
            Self::Coronal => "Coronal",
            Self::Sagittal => "Sagittal",
            Self::ThreeD => "3D",
        }
    }

    /// The standard orientation of a slice view.
    pub fn orientation(self) -> Option<Orientation> {
        match self {
            Self::Axial => Some(Orientation::Axial),
            Self::Coronal => Some(Orientation::Coronal),
            Self::Sagittal => Some(Orientation::Sagittal),
            Self::ThreeD => None,
        }
    }

    /// Slicer's colour for the view (red axial, green coronal, yellow sagittal).
    pub fn colour(self) -> [u8; 3] {
        match self {
            Self::Axial => [230, 70, 60],
            Self::Coronal => [90, 200, 90],
            Self::Sagittal => [235, 210, 70],
            Self::ThreeD => [150, 150, 200],
        }
    }
}

/// What the 3D view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SceneMode {
    /// Ray-cast volume rendering.
    Volume,
    /// Full-volume MIP.
    Mip,
    /// Full-volume MinIP.
    Minip,
    /// The surface model.
    Surface,
}

impl SceneMode {
    /// All modes.
    pub const ALL: [Self; 4] = [Self::Volume, Self::Mip, Self::Minip, Self::Surface];

    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Self::Volume => "Volume",
            Self::Mip => "MIP",
            Self::Minip => "MinIP",
            Self::Surface => "Surface",
        }
    }
}

/// Views over one volume.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The volume shown.
    pub volume: Arc<Volume>,
    /// Each slice view's frame (rotated for oblique MPR).
    pub axes: [PlaneAxes; 3],
    /// Each slice view's centre point (pan), LPS mm; its depth follows the cursor.
    pub centres: [DVec3; 3],
    /// Each slice view's zoom, mm per point (`None`: fit on first draw).
    pub zoom: [Option<f64>; 3],
    /// The crosshair: the point where the three planes meet, LPS mm.
    pub cursor: DVec3,
    /// Slab projection of the slice views.
    pub slice_mode: SliceMode,
    /// Slab thickness, mm.
    pub slab_mm: f64,
    /// Window/level of the slice views and of the 3D MIP/MinIP.
    pub window: WindowLevel,
    /// The 3D camera.
    pub camera: Camera3d,
    /// What the 3D view shows.
    pub scene: SceneMode,
    /// Volume-rendering transfer function.
    pub transfer: TransferPreset,
    /// Radiological (true) or neurological display convention.
    pub radiological: bool,
    /// True while the user drags in the 3D view (render at reduced resolution).
    pub interacting: bool,
    /// Render the 3D view as if dragging even without a drag (frame benchmarks).
    pub simulate_drag: bool,
    /// When the wheel last zoomed the 3D view (egui input time, s).
    pub last_wheel: Option<f64>,
    /// Labels and threshold preview drawn over the slices.
    pub overlay: crate::gpu::slice_view::Overlay,
}

impl Viewer {
    /// Views centred on the volume, bone window, radiological convention.
    pub fn new(volume: Arc<Volume>) -> Self {
        let radiological = true;
        let axes = ViewId::SLICES.map(|v| {
            PlaneAxes::standard(v.orientation().unwrap_or(Orientation::Axial), radiological)
        });
        let (cursor, camera) = Self::home(&volume, &axes[0]);
        Self {
            volume,
            axes,
            centres: [cursor; 3],
            zoom: [None; 3],
            cursor,
            slice_mode: SliceMode::Slice,
            slab_mm: 20.0,
            window: WindowLevel::BONE,
            camera,
            scene: SceneMode::Volume,
            transfer: TransferPreset::CtBone,
            radiological,
            interacting: false,
            simulate_drag: false,
            last_wheel: None,
            overlay: Default::default(),
        }
    }

    /// The volume's centre and the camera framing it from the front.
    fn home(volume: &Volume, axes: &PlaneAxes) -> (DVec3, Camera3d) {
        let (lo, hi) = extent_in(volume, axes);
        let mid = (lo + hi) / 2.0;
        let centre = axes.right * mid.x + axes.down * mid.y + axes.normal * mid.z;
        let radius = ((hi - lo) / 2.0).length();
        (
            centre,
            Camera3d::framing(centre, radius, ViewPreset::Anterior),
        )
    }

    /// Switches the display convention, resetting the planes.
    pub fn set_radiological(&mut self, radiological: bool) {
        self.radiological = radiological;
        self.reset_orientation();
    }

    /// Back to the standard (non-oblique) planes.
    pub fn reset_orientation(&mut self) {
        self.axes = ViewId::SLICES.map(|v| {
            PlaneAxes::standard(
                v.orientation().unwrap_or(Orientation::Axial),
                self.radiological,
            )
        });
    }

    /// Fits every slice view again on its next draw and recentres on the crosshair.
    pub fn reset_zoom(&mut self) {
        self.zoom = [None; 3];
        self.centres = [self.cursor; 3];
    }

    /// The slice view `i` as drawn in a rectangle of `size` points.
    pub fn slice_view(&mut self, i: usize, size: [f64; 2]) -> SliceView {
        let axes = self.axes[i];
        let mm_per_px = match self.zoom[i] {
            Some(z) => z,
            None => {
                let z = SliceView::fit(&self.volume, axes, size).mm_per_px;
                self.zoom[i] = Some(z);
                z
            }
        };
        // The plane passes through the cursor; the view keeps its own pan.
        let c = self.centres[i];
        let centre = c + axes.normal * (self.cursor - c).dot(axes.normal);
        SliceView {
            axes,
            centre,
            mm_per_px,
            slab_mm: self.slab_mm,
            mode: self.slice_mode,
            window: self.window,
        }
    }

    /// Distance between slices along a view's normal, mm.
    pub fn slice_step_mm(&self, i: usize) -> f64 {
        normal_step(&self.volume, self.axes[i].normal)
    }

    /// Moves view `i`'s plane by `n` slices (the cursor moves along its normal), staying
    /// within the volume.
    pub fn step_slice(&mut self, i: usize, n: i32) {
        let normal = self.axes[i].normal;
        let step = self.slice_step_mm(i);
        let (lo, hi) = extent_in(&self.volume, &self.axes[i]);
        let depth = (self.cursor.dot(normal) + f64::from(n) * step).clamp(lo.z, hi.z);
        self.cursor += normal * (depth - self.cursor.dot(normal));
    }

    /// Shows slice `index` (from 0) of view `i` along the volume axis nearest its normal.
    pub fn go_to_slice(&mut self, i: usize, index: usize) {
        let (count, which) = self.nearest_axis(i);
        let g = self.volume.geometry;
        let Some(mut c) = g.coord_of(crate::geom::LpsPointMm(self.cursor)) else {
            return;
        };
        let x = index.min(count.saturating_sub(1)) as f64;
        match which {
            0 => c.slice = x,
            1 => c.row = x,
            _ => c.col = x,
        }
        let p = g.position(c).0;
        self.set_depth(i, p.dot(self.axes[i].normal));
    }

    /// The volume axis nearest view `i`'s normal: (planes along it, 0 slice / 1 row / 2 column).
    pub fn nearest_axis(&self, i: usize) -> (usize, usize) {
        let g = &self.volume.geometry;
        let n = self.axes[i].normal;
        let [ns, nr, nc] = self.volume.dims();
        let axes = [
            (g.slice_dir.get(), ns, 0),
            (g.row_dir.get(), nr, 1),
            (g.col_dir.get(), nc, 2),
        ];
        let (_, count, which) = axes
            .iter()
            .copied()
            .max_by(|a, b| a.0.dot(n).abs().total_cmp(&b.0.dot(n).abs()))
            .unwrap_or(axes[0]);
        (count, which)
    }

    /// Sets the plane depth of view `i` to `mm` along its normal (clamped to the volume).
    pub fn set_depth(&mut self, i: usize, mm: f64) {
        let normal = self.axes[i].normal;
        let (lo, hi) = extent_in(&self.volume, &self.axes[i]);
        let depth = mm.clamp(lo.z, hi.z);
        self.cursor += normal * (depth - self.cursor.dot(normal));
    }

    /// Slice index (1-based) and count of view `i` along the volume axis nearest its normal.
    pub fn slice_index(&self, i: usize) -> (usize, usize) {
        let g = &self.volume.geometry;
        let (count, which) = self.nearest_axis(i);
        let c = g.coord_of(crate::geom::LpsPointMm(self.cursor));
        let x = c.map_or(0.0, |c| [c.slice, c.row, c.col][which]);
        (
            (x.round().max(0.0) as usize).min(count.saturating_sub(1)) + 1,
            count,
        )
    }

    /// Rotates the planes of the other slice views about view `i`'s normal (oblique MPR:
    /// dragging one view's crosshair line).
    pub fn rotate_others(&mut self, i: usize, angle_rad: f64) {
        let axis = self.axes[i].normal;
        for j in 0..3 {
            if j != i {
                self.axes[j] = self.axes[j].rotated(axis, angle_rad);
            }
        }
    }

    /// True when any plane is oblique.
    pub fn is_oblique(&self) -> bool {
        ViewId::SLICES.iter().zip(&self.axes).any(|(v, a)| {
            let s = PlaneAxes::standard(
                v.orientation().unwrap_or(Orientation::Axial),
                self.radiological,
            );
            (s.normal - a.normal).length() > 1e-9 || (s.right - a.right).length() > 1e-9
        })
    }

    /// Orientation letters of view `i`: (left, right, top, bottom) edges.
    pub fn letters(&self, i: usize) -> [char; 4] {
        let a = self.axes[i];
        [
            direction_letter(-a.right),
            direction_letter(a.right),
            direction_letter(-a.down),
            direction_letter(a.down),
        ]
    }

    /// HU at a patient point (trilinear, as displayed); `None` outside the volume.
    pub fn hu_at(&self, p: DVec3) -> Option<f32> {
        crate::volume::reslice::sample(&self.volume, p)
    }

    /// Moves the 3D camera to a standard view.
    pub fn view_3d(&mut self, preset: ViewPreset) {
        self.camera.set_preset(preset);
    }

    /// Resets the 3D camera to frame the volume from the front.
    pub fn reset_3d(&mut self) {
        self.camera = Self::home(&self.volume, &PlaneAxes::standard(Orientation::Axial, true)).1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::SpacingMm;
    use crate::volume::VolumeGeometry;
    use ndarray::Array3;

    fn viewer() -> Viewer {
        Viewer::new(Arc::new(Volume {
            hu: Array3::from_shape_fn((20, 30, 40), |(k, j, i)| (i + j + k) as i16),
            geometry: VolumeGeometry::axis_aligned(SpacingMm {
                col: 0.5,
                row: 0.5,
                slice: 2.0,
            }),
        }))
    }

    #[test]
    fn scrolling_moves_one_slice_and_stops_at_the_ends() {
        let mut v = viewer();
        let (k0, n) = v.slice_index(0);
        assert_eq!(n, 20);
        v.step_slice(0, 1);
        assert_eq!(v.slice_index(0).0, k0 + 1);
        v.step_slice(0, 1000);
        assert_eq!(v.slice_index(0).0, 20);
        v.step_slice(0, -1000);
        assert_eq!(v.slice_index(0).0, 1);
        // The coronal view's index runs along rows and did not move.
        let (j, nr) = v.slice_index(1);
        assert_eq!(nr, 30);
        assert!(j > 1 && j < 30);
    }

    #[test]
    fn rotating_one_view_turns_the_others_only() {
        let mut v = viewer();
        let before = v.axes;
        v.rotate_others(0, 0.3);
        assert_eq!(v.axes[0], before[0]);
        assert_ne!(v.axes[1], before[1]);
        assert!(v.is_oblique());
        // Rotation about the axial normal keeps the other normals horizontal.
        assert!(v.axes[1].normal.z.abs() < 1e-12);
        v.reset_orientation();
        assert!(!v.is_oblique());
    }

    #[test]
    fn letters_follow_the_convention() {
        let mut v = viewer();
        assert_eq!(v.letters(0), ['R', 'L', 'A', 'P']);
        assert_eq!(v.letters(1), ['R', 'L', 'S', 'I']);
        assert_eq!(v.letters(2), ['A', 'P', 'S', 'I']);
        v.set_radiological(false);
        assert_eq!(v.letters(0), ['L', 'R', 'A', 'P']);
    }
}
