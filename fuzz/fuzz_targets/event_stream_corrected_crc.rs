//! smithy's "corrected CRC" trick: arbitrary headers-section bytes and payloads wrapped in
//! frames with valid lengths and CRCs, so the fuzzer gets past the checksums into header
//! parsing and event routing. A frame that decodes re-encodes to the same bytes; the whole
//! stream also goes through the translator, which must end it with one terminator.
#![no_main]

use arbitrary::Arbitrary;
use bedrock_openai_filter::converse::stream::decode_message;
use bedrock_openai_filter::event_stream::{encode, Decoder, Header};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    frames: Vec<(Vec<u8>, Vec<u8>)>,
    sizes: Vec<u8>,
    include_usage: bool,
}

/// One frame around raw header bytes, with correct prelude and message CRCs.
fn wrap(headers: &[u8], payload: &[u8], out: &mut Vec<u8>) {
    let total = (12 + headers.len() + payload.len() + 4) as u32;
    let mut prelude = Vec::with_capacity(12);
    prelude.extend_from_slice(&total.to_be_bytes());
    prelude.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    let crc = crc32(&prelude);
    prelude.extend_from_slice(&crc.to_be_bytes());
    let start = out.len();
    out.extend_from_slice(&prelude);
    out.extend_from_slice(headers);
    out.extend_from_slice(payload);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (IEEE), bitwise: independent of the crate's crc32fast.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fuzz_target!(|input: Input| {
    let mut stream = Vec::new();
    let mut frames = Vec::new();
    for (h, p) in input.frames.iter().take(16) {
        let start = stream.len();
        wrap(h, p, &mut stream);
        frames.push(start..stream.len());
    }
    // Each frame on its own: decode, route, re-encode.
    for r in &frames {
        let bytes = &stream[r.clone()];
        let mut d = Decoder::new();
        let mut it = d.feed(bytes);
        match it.next_message() {
            Ok(Some(msg)) => {
                let headers: Vec<Header<'_>> = msg.headers.iter().collect();
                let mut again = Vec::new();
                encode(&headers, msg.payload, &mut again).expect("decoded headers re-encode");
                assert_eq!(again, bytes, "re-encoding a decoded frame changes it");
                let _ = decode_message(&msg);
                assert!(matches!(it.next_message(), Ok(None)));
            }
            Ok(None) => panic!("a whole valid-CRC frame was not decoded"),
            Err(e) => assert!(e.is_invalid_message(), "{e}"),
        }
    }
    // All frames as one stream, whole and chunked.
    let whole = fuzz::translate(input.include_usage, &[&stream]);
    let split = fuzz::translate(input.include_usage, &fuzz::chunks(&stream, &input.sizes));
    assert_eq!(whole, split);
});
