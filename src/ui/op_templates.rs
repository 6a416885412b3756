//! Starting parameters for every engine operation in the window's Operations panel: the
//! panel shows these fields for editing, fills seeds and points from clicks in the views
//! and the target label from the active label, and applies the result as the operation.
//! A test parses every template as its operation, so a renamed field cannot slip by.

use serde_json::{Value, json};

/// Whether the Operations panel offers `name`: not `import_mask`, whose mask comes from a
/// file through *Import DICOM SEG…*, never typed.
pub fn in_panel(name: &str) -> bool {
    name != "import_mask"
}

/// The editable parameters of operation `name` (without `op`), or an empty object.
pub fn template(name: &str) -> Value {
    match name {
        "threshold" => json!({"lo": 226, "hi": 3071}),
        "threshold_preset" => json!({"preset": "bone"}),
        "threshold_auto" => json!({"method": "otsu", "range": [-1024, 3071]}),
        "connected_threshold" => {
            json!({"seeds": [], "lo": 226, "hi": 3071, "connectivity": 26, "per_slice": false})
        }
        "confidence_connected" => {
            json!({"seeds": [], "multiplier": 2.5, "iterations": 4, "initial_radius_voxels": 1, "connectivity": 26, "per_slice": false})
        }
        "gradient_threshold" => json!({"min_hu_per_mm": 200.0, "per_slice": false}),
        "canny" => {
            json!({"sigma_mm": 1.0, "low_hu_per_mm": 100.0, "high_hu_per_mm": 300.0, "per_slice": false})
        }
        "watershed" => json!({"markers": [], "sigma_mm": 1.0, "connectivity": 6}),
        "chan_vese" => {
            json!({"init": "bone", "iterations": 100, "time_step": 1.0, "curvature_weight": 0.2, "per_slice": false, "margin_mm": 10.0})
        }
        "geodesic_active_contour" => {
            json!({"init": "bone", "iterations": 100, "time_step": 0.5, "curvature_weight": 0.2, "propagation_weight": 1.0, "advection_weight": 1.0, "edge_k": 50.0, "sigma_mm": 1.0, "per_slice": false, "margin_mm": 10.0})
        }
        "kmeans" => json!({"k": 3, "keep": [2], "iterations": 20, "seed": 1}),
        "fuzzy_cmeans" => {
            json!({"k": 3, "keep": [2], "m": 2.0, "iterations": 50, "tolerance": 0.001, "seed": 1})
        }
        "keep_largest" => json!({"connectivity": 26}),
        "keep_selected" => json!({"seeds": [], "connectivity": 26}),
        "remove_small" => json!({"min_volume_mm3": 50.0, "connectivity": 26}),
        "split_islands" => json!({"connectivity": 26, "max_labels": 10, "min_volume_mm3": 50.0}),
        "dilate" | "erode" | "open" | "close" => json!({"radius_mm": 1.0, "per_slice": false}),
        "fill_holes" => json!({"per_slice": false}),
        "hollow" => json!({"thickness_mm": 2.0, "outside": false}),
        "boolean" => json!({"operation": "subtract", "a": "bone", "b": "other"}),
        "invert" => json!({}),
        "add_label" => json!({"name": "new"}),
        "copy_label" => json!({"from": "bone", "to": "bone_copy"}),
        "rename_label" => json!({"from": "bone", "to": "skull"}),
        "delete_label" => json!({"name": "other"}),
        "brush" => json!({"centres_mm": [], "radius_mm": 3.0, "mode": "paint", "shape": "sphere"}),
        "lasso" => json!({"points_mm": [], "plane": "axial", "mode": "paint"}),
        "scissors" => {
            json!({"points_mm": [], "direction": [0.0, 0.0, 1.0], "mode": "erase_inside"})
        }
        "interpolate_slices" => json!({}),
        "crop" => json!({"min_mm": [-100.0, -100.0, -100.0], "max_mm": [100.0, 100.0, 100.0]}),
        "resample" => json!({"spacing_mm": [1.0, 1.0, 1.0]}),
        _ => json!({}),
    }
}

/// Whether an operation writes a target label (so the active label fills `label`).
pub fn takes_label(name: &str) -> bool {
    !matches!(
        name,
        "boolean"
            | "add_label"
            | "copy_label"
            | "rename_label"
            | "delete_label"
            | "watershed"
            | "resample"
    )
}

/// The field that clicked points fill, and whether as seeds (`{"lps_mm": …}`) or points.
pub fn point_field(name: &str) -> Option<(&'static str, bool)> {
    match name {
        "connected_threshold" | "confidence_connected" | "keep_selected" => Some(("seeds", true)),
        "brush" => Some(("centres_mm", false)),
        "lasso" | "scissors" => Some(("points_mm", false)),
        _ => None,
    }
}

/// The operation a form describes: its parameters, the clicked points and the label.
pub fn build(
    name: &str,
    params: &Value,
    points: &[[f64; 3]],
    label: &str,
) -> Result<crate::segment::Operation, String> {
    let mut v = params.clone();
    let obj = v
        .as_object_mut()
        .ok_or_else(|| "the parameters are not an object".to_string())?;
    if let Some((field, seeds)) = point_field(name)
        && !points.is_empty()
    {
        let list: Vec<Value> = points
            .iter()
            .map(|p| {
                if seeds {
                    json!({"lps_mm": p})
                } else {
                    json!(p)
                }
            })
            .collect();
        obj.insert(field.into(), Value::Array(list));
    }
    if takes_label(name) && !obj.contains_key("label") {
        obj.insert("label".into(), json!(label));
    }
    obj.insert("op".into(), json!(name));
    serde_json::from_value(v).map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::Operation;

    #[test]
    fn every_operation_has_a_template_that_parses() {
        for name in Operation::NAMES.iter().filter(|n| in_panel(n)) {
            let t = template(name);
            assert!(t.is_object(), "{name}");
            let points = if point_field(name).is_some() {
                vec![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [1.0, 6.0, 3.0]]
            } else {
                vec![]
            };
            let op = build(name, &t, &points, "bone");
            assert!(op.is_ok(), "{name}: {op:?}");
            assert_eq!(op.map(|o| o.name()).ok(), Some(*name));
        }
        let op = build(
            "keep_selected",
            &template("keep_selected"),
            &[[1.0, 2.0, 3.0]],
            "bone",
        );
        let j = serde_json::to_value(op.expect("builds")).unwrap_or_default();
        assert_eq!(j["seeds"][0]["lps_mm"][2], 3.0);
        assert_eq!(j["label"], "bone");
    }
}
