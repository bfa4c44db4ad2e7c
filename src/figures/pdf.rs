//! Figures as one vector PDF, one page per figure (a deck's slides): each page is the
//! figure's SVG converted by `svg2pdf` (paths as paths, text as text with the app's typefaces
//! embedded and subset, so the PDF's text can be selected, searched and extracted), placed on
//! a page of the figure's size by `pdf-writer`.

use super::Figure;
use crate::error::{LensError, Result};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, TextStr};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// svg2pdf's font database (its own usvg's), holding the app's typefaces.
fn fonts() -> Arc<svg2pdf::usvg::fontdb::Database> {
    static DB: OnceLock<Arc<svg2pdf::usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = svg2pdf::usvg::fontdb::Database::new();
        for data in crate::fonts::ALL {
            db.load_font_source(svg2pdf::usvg::fontdb::Source::Binary(Arc::new(data)));
        }
        db.set_sans_serif_family(crate::fonts::SANS);
        db.set_monospace_family(crate::fonts::MONO);
        Arc::new(db)
    })
    .clone()
}

/// `pages` as one PDF document titled `title`: page i is `pages[i]` at its own size (1 figure
/// unit = 1 px = 0.75 pt, as a browser prints SVG).
pub fn pdf(pages: &[Figure], title: &str) -> Result<Vec<u8>> {
    if pages.is_empty() {
        return Err(LensError::Export("a PDF needs at least one page".into()));
    }
    let mut alloc = Ref::new(1);
    let catalog = alloc.bump();
    let tree_id = alloc.bump();
    let page_ids: Vec<Ref> = pages.iter().map(|_| alloc.bump()).collect();
    let mut doc = Pdf::new();
    doc.catalog(catalog).pages(tree_id);
    doc.pages(tree_id)
        .kids(page_ids.iter().copied())
        .count(page_ids.len() as i32);
    let mut opt = svg2pdf::usvg::Options {
        fontdb: fonts(),
        ..Default::default()
    };
    opt.font_family = crate::fonts::SANS.into();
    for (i, (figure, &page_id)) in pages.iter().zip(&page_ids).enumerate() {
        let page_no = i + 1;
        let tree = svg2pdf::usvg::Tree::from_str(&figure.to_svg(), &opt)
            .map_err(|e| LensError::Export(format!("page {page_no} is not valid SVG: {e}")))?;
        let (chunk, svg_id) = svg2pdf::to_chunk(&tree, svg2pdf::ConversionOptions::default())
            .map_err(|e| LensError::Export(format!("page {page_no} could not be made PDF: {e}")))?;
        let mut map = HashMap::new();
        let chunk = chunk.renumber(|old| *map.entry(old).or_insert_with(|| alloc.bump()));
        let svg_id = *map.get(&svg_id).ok_or_else(|| {
            LensError::Export(format!(
                "page {page_no}: the drawing was lost in conversion"
            ))
        })?;
        let content_id = alloc.bump();
        let (w, h) = (figure.width * 0.75, figure.height * 0.75);
        let name = Name(b"S1");
        let mut page = doc.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, w, h));
        page.parent(tree_id);
        page.contents(content_id);
        page.resources().x_objects().pair(name, svg_id);
        page.finish();
        let mut content = Content::new();
        content.transform([w, 0.0, 0.0, h, 0.0, 0.0]).x_object(name);
        doc.stream(content_id, &content.finish());
        doc.extend(&chunk);
    }
    let info = alloc.bump();
    doc.document_info(info)
        .title(TextStr(title))
        .producer(TextStr("albert-lens"));
    Ok(doc.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::{Anchor, Theme};

    /// Two figures of different sizes give a PDF of two pages, each of its figure's size in
    /// points; the text is written as text (the PDF holds a font, not only paths).
    #[test]
    fn figures_become_one_pdf_page_each_at_their_own_size() {
        let t = Theme::LIGHT;
        let mut a = Figure::new(800.0, 450.0, &t);
        a.text(20.0, 40.0, "first page", 24.0, Anchor::Start, t.foreground);
        let mut b = Figure::new(400.0, 400.0, &t);
        b.rect(10.0, 10.0, 100.0, 100.0, [200, 0, 0]);
        let bytes = pdf(&[a, b], "two pages").unwrap();
        let s = String::from_utf8_lossy(&bytes);
        assert!(s.starts_with("%PDF-"));
        assert!(s.contains("/Count 2"), "two pages");
        assert!(
            s.contains("/MediaBox [0 0 600 337.5]"),
            "800 x 450 px in pt"
        );
        assert!(s.contains("/MediaBox [0 0 300 300]"));
        assert!(s.contains("/FontFile2"), "the typeface is embedded");
        assert!(pdf(&[], "none").is_err());
    }
}
