//! Writing a case's exports: one function from (what was asked, the segmentation, the
//! surfaces, who and what it came from) to a file. The case calls it to export and replay
//! calls it to make the same bytes again, so the two cannot drift apart.

use super::event::{ExportFormat, ExportSpec, VolumeContent};
use crate::export::surface::{self, SurfaceFormat, SurfaceMeta};
use crate::export::volume::{
    self as volume_model, MaskProvenance, PROVENANCE_FORMAT, VolumeFile, Voxels,
};
use crate::mesh::Mesh;
use crate::segment::model::Segmentation;
use crate::volume::Volume;
use std::path::Path;

/// What an export says about where it came from (all of it recorded in the case).
#[derive(Debug, Clone)]
pub struct Provenance {
    /// "Hounsfield 0.1.0" (as recorded: replay writes what the original wrote).
    pub software: String,
    /// The case pseudonym.
    pub pseudonym: String,
    /// Series Instance UID of the source.
    pub series_uid: Option<String>,
    /// blake3 of the source volume.
    pub volume_hash: String,
    /// Hash of the segmentation.
    pub segmentation_hash: String,
    /// Log entries at that state.
    pub log_position: usize,
    /// blake3 of each label's mask at that state.
    pub mask_hashes: std::collections::BTreeMap<String, String>,
    /// For DICOM exports: the source images and who made the segmentation when.
    pub dicom: Option<DicomSource>,
}

/// What a DICOM export takes from the case besides the masks.
#[derive(Debug, Clone)]
pub struct DicomSource {
    /// Where the source files are now.
    pub root: std::path::PathBuf,
    /// The source files, relative to `root`.
    pub files: Vec<String>,
    /// Who made the export (Content Creator's Name).
    pub operator: String,
    /// When the segmentation reached its state: the time of its last applied operation.
    pub time: String,
    /// Whether the segmentation holds hand edits.
    pub manual_edits: bool,
}

impl DicomSource {
    /// The DICOM source of a case with its segmentation `log`, exported by `operator`.
    pub fn of(
        files: &super::CaseFiles,
        log: &crate::segment::log::OperationLog,
        operator: &str,
    ) -> Option<Self> {
        (files.record.source.kind == super::record::SourceKind::Dicom).then(|| Self {
            root: files.source_root(),
            files: files
                .record
                .source
                .files
                .iter()
                .map(|f| f.path.clone())
                .collect(),
            operator: operator.to_string(),
            time: log
                .applied()
                .last()
                .map_or_else(|| files.record.created.clone(), |e| e.time.clone()),
            manual_edits: log
                .applied()
                .any(|e| crate::report::MANUAL_OPS.contains(&e.op.name())),
        })
    }
}

/// Checks a requested file name: a plain name in `exports/`, with an extension that fits
/// the format.
pub fn check_spec(spec: &ExportSpec) -> Result<(), String> {
    let f = &spec.file;
    if f.is_empty()
        || f.contains('/')
        || f.contains('\\')
        || f.starts_with('.')
        || f.chars().any(char::is_control)
    {
        return Err(format!(
            "export file `{f}`: give a plain file name (it is written in the case's exports/ folder)"
        ));
    }
    let by_name = ExportFormat::from_file_name(f);
    let fits = match spec.format {
        ExportFormat::Stl | ExportFormat::StlAscii => by_name == Some(ExportFormat::Stl),
        other => by_name == Some(other),
    };
    if !fits {
        return Err(format!(
            "export file `{f}` does not end as a {} file should ({})",
            spec.format.as_str(),
            match spec.format {
                ExportFormat::Stl | ExportFormat::StlAscii => ".stl",
                ExportFormat::ThreeMf => ".3mf",
                ExportFormat::Obj => ".obj",
                ExportFormat::Nifti => ".nii or .nii.gz",
                ExportFormat::Nrrd => ".nrrd",
                ExportFormat::Outlines => ".json",
                ExportFormat::DicomSeg => ".seg.dcm",
                ExportFormat::RtStruct => ".rtstruct.dcm",
            }
        ));
    }
    if spec.labels.is_empty() {
        return Err(format!("export `{f}` names no label"));
    }
    if spec.format.is_dicom() {
        return match spec.content {
            None => Ok(()),
            Some(_) => Err(format!(
                "export `{f}`: a DICOM export holds each label as it is; drop `content`"
            )),
        };
    }
    match (spec.format.is_surface(), spec.content) {
        (true, Some(_)) => Err(format!(
            "export `{f}`: `content` applies to volume formats only"
        )),
        (false, Some(VolumeContent::MaskedHu)) if spec.format == ExportFormat::Outlines => Err(
            format!("export `{f}`: outlines are drawn from the mask; drop `content`"),
        ),
        (false, Some(VolumeContent::Mask) | None) if spec.labels.len() != 1 => Err(format!(
            "export `{f}`: a mask holds one label; name one, or use \"content\": \"label-map\""
        )),
        (false, Some(VolumeContent::MaskedHu)) if spec.labels.len() != 1 => {
            Err(format!("export `{f}`: masked HU is written for one label"))
        }
        _ => Ok(()),
    }
}

/// Writes `spec` to `path` from the segmentation (and, for surfaces, the meshes by label).
pub fn write(
    spec: &ExportSpec,
    path: &Path,
    seg: &Segmentation,
    volume: &Volume,
    meshes: &[(String, Mesh)],
    p: &Provenance,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    if spec.format.is_surface() {
        let mut objects = Vec::new();
        for l in &spec.labels {
            let m = meshes
                .iter()
                .find(|(n, _)| n == l)
                .map(|(_, m)| m)
                .ok_or_else(|| format!("no surface of label `{l}` was reconstructed"))?;
            objects.push((l.as_str(), m));
        }
        let format = match spec.format {
            ExportFormat::StlAscii => SurfaceFormat::StlAscii,
            ExportFormat::ThreeMf => SurfaceFormat::ThreeMf,
            ExportFormat::Obj => SurfaceFormat::Obj,
            _ => SurfaceFormat::Stl,
        };
        let meta = SurfaceMeta {
            software: p.software.clone(),
            pseudonym: Some(p.pseudonym.clone()),
            series_uid: p.series_uid.clone(),
            segmentation_hash: Some(p.segmentation_hash.clone()),
            log_position: Some(p.log_position),
        };
        return surface::write(path, format, &objects, &meta).map_err(io);
    }
    if spec.format.is_dicom() {
        return write_dicom(spec, path, seg, p);
    }
    let kind = match spec.format {
        ExportFormat::Nrrd => VolumeFile::Nrrd,
        ExportFormat::Outlines => VolumeFile::Outlines,
        _ => VolumeFile::Nifti,
    };
    let content = spec.content.unwrap_or(VolumeContent::Mask);
    let label = |name: &str| {
        seg.get(name)
            .ok_or_else(|| format!("label `{name}` does not exist"))
    };
    let (labels_u8, hu): (Option<Vec<u8>>, Option<Vec<i16>>) = match content {
        VolumeContent::Mask => (Some(label(&spec.labels[0])?.mask.to_u8(1)), None),
        VolumeContent::LabelMap => {
            for l in &spec.labels {
                label(l)?;
            }
            (Some(seg.label_map()?), None)
        }
        VolumeContent::MaskedHu => {
            let inside = label(&spec.labels[0])?.mask.to_u8(1);
            let hu: Vec<i16> = volume
                .hu
                .iter()
                .zip(&inside)
                .map(|(h, m)| if *m != 0 { *h } else { -1024 })
                .collect();
            (None, Some(hu))
        }
    };
    let label_for_record = (content != VolumeContent::LabelMap).then(|| spec.labels[0].clone());
    let mask_hash = label_for_record
        .as_ref()
        .and_then(|l| p.mask_hashes.get(l).cloned());
    let provenance = MaskProvenance {
        format: PROVENANCE_FORMAT.into(),
        software: p.software.clone(),
        label: label_for_record,
        mask_hash,
        segmentation_hash: p.segmentation_hash.clone(),
        log_entries: p.log_position,
        volume_hash: p.volume_hash.clone(),
        series_uid: p.series_uid.clone(),
        pseudonym: Some(p.pseudonym.clone()),
    };
    let voxels = match (&labels_u8, &hu) {
        (Some(l), _) => Voxels::Labels(l),
        (None, Some(h)) => Voxels::Hu(h),
        (None, None) => return Err("nothing to write".into()),
    };
    volume_model::write(
        path,
        kind,
        seg.dims(),
        &seg.geometry,
        voxels,
        Some(&provenance),
    )
    .map_err(io)
}

fn write_dicom(
    spec: &ExportSpec,
    path: &Path,
    seg: &Segmentation,
    p: &Provenance,
) -> Result<(), String> {
    use crate::export::{dicom_rt, dicom_seg};
    let d = p
        .dicom
        .as_ref()
        .ok_or("a DICOM export is made from a DICOM source; this case's source is not DICOM")?;
    let source = dicom_seg::read_source(&d.root, &d.files, &seg.geometry, seg.dims())?;
    let mut labels = Vec::new();
    for l in &spec.labels {
        labels.push(
            seg.get(l)
                .ok_or_else(|| format!("label `{l}` does not exist"))?,
        );
    }
    let meta = dicom_seg::DerivedMeta {
        software: p.software.clone(),
        operator: d.operator.clone(),
        time: d.time.clone(),
        segmentation_hash: p.segmentation_hash.clone(),
        manual_edits: d.manual_edits,
    };
    if spec.format == ExportFormat::RtStruct {
        let rois: Vec<dicom_rt::Roi<'_>> = labels
            .iter()
            .map(|l| dicom_rt::Roi {
                label: &l.meta.name,
                mask: &l.mask,
                colour: l.meta.color,
            })
            .collect();
        return dicom_rt::write(path, &seg.geometry, seg.dims(), &rois, &source, &meta);
    }
    let segments: Vec<dicom_seg::Segment<'_>> = labels
        .iter()
        .map(|l| dicom_seg::Segment {
            label: &l.meta.name,
            mask: &l.mask,
        })
        .collect();
    dicom_seg::write(path, &seg.geometry, seg.dims(), &segments, &source, &meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        file: &str,
        format: ExportFormat,
        labels: &[&str],
        content: Option<VolumeContent>,
    ) -> ExportSpec {
        ExportSpec {
            file: file.into(),
            format,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            content,
            allow_open: false,
            allow_defects: false,
        }
    }

    #[test]
    fn specs_are_checked_before_anything_is_written() {
        assert!(check_spec(&spec("bone.stl", ExportFormat::Stl, &["bone"], None)).is_ok());
        assert!(check_spec(&spec("bone.stl", ExportFormat::StlAscii, &["bone"], None)).is_ok());
        assert!(check_spec(&spec("../x.stl", ExportFormat::Stl, &["bone"], None)).is_err());
        assert!(check_spec(&spec("x.3mf", ExportFormat::Stl, &["bone"], None)).is_err());
        assert!(check_spec(&spec("m.nii.gz", ExportFormat::Nifti, &["a", "b"], None)).is_err());
        assert!(
            check_spec(&spec(
                "m.nii.gz",
                ExportFormat::Nifti,
                &["a", "b"],
                Some(VolumeContent::LabelMap)
            ))
            .is_ok()
        );
        assert!(
            check_spec(&spec(
                "o.json",
                ExportFormat::Outlines,
                &["a"],
                Some(VolumeContent::MaskedHu)
            ))
            .is_err()
        );
        assert!(check_spec(&spec("b.stl", ExportFormat::Stl, &[], None)).is_err());
    }
}
