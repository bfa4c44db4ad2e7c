//! Reads the tensors of a PyTorch `pytorch_model.bin` (the zip format of `torch.save`) without
//! executing anything: a small pickle interpreter builds a tree of values, and only the few
//! callables that describe tensors (`torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`,
//! `collections.OrderedDict`) are interpreted. Every length and index read from the file is
//! checked against the bytes actually present before anything is allocated.

use crate::error::{LensError, Result};
use crate::model::host::{HostTensor, TensorMap};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

mod machine;

use machine::{Machine, Node, Value};
use std::rc::Rc;

/// A tensor has at most this many dimensions.
const MAX_DIMS: usize = 16;

#[derive(Debug, Clone, Copy)]
enum StorageDtype {
    F32,
    F16,
    Bf16,
    F64,
    I64,
    I32,
    I8,
    U8,
    Bool,
}

impl StorageDtype {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::Bf16,
            "DoubleStorage" => Self::F64,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::Bf16 => 2,
            Self::F64 | Self::I64 => 8,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }
    fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F16 | Self::Bf16 | Self::F64)
    }
    fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Bf16 => "BF16",
            _ => "F64",
        }
    }
    fn read(self, b: &[u8]) -> f32 {
        match self {
            Self::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Self::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
            Self::Bf16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            _ => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[..8]);
                f64::from_le_bytes(a) as f32
            }
        }
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

fn int_tuple(v: &Value) -> std::result::Result<Vec<usize>, String> {
    match v {
        Value::Tuple(t) | Value::List(t) => {
            if t.items.len() > MAX_DIMS {
                return Err(format!("a tensor with {} dimensions", t.items.len()));
            }
            t.items
                .iter()
                .map(|x| {
                    as_int(x)
                        .and_then(|i| usize::try_from(i).ok())
                        .ok_or_else(|| {
                            "a tensor size or stride is not a non-negative integer".to_string()
                        })
                })
                .collect()
        }
        _ => Err("a tensor size or stride is not a tuple".into()),
    }
}

/// A tensor described by the pickle: which storage, where, what shape.
struct TensorRef {
    storage_key: String,
    dtype: StorageDtype,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

fn tensor_ref(v: &Value) -> std::result::Result<TensorRef, String> {
    let Value::Call(call) = v else {
        return Err("a state-dict entry is not a tensor".into());
    };
    let [func, args] = &call.items[..] else {
        return Err("a malformed call in the pickle".into());
    };
    let Value::Global(global) = func else {
        return Err("a state-dict entry is built by an unknown callable".into());
    };
    let Value::Tuple(args) = args else {
        return Err("tensor arguments are not a tuple".into());
    };
    let args = &args.items;
    match (global.0.as_str(), global.1.as_str()) {
        ("torch._utils", "_rebuild_parameter")
        | ("torch._utils", "_rebuild_parameter_with_state") => {
            // recursion bounded by the pickle's nesting depth (MAX_DEPTH)
            let inner = args.first().ok_or("_rebuild_parameter without a tensor")?;
            tensor_ref(inner)
        }
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            if args.len() < 4 {
                return Err("_rebuild_tensor_v2 with too few arguments".into());
            }
            let Value::PersId(pid) = &args[0] else {
                return Err("a tensor without a storage reference".into());
            };
            let Some(Value::Tuple(pid)) = pid.items.first() else {
                return Err("a storage reference that is not a tuple".into());
            };
            let pid = &pid.items;
            if pid.len() < 5 {
                return Err("a storage reference with too few fields".into());
            }
            let dtype = match &pid[1] {
                Value::Global(g) if g.0 == "torch" => StorageDtype::from_name(&g.1)
                    .ok_or_else(|| format!("unsupported storage type torch.{}", g.1))?,
                _ => return Err("a storage type that is not a torch storage class".into()),
            };
            let storage_key = match &pid[2] {
                Value::Str(s) => s.to_string(),
                _ => return Err("a storage key that is not a string".into()),
            };
            let offset = as_int(&args[1])
                .and_then(|i| usize::try_from(i).ok())
                .ok_or("a storage offset that is not a non-negative integer")?;
            let shape = int_tuple(&args[2])?;
            let stride = int_tuple(&args[3])?;
            if shape.len() != stride.len() {
                return Err("a tensor whose size and stride differ in length".into());
            }
            Ok(TensorRef {
                storage_key,
                dtype,
                offset,
                shape,
                stride,
            })
        }
        (m, n) => Err(format!(
            "a state-dict entry built by {m}.{n}, which is not a tensor"
        )),
    }
}

/// Copies the (possibly strided) elements of `t` out of its storage bytes.
fn gather(t: &TensorRef, storage: &[u8]) -> std::result::Result<Vec<f32>, String> {
    let es = t.dtype.size();
    let n_storage = storage.len() / es;
    let mut numel: usize = 1;
    for &d in &t.shape {
        numel = numel
            .checked_mul(d)
            .ok_or("a tensor's element count overflows")?;
    }
    if numel == 0 {
        return Ok(Vec::new());
    }
    if numel > n_storage {
        return Err(format!(
            "a tensor of {numel} elements over a storage of {n_storage} (broadcast views are not supported)"
        ));
    }
    // The last element any index can reach must lie inside the storage.
    let mut last = t.offset;
    for (&d, &s) in t.shape.iter().zip(&t.stride) {
        last = (d - 1)
            .checked_mul(s)
            .and_then(|x| x.checked_add(last))
            .ok_or("a tensor's strides overflow")?;
    }
    if last >= n_storage {
        return Err(format!(
            "a tensor reaches element {last} of a storage that holds {n_storage}"
        ));
    }
    let mut out = Vec::with_capacity(numel);
    let mut idx = vec![0usize; t.shape.len()];
    for _ in 0..numel {
        let e: usize = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
        out.push(t.dtype.read(&storage[e * es..(e + 1) * es]));
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < t.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(out)
}

/// Parses the bytes of a `pytorch_model.bin` and adds its tensors to `map`.
pub fn read_torch_bytes(bytes: &[u8], path: &Path, map: &mut TensorMap) -> Result<()> {
    read_torch_inner(bytes, map).map_err(|msg| LensError::TorchCheckpoint {
        path: path.to_path_buf(),
        msg,
    })
}

fn read_entry(
    archive: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    name: &str,
    limit: u64,
) -> std::result::Result<Vec<u8>, String> {
    let entry = archive
        .by_name(name)
        .map_err(|e| format!("cannot open {name} inside the archive: {e}"))?;
    let declared = entry.size();
    if declared > limit {
        return Err(format!(
            "{name} claims {declared} bytes, more than the file or the model could hold"
        ));
    }
    let mut buf = Vec::with_capacity(declared.min(limit / 64) as usize);
    entry
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if buf.len() as u64 != declared {
        return Err(format!(
            "{name} is {} bytes, but the archive says {declared}",
            buf.len()
        ));
    }
    Ok(buf)
}

fn read_torch_inner(bytes: &[u8], map: &mut TensorMap) -> std::result::Result<(), String> {
    if bytes.len() >= 2 && bytes[0] == 0x80 && bytes[1] <= 5 {
        return Err("this is the legacy (pre-1.6) PyTorch format; re-save it with a current torch.save or convert it to safetensors".into());
    }
    if bytes.len() < 4 || &bytes[..4] != b"PK\x03\x04" {
        return Err(
            "it is not a zip archive as torch.save writes (corrupt or not a PyTorch file)".into(),
        );
    }
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("its zip structure is corrupt: {e}"))?;
    let names: Vec<String> = archive
        .file_names_raw()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    let pkl = names
        .iter()
        .find(|n| n.ends_with("data.pkl") && n.matches('/').count() == 1)
        .ok_or("the archive has no data.pkl (not a torch.save file)")?
        .clone();
    let prefix = pkl.trim_end_matches("data.pkl").to_string();
    // Entries are stored uncompressed by torch.save; allow some slack for other writers.
    let limit = (bytes.len() as u64).saturating_mul(64);
    if let Ok(order) = read_entry(&mut archive, &format!("{prefix}byteorder"), limit) {
        if order != b"little" {
            return Err("the tensors are stored big-endian, which is not supported".into());
        }
    }
    let pickle = read_entry(&mut archive, &pkl, limit)?;
    let root = Machine {
        data: &pickle,
        pos: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
        copied: 0,
    }
    .run()?;
    let Value::Dict(entries) = root else {
        return Err("the pickle does not hold a state dict".into());
    };
    // A checkpoint saved as {"state_dict": {...}} or {"model": {...}} is unwrapped once.
    let pairs = |d: &Rc<Node>| -> Vec<(Value, Value)> {
        d.items
            .chunks_exact(2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect()
    };
    let mut entries = pairs(&entries);
    if entries.iter().all(|(_, v)| !matches!(v, Value::Call(..))) {
        let inner = entries.iter().find_map(|(k, v)| match (k, v) {
            (Value::Str(k), Value::Dict(d)) if matches!(&**k, "state_dict" | "model") => {
                Some(pairs(d))
            }
            _ => None,
        });
        if let Some(inner) = inner {
            entries = inner;
        }
    }
    // Each storage is read once, however many tensors view it.
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    for (k, v) in entries.iter() {
        let Value::Str(name) = k else {
            return Err("a state-dict key is not a string".into());
        };
        let t = tensor_ref(v).map_err(|e| format!("{name}: {e}"))?;
        if !t.dtype.is_float() {
            map.non_float.push(name.to_string());
            continue;
        }
        if !storages.contains_key(&t.storage_key) {
            if t.storage_key.contains('/') || t.storage_key.contains("..") {
                return Err(format!("{name}: a storage key that is a path"));
            }
            // a storage larger than every value the model may still hold is not its weights
            let storage_limit = limit.min(map.values_left().saturating_mul(8));
            let data = read_entry(
                &mut archive,
                &format!("{prefix}data/{}", t.storage_key),
                storage_limit,
            )
            .map_err(|e| format!("{name}: {e}"))?;
            storages.insert(t.storage_key.clone(), data);
        }
        let numel = t
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        map.spend(numel.unwrap_or(u64::MAX))
            .map_err(|e| format!("{name}: {e}"))?;
        let storage = &storages[&t.storage_key];
        let data = gather(&t, storage).map_err(|e| format!("{name}: {e}"))?;
        if map.tensors.contains_key(&**name) {
            return Err(format!("tensor {name} appears twice"));
        }
        map.tensors.insert(
            name.to_string(),
            HostTensor {
                shape: t.shape.clone(),
                data,
                stored_dtype: t.dtype.name(),
            },
        );
    }
    Ok(())
}
