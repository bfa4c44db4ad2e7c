//! A labelled matrix (an attention map, a JS-distance matrix, projected coordinates...) and its
//! file encodings: CSV with labels, NumPy .npy, safetensors with the labels in its metadata. A
//! data type below both the figures that build matrices and the export that writes them.

use crate::error::{LensError, Result};

/// A labelled matrix (an attention map, a JS-distance matrix, projected coordinates...).
#[derive(Debug, Clone)]
pub struct Matrix {
    pub name: String,
    /// `rows x cols`, row-major
    pub values: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
}

impl Matrix {
    fn check(&self) -> Result<()> {
        if self.values.len() != self.rows * self.cols {
            return Err(LensError::Export(format!(
                "{} has {} values, not {} x {}",
                self.name,
                self.values.len(),
                self.rows,
                self.cols
            )));
        }
        Ok(())
    }

    /// CSV: a header of column labels, then one line per row led by its label. Values are
    /// written in the shortest form that reads back to the same f32.
    pub fn to_csv(&self) -> Result<String> {
        self.check()?;
        let mut s = String::new();
        s.push_str(&csv_field(&self.name));
        for c in 0..self.cols {
            s.push(',');
            s.push_str(&csv_field(self.col_labels.get(c).map_or("", |l| l)));
        }
        s.push('\n');
        for r in 0..self.rows {
            s.push_str(&csv_field(self.row_labels.get(r).map_or("", |l| l)));
            for v in &self.values[r * self.cols..(r + 1) * self.cols] {
                s.push(',');
                s.push_str(&format!("{v}"));
            }
            s.push('\n');
        }
        Ok(s)
    }

    /// NumPy's .npy format, version 1.0, little-endian float32, C order.
    pub fn to_npy(&self) -> Result<Vec<u8>> {
        self.check()?;
        let dict = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
            self.rows, self.cols
        );
        // magic (6) + version (2) + header length (2) + header, padded to a multiple of 64
        let unpadded = 10 + dict.len() + 1;
        let pad = (64 - unpadded % 64) % 64;
        let header = format!("{dict}{}\n", " ".repeat(pad));
        let mut out = Vec::with_capacity(10 + header.len() + self.values.len() * 4);
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        for v in &self.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        Ok(out)
    }

    /// safetensors with one F32 tensor named after the matrix; the labels go in the metadata
    /// as JSON arrays ("row_labels", "col_labels").
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        self.check()?;
        let bytes: Vec<u8> = self.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            vec![self.rows, self.cols],
            &bytes,
        )
        .map_err(|e| LensError::Export(format!("safetensors: {e}")))?;
        let meta: std::collections::HashMap<String, String> = [
            (
                "row_labels".to_string(),
                serde_json::to_string(&self.row_labels).unwrap_or_default(),
            ),
            (
                "col_labels".to_string(),
                serde_json::to_string(&self.col_labels).unwrap_or_default(),
            ),
        ]
        .into();
        let name = if self.name.is_empty() {
            "matrix".to_string()
        } else {
            self.name.clone()
        };
        safetensors::tensor::serialize([(name, view)], Some(meta))
            .map_err(|e| LensError::Export(format!("safetensors: {e}")))
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
