//! The command line, one file per command with its `#[derive(Args)]` flags and its run
//! (main.rs parses and dispatches); here the process-wide helpers: the private runtime folder
//! and `render --list-views`.

use std::path::{Path, PathBuf};

pub(crate) mod attribute;
pub(crate) mod bench;
pub(crate) mod common;
pub(crate) mod corpus;
pub(crate) mod deck;
pub(crate) mod desktop;
pub(crate) mod heads;
pub(crate) mod ranges;
pub(crate) mod render;
pub(crate) mod render_runs;
pub(crate) mod render_scene;
pub(crate) mod summary;
pub(crate) mod trace;
pub(crate) mod verify;

/// The prefix of the private runtime folders [`private_runtime_dir`] makes.
const RUNTIME_PREFIX: &str = "albert-lens-runtime-";

/// Mesa's Wayland client prints "XDG_RUNTIME_DIR is invalid or not set" on every device it
/// creates when the variable is missing (a headless shell, CI): give the process a private one,
/// removed at exit. Folders that earlier processes left behind (killed, aborted) are removed
/// here first: one whose process is gone, owned by this user. Without the variable no Wayland
/// display was reachable anyway, so nothing else changes.
pub(crate) fn private_runtime_dir() -> Option<PathBuf> {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).is_dir()) {
        return None;
    }
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let tmp = std::env::temp_dir();
    // this process's user: /proc/self belongs to it
    let me = std::fs::metadata("/proc/self").ok().map(|m| m.uid());
    for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(RUNTIME_PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(m) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if m.is_dir() && !alive && Some(m.uid()) == me {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let dir = tmp.join(format!("{RUNTIME_PREFIX}{}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir).ok()?;
    // before any thread exists: nothing reads the environment concurrently
    std::env::set_var("XDG_RUNTIME_DIR", &dir);
    Some(dir)
}

/// `render --list-views`: every view id `render --view` draws, with what it shows (the corpus
/// statistics views among them; `corpus figure --view` draws the same from a statistics file).
pub(crate) fn list_views() {
    use clap::ValueEnum;
    for v in albert_lens::render::RenderView::value_variants() {
        if let Some(p) = v.to_possible_value() {
            let help = p.get_help().map(|h| h.to_string()).unwrap_or_default();
            println!("{}\t{help}", p.get_name());
        }
    }
}
