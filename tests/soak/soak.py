#!/usr/bin/env python3
"""`make soak`: SOAK_REQUESTS (default 10 000) mixed requests through Envoy + the filter to the
Bedrock emulator, SOAK_CONCURRENCY (default 32) at a time, with the official OpenAI SDK
(AsyncOpenAI). Every request has an expected outcome; the run fails if any request ends
otherwise, if Envoy's counters disagree with what was sent (a request lost), if a stream or
upstream request is still active at the end (leaked), or if Envoy's heap keeps growing.

Mix (deterministic, by request number): unary; streaming with usage; tool calls, unary and
streamed (the emulator's `[scenario:tool]`); Bedrock errors (throttle → 429, ValidationException →
400); a wrong API key (401, nothing goes upstream); an exception in the middle of a stream
(APIError after two deltas); and client disconnects mid-stream (a slow stream closed after
two chunks). Loopback only; its own ports (Envoy 18100, admin 18990, emulator 18787).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import openai
from openai import AsyncOpenAI

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / ".run" / "soak"
VENV = ROOT / ".venv" / "bin"
PORT, ADMIN, EMU = 18100, 18990, 18787
KEY = "sk-local-demo"
N = int(os.environ.get("SOAK_REQUESTS", "10000"))
CONCURRENCY = int(os.environ.get("SOAK_CONCURRENCY", "32"))
# Heap growth allowed between the end of warm-up and the end of the run.
MAX_GROWTH = int(os.environ.get("SOAK_MAX_HEAP_GROWTH_MB", "16")) * 2**20

KINDS = [
    ("unary", 28),
    ("stream", 27),
    ("tool_call", 5),
    ("tool_stream", 5),
    ("throttle", 5),
    ("validation", 5),
    ("bad_key", 5),
    ("stream_error", 8),
    ("disconnect", 12),
]
PLAN = [k for k, w in KINDS for _ in range(w)]  # 100 slots

procs: list[subprocess.Popen] = []


def admin(path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{ADMIN}{path}", timeout=5) as r:
        return r.read().decode()


def stats() -> dict[str, int]:
    out = {}
    for line in admin("/stats?usedonly").splitlines():
        name, _, value = line.partition(": ")
        if value.strip().lstrip("-").isdigit():
            out[name] = int(value)
    return out


def heap() -> int:
    return int(json.loads(admin("/memory"))["allocated"])


def rss(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def start(name: str, argv: list[str], env: dict) -> subprocess.Popen:
    p = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=open(RUN / f"{name}.log", "wb"),
                         stderr=subprocess.STDOUT, start_new_session=True)
    procs.append(p)
    return p


def stop_all() -> None:
    for p in reversed(procs):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def wait_up(url: str, p: subprocess.Popen) -> None:
    for _ in range(200):
        if p.poll() is not None:
            raise SystemExit(f"{p.args} exited; see {RUN}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} never came up")


def words(text: str) -> str:
    return "Echo: " + " ".join(text.split())


async def one(client: AsyncOpenAI, bad: AsyncOpenAI, i: int, kind: str) -> str:
    """Runs request `i`; returns "" if it ended as expected, else what went wrong."""
    text = f"soak request {i} of the mixed run"
    msgs = [{"role": "user", "content": text}]
    want = words(text)
    if kind == "unary":
        r = await client.chat.completions.create(model="gpt-4o", messages=msgs)
        got = r.choices[0].message.content
        return "" if got == want and r.choices[0].finish_reason == "stop" else f"unary got {got!r}"
    tools = [{"type": "function", "function": {"name": "cosine", "parameters": {
        "type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}}}]
    tool_msgs = [{"role": "user", "content": text + " [scenario:tool]"}]
    if kind == "tool_call":
        r = await client.chat.completions.create(model="gpt-4o", messages=tool_msgs, tools=tools)
        c = r.choices[0]
        calls = c.message.tool_calls or []
        ok = (c.finish_reason == "tool_calls" and len(calls) == 1 and calls[0].function.name == "cosine"
              and "x" in json.loads(calls[0].function.arguments))
        return "" if ok else f"tool_call got {c}"
    if kind == "tool_stream":
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=tool_msgs, tools=tools, stream=True)
        name, args, finish = None, "", None
        async for ch in stream:
            if not ch.choices:
                continue
            for tc in ch.choices[0].delta.tool_calls or []:
                name = tc.function.name or name
                args += tc.function.arguments or ""
            finish = ch.choices[0].finish_reason or finish
        ok = finish == "tool_calls" and name == "cosine" and "x" in json.loads(args or "{}")
        return "" if ok else f"tool_stream got {name} {args!r} {finish}"
    if kind == "stream":
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=msgs, stream=True, stream_options={"include_usage": True})
        parts, finish, usage = [], None, None
        async for c in stream:
            if c.choices:
                parts.append(c.choices[0].delta.content or "")
                finish = c.choices[0].finish_reason or finish
            if c.usage:
                usage = c.usage
        got = "".join(parts)
        ok = got == want and finish == "stop" and usage and usage.completion_tokens == len(want.split())
        return "" if ok else f"stream got {got!r} {finish} {usage}"
    if kind in ("throttle", "validation", "bad_key"):
        marker = {"throttle": " [scenario:throttle]",
                  "validation": " [scenario:error:ValidationException]", "bad_key": ""}[kind]
        expected = {"throttle": openai.RateLimitError, "validation": openai.BadRequestError,
                    "bad_key": openai.AuthenticationError}[kind]
        c = bad if kind == "bad_key" else client
        try:
            await c.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": text + marker}])
        except expected:
            return ""
        except Exception as e:  # noqa: BLE001
            return f"{kind}: {type(e).__name__}: {e}"
        return f"{kind}: no error"
    if kind == "stream_error":
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": text + " [scenario:stream-error]"}],
            stream=True)
        n = 0
        try:
            async for _ in stream:
                n += 1
        except openai.APIError as e:
            return "" if "stream error" in str(e) else f"stream_error: {e}"
        return f"stream_error: ended normally after {n} chunks"
    if kind == "disconnect":
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": text + " [scenario:slow:0.02]"}],
            stream=True)
        n = 0
        async for _ in stream:
            n += 1
            if n == 2:
                break
        await stream.close()
        return "" if n == 2 else f"disconnect: only {n} chunks"
    return f"unknown kind {kind}"


async def run(first: int, count: int, outcomes: Counter, failures: list) -> None:
    client = AsyncOpenAI(base_url=f"http://127.0.0.1:{PORT}/v1", api_key=KEY, max_retries=0,
                         timeout=30)
    bad = AsyncOpenAI(base_url=f"http://127.0.0.1:{PORT}/v1", api_key="sk-wrong-key-000",
                      max_retries=0, timeout=30)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(first, first + count):
        queue.put_nowait(i)

    async def worker():
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            kind = PLAN[(i * 37) % len(PLAN)]
            try:
                err = await one(client, bad, i, kind)
            except Exception as e:  # noqa: BLE001
                err = f"{kind}: {type(e).__name__}: {e}"
            outcomes[(kind, "ok" if not err else "failed")] += 1
            if err:
                failures.append((i, err))

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    await client.close()
    await bad.close()


def main() -> int:
    RUN.mkdir(parents=True, exist_ok=True)
    cfg = (ROOT / "envoy" / "envoy.yaml").read_text()
    cfg = cfg.replace("port_value: 10000", f"port_value: {PORT}").replace(
        "port_value: 9901", f"port_value: {ADMIN}").replace("port_value: 8787", f"port_value: {EMU}")
    # The demo tenant's rate limits would turn a fast soak into 429s: lift them.
    cfg = re.sub(r'"limits": \{[^}]*\}', '"limits": {"requests_per_minute": 100000000, '
                 '"tokens_per_minute": 100000000000}', cfg)
    (RUN / "envoy.yaml").write_text(cfg)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEMOBEDROCKLOCAL0",
               AWS_SECRET_ACCESS_KEY="demo-secret-key-for-the-local-bedrock-emulator",
               AWS_REGION="us-east-1")
    env.pop("AWS_SESSION_TOKEN", None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        emu = start("emulator", [str(VENV / "python"), "tests/emulator/bedrock_emulator",
                                 "--port", str(EMU), "--quiet"], env)
        wait_up(f"http://127.0.0.1:{EMU}/_emulator/health", emu)
        envoy = start("envoy", [str(VENV / "envoy"), "-c", str(RUN / "envoy.yaml"),
                                "--log-level", "warn", "--base-id", "73"], env)
        wait_up(f"http://127.0.0.1:{ADMIN}/ready", envoy)

        outcomes: Counter = Counter()
        failures: list = []
        rss0, heap0 = rss(envoy.pid), heap()
        warm = min(1000, N // 10)
        t0 = time.time()
        asyncio.run(run(0, warm, outcomes, failures))
        time.sleep(1)
        s_warm, rss1, heap1 = stats(), rss(envoy.pid), heap()
        asyncio.run(run(warm, N - warm, outcomes, failures))
        elapsed = time.time() - t0
        time.sleep(2)  # let cancelled upstream requests and closed connections settle
        s_end, rss2, heap2 = stats(), rss(envoy.pid), heap()
    finally:
        stop_all()

    sent = N
    down_total = s_end.get("http.openai.downstream_rq_total", 0)
    down_active = s_end.get("http.openai.downstream_rq_active", 0)
    up_active = s_end.get("cluster.bedrock.upstream_rq_active", 0)
    up_total = s_end.get("cluster.bedrock.upstream_rq_total", 0)
    bad_keys = sum(v for (k, _), v in outcomes.items() if k == "bad_key")
    completed = sum(v for (_, r), v in outcomes.items() if r == "ok")
    failed = sum(v for (_, r), v in outcomes.items() if r == "failed")
    growth = heap2 - heap1

    print(f"\nsoak: {sent} requests, concurrency {CONCURRENCY}, {elapsed:.1f} s "
          f"({sent / elapsed:.0f} req/s)")
    for kind, _ in KINDS:
        print(f"  {kind:13s} ok {outcomes[(kind, 'ok')]:6d}   failed {outcomes[(kind, 'failed')]:4d}")
    print(f"  completed as expected: {completed}, failed: {failed}")
    print(f"  Envoy: downstream requests {down_total} (sent {sent}), upstream requests {up_total} "
          f"(expected {sent - bad_keys}), active at end: downstream {down_active}, upstream {up_active}")
    disconnects = outcomes[("disconnect", "ok")] + outcomes[("disconnect", "failed")]
    cut_down = s_end.get("http.openai.downstream_cx_destroy_remote_active_rq", 0)
    cut_up = s_end.get("cluster.bedrock.upstream_cx_destroy_local_with_active_rq", 0)
    print(f"  client disconnects: {disconnects} sent; Envoy saw {cut_down} client connections close "
          f"mid-request and cancelled {cut_up} upstream calls mid-answer (a client that stops "
          "reading at a mid-stream error event may close first, too)")
    print(f"  Envoy heap: start {heap0 / 2**20:.1f} MiB, after warm-up ({warm}) {heap1 / 2**20:.1f} MiB, "
          f"end {heap2 / 2**20:.1f} MiB (growth after warm-up {growth / 2**20:+.2f} MiB)")
    print(f"  Envoy RSS:  start {rss0 / 2**20:.1f} MiB, after warm-up {rss1 / 2**20:.1f} MiB, "
          f"end {rss2 / 2**20:.1f} MiB")
    if os.environ.get("SOAK_DUMP_STATS"):
        for k, v in sorted(s_end.items()):
            if ("reset" in k or "destroy" in k or "cancel" in k) and v:
                print(f"    {k}: {v}")
    problems = []
    if failed:
        problems.append(f"{failed} requests did not end as expected, e.g. {failures[:5]}")
    if completed + failed != sent:
        problems.append(f"{sent - completed - failed} requests have no outcome")
    if down_total != sent:
        problems.append(f"Envoy saw {down_total} requests, {sent} were sent")
    if up_total != sent - bad_keys:
        problems.append(f"{up_total} upstream requests, expected {sent - bad_keys}")
    if down_active or up_active:
        problems.append(f"requests still active at the end: {down_active} downstream, {up_active} upstream")
    if disconnects and not cut_up:
        problems.append("no upstream call was cancelled: the disconnects did not reach Envoy mid-answer")
    if growth > MAX_GROWTH:
        problems.append(f"Envoy heap grew {growth / 2**20:.1f} MiB after warm-up (limit {MAX_GROWTH / 2**20:.0f})")
    for p in problems:
        print(f"FAIL: {p}")
    print("soak: " + ("FAILED" if problems else "passed: nothing lost, nothing leaked"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
