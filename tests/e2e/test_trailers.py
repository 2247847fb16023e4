"""Streams carry their token usage as HTTP trailers too (`x-token-usage-input` / `-output`),
for clients that ask with `TE: trailers`; Envoy's listener has `enable_trailers` on.

httpx and the OpenAI SDK drop trailers, so this reads the chunked HTTP/1.1 response off a
plain socket."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

from e2e_support import DEMO_API_KEY, NO_TRAILERS_IN_MODULE, SONNET, parse_sse


def raw_stream(base_url: str, body: dict) -> tuple[bytes, dict[str, str]]:
    """POSTs and returns (de-chunked body, trailers)."""
    url = urlsplit(base_url)
    payload = json.dumps(body).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {DEMO_API_KEY}\r\nContent-Type: application/json\r\n"
        f"TE: trailers\r\nConnection: close\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(request)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"transfer-encoding: chunked" in head.lower(), head
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        body, rest = body + rest[:size], rest[size + 2 :]
    trailers = {}
    for line in rest.split(b"\r\n"):
        if b":" in line:
            name, _, value = line.decode().partition(":")
            trailers[name.strip().lower()] = value.strip()
    return body, trailers


@NO_TRAILERS_IN_MODULE
def test_stream_usage_arrives_as_trailers(gateway, emulator):
    emulator.reset()
    body, trailers = raw_stream(
        gateway.url, {"model": SONNET, "stream": True, "messages": [{"role": "user", "content": "count these four words"}]}
    )
    events = parse_sse(body)
    assert events[-1] == "[DONE]"
    # The emulator counts words: 4 in, "Echo: count these four words" (5) out.
    assert trailers.get("x-token-usage-input") == "4", trailers
    assert trailers.get("x-token-usage-output") == "5", trailers
