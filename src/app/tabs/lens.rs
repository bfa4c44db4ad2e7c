//! The Layer lens tab: the masked-LM head applied to one token's hidden state after every
//! layer, as a table of top predictions per depth and a plot of each candidate's probability by
//! depth: how a prediction forms through the (shared) layers.

use super::projection::rgb;
use super::{export_button, from_json, to_json, Built, Tab};
use crate::app::jobs::Job;
use crate::app::session::Session;
use crate::app::worker::ModelSlot;
use crate::figures::scenes;
use crate::figures::{Theme, OKABE_ITO};
use crate::model::Trace;
use crate::views::lens;
use egui::{Rect, Sense, Vec2};

/// What the tab persists.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LensSettings {
    /// the token looked at (None: the first [MASK])
    pub position: Option<usize>,
    /// predictions shown per depth
    pub k: usize,
}

impl Default for LensSettings {
    fn default() -> Self {
        LensSettings {
            position: None,
            k: 5,
        }
    }
}

/// What a lens table was made for: the trace (its generation), the position, and k.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LensKey {
    trace_gen: u64,
    pos: usize,
    k: usize,
}

#[derive(Default)]
pub struct LensTab {
    pub settings: LensSettings,
    lens: Job<LensKey, lens::Data>,
}

impl LensTab {
    /// The position shown and its table, once the worker has computed it.
    pub fn result(&self) -> Option<(usize, &crate::insight::LensTable)> {
        match self.lens.latest() {
            Some((key, Ok(d))) => Some((key.pos, &d.table)),
            _ => None,
        }
    }

    /// The lens position: the user's choice, else the first [MASK], else the first ordinary
    /// token.
    pub fn position(&self, t: &Trace) -> usize {
        t.focus(self.settings.position)
    }

    fn ask(&mut self, cx: &mut Session, trace: &std::sync::Arc<Trace>) {
        if let Some(e) = self.lens.poll_err() {
            cx.status.error = Some(format!("layer lens: {e}"));
        }
        let key = LensKey {
            trace_gen: cx.trace_gen,
            pos: self.position(trace),
            k: self.settings.k,
        };
        if let Some(ticket) = self.lens.ask(key, &cx.wake) {
            let t = trace.clone();
            let name = cx.label(ModelSlot::Main);
            cx.worker.run(ticket, move |e, _| {
                let m = e.model(ModelSlot::Main)?;
                let o = lens::Options {
                    position: key.pos,
                    top_k: key.k,
                };
                lens::derive((m, &name), &t, &o).map_err(|e| e.to_string())
            });
        }
    }

    fn lens_table(
        &self,
        ui: &mut egui::Ui,
        rows: &[(usize, Vec<(String, f32)>)],
        curves: &[(String, Vec<f32>)],
    ) {
        egui::Grid::new("lens").striped(true).show(ui, |ui| {
            ui.strong("");
            for i in 0..self.settings.k.min(rows.first().map_or(0, |r| r.1.len())) {
                ui.strong(format!("#{}", i + 1));
            }
            ui.end_row();
            for (state, top) in rows {
                ui.label(scenes::state_name(*state));
                for (tok, p) in top {
                    let bar = (p * 40.0).max(1.0);
                    ui.horizontal(|ui| {
                        let (r, _) = ui.allocate_exact_size(Vec2::new(40.0, 12.0), Sense::hover());
                        ui.painter().rect_filled(
                            Rect::from_min_size(r.min, Vec2::new(bar, 12.0)),
                            2.0,
                            rgb(OKABE_ITO[4]).gamma_multiply(0.6),
                        );
                        ui.label(format!("{tok} {:.1}%", p * 100.0));
                    });
                }
                ui.end_row();
            }
        });
        ui.add_space(6.0);
        ui.strong("Probability of each candidate by depth");
        let final_top: Vec<&(String, Vec<f32>)> = {
            let mut c: Vec<&(String, Vec<f32>)> = curves.iter().collect();
            c.sort_by(|a, b| {
                b.1.last()
                    .copied()
                    .unwrap_or(0.0)
                    .total_cmp(&a.1.last().copied().unwrap_or(0.0))
            });
            c.truncate(6);
            c
        };
        // the axis fits the data (a tenth above the highest point, at most 1), and says so
        let top = final_top
            .iter()
            .flat_map(|(_, p)| p.iter().copied())
            .fold(0.0f32, f32::max);
        let y_max = f64::from((top * 1.1).clamp(0.01, 1.0));
        egui_plot::Plot::new("lens_plot")
            .height(240.0)
            .width(ui.available_width().min(900.0))
            // the legend in the candidates' order (most probable at the end first)
            .legend(egui_plot::Legend::default().follow_insertion_order(true))
            .x_axis_label("depth (0 = embeddings)")
            .y_axis_label(format!("probability (axis 0 to {y_max:.2})"))
            .include_y(0.0)
            .include_y(y_max)
            .allow_scroll(false)
            .show(ui, |plot| {
                for (i, (tok, probs)) in final_top.iter().enumerate() {
                    let pts: Vec<[f64; 2]> = probs
                        .iter()
                        .enumerate()
                        .map(|(d, &p)| [d as f64, p as f64])
                        .collect();
                    plot.line(
                        egui_plot::Line::new(tok.clone(), pts)
                            .color(rgb(OKABE_ITO[crate::figures::DISTINCT[i % 8]]))
                            .width(2.0),
                    );
                }
            });
    }
}

impl Tab for LensTab {
    fn id(&self) -> &'static str {
        "lens"
    }

    fn title(&self) -> &'static str {
        "Layer lens"
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        let Some(trace) = cx.trace().cloned() else {
            super::no_trace(ui);
            return;
        };
        if !super::has_mlm_or_say(ui, cx, "its layers cannot be decoded into words") {
            return;
        }
        self.ask(cx, &trace);
        ui.weak("The masked-LM head applied to the chosen token's hidden state after every layer: how a prediction forms through the (shared) layers. Click a token to inspect it; put the mask token in the text ([MASK], or <mask> for RoBERTa and XLM-R) to predict a word.");
        let pos = self.position(&trace);
        if let Some(i) = crate::app::widgets::token_picker(ui, None, &trace.tokens, pos) {
            self.settings.position = Some(i);
        }
        ui.horizontal(|ui| {
            crate::app::widgets::labelled(
                ui,
                "Top k",
                egui::Slider::new(&mut self.settings.k, 1..=10),
            );
            export_button(self, ui, cx, "lens");
        });
        let key = LensKey {
            trace_gen: cx.trace_gen,
            pos,
            k: self.settings.k,
        };
        let Some(Ok(data)) = self.lens.get(&key) else {
            ui.spinner();
            return;
        };
        let table = data.table.clone();
        egui::ScrollArea::both().show(ui, |ui| self.lens_table(ui, &table.rows, &table.curves));
    }

    fn exports(&self) -> &'static [&'static str] {
        &["lens"]
    }

    fn export(&mut self, _what: &str, cx: &Session, theme: &Theme) -> Built {
        if cx.trace().is_none() {
            return Err("nothing to export yet: no model has run".into());
        }
        match self.lens.latest() {
            Some((key, Ok(d))) if key.trace_gen == cx.trace_gen => {
                lens::figure(d, theme).map_err(|e| e.to_string())
            }
            _ => Err("the lens has not run yet".into()),
        }
    }

    fn busy(&self) -> bool {
        self.lens.pending()
    }

    fn save(&self) -> serde_json::Value {
        to_json(&self.settings)
    }

    fn load(&mut self, settings: serde_json::Value) {
        from_json(settings, &mut self.settings);
    }
}
