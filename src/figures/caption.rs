//! A slide's caption: a small markup, its placeholders filled from the live run, laid out in
//! wrapped lines of styled runs.
//!
//! The markup: paragraphs are separated by a blank line; a line that starts with `- ` is a
//! bullet of its own; `**bold**` and `*italic*` (`\*` is a star); formulas are plain text
//! (`softmax(QKᵀ/√d)V`). `{name}` or `{name:argument}` is a placeholder, replaced by
//! [`fill`]; `{{` and `}}` are braces.

use super::plots::text_width;
use super::{Figure, Item, Rgb};

/// A stretch of text in one weight and slant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub text: String,
    pub bold: bool,
    pub italic: bool,
}

/// `template` with each `{name}` / `{name:arg}` replaced by `value(name, arg)`. A name
/// `value` does not know (it returns `None`) is left as it is written and listed, so that a
/// typo shows on the slide and in the message instead of vanishing.
pub fn fill(
    template: &str,
    mut value: impl FnMut(&str, Option<&str>) -> Option<String>,
) -> (String, Vec<String>) {
    let (mut out, mut unknown) = (String::with_capacity(template.len()), Vec::new());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        let close = tail.find('}').filter(|_| tail.starts_with('{'));
        let Some(close) = close else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
            continue;
        };
        let inner = &tail[1..close];
        let (name, arg) = match inner.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (inner.trim(), None),
        };
        match value(name, arg) {
            Some(v) => out.push_str(&v),
            None => {
                out.push_str(&tail[..=close]);
                unknown.push(inner.to_string());
            }
        }
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    (out, unknown)
}

/// The markup's paragraphs, each a list of runs (consecutive text of one style merged).
pub fn parse(markup: &str) -> Vec<Vec<Run>> {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, paragraphs: &mut Vec<String>| {
        if !current.trim().is_empty() {
            paragraphs.push(std::mem::take(current));
        }
        current.clear();
    };
    for line in markup.lines() {
        let line = line.trim();
        if line.is_empty() {
            flush(&mut current, &mut paragraphs);
        } else if let Some(item) = line.strip_prefix("- ") {
            flush(&mut current, &mut paragraphs);
            current = format!("• {item}");
            flush(&mut current, &mut paragraphs);
        } else {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(line);
        }
    }
    flush(&mut current, &mut paragraphs);
    paragraphs.iter().map(|p| runs(p)).collect()
}

fn runs(p: &str) -> Vec<Run> {
    let (mut out, mut text) = (Vec::<Run>::new(), String::new());
    let (mut bold, mut italic) = (false, false);
    let mut push = |text: &mut String, bold: bool, italic: bool| {
        if text.is_empty() {
            return;
        }
        match out.last_mut() {
            Some(r) if r.bold == bold && r.italic == italic => r.text.push_str(text),
            _ => out.push(Run {
                text: text.clone(),
                bold,
                italic,
            }),
        }
        text.clear();
    };
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'*') => text.push(chars.next().unwrap_or('*')),
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                push(&mut text, bold, italic);
                bold = !bold;
            }
            '*' => {
                push(&mut text, bold, italic);
                italic = !italic;
            }
            c => text.push(c),
        }
    }
    push(&mut text, bold, italic);
    out
}

/// Lays `paragraphs` out in `fig` from (`x`, `y`) (the first line's top), wrapped to `width`,
/// in `size` px with 1.35 line spacing and half a line between paragraphs; returns the height
/// used. A word wider than the line gets a line of its own.
pub fn lay_out(
    fig: &mut Figure,
    paragraphs: &[Vec<Run>],
    (x, y, width): (f32, f32, f32),
    size: f32,
    color: Rgb,
) -> f32 {
    let line_h = size * 1.35;
    let mut top = y;
    for (pi, p) in paragraphs.iter().enumerate() {
        if pi > 0 {
            top += line_h * 0.5;
        }
        for line in wrap(p, width, size) {
            fig.items.push(Item::Rich {
                x,
                y: top + size,
                size,
                color,
                runs: line,
            });
            top += line_h;
        }
    }
    top - y
}

/// One paragraph's runs broken into lines no wider than `width` (by the figures' estimate of a
/// text's width).
fn wrap(p: &[Run], width: f32, size: f32) -> Vec<Vec<Run>> {
    let mut lines: Vec<Vec<Run>> = vec![Vec::new()];
    let mut used = 0.0;
    for r in p {
        for (i, word) in r.text.split(' ').enumerate() {
            let lead = if i > 0 { " " } else { "" };
            let w = text_width(word, size);
            let line = lines.last_mut().expect("one line at least");
            let space = if line.is_empty() { "" } else { lead };
            if !line.is_empty() && used + text_width(space, size) + w > width && !word.is_empty() {
                lines.push(vec![Run {
                    text: word.to_string(),
                    ..r.clone()
                }]);
                used = w;
                continue;
            }
            let piece = format!("{space}{word}");
            used += text_width(&piece, size);
            match line.last_mut() {
                Some(last) if last.bold == r.bold && last.italic == r.italic => {
                    last.text.push_str(&piece)
                }
                _ => line.push(Run {
                    text: piece,
                    ..r.clone()
                }),
            }
        }
    }
    lines.retain(|l| l.iter().any(|r| !r.text.trim().is_empty()));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(t: &str) -> Run {
        Run {
            text: t.into(),
            bold: false,
            italic: false,
        }
    }

    #[test]
    fn markup_gives_paragraphs_bullets_and_styled_runs() {
        let p = parse("One **bold** and *slanted*\nline.\n\n- a bullet\nAfter \\* star");
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0],
            vec![
                plain("One "),
                Run {
                    text: "bold".into(),
                    bold: true,
                    italic: false
                },
                plain(" and "),
                Run {
                    text: "slanted".into(),
                    bold: false,
                    italic: true
                },
                plain(" line."),
            ]
        );
        assert_eq!(p[1], vec![plain("• a bullet")]);
        assert_eq!(p[2], vec![plain("After * star")]);
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_kept_and_named() {
        let (s, unknown) = fill("{a} and {b:2.3} {{x}} {nope} {open", |n, arg| match n {
            "a" => Some("A".into()),
            "b" => Some(format!("B{}", arg.unwrap_or(""))),
            _ => None,
        });
        assert_eq!(s, "A and B2.3 {x} {nope} {open");
        assert_eq!(unknown, vec!["nope".to_string()]);
    }

    #[test]
    fn lines_wrap_within_the_width_and_keep_every_word() {
        let p = parse("alpha beta gamma delta epsilon zeta eta theta iota kappa **lambda mu**");
        let lines = wrap(&p[0], 200.0, 20.0);
        assert!(lines.len() > 2);
        for l in &lines {
            let t: String = l.iter().map(|r| r.text.as_str()).collect();
            assert!(
                text_width(t.trim(), 20.0) <= 200.0 + 1e-3,
                "{t:?} is too wide"
            );
        }
        let all: Vec<String> = lines
            .iter()
            .map(|l| l.iter().map(|r| r.text.as_str()).collect::<String>())
            .collect();
        assert_eq!(
            all.join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
        );
        assert!(lines.last().unwrap().iter().any(|r| r.bold));
    }
}
