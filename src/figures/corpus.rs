//! Figures of corpus statistics ([`crate::corpus`]): Clark et al.'s per-layer shares (their
//! Figure 1), raw against norm-based [SEP] attention (Kobayashi et al.), a layer × head grid of
//! any statistic, heads by entropy and distance, and the map of heads from their JS divergences
//! (Clark et al.'s Figure 6, classical MDS).

use super::plots::{self, HeatmapSpec, Panel, Series};
use super::scatter::{scatter, ScatterSpec};
use super::{Figure, Rgb, Theme, OKABE_ITO};
use crate::colormap::{Colormap, Scale};
use crate::corpus::stats::Stat;
use crate::corpus::HeadStats;
use crate::error::Result;

/// The corpus views: the tab's figures, `corpus figure --view`, and their Export menus.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum CorpusView {
    /// Clark et al.'s Figure 1: attention to [CLS], [SEP] and punctuation per layer
    Layers,
    /// [SEP] by attention weight against by norm (Kobayashi et al.)
    SepNorm,
    /// one statistic per layer and head
    Grid,
    /// heads by mean entropy and distance
    EntropyDistance,
    /// heads laid out by their JS divergences (Clark et al.'s Figure 6)
    HeadMap,
}

impl CorpusView {
    pub const ALL: [CorpusView; 5] = [
        CorpusView::Layers,
        CorpusView::SepNorm,
        CorpusView::Grid,
        CorpusView::EntropyDistance,
        CorpusView::HeadMap,
    ];

    /// Its id: the export name, the scene's and the command line's value.
    pub fn id(self) -> &'static str {
        VIEWS[self as usize]
    }

    pub fn parse(id: &str) -> Option<CorpusView> {
        VIEWS.iter().position(|v| *v == id).map(|i| Self::ALL[i])
    }
}

/// The views' ids, in [`CorpusView::ALL`]'s order.
pub const VIEWS: [&str; 5] = ["layers", "sep-norm", "grid", "entropy-distance", "head-map"];

/// What each statistic means, for titles and the tab's help.
pub fn describe(stat: Stat) -> &'static str {
    match stat {
        Stat::Cls => "attention to [CLS]",
        Stat::Sep => "attention to [SEP]",
        Stat::Punct => "attention to punctuation",
        Stat::SelfAttention => "attention to the token itself",
        Stat::Prev => "attention to the previous token",
        Stat::Next => "attention to the next token",
        Stat::Entropy => "entropy of the attention (nats)",
        Stat::Distance => "mean distance attended (tokens)",
        Stat::SepNorm => "norm-based share of [SEP] (Kobayashi et al.)",
    }
}

/// One model's statistics with its name.
pub type Named<'a> = (&'a HeadStats, &'a str);

/// A statistic's legend name.
fn legend(stat: Stat) -> &'static str {
    match stat {
        Stat::Cls => "[CLS]",
        Stat::Sep => "[SEP] by weight",
        Stat::Punct => "punctuation",
        Stat::SepNorm => "[SEP] by norm",
        _ => "",
    }
}

/// One statistic's per-layer line (the legend names the statistic; the note says which model
/// is dashed).
fn layer_series(s: Named<'_>, stat: Stat, color: Rgb, dashed: bool) -> Series {
    let means = s.0.layer_means(stat.index());
    Series {
        name: legend(stat).to_string(),
        points: means
            .iter()
            .enumerate()
            .map(|(l, &v)| ((l + 1) as f64, v))
            .collect(),
        color,
        dashed,
    }
}

fn note(main: Named<'_>, other: Option<Named<'_>>) -> String {
    let s = main.0;
    let models = match other {
        Some(o) => format!("Solid: {}; dashed: {}. ", main.1, o.1),
        None => format!("{}. ", main.1),
    };
    let part = match crate::corpus::ShardSet::parse(&s.meta.shard) {
        Ok(set) if !set.complete() => format!(
            " Partial: shards {} of {} only.",
            set.held
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            set.of
        ),
        _ => String::new(),
    };
    format!(
        "{models}Means over heads and over {} query positions of {} texts ({}).{part}",
        s.rows, s.meta.lines, s.meta.corpus
    )
}

/// Per layer, the mean over heads of the attention to [CLS], [SEP] and punctuation; a second
/// model dashed.
pub fn layers(main: Named<'_>, other: Option<Named<'_>>, theme: &Theme) -> Figure {
    let mut series = Vec::new();
    for (m, dashed) in std::iter::once((main, false)).chain(other.map(|o| (o, true))) {
        for (k, stat) in [Stat::Cls, Stat::Sep, Stat::Punct].into_iter().enumerate() {
            series.push(layer_series(m, stat, OKABE_ITO[k], dashed));
        }
    }
    let panel = Panel {
        title: "Where attention goes, per layer".into(),
        x_label: "layer".into(),
        y_label: "mean share of attention".into(),
        series,
        extent: None,
    };
    plots::line_panels(
        "Attention to [CLS], [SEP] and punctuation (Clark et al. 2019, Figure 1)",
        &[panel],
        &note(main, other),
        theme,
    )
}

/// Per layer, the share of attention to [SEP] by weight and by norm ‖α f(x)‖.
pub fn sep_norm(main: Named<'_>, other: Option<Named<'_>>, theme: &Theme) -> Figure {
    let mut series = Vec::new();
    for (m, dashed) in std::iter::once((main, false)).chain(other.map(|o| (o, true))) {
        series.push(layer_series(m, Stat::Sep, OKABE_ITO[1], dashed));
        series.push(layer_series(m, Stat::SepNorm, OKABE_ITO[3], dashed));
    }
    let panel = Panel {
        title: "[SEP] by weight and by norm".into(),
        x_label: "layer".into(),
        y_label: "mean share".into(),
        series,
        extent: None,
    };
    plots::line_panels(
        "Attention to [SEP]: weights against norms (Kobayashi et al. 2020)",
        &[panel],
        &note(main, other),
        theme,
    )
}

/// Statistic `stat` of every layer and head.
pub fn grid(s: Named<'_>, stat: Stat, colormap: Colormap, theme: &Theme) -> Result<Figure> {
    let i = stat.index();
    let values: Vec<f32> = s.0.means(i).iter().map(|&v| v as f32).collect();
    let hi = values.iter().copied().fold(0f32, f32::max);
    let scale = Scale {
        lo: 0.0,
        hi: hi.max(f32::MIN_POSITIVE),
        log: false,
    };
    let rows: Vec<String> = (1..=s.0.maps).map(|l| l.to_string()).collect();
    let cols: Vec<String> = (1..=s.0.heads).map(|h| h.to_string()).collect();
    let title = format!(
        "{}: {} ({}), per layer and head",
        s.1,
        describe(stat),
        stat.name()
    );
    plots::heatmap(
        &HeatmapSpec {
            title: &title,
            values: &values,
            rows: s.0.maps,
            cols: s.0.heads,
            row_labels: &rows,
            col_labels: &cols,
            colormap,
            scale: &scale,
            axis_names: ("layer", "head"),
        },
        theme,
    )
}

/// A colour per layer, from the colormap.
fn layer_colors(s: &HeadStats, colormap: Colormap) -> (Vec<Rgb>, Vec<(String, Rgb)>) {
    let c = |l: usize| colormap.at(l as f32 / (s.maps.max(2) - 1) as f32);
    let colors = (0..s.maps * s.heads).map(|a| c(a / s.heads)).collect();
    let legend = (0..s.maps)
        .filter(|l| s.maps <= 12 || l % (s.maps / 6) == 0 || *l == s.maps - 1)
        .map(|l| (format!("layer {}", l + 1), c(l)))
        .collect();
    (colors, legend)
}

/// Every head as a point: mean entropy against mean distance, coloured by layer.
pub fn entropy_distance(s: Named<'_>, colormap: Colormap, theme: &Theme) -> Figure {
    let (e, d) = (
        s.0.means(Stat::Entropy.index()),
        s.0.means(Stat::Distance.index()),
    );
    let points: Vec<(f32, f32)> = d
        .iter()
        .zip(&e)
        .map(|(&x, &y)| (x as f32, y as f32))
        .collect();
    let (colors, legend) = layer_colors(s.0, colormap);
    let title = format!("{}: heads by attention distance (x) and entropy (y)", s.1);
    scatter(
        &ScatterSpec {
            title: &title,
            points: &points,
            colors: &colors,
            labels: &[],
            paths: &[],
            axis_names: ("mean distance (tokens)", "mean entropy (nats)"),
            legend: &legend,
        },
        theme,
    )
}

/// The heads laid out by classical MDS of their mean JS divergences, coloured by layer.
pub fn head_map(s: Named<'_>, colormap: Colormap, theme: &Theme) -> Result<Figure> {
    let k = s.0.maps * s.0.heads;
    let xy = crate::insight::pca::classical_mds(&s.0.head_js(), k, 2)?;
    let points: Vec<(f32, f32)> = xy
        .iter()
        .map(|p| (p[0] as f32, p.get(1).copied().unwrap_or(0.0) as f32))
        .collect();
    let (colors, legend) = layer_colors(s.0, colormap);
    let labels: Vec<String> = if k <= 64 {
        (0..k)
            .map(|a| format!("{}-{}", a / s.0.heads + 1, a % s.0.heads + 1))
            .collect()
    } else {
        Vec::new()
    };
    let title = format!(
        "{}: heads placed by the JS divergence of their attention (MDS; Clark et al. Figure 6)",
        s.1
    );
    Ok(scatter(
        &ScatterSpec {
            title: &title,
            points: &points,
            colors: &colors,
            labels: &labels,
            paths: &[],
            axis_names: ("MDS 1", "MDS 2"),
            legend: &legend,
        },
        theme,
    ))
}

/// View `view` of `main` (and `other` where the view compares).
pub fn view(
    view: CorpusView,
    main: Named<'_>,
    other: Option<Named<'_>>,
    (stat, colormap): (Stat, Colormap),
    theme: &Theme,
) -> Result<Figure> {
    match view {
        CorpusView::Layers => Ok(layers(main, other, theme)),
        CorpusView::SepNorm => Ok(sep_norm(main, other, theme)),
        CorpusView::Grid => grid(main, stat, colormap, theme),
        CorpusView::EntropyDistance => Ok(entropy_distance(main, colormap, theme)),
        CorpusView::HeadMap => head_map(main, colormap, theme),
    }
}

/// View `view`'s numbers as a matrix (rows, columns, values) for CSV / npy export.
pub fn matrix(view: CorpusView, s: &HeadStats, stat: Stat) -> crate::matrix::Matrix {
    let per_head =
        |stat: Stat| -> Vec<f32> { s.means(stat.index()).iter().map(|&v| v as f32).collect() };
    let layer_rows: Vec<String> = (1..=s.maps).map(|l| format!("layer {l}")).collect();
    let head_rows: Vec<String> = (0..s.maps * s.heads)
        .map(|a| format!("layer {} head {}", a / s.heads + 1, a % s.heads + 1))
        .collect();
    match view {
        CorpusView::Layers | CorpusView::SepNorm => {
            let cols: &[Stat] = if view == CorpusView::Layers {
                &[Stat::Cls, Stat::Sep, Stat::Punct]
            } else {
                &[Stat::Sep, Stat::SepNorm]
            };
            let per: Vec<Vec<f64>> = cols.iter().map(|c| s.layer_means(c.index())).collect();
            let values = (0..s.maps)
                .flat_map(|l| per.iter().map(move |p| p[l] as f32))
                .collect();
            mat(
                view.id(),
                values,
                layer_rows,
                cols.iter().map(|c| c.name().to_string()).collect(),
            )
        }
        CorpusView::Grid => mat(
            stat.name(),
            per_head(stat),
            layer_rows,
            (1..=s.heads).map(|h| format!("head {h}")).collect(),
        ),
        CorpusView::HeadMap => mat(
            "head_js",
            s.head_js().iter().map(|&v| v as f32).collect(),
            head_rows.clone(),
            head_rows,
        ),
        CorpusView::EntropyDistance => {
            let (e, d) = (per_head(Stat::Entropy), per_head(Stat::Distance));
            mat(
                "entropy_distance",
                e.iter().zip(&d).flat_map(|(a, b)| [*a, *b]).collect(),
                head_rows,
                vec!["entropy".into(), "distance".into()],
            )
        }
    }
}

fn mat(
    name: &str,
    values: Vec<f32>,
    rows: Vec<String>,
    cols: Vec<String>,
) -> crate::matrix::Matrix {
    crate::matrix::Matrix {
        name: name.to_string(),
        values,
        rows: rows.len(),
        cols: cols.len(),
        row_labels: rows,
        col_labels: cols,
    }
}
