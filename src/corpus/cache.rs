//! The corpus cache: statistics (and token states) of a model on a corpus kept on disk under a
//! key of the model's files and the corpus, sealed with a checksum.

use super::{run, CorpusOptions, CorpusSource, HeadStats, Progress};
use crate::backend::Backend;
use crate::error::Result;
use crate::model::LoadedModel;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// The file name a run's statistics are cached under: the model folder, the name, size and
/// modification time of each of its files (so that a checkpoint rewritten in place is not served
/// stale statistics), and the corpus identity, hashed.
pub fn cache_key(model_dir: &Path, corpus: &str) -> String {
    use sha2::Digest;
    let mut files: Vec<String> = std::fs::read_dir(model_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            let age = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            Some(format!(
                "{:?} {} {}",
                e.file_name(),
                m.len(),
                age.as_nanos()
            ))
        })
        .collect();
    files.sort();
    let h = sha2::Sha256::digest(
        format!("{}\n{}\n{corpus}", model_dir.display(), files.join("\n")).as_bytes(),
    );
    let hex: String = h[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("corpus-{hex}.safetensors")
}

/// A corpus cache folder set by the program (tests keep theirs apart this way; changing
/// `XDG_CACHE_HOME` inside a running process would move other caches too).
static CACHE_OVERRIDE: std::sync::RwLock<Option<PathBuf>> = std::sync::RwLock::new(None);

/// Puts the corpus cache in `dir` for the rest of the process (None: the default again).
pub fn set_cache_dir(dir: Option<PathBuf>) {
    if let Ok(mut o) = CACHE_OVERRIDE.write() {
        *o = dir;
    }
}

/// Where the app caches corpus statistics: the folder [`set_cache_dir`] gave, else
/// `$XDG_CACHE_HOME/albert-lens/corpus`, else `~/.cache/albert-lens/corpus` (None without
/// either variable).
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = CACHE_OVERRIDE.read().ok().and_then(|o| o.clone()) {
        return Some(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("albert-lens").join("corpus"))
}

/// The statistics of `model` on `source` (at most `limit` texts): read from the cache when a
/// run with the same model folder, corpus file and limit is there, else run on `backend`
/// (batched) and cached. `progress` reports the run; `cancel` stops it.
pub fn cached_run(
    (model, model_name): (&LoadedModel, &str),
    (source, limit): (&CorpusSource, Option<u64>),
    backend: &mut dyn Backend,
    progress: &mut dyn FnMut(Progress),
    cancel: &AtomicBool,
) -> Result<(HeadStats, bool)> {
    let limit_tag = limit.map_or(String::new(), |l| format!(" limit {l}"));
    let tag = source
        .fingerprint()
        .map(|f| format!("{f}{limit_tag} statistics {model_name}"));
    let cfg = &model.config;
    cached(
        &model.dir,
        tag.as_deref(),
        |bytes| {
            HeadStats::from_safetensors_bytes(bytes, Path::new("corpus cache"))
                .ok()
                .filter(|s| {
                    (s.maps, s.heads) == (cfg.num_attention_maps(), cfg.num_attention_heads)
                })
        },
        || {
            let opts = CorpusOptions {
                batch: 16,
                shard: (0, 1),
                limit,
                model_name: model_name.to_string(),
            };
            run(model, backend, source, &opts, progress, &mut |_| {}, cancel)
        },
        HeadStats::to_safetensors_bytes,
    )
}

/// A cache file is this many bytes at most (the token states of a large corpus run are the
/// largest entries).
pub const MAX_CACHE_BYTES: u64 = 1 << 30;

/// A value from the corpus cache, the file named by the model folder and `tag`, when it is
/// intact (its checksum covers the tag and the content, so a file of another key, a truncated
/// or a tampered one is never served) and `read` accepts it (true: it came from the cache);
/// else `make`'s, written there as `bytes` gives it, through a new file renamed into place.
/// No tag (a corpus read from a pipe): no cache. A cache that cannot be read or written costs
/// a rerun, nothing more.
pub(crate) fn cached<T>(
    model_dir: &Path,
    tag: Option<&str>,
    read: impl FnOnce(&[u8]) -> Option<T>,
    make: impl FnOnce() -> Result<T>,
    bytes: impl FnOnce(&T) -> Result<Vec<u8>>,
) -> Result<(T, bool)> {
    let file = tag.and_then(|t| Some((cache_dir()?.join(cache_key(model_dir, t)), t)));
    let seal = |tag: &str, body: &[u8]| -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update((tag.len() as u64).to_le_bytes());
        h.update(tag.as_bytes());
        h.update(body);
        h.finalize().into()
    };
    if let Some((f, tag)) = &file {
        let found = crate::error::read_file_limited(f, MAX_CACHE_BYTES + 32)
            .ok()
            .filter(|b| b.len() >= 32 && b[..32] == seal(tag, &b[32..]))
            .and_then(|b| read(&b[32..]));
        if let Some(v) = found {
            return Ok((v, true));
        }
    }
    let v = make()?;
    if let Some((f, tag)) = &file {
        let _ = f.parent().map(std::fs::create_dir_all);
        if let Ok(body) = bytes(&v) {
            if body.len() as u64 <= MAX_CACHE_BYTES {
                let mut sealed = seal(tag, &body).to_vec();
                sealed.extend_from_slice(&body);
                let _ = crate::files::write_atomic(f, &sealed);
            }
        }
    }
    Ok((v, false))
}
