//! A model's files, wherever they are: a folder on disk, or files held in memory (a built-in
//! model's, or the files a user picked in the browser, where the web build has no folders).
//! The readers of config, weights and tokenizer ask this for a file by name, so a model opens
//! the same way, with the same checks and messages, from either.

use crate::error::{LensError, Result};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a model's files are read from.
#[derive(Debug, Clone)]
pub enum ModelFiles<'a> {
    /// a model folder
    Folder(PathBuf),
    /// files by name (no folders: a name is a file's own name); `dir` names the model in
    /// messages, as a folder would
    Memory {
        dir: PathBuf,
        files: BTreeMap<String, Cow<'a, [u8]>>,
    },
}

impl<'a> ModelFiles<'a> {
    /// The files of the folder `dir`.
    pub fn folder(dir: &Path) -> Self {
        ModelFiles::Folder(dir.to_path_buf())
    }

    /// Files held in memory, named in messages as if in a folder `dir`. A name with a path in
    /// it keeps only its last part (a browser gives bare names; a path would name no file of
    /// a model folder).
    pub fn memory(dir: &Path, files: impl IntoIterator<Item = (String, Cow<'a, [u8]>)>) -> Self {
        let files = files
            .into_iter()
            .map(|(name, bytes)| {
                let base = name.rsplit(['/', '\\']).next().unwrap_or(&name).to_string();
                (base, bytes)
            })
            .collect();
        ModelFiles::Memory {
            dir: dir.to_path_buf(),
            files,
        }
    }

    /// What the model is called in messages (the folder, or the name given to the files).
    pub fn dir(&self) -> &Path {
        match self {
            ModelFiles::Folder(d) | ModelFiles::Memory { dir: d, .. } => d,
        }
    }

    /// The file `name` as messages show it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// Whether there is a file `name` (in a folder: a regular file, links followed).
    pub fn has(&self, name: &str) -> bool {
        match self {
            ModelFiles::Folder(d) => d.join(name).is_file(),
            ModelFiles::Memory { files, .. } => files.contains_key(name),
        }
    }

    /// The file `name`, refused when it is longer than `limit` bytes (with the message a file on
    /// disk gets, [`crate::error::read_file_limited`]).
    pub fn read(&self, name: &str, limit: u64) -> Result<Cow<'_, [u8]>> {
        match self {
            ModelFiles::Folder(d) => {
                crate::error::read_file_limited(&d.join(name), limit).map(Cow::Owned)
            }
            ModelFiles::Memory { files, .. } => {
                let io = |msg: String| LensError::Io {
                    path: self.path(name),
                    source: std::io::Error::other(msg),
                };
                let bytes = files
                    .get(name)
                    .ok_or_else(|| io("there is no such file among the model's files".into()))?;
                if bytes.len() as u64 > limit {
                    return Err(io(crate::error::over_limit(bytes.len() as u64, limit)));
                }
                Ok(Cow::Borrowed(bytes.as_ref()))
            }
        }
    }

    /// The error for files that do not make a model (`what` is missing or wrong): a folder's,
    /// or, for files in memory, one that names them as files.
    pub fn not_a_model(&self, what: impl Into<String>) -> LensError {
        match self {
            ModelFiles::Folder(dir) => LensError::NotAModelFolder {
                dir: dir.clone(),
                what: what.into(),
            },
            ModelFiles::Memory { dir, .. } => LensError::NotAModel {
                name: dir.clone(),
                what: what.into(),
            },
        }
    }

    /// The names of the files, for a message that lists what was given (a folder: None, its
    /// listing is the user's to look at).
    pub fn names(&self) -> Option<Vec<&str>> {
        match self {
            ModelFiles::Folder(_) => None,
            ModelFiles::Memory { files, .. } => Some(files.keys().map(|k| k.as_str()).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_in_memory_are_found_by_their_own_name_and_refused_past_the_limit() {
        let files = ModelFiles::memory(
            Path::new("picked"),
            [
                (
                    "some/dir/config.json".to_string(),
                    Cow::Borrowed(&b"{}"[..]),
                ),
                ("vocab.txt".to_string(), Cow::Owned(vec![b'a'; 10])),
            ],
        );
        assert!(files.has("config.json") && files.has("vocab.txt"));
        assert!(!files.has("dir/config.json") && !files.has("tokenizer.json"));
        assert_eq!(files.read("config.json", 2).expect("read").as_ref(), b"{}");
        let long = files
            .read("vocab.txt", 9)
            .expect_err("over the limit")
            .to_string();
        assert!(
            long.contains("picked/vocab.txt") && long.contains("10 bytes"),
            "{long}"
        );
        let absent = files
            .read("spiece.model", 9)
            .expect_err("absent")
            .to_string();
        assert!(absent.contains("picked/spiece.model"), "{absent}");
        assert_eq!(files.names(), Some(vec!["config.json", "vocab.txt"]));
    }
}
