//! The model worker: one thread that owns the loaded models and the backend, so that loading,
//! downloading and forward passes never run on the UI thread. Work reaches it as [`jobs`]
//! tickets with a closure run on the [`Engine`] (the models and the backend); the closure's
//! result finishes the ticket. A ticket cancelled while queued is skipped: of the runs queued
//! while the user types, only the newest is computed.
//!
//! [`jobs`]: super::jobs

use super::jobs::{Control, Ticket, Waker};
use crate::backend::{Backend, BackendChoice, FallbackBackend};
use crate::model::{ForwardOptions, Intervention};
use crate::model::{LoadedModel, ModelSource, Trace};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use web_time::Instant;

pub use super::slot::{ModelInfo, ModelSlot};

/// A forward pass as the worker returns it.
#[derive(Clone)]
pub struct Traced {
    pub trace: Arc<Trace>,
    /// attention rollout of every layer, computed here rather than on the UI thread
    pub rollout: Arc<Vec<Vec<f32>>>,
    pub ms: f64,
    pub backend: String,
    /// with an intervention (heads off, tokens masked): the same input run without it
    pub intact: Option<Arc<Traced>>,
    /// with an intervention and a masked-LM or task head: the top prediction before and after it
    pub prediction: Option<PredictionChange>,
    /// the fine-tuned task head's prediction (models with one)
    pub task: Option<Arc<crate::model::task::Prediction>>,
}

/// The masked-LM head's top prediction at one position, without and with an intervention.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionChange {
    pub position: usize,
    /// (token, probability)
    pub before: (String, f32),
    pub after: (String, f32),
}

/// A task head's prediction before and after an intervention: the class, the label of the
/// first masked token (else the first ordinary one), or the answer span.
fn task_change(
    iv: &Intervention,
    (t0, before): (&Trace, &crate::model::task::Prediction),
    (t1, after): (&Trace, &crate::model::task::Prediction),
) -> PredictionChange {
    let position = match before.kind {
        crate::model::task::TaskKind::SequenceClassification => 0,
        _ => t1.focus(iv.masked.first().copied()),
    };
    let context = |t: &Trace| crate::views::prediction::answerable(t);
    PredictionChange {
        position,
        before: before.headline(&t0.tokens, position, &context(t0)),
        after: after.headline(&t1.tokens, position, &context(t1)),
    }
}

/// The models and the backend, as the worker's tasks see them.
pub struct Engine {
    pub backend: FallbackBackend,
    pub(super) models: [Option<LoadedModel>; 2],
    /// what the UI calls each model ("albert-mini (built in)", a folder, hub:ID)
    labels: [String; 2],
    /// the last main trace handed out: its memory holds the next one once the UI lets go
    last_main: Option<Arc<Trace>>,
    /// whether the GPU backend computes on the window's own device
    shared_device: bool,
    /// whether the GPU's passes are read back without blocking (a page: [`super::in_flight`])
    pub(super) nonblocking: bool,
    /// a pass whose results come back over the next frames; the worker's other tasks wait
    pub(super) in_flight: Option<Continuation>,
}

/// Work in flight on the engine (a page's GPU pass: [`super::in_flight`]), stepped once a frame
/// until it says it is done (true).
pub type Continuation = Box<dyn FnMut(&mut Engine) -> bool>;

impl Engine {
    /// Steps the work in flight; true when there is none left.
    pub(super) fn step_in_flight(&mut self) -> bool {
        let Some(mut step) = self.in_flight.take() else {
            return true;
        };
        let done = step(self);
        if !done {
            self.in_flight = Some(step);
        }
        done
    }

    /// Drives the work in flight to its end, waiting for the device between steps (a thread
    /// that may block: the desktop's worker, the tests).
    pub fn settle(&mut self) {
        while !self.step_in_flight() {
            if let Some(g) = self.backend.gpu() {
                g.poll(true);
            }
        }
    }

    /// The model in `slot`, or why there is none.
    pub fn model(&self, slot: ModelSlot) -> Result<&LoadedModel, String> {
        loaded(&self.models, slot)
    }

    /// Every loaded model with its name.
    pub fn models(&self) -> impl Iterator<Item = (&LoadedModel, &str)> {
        self.models
            .iter()
            .zip(&self.labels)
            .filter_map(|(m, l)| m.as_ref().map(|m| (m, l.as_str())))
    }

    /// Opens `source` into `slot` (downloading it first if it is on the Hub), reporting
    /// progress on `ctl` and stopping a download when `ctl` is cancelled.
    pub fn open(
        &mut self,
        slot: ModelSlot,
        source: ModelSource,
        ctl: &Control,
    ) -> Result<ModelInfo, String> {
        let opened = open_source(&source, ctl);
        let model = opened.map_err(|e| format!("{e:#}"))?;
        let info = info_of(&model, source);
        self.labels[slot as usize] = info.source.name();
        if slot == ModelSlot::Main {
            self.last_main = None;
        }
        self.models[slot as usize] = Some(model);
        Ok(info)
    }

    /// Runs the model in `slot` on a text (and optional second segment). The main view's trace
    /// (`main_view`) recycles the memory of the one it replaces. With an intervention, the
    /// input is also run without it (`intact`), and the prediction before and after is given.
    pub fn run(
        &mut self,
        slot: ModelSlot,
        (text, pair): (&str, Option<&str>),
        main_view: bool,
        iv: &Intervention,
    ) -> Result<Traced, String> {
        let t0 = Instant::now();
        let m = loaded(&self.models, slot)?;
        let input = m.encode(text, pair).map_err(|e| e.to_string())?;
        let changed = m.masked(&input, iv).map_err(|e| e.to_string())?;
        let opts = ForwardOptions {
            capture: crate::model::Capture::Nothing,
            ablate: iv.ablate.clone(),
        };
        let traced = self.forward(slot, &changed, &opts)?;
        let intact = match iv.is_empty() {
            true => None,
            false => Some(self.forward(slot, &input, &ForwardOptions::default())?),
        };
        Ok(self.finish_run(slot, (traced, intact), main_view, iv, t0))
    }

    /// A run's result from its passes: the intervened one and (with an intervention) the
    /// intact one, with the prediction before and after. The main view's trace recycles the
    /// memory of the one it replaces.
    pub(super) fn finish_run(
        &mut self,
        slot: ModelSlot,
        (mut traced, intact): (Traced, Option<Traced>),
        main_view: bool,
        iv: &Intervention,
        t0: Instant,
    ) -> Traced {
        if let Some(intact) = intact {
            traced.prediction = match (&intact.task, &traced.task) {
                (Some(before), Some(after)) => Some(task_change(
                    iv,
                    (&intact.trace, before),
                    (&traced.trace, after),
                )),
                _ => self.prediction_change(slot, iv, (&intact.trace, &traced.trace)),
            };
            traced.intact = Some(Arc::new(intact));
        }
        let trace = traced.trace.clone();
        if main_view {
            if let Some(old) = self.last_main.replace(trace) {
                if let Ok(t) = Arc::try_unwrap(old) {
                    self.backend.recycle(t);
                }
            }
        }
        traced.ms = t0.elapsed().as_secs_f64() * 1e3;
        traced
    }

    fn forward(
        &mut self,
        slot: ModelSlot,
        input: &crate::model::EncodedInput,
        opts: &ForwardOptions,
    ) -> Result<Traced, String> {
        let m = loaded(&self.models, slot)?;
        let trace = self
            .backend
            .forward_with(&m.config, &m.weights, input, opts)
            .map_err(|e| format!("running {}: {e}", m.dir.display()))?;
        let name = self.backend.blocking_name();
        self.traced(slot, trace, name)
    }

    /// A pass's trace with what the views take from it: the rollout, the task head's
    /// prediction, and the name of the backend that computed it.
    pub(super) fn traced(
        &self,
        slot: ModelSlot,
        trace: Trace,
        backend: String,
    ) -> Result<Traced, String> {
        let m = loaded(&self.models, slot)?;
        let rollout = crate::analysis::rollout(&trace)
            .map_err(|e| format!("running {}: {e}", m.dir.display()))?;
        let task = crate::model::task::predict(&m.config, &m.weights, &trace)
            .transpose()
            .map_err(|e| format!("the task head of {}: {e}", m.dir.display()))?
            .map(Arc::new);
        Ok(Traced {
            trace: Arc::new(trace),
            rollout: Arc::new(rollout),
            ms: 0.0,
            backend: self.labelled(backend),
            intact: None,
            prediction: None,
            task,
        })
    }

    /// The top prediction at the first masked position (else the first [MASK]) before and
    /// after an intervention, when the model has a masked-LM head.
    fn prediction_change(
        &self,
        slot: ModelSlot,
        iv: &Intervention,
        (before, after): (&Trace, &Trace),
    ) -> Option<PredictionChange> {
        let m = loaded(&self.models, slot).ok()?;
        let head = m.weights.mlm.as_ref()?;
        // where the lens looks by default: a masked token, a [MASK], else the first word
        let position = after.focus(iv.masked.first().copied());
        let top = |t: &Trace| -> Option<(String, f32)> {
            let last = t.hidden_states.len().checked_sub(1)?;
            let logits = head.logits(&m.config, t.hidden(last, position)).ok()?;
            let probs = crate::insight::softmax(&logits);
            let (id, p) = probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
            Some((m.tokenizer.token_or_id(id as u32), *p))
        };
        Some(PredictionChange {
            position,
            before: top(before)?,
            after: top(after)?,
        })
    }

    /// The Explain walk-through of `sel` on the text: the main model run again keeping map
    /// `sel.map`'s intermediates, with the comparison model's layer sharing when one is open.
    pub fn explain(
        &mut self,
        (text, pair): (&str, Option<&str>),
        iv: &Intervention,
        sel: crate::insight::explain::Selection,
    ) -> Result<crate::insight::explain::Walk, String> {
        let m = loaded(&self.models, ModelSlot::Main)?;
        let input = m.encode(text, pair).map_err(|e| e.to_string())?;
        let input = m.masked(&input, iv).map_err(|e| e.to_string())?;
        let opts = ForwardOptions {
            capture: crate::model::Capture::Maps(vec![sel.map]),
            ablate: iv.ablate.clone(),
        };
        let trace = self
            .backend
            .forward_with(&m.config, &m.weights, &input, &opts)
            .map_err(|e| format!("running {}: {e}", m.dir.display()))?;
        let compare = loaded(&self.models, ModelSlot::Compare).ok();
        let compare = compare.map(|c| (c, self.labels[1].as_str()));
        crate::views::explain::derive((m, &self.labels[0]), &trace, sel, compare)
            .map_err(|e| e.to_string())
    }

    /// The backend's name for the status bar, saying whether the GPU is the window's.
    pub fn backend_label(&self) -> String {
        self.labelled(self.backend.name())
    }

    /// A backend's name, saying whether the GPU is the window's.
    fn labelled(&self, name: String) -> String {
        if self.shared_device && name.starts_with("gpu") {
            format!("{name} · the window's device")
        } else {
            name
        }
    }

    /// The unshare what-if: the main model (an ALBERT) with its layer group applied `reps`
    /// times, on a text.
    pub fn what_if(
        &mut self,
        text: &str,
        pair: Option<&str>,
        reps: &[usize],
    ) -> Result<Vec<(usize, Arc<Trace>)>, String> {
        let m = loaded(&self.models, ModelSlot::Main)?;
        let backend = &mut self.backend;
        let mut run = || -> crate::Result<Vec<(usize, Arc<Trace>)>> {
            let input = m.encode(text, pair)?;
            let mut out = Vec::new();
            for &r in reps {
                let cfg = crate::model::config::repeated_config(&m.config, r)?;
                out.push((r, Arc::new(backend.forward(&cfg, &m.weights, &input)?)));
            }
            Ok(out)
        };
        run().map_err(|e| e.to_string())
    }
}

/// The model in `slot`, or why there is none (a free function, so that a method can hold it
/// while it uses the backend).
pub(super) fn loaded(
    models: &[Option<LoadedModel>; 2],
    slot: ModelSlot,
) -> Result<&LoadedModel, String> {
    models[slot as usize]
        .as_ref()
        .ok_or_else(|| "no model is loaded: open a model folder first".to_string())
}

/// The model `source` names, opened (downloaded first if it is on the Hub), reporting progress
/// on `ctl` and stopping a download when `ctl` is cancelled.
#[cfg(not(target_arch = "wasm32"))]
fn open_source(source: &ModelSource, ctl: &Control) -> anyhow::Result<LoadedModel> {
    let mut progress = |what: String, fraction: Option<f32>| {
        ctl.report(what, fraction);
        !ctl.cancelled()
    };
    let dir = source.folder(&mut progress)?;
    ctl.report(format!("loading {}", dir.display()), None);
    // its errors name the folder or file already: no second copy of the path
    Ok(LoadedModel::open(&dir)?)
}

/// The page has no folders: a built-in model is read from the bytes compiled in, picked files and
/// Hub models from the page's memory, and a folder says what the web build lacks.
#[cfg(target_arch = "wasm32")]
fn open_source(source: &ModelSource, _ctl: &Control) -> anyhow::Result<LoadedModel> {
    match source {
        ModelSource::Builtin(name) => Ok(crate::model::builtin::open_in_memory(name)?),
        // fetched or picked into the page first (the session sees to it)
        ModelSource::Picked(_) | ModelSource::Hub(_) => super::page::open_in_page(source),
        ModelSource::Folder(dir) => Err(anyhow::anyhow!(
            "{}: a web page cannot open a folder by its path: open the model's files with Model > Open files…",
            dir.display()
        )),
    }
}

pub(super) type Task = Box<dyn FnOnce(&mut Engine) + Send>;

/// The UI's handle on the worker thread.
pub struct Worker {
    tx: Sender<Task>,
    /// the backend's name and any notice about it (a GPU that was not found), for the status bar
    pub backend_name: Arc<Mutex<String>>,
    /// a page has one thread: the tasks wait here and [`Worker::pump`] runs them between frames
    #[cfg(target_arch = "wasm32")]
    page: std::cell::RefCell<(std::sync::mpsc::Receiver<Task>, Engine)>,
    #[cfg(target_arch = "wasm32")]
    wake: Waker,
}

/// The engine the worker computes with: `backend` made now (on the worker's thread), its name
/// and notice written to `name`.
pub(super) fn start_engine(backend: WorkerBackend, name: &Mutex<String>) -> Engine {
    let (backend, shared) = match backend {
        WorkerBackend::Own(c) => (FallbackBackend::new(c), false),
        WorkerBackend::Window(c, ctx) => (FallbackBackend::on(c, Some(Ok(*ctx))), true),
    };
    let mut notice = backend.notice.clone();
    let mut engine = Engine {
        backend,
        models: [None, None],
        labels: Default::default(),
        last_main: None,
        shared_device: shared,
        nonblocking: cfg!(target_arch = "wasm32"),
        in_flight: None,
    };
    if engine.nonblocking && engine.backend.gpu().is_some() {
        notice.get_or_insert_with(|| {
            "the main model's run on the GPU; other analyses on the CPU".to_string()
        });
    }
    if let Ok(mut n) = name.lock() {
        *n = match notice {
            Some(notice) => format!("{} — {notice}", engine.backend_label()),
            None => engine.backend_label(),
        };
    }
    engine
}

impl Worker {
    /// Starts the worker thread computing on `backend`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn spawn(backend: WorkerBackend, wake: Waker) -> Self {
        let (tx, rx) = channel::<Task>();
        let backend_name = Arc::new(Mutex::new(String::from("starting…")));
        let name = backend_name.clone();
        let spawned = std::thread::Builder::new()
            .name("albert-lens worker".into())
            .spawn(move || {
                let mut engine = start_engine(backend, &name);
                wake();
                while let Ok(task) = rx.recv() {
                    task(&mut engine);
                    engine.settle();
                }
            });
        if let Err(e) = spawned {
            // without a thread there is no worker: every job then ends with an error
            eprintln!("cannot start the worker thread: {e}");
        }
        Worker { tx, backend_name }
    }

    /// The page's worker: the engine lives beside the UI, and its tasks run in [`Worker::pump`].
    #[cfg(target_arch = "wasm32")]
    pub fn spawn(backend: WorkerBackend, wake: Waker) -> Self {
        let (tx, rx) = channel::<Task>();
        let backend_name = Arc::new(Mutex::new(String::from("starting…")));
        let engine = start_engine(backend, &backend_name);
        Worker {
            tx,
            backend_name,
            page: std::cell::RefCell::new((rx, engine)),
            wake,
        }
    }

    /// Runs the tasks sent so far (the page's only thread calls this once a frame, before the
    /// UI asks for anything: a frame shows "computing…" while the next one computes). A task
    /// whose ticket was cancelled meanwhile is skipped, as on the desktop's worker thread.
    #[cfg(target_arch = "wasm32")]
    pub fn pump(&self) {
        let Ok(mut page) = self.page.try_borrow_mut() else {
            return;
        };
        let (rx, engine) = &mut *page;
        loop {
            // a pass on the GPU first: the tasks after it wait until its results are in
            if !engine.step_in_flight() {
                (self.wake)();
                return;
            }
            let Ok(task) = rx.try_recv() else {
                return;
            };
            task(engine);
        }
    }

    /// Sets the backend's precision on the worker (after the tasks already sent), and its name
    /// in the status bar: with the notice where fast is not available there.
    pub fn set_precision(&self, precision: crate::backend::Precision, wake: Waker) {
        let name = self.backend_name.clone();
        let task: Task = Box::new(move |engine: &mut Engine| {
            let said = engine.backend.set_precision(precision);
            if let Ok(mut n) = name.lock() {
                *n = match said {
                    Some(notice) => format!("{} — {notice}", engine.backend_label()),
                    None => engine.backend_label(),
                };
            }
            wake();
        });
        self.send(task);
    }

    /// Runs `f` on the worker for `ticket`, unless the ticket is cancelled before its turn. A
    /// panic in `f` (third-party code included) fails this job only: the worker, its models and
    /// its traces stay.
    pub fn run<K: Send + 'static, T: Send + 'static>(
        &self,
        ticket: Ticket<K, T>,
        f: impl FnOnce(&mut Engine, &Control) -> Result<T, String> + Send + 'static,
    ) {
        let task: Task = Box::new(move |engine: &mut Engine| {
            if ticket.cancelled() {
                return;
            }
            let control = ticket.control.clone();
            let result = crate::error::catch_panic("the request", || Ok(f(engine, &control)))
                .unwrap_or_else(|e| Err(e.to_string()));
            ticket.finish(result);
        });
        self.send(task);
    }

    /// Queues `task` for the worker; a worker that is gone drops the task and its ticket (the
    /// job reads that it stopped).
    pub(super) fn send(&self, task: Task) {
        let _ = self.tx.send(task);
        // the page runs it at the next frame: ask for one
        #[cfg(target_arch = "wasm32")]
        (self.wake)();
    }
}

/// The device the worker computes on; either way the backend (and its shader pipelines) is
/// made on the worker thread, falling back to the CPU as [`FallbackBackend::on`] says.
pub enum WorkerBackend {
    /// a headless device of its own (tests, or a window drawn without wgpu)
    Own(BackendChoice),
    /// the window's own wgpu device and queue (eframe's): one device, one adapter choice
    Window(BackendChoice, Box<crate::backend::gpu::GpuContext>),
}

fn info_of(m: &LoadedModel, source: ModelSource) -> ModelInfo {
    let c = &m.config;
    let params = crate::params::Loaded::of(c, &m.weights);
    // one definition everywhere (this line, the parameter table, the README): embeddings,
    // projection and encoder as loaded; the masked-LM head apart; no [CLS] pooler
    let summary = format!(
        "{} · {} layers{} · {} heads · H {}{} · vocab {} · {} parameters + {} ({})",
        c.model_type.as_str(),
        c.num_hidden_layers,
        if c.model_type.family().shared_layers {
            format!(
                " ({} shared group{})",
                c.num_hidden_groups,
                if c.num_hidden_groups == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        },
        c.num_attention_heads,
        c.hidden_size,
        if c.has_projection() {
            format!(" · E {}", c.embedding_size)
        } else {
            String::new()
        },
        c.vocab_size,
        crate::params::format_count(params.backbone()),
        match &m.weights.task {
            Some(t) => format!(
                "{} {} head",
                crate::params::format_count(params.task_head),
                t.spec.kind.name().replace('-', " ")
            ),
            None => format!(
                "{} masked-LM head",
                crate::params::format_count(params.mlm_head)
            ),
        },
        m.weights
            .stored_dtypes
            .iter()
            .copied()
            .collect::<Vec<_>>()
            .join("+"),
    );
    ModelInfo {
        heads: m.config.num_attention_heads,
        source,
        summary,
        model_type: c.model_type,
        has_mlm: m.weights.mlm.is_some(),
        task: m.weights.task.as_ref().map(|h| h.spec.clone()),
        warnings: m.warnings.clone(),
        tokenizer_id: m.tokenizer.identity(),
        params,
        arch: crate::params::Arch::of_config(c),
    }
}
