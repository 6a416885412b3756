//! Reconstruction parameters as a user gives them (the `mesh` command's flags, a recipe's
//! `reconstruction` block): one place that checks them and turns them into
//! [`ReconstructOptions`], so both entry points accept and refuse the same things.

use super::decimate::Decimation;
use super::pipeline::{DEFAULT_THIN_MM, DEFAULT_TOLERANCE_MM, ReconstructOptions};
use super::repair::RepairOptions;
use super::smooth::Smoothing;
use serde::{Deserialize, Serialize};

/// A parameter that is wrong, by its field name.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    /// The field (recipe key; the CLI flag is the same with dashes).
    pub field: &'static str,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

fn default_thin() -> f64 {
    DEFAULT_THIN_MM
}
fn default_tolerance() -> f64 {
    DEFAULT_TOLERANCE_MM
}
fn yes() -> bool {
    true
}

/// Reconstruction parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshParams {
    /// Smoothing: `taubin:ITER`, `taubin:ITER:LAMBDA:MU` or `sinc:ITER:PASSBAND`.
    #[serde(default)]
    pub smooth: Option<String>,
    /// While smoothing, move no vertex farther than this, mm.
    #[serde(default)]
    pub max_move_mm: Option<f64>,
    /// Decimate to this fraction of the triangles (0..1).
    #[serde(default)]
    pub decimate: Option<f64>,
    /// Decimate as far as possible within this error, mm.
    #[serde(default)]
    pub max_error_mm: Option<f64>,
    /// Iso-surface of HU at this value within the mask, instead of the mask's surface.
    #[serde(default)]
    pub iso_hu: Option<f64>,
    /// Report regions thinner than this, mm.
    #[serde(default = "default_thin")]
    pub thin_mm: f64,
    /// Deviation tolerance for the area-beyond-tolerance figure, mm.
    #[serde(default = "default_tolerance")]
    pub tolerance_mm: f64,
    /// Keep only the largest shell of each label.
    #[serde(default)]
    pub keep_largest_shell: bool,
    /// Count self-intersections.
    #[serde(default = "yes")]
    pub self_intersections: bool,
}

impl Default for MeshParams {
    fn default() -> Self {
        Self {
            smooth: None,
            max_move_mm: None,
            decimate: None,
            max_error_mm: None,
            iso_hu: None,
            thin_mm: DEFAULT_THIN_MM,
            tolerance_mm: DEFAULT_TOLERANCE_MM,
            keep_largest_shell: false,
            self_intersections: true,
        }
    }
}

fn positive_mm(field: &'static str, v: f64) -> Result<f64, ParamError> {
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(ParamError {
            field,
            message: format!("{v} must be a positive number of mm"),
        })
    }
}

impl MeshParams {
    /// Checks every parameter and builds the options; errors name the field.
    pub fn options(&self) -> Result<ReconstructOptions, ParamError> {
        let smoothing = self
            .smooth
            .as_deref()
            .map(Smoothing::parse)
            .transpose()
            .map_err(|message| ParamError {
                field: "smooth",
                message,
            })?;
        let decimation = match (self.decimate, self.max_error_mm) {
            (Some(_), Some(_)) => {
                return Err(ParamError {
                    field: "decimate",
                    message: "give `decimate` or `max_error_mm`, not both".into(),
                });
            }
            (Some(f), None) if !(f > 0.0 && f < 1.0) => {
                return Err(ParamError {
                    field: "decimate",
                    message: format!("{f} must be a fraction of the triangles in (0, 1)"),
                });
            }
            (Some(f), None) => Some(Decimation::TargetFraction { fraction: f }),
            (None, Some(e)) => Some(Decimation::MaxError {
                max_error_mm: positive_mm("max_error_mm", e)?,
            }),
            (None, None) => None,
        };
        if let Some(m) = self.max_move_mm {
            positive_mm("max_move_mm", m)?;
            if smoothing.is_none() {
                return Err(ParamError {
                    field: "max_move_mm",
                    message: "bounds smoothing, but no smoothing is asked for".into(),
                });
            }
        }
        if let Some(iso) = self.iso_hu
            && !(iso.is_finite() && (-32768.0..=32767.0).contains(&iso))
        {
            return Err(ParamError {
                field: "iso_hu",
                message: format!("{iso} is not a HU value (-32768..32767)"),
            });
        }
        Ok(ReconstructOptions {
            iso_hu: self.iso_hu,
            smoothing,
            max_move_mm: self.max_move_mm,
            decimation,
            repair: RepairOptions {
                keep_largest_shell: self.keep_largest_shell,
                ..Default::default()
            },
            thin_mm: positive_mm("thin_mm", self.thin_mm)?,
            tolerance_mm: positive_mm("tolerance_mm", self.tolerance_mm)?,
            self_intersections: self.self_intersections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_name_their_field() {
        let field = |p: MeshParams| p.options().err().map(|e| e.field);
        let d = MeshParams::default();
        assert!(d.options().is_ok());
        assert_eq!(
            field(MeshParams {
                smooth: Some("sinc:0:0.1".into()),
                ..d.clone()
            }),
            Some("smooth")
        );
        assert_eq!(
            field(MeshParams {
                decimate: Some(1.5),
                ..d.clone()
            }),
            Some("decimate")
        );
        assert_eq!(
            field(MeshParams {
                thin_mm: -1.0,
                ..d.clone()
            }),
            Some("thin_mm")
        );
        assert_eq!(
            field(MeshParams {
                max_move_mm: Some(0.5),
                ..d.clone()
            }),
            Some("max_move_mm")
        );
        assert_eq!(
            field(MeshParams {
                iso_hu: Some(f64::NAN),
                ..d.clone()
            }),
            Some("iso_hu")
        );
        let unknown: Result<MeshParams, _> = serde_json::from_str(r#"{"smoth": "sinc:20:0.1"}"#);
        assert!(unknown.is_err_and(|e| e.to_string().contains("smoth")));
    }
}
