//! The Attention tab's figures: the map, the model view and the token links as the export
//! and the animation draw them, and the links' data.

use super::{word_level, AttentionTab, AttnView, DiffMode};
use crate::analysis::maps::{self, MapKey};
use crate::app::session::Session;
use crate::app::tabs::Built;
use crate::app::worker::ModelSlot;
use crate::figures::scenes::GridStyle;
use crate::figures::{Figure, Theme};
use crate::model::Trace;
use crate::views::{self, links};

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
            let how = (self.settings.renormalise, style);
            return views::grid::figure(&model, (&trace, &keep), how, theme).map_err(e);
        }
        self.update_map(cx);
        if self.settings.view == AttnView::Links {
            let links = self.link_data(cx, &trace, false)?;
            return crate::views::links::figure(&model, &links, theme).map_err(e);
        }
        match &self.map {
            Some(Ok(data)) => {
                views::map::figure(&model, data, cx.settings.colormap, theme).map_err(e)
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
                    options: views::map::Options {
                        layer: l,
                        shared_scale: true,
                        ..key.options
                    },
                    ..key.clone()
                };
                let mut data = views::map::derive(
                    (&trace, &rollout),
                    None,
                    diff.as_ref().map(|(t, r)| (t.as_ref(), r.as_slice())),
                    &key,
                )?;
                data.name_operands(&a, &b);
                let colormap = cx.settings.colormap;
                let (f, _) = views::map::figure(&model, &data, colormap, theme).map_err(e)?;
                Ok(f)
            })
            .collect()
    }

    /// What A and B of the difference are, for its title.
    pub(super) fn operands(&self, cx: &Session) -> (String, String) {
        let quoted = maps::text_operand;
        match self.settings.diff {
            DiffMode::SecondText => (quoted(&cx.settings.text), quoted(&self.settings.diff_text)),
            DiffMode::CompareModel => (cx.label(ModelSlot::Main), cx.label(ModelSlot::Compare)),
            DiffMode::Intervention => {
                let (a, b) = maps::INTERVENTION_OPERANDS;
                (a.into(), b.into())
            }
            DiffMode::Off => (String::new(), String::new()),
        }
    }

    /// What the token links draw: the shown map, or each ticked head's (restricted like it).
    pub(super) fn link_data(
        &self,
        cx: &Session,
        trace: &Trace,
        dark: bool,
    ) -> Result<links::Data, String> {
        let data = match &self.map {
            Some(Ok(data)) => data,
            Some(Err(why)) => return Err(why.clone()),
            None => return Err("no map yet".into()),
        };
        let o = links::Options {
            heads: self.settings.link_heads.clone(),
            layer: cx.settings.layer,
            renormalise: cx.settings.hide_special && self.settings.renormalise,
            hovered: self.links_pinned,
            dark,
        };
        Ok(links::derive(data, trace, &o))
    }
}
