//! The side panel's Interventions: switch heads off (a layer × head grid), mask tokens (by
//! clicking their chips, above), see the prediction before → after, and open the difference
//! against the intact run. Every view shows the run with the intervention.

use super::session::{Session, ViewRequest};
use egui::{Color32, RichText};

pub fn panel(ui: &mut egui::Ui, cx: &mut Session) {
    let Some(trace) = cx.trace().cloned() else {
        return;
    };
    ui.separator();
    ui.heading("Interventions");
    ui.weak("Click a token above to mask it and re-run (again to restore); switch heads off below. Every view shows the changed run.");
    let iv = &mut cx.intervention;
    let mut changed = false;
    if !iv.masked.is_empty() {
        let names: Vec<String> = iv.masked.iter().map(|&i| format!("{i}")).collect();
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("Masked positions: {}", names.join(", ")));
            if ui.small_button("Unmask all").clicked() {
                iv.masked.clear();
                changed = true;
            }
        });
    }
    let (maps, heads) = (trace.attentions.len(), trace.num_heads);
    egui::CollapsingHeader::new(format!(
        "Switch heads off ({} off)",
        iv.ablate.0.len()
    ))
    .id_salt("ablate")
    .show(ui, |ui| {
        ui.weak("Their attention is set to 0 after the softmax, at that layer only (for ALBERT, one application of the shared weights).");
        egui::Grid::new("ablate_grid")
            .spacing([2.0, 2.0])
            .show(ui, |ui| {
                ui.label("");
                for h in 0..heads {
                    ui.weak(format!("{}", h + 1));
                }
                ui.end_row();
                for j in 0..maps {
                    ui.weak(format!("L{}", j + 1));
                    for h in 0..heads {
                        let off = iv.ablate.off(j, h);
                        let text = RichText::new(if off { "×" } else { "·" }).size(11.0);
                        let b = egui::Button::new(text)
                            .small()
                            .fill(if off {
                                Color32::from_rgb(0xD5, 0x5E, 0x00)
                            } else {
                                ui.visuals().faint_bg_color
                            });
                        let name = format!("layer {} head {}", j + 1, h + 1);
                        let r = ui.add(b);
                        // the cell's accessible name (screen readers, tests) says which head
                        r.widget_info(|| {
                            egui::WidgetInfo::selected(egui::Role::CheckBox, true, off, &name)
                        });
                        if r.on_hover_text(&name).clicked() {
                            iv.toggle_head(j, h);
                            changed = true;
                        }
                    }
                    ui.end_row();
                }
            });
        if !iv.ablate.is_empty() && ui.button("All heads on").clicked() {
            iv.ablate.0.clear();
            changed = true;
        }
    });
    if changed {
        cx.touch_now();
    }
    let Some(traced) = cx.traced() else {
        return;
    };
    if traced.intact.is_none() {
        return;
    }
    if let Some(p) = &traced.prediction {
        ui.label(format!(
            "Prediction at token {}: “{}” {:.1}% → “{}” {:.1}%",
            p.position,
            p.before.0,
            p.before.1 * 100.0,
            p.after.0,
            p.after.1 * 100.0
        ));
    }
    if ui
        .button("Show the change: changed − intact")
        .on_hover_text("the attention views' difference against the run without the intervention")
        .clicked()
    {
        cx.view_request = Some(ViewRequest::InterventionDiff);
    }
}
