//! The window's Deck panel: the deck being made (add the current view as a slide, reorder by
//! dragging or with ↑ ↓, edit a slide's title, caption, notes and own text, duplicate, delete),
//! the deck's text, open / save / the built-in lessons, PDF export, and Present.

use super::present::Presenter;
use super::{builtin, Deck, Slide};
use crate::app::file_dialog::{PathFor, PathPrompt, Picked};
use crate::app::scene::Scene;
use crate::app::session::Session;
use std::sync::mpsc::Receiver;

/// What the panel asks of the shell (which holds the tabs and makes scenes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// a new slide of the view the window shows
    AddCurrent,
    /// slide i made again from the view the window shows
    Update(usize),
    /// the window set to slide i's scene
    Show(usize),
}

/// Whether slides can be made off the window's thread (Present and Export PDF run each slide's
/// scene headless, as `deck render` does): not in a page, which has one thread.
const RENDERS: bool = cfg!(not(target_arch = "wasm32"));
/// Why Present and Export PDF are off in a page.
const NO_RENDER: &str = "in the desktop app (a web page cannot make slides off its one thread): here, click a slide to show it in the window";

pub struct DeckUi {
    pub deck: Deck,
    /// the panel is shown
    pub open: bool,
    pub selected: usize,
    pub present: Option<Presenter>,
    /// the Open dialog in flight: what its answer is for, and the answer
    pick: Option<(PathPrompt, Receiver<Picked>)>,
}

impl Default for DeckUi {
    fn default() -> Self {
        DeckUi {
            deck: Deck::new("My deck"),
            open: false,
            selected: 0,
            present: None,
            pick: None,
        }
    }
}

/// A slide's title from the tab's title and the figure's name.
pub fn title_of(tab_title: &str, figure: &str) -> String {
    if tab_title.eq_ignore_ascii_case(figure) {
        tab_title.to_string()
    } else {
        format!("{tab_title}: {figure}")
    }
}

impl DeckUi {
    /// Adds a slide of `scene` after the selected one, and selects it.
    pub fn add(&mut self, scene: Scene, title: String) {
        let at = if self.deck.slides.is_empty() {
            0
        } else {
            (self.selected + 1).min(self.deck.slides.len())
        };
        self.deck.slides.insert(
            at,
            Slide {
                title,
                caption: String::new(),
                notes: String::new(),
                text: None,
                scene,
            },
        );
        self.selected = at;
    }

    /// Moves slide `from` to position `to` (the others keep their order).
    pub fn move_slide(&mut self, from: usize, to: usize) {
        let n = self.deck.slides.len();
        if from >= n || to >= n || from == to {
            return;
        }
        let s = self.deck.slides.remove(from);
        self.deck.slides.insert(to, s);
        self.selected = to;
    }

    /// Opens a deck file or `builtin:NAME`; an error goes to the status bar, the deck shown
    /// stays.
    pub fn open_deck(&mut self, spec: &str, cx: &mut Session) {
        match Deck::open(spec) {
            Ok(d) => {
                let missing = d.missing_models();
                if !missing.is_empty() {
                    cx.status.error = Some(format!(
                        "the deck's model folders are missing: {} (its slides that use them will say so)",
                        missing.join(", ")
                    ));
                } else {
                    cx.status.notice = Some(format!("opened the deck {:?}", d.title));
                }
                self.deck = d;
                self.selected = 0;
                self.open = true;
            }
            Err(e) => cx.status.error = Some(format!("{e:#}")),
        }
    }

    /// Present mode from the selected slide (full screen).
    pub fn start_presenting(&mut self, ctx: &egui::Context, cx: &Session) {
        if self.deck.slides.is_empty() {
            return;
        }
        self.present = Some(Presenter::new(
            self.selected.min(self.deck.slides.len() - 1),
            cx.backend_choice,
            cx.wake.clone(),
        ));
        ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(true));
    }

    /// Present mode for this frame: the keys, then the slide. False once it has ended.
    pub fn present_ui(&mut self, ui: &mut egui::Ui) -> bool {
        let ctx = ui.ctx().clone();
        let Some(p) = self.present.as_mut() else {
            return false;
        };
        let n = self.deck.slides.len();
        for m in ctx.input(super::present::moves) {
            if !p.step(m, n) {
                self.selected = p.at;
                self.present = None;
                ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(false));
                return false;
            }
        }
        p.ui(ui, &self.deck);
        // the notes' clock
        ctx.request_repaint_after(std::time::Duration::from_secs(1));
        true
    }

    /// Hands the Open dialog's answer to the session, as the menus' dialogs are: a path comes
    /// back as [`crate::app::session::ViewRequest::OpenDeck`], and where no dialog could open
    /// the session asks for the path.
    fn poll(&mut self, cx: &mut Session) {
        let Some((_, rx)) = &self.pick else {
            return;
        };
        if let Ok(picked) = rx.try_recv() {
            if let Some((prompt, _)) = self.pick.take() {
                cx.answer(prompt, picked);
            }
        }
    }

    /// The panel; returns what it asks of the shell.
    pub fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Session) -> Option<Action> {
        self.poll(cx);
        let mut action = None;
        ui.heading("Deck");
        ui.add(egui::TextEdit::singleline(&mut self.deck.title).hint_text("the deck's title"));
        self.file_row(ui, cx);
        ui.separator();
        let mut one_text = self.deck.text.is_some();
        if ui
            .checkbox(&mut one_text, "One text for every slide")
            .on_hover_text("every slide runs on this text, except slides with a text of their own: change it in class and every slide follows")
            .changed()
        {
            self.deck.text = one_text.then(|| cx.settings.text.clone());
        }
        if let Some(t) = self.deck.text.as_mut() {
            ui.add(egui::TextEdit::multiline(t).desired_rows(2));
        }
        ui.horizontal(|ui| {
            if ui.button("＋ Add the current view").clicked() {
                action = Some(Action::AddCurrent);
            }
            let can = !self.deck.slides.is_empty() && RENDERS;
            if ui
                .add_enabled(can, egui::Button::new("▶ Present"))
                .on_disabled_hover_text(NO_RENDER)
                .clicked()
            {
                self.start_presenting(ui.ctx(), cx);
            }
        });
        ui.separator();
        action = self.slide_list(ui).or(action);
        ui.separator();
        self.editor(ui).or(action)
    }

    fn file_row(&mut self, ui: &mut egui::Ui, cx: &mut Session) {
        ui.horizontal_wrapped(|ui| {
            if ui.button("New").clicked() {
                *self = DeckUi {
                    open: true,
                    ..DeckUi::default()
                };
            }
            if ui.button("Open…").clicked() && self.pick.is_none() {
                let ctx = ui.ctx().clone();
                let filter = ("deck", &["json"][..]);
                match crate::app::file_dialog::open_data(&ctx, "deck", "Open a deck", filter) {
                    Ok(rx) => {
                        let prompt = PathPrompt::new(PathFor::OpenDeck, "Open a deck", "");
                        self.pick = Some((prompt, rx));
                    }
                    Err(e) => cx.status.error = Some(format!("cannot show the file dialog: {e}")),
                }
            }
            ui.menu_button("Lessons", |ui| {
                for name in builtin::NAMES {
                    let title = builtin::deck(name).map(|d| d.title).unwrap_or_default();
                    if ui.button(title).clicked() {
                        self.open_deck(&format!("builtin:{name}"), cx);
                        ui.close();
                    }
                }
            });
            if ui.button("Save…").clicked() {
                match serde_json::to_vec_pretty(&self.deck) {
                    Ok(bytes) => {
                        cx.save_made(("Save the deck", "deck.json", "json"), move |_| Ok(bytes))
                    }
                    Err(e) => cx.status.error = Some(format!("the deck cannot be saved: {e}")),
                }
            }
            let can = !self.deck.slides.is_empty() && RENDERS;
            if ui
                .add_enabled(can, egui::Button::new("Export PDF…"))
                .on_hover_text(
                    "every slide as a page of one vector PDF, made off the window's thread",
                )
                .on_disabled_hover_text(NO_RENDER)
                .clicked()
            {
                let (deck, backend) = (self.deck.clone(), cx.backend_choice);
                cx.save_made(("Export the deck as PDF", "deck.pdf", "pdf"), move |ctl| {
                    let n = deck.slides.len();
                    let pages = super::render::pages(
                        &deck,
                        backend,
                        std::time::Duration::from_secs(600),
                        |i| ctl.report(format!("slide {i} of {n}"), Some(i as f32 / n as f32)),
                    )
                    .map_err(|e| format!("{e:#}"))?;
                    crate::figures::pdf::pdf(&pages, &deck.title).map_err(|e| e.to_string())
                });
            }
        });
    }

    /// The slides in order: select (and show in the window) by clicking, drag ☰ to reorder.
    fn slide_list(&mut self, ui: &mut egui::Ui) -> Option<Action> {
        let mut action = None;
        let mut moved = None;
        egui::ScrollArea::vertical()
            .id_salt("deck slides")
            .max_height(260.0)
            .show(ui, |ui| {
                for i in 0..self.deck.slides.len() {
                    let row = ui.horizontal(|ui| {
                        ui.dnd_drag_source(ui.scope_id().with(("deck slide", i)), i, |ui| {
                            ui.label("☰");
                        })
                        .response
                        .on_hover_text("drag to move the slide");
                        let title = format!("{}. {}", i + 1, self.deck.slides[i].title);
                        if ui.selectable_label(self.selected == i, title).clicked() {
                            self.selected = i;
                            action = Some(Action::Show(i));
                        }
                    });
                    if let Some(from) = row.response.dnd_release_payload::<usize>() {
                        moved = Some((*from, i));
                    }
                }
            });
        if let Some((from, to)) = moved {
            self.move_slide(from, to);
        }
        if self.deck.slides.is_empty() {
            ui.weak("No slides yet: set up a view in any tab, then Add the current view.");
        }
        action
    }

    /// The selected slide: move, duplicate, delete; its title, caption, notes and own text.
    fn editor(&mut self, ui: &mut egui::Ui) -> Option<Action> {
        let n = self.deck.slides.len();
        if n == 0 {
            return None;
        }
        let i = self.selected.min(n - 1);
        self.selected = i;
        let mut action = None;
        ui.horizontal_wrapped(|ui| {
            ui.strong(format!("Slide {} of {n}", i + 1));
            if ui.add_enabled(i > 0, egui::Button::new("↑ Up")).clicked() {
                self.move_slide(i, i - 1);
            }
            if ui
                .add_enabled(i + 1 < n, egui::Button::new("↓ Down"))
                .clicked()
            {
                self.move_slide(i, i + 1);
            }
            if ui.button("Duplicate").clicked() {
                let copy = self.deck.slides[i].clone();
                self.deck.slides.insert(i + 1, copy);
                self.selected = i + 1;
            }
            if ui.button("Delete").clicked() {
                self.deck.slides.remove(i);
                self.selected = i.saturating_sub(1);
            }
        });
        let slide = self.deck.slides.get_mut(self.selected)?;
        ui.label("Title");
        ui.text_edit_singleline(&mut slide.title);
        ui.label("Caption")
            .on_hover_text("a blank line between paragraphs, - for a bullet, **bold**, *italic*; placeholders filled from the run: {tokens} {n} {sep:2.3} {cls:L.H} {self:L.H} {top:L.H} {token:i} {layers} {heads} {model} {text}");
        ui.add(egui::TextEdit::multiline(&mut slide.caption).desired_rows(3));
        ui.label("Speaker notes");
        ui.add(egui::TextEdit::multiline(&mut slide.notes).desired_rows(2));
        let mut own = slide.text.is_some();
        if ui
            .checkbox(&mut own, "This slide keeps its own text")
            .changed()
        {
            slide.text = own.then(|| slide.scene.session.text.clone());
        }
        if let Some(t) = slide.text.as_mut() {
            ui.add(egui::TextEdit::multiline(t).desired_rows(2));
        }
        ui.horizontal(|ui| {
            if ui.button("Show in the window").clicked() {
                action = Some(Action::Show(self.selected));
            }
            if ui
                .button("Update from the window")
                .on_hover_text("the slide's view becomes what the window shows now")
                .clicked()
            {
                action = Some(Action::Update(self.selected));
            }
        });
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slides_move_and_the_selection_follows() {
        let mut ui = DeckUi {
            deck: builtin::deck("attention-explanation").unwrap(),
            ..DeckUi::default()
        };
        let titles =
            |u: &DeckUi| -> Vec<String> { u.deck.slides.iter().map(|s| s.title.clone()).collect() };
        let before = titles(&ui);
        ui.move_slide(0, 2);
        let after = titles(&ui);
        assert_eq!(after[2], before[0]);
        assert_eq!(after[0], before[1]);
        assert_eq!(ui.selected, 2);
        ui.move_slide(2, 99);
        assert_eq!(titles(&ui), after, "a move out of range changes nothing");
        let scene = ui.deck.slides[0].scene.clone();
        ui.add(scene, "New".into());
        assert_eq!(ui.deck.slides[3].title, "New");
        assert_eq!(title_of("Attention", "attention"), "Attention");
        assert_eq!(
            title_of("Shared layers", "figure1"),
            "Shared layers: figure1"
        );
    }
}
