"""Legacy `POST /v1/completions` through real Envoy + the filter to the Bedrock emulator, with
the official SDK: `text_completion` objects and SSE chunks, validated against OpenAI's
`CreateCompletionResponse` (chunks: with `finish_reason: null` until the end)."""

from __future__ import annotations

import json

import openai
import pytest

import openai_schema
from e2e_support import SONNET

PROMPT = "Say this is a test"


def test_plain_completion(api, emulator):
    raw = api.client.completions.with_raw_response.create(model="gpt-4o", prompt=PROMPT, max_tokens=50)
    body = openai_schema.validate_text_completion(raw.http_response.json())
    completion = raw.parse()
    assert body["object"] == "text_completion"
    assert body["id"].startswith("cmpl-")
    assert body["model"] == "gpt-4o"
    assert completion.choices[0].text == "Echo: Say this is a test"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].index == 0 and completion.choices[0].logprobs is None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (5, 6)
    assert raw.http_response.headers["x-bedrock-model"] == SONNET
    sent = emulator.last()["body"]
    assert sent["messages"] == [{"role": "user", "content": [{"text": PROMPT}]}]
    assert sent["inferenceConfig"] == {"maxTokens": 50}


def test_default_max_tokens_is_openais_16(api, emulator):
    prompt = " ".join(f"w{i}" for i in range(30))
    completion = api.client.completions.create(model="gpt-4o", prompt=prompt)
    assert emulator.last()["body"]["inferenceConfig"]["maxTokens"] == 16
    assert completion.choices[0].finish_reason == "length"
    assert len(completion.choices[0].text.split()) == 16


def test_echo_stop_and_prompt_list(api, emulator):
    completion = api.client.completions.create(
        model="gpt-4o", prompt=[PROMPT], echo=True, stop=["test"], max_tokens=20, temperature=1.5
    )
    assert completion.choices[0].text == PROMPT + "Echo: Say this is a "
    assert completion.choices[0].finish_reason == "stop"
    config = emulator.last()["body"]["inferenceConfig"]
    assert config["stopSequences"] == ["test"] and config["temperature"] == 1.0


def test_streaming_completion(api):
    chunks = list(
        api.client.completions.create(
            model="gpt-4o", prompt=PROMPT, max_tokens=50, stream=True, stream_options={"include_usage": True}
        )
    )
    exchange = api.last()
    assert exchange.status == 200 and exchange.content_type == "text/event-stream"
    events = exchange.sse_events()
    assert events[-1] == "[DONE]"
    payloads = [json.loads(e) for e in events[:-1]]
    for p in payloads:
        openai_schema.validate_text_completion_chunk(p)
        assert p["object"] == "text_completion" and p["id"].startswith("cmpl-")
        assert p["id"] == payloads[0]["id"]
    text_chunks = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].text for c in text_chunks) == "Echo: Say this is a test"
    assert [c.choices[0].finish_reason for c in text_chunks][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in text_chunks[:-1])
    usage = chunks[-1]
    assert usage.choices == [] and usage.usage.total_tokens == 11


def test_streaming_echo_and_mid_stream_error(api):
    chunks = list(api.client.completions.create(model="gpt-4o", prompt="Hi there", echo=True, stream=True))
    assert chunks[0].choices[0].text == "Hi there"
    assert "".join(c.choices[0].text for c in chunks) == "Hi thereEcho: Hi there"
    with pytest.raises(openai.APIError):
        list(api.client.completions.create(model="gpt-4o", prompt="boom [scenario:stream-error]", stream=True))


@pytest.mark.parametrize(
    "extra,param",
    [
        ({"suffix": "and then"}, "suffix"),
        ({"n": 2}, "n"),
        ({"best_of": 3}, "best_of"),
        ({"logprobs": 2}, "logprobs"),
        ({"prompt": ["one", "two"]}, "prompt"),
        ({"prompt": [1, 2, 3]}, "prompt"),
    ],
)
def test_unsupported_options_are_400s_naming_the_field(api, emulator, extra, param):
    kwargs = {"model": "gpt-4o", "prompt": PROMPT, **extra}
    with pytest.raises(openai.BadRequestError) as err:
        api.client.completions.create(**kwargs)
    assert err.value.response.json()["error"]["param"] == param
    assert emulator.bedrock_requests() == []


def test_bedrock_errors_on_completions(api):
    with pytest.raises(openai.RateLimitError):
        api.client.completions.create(model="gpt-4o", prompt="x [scenario:throttle]")
