//! Seed points, given in patient millimetres (portable across grids) or voxel indices.

use crate::geom::LpsPointMm;
use crate::segment::op::OpError;
use crate::volume::VolumeGeometry;
use serde::{Deserialize, Serialize};

/// One seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Seed {
    /// A voxel `[slice, row, column]`.
    Voxel {
        /// The index.
        voxel: [usize; 3],
    },
    /// A point in LPS millimetres; the nearest voxel centre is used.
    Point {
        /// The point.
        lps_mm: [f64; 3],
    },
}

/// Resolves seeds to voxel indices; names the first seed outside the grid.
pub fn resolve(
    seeds: &[Seed],
    dims: [usize; 3],
    g: &VolumeGeometry,
) -> Result<Vec<[usize; 3]>, OpError> {
    if seeds.is_empty() {
        return Err(OpError::invalid("seeds", "give at least one seed"));
    }
    seeds
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let field = format!("seeds[{n}]");
            let v = match s {
                Seed::Voxel { voxel } => Some(*voxel),
                Seed::Point { lps_mm } => g
                    .coord_of(LpsPointMm::new(lps_mm[0], lps_mm[1], lps_mm[2]))
                    .and_then(|c| {
                        let r = [c.slice.round(), c.row.round(), c.col.round()];
                        r.iter()
                            .all(|x| *x >= 0.0 && x.is_finite())
                            .then(|| r.map(|x| x as usize))
                    }),
            };
            match v {
                Some(v) if v.iter().zip(dims).all(|(a, d)| *a < d) => Ok(v),
                _ => Err(OpError::invalid(
                    &field,
                    format!(
                        "{s:?} is outside the volume ({} x {} x {} voxels)",
                        dims[2], dims[1], dims[0]
                    ),
                )),
            }
        })
        .collect()
}
