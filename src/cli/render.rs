//! `hounsfield render`: a slice or slab projection (MIP, MinIP, mean) of a volume as a PNG,
//! rendered on the CPU in radiological orientation — for reports and scripts, and as the
//! reference the GPU views are checked against.

use super::input;
use crate::error::Error;
use crate::volume::reslice::{self, Orientation, Projection, ViewSpec};
use std::path::PathBuf;

/// Arguments of `render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// A DICOM folder or a NIfTI volume.
    pub path: PathBuf,
    /// The series, when the folder holds several.
    #[arg(long)]
    pub series: Option<String>,
    /// Output PNG.
    #[arg(long)]
    pub out: PathBuf,
    /// View plane.
    #[arg(long, value_enum, default_value = "axial")]
    pub plane: PlaneArg,
    /// Position of the plane along its normal (LPS mm: z for axial, y coronal, x sagittal);
    /// default the centre of the volume.
    #[arg(long, allow_hyphen_values = true)]
    pub position_mm: Option<f64>,
    /// Slab thickness, mm (0 = one slice).
    #[arg(long, default_value_t = 0.0)]
    pub slab_mm: f64,
    /// Projection of a slab.
    #[arg(long, value_enum, default_value = "mip")]
    pub mode: ModeArg,
    /// Window preset: bone (2000/300), brain (80/40), soft (400/40), lung (1500/−600).
    #[arg(long, value_enum, default_value = "bone")]
    pub preset: PresetArg,
    /// Window width, HU (overrides the preset, with --level).
    #[arg(long, requires = "level")]
    pub window: Option<f64>,
    /// Window level, HU.
    #[arg(long, requires = "window", allow_hyphen_values = true)]
    pub level: Option<f64>,
}

/// View planes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PlaneArg {
    /// Axial.
    Axial,
    /// Coronal.
    Coronal,
    /// Sagittal.
    Sagittal,
}

/// Slab projections.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    /// Maximum intensity.
    Mip,
    /// Minimum intensity.
    Minip,
    /// Mean.
    Mean,
}

/// Window presets.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PresetArg {
    /// 2000/300.
    Bone,
    /// 80/40.
    Brain,
    /// 400/40.
    Soft,
    /// 1500/−600.
    Lung,
}

/// Runs `render`.
pub fn run(a: &RenderArgs) -> Result<(), Error> {
    if !a
        .out
        .to_string_lossy()
        .to_ascii_lowercase()
        .ends_with(".png")
    {
        return Err(Error::BadInput(format!(
            "--out {} must end in .png",
            a.out.display()
        )));
    }
    super::check_out_dir(&a.out)?;
    if !(a.slab_mm.is_finite() && (0.0..=500.0).contains(&a.slab_mm)) {
        return Err(Error::BadInput(format!(
            "--slab-mm {} must be in 0..=500",
            a.slab_mm
        )));
    }
    let (w, l) = match (a.window, a.level) {
        (Some(w), Some(l)) if w > 0.0 => (w, l),
        (Some(w), Some(_)) => {
            return Err(Error::BadInput(format!("--window {w} must be positive")));
        }
        _ => {
            let name = match a.preset {
                PresetArg::Bone => "bone",
                PresetArg::Brain => "brain",
                PresetArg::Soft => "soft",
                PresetArg::Lung => "lung",
            };
            let w =
                crate::view::WindowLevel::preset(name).unwrap_or(crate::view::WindowLevel::BONE);
            (w.width, w.level)
        }
    };
    let opened = input::open_volume(&a.path, a.series.as_deref())?;
    let spec = ViewSpec {
        orientation: match a.plane {
            PlaneArg::Axial => Orientation::Axial,
            PlaneArg::Coronal => Orientation::Coronal,
            PlaneArg::Sagittal => Orientation::Sagittal,
        },
        position_mm: a.position_mm,
        slab_mm: a.slab_mm,
        projection: match a.mode {
            ModeArg::Mip => Projection::Mip,
            ModeArg::Minip => Projection::Minip,
            ModeArg::Mean => Projection::Mean,
        },
    };
    let view = reslice::render(&opened.volume, &spec);
    let px = reslice::window(&view, w, l);
    crate::export::image::write_png_gray(&a.out, view.width, view.height, &px)
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", a.out.display())))?;
    eprintln!(
        "wrote {} ({} x {} px of {:.3} mm, plane at {:.2} mm, window {w}/{l})",
        a.out.display(),
        view.width,
        view.height,
        view.pixel_mm,
        view.position_mm
    );
    Ok(())
}
