//! Parameter sweeps: one numeric field of one step of an operation list varied over a
//! range (say the bone threshold's lower bound from 150 to 400 HU); per value, the mask and
//! its surface are measured against a reference — the list as written, or a given mask —
//! with the same code as `compare`. Trainers show with it how a parameter changes a model;
//! engineers choose a parameter with it.

use crate::compare::{self, MaskComparison};
use crate::mesh::Mesh;
use crate::mesh::extract::{Midpoint, extract};
use crate::segment::{Mask, Operation, Session};
use crate::volume::Volume;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Name in `sweep.json`'s `format`.
pub const FORMAT: &str = "hounsfield-sweep";

/// Most values one sweep may take.
pub const MAX_VALUES: usize = 200;

/// One value's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// The parameter's value.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub value: f64,
    /// Voxels in the mask.
    pub voxels: u64,
    /// Mask volume, mm³.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub volume_mm3: f64,
    /// Volume change against the reference, %.
    #[serde(deserialize_with = "crate::compare::nan::de")]
    pub volume_change_pct: f64,
    /// The mask against the reference mask.
    pub mask: MaskComparison,
    /// The surface (marching cubes, unsmoothed) against the reference surface: mean
    /// distance of each one's vertices to the other, mm (`None` with surfaces off or an
    /// empty mask).
    pub surface_mean_mm: Option<f64>,
    /// The larger 95th percentile of the two directions, mm.
    pub surface_p95_mm: Option<f64>,
    /// Symmetric Hausdorff distance of the surfaces, mm.
    pub surface_hausdorff_mm: Option<f64>,
}

/// `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// [`FORMAT`].
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// Hounsfield's version.
    pub software: String,
    /// When (UTC).
    pub time: String,
    /// The source volume (description) and its blake3.
    pub source: String,
    /// The source volume's hash.
    pub volume_hash: String,
    /// The operation list as given.
    pub operations: Vec<Operation>,
    /// Step varied (1-based).
    pub step: usize,
    /// Field varied.
    pub field: String,
    /// The label measured.
    pub label: String,
    /// What the reference is.
    pub reference: String,
    /// Per value, in order.
    pub rows: Vec<SweepRow>,
}

/// The list with `field` of step `step` (1-based) set to `value`; refused when the step
/// has no such numeric field or the value does not suit it.
pub fn with_value(
    ops: &[Operation],
    step: usize,
    field: &str,
    value: f64,
) -> Result<Vec<Operation>, String> {
    let mut list = serde_json::to_value(ops).map_err(|e| e.to_string())?;
    let items = list
        .as_array_mut()
        .ok_or("the operation list is not a list")?;
    let n = items.len();
    let item = step
        .checked_sub(1)
        .and_then(|i| items.get_mut(i))
        .ok_or_else(|| format!("step {step} does not exist: the list has {n} step(s)"))?;
    let op = item
        .get("op")
        .and_then(|o| o.as_str())
        .unwrap_or("?")
        .to_string();
    let fields: Vec<String> = item
        .as_object()
        .map(|o| o.keys().filter(|k| *k != "op").cloned().collect())
        .unwrap_or_default();
    let slot = item.get_mut(field).ok_or_else(|| {
        format!(
            "step {step} ({op}) has no field `{field}` (its fields: {})",
            fields.join(", ")
        )
    })?;
    *slot = if slot.is_i64() || slot.is_u64() {
        if value.fract() != 0.0 {
            return Err(format!(
                "step {step} ({op}) field `{field}` is a whole number; {value} is not"
            ));
        }
        serde_json::json!(value as i64)
    } else if slot.is_f64() {
        serde_json::json!(value)
    } else {
        return Err(format!(
            "step {step} ({op}) field `{field}` is not a number"
        ));
    };
    Operation::parse_list(&list, "step")
}

/// The values `from, from + step, …` up to `to` (inclusive, within rounding).
pub fn values(from: f64, to: f64, step: f64) -> Result<Vec<f64>, String> {
    if !(from.is_finite() && to.is_finite() && step.is_finite() && step > 0.0 && to >= from) {
        return Err(format!(
            "give FROM:TO:STEP with FROM ≤ TO and STEP > 0 (got {from}:{to}:{step})"
        ));
    }
    let n = ((to - from) / step + 1e-9).floor() as usize + 1;
    if n > MAX_VALUES {
        return Err(format!(
            "{n} values is more than a sweep takes ({MAX_VALUES}); use a larger step"
        ));
    }
    Ok((0..n).map(|i| from + step * i as f64).collect())
}

fn mask_of(
    volume: &Arc<Volume>,
    volume_hash: &str,
    ops: Vec<Operation>,
    label: Option<&str>,
) -> Result<(Mask, String), String> {
    let mut s =
        Session::with_volume_hash(volume.clone(), volume_hash.into(), "sweep", None, "sweep");
    for (n, op) in ops.into_iter().enumerate() {
        let name = op.name();
        s.apply(op)
            .map_err(|e| format!("step {} ({name}): {e}", n + 1))?;
    }
    let seg = s.segmentation();
    let l = match label {
        Some(l) => seg
            .get(l)
            .ok_or_else(|| format!("the operations make no label `{l}`"))?,
        None => match seg.labels() {
            [one] => one,
            many => {
                return Err(format!(
                    "the operations make {} labels; say which with --label",
                    many.len()
                ));
            }
        },
    };
    Ok((l.mask.clone(), l.meta.name.clone()))
}

/// Runs the sweep; `reference` is a mask on the volume's grid (default: the list as
/// written). `each` sees every row as it is measured.
#[allow(clippy::too_many_arguments)]
pub fn run(
    volume: &Arc<Volume>,
    description: &str,
    ops: &[Operation],
    step: usize,
    field: &str,
    values: &[f64],
    label: Option<&str>,
    reference: Option<(Mask, String)>,
    surfaces: bool,
    each: &mut dyn FnMut(&SweepRow),
) -> Result<Sweep, String> {
    let hash = crate::segment::mask::hex(&crate::segment::log::volume_hash(volume));
    // Checked for every value before any work.
    let lists: Vec<Vec<Operation>> = values
        .iter()
        .map(|&v| with_value(ops, step, field, v))
        .collect::<Result<_, _>>()?;
    let (ref_mask, ref_what, label_name) = match reference {
        Some((m, what)) => {
            if m.dims() != volume.dims() {
                return Err(format!(
                    "the reference mask is {:?}, the volume {:?}: give a mask of this volume",
                    m.dims(),
                    volume.dims()
                ));
            }
            let (_, l) = mask_of(volume, &hash, ops.to_vec(), label)?;
            (m, what, l)
        }
        None => {
            let (m, l) = mask_of(volume, &hash, ops.to_vec(), label)?;
            (m, "the operations as given".to_string(), l)
        }
    };
    let g = volume.geometry;
    if !g.is_orthogonal() {
        return Err("the volume's grid is sheared: resample it first".into());
    }
    let spacing = [g.spacing.slice, g.spacing.row, g.spacing.col];
    let voxel = spacing.iter().product::<f64>();
    let ref_surface: Option<Mesh> = surfaces.then(|| extract(&ref_mask, &g, &Midpoint));
    let ref_volume = ref_mask.count() as f64 * voxel;
    // The reference's boundary distances and surface tree, once for every value.
    let mask_ref = compare::MaskReference::new(&ref_mask, spacing);
    let mesh_ref = ref_surface.as_ref().and_then(compare::MeshReference::new);
    let mut rows = Vec::with_capacity(values.len());
    for (&value, list) in values.iter().zip(lists) {
        let (mask, _) = mask_of(volume, &hash, list, Some(&label_name))?;
        let cmp = mask_ref.against(&mask)?;
        let surface = match &mesh_ref {
            Some(r) if !mask.is_empty() => r.against(&extract(&mask, &g, &Midpoint)),
            _ => None,
        };
        let vol = mask.count() as f64 * voxel;
        let row = SweepRow {
            value,
            voxels: mask.count(),
            volume_mm3: vol,
            volume_change_pct: (vol - ref_volume) / ref_volume * 100.0,
            surface_mean_mm: surface.as_ref().map(|s| {
                (s.a_to_b.mean_mm * s.a_to_b.count as f64
                    + s.b_to_a.mean_mm * s.b_to_a.count as f64)
                    / (s.a_to_b.count + s.b_to_a.count) as f64
            }),
            surface_p95_mm: surface
                .as_ref()
                .map(|s| s.a_to_b.p95_mm.max(s.b_to_a.p95_mm)),
            surface_hausdorff_mm: surface.as_ref().map(|s| s.hausdorff_mm),
            mask: cmp,
        };
        each(&row);
        rows.push(row);
    }
    Ok(Sweep {
        format: FORMAT.into(),
        version: 1,
        software: format!("hounsfield {}", env!("CARGO_PKG_VERSION")),
        time: crate::segment::log::now_utc(),
        source: description.into(),
        volume_hash: hash,
        operations: ops.to_vec(),
        step,
        field: field.into(),
        label: label_name,
        reference: ref_what,
        rows,
    })
}

/// A column of the table after the value: CSV name, heading, decimals shown, the figure.
struct Column {
    csv: &'static str,
    heading: &'static str,
    decimals: usize,
    get: fn(&SweepRow) -> Option<f64>,
}

/// The table's columns, shared by the CSV and the HTML page.
const COLUMNS: [Column; 9] = [
    Column {
        csv: "voxels",
        heading: "Voxels",
        decimals: 0,
        get: |r| Some(r.voxels as f64),
    },
    Column {
        csv: "volume_mm3",
        heading: "Volume mm³",
        decimals: 1,
        get: |r| Some(r.volume_mm3),
    },
    Column {
        csv: "volume_change_pct",
        heading: "Change %",
        decimals: 2,
        get: |r| Some(r.volume_change_pct),
    },
    Column {
        csv: "dice",
        heading: "Dice",
        decimals: 4,
        get: |r| Some(r.mask.dice),
    },
    Column {
        csv: "jaccard",
        heading: "Jaccard",
        decimals: 4,
        get: |r| Some(r.mask.jaccard),
    },
    Column {
        csv: "hausdorff95_mm",
        heading: "HD95 mm",
        decimals: 2,
        get: |r| Some(r.mask.hausdorff95_mm),
    },
    Column {
        csv: "surface_mean_mm",
        heading: "Surface mean mm",
        decimals: 3,
        get: |r| r.surface_mean_mm,
    },
    Column {
        csv: "surface_p95_mm",
        heading: "Surface p95 mm",
        decimals: 3,
        get: |r| r.surface_p95_mm,
    },
    Column {
        csv: "surface_hausdorff_mm",
        heading: "Hausdorff mm",
        decimals: 3,
        get: |r| r.surface_hausdorff_mm,
    },
];

/// The sweep as CSV (one row per value; figures at full precision, empty when absent).
pub fn csv(s: &Sweep) -> String {
    let mut o = std::iter::once(s.field.as_str())
        .chain(COLUMNS.iter().map(|c| c.csv))
        .collect::<Vec<_>>()
        .join(",");
    o.push('\n');
    for r in &s.rows {
        let cells: Vec<String> = std::iter::once(r.value.to_string())
            .chain(
                COLUMNS
                    .iter()
                    .map(|c| (c.get)(r).map_or(String::new(), |v| v.to_string())),
            )
            .collect();
        o.push_str(&cells.join(","));
        o.push('\n');
    }
    o
}

/// One SVG panel: `ys` against `xs`, with its title and axis ticks.
fn panel(title: &str, unit: &str, xs: &[f64], ys: &[Option<f64>]) -> String {
    use std::fmt::Write;
    let (w, h, left, right, top, bottom) = (640.0, 170.0, 64.0, 16.0, 24.0, 30.0);
    let pts: Vec<(f64, f64)> = xs
        .iter()
        .zip(ys)
        .filter_map(|(&x, y)| y.filter(|v| v.is_finite()).map(|y| (x, y)))
        .collect();
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\"><text x=\"{left}\" y=\"15\" font-weight=\"bold\">{title}</text>"
    );
    if pts.is_empty() {
        o.push_str("<text x=\"70\" y=\"90\">no values</text></svg>");
        return o;
    }
    let (x0, x1) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let (mut y0, mut y1) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(_, y)| {
            (a.min(y), b.max(y))
        });
    if y1 - y0 < 1e-9 {
        y0 -= 0.5;
        y1 += 0.5;
    }
    let xw = if x1 > x0 { x1 - x0 } else { 1.0 };
    let px = |x: f64| left + (x - x0) / xw * (w - left - right);
    let py = |y: f64| top + (y1 - y) / (y1 - y0) * (h - top - bottom);
    let _ = write!(
        o,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
        w - left - right,
        h - top - bottom
    );
    for t in 0..=4 {
        let y = y0 + (y1 - y0) * f64::from(t) / 4.0;
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
            left - 4.0,
            py(y) + 4.0,
            crate::report::html::esc(&format!("{y:.3}{unit}")),
            w - right,
            py(y),
            py(y)
        );
    }
    for &x in xs {
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{x}</text>",
            px(x),
            h - 12.0
        );
    }
    let line: Vec<String> = pts
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
        .collect();
    let _ = write!(
        o,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"2\"/>",
        line.join(" ")
    );
    for &(x, y) in &pts {
        let _ = write!(
            o,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1f5fa8\"/>",
            px(x),
            py(y)
        );
    }
    o.push_str("</svg>");
    o
}

/// The sweep as one self-contained HTML page: the table and three plots.
pub fn html(s: &Sweep) -> String {
    use crate::report::html::esc;
    use std::fmt::Write;
    let xs: Vec<f64> = s.rows.iter().map(|r| r.value).collect();
    let mut o = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sweep of {}</title><style>body{{font-family:sans-serif;font-size:13px;margin:16px;max-width:900px}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px}}td{{text-align:right}}</style></head><body>",
        esc(&s.field)
    );
    let _ = write!(
        o,
        "<h1>Parameter sweep: step {} field <code>{}</code></h1><p>Source {} (volume blake3 <code>{}</code>), label <b>{}</b>, reference: {}. Made {} by {}. Surfaces: marching cubes of each mask, unsmoothed.</p>",
        s.step,
        esc(&s.field),
        esc(&s.source),
        esc(&s.volume_hash[..s.volume_hash.len().min(16)]),
        esc(&s.label),
        esc(&s.reference),
        esc(&s.time),
        esc(&s.software)
    );
    let ys = |f: &dyn Fn(&SweepRow) -> Option<f64>| s.rows.iter().map(f).collect::<Vec<_>>();
    o.push_str(&panel(
        "Volume change against the reference",
        " %",
        &xs,
        &ys(&|r| Some(r.volume_change_pct)),
    ));
    o.push_str(&panel(
        "Dice against the reference mask",
        "",
        &xs,
        &ys(&|r| Some(r.mask.dice)),
    ));
    o.push_str(&panel(
        "Mean surface distance to the reference",
        " mm",
        &xs,
        &ys(&|r| r.surface_mean_mm),
    ));
    o.push_str("<table><tr><th>");
    o.push_str(&esc(&s.field));
    o.push_str("</th>");
    for c in &COLUMNS {
        let _ = write!(o, "<th>{}</th>", esc(c.heading));
    }
    o.push_str("</tr>");
    for r in &s.rows {
        let _ = write!(o, "<tr><td>{}</td>", r.value);
        for c in &COLUMNS {
            let d = c.decimals;
            let _ = write!(
                o,
                "<td>{}</td>",
                (c.get)(r).map_or("—".to_string(), |v| format!("{v:.d$}"))
            );
        }
        o.push_str("</tr>");
    }
    o.push_str("</table></body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops() -> Vec<Operation> {
        Operation::parse_list(
            &serde_json::json!([{"op": "threshold", "lo": 200, "hi": 3071}]),
            "step",
        )
        .expect("ops")
    }

    #[test]
    fn a_field_is_set_and_a_wrong_one_named() {
        let o = with_value(&ops(), 1, "lo", 250.0).expect("set");
        assert_eq!(serde_json::to_value(&o).expect("json")[0]["lo"], 250);
        assert!(
            with_value(&ops(), 2, "lo", 1.0)
                .unwrap_err()
                .contains("step 2 does not exist")
        );
        assert!(
            with_value(&ops(), 1, "low", 1.0)
                .unwrap_err()
                .contains("no field `low`")
        );
        assert!(
            with_value(&ops(), 1, "lo", 1.5)
                .unwrap_err()
                .contains("whole number")
        );
        assert!(
            with_value(&ops(), 1, "op", 1.0)
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn values_cover_the_range_and_absurd_ranges_are_refused() {
        assert_eq!(
            values(150.0, 400.0, 50.0).expect("ok"),
            vec![150.0, 200.0, 250.0, 300.0, 350.0, 400.0]
        );
        assert_eq!(values(1.0, 1.0, 1.0).expect("ok"), vec![1.0]);
        assert!(values(0.0, 1e9, 1.0).is_err());
        assert!(values(5.0, 1.0, 1.0).is_err());
        assert!(values(0.0, 1.0, 0.0).is_err());
    }

    #[test]
    fn a_sweep_of_a_threshold_on_a_ramp_moves_the_volume_as_expected() {
        use crate::geom::SpacingMm;
        use crate::volume::VolumeGeometry;
        // HU rises 10 per column: threshold lo = 10 c keeps columns c.. of 40.
        let hu = ndarray::Array3::from_shape_fn((6, 8, 40), |(_, _, i)| (i * 10) as i16);
        let v = Arc::new(Volume {
            hu,
            geometry: VolumeGeometry::axis_aligned(SpacingMm {
                col: 0.5,
                row: 1.0,
                slice: 2.0,
            }),
        });
        let s = run(
            &v,
            "ramp",
            &ops(),
            1,
            "lo",
            &[100.0, 200.0, 300.0],
            None,
            None,
            true,
            &mut |_| {},
        )
        .expect("sweep");
        assert_eq!(s.rows.len(), 3);
        let r: Vec<u64> = s.rows.iter().map(|r| r.voxels).collect();
        assert_eq!(r, vec![6 * 8 * 30, 6 * 8 * 20, 6 * 8 * 10]);
        // The reference (lo 200) against itself.
        assert_eq!(s.rows[1].mask.dice, 1.0);
        assert_eq!(s.rows[1].surface_hausdorff_mm, Some(0.0));
        // 10 columns of 0.5 mm more: the cut face moves 5 mm.
        assert!((s.rows[0].mask.hausdorff_mm - 5.0).abs() < 1e-9);
        assert!((s.rows[0].volume_change_pct - 50.0).abs() < 1e-9);
        assert!(html(&s).contains("<polyline"));
        assert_eq!(csv(&s).lines().count(), 4);
    }
}
