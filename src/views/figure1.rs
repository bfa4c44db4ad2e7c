//! The ALBERT paper's Figure 1 as a component: for each run on the text (the main model, the
//! comparison model, more models, the unshare what-if's repetitions), the mean L2 distance and
//! angle between each layer's input and output. The Shared tab asks the worker for the runs,
//! keeps the what-if's repetitions and the hidden tokens as its settings, and draws [`Data`];
//! its export and animation and `render --view figure1` go through [`figure`] and [`frames`].

use crate::error::Result;
use crate::figures::scenes::{self, Figure1Line};
use crate::figures::{Figure, Theme};
use crate::matrix::Matrix;
use crate::model::Trace;

/// The runs Figure 1 draws, each with its name.
pub struct Runs<'a> {
    pub main: (&'a str, &'a Trace),
    pub compare: Option<(&'a str, &'a Trace)>,
    /// more models' runs on the text
    pub more: &'a [(&'a str, &'a Trace)],
    /// the main model with its shared layer applied n times: (n, run)
    pub repeats: &'a [(usize, &'a Trace)],
}

/// The figure's lines and the text they ran on.
pub struct Data {
    pub text: String,
    pub lines: Vec<Figure1Line>,
}

/// Each run's line; `hide_special` leaves [CLS], [SEP] and the other special tokens out of the
/// means.
pub fn derive(text: &str, runs: &Runs<'_>, hide_special: bool) -> Data {
    Data {
        text: text.to_string(),
        lines: scenes::figure1_lines(
            runs.main,
            runs.compare,
            runs.more,
            runs.repeats,
            hide_special,
        ),
    }
}

/// The two panels (L2 distance, angle) and their numbers.
pub fn figure(d: &Data, theme: &Theme) -> Result<(Figure, Option<Matrix>)> {
    let view = super::View::Figure1 {
        text: &d.text,
        lines: &d.lines,
    };
    super::build(&view, theme)
}

/// The animation: the lines drawn layer by layer, on fixed axes.
pub fn frames(d: &Data, theme: &Theme) -> Vec<Figure> {
    scenes::figure1_frames(&d.text, &d.lines, theme)
}
