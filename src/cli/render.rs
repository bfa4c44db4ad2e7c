//! `render`'s options that belong to one view: the mixing view's method and layer.

use super::ranges::LayerArg;
use albert_lens::insight::mixing::{Method, Stage};
use albert_lens::render::RenderView;
use albert_lens::views::mixing::Options;
use anyhow::Result;

/// The mixing view's options from `--method`, `--layer` and `--position` (None for the other
/// views).
pub(crate) fn mixing_options(
    view: RenderView,
    layer: Option<LayerArg>,
    method: Option<&str>,
    position: Option<usize>,
) -> Result<Option<Options>> {
    if view != RenderView::Mixing {
        return Ok(None);
    }
    let defaults = Options::default();
    let method = match method {
        None => defaults.method,
        Some(m) => Method::from_name(m).ok_or_else(|| {
            let names: Vec<&str> = Method::ALL.iter().map(|m| m.cli_name()).collect();
            anyhow::anyhow!(
                "unknown --method {m:?} for the mixing view: use {}",
                names.join(", ")
            )
        })?,
    };
    let stage = match layer {
        Some(LayerArg::Layer(l)) => Stage::Layer(l - 1),
        Some(LayerArg::Rollout) | None => Stage::Aggregate,
    };
    if method == Method::Norm && stage == Stage::Aggregate {
        anyhow::bail!(
            "norm has no aggregate over layers (Kobayashi et al. define none): give --layer L"
        );
    }
    Ok(Some(Options {
        method,
        stage,
        position,
        ..defaults
    }))
}
