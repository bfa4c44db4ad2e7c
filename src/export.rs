//! Matrices out of the app: CSV (with token labels), NumPy .npy and safetensors (with the labels
//! in its metadata), chosen by the file's extension; and figures as PNG or SVG.

use crate::error::{LensError, Result};
use crate::figures::Figure;
use std::path::Path;

pub use crate::matrix::Matrix;

/// What a file name's extension asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
    Csv,
    Npy,
    Safetensors,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        Ok(match ext.as_deref() {
            Some("png") => Format::Png,
            Some("svg") => Format::Svg,
            Some("csv") => Format::Csv,
            Some("npy") => Format::Npy,
            Some("safetensors") => Format::Safetensors,
            _ => {
                return Err(LensError::Export(format!(
                    "{}: the file name must end in .png, .svg, .csv, .npy or .safetensors",
                    path.display()
                )))
            }
        })
    }
}

/// The bytes of a figure or matrix in the format `path`'s extension names; `scale` applies to
/// PNG. A figure-only view asked for a matrix format (or the reverse) is an error that says so.
pub fn encode(
    path: &Path,
    figure: &Figure,
    matrix: Option<&Matrix>,
    scale: f32,
) -> Result<Vec<u8>> {
    let no_data = || {
        LensError::Export(format!(
            "{}: this view has no matrix to save; save it as .png or .svg",
            path.display()
        ))
    };
    Ok(match Format::of(path)? {
        Format::Png => figure.to_png(scale)?,
        Format::Svg => figure.to_svg().into_bytes(),
        Format::Csv => matrix.ok_or_else(no_data)?.to_csv()?.into_bytes(),
        Format::Npy => matrix.ok_or_else(no_data)?.to_npy()?,
        Format::Safetensors => matrix.ok_or_else(no_data)?.to_safetensors()?,
    })
}

/// Encodes a figure or matrix for `path`'s extension ([`encode`]) and writes it atomically,
/// never through a link planted beside it ([`crate::files::write_atomic`]).
pub fn save(path: &Path, figure: &Figure, matrix: Option<&Matrix>, scale: f32) -> Result<usize> {
    let bytes = encode(path, figure, matrix, scale)?;
    crate::files::write_atomic(path, &bytes).map_err(|e| LensError::Export(e.to_string()))?;
    Ok(bytes.len())
}
