//! `deck`: a lesson or talk as one PDF (a page per slide, text as text), or numbered PNG / SVG
//! files; the built-in decks listed and copied out to edit.

use super::common::BackendChoice;
use albert_lens::app::deck::{builtin, render, Deck};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args)]
pub(crate) struct DeckArgs {
    #[command(subcommand)]
    pub(crate) what: DeckCommand,
}

#[derive(clap::Subcommand)]
pub(crate) enum DeckCommand {
    /// Render every slide: to one PDF (`--out deck.pdf`), or to numbered files in a folder
    /// (`--out DIR`, with `--format png` or `svg`)
    Render {
        /// a deck file (.json), or builtin:NAME (`deck list`)
        deck: String,
        /// the text every slide runs on (slides with a text of their own keep it)
        #[arg(long)]
        text: Option<String>,
        /// a second segment with that text
        #[arg(long, requires = "text")]
        pair: Option<String>,
        /// deck.pdf, or a folder for one file per slide
        #[arg(long)]
        out: PathBuf,
        /// the files' format when --out is a folder
        #[arg(long, value_enum, default_value = "png")]
        format: PageFormat,
        /// PNG scale (1 = 1600 x 900)
        #[arg(long, default_value_t = 1.0, value_parser = crate::cli::ranges::png_scale)]
        scale: f32,
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendChoice,
    },
    /// The built-in decks
    List,
    /// Write a deck (a built-in one, to edit it) as a deck file
    Copy {
        deck: String,
        #[arg(long)]
        out: PathBuf,
    },
}

/// One file per slide in this format.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum PageFormat {
    Png,
    Svg,
}

pub(crate) fn run(a: DeckArgs) -> Result<()> {
    match a.what {
        DeckCommand::List => {
            for name in builtin::NAMES {
                if let Some(d) = builtin::deck(name) {
                    println!("builtin:{name}\t{} ({} slides)", d.title, d.slides.len());
                }
            }
            Ok(())
        }
        DeckCommand::Copy { deck, out } => {
            let d = Deck::open(&deck)?;
            d.write(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!("{deck} ({} slides) -> {}", d.slides.len(), out.display());
            Ok(())
        }
        DeckCommand::Render {
            deck,
            text,
            pair,
            out,
            format,
            scale,
            backend,
        } => {
            let mut d = Deck::open(&deck)?;
            if let Some(t) = text {
                d.text = Some(t);
                d.pair = pair;
            }
            let backend = super::common::one_backend(backend)?.lib();
            let total = d.slides.len();
            let pages = render::pages(&d, backend, Duration::from_secs(600), |i| {
                eprintln!("slide {i} of {total}");
            })
            .with_context(|| format!("rendering the deck {deck}"))?;
            save(&pages, &d.title, &out, (format, scale))
        }
    }
}

/// The pages as one PDF (`out` ends in .pdf) or as numbered files in the folder `out`.
fn save(
    pages: &[albert_lens::figures::Figure],
    title: &str,
    out: &Path,
    (format, scale): (PageFormat, f32),
) -> Result<()> {
    let is_pdf = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
    if is_pdf {
        let bytes = albert_lens::figures::pdf::pdf(pages, title)?;
        albert_lens::files::write_atomic(out, &bytes)
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!(
            "{} pages -> {} ({} bytes)",
            pages.len(),
            out.display(),
            bytes.len()
        );
        return Ok(());
    }
    if out.extension().is_some() && !out.is_dir() {
        anyhow::bail!(
            "--out {} is neither a .pdf file nor a folder: give deck.pdf, or a folder for one file per slide",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("making the folder {}", out.display()))?;
    let width = pages.len().to_string().len().max(2);
    let ext = match format {
        PageFormat::Png => "png",
        PageFormat::Svg => "svg",
    };
    for (i, page) in pages.iter().enumerate() {
        let path = out.join(format!("slide-{:0width$}.{ext}", i + 1));
        albert_lens::export::save(&path, page, None, scale)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!("{} slides -> {}", pages.len(), out.display());
    Ok(())
}
