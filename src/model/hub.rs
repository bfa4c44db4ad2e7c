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

use crate::error::{write_err, LensError, Result};
use crate::model::config::MAX_CONFIG_BYTES;
use crate::model::tensors::MAX_INDEX_BYTES;
use crate::model::tokenizer::MAX_TOKENIZER_FILE;
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

/// `scheme://host[:port]` of a URL, lower-cased, for same-host checks.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}").to_ascii_lowercase())
}

/// A Location header resolved against the URL that sent it (absolute, or a path on its host).
fn resolve_location(base: &str, location: &str) -> Option<String> {
    if origin(location).is_some() {
        Some(location.to_string())
    } else if location.starts_with('/') && !location.starts_with("//") {
        Some(format!("{}{location}", origin(base)?))
    } else {
        None
    }
}

/// What the Hub says of one file before it is downloaded.
struct FileMeta {
    commit: String,
    etag: String,
    size: Option<u64>,
    /// where the bytes are: the resolve URL itself, or a CDN's
    location: String,
}

/// A download slower than this many bytes per three read timeouts is abandoned.
const MIN_WINDOW_BYTES: u64 = 16 << 10;

/// At most this many redirects are followed for one file.
const MAX_REDIRECTS: usize = 5;

struct Fetcher<'a> {
    agent: ureq::Agent,
    opts: &'a HubOptions,
    id: &'a str,
    repo: PathBuf,
    /// the commit of the first file, which every later file is fetched at
    commit: Option<String>,
    /// (file name, blob name) of every file fetched, linked into the snapshot at the end
    fetched: Vec<(String, String)>,
    progress: &'a mut dyn FnMut(DownloadProgress) -> bool,
    endpoint_origin: Option<String>,
}

impl Fetcher<'_> {
    fn url(&self, file: &str) -> String {
        let revision = self.commit.as_deref().unwrap_or(&self.opts.revision);
        format!(
            "{}/{}/resolve/{revision}/{file}",
            self.opts.endpoint, self.id
        )
    }

    fn call(&self, method: &str, url: &str) -> Result<ureq::http::Response<ureq::Body>> {
        let id = self.id;
        let mut req = if method == "HEAD" {
            self.agent.head(url)
        } else {
            self.agent.get(url)
        };
        // the token goes to the endpoint's own host only, never to a CDN or another host
        if let Some(t) = &self.opts.token {
            if origin(url).is_some() && origin(url) == self.endpoint_origin {
                req = req.header("Authorization", &format!("Bearer {t}"));
            }
        }
        req.call().map_err(|e| match e {
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                hub_err(
                    id,
                    format!("cannot reach {} ({e}); no network?", self.opts.endpoint),
                )
            }
            ureq::Error::Timeout(_) => hub_err(id, format!("{url} did not answer in time")),
            other => hub_err(id, format!("requesting {url} failed: {other}")),
        })
    }

    /// The file's metadata from the Hub's answer to a HEAD, following relative redirects only;
    /// None when the repository has no such file.
    fn head(&self, file: &str) -> Result<Option<FileMeta>> {
        let id = self.id;
        let mut url = self.url(file);
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.call("HEAD", &url)?;
            let status = resp.status().as_u16();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(|s| s.trim().to_string())
            };
            let location = match status {
                200 => url.clone(),
                301 | 302 | 303 | 307 | 308 => {
                    let raw = header("location").ok_or_else(|| {
                        hub_err(id, format!("{file}: a redirect without a Location"))
                    })?;
                    let to = resolve_location(&url, &raw).ok_or_else(|| {
                        hub_err(id, format!("{file}: an unusable redirect to {raw:?}"))
                    })?;
                    if origin(&raw).is_none() {
                        // relative: the repository moved (renamed); ask again there
                        url = to;
                        continue;
                    }
                    to
                }
                401 | 403 | 404 => return Ok(None),
                _ => {
                    return Err(hub_err(
                        id,
                        format!("{file}: the server answered HTTP {status}"),
                    ))
                }
            };
            let commit = header("x-repo-commit").unwrap_or_default();
            if !is_hex(&commit, 40) {
                return Err(hub_err(
                    id,
                    format!(
                        "{file}: the server sent no valid commit id (X-Repo-Commit {commit:?}; expected 40 hex digits)"
                    ),
                ));
            }
            let etag = header("x-linked-etag")
                .or_else(|| header("etag"))
                .unwrap_or_default();
            let etag = etag
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_ascii_lowercase();
            if !(is_hex(&etag, 40) || is_hex(&etag, 64)) {
                return Err(hub_err(
                    id,
                    format!(
                        "{file}: the server sent no usable ETag ({etag:?}; the Hub sends the file's git sha1 or sha256)"
                    ),
                ));
            }
            let size = header("x-linked-size")
                .or_else(|| header("content-length"))
                .and_then(|s| s.parse::<u64>().ok());
            return Ok(Some(FileMeta {
                commit: commit.to_ascii_lowercase(),
                etag,
                size,
                location,
            }));
        }
        Err(hub_err(
            id,
            format!("{file}: more than {MAX_REDIRECTS} redirects"),
        ))
    }

    /// Downloads `file` (at most `cap` bytes) into a blob; Ok(false) when the repository has no
    /// such file. Returns the number of bytes the file has.
    fn fetch(&mut self, file: &str, cap: u64) -> Result<Option<u64>> {
        let id = self.id;
        if !valid_part(file) {
            return Err(hub_err(
                id,
                format!("refusing the file name {file:?} (not a plain file name)"),
            ));
        }
        let Some(meta) = self.head(file)? else {
            return Ok(None);
        };
        match &self.commit {
            None => self.commit = Some(meta.commit.clone()),
            Some(c) if *c != meta.commit => {
                return Err(hub_err(
                    id,
                    format!(
                        "{file} comes from commit {} but the other files from {c}",
                        meta.commit
                    ),
                ))
            }
            Some(_) => {}
        }
        if let Some(size) = meta.size {
            if size > cap {
                return Err(hub_err(
                    id,
                    format!("{file} is {size} bytes, more than such a file can be ({cap})"),
                ));
            }
        }
        let blobs = self.repo.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(write_err(&blobs))?;
        let blob = blobs.join(&meta.etag);
        let _lock = self.lock(file, &meta.etag)?;
        // another process may have finished it while we waited for the lock
        if !blob.is_file() {
            let partial = blobs.join(format!("{}.incomplete", meta.etag));
            let result = self.download(file, &meta, cap, &partial);
            if let Err(e) = result {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
            std::fs::rename(&partial, &blob).map_err(write_err(&blob))?;
        }
        let size = std::fs::metadata(&blob).map(|m| m.len()).unwrap_or(0);
        self.fetched.push((file.to_string(), meta.etag));
        Ok(Some(size))
    }

    /// Takes the lock of one blob, waiting (and reporting that it waits, so the user can cancel)
    /// while another download of it runs.
    fn lock(&mut self, file: &str, etag: &str) -> Result<std::fs::File> {
        let dir = self
            .opts
            .cache_dir
            .join(".locks")
            .join(self.repo.file_name().unwrap_or_default());
        std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
        let path = dir.join(format!("{etag}.lock"));
        let lock = crate::files::open_lock(&path).map_err(write_err(&path))?;
        loop {
            match lock.try_lock() {
                Ok(()) => return Ok(lock),
                Err(std::fs::TryLockError::WouldBlock) => {
                    let go_on = (self.progress)(DownloadProgress {
                        file: format!("{file} (waiting for another download of it)"),
                        bytes_done: 0,
                        bytes_total: None,
                    });
                    if !go_on {
                        return Err(LensError::Cancelled(format!("download of {}", self.id)));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(write_err(&path)(e)),
            }
        }
    }

    /// GETs the bytes from the file's location (following absolute redirects, the token only to
    /// the endpoint's host) into `to`, checking size and checksum.
    fn download(&mut self, file: &str, meta: &FileMeta, cap: u64, to: &Path) -> Result<()> {
        let id = self.id;
        let mut url = meta.location.clone();
        let mut redirects = 0;
        let resp = loop {
            let resp = self.call("GET", &url)?;
            let status = resp.status().as_u16();
            match status {
                200 => break resp,
                301 | 302 | 303 | 307 | 308 if redirects < MAX_REDIRECTS => {
                    redirects += 1;
                    let raw = resp
                        .headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    url = resolve_location(&url, &raw).ok_or_else(|| {
                        hub_err(id, format!("{file}: an unusable redirect to {raw:?}"))
                    })?;
                }
                _ => {
                    return Err(hub_err(
                        id,
                        format!("downloading {file}: the server answered HTTP {status}"),
                    ))
                }
            }
        };
        let announced = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok());
        let total = meta.size.or(announced);
        if let (Some(a), Some(b)) = (meta.size, announced) {
            if a != b {
                return Err(hub_err(
                    id,
                    format!("{file}: the Hub announced {a} bytes but the download {b}"),
                ));
            }
        }
        let limit = total.unwrap_or(cap);
        let mut checksum =
            super::hub_cache::Checksum::for_etag(&meta.etag, total).ok_or_else(|| {
                hub_err(
                    id,
                    format!("{file}: the server gave its git hash but not its size"),
                )
            })?;
        // made new, never through a link planted at the name
        let _ = std::fs::remove_file(to);
        let mut out = crate::files::create_new(to).map_err(write_err(to))?;
        let mut body = resp.into_body().into_reader();
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        // a server that sends a byte now and then beats every read timeout: over each window
        // of three read timeouts at least MIN_WINDOW_BYTES must arrive
        let window = self.opts.read_timeout.saturating_mul(3);
        let (mut since, mut at_since) = (std::time::Instant::now(), 0u64);
        loop {
            if since.elapsed() >= window {
                if done - at_since < MIN_WINDOW_BYTES {
                    return Err(hub_err(
                        id,
                        format!(
                            "the download of {file} is too slow: {} bytes in the last {:.0} s (at least {MIN_WINDOW_BYTES} are needed)",
                            done - at_since,
                            window.as_secs_f64()
                        ),
                    ));
                }
                (since, at_since) = (std::time::Instant::now(), done);
            }
            let n = body.read(&mut buf).map_err(|e| {
                let why = if e.kind() == std::io::ErrorKind::TimedOut
                    || e.to_string().contains("imeout")
                {
                    format!(
                        "stalled: no data for {:.0} s",
                        self.opts.read_timeout.as_secs_f64()
                    )
                } else {
                    e.to_string()
                };
                hub_err(
                    id,
                    format!("the download of {file} broke off after {done} bytes ({why})"),
                )
            })?;
            if n == 0 {
                break;
            }
            done += n as u64;
            if done > limit {
                return Err(hub_err(
                    id,
                    format!(
                        "the server sent more of {file} than the {limit} bytes {}",
                        if total.is_some() {
                            "it announced"
                        } else {
                            "such a file can have"
                        }
                    ),
                ));
            }
            checksum.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(write_err(to))?;
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
                    id,
                    format!("the download of {file} was cut off after {done} of {t} bytes"),
                ));
            }
        }
        let got = checksum.hex();
        if got != meta.etag {
            return Err(hub_err(
                id,
                format!(
                    "the download of {file} is corrupt: its hash is {got}, the Hub's is {}",
                    meta.etag
                ),
            ));
        }
        out.sync_all().map_err(write_err(to))?;
        Ok(())
    }

    /// The bytes a small file (config, tokenizer, index) just fetched.
    fn read_fetched(&self, file: &str, cap: u64) -> Result<Vec<u8>> {
        let etag = self
            .fetched
            .iter()
            .rev()
            .find(|(f, _)| f == file)
            .map(|(_, e)| e.clone())
            .unwrap_or_default();
        crate::error::read_file_limited(&self.repo.join("blobs").join(etag), cap)
    }

    /// Links every fetched blob into the snapshot and records the revision.
    fn finish(self) -> Result<PathBuf> {
        let commit = self
            .commit
            .ok_or_else(|| hub_err(self.id, "the server named no commit"))?;
        let snap = self.repo.join("snapshots").join(&commit);
        std::fs::create_dir_all(&snap).map_err(write_err(&snap))?;
        for (file, etag) in &self.fetched {
            let link = snap.join(file);
            let _ = std::fs::remove_file(&link);
            let target = Path::new("../../blobs").join(etag);
            if symlink(&target, &link).is_err() {
                std::fs::copy(self.repo.join("blobs").join(etag), &link)
                    .map_err(write_err(&link))?;
            }
        }
        let refs = self.repo.join("refs");
        let ref_file = refs.join(&self.opts.revision);
        if let Some(parent) = ref_file.parent() {
            std::fs::create_dir_all(parent).map_err(write_err(parent))?;
        }
        crate::files::write_atomic(&ref_file, commit.as_bytes())?;
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
    if f.fetch("config.json", MAX_CONFIG_BYTES)?.is_none() {
        return Err(hub_err(
            id,
            format!("no such model on {} (or it is private)", opts.endpoint),
        ));
    }
    // Refuse other architectures before downloading their weights.
    let cfg_bytes = f.read_fetched("config.json", MAX_CONFIG_BYTES)?;
    let cfg = crate::model::ModelConfig::from_json_bytes(
        &cfg_bytes,
        Path::new(&format!("{id}/config.json")),
    )?;
    // tokenizer options first, then tokenizer.json, else the model type's own vocabulary file
    f.fetch("tokenizer_config.json", MAX_TOKENIZER_FILE)?;
    let family = cfg.model_type.family();
    let own = family.vocab_file;
    if f.fetch("tokenizer.json", MAX_TOKENIZER_FILE)?.is_none() {
        let has_own = own != "tokenizer.json" && f.fetch(own, MAX_TOKENIZER_FILE)?.is_some();
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
            && f.fetch("merges.txt", MAX_TOKENIZER_FILE)?.is_none()
        {
            return Err(hub_err(
                id,
                format!("the repository has {own} but not the merges.txt that goes with it"),
            ));
        }
    }
    // No checkpoint of this config holds more than 8 bytes (f64) per value it may expand to.
    let mut weight_bytes = cfg.value_budget().saturating_mul(8).saturating_add(1 << 27);
    if f.fetch("model.safetensors", weight_bytes)?.is_none() {
        if f.fetch("model.safetensors.index.json", MAX_INDEX_BYTES)?
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
                let Some(size) = f.fetch(shard, weight_bytes)? else {
                    return Err(hub_err(
                        id,
                        format!("the shard {shard} is missing from the repository"),
                    ));
                };
                weight_bytes = weight_bytes.saturating_sub(size);
            }
        } else if f.fetch("pytorch_model.bin", weight_bytes)?.is_none() {
            return Err(hub_err(
                id,
                "the repository has no weights (model.safetensors, sharded safetensors or pytorch_model.bin)",
            ));
        }
    }
    f.finish()
}
