//! Where a model comes from (a folder, a built-in model, a Hub id) and how it becomes a folder
//! on disk.

use crate::error::Result;
use std::path::{Path, PathBuf};

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ModelSource {
    Folder(PathBuf),
    /// a model shipped inside the app (albert-mini, bert-mini)
    Builtin(String),
    /// a Hugging Face Hub id, downloaded into the HF cache
    Hub(String),
}

impl ModelSource {
    /// A model argument as the command line takes it: `hub:ID`, a built-in model's name (a
    /// folder of that name wins), or a folder.
    pub fn parse(spec: &Path) -> Self {
        match spec.to_str() {
            Some(s) if super::builtin::NAMES.contains(&s) && !spec.exists() => {
                ModelSource::Builtin(s.to_string())
            }
            Some(s) => match super::hub::hub_id(s) {
                Some(id) => ModelSource::Hub(id.to_string()),
                None => ModelSource::Folder(spec.to_path_buf()),
            },
            None => ModelSource::Folder(spec.to_path_buf()),
        }
    }

    pub fn label(&self) -> String {
        match self {
            ModelSource::Folder(p) => p.display().to_string(),
            ModelSource::Builtin(n) => format!("{n} (built in)"),
            ModelSource::Hub(id) => format!("hub:{id}"),
        }
    }

    /// The model's folder: as given, the built-in model unpacked, or the Hub snapshot
    /// (downloaded into the HF cache first). `progress(what, fraction)` hears of each
    /// download step and stops it by returning false.
    pub fn folder(&self, progress: &mut dyn FnMut(String, Option<f32>) -> bool) -> Result<PathBuf> {
        match self {
            ModelSource::Folder(p) => Ok(p.clone()),
            ModelSource::Builtin(name) => super::builtin::folder(name),
            ModelSource::Hub(id) => {
                let opts = super::hub::HubOptions::from_env_checked()?;
                let mut each = |p: super::hub::DownloadProgress| {
                    progress(
                        format!("downloading {id}: {}", p.file),
                        p.bytes_total
                            .filter(|t| *t > 0)
                            .map(|t| p.bytes_done as f32 / t as f32),
                    )
                };
                super::hub::open(id, &opts, &mut each)
            }
        }
    }
}
