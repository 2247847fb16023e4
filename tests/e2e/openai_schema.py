"""Validate what the filter answers against OpenAI's own OpenAPI document.

The reference (`../shared/reference/openai-openapi.json`, or `$OPENAI_OPENAPI_JSON`) claims
OpenAPI 3.1 but still marks fields with the 3.0-style `nullable: true`, which a JSON-Schema
validator ignores. The loader rewrites those into type unions (`{"type": [T, "null"]}`, `null`
added to an `enum`, or `anyOf [..., {"type": "null"}]` where there is no `type`), then every
check runs jsonschema's Draft 2020-12 validator against `#/components/schemas/<Name>` with the
whole document as the root, so `$ref`s resolve inside it.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:openai-openapi"
REPO = Path(__file__).resolve().parents[2]


def spec_path() -> Path:
    env = os.environ.get("OPENAI_OPENAPI_JSON")
    return Path(env) if env else REPO.parent / "shared" / "reference" / "openai-openapi.json"


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
    if not path.is_file():
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
    """Raises AssertionError listing every violation of `#/components/schemas/<name>`."""
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


def validate_completion(body: Any) -> Any:
    return validate(body, "CreateChatCompletionResponse")


def validate_chunk(body: Any) -> Any:
    return validate(body, "CreateChatCompletionStreamResponse")


def validate_text_completion(body: Any) -> Any:
    return validate(body, "CreateCompletionResponse")


def validate_text_completion_chunk(body: Any) -> Any:
    """A streamed legacy completion. The schema is shared with the unary object and does not
    say that OpenAI streams `finish_reason: null` until the last chunk; such a null is
    accepted, everything else is validated as is."""
    checked = copy.deepcopy(body)
    for choice in checked.get("choices", []) if isinstance(checked, dict) else []:
        if isinstance(choice, dict) and choice.get("finish_reason", "absent") is None:
            choice["finish_reason"] = "stop"
    validate(checked, "CreateCompletionResponse")
    return body


def validate_error(body: Any) -> Any:
    return validate(body, "ErrorResponse")


def deep_copy_spec() -> dict:
    """The rewritten spec (for tests of the helper itself)."""
    return copy.deepcopy(_registry().contents(SPEC_URI))
