//! A CT volume in Hounsfield units with its patient-space geometry.

pub mod geometry;
pub mod resample;
pub mod reslice;

pub use geometry::VolumeGeometry;

use ndarray::Array3;

/// Largest volume any reader builds (bytes of i16 HU; 4 G voxels): DICOM, NIfTI and
/// resampling check it before allocating, so a header cannot ask for more.
pub const MAX_VOLUME_BYTES: u64 = 8 << 30;

/// A CT volume: HU values indexed `[slice, row, column]` and where they lie in LPS space.
#[derive(Debug, Clone)]
pub struct Volume {
    /// Hounsfield units, `[slice, row, column]`, standard (C) layout.
    pub hu: Array3<i16>,
    /// Index → patient-space mapping.
    pub geometry: VolumeGeometry,
}

impl Volume {
    /// `[slices, rows, columns]`.
    pub fn dims(&self) -> [usize; 3] {
        let d = self.hu.dim();
        [d.0, d.1, d.2]
    }

    /// Size of the voxel data in bytes.
    pub fn size_bytes(&self) -> usize {
        self.hu.len() * std::mem::size_of::<i16>()
    }

    /// Volume of one voxel, mm³.
    pub fn voxel_volume_mm3(&self) -> f64 {
        let s = self.geometry.spacing;
        s.col * s.row * s.slice
    }
}
