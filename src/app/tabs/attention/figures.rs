//! The Attention tab's figures: the map, the model view and the token links as the export
//! and the animation draw them, and the links' data.

use super::{word_level, AttentionTab, AttnView, DiffMode};
use crate::analysis::maps::{self, MapKey};
use crate::app::session::Session;
use crate::app::tabs::Built;
use crate::app::widgets::token_links::HEAD_COLORS;
use crate::app::worker::ModelSlot;
use crate::figures::links::{LinkSet, LinksSpec};
use crate::figures::scenes::GridStyle;
use crate::figures::{Figure, Theme};
use crate::model::Trace;
use crate::views::{self, View};

/// What the token links draw: labels, one `[m, m]` map and colour per set of lines, the
/// weight that is fully opaque, a line for the view and a title for the figure.
pub(super) struct LinkData {
    pub(super) labels: Vec<String>,
    pub(super) sets: Vec<(Vec<f32>, [u8; 3])>,
    pub(super) max: f32,
    pub(super) note: String,
    pub(super) title: String,
}

impl AttentionTab {
    /// The figure the Export menu saves: the model view, the token links or the map shown.
    pub(super) fn figure(&mut self, cx: &Session, theme: &Theme) -> Built {
        let (trace, _) = self
            .shown(cx)
            .ok_or("nothing to export yet: no model has run")?;
        let model = cx.label(ModelSlot::Main);
        let e = |x: crate::LensError| x.to_string();
        if self.settings.view == AttnView::Model {
            let keep = trace.kept_tokens(cx.settings.hide_special);
            let style = self.grid_style(cx);
            let view = View::Model {
                model: &model,
                trace: &trace,
                keep: &keep,
                renormalise: self.settings.renormalise,
                style,
            };
            return views::build(&view, theme).map_err(e);
        }
        self.update_map(cx);
        if self.settings.view == AttnView::Links {
            let links = self.link_data(cx, &trace, false)?;
            let sets: Vec<LinkSet<'_>> = links
                .sets
                .iter()
                .map(|(map, color)| LinkSet { map, color: *color })
                .collect();
            let title = format!("{model}: {}", links.title);
            let spec = LinksSpec {
                title: &title,
                labels: &links.labels,
                sets: &sets,
                scale_max: links.max,
                hovered: self.links_pinned,
            };
            let m = links.labels.len();
            let matrix = crate::matrix::Matrix {
                name: title.clone(),
                values: links.sets[0].0.clone(),
                rows: m,
                cols: m,
                row_labels: links.labels.clone(),
                col_labels: links.labels.clone(),
            };
            let view = View::Links {
                spec: &spec,
                matrix,
            };
            return views::build(&view, theme).map_err(e);
        }
        match &self.map {
            Some(Ok(data)) => {
                let view = View::Map {
                    model: &model,
                    data,
                    colormap: cx.settings.colormap,
                };
                views::build(&view, theme).map_err(e)
            }
            Some(Err(why)) => Err(why.clone()),
            None => Err("no map to export".into()),
        }
    }

    /// How the model view's thumbnails are coloured.
    pub(super) fn grid_style(&self, cx: &Session) -> GridStyle {
        GridStyle {
            colormap: cx.settings.colormap,
            log: self.settings.log_scale,
            shared_scale: self.settings.shared_scale,
        }
    }

    /// The heatmap at every layer (the same heads, measure, options and difference), or the
    /// model view filling in layer by layer: the frames of the Export menu's animation.
    pub(super) fn layer_frames(
        &mut self,
        cx: &Session,
        theme: &Theme,
    ) -> Result<Vec<Figure>, String> {
        let (trace, rollout) = self.shown(cx).ok_or("no model has run yet")?;
        let model = cx.label(ModelSlot::Main);
        let maps = trace.attentions.len();
        let e = |x: crate::LensError| x.to_string();
        if self.settings.view == AttnView::Model {
            let keep = trace.kept_tokens(cx.settings.hide_special);
            // one colour scale for every frame, so that the layers compare
            let style = GridStyle {
                shared_scale: true,
                ..self.grid_style(cx)
            };
            return (0..maps)
                .map(|l| {
                    // the layers after l still blank
                    let mut t = (*trace).clone();
                    for a in &mut t.attentions[l + 1..] {
                        a.fill(0.0);
                    }
                    let title = format!("{model}: attention, layers 1–{}", l + 1);
                    let f = crate::figures::scenes::model(
                        &title,
                        &t,
                        &keep,
                        self.settings.renormalise,
                        style,
                        theme,
                    )
                    .map_err(e)?;
                    Ok(f)
                })
                .collect();
        }
        self.update_map(cx);
        let key = self.map_key.clone().ok_or("no map yet")?;
        let (a, b) = self.operands(cx);
        let diff = match self.settings.diff {
            DiffMode::Off => None,
            DiffMode::Intervention => cx.traced().and_then(|t| t.intact.clone()).map(|t| {
                if self.settings.words {
                    word_level(&t.trace)
                } else {
                    (t.trace.clone(), t.rollout.clone())
                }
            }),
            _ => self.diff_run().map(|t| {
                if self.settings.words {
                    word_level(&t.trace)
                } else {
                    (t.trace.clone(), t.rollout.clone())
                }
            }),
        };
        (0..maps)
            .map(|l| {
                // one colour scale for every frame (its bar in each), so that the layers compare
                let key = MapKey {
                    layer: l,
                    shared_scale: true,
                    ..key.clone()
                };
                let mut data = maps::compute(
                    &trace,
                    &rollout,
                    None,
                    diff.as_ref().map(|(t, r)| (t.as_ref(), r.as_slice())),
                    &key,
                )?;
                data.name_operands(&a, &b);
                let view = View::Map {
                    model: &model,
                    data: &data,
                    colormap: cx.settings.colormap,
                };
                views::build(&view, theme).map(|(f, _)| f).map_err(e)
            })
            .collect()
    }

    /// What A and B of the difference are, for its title.
    pub(super) fn operands(&self, cx: &Session) -> (String, String) {
        let quoted = |t: &str| format!("\"{}\"", crate::files::printable(t, 40));
        match self.settings.diff {
            DiffMode::SecondText => (quoted(&cx.settings.text), quoted(&self.settings.diff_text)),
            DiffMode::CompareModel => (cx.label(ModelSlot::Main), cx.label(ModelSlot::Compare)),
            DiffMode::Intervention => (
                "the run with the intervention".into(),
                "the intact run".into(),
            ),
            DiffMode::Off => (String::new(), String::new()),
        }
    }

    /// What the token links draw: the shown map, or each ticked head's (restricted like it).
    pub(super) fn link_data(
        &self,
        cx: &Session,
        trace: &Trace,
        dark: bool,
    ) -> Result<LinkData, String> {
        let data = match &self.map {
            Some(Ok(data)) => data,
            Some(Err(why)) => return Err(why.clone()),
            None => return Err("no map yet".into()),
        };
        let n = trace.num_tokens();
        let heads = trace.num_heads;
        let layer = cx
            .settings
            .layer
            .min(trace.attentions.len().saturating_sub(1));
        let renorm = cx.settings.hide_special && self.settings.renormalise;
        let overlays: Vec<(Vec<f32>, [u8; 3])> =
            if self.settings.link_heads.is_empty() || data.diverging {
                Vec::new()
            } else {
                self.settings
                    .link_heads
                    .iter()
                    .filter(|&&h| h < heads)
                    .map(|&h| {
                        let m = &trace.attentions[layer][h * n * n..(h + 1) * n * n];
                        let c = HEAD_COLORS[h % HEAD_COLORS.len()];
                        (
                            crate::analysis::restrict(m, n, &data.index, renorm),
                            [c.r(), c.g(), c.b()],
                        )
                    })
                    .collect()
            };
        Ok(if overlays.is_empty() {
            let color = if dark {
                [0x56, 0xB4, 0xE9]
            } else {
                [0x00, 0x72, 0xB2]
            };
            LinkData {
                labels: data.matrix.row_labels.clone(),
                sets: vec![(data.matrix.values.clone(), color)],
                max: data.scale.hi.max(-data.scale.lo),
                note: format!(
                    "{} — line opacity grows with the value; hover a token to keep only its lines",
                    data.matrix.name
                ),
                title: data.matrix.name.clone(),
            }
        } else {
            let names: Vec<String> = self
                .settings
                .link_heads
                .iter()
                .map(|h| format!("H{}", h + 1))
                .collect();
            LinkData {
                labels: data.matrix.row_labels.clone(),
                sets: overlays,
                max: 1.0,
                note: "attention of the ticked heads, one colour each — hover a token to keep only its lines".into(),
                title: format!("attention, layer {}, heads {}", layer + 1, names.join(", ")),
            }
        })
    }
}
