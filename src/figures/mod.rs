//! Publication figures: every view the app exports, and everything `albert-lens render` writes,
//! is first built as a small vector scene ([`Figure`]), then written as SVG, or rasterised from
//! that SVG (resvg, with the app's own fonts compiled in) as PNG at any scale. So the PNG and
//! the SVG of one view are the same drawing, and the command line and the window make the same
//! figures.

pub mod animate;
pub mod attribution;
pub mod caption;
pub mod corpus;
pub mod explain;
pub mod labels;
pub mod links;
pub mod pdf;
pub mod plots;
pub mod scatter;
pub mod scenes;
pub mod slide;

use crate::error::{LensError, Result};
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

pub type Rgb = [u8; 3];

/// Colours and sizes of a figure.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Theme {
    pub background: Rgb,
    pub foreground: Rgb,
    /// axes, grid lines and secondary text
    pub muted: Rgb,
    /// base font size in px (at scale 1)
    pub font: f32,
    pub line_width: f32,
}

impl Theme {
    pub const LIGHT: Theme = Theme {
        background: [255, 255, 255],
        foreground: [20, 20, 20],
        muted: [120, 120, 120],
        font: 12.0,
        line_width: 1.5,
    };
    pub const DARK: Theme = Theme {
        background: [27, 27, 27],
        foreground: [230, 230, 230],
        muted: [140, 140, 140],
        font: 12.0,
        line_width: 1.5,
    };
    /// For slides: white background, large type, thick lines.
    pub const PRESENTATION: Theme = Theme {
        background: [255, 255, 255],
        foreground: [0, 0, 0],
        muted: [90, 90, 90],
        font: 18.0,
        line_width: 3.0,
    };

    pub fn by_name(name: &str) -> Option<Theme> {
        match name {
            "light" => Some(Theme::LIGHT),
            "dark" => Some(Theme::DARK),
            "presentation" => Some(Theme::PRESENTATION),
            _ => None,
        }
    }
}

/// Colour-blind-safe categorical colours (Okabe & Ito 2008), for series, heads and layers.
pub const OKABE_ITO: [Rgb; 8] = [
    [0xE6, 0x9F, 0x00],
    [0x56, 0xB4, 0xE9],
    [0x00, 0x9E, 0x73],
    [0xD5, 0x5E, 0x00],
    [0x00, 0x72, 0xB2],
    [0xCC, 0x79, 0xA7],
    [0xF0, 0xE4, 0x42],
    [0x00, 0x00, 0x00],
];

/// Indices into [`OKABE_ITO`] in an order whose first six are told apart at a glance (the
/// sky blue, too close to the blue, and the black, lost on a dark background, come last): for
/// lines of several candidates.
pub const DISTINCT: [usize; 8] = [0, 4, 2, 3, 5, 6, 1, 7];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// One drawing primitive, in figure units (px at scale 1), y down.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Option<Rgb>,
        stroke: Option<(Rgb, f32)>,
        opacity: f32,
    },
    /// a polyline (two points: a segment)
    Line {
        points: Vec<(f32, f32)>,
        color: Rgb,
        width: f32,
        dashed: bool,
        opacity: f32,
    },
    Circle {
        x: f32,
        y: f32,
        r: f32,
        fill: Rgb,
        opacity: f32,
    },
    Text {
        x: f32,
        y: f32,
        text: String,
        size: f32,
        anchor: Anchor,
        /// degrees, clockwise, about (x, y)
        rotate: f32,
        color: Rgb,
        bold: bool,
    },
    /// one line of text in runs of their own weight and slant (a caption's line)
    Rich {
        x: f32,
        y: f32,
        size: f32,
        color: Rgb,
        runs: Vec<caption::Run>,
    },
    /// an RGBA raster drawn without smoothing (large heatmaps: one image instead of N² rects)
    Raster {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        png: Arc<Vec<u8>>,
    },
}

/// A figure: its size, background and items, in drawing order.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub width: f32,
    pub height: f32,
    pub background: Rgb,
    pub items: Vec<Item>,
}

impl Figure {
    /// A figure of whole-pixel size (rounded up), so that every scale gives exact multiples.
    pub fn new(width: f32, height: f32, theme: &Theme) -> Self {
        Figure {
            width: width.ceil(),
            height: height.ceil(),
            background: theme.background,
            items: Vec::new(),
        }
    }

    /// Draws `other`'s items into this figure with its top left at (`dx`, `dy`) (a figure
    /// made of panels; the other's background is not drawn).
    pub fn place(&mut self, other: &Figure, dx: f32, dy: f32) {
        self.place_scaled(other, dx, dy, 1.0);
    }

    /// [`Self::place`] with `other` drawn `scale` times its size (its text, lines and marks
    /// too): a figure fitted into a slide.
    pub fn place_scaled(&mut self, other: &Figure, dx: f32, dy: f32, scale: f32) {
        // positions moved (x · 1 + dx is x + dx exactly), sizes scaled only when scaled
        let at = |v: &mut f32, d: f32| *v = *v * scale + d;
        let size = |v: &mut f32| {
            if scale != 1.0 {
                *v *= scale;
            }
        };
        for item in &other.items {
            let mut item = item.clone();
            match &mut item {
                Item::Rect {
                    x, y, w, h, stroke, ..
                } => {
                    at(x, dx);
                    at(y, dy);
                    size(w);
                    size(h);
                    if let Some((_, width)) = stroke {
                        size(width);
                    }
                }
                Item::Raster { x, y, w, h, .. } => {
                    at(x, dx);
                    at(y, dy);
                    size(w);
                    size(h);
                }
                Item::Circle { x, y, r, .. } => {
                    at(x, dx);
                    at(y, dy);
                    size(r);
                }
                Item::Text { x, y, size: s, .. } | Item::Rich { x, y, size: s, .. } => {
                    at(x, dx);
                    at(y, dy);
                    size(s);
                }
                Item::Line { points, width, .. } => {
                    for (x, y) in points.iter_mut() {
                        at(x, dx);
                        at(y, dy);
                    }
                    size(width);
                }
            }
            self.items.push(item);
        }
    }

    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, fill: Rgb) {
        self.items.push(Item::Rect {
            x,
            y,
            w,
            h,
            fill: Some(fill),
            stroke: None,
            opacity: 1.0,
        });
    }

    pub fn frame(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb, width: f32) {
        self.items.push(Item::Rect {
            x,
            y,
            w,
            h,
            fill: None,
            stroke: Some((color, width)),
            opacity: 1.0,
        });
    }

    pub fn line(&mut self, points: Vec<(f32, f32)>, color: Rgb, width: f32) {
        self.items.push(Item::Line {
            points,
            color,
            width,
            dashed: false,
            opacity: 1.0,
        });
    }

    pub fn text(
        &mut self,
        x: f32,
        y: f32,
        text: impl Into<String>,
        size: f32,
        anchor: Anchor,
        color: Rgb,
    ) {
        self.items.push(Item::Text {
            x,
            y,
            text: text.into(),
            size,
            anchor,
            rotate: 0.0,
            color,
            bold: false,
        });
    }

    /// The figure as an SVG document (sizes in px; text in the app's fonts where installed).
    pub fn to_svg(&self) -> String {
        let mut s = String::with_capacity(256 + self.items.len() * 80);
        let _ = write!(
            s,
            r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="'Ubuntu Light', Ubuntu, Hack, 'DejaVu Sans', Arial, sans-serif">
<rect x="0" y="0" width="{w}" height="{h}" fill="{bg}"/>
"#,
            w = num(self.width),
            h = num(self.height),
            bg = hex(self.background)
        );
        for item in &self.items {
            match item {
                Item::Text { .. } | Item::Rich { .. } => text_svg(&mut s, item),
                _ => shape_svg(&mut s, item),
            }
        }
        s.push_str("</svg>\n");
        s
    }

    /// The figure rasterised at `scale` (1, 2, 4 ...) as RGBA pixels: (width, height, pixels).
    pub fn to_rgba(&self, scale: f32) -> Result<(u32, u32, Vec<u8>)> {
        if !(scale.is_finite() && scale > 0.0 && scale <= 16.0) {
            return Err(LensError::Export(format!(
                "scale {scale} is not between 0 and 16"
            )));
        }
        let svg = self.to_svg();
        let tree = parse_svg(&svg)?;
        let (w, h) = (
            (self.width * scale).round().max(1.0) as u32,
            (self.height * scale).round().max(1.0) as u32,
        );
        if (w as u64) * (h as u64) > 400_000_000 {
            return Err(LensError::Export(format!(
                "a {w} x {h} image is too large; use a smaller scale or SVG"
            )));
        }
        let mut pixmap = resvg::tiny_skia::Pixmap::new(w, h)
            .ok_or_else(|| LensError::Export(format!("cannot make a {w} x {h} image")))?;
        resvg::render(
            &tree,
            resvg::tiny_skia::Transform::from_scale(scale, scale),
            &mut pixmap.as_mut(),
        );
        // tiny-skia stores premultiplied alpha; the background is opaque, so this is plain RGBA
        Ok((w, h, pixmap.take()))
    }

    /// The figure as a PNG file's bytes at `scale`.
    pub fn to_png(&self, scale: f32) -> Result<Vec<u8>> {
        let (w, h, rgba) = self.to_rgba(scale)?;
        png_bytes(w, h, &rgba)
    }
}

/// One shape of a figure (rectangle, line, circle, raster) as SVG, appended to `s`.
fn shape_svg(s: &mut String, item: &Item) {
    match item {
        Item::Rect {
            x,
            y,
            w,
            h,
            fill,
            stroke,
            opacity,
        } => {
            let _ = write!(
                s,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}""#,
                num(*x),
                num(*y),
                num(*w),
                num(*h),
                fill.map_or("none".to_string(), hex)
            );
            if let Some((c, sw)) = stroke {
                let _ = write!(s, r#" stroke="{}" stroke-width="{}""#, hex(*c), num(*sw));
            }
            if *opacity < 1.0 {
                let _ = write!(s, r#" opacity="{}""#, num(*opacity));
            }
            s.push_str("/>\n");
        }
        Item::Line {
            points,
            color,
            width,
            dashed,
            opacity,
        } => {
            s.push_str(r#"<polyline points=""#);
            for (i, (x, y)) in points.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                let _ = write!(s, "{},{}", num(*x), num(*y));
            }
            let _ = write!(
                s,
                r#"" fill="none" stroke="{}" stroke-width="{}" stroke-linejoin="round" stroke-linecap="round""#,
                hex(*color),
                num(*width)
            );
            if *dashed {
                let _ = write!(
                    s,
                    r#" stroke-dasharray="{} {}""#,
                    num(width * 3.0),
                    num(width * 2.0)
                );
            }
            if *opacity < 1.0 {
                let _ = write!(s, r#" stroke-opacity="{}""#, num(*opacity));
            }
            s.push_str("/>\n");
        }
        Item::Circle {
            x,
            y,
            r,
            fill,
            opacity,
        } => {
            let _ = write!(
                s,
                r#"<circle cx="{}" cy="{}" r="{}" fill="{}""#,
                num(*x),
                num(*y),
                num(*r),
                hex(*fill)
            );
            if *opacity < 1.0 {
                let _ = write!(s, r#" fill-opacity="{}""#, num(*opacity));
            }
            s.push_str("/>\n");
        }
        Item::Raster { x, y, w, h, png } => {
            use base64::Engine as _;
            let _ = writeln!(
                s,
                r#"<image x="{}" y="{}" width="{}" height="{}" preserveAspectRatio="none" style="image-rendering:pixelated" href="data:image/png;base64,{}"/>"#,
                num(*x),
                num(*y),
                num(*w),
                num(*h),
                base64::engine::general_purpose::STANDARD.encode(png.as_slice())
            );
        }
        Item::Text { .. } | Item::Rich { .. } => {}
    }
}

/// One text of a figure (plain or with bold / italic runs) as SVG, appended to `s`.
fn text_svg(s: &mut String, item: &Item) {
    match item {
        Item::Text {
            x,
            y,
            text,
            size,
            anchor,
            rotate,
            color,
            bold,
        } => {
            let anchor = match anchor {
                Anchor::Start => "start",
                Anchor::Middle => "middle",
                Anchor::End => "end",
            };
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" font-size="{}" text-anchor="{anchor}" fill="{}""#,
                num(*x),
                num(*y),
                num(*size),
                hex(*color)
            );
            if *bold {
                s.push_str(r#" font-weight="bold""#);
            }
            if *rotate != 0.0 {
                let _ = write!(
                    s,
                    r#" transform="rotate({} {} {})""#,
                    num(*rotate),
                    num(*x),
                    num(*y)
                );
            }
            let _ = writeln!(s, ">{}</text>", escape(text));
        }
        Item::Rich {
            x,
            y,
            size,
            color,
            runs,
        } => {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" font-size="{}" fill="{}" xml:space="preserve">"#,
                num(*x),
                num(*y),
                num(*size),
                hex(*color)
            );
            for r in runs {
                s.push_str("<tspan");
                if r.bold {
                    s.push_str(r#" font-weight="bold""#);
                }
                if r.italic {
                    s.push_str(r#" font-style="italic""#);
                }
                let _ = write!(s, ">{}</tspan>", escape(&r.text));
            }
            s.push_str("</text>\n");
        }
        _ => {}
    }
}

/// RGBA pixels as PNG bytes.
pub fn png_bytes(w: u32, h: u32, rgba: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut out),
        rgba,
        w,
        h,
        image::ExtendedColorType::Rgba8,
    )
    .map_err(|e| LensError::Export(format!("cannot encode the PNG: {e}")))?;
    Ok(out)
}

/// Parses SVG text with the app's fonts (tests use it to check that exports are valid SVG).
pub fn parse_svg(svg: &str) -> Result<resvg::usvg::Tree> {
    let mut opt = resvg::usvg::Options {
        fontdb: fonts(),
        ..Default::default()
    };
    opt.font_family = crate::fonts::SANS.into();
    resvg::usvg::Tree::from_str(svg, &opt)
        .map_err(|e| LensError::Export(format!("the figure is not valid SVG: {e}")))
}

/// The app's typefaces ([`crate::fonts`]) as resvg's font database.
fn fonts() -> Arc<resvg::usvg::fontdb::Database> {
    static DB: OnceLock<Arc<resvg::usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = resvg::usvg::fontdb::Database::new();
        for data in crate::fonts::ALL {
            db.load_font_source(resvg::usvg::fontdb::Source::Binary(Arc::new(data)));
        }
        db.set_sans_serif_family(crate::fonts::SANS);
        db.set_monospace_family(crate::fonts::MONO);
        Arc::new(db)
    })
    .clone()
}

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// A coordinate with at most two decimals, without trailing zeros.
fn num(v: f32) -> String {
    let r = (v * 100.0).round() / 100.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        let s = format!("{r:.2}");
        s.trim_end_matches('0').to_string()
    }
}

fn escape(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
