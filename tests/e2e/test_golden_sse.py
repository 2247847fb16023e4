"""The golden SSE transcripts the Rust stream tests compare against (tests/fixtures/sse/) are
themselves checked against OpenAI's OpenAPI spec, so a golden file cannot drift into a shape
that only our own types accept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import openai_schema
from e2e_support import REPO, parse_sse

ALL = sorted((REPO / "tests" / "fixtures" / "sse").glob("*.sse"))
# Chat completions transcripts; `responses-*.sse` are Responses API event streams.
GOLDEN = [p for p in ALL if not p.name.startswith("responses-")]
RESPONSES = [p for p in ALL if p.name.startswith("responses-")]


def test_there_are_golden_transcripts():
    assert len(GOLDEN) >= 2
    assert len(RESPONSES) >= 1


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.name)
def test_golden_responses_transcript_is_valid_openai_sse(path: Path):
    """Every event is a valid `ResponseStreamEvent`, numbered from 0 without gaps, and the
    stream ends with exactly one terminal event."""
    events = [json.loads(e) for e in parse_sse(path.read_bytes())]
    assert events, path
    for i, body in enumerate(events):
        openai_schema.validate_response_event(body)
        assert body["sequence_number"] == i
    terminal = {"response.completed", "response.incomplete", "response.failed"}
    assert [e["type"] in terminal for e in events].count(True) == 1
    assert events[-1]["type"] in terminal
    assert events[0]["type"] == "response.created"


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
