//! Marker-based watershed on the gradient magnitude: each marker label floods its basin.

use super::edge::spacing_of;
use crate::segment::algo::{gradient, watershed};
use crate::segment::mask::Mask;
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, require_label, same_grid};
use crate::volume::Volume;
use ndarray::Array3;
use serde::{Deserialize, Serialize};

/// Grows each marker label over the gradient image until basins meet; the labels are
/// replaced by their basins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watershed {
    /// Marker labels (at least one); each becomes its basin. Earlier labels win where
    /// markers overlap.
    pub markers: Vec<String>,
    /// Flood only within this label (e.g. a bone threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    /// Gaussian σ before the gradient, mm (0: none).
    #[serde(default)]
    pub sigma_mm: f64,
    /// 6 or 26 (18 is treated as 26).
    #[serde(default = "default_conn")]
    pub connectivity: crate::segment::components::Connectivity,
}

fn default_conn() -> crate::segment::components::Connectivity {
    crate::segment::components::Connectivity::Six
}

impl SegOp for Watershed {
    fn validate(&self, v: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        same_grid(v, seg)?;
        if self.markers.is_empty() || self.markers.len() > 1000 {
            return Err(OpError::invalid("markers", "give 1 to 1000 marker labels"));
        }
        for (n, m) in self.markers.iter().enumerate() {
            require_label(seg, m, &format!("markers[{n}]"))?;
        }
        if let Some(w) = &self.within {
            require_label(seg, w, "within")?;
        }
        if !(self.sigma_mm.is_finite() && (0.0..=20.0).contains(&self.sigma_mm)) {
            return Err(OpError::invalid("sigma_mm", "must be in 0..=20 mm"));
        }
        Ok(())
    }
    fn apply(&self, v: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let sp = spacing_of(v);
        let elevation = if self.sigma_mm > 0.0 {
            let s = gradient::gaussian_smooth(v.hu.view(), sp, self.sigma_mm, false);
            let rounded =
                s.mapv(|x| x.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16);
            gradient::sobel_magnitude(rounded.view(), sp, false)
        } else {
            gradient::sobel_magnitude(v.hu.view(), sp, false)
        };
        let [n, r, c] = v.dims();
        let mut markers = Array3::<u16>::zeros((n, r, c));
        for (idx, name) in self.markers.iter().enumerate().rev() {
            let m = &seg
                .get(name)
                .ok_or_else(|| OpError::NoLabel(name.clone()))?
                .mask;
            for k in 0..n {
                for j in 0..r {
                    for (a, b) in m.row_runs(k, j) {
                        for i in a..b {
                            markers[[k, j, i]] = (idx + 1) as u16;
                        }
                    }
                }
            }
        }
        let allowed = crate::segment::op::region_bools(seg, &self.within)?;
        let conn = match self.connectivity {
            crate::segment::components::Connectivity::Six => watershed::Connectivity::Six,
            _ => watershed::Connectivity::TwentySix,
        };
        let out = watershed::watershed_from_markers(
            elevation.view(),
            markers.view(),
            allowed.as_ref().map(|a| a.view()),
            conn,
        );
        let mut o = Outcome::default();
        for (idx, name) in self.markers.iter().enumerate() {
            let id = (idx + 1) as u16;
            let m = Mask::from_fn([n, r, c], |k, j, i| out[[k, j, i]] == id);
            o.notes.push(format!("{name}: {} voxels", m.count()));
            seg.set_mask(name, m);
            o.changed.push(name.clone());
        }
        Ok(o)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(self.markers.clone())
    }
}
