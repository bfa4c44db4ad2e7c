//! Layer-by-layer animations: a sequence of figures (one per layer) rasterised at a scale and
//! encoded as an animated GIF (256 colours a frame, for slides and chat) or APNG (full colour,
//! for the web), looping forever at a chosen frame rate. Frames of different sizes are drawn on
//! the largest one's canvas, top left, over the background.

use super::Figure;
use crate::error::{LensError, Result};
use crate::insight::Control;

/// An animation's format (also `render --animate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AnimFormat {
    Gif,
    Apng,
}

impl AnimFormat {
    /// By file extension: .gif, or .png / .apng.
    pub fn of(path: &std::path::Path) -> Option<AnimFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "gif" => Some(AnimFormat::Gif),
            "png" | "apng" => Some(AnimFormat::Apng),
            _ => None,
        }
    }

    pub fn ext(self) -> &'static str {
        match self {
            AnimFormat::Gif => "gif",
            AnimFormat::Apng => "png",
        }
    }
}

/// Encodes `frames` at `scale` and `fps` frames a second, reporting progress on `ctl` and
/// stopping when it is cancelled.
pub fn encode(
    frames: &[Figure],
    (fps, scale): (f32, f32),
    format: AnimFormat,
    ctl: &Control,
) -> Result<Vec<u8>> {
    if frames.is_empty() {
        return Err(LensError::Export(
            "an animation needs at least one frame".into(),
        ));
    }
    if !(fps.is_finite() && (0.1..=60.0).contains(&fps)) {
        return Err(LensError::Export(format!(
            "the frame rate must be between 0.1 and 60 frames a second, not {fps}"
        )));
    }
    let mut rasters = Vec::with_capacity(frames.len());
    for (i, f) in frames.iter().enumerate() {
        if ctl.cancelled() {
            return Err(LensError::Cancelled("the animation".into()));
        }
        ctl.report(
            format!("drawing frame {}/{}", i + 1, frames.len()),
            Some(i as f32 / frames.len() as f32 * 0.7),
        );
        rasters.push((f.to_rgba(scale)?, f.background));
    }
    let w = rasters.iter().map(|((w, _, _), _)| *w).max().unwrap_or(1);
    let h = rasters.iter().map(|((_, h, _), _)| *h).max().unwrap_or(1);
    let canvases: Vec<Vec<u8>> = rasters
        .into_iter()
        .map(|((fw, fh, px), bg)| {
            if (fw, fh) == (w, h) {
                return px;
            }
            let mut c: Vec<u8> = (0..w * h)
                .flat_map(|_| [bg[0], bg[1], bg[2], 255])
                .collect();
            for y in 0..fh as usize {
                let src = &px[y * fw as usize * 4..(y + 1) * fw as usize * 4];
                c[y * w as usize * 4..][..src.len()].copy_from_slice(src);
            }
            c
        })
        .collect();
    ctl.report("encoding".into(), Some(0.8));
    let err =
        |e: &dyn std::fmt::Display| LensError::Export(format!("cannot encode the animation: {e}"));
    let mut out = Vec::new();
    match format {
        AnimFormat::Gif => {
            use image::codecs::gif::{GifEncoder, Repeat};
            let delay = image::Delay::from_saturating_duration(std::time::Duration::from_secs_f32(
                1.0 / fps,
            ));
            let mut enc = GifEncoder::new_with_speed(&mut out, 10);
            enc.set_repeat(Repeat::Infinite).map_err(|e| err(&e))?;
            for c in canvases {
                let img = image::RgbaImage::from_raw(w, h, c)
                    .ok_or_else(|| LensError::Export("a frame has the wrong size".into()))?;
                enc.encode_frame(image::Frame::from_parts(img, 0, 0, delay))
                    .map_err(|e| err(&e))?;
            }
        }
        AnimFormat::Apng => {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(png::ColorType::Rgba);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_animated(canvases.len() as u32, 0)
                .map_err(|e| err(&e))?;
            // the delay as a fraction of a second: 1000 / (fps * 1000)
            let (num, den) = ((1000.0 / fps).round() as u16, 1000u16);
            enc.set_frame_delay(num.max(1), den).map_err(|e| err(&e))?;
            let mut writer = enc.write_header().map_err(|e| err(&e))?;
            for c in &canvases {
                writer.write_image_data(c).map_err(|e| err(&e))?;
            }
            writer.finish().map_err(|e| err(&e))?;
        }
    }
    ctl.report("done".into(), Some(1.0));
    Ok(out)
}
