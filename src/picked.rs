//! Files picked in a web page's file dialog (a corpus, labelled examples), held in the page's
//! memory for the visit under a `picked:NAME` path. A page has no file system: such a path is
//! read through the functions that read a file on disk ([`crate::error::read_file_limited`], a
//! corpus's reader), which look here first. On the desktop nothing is ever kept here.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How a picked file's path starts.
pub const PREFIX: &str = "picked:";

/// A picked file: its path, its bytes and the first 16 hex digits of their SHA-256.
type Kept = (PathBuf, Arc<[u8]>, String);

static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());

/// Keeps `bytes` as the picked file `name` (replacing one picked before under that name) and
/// returns its path.
pub fn keep(name: &str, bytes: Vec<u8>) -> PathBuf {
    use sha2::Digest;
    let path = PathBuf::from(format!("{PREFIX}{name}"));
    let digest = sha2::Sha256::digest(&bytes);
    let hex = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    if let Ok(mut kept) = KEPT.lock() {
        kept.retain(|(p, _, _)| *p != path);
        kept.push((path.clone(), bytes.into(), hex));
    }
    path
}

/// A picked file's bytes and digest; Some(Err) for a `picked:` path the page does not hold (in
/// a page: it was picked in an earlier visit); None for any other path.
pub fn lookup(path: &Path) -> Option<std::io::Result<(Arc<[u8]>, String)>> {
    let kept = KEPT.lock().ok()?;
    if let Some((_, bytes, hex)) = kept.iter().find(|(p, _, _)| p == path) {
        return Some(Ok((bytes.clone(), hex.clone())));
    }
    let picked = path.to_str().is_some_and(|s| s.starts_with(PREFIX));
    (cfg!(target_arch = "wasm32") && picked).then(|| {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "a file picked in the page is kept for that visit only: choose it again",
        ))
    })
}

/// `text` both as a file `name` on disk (in a temporary folder, removed when the first value is
/// dropped) and as a picked file of that name: (the folder, the file's path, the picked path).
/// For tests that hold a reader to reading both the same way.
#[cfg(test)]
pub fn on_disk_and_picked(name: &str, text: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let disk = dir.path().join(name);
    std::fs::write(&disk, text).expect("the file written");
    (dir, disk, keep(name, text.as_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kept file reads back under its path, a second file of the same name replaces it, and
    /// other paths are not looked up here (on the desktop, a `picked:` path that was never
    /// kept is an ordinary path).
    #[test]
    fn kept_files_read_back_by_their_path_and_the_newest_wins() {
        let p = keep("unit-test.txt", b"one".to_vec());
        assert_eq!(p, PathBuf::from("picked:unit-test.txt"));
        let (bytes, first) = lookup(&p).unwrap().unwrap();
        assert_eq!(&*bytes, b"one");
        keep("unit-test.txt", b"two".to_vec());
        let (bytes, second) = lookup(&p).unwrap().unwrap();
        assert_eq!(&*bytes, b"two");
        assert_ne!(first, second);
        assert!(lookup(Path::new("picked:never-kept.txt")).is_none());
        assert!(lookup(Path::new("/tmp/unit-test.txt")).is_none());
    }
}
