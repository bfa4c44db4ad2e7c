//! File dialogs that never fail silently. The native dialog (rfd: the XDG desktop portal or
//! zenity on Linux) is tried first; where none can open (a minimal Linux, a container, a remote
//! X session: rfd then answers "nothing chosen" at once), the status bar says so and an in-app
//! prompt asks for the path instead, with the default folder and name filled in.

use super::slot::ModelSlot;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use web_time::{Duration, Instant};

/// What asking for a path gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Picked {
    Path(PathBuf),
    /// the user closed the dialog
    Cancelled,
    /// no native dialog could be shown
    Unavailable,
}

/// A native dialog that answers "nothing chosen" faster than this was never on screen (no
/// person cancels a dialog in a tenth of a second).
const NEVER_SHOWN: Duration = Duration::from_millis(150);

static NATIVE_OFF: AtomicBool = AtomicBool::new(false);

/// Turns native dialogs off for the rest of the process (tests; `ALBERT_LENS_NO_NATIVE_DIALOG`
/// does the same for a user who prefers the in-app prompt).
pub fn set_native(on: bool) {
    NATIVE_OFF.store(!on, Ordering::SeqCst);
}

/// Whether native dialogs are to be tried at all.
pub fn native_enabled() -> bool {
    // a page has no native dialog (rfd's web picker cannot be waited for on the page's thread)
    !cfg!(target_arch = "wasm32")
        && !NATIVE_OFF.load(Ordering::SeqCst)
        && std::env::var_os("ALBERT_LENS_NO_NATIVE_DIALOG").is_none_or(|v| v.is_empty() || v == "0")
}

/// Shows a native dialog (`pick` blocks until it closes) and tells a cancel from a dialog that
/// could not open.
pub fn ask(pick: impl FnOnce() -> Option<rfd::FileHandle>) -> Picked {
    if !native_enabled() {
        return Picked::Unavailable;
    }
    let t = Instant::now();
    match pick() {
        #[cfg(not(target_arch = "wasm32"))]
        Some(h) => Picked::Path(h.path().to_path_buf()),
        // a browser's file handle has no path: the web build saves by download instead
        #[cfg(target_arch = "wasm32")]
        Some(_) => Picked::Unavailable,
        None if t.elapsed() < NEVER_SHOWN => Picked::Unavailable,
        None => Picked::Cancelled,
    }
}

/// What the status bar says when no dialog could open.
#[cfg(target_arch = "wasm32")]
pub const UNAVAILABLE: &str = "a web page opens files only through the browser's file dialog (models, scenes, decks, corpora and labelled files) and saves by download: it has no paths";
/// What the status bar says when no dialog could open.
#[cfg(not(target_arch = "wasm32"))]
pub const UNAVAILABLE: &str = "no file dialog could open here (this desktop has neither an XDG desktop portal nor zenity): type the path in the window instead";

/// What a typed path is for.
pub enum PathFor {
    /// an export or animation, already encoded
    SaveBytes(Vec<u8>),
    SaveScene,
    OpenScene,
    OpenDeck,
    ModelFolder(ModelSlot),
    CorpusFile,
    /// the Prediction tab's labelled examples
    LabelledFile,
}

/// The in-app prompt for a path, shown where no native dialog could open.
pub struct PathPrompt {
    pub purpose: PathFor,
    pub title: String,
    pub text: String,
}

impl PathPrompt {
    /// A prompt for `purpose`, filled in with the working folder and `name` (empty for a
    /// folder or a file to open).
    pub fn new(purpose: PathFor, title: &str, name: &str) -> Self {
        let dir = std::env::current_dir()
            .ok()
            .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
            .unwrap_or_default();
        let mut text = dir.join(name).display().to_string();
        if name.is_empty() && !text.ends_with('/') {
            text.push('/');
        }
        PathPrompt {
            purpose,
            title: title.into(),
            text,
        }
    }

    /// Whether the prompt saves a file (rather than opening one).
    pub fn saves(&self) -> bool {
        matches!(self.purpose, PathFor::SaveBytes(_) | PathFor::SaveScene)
    }
}

/// The kind of file a dialog offers: its name and the endings of its file names.
pub type Filter = (&'static str, &'static [&'static str]);

/// The dialog that opens a data file (a corpus, labelled examples, a deck), titled `title`,
/// offering `filter`: the native one on the desktop ([`dialog`]); on a page the browser's, the
/// file read into the page's memory ([`crate::picked`]) and answered with its `picked:NAME`
/// path, which reads as a file on disk does.
pub fn open_data(
    ctx: &egui::Context,
    name: &str,
    title: &'static str,
    filter: Filter,
) -> std::io::Result<std::sync::mpsc::Receiver<Picked>> {
    #[cfg(target_arch = "wasm32")]
    {
        let _ = name;
        Ok(super::page::pick_file(
            ctx,
            title,
            filter,
            |picked| match picked {
                Some((name, bytes)) => Picked::Path(crate::picked::keep(&name, bytes)),
                None => Picked::Cancelled,
            },
        ))
    }
    #[cfg(not(target_arch = "wasm32"))]
    dialog(ctx, name, move || {
        let dialog = rfd::AsyncFileDialog::new().set_title(title);
        pollster::block_on(dialog.add_filter(filter.0, filter.1).pick_file())
    })
}

/// Shows a native file dialog (`pick`, which blocks) on a thread of its own; the receiver gets
/// what it gave ([`ask`]: a path, a cancel, or no dialog at all) and the
/// UI is woken then.
pub fn dialog(
    ctx: &egui::Context,
    name: &str,
    pick: impl FnOnce() -> Option<rfd::FileHandle> + Send + 'static,
) -> std::io::Result<std::sync::mpsc::Receiver<Picked>> {
    let (tx, rx) = std::sync::mpsc::channel();
    // a page has no native dialog and no thread to wait for one on: the answer is at once
    #[cfg(target_arch = "wasm32")]
    {
        let _ = (ctx, name, pick);
        let _ = tx.send(Picked::Unavailable);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let ctx = ctx.clone();
        std::thread::Builder::new()
            .name(format!("{name} dialog"))
            .spawn(move || {
                let _ = tx.send(ask(pick));
                ctx.request_repaint();
            })?;
    }
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dialog_that_answers_at_once_could_not_open_and_a_slow_none_is_a_cancel() {
        assert_eq!(ask(|| None), Picked::Unavailable);
        let slow = ask(|| {
            std::thread::sleep(NEVER_SHOWN * 2);
            None
        });
        assert_eq!(slow, Picked::Cancelled);
    }

    #[test]
    fn a_save_prompt_is_filled_with_the_working_folder_and_the_name() {
        let p = PathPrompt::new(PathFor::SaveScene, "Save the scene", "scene.json");
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(PathBuf::from(&p.text), cwd.join("scene.json"));
        assert!(p.saves());
        let o = PathPrompt::new(PathFor::CorpusFile, "A corpus", "");
        assert!(o.text.ends_with('/') && !o.saves());
    }
}
