//! `corpus` and `corpus merge`: head statistics over a corpus, to a safetensors file.

use super::common::{make_backend, BackendChoice};
use albert_lens::backend::Backend;
use albert_lens::corpus::{self, stats::Stat, CorpusOptions, CorpusSource, HeadStats};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// `corpus merge` and `corpus figure`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum CorpusCommand {
    /// Combine the statistics of shards of one corpus run (weighted by their rows)
    Merge {
        /// the shards' statistics files
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_parser = super::ranges::safetensors_out)]
        out: PathBuf,
    },
    /// Draw a statistics file as a figure (.png, .svg) or write the view's numbers (.csv, .npy,
    /// .safetensors): the Corpus tab's views, headless
    Figure {
        /// a statistics file (from `corpus` or `corpus merge`)
        stats: PathBuf,
        /// a second model's statistics on the same corpus, dashed (layers, sep-norm)
        #[arg(long)]
        compare: Option<PathBuf>,
        /// layers, sep-norm, grid, entropy-distance or head-map
        #[arg(long, default_value = "layers", value_parser = corpus_view)]
        view: albert_lens::figures::corpus::CorpusView,
        /// grid: the statistic (cls, sep, punct, self, prev, next, entropy, distance, sep_norm)
        #[arg(long, default_value = "sep", value_parser = statistic)]
        stat: albert_lens::corpus::stats::Stat,
        /// light, dark or presentation
        #[arg(long, value_enum, default_value = "light")]
        theme: super::common::ThemeArg,
        #[arg(long, value_enum, default_value = "viridis")]
        colormap: albert_lens::colormap::Colormap,
        /// PNG scale
        #[arg(long, default_value_t = 2.0)]
        scale: f32,
        #[arg(long)]
        out: PathBuf,
    },
}

pub(crate) fn run(
    model: &Path,
    source: &str,
    backend: BackendChoice,
    opts: &CorpusOptions,
    out: &Path,
) -> Result<()> {
    let m = super::common::open_model(model)?;
    let source = CorpusSource::parse(source);
    if let CorpusSource::File(p) = &source {
        if albert_lens::files::same_file(p, out) {
            anyhow::bail!(
                "--out {} is the corpus being read: choose another output file",
                out.display()
            );
        }
    }
    let mut b = make_backend(backend);
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let mut last = web_time::Instant::now();
    let mut shown = 0usize;
    let stats = corpus::run(
        &m,
        &mut b,
        &source,
        opts,
        &mut |p| {
            if last.elapsed().as_secs_f64() > 2.0 {
                last = web_time::Instant::now();
                eprintln!(
                    "{:5.1}%  {} texts, {:.1} texts/s",
                    p.fraction() * 100.0,
                    p.texts,
                    p.texts as f64 / p.seconds.max(1e-9)
                );
            }
        },
        &mut |why| {
            shown += 1;
            if shown <= 20 {
                eprintln!("skipped {why}");
            } else if shown == 21 {
                eprintln!("(further skipped lines not shown)");
            }
        },
        &cancel,
    )
    .with_context(|| format!("running the corpus on {}", b.name()))?;
    if stats.meta.lines == 0 {
        anyhow::bail!("the corpus has no texts to run (every line was empty or skipped)");
    }
    stats
        .write(out)
        .with_context(|| format!("writing {}", out.display()))?;
    print_summary(&stats);
    eprintln!(
        "{} texts ({} truncated, {} skipped), {} query positions -> {}",
        stats.meta.lines,
        stats.meta.truncated,
        stats.meta.skipped,
        stats.rows,
        out.display()
    );
    Ok(())
}

pub(crate) fn merge(files: &[PathBuf], out: &Path) -> Result<()> {
    if let Some(f) = files.iter().find(|f| albert_lens::files::same_file(f, out)) {
        anyhow::bail!(
            "--out {} is one of the files being merged ({}): choose another output file",
            out.display(),
            f.display()
        );
    }
    let stats = corpus::merge_files(files)?;
    stats
        .write(out)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "{} shards, {} texts, {} query positions -> {}",
        files.len(),
        stats.meta.lines,
        stats.rows,
        out.display()
    );
    Ok(())
}

/// Clark et al.'s Figure 1 as a table: per layer, the mean over heads of the [CLS], [SEP] and
/// punctuation shares, and Kobayashi et al.'s norm-based [SEP] share.
fn print_summary(s: &HeadStats) {
    let cols = [
        Stat::Cls,
        Stat::Sep,
        Stat::Punct,
        Stat::SepNorm,
        Stat::Entropy,
    ];
    let means: Vec<Vec<f64>> = cols.iter().map(|c| s.layer_means(c.index())).collect();
    let names: Vec<&str> = cols.iter().map(|c| c.name()).collect();
    println!("| layer | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(cols.len()));
    for l in 0..s.maps {
        let row: Vec<String> = means.iter().map(|m| format!("{:.3}", m[l])).collect();
        println!("| {} | {} |", l + 1, row.join(" | "));
    }
}

/// `bench --corpus`: corpus throughput per model shape and batch size (best of `iters`, at
/// most 3: a pass is long).
pub(crate) fn bench(
    backend: BackendChoice,
    models: &[String],
    batches: &[usize],
    texts: usize,
    iters: usize,
) -> Result<()> {
    let mut b = make_backend(backend);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Corpus throughput on {} ({cores} cores), {texts} built-in sentences, best of {} passes\n",
        b.name(),
        iters.clamp(1, 3)
    );
    let rows = albert_lens::bench::run_corpus(&mut b, models, batches, texts, iters.clamp(1, 3))?;
    println!("{}", albert_lens::bench::CorpusRow::markdown_header());
    for r in rows {
        println!("{}", r.markdown());
    }
    Ok(())
}

/// A corpus view by its id, or an error naming the choices.
fn corpus_view(s: &str) -> std::result::Result<albert_lens::figures::corpus::CorpusView, String> {
    use albert_lens::figures::corpus::{CorpusView, VIEWS};
    CorpusView::parse(s).ok_or_else(|| format!("no corpus view {s:?}; one of {}", VIEWS.join(", ")))
}

/// A statistic by its name, or an error naming the choices.
pub(crate) fn statistic(s: &str) -> std::result::Result<albert_lens::corpus::stats::Stat, String> {
    use albert_lens::corpus::stats::{Stat, STATS};
    Stat::parse(s).ok_or_else(|| format!("no statistic {s:?}; one of {}", STATS.join(", ")))
}

/// `corpus figure`: one of the Corpus tab's views of a statistics file, headless.
pub(crate) fn figure(
    (stats, compare): (&Path, Option<&Path>),
    (view, stat): (
        albert_lens::figures::corpus::CorpusView,
        albert_lens::corpus::stats::Stat,
    ),
    (theme, colormap, scale): (
        super::common::ThemeArg,
        albert_lens::colormap::Colormap,
        f32,
    ),
    out: &Path,
) -> Result<()> {
    use albert_lens::figures::corpus as fig;
    let theme = theme.theme();
    let main = HeadStats::read(stats)?;
    let other = compare.map(HeadStats::read).transpose()?;
    let name = |s: &HeadStats, p: &Path| {
        if s.meta.model.is_empty() {
            p.display().to_string()
        } else {
            s.meta.model.clone()
        }
    };
    let main_name = name(&main, stats);
    let other_name = other
        .as_ref()
        .zip(compare)
        .map(|(s, p)| name(s, p))
        .unwrap_or_default();
    let figure = fig::view(
        view,
        (&main, &main_name),
        other.as_ref().map(|o| (o, other_name.as_str())),
        (stat, colormap),
        &theme,
    )?;
    let matrix = fig::matrix(view, &main, stat);
    let bytes = albert_lens::export::save(out, &figure, Some(&matrix), scale)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "corpus {} of {main_name} -> {} ({bytes} bytes)",
        view.id(),
        out.display()
    );
    Ok(())
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct CorpusArgs {
    #[command(subcommand)]
    pub(crate) merge: Option<CorpusCommand>,
    /// model folder, hub:ID, or a built-in model (albert-mini, bert-mini)
    #[arg(long, default_value = "albert-mini")]
    pub(crate) model: PathBuf,
    /// "builtin" (held-out Brown sentences) or a file: one text per line, TAB before a
    /// second segment; or .jsonl with "text" and "pair"
    #[arg(long, default_value = "builtin")]
    pub(crate) corpus: String,
    /// texts per forward pass, 1 to 1024 (on 2 cores 8 to 32 run within 10% of each other)
    #[arg(long, default_value_t = 16, value_parser = super::ranges::count(albert_lens::ranges::BATCH))]
    pub(crate) batch: usize,
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) backend: BackendChoice,
    /// run only the lines whose 0-based index is i modulo n (e.g. 0/4)
    #[arg(long, value_parser = albert_lens::corpus::parse_shard)]
    pub(crate) shard: Option<(usize, usize)>,
    /// stop after this many texts (reading stops there too)
    #[arg(long, value_parser = super::ranges::positive64())]
    pub(crate) limit: Option<u64>,
    /// output file (.safetensors)
    #[arg(long, required = true, value_parser = super::ranges::safetensors_out)]
    pub(crate) out: Option<PathBuf>,
}

/// `corpus`: a run, or its `merge` / `figure` subcommands.
pub(crate) fn run_args(a: CorpusArgs) -> Result<()> {
    match a.merge {
        Some(CorpusCommand::Merge { files, out }) => merge(&files, &out),
        Some(CorpusCommand::Figure {
            stats,
            compare,
            view,
            stat,
            theme,
            colormap,
            scale,
            out,
        }) => figure(
            (&stats, compare.as_deref()),
            (view, stat),
            (theme, colormap, scale),
            &out,
        ),
        None => {
            let out = a.out.context("give --out FILE.safetensors")?;
            let opts = CorpusOptions {
                batch: a.batch.max(1),
                shard: a.shard.unwrap_or((0, 1)),
                limit: a.limit,
                model_name: a.model.display().to_string(),
            };
            run(
                &a.model,
                &a.corpus,
                super::common::one_backend(a.backend)?,
                &opts,
                &out,
            )
        }
    }
}
