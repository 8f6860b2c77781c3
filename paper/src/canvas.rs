//! A page to draw on in millimetres, top-left origin, with the one font in two weights.

use std::sync::LazyLock;

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::image::{BitsPerComponent, CustomImage, Image, ImageColorspace};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke, StrokeDash};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};

use crate::PaperError;

static REGULAR: &[u8] = include_bytes!("../fonts/LiberationSans-Regular.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/LiberationSans-Bold.ttf");

pub(crate) const A4_WIDTH: f32 = 210.0;
pub(crate) const A4_HEIGHT: f32 = 297.0;
/// Points per millimetre.
const PT: f32 = 72.0 / 25.4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Weight {
    Regular,
    Bold,
}

/// A font both for krilla to embed and for us to measure.
struct Face {
    font: Font,
    metrics: skrifa::FontRef<'static>,
}

impl Face {
    fn load(bytes: &'static [u8]) -> Self {
        // Both fonts are part of the binary and were read when it was tested.
        let font = Font::new(bytes.into(), 0).expect("the embedded font reads");
        let metrics = skrifa::FontRef::new(bytes).expect("the embedded font reads");
        Self { font, metrics }
    }

    /// The advance width of `text` at `size` points, in millimetres (kerning left out: a fraction of a
    /// millimetre on a line).
    fn width(&self, text: &str, size: f32) -> f32 {
        let charmap = self.metrics.charmap();
        let glyphs = self.metrics.glyph_metrics(Size::new(size), LocationRef::default());
        let points: f32 =
            text.chars().filter_map(|c| charmap.map(c)).filter_map(|g| glyphs.advance_width(g)).sum();
        points / PT
    }
}

static FACES: LazyLock<[Face; 2]> = LazyLock::new(|| [Face::load(REGULAR), Face::load(BOLD)]);

fn face(weight: Weight) -> &'static Face {
    match weight {
        Weight::Regular => &FACES[0],
        Weight::Bold => &FACES[1],
    }
}

/// The width of `text` in millimetres.
pub(crate) fn width(text: &str, weight: Weight, size: f32) -> f32 {
    face(weight).width(text, size)
}

/// `text` broken into lines no wider than `max` millimetres, at spaces where it can be, inside a word
/// where one word is wider than the line.
pub(crate) fn wrap(text: &str, weight: Weight, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
        if width(&candidate, weight, size) <= max {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        for c in word.chars() {
            line.push(c);
            if width(&line, weight, size) > max && line.chars().count() > 1 {
                let last = line.pop().unwrap_or(c);
                lines.push(std::mem::replace(&mut line, last.to_string()));
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A document being drawn, page by page.
pub(crate) struct Pdf {
    document: Document,
}

impl Pdf {
    pub(crate) fn new(title: &str, language: &str) -> Self {
        let mut document = Document::new();
        document.set_metadata(
            krilla::metadata::Metadata::new()
                .title(title.to_owned())
                .language(language.to_owned())
                .creator("Recharge".to_owned()),
        );
        Self { document }
    }

    /// Draws one A4 page.
    pub(crate) fn page(&mut self, draw: impl FnOnce(&mut Canvas<'_, '_>)) {
        let settings = PageSettings::from_wh(A4_WIDTH * PT, A4_HEIGHT * PT).expect("A4 is a page size");
        let mut page = self.document.start_page_with(settings);
        let mut surface = page.surface();
        draw(&mut Canvas { surface: &mut surface });
        surface.finish();
        page.finish();
    }

    pub(crate) fn finish(self) -> Result<Vec<u8>, PaperError> {
        self.document.finish().map_err(|e| PaperError::Pdf(format!("{e:?}")))
    }
}

pub(crate) struct Canvas<'s, 'p> {
    surface: &'s mut Surface<'p>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

impl Canvas<'_, '_> {
    /// One line of text whose baseline starts (or, right-aligned, ends) at `x`, `y`.
    pub(crate) fn text(&mut self, x: f32, y: f32, text: &str, weight: Weight, size: f32, align: Align) {
        let x = match align {
            Align::Left => x,
            Align::Right => x - width(text, weight, size),
        };
        self.surface.set_fill(Some(Fill::default()));
        self.surface.set_stroke(None);
        self.surface.draw_text(
            Point::from_xy(x * PT, y * PT),
            face(weight).font.clone(),
            size,
            text,
            false,
            TextDirection::Auto,
        );
    }

    /// Filled rectangles, in one path: a QR code's dark modules, a cross.
    pub(crate) fn rects(&mut self, rects: &[(f32, f32, f32, f32)], white: bool) {
        let mut path = PathBuilder::new();
        for &(x, y, w, h) in rects {
            if let Some(r) = Rect::from_xywh(x * PT, y * PT, w * PT, h * PT) {
                path.push_rect(r);
            }
        }
        let Some(path) = path.finish() else { return };
        let paint = if white { rgb::Color::white() } else { rgb::Color::black() };
        self.surface.set_stroke(None);
        self.surface.set_fill(Some(Fill { paint: paint.into(), ..Fill::default() }));
        self.surface.draw_path(&path);
    }

    /// A square black-and-white bitmap, one byte per pixel (0 black, 255 white), drawn `size`
    /// millimetres wide without smoothing: a QR code's modules stay sharp squares at any scale, in a
    /// tenth of the bytes the same modules take as paths.
    pub(crate) fn bitmap(&mut self, x: f32, y: f32, size: f32, pixels: Vec<u8>) {
        let side = (pixels.len() as f64).sqrt() as u32;
        let image = Luma { pixels: std::sync::Arc::new(pixels), side };
        let Ok(image) = Image::from_custom(image, false) else { return };
        let Some(extent) = krilla::geom::Size::from_wh(size * PT, size * PT) else { return };
        self.surface.push_transform(&krilla::geom::Transform::from_translate(x * PT, y * PT));
        self.surface.draw_image(image, extent);
        self.surface.pop();
    }

    /// A polyline `width` points thick, dashed or not.
    pub(crate) fn line(&mut self, points: &[(f32, f32)], width: f32, dashed: bool) {
        let mut path = PathBuilder::new();
        for (i, &(x, y)) in points.iter().enumerate() {
            if i == 0 {
                path.move_to(x * PT, y * PT);
            } else {
                path.line_to(x * PT, y * PT);
            }
        }
        let Some(path) = path.finish() else { return };
        self.surface.set_fill(None);
        self.surface.set_stroke(Some(Stroke {
            paint: rgb::Color::black().into(),
            width,
            dash: dashed.then(|| StrokeDash { array: vec![3.0, 2.0], offset: 0.0 }),
            ..Stroke::default()
        }));
        self.surface.draw_path(&path);
        self.surface.set_stroke(None);
    }

    /// The corner marks of a field left blank for the payer to fill in (guidelines 3.7), 0.75 pt thick,
    /// arms 3 mm long.
    pub(crate) fn corners(&mut self, x: f32, y: f32, w: f32, h: f32) {
        let arm = 3.0;
        let (r, b) = (x + w, y + h);
        self.line(&[(x, y + arm), (x, y), (x + arm, y)], 0.75, false);
        self.line(&[(r - arm, y), (r, y), (r, y + arm)], 0.75, false);
        self.line(&[(x, b - arm), (x, b), (x + arm, b)], 0.75, false);
        self.line(&[(r - arm, b), (r, b), (r, b - arm)], 0.75, false);
    }
}

/// Gray pixels for krilla.
#[derive(Clone, Hash)]
struct Luma {
    pixels: std::sync::Arc<Vec<u8>>,
    side: u32,
}

impl CustomImage for Luma {
    fn color_channel(&self) -> &[u8] {
        &self.pixels
    }
    fn alpha_channel(&self) -> Option<&[u8]> {
        None
    }
    fn bits_per_component(&self) -> BitsPerComponent {
        BitsPerComponent::Eight
    }
    fn size(&self) -> (u32, u32) {
        (self.side, self.side)
    }
    fn icc_profile(&self) -> Option<&[u8]> {
        None
    }
    fn color_space(&self) -> ImageColorspace {
        ImageColorspace::Luma
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_measured_and_wrapped_within_the_width() {
        let w = width("Payment part", Weight::Bold, 11.0);
        assert!((20.0..30.0).contains(&w), "{w}");
        assert!(width("iiii", Weight::Regular, 10.0) < width("MMMM", Weight::Regular, 10.0));
        let text = "Gérance Immobilière du Valais Central et des Vallées Latérales SA, Sion";
        let lines = wrap(text, Weight::Regular, 10.0, 50.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| width(l, Weight::Regular, 10.0) <= 50.0), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        let long = "x".repeat(80);
        assert_eq!(wrap(&long, Weight::Regular, 10.0, 50.0).concat(), long);
    }
}
