//! The desktop binary's `main`: the window, or the subcommand the command line names.

/// mimalloc keeps freed memory for reuse: every layer's attention maps (12 MB each for
/// ALBERT-base at N = 512) would otherwise be fresh pages, one page fault per 4 KiB, which cost
/// the CPU forward pass 17% at N = 512 (glibc returns such large blocks to the system at once).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use super::common::{one_backend, BackendChoice};
use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "albert-lens",
    version,
    about = "Look inside ALBERT: attention, embeddings, shared vs unshared layers"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// (window) open this model folder, hub:ID, or built-in name instead of the last one
    #[arg(long)]
    model: Option<PathBuf>,
    /// (window) the text to show
    #[arg(long)]
    text: Option<String>,
    /// (window) the backend
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendChoice,
    /// (window) start in this attention view
    #[arg(long, value_enum)]
    view: Option<ViewArg>,
    /// (window) start on this tab: attention, prediction, projection, shared, lens, explain,
    /// attribution, mixing or corpus
    #[arg(long, value_parser = tab_id)]
    tab: Option<String>,
    /// (window) save a PNG of the window once the first result is shown, then quit
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// (window) open this deck in the Deck panel: a deck file, or builtin:inside-albert /
    /// builtin:attention-explanation
    #[arg(long)]
    deck: Option<String>,
}

/// A tab id from the app's tab registry.
fn tab_id(s: &str) -> std::result::Result<String, String> {
    let ids: Vec<&str> = albert_lens::app::tabs::registry()
        .iter()
        .map(|t| t.id())
        .collect();
    if ids.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!("no tab {s:?}: use one of {}", ids.join(", ")))
    }
}

#[derive(Clone, Copy, ValueEnum, Debug)]
pub(crate) enum ViewArg {
    Model,
    Heatmap,
    Links,
}

#[derive(Subcommand)]
// parsed once per run: the size of the largest variant (render's options) does not matter
#[allow(clippy::large_enum_variant)]
pub(crate) enum Command {
    /// Run a model on a text and write every hidden state and attention map to a safetensors file
    Trace(crate::cli::trace::TraceArgs),
    /// Gradient attributions of one prediction (a masked-LM token, a class, a token label, a
    /// QA start or end): grad x input, gradient norm and integrated gradients per input token,
    /// written to a safetensors file
    Attribute(crate::cli::attribute::AttributeArgs),
    /// A fine-tuned classifier over a labelled file: accuracy, confusion matrix, head
    /// importance (Michel et al. 2019) and the pruning curve, written to a safetensors file
    Heads(crate::cli::heads::HeadsArgs),
    /// Run a model on a text and print, per layer, the token each token attends to most
    Summary(crate::cli::summary::SummaryArgs),
    /// Measure the app's frame time headless: a 512 x 512 head heatmap, and the 144 thumbnails
    /// of a 12 x 12 model at N = 128 (ALBERT-base shapes, random weights)
    BenchUi {
        /// frames per case (the median is reported; 1 to 100000)
        #[arg(long, default_value_t = 120, value_parser = crate::cli::ranges::count(1..=100_000))]
        frames: usize,
    },
    /// Check a backend against the golden outputs of transformers (tests/fixtures/golden) and,
    /// for the GPU, against the CPU reference at ALBERT-base size
    Verify(crate::cli::verify::VerifyArgs),
    /// Draw one view as a figure (.png, .svg) or write its matrix (.csv, .npy, .safetensors),
    /// headless: no window is opened
    Render(crate::cli::render::RenderArgs),
    /// Run a corpus through a model and write what every head does on it (Clark et al.'s and
    /// Kobayashi et al.'s statistics, the heads' JS distances) to a safetensors file; `corpus
    /// merge A B ... --out C` combines shards
    Corpus(crate::cli::corpus::CorpusArgs),
    /// Lessons and talks: render a deck of slides (each a saved view with a title, a caption
    /// filled from the live run, and notes) to one PDF or to numbered PNG / SVG files; list
    /// and copy the built-in lessons
    Deck(crate::cli::deck::DeckArgs),
    /// Measure forward latency on random weights of real model shapes
    Bench(crate::cli::bench::BenchArgs),
}

pub(crate) fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime_dir = crate::cli::private_runtime_dir();
    let result = run(cli);
    if let Some(d) = runtime_dir {
        let _ = std::fs::remove_dir_all(d);
    }
    result
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => {
            one_backend(cli.backend)?;
            run_window(cli)
        }
        Some(Command::Summary(args)) => crate::cli::summary::run(args),
        Some(Command::BenchUi { frames }) => albert_lens::app::frame_bench::run(frames.max(5)),
        Some(Command::Trace(args)) => crate::cli::trace::run(args),
        Some(Command::Verify(args)) => crate::cli::verify::run(args),
        Some(Command::Attribute(args)) => crate::cli::attribute::run(args),
        Some(Command::Heads(args)) => crate::cli::heads::run(args),
        Some(Command::Render(args)) => crate::cli::render::run(args),
        Some(Command::Corpus(args)) => crate::cli::corpus::run_args(args),
        Some(Command::Deck(args)) => crate::cli::deck::run(args),
        Some(Command::Bench(args)) => crate::cli::bench::run(args),
    }
}

/// The desktop window.
fn run_window(cli: Cli) -> Result<()> {
    use albert_lens::app::{AppOptions, AttnView, LensApp};
    use albert_lens::model::ModelSource;
    let open = cli.model.as_deref().map(ModelSource::parse);
    let opts = AppOptions {
        backend: cli.backend.lib(),
        // a scripted screenshot starts from the defaults, not from the last session
        restore: cli.screenshot.is_none(),
        open,
        compare: None,
        text: cli.text,
        start_models: true,
        screenshot: cli.screenshot,
        view: cli.view.map(|v| match v {
            ViewArg::Model => AttnView::Model,
            ViewArg::Heatmap => AttnView::Heatmap,
            ViewArg::Links => AttnView::Links,
        }),
        tab: cli.tab,
        deck: cli.deck,
    };
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("albert-lens")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true),
        // the window's device is the one the app computes on: ask for what compute needs
        wgpu_options: eframe::egui_wgpu::WgpuConfiguration {
            wgpu_setup: eframe::egui_wgpu::WgpuSetup::CreateNew(
                eframe::egui_wgpu::WgpuSetupCreateNew {
                    device_descriptor: std::sync::Arc::new(
                        albert_lens::backend::gpu::context::device_descriptor,
                    ),
                    ..eframe::egui_wgpu::WgpuSetupCreateNew::without_display_handle()
                },
            ),
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native(
        "albert-lens",
        native,
        Box::new(move |cc| Ok(Box::new(LensApp::new(cc, opts)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}. On a machine without a display, use the `trace`, `summary` or `bench` subcommands"))
}
