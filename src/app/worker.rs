//! The background worker: it owns the loaded models and the backend, loads folders, downloads
//! from the Hub and runs forward passes, so that the UI thread never waits on any of it. The UI
//! sends [`Request`]s and polls [`Event`]s once per frame; the worker wakes the UI with
//! `request_repaint` whenever it has something to say.

use crate::backend::{Backend, BackendChoice, FallbackBackend};
use crate::model::{hub, LoadedModel, Trace};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

/// Which loaded model a request is about: the one the views show, or the second one used for
/// model-vs-model differences (and, later, the shared-vs-unshared comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ModelSlot {
    Main,
    Compare,
}

/// Which trace a run fills: the one on screen, the one a difference subtracts, or the
/// comparison model's on the same text (the shared-vs-unshared panel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceSlot {
    Main,
    Diff,
    Compare,
}

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
    pub fn parse(spec: &std::path::Path) -> Self {
        match spec.to_str() {
            Some(s) if crate::model::builtin::NAMES.contains(&s) && !spec.exists() => {
                ModelSource::Builtin(s.to_string())
            }
            Some(s) => match crate::model::hub::hub_id(s) {
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
}

pub enum Request {
    Open {
        slot: ModelSlot,
        source: ModelSource,
    },
    Run {
        slot: TraceSlot,
        model: ModelSlot,
        text: String,
        pair: Option<String>,
        seq: u64,
    },
    /// Kobayashi et al.'s value-weighted maps of one attention map of the Main trace.
    ValueWeighted { layer: usize, seq: u64 },
    /// The layer lens at one position of the Main trace.
    Lens { pos: usize, k: usize, seq: u64 },
    /// The main model (an ALBERT) with its layer group applied `reps` times, on the Main
    /// trace's input: the unshare what-if.
    Repeats {
        reps: Vec<usize>,
        text: String,
        pair: Option<String>,
        seq: u64,
    },
    /// Nearest neighbours of a token in each model's input embedding table.
    Vocab { query: String, k: usize },
}

/// One model's answer to a vocabulary query.
#[derive(Debug, Clone)]
pub struct VocabAnswer {
    /// "albert-mini (E = 64)"
    pub model: String,
    /// the query's own token, or why there is none
    pub token: Result<String, String>,
    /// (token, cosine similarity), nearest first
    pub neighbours: Vec<(String, f32)>,
    /// PCA of the query and its neighbours in this model's embedding space (query first)
    pub points: Vec<(f32, f32)>,
}

/// What the UI shows about a loaded model.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub source: ModelSource,
    pub summary: String,
    pub model_type: crate::model::ModelType,
    pub has_mlm: bool,
    pub warnings: Vec<String>,
    /// an identity for the tokenizer (its file's bytes hashed), to tell whether two models
    /// tokenize alike
    pub tokenizer_id: u64,
    /// the parameter accounting, from the loaded tensors
    pub params: crate::params::Loaded,
    pub arch: crate::params::Arch,
}

pub enum Event {
    Progress {
        slot: ModelSlot,
        what: String,
        fraction: Option<f32>,
    },
    Loaded {
        slot: ModelSlot,
        info: Box<ModelInfo>,
    },
    Traced {
        slot: TraceSlot,
        seq: u64,
        trace: Arc<Trace>,
        /// attention rollout of every layer, computed here rather than on the UI thread
        rollout: Arc<Vec<Vec<f32>>>,
        ms: f64,
        backend: String,
    },
    ValueWeighted {
        layer: usize,
        seq: u64,
        per_head: Arc<Vec<f32>>,
        all: Arc<Vec<f32>>,
    },
    Lens {
        seq: u64,
        pos: usize,
        table: crate::metrics::LensTable,
    },
    Repeats {
        seq: u64,
        traces: Vec<(usize, Arc<Trace>)>,
    },
    Vocab {
        query: String,
        answers: Vec<VocabAnswer>,
    },
    Failed {
        what: String,
        message: String,
    },
}

/// The UI's handle on the worker thread.
pub struct Worker {
    tx: Sender<Request>,
    rx: Receiver<Event>,
    /// set by the UI to stop a Hub download between chunks
    pub cancel: Arc<AtomicBool>,
    pub backend_name: Arc<std::sync::Mutex<String>>,
}

impl Worker {
    /// Starts the worker thread. `wake` is called after every event (the app passes the egui
    /// context's `request_repaint`).
    pub fn spawn(backend: BackendChoice, wake: impl Fn() + Send + 'static) -> Self {
        let (tx, req_rx) = channel::<Request>();
        let (ev_tx, rx) = channel::<Event>();
        let cancel = Arc::new(AtomicBool::new(false));
        let backend_name = Arc::new(std::sync::Mutex::new(String::from("starting…")));
        let state = WorkerState {
            cancel: cancel.clone(),
            backend_name: backend_name.clone(),
            main: None,
            compare: None,
            labels: Default::default(),
            last_main: None,
        };
        let spawned = std::thread::Builder::new()
            .name("albert-lens worker".into())
            .spawn(move || state.run(backend, req_rx, ev_tx, wake));
        if let Err(e) = spawned {
            // without a thread there is no worker; requests then fail visibly in `poll`
            eprintln!("cannot start the worker thread: {e}");
        }
        Worker {
            tx,
            rx,
            cancel,
            backend_name,
        }
    }

    pub fn send(&self, req: Request) -> bool {
        if matches!(req, Request::Open { .. }) {
            self.cancel.store(false, Ordering::SeqCst);
        }
        self.tx.send(req).is_ok()
    }

    /// Every event that arrived since the last call.
    pub fn poll(&self) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(e) => out.push(e),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    out.push(Event::Failed {
                        what: "worker".into(),
                        message: "the background worker stopped; restart the app".into(),
                    });
                    break;
                }
            }
        }
        out
    }
}

struct WorkerState {
    cancel: Arc<AtomicBool>,
    backend_name: Arc<std::sync::Mutex<String>>,
    main: Option<LoadedModel>,
    compare: Option<LoadedModel>,
    /// what the UI calls each model ("albert-mini (built in)", a folder, hub:ID)
    labels: [String; 2],
    last_main: Option<Arc<Trace>>,
}

impl WorkerState {
    fn run(
        mut self,
        choice: BackendChoice,
        rx: Receiver<Request>,
        tx: Sender<Event>,
        wake: impl Fn() + Send + 'static,
    ) {
        let mut backend = FallbackBackend::new(choice);
        if let Ok(mut n) = self.backend_name.lock() {
            *n = match &backend.notice {
                Some(notice) => format!("{} — {notice}", backend.name()),
                None => backend.name(),
            };
        }
        wake();
        let send = |e: Event| {
            let _ = tx.send(e);
            wake();
        };
        while let Ok(first) = rx.recv() {
            // Coalesce: of the runs queued for one trace slot, only the newest matters.
            let mut batch = vec![first];
            while let Ok(r) = rx.try_recv() {
                batch.push(r);
            }
            // Likewise the analyses of the main trace: a newer lens, what-if or value-weighted
            // request replaces a queued one (they follow the text as it is typed).
            let mut keep = vec![true; batch.len()];
            for i in 0..batch.len() {
                let later = |same: &dyn Fn(&Request) -> bool| batch[i + 1..].iter().any(same);
                keep[i] = match &batch[i] {
                    Request::Run { slot, .. } => {
                        !later(&|r| matches!(r, Request::Run { slot: s, .. } if s == slot))
                    }
                    Request::Lens { .. } => !later(&|r| matches!(r, Request::Lens { .. })),
                    Request::Repeats { .. } => !later(&|r| matches!(r, Request::Repeats { .. })),
                    Request::ValueWeighted { .. } => {
                        !later(&|r| matches!(r, Request::ValueWeighted { .. }))
                    }
                    Request::Open { .. } | Request::Vocab { .. } => true,
                };
            }
            for (req, k) in batch.into_iter().zip(keep) {
                if k {
                    // a panic anywhere below (third-party code included) fails this request
                    // only: the worker, its models and its traces stay
                    let handled = crate::error::catch_panic("the request", || {
                        self.handle(req, &mut backend, &send);
                        Ok(())
                    });
                    if let Err(e) = handled {
                        send(Event::Failed {
                            what: "the background worker".into(),
                            message: e.to_string(),
                        });
                    }
                }
            }
        }
    }

    fn handle(&mut self, req: Request, backend: &mut FallbackBackend, send: &dyn Fn(Event)) {
        match req {
            Request::Open { slot, source } => {
                let what = source.label();
                match self.open(slot, &source, send) {
                    Ok(model) => {
                        let info = info_of(&model, source);
                        self.labels[slot as usize] = info.source.label();
                        match slot {
                            ModelSlot::Main => {
                                self.main = Some(model);
                                self.last_main = None;
                            }
                            ModelSlot::Compare => self.compare = Some(model),
                        }
                        send(Event::Loaded {
                            slot,
                            info: Box::new(info),
                        });
                    }
                    Err(e) => send(Event::Failed {
                        what: format!("opening {what}"),
                        message: format!("{e:#}"),
                    }),
                }
            }
            Request::Run {
                slot,
                model,
                text,
                pair,
                seq,
            } => {
                let m = match model {
                    ModelSlot::Main => self.main.as_ref(),
                    ModelSlot::Compare => self.compare.as_ref(),
                };
                let Some(m) = m else {
                    send(Event::Failed {
                        what: "running".into(),
                        message: "no model is loaded: open a model folder first".into(),
                    });
                    return;
                };
                let t0 = Instant::now();
                let result = m
                    .encode(&text, pair.as_deref())
                    .and_then(|input| backend.forward(&m.config, &m.weights, &input))
                    .and_then(|trace| Ok((crate::analysis::rollout(&trace)?, trace)));
                match result {
                    Ok((rollout, trace)) => {
                        let trace = Arc::new(trace);
                        if slot == TraceSlot::Main {
                            if let Some(old) = self.last_main.replace(trace.clone()) {
                                if let Ok(t) = Arc::try_unwrap(old) {
                                    backend.recycle(t);
                                }
                            }
                        }
                        send(Event::Traced {
                            slot,
                            seq,
                            trace,
                            rollout: Arc::new(rollout),
                            ms: t0.elapsed().as_secs_f64() * 1e3,
                            backend: backend.name(),
                        });
                    }
                    Err(e) => send(Event::Failed {
                        what: format!("running {}", m.dir.display()),
                        message: e.to_string(),
                    }),
                }
            }
            Request::Lens { pos, k, seq } => {
                let (Some(m), Some(t)) = (self.main.as_ref(), self.last_main.as_ref()) else {
                    return;
                };
                let Some(head) = m.weights.mlm.as_ref() else {
                    return;
                };
                match crate::metrics::layer_lens(&m.config, head, t, pos, k) {
                    Ok(rows) => {
                        let table = crate::metrics::LensTable::new(&rows, &|id| {
                            m.tokenizer.token_or_id(id)
                        });
                        send(Event::Lens { seq, pos, table });
                    }
                    Err(e) => send(Event::Failed {
                        what: "layer lens".into(),
                        message: e.to_string(),
                    }),
                }
            }
            Request::Repeats {
                reps,
                text,
                pair,
                seq,
            } => {
                let Some(m) = self.main.as_ref() else {
                    return;
                };
                let result = (|| -> crate::Result<Vec<(usize, Arc<Trace>)>> {
                    let input = m.encode(&text, pair.as_deref())?;
                    let mut out = Vec::new();
                    for &r in &reps {
                        let cfg = crate::model::config::repeated_config(&m.config, r)?;
                        out.push((r, Arc::new(backend.forward(&cfg, &m.weights, &input)?)));
                    }
                    Ok(out)
                })();
                match result {
                    Ok(traces) => send(Event::Repeats { seq, traces }),
                    Err(e) => send(Event::Failed {
                        what: "unshare what-if".into(),
                        message: e.to_string(),
                    }),
                }
            }
            Request::Vocab { query, k } => {
                let answers = [self.main.as_ref(), self.compare.as_ref()]
                    .into_iter()
                    .zip(&self.labels)
                    .filter_map(|(m, label)| m.map(|m| vocab_neighbours(m, label, &query, k)))
                    .collect();
                send(Event::Vocab { query, answers });
            }
            Request::ValueWeighted { layer, seq } => {
                let (Some(m), Some(t)) = (self.main.as_ref(), self.last_main.as_ref()) else {
                    return;
                };
                match crate::analysis::value_weighted(&m.config, &m.weights, t, layer) {
                    Ok((per_head, all)) => send(Event::ValueWeighted {
                        layer,
                        seq,
                        per_head: Arc::new(per_head),
                        all: Arc::new(all),
                    }),
                    Err(e) => send(Event::Failed {
                        what: "value-weighted attention".into(),
                        message: e.to_string(),
                    }),
                }
            }
        }
    }

    fn open(
        &mut self,
        slot: ModelSlot,
        source: &ModelSource,
        send: &dyn Fn(Event),
    ) -> anyhow::Result<LoadedModel> {
        use anyhow::Context;
        let dir = match source {
            ModelSource::Folder(p) => p.clone(),
            ModelSource::Builtin(name) => crate::model::builtin::folder(name)?,
            ModelSource::Hub(id) => {
                let opts = hub::HubOptions::from_env();
                let cancel = self.cancel.clone();
                let mut progress = |p: hub::DownloadProgress| {
                    send(Event::Progress {
                        slot,
                        what: format!("downloading {id}: {}", p.file),
                        fraction: p
                            .bytes_total
                            .filter(|t| *t > 0)
                            .map(|t| p.bytes_done as f32 / t as f32),
                    });
                    !cancel.load(Ordering::SeqCst)
                };
                hub::open(id, &opts, &mut progress)?
            }
        };
        send(Event::Progress {
            slot,
            what: format!("loading {}", dir.display()),
            fraction: None,
        });
        LoadedModel::open(&dir).with_context(|| format!("{}", dir.display()))
    }
}

/// The `k` nearest tokens to `query` by cosine similarity in `m`'s input word embeddings
/// (V x E for ALBERT, V x H for BERT), and a 2-D PCA of the query with them.
fn vocab_neighbours(m: &LoadedModel, label: &str, query: &str, k: usize) -> VocabAnswer {
    let c = &m.config;
    let model = format!(
        "{label} ({} = {})",
        if c.has_projection() { "E" } else { "H" },
        c.embedding_size
    );
    let fail = |why: String| VocabAnswer {
        model: model.clone(),
        token: Err(why),
        neighbours: Vec::new(),
        points: Vec::new(),
    };
    let q = query.trim();
    let id = m
        .tokenizer
        .token_to_id(q)
        .or_else(|| m.tokenizer.token_to_id(&q.to_lowercase()))
        .or_else(|| {
            // a word the tokenizer splits: take its first piece
            m.encode(q, None).ok().and_then(|e| {
                e.ids
                    .iter()
                    .zip(&e.special)
                    .find(|(_, s)| !**s)
                    .map(|(id, _)| *id)
            })
        });
    let Some(id) = id else {
        return fail(format!("\"{q}\" is not in the vocabulary"));
    };
    let table = match m
        .weights
        .embeddings
        .word
        .to_dtype(candle_core::DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
    {
        Ok(v) => v,
        Err(e) => return fail(format!("cannot read the embeddings: {e}")),
    };
    let e = c.embedding_size;
    let v = table.len() / e.max(1);
    if id as usize >= v {
        return fail(format!(
            "token id {id} is past the embedding table ({v} rows)"
        ));
    }
    let row = |i: usize| &table[i * e..(i + 1) * e];
    let sims = crate::metrics::nearest_rows(&table, e, id as usize, k);
    let q_row = row(id as usize);
    let decode = |i: usize| m.tokenizer.token_or_id(i as u32);
    let mut data: Vec<f32> = q_row.to_vec();
    for &(i, _) in &sims {
        data.extend_from_slice(row(i));
    }
    let points = crate::metrics::pca(&data, sims.len() + 1, e, 2)
        .map(|p| {
            p.coords
                .chunks(p.k.max(1))
                .map(|c| (c[0], c.get(1).copied().unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default();
    VocabAnswer {
        model,
        token: Ok(decode(id as usize)),
        neighbours: sims.iter().map(|&(i, s)| (decode(i), s)).collect(),
        points,
    }
}

fn info_of(m: &LoadedModel, source: ModelSource) -> ModelInfo {
    use std::hash::{Hash, Hasher};
    let c = &m.config;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(m.tokenizer.source.path())
        .unwrap_or_default()
        .hash(&mut h);
    let summary = format!(
        "{} · {} layers{} · {} heads · H {}{} · vocab {} · {} parameters ({})",
        c.model_type.as_str(),
        c.num_hidden_layers,
        if c.model_type == crate::model::ModelType::Albert {
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
        format_count(m.weights.param_count),
        m.weights
            .stored_dtypes
            .iter()
            .copied()
            .collect::<Vec<_>>()
            .join("+"),
    );
    ModelInfo {
        source,
        summary,
        model_type: c.model_type,
        has_mlm: m.weights.mlm.is_some(),
        warnings: m.warnings.clone(),
        tokenizer_id: h.finish(),
        params: crate::params::Loaded::of(c, &m.weights),
        arch: crate::params::Arch::of_config(c),
    }
}

/// 12_345_678 -> "12.3M", 45_600 -> "45.6k".
pub fn format_count(n: usize) -> String {
    match n {
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1}k", n as f64 / 1e3),
        n => n.to_string(),
    }
}
