//! The backup stream: what `POST /v1/backup` sends and `stowage backup` reads.
//! Pure: bytes in, bytes out; no store, no network.
//!
//! A stream is the magic `STOWBKUP`, then frames:
//!
//! | size | field                                               |
//! |------|-----------------------------------------------------|
//! | 1    | kind: 1 header, 2 tree, 3 record, 4 trailer         |
//! | 4    | payload length n, u32 little-endian                 |
//! | n    | payload                                             |
//! | 4    | crc32 (crc32fast) of kind, length and payload, LE   |
//!
//! Payloads (integers little-endian):
//!
//! | kind    | payload                                                                 |
//! |---------|-------------------------------------------------------------------------|
//! | header  | format version u16 (`FORMAT_VERSION`), created ms i64, server version (u16 length, UTF-8) |
//! | tree    | the tree's name; the records that follow belong to it                   |
//! | record  | key length u32, key, value (the rest)                                   |
//! | trailer | id floor u64, tree count u32, per tree: name (u16 length), records u64, bytes u64 |
//!
//! Exactly one header first, each tree once, exactly one trailer last. The
//! trailer repeats what was sent, so a stream cut short (no trailer) or one
//! that lost or gained records (counts differ) is refused, as is any frame
//! whose crc does not match. The id floor is the server's next unique id
//! (`Store::generate_id`), which the copy must never hand out again.

use std::collections::BTreeMap;

/// The stream's first bytes.
pub const MAGIC: &[u8; 8] = b"STOWBKUP";
/// The only stream format written today.
pub const FORMAT_VERSION: u16 = 1;
/// A frame's payload is never larger (sled values are far smaller); a larger
/// length is damage, found before buffering it.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024 * 1024;

const KIND_HEADER: u8 = 1;
const KIND_TREE: u8 = 2;
const KIND_RECORD: u8 = 3;
const KIND_TRAILER: u8 = 4;
/// Kind and length before the payload, crc after it.
const FRAME_OVERHEAD: usize = 1 + 4 + 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub format_version: u16,
    pub created_ms: i64,
    pub server_version: String,
}

/// What one tree held in the stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeCount {
    pub records: u64,
    /// Key and value bytes.
    pub bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trailer {
    pub id_floor: u64,
    pub trees: BTreeMap<Vec<u8>, TreeCount>,
}

impl Trailer {
    pub fn records(&self) -> u64 {
        self.trees.values().map(|t| t.records).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.trees.values().map(|t| t.bytes).sum()
    }
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Header(Header),
    /// The records that follow belong to this tree.
    Tree(Vec<u8>),
    Record {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Trailer(Trailer),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("not a Stowage backup stream (its first bytes are not {MAGIC:?})")]
    BadMagic,
    #[error(
        "frame at byte {offset}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    ChecksumMismatch {
        offset: u64,
        stored: u32,
        computed: u32,
    },
    #[error("frame at byte {offset}: unknown kind {kind}")]
    UnknownKind { offset: u64, kind: u8 },
    #[error("frame at byte {offset}: length {len} is over the {MAX_PAYLOAD_BYTES}-byte limit")]
    TooLong { offset: u64, len: usize },
    #[error("frame at byte {offset}: malformed {what} payload")]
    Malformed { offset: u64, what: &'static str },
    #[error("unsupported backup format version {version} (this build reads {FORMAT_VERSION})")]
    UnsupportedVersion { version: u16 },
    #[error("frame at byte {offset}: {what}")]
    OutOfOrder { offset: u64, what: &'static str },
    #[error("the stream ended after {offset} bytes, before its trailer: the copy is incomplete")]
    Truncated { offset: u64 },
    #[error("the trailer does not match what was received: {detail}")]
    CountMismatch { detail: String },
    #[error("{count} bytes follow the trailer")]
    TrailingBytes { count: usize },
}

/// Writes a stream, keeping the counts its trailer repeats.
#[derive(Debug, Default)]
pub struct Encoder {
    trees: BTreeMap<Vec<u8>, TreeCount>,
    current: Option<Vec<u8>>,
}

impl Encoder {
    /// Starts a stream: the magic and the header.
    pub fn start(header: &Header, out: &mut Vec<u8>) -> Encoder {
        out.extend_from_slice(MAGIC);
        let version = header.server_version.as_bytes();
        let version = &version[..version.len().min(usize::from(u16::MAX))];
        let mut payload = Vec::with_capacity(12 + version.len());
        payload.extend_from_slice(&header.format_version.to_le_bytes());
        payload.extend_from_slice(&header.created_ms.to_le_bytes());
        push_short(&mut payload, version);
        frame(out, KIND_HEADER, &[&payload]);
        Encoder::default()
    }

    /// Starts tree `name`; the records that follow belong to it.
    pub fn tree(&mut self, name: &[u8], out: &mut Vec<u8>) {
        frame(out, KIND_TREE, &[name]);
        self.trees.entry(name.to_vec()).or_default();
        self.current = Some(name.to_vec());
    }

    /// One record of the current tree.
    pub fn record(&mut self, key: &[u8], value: &[u8], out: &mut Vec<u8>) {
        let key_len = u32::try_from(key.len()).expect("sled keys are far below 4 GiB");
        frame(out, KIND_RECORD, &[&key_len.to_le_bytes(), key, value]);
        let name = self
            .current
            .as_ref()
            .expect("a tree is started before its records");
        let count = self.trees.entry(name.clone()).or_default();
        count.records += 1;
        count.bytes += (key.len() + value.len()) as u64;
    }

    /// Ends the stream with its trailer; returns it.
    pub fn finish(self, id_floor: u64, out: &mut Vec<u8>) -> Trailer {
        let mut payload = Vec::new();
        payload.extend_from_slice(&id_floor.to_le_bytes());
        let count = u32::try_from(self.trees.len()).expect("far fewer than 4 billion trees");
        payload.extend_from_slice(&count.to_le_bytes());
        for (name, count) in &self.trees {
            push_short(&mut payload, name);
            payload.extend_from_slice(&count.records.to_le_bytes());
            payload.extend_from_slice(&count.bytes.to_le_bytes());
        }
        frame(out, KIND_TRAILER, &[&payload]);
        Trailer {
            id_floor,
            trees: self.trees,
        }
    }
}

fn push_short(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).expect("tree names and versions are short");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

fn frame(out: &mut Vec<u8>, kind: u8, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let len = u32::try_from(len).expect("payloads are below MAX_PAYLOAD_BYTES");
    let start = out.len();
    out.push(kind);
    out.extend_from_slice(&len.to_le_bytes());
    for part in parts {
        out.extend_from_slice(part);
    }
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Magic,
    Header,
    Trees,
    Done,
}

/// Reads a stream pushed to it in pieces of any size. Never panics, whatever
/// the bytes; memory is bounded by the largest frame plus what was pushed.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    pos: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    state: State,
    current: Option<Vec<u8>>,
    seen: BTreeMap<Vec<u8>, TreeCount>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            buf: Vec::new(),
            pos: 0,
            base: 0,
            state: State::Magic,
            current: None,
            seen: BTreeMap::new(),
        }
    }

    /// Adds the next bytes of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete item, `None` when more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<Item>, StreamError> {
        let offset = self.offset();
        match self.state {
            State::Magic => {
                let rest = &self.buf[self.pos..];
                let n = rest.len().min(MAGIC.len());
                if rest[..n] != MAGIC[..n] {
                    return Err(StreamError::BadMagic);
                }
                if n < MAGIC.len() {
                    return Ok(None);
                }
                self.pos += MAGIC.len();
                self.state = State::Header;
                self.next_item()
            }
            State::Done => match self.buf.len() - self.pos {
                0 => Ok(None),
                count => Err(StreamError::TrailingBytes { count }),
            },
            State::Header | State::Trees => {
                // Moved out for the call, so the payload can be borrowed from it.
                let buf = std::mem::take(&mut self.buf);
                let decoded = match split_frame(&buf[self.pos..], offset) {
                    Ok(Some((kind, payload))) => self
                        .accept(kind, payload, offset)
                        .map(|item| Some((item, FRAME_OVERHEAD + payload.len()))),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                };
                self.buf = buf;
                let Some((item, used)) = decoded? else {
                    return Ok(None);
                };
                self.pos += used;
                Ok(Some(item))
            }
        }
    }

    /// Call at the end of the stream: the trailer must have been read and
    /// nothing may follow it.
    pub fn finish(&self) -> Result<(), StreamError> {
        match self.state {
            State::Done if self.pos == self.buf.len() => Ok(()),
            State::Done => Err(StreamError::TrailingBytes {
                count: self.buf.len() - self.pos,
            }),
            _ => Err(StreamError::Truncated {
                offset: self.offset() + (self.buf.len() - self.pos) as u64,
            }),
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn accept(&mut self, kind: u8, payload: &[u8], offset: u64) -> Result<Item, StreamError> {
        let malformed = |what| StreamError::Malformed { offset, what };
        let out_of_order = |what| StreamError::OutOfOrder { offset, what };
        match (self.state, kind) {
            (State::Header, KIND_HEADER) => {
                let mut r = Reader(payload);
                let format_version = r.u16().ok_or(malformed("header"))?;
                if format_version != FORMAT_VERSION {
                    return Err(StreamError::UnsupportedVersion {
                        version: format_version,
                    });
                }
                let created_ms = r.i64().ok_or(malformed("header"))?;
                let version = r.short().ok_or(malformed("header"))?;
                let server_version =
                    String::from_utf8(version.to_vec()).map_err(|_| malformed("header"))?;
                if !r.0.is_empty() {
                    return Err(malformed("header"));
                }
                self.state = State::Trees;
                Ok(Item::Header(Header {
                    format_version,
                    created_ms,
                    server_version,
                }))
            }
            (State::Header, KIND_TREE | KIND_RECORD | KIND_TRAILER) => {
                Err(out_of_order("the stream does not start with a header"))
            }
            (State::Trees, KIND_HEADER) => Err(out_of_order("a second header")),
            (State::Trees, KIND_TREE) => {
                if self.seen.contains_key(payload) {
                    return Err(out_of_order("a tree sent twice"));
                }
                self.seen.insert(payload.to_vec(), TreeCount::default());
                self.current = Some(payload.to_vec());
                Ok(Item::Tree(payload.to_vec()))
            }
            (State::Trees, KIND_RECORD) => {
                let name = self
                    .current
                    .as_ref()
                    .ok_or(out_of_order("a record before any tree"))?;
                let mut r = Reader(payload);
                let key_len = r.u32().ok_or(malformed("record"))?;
                let key_len = usize::try_from(key_len).map_err(|_| malformed("record"))?;
                let key = r.take(key_len).ok_or(malformed("record"))?;
                let value = r.0;
                let count = self.seen.entry(name.clone()).or_default();
                count.records += 1;
                count.bytes += payload.len().saturating_sub(4) as u64;
                Ok(Item::Record {
                    key: key.to_vec(),
                    value: value.to_vec(),
                })
            }
            (State::Trees, KIND_TRAILER) => {
                let trailer = parse_trailer(payload).ok_or(malformed("trailer"))?;
                if trailer.trees != self.seen {
                    return Err(StreamError::CountMismatch {
                        detail: describe_mismatch(&trailer.trees, &self.seen),
                    });
                }
                self.state = State::Done;
                Ok(Item::Trailer(trailer))
            }
            (_, kind) => Err(StreamError::UnknownKind { offset, kind }),
        }
    }
}

/// The kind and payload of the frame at the start of `rest`, once it is all
/// there and its crc checks out.
fn split_frame(rest: &[u8], offset: u64) -> Result<Option<(u8, &[u8])>, StreamError> {
    let Some((head, after)) = rest.split_first_chunk::<5>() else {
        return Ok(None);
    };
    let kind = head[0];
    if !(KIND_HEADER..=KIND_TRAILER).contains(&kind) {
        return Err(StreamError::UnknownKind { offset, kind });
    }
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > MAX_PAYLOAD_BYTES {
        return Err(StreamError::TooLong { offset, len });
    }
    if after.len() < len + 4 {
        return Ok(None);
    }
    let (payload, crc) = after.split_at(len);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let computed = crc32fast::hash(&rest[..5 + len]);
    if stored != computed {
        return Err(StreamError::ChecksumMismatch {
            offset,
            stored,
            computed,
        });
    }
    Ok(Some((kind, payload)))
}

fn parse_trailer(payload: &[u8]) -> Option<Trailer> {
    let mut r = Reader(payload);
    let id_floor = r.u64()?;
    let count = r.u32()?;
    let mut trees = BTreeMap::new();
    for _ in 0..count {
        let name = r.short()?.to_vec();
        let records = r.u64()?;
        let bytes = r.u64()?;
        if trees.insert(name, TreeCount { records, bytes }).is_some() {
            return None;
        }
    }
    r.0.is_empty().then_some(Trailer { id_floor, trees })
}

fn describe_mismatch(
    sent: &BTreeMap<Vec<u8>, TreeCount>,
    got: &BTreeMap<Vec<u8>, TreeCount>,
) -> String {
    let names: std::collections::BTreeSet<&Vec<u8>> = sent.keys().chain(got.keys()).collect();
    for name in names {
        let (s, g) = (sent.get(name), got.get(name));
        if s != g {
            let shown = String::from_utf8_lossy(name);
            let records = |c: Option<&TreeCount>| c.map_or(0, |c| c.records);
            return format!(
                "tree {shown}: {} records sent, {} received",
                records(s),
                records(g)
            );
        }
    }
    "no difference".to_owned()
}

/// Reads little-endian fields off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }

    fn short(&mut self) -> Option<&'a [u8]> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }
}

#[cfg(test)]
mod tests;
