//! Incremental decoding: the caller pushes byte chunks split anywhere and reads whole
//! messages back.
//!
//! Bounded by construction: frames that arrive whole inside a chunk are parsed in place
//! (borrowed, no copy); only the one unfinished frame at a chunk's end is copied, and only
//! after its prelude (CRC and size cap) has been checked. smithy's `MessageFrameDecoder` waits
//! for the whole announced frame (up to 4 GiB) before checking anything; this one refuses a bad
//! prelude as soon as its 12 bytes are in. Any error poisons the decoder for good, so a
//! corrupt stream can neither stall nor make the buffer grow.

use super::error::{Error, ErrorKind};
use super::frame::{check_prelude, parse_frame, Message, PRELUDE_LEN};

/// 16 MiB: far above any ConverseStream event, far below what a proxy should hold per stream.
pub const DEFAULT_MAX_FRAME_LEN: u32 = 16 * 1024 * 1024;

/// Above this the partial-frame buffer is freed after use instead of kept for the next one.
const RETAIN_CAPACITY: usize = 64 * 1024;

/// Per-stream decoder state: the partial frame, if any.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// `total_len` of the frame in `buf`, once its prelude has been checked.
    frame_len: Option<usize>,
    /// `buf` holds a frame already handed out; clear it before the next read.
    consumed: bool,
    max_frame_len: u32,
    poison: Option<Error>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::with_max_frame_len(DEFAULT_MAX_FRAME_LEN)
    }

    pub fn with_max_frame_len(max_frame_len: u32) -> Self {
        Self {
            buf: Vec::new(),
            frame_len: None,
            consumed: false,
            max_frame_len,
            poison: None,
        }
    }

    /// Starts reading `input`; drain the returned [`Frames`] until `Ok(None)` or `Err`.
    pub fn feed<'d, 'i>(&'d mut self, input: &'i [u8]) -> Frames<'d, 'i> {
        self.release();
        Frames { dec: self, input }
    }

    /// Bytes of an unfinished frame held back; non-zero at end of stream means truncation.
    pub fn buffered_len(&self) -> usize {
        if self.consumed {
            0
        } else {
            self.buf.len()
        }
    }

    /// The error that poisoned this decoder, if any.
    pub fn error(&self) -> Option<&Error> {
        self.poison.as_ref()
    }

    fn release(&mut self) {
        if self.poison.is_some() {
            self.buf = Vec::new();
            self.frame_len = None;
            self.consumed = false;
        } else if self.consumed {
            if self.buf.capacity() > RETAIN_CAPACITY {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
            self.frame_len = None;
            self.consumed = false;
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        self.poison = Some(e.clone());
        e
    }
}

/// The messages of one input chunk, read with [`Frames::next_message`]. Dropping it before
/// the chunk is exhausted poisons the decoder ([`ErrorKind::Abandoned`]), because the bytes
/// not read would otherwise be lost silently.
#[derive(Debug)]
pub struct Frames<'d, 'i> {
    dec: &'d mut Decoder,
    input: &'i [u8],
}

impl Frames<'_, '_> {
    /// The next whole message, `Ok(None)` once the chunk is used up (any unfinished frame is
    /// then held by the decoder), or the error that poisoned the decoder.
    pub fn next_message(&mut self) -> Result<Option<Message<'_>>, Error> {
        if let Some(e) = &self.dec.poison {
            return Err(e.clone());
        }
        self.dec.release();
        if !self.dec.buf.is_empty() {
            return self.complete_buffered();
        }
        let input = self.input;
        if input.is_empty() {
            return Ok(None);
        }
        let Some(prelude) = input.first_chunk::<PRELUDE_LEN>() else {
            self.dec.buf.extend_from_slice(input);
            self.input = &[];
            return Ok(None);
        };
        let total = match check_prelude(prelude, self.dec.max_frame_len) {
            Ok(p) => frame_len(p.total_len)?,
            Err(e) => return Err(self.dec.fail(e)),
        };
        let Some((frame, rest)) = input.split_at_checked(total) else {
            self.dec.buf.reserve_exact(total);
            self.dec.buf.extend_from_slice(input);
            self.dec.frame_len = Some(total);
            self.input = &[];
            return Ok(None);
        };
        self.input = rest;
        match parse_frame(frame, self.dec.max_frame_len) {
            Ok(m) => Ok(Some(m)),
            Err(e) => Err(self.dec.fail(e)),
        }
    }

    /// Tops up the buffered partial frame from the chunk; parses it once whole.
    fn complete_buffered(&mut self) -> Result<Option<Message<'_>>, Error> {
        let dec = &mut *self.dec;
        let total = match dec.frame_len {
            Some(total) => total,
            None => {
                let want = PRELUDE_LEN.saturating_sub(dec.buf.len());
                let (head, rest) = self.input.split_at(want.min(self.input.len()));
                dec.buf.extend_from_slice(head);
                self.input = rest;
                let Some(prelude) = dec.buf.first_chunk::<PRELUDE_LEN>() else {
                    return Ok(None);
                };
                let total = match check_prelude(prelude, dec.max_frame_len) {
                    Ok(p) => frame_len(p.total_len)?,
                    Err(e) => return Err(dec.fail(e)),
                };
                dec.buf.reserve_exact(total.saturating_sub(dec.buf.len()));
                dec.frame_len = Some(total);
                total
            }
        };
        let want = total.saturating_sub(dec.buf.len());
        let (head, rest) = self.input.split_at(want.min(self.input.len()));
        dec.buf.extend_from_slice(head);
        self.input = rest;
        if dec.buf.len() < total {
            return Ok(None);
        }
        dec.consumed = true;
        // Only `dec.buf` stays borrowed by the message; `dec.poison` is a separate field.
        match parse_frame(&dec.buf, dec.max_frame_len) {
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                dec.poison = Some(e.clone());
                Err(e)
            }
        }
    }
}

/// `total_len` as a `usize`; only fails on targets narrower than the 32-bit length field.
fn frame_len(total_len: u32) -> Result<usize, Error> {
    usize::try_from(total_len).map_err(|_| {
        ErrorKind::FrameTooLarge {
            len: u64::from(total_len),
            max: u32::MAX,
        }
        .into()
    })
}

impl Drop for Frames<'_, '_> {
    fn drop(&mut self) {
        if self.dec.poison.is_none() && !self.input.is_empty() {
            self.dec.poison = Some(ErrorKind::Abandoned.into());
        }
        self.dec.release();
    }
}
