//! albert-lens: look inside ALBERT (and BERT). Model loading, the forward passes that record
//! every attention map and hidden state, and the analyses the app shows.
//!
//! Data flows one way, each layer importing only those before it:
//! [`model`] (files, tokenizers, the MLM head) -> [`backend`] (forward passes: a
//! [`model::Trace`]) -> [`analysis`] and [`insight`] (attention measures, maps, PCA, t-SNE,
//! Figure 1, JS, the lens, parameter counts in [`params`], the corpus statistics in [`corpus`]) -> [`figures`] (headless scenes) ->
//! [`views`] (the view registry) -> [`export`] / [`render`] -> [`app`] (the only module that
//! uses egui). The `layering` tests check it from the source, and that no modules of one
//! parent import each other in a circle, at any depth.

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
pub mod picked;
pub mod ranges;
pub mod render;
pub mod views;

pub use error::{LensError, Result};

/// The layering and the import circles, checked from the source ([`layering`]'s tests).
#[cfg(test)]
mod layering;
