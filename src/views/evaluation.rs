//! The evaluation views of a fine-tuned classifier over a labelled file, as a component (no
//! egui): head importance as a layer × head grid, the pruning curve, and the confusion matrix.
//! The numbers come from [`crate::insight::importance::evaluate`]; the window's Prediction tab,
//! its Export menu and `render --view importance|pruning|confusion --data FILE` draw them with
//! [`figure`].

use crate::colormap::{Colormap, Scale};
use crate::error::Result;
use crate::figures::plots::{self, HeatmapSpec, Panel, Series};
use crate::figures::{Figure, Theme, OKABE_ITO};
use crate::insight::importance::HeadReport;
use crate::insight::labelled::Labelled;
use crate::matrix::Matrix;

/// Which of the three figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Which {
    Importance,
    Pruning,
    Confusion,
    /// what fine-tuning changed, against the comparison model (when one was measured)
    Changed,
}

impl Which {
    pub const ALL: [Which; 4] = [
        Which::Importance,
        Which::Pruning,
        Which::Confusion,
        Which::Changed,
    ];

    /// The Export menu's and `render --view`'s name.
    pub fn key(self) -> &'static str {
        match self {
            Which::Importance => "importance",
            Which::Pruning => "pruning",
            Which::Confusion => "confusion",
            Which::Changed => "fine-tuning",
        }
    }
}

/// What [`figure`] draws: one model's report on one labelled file.
#[derive(Debug, Clone)]
pub struct Data {
    pub model: String,
    /// the labelled file's name as the title shows it
    pub file: String,
    pub examples: usize,
    pub report: HeadReport,
    /// the accuracy of always answering the most frequent gold label (of the examples, or of a
    /// tagger's scored tokens)
    pub majority: f32,
    /// what fine-tuning changed against the comparison model on the same texts (None: no
    /// comparison model; an error: one that does not line up)
    pub changed: Option<std::result::Result<Changed, String>>,
}

/// The view's data from a report on `data`.
pub fn derive(model: &str, data: &Labelled, report: HeadReport) -> Data {
    Data {
        model: model.to_string(),
        file: data.path.file_name().map_or_else(
            || data.path.display().to_string(),
            |n| n.to_string_lossy().to_string(),
        ),
        examples: data.examples.len(),
        majority: report.majority_baseline(),
        report,
        changed: None,
    }
}

/// One of the three figures and its matrix.
pub fn figure(d: &Data, which: Which, theme: &Theme) -> Result<(Figure, Matrix)> {
    let r = &d.report;
    match which {
        Which::Changed => match &d.changed {
            Some(Ok(c)) => changed_figure(c, theme),
            Some(Err(e)) => Err(crate::error::LensError::Analysis(e.clone())),
            None => Err(crate::error::LensError::Analysis(
                "open the model this one was fine-tuned from as the comparison model, then measure again".into(),
            )),
        },
        Which::Importance => {
            let hi = r.importance.iter().fold(1e-12f32, |m, v| m.max(*v));
            let title = format!(
                "{}: head importance on {} ({} examples; mean |∂ CE / ∂ξ|, Michel et al. 2019)",
                d.model, d.file, d.examples
            );
            grid(
                (&title, format!("{}: head importance", d.model)),
                &r.importance,
                layer_head_labels(r.maps, r.heads),
                (hi, ("layer application", "head")),
                theme,
            )
        }
        Which::Pruning => {
            let total = (r.maps * r.heads) as f64;
            let points: Vec<(f64, f64)> = r
                .pruning
                .iter()
                .map(|(k, acc)| (100.0 * *k as f64 / total, *acc as f64))
                .collect();
            let baseline = vec![(0.0, d.majority as f64), (100.0, d.majority as f64)];
            let panel = Panel {
                title: format!("accuracy on {} ({} examples)", d.file, d.examples),
                x_label: "heads masked, least important first (%)".into(),
                y_label: "accuracy".into(),
                series: vec![
                    Series {
                        name: d.model.clone(),
                        points,
                        color: OKABE_ITO[4],
                        dashed: false,
                    },
                    Series {
                        name: "majority baseline".into(),
                        points: baseline,
                        color: theme.muted,
                        dashed: true,
                    },
                ],
                extent: Some((0.0, 100.0, 0.0, 1.0)),
            };
            let title = format!("{}: accuracy as heads are masked", d.model);
            let note = "Heads are masked (their attention multiplied by 0) in order of importance, the least important first; ties in importance by layer, then head.";
            let fig = plots::line_panels(&title, &[panel], note, theme);
            let matrix = Matrix {
                name: format!("{}: pruning curve", d.model),
                values: r
                    .pruning
                    .iter()
                    .flat_map(|(k, a)| [*k as f32, *a])
                    .collect(),
                rows: r.pruning.len(),
                cols: 2,
                row_labels: (0..r.pruning.len())
                    .map(|i| format!("{}%", i * 10))
                    .collect(),
                col_labels: vec!["heads masked".into(), "accuracy".into()],
            };
            Ok((fig, matrix))
        }
        Which::Confusion => {
            let values: Vec<f32> = r.confusion.iter().map(|&c| c as f32).collect();
            let hi = values.iter().fold(1f32, |m, v| m.max(*v));
            let title = format!(
                "{}: confusion on {}, accuracy {:.1}% (majority baseline {:.1}%)",
                d.model,
                d.file,
                r.accuracy * 100.0,
                d.majority * 100.0
            );
            grid(
                (
                    &title,
                    format!("{}: confusion (rows gold, columns predicted)", d.model),
                ),
                &values,
                (r.labels.clone(), r.labels.clone()),
                (hi, ("gold label", "predicted label")),
                theme,
            )
        }
    }
}

/// Layer applications L1… and heads H1… as row and column labels.
fn layer_head_labels(maps: usize, heads: usize) -> (Vec<String>, Vec<String>) {
    (
        (1..=maps).map(|l| format!("L{l}")).collect(),
        (1..=heads).map(|h| format!("H{h}")).collect(),
    )
}

/// A labelled grid on a 0…`hi` viridis scale: its heatmap (`title`) and its matrix (`name`).
fn grid(
    (title, name): (&str, String),
    values: &[f32],
    (row_labels, col_labels): (Vec<String>, Vec<String>),
    (hi, axis_names): (f32, (&str, &str)),
    theme: &Theme,
) -> Result<(Figure, Matrix)> {
    let spec = HeatmapSpec {
        title,
        values,
        rows: row_labels.len(),
        cols: col_labels.len(),
        row_labels: &row_labels,
        col_labels: &col_labels,
        colormap: Colormap::Viridis,
        scale: &Scale {
            lo: 0.0,
            hi,
            log: false,
        },
        axis_names,
    };
    let fig = plots::heatmap(&spec, theme)?;
    let matrix = Matrix {
        name,
        values: values.to_vec(),
        rows: row_labels.len(),
        cols: col_labels.len(),
        row_labels,
        col_labels,
    };
    Ok((fig, matrix))
}

/// What fine-tuning changed: the mean cosine similarity of the fine-tuned model's and its
/// parent's attention maps per layer application and head
/// ([`crate::insight::finetune::attention_similarity`]).
#[derive(Debug, Clone)]
pub struct Changed {
    pub tuned: String,
    pub parent: String,
    /// what the texts were ("the built-in corpus", a file name) and how many
    pub corpus: String,
    pub texts: usize,
    pub maps: usize,
    pub heads: usize,
    /// `[maps, heads]`
    pub values: Vec<f32>,
}

/// The layer × head grid of similarities (Kovaleva et al. 2019, Figure 5), on a fixed 0–1 scale.
pub fn changed_figure(c: &Changed, theme: &Theme) -> Result<(Figure, Matrix)> {
    let title = format!(
        "What fine-tuning changed: {} vs {}, each head's attention ({} texts of {})",
        c.tuned, c.parent, c.texts, c.corpus
    );
    grid(
        (
            &title,
            format!("{} vs {}: attention cosine similarity", c.tuned, c.parent),
        ),
        &c.values,
        layer_head_labels(c.maps, c.heads),
        (1.0, ("layer application", "head (cosine similarity)")),
        theme,
    )
}
