//! The 3D view's camera: an orbit around the volume, turned by a trackball, with the
//! standard anatomical views one click away.

use glam::{DMat3, DMat4, DQuat, DVec3};

/// Standard viewpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewPreset {
    /// From the front: superior up, patient's left on screen right.
    Anterior,
    /// From the patient's left: superior up, anterior on screen left.
    Left,
    /// From above: anterior up.
    Superior,
}

/// An orbiting perspective camera in LPS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera3d {
    /// Camera-to-patient rotation: camera x = screen right, y = screen up, −z = forward.
    pub rotation: DQuat,
    /// The point orbited, LPS mm.
    pub target: DVec3,
    /// Distance from the target, mm.
    pub distance_mm: f64,
    /// Radius of the scene, mm (sets the clip planes).
    pub radius_mm: f64,
    /// Vertical field of view, radians.
    pub fov_y: f64,
}

impl Camera3d {
    /// Looks at a sphere of `radius_mm` around `target` from `preset`.
    pub fn framing(target: DVec3, radius_mm: f64, preset: ViewPreset) -> Self {
        let fov_y = 30f64.to_radians();
        let mut c = Self {
            rotation: DQuat::IDENTITY,
            target,
            distance_mm: radius_mm.max(1.0) / (fov_y / 2.0).sin() * 1.05,
            radius_mm: radius_mm.max(1.0),
            fov_y,
        };
        c.set_preset(preset);
        c
    }

    /// Turns to a standard viewpoint, keeping the target and distance.
    pub fn set_preset(&mut self, preset: ViewPreset) {
        let (right, up) = match preset {
            ViewPreset::Anterior => (DVec3::X, DVec3::Z),
            ViewPreset::Left => (DVec3::Y, DVec3::Z),
            ViewPreset::Superior => (DVec3::NEG_X, DVec3::NEG_Y),
        };
        let back = right.cross(up);
        self.rotation = DQuat::from_mat3(&DMat3::from_cols(right, up, back)).normalize();
    }

    /// Screen right in LPS.
    pub fn right(&self) -> DVec3 {
        self.rotation * DVec3::X
    }

    /// Screen up in LPS.
    pub fn up(&self) -> DVec3 {
        self.rotation * DVec3::Y
    }

    /// Viewing direction in LPS.
    pub fn forward(&self) -> DVec3 {
        self.rotation * DVec3::NEG_Z
    }

    /// Camera position, LPS mm.
    pub fn eye(&self) -> DVec3 {
        self.target - self.forward() * self.distance_mm
    }

    /// Trackball: a drag of `(dx, dy)` pixels turns the scene with the pointer.
    pub fn rotate(&mut self, dx: f64, dy: f64) {
        let k = 0.008;
        let q = DQuat::from_axis_angle(self.up(), -dx * k)
            * DQuat::from_axis_angle(self.right(), -dy * k);
        self.rotation = (q * self.rotation).normalize();
    }

    /// Moves the target in the screen plane by a drag of `(dx, dy)` pixels of a view
    /// `height_px` tall.
    pub fn pan(&mut self, dx: f64, dy: f64, height_px: f64) {
        let mm_per_px = 2.0 * self.distance_mm * (self.fov_y / 2.0).tan() / height_px.max(1.0);
        self.target += (-self.right() * dx + self.up() * dy) * mm_per_px;
    }

    /// Zooms by a factor (> 1 comes closer).
    pub fn zoom(&mut self, factor: f64) {
        if factor.is_finite() && factor > 0.0 {
            self.distance_mm =
                (self.distance_mm / factor).clamp(self.radius_mm * 0.05, self.radius_mm * 20.0);
        }
    }

    /// Clip-from-LPS (projection × view), depth 0..1.
    pub fn clip_from_lps(&self, aspect: f64) -> DMat4 {
        let near = (self.distance_mm - self.radius_mm * 1.5).max(self.radius_mm * 0.01);
        let far = self.distance_mm + self.radius_mm * 1.5;
        let proj = DMat4::perspective_rh(self.fov_y, aspect.max(1e-3), near, far);
        let view = DMat4::look_at_rh(self.eye(), self.target, self.up());
        proj * view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_anatomical() {
        let c = Camera3d::framing(DVec3::ZERO, 100.0, ViewPreset::Anterior);
        // From the front we look posterior (+y) with the patient's left on the right.
        assert!((c.forward() - DVec3::Y).length() < 1e-9);
        assert!((c.right() - DVec3::X).length() < 1e-9);
        assert!(c.eye().y < 0.0);
        let l = Camera3d::framing(DVec3::ZERO, 100.0, ViewPreset::Left);
        assert!((l.forward() - DVec3::NEG_X).length() < 1e-9);
        assert!((l.right() - DVec3::Y).length() < 1e-9);
        let s = Camera3d::framing(DVec3::ZERO, 100.0, ViewPreset::Superior);
        assert!((s.forward() - DVec3::NEG_Z).length() < 1e-9);
        assert!((s.up() - DVec3::NEG_Y).length() < 1e-9);
    }

    #[test]
    fn the_target_projects_to_the_centre_and_left_to_the_right() {
        let c = Camera3d::framing(DVec3::new(5.0, 6.0, 7.0), 50.0, ViewPreset::Anterior);
        let m = c.clip_from_lps(1.5);
        let p = m.project_point3(c.target);
        assert!(p.x.abs() < 1e-9 && p.y.abs() < 1e-9 && p.z > 0.0 && p.z < 1.0);
        let l = m.project_point3(c.target + DVec3::X * 10.0);
        assert!(l.x > 0.0);
        let s = m.project_point3(c.target + DVec3::Z * 10.0);
        assert!(s.y > 0.0);
    }

    #[test]
    fn rotation_keeps_an_orthonormal_frame() {
        let mut c = Camera3d::framing(DVec3::ZERO, 50.0, ViewPreset::Left);
        for i in 0..100 {
            c.rotate(f64::from(i % 7) - 3.0, 2.0);
        }
        assert!((c.right().cross(c.up()) + c.forward()).length() < 1e-9);
    }
}
