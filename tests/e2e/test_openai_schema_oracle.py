"""The schema oracle itself (openai_schema.py): which one `make test` is using, and that the
fallback used without the OpenAPI document (the `openai` SDK's models, strictly) rejects what
the document rejects: missing required keys (nullable ones too), undeclared fields, wrong
types and enum values."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

import openai_schema

CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None, "logprobs": None}],
}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
}
ERROR = {"error": {"message": "m", "type": "invalid_request_error", "param": None, "code": None}}


# Both oracles when `make conformance` names the document, else the SDK's alone: a case that
# cannot run here is not collected (never skipped into the count); `make conformance` runs it.
ORACLES = ["document", "sdk"] if openai_schema.using_openapi_document() else ["sdk"]


@pytest.fixture(params=ORACLES)
def oracle(request, monkeypatch):
    if request.param == "sdk":
        monkeypatch.setattr(openai_schema, "using_openapi_document", lambda: False)
    return request.param


def test_the_oracle_in_use_is_reported(capsys):
    mode = "OpenAPI document" if openai_schema.using_openapi_document() else "openai SDK models (strict)"
    with capsys.disabled():
        print(f"\n[openai_schema] validating against: {mode}")


def test_good_objects_pass(oracle):
    openai_schema.validate_chunk(copy.deepcopy(CHUNK))
    openai_schema.validate_completion(copy.deepcopy(COMPLETION))
    openai_schema.validate_error(copy.deepcopy(ERROR))
    openai_schema.validate({"id": "m", "object": "model", "created": 0, "owned_by": "o"}, "Model")


def _mutated(base, mutate):
    body = copy.deepcopy(base)
    mutate(body)
    return body


BAD_CHUNKS = {
    "missing id": lambda b: b.pop("id"),
    "missing nullable finish_reason": lambda b: b["choices"][0].pop("finish_reason"),
    "bad finish_reason": lambda b: b["choices"][0].update(finish_reason="tool_use"),
    "string created": lambda b: b.update(created="1"),
    "bad object": lambda b: b.update(object="chat.completion"),
    "bad role": lambda b: b["choices"][0]["delta"].update(role="model"),
    "tool call without index": lambda b: b["choices"][0]["delta"].update(tool_calls=[{"id": "x"}]),
    "partial usage": lambda b: b.update(usage={"prompt_tokens": 1}),
}


@pytest.mark.parametrize("what", BAD_CHUNKS)
def test_bad_chunks_fail(oracle, what):
    with pytest.raises(AssertionError):
        openai_schema.validate_chunk(_mutated(CHUNK, BAD_CHUNKS[what]))


BAD_COMPLETIONS = {
    "missing logprobs": lambda b: b["choices"][0].pop("logprobs"),
    "missing refusal": lambda b: b["choices"][0]["message"].pop("refusal"),
    "missing message": lambda b: b["choices"][0].pop("message"),
    "bad finish_reason": lambda b: b["choices"][0].update(finish_reason="end_turn"),
}


@pytest.mark.parametrize("what", BAD_COMPLETIONS)
def test_bad_completions_fail(oracle, what):
    with pytest.raises(AssertionError):
        openai_schema.validate_completion(_mutated(COMPLETION, BAD_COMPLETIONS[what]))


@pytest.mark.parametrize(
    "mutate",
    [lambda b: b["error"].pop("param"), lambda b: b["error"].pop("message"), lambda b: b.pop("error")],
    ids=["no param", "no message", "no error"],
)
def test_bad_errors_fail(oracle, mutate):
    with pytest.raises(AssertionError):
        openai_schema.validate_error(_mutated(ERROR, mutate))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(surprise=1),
        lambda b: b["choices"][0].update(surprise=1),
        lambda b: b["choices"][0]["delta"].update(surprise=1),
    ],
    ids=["top", "choice", "delta"],
)
def test_sdk_oracle_rejects_undeclared_fields(monkeypatch, mutate):
    # Stricter than the document (which allows extra keys): the SDK models are the narrower
    # oracle, so they are held to their declared fields.
    monkeypatch.setattr(openai_schema, "using_openapi_document", lambda: False)
    with pytest.raises(AssertionError, match="not declared"):
        openai_schema.validate_chunk(_mutated(CHUNK, mutate))


BAD_USAGE = {
    "total is not the sum": {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 1329},
    "cached more than the prompt": {
        "prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7, "prompt_tokens_details": {"cached_tokens": 3},
    },
    "cache writes more than the prompt": {
        "prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 1, "cache_write_tokens": 2},
    },
}


@pytest.mark.parametrize("what", BAD_USAGE)
def test_usage_that_does_not_add_up_fails(oracle, what):
    usage = BAD_USAGE[what]
    with pytest.raises(AssertionError, match="does not add up"):
        openai_schema.validate_completion(_mutated(COMPLETION, lambda b: b.update(usage=usage)))
    with pytest.raises(AssertionError, match="does not add up"):
        openai_schema.validate_chunk(_mutated(CHUNK, lambda b: b.update(choices=[], usage=usage)))


def test_cached_usage_that_adds_up_passes(oracle):
    usage = {
        "prompt_tokens": 1334, "completion_tokens": 5, "total_tokens": 1339,
        "prompt_tokens_details": {"cached_tokens": 1322, "cache_write_tokens": 10, "cache_creation_tokens": 10},
    }
    openai_schema.validate_completion(_mutated(COMPLETION, lambda b: b.update(usage=usage)))
    openai_schema.validate_chunk(_mutated(CHUNK, lambda b: b.update(choices=[], usage=usage)))


def test_explicit_document_path_must_exist(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("OPENAI_OPENAPI_JSON", str(tmp_path / "absent.json"))
    with pytest.raises(FileNotFoundError):
        openai_schema.using_openapi_document()


def test_sdk_oracle_allows_only_the_documented_extensions(monkeypatch):
    monkeypatch.setattr(openai_schema, "using_openapi_document", lambda: False)
    chunk = _mutated(CHUNK, lambda b: b["choices"][0]["delta"].update(reasoning_content="hm"))
    openai_schema.validate_chunk(chunk)
    model = {"id": "m", "object": "model", "created": 0, "owned_by": "o", "bedrock": {}, "provider": "x"}
    openai_schema.validate(model, "Model")
    with pytest.raises(AssertionError, match="not declared"):
        openai_schema.validate({**model, "surprise": 1}, "Model")
