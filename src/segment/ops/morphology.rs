//! Morphology in millimetres (exact balls on anisotropic voxels, by distance transform):
//! dilate, erode, open, close; fill holes (3D or per slice); hollow (a shell of a given
//! thickness).

use crate::segment::algo::edt;
use crate::segment::components::{self, Connectivity};
use crate::segment::mask::Mask;
use crate::segment::model::Segmentation;
use crate::segment::op::{OpError, Outcome, SegOp, require_label, target};
use crate::volume::Volume;
use serde::{Deserialize, Serialize};

/// Parameters shared by dilate, erode, open and close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Morph {
    /// Ball radius, mm.
    pub radius_mm: f64,
    /// Within each slice only (a disc instead of a ball).
    #[serde(default)]
    pub per_slice: bool,
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Which morphological operation a [`Morph`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MorphKind {
    /// Grow by the ball.
    Dilate,
    /// Shrink by the ball.
    Erode,
    /// Erode then dilate: removes thin protrusions.
    Open,
    /// Dilate then erode: bridges thin gaps.
    Close,
}

/// Largest radius accepted, mm.
const MAX_RADIUS_MM: f64 = 50.0;

fn spacing(seg: &Segmentation) -> [f64; 3] {
    let s = seg.geometry.spacing;
    [s.slice, s.row, s.col]
}

impl Morph {
    fn check(&self, seg: &Segmentation) -> Result<(), OpError> {
        if !(self.radius_mm.is_finite() && self.radius_mm > 0.0 && self.radius_mm <= MAX_RADIUS_MM)
        {
            return Err(OpError::invalid(
                "radius_mm",
                format!(
                    "{} is not a radius in (0, {MAX_RADIUS_MM}] mm",
                    self.radius_mm
                ),
            ));
        }
        require_label(seg, target(&self.label), "label")
    }

    /// Applies `kind` with these parameters.
    pub fn run(&self, kind: MorphKind, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let t = target(&self.label);
        let sp = spacing(seg);
        let m = &seg.get(t).ok_or_else(|| OpError::NoLabel(t.into()))?.mask;
        let (r, ps) = (self.radius_mm, self.per_slice);
        let out = match kind {
            MorphKind::Dilate => edt::dilate(m, sp, r, ps),
            MorphKind::Erode => edt::erode(m, sp, r, ps),
            MorphKind::Open => edt::dilate(&edt::erode(m, sp, r, ps), sp, r, ps),
            MorphKind::Close => edt::erode(&edt::dilate(m, sp, r, ps), sp, r, ps),
        };
        let (before, after) = (m.count(), out.count());
        seg.set_mask(t, out);
        Ok(Outcome::changed(t).note(format!("{before} -> {after} voxels")))
    }
}

macro_rules! morph_op {
    ($name:ident, $kind:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Morph);

        impl SegOp for $name {
            fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
                self.0.check(seg)
            }
            fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
                self.0.run($kind, seg)
            }
            fn target_mut(&mut self) -> Option<&mut Option<String>> {
                Some(&mut self.0.label)
            }
            fn writes(&self) -> Option<Vec<String>> {
                Some(vec![target(&self.0.label).to_string()])
            }
        }
    };
}

morph_op!(
    Dilate,
    MorphKind::Dilate,
    "Dilation by a ball of `radius_mm`."
);
morph_op!(Erode, MorphKind::Erode, "Erosion by a ball of `radius_mm`.");
morph_op!(
    Open,
    MorphKind::Open,
    "Opening (erode, then dilate) by a ball of `radius_mm`."
);
morph_op!(
    Close,
    MorphKind::Close,
    "Closing (dilate, then erode) by a ball of `radius_mm`."
);

/// Fills holes: background not connected (6-connected, or 4 in a slice) to the border.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillHoles {
    /// Fill per slice (2D holes) instead of enclosed 3D cavities.
    #[serde(default)]
    pub per_slice: bool,
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Keeps a shell of `thickness_mm` of the label: inside its surface (default) or outside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hollow {
    /// Shell thickness, mm.
    pub thickness_mm: f64,
    /// Build the shell outside the surface instead of inside.
    #[serde(default)]
    pub outside: bool,
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `mask` with its holes filled.
pub fn fill_holes(mask: &Mask, per_slice: bool) -> Mask {
    let bg = edt::complement(mask);
    let c = components::label(&bg, Connectivity::Six, per_slice);
    let border = c.touches_border_in(per_slice);
    let holes = c.mask_of(|id| !border[id as usize]);
    let mut out = mask.clone();
    for (o, h) in out.words_mut().iter_mut().zip(holes.words()) {
        *o |= h;
    }
    out
}

impl SegOp for FillHoles {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        require_label(seg, target(&self.label), "label")
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let t = target(&self.label);
        let m = &seg.get(t).ok_or_else(|| OpError::NoLabel(t.into()))?.mask;
        let out = fill_holes(m, self.per_slice);
        let filled = out.count() - m.count();
        seg.set_mask(t, out);
        Ok(Outcome::changed(t).note(format!("filled {filled} voxels")))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

impl SegOp for Hollow {
    fn validate(&self, _: &Volume, seg: &Segmentation) -> Result<(), OpError> {
        if !(self.thickness_mm.is_finite()
            && self.thickness_mm > 0.0
            && self.thickness_mm <= MAX_RADIUS_MM)
        {
            return Err(OpError::invalid(
                "thickness_mm",
                format!("{} is not in (0, {MAX_RADIUS_MM}] mm", self.thickness_mm),
            ));
        }
        require_label(seg, target(&self.label), "label")
    }
    fn apply(&self, _: &Volume, seg: &mut Segmentation) -> Result<Outcome, OpError> {
        let t = target(&self.label);
        let sp = spacing(seg);
        let m = &seg.get(t).ok_or_else(|| OpError::NoLabel(t.into()))?.mask;
        let mut out = if self.outside {
            edt::dilate(m, sp, self.thickness_mm, false)
        } else {
            m.clone()
        };
        // A voxel is in the shell when it is within the thickness of the other side.
        let core = if self.outside {
            m.clone()
        } else {
            edt::erode(m, sp, self.thickness_mm, false)
        };
        for (o, c) in out.words_mut().iter_mut().zip(core.words()) {
            *o &= !c;
        }
        seg.set_mask(t, out);
        Ok(Outcome::changed(t))
    }
    fn target_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.label)
    }
    fn writes(&self) -> Option<Vec<String>> {
        Some(vec![target(&self.label).to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_holes_fills_a_cavity_but_not_an_open_channel() {
        // A hollow cube with a cavity, and a tube open at both ends.
        let m = Mask::from_fn([7, 7, 7], |k, j, i| {
            let shell = (1..=5).contains(&k) && (1..=5).contains(&j) && (1..=5).contains(&i);
            let cavity = (2..=4).contains(&k) && (2..=4).contains(&j) && (2..=4).contains(&i);
            shell && !cavity
        });
        assert_eq!(fill_holes(&m, false).count(), 125);
        let tube = Mask::from_fn([5, 5, 5], |_, j, i| {
            (1..=3).contains(&j) && (1..=3).contains(&i) && !(j == 2 && i == 2)
        });
        assert_eq!(
            fill_holes(&tube, false).count(),
            tube.count(),
            "open along slices in 3D"
        );
        assert_eq!(
            fill_holes(&tube, true).count(),
            45,
            "closed within each slice"
        );
    }
}
