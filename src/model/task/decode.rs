//! A task head's outputs read as a user reads them: probabilities, tokens joined back into text
//! (SentencePiece, WordPiece or byte-level BPE), a tagger's entities and a reader's best answer
//! span.

use super::{Prediction, Problem, TaskKind};

/// Softmax of a row in f64.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
    let e: Vec<f64> = row.iter().map(|&v| (v as f64 - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| (v / s) as f32).collect()
}

/// Tokens back to text: SentencePiece pieces ("▁" starts a word) or WordPiece ("##" continues
/// one), as a reader would write the span.
pub fn join_tokens(tokens: &[String]) -> String {
    // byte-level BPE (RoBERTa): "Ġ" starts a word and every byte is a printable stand-in
    if tokens.iter().any(|t| t.contains('\u{120}')) {
        if let Some(text) = byte_level_decode(&tokens.concat()) {
            return text.trim().to_string();
        }
    }
    let sentencepiece = tokens.iter().any(|t| t.contains('\u{2581}'));
    let mut out = String::new();
    for t in tokens {
        if sentencepiece {
            out.push_str(&t.replace('\u{2581}', " "));
        } else if let Some(rest) = t.strip_prefix("##") {
            out.push_str(rest);
        } else {
            out.push(' ');
            out.push_str(t);
        }
    }
    out.trim().to_string()
}

/// The text behind byte-level BPE tokens (GPT-2's bytes-to-unicode map undone: the printable
/// bytes stand for themselves, the others for 256, 257, …); None when a character is not one
/// of the map's.
pub fn byte_level_decode(s: &str) -> Option<String> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let others: Vec<u8> = (0u32..256)
        .filter(|&b| !printable(b))
        .map(|b| b as u8)
        .collect();
    let mut bytes = Vec::with_capacity(s.len());
    for c in s.chars() {
        let c = c as u32;
        if printable(c) {
            bytes.push(c as u8);
        } else {
            bytes.push(*others.get(c.checked_sub(256)? as usize)?);
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// One entity of a tagger's output: consecutive tokens of one type (BIO tags merged).
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    /// the label without its B-/I- prefix
    pub label: String,
    /// token positions, first and last (inclusive)
    pub start: usize,
    pub end: usize,
    /// the mean probability of the tokens' predicted labels
    pub score: f32,
}

/// A question-answering model's answer: the best span and its probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    /// p_start(start) · p_end(end)
    pub score: f32,
}

/// The longest answer span [`Prediction::best_span`] considers, in tokens (transformers'
/// question-answering pipeline's default `max_answer_len`).
pub const MAX_ANSWER_TOKENS: usize = 15;

impl Prediction {
    /// The prediction in a few words, with its probability: the predicted class (sequence
    /// classification), the label of token `position` (token classification), or the best
    /// answer span's tokens (QA, among `allowed`); regression gives its value.
    pub fn headline(&self, tokens: &[String], position: usize, allowed: &[bool]) -> (String, f32) {
        match self.kind {
            TaskKind::QuestionAnswering => match self.best_span(allowed) {
                Some(s) => (join_tokens(&tokens[s.start..=s.end]), s.score),
                None => ("no answer".to_string(), 0.0),
            },
            _ => {
                let row = if self.kind == TaskKind::SequenceClassification {
                    0
                } else {
                    position.min(self.rows.saturating_sub(1))
                };
                if self.problem == Problem::Regression {
                    return (format!("{:.4}", self.row(row)[0]), self.row(row)[0]);
                }
                let best = self.predicted(row);
                (self.labels[best].clone(), self.scores(row)[best])
            }
        }
    }

    /// Row `r` of the logits.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.logits[r * self.cols..(r + 1) * self.cols]
    }

    /// Row `r`'s scores: softmax (single label, token labels), sigmoid (multi-label), the logit
    /// itself (regression); for QA, column 0 is p_start and column 1 p_end over tokens.
    pub fn scores(&self, r: usize) -> Vec<f32> {
        match (self.kind, self.problem) {
            (TaskKind::QuestionAnswering, _) => {
                let (s, e) = (self.start_probabilities(), self.end_probabilities());
                vec![s[r], e[r]]
            }
            (_, Problem::MultiLabel) => self
                .row(r)
                .iter()
                .map(|&v| (1.0 / (1.0 + (-(v as f64)).exp())) as f32)
                .collect(),
            (_, Problem::Regression) => self.row(r).to_vec(),
            _ => softmax(self.row(r)),
        }
    }

    /// The label row `r` predicts: the largest logit.
    pub fn predicted(&self, r: usize) -> usize {
        self.row(r)
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i)
    }

    /// Question answering: one column of the `[N, 2]` logits.
    fn column(&self, c: usize) -> Vec<f32> {
        (0..self.rows)
            .map(|r| self.logits[r * self.cols + c])
            .collect()
    }

    pub fn start_logits(&self) -> Vec<f32> {
        self.column(0)
    }

    pub fn end_logits(&self) -> Vec<f32> {
        self.column(1)
    }

    /// Softmax of the start logits over all tokens.
    pub fn start_probabilities(&self) -> Vec<f32> {
        softmax(&self.start_logits())
    }

    pub fn end_probabilities(&self) -> Vec<f32> {
        softmax(&self.end_logits())
    }

    /// The span (start ≤ end < start + [`MAX_ANSWER_TOKENS`]) with the largest
    /// p_start · p_end among the tokens `allowed` says may answer (the context's own tokens).
    pub fn best_span(&self, allowed: &[bool]) -> Option<Span> {
        let (ps, pe) = (self.start_probabilities(), self.end_probabilities());
        let mut best: Option<Span> = None;
        for s in (0..self.rows).filter(|&s| allowed.get(s) == Some(&true)) {
            let last = (s + MAX_ANSWER_TOKENS).min(self.rows);
            for (e, p_end) in pe.iter().enumerate().take(last).skip(s) {
                if allowed.get(e) != Some(&true) {
                    break;
                }
                let score = ps[s] * p_end;
                if best.as_ref().is_none_or(|b| score > b.score) {
                    best = Some(Span {
                        start: s,
                        end: e,
                        score,
                    });
                }
            }
        }
        best
    }

    /// A tagger's entities: tokens not `skip`ped (special tokens) whose predicted label is not
    /// "O", merged while the type continues (`I-X` after `B-X`/`I-X`, or the same plain label).
    pub fn entities(&self, skip: &[bool]) -> Vec<Entity> {
        let mut out: Vec<Entity> = Vec::new();
        let mut probs: Vec<Vec<f32>> = Vec::new();
        let mut open = false;
        for t in 0..self.rows {
            let best = self.predicted(t);
            let label = &self.labels[best];
            // "O" outside an entity; ELECTRA's discriminator: an original token
            if skip.get(t) == Some(&true) || label == "O" || label == "original" {
                open = false;
                continue;
            }
            let (begin, ty) = match label.split_once('-') {
                Some(("B", ty)) => (true, ty),
                Some(("I", ty)) => (false, ty),
                _ => (false, label.as_str()),
            };
            let p = self.scores(t)[best];
            match (out.last_mut(), probs.last_mut()) {
                (Some(e), Some(ps)) if open && !begin && e.label == ty => {
                    e.end = t;
                    ps.push(p);
                }
                _ => {
                    out.push(Entity {
                        label: ty.to_string(),
                        start: t,
                        end: t,
                        score: 0.0,
                    });
                    probs.push(vec![p]);
                    open = true;
                }
            }
        }
        for (e, ps) in out.iter_mut().zip(&probs) {
            e.score = ps.iter().sum::<f32>() / ps.len() as f32;
        }
        out
    }
}
