//! Present mode: the deck full screen, one slide at a time, moved by the keys presentation
//! clickers send; speaker notes, the next slide's title and a clock in a second window. Each
//! page is made on a thread of its own (the slide's scene run headless, as `deck render`
//! makes it) and the slides beside the current one are made ahead, so moving never waits on
//! a model: a slide not made yet says so until it is.

use super::Deck;
use crate::backend::BackendChoice;
use crate::figures::Theme;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A made page: its image at 1600 × 900 (made on the page's thread: the UI thread only hands
/// it to egui), or why it could not be made.
type Made = Result<egui::ColorImage, String>;

enum Page {
    Making,
    Ready(egui::TextureHandle),
    Failed(String),
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
    pages: HashMap<usize, Page>,
    tx: Sender<(usize, Made)>,
    rx: Receiver<(usize, Made)>,
    /// set when present mode ends: pages still being made are dropped
    stop: Arc<AtomicBool>,
    backend: BackendChoice,
}

impl Presenter {
    /// Present mode from slide `at`.
    pub fn new(at: usize, backend: BackendChoice) -> Self {
        let (tx, rx) = channel();
        Presenter {
            at,
            blank: false,
            started: Instant::now(),
            pages: HashMap::new(),
            tx,
            rx,
            stop: Arc::new(AtomicBool::new(false)),
            backend,
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
        true
    }

    /// Takes in the pages made, and asks for the current slide's and its neighbours'.
    fn poll(&mut self, ctx: &egui::Context, deck: &Deck) {
        while let Ok((i, made)) = self.rx.try_recv() {
            let page = match made {
                Ok(image) => Page::Ready(ctx.load_texture(
                    format!("slide {i}"),
                    image,
                    egui::TextureOptions::LINEAR,
                )),
                Err(e) => Page::Failed(e),
            };
            self.pages.insert(i, page);
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
            self.pages.insert(i, Page::Making);
            let (tx, stop, deck, ctx) = (
                self.tx.clone(),
                self.stop.clone(),
                deck.clone(),
                ctx.clone(),
            );
            let backend = self.backend;
            let spawned = std::thread::Builder::new()
                .name(format!("albert-lens slide {}", i + 1))
                .spawn(move || {
                    let made = crate::error::catch_panic("a slide", || {
                        let page = super::render::page(
                            &deck,
                            i,
                            backend,
                            Duration::from_secs(600),
                            &Theme::PRESENTATION,
                        )
                        .map_err(|e| crate::LensError::Export(format!("{e:#}")))?;
                        let (w, h, px) = page.to_rgba(1.0)?;
                        Ok(egui::ColorImage::from_rgba_premultiplied(
                            [w as usize, h as usize],
                            &px,
                        ))
                    })
                    .map_err(|e| e.to_string());
                    if !stop.load(Ordering::SeqCst) {
                        let _ = tx.send((i, made));
                        ctx.request_repaint();
                    }
                });
            if let Err(e) = spawned {
                self.pages
                    .insert(i, Page::Failed(format!("cannot start a thread: {e}")));
            }
        }
    }

    /// Whether slide `i`'s page is made (tests wait on it).
    pub fn ready(&self, i: usize) -> bool {
        matches!(self.pages.get(&i), Some(Page::Ready(_)))
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
                Some(Page::Ready(tex)) => {
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

impl Drop for Presenter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
