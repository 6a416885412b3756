//! `compare A B`: two surface models (STL, OBJ) or two masks (NIfTI). The work is
//! [`crate::compare`]'s.

use crate::compare;
use crate::error::Error;
use crate::segment::Mask;
use std::path::{Path, PathBuf};

/// Arguments of `compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The first model (.stl, .obj, .3mf) or mask (.nii, .nii.gz, or a case's label as
    /// NAME.hfcase#LABEL).
    pub a: PathBuf,
    /// The second, of the same kind.
    pub b: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// A case's label given as `NAME.hfcase#LABEL`.
fn case_label(p: &Path) -> Option<(PathBuf, String)> {
    let s = p.to_str()?;
    let (dir, label) = s.rsplit_once('#')?;
    (dir.ends_with(".hfcase") && !label.is_empty()).then(|| (PathBuf::from(dir), label.to_string()))
}

fn read_mask(p: &Path) -> Result<(Mask, crate::volume::VolumeGeometry), Error> {
    if let Some((dir, label)) = case_label(p) {
        // Opening a case replays it and checks every hash on the way.
        let (case, _) = crate::case::Case::open(&dir, "compare", None)?;
        let mut m = case.masks_for(std::slice::from_ref(&label))?;
        let (_, mask, _) = m
            .pop()
            .ok_or_else(|| Error::BadInput(format!("no label `{label}`")))?;
        return Ok((mask, case.volume().geometry));
    }
    let v = crate::io::nifti::read_volume(p)
        .map_err(|e| Error::BadInput(format!("{}: {e}", p.display())))?;
    let hu = &v.hu;
    let d = v.dims();
    let m = Mask::from_fn(d, |k, j, i| hu[[k, j, i]] > 0);
    Ok((m, v.geometry))
}

fn same_grid(a: &crate::volume::VolumeGeometry, b: &crate::volume::VolumeGeometry) -> bool {
    let (x, y) = (a.affine_ijk_to_lps(), b.affine_ijk_to_lps());
    x.iter()
        .flatten()
        .zip(y.iter().flatten())
        .all(|(p, q)| (p - q).abs() < 1e-4)
}

/// Runs `compare`.
pub fn run(a: &CompareArgs) -> Result<(), Error> {
    let is_mask = |p: &Path| crate::io::nifti::is_nifti_path(p) || case_label(p).is_some();
    let out = match (is_mask(&a.a), is_mask(&a.b)) {
        (true, true) => {
            let (ma, ga) = read_mask(&a.a)?;
            let (mb, gb) = read_mask(&a.b)?;
            if !same_grid(&ga, &gb) || ma.dims() != mb.dims() {
                return Err(Error::BadInput(format!(
                    "{} and {} lie on different voxel grids: compare masks of one volume",
                    a.a.display(),
                    a.b.display()
                )));
            }
            if !ga.is_orthogonal() {
                return Err(Error::BadInput(
                    "the masks' grid is sheared: distances need an orthogonal grid (resample it)"
                        .into(),
                ));
            }
            let s = ga.spacing;
            let c = compare::masks(&ma, &mb, [s.slice, s.row, s.col]).map_err(Error::BadInput)?;
            if !a.json {
                println!(
                    "masks: Dice {:.5}, Jaccard {:.5}; voxels A {} B {} both {}",
                    c.dice, c.jaccard, c.voxels_a, c.voxels_b, c.voxels_both
                );
                println!(
                    "volume A {:.1} mm³, B {:.1} mm³, B − A {:+.1} mm³",
                    c.volume_a_mm3, c.volume_b_mm3, c.volume_difference_mm3
                );
                println!(
                    "boundary distances: Hausdorff {:.3} mm, 95 % Hausdorff {:.3} mm; mean A→B {:.3}, B→A {:.3} mm",
                    c.hausdorff_mm, c.hausdorff95_mm, c.a_to_b.mean_mm, c.b_to_a.mean_mm
                );
            }
            serde_json::to_value(c)
        }
        (false, false) => {
            let ma = compare::read_mesh(&a.a).map_err(Error::BadInput)?;
            let mb = compare::read_mesh(&a.b).map_err(Error::BadInput)?;
            let c = compare::meshes(&ma, &mb).ok_or_else(|| {
                Error::BadInput("a model has no usable triangle: nothing to compare".into())
            })?;
            if !a.json {
                for (name, d) in [("A → B", &c.a_to_b), ("B → A", &c.b_to_a)] {
                    println!(
                        "{name}: mean {:.4} mm, RMS {:.4}, p95 {:.4}, max {:.4} (mean signed {:+.4}; {} vertices)",
                        d.mean_mm, d.rms_mm, d.p95_mm, d.max_mm, d.mean_signed_mm, d.count
                    );
                }
                println!("Hausdorff {:.4} mm", c.hausdorff_mm);
                println!(
                    "volume A {:.1} mm³, B {:.1} mm³, B − A {:+.1} mm³ ({:+.2} %)",
                    c.volume_a_mm3, c.volume_b_mm3, c.volume_difference_mm3, c.volume_difference_pct
                );
            }
            serde_json::to_value(c)
        }
        _ => {
            return Err(Error::BadInput(
                "compare two models (.stl, .obj, .3mf) or two masks (.nii, .nii.gz, NAME.hfcase#LABEL), not one of each"
                    .into(),
            ));
        }
    }
    .map_err(|e| Error::Failed(e.to_string()))?;
    if a.json {
        println!("{out}");
    }
    Ok(())
}
