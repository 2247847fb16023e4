#!/usr/bin/env python3
"""Validates every event of an SSE transcript against the OpenAI OpenAPI document.

Chunks against `CreateChatCompletionStreamResponse`, error events against `ErrorResponse`,
with the pinned `jsonschema` (tests/requirements.txt). Checks that `data: [DONE]` comes last
and only if no error came before it.

    .venv/bin/python tests/schema/validate_sse.py tests/fixtures/sse/*.sse
"""
import json
import os
import sys

import jsonschema

SPEC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "reference", "openai-openapi.json")


def validator(spec, name):
    # OpenAPI 3.0-style `nullable` in a 3.1 document: allow null wherever it is set.
    def fix(node):
        if isinstance(node, dict):
            node = {k: fix(v) for k, v in node.items()}
            if node.get("nullable") is True:
                node = {"anyOf": [{k: v for k, v in node.items() if k != "nullable"}, {"type": "null"}]}
            return node
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    root = fix(spec)
    schema = {"$ref": f"#/components/schemas/{name}", "components": root["components"]}
    return jsonschema.Draft202012Validator(schema)


def main(paths):
    spec = json.load(open(SPEC))
    chunk = validator(spec, "CreateChatCompletionStreamResponse")
    error = validator(spec, "ErrorResponse")
    failed = 0
    for path in paths:
        text = open(path, encoding="utf-8").read()
        assert text.endswith("\n\n"), path
        events = text[:-2].split("\n\n")
        for i, ev in enumerate(events):
            assert ev.startswith("data: "), (path, i, ev)
            data = ev[len("data: "):]
            if data == "[DONE]":
                assert i == len(events) - 1, f"{path}: [DONE] is not last"
                continue
            obj = json.loads(data)
            v = error if "error" in obj else chunk
            if "error" in obj:
                assert i == len(events) - 1, f"{path}: events after an error"
            for e in v.iter_errors(obj):
                failed += 1
                print(f"{path} event {i}: {e.message}", file=sys.stderr)
        print(f"{path}: {len(events)} events checked")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
