//! The numbers behind the explanatory views: PCA and t-SNE of hidden states ([`pca`]), the
//! ALBERT paper's Figure 1 and Jensen–Shannon distances between layers' attention
//! ([`layers`]), the layer lens (the masked-LM head applied to every layer's hidden state,
//! [`lens`]) and nearest neighbours in the input embeddings ([`vocab`]).

pub mod attribution;
pub mod explain;
pub mod finetune;
pub mod importance;
pub mod labelled;
pub mod layers;
pub mod lens;
pub mod mixing;
pub mod pca;
pub mod vocab;

pub use layers::*;
pub use lens::*;
pub use pca::*;
pub use vocab::*;

/// Wakes whoever shows a computation's progress (the app: a repaint).
pub type Wake = std::sync::Arc<dyn Fn() + Send + Sync>;

/// How often at most progress wakes the UI (a repaint costs a frame; 30 a second is smooth).
const WAKE_EVERY: std::time::Duration = std::time::Duration::from_millis(33);

/// Progress and cancellation of a long computation shared with the UI.
#[derive(Default)]
pub struct Control {
    /// steps done so far
    pub done: std::sync::atomic::AtomicUsize,
    /// steps in all
    pub total: std::sync::atomic::AtomicUsize,
    /// set by the UI; the computation stops at its next step with [`LensError::Cancelled`]
    pub cancel: std::sync::atomic::AtomicBool,
    /// what it is doing now, for a progress line ("downloading …")
    pub note: std::sync::Mutex<String>,
    /// called (at most every [`WAKE_EVERY`]) when progress changes, so that the progress
    /// reaches the screen without waiting for an input event
    wake: std::sync::OnceLock<Wake>,
    last_wake: std::sync::Mutex<Option<web_time::Instant>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("progress", &self.progress())
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

impl Control {
    /// Whether whoever asked has given up on the result.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reports progress: a note and, where known, the fraction done (0 to 1).
    pub fn report(&self, note: String, fraction: Option<f32>) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Ok(mut n) = self.note.lock() {
            *n = note;
        }
        let (done, total) = match fraction {
            Some(f) => ((f.clamp(0.0, 1.0) * 1e6) as usize, 1_000_000),
            None => (0, 0),
        };
        self.total.store(total, Relaxed);
        self.done.store(done, Relaxed);
        self.woken();
    }

    /// Steps: `done` of `total` (a computation that counts its steps).
    pub fn advance(&self, done: usize, total: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.total.store(total, Relaxed);
        self.done.store(done, Relaxed);
        self.woken();
    }

    /// Has progress wake `wake` (once; a second call is ignored).
    pub fn set_wake(&self, wake: Wake) {
        let _ = self.wake.set(wake);
    }

    /// Wakes the UI for new progress, unless it was woken less than [`WAKE_EVERY`] ago.
    fn woken(&self) {
        let Some(w) = self.wake.get() else { return };
        let due = match self.last_wake.lock() {
            Ok(mut last) => {
                let due = last.is_none_or(|t| t.elapsed() >= WAKE_EVERY);
                if due {
                    *last = Some(web_time::Instant::now());
                }
                due
            }
            Err(_) => true,
        };
        if due {
            w();
        }
    }

    /// The note and the fraction done (None: not known).
    pub fn progress(&self) -> (String, Option<f32>) {
        use std::sync::atomic::Ordering::Relaxed;
        let note = self.note.lock().map(|n| n.clone()).unwrap_or_default();
        let known = self.total.load(Relaxed) > 0;
        (note, known.then(|| self.fraction()))
    }

    pub fn fraction(&self) -> f32 {
        use std::sync::atomic::Ordering::Relaxed;
        let t = self.total.load(Relaxed).max(1);
        self.done.load(Relaxed) as f32 / t as f32
    }
}
