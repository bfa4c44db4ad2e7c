//! The parameter comparison, as a component (no egui): where each model's parameters are, side
//! by side — any family, any number of models (e.g. ALBERT, DistilBERT and BERT) — and how each
//! was made smaller than a BERT of its width and depth: ALBERT's factorized embedding and
//! shared layers, ELECTRA's factorized embedding, DistilBERT's distillation. [`derive`] counts
//! from the loaded tensors ([`crate::params::Loaded`]); [`figure`] draws the table. The
//! Shared-vs-unshared tab's table, its Export menu and `render --view parameters` all go
//! through these two.

use crate::figures::{Anchor, Figure, Theme};
use crate::matrix::Matrix;
use crate::model::family::Family;
use crate::model::{ModelConfig, ModelWeights};
use crate::params::{Arch, Loaded};

/// What the view shows beyond the window's two models; persisted by the tab.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Options {
    /// more models to count beside the main and comparison models (folders, hub:ID, built-in
    /// names), as typed
    pub more: Vec<String>,
}

/// One model's column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub model: String,
    /// the family as people write it ("DistilBERT")
    pub family: &'static str,
    /// how it is made smaller than a BERT of its width and depth ("none" for BERT itself)
    pub reductions: String,
    pub vocab: usize,
    pub embedding: usize,
    pub hidden: usize,
    pub counts: Loaded,
}

/// What [`figure`] draws.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Data {
    pub columns: Vec<Column>,
}

/// How a model was made smaller: the family's own ideas, as its weights apply them.
pub fn reductions(family: &Family, arch: &Arch, counts: &Loaded) -> String {
    let mut parts = Vec::new();
    if counts.projection > 0 && arch.embedding < arch.hidden {
        parts.push(format!(
            "factorized embedding (E {} < H {})",
            arch.embedding, arch.hidden
        ));
    }
    if family.shared_layers {
        parts.push(format!(
            "shared layers ({} stored for {} applied)",
            counts.stored_layers, counts.applied_layers
        ));
    }
    if family.distilled {
        parts.push(format!("distilled ({} layers)", counts.applied_layers));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

/// One model's column from its family, shape and counts (what the window's model info holds).
pub fn column(model: &str, family: &'static Family, arch: &Arch, counts: Loaded) -> Column {
    Column {
        model: model.to_string(),
        family: family.title,
        reductions: reductions(family, arch, &counts),
        vocab: arch.vocab,
        embedding: arch.embedding,
        hidden: arch.hidden,
        counts,
    }
}

/// The table's columns: one per (name, config, weights).
pub fn derive(models: &[(&str, &ModelConfig, &ModelWeights)]) -> Data {
    Data {
        columns: models
            .iter()
            .map(|(name, cfg, w)| {
                let family = cfg.model_type.family();
                column(name, family, &Arch::of_config(cfg), Loaded::of(cfg, w))
            })
            .collect(),
    }
}

/// The rows of the table: (label, one cell per column). The window draws the same cells.
pub fn rows(data: &Data) -> Vec<(&'static str, Vec<String>)> {
    let n = crate::params::format_count;
    let cell = |f: &dyn Fn(&Column) -> String| data.columns.iter().map(f).collect::<Vec<_>>();
    vec![
        ("family", cell(&|c| c.family.to_string())),
        ("made smaller by", cell(&|c| c.reductions.clone())),
        (
            "word embeddings (V x E)",
            cell(&|c| {
                format!(
                    "{} = {} x {}",
                    n(c.counts.word_embeddings),
                    c.vocab,
                    c.embedding
                )
            }),
        ),
        (
            "projection E x H",
            cell(&|c| {
                if c.counts.projection > 0 {
                    format!(
                        "{} ({} x {} + bias)",
                        n(c.counts.projection),
                        c.embedding,
                        c.hidden
                    )
                } else {
                    "none (E = H)".into()
                }
            }),
        ),
        (
            "V x H embedding instead",
            cell(&|c| format!("{} = {} x {}", n(c.vocab * c.hidden), c.vocab, c.hidden)),
        ),
        (
            "positions, types, layer norm",
            cell(&|c| n(c.counts.other_embeddings)),
        ),
        (
            "encoder as stored",
            cell(&|c| {
                let s = c.counts.stored_layers;
                format!(
                    "{} ({s} layer{} stored)",
                    n(c.counts.encoder),
                    if s == 1 { "" } else { "s" }
                )
            }),
        ),
        (
            "encoder if unshared",
            cell(&|c| {
                let per = c.counts.encoder / c.counts.stored_layers.max(1);
                format!(
                    "{} ({} layers applied)",
                    n(per * c.counts.applied_layers),
                    c.counts.applied_layers
                )
            }),
        ),
        ("masked-LM head", cell(&|c| n(c.counts.mlm_head))),
        ("task head", cell(&|c| n(c.counts.task_head))),
        (
            "total (embeddings, projection, encoder)",
            cell(&|c| n(c.counts.backbone())),
        ),
    ]
}

/// The table as a figure, and its counts as a matrix (rows: components, columns: models).
pub fn figure(data: &Data, theme: &Theme) -> (Figure, Matrix) {
    let f = theme.font;
    let rows = rows(data);
    let label_w = rows.iter().map(|r| r.0.len()).max().unwrap_or(10) as f32 * f * 0.5;
    let col_w = |c: usize| {
        rows.iter()
            .map(|r| r.1[c].chars().count())
            .chain([data.columns[c].model.chars().count()])
            .max()
            .unwrap_or(8) as f32
            * f
            * 0.44
            + f * 1.5
    };
    let widths: Vec<f32> = (0..data.columns.len()).map(col_w).collect();
    let row_h = f * 1.5;
    let mut fig = Figure::new(
        24.0 + label_w + widths.iter().sum::<f32>(),
        f * 4.0 + (rows.len() as f32 + 1.0) * row_h + f,
        theme,
    );
    fig.text(
        12.0,
        f * 1.4,
        "Where the parameters are (from the loaded weights; the [CLS] pooler not counted)",
        f * 1.1,
        Anchor::Start,
        theme.foreground,
    );
    let y0 = f * 3.4;
    let mut x = 12.0 + label_w + f;
    for (c, col) in data.columns.iter().enumerate() {
        fig.text(x, y0, &col.model, f * 0.8, Anchor::Start, theme.muted);
        for (r, (_, cells)) in rows.iter().enumerate() {
            let y = y0 + (r as f32 + 1.0) * row_h;
            fig.text(x, y, &cells[c], f * 0.8, Anchor::Start, theme.foreground);
        }
        x += widths[c];
    }
    for (r, (label, _)) in rows.iter().enumerate() {
        let y = y0 + (r as f32 + 1.0) * row_h;
        fig.text(12.0, y, *label, f * 0.8, Anchor::Start, theme.foreground);
    }
    (fig, matrix(data))
}

/// A component of the count: its name and how to read it.
type Part = (&'static str, fn(&Loaded) -> usize);

/// The counts as numbers: one row per component, one column per model.
pub fn matrix(data: &Data) -> Matrix {
    let parts: [Part; 7] = [
        ("word embeddings", |l| l.word_embeddings),
        ("projection", |l| l.projection),
        ("positions, types, layer norm", |l| l.other_embeddings),
        ("encoder as stored", |l| l.encoder),
        ("masked-LM head", |l| l.mlm_head),
        ("task head", |l| l.task_head),
        ("total (embeddings, projection, encoder)", |l| l.backbone()),
    ];
    Matrix {
        name: "parameters by component".into(),
        values: parts
            .iter()
            .flat_map(|(_, f)| data.columns.iter().map(move |c| f(&c.counts) as f32))
            .collect(),
        rows: parts.len(),
        cols: data.columns.len(),
        row_labels: parts.iter().map(|p| p.0.to_string()).collect(),
        col_labels: data.columns.iter().map(|c| c.model.clone()).collect(),
    }
}
