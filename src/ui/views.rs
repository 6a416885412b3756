//! The four views as egui widgets: input handling (the bindings in [`super::help`]) and
//! overlays (crosshair, orientation letters, scale bar, slice position, window/level); the
//! image itself is a wgpu paint callback.

use super::callback::ViewCallback;
use super::tools::ToolInput;
use super::viewer::{ViewId, Viewer};
use crate::gpu::Scene3d;
use crate::gpu::renderer::ViewDraw;
use eframe::egui_wgpu;
use egui::{Align2, Color32, FontId, PointerButton, Pos2, Rect, Sense, Stroke, Vec2};
use glam::DVec3;

/// What a drag in a view is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Drag {
    /// Moving the crosshair.
    Crosshair,
    /// Adjusting window/level.
    WindowLevel,
    /// Rotating the other planes; the last pointer angle around the crosshair.
    Rotate(f64),
    /// Panning.
    Pan,
    /// Turning the 3D camera.
    Orbit,
    /// An editing tool's gesture (a brush stroke).
    Tool,
}

/// What the caller should do after a view's frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ViewEvent {
    /// Maximise the view, or go back to the layout.
    ToggleMaximise(ViewId),
    /// The pointer is over this patient point with this HU.
    Hover(DVec3, Option<f32>),
    /// A click in the 3D view with the Measure tool: the ray through that pixel (origin,
    /// direction, LPS mm).
    Pick(DVec3, DVec3),
}

/// Where an LPS point lands in a 3D view of `size` points, if in front of the camera.
pub fn project_3d(camera: &crate::view::camera::Camera3d, size: Vec2, p: DVec3) -> Option<Pos2> {
    let m = camera.clip_from_lps(f64::from(size.x / size.y.max(1.0)));
    let c = m * p.extend(1.0);
    if c.w <= 1e-9 {
        return None;
    }
    let n = c.truncate() / c.w;
    Some(Pos2::new(
        ((n.x + 1.0) / 2.0 * f64::from(size.x)) as f32,
        ((1.0 - n.y) / 2.0 * f64::from(size.y)) as f32,
    ))
}

/// The ray through a point of a 3D view of `size` points: origin and direction, LPS mm.
pub fn ray_3d(camera: &crate::view::camera::Camera3d, size: Vec2, at: Pos2) -> (DVec3, DVec3) {
    let m = camera
        .clip_from_lps(f64::from(size.x / size.y.max(1.0)))
        .inverse();
    let x = 2.0 * f64::from(at.x / size.x.max(1.0)) - 1.0;
    let y = 1.0 - 2.0 * f64::from(at.y / size.y.max(1.0));
    let near = m.project_point3(DVec3::new(x, y, 0.0));
    let far = m.project_point3(DVec3::new(x, y, 1.0));
    (near, far - near)
}

/// Per-frame context of the views.
pub struct ViewEnv {
    /// A GPU renderer with the volume is available.
    pub gpu: bool,
    /// Why not, when not.
    pub gpu_note: Option<String>,
    /// Physical pixels per point.
    pub pixels_per_point: f32,
}

fn colour(v: ViewId) -> Color32 {
    let [r, g, b] = v.colour();
    Color32::from_rgb(r, g, b)
}

fn no_gpu(painter: &egui::Painter, rect: Rect, note: &Option<String>) {
    painter.rect_filled(rect, 0.0, Color32::BLACK);
    painter.text(
        rect.center(),
        Align2::CENTER_CENTER,
        note.as_deref().unwrap_or("No GPU renderer"),
        FontId::proportional(13.0),
        Color32::LIGHT_GRAY,
    );
}

fn text(painter: &egui::Painter, pos: Pos2, align: Align2, s: &str) {
    // A dark outline keeps the text readable on bright bone.
    for d in [Vec2::new(1.0, 1.0), Vec2::new(-1.0, -1.0)] {
        painter.text(pos + d, align, s, FontId::monospace(12.0), Color32::BLACK);
    }
    painter.text(
        pos,
        align,
        s,
        FontId::monospace(12.0),
        Color32::from_gray(235),
    );
}

/// A "nice" scale-bar length, mm, at most `max_mm`.
pub fn scale_bar_mm(max_mm: f64) -> f64 {
    let mut best = 1.0;
    for m in [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0] {
        if m <= max_mm {
            best = m;
        }
    }
    best
}

/// A slice view in `rect`.
pub fn slice_view(
    ui: &mut egui::Ui,
    rect: Rect,
    viewer: &mut Viewer,
    id: ViewId,
    env: &ViewEnv,
    drag: &mut Option<Drag>,
    tools: &mut ToolInput<'_>,
) -> Vec<ViewEvent> {
    let i = id.index();
    let mut events = Vec::new();
    let resp = ui.allocate_rect(rect, Sense::click_and_drag());
    let size = [f64::from(rect.width()), f64::from(rect.height())];
    let local = |p: Pos2| [f64::from(p.x - rect.min.x), f64::from(p.y - rect.min.y)];

    // Input first, so this frame draws its result.
    if resp.hovered() {
        tools.keys(ui);
    }
    if resp.hovered() && !tools.owns_wheel(ui) {
        let (scroll, zoom, up, down, pgup, pgdn) = ui.input(|inp| {
            (
                inp.raw_scroll_delta.y,
                inp.zoom_delta(),
                inp.key_pressed(egui::Key::ArrowUp),
                inp.key_pressed(egui::Key::ArrowDown),
                inp.key_pressed(egui::Key::PageUp),
                inp.key_pressed(egui::Key::PageDown),
            )
        });
        if (zoom - 1.0).abs() > 1e-4 {
            let sv = viewer.slice_view(i, size);
            if let Some(p) = resp.hover_pos() {
                let anchor = sv.point_at(local(p), size);
                let f = 1.0 / f64::from(zoom);
                viewer.zoom[i] = Some((sv.mm_per_px * f).clamp(0.01, 50.0));
                let c = viewer.centres[i];
                viewer.centres[i] = anchor + (c - anchor) * f;
            }
        } else if scroll != 0.0 {
            viewer.step_slice(i, if scroll > 0.0 { 1 } else { -1 });
        }
        let keys = i32::from(up) - i32::from(down) + 10 * (i32::from(pgup) - i32::from(pgdn));
        if keys != 0 {
            viewer.step_slice(i, keys);
        }
    }
    let sv = viewer.slice_view(i, size);
    let cursor_px = sv.pixel_of(viewer.cursor, size);
    let cursor_pos = rect.min + Vec2::new(cursor_px[0] as f32, cursor_px[1] as f32);
    let others: Vec<(ViewId, Vec2)> = ViewId::SLICES
        .iter()
        .filter(|o| **o != id)
        .map(|o| {
            let d = viewer.axes[i].normal.cross(viewer.axes[o.index()].normal);
            let v = Vec2::new(
                d.dot(viewer.axes[i].right) as f32,
                d.dot(viewer.axes[i].down) as f32,
            );
            (
                *o,
                if v.length() > 1e-6 {
                    v.normalized()
                } else {
                    Vec2::X
                },
            )
        })
        .collect();

    let mods = ui.input(|inp| inp.modifiers);
    if resp.drag_started() {
        let on_line = resp.interact_pointer_pos().is_some_and(|p| {
            others.iter().any(|(_, d)| {
                let r = p - cursor_pos;
                (r.x * d.y - r.y * d.x).abs() < 8.0 && r.length() > 12.0
            })
        });
        *drag = if resp.dragged_by(PointerButton::Middle) {
            Some(Drag::Pan)
        } else if resp.dragged_by(PointerButton::Secondary) {
            Some(Drag::WindowLevel)
        } else if mods.ctrl && on_line {
            let p = resp.interact_pointer_pos().unwrap_or(cursor_pos) - cursor_pos;
            Some(Drag::Rotate(f64::from(p.y).atan2(f64::from(p.x))))
        } else if mods.ctrl {
            Some(Drag::WindowLevel)
        } else if tools.takes_left_drag() {
            Some(Drag::Tool)
        } else {
            Some(Drag::Crosshair)
        };
    }
    if resp.dragged() {
        let d = resp.drag_delta();
        match *drag {
            Some(Drag::Crosshair) => {
                if let Some(p) = resp.interact_pointer_pos() {
                    viewer.cursor = sv.point_at(local(p), size);
                }
            }
            Some(Drag::WindowLevel) => {
                let k = (viewer.window.width / 400.0).max(0.25);
                viewer.window = crate::gpu::WindowLevel::new(
                    viewer.window.width + f64::from(d.x) * 2.0 * k,
                    viewer.window.level + f64::from(d.y) * k,
                );
            }
            Some(Drag::Rotate(last)) => {
                if let Some(p) = resp.interact_pointer_pos() {
                    let r = p - cursor_pos;
                    let a = f64::from(r.y).atan2(f64::from(r.x));
                    viewer.rotate_others(i, a - last);
                    *drag = Some(Drag::Rotate(a));
                }
            }
            Some(Drag::Pan) => {
                let a = viewer.axes[i];
                viewer.centres[i] -=
                    (a.right * f64::from(d.x) + a.down * f64::from(d.y)) * sv.mm_per_px;
            }
            Some(Drag::Tool) => {
                if let Some(p) = resp.interact_pointer_pos() {
                    tools.drag(i, sv.point_at(local(p), size));
                }
            }
            Some(Drag::Orbit) | None => {}
        }
    }
    if resp.drag_stopped() {
        if *drag == Some(Drag::Tool) {
            tools.end_drag(
                resp.interact_pointer_pos()
                    .map(|p| sv.point_at(local(p), size)),
            );
        }
        *drag = None;
    }
    let polygon_tool = tools.takes_click()
        && matches!(
            tools.editor.tool,
            super::editor::Tool::Lasso | super::editor::Tool::Scissors
        );
    if resp.clicked()
        && !mods.ctrl
        && let Some(p) = resp.interact_pointer_pos()
    {
        let on_strip = tools.editor.tool == super::editor::Tool::Verify
            && super::panels::verify::strip_rect(rect).contains(p);
        if tools.takes_click() {
            tools.click(i, sv.point_at(local(p), size), false);
        } else if !on_strip {
            viewer.cursor = sv.point_at(local(p), size);
        }
    }
    if resp.double_clicked() {
        match resp.interact_pointer_pos() {
            Some(p) if polygon_tool => tools.click(i, sv.point_at(local(p), size), true),
            _ => events.push(ViewEvent::ToggleMaximise(id)),
        }
    }

    // Image.
    let sv = viewer.slice_view(i, size);
    let painter = ui.painter_at(rect);
    if env.gpu {
        painter.add(egui_wgpu::Callback::new_paint_callback(
            rect,
            ViewCallback {
                slot: i as u64,
                draw: ViewDraw::Slice {
                    uniforms: crate::gpu::slice_view::uniforms(
                        &sv,
                        &viewer.volume,
                        size,
                        &viewer.overlay,
                    ),
                    size: viewport_pixels(rect, env.pixels_per_point),
                },
            },
        ));
    } else {
        no_gpu(&painter, rect, &env.gpu_note);
    }

    tools.draw(&painter, rect, i, &sv, size, resp.hover_pos());
    if let Some(jump) = super::panels::verify::strip(ui, &painter, rect, i, viewer, tools) {
        viewer.go_to_slice(i, jump);
    }

    // Crosshair.
    let cursor_px = sv.pixel_of(viewer.cursor, size);
    let cursor_pos = rect.min + Vec2::new(cursor_px[0] as f32, cursor_px[1] as f32);
    let reach = rect.width() + rect.height();
    for (o, d) in &others {
        let gap = 10.0;
        let stroke = Stroke::new(1.0, colour(*o).gamma_multiply(0.85));
        painter.line_segment([cursor_pos + *d * gap, cursor_pos + *d * reach], stroke);
        painter.line_segment([cursor_pos - *d * gap, cursor_pos - *d * reach], stroke);
    }

    // Orientation letters.
    let [l, r, t, b] = viewer.letters(i);
    let m = 6.0;
    text(
        &painter,
        Pos2::new(rect.min.x + m, rect.center().y),
        Align2::LEFT_CENTER,
        &l.to_string(),
    );
    text(
        &painter,
        Pos2::new(rect.max.x - m, rect.center().y),
        Align2::RIGHT_CENTER,
        &r.to_string(),
    );
    text(
        &painter,
        Pos2::new(rect.center().x, rect.min.y + m),
        Align2::CENTER_TOP,
        &t.to_string(),
    );
    text(
        &painter,
        Pos2::new(rect.center().x, rect.max.y - m),
        Align2::CENTER_BOTTOM,
        &b.to_string(),
    );

    // Labels.
    let (k, n) = viewer.slice_index(i);
    let slab = match sv.mode {
        crate::gpu::SliceMode::Slice => String::new(),
        m => format!(" · {} {:.0} mm", m.label(), sv.slab_mm),
    };
    let oblique = if viewer.is_oblique() {
        " · oblique"
    } else {
        ""
    };
    text(
        &painter,
        rect.min + Vec2::new(m, m),
        Align2::LEFT_TOP,
        &format!(
            "{}{}{}\nslice {k}/{n} · {:.1} mm",
            id.label(),
            slab,
            oblique,
            sv.depth_mm()
        ),
    );
    text(
        &painter,
        Pos2::new(rect.min.x + m, rect.max.y - m),
        Align2::LEFT_BOTTOM,
        &format!("W {:.0} L {:.0}", sv.window.width, sv.window.level),
    );
    if let Some(p) = resp.hover_pos() {
        let q = sv.point_at(local(p), size);
        let hu = viewer.hu_at(q);
        events.push(ViewEvent::Hover(q, hu));
        text(
            &painter,
            Pos2::new(rect.max.x - m, rect.min.y + m),
            Align2::RIGHT_TOP,
            &match hu {
                Some(h) => format!("{h:.0} HU"),
                None => "outside".to_string(),
            },
        );
    }

    // Scale bar.
    let bar_mm = scale_bar_mm(f64::from(rect.width()) * 0.25 * sv.mm_per_px);
    let bar_px = (bar_mm / sv.mm_per_px) as f32;
    let y = rect.max.y - 22.0;
    let x1 = rect.max.x - 14.0;
    let x0 = x1 - bar_px;
    let s = Stroke::new(2.0, Color32::from_gray(230));
    painter.line_segment([Pos2::new(x0, y), Pos2::new(x1, y)], s);
    painter.line_segment([Pos2::new(x0, y - 4.0), Pos2::new(x0, y + 4.0)], s);
    painter.line_segment([Pos2::new(x1, y - 4.0), Pos2::new(x1, y + 4.0)], s);
    text(
        &painter,
        Pos2::new((x0 + x1) / 2.0, y + 4.0),
        Align2::CENTER_TOP,
        &format!("{bar_mm:.0} mm"),
    );

    painter.rect_stroke(
        rect,
        0.0,
        Stroke::new(1.0, colour(id)),
        egui::StrokeKind::Inside,
    );
    events
}

/// What the 3D view shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownScene {
    /// The scene drawn.
    pub scene: Scene3d,
    /// The colour legend: the quantity's name and its range.
    pub legend: Option<(&'static str, [f32; 2])>,
    /// A caption replacing the scene's name.
    pub caption: Option<String>,
}

/// The 3D view in `rect`, showing `shown`.
pub fn scene_view(
    ui: &mut egui::Ui,
    rect: Rect,
    viewer: &mut Viewer,
    shown: &ShownScene,
    env: &ViewEnv,
    drag: &mut Option<Drag>,
    tools: &super::tools::ToolInput<'_>,
) -> Vec<ViewEvent> {
    let ShownScene {
        scene,
        legend,
        caption,
    } = shown;
    let (scene, legend, caption) = (*scene, *legend, caption.as_deref());
    let mut events = Vec::new();
    let resp = ui.allocate_rect(rect, Sense::click_and_drag());
    if resp.clicked()
        && tools.has_case
        && tools.editor.tool == super::editor::Tool::Measure
        && let Some(p) = resp.interact_pointer_pos()
    {
        let (o, d) = ray_3d(&viewer.camera, rect.size(), (p - rect.min).to_pos2());
        events.push(ViewEvent::Pick(o, d));
    }
    let now = ui.input(|i| i.time);
    if resp.hovered() {
        let (scroll, zoom) = ui.input(|i| (i.raw_scroll_delta.y, i.zoom_delta()));
        if (zoom - 1.0).abs() > 1e-4 {
            viewer.camera.zoom(f64::from(zoom));
            viewer.last_wheel = Some(now);
        } else if scroll != 0.0 {
            viewer.camera.zoom((f64::from(scroll) * 0.003).exp());
            viewer.last_wheel = Some(now);
        }
    }
    if resp.drag_started() {
        *drag = Some(if resp.dragged_by(PointerButton::Primary) {
            Drag::Orbit
        } else {
            Drag::Pan
        });
    }
    if resp.dragged() {
        let d = resp.drag_delta();
        match drag {
            Some(Drag::Orbit) => viewer.camera.rotate(f64::from(d.x), f64::from(d.y)),
            Some(_) => viewer
                .camera
                .pan(f64::from(d.x), f64::from(d.y), f64::from(rect.height())),
            None => {}
        }
    }
    // A run of wheel notches counts as one interaction: draw fast until it pauses, then
    // once at full quality.
    let wheeling = viewer.last_wheel.is_some_and(|t| now - t < WHEEL_SETTLE_S);
    if wheeling {
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_secs_f64(WHEEL_SETTLE_S));
    }
    viewer.interacting = resp.dragged() || wheeling || viewer.simulate_drag;
    if resp.drag_stopped() {
        *drag = None;
        viewer.interacting = wheeling || viewer.simulate_drag;
    }
    if resp.double_clicked() {
        events.push(ViewEvent::ToggleMaximise(ViewId::ThreeD));
    }
    let painter = ui.painter_at(rect);
    if env.gpu {
        let scale = if viewer.interacting {
            INTERACTIVE_SCALE
        } else {
            1.0
        };
        let px = |x: f32| ((x * env.pixels_per_point * scale).round() as u32).max(1);
        painter.add(egui_wgpu::Callback::new_paint_callback(
            rect,
            ViewCallback {
                slot: ViewId::ThreeD.index() as u64,
                draw: ViewDraw::Scene {
                    scene,
                    camera: viewer.camera,
                    size: [px(rect.width()), px(rect.height())],
                    step_factor: if viewer.interacting {
                        INTERACTIVE_STEP
                    } else {
                        1.0
                    },
                },
            },
        ));
    } else {
        no_gpu(&painter, rect, &env.gpu_note);
    }
    let m = 6.0;
    let what = match (caption, scene) {
        (Some(c), _) => c.to_string(),
        (None, Scene3d::Volume(tf)) => format!("Volume rendering · {}", tf.label()),
        (None, s) => s.label().to_string(),
    };
    text(
        &painter,
        rect.min + Vec2::new(m, m),
        Align2::LEFT_TOP,
        &format!("3D · {what}"),
    );
    if let Some((name, [lo, hi])) = legend {
        legend_bar(&painter, rect, name, lo, hi);
    }
    tools.draw_3d(&painter, rect, &|p| {
        project_3d(&viewer.camera, rect.size(), p).map(|q| rect.min + q.to_vec2())
    });
    painter.rect_stroke(
        rect,
        0.0,
        Stroke::new(1.0, colour(ViewId::ThreeD)),
        egui::StrokeKind::Inside,
    );
    events
}

/// Fraction of the 3D view's resolution rendered while dragging.
pub const INTERACTIVE_SCALE: f32 = 0.3;
/// Seconds after the last wheel notch during which the 3D view still draws fast.
pub const WHEEL_SETTLE_S: f64 = 0.25;
/// Ray step, in finest-voxel units, while dragging (1 at rest).
pub const INTERACTIVE_STEP: f32 = 2.0;

fn legend_bar(painter: &egui::Painter, rect: Rect, name: &str, lo: f32, hi: f32) {
    let h = (rect.height() * 0.5).min(220.0);
    let bar = Rect::from_min_size(
        Pos2::new(rect.max.x - 34.0, rect.center().y - h / 2.0),
        Vec2::new(14.0, h),
    );
    let mut mesh = egui::Mesh::default();
    let steps = 32;
    for s in 0..=steps {
        let t = s as f32 / steps as f32;
        let [r, g, b] = crate::gpu::colormap::cool_warm(t);
        let c = Color32::from_rgb((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8);
        let y = bar.max.y - t * h;
        mesh.colored_vertex(Pos2::new(bar.min.x, y), c);
        mesh.colored_vertex(Pos2::new(bar.max.x, y), c);
        if s > 0 {
            let k = (2 * s) as u32;
            mesh.add_triangle(k - 2, k - 1, k);
            mesh.add_triangle(k - 1, k + 1, k);
        }
    }
    painter.add(egui::Shape::mesh(mesh));
    painter.rect_stroke(
        bar,
        0.0,
        Stroke::new(1.0, Color32::GRAY),
        egui::StrokeKind::Outside,
    );
    text(
        painter,
        Pos2::new(bar.min.x - 4.0, bar.min.y),
        Align2::RIGHT_CENTER,
        &format!("{hi:.2}"),
    );
    text(
        painter,
        Pos2::new(bar.min.x - 4.0, bar.max.y),
        Align2::RIGHT_CENTER,
        &format!("{lo:.2}"),
    );
    text(
        painter,
        Pos2::new(bar.max.x, bar.min.y - 8.0),
        Align2::RIGHT_BOTTOM,
        name,
    );
}

/// The pixels egui's paint callback gives `rect` (its corners rounded, as
/// `epaint::ViewportInPixels` does), so a view's image is shown 1:1.
fn viewport_pixels(rect: Rect, pixels_per_point: f32) -> [u32; 2] {
    let px = |a: f32, b: f32| {
        let n = (b * pixels_per_point).round() - (a * pixels_per_point).round();
        (n.max(1.0) as u32).min(8192)
    };
    [px(rect.min.x, rect.max.x), px(rect.min.y, rect.max.y)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_bar_lengths_are_round() {
        assert_eq!(scale_bar_mm(57.0), 50.0);
        assert_eq!(scale_bar_mm(19.9), 10.0);
        assert_eq!(scale_bar_mm(0.3), 1.0);
    }

    #[test]
    fn a_views_image_has_the_pixels_of_its_paint_callbacks_viewport() {
        for ppp in [1.0_f32, 1.25, 1.5, 2.0] {
            for (x, y, w, h) in [(0.0, 0.0, 640.0, 400.0), (201.3, 33.7, 519.45, 377.5)] {
                let rect = Rect::from_min_size(Pos2::new(x, y), Vec2::new(w, h));
                let v = egui::epaint::ViewportInPixels::from_points(&rect, ppp, [4000, 4000]);
                assert_eq!(
                    viewport_pixels(rect, ppp),
                    [v.width_px as u32, v.height_px as u32],
                    "{rect:?} at {ppp}"
                );
            }
        }
    }
}
