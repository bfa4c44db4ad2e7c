//! Nearest neighbours in an embedding table, and a vocabulary query against a model's input
//! embeddings.

use super::pca::pca;
use crate::model::LoadedModel;
use rayon::prelude::*;

/// The `k` rows of `table` (`rows x dim`) nearest to row `query` by cosine similarity, most
/// similar first (the query itself left out): (row, similarity).
pub fn nearest_rows(table: &[f32], dim: usize, query: usize, k: usize) -> Vec<(usize, f32)> {
    let rows = table.len() / dim.max(1);
    if query >= rows {
        return Vec::new();
    }
    let row = |i: usize| &table[i * dim..(i + 1) * dim];
    let norm = |r: &[f32]| {
        r.iter()
            .map(|x| (*x as f64).powi(2))
            .sum::<f64>()
            .sqrt()
            .max(1e-30)
    };
    let q = row(query);
    let qn = norm(q);
    let mut sims: Vec<(usize, f32)> = (0..rows)
        .into_par_iter()
        .filter(|&i| i != query)
        .map(|i| {
            let r = row(i);
            let dot: f64 = r.iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum();
            (i, (dot / (norm(r) * qn)) as f32)
        })
        .collect();
    sims.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    sims.truncate(k);
    sims
}

/// One model's answer to a vocabulary query.
#[derive(Debug, Clone)]
pub struct VocabAnswer {
    /// "albert-mini (E = 64)"
    pub model: String,
    /// the query's own token, or why there is none
    pub token: Result<String, String>,
    /// (token, cosine similarity), nearest first
    pub neighbours: Vec<(String, f32)>,
    /// PCA of the query and its neighbours in this model's embedding space (query first)
    pub points: Vec<(f32, f32)>,
}

/// The `k` nearest tokens to `query` by cosine similarity in `m`'s input word embeddings
/// (V x E for ALBERT, V x H for BERT), and a 2-D PCA of the query with them.
pub fn vocab_neighbours(m: &LoadedModel, label: &str, query: &str, k: usize) -> VocabAnswer {
    let c = &m.config;
    let model = format!(
        "{label} ({} = {})",
        if c.has_projection() { "E" } else { "H" },
        c.embedding_size
    );
    let fail = |why: String| VocabAnswer {
        model: model.clone(),
        token: Err(why),
        neighbours: Vec::new(),
        points: Vec::new(),
    };
    let q = query.trim();
    let id = m
        .tokenizer
        .token_to_id(q)
        .or_else(|| m.tokenizer.token_to_id(&q.to_lowercase()))
        .or_else(|| {
            // a word the tokenizer splits: take its first piece
            m.encode(q, None).ok().and_then(|e| {
                e.ids
                    .iter()
                    .zip(&e.special)
                    .find(|(_, s)| !**s)
                    .map(|(id, _)| *id)
            })
        });
    let Some(id) = id else {
        return fail(format!("\"{q}\" is not in the vocabulary"));
    };
    let table = match m.weights.word_table() {
        Ok(v) => v,
        Err(e) => return fail(format!("cannot read the embeddings: {e}")),
    };
    let table = table.as_slice();
    let e = c.embedding_size;
    let v = table.len() / e.max(1);
    if id as usize >= v {
        return fail(format!(
            "token id {id} is past the embedding table ({v} rows)"
        ));
    }
    let row = |i: usize| &table[i * e..(i + 1) * e];
    let sims = nearest_rows(table, e, id as usize, k);
    let q_row = row(id as usize);
    let decode = |i: usize| m.tokenizer.token_or_id(i as u32);
    let mut data: Vec<f32> = q_row.to_vec();
    for &(i, _) in &sims {
        data.extend_from_slice(row(i));
    }
    let points = pca(&data, sims.len() + 1, e, 2)
        .map(|p| {
            p.coords
                .chunks(p.k.max(1))
                .map(|c| (c[0], c.get(1).copied().unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default();
    VocabAnswer {
        model,
        token: Ok(decode(id as usize)),
        neighbours: sims.iter().map(|&(i, s)| (decode(i), s)).collect(),
        points,
    }
}
