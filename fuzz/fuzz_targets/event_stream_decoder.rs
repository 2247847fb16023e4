//! Raw bytes into the event-stream decoder, whole and in arbitrary chunks: never panics,
//! never buffers more than the frame cap, and decodes the same messages (and the same
//! failure) whatever the chunking.
#![no_main]

use libfuzzer_sys::fuzz_target;

const MAX: u32 = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes pick the chunk sizes; the rest is the stream.
    let (sizes, stream) = data.split_at(data.len().min(8));
    let whole = fuzz::decode_all(&[stream], MAX);
    let split = fuzz::decode_all(&fuzz::chunks(stream, sizes), MAX);
    assert_eq!(whole, split);
});
