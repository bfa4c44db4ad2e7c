//! Many texts in one GPU pass: padded to one length, each masked by its own key mask, run as a
//! batch of sequences by one plan, then split back into one trace per text — each equal to
//! the text's own run (the padding keys' probabilities are exact zeros).

use super::GpuBackend;
use crate::backend::Backend;
use crate::error::Result;
use crate::model::{Ablation, EncodedInput, ModelConfig, ModelWeights, Trace};

/// The most sequences one batched pass holds.
const MAX_BATCH: usize = 64;
/// A batch's attention maps are at most this many bytes (on the device, and again in the
/// readback buffer).
const MAX_BATCH_MAP_BYTES: u64 = 256 << 20;
/// Batch lengths round up to a multiple of this, so that one plan serves many batches.
const LENGTH_STEP: usize = 16;

/// Whether `cfg`'s family runs batched on the GPU: absolute positions (no rotary or
/// relative terms) and the matmul attention (head and hidden sizes multiples of 4).
pub(super) fn batchable(cfg: &ModelConfig) -> bool {
    cfg.modern.is_none()
        && cfg.relative.is_none()
        && cfg.head_dim().is_multiple_of(4)
        && cfg.hidden_size.is_multiple_of(4)
}

/// The padded length and the number of sequences of a batched pass over texts of at most
/// `longest` tokens: the length rounded up to [`LENGTH_STEP`] (never past the model's
/// positions unless the text is), as many sequences as the map budget and `max_binding`
/// floats per map allow.
pub(super) fn batch_shape(cfg: &ModelConfig, longest: usize, max_binding: u64) -> (usize, usize) {
    let n = longest
        .div_ceil(LENGTH_STEP)
        .saturating_mul(LENGTH_STEP)
        .min(cfg.max_len().max(longest))
        .max(1);
    let per_map = (cfg.num_attention_heads * n * n) as u64;
    let per_text = 4 * per_map * cfg.num_attention_maps().max(1) as u64;
    let by_budget = MAX_BATCH_MAP_BYTES / per_text.max(1);
    let by_binding = max_binding / per_map.max(1);
    let b = by_budget.min(by_binding).clamp(1, MAX_BATCH as u64) as usize;
    (n, b)
}

/// A batched pass's shape: texts padded to `n` tokens, `b` of them at a time, the last batch
/// filled up with `filler` (one token, its results dropped).
struct Batches {
    n: usize,
    b: usize,
    filler: EncodedInput,
}

impl Batches {
    /// The shape of a batched pass over `inputs` (checked, at least one), with `bound_maps`
    /// maps in one binding at once.
    fn of(
        gpu: &GpuBackend,
        cfg: &ModelConfig,
        (inputs, bound_maps): (&[EncodedInput], u64),
    ) -> Result<Self> {
        for input in inputs {
            gpu.validate_input(cfg, input)?;
        }
        let first = inputs.first().ok_or(crate::LensError::EmptyInput)?;
        let longest = inputs.iter().map(EncodedInput::len).max().unwrap_or(0);
        let max_binding = gpu.ctx.device.limits().max_storage_buffer_binding_size / 4;
        let (n, b) = batch_shape(cfg, longest, max_binding / bound_maps.max(1));
        Ok(Batches {
            n,
            b,
            filler: one_token(first),
        })
    }

    /// `chunk` (at most `b` texts) filled up to `b` sequences.
    fn fill<'a>(&'a self, chunk: &'a [EncodedInput]) -> Vec<&'a EncodedInput> {
        let mut batch: Vec<&EncodedInput> = chunk.iter().collect();
        batch.resize(self.b, &self.filler);
        batch
    }
}

impl GpuBackend {
    /// [`Backend::forward_batch`] on the GPU: the texts in batches of one padded shape (one
    /// plan), the last batch filled up with one-token texts whose results are dropped.
    pub(super) fn run_batch(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        inputs: &[EncodedInput],
    ) -> Result<Vec<Trace>> {
        let one_by_one = |gpu: &mut Self| -> Result<Vec<Trace>> {
            inputs
                .iter()
                .map(|i| gpu.forward(cfg, weights, i))
                .collect()
        };
        if inputs.len() < 2 || !batchable(cfg) {
            return one_by_one(self);
        }
        let bt = Batches::of(self, cfg, (inputs, 1))?;
        if bt.b < 2 {
            return one_by_one(self);
        }
        let i = self.prepare(cfg, weights, (bt.n, bt.b))?;
        let shape = Shape {
            n: bt.n,
            hidden: cfg.hidden_size,
            heads: cfg.num_attention_heads,
        };
        let mut traces = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(bt.b) {
            let out = self.plans[i].run(
                &self.ctx,
                &self.kernels,
                &bt.fill(chunk),
                true,
                &mut self.spare,
                (&[], &Ablation::default()),
            )?;
            self.maps_read += 1;
            let (hidden, maps) = out.data.ok_or_else(|| {
                crate::LensError::Gpu("the GPU returned no data for a batch".into())
            })?;
            for (s, input) in chunk.iter().enumerate() {
                let (h, a) = shape.split(s, input.len(), (&hidden, &maps), &mut self.spare);
                traces.push(Trace::from_forward(cfg, input, h, a));
            }
            let used = hidden.into_iter().chain(maps);
            crate::backend::keep_spare(&mut self.spare, used, super::MAX_SPARE_FLOATS);
        }
        Ok(traces)
    }

    /// [`Backend::batch_statistics`] on the GPU: the texts in padded batches of one plan,
    /// each batch's statistics reduced on the device (`plan/stats.rs`) and added up here; None
    /// for the families that do not run batched. Every map is bound at once (the head JS
    /// divergences read them all).
    pub(super) fn statistics_batch(
        &mut self,
        cfg: &ModelConfig,
        weights: &ModelWeights,
        inputs: &[EncodedInput],
        classes: &[Vec<u8>],
    ) -> Result<Option<crate::backend::BatchSums>> {
        if !batchable(cfg) || inputs.is_empty() || classes.len() != inputs.len() {
            return Ok(None);
        }
        let all_maps = cfg.num_attention_maps() as u64;
        let bt = Batches::of(self, cfg, (inputs, all_maps))?;
        let i = self.prepare(cfg, weights, (bt.n, bt.b))?;
        let model = super::on_device(&self.models, weights.id)?;
        let k = cfg.num_attention_maps() * cfg.num_attention_heads;
        let mut total = crate::backend::BatchSums::zeros(9, k);
        for (chunk, cls) in inputs.chunks(bt.b).zip(classes.chunks(bt.b)) {
            let texts = (&bt.fill(chunk)[..], chunk.len());
            let m = (cfg, model);
            let part = self.plans[i].statistics(&self.ctx, &self.kernels, m, texts, cls)?;
            total.add(&part);
        }
        Ok(Some(total))
    }
}

/// The first token of `input` alone: what fills a batch's unused sequences.
fn one_token(input: &EncodedInput) -> EncodedInput {
    let mut one = input.clone();
    let keep = |v: &mut Vec<u32>| v.truncate(1);
    keep(&mut one.ids);
    keep(&mut one.type_ids);
    one.tokens.truncate(1);
    one.special.truncate(1);
    one.word_ids.truncate(1);
    one
}

/// The layout of a batch's results: sequences of `n` rows of `hidden` floats, maps
/// `[B, heads, n, n]`.
struct Shape {
    n: usize,
    hidden: usize,
    heads: usize,
}

impl Shape {
    /// Sequence `s`'s first `len` tokens out of the batch's hidden states and maps.
    fn split(
        &self,
        s: usize,
        len: usize,
        (hidden, maps): (&[Vec<f32>], &[Vec<f32>]),
        spare: &mut Vec<Vec<f32>>,
    ) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        let (n, h, heads) = (self.n, self.hidden, self.heads);
        let states = hidden
            .iter()
            .map(|all| {
                let mut v = crate::backend::take_spare(spare, len * h);
                v.clear();
                v.extend_from_slice(&all[s * n * h..(s * n + len) * h]);
                v
            })
            .collect();
        let attentions = maps
            .iter()
            .map(|all| {
                let mut v = crate::backend::take_spare(spare, heads * len * len);
                v.clear();
                for head in 0..heads {
                    for q in 0..len {
                        let row = ((s * heads + head) * n + q) * n;
                        v.extend_from_slice(&all[row..row + len]);
                    }
                }
                v
            })
            .collect();
        (states, attentions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch's length rounds up to the step but never past the model's positions, and its
    /// size keeps the maps within the budget and one map within a binding.
    #[test]
    fn batch_shape_rounds_the_length_and_bounds_the_maps() {
        let cfg = crate::model::ModelConfig::from_json_bytes(
            br#"{"model_type":"albert","hidden_size":32,"num_attention_heads":4,
                "num_hidden_layers":2,"max_position_embeddings":72}"#,
            std::path::Path::new("config.json"),
        )
        .unwrap();
        let (n, b) = batch_shape(&cfg, 17, u64::MAX);
        assert_eq!(n, 32);
        assert_eq!(b, MAX_BATCH);
        // 70 would round to 80, past the 72 positions
        assert_eq!(batch_shape(&cfg, 70, u64::MAX).0, 72);
        let per_map = (cfg.num_attention_heads * 32 * 32) as u64;
        assert_eq!(batch_shape(&cfg, 17, 3 * per_map).1, 3);
        let per_text = 4 * per_map * cfg.num_attention_maps() as u64;
        assert!(MAX_BATCH_MAP_BYTES / per_text >= 1);
    }

    /// Splitting takes each sequence's own rows and its own top-left block of every map.
    #[test]
    fn split_takes_each_sequences_rows_and_map_block() {
        let shape = Shape {
            n: 3,
            hidden: 2,
            heads: 2,
        };
        let hidden: Vec<f32> = (0..2 * 3 * 2).map(|x| x as f32).collect();
        let maps: Vec<f32> = (0..2 * 2 * 3 * 3).map(|x| x as f32).collect();
        let (h, a) = shape.split(1, 2, (&[hidden], &[maps]), &mut Vec::new());
        assert_eq!(h[0], vec![6.0, 7.0, 8.0, 9.0]);
        // sequence 1, head 0 starts at 18, head 1 at 27; rows of 3, the first 2 of 2 rows
        assert_eq!(a[0], vec![18.0, 19.0, 21.0, 22.0, 27.0, 28.0, 30.0, 31.0]);
    }
}
