//! Decks: an ordered list of slides, each a scene (models, text, the view and its settings,
//! the interventions) with a title, a caption in a small markup whose `{placeholders}` are
//! filled from the slide's live run, and speaker notes. A deck-level text replaces every
//! slide's text (a class suggests a sentence and every slide follows), except on slides that
//! keep their own. One JSON file with a format and a version; `albert-lens deck render` and the
//! window's Deck panel read it.

pub mod builtin;
pub mod panel;
pub mod present;
pub mod render;
pub mod values;

use super::scene::Scene;
use std::path::Path;

pub const FORMAT: &str = "albert-lens deck";
pub const VERSION: u32 = 1;
/// A deck file is at most this large.
pub const MAX_DECK_BYTES: u64 = 64 << 20;
/// A deck has at most this many slides.
pub const MAX_SLIDES: usize = 500;

/// One slide.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Slide {
    pub title: String,
    /// the caption's markup ([`crate::figures::caption`]) with `{placeholders}`
    #[serde(default)]
    pub caption: String,
    /// speaker notes (shown to the presenter only)
    #[serde(default)]
    pub notes: String,
    /// this slide's own text: it keeps it when the deck's text is set
    #[serde(default)]
    pub text: Option<String>,
    /// what the slide shows
    pub scene: Scene,
}

/// A deck.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Deck {
    /// "albert-lens deck"
    pub format: String,
    pub version: u32,
    pub title: String,
    /// the text every slide runs on (except those with their own); none: each scene's own
    #[serde(default)]
    pub text: Option<String>,
    /// the second segment every slide runs with, where the deck's text is set
    #[serde(default)]
    pub pair: Option<String>,
    pub slides: Vec<Slide>,
}

impl Deck {
    pub fn new(title: impl Into<String>) -> Self {
        Deck {
            format: FORMAT.into(),
            version: VERSION,
            title: title.into(),
            text: None,
            pair: None,
            slides: Vec::new(),
        }
    }

    /// A deck file, or `builtin:NAME` (a shipped lesson), checked: the format and version, the
    /// number of slides, and every slide's scene as `render --scene` checks a scene file.
    pub fn open(spec: &str) -> anyhow::Result<Deck> {
        if let Some(name) = spec.strip_prefix("builtin:") {
            return builtin::deck(name).ok_or_else(|| {
                anyhow::anyhow!(
                    "there is no built-in deck {name:?}; the built-in decks are: {}",
                    builtin::NAMES.join(", ")
                )
            });
        }
        let path = Path::new(spec);
        let bytes = crate::error::read_file_limited(path, MAX_DECK_BYTES)?;
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("{spec} is not a deck file: {e}"))?;
        Deck::from_json(json, spec)
    }

    /// A deck from its JSON, checked as [`Deck::open`] checks a file.
    pub fn from_json(mut json: serde_json::Value, name: &str) -> anyhow::Result<Deck> {
        let format = json.get("format").and_then(|f| f.as_str()).unwrap_or("");
        let version = json.get("version").and_then(|v| v.as_u64());
        if format != FORMAT {
            anyhow::bail!("{name} is not a deck file (its format is {format:?}, not {FORMAT:?})");
        }
        if version != Some(u64::from(VERSION)) {
            anyhow::bail!(
                "{name} is a deck of version {}, and this albert-lens reads version {VERSION}: open it with the albert-lens that saved it, or save it again from there",
                version.map_or("?".to_string(), |v| v.to_string())
            );
        }
        let slides = match json.get_mut("slides").map(serde_json::Value::take) {
            Some(serde_json::Value::Array(s)) => s,
            _ => anyhow::bail!("{name} has no list of slides"),
        };
        json["slides"] = serde_json::Value::Array(Vec::new());
        if slides.len() > MAX_SLIDES {
            anyhow::bail!(
                "{name} has {} slides; a deck holds at most {MAX_SLIDES}",
                slides.len()
            );
        }
        let mut deck: Deck = serde_json::from_value(json)
            .map_err(|e| anyhow::anyhow!("{name} is not a deck file: {e}"))?;
        for (i, mut s) in slides.into_iter().enumerate() {
            let at = format!("{name}, slide {}", i + 1);
            let scene = s
                .get_mut("scene")
                .map(serde_json::Value::take)
                .ok_or_else(|| anyhow::anyhow!("{at} has no scene"))?;
            let scene = Scene::from_json(scene, &at)?;
            if let Some(o) = s.as_object_mut() {
                o.insert("scene".into(), serde_json::to_value(&scene)?);
            }
            let slide: Slide =
                serde_json::from_value(s).map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
            deck.slides.push(slide);
        }
        Ok(deck)
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        crate::files::write_atomic(path, &serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }

    /// The scene slide `i` runs: its own, with the slide's text, or the deck's, in place of
    /// the scene's.
    pub fn scene(&self, i: usize) -> Option<Scene> {
        let slide = self.slides.get(i)?;
        let mut scene = slide.scene.clone();
        if let Some(t) = slide.text.as_ref().or(self.text.as_ref()) {
            scene.session.text = t.clone();
            if slide.text.is_none() {
                if let Some(p) = &self.pair {
                    scene.session.pair = p.clone();
                    scene.session.pair_on = !p.is_empty();
                }
            }
        }
        Some(scene)
    }

    /// The model folders the deck's slides name that are no longer there, each once.
    pub fn missing_models(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.slides {
            for m in s.scene.missing_models() {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_deck_reads_back_identical_and_bad_decks_are_named() {
        let deck = builtin::deck("inside-albert").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.json");
        deck.write(&path).unwrap();
        let back = Deck::open(path.to_str().unwrap()).unwrap();
        assert_eq!(back, deck);
        // a later version, another format, and a slide whose scene is wrong
        let mut json = serde_json::to_value(&deck).unwrap();
        json["version"] = 7.into();
        let e = Deck::from_json(json.clone(), "x.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("version 7"), "{e}");
        json["version"] = 1.into();
        json["format"] = "albert-lens scene".into();
        let e = Deck::from_json(json.clone(), "x.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a deck file"), "{e}");
        json["format"] = FORMAT.into();
        json["slides"][2]["scene"]["session"]["layer"] = "high".into();
        let e = Deck::from_json(json, "x.json").unwrap_err().to_string();
        assert!(e.contains("slide 3"), "{e}");
        let e = Deck::open("builtin:nope").unwrap_err().to_string();
        assert!(e.contains("inside-albert"), "{e}");
    }

    #[test]
    fn the_decks_text_replaces_every_slides_but_those_with_their_own() {
        let mut deck = builtin::deck("inside-albert").unwrap();
        deck.text = Some("Class text.".into());
        deck.slides[1].text = Some("Own text.".into());
        assert_eq!(deck.scene(0).unwrap().session.text, "Class text.");
        assert_eq!(deck.scene(1).unwrap().session.text, "Own text.");
        deck.text = None;
        let own = deck.slides[0].scene.session.text.clone();
        assert_eq!(deck.scene(0).unwrap().session.text, own);
        assert!(deck.scene(999).is_none());
    }
}
