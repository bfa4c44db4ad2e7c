//! The main run on a page's GPU. A browser maps GPU buffers for reading only between frames,
//! and nothing on a page's one thread may wait for the device: the run's passes are submitted
//! one after the other, each read back over the frames that follow ([`RunInFlight::step`],
//! once a frame), while the worker's other tasks wait their turn. The rollout, the task head and
//! the prediction before and after an intervention are then computed as [`Engine::run`] does.
//! A pass the GPU cannot do (it failed, or the device was lost) is computed on the CPU, saying
//! so. Where passes may block (the desktop's worker thread) `Engine::run` computes the run.

use super::jobs::Ticket;
use super::worker::{loaded, Engine, ModelSlot, Task, Traced, Worker};
use crate::model::{Ablation, EncodedInput, Intervention};
use crate::LensError;
use std::collections::VecDeque;
use web_time::Instant;

/// [`Engine::run`]'s passes on the GPU, read back without blocking.
pub struct RunInFlight {
    slot: ModelSlot,
    /// the text and pair, for the CPU should the GPU fail
    run: (String, Option<String>),
    main_view: bool,
    iv: Intervention,
    t0: Instant,
    /// the passes not yet submitted: the intervened input, then (with an intervention) the
    /// intact one
    todo: VecDeque<(EncodedInput, Ablation)>,
    /// the pass being read back
    pending: Option<crate::backend::gpu::PendingForward>,
    done: Vec<Traced>,
}

impl Engine {
    /// Starts [`Engine::run`] on the GPU without blocking; None where passes block (the
    /// desktop) or there is no GPU: compute it with `Engine::run`.
    pub fn begin_run(
        &mut self,
        slot: ModelSlot,
        (text, pair): (&str, Option<&str>),
        main_view: bool,
        iv: &Intervention,
    ) -> Result<Option<RunInFlight>, String> {
        if !self.nonblocking || self.backend.gpu().is_none() {
            return Ok(None);
        }
        let m = loaded(&self.models, slot)?;
        let input = m.encode(text, pair).map_err(|e| e.to_string())?;
        let changed = m.masked(&input, iv).map_err(|e| e.to_string())?;
        let mut todo = VecDeque::from([(changed, iv.ablate.clone())]);
        if !iv.is_empty() {
            todo.push_back((input, Ablation::default()));
        }
        Ok(Some(RunInFlight {
            slot,
            run: (text.to_string(), pair.map(str::to_string)),
            main_view,
            iv: iv.clone(),
            t0: Instant::now(),
            todo,
            pending: None,
            done: Vec::new(),
        }))
    }
}

impl RunInFlight {
    /// Submits the next pass or takes in the one being read back; the run's result once its
    /// last pass is in (None: not yet). `cancelled`: the result is no longer wanted, and no
    /// further pass is submitted (the one on the device is still read back, which frees its
    /// buffers for the next run).
    pub fn step(&mut self, e: &mut Engine, cancelled: bool) -> Option<Result<Traced, String>> {
        loop {
            if let Some(p) = self.pending.take() {
                let Some(gpu) = e.backend.gpu() else {
                    let gone = LensError::Gpu("the GPU backend was let go mid-run".into());
                    return Some(self.on_cpu(e, gone));
                };
                gpu.poll(false);
                if !p.ready() {
                    self.pending = Some(p);
                    return None;
                }
                let name = crate::backend::Backend::name(&*gpu);
                let trace = match loaded(&e.models, self.slot) {
                    Ok(m) => p.finish(gpu, &m.config),
                    Err(why) => return Some(Err(why)),
                };
                match trace.map(|t| e.traced(self.slot, t, name)) {
                    Ok(Ok(traced)) => self.done.push(traced),
                    Ok(Err(why)) => return Some(Err(why)),
                    Err(err) => return Some(self.on_cpu(e, err)),
                }
                continue;
            }
            if cancelled {
                return Some(Err("the computation stopped".into()));
            }
            let Some((input, ablate)) = self.todo.pop_front() else {
                let intact = (self.done.len() > 1).then(|| self.done.pop()).flatten();
                let Some(traced) = self.done.pop() else {
                    return Some(Err("the run gave no result".into()));
                };
                let run = (traced, intact);
                return Some(Ok(e.finish_run(
                    self.slot,
                    run,
                    self.main_view,
                    &self.iv,
                    self.t0,
                )));
            };
            let begun = match (loaded(&e.models, self.slot), e.backend.gpu()) {
                (Ok(m), Some(gpu)) => gpu.begin_forward(&m.config, &m.weights, &input, &ablate),
                (Err(why), _) => return Some(Err(why)),
                (_, None) => Err(LensError::Gpu("the GPU backend is gone".into())),
            };
            match begun {
                Ok(p) => self.pending = Some(p),
                Err(err) => return Some(self.on_cpu(e, err)),
            }
        }
    }

    /// The run computed on the CPU after `err`: a GPU failure is said in the trace's warnings
    /// and the status bar (a lost device is let go); any other error (the input does not fit
    /// the model) is the run's.
    fn on_cpu(&mut self, e: &mut Engine, err: LensError) -> Result<Traced, String> {
        let LensError::Gpu(msg) = &err else {
            let m = loaded(&e.models, self.slot)?;
            return Err(format!("running {}: {err}", m.dir.display()));
        };
        let why = e.backend.gpu_failed(msg);
        let run = (self.run.0.as_str(), self.run.1.as_deref());
        let mut traced = e.run(self.slot, run, self.main_view, &self.iv)?;
        if let Some(t) = std::sync::Arc::get_mut(&mut traced.trace) {
            t.warnings.push(why);
        }
        Ok(traced)
    }
}

impl Worker {
    /// [`Worker::run`] of [`Engine::run`]: on a page with a GPU, its passes run there and come
    /// back over the next frames ([`RunInFlight`]); elsewhere it is one task.
    pub fn run_traced<K: Send + 'static>(
        &self,
        ticket: Ticket<K, Traced>,
        slot: ModelSlot,
        (text, pair): (String, Option<String>),
        main_view: bool,
        iv: Intervention,
    ) {
        let task: Task = Box::new(move |engine: &mut Engine| {
            if ticket.cancelled() {
                return;
            }
            let run = (text.as_str(), pair.as_deref());
            let begun = crate::error::catch_panic("the request", || {
                Ok(engine.begin_run(slot, run, main_view, &iv))
            })
            .unwrap_or_else(|e| Err(e.to_string()));
            let mut flight = match begun {
                Ok(Some(flight)) => flight,
                Ok(None) => {
                    let result = crate::error::catch_panic("the request", || {
                        Ok(engine.run(slot, run, main_view, &iv))
                    });
                    ticket.finish(result.unwrap_or_else(|e| Err(e.to_string())));
                    return;
                }
                Err(why) => return ticket.finish(Err(why)),
            };
            let mut ticket = Some(ticket);
            engine.in_flight = Some(Box::new(move |e: &mut Engine| {
                let cancelled = ticket.as_ref().is_none_or(|t| t.cancelled());
                let stepped =
                    crate::error::catch_panic("the request", || Ok(flight.step(e, cancelled)))
                        .unwrap_or_else(|err| Some(Err(err.to_string())));
                match stepped {
                    None => false,
                    Some(result) => {
                        if let Some(t) = ticket.take() {
                            t.finish(result);
                        }
                        true
                    }
                }
            }));
        });
        self.send(task);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
    use super::*;
    use crate::app::jobs::Control;
    use crate::app::worker::{start_engine, WorkerBackend};
    use crate::backend::BackendChoice;
    use crate::model::ModelSource;

    /// An engine on `choice` with the built-in albert-mini open.
    fn engine(choice: BackendChoice) -> Engine {
        let mut e = start_engine(WorkerBackend::Own(choice), &std::sync::Mutex::default());
        let source = ModelSource::Builtin("albert-mini".into());
        e.open(ModelSlot::Main, source, &Control::default())
            .unwrap();
        e
    }

    /// Steps `flight` as the page does, once a "frame", polling the device between steps.
    fn step_through(e: &mut Engine, mut flight: RunInFlight) -> Result<Traced, String> {
        for _ in 0..10_000 {
            if let Some(done) = flight.step(e, false) {
                return done;
            }
            e.backend.gpu().unwrap().poll(true);
        }
        panic!("the run never finished");
    }

    fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .flat_map(|(x, y)| {
                assert_eq!(x.len(), y.len());
                x.iter().zip(y).map(|(p, q)| (p - q).abs())
            })
            .fold(0.0, f32::max)
    }

    /// The page's GPU path — passes submitted, read back without blocking, stepped once a
    /// frame — gives the CPU's run within 1e-5 (every map and hidden state): a plain run, and
    /// a run with two heads off and a token masked (two passes: the prediction before and
    /// after is the CPU's). An intervention the model cannot take fails with the CPU's
    /// message (a head the model does not have). On Mesa's lavapipe in CI (a missing adapter
    /// fails there; elsewhere it skips).
    #[test]
    fn a_run_read_back_without_blocking_equals_the_cpus() {
        let mut gpu = engine(BackendChoice::Gpu);
        if gpu.backend.gpu().is_none() {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI must have a GPU adapter (Mesa lavapipe): {:?}",
                gpu.backend.notice
            );
            eprintln!("skipping: no GPU adapter");
            return;
        }
        gpu.nonblocking = true;
        let mut cpu = engine(BackendChoice::Cpu);
        let text = ("The cat sat on the mat because it was warm.", None);
        let iv = Intervention {
            ablate: Ablation(vec![(0, 1), (2, 3)]),
            masked: vec![2],
        };
        for iv in [Intervention::default(), iv] {
            let flight = gpu.begin_run(ModelSlot::Main, text, true, &iv).unwrap();
            let got = step_through(&mut gpu, flight.expect("a GPU run")).unwrap();
            let want = cpu.run(ModelSlot::Main, text, true, &iv).unwrap();
            assert!(got.backend.starts_with("gpu"), "{}", got.backend);
            assert!(got.trace.warnings.is_empty(), "{:?}", got.trace.warnings);
            let (g, w) = (&got.trace, &want.trace);
            assert_eq!(g.tokens, w.tokens);
            let d = max_diff(&g.attentions, &w.attentions);
            let h = max_diff(&g.hidden_states, &w.hidden_states);
            assert!(d <= 1e-5 && h <= 1e-4, "maps {d}, hidden states {h}");
            assert_eq!(got.intact.is_some(), !iv.is_empty());
            if let (Some(gi), Some(wi)) = (&got.intact, &want.intact) {
                let d = max_diff(&gi.trace.attentions, &wi.trace.attentions);
                assert!(d <= 1e-5, "the intact run's maps: {d}");
                let (gp, wp) = (got.prediction.unwrap(), want.prediction.unwrap());
                assert_eq!(
                    (gp.position, &gp.before.0, &gp.after.0),
                    (wp.position, &wp.before.0, &wp.after.0)
                );
                assert!((gp.after.1 - wp.after.1).abs() <= 1e-5);
            }
        }
        // a head the model does not have
        let iv = Intervention {
            ablate: Ablation(vec![(0, 99)]),
            masked: vec![],
        };
        let flight = gpu.begin_run(ModelSlot::Main, text, true, &iv).unwrap();
        let got = step_through(&mut gpu, flight.unwrap()).err().unwrap();
        let want = cpu.run(ModelSlot::Main, text, true, &iv).err().unwrap();
        assert_eq!(got, want);
        assert!(got.contains("head"), "{got}");
    }
}
