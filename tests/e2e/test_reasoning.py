"""Reasoning that survives tool turns, and Bedrock's server-side tools, end to end: the official
`openai` SDK → real Envoy + the filter → the Bedrock emulator, which signs its reasoning and
checks the signature when it comes back (Anthropic's rules: see tests/emulator/README.md,
"Reasoning handed back"). Every response and chunk is checked against OpenAI's schema by the
`api` fixture (`thinking_blocks` and `usage.server_tool_use` are the documented extensions)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac

import openai
import pytest

SONNET_45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA_2 = "us.amazon.nova-2-lite-v1:0"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def emulator_signature(text: str) -> str:
    """What the emulator signs reasoning with (its README): stated here, not imported, so a
    change on either side shows up."""
    key = b"bedrock-emulator-reasoning-key"
    return base64.b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()).decode()


def extra(obj, name):
    """An extension field of an SDK object (kept in `model_extra`)."""
    return (obj.model_extra or {}).get(name)


def thinking_blocks_from_stream(chunks):
    """Puts streamed `thinking_blocks` fragments back together as LiteLLM's stream builder
    does: text fragments accumulate until the block's signature; a redacted block is whole."""
    blocks, text = [], None
    for c in chunks:
        if not c.choices:
            continue
        for f in extra(c.choices[0].delta, "thinking_blocks") or []:
            if f["type"] == "redacted_thinking":
                blocks.append({"type": "redacted_thinking", "data": f["data"]})
            elif "signature" in f:
                blocks.append({"type": "thinking", "thinking": (text or "") + f["thinking"], "signature": f["signature"]})
                text = None
            else:
                text = (text or "") + f["thinking"]
    assert text is None, "a thinking block without its signature"
    return blocks


def ask(api, messages, stream, **kwargs):
    """One turn: (assistant message to hand back, its content, finish_reason, usage)."""
    kwargs = dict(model=SONNET_45, messages=messages, tools=[WEATHER], reasoning_effort="low", **kwargs)
    if not stream:
        c = api.client.chat.completions.create(**kwargs)
        m = c.choices[0].message
        calls = [tc.model_dump(exclude_none=True) for tc in m.tool_calls or []]
        thinking, finish, usage = extra(m, "thinking_blocks"), c.choices[0].finish_reason, c.usage
        content, reasoning = m.content, m.reasoning_content
    else:
        chunks = list(api.client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs))
        thinking = thinking_blocks_from_stream(chunks)
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) or None
        reasoning = "".join(extra(c.choices[0].delta, "reasoning_content") or "" for c in chunks if c.choices)
        finish = next(c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason)
        usage = chunks[-1].usage
        calls = {}
        for c in chunks:
            for tc in (c.choices[0].delta.tool_calls if c.choices else None) or []:
                call = calls.setdefault(tc.index, {"id": tc.id, "type": "function", "function": {"name": tc.function.name, "arguments": ""}})
                call["function"]["arguments"] += tc.function.arguments or ""
        assert sorted(calls) == list(range(len(calls)))
        calls = [calls[i] for i in sorted(calls)]
    assert thinking[0] == {"type": "thinking", "thinking": reasoning, "signature": emulator_signature(reasoning)}
    message = {"role": "assistant", "content": content, "thinking_blocks": thinking}
    if calls:
        message["tool_calls"] = calls
    return message, finish, usage


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_and_tools_over_three_turns(api, emulator, stream):
    """Turn 1 calls the tool (with redacted reasoning too), turn 2 answers from its result, turn
    3 calls it again and is answered: every request hands all reasoning back, signed, first in
    its assistant turn, and the emulator (checking like Anthropic) accepts each."""
    messages = [{"role": "user", "content": "Weather in Paris? [scenario:tool] [scenario:redacted-thinking]"}]
    first, finish, _ = ask(api, messages, stream)
    assert finish == "tool_calls"
    assert [b["type"] for b in first["thinking_blocks"]] == ["thinking", "redacted_thinking"]
    call = first["tool_calls"][0]
    messages += [first, {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]
    second, finish, _ = ask(api, messages, stream)
    assert (finish, second["content"]) == ("stop", f"Tool results: {call['id']}=sunny")
    messages += [second, {"role": "user", "content": "And Rome? [scenario:tool]"}]
    third, finish, _ = ask(api, messages, stream)
    assert finish == "tool_calls"
    messages += [third, {"role": "tool", "tool_call_id": third["tool_calls"][0]["id"], "content": "rain"}]
    last, finish, _ = ask(api, messages, stream)
    assert last["content"].startswith("Tool results: ") and finish == "stop"
    sent = emulator.last()["body"]["messages"]
    assistant = [m["content"] for m in sent if m["role"] == "assistant"]
    assert [[next(iter(b)) for b in turn][:2] for turn in assistant] == [
        ["reasoningContent", "reasoningContent"], ["reasoningContent", "text"], ["reasoningContent", "text"]
    ]
    assert assistant[0][1]["reasoningContent"]["redactedContent"] == first["thinking_blocks"][1]["data"]
    assert assistant[0][-1]["toolUse"]["toolUseId"] == call["id"]


def test_reasoning_changed_or_left_out_is_bedrocks_400(api, emulator):
    messages = [{"role": "user", "content": "Weather? [scenario:tool]"}]
    first, _, _ = ask(api, messages, stream=False)
    result = {"role": "tool", "tool_call_id": first["tool_calls"][0]["id"], "content": "sunny"}
    tampered = copy.deepcopy(first)
    tampered["thinking_blocks"][0]["thinking"] += " (edited)"
    dropped = {k: v for k, v in first.items() if k != "thinking_blocks"}
    for assistant, fragment in [(tampered, "Invalid `signature`"), (dropped, "Expected `thinking`")]:
        with pytest.raises(openai.BadRequestError) as e:
            api.client.chat.completions.create(
                model=SONNET_45, messages=messages + [assistant, result], tools=[WEATHER], reasoning_effort="low"
            )
        assert fragment in e.value.body["message"]
        assert e.value.body["type"] == "invalid_request_error"


def test_bad_thinking_blocks_are_the_filters_400(api, emulator):
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "y", "thinking_blocks": [{"type": "redacted_thinking", "data": "not base64!"}]},
        {"role": "user", "content": "z"},
    ]
    with pytest.raises(openai.BadRequestError) as e:
        api.client.chat.completions.create(model=SONNET_45, messages=messages)
    assert e.value.body["param"] == "messages[1].thinking_blocks[0].data"
    assert emulator.bedrock_requests() == []


def test_thinking_blocks_for_a_model_without_them_are_reported_ignored(api, emulator):
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "y", "thinking_blocks": [{"type": "thinking", "thinking": "t", "signature": "s"}]},
        {"role": "user", "content": "z"},
    ]
    raw = api.client.chat.completions.with_raw_response.create(model=NOVA_2, messages=messages)
    assert raw.headers["x-bedrock-ignored-params"] == "thinking_blocks"
    assert raw.parse().choices[0].message.content == "Echo: z"
    assert all("reasoningContent" not in b for m in emulator.last()["body"]["messages"] for b in m["content"])


@pytest.mark.parametrize("stream", [False, True])
def test_server_tool_is_no_tool_call(api, emulator, stream):
    """Nova's code interpreter ran on Bedrock's side: the client sees the answer, no tool call
    (not even with its own tools declared), a normal stop, and the use in `usage`."""
    kwargs = dict(model=NOVA_2, messages=[{"role": "user", "content": "six times seven [scenario:server-tool]"}], tools=[WEATHER])
    if stream:
        chunks = list(api.client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs))
        assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = next(c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason)
        usage = chunks[-1].usage
    else:
        c = api.client.chat.completions.create(**kwargs)
        assert c.choices[0].message.tool_calls is None
        content, finish, usage = c.choices[0].message.content, c.choices[0].finish_reason, c.usage
    assert (content, finish) == ("Echo: six times seven", "stop")
    assert extra(usage, "server_tool_use") == {"nova_code_interpreter": 1}


@pytest.mark.parametrize("stream", [False, True])
def test_server_tool_then_a_client_tool_call_is_index_0(api, emulator, stream):
    kwargs = dict(model=NOVA_2, messages=[{"role": "user", "content": "go [scenario:server-tool] [scenario:tool]"}], tools=[WEATHER])
    if stream:
        chunks = list(api.client.chat.completions.create(stream=True, **kwargs))
        starts = [(tc.index, tc.function.name) for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or [] if tc.id]
        finish = next(c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason)
    else:
        c = api.client.chat.completions.create(**kwargs)
        starts = [(i, tc.function.name) for i, tc in enumerate(c.choices[0].message.tool_calls)]
        finish = c.choices[0].finish_reason
    assert starts == [(0, "get_weather")]
    assert finish == "tool_calls"
