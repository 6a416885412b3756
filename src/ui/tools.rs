//! The editing tools inside the slice views: what a left drag or click does with the brush,
//! lasso, scissors and seeds, and what is drawn while it happens (the brush's true
//! footprint, the stroke so far, the polygon). A finished gesture becomes one
//! [`UiCommand`]; the views stay free of case logic.

use super::command::UiCommand;
use super::editor::{Editor, Tool};
use crate::case::Case;
use crate::segment::ops::brush::BrushShape;
use crate::view::SliceView;
use egui::{Color32, Pos2, Rect, Stroke, Vec2};
use glam::DVec3;

/// Colour of measurements.
const MEASURE: Color32 = Color32::from_rgb(110, 230, 255);

/// Colour of review notes.
const NOTE: Color32 = Color32::from_rgb(255, 150, 60);

/// The notes of the case's latest review decision pinned to a slice or a point.
fn pinned_notes(case: &Case) -> Vec<(DVec3, Option<DVec3>, String)> {
    let Some(d) = case.files().events.iter().rev().find_map(|e| match e {
        crate::case::event::Event::Reviewed(d) => Some(d),
        _ => None,
    }) else {
        return Vec::new();
    };
    let g = case.volume().geometry;
    let [n, rows, cols] = case.volume().dims();
    let mid = |x: usize| (x as f64 - 1.0).max(0.0) / 2.0;
    d.decision
        .notes
        .iter()
        .filter_map(|note| {
            if let Some(p) = note.point_lps_mm {
                return Some((DVec3::from_array(p), None, note.text.clone()));
            }
            let sl = note.slice.as_ref()?;
            let k = sl.index as f64;
            let (c, dir) = match sl.orientation {
                crate::case::ledger::Orientation::Axial => ((k, mid(rows), mid(cols)), g.slice_dir),
                crate::case::ledger::Orientation::Coronal => ((mid(n), k, mid(cols)), g.row_dir),
                crate::case::ledger::Orientation::Sagittal => ((mid(n), mid(rows), k), g.col_dir),
            };
            let p = g.position(crate::geom::VoxelCoord {
                slice: c.0,
                row: c.1,
                col: c.2,
            });
            Some((p.0, Some(dir.get()), note.text.clone()))
        })
        .collect()
}

/// The 3D view's index in the Measure tool's state.
pub const VIEW_3D: usize = 3;

/// Slice view names as commands spell them.
pub const VIEW_NAMES: [&str; 3] = ["axial", "coronal", "sagittal"];

/// The tools' share of one frame.
pub struct ToolInput<'a> {
    /// The editor state.
    pub editor: &'a mut Editor,
    /// Whether a case is open (tools do nothing without one).
    pub has_case: bool,
    /// Commands the gestures produced.
    pub commands: Vec<UiCommand>,
    /// The case's measurements, drawn where they lie in a view's plane.
    pub measurements: Vec<crate::measure::Measurement>,
    /// Half the thickness of a slice, mm: a point this close to a plane is drawn in it.
    pub plane_tolerance_mm: f64,
    /// Review notes pinned to a slice or a point: a point of the plane (or the point),
    /// the plane's normal for a slice, and the text.
    pub notes: Vec<(DVec3, Option<DVec3>, String)>,
}

impl<'a> ToolInput<'a> {
    /// The tools for this frame.
    pub fn new(editor: &'a mut Editor, case: Option<&Case>) -> Self {
        let plane_tolerance_mm = case.map_or(0.5, |c| {
            let s = c.volume().geometry.spacing;
            (0.5 * s.col.max(s.row).max(s.slice)).max(0.25)
        });
        Self {
            editor,
            has_case: case.is_some(),
            commands: Vec::new(),
            measurements: case
                .map(|c| {
                    c.measurements()
                        .into_iter()
                        .map(|(_, m)| m.clone())
                        .collect()
                })
                .unwrap_or_default(),
            plane_tolerance_mm,
            notes: case.map(pinned_notes).unwrap_or_default(),
        }
    }

    /// True when a plain left drag belongs to the tool (not the crosshair).
    pub fn takes_left_drag(&self) -> bool {
        self.has_case && self.editor.tool == Tool::Brush
    }

    /// True when a plain left click belongs to the tool.
    pub fn takes_click(&self) -> bool {
        self.has_case
            && matches!(
                self.editor.tool,
                Tool::Brush | Tool::Lasso | Tool::Scissors | Tool::Seed | Tool::Measure
            )
    }

    /// A brush drag began or moved to `p` in view `i`.
    pub fn drag(&mut self, i: usize, p: DVec3) {
        let r = self.editor.brush.radius_mm;
        match &mut self.editor.brush.stroke {
            Some((v, pts)) if *v == i => {
                // Samples a quarter radius apart; the operation fills between them.
                if pts.last().is_none_or(|q| q.distance(p) >= 0.25 * r) {
                    pts.push(p);
                }
            }
            _ => self.editor.brush.stroke = Some((i, vec![p])),
        }
    }

    /// The brush drag ended: the stroke becomes one operation.
    pub fn end_drag(&mut self, p: Option<DVec3>) {
        if let Some((i, mut pts)) = self.editor.brush.stroke.take() {
            if let Some(p) = p
                && pts.last() != Some(&p)
            {
                pts.push(p);
            }
            self.commands.push(UiCommand::Stroke {
                view: VIEW_NAMES[i].into(),
                points_mm: pts.iter().map(|q| q.to_array()).collect(),
                radius_mm: None,
                mode: None,
                shape: None,
            });
        }
    }

    /// A click at `p` in view `i`; `double` closes a polygon.
    pub fn click(&mut self, i: usize, p: DVec3, double: bool) {
        match self.editor.tool {
            Tool::Brush => {
                self.editor.brush.stroke = Some((i, vec![p]));
                self.end_drag(None);
            }
            Tool::Lasso | Tool::Scissors => {
                let poly = &mut self.editor.polygon;
                if poly.view != Some(i) {
                    poly.view = Some(i);
                    poly.points.clear();
                }
                if !double {
                    poly.points.push(p);
                }
                if double {
                    self.close_polygon();
                }
            }
            Tool::Seed => self.editor.form.seeds.push(p),
            Tool::Measure => {
                let m = &mut self.editor.measure;
                if m.view != Some(i) {
                    m.view = Some(i);
                    m.points.clear();
                }
                if !double {
                    m.points.push(p);
                }
                if double || m.kind.points_needed() == Some(m.points.len()) {
                    self.finish_measurement();
                }
            }
            _ => {}
        }
    }

    /// A point picked on the surface in the 3D view (distance and angle only: area and
    /// HU statistics need a slice).
    pub fn pick_3d(&mut self, p: DVec3) -> Result<(), String> {
        if self.editor.measure.kind.points_needed().is_none() {
            return Err(format!(
                "{} is measured on a slice: draw it in a slice view",
                self.editor.measure.kind.label()
            ));
        }
        self.click(VIEW_3D, p, false);
        Ok(())
    }

    /// Draws, in the 3D view, the distances and angles of the case and the points picked
    /// there so far; `project` maps LPS to the screen (`None` behind the camera).
    pub fn draw_3d(
        &self,
        painter: &egui::Painter,
        _rect: Rect,
        project: &dyn Fn(DVec3) -> Option<Pos2>,
    ) {
        for m in &self.measurements {
            if !matches!(
                m.shape,
                crate::measure::Shape::Distance { .. } | crate::measure::Shape::Angle { .. }
            ) {
                continue;
            }
            let pts: Option<Vec<Pos2>> = m.shape.points().iter().map(|p| project(p.0)).collect();
            let Some(pts) = pts else { continue };
            painter.add(egui::Shape::line(pts.clone(), Stroke::new(1.5, MEASURE)));
            for q in &pts {
                painter.circle_filled(*q, 3.0, MEASURE);
            }
            if let (Some(f), Some(top)) = (
                m.figures.first(),
                pts.iter()
                    .copied()
                    .reduce(|a, b| if b.y < a.y { b } else { a }),
            ) {
                painter.text(
                    top - Vec2::new(0.0, 6.0),
                    egui::Align2::CENTER_BOTTOM,
                    format!(
                        "{}: {:.1} {}",
                        m.name,
                        f.value,
                        if f.unit == "deg" { "°" } else { &f.unit }
                    ),
                    egui::FontId::monospace(12.0),
                    MEASURE,
                );
            }
        }
        let e = &self.editor.measure;
        if e.view == Some(VIEW_3D) {
            let pts: Vec<Pos2> = e.points.iter().filter_map(|p| project(*p)).collect();
            painter.add(egui::Shape::line(pts.clone(), Stroke::new(1.5, MEASURE)));
            for q in pts {
                painter.circle_filled(q, 3.0, MEASURE);
            }
        }
    }

    /// Turns the points clicked into a measurement (a curve needs three).
    pub fn finish_measurement(&mut self) {
        let m = &mut self.editor.measure;
        let (Some(i), points) = (m.view, std::mem::take(&mut m.points)) else {
            return;
        };
        let enough = match m.kind.points_needed() {
            Some(n) => points.len() == n,
            None => points.len() >= 3,
        };
        if !enough {
            return;
        }
        self.commands.push(UiCommand::Measure {
            kind: m.kind,
            view: VIEW_NAMES.get(i).copied().unwrap_or("3d").into(),
            points_mm: points.iter().map(|q| q.to_array()).collect(),
            name: Some(std::mem::take(&mut m.name)).filter(|n| !n.trim().is_empty()),
        });
    }

    /// Closes the polygon in progress into a lasso or scissors operation.
    pub fn close_polygon(&mut self) {
        let poly = std::mem::take(&mut self.editor.polygon);
        let (Some(i), true) = (poly.view, poly.points.len() >= 3) else {
            return;
        };
        let points_mm = poly.points.iter().map(|q| q.to_array()).collect();
        let view = VIEW_NAMES[i].to_string();
        self.commands.push(match self.editor.tool {
            Tool::Lasso => UiCommand::Lasso {
                view,
                points_mm,
                erase: poly.invert,
            },
            _ => UiCommand::Scissors {
                view,
                points_mm,
                keep_inside: poly.invert,
            },
        });
        self.editor.polygon.invert = poly.invert;
    }

    /// Keys over a slice view: `[` `]` and shift+wheel resize the brush, Enter closes a
    /// polygon, Escape drops it.
    pub fn keys(&mut self, ui: &egui::Ui) {
        let (smaller, larger, wheel, shift, enter, escape) = ui.input(|i| {
            (
                i.key_pressed(egui::Key::OpenBracket),
                i.key_pressed(egui::Key::CloseBracket),
                i.raw_scroll_delta.y,
                i.modifiers.shift,
                i.key_pressed(egui::Key::Enter),
                i.key_pressed(egui::Key::Escape),
            )
        });
        let b = &mut self.editor.brush;
        let step = |r: f64, up: bool| {
            let f = if up { 1.2 } else { 1.0 / 1.2 };
            (r * f).clamp(0.25, 50.0)
        };
        if smaller {
            b.radius_mm = step(b.radius_mm, false);
        }
        if larger {
            b.radius_mm = step(b.radius_mm, true);
        }
        if shift && wheel != 0.0 && self.editor.tool == Tool::Brush {
            b.radius_mm = step(b.radius_mm, wheel > 0.0);
        }
        if enter && matches!(self.editor.tool, Tool::Lasso | Tool::Scissors) {
            self.close_polygon();
        }
        if enter && self.editor.tool == Tool::Measure {
            self.finish_measurement();
        }
        if escape {
            self.editor.measure.points.clear();
            self.editor.polygon.points.clear();
            self.editor.brush.stroke = None;
        }
    }

    /// True when the wheel belongs to the tool this frame (shift+wheel with the brush).
    pub fn owns_wheel(&self, ui: &egui::Ui) -> bool {
        self.editor.tool == Tool::Brush && ui.input(|i| i.modifiers.shift)
    }

    /// Draws the brush footprint at the pointer, the stroke so far and the polygon.
    pub fn draw(
        &self,
        painter: &egui::Painter,
        rect: Rect,
        i: usize,
        sv: &SliceView,
        size: [f64; 2],
        hover: Option<Pos2>,
    ) {
        let to_screen = |p: DVec3| {
            let q = sv.pixel_of(p, size);
            rect.min + Vec2::new(q[0] as f32, q[1] as f32)
        };
        let e = &self.editor;
        let colour = Color32::from_rgb(255, 210, 60);
        match e.tool {
            Tool::Brush => {
                let r_px = (e.brush.radius_mm / sv.mm_per_px) as f32;
                if let Some((v, pts)) = &e.brush.stroke
                    && *v == i
                {
                    let line: Vec<Pos2> = pts.iter().map(|p| to_screen(*p)).collect();
                    painter.add(egui::Shape::line(
                        line.clone(),
                        Stroke::new(2.0 * r_px, colour.gamma_multiply(0.35)),
                    ));
                    for p in line {
                        painter.circle_filled(p, r_px, colour.gamma_multiply(0.12));
                    }
                }
                if let Some(h) = hover {
                    // The true footprint: a disc of the radius in this plane (a ball cuts
                    // the plane in the same circle through its centre).
                    painter.circle_stroke(h, r_px, Stroke::new(1.5, colour));
                    if e.brush.shape == BrushShape::Sphere {
                        painter.circle_stroke(
                            h,
                            r_px * 0.7,
                            Stroke::new(0.8, colour.gamma_multiply(0.6)),
                        );
                    }
                    painter.text(
                        h + Vec2::new(r_px + 4.0, -r_px),
                        egui::Align2::LEFT_BOTTOM,
                        format!(
                            "{} {:.1} mm",
                            if e.brush.mode == crate::segment::ops::brush::BrushMode::Paint {
                                "paint"
                            } else {
                                "erase"
                            },
                            e.brush.radius_mm
                        ),
                        egui::FontId::monospace(11.0),
                        colour,
                    );
                }
            }
            Tool::Lasso | Tool::Scissors
                if e.polygon.view == Some(i) && !e.polygon.points.is_empty() =>
            {
                let mut pts: Vec<Pos2> = e.polygon.points.iter().map(|p| to_screen(*p)).collect();
                if let Some(h) = hover {
                    pts.push(h);
                }
                painter.add(egui::Shape::line(pts.clone(), Stroke::new(1.5, colour)));
                for p in &pts {
                    painter.circle_filled(*p, 2.5, colour);
                }
            }
            Tool::Measure if e.measure.view == Some(i) && !e.measure.points.is_empty() => {
                let mut pts: Vec<Pos2> = e.measure.points.iter().map(|p| to_screen(*p)).collect();
                if let Some(h) = hover {
                    pts.push(h);
                }
                painter.add(egui::Shape::line(pts.clone(), Stroke::new(1.5, MEASURE)));
                for p in &pts {
                    painter.circle_filled(*p, 2.5, MEASURE);
                }
            }
            Tool::Seed => {
                for p in &e.form.seeds {
                    let s = to_screen(*p);
                    painter.circle_stroke(
                        s,
                        5.0,
                        Stroke::new(2.0, Color32::from_rgb(80, 220, 255)),
                    );
                }
            }
            _ => {}
        }
        self.draw_measurements(painter, &to_screen, sv);
        self.draw_notes(painter, &to_screen, sv);
    }

    /// Draws the review notes pinned to this view's slice (a banner) or to a point in its
    /// plane (a pin).
    fn draw_notes(
        &self,
        painter: &egui::Painter,
        to_screen: &dyn Fn(DVec3) -> Pos2,
        sv: &SliceView,
    ) {
        let clip = painter.clip_rect();
        let mut row = 0.0;
        for (p, normal, text) in &self.notes {
            let in_plane = (*p - sv.centre).dot(sv.axes.normal).abs() <= self.plane_tolerance_mm;
            match normal {
                Some(n) if in_plane && n.dot(sv.axes.normal).abs() > 0.99 => {
                    let g = painter.layout_no_wrap(
                        format!("review note: {text}"),
                        egui::FontId::proportional(13.0),
                        NOTE,
                    );
                    let at = Pos2::new(clip.min.x + 8.0, clip.min.y + 44.0 + row);
                    painter.rect_filled(
                        Rect::from_min_size(at, g.size()).expand(3.0),
                        3.0,
                        Color32::from_black_alpha(190),
                    );
                    painter.galley(at, g, NOTE);
                    row += 16.0;
                }
                None if in_plane => {
                    let q = to_screen(*p);
                    painter.circle_stroke(q, 6.0, Stroke::new(2.0, NOTE));
                    painter.line_segment(
                        [q + Vec2::new(0.0, 6.0), q + Vec2::new(0.0, 16.0)],
                        Stroke::new(2.0, NOTE),
                    );
                    painter.text(
                        q + Vec2::new(9.0, -9.0),
                        egui::Align2::LEFT_BOTTOM,
                        text,
                        egui::FontId::proportional(13.0),
                        NOTE,
                    );
                }
                _ => {}
            }
        }
    }

    /// Draws the recorded measurements whose points all lie in this view's plane, with
    /// their figures.
    fn draw_measurements(
        &self,
        painter: &egui::Painter,
        to_screen: &dyn Fn(DVec3) -> Pos2,
        sv: &SliceView,
    ) {
        for m in &self.measurements {
            let pts = m.shape.points();
            let in_plane = !pts.is_empty()
                && pts.iter().all(|p| {
                    (p.0 - sv.centre).dot(sv.axes.normal).abs() <= self.plane_tolerance_mm
                });
            if !in_plane {
                continue;
            }
            let mut line: Vec<Pos2> = pts.iter().map(|p| to_screen(p.0)).collect();
            if matches!(
                m.shape,
                crate::measure::Shape::Area { .. } | crate::measure::Shape::HuStats { .. }
            ) && let Some(first) = line.first().copied()
            {
                line.push(first);
            }
            painter.add(egui::Shape::line(line.clone(), Stroke::new(1.5, MEASURE)));
            for p in &line {
                painter.circle_filled(*p, 2.5, MEASURE);
            }
            // Above the middle of the figure, kept inside the view.
            let (lo_x, hi_x, top) = line
                .iter()
                .fold((f32::MAX, f32::MIN, f32::MAX), |(a, b, t), p| {
                    (a.min(p.x), b.max(p.x), t.min(p.y))
                });
            let clip = painter.clip_rect();
            let anchor = Pos2::new(
                ((lo_x + hi_x) / 2.0).clamp(
                    clip.min.x + 80.0,
                    (clip.max.x - 80.0).max(clip.min.x + 80.0),
                ),
                (top - 6.0).max(clip.min.y + 14.0),
            );
            let text = match m.figures.first() {
                Some(f) if f.unit == "mm" || f.unit == "deg" || f.unit == "mm2" => format!(
                    "{}: {:.1} {}",
                    m.name,
                    f.value,
                    match f.unit.as_str() {
                        "deg" => "°",
                        "mm2" => "mm²",
                        u => u,
                    }
                ),
                _ => format!(
                    "{}: {}",
                    m.name,
                    m.figures
                        .iter()
                        .take(2)
                        .map(|f| format!("{} {:.1} {}", f.name, f.value, f.unit))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            painter.text(
                anchor,
                egui::Align2::CENTER_BOTTOM,
                text,
                egui::FontId::monospace(12.0),
                MEASURE,
            );
        }
    }
}
