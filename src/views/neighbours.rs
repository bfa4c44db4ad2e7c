//! The neighbours view as a component: a word's nearest tokens in each model's input embeddings
//! (ALBERT's E-dimensional table against BERT's H-dimensional one). The Projection tab's
//! vocabulary mode asks a job for [`derive`]'s answers and draws them; its export and `render
//! --view neighbours` go through [`shown`] and [`figure`].

use crate::error::{LensError, Result};
use crate::figures::{Figure, Theme};
use crate::insight::{self, VocabAnswer};
use crate::matrix::Matrix;
use crate::model::LoadedModel;

/// How many neighbours each model's answer lists.
pub const NEIGHBOURS: usize = 12;

/// Each model's answer for `query` (its nearest tokens, or why it has not the word).
pub fn derive(models: &[(&LoadedModel, &str)], query: &str) -> Vec<VocabAnswer> {
    models
        .iter()
        .map(|(m, name)| insight::vocab_neighbours(m, name, query, NEIGHBOURS))
        .collect()
}

/// The answer the figure shows: the first model's that has the word, else an error saying why
/// each has not.
pub fn shown<'a>(query: &str, answers: &'a [VocabAnswer]) -> Result<&'a VocabAnswer> {
    answers.iter().find(|a| a.token.is_ok()).ok_or_else(|| {
        let why: Vec<String> = answers
            .iter()
            .filter_map(|a| a.token.as_ref().err().map(|e| format!("{}: {e}", a.model)))
            .collect();
        LensError::Analysis(format!(
            "no model has the word {query:?} ({})",
            why.join("; ")
        ))
    })
}

/// The word's neighbours as a figure, with their similarities.
pub fn figure(
    query: &str,
    answer: &VocabAnswer,
    theme: &Theme,
) -> Result<(Figure, Option<Matrix>)> {
    super::build(&super::View::Neighbours { query, answer }, theme)
}
