//! Objects of known geometry: each has an exact signed distance (negative inside), its
//! exact volume, centroid and bounding box, and names the boundary pieces (faces) that the
//! validation measures separately. "Exact" matters: the generator decides from the distance
//! which voxels are cut by the surface (only those are supersampled), and the validation
//! reads surface errors straight from it.

use glam::{DVec2, DVec3};
use serde::{Deserialize, Serialize};

/// A patient axis (LPS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    /// Left (+x).
    X,
    /// Posterior (+y).
    Y,
    /// Superior (+z).
    Z,
}

impl Axis {
    /// The axis's index in a vector.
    pub fn index(self) -> usize {
        match self {
            Axis::X => 0,
            Axis::Y => 1,
            Axis::Z => 2,
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Axis::X => "x",
            Axis::Y => "y",
            Axis::Z => "z",
        }
    }
}

/// One object. Positions are LPS mm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Shape {
    /// A ball.
    Sphere {
        /// Centre, LPS mm.
        centre_mm: [f64; 3],
        /// Diameter, mm.
        diameter_mm: f64,
    },
    /// A solid circular cylinder with flat ends, its axis along a patient axis.
    Cylinder {
        /// Centre (middle of the axis), LPS mm.
        centre_mm: [f64; 3],
        /// Axis direction.
        axis: Axis,
        /// Diameter, mm.
        diameter_mm: f64,
        /// Length along the axis, mm.
        length_mm: f64,
    },
    /// An axis-aligned box (blocks and thin plates).
    Block {
        /// Centre, LPS mm.
        centre_mm: [f64; 3],
        /// Edge lengths along x, y, z, mm.
        size_mm: [f64; 3],
    },
    /// A staircase: steps side by side along +x, each rising from the same base plane along
    /// +z to its own height, all `depth_mm` deep along y.
    Steps {
        /// The corner at minimum x, y, z, LPS mm.
        corner_mm: [f64; 3],
        /// Width of every step along x, mm.
        step_width_mm: f64,
        /// Height of each step along z, mm (first at the corner).
        heights_mm: Vec<f64>,
        /// Depth along y, mm.
        depth_mm: f64,
    },
    /// A skull-like cap: a spherical shell around +z from the rim of a circular defect
    /// at its top down to a cone of half-angle `cap_deg`; the defect's wall and the cap's
    /// lower edge are cones through the centre (as a trephined hole's walls point inwards).
    Dome {
        /// Centre of the spheres, LPS mm.
        centre_mm: [f64; 3],
        /// Outer radius, mm.
        outer_radius_mm: f64,
        /// Wall thickness, mm.
        thickness_mm: f64,
        /// Defect diameter measured across its rim on the outer surface, mm.
        defect_diameter_mm: f64,
        /// Polar angle of the cap's lower edge from +z, degrees.
        cap_deg: f64,
    },
}

/// A boundary piece's name and the index used to group surface points by it.
pub type Feature = usize;

/// Distance from `q` to the segment `a`–`b` (2D).
fn segment_distance(q: DVec2, a: DVec2, b: DVec2) -> f64 {
    let ab = b - a;
    let t = ((q - a).dot(ab) / ab.length_squared()).clamp(0.0, 1.0);
    (q - (a + ab * t)).length()
}

/// Exact signed distance of an axis-aligned box of half sizes `h` centred at 0.
fn box_sdf(p: DVec3, h: DVec3) -> f64 {
    let q = p.abs() - h;
    q.max(DVec3::ZERO).length() + q.max_element().min(0.0)
}

/// Exact signed distance of a 2D shape extruded along a third axis over `±half`, given the
/// 2D signed distance `d2` and the coordinate `w` along the extrusion.
fn extrude_sdf(d2: f64, w: f64, half: f64) -> f64 {
    let q = DVec2::new(d2, w.abs() - half);
    q.max(DVec2::ZERO).length() + q.max_element().min(0.0)
}

impl Shape {
    /// Exact signed distance to the surface, mm (negative inside).
    pub fn sdf(&self, p: DVec3) -> f64 {
        self.sdf_feature(p).0
    }

    /// Signed distance and the boundary piece nearest to `p`.
    pub fn sdf_feature(&self, p: DVec3) -> (f64, Feature) {
        match self {
            Shape::Sphere {
                centre_mm,
                diameter_mm,
            } => (
                (p - DVec3::from(*centre_mm)).length() - diameter_mm / 2.0,
                0,
            ),
            Shape::Cylinder {
                centre_mm,
                axis,
                diameter_mm,
                length_mm,
            } => {
                let d = p - DVec3::from(*centre_mm);
                let a = d[axis.index()];
                let radial = (d.length_squared() - a * a).max(0.0).sqrt();
                let q = DVec2::new(radial - diameter_mm / 2.0, a.abs() - length_mm / 2.0);
                let sdf = q.max(DVec2::ZERO).length() + q.max_element().min(0.0);
                // Nearest piece: the side when its distance is the smaller one.
                // The piece whose distance decides the maximum is the nearest one.
                let feature = if q.x >= q.y {
                    0
                } else if a >= 0.0 {
                    1
                } else {
                    2
                };
                (sdf, feature)
            }
            Shape::Block { centre_mm, size_mm } => {
                let d = p - DVec3::from(*centre_mm);
                let h = DVec3::from(*size_mm) / 2.0;
                let q = d.abs() - h;
                let axis = if q.x >= q.y && q.x >= q.z {
                    0
                } else if q.y >= q.z {
                    1
                } else {
                    2
                };
                (box_sdf(d, h), 2 * axis + usize::from(d[axis] < 0.0))
            }
            Shape::Steps {
                corner_mm,
                step_width_mm,
                heights_mm,
                depth_mm,
            } => {
                let d = p - DVec3::from(*corner_mm);
                let q = DVec2::new(d.x, d.z);
                let poly = steps_outline(*step_width_mm, heights_mm);
                let mut best = (f64::INFINITY, 0);
                let mut inside = false;
                for e in 0..poly.len() {
                    let a = poly[e];
                    let b = poly[(e + 1) % poly.len()];
                    let dist = segment_distance(q, a, b);
                    if dist < best.0 {
                        best = (dist, e);
                    }
                    if (a.y > q.y) != (b.y > q.y)
                        && q.x < a.x + (q.y - a.y) * (b.x - a.x) / (b.y - a.y)
                    {
                        inside = !inside;
                    }
                }
                let d2 = if inside { -best.0 } else { best.0 };
                let w = d.y - depth_mm / 2.0;
                let sdf = extrude_sdf(d2, w, depth_mm / 2.0);
                let end = w.abs() - depth_mm / 2.0;
                let feature = if end > d2 {
                    poly.len() + usize::from(w < 0.0)
                } else {
                    best.1
                };
                (sdf, feature)
            }
            Shape::Dome {
                centre_mm,
                outer_radius_mm,
                thickness_mm,
                cap_deg,
                ..
            } => {
                let d = p - DVec3::from(*centre_mm);
                let q = DVec2::new((d.x * d.x + d.y * d.y).sqrt(), d.z);
                let (r_out, r_in) = (*outer_radius_mm, outer_radius_mm - thickness_mm);
                let (phi_h, phi_c) = self.dome_angles().unwrap_or((0.0, cap_deg.to_radians()));
                let r = q.length();
                let phi = q.x.atan2(q.y);
                let dir = |phi: f64| DVec2::new(phi.sin(), phi.cos());
                let arc = |radius: f64| {
                    if (phi_h..=phi_c).contains(&phi) {
                        (r - radius).abs()
                    } else {
                        (q - dir(phi_h) * radius)
                            .length()
                            .min((q - dir(phi_c) * radius).length())
                    }
                };
                let wall = |phi: f64| {
                    let t = q.dot(dir(phi)).clamp(r_in, r_out);
                    (q - dir(phi) * t).length()
                };
                let pieces = [arc(r_out), arc(r_in), wall(phi_h), wall(phi_c)];
                let (mut dist, mut feature) = (pieces[0], 0);
                for (f, &v) in pieces.iter().enumerate().skip(1) {
                    if v < dist {
                        (dist, feature) = (v, f);
                    }
                }
                let inside = (r_in..=r_out).contains(&r) && (phi_h..=phi_c).contains(&phi);
                (if inside { -dist } else { dist }, feature)
            }
        }
    }

    /// The defect's and the cap edge's polar angles (radians) of a dome.
    pub fn dome_angles(&self) -> Option<(f64, f64)> {
        match self {
            Shape::Dome {
                outer_radius_mm,
                defect_diameter_mm,
                cap_deg,
                ..
            } => Some((
                (defect_diameter_mm / 2.0 / outer_radius_mm)
                    .clamp(0.0, 1.0)
                    .asin(),
                cap_deg.to_radians(),
            )),
            _ => None,
        }
    }

    /// Names of the boundary pieces, indexed by [`Feature`].
    pub fn feature_names(&self) -> Vec<String> {
        match self {
            Shape::Sphere { .. } => vec!["surface".into()],
            Shape::Cylinder { .. } => vec!["side".into(), "end +".into(), "end -".into()],
            Shape::Block { .. } => ["+x", "-x", "+y", "-y", "+z", "-z"]
                .iter()
                .map(|s| format!("face {s}"))
                .collect(),
            Shape::Steps { heights_mm, .. } => {
                let n = steps_outline(1.0, heights_mm).len();
                let mut v: Vec<String> = (0..n).map(|e| format!("outline edge {e}")).collect();
                v.push("end +y".into());
                v.push("end -y".into());
                v
            }
            Shape::Dome { .. } => vec![
                "outer surface".into(),
                "inner surface".into(),
                "defect wall".into(),
                "cap edge".into(),
            ],
        }
    }

    /// Exact volume, mm³.
    pub fn volume_mm3(&self) -> f64 {
        use std::f64::consts::PI;
        match self {
            Shape::Sphere { diameter_mm, .. } => PI / 6.0 * diameter_mm.powi(3),
            Shape::Cylinder {
                diameter_mm,
                length_mm,
                ..
            } => PI / 4.0 * diameter_mm * diameter_mm * length_mm,
            Shape::Block { size_mm, .. } => size_mm.iter().product(),
            Shape::Steps {
                step_width_mm,
                heights_mm,
                depth_mm,
                ..
            } => step_width_mm * heights_mm.iter().sum::<f64>() * depth_mm,
            Shape::Dome {
                outer_radius_mm,
                thickness_mm,
                ..
            } => {
                let (h, c) = self.dome_angles().unwrap_or_default();
                let r_in = outer_radius_mm - thickness_mm;
                2.0 * PI / 3.0 * (outer_radius_mm.powi(3) - r_in.powi(3)) * (h.cos() - c.cos())
            }
        }
    }

    /// Exact centroid, LPS mm.
    pub fn centroid_mm(&self) -> DVec3 {
        match self {
            Shape::Sphere { centre_mm, .. }
            | Shape::Cylinder { centre_mm, .. }
            | Shape::Block { centre_mm, .. } => DVec3::from(*centre_mm),
            Shape::Steps {
                corner_mm,
                step_width_mm,
                heights_mm,
                depth_mm,
            } => {
                let (mut m, mut mx, mut mz) = (0.0, 0.0, 0.0);
                for (i, h) in heights_mm.iter().enumerate() {
                    m += h;
                    mx += h * (i as f64 + 0.5) * step_width_mm;
                    mz += h * h / 2.0;
                }
                DVec3::from(*corner_mm) + DVec3::new(mx / m, depth_mm / 2.0, mz / m)
            }
            Shape::Dome {
                centre_mm,
                outer_radius_mm,
                thickness_mm,
                ..
            } => {
                // ∫ z dV over r ∈ [r_in, r_out], φ ∈ [h, c]: (π/4)(r_out⁴ − r_in⁴)(sin²c − sin²h).
                let (h, c) = self.dome_angles().unwrap_or_default();
                let r_in = outer_radius_mm - thickness_mm;
                let mz = std::f64::consts::PI / 4.0
                    * (outer_radius_mm.powi(4) - r_in.powi(4))
                    * (c.sin().powi(2) - h.sin().powi(2));
                DVec3::from(*centre_mm) + DVec3::new(0.0, 0.0, mz / self.volume_mm3())
            }
        }
    }

    /// Exact axis-aligned bounding box `(min, max)`, LPS mm.
    pub fn bounds_mm(&self) -> (DVec3, DVec3) {
        match self {
            Shape::Sphere {
                centre_mm,
                diameter_mm,
            } => {
                let c = DVec3::from(*centre_mm);
                (c - diameter_mm / 2.0, c + diameter_mm / 2.0)
            }
            Shape::Cylinder {
                centre_mm,
                axis,
                diameter_mm,
                length_mm,
            } => {
                let mut h = DVec3::splat(diameter_mm / 2.0);
                h[axis.index()] = length_mm / 2.0;
                let c = DVec3::from(*centre_mm);
                (c - h, c + h)
            }
            Shape::Block { centre_mm, size_mm } => {
                let (c, h) = (DVec3::from(*centre_mm), DVec3::from(*size_mm) / 2.0);
                (c - h, c + h)
            }
            Shape::Steps {
                corner_mm,
                step_width_mm,
                heights_mm,
                depth_mm,
            } => {
                let c = DVec3::from(*corner_mm);
                let top = heights_mm.iter().copied().fold(0.0, f64::max);
                (
                    c,
                    c + DVec3::new(step_width_mm * heights_mm.len() as f64, *depth_mm, top),
                )
            }
            Shape::Dome {
                centre_mm,
                outer_radius_mm,
                thickness_mm,
                ..
            } => {
                let (h, c) = self.dome_angles().unwrap_or_default();
                let r_in = outer_radius_mm - thickness_mm;
                let rho = outer_radius_mm * c.min(std::f64::consts::FRAC_PI_2).sin();
                let z_top = outer_radius_mm * h.cos();
                let z_low = if c.cos() >= 0.0 {
                    r_in * c.cos()
                } else {
                    outer_radius_mm * c.cos()
                };
                let centre = DVec3::from(*centre_mm);
                (
                    centre + DVec3::new(-rho, -rho, z_low),
                    centre + DVec3::new(rho, rho, z_top),
                )
            }
        }
    }

    /// Why these parameters do not make an object, if they do not.
    pub fn check(&self) -> Result<(), String> {
        let pos = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v < 10_000.0 {
                Ok(())
            } else {
                Err(format!(
                    "{name} must be a positive length below 10 m, not {v}"
                ))
            }
        };
        let finite = |v: &[f64; 3]| {
            if v.iter().all(|x| x.is_finite() && x.abs() < 10_000.0) {
                Ok(())
            } else {
                Err(format!("position {v:?} must be finite and within 10 m"))
            }
        };
        match self {
            Shape::Sphere {
                centre_mm,
                diameter_mm,
            } => {
                finite(centre_mm)?;
                pos("diameter_mm", *diameter_mm)
            }
            Shape::Cylinder {
                centre_mm,
                diameter_mm,
                length_mm,
                ..
            } => {
                finite(centre_mm)?;
                pos("diameter_mm", *diameter_mm)?;
                pos("length_mm", *length_mm)
            }
            Shape::Block { centre_mm, size_mm } => {
                finite(centre_mm)?;
                size_mm.iter().try_for_each(|&s| pos("size_mm", s))
            }
            Shape::Steps {
                corner_mm,
                step_width_mm,
                heights_mm,
                depth_mm,
            } => {
                finite(corner_mm)?;
                pos("step_width_mm", *step_width_mm)?;
                pos("depth_mm", *depth_mm)?;
                if heights_mm.is_empty() || heights_mm.len() > 64 {
                    return Err("heights_mm: give 1 to 64 step heights".into());
                }
                heights_mm.iter().try_for_each(|&h| pos("heights_mm", h))
            }
            Shape::Dome {
                centre_mm,
                outer_radius_mm,
                thickness_mm,
                defect_diameter_mm,
                cap_deg,
            } => {
                finite(centre_mm)?;
                pos("outer_radius_mm", *outer_radius_mm)?;
                pos("thickness_mm", *thickness_mm)?;
                if thickness_mm >= outer_radius_mm {
                    return Err("thickness_mm must be smaller than outer_radius_mm".into());
                }
                if !(defect_diameter_mm.is_finite()
                    && *defect_diameter_mm >= 0.0
                    && *defect_diameter_mm < 2.0 * outer_radius_mm)
                {
                    return Err(
                        "defect_diameter_mm must be at least 0 and below the outer diameter".into(),
                    );
                }
                let (h, _) = self.dome_angles().unwrap_or_default();
                if !(cap_deg.is_finite() && *cap_deg <= 170.0 && cap_deg.to_radians() > h) {
                    return Err(format!(
                        "cap_deg must lie between the defect's angle ({:.1}°) and 170°",
                        h.to_degrees()
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The staircase's outline in the (x, z) plane from its corner, counter-clockwise.
pub fn steps_outline(width: f64, heights: &[f64]) -> Vec<DVec2> {
    let n = heights.len() as f64;
    let mut v = vec![DVec2::new(0.0, 0.0), DVec2::new(n * width, 0.0)];
    for (i, &h) in heights.iter().enumerate().rev() {
        v.push(DVec2::new((i + 1) as f64 * width, h));
        v.push(DVec2::new(i as f64 * width, h));
    }
    // Drop repeated corners where neighbouring steps have the same height.
    v.dedup_by(|a, b| (*a - *b).length() < 1e-12);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes() -> Vec<Shape> {
        vec![
            Shape::Sphere {
                centre_mm: [1.0, -2.0, 3.0],
                diameter_mm: 10.0,
            },
            Shape::Cylinder {
                centre_mm: [0.5, 0.0, -1.0],
                axis: Axis::X,
                diameter_mm: 6.0,
                length_mm: 14.0,
            },
            Shape::Block {
                centre_mm: [0.0, 1.0, 0.0],
                size_mm: [2.0, 9.0, 5.0],
            },
            Shape::Steps {
                corner_mm: [-4.0, -3.0, -2.0],
                step_width_mm: 3.0,
                heights_mm: vec![8.0, 6.0, 6.0, 2.0],
                depth_mm: 5.0,
            },
            Shape::Dome {
                centre_mm: [0.0, 0.0, -10.0],
                outer_radius_mm: 12.0,
                thickness_mm: 3.0,
                defect_diameter_mm: 8.0,
                cap_deg: 60.0,
            },
        ]
    }

    /// Deterministic points in a box.
    fn points(lo: DVec3, hi: DVec3, n: usize) -> Vec<DVec3> {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut u = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| lo + (hi - lo) * DVec3::new(u(), u(), u()))
            .collect()
    }

    #[test]
    fn monte_carlo_volume_and_centroid_match_the_formulas() {
        for s in shapes() {
            s.check().expect("valid");
            let (lo, hi) = s.bounds_mm();
            let n = 400_000;
            let pts = points(lo - 0.5, hi + 0.5, n);
            let inside: Vec<DVec3> = pts.into_iter().filter(|&p| s.sdf(p) < 0.0).collect();
            let box_v = (hi - lo + 1.0).element_product();
            let v = box_v * inside.len() as f64 / n as f64;
            let rel = (v - s.volume_mm3()).abs() / s.volume_mm3();
            assert!(rel < 0.02, "{s:?}: {v} vs {}", s.volume_mm3());
            let c = inside.iter().copied().sum::<DVec3>() / inside.len() as f64;
            assert!(
                (c - s.centroid_mm()).length() < 0.1,
                "{s:?}: {c} vs {}",
                s.centroid_mm()
            );
            // Nothing inside lies outside the bounding box.
            for p in &inside {
                assert!(
                    p.cmpge(lo - 1e-9).all() && p.cmple(hi + 1e-9).all(),
                    "{s:?} {p}"
                );
            }
        }
    }

    /// An exact distance is 1-Lipschitz and equals the distance to the nearest point of the
    /// other side: check both against a dense sample of points across the surface.
    #[test]
    fn the_distances_are_exact() {
        for s in shapes() {
            let (lo, hi) = s.bounds_mm();
            let pts = points(lo - 2.0, hi + 2.0, 60_000);
            let (inn, out): (Vec<DVec3>, Vec<DVec3>) = pts.iter().partition(|&&p| s.sdf(p) < 0.0);
            for (i, &p) in pts.iter().enumerate().step_by(97) {
                let d = s.sdf(p);
                // Never farther than any point of the other side (within sample spacing).
                let other = if d < 0.0 { &out } else { &inn };
                let nearest = other
                    .iter()
                    .map(|&q| (q - p).length())
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    d.abs() <= nearest + 1e-9,
                    "{s:?} point {i}: |{d}| > {nearest}"
                );
                // And not much nearer than the sample allows (~0.7 mm between samples).
                assert!(
                    d.abs() >= nearest - 1.0,
                    "{s:?} point {i}: |{d}| << {nearest}"
                );
                // 1-Lipschitz.
                let q = pts[(i * 7 + 3) % pts.len()];
                assert!((s.sdf(q) - d).abs() <= (q - p).length() + 1e-9);
            }
        }
    }

    #[test]
    fn points_on_a_face_are_named_by_it() {
        let b = Shape::Block {
            centre_mm: [0.0, 0.0, 0.0],
            size_mm: [2.0, 4.0, 6.0],
        };
        assert_eq!(b.sdf_feature(DVec3::new(1.0, 0.1, 0.2)), (0.0, 0));
        assert_eq!(b.sdf_feature(DVec3::new(0.1, 0.0, -3.0)).1, 5);
        let c = Shape::Cylinder {
            centre_mm: [0.0, 0.0, 0.0],
            axis: Axis::Z,
            diameter_mm: 4.0,
            length_mm: 10.0,
        };
        assert_eq!(c.sdf_feature(DVec3::new(2.1, 0.0, 1.0)).1, 0);
        assert_eq!(c.sdf_feature(DVec3::new(0.5, 0.0, 5.2)).1, 1);
        assert_eq!(c.sdf_feature(DVec3::new(0.5, 0.0, -4.9)).1, 2);
        let d = &shapes()[4];
        let (h, _) = d.dome_angles().expect("dome");
        // On the defect's wall, halfway through the shell.
        let on_wall = DVec3::new(h.sin() * 10.5, 0.0, h.cos() * 10.5 - 10.0);
        let (sdf, f) = d.sdf_feature(on_wall);
        assert!(sdf.abs() < 1e-9 && f == 2, "{sdf} {f}");
    }

    #[test]
    fn bad_parameters_are_refused() {
        let bad = [
            Shape::Sphere {
                centre_mm: [0.0, 0.0, f64::NAN],
                diameter_mm: 1.0,
            },
            Shape::Block {
                centre_mm: [0.0; 3],
                size_mm: [1.0, 0.0, 1.0],
            },
            Shape::Dome {
                centre_mm: [0.0; 3],
                outer_radius_mm: 10.0,
                thickness_mm: 12.0,
                defect_diameter_mm: 2.0,
                cap_deg: 40.0,
            },
            Shape::Dome {
                centre_mm: [0.0; 3],
                outer_radius_mm: 10.0,
                thickness_mm: 2.0,
                defect_diameter_mm: 12.0,
                cap_deg: 30.0,
            },
        ];
        for b in bad {
            assert!(b.check().is_err(), "{b:?}");
        }
    }
}
