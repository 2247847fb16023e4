"""Chat completions through real Envoy + the filter to the Bedrock emulator, driven by the
official `openai` SDK. Every response and chunk is also validated against OpenAI's OpenAPI
document by the `api` fixture (see conftest.validate_exchange)."""

from __future__ import annotations

import json
import time

import pytest

import openai_schema
from e2e_support import DEMO_ACCESS_KEY_ID, DEMO_API_KEY, HAIKU, REGION, SONNET

SONNET_PATH = "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0"
HAIKU_PATH = "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0"


def user(text):
    return [{"role": "user", "content": text}]


def create_raw(api, **kwargs):
    """Non-streaming create; returns (parsed SDK object, raw JSON body)."""
    raw = api.client.chat.completions.with_raw_response.create(**kwargs)
    completion = raw.parse()
    body = json.loads(raw.http_response.text)
    openai_schema.validate_completion(body)
    return completion, body


def stream_all(api, **kwargs):
    """Streams with the SDK; returns (SDK chunks, raw SSE data payloads)."""
    chunks = list(api.client.chat.completions.create(stream=True, **kwargs))
    exchange = api.last()
    assert exchange.status == 200
    assert exchange.content_type == "text/event-stream", exchange.headers
    return chunks, exchange.sse_events()


def content_of(chunks):
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- non-streaming ----------------------------------------------------------------------------


def test_plain_completion(api, emulator):
    started = int(time.time())
    completion, body = create_raw(api, model=SONNET, messages=user("Hello there, world"))
    assert body["object"] == "chat.completion"
    assert body["id"]
    assert started - 5 <= body["created"] <= int(time.time()) + 5
    assert body["model"] == SONNET
    assert len(body["choices"]) == 1
    choice = body["choices"][0]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Echo: Hello there, world"
    assert choice["finish_reason"] == "stop"
    # emulator rules: 3 input words; "Echo: Hello there, world" is 4 output words.
    assert body["usage"]["prompt_tokens"] == 3
    assert body["usage"]["completion_tokens"] == 4
    assert body["usage"]["total_tokens"] == 7
    assert completion.choices[0].message.content == "Echo: Hello there, world"
    assert completion.usage.total_tokens == 7

    received = emulator.last()
    assert received["path"] == f"{SONNET_PATH}/converse"
    assert received["model_id"] == SONNET
    assert received["status"] == 200


@pytest.mark.parametrize(
    "alias,model_id,path",
    [("gpt-4o", SONNET, SONNET_PATH), ("gpt-4o-mini", HAIKU, HAIKU_PATH)],
)
def test_model_aliases(api, emulator, alias, model_id, path):
    completion, body = create_raw(api, model=alias, messages=user("alias check"))
    assert body["model"] == alias
    assert completion.choices[0].message.content == "Echo: alias check"
    received = emulator.last()
    assert received["path"] == f"{path}/converse"
    assert received["model_id"] == model_id


def test_unaliased_model_id_is_used_verbatim(api, emulator):
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    completion, body = create_raw(api, model=model, messages=user("verbatim"))
    assert body["model"] == model
    assert emulator.last()["path"] == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_gives_finish_reason_length(api, emulator, field):
    completion, body = create_raw(
        api, model=SONNET, messages=user("one two three four five"), **{field: 3}
    )
    choice = body["choices"][0]
    assert choice["message"]["content"] == "Echo: one two"
    assert choice["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3
    assert emulator.last()["body"]["inferenceConfig"]["maxTokens"] == 3


@pytest.mark.parametrize("stop", ["STOP", ["STOP", "never-there"]])
def test_stop_sequence_truncates(api, emulator, stop):
    completion, body = create_raw(api, model=SONNET, messages=user("alpha beta STOP gamma"), stop=stop)
    choice = body["choices"][0]
    assert choice["message"]["content"] == "Echo: alpha beta "
    assert choice["finish_reason"] == "stop"
    sent = emulator.last()["body"]["inferenceConfig"]["stopSequences"]
    assert sent == ([stop] if isinstance(stop, str) else stop)


def test_system_developer_and_text_parts(api, emulator):
    completion, body = create_raw(
        api,
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
            {"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]},
        ],
    )
    converse = emulator.last()["body"]
    assert converse["system"] == [{"text": "You are terse."}, {"text": "Answer in English."}]
    assert len(converse["messages"]) == 1
    message = converse["messages"][0]
    assert message["role"] == "user"
    texts = [block["text"] for block in message["content"]]
    assert "part one" in " ".join(texts) and "part two" in " ".join(texts)
    assert all(set(block) == {"text"} for block in message["content"])
    # The emulator echoes the user's text blocks joined by spaces.
    assert body["choices"][0]["message"]["content"] == "Echo: part one part two"
    # 3 + 3 words of system text + 2 + 2 user words.
    assert body["usage"]["prompt_tokens"] == 10


def test_multi_turn_conversation(api, emulator):
    completion, body = create_raw(
        api,
        model=SONNET,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question here"},
        ],
    )
    assert body["choices"][0]["message"]["content"] == "Echo: second question here"
    assert body["usage"]["prompt_tokens"] == 2 + 2 + 2 + 3
    converse = emulator.last()["body"]
    assert [m["role"] for m in converse["messages"]] == ["user", "assistant", "user"]
    assert converse["messages"][1]["content"] == [{"text": "first answer"}]


def test_consecutive_same_role_messages_are_accepted(api, emulator):
    """OpenAI accepts two user messages in a row; Bedrock rejects non-alternating roles, so
    the filter must merge them (the emulator answers 400 ValidationException otherwise)."""
    completion, body = create_raw(
        api,
        model=SONNET,
        messages=[{"role": "user", "content": "first part"}, {"role": "user", "content": "second part"}],
    )
    converse = emulator.last()["body"]
    assert [m["role"] for m in converse["messages"]] == ["user"]
    assert body["choices"][0]["message"]["content"] == "Echo: first part second part"
    assert body["usage"]["prompt_tokens"] == 4


def test_converse_body_shape(api, emulator):
    create_raw(
        api,
        model=SONNET,
        messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "shape"}],
        max_tokens=50,
        temperature=0.5,
        top_p=0.9,
        stop=["zzz"],
    )
    converse = emulator.last()["body"]
    assert converse["system"] == [{"text": "sys"}]
    assert converse["messages"] == [{"role": "user", "content": [{"text": "shape"}]}]
    assert converse["inferenceConfig"] == {
        "maxTokens": 50,
        "temperature": 0.5,
        "topP": 0.9,
        "stopSequences": ["zzz"],
    }
    for key in ("model", "stream", "max_tokens", "top_p", "modelId"):
        assert key not in converse


def test_openai_temperature_above_bedrock_range_is_accepted(api, emulator):
    """OpenAI allows temperature up to 2, Bedrock up to 1: the request must still succeed."""
    completion, body = create_raw(api, model=SONNET, messages=user("warm"), temperature=1.5)
    assert body["choices"][0]["message"]["content"] == "Echo: warm"
    assert 0 <= emulator.last()["body"]["inferenceConfig"]["temperature"] <= 1


def test_upstream_is_signed_and_carries_no_client_key(api, emulator):
    create_raw(api, model=SONNET, messages=user("who am i"))
    received = emulator.last()
    headers = received["headers"]
    authorization = headers["authorization"]
    assert authorization.startswith(
        f"AWS4-HMAC-SHA256 Credential={DEMO_ACCESS_KEY_ID}/"
    ), authorization
    assert f"/{REGION}/bedrock/aws4_request" in authorization
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "host" in signed and "x-amz-date" in signed
    assert headers["host"] == f"bedrock-runtime.{REGION}.amazonaws.com"
    assert "x-amz-security-token" not in headers
    for name, value in received["raw_headers"]:
        assert DEMO_API_KEY not in value, f"client API key leaked upstream in {name}"
        assert "bearer" not in value.lower(), f"bearer credential forwarded upstream in {name}"
    assert "x-api-key" not in headers
    assert DEMO_API_KEY not in json.dumps(received["body"])
    assert headers["content-type"].startswith("application/json")


# --- streaming --------------------------------------------------------------------------------


def test_streaming(api, emulator):
    chunks, events = stream_all(api, model="gpt-4o", messages=user("stream me three words"))
    assert events[-1] == "[DONE]"
    raw = [json.loads(e) for e in events[:-1]]
    assert raw, "no chunk before [DONE]"
    assert all(c["object"] == "chat.completion.chunk" for c in raw)
    assert len({c["id"] for c in raw}) == 1
    assert len({c["created"] for c in raw}) == 1
    assert all(c["model"] == "gpt-4o" for c in raw)
    assert raw[0]["choices"][0]["delta"].get("role") == "assistant"
    assert content_of(chunks) == "Echo: stream me three words"
    finishes = [c["choices"][0]["finish_reason"] for c in raw if c["choices"]]
    assert finishes[-1] == "stop"
    assert all(f is None for f in finishes[:-1])
    assert all(not c.get("usage") for c in raw), "usage chunk without stream_options.include_usage"
    assert not any("error" in c for c in raw)
    assert emulator.last()["path"] == f"{SONNET_PATH}/converse-stream"


def test_streaming_include_usage(api, emulator):
    chunks, events = stream_all(
        api,
        model=SONNET,
        messages=[{"role": "system", "content": "two words"}, {"role": "user", "content": "count my words"}],
        stream_options={"include_usage": True},
    )
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    assert last["choices"] == []
    usage = {k: last["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    assert usage == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    assert chunks[-1].usage.total_tokens == 9
    assert content_of(chunks) == "Echo: count my words"
    earlier = [json.loads(e) for e in events[:-2]]
    assert all(c.get("usage") is None for c in earlier)
    assert earlier[-1]["choices"][0]["finish_reason"] == "stop"


def test_streaming_max_tokens(api, emulator):
    chunks, events = stream_all(api, model=SONNET, messages=user("a b c d e f"), max_tokens=2)
    assert content_of(chunks) == "Echo: a"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert events[-1] == "[DONE]"


def test_streaming_stop_sequence(api, emulator):
    chunks, events = stream_all(api, model=SONNET, messages=user("keep this END drop"), stop=["END"])
    assert content_of(chunks) == "Echo: keep this "
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_streaming_matches_non_streaming(api):
    messages = [
        {"role": "system", "content": "sys prompt"},
        {"role": "user", "content": [{"type": "text", "text": "same answer both ways"}]},
    ]
    completion, body = create_raw(api, model=SONNET, messages=messages, max_tokens=4)
    chunks, _ = stream_all(api, model=SONNET, messages=messages, max_tokens=4, stream_options={"include_usage": True})
    assert content_of(chunks) == body["choices"][0]["message"]["content"]
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        body["usage"]["prompt_tokens"],
        body["usage"]["completion_tokens"],
        body["usage"]["total_tokens"],
    )


def test_raw_sse_framing(api):
    response = api.post("/chat/completions", {"model": SONNET, "messages": user("raw framing"), "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    text = response.text
    assert text.endswith("data: [DONE]\n\n"), text[-200:]
    for block in text.strip("\n").split("\n\n"):
        assert block.startswith("data: "), block
    assert "content-length" not in response.headers or int(response.headers["content-length"]) == len(response.content)


def test_slow_streaming_completes(api, emulator):
    started = time.monotonic()
    chunks, events = stream_all(api, model=SONNET, messages=user("[scenario:slow] slow but steady"))
    elapsed = time.monotonic() - started
    assert content_of(chunks) == "Echo: slow but steady"
    assert events[-1] == "[DONE]"
    # messageStart + 4 deltas + stop + messageStop + metadata, 0.3 s before each frame.
    assert elapsed >= 0.3 * 8 - 0.1


def test_slow_non_streaming_completes(api):
    completion, body = create_raw(api, model=SONNET, messages=user("[scenario:slow] patience"))
    assert body["choices"][0]["message"]["content"] == "Echo: patience"


@pytest.mark.parametrize(
    "marker", ["[scenario:split:1]", "[scenario:split:7]", "[scenario:split:100]", "[scenario:coalesce]"]
)
def test_streaming_with_frames_split_or_coalesced(api, marker):
    """Event-stream frames cut into n-byte HTTP chunks (straddling body callbacks) or all
    frames in one chunk must give the same SSE stream as one frame per chunk."""
    chunks, events = stream_all(
        api,
        model=SONNET,
        messages=user(f"{marker} frames may arrive in any shape"),
        stream_options={"include_usage": True},
    )
    assert content_of(chunks) == "Echo: frames may arrive in any shape"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 7
    assert events[-1] == "[DONE]"


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_long_answer(api, stream):
    words = [f"word{i}" for i in range(3000)]
    text = " ".join(words)
    if stream:
        chunks, events = stream_all(api, model=SONNET, messages=user(text), stream_options={"include_usage": True})
        content = content_of(chunks)
        usage = chunks[-1].usage
    else:
        completion, body = create_raw(api, model=SONNET, messages=user(text))
        content = body["choices"][0]["message"]["content"]
        usage = completion.usage
    assert content == "Echo: " + text
    assert (usage.prompt_tokens, usage.completion_tokens) == (3000, 3001)


def test_unicode_round_trip(api, emulator):
    text = "héllo wörld — 你好 🌍 \"quoted\" \\ back\\slash"
    completion, body = create_raw(api, model=SONNET, messages=user(text))
    assert body["choices"][0]["message"]["content"] == "Echo: " + " ".join(text.split())
    assert emulator.last()["body"]["messages"][0]["content"][0]["text"] == text
    chunks, _ = stream_all(api, model=SONNET, messages=user(f"[scenario:split:3] {text}"))
    assert content_of(chunks) == "Echo: " + " ".join(text.split())


@pytest.mark.parametrize(
    "stop_reason,finish_reason",
    [
        ("content_filtered", "content_filter"),
        ("guardrail_intervened", "content_filter"),
        ("model_context_window_exceeded", "length"),
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
    ],
)
def test_stop_reason_mapping(api, stop_reason, finish_reason):
    messages = user(f"[scenario:stop-reason:{stop_reason}] mapped")
    completion, body = create_raw(api, model=SONNET, messages=messages)
    assert body["choices"][0]["finish_reason"] == finish_reason
    chunks, _ = stream_all(api, model=SONNET, messages=messages)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == finish_reason


def test_large_request(api, emulator):
    """A ~600 KB prompt (Envoy buffers the whole body for the rewrite)."""
    text = "x " * 300_000
    completion, body = create_raw(api, model=SONNET, messages=user(text), max_tokens=3)
    assert body["choices"][0]["message"]["content"] == "Echo: x x"
    assert body["usage"]["prompt_tokens"] == 300_000


def test_concurrent_requests_do_not_mix(api):
    """Parallel unary and streaming requests over Envoy's two workers keep their own state."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        client = api.openai()
        text = f"request {i} " + " ".join(f"w{i}x{j}" for j in range(i % 5 + 1))
        marker = "[scenario:split:13] " if i % 3 == 0 else ""
        if i % 2:
            chunks = list(
                client.chat.completions.create(
                    model=SONNET,
                    messages=user(marker + text),
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            return text, content_of(chunks), chunks[-1].usage.completion_tokens
        completion = client.chat.completions.create(model=SONNET, messages=user(marker + text))
        return text, completion.choices[0].message.content, completion.usage.completion_tokens

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(24)))
    for text, content, completion_tokens in results:
        assert content == "Echo: " + text
        assert completion_tokens == len(content.split())


def test_client_disconnect_mid_stream(api, gateway):
    """A client that goes away in the middle of a slow stream does not hurt the gateway."""
    client = api.openai()
    stream = client.chat.completions.create(
        model=SONNET, messages=user("[scenario:slow:0.2] going away soon one two three"), stream=True
    )
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    stream.close()
    time.sleep(0.5)
    assert gateway.alive()
    completion, body = create_raw(api, model=SONNET, messages=user("after the disconnect"))
    assert body["choices"][0]["message"]["content"] == "Echo: after the disconnect"
