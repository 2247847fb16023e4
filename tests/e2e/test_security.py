"""The security report's attacks, replayed through real Envoy + the filter as a caller with a
valid key would: response splitting through model names, allow-list and rate-limit bypass
through other spellings of a model, unbounded growth through long or ever new model names,
client headers reaching Bedrock, a spoofed access-log path, and metadata a tenant should not
see. Each test asserts what the wire shows: statuses, headers, what the emulator received,
Envoy's stats and access log."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import time

import httpx2
import pytest

from e2e_support import demo_plugin_config

SONNET = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
NOVA_LITE = "us.amazon.nova-lite-v1:0"
KEYS = {"mini": "sk-mini-tenant-key-01", "ops": "sk-ops-tenant-key-001", "nobm": "sk-no-bedrock-model-1"}


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def secured(start_gateway):
    config = demo_plugin_config()
    config.pop("api_keys", None)
    config["model_aliases"] = {**config.get("model_aliases", {}), "gpt-4o-mini": NOVA_LITE, "gpt-4o": SONNET}
    config["azure_deployments"] = {"mini": "gpt-4o-mini"}
    config["max_usage_models_per_tenant"] = 3
    config["tenants"] = {
        "mini": {"key_sha256": [sha(KEYS["mini"])], "models": ["gpt-4o-mini"], "limits": {"requests_per_minute": 3}},
        "ops": {"key_sha256": [sha(KEYS["ops"])], "admin": True},
        "nobm": {"key_sha256": [sha(KEYS["nobm"])], "allow_bedrock_model": False},
    }
    return start_gateway("security", plugin_config=config)


def post(gw, key, body, path="/v1/chat/completions", headers=None, content=None):
    h = {"authorization": f"Bearer {key}", **(headers or {})}
    url = gw.url + path
    if content is not None:
        return httpx2.post(url, content=content, headers={"content-type": "application/json", **h}, timeout=30)
    return httpx2.post(url, json=body, headers=h, timeout=30)


def chat_body(model, **extra):
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


def raw_exchange(gw, request: bytes, wait: float = 5.0) -> bytes:
    """One raw HTTP/1.1 request; everything the server sends until it closes or goes quiet."""
    host, port = gw.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        s.sendall(request)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except TimeoutError:
            pass
    return data


def test_model_names_cannot_split_the_response(secured, emulator):
    emulator.reset()
    smuggled = "gpt-4o\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nx-smuggled: 1\r\n\r\n"
    for body, param in [
        (chat_body("gpt-4o", bedrock_model=smuggled), "bedrock_model"),
        (chat_body("gpt-4o\r\nx-injected: 1"), "model"),
        (chat_body("gpt-4o\u0000"), "model"),
    ]:
        payload = json.dumps(body).encode()
        raw = raw_exchange(
            secured,
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + f"Authorization: Bearer {KEYS['ops']}\r\nContent-Type: application/json\r\n".encode()
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload,
        )
        head, _, rest = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), raw[:300]
        assert raw.count(b"HTTP/1.1 ") == 1, raw
        assert b"x-injected" not in head.lower() and b"x-smuggled" not in raw.lower()
        assert json.loads(rest)["error"]["param"] == param
    assert emulator.bedrock_requests() == []


def test_a_tenant_gets_only_its_model_whatever_it_is_called(secured, emulator):
    emulator.reset()
    r = post(secured, KEYS["mini"], chat_body("gpt-4o-mini", bedrock_model=SONNET))
    assert r.status_code == 403 and r.json()["error"]["code"] == "model_not_allowed", r.text
    r = post(
        secured,
        KEYS["mini"],
        chat_body("gpt-4o-mini", bedrock_model=SONNET),
        path="/openai/deployments/mini/chat/completions?api-version=2024-10-21",
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "bedrock_model", r.text
    assert emulator.bedrock_requests() == []
    r = post(secured, KEYS["mini"], chat_body("x"), path="/openai/deployments/mini/chat/completions?api-version=2024-10-21")
    assert r.status_code == 200, r.text
    assert emulator.last()["path"].startswith("/model/us.amazon.nova-lite-v1%3A0/")
    # bedrock_model is a tenant setting: refused for `nobm` even for a model it may call.
    r = post(secured, KEYS["nobm"], chat_body("m", bedrock_model=NOVA_LITE))
    assert r.status_code == 403 and r.json()["error"]["param"] == "bedrock_model", r.text
    assert post(secured, KEYS["nobm"], chat_body(NOVA_LITE)).status_code == 200


def test_the_limit_holds_for_every_spelling_of_the_model(secured, emulator):
    emulator.reset()
    spellings = [
        "gpt-4o-mini",
        "amazon.nova-lite-v1:0",
        NOVA_LITE,
        "eu.amazon.nova-lite-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0",
    ]
    # The Azure test above may have used one request of this minute's 3.
    statuses = [post(secured, KEYS["mini"], chat_body(m)).status_code for m in spellings]
    assert statuses.count(429) >= 3, statuses
    assert set(statuses) <= {200, 429}, statuses
    first_refused = statuses.index(429)
    assert all(s == 429 for s in statuses[first_refused:]), statuses
    assert len(emulator.bedrock_requests()) == statuses.count(200)


def test_long_or_ever_new_model_names_do_not_grow_state(secured, emulator):
    emulator.reset()
    usage_before = httpx2.get(f"{secured.url}/v1/usage", headers={"authorization": f"Bearer {KEYS['ops']}"}).content
    long = "m" * 100_000
    for body in [chat_body(long), chat_body("gpt-4o", bedrock_model=long)]:
        r = post(secured, KEYS["ops"], body)
        assert r.status_code == 400, r.status_code
        assert len(r.content) < 1000 and all(len(v) < 200 for v in r.headers.values())
    # Valid but unknown ids reach Bedrock (which refuses them) and are counted, but under
    # at most 3 names per tenant plus `other`, and never as metric names.
    for i in range(6):
        post(secured, KEYS["ops"], chat_body(f"acme.made-up-model-{i}"))
    usage = httpx2.get(f"{secured.url}/v1/usage?tenant=ops", headers={"authorization": f"Bearer {KEYS['ops']}"}).json()
    models = [m["model"] for m in usage["data"][0]["models"]]
    assert len(models) <= 4 and "other" in models, models
    assert sum(m["requests"] for m in usage["data"][0]["models"]) >= 6
    assert len(json.dumps(usage)) < len(usage_before) + 2000
    stats = httpx2.get(f"{secured.admin_url}/stats?filter=bedrock_openai", timeout=5).text
    assert "made-up-model" not in stats and "m" * 300 not in stats
    # `…model.other.requests` (Wasm) or `…requests.bedrock_tenant.ops.bedrock_model.other` (the
    # dynamic module's labels, the last one ending the name).
    assert re.search(r"model\.other[.:]", stats), stats


def test_only_allowed_headers_reach_bedrock(secured, emulator):
    emulator.reset()
    r = post(secured, KEYS["ops"], None, content=b"\x1f\x8b", headers={"content-encoding": "gzip"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type", r.text
    r = post(
        secured,
        KEYS["ops"],
        chat_body("gpt-4o"),
        headers={
            "x-amzn-trace-id": "Root=1-forged",
            "x-forwarded-host": "evil.example",
            "x-envoy-original-path": "/evil",
            "x-custom-secret": "leak",
            "x-bedrock-tenant": "forged",
            "cookie": "session=1",
            "user-agent": "probe/1.0",
        },
    )
    assert r.status_code == 200, r.text
    sent = {k.lower() for k in emulator.last()["headers"]}
    allowed = {"host", "content-type", "content-length", "accept", "x-request-id", "authorization", "x-amz-date",
               "x-amz-security-token", "x-amz-content-sha256", "x-envoy-expected-rq-timeout-ms",
               "x-forwarded-proto"}
    assert sent <= allowed, sent - allowed
    assert not any(k.startswith("x-bedrock-") for k in sent)


def test_the_access_log_shows_the_path_served_not_a_client_header(secured, emulator):
    emulator.reset()
    rid = f"sec-log-{time.time_ns()}"
    r = post(secured, KEYS["ops"], chat_body("gpt-4o"), headers={"x-envoy-original-path": "/evil", "x-request-id": rid})
    assert r.status_code == 200
    for _ in range(50):
        lines = [json.loads(line) for line in secured.access_log.read_text().splitlines() if rid in line]
        if lines:
            break
        time.sleep(0.1)
    assert lines and lines[0]["path"] == "/v1/chat/completions", lines


def test_metadata_shows_a_tenant_only_what_it_may_use(secured):
    def get(path, key):
        r = httpx2.get(secured.url + path, headers={"authorization": f"Bearer {key}"}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    mine = get("/v1/mappings", KEYS["mini"])
    assert mine and all("nova-lite" in m["bedrock_model_id"] for m in mine), mine
    assert len(get("/v1/mappings", KEYS["ops"])) > len(mine)
    providers = get("/v1/providers", KEYS["mini"])
    assert [p["id"] for p in providers] == ["amazon"], providers
    assert providers[0]["models"] == ["amazon.nova-lite-v1:0"]


def test_bad_query_values_and_request_ids_are_refused_or_replaced(secured):
    r = httpx2.get(f"{secured.url}/v1/usage?tenant=a%0d%0ab", headers={"authorization": f"Bearer {KEYS['ops']}"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "tenant"
    r = post(secured, KEYS["ops"], chat_body("gpt-4o"), headers={"x-request-id": "has spaces;and=odd"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] != "has spaces;and=odd"
