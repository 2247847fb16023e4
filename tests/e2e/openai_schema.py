"""Validate what the filter answers against OpenAI's own OpenAPI document, or, in a clone
without it, against the typed models of the pinned official `openai` SDK.

The reference (`$OPENAI_OPENAPI_JSON`, which only `make conformance` sets, to the third-party
document beside the repository) claims OpenAPI 3.1 but still marks fields with the 3.0-style `nullable: true`, which a JSON-Schema
validator ignores. The loader rewrites those into type unions (`{"type": [T, "null"]}`, `null`
added to an `enum`, or `anyOf [..., {"type": "null"}]` where there is no `type`), then every
check runs jsonschema's Draft 2020-12 validator against `#/components/schemas/<Name>` with the
whole document as the root, so `$ref`s resolve inside it.

Without the document (`make test`; `$OPENAI_OPENAPI_JSON` unset), the same
functions validate through the `openai` SDK's pydantic models (`ChatCompletion`,
`ChatCompletionChunk`, `Completion`, `Model`, `ErrorObject`), strictly: `strict=True` (no type
coercion, so `"1"` is not an integer), every field that is not declared by the SDK model is an
error (the SDK models accept extra fields by default; here they do not) except the filter's
documented extensions (`reasoning_content`, `thinking_blocks` and `citations` of a message or
delta, `usage.server_tool_use`, a model's `bedrock` / `provider`, a completion's
`bedrock_guardrail`, usage's `prompt_tokens_details.cache_creation_tokens`), and the keys the
document requires but the SDK types as optional-with-default (`finish_reason`, `logprobs`,
`message.refusal`, `error.param`, ...) must be present. `make conformance` sets
`$OPENAI_OPENAPI_JSON`, so there the document is required.

Every `usage` the validators see must also add up (`check_usage`): `prompt_tokens +
completion_tokens == total_tokens`, and the cached and cache-written tokens are parts of
`prompt_tokens`. The schema cannot say that, and the filter once reported a cached answer's
`total_tokens` with the cached tokens left out of `prompt_tokens`.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
import re
import struct
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:openai-openapi"
REPO = Path(__file__).resolve().parents[2]


def spec_path() -> Path | None:
    """`$OPENAI_OPENAPI_JSON` (set by `make conformance`); nothing outside the repository is
    looked for otherwise, so `make test` behaves the same whatever lies beside the repository."""
    env = os.environ.get("OPENAI_OPENAPI_JSON")
    return Path(env) if env else None


def using_openapi_document() -> bool:
    """True when `$OPENAI_OPENAPI_JSON` names the document; False means the SDK models are the
    oracle. A `$OPENAI_OPENAPI_JSON` that does not exist is an error, never a fallback."""
    path = spec_path()
    if path is None:
        return False
    if not path.is_file():
        raise FileNotFoundError(f"OPENAI_OPENAPI_JSON={path} does not exist")
    return True


def rewrite_nullable(node: Any) -> Any:
    """Returns a copy of `node` where every 3.0 `nullable: true` is a 2020-12 union."""
    if isinstance(node, list):
        return [rewrite_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: rewrite_nullable(value) for key, value in node.items()}
    if node.pop("nullable", False) is not True:
        return node
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if "null" not in types:
            node["type"] = types + ["null"]
        if "enum" in node and None not in node["enum"]:
            node["enum"] = node["enum"] + [None]
        return node
    keywords = {k: v for k, v in node.items() if k not in ("description", "title", "default")}
    if not keywords or all(k.startswith("x-") for k in keywords):
        return node  # no constraint at all: null is already allowed
    annotations = {k: v for k, v in node.items() if k in ("description", "title")}
    return {**annotations, "anyOf": [node, {"type": "null"}]}


@functools.lru_cache(maxsize=1)
def _registry() -> Registry:
    path = spec_path()
    if path is None or not path.is_file():
        raise FileNotFoundError(f"OpenAI OpenAPI reference not found at {path} (set OPENAI_OPENAPI_JSON)")
    spec = rewrite_nullable(json.loads(path.read_text(encoding="utf-8")))
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


@functools.lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.Draft202012Validator:
    schemas = _registry().contents(SPEC_URI)["components"]["schemas"]
    if name not in schemas:
        raise KeyError(f"no schema #/components/schemas/{name} in {spec_path()}")
    return jsonschema.Draft202012Validator(
        {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}, registry=_registry()
    )


def validate(instance: Any, name: str) -> Any:
    """Raises AssertionError listing every violation of `#/components/schemas/<name>` (or, without
    the document, of the SDK model standing for it)."""
    if not using_openapi_document():
        return sdk_validate(instance, name)
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"  at {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:20]
        ]
        raise AssertionError(
            f"response does not match OpenAI schema {name}:\n"
            + "\n".join(lines)
            + f"\ninstance: {json.dumps(instance)[:2000]}"
        )
    return instance


def check_usage(body: Any) -> None:
    """Raises AssertionError unless the body's `usage` (if any) adds up: prompt + completion =
    total; `cached_tokens` and `cache_write_tokens` together at most `prompt_tokens`; the
    `cache_creation_tokens` alias equal to `cache_write_tokens`. Type errors are the schema's
    to report."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return
    count = lambda d, k: d.get(k, 0) if isinstance(d.get(k, 0), int) else 0  # noqa: E731
    prompt, completion, total = (count(usage, k) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
    details = usage.get("prompt_tokens_details") or {}
    cached, written = count(details, "cached_tokens"), count(details, "cache_write_tokens")
    problems = []
    if prompt + completion != total:
        problems.append(f"prompt_tokens {prompt} + completion_tokens {completion} != total_tokens {total}")
    if cached + written > prompt:
        problems.append(f"cached_tokens {cached} + cache_write_tokens {written} > prompt_tokens {prompt}")
    if "cache_creation_tokens" in details and details["cache_creation_tokens"] != written:
        problems.append(f"cache_creation_tokens {details['cache_creation_tokens']} != cache_write_tokens {written}")
    if problems:
        raise AssertionError("usage does not add up: " + "; ".join(problems) + f"\nusage: {json.dumps(usage)}")


def validate_completion(body: Any) -> Any:
    validate(body, "CreateChatCompletionResponse")
    check_usage(body)
    return body


def validate_chunk(body: Any) -> Any:
    validate(body, "CreateChatCompletionStreamResponse")
    check_usage(body)
    return body


def validate_text_completion(body: Any) -> Any:
    validate(body, "CreateCompletionResponse")
    check_usage(body)
    return body


def validate_text_completion_chunk(body: Any) -> Any:
    """A streamed legacy completion. The schema is shared with the unary object and does not
    say that OpenAI streams `finish_reason: null` until the last chunk; such a null is
    accepted, everything else is validated as is."""
    checked = copy.deepcopy(body)
    for choice in checked.get("choices", []) if isinstance(checked, dict) else []:
        if isinstance(choice, dict) and choice.get("finish_reason", "absent") is None:
            choice["finish_reason"] = "stop"
    validate(checked, "CreateCompletionResponse")
    check_usage(body)
    return body


def validate_embeddings(body: Any) -> Any:
    """`CreateEmbeddingResponse`; a base64 vector is checked as the floats it decodes to (the
    schema describes the decoded list), and must be whole little-endian float32s."""
    decoded = json.loads(json.dumps(body))
    for item in decoded.get("data", []) if isinstance(decoded, dict) else []:
        if isinstance(item, dict) and isinstance(item.get("embedding"), str):
            raw = base64.b64decode(item["embedding"], validate=True)
            assert len(raw) % 4 == 0, "base64 embedding is not float32s"
            item["embedding"] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    validate(decoded, "CreateEmbeddingResponse")
    usage = decoded["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"], usage
    assert [d["index"] for d in decoded["data"]] == list(range(len(decoded["data"])))
    return body


def validate_error(body: Any) -> Any:
    return validate(body, "ErrorResponse")


def check_response_usage(body: Any) -> None:
    """A `response` object's usage adds up: input + output = total, cached within input."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return
    inp, out, total = usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens")
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens", 0)
    if inp + out != total or cached > inp:
        raise AssertionError(f"response usage does not add up: {json.dumps(usage)}")


def validate_response(body: Any) -> Any:
    """A `response` object (`/v1/responses`)."""
    validate(body, "Response")
    check_response_usage(body)
    return body


def validate_response_event(body: Any) -> Any:
    """One event of a Responses stream; a lifecycle event's `response` as a `Response`."""
    checked = body
    if not using_openapi_document() and isinstance(body, dict) and body.get("type") == "response.function_call_arguments.done":
        # The document requires `name` here; the pinned SDK's model does not declare it.
        checked = {k: v for k, v in body.items() if k != "name"}
    validate(checked, "ResponseStreamEvent")
    if isinstance(body, dict) and isinstance(body.get("response"), dict):
        check_response_usage(body["response"])
    return body


def deep_copy_spec() -> dict:
    """The rewritten spec (for tests of the helper itself)."""
    return copy.deepcopy(_registry().contents(SPEC_URI))


# ---------------------------------------------------------------------------------------------
# Without the document: the official SDK's typed models, strictly.
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _sdk_models() -> dict:
    from typing import List, Literal

    import pydantic
    from openai.types import Completion, CreateEmbeddingResponse, ErrorObject, Model
    from openai.types.chat import ChatCompletion, ChatCompletionChunk
    from openai.types.responses import Response, ResponseStreamEvent

    class Adapter:
        """A union (the stream events) validated like a model."""

        def __init__(self, tp):
            self.adapter = pydantic.TypeAdapter(tp)

        def model_validate(self, instance, strict):
            return self.adapter.validate_python(instance, strict=strict)

    class ErrorResponse(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        error: ErrorObject

    class ListModelsResponse(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        object: Literal["list"]
        data: List[Model]

    return {
        "CreateChatCompletionResponse": ChatCompletion,
        "CreateChatCompletionStreamResponse": ChatCompletionChunk,
        "CreateCompletionResponse": Completion,
        "CreateEmbeddingResponse": CreateEmbeddingResponse,
        "Model": Model,
        "ListModelsResponse": ListModelsResponse,
        "ErrorResponse": ErrorResponse,
        "Response": Response,
        "ResponseStreamEvent": Adapter(ResponseStreamEvent),
    }


# Keys the OpenAPI document lists as `required` that the SDK declares optional with a default
# (mostly nullable ones): (path pattern, keys), `*` is every element of a list.
REQUIRED_KEYS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "CreateChatCompletionResponse": [
        ("choices.*", ("finish_reason", "index", "message", "logprobs")),
        ("choices.*.message", ("role", "content", "refusal")),
    ],
    "CreateChatCompletionStreamResponse": [("choices.*", ("delta", "finish_reason", "index"))],
    "CreateCompletionResponse": [("choices.*", ("finish_reason", "index", "logprobs", "text"))],
    "ErrorResponse": [("error", ("type", "message", "param", "code"))],
    "Model": [("", ("id", "object", "created", "owned_by"))],
    "CreateEmbeddingResponse": [("", ("object", "data", "model", "usage")), ("data.*", ("object", "index", "embedding"))],
    "ListModelsResponse": [("", ("object", "data"))],
    "Response": [
        ("", ("id", "object", "created_at", "error", "incomplete_details", "instructions", "model", "tools",
              "output", "parallel_tool_calls", "metadata", "tool_choice", "temperature", "top_p")),
        ("output.*.content.*", ("type", "text", "annotations", "logprobs")),
    ],
}


# The filter's documented extension fields (docs/parameters.md, docs/errors.md): the only undeclared keys allowed.
EXTENSIONS = (
    re.compile(r"^\$\.choices\[\d+\]\.(delta|message)\.(reasoning_content|citations)$"),
    re.compile(r"^\$(\.data\[\d+\])?\.(bedrock|provider)$"),
    re.compile(r"^\$\.bedrock_guardrail$"),
    re.compile(r"^\$\.usage\.prompt_tokens_details\.cache_creation_tokens$"),
    re.compile(r"^\$\.choices\[\d+\]\.(delta|message)\.thinking_blocks$"),
    re.compile(r"^\$\.usage\.server_tool_use$"),
    # A `response` says `store: false` (OpenAI's own answers carry `store`; the SDK model omits it).
    re.compile(r"^\$(\.response)?\.store$"),
)


def _at(instance: Any, pattern: str) -> list[tuple[str, Any]]:
    nodes = [("$", instance)]
    for part in [p for p in pattern.split(".") if p]:
        nxt = []
        for where, node in nodes:
            if part == "*":
                nxt += [(f"{where}[{i}]", x) for i, x in enumerate(node)] if isinstance(node, list) else []
            elif isinstance(node, dict) and part in node:
                nxt.append((f"{where}.{part}", node[part]))
        nodes = nxt
    return nodes


def _extras(obj: Any, where: str) -> list[str]:
    import pydantic

    if isinstance(obj, pydantic.BaseModel):
        out = [f"{where}.{k}" for k in (obj.model_extra or {})]
        for name in type(obj).model_fields:
            out += _extras(getattr(obj, name), f"{where}.{name}")
        return out
    if isinstance(obj, (list, tuple)):
        return [e for i, x in enumerate(obj) for e in _extras(x, f"{where}[{i}]")]
    if isinstance(obj, dict):
        return [e for k, x in obj.items() for e in _extras(x, f"{where}.{k}")]
    return []


def sdk_validate(instance: Any, name: str) -> Any:
    """`name`'s SDK model: strict validation, no undeclared field, the document's required keys."""
    import pydantic

    models = _sdk_models()
    if name not in models:
        raise KeyError(f"no SDK model stands for {name}: this check needs the OpenAPI document")
    problems: list[str] = []
    try:
        parsed = models[name].model_validate(instance, strict=True)
    except pydantic.ValidationError as e:
        problems += [f"  at {'/'.join(map(str, err['loc'])) or '<root>'}: {err['msg']}" for err in e.errors()[:20]]
    else:
        problems += [
            f"  at {path}: field not declared by the SDK model"
            for path in _extras(parsed, "$")
            if not any(x.match(path) for x in EXTENSIONS)
        ]
    for pattern, keys in REQUIRED_KEYS.get(name, []):
        for where, node in _at(instance, pattern):
            if isinstance(node, dict):
                problems += [f"  at {where}: missing required `{k}`" for k in keys if k not in node]
    if problems:
        raise AssertionError(
            f"response does not match the openai SDK model for {name} (strict):\n"
            + "\n".join(problems)
            + f"\ninstance: {json.dumps(instance)[:2000]}"
        )
    return instance
