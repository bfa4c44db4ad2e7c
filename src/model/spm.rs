//! A reader for SentencePiece `.model` files (a protobuf `ModelProto`), enough to rebuild the
//! ALBERT tokenizer: the pieces with scores and types, the unknown-token id, and the normalizer's
//! precompiled character map. Written by hand so that no protobuf code generator is needed; every
//! length is checked against the bytes that remain.

/// SentencePiece piece types (sentencepiece_model.proto).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpmModel {
    pub pieces: Vec<Piece>,
    /// trainer_spec.model_type: 1 unigram, 2 bpe, 3 word, 4 char.
    pub model_type: i64,
    pub unk_id: i64,
    pub byte_fallback: bool,
    pub precompiled_charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or("the file ends inside a number (truncated?)")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number is longer than 10 bytes (corrupt file?)".into())
    }
    fn bytes(&mut self, n: u64) -> Result<&'a [u8], String> {
        let rest = self.buf.len() - self.pos;
        if n > rest as u64 {
            return Err(format!(
                "a field claims {n} bytes but only {rest} remain (truncated or corrupt file)"
            ));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }
    /// Returns (field number, wire type).
    fn key(&mut self) -> Result<(u64, u8), String> {
        let k = self.varint()?;
        Ok((k >> 3, (k & 7) as u8))
    }
    fn skip(&mut self, wire: u8) -> Result<(), String> {
        match wire {
            0 => {
                self.varint()?;
            }
            1 => {
                self.bytes(8)?;
            }
            2 => {
                let n = self.varint()?;
                self.bytes(n)?;
            }
            5 => {
                self.bytes(4)?;
            }
            w => {
                return Err(format!(
                    "unknown protobuf wire type {w} (not a SentencePiece model?)"
                ))
            }
        }
        Ok(())
    }
    fn len_delimited(&mut self, wire: u8) -> Result<&'a [u8], String> {
        if wire != 2 {
            return Err(format!(
                "expected a length-delimited field, found wire type {wire}"
            ));
        }
        let n = self.varint()?;
        self.bytes(n)
    }
}

fn parse_piece(buf: &[u8]) -> Result<Piece, String> {
    let mut r = Reader::new(buf);
    let mut piece = Piece {
        piece: String::new(),
        score: 0.0,
        kind: PieceType::Normal,
    };
    while !r.done() {
        let (field, wire) = r.key()?;
        match (field, wire) {
            (1, 2) => {
                let b = r.len_delimited(wire)?;
                piece.piece = String::from_utf8(b.to_vec())
                    .map_err(|_| "a piece is not valid UTF-8".to_string())?;
            }
            (2, 5) => {
                let b = r.bytes(4)?;
                piece.score = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            (3, 0) => {
                piece.kind = match r.varint()? {
                    1 => PieceType::Normal,
                    2 => PieceType::Unknown,
                    3 => PieceType::Control,
                    4 => PieceType::UserDefined,
                    5 => PieceType::Unused,
                    6 => PieceType::Byte,
                    t => return Err(format!("unknown piece type {t}")),
                }
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(piece)
}

/// Parses a SentencePiece model. Errors are plain descriptions; the caller adds the path.
pub fn parse(buf: &[u8]) -> Result<SpmModel, String> {
    let mut r = Reader::new(buf);
    let mut m = SpmModel {
        model_type: 1,
        unk_id: 0,
        add_dummy_prefix: true,
        ..Default::default()
    };
    while !r.done() {
        let (field, wire) = r.key()?;
        match field {
            1 => {
                let b = r.len_delimited(wire)?;
                m.pieces.push(parse_piece(b)?);
            }
            2 => {
                let b = r.len_delimited(wire)?;
                let mut t = Reader::new(b);
                while !t.done() {
                    let (f, w) = t.key()?;
                    match (f, w) {
                        (3, 0) => m.model_type = t.varint()? as i64,
                        (35, 0) => m.byte_fallback = t.varint()? != 0,
                        (40, 0) => m.unk_id = t.varint()? as i32 as i64,
                        _ => t.skip(w)?,
                    }
                }
            }
            3 => {
                let b = r.len_delimited(wire)?;
                let mut n = Reader::new(b);
                while !n.done() {
                    let (f, w) = n.key()?;
                    match (f, w) {
                        (2, 2) => m.precompiled_charsmap = n.len_delimited(w)?.to_vec(),
                        (3, 0) => m.add_dummy_prefix = n.varint()? != 0,
                        _ => n.skip(w)?,
                    }
                }
            }
            _ => r.skip(wire)?,
        }
    }
    if m.pieces.is_empty() {
        return Err("it holds no vocabulary pieces (not a SentencePiece model?)".into());
    }
    if m.unk_id < 0 || m.unk_id as usize >= m.pieces.len() {
        return Err(format!(
            "its unknown-token id {} is outside the vocabulary",
            m.unk_id
        ));
    }
    Ok(m)
}

/// Checks a SentencePiece precompiled character map (`[u32 trie bytes][trie: u32 units]
/// [normalized strings]`, a darts-clone double array) before the tokenizer library reads it:
/// the trie must fit the map, every transition from a reachable node must stay inside the
/// array, and every leaf must point at a character boundary of the normalized strings. The
/// library trusts all three (it allocates the claimed trie size, and indexes without checks).
pub fn check_charsmap(map: &[u8]) -> Result<(), String> {
    let bad = |what: String| Err(format!("its precompiled character map is corrupt: {what}"));
    let Some(head) = map.get(..4) else {
        return bad(format!("{} bytes, too short for its header", map.len()));
    };
    let trie_bytes = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if trie_bytes > map.len() - 4 || !trie_bytes.is_multiple_of(4) || trie_bytes == 0 {
        return bad(format!(
            "a trie of {trie_bytes} bytes in a map of {}",
            map.len()
        ));
    }
    let units: Vec<usize> = map[4..4 + trie_bytes]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let normalized = &map[4 + trie_bytes..];
    let Ok(normalized) = std::str::from_utf8(normalized) else {
        return bad("its normalized strings are not UTF-8".into());
    };
    // the unit layout of darts-clone, as the tokenizer library decodes it
    let offset = |u: usize| (u >> 10) << ((u & (1 << 9)) >> 6);
    let label = |u: usize| u & ((1 << 31) | 0xFF);
    let has_leaf = |u: usize| (u >> 8) & 1 == 1;
    let value = |u: usize| u & ((1 << 31) - 1);
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![offset(units[0])];
    while let Some(base) = todo.pop() {
        if !seen.insert(base) {
            continue;
        }
        for c in 1..=255usize {
            let pos = base ^ c;
            let Some(&unit) = units.get(pos) else {
                return bad(format!("a transition to unit {pos} of {}", units.len()));
            };
            if label(unit) != c {
                continue;
            }
            let next = pos ^ offset(unit);
            let Some(&leaf) = units.get(next) else {
                return bad(format!("a child at unit {next} of {}", units.len()));
            };
            if has_leaf(unit) {
                let v = value(leaf);
                if v > normalized.len() || !normalized.is_char_boundary(v) {
                    return bad(format!("a replacement at byte {v} of {}", normalized.len()));
                }
            }
            todo.push(next);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }

    fn piece(s: &str, score: f32, kind: u64) -> Vec<u8> {
        let mut p = vec![0x0a];
        varint(s.len() as u64, &mut p);
        p.extend_from_slice(s.as_bytes());
        p.push(0x15);
        p.extend_from_slice(&score.to_le_bytes());
        p.push(0x18);
        varint(kind, &mut p);
        p
    }

    #[test]
    fn parses_pieces_and_trainer_spec() {
        let mut buf = Vec::new();
        for (s, sc, k) in [("<unk>", 0.0, 2), ("▁a", -1.5, 1), ("[MASK]", 0.0, 3)] {
            let p = piece(s, sc, k);
            buf.push(0x0a);
            varint(p.len() as u64, &mut buf);
            buf.extend(p);
        }
        // trainer_spec { unk_id: 0 (field 40, varint) }
        let spec = {
            let mut s = Vec::new();
            varint(40 << 3, &mut s);
            varint(0, &mut s);
            s
        };
        buf.push(0x12);
        varint(spec.len() as u64, &mut buf);
        buf.extend(spec);
        let m = parse(&buf).unwrap();
        assert_eq!(m.pieces.len(), 3);
        assert_eq!(m.pieces[1].piece, "▁a");
        assert_eq!(m.pieces[1].score, -1.5);
        assert_eq!(m.pieces[2].kind, PieceType::Control);
        assert_eq!(m.unk_id, 0);
    }

    #[test]
    fn truncated_model_is_an_error() {
        let p = piece("hello", 1.0, 1);
        let mut buf = vec![0x0a];
        varint(p.len() as u64 + 50, &mut buf);
        buf.extend(p);
        assert!(parse(&buf).unwrap_err().contains("truncated"));
    }
}
