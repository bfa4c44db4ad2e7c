//! The values a caption's placeholders take from the slide's live run (the main model's
//! trace: the same attention the views draw, equal to transformers'). Layers, heads and
//! token positions count from 1, as the window names them ("head 2.3": layer 2, head 3).
//!
//! | placeholder | value |
//! |---|---|
//! | `{text}` | the text the slide ran on |
//! | `{model}` | the main model |
//! | `{tokens}` | the tokens, separated by spaces |
//! | `{n}` | the number of tokens, special ones included |
//! | `{layers}`, `{heads}` | attention maps (layer applications) and heads per map |
//! | `{token:i}` | token i |
//! | `{cls:L.H}`, `{sep:L.H}` | 100/N Σ_q Σ_{k ∈ class} A_LH[q, k]: the share of head L.H's attention on the first special token / the other special tokens, mean over the N queries, in % |
//! | `{self:L.H}` | 100/N Σ_q A_LH[q, q], in % |
//! | `{top:L.H}` | the largest A_LH[q, k]: "q → k (p %)" |

use crate::corpus::stats::{token_classes, CLASS_CLS, CLASS_SEP};
use crate::model::Trace;

/// `name`'s value (with `arg`) on `trace`, the run of `model` on `text`; `None` for a name
/// that is not a placeholder; an argument out of range is an error naming it.
pub fn value(
    trace: &Trace,
    (model, text): (&str, &str),
    name: &str,
    arg: Option<&str>,
) -> Option<Result<String, String>> {
    let n = trace.num_tokens();
    let heads = trace.num_heads;
    Some(Ok(match (name, arg) {
        ("text", None) => text.to_string(),
        ("model", None) => model.to_string(),
        ("tokens", None) => trace.tokens.join(" "),
        ("n", None) => n.to_string(),
        ("layers", None) => trace.attentions.len().to_string(),
        ("heads", None) => heads.to_string(),
        ("token", Some(a)) => match a.parse::<usize>() {
            Ok(i) if (1..=n).contains(&i) => trace.tokens[i - 1].clone(),
            _ => return Some(Err(format!("{{token:{a}}}: the run has tokens 1 to {n}"))),
        },
        ("cls" | "sep" | "self" | "top", Some(a)) => {
            let map = match head_map(trace, a) {
                Ok(m) => m,
                Err(e) => return Some(Err(format!("{{{name}:{a}}}: {e}"))),
            };
            let classes = token_classes(&trace.tokens, &trace.special);
            let mean = |keep: &dyn Fn(usize, usize) -> bool| {
                let mut s = 0f64;
                for q in 0..n {
                    for k in 0..n {
                        if keep(q, k) {
                            s += f64::from(map[q * n + k]);
                        }
                    }
                }
                100.0 * s / n.max(1) as f64
            };
            match name {
                "cls" => percent(mean(&|_, k| classes[k] == CLASS_CLS)),
                "sep" => percent(mean(&|_, k| classes[k] == CLASS_SEP)),
                "self" => percent(mean(&|q, k| q == k)),
                _ => {
                    let (mut best, mut at) = (f32::MIN, (0, 0));
                    for (i, &p) in map.iter().enumerate() {
                        if p > best {
                            (best, at) = (p, (i / n, i % n));
                        }
                    }
                    format!(
                        "{} → {} ({})",
                        trace.tokens[at.0],
                        trace.tokens[at.1],
                        percent(100.0 * f64::from(best))
                    )
                }
            }
        }
        _ => return None,
    }))
}

fn percent(p: f64) -> String {
    format!("{p:.0} %")
}

/// Head "L.H"'s map `[N, N]` (1-based).
fn head_map<'a>(trace: &'a Trace, arg: &str) -> Result<&'a [f32], String> {
    let n = trace.num_tokens();
    let (layers, heads) = (trace.attentions.len(), trace.num_heads);
    let parsed = arg.split_once('.').and_then(|(l, h)| {
        Some((
            l.trim().parse::<usize>().ok()?,
            h.trim().parse::<usize>().ok()?,
        ))
    });
    match parsed {
        Some((l, h)) if (1..=layers).contains(&l) && (1..=heads).contains(&h) => {
            let at = (h - 1) * n * n;
            trace.attentions[l - 1]
                .get(at..at + n * n)
                .ok_or_else(|| "the run has no such map".to_string())
        }
        _ => Err(format!(
            "a head is written layer.head, with layers 1 to {layers} and heads 1 to {heads}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One layer of two heads on `[CLS] a b [SEP]`; head 1.2's rows are chosen so that every
    /// value is known by hand.
    fn trace() -> Trace {
        let tokens: Vec<String> = ["[CLS]", "a", "b", "[SEP]"].map(String::from).to_vec();
        #[rustfmt::skip]
        let head2 = [
            0.10, 0.20, 0.30, 0.40,
            0.00, 0.50, 0.00, 0.50,
            0.25, 0.25, 0.25, 0.25,
            0.00, 0.00, 0.10, 0.90,
        ];
        let mut map = vec![0.25f32; 16];
        map.extend(head2);
        Trace {
            model_type: crate::model::ModelType::Albert,
            tokens,
            input_ids: vec![2, 10, 11, 3],
            token_type_ids: vec![0; 4],
            special: vec![true, false, false, true],
            hidden_size: 8,
            num_heads: 2,
            hidden_states: vec![vec![0.0; 32]; 2],
            attentions: vec![map],
            warnings: Vec::new(),
            internals: None,
            word_ids: Vec::new(),
        }
    }

    fn v(name: &str, arg: Option<&str>) -> Result<String, String> {
        value(&trace(), ("m", "a b"), name, arg).unwrap()
    }

    #[test]
    fn placeholders_take_their_defined_values_from_the_run() {
        // [SEP]: (0.4 + 0.5 + 0.25 + 0.9) / 4 = 51.25 %; [CLS]: (0.1 + 0 + 0.25 + 0) / 4
        assert_eq!(v("sep", Some("1.2")).unwrap(), "51 %");
        assert_eq!(v("cls", Some("1.2")).unwrap(), "9 %");
        // the diagonal: (0.1 + 0.5 + 0.25 + 0.9) / 4 = 43.75 %
        assert_eq!(v("self", Some("1.2")).unwrap(), "44 %");
        assert_eq!(v("top", Some("1.2")).unwrap(), "[SEP] → [SEP] (90 %)");
        assert_eq!(v("sep", Some("1.1")).unwrap(), "25 %");
        assert_eq!(v("tokens", None).unwrap(), "[CLS] a b [SEP]");
        assert_eq!(v("token", Some("2")).unwrap(), "a");
        assert_eq!(v("n", None).unwrap(), "4");
        assert_eq!(v("layers", None).unwrap(), "1");
        assert_eq!(v("heads", None).unwrap(), "2");
        assert_eq!(v("text", None).unwrap(), "a b");
        assert_eq!(v("model", None).unwrap(), "m");
        // out of range, malformed, and not a placeholder
        assert!(v("sep", Some("2.1")).unwrap_err().contains("layers 1 to 1"));
        assert!(v("sep", Some("1.3")).is_err());
        assert!(v("cls", Some("x")).is_err());
        assert!(v("token", Some("0")).unwrap_err().contains("tokens 1 to 4"));
        assert!(value(&trace(), ("m", ""), "nope", None).is_none());
    }
}
