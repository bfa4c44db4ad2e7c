//! The app's drawing pieces, each a function of its data and an `egui::Ui`: the heatmap, the
//! model view's thumbnail grid, the token links and the token chips, and the Explain tab's
//! vectors, bars and thumbnails.

pub mod heatmap;
pub mod model_grid;
pub mod token_links;
pub mod vectors;
