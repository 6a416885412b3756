//! The one place the window uploads to the GPU: the volume when a series appears, the
//! label texture and palette when the segmentation or its display changes, the surface
//! when a new one is built or recoloured. Label uploads are per slice and only where a
//! slice's content changed: each slice has a signature (the label names and the masks'
//! per-slice hashes, which the engine keeps current), so an undo, a stroke or a threshold
//! sends exactly the slices it touched.

use super::editor::Editor;
use crate::gpu::{MeshData, ViewRenderer};
use crate::segment::model::Segmentation;
use eframe::egui_wgpu::RenderState;

/// Which surface the 3D view's mesh buffers hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceKey {
    /// A reconstructed model: its generation and colouring.
    Model(u64, u8),
    /// The threshold preview of this generation.
    Preview(u64),
}

/// What is on the GPU now.
#[derive(Debug, Default)]
pub struct GpuSync {
    /// Per-slice signatures of the uploaded label texture (empty: nothing uploaded).
    slices: Vec<[u8; 32]>,
    /// Voxels per slice.
    per_slice: usize,
    /// Palette uploaded.
    palette: Vec<[u8; 4]>,
    /// The surface uploaded.
    mesh: Option<SurfaceKey>,
    /// Slices uploaded since the volume appeared (for tests and benchmarks).
    pub uploaded_slices: usize,
}

/// The signature of slice `k`: label names with their slice hashes (`None` forces an upload).
fn signature(seg: &Segmentation, k: usize) -> Option<[u8; 32]> {
    let mut h = blake3::Hasher::new();
    for l in seg.labels() {
        h.update(l.meta.name.as_bytes());
        h.update(&[0]);
        h.update(&l.mask.cached_slice_hash(k)?);
    }
    Some(*h.finalize().as_bytes())
}

/// Label numbers of slices `range` (label i is i + 1, later labels win).
fn label_slices(seg: &Segmentation, range: std::ops::Range<usize>) -> Vec<u8> {
    let [_, r, c] = seg.dims();
    let mut out = vec![0u8; range.len() * r * c];
    for (li, l) in seg.labels().iter().enumerate() {
        let v = (li + 1).min(255) as u8;
        for (o, k) in range.clone().enumerate() {
            for j in 0..r {
                let base = (o * r + j) * c;
                for (s, e) in l.mask.row_runs(k, j) {
                    out[base + s..base + e].fill(v);
                }
            }
        }
    }
    out
}

impl GpuSync {
    /// Forgets everything (a new volume: the textures start empty).
    pub fn reset(&mut self, dims: [usize; 3]) {
        let empty = *blake3::hash(b"").as_bytes();
        self.slices = vec![empty; dims[0]];
        self.per_slice = dims[1] * dims[2];
        self.palette.clear();
        self.mesh = None;
        self.uploaded_slices = 0;
    }

    /// Brings the label texture and palette in line with `seg` (or clears them).
    pub fn labels(&mut self, rs: &RenderState, seg: Option<&Segmentation>, editor: &Editor) {
        let n = self.slices.len();
        let empty = *blake3::hash(b"").as_bytes();
        let wanted: Vec<Option<[u8; 32]>> = match seg {
            Some(s) if s.dims()[0] == n => (0..n).map(|k| signature(s, k)).collect(),
            _ => vec![Some(empty); n],
        };
        let changed: Vec<usize> = (0..n)
            .filter(|k| wanted[*k] != Some(self.slices[*k]))
            .collect();
        let palette: Vec<[u8; 4]> = seg
            .map(|s| {
                s.labels()
                    .iter()
                    .map(|l| {
                        let d = editor.display_of(&l.meta.name);
                        let a = if d.visible {
                            (d.opacity.clamp(0.0, 1.0) * 255.0) as u8
                        } else {
                            0
                        };
                        [l.meta.color[0], l.meta.color[1], l.meta.color[2], a]
                    })
                    .collect()
            })
            .unwrap_or_default();
        if changed.is_empty() && palette == self.palette {
            return;
        }
        let r = rs.renderer.read();
        let Some(vr) = r.callback_resources.get::<ViewRenderer>() else {
            return;
        };
        if palette != self.palette {
            vr.set_label_palette(&rs.queue, &palette);
            self.palette = palette;
        }
        // Upload contiguous runs of changed slices in one write each.
        let mut i = 0;
        while i < changed.len() {
            let start = changed[i];
            let mut end = start + 1;
            while i + 1 < changed.len() && changed[i + 1] == end {
                i += 1;
                end += 1;
            }
            let data = match seg {
                Some(s) if s.dims()[0] == n => label_slices(s, start..end),
                _ => vec![0u8; (end - start) * self.per_slice],
            };
            vr.set_labels(&rs.queue, start as u32, &data);
            for (slot, w) in self.slices[start..end].iter_mut().zip(&wanted[start..end]) {
                *slot = w.unwrap_or([0xff; 32]);
            }
            self.uploaded_slices += end - start;
            i += 1;
        }
    }

    /// Uploads the surface when it or its colouring changed.
    pub fn mesh(
        &mut self,
        rs: &RenderState,
        key: Option<SurfaceKey>,
        data: impl FnOnce() -> Option<MeshData>,
    ) {
        if self.mesh == key {
            return;
        }
        let data = data();
        if let Some(vr) = rs
            .renderer
            .write()
            .callback_resources
            .get_mut::<ViewRenderer>()
        {
            vr.set_mesh(&rs.device, data.as_ref());
        }
        self.mesh = key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::SpacingMm;
    use crate::segment::Mask;
    use crate::volume::VolumeGeometry;

    #[test]
    fn label_slices_number_labels_in_order_and_later_labels_win() {
        let g = VolumeGeometry::axis_aligned(SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        });
        let mut s = Segmentation::new([3, 2, 4], g);
        s.set_mask("a", Mask::from_fn([3, 2, 4], |_, _, i| i < 3));
        s.set_mask("b", Mask::from_fn([3, 2, 4], |k, _, i| k == 1 && i >= 2));
        let d = label_slices(&s, 1..3);
        assert_eq!(&d[..8], &[1, 1, 2, 2, 1, 1, 2, 2]);
        assert_eq!(&d[8..], &[1, 1, 1, 0, 1, 1, 1, 0]);
        // Signatures change only where a slice changed.
        let _ = s.final_hash();
        let before: Vec<_> = (0..3).map(|k| signature(&s, k)).collect();
        s.get_mut("b").expect("b").mask.set(2, 0, 0, true);
        let _ = s.final_hash();
        let after: Vec<_> = (0..3).map(|k| signature(&s, k)).collect();
        assert_eq!(before[0], after[0]);
        assert_eq!(before[1], after[1]);
        assert_ne!(before[2], after[2]);
    }
}
