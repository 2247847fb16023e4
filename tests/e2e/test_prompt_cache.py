"""Prompt caching, request side, through real Envoy + the filter + the emulator (which refuses
cache points Bedrock would refuse): `cache_control` on content parts, messages and tools as
Anthropic-style clients and LiteLLM send it, OpenAI's `prompt_cache_*` parameters, cache points
the model cannot take reported in `x-bedrock-ignored-params`, and automatic cache points from
the plugin configuration for plain OpenAI clients."""

from __future__ import annotations

import hashlib

import openai
import pytest

from e2e_support import Api, demo_plugin_config, validate_exchange

SONNET_45 = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA_PRO = "amazon.nova-pro-v1:0"
# 1,800 bytes: over half of every caching model's minimum token count (up to 2,048).
LONG = "lorem " * 300
CC = {"type": "ephemeral"}
CP = {"cachePoint": {"type": "default"}}
CP_1H = {"cachePoint": {"type": "default", "ttl": "1h"}}
TENANT_KEY = "sk-no-auto-cache-tenant"


def cached_tool() -> dict:
    return {
        "type": "function",
        "function": {"name": "lookup", "description": LONG, "parameters": {"type": "object", "properties": {}}},
        "cache_control": CC,
    }


def test_cache_control_becomes_cache_points(api, emulator):
    messages = [
        {"role": "system", "content": [{"type": "text", "text": LONG, "cache_control": CC}]},
        {"role": "user", "content": [
            {"type": "text", "text": LONG, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"type": "text", "text": "What is in the document?"},
        ]},
    ]
    for stream in (False, True):
        raw = api.client.chat.completions.with_raw_response.create(
            model=SONNET_45, messages=messages, tools=[cached_tool()], stream=stream
        )
        # The system point has the default 5 minutes, so the later 1-hour one comes down to 5.
        assert raw.headers["x-bedrock-ignored-params"] == "cache_control.ttl"
        body = emulator.last()["body"]
        assert body["toolConfig"]["tools"][1] == CP
        assert body["system"] == [{"text": LONG}, CP]
        assert body["messages"][0]["content"] == [{"text": LONG}, CP, {"text": "What is in the document?"}]


def test_a_1h_ttl_and_retention_24h_where_the_model_takes_them(api, emulator):
    raw = api.client.chat.completions.with_raw_response.create(
        model=SONNET_45,
        messages=[
            {"role": "system", "content": LONG, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"role": "user", "content": [{"type": "text", "text": LONG, "cache_control": CC}, {"type": "text", "text": "q"}]},
        ],
        extra_body={"prompt_cache_retention": "24h", "prompt_cache_key": "conversation-7"},
    )
    assert raw.headers["x-bedrock-ignored-params"] == "prompt_cache_key"
    body = emulator.last()["body"]
    assert body["system"] == [{"text": LONG}, CP_1H]
    assert body["messages"][0]["content"][1] == CP_1H


def test_cache_points_a_model_cannot_take_are_dropped_and_reported(api, emulator):
    # gpt-4o is Claude 3.5 Sonnet v2 (no prompt caching for new accounts): no cache point at all.
    raw = api.client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": [{"type": "text", "text": LONG, "cache_control": CC}]}],
    )
    assert raw.headers["x-bedrock-ignored-params"] == "cache_control"
    assert emulator.last()["body"]["messages"][0]["content"] == [{"text": LONG}]
    # Nova caches the system prompt but not tools.
    raw = api.client.chat.completions.with_raw_response.create(
        model=NOVA_PRO,
        messages=[{"role": "system", "content": LONG, "cache_control": CC}, {"role": "user", "content": "q"}],
        tools=[cached_tool()],
    )
    assert raw.headers["x-bedrock-ignored-params"] == "cache_control"
    body = emulator.last()["body"]
    assert body["system"] == [{"text": LONG}, CP]
    assert all("cachePoint" not in t for t in body["toolConfig"]["tools"])
    # A prefix far below the minimum, and a fifth point: dropped, the request still answered.
    part = [{"type": "text", "text": LONG, "cache_control": CC}]
    raw = api.client.chat.completions.with_raw_response.create(
        model=SONNET_45,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": CC}]},
            {"role": "assistant", "content": part},
            {"role": "user", "content": part},
            {"role": "assistant", "content": part},
            {"role": "user", "content": part},
            {"role": "assistant", "content": part},
            {"role": "user", "content": "q"},
        ],
    )
    assert raw.headers["x-bedrock-ignored-params"] == "cache_control"
    points = [m for m in emulator.last()["body"]["messages"] if CP in m["content"]]
    assert len(points) == 4


def test_bad_cache_control_is_a_400_naming_it(api, emulator):
    with pytest.raises(openai.BadRequestError) as info:
        api.client.chat.completions.create(
            model=SONNET_45,
            messages=[{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "forever"}}]}],
        )
    assert info.value.body["param"] == "messages[0].content[0].cache_control.type"
    assert emulator.bedrock_requests() == []


@pytest.fixture(scope="module")
def auto_cache(start_gateway):
    config = demo_plugin_config()
    config["model_aliases"]["cached"] = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    config["prompt_caching"] = {"positions": ["tools", "system", "history"]}
    config["tenants"]["plain"] = {
        "key_sha256": [hashlib.sha256(TENANT_KEY.encode()).hexdigest()],
        "model_prompt_caching": {"cached": {"positions": []}},
    }
    return start_gateway("prompt-cache", plugin_config=config)


@pytest.fixture
def auto_api(auto_cache, emulator):
    emulator.reset()
    api = Api(auto_cache)
    yield api
    api.close()
    for exchange in api.exchanges:
        validate_exchange(exchange)


def test_automatic_cache_points_for_plain_openai_clients(auto_api, emulator):
    messages = [
        {"role": "system", "content": LONG},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    tools = [{"type": "function", "function": {"name": "lookup", "description": LONG}}]
    raw = auto_api.client.chat.completions.with_raw_response.create(model="cached", messages=messages, tools=tools)
    assert "x-bedrock-ignored-params" not in raw.headers
    body = emulator.last()["body"]
    assert body["toolConfig"]["tools"][1] == CP
    assert body["system"] == [{"text": LONG}, CP]
    assert body["messages"][1]["content"] == [{"text": "first answer"}, CP]
    assert body["messages"][2]["content"] == [{"text": "second question"}]
    # The request may turn them off; so may the tenant's configuration for a model.
    auto_api.client.chat.completions.create(
        model="cached", messages=messages, extra_body={"prompt_cache_options": {"mode": "explicit"}}
    )
    assert emulator.last()["body"]["system"] == [{"text": LONG}]
    auto_api.openai(TENANT_KEY).chat.completions.create(model="cached", messages=messages)
    assert emulator.last()["body"]["system"] == [{"text": LONG}]
    # Models without prompt caching get none, silently.
    raw = auto_api.client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages)
    assert "x-bedrock-ignored-params" not in raw.headers
    assert emulator.last()["body"]["system"] == [{"text": LONG}]


@pytest.mark.parametrize("stream", [False, True])
def test_a_repeated_prefix_is_written_then_read_from_the_cache(api, stream):
    """The request side and the usage side together: the client's cache point reaches Bedrock
    (the emulator caches the prefix up to it), the first answer reports the prefix as written,
    the same request again as read, and both times usage adds up."""
    system = f"{LONG} {hashlib.sha256(str(stream).encode()).hexdigest()}"  # fresh prefix per case
    messages = [
        {"role": "system", "content": [{"type": "text", "text": system, "cache_control": CC}]},
        {"role": "user", "content": "What is in the document?"},
    ]

    def usage() -> dict:
        if not stream:
            resp = api.client.chat.completions.create(model=SONNET_45, messages=messages)
            return resp.usage.model_dump()
        chunks = api.client.chat.completions.create(
            model=SONNET_45, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        return [c for c in chunks if c.usage is not None][-1].usage.model_dump()

    first, second = usage(), usage()
    written = first["prompt_tokens_details"]["cache_write_tokens"]
    assert written == len(system.split())  # the emulator counts words
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert second["prompt_tokens_details"]["cached_tokens"] == written
    assert not second["prompt_tokens_details"].get("cache_write_tokens")
    assert first["prompt_tokens"] == second["prompt_tokens"]
    for u in (first, second):
        assert u["prompt_tokens"] + u["completion_tokens"] == u["total_tokens"]
