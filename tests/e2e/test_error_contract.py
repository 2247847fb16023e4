"""The error contract through real Envoy + the filter, path by path: upstream connect
failure (503), upstream timeout (504), a connection reset before and during a stream, 413
(declared and streamed bodies), 415, 405, 404, and long requests: a slow stream survives the
shipped 15-minute timeouts, and one cut by a short stream-idle timeout ends promptly instead
of hanging. (Bedrock 5xx, corrupt and truncated frames: test_errors.py.)"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx2
import openai
import pytest
import yaml

import openai_schema
from e2e_support import REPO, SONNET, Api, Emulator, demo_plugin_config, free_port, parse_sse, validate_exchange

DEMO_KEY = "sk-local-demo"
SMALL_BODY_LIMIT = 4096


def user(text):
    return [{"role": "user", "content": text}]


def error_of(response) -> dict:
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    openai_schema.validate_error(body)
    return body["error"]


@pytest.fixture(scope="module")
def contract(start_gateway):
    """Short timeouts and a small body limit, to reach each path quickly."""
    config = demo_plugin_config()
    config["max_request_body_bytes"] = SMALL_BODY_LIMIT
    return start_gateway("contract", plugin_config=config, route_timeout="1.5s", stream_idle_timeout="1s")


@pytest.fixture(scope="module")
def closed_port(start_gateway):
    """A gateway whose Bedrock cluster points at a port nobody listens on."""
    dead = Emulator(url=f"http://127.0.0.1:{free_port()}", proc=None, log=Path("/dev/null"))
    return start_gateway("closed-port", upstream=dead)


@pytest.fixture
def capi(contract, emulator):
    emulator.reset()
    api = Api(contract)
    yield api
    api.close()
    for exchange in api.exchanges:
        validate_exchange(exchange)


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_upstream_connect_failure_is_503(closed_port, stream):
    api = Api(closed_port)
    try:
        started = time.monotonic()
        with pytest.raises(openai.InternalServerError) as info:
            api.client.chat.completions.create(model=SONNET, messages=user("anyone?"), stream=stream)
        assert time.monotonic() - started < 10
        assert info.value.status_code == 503
        error = error_of(info.value.response)
        assert error["type"] == "service_unavailable_error"
        assert "connect" in error["message"].lower()
        assert info.value.response.headers["x-request-id"]
    finally:
        api.close()


def test_upstream_timeout_is_504(capi):
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as info:
        capi.client.chat.completions.create(model=SONNET, messages=user("[scenario:slow:3] late"))
    assert time.monotonic() - started < 3
    assert info.value.status_code == 504
    error = error_of(info.value.response)
    assert error["type"] == "timeout_error"
    assert "timeout" in error["message"]


def test_connection_reset_before_the_answer_is_503(api, emulator):
    with pytest.raises(openai.InternalServerError) as info:
        api.client.chat.completions.create(model=SONNET, messages=user("[scenario:reset] x"))
    assert info.value.status_code == 503
    assert error_of(info.value.response)["type"] == "service_unavailable_error"
    assert emulator.last()["error"] == "reset"


def test_connection_reset_mid_stream_ends_the_stream(api, emulator):
    """Envoy resets the client's stream when Bedrock's connection is reset after the response
    head: the filter gets no further body callback, so no SSE error event can be added. The
    client gets the deltas sent so far, then a broken connection (an exception, no [DONE]),
    promptly; never a hang."""
    started = time.monotonic()
    received = bytearray()
    with pytest.raises(Exception) as info:  # httpx's RemoteProtocolError or the SDK's APIError
        with api.http.stream(
            "POST",
            f"{api.gateway.base_url}/chat/completions",
            json={"model": SONNET, "messages": user("[scenario:reset] one two three"), "stream": True},
            headers={"authorization": f"Bearer {DEMO_KEY}"},
        ) as response:
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                received.extend(chunk)
    assert time.monotonic() - started < 10
    assert "closed" in str(info.value).lower() or "incomplete" in str(info.value).lower(), repr(info.value)
    events = parse_sse(bytes(received))
    assert "[DONE]" not in events
    content = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in map(json.loads, events) if c.get("choices")
    )
    assert content == "Echo: one "
    assert emulator.last()["error"] == "reset"
    api.exchanges.clear()  # the body is cut on purpose; nothing to schema-check


def test_body_over_the_limit_is_413(capi, emulator):
    big = {"model": SONNET, "messages": user("x" * SMALL_BODY_LIMIT)}
    response = capi.post("/chat/completions", big)
    assert response.status_code == 413
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "request_too_large")

    def chunks():  # no content-length: caught while buffering
        data = json.dumps(big).encode()
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    response = capi.http.post(
        f"{capi.gateway.base_url}/chat/completions",
        content=chunks(),
        headers={"authorization": f"Bearer {DEMO_KEY}", "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"
    assert emulator.bedrock_requests() == []


def test_body_over_envoys_buffer_is_413_json(api, emulator):
    """Over the default 1 MiB: answered 413 in OpenAI's shape, whether the filter or Envoy's
    own buffer limit catches it first."""
    body = json.dumps({"model": SONNET, "messages": user("y" * (1536 * 1024))}).encode()

    def chunks():
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    response = api.http.post(
        f"{api.gateway.base_url}/chat/completions",
        content=chunks(),
        headers={"authorization": f"Bearer {DEMO_KEY}", "content-type": "application/json"},
    )
    assert response.status_code == 413
    error_of(response)
    assert emulator.bedrock_requests() == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_non_json_content_type_is_415(capi, emulator, content_type):
    response = capi.post("/chat/completions", {"model": SONNET, "messages": user("hi")}, headers={"content-type": content_type})
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    assert emulator.bedrock_requests() == []


@pytest.mark.parametrize(
    "method,path,status",
    [
        ("GET", "/chat/completions", 405),
        ("PUT", "/chat/completions", 405),
        ("DELETE", "/usage", 405),
        ("GET", "/nope", 404),
        ("POST", "/completions/legacy", 404),
    ],
)
def test_method_and_path_errors(capi, emulator, method, path, status):
    response = capi.http.request(
        method, f"{capi.gateway.base_url}{path}", headers={"authorization": f"Bearer {DEMO_KEY}"}
    )
    assert response.status_code == status
    error_of(response)
    assert emulator.bedrock_requests() == []


def test_shipped_configs_allow_fifteen_minutes():
    for name in ("envoy.yaml", "envoy-aws.yaml", "envoy-global-ratelimit.yaml", "envoy-fleet.yaml"):
        config = yaml.safe_load((REPO / "envoy" / name).read_text())
        for listener in config["static_resources"]["listeners"]:
            for chain in listener["filter_chains"]:
                hcm = chain["filters"][0]["typed_config"]
                assert hcm["stream_idle_timeout"] == "900s", name
                for vhost in hcm["route_config"]["virtual_hosts"]:
                    for route in vhost["routes"]:
                        assert route["route"]["timeout"] == "900s", name
                        assert route["route"]["idle_timeout"] == "900s", name


def test_slow_stream_survives(api):
    """Half a second between frames, 7 frames: well past what a default idle timer of a
    proxy in a hurry would allow, and the stream completes."""
    started = time.monotonic()
    stream = api.client.chat.completions.create(
        model=SONNET, messages=user("[scenario:slow:0.5] slow words"), stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Echo: slow words"
    assert time.monotonic() - started >= 3
    assert parse_sse(bytes(api.last().body))[-1] == "[DONE]"


def test_stream_cut_by_idle_timeout_ends_promptly(capi):
    """With a 1 s stream-idle timeout and 2 s between frames, Envoy ends the stream: the
    client sees it end within seconds, not a hang."""
    started = time.monotonic()
    with pytest.raises(Exception):
        with capi.http.stream(
            "POST",
            f"{capi.gateway.base_url}/chat/completions",
            json={"model": SONNET, "messages": user("[scenario:slow:2] idle"), "stream": True},
            headers={"authorization": f"Bearer {DEMO_KEY}"},
        ) as response:
            body = b"".join(response.iter_bytes())
            # Envoy may also answer 504/408 before any byte; that is an error too
            if response.status_code != 200:
                error_of(httpx2.Response(response.status_code, headers=response.headers, content=body))
                raise RuntimeError(f"answered {response.status_code}")
    assert time.monotonic() - started < 6
    capi.exchanges.clear()
