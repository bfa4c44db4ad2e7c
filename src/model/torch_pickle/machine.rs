//! The pickle interpreter of `torch_pickle`: a stack machine over the opcodes `torch.save`
//! writes that builds a tree of values and calls nothing (a call is kept as data), with every
//! length, index, depth and copy bounded before anything is allocated.

use std::collections::HashMap;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub(super) enum Value {
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
pub(super) struct Node {
    /// 1 + the deepest item's depth (a leaf value has depth 0)
    depth: usize,
    pub(super) items: Vec<Value>,
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
/// A state dict nests about eight levels (dict, parameter, tensor, arguments, storage id...);
/// deeper values would only serve to overflow the stack of whatever walks or drops them.
const MAX_DEPTH: usize = 64;
/// Items copied when a shared container is changed (copy on write). torch.save copies next to
/// nothing; a pickle that memoizes a list at every append would copy quadratically.
const MAX_COPIED: usize = 1 << 22;

pub(super) struct Machine<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
    pub(super) stack: Vec<Value>,
    pub(super) memo: HashMap<u32, Value>,
    /// items copied so far by copy-on-write (bounded by MAX_COPIED)
    pub(super) copied: usize,
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

    pub(super) fn run(mut self) -> std::result::Result<Value, String> {
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
