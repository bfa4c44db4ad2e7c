//! The layer lens as a component: the masked-LM head applied to one token's hidden state after
//! every layer (how a prediction forms through the shared layers), as a table of the top
//! predictions per depth with each candidate's probability at every depth. The Layer lens tab
//! asks the model worker for [`Data`] and draws it with egui; its export and `render --view
//! lens` go through [`figure`].

use crate::error::{LensError, Result};
use crate::figures::{Figure, Theme};
use crate::insight::{self, LensTable};
use crate::matrix::Matrix;
use crate::model::{LoadedModel, Trace};

/// The token followed and how many predictions per depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// the token's position in the trace, from 0
    pub position: usize,
    /// predictions per depth (at least 1)
    pub top_k: usize,
}

/// One lens: the model's name (as the title gives it), the position and its token, the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub model: String,
    pub pos: usize,
    pub token: String,
    pub table: LensTable,
}

/// The lens of `model` (named `name`) on `trace` at `o.position`.
pub fn derive((model, name): (&LoadedModel, &str), trace: &Trace, o: &Options) -> Result<Data> {
    let Some(head) = model.weights.mlm.as_ref() else {
        return Err(LensError::Analysis(format!(
            "{name} has no masked-LM head, so there is nothing to decode the layers with"
        )));
    };
    let rows = insight::layer_lens(&model.config, head, trace, o.position, o.top_k.max(1))?;
    Ok(Data {
        model: name.to_string(),
        pos: o.position,
        token: trace.tokens.get(o.position).cloned().unwrap_or_default(),
        table: LensTable::new(&rows, &|id| model.tokenizer.token_or_id(id)),
    })
}

/// The lens as a figure, and its numbers.
pub fn figure(d: &Data, theme: &Theme) -> Result<(Figure, Option<Matrix>)> {
    super::build(&super::View::Lens { data: d }, theme)
}
