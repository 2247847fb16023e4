"""Usage with the prompt cache, through real Envoy + the filter, with the official SDK: the
emulator's `[scenario:cache:<read>:<write>]` makes Bedrock report cache reads and writes (the
request-side `cache_control` translation is not there yet), and every place usage reaches
must count them: `usage` in unary chat, the stream's usage chunk, legacy completions, the
`x-token-usage-*` headers and trailers, `/v1/usage`, the metrics and the token limiter
(`token_weights`). That every usage adds up is checked on every answer by
openai_schema.check_usage; here the numbers themselves are stated."""

from __future__ import annotations

import hashlib

import httpx2
import pytest

from e2e_support import METRICS, NO_TRAILERS_IN_MODULE, SONNET, Api, demo_plugin_config, validate_exchange
from test_observability import MODEL_LABEL, prometheus, sample, wait_for
from test_trailers import raw_stream

KEY = "sk-cache-usage-tenant-key"
WEIGHED_KEY = "sk-cache-weighed-tenant-key"
# Bedrock's counts for PROMPT: 3 words in (the marker counts), 1322 read, 10 written;
# the echo "Echo: hello there" is 3 words out.
PROMPT = "[scenario:cache:1322:10] hello there"
USAGE = {
    "prompt_tokens": 1335,
    "completion_tokens": 3,
    "total_tokens": 1338,
    "prompt_tokens_details": {"cached_tokens": 1322, "cache_write_tokens": 10, "cache_creation_tokens": 10},
}
HEADERS = {
    "x-token-usage-input": "1335",
    "x-token-usage-output": "3",
    "x-token-usage-cache-read": "1322",
    "x-token-usage-cache-write": "10",
}


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def cached(start_gateway):
    config = demo_plugin_config()
    config["tenants"]["cachey"] = {"key_sha256": [digest(KEY)]}
    config["tenants"]["weighed"] = {
        "key_sha256": [digest(WEIGHED_KEY)],
        "limits": {"tokens_per_minute": 100000},
        "token_weights": {"cache_read": 0.1, "cache_write": 2},
    }
    return start_gateway("cached", plugin_config=config)


@pytest.fixture
def capi(cached, emulator):
    emulator.reset()
    api = Api(cached)
    yield api
    api.close()
    for exchange in api.exchanges:
        validate_exchange(exchange)


def messages(text: str = PROMPT) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_unary_chat_usage_counts_the_cache(capi):
    raw = capi.client.chat.completions.with_raw_response.create(model=SONNET, messages=messages())
    assert raw.http_response.json()["usage"] == USAGE
    usage = raw.parse().usage
    # The SDK's typed fields, and the peers' alias as an extra field.
    assert usage.prompt_tokens_details.cached_tokens == 1322
    assert usage.prompt_tokens_details.cache_write_tokens == 10
    assert usage.prompt_tokens_details.model_extra == {"cache_creation_tokens": 10}
    assert {k: raw.http_response.headers.get(k) for k in HEADERS} == HEADERS


@NO_TRAILERS_IN_MODULE
def test_stream_usage_chunk_and_trailers_count_the_cache(capi, cached):
    chunks = list(
        capi.client.chat.completions.create(
            model=SONNET, messages=messages(), stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage.model_dump(exclude_none=True) == USAGE
    _, trailers = raw_stream(cached.url, {"model": SONNET, "stream": True, "messages": messages()})
    assert {k: trailers.get(k) for k in HEADERS} == HEADERS


def test_legacy_completions_count_the_cache(capi):
    raw = capi.client.completions.with_raw_response.create(model=SONNET, prompt=PROMPT, max_tokens=50)
    assert raw.http_response.json()["usage"] == USAGE
    assert raw.http_response.headers["x-token-usage-cache-read"] == "1322"
    chunks = list(
        capi.client.completions.create(
            model=SONNET, prompt=PROMPT, max_tokens=50, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage.model_dump(exclude_none=True) == USAGE


def test_usage_report_and_metrics_count_reads_and_writes_apart(capi, cached):
    client = capi.openai(KEY)
    client.chat.completions.create(model=SONNET, messages=messages())
    list(client.chat.completions.create(model=SONNET, messages=messages("plain words"), stream=True))
    report = httpx2.get(f"{cached.url}/v1/usage", headers={"authorization": f"Bearer {KEY}"}, timeout=10).json()
    tenant = report["data"][0]
    assert tenant["tenant"] == "cachey"
    # 1335 + 2 ("plain words") prompt tokens; only the first request used the cache.
    assert (tenant["input_tokens"], tenant["cache_read_tokens"], tenant["cache_write_tokens"]) == (1337, 1322, 10)
    (model,) = tenant["models"]
    assert (model["requests"], model["cache_read_tokens"], model["cache_write_tokens"]) == (2, 1322, 10)
    labels = {"bedrock_tenant": "cachey", "bedrock_model": MODEL_LABEL}

    def ready():
        text = prometheus(cached)
        return text if sample(text, f"{METRICS}_requests", **labels) == 2 else None

    text = wait_for(ready)
    assert text, "no metrics for tenant cachey"
    assert sample(text, f"{METRICS}_input_tokens", **labels) == 1337
    assert sample(text, f"{METRICS}_cache_read_tokens", **labels) == 1322
    assert sample(text, f"{METRICS}_cache_write_tokens", **labels) == 10


def test_the_limiter_settles_what_bedrock_reported_with_the_tenants_weights(capi):
    client = capi.openai(WEIGHED_KEY)
    first = client.chat.completions.with_raw_response.create(model=SONNET, messages=messages())
    # Admitted on the estimate of its text (36 characters: 9 tokens).
    assert first.http_response.headers["x-ratelimit-remaining-tokens"] == str(100000 - 9)
    second = client.chat.completions.with_raw_response.create(model=SONNET, messages=messages("hi"))
    # The first settled at 3 in + 3 out + ceil(1322 * 0.1) + 10 * 2 = 159; "hi" estimates 1.
    assert second.http_response.headers["x-ratelimit-remaining-tokens"] == str(100000 - 159 - 1)

