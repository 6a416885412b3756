//! Where each view goes: a pure function of the layout and the available rectangle.

use super::prefs::Layout;
use super::viewer::ViewId;
use egui::{Rect, vec2};

/// Points between views.
pub const GAP: f32 = 2.0;

/// The views of `layout` in `full`, each with its rectangle.
pub fn cells(layout: Layout, full: Rect) -> Vec<(ViewId, Rect)> {
    match layout {
        Layout::Grid2x2 => {
            let w = (full.width() - GAP) / 2.0;
            let h = (full.height() - GAP) / 2.0;
            let at = |c: f32, r: f32| {
                Rect::from_min_size(full.min + vec2(c * (w + GAP), r * (h + GAP)), vec2(w, h))
            };
            vec![
                (ViewId::Axial, at(0.0, 0.0)),
                (ViewId::ThreeD, at(1.0, 0.0)),
                (ViewId::Coronal, at(0.0, 1.0)),
                (ViewId::Sagittal, at(1.0, 1.0)),
            ]
        }
        Layout::Row1x3 => {
            let w = (full.width() - 2.0 * GAP) / 3.0;
            ViewId::SLICES
                .iter()
                .enumerate()
                .map(|(k, v)| {
                    (
                        *v,
                        Rect::from_min_size(
                            full.min + vec2(k as f32 * (w + GAP), 0.0),
                            vec2(w, full.height()),
                        ),
                    )
                })
                .collect()
        }
        Layout::Single(v) => vec![(v, full)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_tile_the_area_without_overlap() {
        let full = Rect::from_min_size(egui::pos2(10.0, 20.0), vec2(802.0, 602.0));
        for layout in [
            Layout::Grid2x2,
            Layout::Row1x3,
            Layout::Single(ViewId::Coronal),
        ] {
            let c = cells(layout, full);
            let area: f32 = c.iter().map(|(_, r)| r.area()).sum();
            let gaps = match layout {
                Layout::Grid2x2 => GAP * (802.0 + 602.0) - GAP * GAP,
                Layout::Row1x3 => 2.0 * GAP * 602.0,
                Layout::Single(_) => 0.0,
            };
            assert!((area + gaps - full.area()).abs() < 1.0, "{layout:?}");
            for (i, (_, a)) in c.iter().enumerate() {
                assert!(full.contains_rect(*a));
                for (_, b) in &c[i + 1..] {
                    assert!(a.intersect(*b).area() <= 0.0, "{layout:?}");
                }
            }
        }
        assert_eq!(cells(Layout::Grid2x2, full)[1].0, ViewId::ThreeD);
    }
}
