"""The golden SSE transcripts the Rust stream tests compare against (tests/fixtures/sse/) are
themselves checked against OpenAI's OpenAPI spec, so a golden file cannot drift into a shape
that only our own types accept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import openai_schema
from e2e_support import REPO, parse_sse

GOLDEN = sorted((REPO / "tests" / "fixtures" / "sse").glob("*.sse"))


def test_there_are_golden_transcripts():
    assert len(GOLDEN) >= 2


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_golden_transcript_is_valid_openai_sse(path: Path):
    events = parse_sse(path.read_bytes())
    assert events, path
    errored = False
    for i, data in enumerate(events):
        if data == "[DONE]":
            assert i == len(events) - 1, "[DONE] must come last"
            assert not errored, "no [DONE] after an error event"
            continue
        body = json.loads(data)
        if "error" in body:
            openai_schema.validate_error(body)
            errored = True
            assert i == len(events) - 1, "an error event ends the stream"
        else:
            openai_schema.validate_chunk(body)
    assert errored or events[-1] == "[DONE]"
