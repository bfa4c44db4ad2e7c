//! albert-lens: look inside ALBERT (and BERT). Model loading, the forward passes that record
//! every attention map and hidden state, and the analyses the app shows.
//!
//! Data flows one way, each layer importing only those before it:
//! [`model`] (files, tokenizers, the MLM head) -> [`backend`] (forward passes: a
//! [`model::Trace`]) -> [`analysis`] and [`insight`] (attention measures, maps, PCA, t-SNE,
//! Figure 1, JS, the lens, parameter counts in [`params`], the corpus statistics in [`corpus`]) -> [`figures`] (headless scenes) ->
//! [`views`] (the view registry) -> [`export`] / [`render`] -> [`app`] (the only module that
//! uses egui). The `layering` test below checks it from the source.

pub mod analysis;
pub mod app;
pub mod backend;
pub mod bench;
pub mod colormap;
pub mod corpus;
pub mod error;
pub mod export;
pub mod figures;
pub mod files;
pub mod fonts;
pub mod insight;
pub mod matrix;
pub mod model;
pub mod params;
pub mod ranges;
pub mod render;
pub mod views;

pub use error::{LensError, Result};

/// The layering, checked from the source: each top-level module imports only modules of its own
/// layer or below, and only `app` (and the binary) uses egui or eframe.
#[cfg(test)]
mod layering {
    /// Top-level modules, lowest layer first.
    const LAYERS: [&[&str]; 8] = [
        &["error", "files", "ranges", "matrix", "colormap", "fonts"],
        &["model"],
        &["backend"],
        &["analysis", "insight", "params", "corpus"],
        &["figures"],
        &["views"],
        &["export", "render", "bench"],
        &["app"],
    ];

    fn layer_of(module: &str) -> Option<usize> {
        LAYERS.iter().position(|l| l.contains(&module))
    }

    fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                out.push((p.display().to_string(), text));
            }
        }
    }

    #[test]
    fn modules_import_only_their_own_layer_or_below_and_only_the_app_uses_egui() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        assert!(files.len() > 40, "the sources were not found");
        let mut wrong = Vec::new();
        for (path, text) in &files {
            let rel = path.trim_start_matches(&*src.display().to_string());
            let top = rel
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("")
                .trim_end_matches(".rs");
            // the binary: main.rs and its own modules (cli/)
            if top == "lib" || top == "main" || top == "cli" {
                continue;
            }
            let Some(mine) = layer_of(top) else {
                wrong.push(format!("{rel}: module {top} has no layer"));
                continue;
            };
            let code: String = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if let Some(theirs) = layer_of(&name) {
                    if theirs > mine {
                        wrong.push(format!("{rel}: {top} imports {name}, a layer above it"));
                    }
                }
            }
            let ui = ["egui::", "eframe::", "egui_plot::"];
            if mine < layer_of("app").unwrap_or(0) && ui.iter().any(|u| code.contains(u)) {
                wrong.push(format!("{rel}: {top} uses egui below the app"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
