//! Reading named tensors from checkpoint files: `model.safetensors`, sharded safetensors
//! (`model.safetensors.index.json`) and `pytorch_model.bin` (see `torch_pickle`). Every float
//! tensor is converted to f32; integer buffers (such as `position_ids`) are kept aside.

use crate::error::{LensError, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A float tensor read from a checkpoint, converted to f32, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// The dtype stored in the file ("F32", "F16", "BF16", ...).
    pub stored_dtype: &'static str,
}

impl HostTensor {
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// All tensors of a checkpoint by name, plus the names of non-float tensors that were skipped.
#[derive(Debug, Default)]
pub struct TensorMap {
    pub tensors: BTreeMap<String, HostTensor>,
    pub non_float: Vec<String>,
    /// The files the tensors came from, for messages.
    pub files: Vec<PathBuf>,
}

/// The largest index file we accept for sharded safetensors.
const MAX_INDEX_BYTES: u64 = 64 << 20;

use crate::error::read_file;

/// Which weight file a model folder has, in the order HF prefers them.
pub fn find_weights(dir: &Path) -> Option<PathBuf> {
    [
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
    ]
    .iter()
    .map(|n| dir.join(n))
    .find(|p| p.is_file())
}

/// Reads every tensor of the weights in `dir` (whichever format is there).
pub fn read_weights(dir: &Path) -> Result<TensorMap> {
    let Some(path) = find_weights(dir) else {
        return Err(LensError::NotAModelFolder {
            dir: dir.to_path_buf(),
            what: "it has no model.safetensors, model.safetensors.index.json or pytorch_model.bin"
                .into(),
        });
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let mut map = TensorMap::default();
    if name == "model.safetensors.index.json" {
        read_sharded(&path, &mut map)?;
    } else if name.ends_with(".safetensors") {
        let bytes = read_file(&path)?;
        read_safetensors_bytes(&bytes, &path, &mut map)?;
        map.files.push(path);
    } else {
        let bytes = read_file(&path)?;
        crate::model::torch_pickle::read_torch_bytes(&bytes, &path, &mut map)?;
        map.files.push(path);
    }
    Ok(map)
}

fn read_sharded(index_path: &Path, map: &mut TensorMap) -> Result<()> {
    let err = |msg: String| LensError::Safetensors {
        path: index_path.to_path_buf(),
        msg,
    };
    let len = std::fs::metadata(index_path)
        .map_err(|source| LensError::Io {
            path: index_path.to_path_buf(),
            source,
        })?
        .len();
    if len > MAX_INDEX_BYTES {
        return Err(err(format!(
            "the index is {len} bytes, too large to be an index"
        )));
    }
    let bytes = read_file(index_path)?;
    let index: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| err(format!("the index is not JSON: {e}")))?;
    let weight_map = index
        .get("weight_map")
        .and_then(|w| w.as_object())
        .ok_or_else(|| err("the index has no \"weight_map\" object".into()))?;
    let mut shards: Vec<String> = Vec::new();
    for (tensor, file) in weight_map {
        let f = file
            .as_str()
            .ok_or_else(|| err(format!("weight_map entry {tensor:?} is not a file name")))?;
        if f.contains('/') || f.contains('\\') || f.starts_with('.') {
            return Err(err(format!(
                "weight_map names a file outside the folder: {f:?}"
            )));
        }
        if !shards.iter().any(|s| s == f) {
            shards.push(f.to_string());
        }
    }
    let dir = index_path.parent().unwrap_or(Path::new("."));
    for shard in shards {
        let p = dir.join(&shard);
        if !p.is_file() {
            return Err(err(format!("the shard {shard} it names is missing")));
        }
        let bytes = read_file(&p)?;
        read_safetensors_bytes(&bytes, &p, map)?;
        map.files.push(p);
    }
    // Every tensor the index names must have been in its shard.
    let absent: Vec<&String> = weight_map
        .keys()
        .filter(|k| !map.tensors.contains_key(*k) && !map.non_float.contains(k))
        .collect();
    if !absent.is_empty() {
        return Err(err(format!(
            "{} tensors named in the index are in no shard, e.g. {}",
            absent.len(),
            absent[0]
        )));
    }
    Ok(())
}

/// Parses one safetensors file held in memory, adding its tensors to `map`.
pub fn read_safetensors_bytes(bytes: &[u8], path: &Path, map: &mut TensorMap) -> Result<()> {
    use safetensors::tensor::{Dtype, SafeTensors};
    let err = |msg: String| LensError::Safetensors {
        path: path.to_path_buf(),
        msg,
    };
    if bytes.len() < 8 {
        return Err(err(format!(
            "the file is {} bytes long, shorter than the 8-byte header size field (truncated?)",
            bytes.len()
        )));
    }
    let st = SafeTensors::deserialize(bytes).map_err(|e| err(describe_safetensors_error(&e)))?;
    for (name, view) in st.tensors() {
        let shape = view.shape().to_vec();
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::F64 => raw
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    f64::from_le_bytes(b) as f32
                })
                .collect(),
            _ => {
                map.non_float.push(name.clone());
                continue;
            }
        };
        let stored_dtype = match view.dtype() {
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            _ => "F64",
        };
        if map.tensors.contains_key(&name) {
            return Err(err(format!("tensor {name} appears twice")));
        }
        map.tensors.insert(
            name,
            HostTensor {
                shape,
                data,
                stored_dtype,
            },
        );
    }
    Ok(())
}

fn describe_safetensors_error(e: &safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::HeaderTooLarge => "its header size field is absurdly large (corrupt file?)".into(),
        E::HeaderTooSmall => "the file is too short to hold its header".into(),
        E::InvalidHeaderLength => {
            "its header size field points past the end of the file (truncated or corrupt)".into()
        }
        E::InvalidHeader(_) | E::InvalidHeaderDeserialization(_) => {
            format!("its JSON header is corrupt ({e})")
        }
        E::MetadataIncompleteBuffer => {
            "the tensor data is shorter than the header says (truncated file?)".into()
        }
        E::InvalidOffset(name) => format!("tensor {name} has invalid data offsets"),
        other => other.to_string(),
    }
}
