//! Present mode: the deck full screen, one slide at a time, moved by the keys presentation
//! clickers send; speaker notes, the next slide's title and a clock in a second window. Each
//! page is made on a thread of its own (the slide's scene run headless, as `deck render`
//! makes it) and the slides beside the current one are made ahead, so moving never waits on
//! a model: a slide not made yet says so until it is.

use super::Deck;
use crate::app::jobs::{self, Job, Waker};
use crate::backend::BackendChoice;
use crate::figures::Theme;
use std::collections::HashMap;
use std::sync::Arc;
use web_time::{Duration, Instant};

/// A made slide: its page's image at 1600 × 900, one per frame where the view is animated
/// (made on the page's thread: the UI thread only hands them to egui).
type Images = Vec<Arc<egui::ColorImage>>;

enum Page {
    /// being made on a thread of its own (the job's key is the slide)
    Making(Job<usize, Images>),
    /// the page, or an animated view's frames
    Ready(Vec<egui::TextureHandle>),
    Failed(String),
}

/// An animated slide shows each frame this long, and holds its last frame [`HOLD`] longer
/// before it plays again.
const FRAME: Duration = Duration::from_millis(600);
const HOLD: Duration = Duration::from_secs(3);

/// The frame of `count` to show `elapsed` after the slide came up, and how long until the next.
pub fn frame_at(elapsed: Duration, count: usize) -> (usize, Duration) {
    if count <= 1 {
        return (0, Duration::MAX);
    }
    let cycle = FRAME * count as u32 + HOLD;
    let t = Duration::from_nanos((elapsed.as_nanos() % cycle.as_nanos()) as u64);
    let k = (t.as_nanos() / FRAME.as_nanos()) as usize;
    if k + 1 >= count {
        (count - 1, cycle - t)
    } else {
        (k, FRAME * (k as u32 + 1) - t)
    }
}

/// Makes this thread (and the threads it starts: the slide's own model worker) yield the
/// cores to the window's thread: on two cores, a slide made beside the presentation must not
/// take a frame's time from it.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no arguments; setpriority changes this thread's nice value only
        // (Linux keeps it per thread), and a failure leaves it as it was.
        #[allow(unsafe_code)]
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 10);
        }
    }
}

/// What a key press asks of present mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Next,
    Previous,
    First,
    Last,
    Blank,
    Leave,
}

/// The keys, as clickers and keyboards send them: PageDown / → / ↓ / space: next; PageUp /
/// ← / ↑ / backspace: previous; Home / End; B or . (period): a black screen and back; Esc:
/// leave.
pub fn moves(input: &egui::InputState) -> Vec<Move> {
    use egui::Key;
    let mut out = Vec::new();
    for (keys, m) in [
        (
            &[Key::PageDown, Key::ArrowRight, Key::ArrowDown, Key::Space][..],
            Move::Next,
        ),
        (
            &[Key::PageUp, Key::ArrowLeft, Key::ArrowUp, Key::Backspace][..],
            Move::Previous,
        ),
        (&[Key::Home][..], Move::First),
        (&[Key::End][..], Move::Last),
        (&[Key::B, Key::Period][..], Move::Blank),
        (&[Key::Escape][..], Move::Leave),
    ] {
        if keys.iter().any(|k| input.key_pressed(*k)) {
            out.push(m);
        }
    }
    out
}

pub struct Presenter {
    /// the slide shown (0-based)
    pub at: usize,
    /// the screen is black (B or .)
    pub blank: bool,
    started: Instant,
    /// when the slide shown came up (an animated view plays from its first frame)
    shown: Instant,
    /// the slides made or being made (present mode ending drops them, and with them the
    /// results of pages still being made)
    pages: HashMap<usize, Page>,
    backend: BackendChoice,
    wake: Waker,
}

impl Presenter {
    /// Present mode from slide `at`; pages are made with `backend`, and `wake` repaints the
    /// window when one is made.
    pub fn new(at: usize, backend: BackendChoice, wake: Waker) -> Self {
        Presenter {
            at,
            blank: false,
            started: Instant::now(),
            shown: Instant::now(),
            pages: HashMap::new(),
            backend,
            wake,
        }
    }

    /// Applies a move within `slides`; false when present mode is to end.
    pub fn step(&mut self, m: Move, slides: usize) -> bool {
        let last = slides.saturating_sub(1);
        match m {
            Move::Next => self.at = (self.at + 1).min(last),
            Move::Previous => self.at = self.at.saturating_sub(1),
            Move::First => self.at = 0,
            Move::Last => self.at = last,
            Move::Blank => {
                self.blank = !self.blank;
                return true;
            }
            Move::Leave => return false,
        }
        self.blank = false;
        self.shown = Instant::now();
        true
    }

    /// Takes in the pages made, and asks for the current slide's and its neighbours'.
    fn poll(&mut self, ctx: &egui::Context, deck: &Deck) {
        for (&i, page) in self.pages.iter_mut() {
            let Page::Making(job) = page else {
                continue;
            };
            if !job.poll() {
                continue;
            }
            *page = match job.current() {
                Some(Ok(images)) => Page::Ready(
                    images
                        .iter()
                        .enumerate()
                        .map(|(k, image)| {
                            ctx.load_texture(
                                format!("slide {i} frame {k}"),
                                image.clone(),
                                egui::TextureOptions::LINEAR,
                            )
                        })
                        .collect(),
                ),
                Some(Err(e)) => Page::Failed(e.clone()),
                None => Page::Failed("the slide was not made".into()),
            };
        }
        let n = deck.slides.len();
        for i in [
            Some(self.at),
            self.at.checked_add(1),
            self.at.checked_sub(1),
        ]
        .into_iter()
        .flatten()
        .filter(|&i| i < n)
        {
            if self.pages.contains_key(&i) {
                continue;
            }
            let mut job = Job::default();
            if let Some(ticket) = job.ask(i, &self.wake) {
                let (deck, backend) = (deck.clone(), self.backend);
                jobs::spawn(&format!("slide {}", i + 1), ticket, move |_| {
                    lower_priority();
                    let pages = super::render::frames(
                        &deck,
                        i,
                        backend,
                        Duration::from_secs(600),
                        &Theme::PRESENTATION,
                    )
                    .map_err(|e| format!("{e:#}"))?;
                    pages
                        .iter()
                        .map(|page| {
                            let (w, h, px) = page.to_rgba(1.0).map_err(|e| e.to_string())?;
                            let size = [w as usize, h as usize];
                            Ok(Arc::new(egui::ColorImage::from_rgba_premultiplied(
                                size, &px,
                            )))
                        })
                        .collect()
                });
            }
            self.pages.insert(i, Page::Making(job));
        }
    }

    /// Whether slide `i`'s page is made (tests wait on it).
    pub fn ready(&self, i: usize) -> bool {
        matches!(self.pages.get(&i), Some(Page::Ready(_)))
    }

    /// How many frames slide `i` has once made (1: a still view; 0: not made).
    pub fn frames(&self, i: usize) -> usize {
        match self.pages.get(&i) {
            Some(Page::Ready(f)) => f.len(),
            _ => 0,
        }
    }

    /// Draws present mode over the whole window, and the speaker notes' window.
    pub fn ui(&mut self, ui: &mut egui::Ui, deck: &Deck) {
        let ctx = ui.ctx().clone();
        self.poll(&ctx, deck);
        let n = deck.slides.len();
        let frame = egui::Frame::NONE.fill(egui::Color32::BLACK);
        egui::CentralPanel::no_frame().frame(frame).show(ui, |ui| {
            let area = ui.max_rect();
            if self.blank {
                return;
            }
            match self.pages.get(&self.at) {
                Some(Page::Ready(frames)) if !frames.is_empty() => {
                    let (k, next) = frame_at(self.shown.elapsed(), frames.len());
                    if next < Duration::MAX {
                        ui.ctx().request_repaint_after(next);
                    }
                    let tex = &frames[k];
                    let size = tex.size_vec2();
                    let s = (area.width() / size.x).min(area.height() / size.y);
                    let rect = egui::Rect::from_center_size(area.center(), size * s);
                    ui.painter().image(
                        tex.id(),
                        rect,
                        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                        egui::Color32::WHITE,
                    );
                }
                Some(Page::Failed(e)) => {
                    ui.painter().text(
                        area.center(),
                        egui::Align2::CENTER_CENTER,
                        format!("Slide {} of {n} could not be made: {e}", self.at + 1),
                        egui::FontId::proportional(20.0),
                        egui::Color32::LIGHT_RED,
                    );
                }
                _ => {
                    ui.painter().text(
                        area.center(),
                        egui::Align2::CENTER_CENTER,
                        format!("Preparing slide {} of {n}…", self.at + 1),
                        egui::FontId::proportional(24.0),
                        egui::Color32::GRAY,
                    );
                }
            }
        });
        self.notes(&ctx, deck);
    }

    /// What the speaker's window says: (heading, clock, notes, the next slide).
    pub fn speaker(&self, deck: &Deck) -> [String; 4] {
        let n = deck.slides.len();
        let slide = deck.slides.get(self.at);
        let next = deck
            .slides
            .get(self.at + 1)
            .map_or("(the last slide)".to_string(), |s| s.title.clone());
        let elapsed = self.started.elapsed().as_secs();
        let notes = slide.map_or("", |s| s.notes.as_str());
        [
            format!(
                "{} / {n}: {}",
                self.at + 1,
                slide.map_or("", |s| s.title.as_str())
            ),
            format!(
                "{:02}:{:02} presenting{}",
                elapsed / 60,
                elapsed % 60,
                if self.blank {
                    " · screen blank (B)"
                } else {
                    ""
                }
            ),
            if notes.is_empty() {
                "(no notes)".into()
            } else {
                notes.into()
            },
            format!("Next: {next}"),
        ]
    }

    /// The speaker's window (a second viewport where the platform has them): this slide's
    /// notes, the next slide's title, the clock.
    fn notes(&self, ctx: &egui::Context, deck: &Deck) {
        let [heading, clock, notes, next] = self.speaker(deck);
        let builder = egui::ViewportBuilder::default()
            .with_title("albert-lens: speaker notes")
            .with_inner_size([560.0, 420.0]);
        ctx.show_viewport_immediate(
            egui::ViewportId::from_hash_of("albert-lens speaker notes"),
            builder,
            |ui, _| {
                egui::CentralPanel::default_margins().show(ui, |ui| {
                    ui.heading(&heading);
                    ui.label(&clock);
                    ui.separator();
                    ui.label(&notes);
                    ui.separator();
                    ui.label(&next);
                    ui.small(
                        "PageDown / → / space: next · PageUp / ←: back · B: blank · Esc: leave",
                    );
                });
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_animation_plays_its_frames_then_holds_the_last_and_plays_again() {
        let ms = Duration::from_millis;
        assert_eq!(frame_at(ms(0), 1).0, 0);
        assert_eq!(frame_at(ms(0), 4), (0, ms(600)));
        assert_eq!(frame_at(ms(650), 4), (1, ms(550)));
        assert_eq!(frame_at(ms(1900), 4).0, 3);
        // the last frame is held: 4 x 0.6 s + 3 s = 5.4 s per cycle
        assert_eq!(frame_at(ms(5000), 4), (3, ms(400)));
        assert_eq!(frame_at(ms(5400), 4).0, 0);
    }
}
