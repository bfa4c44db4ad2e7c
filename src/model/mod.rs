//! Model folders in Hugging Face layout: config, weights (with ALBERT's layer sharing), tokenizer.

pub mod activation;
pub mod builtin;
pub mod config;
pub mod deberta_tok;
pub mod fairseq_tok;
pub mod family;
pub mod host;
pub mod hub;
pub mod hub_cache;
pub mod input;
pub mod internals;
pub mod mlm;
pub mod source;
pub mod spm;
pub mod task;
pub mod tensors;
pub mod tokenizer;
pub mod torch_pickle;
pub mod trace;
pub mod weights;

pub use config::{Activation, ModelConfig, ModelType};
pub use internals::{Ablation, Capture, ForwardOptions, Internals, Intervention, MapInternals};
pub use source::ModelSource;
pub use tokenizer::{EncodedInput, LensTokenizer};
pub use trace::Trace;
pub use weights::{EncoderLayer, LayerNormWeights, Linear, MlmHead, ModelWeights};

use crate::error::{LensError, Result};
use std::path::{Path, PathBuf};

/// A model ready to run: config, weights and tokenizer of one folder.
/// Cloning is cheap: the weights' tensors are shared (a corpus run takes a copy to its thread).
#[derive(Debug, Clone)]
pub struct LoadedModel {
    pub dir: PathBuf,
    pub config: ModelConfig,
    pub weights: ModelWeights,
    pub tokenizer: LensTokenizer,
    /// Things the user should know about the files (NaN weights, ignored tensors, ...).
    pub warnings: Vec<String>,
}

impl LoadedModel {
    /// Opens the model folder `dir`: config.json, the weights and the tokenizer. A panic inside
    /// the libraries it uses (a corrupt tokenizer, say) comes back as an error naming the folder.
    pub fn open(dir: &Path) -> Result<Self> {
        crate::error::catch_panic(&format!("opening {}", dir.display()), || {
            Self::open_unguarded(dir)
        })
    }

    fn open_unguarded(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(LensError::NotAModelFolder {
                dir: dir.to_path_buf(),
                what: "it does not exist or is not a folder".into(),
            });
        }
        let config_path = dir.join("config.json");
        // a config.json that is there but unreadable (a link loop, a device) gets its own message
        if std::fs::symlink_metadata(&config_path).is_err() {
            return Err(LensError::NotAModelFolder {
                dir: dir.to_path_buf(),
                what: "it has no config.json".into(),
            });
        }
        let config = ModelConfig::from_file(&config_path)?;
        let tensors = tensors::read_weights(dir, config.value_budget())?;
        Self::assemble(dir, config, tensors, |c| LensTokenizer::load(dir, c))
    }

    /// The model of `config` and its `tensors`, with the tokenizer `tokenizer` makes for it.
    fn assemble(
        dir: &Path,
        config: ModelConfig,
        tensors: tensors::TensorMap,
        tokenizer: impl FnOnce(&ModelConfig) -> Result<LensTokenizer>,
    ) -> Result<Self> {
        let (weights, warnings) = ModelWeights::from_tensors(&config, tensors, dir)?;
        let tokenizer = tokenizer(&config)?;
        Ok(LoadedModel {
            dir: dir.to_path_buf(),
            config,
            weights,
            tokenizer,
            warnings,
        })
    }

    /// A model held in memory (a built-in model in the web build, where there are no folders):
    /// config.json, model.safetensors, tokenizer.json and, if there is one,
    /// tokenizer_config.json, checked as [`LoadedModel::open`] checks a folder's. `dir` names
    /// the model in messages and in [`LoadedModel::dir`].
    pub fn from_memory(
        dir: &Path,
        config_json: &[u8],
        safetensors: &[u8],
        tokenizer_json: &[u8],
        tokenizer_config: Option<&[u8]>,
    ) -> Result<Self> {
        crate::error::catch_panic(&format!("opening {}", dir.display()), || {
            let config = ModelConfig::from_json_bytes(config_json, &dir.join("config.json"))?;
            let mut tensors = tensors::TensorMap::with_budget(config.value_budget());
            tensors::read_safetensors_bytes(
                safetensors,
                &dir.join("model.safetensors"),
                &mut tensors,
            )?;
            Self::assemble(dir, config, tensors, |c| {
                LensTokenizer::from_memory(tokenizer_json, tokenizer_config, dir, c)
            })
        })
    }

    /// Tokenizes a text (and optional second segment) for this model, truncating to
    /// `max_len()` (the position table from the first position id).
    pub fn encode(&self, text: &str, pair: Option<&str>) -> Result<EncodedInput> {
        self.tokenizer.encode(text, pair, self.config.max_len())
    }
}
