//! The intermediates of a forward pass that the Explain tab steps through and
//! `trace --internals` writes, with their exact definitions (all F32, row-major, one unpadded
//! sequence of N tokens; `j` indexes attention maps as `attentions.{j}` does, so with ALBERT's
//! sharing it counts applications of a layer, not stored layers):
//!
//! | name | shape | definition |
//! |---|---|---|
//! | `embeddings.word` | `[N, E]` | the word-embedding rows of the input ids |
//! | `embeddings.output` | `[N, E]` | LayerNorm(word + position + token type): the embedding module's output (ALBERT: before the E→H projection; BERT: equal to `hidden_states.0`) |
//! | `queries.{j}`, `keys.{j}`, `values.{j}` | `[heads, N, d]` | x·W + b of the query / key / value projection, split into heads (d = H / heads) |
//! | `scores.{j}` | `[heads, N, N]` | q·kᵀ/√d before the softmax (no mask: one unpadded sequence) |
//! | `context.{j}` | `[N, H]` | Σₖ αᵢₖ vₖ per head, heads concatenated: the input of the attention's output dense |
//! | `attention_output.{j}` | `[N, H]` | LayerNorm(x + dense(context)): the input of the feed-forward |
//! | `intermediate.{j}` | `[N, I]` | act(attention_output·W₁ + b₁): the input of the feed-forward's output dense |
//!
//! These are the tensors transformers' own modules produce (checked against forward hooks by
//! tests/internals.rs).

/// Which attention maps' intermediates a forward pass keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Capture {
    /// none: the plain forward pass
    #[default]
    Nothing,
    /// every map's (what `trace --internals` writes)
    All,
    /// only these maps' (what the Explain tab asks for: the layer on screen); the embeddings
    /// are always kept
    Maps(Vec<usize>),
}

impl Capture {
    pub fn any(&self) -> bool {
        !matches!(self, Capture::Nothing)
    }

    /// Whether map `j`'s intermediates are kept.
    pub fn wants(&self, j: usize) -> bool {
        match self {
            Capture::Nothing => false,
            Capture::All => true,
            Capture::Maps(m) => m.contains(&j),
        }
    }
}

/// One attention map's intermediates (see the module table).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MapInternals {
    pub queries: Vec<f32>,
    pub keys: Vec<f32>,
    pub values: Vec<f32>,
    pub scores: Vec<f32>,
    pub context: Vec<f32>,
    pub attention_output: Vec<f32>,
    pub intermediate: Vec<f32>,
}

/// The intermediates of one forward pass (see the module table).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Internals {
    pub embedding_size: usize,
    pub intermediate_size: usize,
    /// `embeddings.word` `[N, E]`
    pub word: Vec<f32>,
    /// `embeddings.output` `[N, E]`
    pub embedded: Vec<f32>,
    /// one entry per attention map; `None` where the capture did not ask for it
    pub maps: Vec<Option<MapInternals>>,
}

/// The tensor names of one map's intermediates, in the order of [`MapInternals::tensors`].
pub const MAP_TENSORS: [&str; 7] = [
    "queries",
    "keys",
    "values",
    "scores",
    "context",
    "attention_output",
    "intermediate",
];

impl MapInternals {
    /// The seven tensors in [`MAP_TENSORS`] order.
    pub fn tensors(&self) -> [&Vec<f32>; 7] {
        [
            &self.queries,
            &self.keys,
            &self.values,
            &self.scores,
            &self.context,
            &self.attention_output,
            &self.intermediate,
        ]
    }

    pub fn tensors_mut(&mut self) -> [&mut Vec<f32>; 7] {
        [
            &mut self.queries,
            &mut self.keys,
            &mut self.values,
            &mut self.scores,
            &mut self.context,
            &mut self.attention_output,
            &mut self.intermediate,
        ]
    }

    /// Shapes of the seven tensors for N tokens, in [`MAP_TENSORS`] order.
    pub fn shapes(n: usize, hidden: usize, heads: usize, inter: usize) -> [Vec<usize>; 7] {
        let d = hidden / heads.max(1);
        [
            vec![heads, n, d],
            vec![heads, n, d],
            vec![heads, n, d],
            vec![heads, n, n],
            vec![n, hidden],
            vec![n, hidden],
            vec![n, inter],
        ]
    }

    /// Queries, keys and values from the fused projection `qkv` `[N, 3H]` (bias included,
    /// columns q | k | v), split into heads `[heads, N, d]`.
    pub fn split_qkv(qkv: &[f32], n: usize, heads: usize, d: usize) -> [Vec<f32>; 3] {
        let h = heads * d;
        std::array::from_fn(|part| {
            let mut out = vec![0f32; heads * n * d];
            for hd in 0..heads {
                for t in 0..n {
                    let src = &qkv[t * 3 * h + part * h + hd * d..][..d];
                    out[(hd * n + t) * d..][..d].copy_from_slice(src);
                }
            }
            out
        })
    }

    /// q·kᵀ·scale per head from `[heads, N, d]` queries and keys (for a backend whose fused
    /// kernel never stores the scores).
    pub fn scores_of(q: &[f32], k: &[f32], n: usize, heads: usize, d: usize) -> Vec<f32> {
        let scale = 1.0 / (d as f32).sqrt();
        let mut s = vec![0f32; heads * n * n];
        for hd in 0..heads {
            for i in 0..n {
                let qi = &q[(hd * n + i) * d..][..d];
                for j in 0..n {
                    let kj = &k[(hd * n + j) * d..][..d];
                    let dot: f32 = qi.iter().zip(kj).map(|(a, b)| a * b).sum();
                    s[(hd * n + i) * n + j] = dot * scale;
                }
            }
        }
        s
    }
}

impl Internals {
    /// Map `j`'s intermediates, if they were captured.
    pub fn map(&self, j: usize) -> Option<&MapInternals> {
        self.maps.get(j).and_then(Option::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_qkv_puts_each_head_s_columns_in_its_own_block() {
        // N = 2, heads = 2, d = 1: columns q0 q1 | k0 k1 | v0 v1
        let qkv = [1., 2., 3., 4., 5., 6., 11., 12., 13., 14., 15., 16.];
        let [q, k, v] = MapInternals::split_qkv(&qkv, 2, 2, 1);
        assert_eq!(q, vec![1., 11., 2., 12.]);
        assert_eq!(k, vec![3., 13., 4., 14.]);
        assert_eq!(v, vec![5., 15., 6., 16.]);
    }

    #[test]
    fn ablation_parses_one_based_layer_head_pairs() {
        let a = Ablation::parse("3:2, 1:1,3:2").unwrap();
        assert_eq!(a.0, vec![(0, 0), (2, 1)]);
        assert_eq!(a.label(), "1:1,3:2");
        assert!(a.off(2, 1) && !a.off(1, 2));
        assert!(Ablation::parse("0:1").unwrap_err().contains("count from 1"));
        assert!(Ablation::parse("2").unwrap_err().contains("LAYER:HEAD"));
        assert!(a.check(2, 4).unwrap_err().contains("layer 3 head 2"));
    }

    #[test]
    fn capture_names_the_maps_it_keeps() {
        assert!(!Capture::Nothing.wants(0));
        assert!(Capture::All.wants(7));
        assert!(Capture::Maps(vec![2]).wants(2) && !Capture::Maps(vec![2]).wants(1));
    }
}

/// Heads switched off: each (map, head), 0-based, has its attention probabilities set to 0
/// after the softmax, without renormalising, at that map only (what transformers' former
/// `head_mask` did); every later hidden state follows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Ablation(pub Vec<(usize, usize)>);

impl Ablation {
    /// Parses `L:H[,L:H…]` (1-based layer application and head), as `--ablate` takes it.
    pub fn parse(s: &str) -> Result<Ablation, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (l, h) = part
                .split_once(':')
                .ok_or_else(|| format!("{part:?} is not LAYER:HEAD (e.g. 3:2)"))?;
            let num = |v: &str| -> Result<usize, String> {
                match v.trim().parse::<usize>() {
                    Ok(n) if n >= 1 => Ok(n - 1),
                    _ => Err(format!(
                        "{part:?}: layers and heads count from 1, not {v:?}"
                    )),
                }
            };
            out.push((num(l)?, num(h)?));
        }
        out.sort_unstable();
        out.dedup();
        Ok(Ablation(out))
    }

    /// Whether head `h` of map `j` is switched off.
    pub fn off(&self, j: usize, h: usize) -> bool {
        self.0.contains(&(j, h))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks the heads against a model's maps and heads.
    pub fn check(&self, maps: usize, heads: usize) -> Result<(), String> {
        match self.0.iter().find(|&&(j, h)| j >= maps || h >= heads) {
            Some(&(j, h)) => Err(format!(
                "cannot switch off layer {} head {}: the model has {maps} layers of {heads} heads",
                j + 1,
                h + 1
            )),
            None => Ok(()),
        }
    }

    /// `L:H,…` (1-based), as parsed.
    pub fn label(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(j, h)| format!("{}:{}", j + 1, h + 1))
            .collect();
        parts.join(",")
    }
}

/// What a forward pass does besides the plain run: the intermediates it keeps and the heads it
/// switches off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardOptions {
    pub capture: Capture,
    pub ablate: Ablation,
}

impl ForwardOptions {
    pub fn capture(capture: Capture) -> Self {
        ForwardOptions {
            capture,
            ablate: Ablation::default(),
        }
    }
}

/// What the user changed before a run: heads switched off, and token positions replaced by the
/// mask token (exBERT's "mask and re-run": the ids change, the positions stay).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Intervention {
    pub ablate: Ablation,
    /// sorted token positions shown as [MASK]
    pub masked: Vec<usize>,
}

impl Intervention {
    pub fn is_empty(&self) -> bool {
        self.ablate.is_empty() && self.masked.is_empty()
    }

    /// Masks position `i` if it is not, unmasks it if it is.
    pub fn toggle_mask(&mut self, i: usize) {
        match self.masked.binary_search(&i) {
            Ok(k) => {
                self.masked.remove(k);
            }
            Err(k) => self.masked.insert(k, i),
        }
    }

    /// Switches head `h` of map `j` off, or back on.
    pub fn toggle_head(&mut self, j: usize, h: usize) {
        let heads = &mut self.ablate.0;
        match heads.binary_search(&(j, h)) {
            Ok(k) => {
                heads.remove(k);
            }
            Err(k) => heads.insert(k, (j, h)),
        }
    }

    /// Replaces the masked positions of `input` (ordinary tokens only) by `mask` (id, token).
    pub fn apply_masks(&self, input: &mut crate::model::EncodedInput, (id, token): (u32, &str)) {
        for &i in &self.masked {
            if i < input.len() && !input.special[i] {
                input.ids[i] = id;
                input.tokens[i] = token.to_string();
            }
        }
    }
}
