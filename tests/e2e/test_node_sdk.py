"""The official OpenAI Node SDK (pinned in tests/clients/node/package.json, installed by
`make node-clients`) as a real client through real Envoy + the filter + the emulator: chat
completions unary and stream, the Responses API (create, the stream helper, a function-tool
loop), embeddings and an error, each scenario in tests/clients/node/clients.mjs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from e2e_support import DEMO_API_KEY

NODE_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"


def run(gateway, scenario: str) -> dict:
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.fail("the Node SDK is not installed: run `make node-clients` (make e2e does)")
    env = dict(os.environ, OPENAI_BASE_URL=gateway.base_url, OPENAI_API_KEY=DEMO_API_KEY)
    done = subprocess.run(
        ["node", "clients.mjs", scenario], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def adds_up(usage: dict, prompt: str, completion: str) -> None:
    assert usage[prompt] + usage[completion] == usage["total_tokens"]


def test_chat_unary_and_stream(gateway):
    r = run(gateway, "chat")
    assert r["content"] == "Echo: Say hello to Node"
    assert r["finish"] == "stop"
    adds_up(r["usage"], "prompt_tokens", "completion_tokens")
    s = run(gateway, "chat_stream")
    assert s["content"] == "Echo: Say hello to Node"
    assert s["usage"]["completion_tokens"] == 5
    adds_up(s["usage"], "prompt_tokens", "completion_tokens")


def test_responses_create_and_stream(gateway):
    r = run(gateway, "responses")
    assert (r["status"], r["output_text"]) == ("completed", "Echo: Say hello to Node")
    adds_up(r["usage"], "input_tokens", "output_tokens")
    s = run(gateway, "responses_stream")
    assert s["output_text"] == "Echo: Say hello to Node"
    assert s["types"][:2] == ["response.created", "response.in_progress"]
    assert "response.output_text.delta" in s["types"]
    assert s["types"][-1] == "response.completed"


def test_responses_function_tool_loop(gateway):
    r = run(gateway, "responses_tool_loop")
    assert r["call"] == {"name": "get_weather", "arguments": {"city": "city"}}
    assert r["answer"].startswith("Tool results: ")
    assert r["answer"].endswith("=sunny")


def test_embeddings(gateway):
    r = run(gateway, "embeddings")
    assert r["n"] == 2
    assert r["dims"][0] == r["dims"][1] > 0
    assert r["usage"]["prompt_tokens"] == r["usage"]["total_tokens"] > 0


def test_a_bedrock_error_reaches_the_sdk_as_an_api_error(gateway):
    assert run(gateway, "error") == {"thrown": True, "status": 429, "type": "rate_limit_error"}
