//! The one place the window uploads to the GPU: the volume when a series appears, the
//! label texture and palette when the segmentation or its display changes, the surface
//! when a new one is built or recoloured. Label uploads are per slice and only where a
//! slice's content changed: each slice has a signature (the label names and the masks'
//! per-slice hashes, which the engine keeps current), so an undo, a stroke or a threshold
//! sends exactly the slices it touched, and of those only the box of columns and rows in
//! which a voxel changed. A surface's buffers are made on a thread of their own (a model
//! of a million triangles is tens of megabytes to copy), and the last one stays shown
//! until they are ready.

use super::editor::Editor;
use crate::gpu::renderer::SurfaceBuffers;
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
    /// Palette uploaded.
    palette: Vec<[u8; 4]>,
    /// The uploaded labels' names and mask words, to find where in a changed slice the
    /// labels changed (so slice images that read none of it are kept).
    shown: Vec<(String, Vec<u64>)>,
    /// The surface shown.
    mesh: Option<SurfaceKey>,
    /// The surface whose buffers are being made, and where they arrive.
    upload: Option<(
        SurfaceKey,
        std::sync::mpsc::Receiver<Option<SurfaceBuffers>>,
    )>,
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

/// Label numbers of columns `area[0]` and rows `area[1]` (half-open) of slices `range`
/// into `out`, row `j` of the `k`-th slice at `(k · rows + j) · stride` (label i is i + 1,
/// later labels win; the first `width` bytes of each row are written, the rest left);
/// slices in parallel.
fn label_box_into(
    seg: &Segmentation,
    range: std::ops::Range<usize>,
    area: [[usize; 2]; 2],
    out: &mut [u8],
    stride: usize,
) {
    use rayon::prelude::*;
    let [[c0, c1], [r0, r1]] = area;
    let (w, h) = (c1.saturating_sub(c0), r1.saturating_sub(r0));
    if w * h == 0 || stride < w {
        return;
    }
    out.par_chunks_mut(h * stride)
        .zip(range.into_par_iter())
        .for_each(|(slice, k)| {
            for row in slice.chunks_mut(stride) {
                row[..w].fill(0);
            }
            for (li, l) in seg.labels().iter().enumerate() {
                let v = (li + 1).min(255) as u8;
                for (row, j) in slice.chunks_mut(stride).zip(r0..r1) {
                    for (s, e) in l.mask.row_runs(k, j) {
                        let (s, e) = (s.max(c0), e.min(c1));
                        if s < e {
                            row[s - c0..e - c0].fill(v);
                        }
                    }
                }
            }
        });
}

/// Runs the work held in `w`, if it is still there (it runs once, wherever first).
fn run_once<W: FnOnce()>(w: &std::sync::Mutex<Option<W>>) {
    if let Some(f) = w.lock().ok().and_then(|mut f| f.take()) {
        f();
    }
}

impl GpuSync {
    /// Forgets everything (a new volume: the textures start empty).
    pub fn reset(&mut self, dims: [usize; 3]) {
        let empty = *blake3::hash(b"").as_bytes();
        self.slices = vec![empty; dims[0]];
        self.palette.clear();
        self.shown.clear();
        self.mesh = None;
        self.upload = None;
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
        // Lets the label staging buffer's mapping complete if its last copy has run (the
        // window's frames do not poll the device themselves).
        let _ = rs.device.poll(wgpu::PollType::Poll);
        let mut r = rs.renderer.write();
        let Some(vr) = r.callback_resources.get_mut::<ViewRenderer>() else {
            return;
        };
        if palette != self.palette {
            vr.set_label_palette(&rs.queue, &palette);
            self.palette = palette;
        }
        // Where the uploaded masks are known, each run of slices says where it changed.
        let seg = seg.filter(|s| s.dims()[0] == n);
        let shown = match seg {
            Some(s) if self.same_labels_shown(s) => Some(s),
            Some(s) => {
                self.shown = s
                    .labels()
                    .iter()
                    .map(|l| (l.meta.name.clone(), l.mask.words().to_vec()))
                    .collect();
                None
            }
            None => {
                self.shown.clear();
                None
            }
        };
        // Upload contiguous runs of changed slices in one write each.
        let mut i = 0;
        while i < changed.len() {
            let start = changed[i];
            let mut end = start + 1;
            while i + 1 < changed.len() && changed[i + 1] == end {
                i += 1;
                end += 1;
            }
            // Where the changed columns and rows are known, only their box is sent.
            let whole = seg.map(|s| {
                let [_, r, c] = s.dims();
                [[0, c as u32], [0, r as u32]]
            });
            let (area, from) = match (seg, shown.and_then(|s| self.changed_in(s, start..end))) {
                (Some(s), Some(area)) => (Some(area), Some(s)),
                (Some(s), None) => (whole, Some(s)),
                (None, _) => (Some(vr.label_grid_area()), None),
            };
            if let Some(area) = area {
                let cells = area.map(|a| a.map(|x| x as usize));
                vr.set_label_box_with(
                    &rs.device,
                    &rs.queue,
                    start as u32,
                    area,
                    (end - start) as u32,
                    |out, stride| match from {
                        Some(s) => label_box_into(s, start..end, cells, out, stride),
                        None => out.fill(0),
                    },
                );
            }
            for (slot, w) in self.slices[start..end].iter_mut().zip(&wanted[start..end]) {
                *slot = w.unwrap_or([0xff; 32]);
            }
            self.uploaded_slices += end - start;
            i += 1;
        }
    }

    /// Whether the shown masks are `seg`'s labels (same names, order and grid), so that
    /// a changed slice can be compared with them.
    fn same_labels_shown(&self, seg: &Segmentation) -> bool {
        self.shown.len() == seg.labels().len()
            && self
                .shown
                .iter()
                .zip(seg.labels())
                .all(|((name, words), l)| {
                    *name == l.meta.name && words.len() == l.mask.words().len()
                })
    }

    /// Records slices `range` of `seg` (whose labels are the shown ones) as shown and
    /// returns the columns and rows in them where any label's voxels differ from what was
    /// shown before (half-open). Always `Some`; the
    /// `Option` is the renderer's "not known".
    fn changed_in(
        &mut self,
        seg: &Segmentation,
        range: std::ops::Range<usize>,
    ) -> Option<[[u32; 2]; 2]> {
        let [_, rows, cols] = seg.dims();
        let (mut col_span, mut row_span) = ([usize::MAX, 0], [usize::MAX, 0]);
        for ((_, shown), l) in self.shown.iter_mut().zip(seg.labels()) {
            let (rw, sw) = (l.mask.row_words(), l.mask.slice_words());
            if rw == 0 {
                continue;
            }
            let span = range.start * sw..range.end * sw;
            let (old, new) = (&mut shown[span.clone()], &l.mask.words()[span]);
            for (w, (a, b)) in old.iter().zip(new).enumerate() {
                let differ = a ^ b;
                if differ != 0 {
                    // Bit b of word w of a row is column 64 w + b.
                    let (row, word) = ((w / rw) % rows, w % rw);
                    let first = word * 64 + differ.trailing_zeros() as usize;
                    let last = word * 64 + 63 - differ.leading_zeros() as usize;
                    col_span = [col_span[0].min(first), col_span[1].max(last + 1)];
                    row_span = [row_span[0].min(row), row_span[1].max(row + 1)];
                }
            }
            old.copy_from_slice(new);
        }
        if col_span[0] >= col_span[1] {
            // Nothing differs (a label's display or another slice's signature changed).
            return Some([[0, 0], [0, 0]]);
        }
        let c = |i: usize| i.min(cols) as u32;
        Some([
            [c(col_span[0]), c(col_span[1])],
            [row_span[0] as u32, row_span[1] as u32],
        ])
    }

    /// Shows the surface `key` when it or its colouring changed: `data` (called here,
    /// once per new key) gives what a worker thread turns into the surface's data and
    /// buffers; until they are ready the last surface stays shown. `Ok(true)` when the
    /// shown surface changed this frame (draw another: a large one is drawn in parts).
    pub fn mesh<F>(
        &mut self,
        rs: &RenderState,
        key: Option<SurfaceKey>,
        waker: Option<crate::jobs::Waker>,
        data: impl FnOnce() -> F,
    ) -> Result<bool, String>
    where
        F: FnOnce() -> Option<MeshData> + Send + 'static,
    {
        if key == self.mesh {
            self.upload = None;
            return Ok(false);
        }
        if self.upload.as_ref().map(|(k, _)| *k) != key {
            self.upload = None;
            match key {
                None => {
                    self.show(rs, None, None);
                    return Ok(true);
                }
                Some(k) => {
                    let make = data();
                    let (device, queue) = (rs.device.clone(), rs.queue.clone());
                    let (tx, rx) = std::sync::mpsc::channel();
                    let work = move || {
                        let buffers = make().and_then(|m| SurfaceBuffers::new(&device, &m));
                        // The copy into the buffers runs at the next submission: this
                        // thread's, waited for here, not a frame's.
                        queue.submit([]);
                        let _ = device.poll(wgpu::PollType::Wait);
                        let _ = tx.send(buffers);
                        if let Some(w) = waker {
                            w();
                        }
                    };
                    // Without a thread to be had (the system is out of them), on this one.
                    let work = std::sync::Arc::new(std::sync::Mutex::new(Some(work)));
                    let theirs = work.clone();
                    if std::thread::Builder::new()
                        .name("surface buffers".into())
                        .spawn(move || run_once(&theirs))
                        .is_err()
                    {
                        run_once(&work);
                    }
                    self.upload = Some((k, rx));
                }
            }
        }
        let Some((k, rx)) = &self.upload else {
            return Ok(false);
        };
        let k = *k;
        match rx.try_recv() {
            Ok(buffers) => {
                self.upload = None;
                self.show(rs, Some(k), buffers);
                Ok(true)
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => Ok(false),
            // The thread ended without buffers (it panicked): show none rather than a
            // surface that is no longer the one asked for.
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.upload = None;
                self.show(rs, Some(k), None);
                Err("the surface's upload stopped without a result; it is not shown".into())
            }
        }
    }

    /// True while a surface's buffers are being made.
    pub fn surface_pending(&self) -> bool {
        self.upload.is_some()
    }

    /// True while a view draws a surface in parts (see `ViewRenderer::drawing_underway`).
    pub fn drawing_underway(&self, rs: &RenderState) -> bool {
        rs.renderer
            .read()
            .callback_resources
            .get::<ViewRenderer>()
            .is_some_and(ViewRenderer::drawing_underway)
    }

    fn show(&mut self, rs: &RenderState, key: Option<SurfaceKey>, buffers: Option<SurfaceBuffers>) {
        if let Some(vr) = rs
            .renderer
            .write()
            .callback_resources
            .get_mut::<ViewRenderer>()
        {
            vr.set_surface(buffers);
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
        // Rows `stride` bytes apart, the bytes past the box's width left as they were.
        let label_box = |range: std::ops::Range<usize>, area: [[usize; 2]; 2], stride| {
            let rows = area[1][1] - area[1][0];
            let mut out = vec![9u8; range.len() * rows * stride];
            label_box_into(&s, range, area, &mut out, stride);
            out
        };
        let d = label_box(1..3, [[0, 4], [0, 2]], 4);
        assert_eq!(&d[..8], &[1, 1, 2, 2, 1, 1, 2, 2]);
        assert_eq!(&d[8..], &[1, 1, 1, 0, 1, 1, 1, 0]);
        // A box of them: columns 1..4 of row 1, slices 1 and 2, tight and with a stride.
        assert_eq!(label_box(1..3, [[1, 4], [1, 2]], 3), [1, 2, 2, 1, 1, 0]);
        assert_eq!(
            label_box(1..3, [[1, 4], [1, 2]], 5),
            [1, 2, 2, 9, 9, 1, 1, 0, 9, 9]
        );
        assert!(label_box(1..3, [[2, 2], [0, 2]], 0).is_empty());
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

    #[test]
    fn a_changed_slice_says_which_rows_and_columns_changed() {
        let g = VolumeGeometry::axis_aligned(SpacingMm {
            col: 1.0,
            row: 1.0,
            slice: 1.0,
        });
        let dims = [3, 8, 130];
        let mut s = Segmentation::new(dims, g);
        s.set_mask("a", Mask::from_fn(dims, |_, j, i| j < 4 && i < 100));
        let mut sync = GpuSync::default();
        assert!(!sync.same_labels_shown(&s));
        sync.shown = vec![("a".into(), s.labels()[0].mask.words().to_vec())];
        assert!(sync.same_labels_shown(&s));
        // Nothing differs: an empty box.
        assert_eq!(sync.changed_in(&s, 0..3), Some([[0, 0], [0, 0]]));
        // Voxels (1, 5, 70) and (1, 6, 129) set: rows 5..7, columns 70..130.
        let m = &mut s.get_mut("a").expect("a").mask;
        m.set(1, 5, 70, true);
        m.set(1, 6, 129, true);
        assert_eq!(sync.changed_in(&s, 1..2), Some([[70, 130], [5, 7]]));
        // Now shown: the same slice again has no change.
        assert_eq!(sync.changed_in(&s, 1..2), Some([[0, 0], [0, 0]]));
        // One voxel cleared on slice 2, row 0, column 3: only that voxel.
        s.get_mut("a").expect("a").mask.set(2, 0, 3, false);
        assert_eq!(sync.changed_in(&s, 0..3), Some([[3, 4], [0, 1]]));
        // A renamed or added label is not the shown list any more.
        s.set_mask("b", Mask::new(dims));
        assert!(!sync.same_labels_shown(&s));
    }
}
