//! The models shipped inside the binary, so that the app is useful offline on first start:
//! `albert-mini` (factorized embedding, one shared layer) and `bert-mini` (its unshared twin),
//! trained by tools/train/train_minis.py, and their fine-tuned sentence classifiers
//! `albert-mini-genre` and `bert-mini-genre` (tools/train/finetune_genre.py; see
//! assets/models/*/README.md for the model cards).
//! They are written once into a cache folder (keyed by a hash of their bytes), checked against
//! the compiled-in bytes at every open (and rewritten when changed), and opened from there like
//! any other model folder.

use crate::error::{LensError, Result};
use std::path::{Path, PathBuf};

/// The names of the built-in models.
pub const NAMES: [&str; 4] = [
    "albert-mini",
    "bert-mini",
    "albert-mini-genre",
    "bert-mini-genre",
];

/// The files of each built-in model: (file name, bytes).
fn files(name: &str) -> Option<[(&'static str, &'static [u8]); 5]> {
    macro_rules! model {
        ($dir:literal) => {
            [
                (
                    "config.json",
                    include_bytes!(concat!("../../assets/models/", $dir, "/config.json"))
                        .as_slice(),
                ),
                (
                    "model.safetensors",
                    include_bytes!(concat!("../../assets/models/", $dir, "/model.safetensors"))
                        .as_slice(),
                ),
                (
                    "tokenizer.json",
                    include_bytes!(concat!("../../assets/models/", $dir, "/tokenizer.json"))
                        .as_slice(),
                ),
                (
                    "tokenizer_config.json",
                    include_bytes!(concat!(
                        "../../assets/models/",
                        $dir,
                        "/tokenizer_config.json"
                    ))
                    .as_slice(),
                ),
                (
                    "README.md",
                    include_bytes!(concat!("../../assets/models/", $dir, "/README.md")).as_slice(),
                ),
            ]
        };
    }
    match name {
        "albert-mini" => Some(model!("albert-mini")),
        "bert-mini" => Some(model!("bert-mini")),
        "albert-mini-genre" => Some(model!("albert-mini-genre")),
        "bert-mini-genre" => Some(model!("bert-mini-genre")),
        _ => None,
    }
}

/// The model card (README.md) of a built-in model.
pub fn card(name: &str) -> Option<&'static str> {
    let files = files(name)?;
    std::str::from_utf8(files[4].1).ok()
}

/// Built-in model `name` opened straight from the bytes compiled in (the web build, which has
/// no folders to unpack it into).
pub fn open_in_memory(name: &str) -> Result<crate::model::LoadedModel> {
    let files = files(name).ok_or_else(|| unknown(name))?;
    let files = crate::model::ModelFiles::memory(
        Path::new(&format!("builtin:{name}")),
        files
            .iter()
            .map(|(n, b)| (n.to_string(), std::borrow::Cow::Borrowed(*b))),
    );
    crate::model::LoadedModel::open_files(&files)
}

/// The error for a name that is not a built-in model's.
fn unknown(name: &str) -> LensError {
    LensError::Unsupported(format!(
        "there is no built-in model named {name:?} (built in: {})",
        NAMES.join(", ")
    ))
}

/// Where built-in models are unpacked: `$XDG_CACHE_HOME/albert-lens/builtin`, else
/// `~/.cache/albert-lens/builtin`, else the system temp folder.
fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("albert-lens").join("builtin")
}

/// The folder of built-in model `name`, unpacked if it is not already.
pub fn folder(name: &str) -> Result<PathBuf> {
    folder_in(name, &cache_root()).or_else(|first| {
        // an unwritable cache: try the temp folder before giving up
        folder_in(name, &std::env::temp_dir().join("albert-lens-builtin")).map_err(|_| first)
    })
}

/// The folder of built-in model `name` under the cache folder `root`, unpacked (again) unless
/// every file there equals the compiled-in copy.
pub fn folder_in(name: &str, root: &Path) -> Result<PathBuf> {
    let files = files(name).ok_or_else(|| unknown(name))?;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (f, bytes) in files.iter() {
        for b in f.as_bytes().iter().chain(bytes.iter()) {
            hash = (hash ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let dir = root.join(format!("{name}-{hash:016x}"));
    // Compared byte for byte with the copy compiled in (a few MB, read in milliseconds): a file
    // changed in place, even at the same size, is noticed and the folder unpacked again.
    let intact = |dir: &Path| {
        files.iter().all(|(f, bytes)| {
            crate::error::read_file_limited(&dir.join(f), bytes.len() as u64)
                .is_ok_and(|on_disk| on_disk == *bytes)
        })
    };
    if intact(&dir) {
        return Ok(dir);
    }
    std::fs::create_dir_all(root).map_err(crate::error::write_err(root))?;
    // unpack beside, then rename: a half-written folder never has the final name
    // unique per process and per call: two threads unpacking at once never share a folder
    static UNPACKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = UNPACKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = root.join(format!(
        ".{name}-{hash:016x}.{}-{call}.partial",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(crate::error::write_err(&tmp))?;
    for (f, bytes) in files.iter() {
        crate::files::write_atomic(&tmp.join(f), bytes)?;
    }
    if dir.exists() {
        // another process (a job array's tasks start together) may have unpacked it while
        // this one did: an intact folder is never moved away from under its readers
        if intact(&dir) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Ok(dir);
        }
        // a damaged copy: move it aside first (a rename cannot replace a non-empty folder)
        let old = root.join(format!(
            ".{name}-{hash:016x}.{}-{call}.damaged",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&old);
        if std::fs::rename(&dir, &old).is_ok() {
            let _ = std::fs::remove_dir_all(&old);
        }
    }
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        // another process may have unpacked it first
        if !dir.join("model.safetensors").is_file() {
            return Err(crate::error::write_err(&dir)(e));
        }
    }
    Ok(dir)
}
