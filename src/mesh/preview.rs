//! The live 3D preview of a threshold: the closed surface of the voxels whose HU lies in
//! `lo..=hi` (optionally only their largest 26-connected component), on the scan's lattice
//! thinned by a whole step so that it can follow the threshold handles.
//!
//! A view, not a model: nothing here is smoothed, measured or exported. Applying the
//! threshold makes the mask the case records; reconstructing that mask makes the model.
//! The stages are the pipeline's own ([`Compute::threshold`], [`Compute::keep_largest`],
//! [`Compute::surface`]), so at step 1 the preview is exactly the surface a reconstruction
//! of the applied threshold starts from, on the GPU or the CPU. The window keeps each lattice
//! on the device ([`surface_kept`]), so a drag uploads the scan once, not once per range.

use crate::compute::{Compute, ComputeRecord, KeptVolume};
use crate::geom::SpacingMm;
use crate::mesh::Mesh;
use crate::mesh::extract::Midpoint;
use crate::segment::components::Connectivity;
use crate::volume::{Volume, VolumeGeometry};
use ndarray::Array3;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What to preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewRequest {
    /// Lowest HU included.
    pub lo: i32,
    /// Highest HU included.
    pub hi: i32,
    /// Only the largest 26-connected component.
    pub largest_only: bool,
    /// Every `step`-th voxel along each axis (1: the full lattice).
    pub step: usize,
}

/// A preview surface and how it was made.
#[derive(Debug, Clone)]
pub struct PreviewSurface {
    /// What was asked.
    pub request: PreviewRequest,
    /// The surface, LPS mm.
    pub mesh: Mesh,
    /// The thinned lattice, `[slices, rows, columns]`.
    pub grid: [usize; 3],
    /// Voxels of the thinned lattice inside the previewed region.
    pub voxels: u64,
    /// Components of the thresholded region, when only the largest is shown.
    pub components: Option<usize>,
    /// Where the stages ran (the surface stage's record; a fallback anywhere is noted).
    pub compute: ComputeRecord,
    /// Wall time from the lattice to the surface (threshold, components, surface), ms.
    pub millis: f64,
}

impl PreviewSurface {
    /// One line for the 3D view: "preview 226..3071 HU, every 2nd voxel, 1,234 triangles".
    pub fn caption(&self) -> String {
        let r = &self.request;
        let mut s = format!("Threshold preview {}..{} HU", r.lo, r.hi);
        if r.largest_only {
            s.push_str(", largest component");
        }
        if r.step > 1 {
            s.push_str(&format!(", every {} voxel", ordinal(r.step)));
        }
        s.push_str(&format!(
            " · {} triangles · {} ({:.0} ms)",
            self.mesh.triangles.len(),
            self.compute.line(),
            self.millis
        ));
        s
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Why a preview stopped early.
pub const CANCELLED: &str = "cancelled";

/// Lattice voxels the window previews while the handles move (S2030 at every 2nd voxel;
/// the bundled sample whole).
pub const DRAG_VOXELS: usize = 6 << 20;

/// The smallest step whose thinned lattice holds at most `max_voxels` voxels.
pub fn step_for(dims: [usize; 3], max_voxels: usize) -> usize {
    let thinned = |s: usize| dims.iter().map(|d| d.div_ceil(s)).product::<usize>();
    (1..=dims.iter().copied().max().unwrap_or(1).max(1))
        .find(|&s| thinned(s) <= max_voxels.max(1))
        .unwrap_or(1)
}

/// Every `step`-th voxel of `hu` along each axis, starting at voxel 0, and the geometry
/// that puts each kept voxel where it was: same origin and axes, spacing × `step`.
pub fn thin(
    hu: &Array3<i16>,
    geometry: &VolumeGeometry,
    step: usize,
) -> (Array3<i16>, VolumeGeometry) {
    let step = step.max(1);
    if step == 1 {
        return (hu.clone(), *geometry);
    }
    let s = step as isize;
    let thinned = hu.slice(ndarray::s![..;s, ..;s, ..;s]).to_owned();
    let f = step as f64;
    let g = VolumeGeometry {
        spacing: SpacingMm {
            col: geometry.spacing.col * f,
            row: geometry.spacing.row * f,
            slice: geometry.spacing.slice * f,
        },
        ..*geometry
    };
    (thinned, g)
}

/// The lattice previewed at `step`: the scan itself at 1 (no copy), thinned otherwise.
pub fn lattice(volume: &Arc<Volume>, step: usize) -> Arc<Volume> {
    if step <= 1 {
        return volume.clone();
    }
    let (hu, geometry) = thin(&volume.hu, &volume.geometry, step);
    Arc::new(Volume { hu, geometry })
}

/// The preview surface for `req`; stops with [`CANCELLED`] between stages once `cancel` is
/// set (a newer request is waiting).
pub fn surface(
    hu: &Array3<i16>,
    geometry: &VolumeGeometry,
    req: PreviewRequest,
    compute: &Compute,
    cancel: &AtomicBool,
) -> Result<PreviewSurface, String> {
    check_range(req)?;
    let (hu, geometry) = thin(hu, geometry, req.step);
    surface_kept(
        &KeptVolume::host(Arc::new(Volume { hu, geometry })),
        req,
        compute,
        cancel,
    )
}

fn check_range(req: PreviewRequest) -> Result<(), String> {
    if req.lo > req.hi {
        return Err(format!(
            "the threshold range {}..{} HU is empty: the low end must not exceed the high end",
            req.lo, req.hi
        ));
    }
    Ok(())
}

/// The preview surface for `req` on `kept`, the lattice of `req.step` ([`lattice`]) kept
/// where `compute` thresholds it: the window's drag, one upload for every range.
pub fn surface_kept(
    kept: &KeptVolume,
    req: PreviewRequest,
    compute: &Compute,
    cancel: &AtomicBool,
) -> Result<PreviewSurface, String> {
    let started = std::time::Instant::now();
    check_range(req)?;
    let check = || {
        if cancel.load(Ordering::Relaxed) {
            Err(CANCELLED.to_string())
        } else {
            Ok(())
        }
    };
    check()?;
    let (mut mask, mut record) = compute.threshold_kept(kept, req.lo, req.hi);
    check()?;
    let mut components = None;
    if req.largest_only {
        let (largest, r) = compute.keep_largest(&mask, Connectivity::TwentySix);
        mask = largest.mask;
        components = Some(largest.components);
        record = keep_note(record, r);
        check()?;
    }
    let voxels = mask.count();
    let (mesh, r) = compute.surface(&mask, &kept.volume().geometry, &Midpoint);
    let record = keep_note(record, r);
    Ok(PreviewSurface {
        request: req,
        mesh,
        grid: kept.volume().dims(),
        voxels,
        components,
        compute: record,
        millis: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// The later stage's record, keeping an earlier stage's fallback note.
fn keep_note(earlier: ComputeRecord, later: ComputeRecord) -> ComputeRecord {
    if later.note.is_none() && earlier.note.is_some() {
        ComputeRecord {
            note: earlier.note,
            ..later
        }
    } else {
        later
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::LpsPointMm;
    use crate::geom::VoxelCoord;
    use crate::mesh::extract;
    use crate::segment::ops::threshold::threshold_mask;

    fn geometry() -> VolumeGeometry {
        let mut g = VolumeGeometry::axis_aligned(SpacingMm {
            col: 0.5,
            row: 0.6,
            slice: 1.25,
        });
        g.origin = LpsPointMm::new(-10.0, 4.0, 30.0);
        g
    }

    /// Two balls of 300 HU in air: radius 6 voxels and 3 voxels.
    fn two_balls() -> Array3<i16> {
        Array3::from_shape_fn((24, 30, 40), |(k, j, i)| {
            let d2 = |c: [f64; 3]| {
                (k as f64 - c[0]).powi(2) + (j as f64 - c[1]).powi(2) + (i as f64 - c[2]).powi(2)
            };
            if d2([11.0, 12.0, 12.0]) <= 36.0 || d2([11.0, 14.0, 31.0]) <= 9.0 {
                300
            } else {
                -1000
            }
        })
    }

    fn req(step: usize, largest_only: bool) -> PreviewRequest {
        PreviewRequest {
            lo: 200,
            hi: 3071,
            largest_only,
            step,
        }
    }

    #[test]
    fn at_full_resolution_the_preview_is_the_surface_of_the_applied_threshold() {
        let hu = two_balls();
        let g = geometry();
        let p = surface(
            &hu,
            &g,
            req(1, false),
            &Compute::cpu(),
            &AtomicBool::new(false),
        )
        .unwrap();
        let mask = threshold_mask(&hu, 200, 3071);
        assert_eq!(p.mesh, extract::extract(&mask, &g, &Midpoint));
        assert_eq!(p.voxels, mask.count());
        assert_eq!(p.grid, [24, 30, 40]);
        assert_eq!(p.compute.path, "cpu");
        assert!(!p.mesh.triangles.is_empty());
    }

    #[test]
    fn largest_only_drops_the_small_ball() {
        let hu = two_balls();
        let g = geometry();
        let all = surface(
            &hu,
            &g,
            req(1, false),
            &Compute::cpu(),
            &AtomicBool::new(false),
        )
        .unwrap();
        let big = surface(
            &hu,
            &g,
            req(1, true),
            &Compute::cpu(),
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(big.components, Some(2));
        let only_big = Array3::from_shape_fn(
            hu.dim(),
            |(k, j, i)| {
                if i < 22 { hu[[k, j, i]] } else { -1000 }
            },
        );
        let expected = extract::extract(&threshold_mask(&only_big, 200, 3071), &g, &Midpoint);
        assert_eq!(big.mesh, expected);
        assert!(big.mesh.triangles.len() < all.mesh.triangles.len());
    }

    #[test]
    fn a_thinned_lattice_keeps_every_voxel_where_it_was() {
        let hu = two_balls();
        let g = geometry();
        for step in [2usize, 3] {
            let (t, tg) = thin(&hu, &g, step);
            let d = t.dim();
            assert_eq!(
                d,
                (
                    24usize.div_ceil(step),
                    30usize.div_ceil(step),
                    40usize.div_ceil(step)
                )
            );
            for (k, j, i) in [(0, 0, 0), (1, 2, 3), (d.0 - 1, d.1 - 1, d.2 - 1)] {
                assert_eq!(t[[k, j, i]], hu[[k * step, j * step, i * step]]);
                let at = |g: &VolumeGeometry, s: usize| {
                    g.position(VoxelCoord {
                        slice: (k * s) as f64,
                        row: (j * s) as f64,
                        col: (i * s) as f64,
                    })
                };
                let thinned = tg.position(VoxelCoord {
                    slice: k as f64,
                    row: j as f64,
                    col: i as f64,
                });
                assert!((thinned.0 - at(&g, step).0).length() < 1e-9);
            }
            // The thinned preview is the surface of the thinned threshold.
            let p = surface(
                &hu,
                &g,
                req(step, false),
                &Compute::cpu(),
                &AtomicBool::new(false),
            )
            .unwrap();
            assert_eq!(
                p.mesh,
                extract::extract(&threshold_mask(&t, 200, 3071), &tg, &Midpoint)
            );
            assert!(p.caption().contains(&format!("every {}", ordinal(step))));
        }
    }

    #[test]
    fn steps_keep_the_lattice_within_the_budget() {
        assert_eq!(step_for([70, 256, 256], DRAG_VOXELS), 1);
        assert_eq!(step_for([140, 512, 512], DRAG_VOXELS), 2);
        assert_eq!(step_for([900, 512, 512], DRAG_VOXELS), 4);
        assert_eq!(step_for([0, 0, 0], DRAG_VOXELS), 1);
        assert_eq!(step_for([5, 5, 5], 0), 5);
    }

    #[test]
    fn a_cancelled_or_empty_request_says_so() {
        let hu = two_balls();
        let g = geometry();
        let e = surface(
            &hu,
            &g,
            req(1, false),
            &Compute::cpu(),
            &AtomicBool::new(true),
        )
        .unwrap_err();
        assert_eq!(e, CANCELLED);
        let mut r = req(1, false);
        (r.lo, r.hi) = (500, 100);
        let e = surface(&hu, &g, r, &Compute::cpu(), &AtomicBool::new(false)).unwrap_err();
        assert!(e.contains("empty"), "{e}");
        assert_eq!(ordinal(1), "1st");
        assert_eq!(ordinal(12), "12th");
        assert_eq!(ordinal(22), "22nd");
    }
}
