//! How long work leaves the UI thread (the heatmap widget's colouring of a large map, a few
//! milliseconds with nothing to cancel, has a thread of its own). A [`Job`] is a slot keyed by what its result is
//! computed from: asking it for a key it already has (or is computing) costs nothing; asking
//! for a new key cancels the older computation (coalescing: while the user types, only the
//! newest input's result is waited for) and hands out a [`Ticket`]. Whatever runs the work (a
//! thread of its own via [`spawn`], or the model worker) reports progress on the ticket's
//! [`Control`], stops when it is cancelled, and finishes the ticket with the result, which
//! wakes the UI. Results of superseded keys are dropped unseen.

pub use crate::insight::Control;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// Wakes the UI (the app passes the egui context's `request_repaint`).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A keyed result computed off the UI thread.
pub struct Job<K, T> {
    asked: Option<(K, Arc<Control>)>,
    rx: Option<Receiver<(K, Result<T, String>)>>,
    ready: Option<(K, Result<T, String>)>,
}

impl<K, T> Default for Job<K, T> {
    fn default() -> Self {
        Job {
            asked: None,
            rx: None,
            ready: None,
        }
    }
}

/// The right and duty to compute one key of a [`Job`]: finish it with the result.
pub struct Ticket<K, T> {
    key: K,
    tx: Sender<(K, Result<T, String>)>,
    wake: Waker,
    pub control: Arc<Control>,
}

impl<K, T> Ticket<K, T> {
    /// Whether the job has moved on to another key (the result would be dropped).
    pub fn cancelled(&self) -> bool {
        self.control.cancelled()
    }

    /// Hands the result to the job and wakes the UI.
    pub fn finish(self, result: Result<T, String>) {
        let _ = self.tx.send((self.key, result));
        (self.wake)();
    }
}

impl<K: PartialEq + Clone, T> Job<K, T> {
    /// A ticket for `key` when it is not the key asked for last; the computation of the
    /// previous key is cancelled. None: `key` is ready or on its way.
    pub fn ask(&mut self, key: K, wake: &Waker) -> Option<Ticket<K, T>> {
        if self.asked.as_ref().is_some_and(|(k, _)| *k == key) {
            return None;
        }
        self.cancel();
        let control = Arc::new(Control::default());
        // progress reaches the screen as it happens, not at the next pointer move
        control.set_wake(wake.clone());
        let (tx, rx) = channel();
        self.asked = Some((key.clone(), control.clone()));
        self.rx = Some(rx);
        Some(Ticket {
            key,
            tx,
            wake: wake.clone(),
            control,
        })
    }

    /// Takes in a finished result (call once a frame, or before reading). True when one came.
    pub fn poll(&mut self) -> bool {
        let Some(rx) = &self.rx else {
            return false;
        };
        match rx.try_recv() {
            Ok(done) => {
                self.ready = Some(done);
                self.rx = None;
                true
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => false,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                // the runner dropped its ticket: it was cancelled, or the runner is gone
                if let Some((k, _)) = &self.asked {
                    self.ready = Some((k.clone(), Err("the computation stopped".into())));
                }
                self.rx = None;
                true
            }
        }
    }

    /// Takes in a finished result, and returns its error if it failed (for the status bar).
    pub fn poll_err(&mut self) -> Option<String> {
        if !self.poll() {
            return None;
        }
        match &self.ready {
            Some((_, Err(e))) => Some(e.clone()),
            _ => None,
        }
    }

    /// The result for exactly `key`, if it is ready.
    pub fn get(&self, key: &K) -> Option<&Result<T, String>> {
        match &self.ready {
            Some((k, r)) if k == key => Some(r),
            _ => None,
        }
    }

    /// The result of the key asked for last, if it is ready.
    pub fn current(&self) -> Option<&Result<T, String>> {
        self.asked.as_ref().and_then(|(k, _)| self.get(k))
    }

    /// The newest result that arrived, whatever its key (what a view shows while the next one
    /// is computed).
    pub fn latest(&self) -> Option<&(K, Result<T, String>)> {
        self.ready.as_ref()
    }

    /// Whether the key asked for last is still being computed.
    pub fn pending(&self) -> bool {
        self.rx.is_some()
    }

    /// The running computation's progress and cancel switch.
    pub fn control(&self) -> Option<&Arc<Control>> {
        self.asked
            .as_ref()
            .filter(|_| self.pending())
            .map(|(_, c)| c)
    }

    /// Stops the running computation; its result, if it still comes, is dropped.
    pub fn cancel(&mut self) {
        if let Some((_, c)) = &self.asked {
            c.cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        self.rx = None;
    }

    /// Forgets everything: the next `ask` computes whatever key it gets.
    pub fn reset(&mut self) {
        self.cancel();
        self.asked = None;
        self.ready = None;
    }
}

/// Runs `f` for `ticket` on a thread of its own (an analysis: PCA, t-SNE, JS matrices, an
/// export). A panic in `f` becomes an error result.
pub fn spawn<K: Send + 'static, T: Send + 'static>(
    name: &str,
    ticket: Ticket<K, T>,
    f: impl FnOnce(&Control) -> Result<T, String> + Send + 'static,
) {
    let wake = ticket.wake.clone();
    let what = name.to_string();
    let run = move || {
        let control = ticket.control.clone();
        let result = crate::error::catch_panic(&what, || Ok(f(&control)))
            .unwrap_or_else(|e| Err(e.to_string()));
        ticket.finish(result);
    };
    // a page has one thread: the work runs now, on it (see super::web)
    #[cfg(target_arch = "wasm32")]
    {
        let _ = wake;
        run();
    }
    #[cfg(not(target_arch = "wasm32"))]
    if std::thread::Builder::new()
        .name(format!("albert-lens {name}"))
        .spawn(run)
        .is_err()
    {
        // the ticket went down with the closure: the job reads "the computation stopped"
        wake();
    }
}

/// Runs `step` on `state` for `ticket` until a step gives the result (an analysis that can stop
/// between parts: a corpus run, a shard at a time). On the desktop the steps follow one another
/// on a thread of their own, as [`spawn`] runs; on the page, where there is one thread, one step
/// runs a frame ([`pump_steps`]), so the page stays interactive between them. A step that panics
/// ends the job with an error; a cancelled ticket is dropped before its next step.
pub fn spawn_steps<K: Send + 'static, T: Send + 'static, S: Send + 'static>(
    name: &str,
    ticket: Ticket<K, T>,
    mut state: S,
    mut step: impl FnMut(&mut S, &Control) -> Option<Result<T, String>> + Send + 'static,
) {
    #[cfg(not(target_arch = "wasm32"))]
    spawn(name, ticket, move |ctl| loop {
        if let Some(done) = step(&mut state, ctl) {
            return done;
        }
    });
    #[cfg(target_arch = "wasm32")]
    {
        let what = name.to_string();
        let mut ticket = Some(ticket);
        let run: Box<dyn FnMut() -> bool> = Box::new(move || {
            let Some(t) = ticket.as_ref() else {
                return true;
            };
            if t.cancelled() {
                ticket = None;
                return true;
            }
            let control = t.control.clone();
            let stepped = crate::error::catch_panic(&what, || Ok(step(&mut state, &control)))
                .unwrap_or_else(|e| Some(Err(e.to_string())));
            match stepped {
                Some(result) => {
                    if let Some(t) = ticket.take() {
                        t.finish(result);
                    }
                    true
                }
                None => {
                    // another frame, for the next step
                    (t.wake)();
                    false
                }
            }
        });
        STEPS.with(|s| s.borrow_mut().push(run));
    }
}

#[cfg(target_arch = "wasm32")]
thread_local! {
    /// The page's stepped jobs ([`spawn_steps`]): each call runs one step, true once it is done.
    static STEPS: std::cell::RefCell<Vec<Box<dyn FnMut() -> bool>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs one step of each of the page's stepped jobs (once a frame).
#[cfg(target_arch = "wasm32")]
pub fn pump_steps() {
    let mut jobs = STEPS.with(|s| std::mem::take(&mut *s.borrow_mut()));
    jobs.retain_mut(|step| !step());
    // jobs started during these steps were queued meanwhile: keep both
    STEPS.with(|s| {
        let mut s = s.borrow_mut();
        jobs.append(&mut s);
        *s = jobs;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn progress_wakes_the_ui_without_an_input_event_throttled() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let wake: Waker = Arc::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        });
        let mut job: Job<u32, u32> = Job::default();
        let ticket = job.ask(1, &wake).expect("a ticket");
        let ctl = ticket.control.clone();
        let worker = std::thread::spawn(move || {
            for i in 0..5 {
                ctl.report(format!("step {i}"), Some(i as f32 / 5.0));
                std::thread::sleep(std::time::Duration::from_millis(60));
            }
            // reports faster than the throttle wake at most once more
            for i in 0..100 {
                ctl.report(format!("fast {i}"), Some(0.9));
            }
            ticket.finish(Ok(7));
        });
        worker.join().expect("worker");
        let n = wakes.load(Ordering::SeqCst);
        // five spaced reports, at most one of the burst, and the finish
        assert!((6..=7).contains(&n), "{n} wakes");
        assert!(job.poll());
        assert_eq!(job.current(), Some(&Ok(7)));
    }
}
