//! Measurements a physician takes before signing: distance, angle and a closed curve's area
//! on a slice, a label's volume and surface area, and HU statistics inside a curve.
//! Positions are patient LPS millimetres, so a measurement means the same thing in every
//! view, in the CLI and in the report; results carry their unit.

use crate::case::ledger::Orientation;
use crate::geom::{LpsPointMm, VoxelCoord};
use crate::segment::mask::Mask;
use crate::volume::Volume;
use glam::DVec3;
use serde::{Deserialize, Serialize};

/// The smoothing of a label's surface before its area is measured.
pub const AREA_SMOOTHING: &str = "sinc:20:0.1";

/// What was measured, with the positions it was measured at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Shape {
    /// The straight distance between two points.
    Distance {
        /// One end.
        a: LpsPointMm,
        /// The other end.
        b: LpsPointMm,
    },
    /// The angle at `vertex` between the rays to `a` and `b`.
    Angle {
        /// A point on the first ray.
        a: LpsPointMm,
        /// The vertex.
        vertex: LpsPointMm,
        /// A point on the second ray.
        b: LpsPointMm,
    },
    /// A closed curve (polygon) in one slice plane: its area and perimeter.
    Area {
        /// The corners, in order; the last joins the first.
        points: Vec<LpsPointMm>,
    },
    /// HU statistics of the voxels of one slice inside a closed curve.
    HuStats {
        /// The slice family.
        orientation: Orientation,
        /// The plane index.
        index: usize,
        /// The corners, in order.
        points: Vec<LpsPointMm>,
    },
    /// A label's volume (its voxels) and surface area (of its marching-cubes surface,
    /// smoothed by [`AREA_SMOOTHING`]).
    Label {
        /// The label.
        label: String,
    },
}

impl Shape {
    /// The kind, as written in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Distance { .. } => "distance",
            Self::Angle { .. } => "angle",
            Self::Area { .. } => "area",
            Self::HuStats { .. } => "hu-stats",
            Self::Label { .. } => "label",
        }
    }

    /// The positions that define it (for drawing).
    pub fn points(&self) -> Vec<LpsPointMm> {
        match self {
            Self::Distance { a, b } => vec![*a, *b],
            Self::Angle { a, vertex, b } => vec![*a, *vertex, *b],
            Self::Area { points } | Self::HuStats { points, .. } => points.clone(),
            Self::Label { .. } => Vec::new(),
        }
    }
}

/// One figure of a measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// What it is ("distance", "mean", …).
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit ("mm", "mm2", "mm3", "deg", "HU", "voxels").
    pub unit: String,
}

impl Figure {
    fn new(name: &str, value: f64, unit: &str) -> Self {
        Self {
            name: name.into(),
            value,
            unit: unit.into(),
        }
    }
}

/// A measurement with its result, as recorded in the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The user's name for it ("defect diameter").
    pub name: String,
    /// What and where.
    pub shape: Shape,
    /// The figures.
    pub figures: Vec<Figure>,
    /// Who.
    pub operator: String,
    /// When (UTC, RFC 3339).
    pub time: String,
}

impl Measurement {
    /// "20.03 mm", "mean 1012.4 HU, σ 20.1 HU, …".
    pub fn summary(&self) -> String {
        self.figures
            .iter()
            .map(|f| match f.unit.as_str() {
                "voxels" => format!("{} {} voxels", f.name, f.value),
                u => format!("{} {:.2} {u}", f.name, f.value),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why a measurement cannot be taken.
pub type MeasureError = String;

/// Computes the figures of `shape` on `volume` (and, for a label, its `mask`).
pub fn compute(
    shape: &Shape,
    volume: &Volume,
    mask: Option<&Mask>,
) -> Result<Vec<Figure>, MeasureError> {
    for p in shape.points() {
        if !p.0.is_finite() {
            return Err("a point is not a finite position".into());
        }
    }
    match shape {
        Shape::Distance { a, b } => Ok(vec![Figure::new("distance", (b.0 - a.0).length(), "mm")]),
        Shape::Angle { a, vertex, b } => {
            let (u, v) = (a.0 - vertex.0, b.0 - vertex.0);
            if u.length() < 1e-9 || v.length() < 1e-9 {
                return Err("an angle needs its two rays to leave the vertex".into());
            }
            let deg = u.angle_between(v).to_degrees();
            Ok(vec![Figure::new("angle", deg, "deg")])
        }
        Shape::Area { points } => {
            let (area, perimeter) = polygon(points)?;
            Ok(vec![
                Figure::new("area", area, "mm2"),
                Figure::new("perimeter", perimeter, "mm"),
            ])
        }
        Shape::HuStats {
            orientation,
            index,
            points,
        } => hu_stats(volume, *orientation, *index, points),
        Shape::Label { label } => {
            let mask = mask.ok_or_else(|| format!("label `{label}` does not exist"))?;
            let n = mask.count();
            // The voxel surface's staircase overstates the area (≈ 8 % on a sphere); the
            // same windowed-sinc smoothing as a reconstruction, each vertex kept within
            // one voxel, takes that out (a 20 mm sphere at 1 mm: within 1 %).
            let mut surface = crate::mesh::extract::extract(
                mask,
                &volume.geometry,
                &crate::mesh::extract::Midpoint,
            );
            let sp = volume.geometry.spacing;
            let smoothing = crate::mesh::smooth::Smoothing::parse(AREA_SMOOTHING)?;
            crate::mesh::smooth::smooth(
                &mut surface,
                smoothing,
                Some(sp.col.max(sp.row).max(sp.slice)),
            );
            let (_, area) = crate::mesh::check::volume_and_area(&surface);
            Ok(vec![
                Figure::new("volume", n as f64 * volume.voxel_volume_mm3(), "mm3"),
                Figure::new("surface area", area, "mm2"),
                Figure::new("voxels", n as f64, "voxels"),
            ])
        }
    }
}

/// Area (Newell's method, so any plane orientation) and perimeter of a closed polygon.
fn polygon(points: &[LpsPointMm]) -> Result<(f64, f64), MeasureError> {
    if points.len() < 3 {
        return Err(format!(
            "a closed curve needs at least 3 points, {} given",
            points.len()
        ));
    }
    let mut normal = DVec3::ZERO;
    let mut perimeter = 0.0;
    for (i, p) in points.iter().enumerate() {
        let q = points[(i + 1) % points.len()];
        normal += p.0.cross(q.0);
        perimeter += (q.0 - p.0).length();
    }
    Ok((normal.length() / 2.0, perimeter))
}

/// The two in-plane index axes of a slice family (as `(slice, row, col)` positions) and the
/// fixed one.
fn plane_axes(o: Orientation) -> (usize, usize, usize) {
    match o {
        Orientation::Axial => (2, 1, 0),
        Orientation::Coronal => (2, 0, 1),
        Orientation::Sagittal => (1, 0, 2),
    }
}

fn hu_stats(
    volume: &Volume,
    orientation: Orientation,
    index: usize,
    points: &[LpsPointMm],
) -> Result<Vec<Figure>, MeasureError> {
    let dims = volume.dims();
    let (u_ax, v_ax, fixed) = plane_axes(orientation);
    if index >= dims[fixed] {
        return Err(format!(
            "{} plane {index} does not exist (0..{})",
            orientation.as_str(),
            dims[fixed]
        ));
    }
    polygon(points)?;
    // The curve in the plane's index coordinates; voxel centres inside it count.
    let mut poly = Vec::with_capacity(points.len());
    for p in points {
        let c = volume
            .geometry
            .coord_of(*p)
            .ok_or("the volume's axes are degenerate")?;
        let v = [c.slice, c.row, c.col];
        poly.push((v[u_ax], v[v_ax]));
    }
    let us = index_span(poly.iter().map(|p| p.0), dims[u_ax]);
    let vs = index_span(poly.iter().map(|p| p.1), dims[v_ax]);
    let (mut n, mut sum, mut sum2) = (0usize, 0.0f64, 0.0f64);
    let (mut min, mut max) = (i16::MAX, i16::MIN);
    for v in vs {
        for u in us.clone() {
            if !inside(&poly, u as f64, v as f64) {
                continue;
            }
            let mut ix = [0usize; 3];
            ix[u_ax] = u;
            ix[v_ax] = v;
            ix[fixed] = index;
            let hu = volume.hu[[ix[0], ix[1], ix[2]]];
            n += 1;
            sum += f64::from(hu);
            sum2 += f64::from(hu) * f64::from(hu);
            min = min.min(hu);
            max = max.max(hu);
        }
    }
    if n == 0 {
        return Err("the curve holds no voxel centre of the slice (draw it larger)".into());
    }
    let mean = sum / n as f64;
    let var = if n > 1 {
        ((sum2 - sum * mean) / (n as f64 - 1.0)).max(0.0)
    } else {
        0.0
    };
    Ok(vec![
        Figure::new("mean", mean, "HU"),
        Figure::new("sd", var.sqrt(), "HU"),
        Figure::new("min", f64::from(min), "HU"),
        Figure::new("max", f64::from(max), "HU"),
        Figure::new("voxels", n as f64, "voxels"),
    ])
}

/// The grid indices `0..len` between the smallest and largest of `values` (rounded outwards).
fn index_span(
    values: impl Iterator<Item = f64> + Clone,
    len: usize,
) -> std::ops::RangeInclusive<usize> {
    let lo = values
        .clone()
        .fold(f64::INFINITY, f64::min)
        .floor()
        .max(0.0) as usize;
    let hi = (values.fold(f64::NEG_INFINITY, f64::max).ceil().max(0.0) as usize)
        .min(len.saturating_sub(1));
    lo..=hi
}

/// Even-odd point-in-polygon test.
fn inside(poly: &[(f64, f64)], x: f64, y: f64) -> bool {
    let mut c = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (xi, yi) = poly[i];
        let (xj, yj) = poly[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            c = !c;
        }
        j = i;
    }
    c
}

/// The patient position of a voxel centre (for callers that pick voxels).
pub fn voxel_position(volume: &Volume, slice: f64, row: f64, col: f64) -> LpsPointMm {
    volume.geometry.position(VoxelCoord { slice, row, col })
}

/// Parses "X,Y,Z" (LPS mm).
pub fn parse_point(s: &str) -> Result<LpsPointMm, String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|t| t.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{s}` is not a point X,Y,Z in millimetres"))?;
    match v[..] {
        [x, y, z] if x.is_finite() && y.is_finite() && z.is_finite() => {
            Ok(LpsPointMm::new(x, y, z))
        }
        _ => Err(format!("`{s}` is not a point X,Y,Z in millimetres")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::SpacingMm;
    use crate::volume::VolumeGeometry;
    use ndarray::Array3;

    fn volume() -> Volume {
        let mut hu = Array3::<i16>::from_elem((4, 20, 20), -1000);
        for j in 5..15 {
            for i in 5..15 {
                hu[[2, j, i]] = 100 + (i as i16 % 2) * 20;
            }
        }
        Volume {
            hu,
            geometry: VolumeGeometry::axis_aligned(SpacingMm {
                col: 0.5,
                row: 0.5,
                slice: 2.0,
            }),
        }
    }

    #[test]
    fn distances_angles_and_areas_are_in_millimetres() {
        let v = volume();
        let p = LpsPointMm::new;
        let d = compute(
            &Shape::Distance {
                a: p(0.0, 0.0, 0.0),
                b: p(3.0, 4.0, 0.0),
            },
            &v,
            None,
        )
        .expect("ok");
        assert!((d[0].value - 5.0).abs() < 1e-12);
        let a = compute(
            &Shape::Angle {
                a: p(1.0, 0.0, 0.0),
                vertex: p(0.0, 0.0, 0.0),
                b: p(0.0, 2.0, 0.0),
            },
            &v,
            None,
        )
        .expect("ok");
        assert!((a[0].value - 90.0).abs() < 1e-9);
        // A 10 × 5 mm rectangle in a tilted plane.
        let n = DVec3::new(0.0, 1.0, 1.0).normalize();
        let ex = DVec3::X;
        let ey = n.cross(ex);
        let corners = [(0.0, 0.0), (10.0, 0.0), (10.0, 5.0), (0.0, 5.0)]
            .map(|(x, y)| LpsPointMm(ex * x + ey * y + DVec3::splat(7.0)));
        let r = compute(
            &Shape::Area {
                points: corners.to_vec(),
            },
            &v,
            None,
        )
        .expect("ok");
        assert!((r[0].value - 50.0).abs() < 1e-9, "{r:?}");
        assert!((r[1].value - 30.0).abs() < 1e-9);
        assert!(
            compute(
                &Shape::Area {
                    points: corners[..2].to_vec()
                },
                &v,
                None
            )
            .is_err()
        );
    }

    #[test]
    fn hu_statistics_count_the_voxel_centres_inside_the_curve() {
        let v = volume();
        // Voxels 5..15 on slice 2 are at 2.5..7.0 mm; a square from 2.4 to 7.1 holds all
        // 100 and nothing else.
        let z = 4.0;
        let pts = [(2.4, 2.4), (7.1, 2.4), (7.1, 7.1), (2.4, 7.1)]
            .map(|(x, y)| LpsPointMm::new(x, y, z))
            .to_vec();
        let f = compute(
            &Shape::HuStats {
                orientation: Orientation::Axial,
                index: 2,
                points: pts.clone(),
            },
            &v,
            None,
        )
        .expect("ok");
        let get = |n: &str| f.iter().find(|x| x.name == n).map(|x| x.value);
        assert_eq!(get("voxels"), Some(100.0));
        assert_eq!(get("mean"), Some(110.0));
        assert_eq!(get("min"), Some(100.0));
        assert_eq!(get("max"), Some(120.0));
        assert!((get("sd").unwrap_or(0.0) - 10.050_378).abs() < 1e-5);
        let e = compute(
            &Shape::HuStats {
                orientation: Orientation::Axial,
                index: 9,
                points: pts,
            },
            &v,
            None,
        )
        .expect_err("no such plane");
        assert!(e.contains("does not exist"));
        assert!(parse_point("1,2").is_err());
        assert_eq!(parse_point("1, 2,3.5"), Ok(LpsPointMm::new(1.0, 2.0, 3.5)));
    }

    #[test]
    fn a_label_volume_and_surface_are_those_of_the_shape() {
        // A ball of radius 10 mm on a 1 mm grid, centre off the voxel lattice.
        let c = [20.3, 20.1, 19.8];
        let mask = Mask::from_fn([41, 41, 41], |k, j, i| {
            let d = [k as f64 - c[0], j as f64 - c[1], i as f64 - c[2]];
            d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= 100.0
        });
        let v = Volume {
            hu: Array3::<i16>::zeros((41, 41, 41)),
            geometry: VolumeGeometry::axis_aligned(SpacingMm {
                col: 1.0,
                row: 1.0,
                slice: 1.0,
            }),
        };
        let f = compute(&Shape::Label { label: "b".into() }, &v, Some(&mask)).expect("ok");
        let volume = 4.0 / 3.0 * std::f64::consts::PI * 1000.0;
        let area = 4.0 * std::f64::consts::PI * 100.0;
        assert!((f[0].value / volume - 1.0).abs() < 0.01, "{f:?}");
        assert!((f[1].value / area - 1.0).abs() < 0.02, "{f:?}");
        assert!(compute(&Shape::Label { label: "b".into() }, &v, None).is_err());
    }
}
