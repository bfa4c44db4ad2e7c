//! Opening models from the Hugging Face Hub: `hub:albert-base-v2` is downloaded into the standard
//! Hugging Face cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`;
//! `models--org--name/{blobs,snapshots,refs}`, so transformers and albert-lens share downloads),
//! from `$HF_ENDPOINT` (default https://huggingface.co). A model already in the cache opens with
//! no network; `HF_HUB_OFFLINE=1` forbids the network altogether.
//!
//! Each file streams into `blobs/<etag>.incomplete` and is renamed only once complete and of the
//! announced size; the snapshot link and `refs/<revision>` are written last, so a download that
//! is cut off or cancelled leaves nothing in the cache that could be mistaken for a model.

use crate::error::{LensError, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where and how to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOptions {
    pub endpoint: String,
    pub cache_dir: PathBuf,
    pub token: Option<String>,
    pub revision: String,
    pub offline: bool,
}

impl HubOptions {
    /// Options from the environment, as huggingface_hub reads them.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
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
        HubOptions {
            endpoint: get("HF_ENDPOINT")
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .to_string(),
            cache_dir,
            token: get("HF_TOKEN"),
            revision: "main".into(),
            offline,
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

fn valid_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    !id.is_empty()
        && parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

fn repo_dir(opts: &HubOptions, id: &str) -> PathBuf {
    opts.cache_dir
        .join(format!("models--{}", id.replace('/', "--")))
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

/// The cached snapshot for `id` at the configured revision, if it is complete.
pub fn cached(opts: &HubOptions, id: &str) -> Option<PathBuf> {
    let repo = repo_dir(opts, id);
    let commit = std::fs::read_to_string(repo.join("refs").join(&opts.revision)).ok()?;
    let snap = repo.join("snapshots").join(commit.trim());
    complete(&snap).then_some(snap)
}

struct Fetcher<'a> {
    agent: ureq::Agent,
    opts: &'a HubOptions,
    id: &'a str,
    repo: PathBuf,
    commit: Option<String>,
    /// (file name, blob name) of every file fetched, linked into the snapshot at the end
    fetched: Vec<(String, String)>,
    progress: &'a mut dyn FnMut(DownloadProgress) -> bool,
}

impl Fetcher<'_> {
    fn url(&self, file: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.opts.endpoint, self.id, self.opts.revision, file
        )
    }

    /// Downloads `file` into a blob; Ok(false) when the repository has no such file.
    fn fetch(&mut self, file: &str) -> Result<bool> {
        let id = self.id;
        let url = self.url(file);
        let mut req = self.agent.get(&url);
        if let Some(t) = &self.opts.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let resp = req.call().map_err(|e| match e {
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                hub_err(
                    id,
                    format!("cannot reach {} ({e}); no network?", self.opts.endpoint),
                )
            }
            ureq::Error::Timeout(_) => {
                hub_err(id, format!("{} did not answer in time", self.opts.endpoint))
            }
            other => hub_err(id, format!("downloading {file} failed: {other}")),
        })?;
        let status = resp.status().as_u16();
        if status == 404 || status == 401 || status == 403 {
            return Ok(false);
        }
        if status != 200 {
            return Err(hub_err(
                id,
                format!("{file}: the server answered HTTP {status}"),
            ));
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if self.commit.is_none() {
            self.commit = header("x-repo-commit");
        }
        let etag = header("x-linked-etag")
            .or_else(|| header("etag"))
            .map(|e| e.trim_start_matches("W/").trim_matches('"').to_string())
            .filter(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or_else(|| {
                format!(
                    "{}-{}",
                    self.commit.clone().unwrap_or_default(),
                    file.replace('/', "_")
                )
            });
        let total = header("x-linked-size")
            .or_else(|| header("content-length"))
            .and_then(|s| s.parse::<u64>().ok());
        let blobs = self.repo.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(|source| LensError::Io {
            path: blobs.clone(),
            source,
        })?;
        let blob = blobs.join(&etag);
        if !blob.is_file() {
            let partial = blobs.join(format!("{etag}.incomplete"));
            let result = self.stream(resp.into_body().into_reader(), &partial, file, total);
            if let Err(e) = result {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
            std::fs::rename(&partial, &blob).map_err(|source| LensError::Io {
                path: blob.clone(),
                source,
            })?;
        }
        self.fetched.push((file.to_string(), etag));
        Ok(true)
    }

    fn stream(
        &mut self,
        mut body: impl Read,
        to: &Path,
        file: &str,
        total: Option<u64>,
    ) -> Result<()> {
        let io = |source| LensError::Io {
            path: to.to_path_buf(),
            source,
        };
        let mut out = std::fs::File::create(to).map_err(io)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        loop {
            let n = body.read(&mut buf).map_err(|e| {
                hub_err(
                    self.id,
                    format!("the download of {file} broke off after {done} bytes ({e})"),
                )
            })?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).map_err(io)?;
            done += n as u64;
            let go_on = (self.progress)(DownloadProgress {
                file: file.to_string(),
                bytes_done: done,
                bytes_total: total,
            });
            if !go_on {
                return Err(LensError::Cancelled(format!("download of {}", self.id)));
            }
        }
        if let Some(t) = total {
            if done != t {
                return Err(hub_err(
                    self.id,
                    format!("the download of {file} was cut off after {done} of {t} bytes"),
                ));
            }
        }
        out.sync_all().map_err(io)?;
        Ok(())
    }

    /// Links every fetched blob into the snapshot and records the revision.
    fn finish(self) -> Result<PathBuf> {
        let commit = self.commit.unwrap_or_else(|| self.opts.revision.clone());
        if !commit
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(hub_err(self.id, "the server sent an invalid commit id"));
        }
        let snap = self.repo.join("snapshots").join(&commit);
        std::fs::create_dir_all(&snap).map_err(|source| LensError::Io {
            path: snap.clone(),
            source,
        })?;
        for (file, etag) in &self.fetched {
            let link = snap.join(file);
            let _ = std::fs::remove_file(&link);
            let target = Path::new("../../blobs").join(etag);
            let linked = symlink(&target, &link).is_ok();
            if !linked {
                std::fs::copy(self.repo.join("blobs").join(etag), &link).map_err(|source| {
                    LensError::Io {
                        path: link.clone(),
                        source,
                    }
                })?;
            }
        }
        let refs = self.repo.join("refs");
        std::fs::create_dir_all(&refs).map_err(|source| LensError::Io {
            path: refs.clone(),
            source,
        })?;
        std::fs::write(refs.join(&self.opts.revision), &commit).map_err(|source| {
            LensError::Io {
                path: refs.clone(),
                source,
            }
        })?;
        Ok(snap)
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("no symlinks here"))
}

/// The local folder of model `id`: the cached snapshot if complete, else downloaded now.
/// `progress` is called as bytes arrive and cancels the download by returning false.
pub fn open(
    id: &str,
    opts: &HubOptions,
    progress: &mut dyn FnMut(DownloadProgress) -> bool,
) -> Result<PathBuf> {
    if !valid_id(id) {
        return Err(hub_err(
            id,
            "not a valid model id (expected NAME or ORG/NAME)",
        ));
    }
    if let Some(dir) = cached(opts, id) {
        return Ok(dir);
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
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
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
    };
    if !f.fetch("config.json")? {
        return Err(hub_err(
            id,
            format!("no such model on {} (or it is private)", opts.endpoint),
        ));
    }
    // Refuse other architectures before downloading their weights.
    let config_blob = f.repo.join("blobs").join(&f.fetched[0].1);
    let cfg_bytes = crate::error::read_file(&config_blob)?;
    let cfg = crate::model::ModelConfig::from_json_bytes(
        &cfg_bytes,
        Path::new(&format!("{id}/config.json")),
    )?;
    // tokenizer options first, then tokenizer.json, else the model type's own vocabulary file
    f.fetch("tokenizer_config.json")?;
    let own = match cfg.model_type {
        crate::model::ModelType::Albert => "spiece.model",
        crate::model::ModelType::Bert => "vocab.txt",
    };
    if !f.fetch("tokenizer.json")? && !f.fetch(own)? {
        return Err(hub_err(
            id,
            format!("the repository has no tokenizer (tokenizer.json or {own})"),
        ));
    }
    if !f.fetch("model.safetensors")? {
        if f.fetch("model.safetensors.index.json")? {
            let (_, etag) = f.fetched.last().cloned().unwrap_or_default();
            let index = crate::error::read_file(&f.repo.join("blobs").join(etag))?;
            let v: serde_json::Value = serde_json::from_slice(&index).map_err(|e| {
                hub_err(id, format!("model.safetensors.index.json is not JSON: {e}"))
            })?;
            let mut shards: Vec<String> = v
                .get("weight_map")
                .and_then(|m| m.as_object())
                .map(|m| {
                    m.values()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            shards.sort();
            shards.dedup();
            for shard in shards {
                if shard.contains('/') || shard.starts_with('.') {
                    return Err(hub_err(
                        id,
                        format!("the index names a file outside the repository: {shard}"),
                    ));
                }
                if !f.fetch(&shard)? {
                    return Err(hub_err(
                        id,
                        format!("the shard {shard} is missing from the repository"),
                    ));
                }
            }
        } else if !f.fetch("pytorch_model.bin")? {
            return Err(hub_err(
                id,
                "the repository has no weights (model.safetensors, sharded safetensors or pytorch_model.bin)",
            ));
        }
    }
    f.finish()
}
