//! Attention per word instead of per word piece, as Clark et al. (2019) merge them: attention
//! *to* a split word is the sum over its pieces (a column sum), attention *from* a split word
//! is the mean over its pieces (a row mean), so every row still sums to what it summed to
//! before (1 for attention weights).
//!
//! A word is what transformers' `word_ids()` calls one: the pre-tokenizer's split (whitespace
//! for SentencePiece, whitespace and punctuation for BERT's WordPiece), counted per segment;
//! each special token is a word of its own. A trace read from a file has no word ids; its words
//! are then found from the pieces' markers (a `##` piece continues the word before it, a piece
//! without `▁` after one with it does too).

use crate::model::Trace;

/// The token positions of each word, in order.
pub fn groups(trace: &Trace) -> Vec<Vec<usize>> {
    let n = trace.num_tokens();
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut last: Option<(u32, u32)> = None;
    let sentencepiece = trace.tokens.iter().any(|t| t.starts_with('▁'));
    for i in 0..n {
        let special = trace.special.get(i).copied().unwrap_or(false);
        let key = if trace.word_ids.len() == n {
            trace.word_ids[i].map(|w| (trace.token_type_ids.get(i).copied().unwrap_or(0), w))
        } else {
            None
        };
        let continues = match (key, last) {
            (Some(k), Some(l)) => k == l,
            (None, _) if trace.word_ids.len() != n && !special && i > 0 => {
                let t = &trace.tokens[i];
                let prev_special = trace.special.get(i - 1).copied().unwrap_or(true);
                !prev_special && (t.starts_with("##") || (sentencepiece && !t.starts_with('▁')))
            }
            _ => false,
        };
        match out.last_mut() {
            Some(g) if continues && !special => g.push(i),
            _ => out.push(vec![i]),
        }
        last = if special { None } else { key };
    }
    out
}

/// Each word's text: its pieces joined without their markers (`##`, `▁`).
pub fn labels(trace: &Trace, groups: &[Vec<usize>]) -> Vec<String> {
    groups
        .iter()
        .map(|g| {
            let mut s = String::new();
            for (k, &i) in g.iter().enumerate() {
                let t = &trace.tokens[i];
                let t = if k > 0 {
                    t.trim_start_matches("##")
                } else {
                    t.as_str()
                };
                s.push_str(t.trim_start_matches('▁'));
            }
            if s.is_empty() {
                "▁".into()
            } else {
                s
            }
        })
        .collect()
}

/// An `[n, n]` map merged to words `[m, m]`: rows averaged over a word's pieces, columns
/// summed.
pub fn merge(map: &[f32], n: usize, groups: &[Vec<usize>]) -> Vec<f32> {
    let m = groups.len();
    let mut out = vec![0f32; m * m];
    for (r, rows) in groups.iter().enumerate() {
        let inv = 1.0 / rows.len().max(1) as f32;
        for (c, cols) in groups.iter().enumerate() {
            let mut sum = 0f32;
            for &i in rows {
                for &j in cols {
                    sum += map[i * n + j];
                }
            }
            out[r * m + c] = sum * inv;
        }
    }
    out
}

/// The trace at word level: every head of every map merged ([`merge`]), tokens the words'
/// texts, a word special when its token is, hidden states the mean of the pieces' (for the
/// views' labels and sizes; the word-level maps do not come from them).
pub fn word_trace(trace: &Trace) -> Trace {
    let g = groups(trace);
    let n = trace.num_tokens();
    let (m, heads, h) = (g.len(), trace.num_heads, trace.hidden_size);
    let attentions = trace
        .attentions
        .iter()
        .map(|a| {
            (0..heads)
                .flat_map(|hd| merge(&a[hd * n * n..(hd + 1) * n * n], n, &g))
                .collect()
        })
        .collect();
    let hidden_states = trace
        .hidden_states
        .iter()
        .map(|hs| {
            g.iter()
                .flat_map(|rows| {
                    let inv = 1.0 / rows.len() as f32;
                    (0..h).map(move |c| rows.iter().map(|&i| hs[i * h + c]).sum::<f32>() * inv)
                })
                .collect()
        })
        .collect();
    let first = |v: &[u32]| {
        g.iter()
            .map(|r| v.get(r[0]).copied().unwrap_or(0))
            .collect()
    };
    Trace {
        model_type: trace.model_type,
        tokens: labels(trace, &g),
        input_ids: first(&trace.input_ids),
        token_type_ids: first(&trace.token_type_ids),
        special: g
            .iter()
            .map(|r| trace.special.get(r[0]).copied().unwrap_or(false))
            .collect(),
        hidden_size: h,
        num_heads: heads,
        hidden_states,
        attentions,
        warnings: trace.warnings.clone(),
        internals: None,
        word_ids: (0..m as u32).map(Some).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_sums_columns_and_averages_rows() {
        // three pieces: [a, b] form one word, [c] another
        let map = [
            0.2, 0.3, 0.5, //
            0.1, 0.1, 0.8, //
            0.6, 0.2, 0.2,
        ];
        let groups = vec![vec![0, 1], vec![2]];
        let w = merge(&map, 3, &groups);
        // from word 0 = mean of rows 0 and 1; to word 0 = columns 0 + 1
        let want = [0.35, 0.65, 0.8, 0.2];
        for (a, b) in w.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{w:?}");
        }
        assert!((w[0] + w[1] - 1.0).abs() < 1e-6 && (w[2] + w[3] - 1.0).abs() < 1e-6);
    }
}
