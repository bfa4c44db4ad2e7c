//! A deck's page: the slide's title, its view's figure scaled to fit, its caption, and the
//! slide number, on a 16:9 page.

use super::caption::{self, Run};
use super::{Anchor, Figure, Item, Theme};

/// The page's size in figure units (px): 16:9.
pub const WIDTH: f32 = 1600.0;
pub const HEIGHT: f32 = 900.0;
const MARGIN: f32 = 48.0;

/// What a page shows besides its figure.
pub struct Page<'a> {
    pub title: &'a str,
    /// the caption's paragraphs ([`caption::parse`] of the filled markup)
    pub caption: &'a [Vec<Run>],
    /// "3 / 14"
    pub number: &'a str,
}

/// The page: the title at the top, the caption at the bottom, and `figure` (if any) scaled to
/// the space between (never enlarged past 2×), centred.
pub fn page(p: &Page<'_>, figure: Option<&Figure>, theme: &Theme) -> Figure {
    let mut f = Figure::new(WIDTH, HEIGHT, theme);
    let title_size = theme.font * 2.2;
    f.items.push(Item::Text {
        x: MARGIN,
        y: MARGIN + title_size,
        text: p.title.to_string(),
        size: title_size,
        anchor: Anchor::Start,
        rotate: 0.0,
        color: theme.foreground,
        bold: true,
    });
    let top = MARGIN + title_size * 1.6;
    let cap_size = theme.font * 1.3;
    // the caption laid out once from y = 0, then placed above the foot by its height
    let mut cap = Figure::new(WIDTH, HEIGHT, theme);
    let width = WIDTH - 2.0 * MARGIN;
    let cap_h = caption::lay_out(
        &mut cap,
        p.caption,
        (MARGIN, 0.0, width),
        cap_size,
        theme.foreground,
    );
    let foot = theme.font * 1.6;
    let bottom = HEIGHT - MARGIN - foot - cap_h;
    f.place(&cap, 0.0, bottom + 12.0);
    if let Some(fig) = figure {
        let (aw, ah) = (width, (bottom - top).max(1.0));
        let s = (aw / fig.width.max(1.0))
            .min(ah / fig.height.max(1.0))
            .min(2.0);
        let (w, h) = (fig.width * s, fig.height * s);
        let (x, y) = (MARGIN + (aw - w) / 2.0, top + (ah - h) / 2.0);
        f.rect(x, y, w, h, fig.background);
        f.place_scaled(fig, x, y, s);
    }
    f.text(
        WIDTH - MARGIN,
        HEIGHT - MARGIN / 2.0,
        p.number,
        theme.font,
        Anchor::End,
        theme.muted,
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A figure larger than the page is shrunk into the space between title and caption; the
    /// page holds the title, every caption word and the number.
    #[test]
    fn the_figure_fits_between_the_title_and_the_caption() {
        let t = Theme::PRESENTATION;
        let mut fig = Figure::new(3000.0, 3000.0, &t);
        fig.rect(0.0, 0.0, 3000.0, 3000.0, [1, 2, 3]);
        let cap = caption::parse("A **caption** of two words and more.");
        let page = page(
            &Page {
                title: "The title",
                caption: &cap,
                number: "2 / 5",
            },
            Some(&fig),
            &t,
        );
        let Some(Item::Rect { x, y, w, h, .. }) = page.items.iter().find(|i| {
            matches!(
                i,
                Item::Rect {
                    fill: Some([1, 2, 3]),
                    ..
                }
            )
        }) else {
            panic!("the figure is not on the page")
        };
        assert!(*x >= MARGIN && *y > MARGIN && x + w <= WIDTH - MARGIN + 1e-3);
        assert!(y + h < HEIGHT - MARGIN, "the figure ends above the caption");
        let svg = page.to_svg();
        for s in ["The title", "caption", "two words", "2 / 5"] {
            assert!(svg.contains(s), "{s} is missing");
        }
        crate::figures::parse_svg(&svg).unwrap();
    }
}
