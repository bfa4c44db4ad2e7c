//! Fetching one repository's files from the Hub into the cache: each file's metadata from a HEAD
//! (relative redirects followed, the first file's commit pinning the rest), its body streamed
//! into a locked `.incomplete` blob with a size cap and read timeouts, checked against its ETag,
//! then the snapshot links and the ref written last.

use super::{hub_err, is_hex, valid_part, DownloadProgress, HubOptions};
use crate::error::{write_err, LensError, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `scheme://host[:port]` of a URL, lower-cased, for same-host checks.
pub(super) fn origin(url: &str) -> Option<String> {
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

pub(super) struct Fetcher<'a> {
    pub(super) agent: ureq::Agent,
    pub(super) opts: &'a HubOptions,
    pub(super) id: &'a str,
    pub(super) repo: PathBuf,
    /// the commit of the first file, which every later file is fetched at
    pub(super) commit: Option<String>,
    /// (file name, blob name) of every file fetched, linked into the snapshot at the end
    pub(super) fetched: Vec<(String, String)>,
    pub(super) progress: &'a mut dyn FnMut(DownloadProgress) -> bool,
    pub(super) endpoint_origin: Option<String>,
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
    fn fetch_file(&mut self, file: &str, cap: u64) -> Result<Option<u64>> {
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
        let mut checksum = crate::model::hub_cache::Checksum::for_etag(&meta.etag, total)
            .ok_or_else(|| {
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
        let (mut since, mut at_since) = (web_time::Instant::now(), 0u64);
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
                (since, at_since) = (web_time::Instant::now(), done);
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
    fn read_blob(&self, file: &str, cap: u64) -> Result<Vec<u8>> {
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
    pub(super) fn finish(self) -> Result<PathBuf> {
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

impl super::RepoFiles for Fetcher<'_> {
    async fn fetch(&mut self, file: &str, cap: u64) -> Result<Option<u64>> {
        self.fetch_file(file, cap)
    }

    fn read_fetched(&self, file: &str, cap: u64) -> Result<Vec<u8>> {
        self.read_blob(file, cap)
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
