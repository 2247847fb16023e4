"""Legacy function calling (`functions` / `function_call`), end to end with the official
`openai` SDK, which still takes these parameters: answers come back in the legacy form
(`message.function_call`, `delta.function_call`, `finish_reason: "function_call"`, never
`tool_calls`), and `function` history messages pair up with the calls before them. The emulator
answers tool calls for `[scenario:tool]` / a forced toolChoice (see its docstring); every
response and chunk is checked against OpenAI's schema by the `api` fixture."""

from __future__ import annotations

import json

import openai
import pytest

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"],
    },
}
TIME = {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}


def user(text):
    return [{"role": "user", "content": text}]


def function_call_from_stream(chunks):
    """Reassembles a streamed legacy function call: the name once, then argument fragments."""
    name, arguments, names = None, "", 0
    for chunk in chunks:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        assert not delta.tool_calls, "the legacy form never streams tool_calls"
        if delta.function_call is None:
            continue
        if delta.function_call.name:
            name, names = delta.function_call.name, names + 1
        arguments += delta.function_call.arguments or ""
    assert names <= 1, "the function name comes once"
    return name, arguments


def finish_of(chunks):
    return [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def content_of(chunks):
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_function_call_non_stream(api, emulator):
    c = api.client.chat.completions.create(
        model="gpt-4o", messages=user("Weather in Paris? [scenario:tool]"), functions=[WEATHER]
    )
    choice = c.choices[0]
    assert choice.finish_reason == "function_call"
    assert choice.message.tool_calls is None
    assert choice.message.function_call.name == "get_weather"
    assert json.loads(choice.message.function_call.arguments) == {"city": "city", "unit": "c"}
    assert choice.message.content == "Echo: Weather in Paris?"
    raw = api.last().json()["choices"][0]["message"]
    assert "tool_calls" not in raw and set(raw["function_call"]) == {"name", "arguments"}
    sent = emulator.last()["body"]
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"] == WEATHER["parameters"]
    assert "toolChoice" not in sent["toolConfig"]


def test_function_call_stream(api):
    chunks = list(
        api.client.chat.completions.create(
            model="gpt-4o", messages=user("Weather? [scenario:tool]"), functions=[WEATHER], stream=True
        )
    )
    name, arguments = function_call_from_stream(chunks)
    assert name == "get_weather"
    assert json.loads(arguments) == {"city": "city", "unit": "c"}
    assert content_of(chunks) == "Echo: Weather?"
    assert finish_of(chunks) == ["function_call"]
    raw = [json.loads(e) for e in api.last().sse_events() if e != "[DONE]"]
    assert not any("tool_calls" in ch["delta"] for r in raw for ch in r["choices"])


def test_several_calls_become_the_first_function_call(api, emulator):
    # The emulator calls two tools; the legacy form holds one: the first.
    c = api.client.chat.completions.create(
        model="gpt-4o", messages=user("Both [scenario:parallel-tools]"), functions=[WEATHER, TIME]
    )
    assert c.choices[0].finish_reason == "function_call"
    assert c.choices[0].message.function_call.name == "get_weather"
    chunks = list(
        api.client.chat.completions.create(
            model="gpt-4o", messages=user("Both [scenario:parallel-tools]"), functions=[WEATHER, TIME], stream=True
        )
    )
    name, arguments = function_call_from_stream(chunks)
    assert (name, json.loads(arguments)) == ("get_weather", {"city": "city", "unit": "c"})


@pytest.mark.parametrize("stream", [False, True])
def test_function_round_trip(api, emulator, stream):
    messages = user("Weather in Paris? [scenario:tool]")
    first = api.client.chat.completions.create(model="gpt-4o", messages=messages, functions=[WEATHER])
    call = first.choices[0].message.function_call
    messages = messages + [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "function", "name": call.name, "content": json.dumps({"temp_c": 21})},
    ]
    assert "function_call" in messages[1] and "tool_calls" not in messages[1]
    kwargs = dict(model="gpt-4o", messages=messages, functions=[WEATHER])
    if stream:
        chunks = list(api.client.chat.completions.create(stream=True, **kwargs))
        text, finish = content_of(chunks), finish_of(chunks)[0]
        assert function_call_from_stream(chunks) == (None, "")
    else:
        second = api.client.chat.completions.create(**kwargs)
        text, finish = second.choices[0].message.content, second.choices[0].finish_reason
        assert second.choices[0].message.function_call is None
    # The synthesized id: message index 1, function name; the same on the call and its result.
    assert text == 'Tool results: call_1_get_weather={"temp_c":21}'
    assert finish == "stop"
    sent = emulator.last()["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"][-1]["toolUse"] == {
        "toolUseId": "call_1_get_weather",
        "name": "get_weather",
        "input": json.loads(call.arguments),
    }
    assert sent[2]["content"] == [
        {"toolResult": {"toolUseId": "call_1_get_weather", "content": [{"json": {"temp_c": 21}}]}}
    ]


def test_function_call_none(api, emulator):
    # No function history: the functions are not sent at all.
    c = api.client.chat.completions.create(
        model="gpt-4o", messages=user("hi [scenario:tool]"), functions=[WEATHER], function_call="none"
    )
    assert c.choices[0].message.function_call is None
    assert c.choices[0].finish_reason == "stop"
    assert "toolConfig" not in emulator.last()["body"]
    # Function history: toolConfig stays (Bedrock needs it); a call the model still makes is
    # dropped, streaming or not.
    history = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "function_call": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
        {"role": "function", "name": "get_weather", "content": "sunny"},
        {"role": "user", "content": "And now? [scenario:tool]"},
    ]
    c = api.client.chat.completions.create(
        model="gpt-4o", messages=history, functions=[WEATHER], function_call="none"
    )
    assert c.choices[0].message.function_call is None
    assert c.choices[0].finish_reason == "stop"
    assert c.choices[0].message.content == "Tool results: call_1_get_weather=sunny"
    sent = emulator.last()["body"]
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    assert "toolChoice" not in sent["toolConfig"]
    chunks = list(
        api.client.chat.completions.create(
            model="gpt-4o", messages=history, functions=[WEATHER], function_call="none", stream=True
        )
    )
    assert function_call_from_stream(chunks) == (None, "")
    assert finish_of(chunks) == ["stop"]


@pytest.mark.parametrize("stream", [False, True])
def test_named_function_call(api, emulator, stream):
    kwargs = dict(
        model="gpt-4o", messages=user("anything"), functions=[WEATHER, TIME], function_call={"name": "get_time"}
    )
    if stream:
        chunks = list(api.client.chat.completions.create(stream=True, **kwargs))
        name, arguments = function_call_from_stream(chunks)
        finish, content = finish_of(chunks)[0], content_of(chunks) or None
    else:
        c = api.client.chat.completions.create(**kwargs)
        name, arguments = c.choices[0].message.function_call.name, c.choices[0].message.function_call.arguments
        finish, content = c.choices[0].finish_reason, c.choices[0].message.content
    assert (name, json.loads(arguments)) == ("get_time", {"zone": "zone"})
    assert finish == "function_call"
    assert content is None
    assert emulator.last()["body"]["toolConfig"]["toolChoice"] == {"tool": {"name": "get_time"}}


def test_function_call_auto_is_the_default(api, emulator):
    c = api.client.chat.completions.create(
        model="gpt-4o", messages=user("Weather? [scenario:tool]"), functions=[WEATHER], function_call="auto"
    )
    assert c.choices[0].message.function_call.name == "get_weather"
    assert "toolChoice" not in emulator.last()["body"]["toolConfig"]


@pytest.mark.parametrize(
    "kwargs,param",
    [
        (dict(functions=[WEATHER], tools=[{"type": "function", "function": TIME}]), "functions"),
        (dict(functions=[WEATHER], function_call={"name": "get_time"}), "function_call"),
        (dict(functions=[{"name": "bad name"}]), "functions[0].name"),
    ],
    ids=["tools-and-functions", "unknown-named-function", "bad-function-name"],
)
def test_bad_legacy_requests_are_400s_naming_the_field(api, emulator, kwargs, param):
    with pytest.raises(openai.BadRequestError) as e:
        api.client.chat.completions.create(model="gpt-4o", messages=user("x"), **kwargs)
    assert e.value.body["param"] == param
    assert emulator.bedrock_requests() == []


def test_function_message_without_its_call_is_a_400(api, emulator):
    with pytest.raises(openai.BadRequestError) as e:
        api.client.chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": None, "function_call": {"name": "get_weather", "arguments": "{}"}},
                {"role": "function", "name": "get_time", "content": "noon"},
            ],
            functions=[WEATHER, TIME],
        )
    assert e.value.body["param"] == "messages[2].name"
    assert emulator.bedrock_requests() == []
