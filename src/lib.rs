//! albert-lens: look inside ALBERT (and BERT). Model loading, the forward passes that record
//! every attention map and hidden state, and the analyses the app shows.
//!
//! Data flows one way: files -> [`model`] -> [`backend`] -> [`model::Trace`] -> [`analysis`] ->
//! [`figures`] -> [`export`] / [`render`] -> [`app`]; no module below `app` imports it.
//! `model` and `backend` never touch the UI.

pub mod analysis;
pub mod app;
pub mod backend;
pub mod bench;
pub mod colormap;
pub mod error;
pub mod export;
pub mod figures;
pub mod matrix;
pub mod metrics;
pub mod model;
pub mod params;
pub mod render;

pub use error::{LensError, Result};
