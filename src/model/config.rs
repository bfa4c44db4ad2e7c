//! The Hugging Face `config.json` of an encoder of one of the families in [`super::family`], with
//! its config class's defaults for absent fields.

use super::family::deberta::RelativeLayout;
use super::family::modernbert::ModernLayout;
use super::family::{EmbeddingWidth, Family, Layout, Positions, TokenTypes};
use crate::error::{LensError, Result};
use serde::Deserialize;
use std::path::Path;

pub use super::activation::{erf, Activation};

/// A model's family (its [`Family`] data); two are equal when their names are.
#[derive(Clone, Copy)]
pub struct ModelType(pub &'static Family);

#[allow(non_upper_case_globals)]
impl ModelType {
    pub const Albert: ModelType = ModelType(&super::family::albert::ALBERT);
    pub const Bert: ModelType = ModelType(&super::family::bert::BERT);

    /// config.json's `model_type` ("albert")
    pub fn as_str(self) -> &'static str {
        self.0.name
    }

    pub fn family(self) -> &'static Family {
        self.0
    }
}

impl PartialEq for ModelType {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for ModelType {}

impl std::hash::Hash for ModelType {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.name.hash(state);
    }
}

impl std::fmt::Debug for ModelType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

impl std::fmt::Display for ModelType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Deserialize)]
struct RawConfig {
    vocab_size: Option<usize>,
    embedding_size: Option<usize>,
    hidden_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    intermediate_size: Option<usize>,
    hidden_act: Option<serde_json::Value>,
    layer_norm_eps: Option<f64>,
    max_position_embeddings: Option<usize>,
    type_vocab_size: Option<usize>,
    num_hidden_groups: Option<usize>,
    inner_group_num: Option<usize>,
    position_embedding_type: Option<String>,
    architectures: Option<serde_json::Value>,
    id2label: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    num_labels: Option<usize>,
    problem_type: Option<String>,
    pad_token_id: Option<serde_json::Value>,
}

/// A validated model configuration. For BERT, `embedding_size == hidden_size`, one group per
/// layer and `inner_group_num == 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub model_type: ModelType,
    pub vocab_size: usize,
    pub embedding_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: Activation,
    pub hidden_act_name: String,
    pub layer_norm_eps: f64,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub num_hidden_groups: usize,
    pub inner_group_num: usize,
    /// `architectures` as config.json lists them
    pub architectures: Vec<String>,
    /// the fine-tuned head `architectures` names (None: a pretrained or bare encoder)
    pub task: Option<super::task_spec::TaskSpec>,
    /// the first position id (RoBERTa's padding_idx + 1; else 0): the position table's rows
    /// before it are never used, so the longest input is `max_position_embeddings` minus it
    pub position_offset: usize,
    /// ModernBERT's options (rotary bases, local windows, biases, pooling); None for the
    /// post-LN families
    pub modern: Option<ModernLayout>,
    /// DeBERTa's relative attention (its terms, buckets, the table's norm); None elsewhere
    pub relative: Option<RelativeLayout>,
}

/// The largest config.json accepted (no real one comes near it).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// Upper bound on any one dimension: catches configs that would make us allocate terabytes.
const MAX_DIM: usize = 1 << 22;
/// Layer applications per forward pass (num_hidden_layers x inner_group_num).
const MAX_LAYER_RUNS: u128 = 1024;
/// Parameters a model may have: 2^31 (8 GiB as f32; ALBERT-xxlarge has 2.2e8, BERT-large 3.4e8).
const MAX_PARAMETERS: u128 = 1 << 31;
/// Multiply-adds per token through all layer applications: 2^35 (ALBERT-xxlarge: 2.4e9).
const MAX_MACS_PER_TOKEN: u128 = 1 << 35;

impl ModelConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = crate::error::read_file_limited(path, MAX_CONFIG_BYTES)?;
        Self::from_json_bytes(&bytes, path)
    }

    /// Parses `config.json` text; `path` is only used in messages.
    pub fn from_json_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let err = |msg: String| LensError::Config {
            path: path.to_path_buf(),
            msg,
        };
        let mut value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| err(format!("not a valid config.json: {e}")))?;
        let family = family_of(&value, path)?;
        common_names(&mut value, family).map_err(err)?;
        let raw = RawConfig::deserialize(&value)
            .map_err(|e| err(format!("not a valid config.json: {e}")))?;
        let model_type = ModelType(family);
        let d = &family.defaults;
        let hidden_size = raw.hidden_size.unwrap_or(d.hidden_size);
        let embedding_size = if let EmbeddingWidth::Factorized { default, .. } = family.embedding {
            raw.embedding_size.unwrap_or(default)
        } else {
            // BERT has no factorized embedding; a stray embedding_size must agree.
            match raw.embedding_size {
                Some(e) if e != hidden_size => {
                    return Err(err(format!(
                    "a {} config with embedding_size {e} different from hidden_size {hidden_size}",
                    family.title
                )))
                }
                _ => hidden_size,
            }
        };
        let num_hidden_layers = raw.num_hidden_layers.unwrap_or(d.num_hidden_layers);
        let (num_hidden_groups, inner_group_num) = if family.shared_layers {
            (
                raw.num_hidden_groups.unwrap_or(1),
                raw.inner_group_num.unwrap_or(1),
            )
        } else {
            (num_hidden_layers, 1)
        };
        let (hidden_act, act_name) = activation(&raw, d).map_err(err)?;
        let max_position_embeddings =
            raw.max_position_embeddings
                .unwrap_or(match family.positions {
                    Positions::Rotary => 8192,
                    _ => 512,
                });
        let position_offset =
            position_offset(&raw, family, max_position_embeddings).map_err(err)?;
        if let Some(p) = raw.position_embedding_type.as_deref() {
            if p != "absolute" {
                return Err(err(format!(
                    "position_embedding_type {p:?} is not supported; only \"absolute\" is"
                )));
            }
        }
        let (architectures, id2label) = heads_named(&raw);
        let num_attention_heads = raw.num_attention_heads.unwrap_or(d.num_attention_heads);
        // the layouts' own options, from the same resolved sizes as the rest of the config
        let modern = match family.layout {
            Layout::PreNormGlu => {
                Some(ModernLayout::from_config(&value, num_hidden_layers).map_err(err)?)
            }
            Layout::PostNorm => None,
        };
        let relative = match family.positions {
            Positions::Relative => {
                let dims = (hidden_size, num_attention_heads, max_position_embeddings);
                Some(RelativeLayout::from_config(&value, dims).map_err(err)?)
            }
            _ => None,
        };
        let cfg = ModelConfig {
            model_type,
            vocab_size: raw.vocab_size.unwrap_or(d.vocab_size),
            embedding_size,
            hidden_size,
            num_hidden_layers,
            num_attention_heads,
            intermediate_size: raw.intermediate_size.unwrap_or(d.intermediate_size),
            hidden_act,
            hidden_act_name: act_name,
            layer_norm_eps: family
                .fixed_layer_norm_eps
                .unwrap_or(raw.layer_norm_eps.unwrap_or(d.layer_norm_eps)),
            max_position_embeddings,
            type_vocab_size: match family.token_types {
                TokenTypes::Absent => 1,
                _ => raw.type_vocab_size.unwrap_or(d.type_vocab_size),
            },
            position_offset,
            modern,
            relative,
            num_hidden_groups,
            inner_group_num,
            architectures: architectures.clone(),
            task: super::task_spec::TaskSpec::from_config(
                &architectures,
                id2label.as_ref(),
                raw.num_labels,
                raw.problem_type.as_deref(),
            )
            .map_err(err)?,
        };
        cfg.validate().map_err(err)?;
        Ok(cfg)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let dims = [
            ("vocab_size", self.vocab_size),
            ("embedding_size", self.embedding_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
            ("num_hidden_groups", self.num_hidden_groups),
            ("inner_group_num", self.inner_group_num),
        ];
        for (name, v) in dims {
            if v == 0 {
                return Err(format!("{name} is 0"));
            }
            if v > MAX_DIM {
                return Err(format!("{name} = {v} is implausibly large"));
            }
        }
        // The budget of work and memory, from the config alone, before anything is read or run.
        let maps = self.num_hidden_layers as u128 * self.inner_group_num as u128;
        if maps > MAX_LAYER_RUNS {
            return Err(format!(
                "num_hidden_layers {} x inner_group_num {} = {maps} layer applications per pass, more than the {MAX_LAYER_RUNS} albert-lens runs",
                self.num_hidden_layers, self.inner_group_num
            ));
        }
        let values = self.parameter_values();
        if values > MAX_PARAMETERS {
            return Err(format!(
                "these sizes make a model of {values} parameters ({} GiB as f32), more than the {MAX_PARAMETERS} albert-lens can hold",
                (values * 4) >> 30
            ));
        }
        let work = maps * self.layer_macs_per_token();
        if work > MAX_MACS_PER_TOKEN {
            return Err(format!(
                "these sizes take {work} multiply-adds per token ({maps} layer applications), more than the {MAX_MACS_PER_TOKEN} albert-lens allows (ALBERT-xxlarge takes 2.4e9)"
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.num_hidden_groups > self.num_hidden_layers {
            return Err(format!(
                "num_hidden_groups {} exceeds num_hidden_layers {}",
                self.num_hidden_groups, self.num_hidden_layers
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps >= 0.0) {
            return Err(format!(
                "layer_norm_eps {} is not valid",
                self.layer_norm_eps
            ));
        }
        Ok(())
    }

    /// The parameters the config implies (embeddings, the stored layers, the pooler and an MLM
    /// head with its own decoder), computed before any weight is read.
    pub fn parameter_values(&self) -> u128 {
        let (v, e, h, i) = (
            self.vocab_size as u128,
            self.embedding_size as u128,
            self.hidden_size as u128,
            self.intermediate_size as u128,
        );
        let positions = (self.stored_position_rows() + self.stored_type_rows()) as u128;
        let embeddings = (v + positions) * e + 2 * e;
        let projection = if self.has_projection() { e * h + h } else { 0 };
        // ModernBERT's GeGLU input layer is H -> 2I
        let glu = if self.modern.is_some() { h * i + i } else { 0 };
        let layer = 4 * (h * h + h) + 2 * h + (h * i + i) + glu + (i * h + h) + 2 * h;
        let stored = self.stored_layers() as u128;
        let pooler = h * h + h;
        let mlm = h * e + e + 2 * e + e * v + v;
        embeddings + projection + stored * layer + pooler + mlm
    }

    /// How many f32 values a checkpoint of this model may expand to when read: twice what the
    /// config implies (tied weights stored twice, task heads) plus 4M. A file that holds more is
    /// not this model's weights, and is refused before it is allocated.
    pub fn value_budget(&self) -> u64 {
        let v = 2 * self.parameter_values() + (1 << 22);
        u64::try_from(v).unwrap_or(u64::MAX)
    }

    /// Multiply-adds of one layer application per token (ignoring the N-dependent attention).
    fn layer_macs_per_token(&self) -> u128 {
        let (h, i) = (self.hidden_size as u128, self.intermediate_size as u128);
        let ffn = if self.modern.is_some() { 3 } else { 2 };
        4 * h * h + ffn * h * i
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The layer group that outer layer `i` runs, exactly as HF's AlbertTransformer computes it:
    /// `int(i / (num_hidden_layers / num_hidden_groups))` with float division.
    pub fn group_of_layer(&self, i: usize) -> usize {
        if !self.model_type.0.shared_layers {
            return i;
        }
        let per = self.num_hidden_layers as f64 / self.num_hidden_groups as f64;
        ((i as f64 / per) as usize).min(self.num_hidden_groups - 1)
    }

    /// How many layers' weights the checkpoint stores: one per group and inner layer when
    /// layers are shared, else one per layer.
    pub fn stored_layers(&self) -> usize {
        if self.model_type.0.shared_layers {
            self.num_hidden_groups * self.inner_group_num
        } else {
            self.num_hidden_layers
        }
    }

    /// How many attention maps a forward pass produces (HF's `output_attentions` length).
    pub fn num_attention_maps(&self) -> usize {
        self.num_hidden_layers * self.inner_group_num
    }

    /// Whether the embedding has an E -> H projection (ALBERT always; ELECTRA when E != H).
    pub fn has_projection(&self) -> bool {
        match self.model_type.0.embedding {
            EmbeddingWidth::Hidden => false,
            EmbeddingWidth::Factorized { always, .. } => {
                always || self.embedding_size != self.hidden_size
            }
        }
    }

    /// The token type ids the model is fed for an input's segments: the segments where the
    /// family feeds type ids, else zeros (RoBERTa, XLM-R and DistilBERT take none).
    pub fn fed_type_ids<'a>(&self, segments: &'a [u32]) -> std::borrow::Cow<'a, [u32]> {
        fed_type_ids(self.model_type.0.token_types, segments)
    }

    /// The masked-LM head's activation: the family's fixed one (RoBERTa's and the ELECTRA
    /// generator's GELU) or `hidden_act`.
    pub fn mlm_activation(&self) -> Activation {
        if let Some(m) = &self.modern {
            return m.head_act;
        }
        self.model_type
            .0
            .mlm
            .activation
            .and_then(Activation::from_hf_name)
            .unwrap_or(self.hidden_act)
    }

    /// Each token's row of the position table, as transformers computes it: 0, 1, 2, … — or,
    /// where positions start after the padding index (RoBERTa, XLM-R), padding_idx + the count
    /// of non-padding tokens so far, and padding_idx itself for a padding token.
    pub fn position_ids(&self, ids: &[u32]) -> Vec<u32> {
        position_ids(self.position_offset, ids)
    }

    /// The longest input in tokens: the position table's rows from the first position id.
    pub fn max_len(&self) -> usize {
        self.max_position_embeddings - self.position_offset
    }

    /// The position table's rows stored in the checkpoint (none with rotary positions).
    pub fn stored_position_rows(&self) -> usize {
        match self.model_type.0.positions {
            Positions::Rotary | Positions::Relative => 0,
            _ => self.max_position_embeddings,
        }
    }

    /// The token type table's rows stored in the checkpoint (none for DistilBERT).
    pub fn stored_type_rows(&self) -> usize {
        match self.model_type.0.token_types {
            TokenTypes::Absent => 0,
            _ => self.type_vocab_size,
        }
    }
}

/// The family `config.json` names in `model_type`.
fn family_of(value: &serde_json::Value, path: &Path) -> Result<&'static Family> {
    let err = |msg: &str| LensError::Config {
        path: path.to_path_buf(),
        msg: msg.into(),
    };
    match value.get("model_type").map(|t| t.as_str()) {
        Some(Some(name)) => Family::by_name(name).ok_or_else(|| LensError::UnknownModelType {
            path: path.to_path_buf(),
            found: name.to_string(),
            supported: super::family::supported_names(),
        }),
        Some(None) => Err(err("config.json's \"model_type\" is not a name")),
        None => Err(err("config.json has no \"model_type\" field")),
    }
}

/// The family's own spellings (DistilBERT's `dim`) as the common names; where both are
/// written they must agree.
fn common_names(value: &mut serde_json::Value, family: &Family) -> std::result::Result<(), String> {
    let Some(obj) = value.as_object_mut() else {
        return Ok(());
    };
    for (own, common) in family.config_aliases {
        if let Some(v) = obj.remove(*own) {
            match obj.get(*common) {
                Some(c) if *c != v => {
                    return Err(format!("{own} ({v}) and {common} ({c}) disagree"))
                }
                _ => {
                    obj.insert(common.to_string(), v);
                }
            }
        }
    }
    Ok(())
}

/// The activation `hidden_act` names (the family's default where there is none), and the name.
fn activation(
    raw: &RawConfig,
    d: &super::family::ConfigDefaults,
) -> std::result::Result<(Activation, String), String> {
    let name = match &raw.hidden_act {
        None => d.hidden_act.to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("hidden_act {other} is not a name")),
    };
    let act = Activation::from_hf_name(&name).ok_or_else(|| {
        format!(
            "hidden_act {name:?} is not supported (supported: gelu, gelu_new, gelu_fast, gelu_pytorch_tanh, gelu_accurate, quick_gelu, relu, relu6, silu, swish, mish, tanh, sigmoid, linear)"
        )
    })?;
    Ok((act, name))
}

/// The first position id: padding_idx + 1 where positions start after the padding row
/// (RoBERTa), else 0.
fn position_offset(
    raw: &RawConfig,
    family: &Family,
    max_positions: usize,
) -> std::result::Result<usize, String> {
    match family.positions {
        Positions::FromZero | Positions::Rotary | Positions::Relative => Ok(0),
        Positions::AfterPadding => {
            let pad = match &raw.pad_token_id {
                None | Some(serde_json::Value::Null) => family.defaults.pad_token_id,
                Some(v) => v
                    .as_u64()
                    .and_then(|p| usize::try_from(p).ok())
                    .ok_or_else(|| format!("pad_token_id {v} is not a token id"))?,
            };
            if pad.saturating_add(1) >= max_positions {
                return Err(format!(
                    "pad_token_id {pad} leaves no position: {} positions start after it",
                    family.title
                ));
            }
            Ok(pad + 1)
        }
    }
}

/// `architectures` (a list of class names; a lone string is taken as one) and `id2label` (label
/// names are strings; a number or other value is written as JSON).
type Labels = Option<std::collections::BTreeMap<String, String>>;
fn heads_named(raw: &RawConfig) -> (Vec<String>, Labels) {
    let architectures = match &raw.architectures {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let id2label = raw.id2label.as_ref().map(|m| {
        m.iter()
            .map(|(k, v)| {
                let name = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), name)
            })
            .collect()
    });
    (architectures, id2label)
}

/// [`ModelConfig::fed_type_ids`] for a family's [`TokenTypes`].
pub fn fed_type_ids(types: TokenTypes, segments: &[u32]) -> std::borrow::Cow<'_, [u32]> {
    match types {
        TokenTypes::Fed => std::borrow::Cow::Borrowed(segments),
        _ => std::borrow::Cow::Owned(vec![0; segments.len()]),
    }
}

/// [`ModelConfig::position_ids`] for a first position id `offset` (0: positions from 0).
pub fn position_ids(offset: usize, ids: &[u32]) -> Vec<u32> {
    if offset == 0 {
        return (0..ids.len() as u32).collect();
    }
    let pad = (offset - 1) as u32;
    let mut seen = 0;
    ids.iter()
        .map(|&id| {
            if id == pad {
                pad
            } else {
                seen += 1;
                pad + seen
            }
        })
        .collect()
}

/// Largest repetition count the what-if accepts (each is a full forward pass).
pub const MAX_REPEATS: usize = 96;

/// Whether `reps` is a repetition count the what-if accepts (1 to [`MAX_REPEATS`]).
pub fn check_repeats(reps: usize) -> Result<()> {
    if reps == 0 || reps > MAX_REPEATS {
        return Err(LensError::Analysis(format!(
            "{reps} repetitions: give 1 to {MAX_REPEATS}"
        )));
    }
    Ok(())
}

/// The unshare what-if: `cfg` with its shared layer group applied `reps` times. Only an ALBERT
/// (shared layers) can be repeated.
pub fn repeated_config(cfg: &ModelConfig, reps: usize) -> Result<ModelConfig> {
    if !cfg.model_type.0.shared_layers {
        return Err(LensError::Analysis(format!(
            "the what-if repeats a shared layer, so it needs an ALBERT; this model is {}",
            cfg.model_type.family().with_article()
        )));
    }
    check_repeats(reps)?;
    Ok(ModelConfig {
        num_hidden_layers: reps,
        ..cfg.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        // values from tables of erf, to 1e-12
        let cases = [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.0, 0.999_977_909_503_001_4),
            (-1.5, -0.966_105_146_475_310_7),
        ];
        for (x, want) in cases {
            assert!(
                (erf(x) - want).abs() < 1e-12,
                "erf({x}) = {} want {want}",
                erf(x)
            );
        }
    }

    /// transformers' `create_position_ids_from_input_ids`: padding_idx + the running count of
    /// non-padding tokens, padding_idx for a padding token; 0, 1, 2, … without an offset.
    #[test]
    fn position_ids_follow_transformers() {
        assert_eq!(position_ids(0, &[5, 1, 7]), vec![0, 1, 2]);
        // RoBERTa: padding_idx 1, so offset 2; the <pad> (id 1) in the middle keeps row 1
        assert_eq!(position_ids(2, &[0, 9, 1, 9, 2]), vec![2, 3, 1, 4, 5]);
    }

    #[test]
    fn albert_group_index_follows_hf_float_division() {
        let mut cfg = ModelConfig::from_json_bytes(
            br#"{"model_type":"albert","hidden_size":8,"num_attention_heads":2,"num_hidden_layers":5,"num_hidden_groups":2}"#,
            Path::new("config.json"),
        )
        .unwrap();
        // 5 / 2 = 2.5 layers per group: layers 0,1,2 -> 0 ... int(3/2.5)=1
        let groups: Vec<usize> = (0..5).map(|i| cfg.group_of_layer(i)).collect();
        assert_eq!(groups, vec![0, 0, 0, 1, 1]);
        cfg.num_hidden_groups = 1;
        assert!((0..5).all(|i| cfg.group_of_layer(i) == 0));
    }
}
