//! The page's own models: files picked in the browser's file dialog, and Hub models fetched
//! with the browser's `fetch`. Both are held in the page's memory for the visit (a page has no
//! folders and no cache of its own) and open with the checks and messages a folder gets
//! ([`crate::model::ModelFiles`]).

use super::jobs::Ticket;
use super::slot::{ModelInfo, ModelSlot, OpenKey};
use crate::error::{LensError, Result};
use crate::model::hub::{fetch_model, RepoFiles};
use crate::model::{LoadedModel, ModelFiles, ModelSource};
use std::cell::RefCell;
use std::sync::mpsc::{channel, Receiver};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// A model's files: (file name, bytes).
type Files = Vec<(String, Vec<u8>)>;

thread_local! {
    /// The files of every model the page holds, by where they came from (picked files by the
    /// name they were kept under, Hub models by id). They stay for the visit, so that a model
    /// opens again in the other slot or after another model.
    static HELD: RefCell<Vec<(ModelSource, Files)>> = const { RefCell::new(Vec::new()) };
    /// The Hub the page fetches from: `?hf_endpoint=` in its address, else huggingface.co.
    static ENDPOINT: RefCell<String> = RefCell::new("https://huggingface.co".into());
    /// Hub models whose files have come, waiting for the session to open them
    static FETCHED: RefCell<Vec<Fetched>> = const { RefCell::new(Vec::new()) };
}

/// Sets the Hub the page fetches from (the page's `?hf_endpoint=`).
pub fn set_endpoint(url: &str) {
    ENDPOINT.with(|e| *e.borrow_mut() = url.trim_end_matches('/').to_string());
}

/// Whether the page holds `source`'s files.
pub fn fetched(source: &ModelSource) -> bool {
    HELD.with(|h| h.borrow().iter().any(|(s, _)| s == source))
}

/// Opens the files the page holds for `source`. Files that do not open are let go (the user
/// picks or fetches again).
pub fn open_in_page(source: &ModelSource) -> anyhow::Result<LoadedModel> {
    let opened = HELD.with(|h| {
        let h = h.borrow();
        let Some((_, files)) = h.iter().find(|(s, _)| s == source) else {
            anyhow::bail!(
                "{}: the page no longer holds its files: open it again from the Model menu",
                source.label()
            );
        };
        let name = match source {
            ModelSource::Hub(id) => format!("hub:{id}"),
            other => other.label(),
        };
        let files = ModelFiles::memory(
            std::path::Path::new(&name),
            files
                .iter()
                .map(|(n, b)| (n.clone(), std::borrow::Cow::Borrowed(b.as_slice()))),
        );
        Ok(LoadedModel::open_files(&files)?)
    });
    if opened.is_err() {
        HELD.with(|h| h.borrow_mut().retain(|(s, _)| s != source));
    }
    opened
}

/// Keeps `files` for `source`, replacing what the page held for it.
fn hold(source: ModelSource, files: Files) {
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        h.retain(|(s, _)| *s != source);
        h.push((source, files));
    });
}

/// The browser's file dialog for a model's files (config.json, the weights, the tokenizer's
/// files: several at once). The receiver gets the source they are held as, None when nothing
/// was chosen; the UI is woken then.
pub fn pick_model_files(ctx: &egui::Context) -> Receiver<Option<ModelSource>> {
    let (tx, rx) = channel();
    let ctx = ctx.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let handles = rfd::AsyncFileDialog::new()
            .set_title("Pick a model's files: config.json, the weights (model.safetensors, its shards, or pytorch_model.bin) and the tokenizer (tokenizer.json, spiece.model, vocab.txt, …)")
            .pick_files()
            .await;
        let kept = match handles {
            Some(handles) if !handles.is_empty() => {
                let mut files = Vec::with_capacity(handles.len());
                for h in &handles {
                    files.push((h.file_name(), h.read().await));
                }
                let source = ModelSource::Picked(picked_name(&files));
                hold(source.clone(), files);
                Some(source)
            }
            _ => None,
        };
        let _ = tx.send(kept);
        ctx.request_repaint();
    });
    rx
}

/// A file picked in the page: its name and bytes (None: nothing chosen).
pub type PickedFile = Option<(String, Vec<u8>)>;

/// The browser's file dialog for a scene file (.json), read.
pub fn pick_scene_file(ctx: &egui::Context) -> Receiver<PickedFile> {
    let title = "Open a scene (a .json file saved by File > Save scene…)";
    pick_file(ctx, title, ("scene", &["json"]), |picked| picked)
}

/// The browser's file dialog for one file, titled `title`, offering the files of `kind` whose
/// names end in `exts`; the receiver gets `answer` of the file read (None: nothing chosen).
pub fn pick_file<T: 'static>(
    ctx: &egui::Context,
    title: &'static str,
    (kind, exts): (&'static str, &'static [&'static str]),
    answer: impl FnOnce(PickedFile) -> T + 'static,
) -> Receiver<T> {
    let (tx, rx) = channel();
    let ctx = ctx.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let dialog = rfd::AsyncFileDialog::new().set_title(title);
        let read = match dialog.add_filter(kind, exts).pick_file().await {
            Some(h) => Some((h.file_name(), h.read().await)),
            None => None,
        };
        let _ = tx.send(answer(read));
        ctx.request_repaint();
    });
    rx
}

/// A name for picked files: the model's `_name_or_path` from its config.json where it has one
/// (its last part), else "your model"; a name the page holds already gets " (2)", " (3)", ….
fn picked_name(files: &Files) -> String {
    let named = files
        .iter()
        .find(|(n, _)| n == "config.json")
        .and_then(|(_, b)| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("_name_or_path")?.as_str().map(str::to_string))
        .and_then(|p| {
            p.rsplit(['/', '\\'])
                .find(|s| !s.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "your model".to_string());
    let mut name = named.clone();
    let mut i = 2;
    while fetched(&ModelSource::Picked(name.clone())) {
        name = format!("{named} ({i})");
        i += 1;
    }
    name
}

/// A Hub model being opened: its ticket goes back to the session once the files are in the
/// page ([`fetch_hub`]), to be opened by the worker as any model is.
pub type Fetched = (ModelSlot, ModelSource, Ticket<OpenKey, ModelInfo>);

/// The Hub models whose files have come since the last call, to be opened.
pub fn take_fetched() -> Vec<Fetched> {
    FETCHED.with(|f| std::mem::take(&mut *f.borrow_mut()))
}

/// Fetches Hub model `id`'s files into the page (progress and cancel through `ticket`), then
/// hands the ticket back through [`take_fetched`] and calls `wake`; a fetch that fails
/// finishes the ticket with the error.
pub fn fetch_hub(
    slot: ModelSlot,
    id: String,
    ticket: Ticket<OpenKey, ModelInfo>,
    wake: super::jobs::Waker,
) {
    wasm_bindgen_futures::spawn_local(async move {
        let endpoint = ENDPOINT.with(|e| e.borrow().clone());
        let mut page = PageFetch {
            id: &id,
            base: format!("{endpoint}/{id}/resolve/main"),
            files: Vec::new(),
            ticket: &ticket,
        };
        match fetch_model(&id, &endpoint, &mut page).await {
            Ok(()) => {
                let files = std::mem::take(&mut page.files);
                hold(ModelSource::Hub(id.clone()), files);
                FETCHED.with(|f| f.borrow_mut().push((slot, ModelSource::Hub(id), ticket)));
                wake();
            }
            Err(e) => ticket.finish(Err(e.to_string())),
        }
    });
}

/// The page's [`RepoFiles`]: each file fetched whole with the browser's `fetch` (which follows
/// the Hub's redirects to its CDN itself), held in memory.
struct PageFetch<'a> {
    id: &'a str,
    /// `{endpoint}/{id}/resolve/main`
    base: String,
    files: Files,
    ticket: &'a Ticket<OpenKey, ModelInfo>,
}

impl PageFetch<'_> {
    fn err(&self, msg: impl std::fmt::Display) -> LensError {
        LensError::Hub(format!("{}: {msg}", self.id))
    }
}

/// A JavaScript error's message.
fn js_message(e: &wasm_bindgen::JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

impl RepoFiles for PageFetch<'_> {
    async fn fetch(&mut self, file: &str, cap: u64) -> Result<Option<u64>> {
        if self.ticket.cancelled() {
            return Err(self.err("cancelled"));
        }
        self.ticket
            .control
            .report(format!("downloading {}: {file}", self.id), None);
        let window = web_sys::window().ok_or_else(|| self.err("the page has no window"))?;
        let url = format!("{}/{file}", self.base);
        let answer = JsFuture::from(window.fetch_with_str(&url))
            .await
            .map_err(|e| {
                self.err(format!(
                    "{file}: cannot reach the Hub ({}): {}",
                    self.base,
                    js_message(&e)
                ))
            })?;
        let resp: web_sys::Response = answer
            .dyn_into()
            .map_err(|_| self.err(format!("{file}: the browser's answer is not a response")))?;
        match resp.status() {
            200 => {}
            401 | 403 | 404 => return Ok(None),
            s => return Err(self.err(format!("{file}: the server answered HTTP {s}"))),
        }
        let too_big = |n: u64| {
            self.err(format!(
                "{file} is {n} bytes, more than the {cap} this model's files can plausibly be"
            ))
        };
        let said = resp
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(n) = said.filter(|n| *n > cap) {
            return Err(too_big(n));
        }
        let body = resp
            .array_buffer()
            .map_err(|e| self.err(format!("{file}: {}", js_message(&e))))?;
        let body = JsFuture::from(body).await.map_err(|e| {
            self.err(format!(
                "{file}: the download broke off: {}",
                js_message(&e)
            ))
        })?;
        let bytes = js_sys::Uint8Array::new(&body).to_vec();
        if bytes.len() as u64 > cap {
            return Err(too_big(bytes.len() as u64));
        }
        let n = bytes.len() as u64;
        self.files.push((file.to_string(), bytes));
        Ok(Some(n))
    }

    fn read_fetched(&self, file: &str, cap: u64) -> Result<Vec<u8>> {
        let (_, bytes) = self
            .files
            .iter()
            .find(|(n, _)| n == file)
            .ok_or_else(|| self.err(format!("{file} was not fetched")))?;
        if bytes.len() as u64 > cap {
            return Err(self.err(format!("{file} is more than {cap} bytes")));
        }
        Ok(bytes.clone())
    }
}

/// Hands `bytes` to the browser as a download named `name`.
pub fn download(name: &str, bytes: &[u8]) -> Result<(), String> {
    let fail = |what: &str, e: wasm_bindgen::JsValue| format!("cannot {what}: {e:?}");
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("the page has no document")?;
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let blob =
        web_sys::Blob::new_with_u8_array_sequence(&parts).map_err(|e| fail("make the file", e))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|e| fail("make the file's address", e))?;
    let link: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| fail("make the link", e))?
        .dyn_into()
        .map_err(|_| "the link is not a link".to_string())?;
    link.set_href(&url);
    link.set_download(name);
    link.click();
    // the browser has taken the blob once the click is handled; freeing it at once can cancel
    // the download in some browsers, so the address is freed on the next turn of the loop
    wasm_bindgen_futures::spawn_local(async move {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    Ok(())
}
