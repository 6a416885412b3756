//! Where each voxel of a volume lies in patient space.

use crate::geom::{LpsDirection, LpsPointMm, LpsVectorMm, SpacingMm, VoxelCoord};
use glam::{DMat3, DVec3};
use serde::{Deserialize, Serialize};

/// Maps voxel indices `[slice, row, column]` to LPS millimetres.
///
/// `position(k, j, i) = origin + i·spacing.col·col_dir + j·spacing.row·row_dir +
/// k·spacing.slice·slice_dir`. The three directions are unit vectors; they are orthogonal
/// for a regular volume and may be sheared for a raw gantry-tilted stack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VolumeGeometry {
    /// Centre of voxel `[0, 0, 0]`, LPS mm.
    pub origin: LpsPointMm,
    /// Direction of increasing column index (DICOM's row direction cosine).
    pub col_dir: LpsDirection,
    /// Direction of increasing row index (DICOM's column direction cosine).
    pub row_dir: LpsDirection,
    /// Direction of increasing slice index.
    pub slice_dir: LpsDirection,
    /// Voxel spacing, mm.
    pub spacing: SpacingMm,
}

/// Largest angle, in degrees, between the slice direction and the in-plane normal that we
/// still call orthogonal. IPP is stored with ~0.01 mm precision, which over a 100 mm stack
/// gives angles far below this.
pub const ORTHOGONAL_TOLERANCE_DEG: f64 = 0.05;

impl VolumeGeometry {
    /// Identity-like geometry: axes along LPS, given spacing, origin at zero.
    pub fn axis_aligned(spacing: SpacingMm) -> Self {
        Self {
            origin: LpsPointMm::new(0.0, 0.0, 0.0),
            col_dir: LpsDirection::X,
            row_dir: LpsDirection::Y,
            slice_dir: LpsDirection::Z,
            spacing,
        }
    }

    /// The step, in mm, between adjacent voxels along each index axis `[slice, row, col]`.
    pub fn steps(&self) -> [LpsVectorMm; 3] {
        [
            self.slice_dir.scaled(self.spacing.slice),
            self.row_dir.scaled(self.spacing.row),
            self.col_dir.scaled(self.spacing.col),
        ]
    }

    /// Patient-space position of a (possibly fractional) voxel coordinate.
    pub fn position(&self, v: VoxelCoord) -> LpsPointMm {
        let [s, r, c] = self.steps();
        LpsPointMm(self.origin.0 + s.0 * v.slice + r.0 * v.row + c.0 * v.col)
    }

    /// Voxel coordinate of a patient-space point; `None` if the axes are degenerate.
    pub fn coord_of(&self, p: LpsPointMm) -> Option<VoxelCoord> {
        let [s, r, c] = self.steps();
        let m = DMat3::from_cols(c.0, r.0, s.0);
        if m.determinant().abs() < 1e-12 {
            return None;
        }
        let v = m.inverse() * (p.0 - self.origin.0);
        Some(VoxelCoord {
            slice: v.z,
            row: v.y,
            col: v.x,
        })
    }

    /// The in-plane normal: column direction × row direction.
    pub fn plane_normal(&self) -> Option<LpsDirection> {
        self.col_dir.cross(self.row_dir)
    }

    /// True when the slice direction is perpendicular to the slice planes.
    pub fn is_orthogonal(&self) -> bool {
        match self.plane_normal() {
            Some(n) => {
                let a = n.angle_deg(self.slice_dir);
                a.min(180.0 - a) <= ORTHOGONAL_TOLERANCE_DEG
                    && (self.col_dir.get().dot(self.row_dir.get())).abs() < 1e-3
            }
            None => false,
        }
    }

    /// The 4×4 index→LPS affine in column order `[col, row, slice]` (i, j, k), row-major.
    pub fn affine_ijk_to_lps(&self) -> [[f64; 4]; 4] {
        let [s, r, c] = self.steps();
        let o = self.origin.0;
        [
            [c.0.x, r.0.x, s.0.x, o.x],
            [c.0.y, r.0.y, s.0.y, o.y],
            [c.0.z, r.0.z, s.0.z, o.z],
            [0.0, 0.0, 0.0, 1.0],
        ]
    }

    /// The 4×4 (i, j, k)→RAS affine, as NIfTI's sform wants it.
    pub fn affine_ijk_to_ras(&self) -> [[f64; 4]; 4] {
        let mut a = self.affine_ijk_to_lps();
        for v in &mut a[0] {
            *v = -*v;
        }
        for v in &mut a[1] {
            *v = -*v;
        }
        a
    }

    /// Builds a geometry from an (i, j, k)→LPS affine; `None` if an axis has zero length.
    pub fn from_affine_ijk_to_lps(a: &[[f64; 4]; 4]) -> Option<Self> {
        let col = DVec3::new(a[0][0], a[1][0], a[2][0]);
        let row = DVec3::new(a[0][1], a[1][1], a[2][1]);
        let sl = DVec3::new(a[0][2], a[1][2], a[2][2]);
        Some(Self {
            origin: LpsPointMm::new(a[0][3], a[1][3], a[2][3]),
            col_dir: LpsDirection::new(col)?,
            row_dir: LpsDirection::new(row)?,
            slice_dir: LpsDirection::new(sl)?,
            spacing: SpacingMm {
                col: col.length(),
                row: row.length(),
                slice: sl.length(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::VoxelIndex;

    fn sample() -> VolumeGeometry {
        let mut g = VolumeGeometry::axis_aligned(SpacingMm {
            col: 0.5,
            row: 0.6,
            slice: 2.0,
        });
        g.origin = LpsPointMm::new(-100.0, 20.0, 700.0);
        g
    }

    #[test]
    fn position_and_inverse_agree() {
        let g = sample();
        let p = g.position(VoxelIndex::new(3, 4, 5).into());
        assert!((p.0 - DVec3::new(-97.5, 22.4, 706.0)).length() < 1e-12);
        let c = g.coord_of(p);
        assert!(c.is_some_and(|c| (c.slice - 3.0).abs() < 1e-9
            && (c.row - 4.0).abs() < 1e-9
            && (c.col - 5.0).abs() < 1e-9));
    }

    #[test]
    fn affine_round_trips() {
        let g = sample();
        let back = VolumeGeometry::from_affine_ijk_to_lps(&g.affine_ijk_to_lps());
        assert_eq!(back, Some(g));
        let ras = g.affine_ijk_to_ras();
        assert_eq!(ras[0][3], 100.0);
        assert_eq!(ras[1][3], -20.0);
        assert_eq!(ras[0][0], -0.5);
    }

    #[test]
    fn shear_is_not_orthogonal() {
        let mut g = sample();
        assert!(g.is_orthogonal());
        g.slice_dir = LpsDirection::new(DVec3::new(0.0, 0.2, 1.0)).unwrap_or(g.slice_dir);
        assert!(!g.is_orthogonal());
    }
}
