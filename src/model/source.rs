//! Where a model comes from (a folder, a built-in model, a Hub id, files picked in a page) and how it becomes a folder
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
    /// files a user picked in the web build's file dialog, kept by that page under this name
    /// (for this visit only: a browser gives a page no path to open them again)
    Picked(String),
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

    /// The model's name as figures title it, the same from the window and from `render`: the
    /// folder's own name (not its path), the built-in model's name, the Hub id's last part.
    pub fn name(&self) -> String {
        match self {
            ModelSource::Folder(p) => p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().to_string(),
            ),
            ModelSource::Builtin(n) | ModelSource::Picked(n) => n.clone(),
            ModelSource::Hub(id) => id.rsplit('/').next().unwrap_or(id).to_string(),
        }
    }

    /// The model as menus and messages name it: its folder's path, "(built in)", "hub:ID".
    pub fn label(&self) -> String {
        match self {
            ModelSource::Folder(p) => p.display().to_string(),
            ModelSource::Builtin(n) => format!("{n} (built in)"),
            ModelSource::Hub(id) => format!("hub:{id}"),
            ModelSource::Picked(name) => format!("{name} (picked files)"),
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
            ModelSource::Picked(name) => Err(crate::error::LensError::Unsupported(format!(
                "{name} was opened from files picked in a web page, which only that page holds: open the model's folder instead"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scene or setting saved by a page may name files picked there: elsewhere they are
    /// refused with a message that says where they were and what to do, never a panic.
    #[test]
    fn picked_files_are_named_as_such_and_refused_outside_their_page() {
        let picked = ModelSource::Picked("albert-base-v2".into());
        assert_eq!(picked.label(), "albert-base-v2 (picked files)");
        let json = serde_json::to_string(&picked).expect("serialises");
        assert_eq!(
            serde_json::from_str::<ModelSource>(&json).expect("reads back"),
            picked
        );
        let e = picked
            .folder(&mut |_, _| true)
            .expect_err("no folder to open")
            .to_string();
        assert!(
            e.contains("picked in a web page") && e.contains("folder"),
            "{e}"
        );
        assert_eq!(
            ModelSource::parse(Path::new("albert-base-v2 (picked files)")),
            ModelSource::Folder("albert-base-v2 (picked files)".into())
        );
    }
}
