//! albert-lens: look inside ALBERT (and BERT). Model loading, the forward passes that record
//! every attention map and hidden state, and the analyses the app shows.
//!
//! Data flows one way, each layer importing only those before it:
//! [`model`] (files, tokenizers, the MLM head) -> [`backend`] (forward passes: a
//! [`model::Trace`]) -> [`analysis`] and [`insight`] (attention measures, maps, PCA, t-SNE,
//! Figure 1, JS, the lens, parameter counts in [`params`]) -> [`figures`] (headless scenes) ->
//! [`views`] (the view registry) -> [`export`] / [`render`] -> [`app`] (the only module that
//! uses egui). The `layering` test below checks it from the source.

pub mod analysis;
pub mod app;
pub mod backend;
pub mod bench;
pub mod colormap;
pub mod error;
pub mod export;
pub mod figures;
pub mod fonts;
pub mod insight;
pub mod matrix;
pub mod model;
pub mod params;
pub mod render;
pub mod views;

pub use error::{LensError, Result};
