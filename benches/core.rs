//! Criterion benches of the pure core (`cargo bench`, or `make bench-core`):
//!
//! - `request/*`: OpenAI body → signed Converse request (`pipeline::bedrock::chat`), and its pieces
//!   (parse, translate + serialize, SigV4), for request bodies of about 1 KB, 16 KB and 256 KB.
//! - `stream/*`: MB/s of Bedrock event-stream input through `StreamTranslator::feed`, for the
//!   text + tool-use fixture (`tests/fixtures/eventstream`, laid out like a recorded answer)
//!   repeated to ~200 KB (`capture-x50`), split into chunks of 64 B … 16 KiB (Envoy hands a
//!   filter whatever the socket read; one frame per read is typical for a live stream), plus
//!   a stream of re-encoded 1 KiB text deltas.
//!
//! Not a test: no assertion on time. Numbers go to `docs/benchmarks.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use bedrock_openai_filter::catalog::models::Provider;
use bedrock_openai_filter::openai::chat::ChatRequest;
use bedrock_openai_filter::pipeline::bedrock;
use bedrock_openai_filter::stream::StreamTranslator;
use bedrock_openai_filter::translate::request::{to_converse_request, Target};
use bedrock_openai_filter::upstream::sigv4::{self, Credentials, SignRequest};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

#[path = "../tests/support/mod.rs"]
mod support;

fn request(c: &mut Criterion) {
    let cfg = support::config();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut g = c.benchmark_group("request");
    for (label, size) in [("1KB", 1024), ("16KB", 16 * 1024), ("256KB", 256 * 1024)] {
        let body = support::chat_body(size, false);
        g.throughput(Throughput::Bytes(body.len() as u64));
        // Sanity: the body translates.
        bedrock::chat(&cfg, &body, now, None).unwrap();
        g.bench_with_input(BenchmarkId::new("chat", label), &body, |b, body| {
            b.iter(|| bedrock::chat(&cfg, black_box(body), now, None).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("parse", label), &body, |b, body| {
            b.iter(|| ChatRequest::parse(black_box(body)).unwrap())
        });
        let parsed = ChatRequest::parse(&body).unwrap();
        g.bench_with_input(
            BenchmarkId::new("translate+serialize", label),
            &parsed,
            |b, req| {
                let target = Target::new(
                    "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
                    Provider::Anthropic,
                );
                b.iter(|| {
                    serde_json::to_vec(&to_converse_request(black_box(req), target).unwrap().body)
                        .unwrap()
                })
            },
        );
        let (up, _) = bedrock::chat(&cfg, &body, now, None).unwrap();
        let creds = Credentials {
            access_key_id: "AKIDBENCH".into(),
            secret_access_key: "bench-secret".into(),
            session_token: None,
        };
        g.bench_with_input(BenchmarkId::new("sigv4", label), &up, |b, up| {
            b.iter(|| {
                sigv4::sign(
                    &creds,
                    &cfg.region,
                    "bedrock",
                    &SignRequest {
                        method: "POST",
                        host: &cfg.bedrock_host,
                        path: &up.path,
                        headers: &[("content-type", "application/json")],
                        body: black_box(&up.body),
                    },
                    now,
                )
                .unwrap()
            })
        });
    }
    g.finish();
}

/// One whole stream through a fresh translator, `chunk` bytes at a time; returns SSE bytes.
fn run_stream(input: &[u8], chunk: usize) -> usize {
    let mut t = StreamTranslator::new(support::opts(true));
    let mut n = 0;
    for c in input.chunks(chunk) {
        n += t.feed(c).len();
    }
    n += t.finish().len();
    n
}

fn stream(c: &mut Criterion) {
    let mut g = c.benchmark_group("stream");
    // ~190 B frames, as Bedrock sends text deltas.
    let capture_long = support::long_stream(50);
    let expect = run_stream(&capture_long, capture_long.len());
    g.throughput(Throughput::Bytes(capture_long.len() as u64));
    for chunk in [64usize, 190, 1024, 4096, 16 * 1024] {
        assert_eq!(run_stream(&capture_long, chunk), expect);
        g.bench_with_input(
            BenchmarkId::new("capture-x50", chunk),
            &capture_long,
            |b, input| b.iter(|| run_stream(black_box(input), chunk)),
        );
    }
    // Larger deltas: 200 frames of 1 KiB text each.
    let big = support::synthetic_stream(200, 1024);
    g.throughput(Throughput::Bytes(big.len() as u64));
    for chunk in [1024usize, 16 * 1024] {
        g.bench_with_input(BenchmarkId::new("1KiB-deltas", chunk), &big, |b, input| {
            b.iter(|| run_stream(black_box(input), chunk))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = request, stream
}
criterion_main!(benches);
