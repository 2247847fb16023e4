//! A stream's memory does not grow with its length: 100 000 text-delta frames through one
//! `StreamTranslator`, in chunks that split frames anywhere, with live heap bytes counted by
//! a wrapping global allocator after every `feed`. Not timing-based.
//!
//! One test per binary on purpose: the allocator counts the whole process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use bedrock_openai_filter::stream::StreamTranslator;

mod support;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const FRAMES: usize = 100_000;

#[test]
fn translator_memory_is_flat_over_100k_frames() {
    let cap = support::tooluse_stream();
    let frames = support::frames(&cap);
    let head: Vec<u8> = frames[0].to_vec();
    // One period: the fixture's 17 text deltas (~190 B each).
    let period: Vec<u8> = frames[1..=17].concat();
    let largest = frames.iter().map(|f| f.len()).max().unwrap();
    let tail: Vec<u8> = frames[18..].concat();
    let periods = FRAMES / 17 + 1;
    let total = periods * period.len();
    // Chunk sizes cycle so frames are split at every kind of offset.
    let sizes = [1usize, 7, 64, 190, 333, 1000, 4096];

    let mut t = StreamTranslator::new(support::opts(true));
    assert!(!t.feed(&head).is_empty());
    let mut chunk = Vec::with_capacity(4096);
    let base = live();
    let mut pos = 0usize;
    let mut fed_frames_bytes = 0usize;
    let (mut max_early, mut max_all, mut max_buffered) = (0isize, 0isize, 0usize);
    let mut out_bytes = 0usize;
    let mut i = 0usize;
    while pos < total {
        let n = sizes[i % sizes.len()].min(total - pos);
        i += 1;
        chunk.clear();
        for k in pos..pos + n {
            chunk.push(period[k % period.len()]);
        }
        pos += n;
        let out = t.feed(&chunk);
        out_bytes += out.len();
        drop(out);
        assert!(!t.is_finished(), "stream failed at byte {pos}");
        let grown = live() - base;
        max_all = max_all.max(grown);
        max_buffered = max_buffered.max(t.buffered_len());
        fed_frames_bytes = pos;
        if pos <= 1_000 * period.len() / 17 {
            max_early = max_early.max(grown);
        }
    }
    assert_eq!(t.buffered_len(), 0, "ends on a frame boundary");
    let rest = [t.feed(&tail), t.finish()].concat();
    assert!(rest.ends_with(b"data: [DONE]\n\n"));
    assert!(out_bytes > fed_frames_bytes / 4, "deltas were translated");

    eprintln!(
        "max_early={max_early} max_all={max_all} max_buffered={max_buffered} largest={largest}"
    );
    // The partial frame is never more than one frame.
    assert!(max_buffered < largest, "{max_buffered} >= {largest}");
    // Heap held by the translator after 100k frames is what it was after the first 1k,
    // and small in absolute terms (decoder buffer ≤ one frame, kept ≤ 64 KiB).
    assert!(
        max_all <= max_early,
        "grew: {max_all} B after {FRAMES} frames vs {max_early} B after 1000"
    );
    assert!(max_all < 64 * 1024, "{max_all} B held");
}
