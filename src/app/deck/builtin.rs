//! The shipped lessons, driven by the built-in models: *Inside ALBERT* and *Is attention an
//! explanation?*. Each is an ordinary deck (open it, change it, save it as your own).

use super::{Deck, Slide};
use crate::app::scene::{Scene, FORMAT};
use crate::app::session::SessionSettings;
use crate::model::{Ablation, Intervention, ModelSource};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The built-in decks' names (`builtin:NAME`).
pub const NAMES: [&str; 2] = ["inside-albert", "attention-explanation"];

/// The built-in deck `name`.
pub fn deck(name: &str) -> Option<Deck> {
    match name {
        "inside-albert" => Some(inside_albert()),
        "attention-explanation" => Some(attention_explanation()),
        _ => None,
    }
}

const MAIN: &str = "albert-mini";
const COMPARE: &str = "bert-mini";

/// A slide showing `what` of the `tab` tab with the tab's `settings`.
fn slide(title: &str, (tab, what): (&str, &str), settings: Value, caption: &str) -> Slide {
    let session = SessionSettings {
        open_tab: tab.into(),
        ..SessionSettings::default()
    };
    let mut tabs = BTreeMap::new();
    if !settings.is_null() {
        tabs.insert(tab.to_string(), settings);
    }
    Slide {
        title: title.into(),
        caption: caption.into(),
        notes: String::new(),
        text: None,
        scene: Scene {
            format: FORMAT.into(),
            version: 1,
            main: ModelSource::Builtin(MAIN.into()),
            compare: None,
            session,
            intervention: Intervention::default(),
            tabs,
            figure: (tab.into(), what.into()),
            scale: 2.0,
            notes: Vec::new(),
        },
    }
}

/// The slide with notes for the speaker.
fn noted(mut s: Slide, notes: &str) -> Slide {
    s.notes = notes.into();
    s
}

/// The slide with the comparison model (BERT, unshared) open too.
fn compared(mut s: Slide) -> Slide {
    s.scene.compare = Some(ModelSource::Builtin(COMPARE.into()));
    s
}

/// The slide at layer `layer` (0-based) of the session.
fn at_layer(mut s: Slide, layer: usize) -> Slide {
    s.scene.session.layer = layer;
    s
}

fn explain(title: &str, step: &str, caption: &str) -> Slide {
    slide(
        title,
        ("explain", step),
        json!({"map": 0, "head": 0, "position": null, "temperature": 1.0}),
        caption,
    )
}

fn attention(title: &str, settings: Value, caption: &str) -> Slide {
    slide(title, ("attention", "attention"), settings, caption)
}

fn inside_albert() -> Deck {
    let mut d = Deck::new("Inside ALBERT");
    d.slides = vec![
        noted(
            explain(
                "Text becomes tokens",
                "token",
                "The sentence is cut into **{n} tokens**: {tokens}\n\nEach token is an id into a vocabulary of word pieces (SentencePiece for ALBERT). [CLS] opens the input, [SEP] closes each segment.",
            ),
            "Type a sentence the class suggests into the deck's text: every slide follows.",
        ),
        explain(
            "The factorized embedding",
            "word-embedding",
            "ALBERT looks each id up in a **V × E** table and projects it to the hidden size H: V·E + E·H parameters instead of BERT's V·H. With V = 30 000, E = 128 and H = 768 that is 3.9 M instead of 23 M.",
        ),
        explain(
            "Where each token is, and which segment",
            "position-and-type",
            "A learned vector for each position and for each segment is added to the word's; nothing else tells the model about order.",
        ),
        explain(
            "Into the hidden size",
            "projection",
            "The E-wide sum is normalized and projected to H: the only place ALBERT's embedding differs from BERT's.",
        ),
        explain(
            "One head: queries, keys, values",
            "queries-keys-values",
            "Each token's state is projected three times: a *query* (what it looks for), a *key* (what it offers) and a *value* (what it passes on). {heads} heads do this side by side, each in its own d = H / heads dimensions.",
        ),
        explain(
            "One head: scores",
            "scores",
            "score(q, k) = q · k / √d for every pair: a query's scores rank the keys it will read from.",
        ),
        explain(
            "One head: softmax",
            "softmax",
            "softmax turns each query's scores into weights that sum to 1: the attention map. Head 1.1 puts {sep:1.1} of its attention on [SEP] and {self:1.1} on the token itself.",
        ),
        explain(
            "One head: the context",
            "context",
            "Each token's new state is the attention-weighted sum of the values: softmax(QKᵀ/√d) V.",
        ),
        attention(
            "Every head at once",
            json!({"view": "Model"}),
            "{layers} layers × {heads} heads. Rows are the layers, columns the heads; each thumbnail is one attention map. The strongest link of head 1.1: {top:1.1}.",
        ),
        at_layer(
            attention(
                "One layer, heads averaged",
                json!({"view": "Heatmap", "head": "Mean"}),
                "Layer 2, mean over the heads: rows are queries, columns the keys they read from. In deep layers much attention goes to [SEP] ({sep:2.1} for head 2.1): a head with nothing to do parks its attention there.",
            ),
            1,
        ),
        compared(slide(
            "What sharing does: Figure 1",
            ("shared", "figure1"),
            Value::Null,
            "The ALBERT paper's Figure 1 on this text: how far each layer moves the state (L2 and cosine distance of input and output). With **shared** weights the curve is smooth; BERT's unshared layers oscillate.",
        )),
        compared(slide(
            "Where the parameters are",
            ("shared", "parameters"),
            Value::Null,
            "ALBERT's layers are one set of weights applied {layers} times, so depth adds no parameters: ALBERT-base has 12 M against BERT-base's 108 M.",
        )),
        compared(slide(
            "How alike the layers attend",
            ("shared", "js main"),
            Value::Null,
            "Jensen–Shannon distance between the attention of every pair of layers: shared weights make neighbouring layers attend alike.",
        )),
        slide(
            "What the model predicts, layer by layer",
            ("lens", "lens"),
            Value::Null,
            "The masked-LM head applied to every layer's state (a logit lens): the prediction forms in the last layers.",
        ),
        slide(
            "What heads do over a corpus",
            ("corpus", "layers"),
            // the tab saves (its settings, the query-key explorer's)
            json!([{"view": "layers", "stat": "sep", "limit": 40}, {}]),
            "Over 40 texts of the built-in corpus, the mean share of attention each layer puts on [CLS], on [SEP] and on punctuation: compare it with what Clark et al. (2019) found in BERT.",
        ),
    ];
    d
}

fn attention_explanation() -> Deck {
    let mut d = Deck::new("Is attention an explanation?");
    let last = 3;
    let mut ablated = at_layer(
        attention(
            "Ablation: switch heads off",
            json!({"view": "Heatmap", "head": "Mean", "diff": "Intervention"}),
            "Layer 4 with heads 1.1 and 1.2 switched off, minus the intact run: what those heads really changed downstream. High attention does not mean high effect.",
        ),
        last,
    );
    ablated.scene.intervention.ablate = Ablation(vec![(0, 0), (0, 1)]);
    d.slides = vec![
        at_layer(
            attention(
                "Attention",
                json!({"view": "Heatmap", "head": "Mean", "measure": "Attention"}),
                "The last layer's attention, heads averaged. It says where each token *reads*, not what it *uses*: head 4.1's strongest link is {top:4.1}.",
            ),
            last,
        ),
        at_layer(
            attention(
                "Attention rollout",
                json!({"view": "Heatmap", "head": "Mean", "measure": "Rollout"}),
                "Rollout (Abnar & Zuidema 2020) multiplies the layers' maps, with the residual as 0.5·I: how much of each input token reaches each position through all layers.",
            ),
            last,
        ),
        at_layer(
            attention(
                "Value-weighted attention",
                json!({"view": "Heatmap", "head": "Mean", "measure": "ValueNorm"}),
                "Kobayashi et al. (2020): weight each attention by the norm of what the key passes on, ‖α f(x)‖. Attention to [SEP] is large but its values are small.",
            ),
            last,
        ),
        slide(
            "Gradients: integrated gradients",
            ("attribution", "attribution"),
            json!({"method": "IntegratedGradients", "steps": 32}),
            "Attribution of the prediction at one position to each input token (integrated gradients, 32 steps), beside the attention to that position.",
        ),
        slide(
            "Gradients: gradient × input",
            ("attribution", "attribution"),
            json!({"method": "GradXInput"}),
            "The cheaper gradient × input: often close to integrated gradients, sometimes not; neither need agree with attention.",
        ),
        ablated,
        slide(
            "Do the methods agree?",
            ("mixing", "mixing"),
            Value::Null,
            "Context mixing by several methods at one token, and their rank correlations. Where they disagree, no single map is *the* explanation.",
        ),
    ];
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every built-in slide's scene passes the checks a scene file passes, and the lessons have
    /// the slides the issue asks for.
    #[test]
    fn the_built_in_decks_are_valid_decks_of_enough_slides() {
        for (name, min) in [("inside-albert", 12), ("attention-explanation", 6)] {
            let d = deck(name).unwrap();
            assert!(d.slides.len() >= min, "{name}: {}", d.slides.len());
            let json = serde_json::to_value(&d).unwrap();
            let back = Deck::from_json(json, name).unwrap();
            assert_eq!(back, d);
        }
    }
}
