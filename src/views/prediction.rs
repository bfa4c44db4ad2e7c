//! The Prediction view, as a component (no egui): what a fine-tuned head predicts for the
//! text, and how an intervention changed it. [`derive`] takes the head's outputs
//! ([`crate::model::task`]) to [`Data`]; [`figure`] draws it. The window's Prediction tab, its
//! Export menu and `render --view prediction` all go through these two.
//!
//! - sequence classification: one bar per label (softmax probabilities; one sigmoid per label
//!   for a multi-label head; the value itself for a regression head), the predicted label in
//!   bold, the intact run's bar outlined beside it when heads are off or tokens masked;
//! - token classification: every token as a chip coloured by its predicted entity type, its
//!   label under it, and the entities (B-/I- tags merged) listed with their mean probability;
//! - question answering: the tokens with the best answer span highlighted (the context's own
//!   tokens only, at most 15), p_start and p_end over the tokens as two rows of bars under
//!   them.

use crate::error::{LensError, Result};
use crate::figures::{Anchor, Figure, Item, Rgb, Theme, OKABE_ITO};
use crate::matrix::Matrix;
use crate::model::task::{Prediction, Problem, TaskKind};
use crate::model::Trace;

const WIDTH: f32 = 900.0;

/// What the view shows; persisted by the tab, given by `render`'s flags.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Options {
    /// the token whose label probabilities a tagger's figure lists (None: the first [MASK],
    /// else the first ordinary token)
    pub position: Option<usize>,
}

/// The tokens that may answer a question: the second segment's ordinary tokens when the input
/// is a pair (question, context), else every ordinary token.
pub fn answerable(t: &Trace) -> Vec<bool> {
    let pair = t.token_type_ids.contains(&1);
    (0..t.num_tokens())
        .map(|i| !t.special[i] && (!pair || t.token_type_ids.get(i) == Some(&1)))
        .collect()
}

/// What [`figure`] draws.
#[derive(Debug, Clone)]
pub struct Data {
    pub model: String,
    /// the transformers class of the head ("AlbertForSequenceClassification")
    pub architecture: String,
    pub tokens: Vec<String>,
    pub special: Vec<bool>,
    pub allowed: Vec<bool>,
    pub prediction: Prediction,
    /// the run without the intervention, when one is on
    pub before: Option<(Vec<String>, Prediction)>,
    pub position: usize,
}

/// The view's numbers: the prediction on `trace`, and `before` (the intact run) when an
/// intervention is on.
pub fn derive(
    (model, architecture): (&str, &str),
    (trace, prediction): (&Trace, &Prediction),
    before: Option<(&Trace, &Prediction)>,
    opts: &Options,
) -> Result<Data> {
    let n = trace.num_tokens();
    if prediction.kind != TaskKind::SequenceClassification && prediction.rows != n {
        return Err(LensError::Analysis(
            "the prediction is of another input".into(),
        ));
    }
    Ok(Data {
        model: model.to_string(),
        architecture: architecture.to_string(),
        tokens: trace.tokens.clone(),
        special: trace.special.clone(),
        allowed: answerable(trace),
        prediction: prediction.clone(),
        before: before.map(|(t, p)| (t.tokens.clone(), p.clone())),
        position: trace.focus(opts.position),
    })
}

/// The figure and its matrix.
pub fn figure(d: &Data, theme: &Theme) -> Result<(Figure, Matrix)> {
    let f = theme.font;
    let mut fig = Figure::new(WIDTH, 10.0, theme);
    fig.items.push(Item::Text {
        x: 16.0,
        y: f * 1.6,
        text: format!("{}: what its {} head predicts", d.model, d.architecture),
        size: f * 1.15,
        anchor: Anchor::Start,
        rotate: 0.0,
        color: theme.foreground,
        bold: true,
    });
    let mut y = f * 3.2;
    let p = &d.prediction;
    let (matrix, end) = match p.kind {
        TaskKind::SequenceClassification => classes(&mut fig, d, y, theme),
        TaskKind::TokenClassification => {
            let end = tags(&mut fig, d, y, theme);
            (token_matrix(d), end)
        }
        TaskKind::QuestionAnswering => {
            let end = answer(&mut fig, d, y, theme);
            (qa_matrix(d), end)
        }
    };
    y = end + f * 1.8;
    if let Some((tokens, before)) = &d.before {
        let (text, prob) = before.headline(tokens, d.position, &d.allowed);
        let (now, pnow) = p.headline(&d.tokens, d.position, &d.allowed);
        let line = format!(
            "Without the intervention (heads off or tokens masked): “{text}” {}; with it: “{now}” {}",
            percent(before.problem, prob),
            percent(p.problem, pnow)
        );
        fig.text(16.0, y, line, f, Anchor::Start, theme.foreground);
        y += f * 1.4;
    }
    fig.height = (y + f * 0.5).ceil();
    Ok((fig, matrix))
}

fn percent(problem: Problem, v: f32) -> String {
    match problem {
        Problem::Regression => format!("{v:.4}"),
        _ => format!("{:.1}%", v * 100.0),
    }
}

/// Sequence classification: a bar per label.
fn classes(fig: &mut Figure, d: &Data, mut y: f32, theme: &Theme) -> (Matrix, f32) {
    let f = theme.font;
    let p = &d.prediction;
    let scores = p.scores(0);
    let before = d.before.as_ref().map(|(_, b)| b.scores(0));
    let best = p.predicted(0);
    let note = match p.problem {
        Problem::SingleLabel => "softmax probabilities of the labels",
        Problem::MultiLabel => "one sigmoid per label (multi-label: they need not sum to 1)",
        Problem::Regression => "the regression head's value",
    };
    let text = crate::model::task::join_tokens(
        &d.tokens
            .iter()
            .zip(&d.special)
            .filter(|(_, s)| !**s)
            .map(|(t, _)| t.clone())
            .collect::<Vec<_>>(),
    );
    let shown: String = text.chars().take(120).collect();
    let more = if shown.len() < text.len() { "…" } else { "" };
    fig.text(
        16.0,
        y,
        format!("“{shown}{more}”"),
        f,
        Anchor::Start,
        theme.muted,
    );
    y += f * 1.3;
    fig.text(16.0, y, note, f * 0.85, Anchor::Start, theme.muted);
    y += f * 0.8;
    let (x0, bar_w, bar_h) = (220.0, 520.0, f * 1.5);
    let max = match p.problem {
        Problem::Regression => scores.iter().fold(1e-12f32, |m, v| m.max(v.abs())),
        _ => 1.0,
    };
    for (i, label) in d.prediction.labels.iter().enumerate() {
        y += bar_h * 0.4;
        fig.items.push(Item::Text {
            x: x0 - 10.0,
            y: y + bar_h * 0.72,
            text: label.clone(),
            size: f,
            anchor: Anchor::End,
            rotate: 0.0,
            color: theme.foreground,
            bold: i == best,
        });
        fig.frame(x0, y, bar_w, bar_h, theme.muted, 0.5);
        let w = bar_w * (scores[i].abs() / max).clamp(0.0, 1.0);
        fig.rect(
            x0,
            y,
            w,
            bar_h,
            if i == best {
                OKABE_ITO[4]
            } else {
                OKABE_ITO[1]
            },
        );
        if let Some(b) = &before {
            let wb = bar_w * (b[i].abs() / max).clamp(0.0, 1.0);
            fig.frame(x0, y + 1.0, wb, bar_h - 2.0, theme.foreground, 1.5);
        }
        let value = match &before {
            Some(b) => format!(
                "{} (before {})",
                percent(p.problem, scores[i]),
                percent(p.problem, b[i])
            ),
            None => percent(p.problem, scores[i]),
        };
        fig.text(
            x0 + bar_w + 8.0,
            y + bar_h * 0.72,
            value,
            f,
            Anchor::Start,
            theme.foreground,
        );
        y += bar_h;
    }
    let mut cols = vec!["logit".to_string(), "score".to_string()];
    let mut values: Vec<f32> = p
        .row(0)
        .iter()
        .zip(&scores)
        .flat_map(|(l, s)| [*l, *s])
        .collect();
    if let Some((_, b)) = &d.before {
        cols.extend(["logit before".to_string(), "score before".to_string()]);
        let bs = b.scores(0);
        values = (0..scores.len())
            .flat_map(|i| [p.row(0)[i], scores[i], b.row(0)[i], bs[i]])
            .collect();
    }
    let matrix = Matrix {
        name: format!("{}: prediction", d.model),
        rows: scores.len(),
        cols: cols.len(),
        values,
        row_labels: p.labels.clone(),
        col_labels: cols,
    };
    (matrix, y)
}

/// The entity type of a label ("B-PER" -> "PER"), None for "O".
fn entity_type(label: &str) -> Option<&str> {
    if label == "O" {
        return None;
    }
    Some(match label.split_once('-') {
        Some(("B" | "I", ty)) => ty,
        _ => label,
    })
}

/// One colour per entity type, in the order the labels name them.
fn type_colour(labels: &[String], ty: &str) -> Rgb {
    let mut types: Vec<&str> = labels.iter().filter_map(|l| entity_type(l)).collect();
    types.dedup();
    let i = types.iter().position(|t| *t == ty).unwrap_or(0);
    OKABE_ITO[crate::figures::DISTINCT[i % 7]]
}

/// Lays chips of `labels` left to right, wrapping at the figure's width; calls `draw` with each
/// chip's index, x, y and width; returns the y under the last row.
fn chip_rows(
    labels: &[String],
    (y, row_h, size): (f32, f32, f32),
    mut draw: impl FnMut(usize, f32, f32, f32),
) -> f32 {
    let (mut x, mut y) = (16.0, y);
    for (i, t) in labels.iter().enumerate() {
        let w = crate::figures::plots::text_width(t, size).max(size * 2.5) + 12.0;
        if x + w > WIDTH - 16.0 {
            x = 16.0;
            y += row_h;
        }
        draw(i, x, y, w);
        x += w + 3.0;
    }
    y + row_h
}

/// Token classification: chips coloured by entity type, the entities listed.
fn tags(fig: &mut Figure, d: &Data, y: f32, theme: &Theme) -> f32 {
    let f = theme.font;
    let p = &d.prediction;
    let chip_h = f * 1.7;
    let mut items = Vec::new();
    let end = chip_rows(&d.tokens, (y, chip_h + f * 1.6, f), |i, x, y, w| {
        let label = &p.labels[p.predicted(i)];
        let fill = match (d.special[i], entity_type(label)) {
            (false, Some(ty)) => Some(type_colour(&p.labels, ty)),
            _ => None,
        };
        items.push(Item::Rect {
            x,
            y,
            w,
            h: chip_h,
            fill,
            stroke: Some((theme.muted, 0.75)),
            opacity: 1.0,
        });
        let color = if fill.is_some() {
            [20, 20, 20]
        } else {
            theme.foreground
        };
        items.push(text_item(
            x + w / 2.0,
            y + chip_h * 0.7,
            &d.tokens[i],
            f,
            color,
        ));
        if !d.special[i] {
            items.push(text_item(
                x + w / 2.0,
                y + chip_h + f * 1.0,
                label,
                f * 0.75,
                theme.muted,
            ));
        }
    });
    fig.items.extend(items);
    let mut y = end + f * 0.4;
    let entities = p.entities(&d.special);
    let head = if entities.is_empty() {
        "No entities: every token is tagged O.".to_string()
    } else {
        "Entities (B-/I- tags merged; mean probability of their tokens' labels):".to_string()
    };
    fig.text(16.0, y, head, f, Anchor::Start, theme.foreground);
    for e in entities {
        y += f * 1.35;
        let words = crate::model::task::join_tokens(&d.tokens[e.start..=e.end]);
        let line = format!(
            "{}  “{words}”  tokens {}–{}  {:.1}%",
            e.label,
            e.start,
            e.end,
            e.score * 100.0
        );
        fig.rect(16.0, y - f * 0.8, f, f, type_colour(&p.labels, &e.label));
        fig.text(16.0 + f * 1.5, y, line, f, Anchor::Start, theme.foreground);
    }
    let at = d.position.min(p.rows.saturating_sub(1));
    let scores = p.scores(at);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let top: Vec<String> = order
        .iter()
        .take(4)
        .map(|&l| format!("{} {:.1}%", p.labels[l], scores[l] * 100.0))
        .collect();
    y += f * 1.5;
    let line = format!("Token {at} (“{}”): {}", d.tokens[at], top.join(", "));
    fig.text(16.0, y, line, f, Anchor::Start, theme.muted);
    y + f * 0.6
}

fn text_item(x: f32, y: f32, text: &str, size: f32, color: Rgb) -> Item {
    Item::Text {
        x,
        y,
        text: text.to_string(),
        size,
        anchor: Anchor::Middle,
        rotate: 0.0,
        color,
        bold: false,
    }
}

/// Question answering: the tokens, the answer span highlighted, p_start and p_end under them.
fn answer(fig: &mut Figure, d: &Data, y: f32, theme: &Theme) -> f32 {
    let f = theme.font;
    let p = &d.prediction;
    let (ps, pe) = (p.start_probabilities(), p.end_probabilities());
    let peak = |v: &[f32]| v.iter().fold(1e-12f32, |m, x| m.max(*x));
    let (ms, me) = (peak(&ps), peak(&pe));
    let span = p.best_span(&d.allowed);
    let chip_h = f * 1.7;
    let bars = f * 1.6;
    let (start_c, end_c, span_c) = (OKABE_ITO[4], OKABE_ITO[3], OKABE_ITO[2]);
    let mut items = Vec::new();
    let end = chip_rows(
        &d.tokens,
        (y, chip_h + 2.0 * bars + f * 0.6, f),
        |i, x, y, w| {
            let in_span = span
                .as_ref()
                .is_some_and(|s| (s.start..=s.end).contains(&i));
            items.push(Item::Rect {
                x,
                y,
                w,
                h: chip_h,
                fill: in_span.then_some(span_c),
                stroke: Some((theme.muted, 0.75)),
                opacity: 1.0,
            });
            let color = match (in_span, d.allowed[i]) {
                (true, _) => [20, 20, 20],
                (false, true) => theme.foreground,
                (false, false) => theme.muted,
            };
            items.push(text_item(
                x + w / 2.0,
                y + chip_h * 0.7,
                &d.tokens[i],
                f,
                color,
            ));
            let rows = [(&ps, start_c, ms), (&pe, end_c, me)];
            for (k, (probs, c, max)) in rows.into_iter().enumerate() {
                let base = y + chip_h + (k as f32 + 1.0) * bars;
                let h = (bars - 3.0) * (probs[i] / max).clamp(0.0, 1.0);
                items.push(Item::Rect {
                    x: x + 2.0,
                    y: base - h,
                    w: w - 4.0,
                    h,
                    fill: Some(c),
                    stroke: None,
                    opacity: 1.0,
                });
            }
        },
    );
    fig.items.extend(items);
    let mut y = end + f * 0.4;
    fig.rect(16.0, y - f * 0.8, f, f, start_c);
    let legend = format!("p(start), largest {ms:.3}");
    fig.text(
        16.0 + f * 1.4,
        y,
        legend,
        f * 0.85,
        Anchor::Start,
        theme.muted,
    );
    let x = 16.0 + f * 13.0;
    fig.rect(x, y - f * 0.8, f, f, end_c);
    let legend = format!(
        "p(end), largest {me:.3}: softmax over all tokens, each row of bars scaled to its largest"
    );
    fig.text(x + f * 1.4, y, legend, f * 0.85, Anchor::Start, theme.muted);
    y += f * 1.5;
    let line = match &span {
        Some(s) => format!(
            "Answer: “{}” (tokens {}–{}), p(start) · p(end) = {:.3}",
            crate::model::task::join_tokens(&d.tokens[s.start..=s.end]),
            s.start,
            s.end,
            s.score
        ),
        None => "No answer: the input has no context tokens to answer from.".to_string(),
    };
    fig.text(16.0, y, line, f, Anchor::Start, theme.foreground);
    y + f * 0.6
}

fn token_rows(d: &Data) -> Vec<String> {
    d.tokens
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{i}: {t}"))
        .collect()
}

/// Token classification's matrix: tokens × label probabilities.
fn token_matrix(d: &Data) -> Matrix {
    let p = &d.prediction;
    Matrix {
        name: format!("{}: token labels", d.model),
        rows: p.rows,
        cols: p.cols,
        values: (0..p.rows).flat_map(|r| p.scores(r)).collect(),
        row_labels: token_rows(d),
        col_labels: p.labels.clone(),
    }
}

/// Question answering's matrix: tokens × (start logit, end logit, p_start, p_end).
fn qa_matrix(d: &Data) -> Matrix {
    let p = &d.prediction;
    let cols = [
        p.start_logits(),
        p.end_logits(),
        p.start_probabilities(),
        p.end_probabilities(),
    ];
    Matrix {
        name: format!("{}: answer span", d.model),
        rows: p.rows,
        cols: 4,
        values: (0..p.rows)
            .flat_map(|r| cols.iter().map(move |c| c[r]))
            .collect(),
        row_labels: token_rows(d),
        col_labels: ["start logit", "end logit", "p(start)", "p(end)"]
            .map(String::from)
            .to_vec(),
    }
}
