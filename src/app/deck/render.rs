//! A deck's slides as pages: each slide's scene run headless (as `render --scene` runs one),
//! its caption's placeholders filled from that run, and the page composed in the
//! presentation theme.

use super::values;
use super::Deck;
use crate::app::scene::Scene;
use crate::backend::BackendChoice;
use crate::figures::slide::{self, Page};
use crate::figures::{caption, Figure, Theme};
use std::time::Duration;

/// The names [`values::value`] knows, for messages.
const PLACEHOLDERS: &str =
    "text, model, tokens, n, layers, heads, token:i, cls:L.H, sep:L.H, self:L.H, top:L.H";

/// `caption` with its placeholders filled from `trace`, the main model's run of `scene` (an
/// error names a placeholder that is not one, or whose layer, head or token is out of range).
fn caption_of(
    caption: &str,
    scene: &Scene,
    trace: Option<&crate::model::Trace>,
) -> Result<String, String> {
    let model = scene.main.label();
    let mut bad = Vec::new();
    let (text, unknown) = caption::fill(caption, |name, arg| {
        let t = trace?;
        match values::value(t, (&model, &scene.session.text), name, arg)? {
            Ok(v) => Some(v),
            Err(e) => {
                bad.push(e);
                Some(String::new())
            }
        }
    });
    if let Some(e) = bad.first() {
        return Err(e.clone());
    }
    if let Some(u) = unknown.first() {
        return Err(if trace.is_none() {
            format!("{{{u}}} needs a run of the model, and none was made")
        } else {
            format!("{{{u}}} is not a placeholder; the placeholders are {PLACEHOLDERS}")
        });
    }
    Ok(text)
}

/// Slide `i` as its page, its view drawn in `theme`.
pub fn page(
    deck: &Deck,
    i: usize,
    backend: BackendChoice,
    timeout: Duration,
    theme: &Theme,
) -> anyhow::Result<Figure> {
    let mut pages = made(deck, i, (backend, timeout), theme, false)?;
    pages
        .pop()
        .ok_or_else(|| anyhow::anyhow!("slide {} made no page", i + 1))
}

/// Slide `i` as present mode shows it: its page, or, where its view is animated (Figure 1,
/// the heatmap's layers), one page per frame of the animation.
pub fn frames(
    deck: &Deck,
    i: usize,
    backend: BackendChoice,
    timeout: Duration,
    theme: &Theme,
) -> anyhow::Result<Vec<Figure>> {
    made(deck, i, (backend, timeout), theme, true)
}

fn made(
    deck: &Deck,
    i: usize,
    run: (BackendChoice, Duration),
    theme: &Theme,
    animate: bool,
) -> anyhow::Result<Vec<Figure>> {
    let slide = deck
        .slides
        .get(i)
        .ok_or_else(|| anyhow::anyhow!("the deck has no slide {}", i + 1))?;
    let at = |e: &dyn std::fmt::Display| anyhow::anyhow!("slide {} ({}): {e}", i + 1, slide.title);
    let scene = deck.scene(i).ok_or_else(|| at(&"no such slide"))?;
    // a model folder that is gone is named by run_scene
    let run = super::super::scene::run_scene(&scene, run, theme, animate).map_err(|e| at(&e))?;
    let text = caption_of(&slide.caption, &scene, run.trace.as_deref()).map_err(|e| at(&e))?;
    let paragraphs = caption::parse(&text);
    let number = format!("{} / {}", i + 1, deck.slides.len());
    let p = Page {
        title: &slide.title,
        caption: &paragraphs,
        number: &number,
    };
    let views = if run.frames.is_empty() {
        std::slice::from_ref(&run.figure)
    } else {
        &run.frames[..]
    };
    Ok(views
        .iter()
        .map(|f| slide::page(&p, Some(f), theme))
        .collect())
}

/// Every slide's page, in order; `progress` hears each slide's number as it is done.
pub fn pages(
    deck: &Deck,
    backend: BackendChoice,
    timeout: Duration,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<Vec<Figure>> {
    if deck.slides.is_empty() {
        anyhow::bail!("the deck {:?} has no slides", deck.title);
    }
    let missing = deck.missing_models();
    if !missing.is_empty() {
        anyhow::bail!(
            "the deck's model folders are missing: {} (open the deck in the window and choose the models again, or edit its JSON)",
            missing.join(", ")
        );
    }
    let theme = Theme::PRESENTATION;
    let mut out = Vec::with_capacity(deck.slides.len());
    for i in 0..deck.slides.len() {
        out.push(page(deck, i, backend, timeout, &theme)?);
        progress(i + 1);
    }
    Ok(out)
}
