//! One event-stream frame: wire constants, the prelude check, whole-frame parsing, typed
//! headers, and the encoder.
//!
//! Layout (<https://docs.aws.amazon.com/transcribe/latest/dg/streaming-setting-up.html#streaming-event-stream>,
//! smithy `aws-smithy-eventstream/src/frame.rs`):
//!
//! ```text
//! total_len u32 BE | headers_len u32 BE | prelude_crc u32 BE (CRC32 of the 8 bytes before)
//! headers (headers_len bytes) | payload | message_crc u32 BE (CRC32 of everything before)
//! header = name_len u8 | name | value_type u8 | value
//! ```
//!
//! All offsets go through `get`/`checked_*`, so hostile lengths end in an [`Error`], never a
//! panic.

use super::error::{Error, ErrorKind};

/// Prelude: total length, headers length, prelude CRC.
pub(crate) const PRELUDE_LEN: usize = 12;
/// Trailing message CRC.
pub(crate) const MESSAGE_CRC_LEN: usize = 4;
/// The smallest frame: a prelude and a message CRC, no headers, no payload.
pub(crate) const MIN_FRAME_LEN: u32 = (PRELUDE_LEN + MESSAGE_CRC_LEN) as u32;

const TYPE_BOOL_TRUE: u8 = 0;
const TYPE_BOOL_FALSE: u8 = 1;
const TYPE_BYTE: u8 = 2;
const TYPE_INT16: u8 = 3;
const TYPE_INT32: u8 = 4;
const TYPE_INT64: u8 = 5;
const TYPE_BYTE_ARRAY: u8 = 6;
const TYPE_STRING: u8 = 7;
const TYPE_TIMESTAMP: u8 = 8;
const TYPE_UUID: u8 = 9;

/// A typed header value (wire types 0..=9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    /// Types 0 (`true`) and 1 (`false`); no value bytes.
    Bool(bool),
    Byte(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    ByteArray(&'a [u8]),
    String(&'a str),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

impl<'a> HeaderValue<'a> {
    /// The value if it is a string header; routing headers (`:message-type`, …) all are.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            HeaderValue::String(s) => Some(s),
            _ => None,
        }
    }
}

/// One header, borrowed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a str,
    pub value: HeaderValue<'a>,
}

/// A frame's headers section. Only [`parse_frame`] builds one, after validating every
/// header, so iteration is infallible and costs no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    raw: &'a [u8],
}

impl<'a> Headers<'a> {
    pub fn iter(&self) -> HeadersIter<'a> {
        HeadersIter {
            raw: self.raw,
            pos: 0,
        }
    }

    /// The first header called `name` (names are case-sensitive on the wire).
    pub fn get(&self, name: &str) -> Option<HeaderValue<'a>> {
        // Compares raw name bytes: only the matching value is decoded.
        let mut pos = 0;
        while pos < self.raw.len() {
            let (h, next) = split_header(self.raw, pos).ok()?;
            if h.name == name.as_bytes() {
                return decode_value(&h).ok();
            }
            pos = next;
        }
        None
    }

    /// The first header called `name`, if it is a string.
    pub fn get_str(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|v| v.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

impl std::fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Headers<'a> {
    type Item = Header<'a>;
    type IntoIter = HeadersIter<'a>;
    fn into_iter(self) -> HeadersIter<'a> {
        self.iter()
    }
}

/// Iterator over validated headers.
#[derive(Debug, Clone)]
pub struct HeadersIter<'a> {
    raw: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = Header<'a>;
    fn next(&mut self) -> Option<Header<'a>> {
        if self.pos >= self.raw.len() {
            return None;
        }
        match read_header(self.raw, self.pos) {
            Ok((header, next)) => {
                self.pos = next;
                Some(header)
            }
            // Unreachable after validation; stop rather than loop.
            Err(_) => {
                self.pos = self.raw.len();
                None
            }
        }
    }
}

/// A decoded message, borrowing the frame bytes (no copy of headers or payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub headers: Headers<'a>,
    pub payload: &'a [u8],
}

/// The two lengths a valid prelude announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prelude {
    pub total_len: u32,
    pub headers_len: u32,
}

fn be_u32(b: [u8; 4]) -> u32 {
    u32::from_be_bytes(b)
}

/// Checks a prelude on its own, so a corrupt or oversized frame is refused before any of
/// its body is buffered. Order: CRC first (lengths from a corrupt prelude mean nothing),
/// then minimum length, cap, and headers fitting inside the frame.
pub(crate) fn check_prelude(
    prelude: &[u8; PRELUDE_LEN],
    max_frame_len: u32,
) -> Result<Prelude, Error> {
    let [t0, t1, t2, t3, h0, h1, h2, h3, c0, c1, c2, c3] = *prelude;
    let expected = be_u32([c0, c1, c2, c3]);
    let actual = crc32fast::hash(&[t0, t1, t2, t3, h0, h1, h2, h3]);
    if expected != actual {
        return Err(ErrorKind::PreludeChecksumMismatch { expected, actual }.into());
    }
    let total_len = be_u32([t0, t1, t2, t3]);
    let headers_len = be_u32([h0, h1, h2, h3]);
    if total_len < MIN_FRAME_LEN {
        return Err(ErrorKind::FrameTooShort(total_len).into());
    }
    if total_len > max_frame_len {
        return Err(ErrorKind::FrameTooLarge {
            len: u64::from(total_len),
            max: max_frame_len,
        }
        .into());
    }
    if headers_len > total_len - MIN_FRAME_LEN {
        return Err(ErrorKind::HeadersTooLong {
            headers_len,
            frame_len: total_len,
        }
        .into());
    }
    Ok(Prelude {
        total_len,
        headers_len,
    })
}

/// Parses exactly one whole frame (`frame.len()` must equal its `total_len`): prelude,
/// message CRC, then every header.
pub fn parse_frame(frame: &[u8], max_frame_len: u32) -> Result<Message<'_>, Error> {
    let prelude: [u8; PRELUDE_LEN] = frame
        .get(..PRELUDE_LEN)
        .and_then(|p| p.try_into().ok())
        .ok_or(ErrorKind::FrameTooShort(len_u32(frame.len())))?;
    let p = check_prelude(&prelude, max_frame_len)?;
    let total = usize::try_from(p.total_len).map_err(|_| too_large(frame.len(), max_frame_len))?;
    if frame.len() != total {
        // The caller sliced wrongly; report it as the length the bytes actually have.
        return Err(ErrorKind::FrameTooShort(len_u32(frame.len())).into());
    }
    let crc_at = total - MESSAGE_CRC_LEN; // total >= MIN_FRAME_LEN
    let (body, trailer) = frame
        .split_at_checked(crc_at)
        .ok_or(ErrorKind::FrameTooShort(p.total_len))?;
    let trailer: [u8; 4] = trailer
        .try_into()
        .map_err(|_| ErrorKind::FrameTooShort(p.total_len))?;
    let expected = be_u32(trailer);
    let actual = crc32fast::hash(body);
    if expected != actual {
        return Err(ErrorKind::MessageChecksumMismatch { expected, actual }.into());
    }
    let headers_end = usize::try_from(p.headers_len)
        .ok()
        .and_then(|h| h.checked_add(PRELUDE_LEN))
        .filter(|&end| end <= crc_at)
        .ok_or(ErrorKind::HeadersTooLong {
            headers_len: p.headers_len,
            frame_len: p.total_len,
        })?;
    let raw = body.get(PRELUDE_LEN..headers_end).unwrap_or_default();
    let payload = body.get(headers_end..).unwrap_or_default();
    let mut pos = 0;
    while pos < raw.len() {
        pos = read_header(raw, pos)?.1;
    }
    Ok(Message {
        headers: Headers { raw },
        payload,
    })
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn too_large(len: usize, max: u32) -> Error {
    ErrorKind::FrameTooLarge {
        len: u64::try_from(len).unwrap_or(u64::MAX),
        max,
    }
    .into()
}

/// `n` bytes at `offset`, or the truncation evidence.
fn take(raw: &[u8], offset: usize, n: usize) -> Result<&[u8], Error> {
    offset
        .checked_add(n)
        .and_then(|end| raw.get(offset..end))
        .ok_or_else(|| {
            ErrorKind::TruncatedHeader {
                offset,
                needed: n,
                available: raw.len().saturating_sub(offset),
            }
            .into()
        })
}

fn take_array<const N: usize>(raw: &[u8], offset: usize) -> Result<[u8; N], Error> {
    let bytes = take(raw, offset, N)?;
    bytes.try_into().map_err(|_| {
        ErrorKind::TruncatedHeader {
            offset,
            needed: N,
            available: bytes.len(),
        }
        .into()
    })
}

fn utf8(bytes: &[u8], offset: usize) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|_| ErrorKind::InvalidUtf8 { offset }.into())
}

/// A header's pieces before decoding, so lookups can compare names as bytes.
struct RawHeader<'a> {
    name: &'a [u8],
    name_at: usize,
    value_type: u8,
    value: &'a [u8],
    value_at: usize,
}

/// Splits the header starting at `pos` of a headers section; returns it and the next offset.
fn split_header(raw: &[u8], pos: usize) -> Result<(RawHeader<'_>, usize), Error> {
    let [name_len] = take_array::<1>(raw, pos)?;
    if name_len == 0 {
        return Err(ErrorKind::EmptyHeaderName { offset: pos }.into());
    }
    let name_at = pos + 1; // `take` proved `pos < raw.len()`
    let name = take(raw, name_at, usize::from(name_len))?;
    let type_at = name_at + name.len(); // within raw, proved by `take`
    let [value_type] = take_array::<1>(raw, type_at)?;
    let mut value_at = type_at + 1;
    let len = match value_type {
        TYPE_BOOL_TRUE | TYPE_BOOL_FALSE => 0,
        TYPE_BYTE => 1,
        TYPE_INT16 => 2,
        TYPE_INT32 => 4,
        TYPE_INT64 | TYPE_TIMESTAMP => 8,
        TYPE_UUID => 16,
        TYPE_BYTE_ARRAY | TYPE_STRING => {
            let len = usize::from(u16::from_be_bytes(take_array(raw, value_at)?));
            value_at += 2;
            len
        }
        other => return Err(ErrorKind::InvalidHeaderValueType(other).into()),
    };
    let value = take(raw, value_at, len)?;
    let header = RawHeader {
        name,
        name_at,
        value_type,
        value,
        value_at,
    };
    Ok((header, value_at + len))
}

fn decode_value<'a>(h: &RawHeader<'a>) -> Result<HeaderValue<'a>, Error> {
    let (v, at) = (h.value, h.value_at);
    Ok(match h.value_type {
        TYPE_BOOL_TRUE => HeaderValue::Bool(true),
        TYPE_BOOL_FALSE => HeaderValue::Bool(false),
        TYPE_BYTE => HeaderValue::Byte(i8::from_be_bytes(take_array(v, 0)?)),
        TYPE_INT16 => HeaderValue::Int16(i16::from_be_bytes(take_array(v, 0)?)),
        TYPE_INT32 => HeaderValue::Int32(i32::from_be_bytes(take_array(v, 0)?)),
        TYPE_INT64 => HeaderValue::Int64(i64::from_be_bytes(take_array(v, 0)?)),
        TYPE_TIMESTAMP => HeaderValue::Timestamp(i64::from_be_bytes(take_array(v, 0)?)),
        TYPE_UUID => HeaderValue::Uuid(take_array(v, 0)?),
        TYPE_BYTE_ARRAY => HeaderValue::ByteArray(v),
        TYPE_STRING => HeaderValue::String(utf8(v, at)?),
        other => return Err(ErrorKind::InvalidHeaderValueType(other).into()),
    })
}

/// Reads and fully decodes the header starting at `pos`; returns it and the next offset.
fn read_header(raw: &[u8], pos: usize) -> Result<(Header<'_>, usize), Error> {
    let (h, end) = split_header(raw, pos)?;
    let name = utf8(h.name, h.name_at)?;
    let value = decode_value(&h)?;
    Ok((Header { name, value }, end))
}

fn encode_header(h: &Header<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let name_len =
        u8::try_from(h.name.len()).map_err(|_| ErrorKind::HeaderNameTooLong(h.name.len()))?;
    if name_len == 0 {
        return Err(ErrorKind::EmptyHeaderName { offset: 0 }.into());
    }
    out.push(name_len);
    out.extend_from_slice(h.name.as_bytes());
    match h.value {
        HeaderValue::Bool(true) => out.push(TYPE_BOOL_TRUE),
        HeaderValue::Bool(false) => out.push(TYPE_BOOL_FALSE),
        HeaderValue::Byte(v) => put(out, TYPE_BYTE, &v.to_be_bytes()),
        HeaderValue::Int16(v) => put(out, TYPE_INT16, &v.to_be_bytes()),
        HeaderValue::Int32(v) => put(out, TYPE_INT32, &v.to_be_bytes()),
        HeaderValue::Int64(v) => put(out, TYPE_INT64, &v.to_be_bytes()),
        HeaderValue::Timestamp(v) => put(out, TYPE_TIMESTAMP, &v.to_be_bytes()),
        HeaderValue::Uuid(v) => put(out, TYPE_UUID, &v),
        HeaderValue::ByteArray(b) => put_sized(out, TYPE_BYTE_ARRAY, b)?,
        HeaderValue::String(s) => put_sized(out, TYPE_STRING, s.as_bytes())?,
    }
    Ok(())
}

fn put(out: &mut Vec<u8>, value_type: u8, value: &[u8]) {
    out.push(value_type);
    out.extend_from_slice(value);
}

/// A bytes or string value: u16 length, then the bytes.
fn put_sized(out: &mut Vec<u8>, value_type: u8, value: &[u8]) -> Result<(), Error> {
    let len = u16::try_from(value.len()).map_err(|_| ErrorKind::HeaderValueTooLong(value.len()))?;
    put(out, value_type, &len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// Appends one frame with valid lengths and CRCs to `out`. On error `out` is left as it was.
pub fn encode(headers: &[Header<'_>], payload: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    let start = out.len();
    let result = encode_inner(headers, payload, out, start);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn encode_inner(
    headers: &[Header<'_>],
    payload: &[u8],
    out: &mut Vec<u8>,
    start: usize,
) -> Result<(), Error> {
    out.extend_from_slice(&[0; PRELUDE_LEN]);
    for h in headers {
        encode_header(h, out)?;
    }
    let headers_len = out.len() - start - PRELUDE_LEN;
    out.extend_from_slice(payload);
    let total = out.len() - start + MESSAGE_CRC_LEN;
    let total_u32 = u32::try_from(total).map_err(|_| too_large(total, u32::MAX))?;
    let headers_u32 = u32::try_from(headers_len).map_err(|_| too_large(total, u32::MAX))?;
    let mut prelude = [0u8; PRELUDE_LEN];
    prelude[..4].copy_from_slice(&total_u32.to_be_bytes());
    prelude[4..8].copy_from_slice(&headers_u32.to_be_bytes());
    let prelude_crc = crc32fast::hash(&prelude[..8]);
    prelude[8..].copy_from_slice(&prelude_crc.to_be_bytes());
    if let Some(slot) = out.get_mut(start..start + PRELUDE_LEN) {
        slot.copy_from_slice(&prelude);
    }
    let crc = crc32fast::hash(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// [`encode`] into a fresh `Vec`.
pub fn encode_to_vec(headers: &[Header<'_>], payload: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    encode(headers, payload, &mut out)?;
    Ok(out)
}
