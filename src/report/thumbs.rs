//! The report's pictures, drawn on the CPU (no GPU needed to write a report): a slice in
//! each standard orientation through the label's centre with the mask's outline over the
//! bone window, and the surface model seen from the front.

use crate::mesh::Mesh;
use crate::segment::mask::Mask;
use crate::volume::Volume;
use crate::volume::reslice::{self, Orientation, Projection, ViewSpec};
use glam::DVec3;

/// An RGB picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    /// Pixels across.
    pub width: usize,
    /// Pixels down.
    pub height: usize,
    /// `height × width × 3` bytes.
    pub rgb: Vec<u8>,
    /// What it shows.
    pub caption: String,
}

impl Picture {
    /// PNG bytes.
    pub fn png(&self) -> std::io::Result<Vec<u8>> {
        crate::export::image::encode_png_rgb(self.width, self.height, &self.rgb)
    }
}

/// The bone window of the report's slices.
const BONE_WINDOW: crate::view::WindowLevel = crate::view::WindowLevel::BONE;

/// The mask's centre of mass in LPS mm (the volume's centre when empty).
fn centre(volume: &Volume, mask: &Mask) -> DVec3 {
    let [n, r, c] = mask.dims();
    let (mut sk, mut sj, mut si, mut count) = (0f64, 0f64, 0f64, 0f64);
    for k in 0..n {
        for j in 0..r {
            for (s, e) in mask.row_runs(k, j) {
                let len = (e - s) as f64;
                sk += k as f64 * len;
                sj += j as f64 * len;
                si += (s + e - 1) as f64 / 2.0 * len;
                count += len;
            }
        }
    }
    let coord = if count > 0.0 {
        crate::geom::VoxelCoord {
            slice: sk / count,
            row: sj / count,
            col: si / count,
        }
    } else {
        crate::geom::VoxelCoord {
            slice: (n as f64 - 1.0) / 2.0,
            row: (r as f64 - 1.0) / 2.0,
            col: (c as f64 - 1.0) / 2.0,
        }
    };
    volume.geometry.position(coord).0
}

/// A slice through the label's centre in `orientation`, bone window, with the mask's
/// outline in `color` (radiological display conventions, as `hounsfield render`).
pub fn slice_with_outline(
    volume: &Volume,
    mask: &Mask,
    color: [u8; 3],
    orientation: Orientation,
    label: &str,
) -> Picture {
    let (_, _, normal) = orientation.axes();
    let c = centre(volume, mask);
    let spec = ViewSpec {
        orientation,
        position_mm: Some(c.dot(normal)),
        slab_mm: 0.0,
        projection: Projection::Mip,
    };
    let view = reslice::render(volume, &spec);
    let grey = reslice::window(&view, BONE_WINDOW.width, BONE_WINDOW.level);
    let g = reslice::grid(volume, &spec);
    let (right, down, _) = orientation.axes();
    let [n, r, cc] = mask.dims();
    let (w, h) = (view.width, view.height);
    let inside: Vec<bool> = (0..w * h)
        .map(|idx| {
            let (row, col) = (idx / w, idx % w);
            let p = g.first_pixel
                + right * (col as f64 * g.pixel_mm)
                + down * (row as f64 * g.pixel_mm);
            volume
                .geometry
                .coord_of(crate::geom::LpsPointMm(p))
                .is_some_and(|v| {
                    let (k, j, i) = (v.slice.round(), v.row.round(), v.col.round());
                    k >= 0.0
                        && j >= 0.0
                        && i >= 0.0
                        && (k as usize) < n
                        && (j as usize) < r
                        && (i as usize) < cc
                        && mask.get(k as usize, j as usize, i as usize)
                })
        })
        .collect();
    let mut rgb = Vec::with_capacity(w * h * 3);
    for idx in 0..w * h {
        let (row, col) = (idx / w, idx % w);
        let edge = inside[idx]
            && [(0i64, 1i64), (0, -1), (1, 0), (-1, 0)]
                .iter()
                .any(|(dr, dc)| {
                    let (rr, cc2) = (row as i64 + dr, col as i64 + dc);
                    rr < 0
                        || cc2 < 0
                        || rr >= h as i64
                        || cc2 >= w as i64
                        || !inside[rr as usize * w + cc2 as usize]
                });
        if edge {
            rgb.extend_from_slice(&color);
        } else {
            let v = grey[idx];
            rgb.extend_from_slice(&[v, v, v]);
        }
    }
    Picture {
        width: w,
        height: h,
        rgb,
        caption: format!(
            "{} slice at {:.1} mm through the centre of `{label}`, bone window {}/{} HU; outline of the mask. {}",
            match orientation {
                Orientation::Axial => "Axial",
                Orientation::Coronal => "Coronal",
                Orientation::Sagittal => "Sagittal",
            },
            view.position_mm,
            BONE_WINDOW.width,
            BONE_WINDOW.level,
            match orientation {
                Orientation::Axial =>
                    "Seen from the feet: patient's left on the right, anterior up.",
                Orientation::Coronal => "Seen from the front: patient's left on the right.",
                Orientation::Sagittal => "Seen from the patient's left: anterior on the left.",
            }
        ),
    }
}

/// The surfaces seen from the front (patient's left on the right, superior up), shaded
/// by the angle to the viewer, `size` pixels on the longer side.
pub fn surface_front(meshes: &[(&str, &Mesh, [u8; 3])], size: usize) -> Picture {
    // Screen: x = +L (patient's left on the right), y = −S (down), depth = +P (away).
    let mut lo = DVec3::splat(f64::INFINITY);
    let mut hi = DVec3::splat(f64::NEG_INFINITY);
    for (_, m, _) in meshes {
        for v in &m.vertices {
            let p = DVec3::from_array(*v);
            lo = lo.min(p);
            hi = hi.max(p);
        }
    }
    let size = size.max(16);
    if !(lo.x.is_finite() && hi.x.is_finite()) {
        return Picture {
            width: size,
            height: size,
            rgb: vec![255; size * size * 3],
            caption: "no surface".into(),
        };
    }
    let span_x = (hi.x - lo.x).max(1e-6);
    let span_z = (hi.z - lo.z).max(1e-6);
    let margin = 0.04;
    let scale = (size as f64 * (1.0 - 2.0 * margin)) / span_x.max(span_z);
    let (w, h) = (
        ((span_x * scale) / (1.0 - 2.0 * margin)).ceil() as usize,
        ((span_z * scale) / (1.0 - 2.0 * margin)).ceil() as usize,
    );
    let (ox, oz) = (
        (w as f64 - span_x * scale) / 2.0,
        (h as f64 - span_z * scale) / 2.0,
    );
    let to_screen =
        |p: DVec3| DVec3::new(ox + (p.x - lo.x) * scale, oz + (hi.z - p.z) * scale, p.y);
    let mut depth = vec![f64::INFINITY; w * h];
    let mut rgb = vec![255u8; w * h * 3];
    // Light from the viewer, a little from above and the viewer's left.
    let light = DVec3::new(-0.3, -1.0, 0.4).normalize();
    for (_, m, color) in meshes {
        for t in &m.triangles {
            let [a, b, c] = t.map(|i| DVec3::from_array(m.vertices[i as usize]));
            let n = (b - a).cross(c - a);
            if n.length_squared() == 0.0 {
                continue;
            }
            let n = n.normalize();
            // Facing the viewer: the outward normal points anterior (−y).
            if n.y >= 0.0 {
                continue;
            }
            let shade = 0.25 + 0.75 * n.dot(light).max(0.0);
            let px = color.map(|ch| (f64::from(ch) * shade).round().clamp(0.0, 255.0) as u8);
            let (sa, sb, sc) = (to_screen(a), to_screen(b), to_screen(c));
            let minx = sa.x.min(sb.x).min(sc.x).floor().max(0.0) as usize;
            let maxx = (sa.x.max(sb.x).max(sc.x).ceil() as usize).min(w.saturating_sub(1));
            let miny = sa.y.min(sb.y).min(sc.y).floor().max(0.0) as usize;
            let maxy = (sa.y.max(sb.y).max(sc.y).ceil() as usize).min(h.saturating_sub(1));
            let area = (sb.x - sa.x) * (sc.y - sa.y) - (sb.y - sa.y) * (sc.x - sa.x);
            if area.abs() < 1e-12 {
                continue;
            }
            for y in miny..=maxy {
                for x in minx..=maxx {
                    let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
                    let w0 = ((sb.x - fx) * (sc.y - fy) - (sb.y - fy) * (sc.x - fx)) / area;
                    let w1 = ((sc.x - fx) * (sa.y - fy) - (sc.y - fy) * (sa.x - fx)) / area;
                    let w2 = 1.0 - w0 - w1;
                    if w0 < 0.0 || w1 < 0.0 || w2 < 0.0 {
                        continue;
                    }
                    let z = w0 * sa.z + w1 * sb.z + w2 * sc.z;
                    let i = y * w + x;
                    if z < depth[i] {
                        depth[i] = z;
                        rgb[i * 3..i * 3 + 3].copy_from_slice(&px);
                    }
                }
            }
        }
    }
    Picture {
        width: w,
        height: h,
        rgb,
        caption: format!(
            "Surface model seen from the front (patient's left on the right, superior up), {:.0} × {:.0} mm.",
            span_x, span_z
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::SpacingMm;
    use crate::volume::VolumeGeometry;

    #[test]
    fn a_cube_seen_from_the_front_fills_its_square() {
        let mask = Mask::from_fn([20, 20, 20], |k, j, i| {
            (5..15).contains(&k) && (5..15).contains(&j) && (5..15).contains(&i)
        });
        let g = VolumeGeometry::axis_aligned(SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        });
        let mesh = crate::mesh::extract::extract(&mask, &g, &crate::mesh::extract::Midpoint);
        let p = surface_front(&[("cube", &mesh, [200, 100, 50])], 100);
        let coloured = p.rgb.chunks(3).filter(|c| c != &[255, 255, 255]).count();
        let frac = coloured as f64 / (p.width * p.height) as f64;
        assert!(frac > 0.8, "{frac} of the picture is the cube's face");
        // The face is lit from the front: no black pixel inside.
        assert!(p.rgb.chunks(3).all(|c| c.iter().any(|v| *v > 40)));
    }

    #[test]
    fn the_outline_sits_on_the_mask_boundary() {
        let hu = ndarray::Array3::from_elem((10, 30, 30), 0i16);
        let g = VolumeGeometry::axis_aligned(SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        });
        let volume = Volume { hu, geometry: g };
        let mask = Mask::from_fn([10, 30, 30], |_, j, i| {
            (10..20).contains(&j) && (10..20).contains(&i)
        });
        let p = slice_with_outline(&volume, &mask, [255, 0, 0], Orientation::Axial, "sq");
        let red: Vec<(usize, usize)> = (0..p.width * p.height)
            .filter(|i| p.rgb[i * 3..i * 3 + 3] == [255, 0, 0])
            .map(|i| (i / p.width, i % p.width))
            .collect();
        // A 10×10 square's outline: 36 pixels, all on rows/columns 10 and 19.
        assert_eq!(red.len(), 36);
        assert!(
            red.iter()
                .all(|(r, c)| [10, 19].contains(r) || [10, 19].contains(c))
        );
    }
}
