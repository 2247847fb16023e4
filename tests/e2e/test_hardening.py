"""The listener's hardening, run. Slow clients (slowloris) are cut off by the listener's
`request_headers_timeout` and `request_timeout`, and the bound on receiving the request does not
cut a long answer; the access log does not take a client's X-ENVOY-ORIGINAL-PATH.

The shipped listener allows 10 s for the headers and 60 s for the whole request; this module's
Envoy is envoy/envoy.yaml with the two shortened to 1 s and 2 s (everything else as shipped), so
the suite stays fast. The clients are plain sockets: an HTTP library would not send half a
request."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
import yaml

from e2e_support import DEMO_API_KEY, SONNET, Api, parse_sse

HEADERS_TIMEOUT_S = 1.0
REQUEST_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def quick(start_gateway):
    return start_gateway(
        "slow-clients", request_headers_timeout=f"{HEADERS_TIMEOUT_S:g}s", request_timeout=f"{REQUEST_TIMEOUT_S:g}s"
    )


def connect(gateway) -> socket.socket:
    url = urlsplit(gateway.url)
    return socket.create_connection((url.hostname, url.port), timeout=10)


def read_until_closed(sock: socket.socket, deadline: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection (fails past `deadline`), and
    when its first byte came (Envoy then waits up to its delayed_close_timeout, 1 s, for the
    client to close first)."""
    raw, first = b"", 0.0
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"the connection was still open after the deadline; received {raw!r}")
        except ConnectionResetError:
            return raw, first
        if not chunk:
            return raw, first
        first = first or time.monotonic()
        raw += chunk


def status(raw: bytes) -> int:
    assert raw.startswith(b"HTTP/1.1 "), raw
    return int(raw.split(b" ", 2)[1])


def test_shipped_listener_bounds_slow_clients(gateway):
    """The suite's main Envoy runs envoy/envoy.yaml's values; this module only shortens them."""
    config = yaml.safe_load(gateway.config_path.read_text())
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    assert (hcm["request_headers_timeout"], hcm["request_timeout"]) == ("10s", "60s")


def test_headers_that_never_end_are_cut(quick):
    """A header block that is never finished, although a byte keeps arriving every 0.2 s (so no
    idle timer would ever fire): Envoy answers 408 and closes once request_headers_timeout has
    passed since the first byte."""
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO_API_KEY}\r\n"
        "Content-Type: application/json\r\nX-Slow: " + "a" * 200
    ).encode()
    with connect(quick) as sock:
        started = time.monotonic()
        sent, closed = 0, False
        while sent < len(head) and time.monotonic() - started < HEADERS_TIMEOUT_S + 3:
            try:
                sock.sendall(head[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sent += 1
            sock.settimeout(0.2)
            try:
                if sock.recv(65536, socket.MSG_PEEK):
                    break  # Envoy answered
            except TimeoutError:
                pass
        assert not closed, "closed without an answer"
        raw, answered = read_until_closed(sock, started + HEADERS_TIMEOUT_S + 3)
    assert sent < len(head), "the whole slow header block got through"
    assert status(raw) == 408, raw
    assert HEADERS_TIMEOUT_S * 0.9 <= answered - started < HEADERS_TIMEOUT_S + 1, answered - started


def test_body_that_never_ends_is_cut(quick, emulator):
    """Complete, authenticated headers promising a body that never fully arrives: the filter
    waits for the whole body, and Envoy ends the request with 408 once request_timeout has
    passed; nothing reaches Bedrock."""
    emulator.reset()
    body = json.dumps({"model": SONNET, "messages": [{"role": "user", "content": "never finished"}]}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO_API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body) + 100}\r\n\r\n"
    ).encode()
    with connect(quick) as sock:
        started = time.monotonic()
        sock.sendall(head + body)  # 100 bytes short
        raw, answered = read_until_closed(sock, started + REQUEST_TIMEOUT_S + 3)
    assert status(raw) == 408, raw
    assert REQUEST_TIMEOUT_S * 0.9 <= answered - started < REQUEST_TIMEOUT_S + 1, answered - started
    assert emulator.bedrock_requests() == []


def test_request_timeout_does_not_cut_a_long_answer(quick):
    """request_timeout bounds receiving the request only: Envoy disarms it once the request has
    gone upstream. A stream that takes about 3.5 s (longer than the 2 s bound) completes."""
    api = Api(quick)
    try:
        started = time.monotonic()
        stream = api.client.chat.completions.create(
            model=SONNET, messages=[{"role": "user", "content": "[scenario:slow:0.5] slow words"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert time.monotonic() - started > REQUEST_TIMEOUT_S
        assert text == "Echo: slow words"
        assert parse_sse(bytes(api.last().body))[-1] == "[DONE]"
    finally:
        api.close()


def test_access_log_ignores_a_forged_original_path(api, gateway):
    """The shipped access log records the path the filter received (filter state
    wasm.bedrock_path), not X-ENVOY-ORIGINAL-PATH, which any client can send."""
    response = api.post(
        "/chat/completions",
        {"model": SONNET, "messages": [{"role": "user", "content": "log my path"}]},
        headers={"x-envoy-original-path": "/evil/forged", "x-request-id": "forged-path-1"},
    )
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 8
    line = None
    while line is None and time.monotonic() < deadline:
        lines = gateway.access_log.read_text().splitlines() if gateway.access_log.exists() else []
        line = next((json.loads(x) for x in lines if '"forged-path-1"' in x), None)
        time.sleep(0.1)
    assert line, "no access log line for the request"
    assert "/evil/forged" not in json.dumps(line)
    assert line["path"] == "/v1/chat/completions", line
