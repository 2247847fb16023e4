#!/usr/bin/env python3
"""`make bench-ab`: CPU per request of two or more builds of the filter, side by side.

For profiling work on the filter, on a machine whose speed drifts by tens of percent from one
minute to the next: every build gets its own Envoy (bench/envoy-bench.yaml, one worker, its
own ports), all running at once in front of the same canned Bedrock, and short wrk bursts go
to each build in turn, ROUNDS times, so that drift falls on all of them alike. Each round also
measures the first Envoy's plain passthrough listener and its buffering no-op Wasm listener
(the floor of a body-rewriting filter), and each burst is reported as CPU µs
per request of that proxy process, and as a ratio to the passthrough burst of its round.
With AB_ENVOY_SIGNING=1 each build is also measured on its `signing: envoy` listener (Envoy's
aws_request_signing signs instead of the filter), as `<build> +envoy-signing`.
With --ttfb (`make bench-ttfb`) it measures instead what a streaming client feels: the time
from the request's last byte sent to the first byte of the answer's body (the first SSE
event; for the passthrough and the buffering no-op, the first event-stream byte), one
connection, one request at a time, AB_TTFB_SAMPLES requests per target per round, targets
interleaved; medians and p90 in ms, and each build's median over the buffering no-op's.
Not a test; prints only.

    python3 bench/ab.py [--ttfb] A.wasm B.wasm [...]   (a .so is the dynamic-module build, `make dynamic-module`)
    env: BENCH_SIZES_KB (1), AB_MODES (unary,stream), AB_ROUNDS (8), AB_SECONDS (2),
         AB_ENVOY_SIGNING (0), AB_TTFB_SAMPLES (200)
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import statistics
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: processes, bodies, wrk, CPU readings)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dynamic_module_config  # noqa: E402  (the Wasm filter → dynamic module rewrite)

ROUNDS = int(os.environ.get("AB_ROUNDS", "8"))
SECONDS = int(os.environ.get("AB_SECONDS", "2"))
MODES = os.environ.get("AB_MODES", "unary,stream").split(",")
SIZES = [(f"{k} KB", k * 1024) for k in map(int, os.environ.get("BENCH_SIZES_KB", "1").split(","))]
ENVOY_SIGNING = os.environ.get("AB_ENVOY_SIGNING", "0") == "1"
TTFB_SAMPLES = int(os.environ.get("AB_TTFB_SAMPLES", "200"))
# AB_NATIVE_FLOOR=1 (`make bench-dynamic-module`): also measure the buffering no-op built as an Envoy
# dynamic module (bench/noop-filter, --features dynamic-module), the floor of a native filter.
NATIVE_FLOOR = os.environ.get("AB_NATIVE_FLOOR", "0") == "1"
NATIVE_NOOP = run.ROOT / "bench" / "noop-filter" / "target" / "release" / "libnoop_filter.so"
NATIVE_FLOOR_PORT = 18006
# passthrough, filter, no-op, buffer, filter with `signing: envoy`, admin
PORTS = ("18000", "18001", "18003", "18004", "18005", "18900")


def add_native_floor(doc: dict) -> None:
    """Adds a listener on NATIVE_FLOOR_PORT: the buffer_wasm listener with the native build of
    the buffering no-op in place of the Wasm one."""
    listeners = doc["static_resources"]["listeners"]
    native = copy.deepcopy(next(x for x in listeners if x["name"] == "buffer_wasm"))
    native["name"] = "buffer_native"
    native["address"]["socket_address"]["port_value"] = NATIVE_FLOOR_PORT
    hcm = native["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["stat_prefix"] = "buffer_native"
    wasm = hcm["http_filters"][0]["typed_config"]["config"]
    hcm["http_filters"][0] = dynamic_module_config.dynamic_module_filter(
        wasm["configuration"], dynamic_module_config.module_name(NATIVE_NOOP))
    listeners.append(native)


def config_for(i: int, wasm: Path) -> Path:
    """bench/envoy-bench.yaml with `wasm` (or a dynamic-module .so) and its listener ports
    moved by 100 × i."""
    run.WASM = wasm
    run.write_proxy_config()
    cfg = (run.RUN / "envoy-bench.yaml").read_text()
    module, floor = wasm.suffix == ".so", NATIVE_FLOOR and i == 0
    if module or floor:
        doc = yaml.safe_load(cfg)
        if module:
            dynamic_module_config.use_dynamic_module(doc, dynamic_module_config.module_name(wasm))
        if floor:
            add_native_floor(doc)
        cfg = yaml.safe_dump(doc, sort_keys=False)
    for p in PORTS:
        cfg = cfg.replace(f"port_value: {p} ", f"port_value: {int(p) + 100 * i} ")
        cfg = cfg.replace(f"port_value: {p}\n", f"port_value: {int(p) + 100 * i}\n")
    out = run.RUN / f"envoy-ab-{i}.yaml"
    out.write_text(cfg)
    return out


def burst(pid: int, port: int, path: str, body: Path, auth: bool) -> float:
    c0 = run.cpu_seconds(pid)
    r = run.wrk(port, path, body, auth, run.CONNECTIONS, SECONDS)
    cpu_seconds = run.cpu_seconds(pid) - c0
    if r["errors"]:
        raise SystemExit(f"port {port}: {r['errors']} errors")
    return cpu_seconds / max(r["requests"], 1) * 1e6


def first_byte_ms(port: int, path: str, body: bytes, auth: bool) -> float:
    """One request on a fresh connection (connected before the clock starts): ms from its
    last byte sent to the first byte of the answer's body; the rest is read to the end."""
    head = (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n"
            + (f"authorization: Bearer {run.KEY}\r\n" if auth else "") + "\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        got = b""
        s.sendall(head + body)
        t0 = time.perf_counter_ns()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit(f"port {port}: no body in {got[:200]!r}")
            got += chunk
            end = got.find(b"\r\n\r\n")
            if end >= 0 and len(got) > end + 4:
                t1 = time.perf_counter_ns()
                break
        if not got.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"port {port}: {got[:200]!r}")
        while s.recv(65536):
            pass
    return (t1 - t0) / 1e6


def ttfb(proxies: list, targets: list) -> None:
    """Time to the first body byte of a 1 KB streaming request, per target (see --ttfb)."""
    body = run.chat_body(1024, True)
    up = run.MODEL_PATH + "/converse-stream"
    points = [("passthrough", 18000, up, False), ("buffering Wasm (floor)", 18004, up, False)]
    points += [(name, 18000 + port + 100 * i, "/v1/chat/completions", True)
               for name, i, port in targets]
    for _, port, path, auth in points:
        for _ in range(20):  # warm-up: connections, V8 tiers
            first_byte_ms(port, path, body, auth)
    ms: dict[str, list] = {}
    for rnd in range(ROUNDS):
        for name, port, path, auth in points:
            ms.setdefault(name, []).extend(first_byte_ms(port, path, body, auth)
                                           for _ in range(TTFB_SAMPLES))
        run.log(f"ttfb round {rnd}: " + ", ".join(
            f"{n} {statistics.median(v[-TTFB_SAMPLES:]):.3f} ms" for n, v in ms.items()))
    floor = statistics.median(ms["buffering Wasm (floor)"])
    print(f"\nfirst body byte, 1 KB stream, 1 connection, {ROUNDS} × {TTFB_SAMPLES} requests:")
    print(f"{'target':36s} {'median ms':>10s} {'p90 ms':>8s} {'+ over floor':>13s}")
    for name, v in ms.items():
        med, p90 = statistics.median(v), statistics.quantiles(v, n=10)[-1]
        print(f"{name:36s} {med:10.3f} {p90:8.3f} {med - floor:+13.3f}")


def main() -> None:
    args = sys.argv[1:]
    ttfb_mode = "--ttfb" in args
    wasms = [Path(a).resolve() for a in args if a != "--ttfb"]
    if not wasms:
        raise SystemExit(__doc__)
    names = [w.name if len({x.name for x in wasms}) == len(wasms) else str(w) for w in wasms]
    # (name, proxy index, listener port offset): each build in-filter, then with Envoy signing.
    targets = [(n, i, 1) for i, n in enumerate(names)]
    if ENVOY_SIGNING:
        targets += [(f"{n} +envoy-signing", i, 5) for i, n in enumerate(names)]
    run.RUN.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    cpu: dict[tuple, list] = {}
    ratio: dict[tuple, list] = {}
    try:
        canned = run.start("canned", [str(run.ENVOY), "-c", "bench/canned-upstream.yaml",
                                      "--concurrency", "1", "--log-level", "warn", "--base-id", "71"])
        run.wait_http("http://127.0.0.1:18901/ready", canned)
        proxies = []
        for i, wasm in enumerate(wasms):
            # A native build is found by name in ENVOY_DYNAMIC_MODULES_SEARCH_PATH.
            # (the native no-op through LD_LIBRARY_PATH, dlopen's fallback).
            env = dict(os.environ, ENVOY_DYNAMIC_MODULES_SEARCH_PATH=str(wasm.parent),
                       LD_LIBRARY_PATH=str(NATIVE_NOOP.parent))
            p = run.start(f"proxy-ab-{i}", [str(run.ENVOY), "-c", str(config_for(i, wasm)),
                                            "--concurrency", "1", "--log-level", "warn",
                                            "--base-id", str(80 + i)], env)
            run.wait_http(f"http://127.0.0.1:{18900 + 100 * i}/ready", p)
            proxies.append(p)
        if ttfb_mode:
            for _, i, port in targets:
                body = run.chat_body(1024, True)
                run.check("filter", True, *run.post(18000 + port + 100 * i, "/v1/chat/completions",
                                                    body, True))
            ttfb(proxies, targets)
            return
        for label, size in SIZES:
            for mode in MODES:
                stream = mode == "stream"
                body = run.RUN / f"body-{size}-{mode}.json"
                body.write_bytes(run.chat_body(size, stream))
                up = run.MODEL_PATH + ("/converse-stream" if stream else "/converse")
                for _, i, port in targets:
                    run.check("filter", stream, *run.post(18000 + port + 100 * i, "/v1/chat/completions",
                                                          body.read_bytes(), True))
                    run.wrk(18000 + port + 100 * i, "/v1/chat/completions", body, True, run.CONNECTIONS, 1)
                for rnd in range(ROUNDS):
                    base = burst(proxies[0].pid, 18000, up, body, False)
                    cpu.setdefault(("passthrough", label, mode), []).append(base)
                    floor = burst(proxies[0].pid, 18004, up, body, False)
                    cpu.setdefault(("buffering Wasm (floor)", label, mode), []).append(floor)
                    ratio.setdefault(("buffering Wasm (floor)", label, mode), []).append(floor / base)
                    if NATIVE_FLOOR:
                        nfloor = burst(proxies[0].pid, NATIVE_FLOOR_PORT, up, body, False)
                        cpu.setdefault(("buffering native (floor)", label, mode), []).append(nfloor)
                        ratio.setdefault(("buffering native (floor)", label, mode), []).append(nfloor / base)
                    for name, i, port in targets:
                        us = burst(proxies[i].pid, 18000 + port + 100 * i, "/v1/chat/completions", body, True)
                        cpu.setdefault((name, label, mode), []).append(us)
                        ratio.setdefault((name, label, mode), []).append(us / base)
                    run.log(f"round {rnd} {label} {mode}: passthrough {base:.0f} µs, floor {floor:.0f}, " + ", ".join(
                        f"{n} {cpu[(n, label, mode)][-1]:.0f}" for n, _, _ in targets))
    finally:
        run.stop_all()
    print(f"\nmedians of {ROUNDS} rounds of {SECONDS} s bursts, {run.CONNECTIONS} connections:")
    print(f"{'build':36s} {'body':>6s} {'mode':6s} {'CPU µs/req':>11s} {'× passthrough':>14s}")
    for (name, label, mode), xs in cpu.items():
        r = ratio.get((name, label, mode))
        print(f"{name:36s} {label:>6s} {mode:6s} {statistics.median(xs):11.1f} "
              f"{statistics.median(r) if r else 1:14.2f}")


if __name__ == "__main__":
    main()
