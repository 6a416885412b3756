//! Coordinate frames and units as types, so that millimetres and voxel indices, or LPS and
//! RAS, cannot be mixed up by accident.
//!
//! - **LPS** is DICOM patient space: +x towards the patient's left, +y posterior, +z
//!   superior, in millimetres. Everything in memory is LPS.
//! - **RAS** is NIfTI's world frame (+x right, +y anterior, +z superior): LPS with x and y
//!   negated.
//! - **Index space** addresses voxels of an `Array3` in the order `[slice, row, column]`.

use glam::DVec3;
use serde::{Deserialize, Serialize};

/// A point in DICOM patient space (LPS), millimetres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LpsPointMm(pub DVec3);

/// A displacement in DICOM patient space (LPS), millimetres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LpsVectorMm(pub DVec3);

/// A unit direction in DICOM patient space (LPS), dimensionless.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LpsDirection(DVec3);

/// A point in RAS space (NIfTI's world frame), millimetres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RasPointMm(pub DVec3);

/// An integer voxel address `[slice, row, column]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VoxelIndex {
    /// Slice index (k), along the stacking direction.
    pub slice: usize,
    /// Row index (j), along the column direction cosine.
    pub row: usize,
    /// Column index (i), along the row direction cosine.
    pub col: usize,
}

/// A continuous position in index space `[slice, row, column]`, in voxel units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VoxelCoord {
    /// Slice coordinate (k).
    pub slice: f64,
    /// Row coordinate (j).
    pub row: f64,
    /// Column coordinate (i).
    pub col: f64,
}

/// Voxel spacing in millimetres, per index axis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpacingMm {
    /// Distance between adjacent columns (along the row direction), mm.
    pub col: f64,
    /// Distance between adjacent rows (along the column direction), mm.
    pub row: f64,
    /// Distance between adjacent slices (along the slice direction), mm.
    pub slice: f64,
}

impl LpsPointMm {
    /// Builds a point from LPS components in mm.
    pub fn new(x: f64, y: f64, z: f64) -> Self {
        Self(DVec3::new(x, y, z))
    }
    /// Converts to RAS by negating x and y.
    pub fn to_ras(self) -> RasPointMm {
        RasPointMm(DVec3::new(-self.0.x, -self.0.y, self.0.z))
    }
    /// The displacement from `other` to `self`.
    pub fn minus(self, other: LpsPointMm) -> LpsVectorMm {
        LpsVectorMm(self.0 - other.0)
    }
    /// This point moved by `v`.
    pub fn plus(self, v: LpsVectorMm) -> LpsPointMm {
        LpsPointMm(self.0 + v.0)
    }
}

impl RasPointMm {
    /// Converts to LPS by negating x and y.
    pub fn to_lps(self) -> LpsPointMm {
        LpsPointMm(DVec3::new(-self.0.x, -self.0.y, self.0.z))
    }
}

impl LpsVectorMm {
    /// Component along a unit direction, mm.
    pub fn along(self, d: LpsDirection) -> f64 {
        self.0.dot(d.0)
    }
    /// Length in mm.
    pub fn length(self) -> f64 {
        self.0.length()
    }
}

impl LpsDirection {
    /// +x, towards the patient's left.
    pub const X: Self = Self(DVec3::X);
    /// +y, posterior.
    pub const Y: Self = Self(DVec3::Y);
    /// +z, superior.
    pub const Z: Self = Self(DVec3::Z);

    /// Normalises `v`; `None` when it is (nearly) zero or not finite.
    pub fn new(v: DVec3) -> Option<Self> {
        let len = v.length();
        if !len.is_finite() || len < 1e-6 {
            return None;
        }
        Some(Self(v / len))
    }
    /// The unit vector.
    pub fn get(self) -> DVec3 {
        self.0
    }
    /// Cross product, normalised (the slice normal of a row and a column direction).
    pub fn cross(self, other: LpsDirection) -> Option<LpsDirection> {
        LpsDirection::new(self.0.cross(other.0))
    }
    /// Angle to `other` in degrees, 0..=180.
    pub fn angle_deg(self, other: LpsDirection) -> f64 {
        self.0.dot(other.0).clamp(-1.0, 1.0).acos().to_degrees()
    }
    /// A step of `mm` millimetres along this direction.
    pub fn scaled(self, mm: f64) -> LpsVectorMm {
        LpsVectorMm(self.0 * mm)
    }
}

impl VoxelIndex {
    /// Builds an index from `[slice, row, col]`.
    pub fn new(slice: usize, row: usize, col: usize) -> Self {
        Self { slice, row, col }
    }
}

impl From<VoxelIndex> for VoxelCoord {
    fn from(v: VoxelIndex) -> Self {
        VoxelCoord {
            slice: v.slice as f64,
            row: v.row as f64,
            col: v.col as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lps_ras_round_trip_negates_x_and_y() {
        let p = LpsPointMm::new(1.0, -2.0, 3.0);
        let r = p.to_ras();
        assert_eq!(r.0, DVec3::new(-1.0, 2.0, 3.0));
        assert_eq!(r.to_lps(), p);
    }

    #[test]
    fn direction_rejects_zero_and_nan() {
        assert!(LpsDirection::new(DVec3::ZERO).is_none());
        assert!(LpsDirection::new(DVec3::new(f64::NAN, 0.0, 1.0)).is_none());
        let d = LpsDirection::new(DVec3::new(0.0, 0.0, 2.0)).map(|d| d.get());
        assert_eq!(d, Some(DVec3::Z));
    }

    #[test]
    fn cross_of_axial_cosines_is_superior() {
        let x = LpsDirection::new(DVec3::X);
        let y = LpsDirection::new(DVec3::Y);
        let n = x.zip(y).and_then(|(x, y)| x.cross(y)).map(|n| n.get());
        assert_eq!(n, Some(DVec3::Z));
    }
}
