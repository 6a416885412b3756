//! Comparing two surface models or two masks: surface distances both ways, Hausdorff,
//! volume difference; Dice, Jaccard and the 95 % Hausdorff distance of masks. The same code
//! measures a phantom's model against its truth ([`crate::phantom::validate`]), a model
//! against another technique's (`hounsfield compare`), and a trainee's against a reference.

use crate::mesh::Mesh;
use crate::mesh::bvh::Bvh;
use crate::mesh::deviation::signed_volume;
use crate::segment::Mask;
use crate::segment::algo::edt::squared_distance;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// JSON has no NaN: serde_json writes it as `null`; these read `null` back as NaN, so a
/// figure that could not be measured survives a round trip.
pub(crate) mod nan {
    use serde::{Deserialize, Deserializer};

    pub fn de<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Option::<f64>::deserialize(d).map(|v| v.unwrap_or(f64::NAN))
    }

    pub fn de3<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; 3], D::Error> {
        <[Option<f64>; 3]>::deserialize(d).map(|v| v.map(|x| x.unwrap_or(f64::NAN)))
    }
}

/// Summary of a set of distances, mm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distances {
    /// Points measured.
    pub count: usize,
    /// Mean signed distance (positive: outside the surface measured against).
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub mean_signed_mm: f64,
    /// Mean |distance|.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub mean_mm: f64,
    /// Root mean square.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub rms_mm: f64,
    /// 95th percentile of |distance| (nearest rank).
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub p95_mm: f64,
    /// Largest |distance|.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub max_mm: f64,
}

impl Distances {
    /// Summarises signed distances (NaN figures when there are none).
    pub fn of(signed: &[f64]) -> Distances {
        let n = signed.len();
        if n == 0 {
            return Distances {
                count: 0,
                mean_signed_mm: f64::NAN,
                mean_mm: f64::NAN,
                rms_mm: f64::NAN,
                p95_mm: f64::NAN,
                max_mm: f64::NAN,
            };
        }
        let mut abs: Vec<f64> = signed.iter().map(|d| d.abs()).collect();
        abs.sort_by(f64::total_cmp);
        let rank = ((0.95 * n as f64).ceil() as usize).clamp(1, n) - 1;
        Distances {
            count: n,
            mean_signed_mm: signed.iter().sum::<f64>() / n as f64,
            mean_mm: abs.iter().sum::<f64>() / n as f64,
            rms_mm: (signed.iter().map(|d| d * d).sum::<f64>() / n as f64).sqrt(),
            p95_mm: abs[rank],
            max_mm: abs[n - 1],
        }
    }
}

/// Two surfaces compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeshComparison {
    /// Each vertex of A to the surface of B (signed by B's pseudo-normals: positive
    /// outside B).
    pub a_to_b: Distances,
    /// Each vertex of B to the surface of A (positive outside A).
    pub b_to_a: Distances,
    /// Symmetric Hausdorff distance over the vertices, mm.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub hausdorff_mm: f64,
    /// Volume enclosed by A, mm³ (meaningful when A is closed).
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub volume_a_mm3: f64,
    /// Volume enclosed by B, mm³.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub volume_b_mm3: f64,
    /// `B − A`, mm³.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub volume_difference_mm3: f64,
    /// `(B − A) / A`, %.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub volume_difference_pct: f64,
    /// Triangles of A and of B.
    pub triangles: [usize; 2],
}

/// A surface others are compared with: its tree and volume computed once.
pub struct MeshReference<'a> {
    mesh: &'a Mesh,
    tree: Bvh,
    volume: f64,
}

impl<'a> MeshReference<'a> {
    /// `None` when the surface has no usable triangle.
    pub fn new(mesh: &'a Mesh) -> Option<Self> {
        let tree = Bvh::build(&mesh.vertices, &mesh.triangles);
        (!tree.is_empty()).then(|| MeshReference {
            mesh,
            volume: signed_volume(&mesh.vertices, &mesh.triangles),
            tree,
        })
    }

    /// This surface (A) against `b`; `None` when `b` has no usable triangle.
    pub fn against(&self, b: &Mesh) -> Option<MeshComparison> {
        let tb = Bvh::build(&b.vertices, &b.triangles);
        if tb.is_empty() {
            return None;
        }
        let to = |from: &Mesh, tree: &Bvh| -> Vec<f64> {
            from.vertices
                .par_iter()
                .filter_map(|p| tree.signed_distance(*p))
                .collect()
        };
        let a_to_b = Distances::of(&to(self.mesh, &tb));
        let b_to_a = Distances::of(&to(b, &self.tree));
        let (va, vb) = (self.volume, signed_volume(&b.vertices, &b.triangles));
        Some(MeshComparison {
            hausdorff_mm: a_to_b.max_mm.max(b_to_a.max_mm),
            a_to_b,
            b_to_a,
            volume_a_mm3: va,
            volume_b_mm3: vb,
            volume_difference_mm3: vb - va,
            volume_difference_pct: (vb - va) / va * 100.0,
            triangles: [self.mesh.triangles.len(), b.triangles.len()],
        })
    }
}

/// Compares two surfaces; `None` when either has no usable triangle.
pub fn meshes(a: &Mesh, b: &Mesh) -> Option<MeshComparison> {
    MeshReference::new(a)?.against(b)
}

/// Two masks on one grid compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskComparison {
    /// Voxels in A.
    pub voxels_a: u64,
    /// Voxels in B.
    pub voxels_b: u64,
    /// Voxels in both.
    pub voxels_both: u64,
    /// 2|A∩B| / (|A| + |B|).
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub dice: f64,
    /// |A∩B| / |A∪B|.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub jaccard: f64,
    /// |A| × voxel volume, mm³.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub volume_a_mm3: f64,
    /// |B| × voxel volume, mm³.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub volume_b_mm3: f64,
    /// `B − A`, mm³.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub volume_difference_mm3: f64,
    /// Boundary voxels of A to the nearest boundary voxel of B, mm (centre to centre).
    pub a_to_b: Distances,
    /// Boundary voxels of B to the nearest boundary voxel of A, mm.
    pub b_to_a: Distances,
    /// Symmetric Hausdorff distance, mm.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub hausdorff_mm: f64,
    /// The larger of the two directions' 95th percentiles, mm.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub hausdorff95_mm: f64,
}

/// Voxels of `m` with a face-neighbour outside it (or on the volume's edge).
fn boundary(m: &Mask) -> Mask {
    let [n, r, c] = m.dims();
    Mask::from_fn([n, r, c], |k, j, i| {
        if !m.get(k, j, i) {
            return false;
        }
        let out = |kk: Option<usize>, jj: Option<usize>, ii: Option<usize>| match (kk, jj, ii) {
            (Some(kk), Some(jj), Some(ii)) if kk < n && jj < r && ii < c => !m.get(kk, jj, ii),
            _ => true,
        };
        out(k.checked_sub(1), Some(j), Some(i))
            || out(Some(k + 1), Some(j), Some(i))
            || out(Some(k), j.checked_sub(1), Some(i))
            || out(Some(k), Some(j + 1), Some(i))
            || out(Some(k), Some(j), i.checked_sub(1))
            || out(Some(k), Some(j), Some(i + 1))
    })
}

/// Distances (mm) from every set voxel of `from` to the nearest feature of `d2` (squared
/// distances, as [`squared_distance`] gives them).
fn voxel_distances(from: &Mask, d2: &ndarray::Array3<f32>) -> Vec<f64> {
    let [n, r, _] = from.dims();
    (0..n)
        .into_par_iter()
        .flat_map_iter(|k| {
            (0..r).flat_map(move |j| {
                from.row_runs(k, j)
                    .flat_map(move |(a, b)| (a..b).map(move |i| f64::from(d2[[k, j, i]]).sqrt()))
            })
        })
        .filter(|d| d.is_finite())
        .collect()
}

/// A mask others are compared with: its boundary and that boundary's distance transform
/// computed once (a sweep compares every value with one reference).
pub struct MaskReference<'a> {
    mask: &'a Mask,
    boundary: Mask,
    d2: ndarray::Array3<f32>,
    spacing: [f64; 3],
}

impl<'a> MaskReference<'a> {
    /// `spacing` is `[slice, row, column]` mm of an orthogonal grid.
    pub fn new(mask: &'a Mask, spacing: [f64; 3]) -> Self {
        let boundary = boundary(mask);
        MaskReference {
            d2: squared_distance(&boundary, spacing, false),
            boundary,
            mask,
            spacing,
        }
    }

    /// This mask (A) against `b`, of the same dimensions.
    pub fn against(&self, b: &Mask) -> Result<MaskComparison, String> {
        let a = self.mask;
        if a.dims() != b.dims() {
            return Err(format!(
                "the masks have different dimensions ({:?} and {:?}): compare masks on one grid",
                a.dims(),
                b.dims()
            ));
        }
        let both: u64 = a
            .words()
            .iter()
            .zip(b.words())
            .map(|(x, y)| u64::from((x & y).count_ones()))
            .sum();
        let (na, nb) = (a.count(), b.count());
        let voxel = self.spacing.iter().product::<f64>();
        let bb = boundary(b);
        let a_to_b = Distances::of(&voxel_distances(
            &self.boundary,
            &squared_distance(&bb, self.spacing, false),
        ));
        let b_to_a = Distances::of(&voxel_distances(&bb, &self.d2));
        let ratio = |x: u64, y: u64| {
            if y == 0 {
                f64::NAN
            } else {
                x as f64 / y as f64
            }
        };
        Ok(MaskComparison {
            voxels_a: na,
            voxels_b: nb,
            voxels_both: both,
            dice: ratio(2 * both, na + nb),
            jaccard: ratio(both, na + nb - both),
            volume_a_mm3: na as f64 * voxel,
            volume_b_mm3: nb as f64 * voxel,
            volume_difference_mm3: (nb as f64 - na as f64) * voxel,
            hausdorff_mm: a_to_b.max_mm.max(b_to_a.max_mm),
            hausdorff95_mm: a_to_b.p95_mm.max(b_to_a.p95_mm),
            a_to_b,
            b_to_a,
        })
    }
}

/// Compares two masks of the same dimensions; `spacing` is `[slice, row, column]` mm of an
/// orthogonal grid.
pub fn masks(a: &Mask, b: &Mask, spacing: [f64; 3]) -> Result<MaskComparison, String> {
    if a.dims() != b.dims() {
        return Err(format!(
            "the masks have different dimensions ({:?} and {:?}): compare masks on one grid",
            a.dims(),
            b.dims()
        ));
    }
    MaskReference::new(a, spacing).against(b)
}

/// Joins the corners of a triangle soup that are bit-for-bit the same point.
pub fn weld(corners: &[[[f32; 3]; 3]]) -> Mesh {
    let mut index: HashMap<[u32; 3], u32> = HashMap::with_capacity(corners.len() / 2);
    let mut m = Mesh::default();
    for t in corners {
        let mut tri = [0u32; 3];
        for (slot, p) in tri.iter_mut().zip(t) {
            let key = p.map(f32::to_bits);
            *slot = *index.entry(key).or_insert_with(|| {
                m.vertices.push(p.map(f64::from));
                (m.vertices.len() - 1) as u32
            });
        }
        m.triangles.push(tri);
    }
    m
}

/// Reads a surface model: binary STL, Wavefront OBJ (triangulated) or 3MF.
pub fn read_mesh(path: &Path) -> Result<Mesh, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "stl" => {
            let (_, corners) = crate::export::stl::read_binary(path)
                .map_err(|e| format!("{}: {e} (only binary STL is read)", path.display()))?;
            Ok(weld(&corners))
        }
        "obj" => {
            let (models, _) = tobj::load_obj(
                path,
                &tobj::LoadOptions {
                    triangulate: true,
                    single_index: true,
                    ..Default::default()
                },
            )
            .map_err(|e| format!("{}: {e}", path.display()))?;
            let mut m = Mesh::default();
            for model in models {
                let off = m.vertices.len() as u32;
                let p = &model.mesh.positions;
                m.vertices.extend(
                    p.chunks_exact(3)
                        .map(|c| [f64::from(c[0]), f64::from(c[1]), f64::from(c[2])]),
                );
                let n = (p.len() / 3) as u32;
                for t in model.mesh.indices.chunks_exact(3) {
                    if t.iter().any(|&i| i >= n) {
                        return Err(format!("{}: a face names a missing vertex", path.display()));
                    }
                    m.triangles.push([t[0] + off, t[1] + off, t[2] + off]);
                }
            }
            Ok(m)
        }
        "3mf" => crate::export::threemf_read::read(path),
        _ => Err(format!(
            "{}: give an .stl, .obj or .3mf surface (or two NIfTI masks)",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::Shape;
    use crate::phantom::reference::object_surface;

    fn sphere(d: f64) -> Mesh {
        object_surface(
            &Shape::Sphere {
                centre_mm: [1.0, 2.0, 3.0],
                diameter_mm: d,
            },
            0.25,
        )
        .0
    }

    #[test]
    fn a_mesh_against_itself_is_zero_and_against_a_larger_sphere_the_radius_difference() {
        let a = sphere(10.0);
        let same = meshes(&a, &a).expect("compared");
        assert_eq!(same.hausdorff_mm, 0.0);
        assert_eq!(same.volume_difference_mm3, 0.0);
        let b = sphere(11.0);
        let c = meshes(&a, &b).expect("compared");
        for d in [c.a_to_b, c.b_to_a] {
            assert!((d.mean_mm - 0.5).abs() < 0.02, "{d:?}");
            assert!((d.max_mm - 0.5).abs() < 0.02, "{d:?}");
        }
        // A lies inside B: negative against B; B outside A: positive.
        assert!(c.a_to_b.mean_signed_mm < 0.0 && c.b_to_a.mean_signed_mm > 0.0);
        assert!(meshes(&a, &Mesh::default()).is_none());
    }

    #[test]
    fn masks_give_dice_jaccard_and_hausdorff_in_mm() {
        let dims = [10, 20, 30];
        let a = Mask::from_fn(dims, |k, j, i| {
            (2..8).contains(&k) && (5..15).contains(&j) && (5..15).contains(&i)
        });
        let same = masks(&a, &a, [2.0, 1.0, 0.5]).expect("same grid");
        assert_eq!(
            (same.dice, same.jaccard, same.hausdorff_mm),
            (1.0, 1.0, 0.0)
        );
        // B: A widened by 4 columns (2 mm at 0.5 mm columns).
        let b = Mask::from_fn(dims, |k, j, i| {
            (2..8).contains(&k) && (5..15).contains(&j) && (5..19).contains(&i)
        });
        let c = masks(&a, &b, [2.0, 1.0, 0.5]).expect("same grid");
        assert_eq!(c.voxels_a, 600);
        assert_eq!(c.voxels_b, 840);
        assert_eq!(c.voxels_both, 600);
        assert!((c.dice - 1200.0 / 1440.0).abs() < 1e-12);
        assert!((c.jaccard - 600.0 / 840.0).abs() < 1e-12);
        assert_eq!(c.hausdorff_mm, 2.0);
        assert_eq!(c.volume_difference_mm3, 240.0);
        assert!(masks(&a, &Mask::new([1, 2, 3]), [1.0; 3]).is_err());
    }

    #[test]
    fn distances_summarise_with_nearest_rank() {
        let d: Vec<f64> = (1..=100)
            .map(|i| if i % 2 == 0 { i as f64 } else { -(i as f64) })
            .collect();
        let s = Distances::of(&d);
        assert_eq!(s.count, 100);
        assert_eq!(s.p95_mm, 95.0);
        assert_eq!(s.max_mm, 100.0);
        assert_eq!(s.mean_mm, 50.5);
        assert!(Distances::of(&[]).mean_mm.is_nan());
    }

    #[test]
    fn welding_joins_shared_corners() {
        let t = [[0.0f32, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let u = [[1.0f32, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]];
        let m = weld(&[t, u]);
        assert_eq!(m.vertices.len(), 4);
        assert_eq!(m.triangles, vec![[0, 1, 2], [1, 3, 2]]);
    }
}
