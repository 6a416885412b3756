//! The display section: slice window/level and slab, planes, the 3D view's mode,
//! transfer function and viewpoint, and the surface's colouring.

use crate::gpu::transfer::TransferPreset;
use crate::gpu::{SliceMode, ViewPreset, WindowLevel};
use crate::ui::App;
use crate::ui::viewer::SceneMode;

impl App {
    pub(crate) fn display_controls(&mut self, ui: &mut egui::Ui) {
        let Some(v) = &mut self.viewer else {
            return;
        };
        ui.heading("Slices");
        ui.horizontal_wrapped(|ui| {
            for (_, name, w) in WindowLevel::PRESETS {
                if ui
                    .selectable_label(v.window == w, name)
                    .on_hover_text(format!("W {:.0} L {:.0}", w.width, w.level))
                    .clicked()
                {
                    v.window = w;
                }
            }
            if ui
                .button("Auto")
                .on_hover_text("1st to 99th percentile of the tissue")
                .clicked()
            {
                v.window = WindowLevel::auto(&v.volume);
            }
        });
        let mut w = v.window.width;
        let mut l = v.window.level;
        let a = ui.add(egui::Slider::new(&mut w, 1.0..=5000.0).text("Window HU"));
        let b = ui.add(egui::Slider::new(&mut l, -1500.0..=3000.0).text("Level HU"));
        if a.changed() || b.changed() {
            v.window = WindowLevel::new(w, l);
        }
        ui.horizontal(|ui| {
            for m in [
                SliceMode::Slice,
                SliceMode::Mip,
                SliceMode::Minip,
                SliceMode::Mean,
            ] {
                ui.radio_value(&mut v.slice_mode, m, m.label());
            }
        });
        if ui
            .add_enabled(
                v.slice_mode != SliceMode::Slice,
                egui::Slider::new(&mut v.slab_mm, 1.0..=200.0)
                    .text("Slab mm")
                    .logarithmic(true),
            )
            .changed()
        {
            self.prefs.slab_mm = v.slab_mm;
        }
        ui.horizontal(|ui| {
            if ui
                .button("Reset planes")
                .on_hover_text("Undo oblique rotation")
                .clicked()
            {
                v.reset_orientation();
            }
            if ui.button("Reset zoom").clicked() {
                v.reset_zoom();
            }
        });
        ui.separator();
        ui.heading("3D");
        ui.horizontal(|ui| {
            for m in SceneMode::ALL {
                ui.radio_value(&mut v.scene, m, m.label());
            }
        });
        egui::ComboBox::from_label("Transfer function")
            .selected_text(v.transfer.label())
            .show_ui(ui, |ui| {
                for t in TransferPreset::ALL {
                    if ui.selectable_value(&mut v.transfer, t, t.label()).clicked() {
                        self.prefs.transfer = t;
                    }
                }
            });
        ui.horizontal(|ui| {
            if ui.button("Anterior").clicked() {
                v.view_3d(ViewPreset::Anterior);
            }
            if ui.button("Lateral").clicked() {
                v.view_3d(ViewPreset::Left);
            }
            if ui.button("Superior").clicked() {
                v.view_3d(ViewPreset::Superior);
            }
            if ui.button("Reset view").clicked() {
                v.reset_3d();
            }
        });
        if let Some(b) = &self.surface.built {
            ui.horizontal(|ui| {
                ui.label("Surface colour:");
                let c = &mut self.surface.colour;
                ui.radio_value(c, crate::ui::app::SurfaceColour::None, "none");
                if b.deviation_mm.is_some() {
                    ui.radio_value(c, crate::ui::app::SurfaceColour::Deviation, "deviation");
                }
                ui.radio_value(c, crate::ui::app::SurfaceColour::Thickness, "thickness");
            });
        }
    }
}
