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
use std::rc::Rc;

#[derive(Debug, Clone)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// A float or a bytes object: read and bounds-checked, its value unused.
    Opaque,
    Str(Rc<str>),
    Tuple(Rc<Node>),
    List(Rc<Node>),
    /// keys and values alternate: k0, v0, k1, v1, ...
    Dict(Rc<Node>),
    Global(Rc<(String, String)>),
    /// A call we do not interpret, kept as data: [callable, arguments].
    Call(Rc<Node>),
    /// A persistent id (torch's reference to a storage): [id].
    PersId(Rc<Node>),
    Mark,
}

/// The items of a container and how deep the values below it nest. Containers are shared
/// (`Rc`) and copied on write, so the depth of a value never changes once it is built.
#[derive(Debug, Clone, Default)]
struct Node {
    /// 1 + the deepest item's depth (a leaf value has depth 0)
    depth: usize,
    items: Vec<Value>,
}

impl Value {
    fn depth(&self) -> usize {
        match self {
            Value::Tuple(n)
            | Value::List(n)
            | Value::Dict(n)
            | Value::Call(n)
            | Value::PersId(n) => n.depth,
            _ => 0,
        }
    }
}

/// Bounds that keep a hostile file from exhausting memory, time or the thread's stack.
const MAX_STACK: usize = 1 << 20;
const MAX_MEMO: usize = 1 << 22;
const MAX_DIMS: usize = 16;
/// A state dict nests about eight levels (dict, parameter, tensor, arguments, storage id...);
/// deeper values would only serve to overflow the stack of whatever walks or drops them.
const MAX_DEPTH: usize = 64;
/// Items copied when a shared container is changed (copy on write). torch.save copies next to
/// nothing; a pickle that memoizes a list at every append would copy quadratically.
const MAX_COPIED: usize = 1 << 22;

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
    /// items copied so far by copy-on-write (bounded by MAX_COPIED)
    copied: usize,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let rest = self.data.len() - self.pos;
        if n > rest {
            return Err(format!(
                "the pickle ends early: {n} bytes wanted at offset {}, {rest} left",
                self.pos
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> std::result::Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn line(&mut self) -> std::result::Result<String, String> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("an unterminated text line in the pickle")?;
        let s =
            String::from_utf8(rest[..end].to_vec()).map_err(|_| "non-UTF-8 text in the pickle")?;
        self.pos += end + 1;
        Ok(s)
    }
    fn push(&mut self, v: Value) -> std::result::Result<(), String> {
        if self.stack.len() >= MAX_STACK {
            return Err("the pickle's stack grows without bound".into());
        }
        self.stack.push(v);
        Ok(())
    }
    fn pop(&mut self) -> std::result::Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| "the pickle pops an empty stack".into())
    }
    fn pop_mark(&mut self) -> std::result::Result<Vec<Value>, String> {
        let at = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or("the pickle has no MARK where one is needed")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }
    fn top(&mut self) -> std::result::Result<&mut Value, String> {
        self.stack
            .last_mut()
            .ok_or_else(|| "the pickle uses an empty stack".into())
    }
    fn memo_put(&mut self, k: u32) -> std::result::Result<(), String> {
        if self.memo.len() >= MAX_MEMO {
            return Err("the pickle's memo grows without bound".into());
        }
        let v = self
            .stack
            .last()
            .ok_or("MEMOIZE on an empty stack")?
            .clone();
        self.memo.insert(k, v);
        Ok(())
    }
    fn memo_get(&mut self, k: u32) -> std::result::Result<(), String> {
        let v =
            self.memo.get(&k).cloned().ok_or_else(|| {
                format!("the pickle refers to memo entry {k}, which does not exist")
            })?;
        self.push(v)
    }
    fn str_value(&mut self, n: usize) -> std::result::Result<(), String> {
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| "non-UTF-8 string in the pickle")?;
        self.push(Value::Str(s.into()))
    }
    fn bytes_value(&mut self, n: usize) -> std::result::Result<(), String> {
        self.take(n)?;
        self.push(Value::Opaque)
    }

    /// The depth of a container holding `items`, refused past MAX_DEPTH.
    fn depth_above(items: &[Value]) -> std::result::Result<usize, String> {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(format!(
                "the pickle nests values more than {MAX_DEPTH} levels deep, which no state dict does"
            ));
        }
        Ok(depth)
    }

    /// A new container of `items`, refused when it would nest deeper than MAX_DEPTH.
    fn node(items: Vec<Value>) -> std::result::Result<Rc<Node>, String> {
        Ok(Rc::new(Node {
            depth: Self::depth_above(&items)?,
            items,
        }))
    }

    /// Adds `items` to the list (or dict) on top of the stack, copying it first if it is shared
    /// (with the memo, say), within the copy budget and the depth limit.
    fn extend_top(&mut self, items: Vec<Value>, dict: bool) -> std::result::Result<(), String> {
        let op = if dict { "SETITEM(S)" } else { "APPEND(S)" };
        let node = match (self.stack.last_mut(), dict) {
            (Some(Value::List(n)), false) | (Some(Value::Dict(n)), true) => n,
            _ => {
                return Err(format!(
                    "{op} on something that is not a {}",
                    if dict { "dict" } else { "list" }
                ))
            }
        };
        if Rc::strong_count(node) > 1 {
            self.copied += node.items.len();
            if self.copied > MAX_COPIED {
                return Err(format!(
                    "the pickle copies shared containers over and over (more than {MAX_COPIED} items), which no state dict does"
                ));
            }
        }
        let depth = Self::depth_above(&items)?;
        let n = Rc::make_mut(node);
        n.depth = n.depth.max(depth);
        n.items.extend(items);
        Ok(())
    }

    fn run(mut self) -> std::result::Result<Value, String> {
        loop {
            let op = self.u8()?;
            if op == b'.' {
                return self.pop();
            }
            if !(self.scalar_op(op)? || self.object_op(op)? || self.container_op(op)?) {
                return Err(format!(
                    "pickle opcode 0x{op:02x} at offset {} is not allowed in a weights file",
                    self.pos - 1
                ));
            }
        }
    }

    /// The opcodes of the protocol, marks and scalars (None, bools, ints, strings, bytes).
    /// Returns whether `op` was one of them (nothing read otherwise).
    fn scalar_op(&mut self, op: u8) -> std::result::Result<bool, String> {
        match op {
            0x80 => {
                // PROTO
                let v = self.u8()?;
                if v > 5 {
                    return Err(format!("pickle protocol {v} is not supported"));
                }
            }
            0x95 => {
                // FRAME: a length hint only
                self.u64()?;
            }
            b'(' => self.push(Value::Mark)?,
            b'N' => self.push(Value::None)?,
            0x88 => self.push(Value::Bool(true))?,
            0x89 => self.push(Value::Bool(false))?,
            b'J' => {
                let v = self.u32()? as i32;
                self.push(Value::Int(v as i64))?
            }
            b'K' => {
                let v = self.u8()?;
                self.push(Value::Int(v as i64))?
            }
            b'M' => {
                let v = self.u16()?;
                self.push(Value::Int(v as i64))?
            }
            0x8a => {
                // LONG1
                let n = self.u8()? as usize;
                let b = self.take(n)?;
                if n > 8 {
                    return Err("an integer wider than 64 bits in the pickle".into());
                }
                let mut v: i64 = 0;
                for (i, &byte) in b.iter().enumerate() {
                    v |= (byte as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                self.push(Value::Int(v))?
            }
            b'G' => {
                // BINFLOAT: 8 bytes, value unused
                self.take(8)?;
                self.push(Value::Opaque)?
            }
            b'X' => {
                let n = self.u32()? as usize;
                self.str_value(n)?
            }
            0x8c => {
                let n = self.u8()? as usize;
                self.str_value(n)?
            }
            0x8d => {
                let n = self.u64()?;
                let n = usize::try_from(n).map_err(|_| "a string length overflows")?;
                self.str_value(n)?
            }
            b'T' | b'B' => {
                let n = self.u32()? as usize;
                self.bytes_value(n)?
            }
            b'U' | b'C' => {
                let n = self.u8()? as usize;
                self.bytes_value(n)?
            }
            0x8e => {
                let n = self.u64()?;
                let n = usize::try_from(n).map_err(|_| "a bytes length overflows")?;
                self.bytes_value(n)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The opcodes of globals, calls (recorded, never made), persistent ids, the memo and the
    /// stack. Returns whether `op` was one of them (nothing read otherwise).
    fn object_op(&mut self, op: u8) -> std::result::Result<bool, String> {
        match op {
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.push(Value::Global(Rc::new((module, name))))?
            }
            0x93 => {
                // STACK_GLOBAL
                let name = self.pop()?;
                let module = self.pop()?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => {
                        self.push(Value::Global(Rc::new((m.to_string(), n.to_string()))))?
                    }
                    _ => return Err("STACK_GLOBAL without two strings".into()),
                }
            }
            b'q' => {
                let k = self.u8()? as u32;
                self.memo_put(k)?
            }
            b'r' => {
                let k = self.u32()?;
                self.memo_put(k)?
            }
            0x94 => {
                let k = self.memo.len() as u32;
                self.memo_put(k)?
            }
            b'h' => {
                let k = self.u8()? as u32;
                self.memo_get(k)?
            }
            b'j' => {
                let k = self.u32()?;
                self.memo_get(k)?
            }
            b'R' | 0x81 => {
                // REDUCE / NEWOBJ: never called, only recorded
                let args = self.pop()?;
                let func = self.pop()?;
                let v = match &func {
                    Value::Global(g) if g.0 == "collections" && g.1 == "OrderedDict" => {
                        Value::Dict(Self::node(Vec::new())?)
                    }
                    _ => Value::Call(Self::node(vec![func, args])?),
                };
                self.push(v)?
            }
            b'b' => {
                // BUILD: object state is irrelevant for tensors (e.g. _metadata on dicts)
                self.pop()?;
                self.top()?;
            }
            b'Q' => {
                let pid = self.pop()?;
                self.push(Value::PersId(Self::node(vec![pid])?))?
            }
            b'0' => {
                self.pop()?;
            }
            b'2' => {
                let v = self.top()?.clone();
                self.push(v)?
            }
            b'1' => {
                self.pop_mark()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The opcodes that build and fill tuples, lists and dicts. Returns whether `op` was one
    /// of them (nothing read otherwise).
    fn container_op(&mut self, op: u8) -> std::result::Result<bool, String> {
        match op {
            b'}' => self.push(Value::Dict(Self::node(Vec::new())?))?,
            b']' => self.push(Value::List(Self::node(Vec::new())?))?,
            b')' => self.push(Value::Tuple(Self::node(Vec::new())?))?,
            b't' => {
                let items = self.pop_mark()?;
                self.push(Value::Tuple(Self::node(items)?))?
            }
            0x85 => {
                let a = self.pop()?;
                self.push(Value::Tuple(Self::node(vec![a])?))?
            }
            0x86 => {
                let b = self.pop()?;
                let a = self.pop()?;
                self.push(Value::Tuple(Self::node(vec![a, b])?))?
            }
            0x87 => {
                let c = self.pop()?;
                let b = self.pop()?;
                let a = self.pop()?;
                self.push(Value::Tuple(Self::node(vec![a, b, c])?))?
            }
            b'l' => {
                let items = self.pop_mark()?;
                self.push(Value::List(Self::node(items)?))?
            }
            b'd' => {
                let items = self.pop_mark()?;
                if items.len() % 2 != 0 {
                    return Err("DICT with an odd number of items".into());
                }
                self.push(Value::Dict(Self::node(items)?))?
            }
            b'a' => {
                let v = self.pop()?;
                self.extend_top(vec![v], false)?
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.extend_top(items, false)?
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.extend_top(vec![k, v], true)?
            }
            b'u' => {
                let items = self.pop_mark()?;
                if items.len() % 2 != 0 {
                    return Err("SETITEMS with an odd number of items".into());
                }
                self.extend_top(items, true)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

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
