//! The web build (wasm32, `tools/web/build.sh`): the page's entry point, saving by download, and
//! the debug hook that shows a page's numbers to its tests.
//!
//! The app is the desktop's, run by eframe's web runner on the page's canvas, with these
//! differences (each `cfg(target_arch = "wasm32")` where it is made):
//! - the worker's tasks run on the page's one thread between frames ([`super::worker::Worker::pump`]),
//!   and analyses ([`super::jobs::spawn`]) run at once: nothing blocks on a thread the page lacks;
//! - the main model's run computes on WebGPU where the browser has it, read back between frames
//!   ([`super::in_flight`]); everything else, and a browser with WebGL2 only, on the CPU;
//! - built-in models open from the bytes compiled in ([`crate::model::builtin::open_in_memory`]);
//! - a model's files come into the page's memory, picked in the browser's file dialog or fetched
//!   from the Hub, and open as a folder's would ([`models`]);
//! - exports and other saves download ([`download`]); scenes, decks, corpora and labelled files
//!   open from the browser's file dialog, the data files held in the page's memory under a
//!   `picked:NAME` path ([`crate::picked`]);
//! - settings persist in the browser's local storage (eframe's persistence).

use super::session::Session;
use super::worker::ModelSlot;
use super::{AppOptions, LensApp};
use crate::model::Trace;
use std::cell::RefCell;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The id of the canvas the page draws on (tools/web/index.html).
pub const CANVAS_ID: &str = "albert-lens";

thread_local! {
    /// The newest main trace the page drew, with its model's name and its text; the debug hook
    /// writes it out only when asked (every keystroke makes one).
    static PUBLISHED: RefCell<Option<Published>> = const { RefCell::new(None) };
}

/// The main run the debug hook shows.
struct Published {
    trace: Arc<Trace>,
    /// where the model came from, as menus name it ("… (picked files)", "hub:ID")
    model: String,
    text: String,
    /// the backend that computed it ("gpu: … (BrowserWebGpu)", "cpu: …")
    backend: String,
    /// what the status bar says of the worker's backend (with why the GPU is not used)
    engine: String,
}

/// Keeps the main model's trace for the debug hook, when it is a new one.
pub fn publish(session: &Session) {
    let (Some(traced), Some(text)) = (session.traced(), session.traced_text()) else {
        return;
    };
    PUBLISHED.with(|p| {
        let mut p = p.borrow_mut();
        if p.as_ref()
            .is_some_and(|p| Arc::ptr_eq(&p.trace, &traced.trace))
        {
            return;
        }
        *p = Some(Published {
            trace: traced.trace.clone(),
            model: session.source_label(ModelSlot::Main),
            text: text.to_string(),
            backend: traced.backend.clone(),
            engine: session
                .worker
                .backend_name
                .lock()
                .map(|n| n.clone())
                .unwrap_or_default(),
        });
    });
}

/// The debug hook: the main model's newest forward pass as the page drew it (model, text, the
/// backend that computed it and its warnings, tokens, every attention map `[heads, N, N]`, the
/// last hidden state), as JSON; "" before the first. The page's tests read it as
/// `window.albertLens.summary()`.
#[wasm_bindgen]
pub fn albert_lens_summary() -> String {
    PUBLISHED.with(|p| {
        let p = p.borrow();
        let Some(Published {
            trace,
            model,
            text,
            backend,
            engine,
        }) = p.as_ref()
        else {
            return String::new();
        };
        serde_json::json!({
            "model": model,
            "text": text,
            "backend": backend,
            "engine": engine,
            "warnings": trace.warnings,
            "tokens": trace.tokens,
            "input_ids": trace.input_ids,
            "num_heads": trace.num_heads,
            "hidden_size": trace.hidden_size,
            "attentions": trace.attentions,
            "last_hidden_state": trace.hidden_states.last(),
        })
        .to_string()
    })
}

thread_local! {
    /// The open tab's id, for the debug hook.
    static TAB: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records the open tab for the debug hook.
pub fn publish_tab(tab: &str) {
    TAB.with(|t| {
        if *t.borrow() != tab {
            *t.borrow_mut() = tab.to_string();
        }
    });
}

/// The debug hook's other half: the id of the tab the page shows (`window.albertLens.tab()`).
#[wasm_bindgen]
pub fn albert_lens_tab() -> String {
    TAB.with(|t| t.borrow().clone())
}

thread_local! {
    /// The longest frame of the app's own work (its models' steps included, the browser's
    /// drawing not) since the debug hook last read it, in ms.
    static LONGEST_FRAME: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Records how long the app's work took this frame.
pub fn frame_took(ms: f64) {
    LONGEST_FRAME.with(|l| l.set(l.get().max(ms)));
}

/// The debug hook for how interactive the page stays (`window.albertLens.longestFrame()`): the
/// longest frame of the app's own work since the last call, in ms, and starts over.
#[wasm_bindgen]
pub fn albert_lens_longest_frame() -> f64 {
    LONGEST_FRAME.with(|l| l.replace(0.0))
}

thread_local! {
    /// The page's egui context: a debug hook asks it for a frame.
    static CONTEXT: RefCell<Option<egui::Context>> = const { RefCell::new(None) };
}

thread_local! {
    /// Whether a test asked for the widgets (then the frame builds egui's accessibility tree),
    /// and the last frame's list as JSON.
    static WIDGETS: RefCell<(bool, String)> = const { RefCell::new((false, String::new())) };
}

/// Records the frame's widgets for the debug hook, once a test has asked for them: each one's
/// role, label, value and rectangle (CSS pixels at zoom 1), from egui's accessibility nodes of
/// the frame drawn so far (call it last in the frame).
pub fn publish_widgets(ctx: &egui::Context) {
    CONTEXT.with(|c| {
        if c.borrow().is_none() {
            *c.borrow_mut() = Some(ctx.clone());
        }
    });
    if !WIDGETS.with(|w| w.borrow().0) {
        return;
    }
    ctx.enable_accesskit();
    let list: Vec<serde_json::Value> = ctx.viewport(|v| {
        let Some(state) = v.this_pass.accesskit_state.as_ref() else {
            return Vec::new();
        };
        state
            .nodes
            .values()
            .filter_map(|n| {
                let b = n.bounds()?;
                Some(serde_json::json!({
                    "role": format!("{:?}", n.role()),
                    "label": n.label(),
                    "value": n.value(),
                    "disabled": n.is_disabled(),
                    "rect": [b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0],
                }))
            })
            .collect()
    });
    let json = serde_json::Value::Array(list).to_string();
    WIDGETS.with(|w| w.borrow_mut().1 = json);
}

/// The debug hook for finding widgets (`window.albertLens.widgets()`): the last frame's widgets
/// as JSON, `[{role, label, value, disabled, rect: [x, y, w, h]}]`; "[]" until a frame after the first
/// call has been drawn.
#[wasm_bindgen]
pub fn albert_lens_widgets() -> String {
    WIDGETS.with(|w| {
        let mut w = w.borrow_mut();
        if !w.0 {
            // the list is made by the next frame: ask for one
            CONTEXT.with(|c| c.borrow().as_ref().map(egui::Context::request_repaint));
        }
        w.0 = true;
        if w.1.is_empty() {
            "[]".to_string()
        } else {
            w.1.clone()
        }
    })
}

/// Writes `message` into the page's status line (the element `#status`), for what happens
/// before the app draws or instead of it.
fn say(message: &str) {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("status"))
    {
        el.set_text_content(Some(message));
    }
}

/// What the page's address asks for: `?text=...&tab=...&view=model|heatmap|links` (a tab or
/// view that does not exist is ignored), `&backend=auto|cpu|gpu` (as `--backend`), and
/// `&hf_endpoint=URL`, the Hub to fetch models from (as `HF_ENDPOINT` is for the desktop).
fn from_address() -> AppOptions {
    let query = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|s| web_sys::UrlSearchParams::new_with_str(&s).ok());
    let get = |k: &str| query.as_ref().and_then(|q| q.get(k));
    if let Some(hub) = get("hf_endpoint").filter(|h| !h.is_empty()) {
        super::page::set_endpoint(&hub);
    }
    use super::tabs::attention::AttnView;
    use crate::backend::BackendChoice;
    AppOptions {
        text: get("text").filter(|t| !t.is_empty()),
        tab: get("tab").filter(|t| super::tabs::registry().iter().any(|r| r.id() == t)),
        view: match get("view").as_deref() {
            Some("model") => Some(AttnView::Model),
            Some("heatmap") => Some(AttnView::Heatmap),
            Some("links") => Some(AttnView::Links),
            _ => None,
        },
        // the GPU where the browser gives WebGPU (a software adapter only when asked for)
        backend: match get("backend").as_deref() {
            Some("gpu") => BackendChoice::Gpu,
            Some("cpu") => BackendChoice::Cpu,
            _ => BackendChoice::Auto,
        },
        ..AppOptions::default()
    }
}

/// Starts the app on the page's canvas. A panic is written to the console and the page.
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let message = format!("albert-lens stopped: {info}");
        web_sys::console::error_1(&message.clone().into());
        say(&message);
    }));
    let opts = from_address();
    // the device the page draws with is the one it computes on: ask for what compute needs
    let mut web = eframe::WebOptions::default();
    if let eframe::egui_wgpu::WgpuSetup::CreateNew(new) = &mut web.wgpu_options.wgpu_setup {
        new.device_descriptor = Arc::new(crate::backend::gpu::context::page_device_descriptor);
    }
    wasm_bindgen_futures::spawn_local(async move {
        let canvas = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(CANVAS_ID))
            .and_then(|e| e.dyn_into::<web_sys::HtmlCanvasElement>().ok());
        let Some(canvas) = canvas else {
            say(&format!("the page has no canvas #{CANVAS_ID}"));
            return;
        };
        let started = eframe::WebRunner::new()
            .start(
                canvas,
                web,
                Box::new(|cc| Ok(Box::new(LensApp::new(cc, opts)))),
            )
            .await;
        match started {
            Ok(()) => say(""),
            Err(e) => say(&format!(
                "albert-lens cannot start in this browser: {}",
                e.as_string().unwrap_or_else(|| format!("{e:?}"))
            )),
        }
    });
}
