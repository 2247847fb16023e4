"""Tenants and rate limits through real Envoy (2 worker threads) + the filter: limits hold
across workers (shared data with compare-and-swap), the x-ratelimit-* headers and
Retry-After, token limits corrected by real usage, tenant isolation (model access, usage
visibility), and /v1/usage totals equal to what the emulator computed."""

from __future__ import annotations

import hashlib
import re
import threading
import time

import httpx2
import openai
import pytest

from e2e_support import HAIKU, SONNET, Api, demo_plugin_config, validate_exchange

KEYS = {
    "burst": "sk-burst-tenant-key",
    "hdr": "sk-headers-tenant-key",
    "tok": "sk-tokens-tenant-key",
    "iso": "sk-isolated-tenant-key",
    "acct": "sk-accounting-tenant-key",
    "big": "sk-big-limits-tenant-key",
    "ops": "sk-ops-admin-key-0001",
}
BURST_RPM = 7
BURST_REQUESTS = 24


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def user(text):
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def limited(start_gateway):
    config = demo_plugin_config()
    config.pop("api_keys", None)
    config["tenants"] = {
        "burst": {"key_sha256": [sha(KEYS["burst"])], "limits": {"requests_per_minute": BURST_RPM}},
        "hdr": {"key_sha256": [sha(KEYS["hdr"])], "limits": {"requests_per_minute": 3, "tokens_per_minute": 1000}},
        "tok": {"key_sha256": [sha(KEYS["tok"])], "limits": {"tokens_per_minute": 40}},
        "iso": {"key_sha256": [sha(KEYS["iso"])], "models": ["gpt-4o-mini"]},
        "acct": {"key_sha256": [sha(KEYS["acct"])]},
        "big": {"key_sha256": [sha(KEYS["big"])], "limits": {"requests_per_minute": 1000, "tokens_per_minute": 1000000}},
        "ops": {"key_sha256": [sha(KEYS["ops"])], "admin": True},
    }
    return start_gateway("limits", plugin_config=config)


@pytest.fixture
def lapi(limited, emulator):
    emulator.reset()
    api = Api(limited)
    yield api
    api.close()
    for exchange in api.exchanges:
        validate_exchange(exchange)


def chat(gateway, key, text="hi", model=SONNET, stream=False, timeout=30):
    body = {"model": model, "messages": user(text), "stream": stream}
    return httpx2.post(
        f"{gateway.base_url}/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {key}"},
        timeout=timeout,
    )


def worker_connections(gateway) -> dict[str, int]:
    stats = httpx2.get(f"{gateway.admin_url}/stats?filter=worker_.\\.downstream_cx_total", timeout=5).text
    found = {}
    for line in stats.splitlines():
        m = re.match(r"listener\.127\.0\.0\.1_\d+\.(worker_\d)\.downstream_cx_total: (\d+)", line)
        if m:
            found[m.group(1)] = int(m.group(2))
    return found


def test_request_limit_holds_across_workers(limited, emulator):
    """Many concurrent requests on separate connections, spread over both Envoy workers:
    exactly the limit gets through, every other one is a 429."""
    emulator.reset()
    before = worker_connections(limited)
    results: list[httpx2.Response] = []
    lock = threading.Lock()
    start = threading.Barrier(BURST_REQUESTS)

    def one(i):
        start.wait()
        r = chat(limited, KEYS["burst"], f"burst {i}")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(BURST_REQUESTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == BURST_RPM, statuses
    assert statuses.count(429) == BURST_REQUESTS - BURST_RPM, statuses
    assert len(emulator.bedrock_requests()) == BURST_RPM, "a refused request reached Bedrock"
    after = worker_connections(limited)
    used = [w for w in after if after[w] > before.get(w, 0)]
    assert len(used) == 2, f"the burst did not reach both workers: {before} → {after}"
    for r in results:
        assert r.headers["x-ratelimit-limit-requests"] == str(BURST_RPM)
        if r.status_code == 429:
            error = r.json()["error"]
            assert error["type"] == "rate_limit_error"
            assert error["code"] == "rate_limit_exceeded_requests"
            assert r.headers["x-ratelimit-remaining-requests"] == "0"
            assert 1 <= int(r.headers["retry-after"]) <= 60


RESET = re.compile(r"^(\d+m)?\d+(\.\d+)?s$|^\d+ms$")


def test_ratelimit_headers_on_success_stream_and_429(lapi, limited):
    client = lapi.openai(KEYS["hdr"])
    raw = client.chat.completions.with_raw_response.create(model=SONNET, messages=user("one two three four"))
    h = raw.headers
    assert h["x-ratelimit-limit-requests"] == "3"
    assert h["x-ratelimit-remaining-requests"] == "2"
    assert RESET.match(h["x-ratelimit-reset-requests"]), h["x-ratelimit-reset-requests"]
    assert h["x-ratelimit-limit-tokens"] == "1000"
    # the input estimate (a quarter of the 18 text characters, rounded up) is charged first
    assert h["x-ratelimit-remaining-tokens"] == str(1000 - 5)
    assert RESET.match(h["x-ratelimit-reset-tokens"])
    assert "retry-after" not in h
    with client.chat.completions.with_streaming_response.create(
        model=SONNET, messages=user("streamed"), stream=True
    ) as response:
        assert response.headers["x-ratelimit-remaining-requests"] == "1"
        assert response.headers["x-ratelimit-limit-tokens"] == "1000"
        list(response.iter_lines())
    client.chat.completions.create(model=SONNET, messages=user("third"))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=SONNET, messages=user("fourth"))
    r = info.value.response
    assert r.status_code == 429
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    assert r.headers["x-ratelimit-limit-tokens"] == "1000"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert info.value.body["code"] == "rate_limit_exceeded_requests"


def test_token_limit_uses_real_usage(lapi, emulator):
    """TPM 40; each call is estimated at 6 tokens (23 characters) and really costs 11
    (5 words in, "Echo:" + 5 words out): calls 1-4 fit (33 + 6 <= 40), the 5th does not."""
    client = lapi.openai(KEYS["tok"])
    remaining = []
    for _ in range(4):
        raw = client.chat.completions.with_raw_response.create(model=SONNET, messages=user("one two three four five"))
        completion = raw.parse()
        assert completion.usage.prompt_tokens + completion.usage.completion_tokens == 11
        remaining.append(int(raw.headers["x-ratelimit-remaining-tokens"]))
    assert remaining == [34, 23, 12, 1]
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=SONNET, messages=user("one two three four five"))
    assert info.value.body["code"] == "rate_limit_exceeded_tokens"
    assert "x-ratelimit-limit-requests" not in info.value.response.headers
    assert len(emulator.bedrock_requests()) == 4


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_bedrock_throttling_is_reported_like_a_local_limit(lapi, stream):
    client = lapi.openai(KEYS["big"])
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=SONNET, messages=user("[scenario:throttle] x"), stream=stream)
    r = info.value.response
    assert r.headers["retry-after"] == "1"
    assert r.headers["x-ratelimit-limit-requests"] == "1000"
    assert info.value.body["code"] == "ThrottlingException"


def test_tenant_may_only_use_its_models(lapi, emulator):
    client = lapi.openai(KEYS["iso"])
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=user("allowed"))
    assert completion.choices[0].message.content == "Echo: allowed"
    assert emulator.last()["model_id"] == HAIKU
    emulator.reset()
    # Other models, by alias or id, are refused; nothing reaches Bedrock.
    for model in ("gpt-4o", SONNET, SONNET.removeprefix("us.")):
        with pytest.raises(openai.PermissionDeniedError) as info:
            client.chat.completions.create(model=model, messages=user("not mine"))
        assert info.value.body["code"] == "model_not_allowed"
        assert info.value.body["param"] == "model"
    assert emulator.bedrock_requests() == []
    # Access is to the model, not to a spelling: the model behind the alias is allowed
    # under its own ids too (and shares the alias' limits and usage).
    for model in (HAIKU, HAIKU.removeprefix("us.")):
        assert client.chat.completions.create(model=model, messages=user("same model")).choices
    assert len(emulator.bedrock_requests()) == 2


def test_tenant_sees_only_its_models(lapi):
    isolated = lapi.openai(KEYS["iso"])
    assert [m.id for m in isolated.models.list()] == ["gpt-4o-mini", HAIKU.removeprefix("us.")]
    assert isolated.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError) as info:
        isolated.models.retrieve("gpt-4o")
    assert info.value.body["code"] == "model_not_found"
    everything = {m.id for m in lapi.openai(KEYS["ops"]).models.list()}  # admin
    assert {"gpt-4o", "gpt-4o-mini", SONNET.removeprefix("us.")} <= everything
    assert {m.id for m in lapi.openai(KEYS["acct"]).models.list()} == everything  # no model list


def usage_of(gateway, key, query=""):
    r = httpx2.get(f"{gateway.base_url}/usage{query}", headers={"authorization": f"Bearer {key}"}, timeout=5)
    return r


def test_usage_is_per_tenant_and_admin_sees_all(lapi, limited):
    chat(limited, KEYS["iso"], model="gpt-4o-mini")
    own = usage_of(limited, KEYS["iso"])
    assert own.status_code == 200
    body = own.json()
    assert body["object"] == "usage"
    assert [t["tenant"] for t in body["data"]] == ["iso"]
    assert usage_of(limited, KEYS["iso"], "?tenant=acct").status_code == 403
    assert usage_of(limited, KEYS["iso"], "?tenant=iso").json()["data"][0]["tenant"] == "iso"
    everyone = usage_of(limited, KEYS["ops"]).json()
    assert {t["tenant"] for t in everyone["data"]} == set(KEYS)
    assert usage_of(limited, KEYS["ops"], "?tenant=iso").json()["data"][0]["requests"] >= 1
    assert usage_of(limited, "sk-wrong-key-000").status_code == 401
    assert httpx2.post(f"{limited.base_url}/usage", headers={"authorization": f"Bearer {KEYS['ops']}"}).status_code == 405


def test_usage_totals_match_the_emulator(lapi, limited, emulator):
    client = lapi.openai(KEYS["acct"])
    # The emulator counts words: the prompt's in, "Echo: <prompt>" out (one more).
    texts = {"alpha beta": (2, 3), "gamma delta epsilon zeta": (4, 5), "eta": (1, 2)}
    expected = {"input": 7, "output": 10}
    for i, (text, tokens) in enumerate(texts.items()):
        if i == 1:
            chunks = list(
                client.chat.completions.create(
                    model=SONNET, messages=user(text), stream=True, stream_options={"include_usage": True}
                )
            )
            usage = chunks[-1].usage
        else:
            usage = client.chat.completions.create(model=SONNET, messages=user(text)).usage
        assert (usage.prompt_tokens, usage.completion_tokens) == tokens
    deadline = time.monotonic() + 5
    while True:
        data = usage_of(limited, KEYS["acct"]).json()["data"][0]
        if data["requests"] == len(texts) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert data["requests"] == len(texts)
    assert (data["input_tokens"], data["output_tokens"]) == (expected["input"], expected["output"])
    assert data["models"] == [
        {"model": SONNET.removeprefix("us."), "requests": 3, "errors": 0, "input_tokens": expected["input"],
         "output_tokens": expected["output"], "cache_read_tokens": 0, "cache_write_tokens": 0}
    ]
    assert data["window_end"] - data["window_start"] == 86400
