//! Event-stream codec errors, in smithy's shape: an opaque [`Error`] over an [`ErrorKind`]
//! whose variants carry the evidence (checksums, lengths, offending byte), lowercase `Display`.

use std::fmt;

/// Why a frame could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `total_len` is below the 16 bytes of an empty frame (prelude + message CRC).
    FrameTooShort(u32),
    /// `total_len` is above the decoder's cap; refused before buffering anything of it.
    FrameTooLarge { len: u64, max: u32 },
    /// CRC32 of the first 8 bytes does not match the prelude's CRC field.
    PreludeChecksumMismatch { expected: u32, actual: u32 },
    /// CRC32 of everything before the trailer does not match the trailer.
    MessageChecksumMismatch { expected: u32, actual: u32 },
    /// `headers_len` does not fit between the prelude and the message CRC.
    HeadersTooLong { headers_len: u32, frame_len: u32 },
    /// A header needs `needed` bytes at `offset` (within the headers section) but only
    /// `available` remain.
    TruncatedHeader {
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// A header with a zero-length name.
    EmptyHeaderName { offset: usize },
    /// A header value type outside `0..=9`.
    InvalidHeaderValueType(u8),
    /// A header name or string value that is not UTF-8.
    InvalidUtf8 { offset: usize },
    /// Encoding: a header name longer than 255 bytes.
    HeaderNameTooLong(usize),
    /// Encoding: a bytes/string header value longer than 65535 bytes.
    HeaderValueTooLong(usize),
    /// The caller stopped reading a chunk's frames before the end, so the byte stream can no
    /// longer be followed.
    Abandoned,
}

/// An event-stream error. Once a decoder returns one it is poisoned and keeps returning it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
}

impl Error {
    /// What went wrong, with its evidence.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// True for damage in transit or a broken peer (checksums, lengths, headers), as opposed
    /// to encoder input errors and caller misuse.
    pub fn is_invalid_message(&self) -> bool {
        !matches!(
            self.kind,
            ErrorKind::HeaderNameTooLong(_)
                | ErrorKind::HeaderValueTooLong(_)
                | ErrorKind::Abandoned
        )
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self { kind }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::FrameTooShort(len) => {
                write!(f, "frame length {len} is below the 16-byte minimum")
            }
            ErrorKind::FrameTooLarge { len, max } => {
                write!(f, "frame length {len} exceeds the {max}-byte limit")
            }
            ErrorKind::PreludeChecksumMismatch { expected, actual } => write!(
                f,
                "prelude checksum mismatch: expected 0x{expected:08x}, computed 0x{actual:08x}"
            ),
            ErrorKind::MessageChecksumMismatch { expected, actual } => write!(
                f,
                "message checksum mismatch: expected 0x{expected:08x}, computed 0x{actual:08x}"
            ),
            ErrorKind::HeadersTooLong {
                headers_len,
                frame_len,
            } => write!(
                f,
                "headers length {headers_len} does not fit in a {frame_len}-byte frame"
            ),
            ErrorKind::TruncatedHeader {
                offset,
                needed,
                available,
            } => write!(
                f,
                "header at offset {offset} needs {needed} bytes but only {available} remain"
            ),
            ErrorKind::EmptyHeaderName { offset } => {
                write!(f, "empty header name at offset {offset}")
            }
            ErrorKind::InvalidHeaderValueType(t) => write!(f, "invalid header value type {t}"),
            ErrorKind::InvalidUtf8 { offset } => {
                write!(f, "header at offset {offset} is not valid utf-8")
            }
            ErrorKind::HeaderNameTooLong(len) => {
                write!(f, "header name of {len} bytes exceeds 255")
            }
            ErrorKind::HeaderValueTooLong(len) => {
                write!(f, "header value of {len} bytes exceeds 65535")
            }
            ErrorKind::Abandoned => write!(f, "decoding was abandoned in the middle of a chunk"),
        }
    }
}

impl std::error::Error for Error {}
