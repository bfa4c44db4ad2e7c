//! Opening models from the Hugging Face Hub: `hub:albert-base-v2` is downloaded into the standard
//! Hugging Face cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`;
//! `models--org--name/{blobs,snapshots,refs}`, so transformers and albert-lens share downloads),
//! from `$HF_ENDPOINT` (default https://huggingface.co). A model already in the cache opens with
//! no network; `HF_HUB_OFFLINE=1` forbids the network altogether.
//!
//! The protocol is huggingface_hub's: a HEAD of `/{id}/resolve/{revision}/{file}` that follows
//! only relative redirects (a renamed repository answers 307 to its new path) reads the file's
//! metadata from the Hub's own answer (`X-Repo-Commit`, `X-Linked-Etag` or `ETag`,
//! `X-Linked-Size` or `Content-Length`); a large file answers 302 to a CDN host, and the body is
//! fetched from there, without the token (it goes to the endpoint's own host only). The first
//! file's commit pins the others, so every file comes from one commit.
//!
//! The cache is written safely against hostile servers and concurrent downloads:
//! - every name in a path is validated first (a commit is 40 hex digits, an ETag the file's git
//!   sha1 or sha256, a file name has no separators), so nothing is written outside the cache;
//! - one download per blob at a time: a lock file `.locks/models--org--name/<etag>.lock`, as
//!   huggingface_hub takes; a second process waits, then finds the blob done;
//! - each file streams into `blobs/<etag>.incomplete`, at most its announced size (or a cap that
//!   the config implies), with a timeout on every read so a stalled server ends in an error; it is
//!   renamed only once complete and its hash equals the ETag (sha256 for LFS files, git's blob
//!   sha1 for the others);
//! - the snapshot link and `refs/<revision>` are written last, so a download that is cut off,
//!   cancelled or refused leaves nothing in the cache that could be mistaken for a model.
// the web build has no downloader: the cache helpers it shares with it are unused there
#![cfg_attr(target_arch = "wasm32", allow(dead_code, unused_imports))]

use crate::error::{LensError, Result};
use crate::model::config::MAX_CONFIG_BYTES;
use crate::model::tensors::MAX_INDEX_BYTES;
use crate::model::tokenizer::MAX_TOKENIZER_FILE;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(not(target_arch = "wasm32"))]
mod fetch;

#[cfg(not(target_arch = "wasm32"))]
use fetch::{origin, Fetcher};

/// Where and how to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOptions {
    pub endpoint: String,
    pub cache_dir: PathBuf,
    pub token: Option<String>,
    pub revision: String,
    pub offline: bool,
    /// How long the server may take to answer a metadata request (`HF_HUB_ETAG_TIMEOUT`).
    pub etag_timeout: Duration,
    /// How long any one read of a download may wait for bytes before the download is abandoned
    /// as stalled (`HF_HUB_DOWNLOAD_TIMEOUT`).
    pub read_timeout: Duration,
}

/// The longest timeout accepted from the environment: a day.
const MAX_TIMEOUT_S: f64 = 86_400.0;

/// huggingface_hub's default for both timeouts: 10 s.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl HubOptions {
    /// Options from the environment, as huggingface_hub reads them.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// [`Self::from_env`], with the timeouts checked as a flag would be: a variable that is
    /// set but not a number of seconds in 0.001..=86400 is an error naming it.
    pub fn from_env_checked() -> Result<Self> {
        for name in ["HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"] {
            let Ok(v) = std::env::var(name) else {
                continue;
            };
            if v.is_empty() {
                continue;
            }
            if !v
                .trim()
                .parse::<f64>()
                .is_ok_and(|s| (0.001..=MAX_TIMEOUT_S).contains(&s))
            {
                return Err(LensError::Hub(format!(
                    "{name}={}: give a number of seconds from 0.001 to {MAX_TIMEOUT_S}",
                    crate::files::printable(&v, 40)
                )));
            }
        }
        Ok(Self::from_env())
    }

    /// Options from any variable lookup (tests pass their own).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let cache_dir = get("HF_HUB_CACHE").map(PathBuf::from).unwrap_or_else(|| {
            get("HF_HOME")
                .map(PathBuf::from)
                .or_else(|| {
                    get("XDG_CACHE_HOME")
                        .map(|x| PathBuf::from(x).join("huggingface"))
                        .or_else(|| {
                            get("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface"))
                        })
                })
                .unwrap_or_else(|| PathBuf::from(".cache/huggingface"))
                .join("hub")
        });
        let offline = get("HF_HUB_OFFLINE")
            .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "yes"));
        let seconds = |name: &str| {
            get(name)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= MAX_TIMEOUT_S)
                .map(Duration::from_secs_f64)
                .unwrap_or(DEFAULT_TIMEOUT)
        };
        HubOptions {
            endpoint: get("HF_ENDPOINT")
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .to_string(),
            cache_dir,
            token: get("HF_TOKEN"),
            revision: "main".into(),
            offline,
            etag_timeout: seconds("HF_HUB_ETAG_TIMEOUT"),
            read_timeout: seconds("HF_HUB_DOWNLOAD_TIMEOUT"),
        }
    }
}

/// What a download reports as it goes; the callback returns false to cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadProgress {
    pub file: String,
    pub bytes_done: u64,
    /// None when the server did not say
    pub bytes_total: Option<u64>,
}

/// `hub:ORG/NAME` or `hub:NAME` -> the model id.
pub fn hub_id(spec: &str) -> Option<&str> {
    spec.strip_prefix("hub:").filter(|id| !id.is_empty())
}

/// One path component of a name we build paths from: letters, digits, `-`, `_`, `.`, not
/// starting with a dot (so never `.` or `..`).
fn valid_part(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('.')
        && p.len() <= 255
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn valid_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    parts.len() <= 2 && parts.iter().all(|p| valid_part(p))
}

/// A revision: a branch or tag name, possibly with `/` (`refs/pr/1`), each part valid.
fn valid_revision(r: &str) -> bool {
    r.split('/').all(valid_part)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn repo_dir(opts: &HubOptions, id: &str) -> PathBuf {
    opts.cache_dir
        .join(format!("models--{}", id.replace('/', "--")))
}

/// `id`, refused unless it is NAME or ORG/NAME of valid parts (it becomes a cache path and a URL).
fn checked_id(id: &str) -> Result<()> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(hub_err(
            id,
            "not a valid model id (expected NAME or ORG/NAME)",
        ))
    }
}

fn hub_err(id: &str, msg: impl std::fmt::Display) -> LensError {
    LensError::Hub(format!("{id}: {msg}"))
}

/// Whether a snapshot folder holds a config, weights and a tokenizer.
fn complete(dir: &Path) -> bool {
    dir.join("config.json").is_file()
        && crate::model::tensors::find_weights(dir).is_some()
        && ["tokenizer.json", "spiece.model", "vocab.txt"]
            .iter()
            .any(|f| dir.join(f).is_file())
}

/// The cached snapshot for `id` at the configured revision, if it is complete and intact.
pub fn cached(opts: &HubOptions, id: &str) -> Option<PathBuf> {
    checked_cache(opts, id).ok().flatten()
}

/// [`cached`], telling a damaged cache (a revision file that is not a file, a snapshot entry
/// that is a folder or links outside the repository, a blob whose content is not its hash)
/// from a missing one.
pub fn checked_cache(
    opts: &HubOptions,
    id: &str,
) -> std::result::Result<Option<PathBuf>, super::hub_cache::Broken> {
    if !valid_id(id) || !valid_revision(&opts.revision) {
        return Ok(None);
    }
    super::hub_cache::snapshot(&repo_dir(opts, id), &opts.revision, complete)
}

/// The local folder of model `id`: the cached snapshot if complete, else downloaded now.
/// `progress` is called as bytes arrive and cancels the download by returning false.
pub fn open(
    id: &str,
    opts: &HubOptions,
    progress: &mut dyn FnMut(DownloadProgress) -> bool,
) -> Result<PathBuf> {
    checked_id(id)?;
    if !valid_revision(&opts.revision) {
        return Err(hub_err(
            id,
            format!("not a valid revision: {:?}", opts.revision),
        ));
    }
    match checked_cache(opts, id) {
        Ok(Some(dir)) => return Ok(dir),
        Ok(None) => {}
        // online, a blob changed on disk is downloaded again; anything else is named
        Err(b) if !opts.offline && !b.corrupt_blobs.is_empty() => {
            for blob in &b.corrupt_blobs {
                let _ = std::fs::remove_file(blob);
            }
        }
        Err(b) => return Err(hub_err(id, b.msg)),
    }
    if opts.offline {
        return Err(hub_err(
            id,
            format!(
                "not in the cache at {} and HF_HUB_OFFLINE forbids downloading it",
                opts.cache_dir.display()
            ),
        ));
    }
    download(id, opts, progress)
}

/// How a repository's files are fetched: by the desktop into the Hugging Face cache
/// (`fetch::Fetcher`), by the web build into the page's memory. [`fetch_model`] decides which.
#[allow(async_fn_in_trait)]
pub trait RepoFiles {
    /// Fetches `file`, at most `cap` bytes: its size, or None when the repository has no such
    /// file.
    async fn fetch(&mut self, file: &str, cap: u64) -> Result<Option<u64>>;
    /// A file fetched already, at most `cap` bytes.
    fn read_fetched(&self, file: &str, cap: u64) -> Result<Vec<u8>>;
}

/// Fetches the files that make model `id` from `endpoint` (named in messages) through `f`, in
/// the order that refuses a wrong repository before its weights come: config.json (another
/// architecture is refused there), the tokenizer's files, then the weights (one safetensors
/// file, its shards, or pytorch_model.bin), each capped at what its config makes plausible.
pub async fn fetch_model(id: &str, endpoint: &str, f: &mut impl RepoFiles) -> Result<()> {
    checked_id(id)?;
    if f.fetch("config.json", MAX_CONFIG_BYTES).await?.is_none() {
        return Err(hub_err(
            id,
            format!("no such model on {endpoint} (or it is private)"),
        ));
    }
    // Refuse other architectures before downloading their weights.
    let cfg_bytes = f.read_fetched("config.json", MAX_CONFIG_BYTES)?;
    let cfg = crate::model::ModelConfig::from_json_bytes(
        &cfg_bytes,
        Path::new(&format!("{id}/config.json")),
    )?;
    // tokenizer options first, then tokenizer.json, else the model type's own vocabulary file
    f.fetch("tokenizer_config.json", MAX_TOKENIZER_FILE).await?;
    let family = cfg.model_type.family();
    let own = family.vocab_file;
    if f.fetch("tokenizer.json", MAX_TOKENIZER_FILE)
        .await?
        .is_none()
    {
        let has_own = own != "tokenizer.json" && f.fetch(own, MAX_TOKENIZER_FILE).await?.is_some();
        if !has_own {
            let what = match own {
                "tokenizer.json" => own.to_string(),
                _ => format!("tokenizer.json or {own}"),
            };
            return Err(hub_err(
                id,
                format!("the repository has no tokenizer ({what})"),
            ));
        }
        // a byte-level BPE vocabulary is half a tokenizer without its merges
        if family.tokenization == crate::model::family::Tokenization::ByteLevelBpe
            && f.fetch("merges.txt", MAX_TOKENIZER_FILE).await?.is_none()
        {
            return Err(hub_err(
                id,
                format!("the repository has {own} but not the merges.txt that goes with it"),
            ));
        }
    }
    // No checkpoint of this config holds more than 8 bytes (f64) per value it may expand to.
    let mut weight_bytes = cfg.value_budget().saturating_mul(8).saturating_add(1 << 27);
    if f.fetch("model.safetensors", weight_bytes).await?.is_none() {
        if f.fetch("model.safetensors.index.json", MAX_INDEX_BYTES)
            .await?
            .is_some()
        {
            let index = f.read_fetched("model.safetensors.index.json", MAX_INDEX_BYTES)?;
            let v: serde_json::Value = serde_json::from_slice(&index).map_err(|e| {
                hub_err(id, format!("model.safetensors.index.json is not JSON: {e}"))
            })?;
            let shards: std::collections::BTreeSet<&str> = v
                .get("weight_map")
                .and_then(|m| m.as_object())
                .map(|m| m.values().filter_map(|s| s.as_str()).collect())
                .unwrap_or_default();
            let max = crate::model::tensors::MAX_SHARDS;
            if shards.len() > max {
                return Err(hub_err(
                    id,
                    format!(
                        "the index names {} shard files; no checkpoint has more than {max}",
                        shards.len()
                    ),
                ));
            }
            for shard in shards {
                if !valid_part(shard) {
                    return Err(hub_err(
                        id,
                        format!("the index names a file outside the repository: {shard:?}"),
                    ));
                }
                let Some(size) = f.fetch(shard, weight_bytes).await? else {
                    return Err(hub_err(
                        id,
                        format!("the shard {shard} is missing from the repository"),
                    ));
                };
                weight_bytes = weight_bytes.saturating_sub(size);
            }
        } else if f.fetch("pytorch_model.bin", weight_bytes).await?.is_none() {
            return Err(hub_err(
                id,
                "the repository has no weights (model.safetensors, sharded safetensors or pytorch_model.bin)",
            ));
        }
    }
    Ok(())
}

/// Downloads model `id` into the cache (it is not there, or not whole). The web build fetches
/// a Hub model into memory instead (`app::web`), not through here.
#[cfg(target_arch = "wasm32")]
fn download(
    id: &str,
    _opts: &HubOptions,
    _progress: &mut dyn FnMut(DownloadProgress) -> bool,
) -> Result<PathBuf> {
    Err(hub_err(
        id,
        "a web page keeps no Hugging Face cache: it fetches the model's files into memory",
    ))
}

/// Downloads model `id` into the cache (it is not there, or not whole), refusing other
/// architectures before their weights come.
#[cfg(not(target_arch = "wasm32"))]
fn download(
    id: &str,
    opts: &HubOptions,
    progress: &mut dyn FnMut(DownloadProgress) -> bool,
) -> Result<PathBuf> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(opts.etag_timeout))
        .timeout_per_read(Some(opts.read_timeout))
        .build()
        .into();
    let mut f = Fetcher {
        agent,
        opts,
        id,
        repo: repo_dir(opts, id),
        commit: None,
        fetched: Vec::new(),
        progress,
        endpoint_origin: origin(&opts.endpoint),
    };
    // the desktop's fetcher answers at once: its future is ready when polled
    pollster::block_on(fetch_model(id, &opts.endpoint, &mut f))?;
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository in memory that records what was asked of it, in order.
    struct Repo {
        files: Vec<(&'static str, Vec<u8>)>,
        asked: Vec<String>,
    }

    impl RepoFiles for Repo {
        async fn fetch(&mut self, file: &str, _cap: u64) -> Result<Option<u64>> {
            self.asked.push(file.to_string());
            Ok(self
                .files
                .iter()
                .find(|(n, _)| *n == file)
                .map(|(_, b)| b.len() as u64))
        }

        fn read_fetched(&self, file: &str, _cap: u64) -> Result<Vec<u8>> {
            let found = self.files.iter().find(|(n, _)| *n == file);
            found
                .map(|(_, b)| b.clone())
                .ok_or_else(|| LensError::Hub(format!("{file} was not fetched")))
        }
    }

    fn repo(files: Vec<(&'static str, Vec<u8>)>) -> Repo {
        Repo {
            files,
            asked: Vec::new(),
        }
    }

    /// The page and the desktop fetch through one planner: a bad id is refused before anything
    /// is asked, another architecture before its weights, and a model's files are asked for in
    /// the order that refuses early (config, tokenizer, weights; the shards its index names).
    #[test]
    fn the_planner_refuses_early_and_fetches_in_order() {
        let mut r = repo(vec![]);
        let e = pollster::block_on(fetch_model("../x", "hub", &mut r)).unwrap_err();
        assert!(e.to_string().contains("not a valid model id"), "{e}");
        assert!(r.asked.is_empty());

        let gpt2 = br#"{"model_type": "gpt2", "vocab_size": 100, "n_embd": 8}"#.to_vec();
        let mut r = repo(vec![
            ("config.json", gpt2),
            ("model.safetensors", vec![0; 8]),
        ]);
        let e = pollster::block_on(fetch_model("org/gpt", "hub", &mut r)).unwrap_err();
        assert!(e.to_string().contains("gpt2"), "{e}");
        assert_eq!(r.asked, ["config.json"]);

        let fixture = |f: &str| {
            let dir = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/albert_mlm_sharded_f16"
            );
            std::fs::read(std::path::Path::new(dir).join(f)).unwrap()
        };
        let mut r = repo(vec![
            ("config.json", fixture("config.json")),
            ("tokenizer.json", fixture("tokenizer.json")),
            (
                "model.safetensors.index.json",
                fixture("model.safetensors.index.json"),
            ),
        ]);
        let e = pollster::block_on(fetch_model("org/albert", "hub", &mut r)).unwrap_err();
        assert!(
            e.to_string().contains("shard") && e.to_string().contains("missing"),
            "{e}"
        );
        assert_eq!(
            r.asked[..5],
            [
                "config.json",
                "tokenizer_config.json",
                "tokenizer.json",
                "model.safetensors",
                "model.safetensors.index.json",
            ]
        );
        assert_eq!(r.asked[5], "model-00001-of-00005.safetensors");

        let none = repo(vec![("config.json", fixture("config.json"))]);
        let mut r = none;
        let e = pollster::block_on(fetch_model("org/albert", "hub", &mut r)).unwrap_err();
        assert!(e.to_string().contains("no tokenizer"), "{e}");
        assert!(
            !r.asked.iter().any(|f| f.contains("safetensors")),
            "{:?}",
            r.asked
        );
    }
}
