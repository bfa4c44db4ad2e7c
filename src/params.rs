//! Parameter accounting: where a checkpoint's parameters are (embedding, projection, encoder,
//! heads), what the same model would hold without ALBERT's two ideas, and a calculator that
//! reproduces the ALBERT paper's Tables 1, 3 and 4 (Lan et al. 2019).
//!
//! Counts follow HF transformers' AlbertModel / BertModel exactly, pooler included (an H x H
//! dense layer on [CLS]): the six Table 1 configurations give HF's own numbers to the parameter.

use crate::model::{ModelConfig, ModelWeights};

/// A count as people read it: 1.3M, 36.7k, 512.
pub fn format_count(n: usize) -> String {
    match n {
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1}k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

/// Which parts of the encoder layer are shared across depth (Table 4 of the paper).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Sharing {
    /// BERT: a separate layer at every depth
    None,
    /// ALBERT's default: one layer for all depths
    All,
    /// the attention block shared, each depth its own feed-forward block
    Attention,
    /// the feed-forward block shared, each depth its own attention block
    Ffn,
}

impl Sharing {
    pub const ALL: [Sharing; 4] = [
        Sharing::All,
        Sharing::Attention,
        Sharing::Ffn,
        Sharing::None,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Sharing::None => "not shared",
            Sharing::All => "all shared",
            Sharing::Attention => "shared attention",
            Sharing::Ffn => "shared FFN",
        }
    }
}

/// A model's shape, as far as its parameter count goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Arch {
    pub vocab: usize,
    /// E: the width of the word embeddings (E = H for BERT)
    pub embedding: usize,
    /// H
    pub hidden: usize,
    /// L: depth
    pub layers: usize,
    /// the feed-forward width (4H in the paper's models)
    pub intermediate: usize,
    pub positions: usize,
    pub token_types: usize,
    pub sharing: Sharing,
    /// separate weight sets for ALBERT's num_hidden_groups (1 in every released ALBERT)
    pub groups: usize,
}

/// Where the parameters of one [`Arch`] are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// V x E word embeddings
    pub word_embeddings: usize,
    /// positions, token types and the embedding layer norm
    pub other_embeddings: usize,
    /// the E x H projection (+ bias) of a factorized embedding; 0 when E = H
    pub projection: usize,
    /// one attention block: Q, K, V, output (each H x H + H) and its layer norm
    pub attention_block: usize,
    /// one feed-forward block: H x I + I, I x H + H and its layer norm
    pub ffn_block: usize,
    /// the encoder as shared
    pub encoder: usize,
    /// the encoder if every depth had its own layer
    pub encoder_unshared: usize,
    /// the [CLS] pooler, H x H + H
    pub pooler: usize,
}

impl Counts {
    /// Everything, as HF's AlbertModel / BertModel count it.
    pub fn total(&self) -> usize {
        self.word_embeddings + self.other_embeddings + self.projection + self.encoder + self.pooler
    }
}

impl Arch {
    /// The shape of a loaded config (positions, types and groups as the checkpoint has them).
    pub fn of_config(cfg: &ModelConfig) -> Self {
        Arch {
            vocab: cfg.vocab_size,
            embedding: cfg.embedding_size,
            hidden: cfg.hidden_size,
            layers: cfg.num_hidden_layers * cfg.inner_group_num,
            intermediate: cfg.intermediate_size,
            positions: cfg.max_position_embeddings,
            token_types: cfg.stored_type_rows(),
            sharing: if cfg.model_type.family().shared_layers {
                Sharing::All
            } else {
                Sharing::None
            },
            groups: cfg.stored_layers(),
        }
    }

    /// A configuration of the paper: 30,000 WordPiece/SentencePiece tokens, 512 positions, two
    /// token types, I = 4H, one group.
    pub const fn paper(embedding: usize, hidden: usize, layers: usize, sharing: Sharing) -> Self {
        Arch {
            vocab: 30_000,
            embedding,
            hidden,
            layers,
            intermediate: 4 * hidden,
            positions: 512,
            token_types: 2,
            sharing,
            groups: 1,
        }
    }

    pub fn counts(&self) -> Counts {
        let (v, e, h, i) = (self.vocab, self.embedding, self.hidden, self.intermediate);
        let attention_block = 4 * (h * h + h) + 2 * h;
        let ffn_block = (h * i + i) + (i * h + h) + 2 * h;
        let l = self.layers;
        let g = self.groups.clamp(1, l.max(1));
        let encoder = match self.sharing {
            Sharing::None => l * (attention_block + ffn_block),
            Sharing::All => g * (attention_block + ffn_block),
            Sharing::Attention => g * attention_block + l * ffn_block,
            Sharing::Ffn => l * attention_block + g * ffn_block,
        };
        Counts {
            word_embeddings: v * e,
            other_embeddings: (self.positions + self.token_types) * e + 2 * e,
            projection: if e != h { e * h + h } else { 0 },
            attention_block,
            ffn_block,
            encoder,
            encoder_unshared: l * (attention_block + ffn_block),
            pooler: h * h + h,
        }
    }
}

/// One row of a table of the paper: its label, its configuration and the figure printed there
/// (millions).
#[derive(Debug, Clone, Copy)]
pub struct PaperRow {
    pub label: &'static str,
    pub arch: Arch,
    pub paper_millions: f64,
}

impl PaperRow {
    /// Our count as the paper counts: its rows with shared layers include the [CLS] pooler,
    /// its not-shared rows (BERT) leave it out.
    pub fn paper_convention(&self) -> usize {
        let c = self.arch.counts();
        match self.arch.sharing {
            Sharing::None => c.total() - c.pooler,
            _ => c.total(),
        }
    }
}

/// Table 1: the released configurations. (albert-xxlarge uses I = 16384 = 4H.)
pub fn table1() -> Vec<PaperRow> {
    let row = |label, e, h, l, s, m| PaperRow {
        label,
        arch: Arch::paper(e, h, l, s),
        paper_millions: m,
    };
    vec![
        row("BERT base", 768, 768, 12, Sharing::None, 108.0),
        row("BERT large", 1024, 1024, 24, Sharing::None, 334.0),
        row("ALBERT base", 128, 768, 12, Sharing::All, 12.0),
        row("ALBERT large", 128, 1024, 24, Sharing::All, 18.0),
        row("ALBERT xlarge", 128, 2048, 24, Sharing::All, 60.0),
        row("ALBERT xxlarge", 128, 4096, 12, Sharing::All, 235.0),
    ]
}

/// Table 3: ALBERT-base's embedding size E, not shared and all shared.
pub fn table3() -> Vec<PaperRow> {
    let mut rows = Vec::new();
    for (s, figures) in [
        (Sharing::None, [87.0, 89.0, 93.0, 108.0]),
        (Sharing::All, [10.0, 12.0, 16.0, 31.0]),
    ] {
        for (e, m) in [64, 128, 256, 768].into_iter().zip(figures) {
            rows.push(PaperRow {
                label: if s == Sharing::None {
                    "ALBERT base, not shared"
                } else {
                    "ALBERT base, all shared"
                },
                arch: Arch::paper(e, 768, 12, s),
                paper_millions: m,
            });
        }
    }
    rows
}

/// Table 4: ALBERT-base with E = 768 and E = 128 under each sharing strategy.
pub fn table4() -> Vec<PaperRow> {
    let mut rows = Vec::new();
    for (e, figures) in [
        (768, [31.0, 83.0, 57.0, 108.0]),
        (128, [12.0, 64.0, 38.0, 89.0]),
    ] {
        for (s, m) in Sharing::ALL.into_iter().zip(figures) {
            rows.push(PaperRow {
                label: if e == 768 {
                    "ALBERT base, E = 768"
                } else {
                    "ALBERT base, E = 128"
                },
                arch: Arch::paper(e, 768, 12, s),
                paper_millions: m,
            });
        }
    }
    rows
}

/// Why a figure printed in the paper can differ from the count: shown under the calculator.
pub const PAPER_NOTE: &str = "Counts are HF transformers' (embeddings, projection, encoder and the H x H [CLS] pooler; no pre-training heads), with V = 30,000, 512 positions and I = 4H. The paper rounds them to the million, counting the pooler in its shared rows and not in its not-shared rows (BERT base: 108.5M without, 109.1M with). Two rows differ and the paper does not say why: ALBERT-xlarge (58.7M here and in HF, 60M printed) and ALBERT-xxlarge (222.6M here and in HF's albert-xxlarge-v2, 235M printed).";

/// The parameters a loaded checkpoint actually holds, by part (from the tensors, not the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub word_embeddings: usize,
    pub other_embeddings: usize,
    pub projection: usize,
    pub encoder: usize,
    /// distinct layers stored (1 for a fully shared ALBERT)
    pub stored_layers: usize,
    /// layers applied in a forward pass
    pub applied_layers: usize,
    /// the masked-LM head's own parameters (a tied decoder counts with the word embeddings)
    pub mlm_head: usize,
    /// a fine-tuned task head's parameters (pooler and classifier, or qa_outputs)
    pub task_head: usize,
}

impl Loaded {
    pub fn of(cfg: &ModelConfig, w: &ModelWeights) -> Self {
        let n = |t: &candle_core::Tensor| t.elem_count();
        // the biases the checkpoint stores (ModernBERT's are zeros where its config turns
        // them off: not parameters)
        let m = cfg.modern.as_ref();
        let (attn_b, mlp_b, norm_b, head_b, dec_b) =
            m.map_or((true, true, true, true, true), |m| {
                (
                    m.attention_bias,
                    m.mlp_bias,
                    m.norm_bias,
                    m.classifier_bias,
                    m.decoder_bias,
                )
            });
        let with = |b: &candle_core::Tensor, stored: bool| if stored { n(b) } else { 0 };
        let lin = |l: &crate::model::Linear, b: bool| n(&l.w) + with(&l.b, b);
        let ln = |l: &crate::model::LayerNormWeights| n(&l.w) + with(&l.b, norm_b);
        let e = &w.embeddings;
        let layers: Vec<&crate::model::EncoderLayer> = w.groups.iter().flatten().collect();
        let encoder = layers
            .iter()
            .map(|l| {
                lin(&l.qkv, attn_b)
                    + lin(&l.attn_out, attn_b)
                    + l.attn_ln.as_ref().map_or(0, ln)
                    + lin(&l.ffn, mlp_b)
                    + lin(&l.ffn_out, mlp_b)
                    + ln(&l.out_ln)
            })
            .sum::<usize>()
            + w.final_norm.as_ref().map_or(0, ln)
            + w.relative
                .as_ref()
                .map_or(0, |r| n(&r.table) + r.norm.as_ref().map_or(0, ln));
        Loaded {
            word_embeddings: n(&e.word),
            // as stored: every position row (RoBERTa's first ones are never used) and no type
            // table where the family has none
            other_embeddings: (cfg.stored_position_rows() + cfg.stored_type_rows())
                * cfg.embedding_size
                + ln(&e.ln),
            projection: e.projection.as_ref().map_or(0, |p| lin(p, true)),
            encoder,
            stored_layers: layers.len(),
            applied_layers: cfg.num_attention_maps(),
            mlm_head: w.mlm.as_ref().map_or(0, |m| {
                lin(&m.dense, head_b)
                    + ln(&m.ln)
                    + with(&m.bias, dec_b)
                    + if m.tied { 0 } else { n(&m.decoder) }
            }),
            task_head: w.task.as_ref().map_or(0, |t| {
                t.pooler.as_ref().map_or(0, |p| lin(p, head_b))
                    + t.norm.as_ref().map_or(0, ln)
                    + lin(&t.out, true)
            }),
        }
    }

    /// Embeddings, projection and encoder (no pooler, no heads).
    pub fn backbone(&self) -> usize {
        self.word_embeddings + self.other_embeddings + self.projection + self.encoder
    }
}
