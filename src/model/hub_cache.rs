//! The Hub cache read back, trusting nothing in it: `refs/<revision>` must be a small regular
//! file; every snapshot entry must be a link into the repository's own `blobs/` (or a plain
//! file where links are not possible), never a folder or a link elsewhere; and every blob's
//! content must hash to its name. A blob is hashed once: its size, modification time and inode
//! are then remembered (in albert-lens's own cache, not in the Hub's), so a verified blob costs
//! nothing on the next open.

use sha2::Digest;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A cache that cannot be used as it is: what is wrong, in words, and the blobs whose content
/// does not match their name (a download may replace those).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub msg: String,
    pub corrupt_blobs: Vec<PathBuf>,
}

fn broken(msg: String) -> Broken {
    Broken {
        msg,
        corrupt_blobs: Vec::new(),
    }
}

/// The snapshot of `repo` at `revision`: Ok(None) when there is none (or none complete, per
/// `complete`), Ok(Some(folder)) when it is whole and intact, Err when it is damaged.
pub fn snapshot(
    repo: &Path,
    revision: &str,
    complete: impl Fn(&Path) -> bool,
) -> Result<Option<PathBuf>, Broken> {
    let ref_file = repo.join("refs").join(revision);
    if std::fs::symlink_metadata(&ref_file).is_err() {
        return Ok(None);
    }
    let bytes = crate::error::read_file_limited(&ref_file, 4096).map_err(|e| {
        broken(format!(
            "the cache's revision file is unusable ({e}); delete {} to download again",
            ref_file.display()
        ))
    })?;
    let commit = String::from_utf8_lossy(&bytes).trim().to_string();
    if !(commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Ok(None);
    }
    let snap = repo.join("snapshots").join(&commit);
    if !snap.is_dir() {
        return Ok(None);
    }
    let blobs = std::fs::canonicalize(repo.join("blobs")).ok();
    let mut corrupt = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&snap)
        .map_err(|e| broken(format!("cannot read the snapshot {}: {e}", snap.display())))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for entry in entries {
        let Ok(m) = std::fs::symlink_metadata(&entry) else {
            continue;
        };
        if m.is_dir() {
            return Err(broken(format!(
                "the cached file {} is a folder, not a file: the cache is damaged; delete {} to download again",
                entry.display(),
                snap.display()
            )));
        }
        if !m.file_type().is_symlink() {
            continue; // a copy, where the file system has no links
        }
        let target = std::fs::canonicalize(&entry).map_err(|e| {
            broken(format!(
                "the cached file {} is a link that leads nowhere ({e}); delete {} to download again",
                entry.display(),
                snap.display()
            ))
        })?;
        let inside = blobs.as_deref().is_some_and(|b| target.parent() == Some(b));
        if !inside {
            return Err(broken(format!(
                "the cached file {} links to {}, outside the repository's blobs: refusing to use it; delete {} to download again",
                entry.display(),
                target.display(),
                snap.display()
            )));
        }
        if !target.is_file() {
            return Err(broken(format!(
                "the cached file {} leads to {}, which is not a regular file",
                entry.display(),
                target.display()
            )));
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match verify_blob(&target, &name) {
            Ok(()) => {}
            Err(Some(_)) => corrupt.push(target.clone()),
            Err(None) => {
                return Err(broken(format!(
                    "cannot read the cached blob {}",
                    target.display()
                )))
            }
        }
    }
    if !corrupt.is_empty() {
        let names: Vec<String> = corrupt.iter().map(|p| p.display().to_string()).collect();
        return Err(Broken {
            msg: format!(
                "the cached file content does not match its checksum (changed on disk): {}",
                names.join(", ")
            ),
            corrupt_blobs: corrupt,
        });
    }
    Ok(complete(&snap).then_some(snap))
}

/// Where albert-lens remembers verified blobs: `$XDG_CACHE_HOME/albert-lens/verified-blobs`
/// (or under `~/.cache`); None without either variable (then every open hashes again).
fn record_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("albert-lens").join("verified-blobs"))
}

/// Checks that `blob`'s content hashes to `name` (a sha256 for LFS files, git's blob sha1 for
/// the others; names of other shapes are not checksums and pass). Err(Some(hash)) on a
/// mismatch, Err(None) when it cannot be read.
pub fn verify_blob(blob: &Path, name: &str) -> Result<(), Option<String>> {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !(hex(name, 64) || hex(name, 40)) {
        return Ok(());
    }
    let m = std::fs::metadata(blob).map_err(|_| None)?;
    let record = record_dir().map(|d| {
        let key = sha2::Sha256::digest(format!("{}\n{name}", blob.display()).as_bytes());
        let key: String = key[..16].iter().map(|b| format!("{b:02x}")).collect();
        d.join(key)
    });
    let now = crate::files::stamp(&m);
    if let Some(r) = &record {
        if crate::error::read_file_limited(r, 256).ok().as_deref() == Some(now.as_bytes()) {
            return Ok(());
        }
    }
    let mut f = std::fs::File::open(blob).map_err(|_| None)?;
    // the download's own checksum: sha256, or git's blob sha1 over "blob <size>\0" + content
    let mut sum = Checksum::for_etag(name, Some(m.len())).ok_or(None)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|_| None)?;
        if n == 0 {
            break;
        }
        sum.update(&buf[..n]);
    }
    let got = sum.hex();
    if !got.eq_ignore_ascii_case(name) {
        return Err(Some(got));
    }
    if let Some(r) = &record {
        if let Some(d) = r.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        let _ = crate::files::write_atomic(r, now.as_bytes());
    }
    Ok(())
}

/// A checksum of the bytes as they stream, to compare with the ETag (and, in the cache, with
/// a blob's name).
pub(crate) enum Checksum {
    /// LFS files: the ETag is the sha256 of the content
    Sha256(sha2::Sha256),
    /// regular git files: the ETag is git's blob id, sha1("blob <size>\0" + content)
    GitSha1(sha1::Sha1),
}

impl Checksum {
    pub(crate) fn for_etag(etag: &str, size: Option<u64>) -> Option<Self> {
        if etag.len() == 64 {
            Some(Checksum::Sha256(sha2::Sha256::new()))
        } else {
            let mut h = sha1::Sha1::new();
            h.update(format!("blob {}\0", size?).as_bytes());
            Some(Checksum::GitSha1(h))
        }
    }
    pub(crate) fn update(&mut self, b: &[u8]) {
        match self {
            Checksum::Sha256(h) => h.update(b),
            Checksum::GitSha1(h) => h.update(b),
        }
    }
    pub(crate) fn hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Checksum::Sha256(h) => h.finalize().to_vec(),
            Checksum::GitSha1(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
