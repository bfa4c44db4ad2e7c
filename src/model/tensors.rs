//! Reading named tensors from checkpoint files: `model.safetensors`, sharded safetensors
//! (`model.safetensors.index.json`) and `pytorch_model.bin` (see `torch_pickle`). Every float
//! tensor is converted to f32; integer buffers (such as `position_ids`) are kept aside.

use crate::error::{LensError, Result};
use crate::model::ModelFiles;
use std::path::{Path, PathBuf};

pub use super::host::{HostTensor, TensorMap};

/// The largest index file we accept for sharded safetensors.
pub const MAX_INDEX_BYTES: u64 = 64 << 20;
/// The most shard files an index may name (the largest public checkpoints have a few hundred).
pub const MAX_SHARDS: usize = 4096;

/// The weight files a model may have, in the order HF prefers them.
const WEIGHT_FILES: [&str; 3] = [
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
];

/// Which weight file a model folder has, in the order HF prefers them.
pub fn find_weights(dir: &Path) -> Option<PathBuf> {
    WEIGHT_FILES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Reads every tensor of the model's weights (whichever format is there), refusing to expand
/// to more than `budget` f32 values in all.
pub fn read_weights(files: &ModelFiles<'_>, budget: u64) -> Result<TensorMap> {
    let Some(name) = WEIGHT_FILES.into_iter().find(|n| files.has(n)) else {
        return Err(files.not_a_model(
            "it has no model.safetensors, model.safetensors.index.json or pytorch_model.bin",
        ));
    };
    let path = files.path(name);
    let mut map = TensorMap::with_budget(budget);
    if name == "model.safetensors.index.json" {
        read_sharded(files, name, &mut map)?;
    } else if name.ends_with(".safetensors") {
        read_safetensors(files, name, &mut map)?;
    } else {
        // a torch.save archive stores its values raw; more than 8 bytes a value is not weights
        let bytes = files.read(name, budget.saturating_mul(8).saturating_add(1 << 24))?;
        crate::model::torch_pickle::read_torch_bytes(&bytes, &path, &mut map)?;
        map.files.push(path);
    }
    Ok(map)
}

/// Reads the safetensors file `name`: from a folder with its header checked before the
/// tensors are read ([`read_safetensors_file`]); from memory, where it is read already, as
/// bytes.
fn read_safetensors(files: &ModelFiles<'_>, name: &str, map: &mut TensorMap) -> Result<()> {
    match files {
        ModelFiles::Folder(d) => read_safetensors_file(&d.join(name), map),
        ModelFiles::Memory { .. } => {
            let path = files.path(name);
            read_safetensors_bytes(&files.read(name, u64::MAX)?, &path, map)?;
            map.files.push(path);
            Ok(())
        }
    }
}

/// Reads one safetensors file: its header first (size field, JSON, offsets, the file's length,
/// the values it would expand to against the map's budget), and the tensor bytes only once the
/// header has passed, so a huge or lying file is refused before it is read.
pub fn read_safetensors_file(path: &Path, map: &mut TensorMap) -> Result<()> {
    use std::io::Read;
    let err = |msg: String| LensError::Safetensors {
        path: path.to_path_buf(),
        msg,
    };
    let io = |source| LensError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut size = [0u8; 8];
    if file_len < 8 {
        return Err(err(format!(
            "the file is {file_len} bytes long, shorter than the 8-byte header size field (truncated?)"
        )));
    }
    file.read_exact(&mut size).map_err(io)?;
    let n = u64::from_le_bytes(size);
    if n > MAX_HEADER_BYTES || n > file_len - 8 {
        return Err(err(describe_safetensors_error(if n > MAX_HEADER_BYTES {
            &safetensors::SafeTensorError::HeaderTooLarge
        } else {
            &safetensors::SafeTensorError::InvalidHeaderLength
        })));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(io)?;
    let meta: safetensors::tensor::Metadata = serde_json::from_slice(&header)
        .map_err(|e| err(format!("its JSON header is corrupt ({e})")))?;
    let described = 8 + n + meta.data_len() as u64;
    if described != file_len {
        return Err(err(format!(
            "the file is {file_len} bytes but its header describes {described} (truncated, or not one safetensors file)"
        )));
    }
    let values: u64 = meta
        .tensors()
        .values()
        .filter(|t| float_dtype(t.dtype).is_some())
        .map(|t| t.shape.iter().map(|&d| d as u64).product::<u64>())
        .sum();
    // every tensor's bytes count too (non-float ones are read before they are skipped): at
    // most 8 bytes a value
    map.check(values.max(meta.data_len() as u64 / 8))
        .map_err(err)?;
    // the header passed: read the whole file from the same handle, no more than its checked
    // length (a file swapped or grown meanwhile cannot make the read unbounded)
    use std::io::Seek;
    file.rewind().map_err(io)?;
    let mut bytes = Vec::with_capacity(file_len as usize);
    file.take(file_len).read_to_end(&mut bytes).map_err(io)?;
    read_safetensors_bytes(&bytes, path, map)?;
    map.files.push(path.to_path_buf());
    Ok(())
}

/// The longest safetensors header accepted (the safetensors crate's own limit).
const MAX_HEADER_BYTES: u64 = 100_000_000;

fn float_dtype(d: safetensors::tensor::Dtype) -> Option<&'static str> {
    use safetensors::tensor::Dtype;
    Some(match d {
        Dtype::F32 => "F32",
        Dtype::F16 => "F16",
        Dtype::BF16 => "BF16",
        Dtype::F64 => "F64",
        _ => return None,
    })
}

fn read_sharded(files: &ModelFiles<'_>, index: &str, map: &mut TensorMap) -> Result<()> {
    let index_path = files.path(index);
    let err = |msg: String| LensError::Safetensors {
        path: index_path.clone(),
        msg,
    };
    let bytes = files.read(index, MAX_INDEX_BYTES)?;
    let index: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| err(format!("the index is not JSON: {e}")))?;
    let weight_map = index
        .get("weight_map")
        .and_then(|w| w.as_object())
        .ok_or_else(|| err("the index has no \"weight_map\" object".into()))?;
    let mut shards: std::collections::BTreeSet<&str> = Default::default();
    for (tensor, file) in weight_map {
        let f = file
            .as_str()
            .ok_or_else(|| err(format!("weight_map entry {tensor:?} is not a file name")))?;
        if f.contains('/') || f.contains('\\') || f.starts_with('.') {
            return Err(err(format!(
                "weight_map names a file outside the folder: {f:?}"
            )));
        }
        shards.insert(f);
    }
    if shards.len() > MAX_SHARDS {
        return Err(err(format!(
            "the index names {} shard files; no checkpoint has more than {MAX_SHARDS}",
            shards.len()
        )));
    }
    for shard in shards {
        if !files.has(shard) {
            return Err(err(format!("the shard {shard} it names is missing")));
        }
        read_safetensors(files, shard, map)?;
    }
    // Every tensor the index names must have been in its shard.
    let non_float: std::collections::HashSet<&String> = map.non_float.iter().collect();
    let absent: Vec<&String> = weight_map
        .keys()
        .filter(|k| !map.tensors.contains_key(*k) && !non_float.contains(k))
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
        let Some(stored_dtype) = float_dtype(view.dtype()) else {
            map.non_float.push(name.clone());
            continue;
        };
        if map.tensors.contains_key(&name) {
            return Err(err(format!("tensor {name} appears twice")));
        }
        let shape = view.shape().to_vec();
        map.spend(shape.iter().map(|&d| d as u64).product())
            .map_err(&err)?;
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
            _ => raw
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    f64::from_le_bytes(b) as f32
                })
                .collect(),
        };
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
