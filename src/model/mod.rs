//! Model folders in Hugging Face layout: config, weights (with ALBERT's layer sharing), tokenizer.

pub mod activation;
pub mod builtin;
pub mod config;
pub mod deberta_tok;
pub mod fairseq_tok;
pub mod family;
pub mod files;
pub mod host;
pub mod hub;
pub mod hub_cache;
pub mod input;
pub mod internals;
pub mod mlm;
pub mod source;
pub mod spm;
pub mod task;
pub mod task_spec;
pub mod tensors;
pub mod tokenizer;
pub mod torch_pickle;
pub mod trace;
pub mod weights;

pub use config::{Activation, ModelConfig, ModelType};
pub use files::ModelFiles;
pub use internals::{Ablation, Capture, ForwardOptions, Internals, Intervention, MapInternals};
pub use source::ModelSource;
pub use tokenizer::{EncodedInput, LensTokenizer};
pub use trace::Trace;
pub use weights::{EncoderLayer, LayerNormWeights, Linear, MlmHead, ModelWeights};

use crate::error::Result;
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
        Self::open_files(&ModelFiles::folder(dir))
    }

    /// Opens a model from its files, in a folder or in memory (a built-in model in the web
    /// build, or the files a user picked in the browser), with the same checks either way.
    pub fn open_files(files: &ModelFiles<'_>) -> Result<Self> {
        let dir = files.dir();
        crate::error::catch_panic(&format!("opening {}", dir.display()), || {
            Self::open_unguarded(files)
        })
    }

    fn open_unguarded(files: &ModelFiles<'_>) -> Result<Self> {
        let dir = files.dir();
        let not_a_model = |what: String| files.not_a_model(what);
        match files {
            ModelFiles::Folder(d) if !d.is_dir() => {
                return Err(not_a_model("it does not exist or is not a folder".into()))
            }
            // a config.json that is there but unreadable (a link loop, a device) gets its own
            // message
            ModelFiles::Folder(d) if std::fs::symlink_metadata(d.join("config.json")).is_err() => {
                return Err(not_a_model("it has no config.json".into()))
            }
            ModelFiles::Memory { .. } if !files.has("config.json") => {
                let given = files.names().unwrap_or_default().join(", ");
                return Err(not_a_model(format!(
                    "there is no config.json among them (given: {given})"
                )));
            }
            _ => {}
        }
        let config = ModelConfig::from_json_bytes(
            &files.read("config.json", config::MAX_CONFIG_BYTES)?,
            &files.path("config.json"),
        )?;
        let tensors = tensors::read_weights(files, config.value_budget())?;
        let (weights, warnings) = ModelWeights::from_tensors(&config, tensors, dir)?;
        let tokenizer = LensTokenizer::load_files(files, &config)?;
        Ok(LoadedModel {
            dir: dir.to_path_buf(),
            config,
            weights,
            tokenizer,
            warnings,
        })
    }

    /// Tokenizes a text (and optional second segment) for this model, truncating to
    /// `max_len()` (the position table from the first position id).
    pub fn encode(&self, text: &str, pair: Option<&str>) -> Result<EncodedInput> {
        self.tokenizer.encode(text, pair, self.config.max_len())
    }

    /// `input` with the intervention's masked positions shown as this model's mask token
    /// (an ordinary token's position; the others are left as they are).
    pub fn masked(&self, input: &EncodedInput, iv: &Intervention) -> Result<EncodedInput> {
        let mut changed = input.clone();
        if !iv.masked.is_empty() {
            let mask = trace::MASK_TOKENS
                .into_iter()
                .find_map(|t| self.tokenizer.token_to_id(t).map(|id| (id, t)))
                .ok_or_else(|| {
                    crate::LensError::Analysis("this tokenizer has no mask token".into())
                })?;
            iv.apply_masks(&mut changed, mask);
        }
        Ok(changed)
    }
}
