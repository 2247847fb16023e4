//! Decoder and encoder tests: external vectors, the `tests/fixtures/eventstream` corpus
//! (written by an independent Python encoder), every chunking of concatenated frames, and the
//! exact error kind for each invalid frame.

use super::frame::{encode, encode_to_vec, Header, HeaderValue, Message, PRELUDE_LEN};
use super::{Decoder, Error, ErrorKind};

/// Owned copy of a message, so results of many `feed` calls can be compared.
#[derive(Debug, Clone, PartialEq)]
struct Owned {
    headers: Vec<(String, OwnedValue)>,
    payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
enum OwnedValue {
    Bool(bool),
    Byte(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Bytes(Vec<u8>),
    String(String),
    Timestamp(i64),
    Uuid([u8; 16]),
}

fn own(m: &Message<'_>) -> Owned {
    let headers = m
        .headers
        .iter()
        .map(|h| {
            let v = match h.value {
                HeaderValue::Bool(b) => OwnedValue::Bool(b),
                HeaderValue::Byte(b) => OwnedValue::Byte(b),
                HeaderValue::Int16(v) => OwnedValue::Int16(v),
                HeaderValue::Int32(v) => OwnedValue::Int32(v),
                HeaderValue::Int64(v) => OwnedValue::Int64(v),
                HeaderValue::ByteArray(b) => OwnedValue::Bytes(b.to_vec()),
                HeaderValue::String(s) => OwnedValue::String(s.to_string()),
                HeaderValue::Timestamp(t) => OwnedValue::Timestamp(t),
                HeaderValue::Uuid(u) => OwnedValue::Uuid(u),
            };
            (h.name.to_string(), v)
        })
        .collect();
    Owned {
        headers,
        payload: m.payload.to_vec(),
    }
}

/// Feeds `chunks` in order; all messages, or the first error.
fn decode_chunks<'a>(
    dec: &mut Decoder,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Owned>, Error> {
    let mut out = Vec::new();
    for chunk in chunks {
        let mut frames = dec.feed(chunk);
        while let Some(m) = frames.next_message()? {
            out.push(own(&m));
        }
    }
    Ok(out)
}

fn decode_all(bytes: &[u8]) -> Result<Vec<Owned>, Error> {
    decode_chunks(&mut Decoder::new(), [bytes])
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/eventstream/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn capture() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/captures/converse-stream-claude-text-tooluse.bin"
    ))
    .unwrap()
}

fn crc_field(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn all_types() -> Vec<Header<'static>> {
    vec![
        Header {
            name: "true",
            value: HeaderValue::Bool(true),
        },
        Header {
            name: "false",
            value: HeaderValue::Bool(false),
        },
        Header {
            name: "byte",
            value: HeaderValue::Byte(-49),
        },
        Header {
            name: "short",
            value: HeaderValue::Int16(-12345),
        },
        Header {
            name: "int",
            value: HeaderValue::Int32(0x7ABB_CCDD),
        },
        Header {
            name: "long",
            value: HeaderValue::Int64(-0x0102_0304_0506_0708),
        },
        Header {
            name: "bytes",
            value: HeaderValue::ByteArray(&[0x00, 0xff, 0x10]),
        },
        Header {
            name: "string",
            value: HeaderValue::String("héllo"),
        },
        Header {
            name: "timestamp",
            value: HeaderValue::Timestamp(1_700_000_000_123),
        },
        Header {
            name: "uuid",
            value: HeaderValue::Uuid([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]),
        },
    ]
}

// Vectors from aws-c-event-stream, tests/message_deserializer_test.c
// (https://github.com/awslabs/aws-c-event-stream), also used by smithy-rs.
const EMPTY_MESSAGE: [u8; 16] = [
    0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff,
];
const INT32_HEADER: &[u8] = b"\x00\x00\x00\x2d\x00\x00\x00\x10\x41\xc4\x24\xb8\x0aevent-type\x04\x00\x00\xa0\x0c{'foo':'bar'}\x36\xf4\x80\xa0";

#[test]
fn decodes_aws_c_event_stream_vectors() {
    let m = decode_all(&EMPTY_MESSAGE).unwrap();
    assert_eq!(
        m,
        vec![Owned {
            headers: vec![],
            payload: vec![]
        }]
    );

    let m = decode_all(INT32_HEADER).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(
        m[0].headers,
        vec![("event-type".to_string(), OwnedValue::Int32(40972))]
    );
    assert_eq!(m[0].payload, b"{'foo':'bar'}");

    // The encoder reproduces both byte for byte.
    assert_eq!(encode_to_vec(&[], &[]).unwrap(), EMPTY_MESSAGE);
    let h = [Header {
        name: "event-type",
        value: HeaderValue::Int32(40972),
    }];
    assert_eq!(encode_to_vec(&h, b"{'foo':'bar'}").unwrap(), INT32_HEADER);
}

#[test]
fn every_header_type_decodes_from_the_independent_corpus() {
    let bytes = fixture("valid_all_header_types.bin");
    let m = decode_all(&bytes).unwrap();
    assert_eq!(m.len(), 1);
    let want: Vec<(String, OwnedValue)> = vec![
        ("true".into(), OwnedValue::Bool(true)),
        ("false".into(), OwnedValue::Bool(false)),
        ("byte".into(), OwnedValue::Byte(-49)),
        ("short".into(), OwnedValue::Int16(-12345)),
        ("int".into(), OwnedValue::Int32(0x7ABB_CCDD)),
        ("long".into(), OwnedValue::Int64(-0x0102_0304_0506_0708)),
        ("bytes".into(), OwnedValue::Bytes(vec![0x00, 0xff, 0x10])),
        ("string".into(), OwnedValue::String("héllo".into())),
        ("timestamp".into(), OwnedValue::Timestamp(1_700_000_000_123)),
        (
            "uuid".into(),
            OwnedValue::Uuid(core::array::from_fn(|i| i as u8)),
        ),
    ];
    assert_eq!(m[0].headers, want);
    assert_eq!(m[0].payload, b"payload");
    // Our encoder writes the same bytes as the Python one.
    assert_eq!(encode_to_vec(&all_types(), b"payload").unwrap(), bytes);
}

#[test]
fn valid_corpus_decodes() {
    assert_eq!(decode_all(&fixture("valid_empty.bin")).unwrap().len(), 1);
    let m = decode_all(&fixture("valid_payload_only.bin")).unwrap();
    assert_eq!(m[0].payload, br#"{"role":"assistant"}"#);
    assert!(m[0].headers.is_empty());

    let bytes = fixture("valid_message_start.bin");
    let mut dec = Decoder::new();
    let mut frames = dec.feed(&bytes);
    let msg = frames.next_message().unwrap().unwrap();
    assert_eq!(msg.headers.get_str(":message-type"), Some("event"));
    assert_eq!(msg.headers.get_str(":event-type"), Some("messageStart"));
    assert_eq!(msg.headers.get(":nope"), None);
    assert!(frames.next_message().unwrap().is_none());
}

#[test]
fn real_capture_has_25_event_frames() {
    let m = decode_all(&capture()).unwrap();
    assert_eq!(m.len(), 25);
    for msg in &m {
        let names: Vec<&str> = msg.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, [":event-type", ":content-type", ":message-type"]);
        assert_eq!(msg.headers[2].1, OwnedValue::String("event".into()));
    }
    assert_eq!(m[0].headers[0].1, OwnedValue::String("messageStart".into()));
    assert_eq!(m[24].headers[0].1, OwnedValue::String("metadata".into()));
}

#[test]
fn byte_at_a_time_equals_whole() {
    let bytes = capture();
    let whole = decode_all(&bytes).unwrap();
    let mut dec = Decoder::new();
    let mut got = Vec::new();
    for b in bytes.chunks(1) {
        let mut frames = dec.feed(b);
        while let Some(m) = frames.next_message().unwrap() {
            got.push(own(&m));
        }
        drop(frames);
        // Never more than one partial frame is held.
        assert!(dec.buffered_len() < 4096);
    }
    assert_eq!(got, whole);
    assert_eq!(dec.buffered_len(), 0);
}

#[test]
fn three_frames_at_every_chunk_size() {
    let mut bytes = Vec::new();
    encode(&all_types(), b"first", &mut bytes).unwrap();
    encode(&[], b"", &mut bytes).unwrap();
    encode(
        &[Header {
            name: ":event-type",
            value: HeaderValue::String("x"),
        }],
        b"third payload",
        &mut bytes,
    )
    .unwrap();
    let want = decode_all(&bytes).unwrap();
    assert_eq!(want.len(), 3);
    assert_eq!(want[2].payload, b"third payload");
    for size in 1..=bytes.len() {
        let mut dec = Decoder::new();
        let got = decode_chunks(&mut dec, bytes.chunks(size)).unwrap();
        assert_eq!(got, want, "chunk size {size}");
        assert_eq!(dec.buffered_len(), 0, "chunk size {size}");
    }
}

#[test]
fn partial_frame_is_reported_as_buffered() {
    let bytes = fixture("valid_message_start.bin");
    let mut dec = Decoder::new();
    assert!(decode_chunks(&mut dec, [&bytes[..40]]).unwrap().is_empty());
    assert_eq!(dec.buffered_len(), 40);
    assert_eq!(decode_chunks(&mut dec, [&bytes[40..]]).unwrap().len(), 1);
    assert_eq!(dec.buffered_len(), 0);
}

/// Each invalid corpus file, whole and byte by byte, fails with exactly `want`.
fn assert_kind(file: &str, want: ErrorKind) {
    let bytes = fixture(file);
    let whole = decode_all(&bytes).unwrap_err();
    assert_eq!(whole.kind(), &want, "{file} whole");
    let mut dec = Decoder::new();
    let split = decode_chunks(&mut dec, bytes.chunks(1)).unwrap_err();
    assert_eq!(split.kind(), &want, "{file} byte by byte");
    assert!(whole.is_invalid_message());
}

#[test]
fn invalid_corpus_fails_with_exact_kind() {
    let b = fixture("invalid_prelude_crc.bin");
    assert_kind(
        "invalid_prelude_crc.bin",
        ErrorKind::PreludeChecksumMismatch {
            expected: crc_field(&b, 8),
            actual: crc32fast::hash(&b[..8]),
        },
    );
    let b = fixture("invalid_message_crc.bin");
    let n = b.len();
    assert_kind(
        "invalid_message_crc.bin",
        ErrorKind::MessageChecksumMismatch {
            expected: crc_field(&b, n - 4),
            actual: crc32fast::hash(&b[..n - 4]),
        },
    );
    let b = fixture("invalid_payload_flip.bin");
    let n = b.len();
    assert_kind(
        "invalid_payload_flip.bin",
        ErrorKind::MessageChecksumMismatch {
            expected: crc_field(&b, n - 4),
            actual: crc32fast::hash(&b[..n - 4]),
        },
    );
    assert_kind("invalid_total_len_15.bin", ErrorKind::FrameTooShort(15));
    // 82 bytes of routing headers + 2 of payload; the prelude claims 85 bytes of headers.
    assert_kind(
        "invalid_headers_len_beyond_frame.bin",
        ErrorKind::HeadersTooLong {
            headers_len: 85,
            frame_len: 100,
        },
    );
    assert_kind(
        "invalid_oversize.bin",
        ErrorKind::FrameTooLarge {
            len: 16 * 1024 * 1024 + 1,
            max: 16 * 1024 * 1024,
        },
    );
    // Header "s": name_len, name, type, u16 length → value starts at offset 5 with 5 left.
    assert_kind(
        "invalid_truncated_header_value.bin",
        ErrorKind::TruncatedHeader {
            offset: 5,
            needed: 100,
            available: 5,
        },
    );
    assert_kind(
        "invalid_header_value_type.bin",
        ErrorKind::InvalidHeaderValueType(10),
    );
    assert_kind(
        "invalid_empty_header_name.bin",
        ErrorKind::EmptyHeaderName { offset: 0 },
    );
    assert_kind(
        "invalid_header_utf8.bin",
        ErrorKind::InvalidUtf8 { offset: 5 },
    );
}

#[test]
fn bad_prelude_fails_on_its_twelfth_byte() {
    // The oversize fixture announces 16 MiB; the error must come without waiting for it,
    // and without buffering anything.
    let bytes = fixture("invalid_oversize.bin");
    let mut dec = Decoder::new();
    assert!(decode_chunks(&mut dec, [&bytes[..11]]).unwrap().is_empty());
    let e = decode_chunks(&mut dec, [&bytes[11..12]]).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::FrameTooLarge { .. }));
    assert_eq!(dec.buffered_len(), 0);

    let bytes = fixture("invalid_prelude_crc.bin");
    let e = decode_all(&bytes[..PRELUDE_LEN]).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::PreludeChecksumMismatch { .. }
    ));
}

#[test]
fn configurable_cap() {
    let frame = fixture("valid_message_start.bin");
    let mut dec = Decoder::with_max_frame_len(frame.len() as u32 - 1);
    let e = decode_chunks(&mut dec, [&frame[..]]).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::FrameTooLarge {
            len: frame.len() as u64,
            max: frame.len() as u32 - 1
        }
    );
    let mut dec = Decoder::with_max_frame_len(frame.len() as u32);
    assert_eq!(decode_chunks(&mut dec, [&frame[..]]).unwrap().len(), 1);
}

#[test]
fn errors_poison_the_decoder() {
    let bad = fixture("invalid_message_crc.bin");
    let good = fixture("valid_empty.bin");
    let mut dec = Decoder::new();
    let first = decode_chunks(&mut dec, [&bad[..]]).unwrap_err();
    assert_eq!(dec.error(), Some(&first));
    // Valid bytes afterwards are not decoded, nothing is buffered, the same error comes back.
    for _ in 0..3 {
        assert_eq!(decode_chunks(&mut dec, [&good[..]]).unwrap_err(), first);
        assert_eq!(dec.buffered_len(), 0);
    }
}

#[test]
fn frames_after_an_error_in_the_same_chunk_are_not_returned() {
    let mut bytes = fixture("valid_empty.bin");
    bytes.extend(fixture("invalid_header_value_type.bin"));
    bytes.extend(fixture("valid_empty.bin"));
    let mut dec = Decoder::new();
    let mut frames = dec.feed(&bytes);
    assert!(frames.next_message().unwrap().is_some());
    assert_eq!(
        frames.next_message().unwrap_err().kind(),
        &ErrorKind::InvalidHeaderValueType(10)
    );
    assert!(frames.next_message().is_err());
}

#[test]
fn abandoning_a_chunk_poisons() {
    let mut bytes = fixture("valid_empty.bin");
    bytes.extend(fixture("valid_empty.bin"));
    let mut dec = Decoder::new();
    {
        let mut frames = dec.feed(&bytes);
        assert!(frames.next_message().unwrap().is_some());
    }
    assert_eq!(dec.error().map(Error::kind), Some(&ErrorKind::Abandoned));
    // Reading to the end is fine.
    let mut dec = Decoder::new();
    assert_eq!(decode_chunks(&mut dec, [&bytes[..]]).unwrap().len(), 2);
    assert!(dec.error().is_none());
}

#[test]
fn encoder_rejects_what_the_format_cannot_carry() {
    let long_name = "n".repeat(256);
    let long_value = vec![0u8; 65536];
    let mut out = b"keep".to_vec();
    let e = encode(
        &[Header {
            name: &long_name,
            value: HeaderValue::Bool(true),
        }],
        b"",
        &mut out,
    )
    .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::HeaderNameTooLong(256));
    let e = encode(
        &[Header {
            name: "v",
            value: HeaderValue::ByteArray(&long_value),
        }],
        b"",
        &mut out,
    )
    .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::HeaderValueTooLong(65536));
    assert!(!e.is_invalid_message());
    assert_eq!(out, b"keep");
    // The limits themselves are fine.
    let name = "n".repeat(255);
    let value = vec![7u8; 65535];
    let frame = encode_to_vec(
        &[Header {
            name: &name,
            value: HeaderValue::ByteArray(&value),
        }],
        b"p",
    )
    .unwrap();
    let m = decode_all(&frame).unwrap();
    assert_eq!(m[0].headers[0], (name, OwnedValue::Bytes(value)));
}

#[test]
fn display_is_lowercase_with_evidence() {
    let e = Error::from(ErrorKind::PreludeChecksumMismatch {
        expected: 1,
        actual: 0xdeadbeef,
    });
    assert_eq!(
        e.to_string(),
        "prelude checksum mismatch: expected 0x00000001, computed 0xdeadbeef"
    );
    for kind in [
        ErrorKind::FrameTooShort(3),
        ErrorKind::FrameTooLarge { len: 9, max: 8 },
        ErrorKind::TruncatedHeader {
            offset: 1,
            needed: 2,
            available: 0,
        },
        ErrorKind::InvalidHeaderValueType(42),
        ErrorKind::Abandoned,
    ] {
        let s = Error::from(kind).to_string();
        assert!(s.starts_with(|c: char| c.is_ascii_lowercase()), "{s}");
    }
}

#[test]
fn every_single_byte_flip_of_a_frame_is_an_error_not_a_panic() {
    let frame = fixture("valid_all_header_types.bin");
    for i in 0..frame.len() {
        for bit in 0..8 {
            let mut b = frame.clone();
            b[i] ^= 1 << bit;
            // A flip in the length fields may leave the decoder waiting for bytes; that is
            // not an error yet but must not hold more than the announced (capped) frame.
            let mut dec = Decoder::new();
            match decode_chunks(&mut dec, [&b[..]]) {
                Err(_) => {}
                Ok(m) => {
                    assert!(m.is_empty(), "flip {i}/{bit} decoded");
                    assert!(dec.buffered_len() <= b.len());
                }
            }
        }
    }
}
