"""How the emulator's answer is derived from a (validated) Converse request: deterministic,
so a test can state the exact text, stop reason and token counts it expects.

Text answers
------------
* Reply text: ``"Echo:"`` followed by the words of the last ``user`` message (its text blocks,
  scenario markers removed, whitespace collapsed to single spaces), joined by single spaces.
  ``"Say hello  to\\nme"`` gives ``"Echo: Say hello to me"``; a message without words gives
  ``"Echo:"``.
* ``inferenceConfig.stopSequences``: the reply is cut just before the earliest occurrence of
  any stop sequence (the text before it is kept verbatim, trailing space included) and
  ``stopReason`` is ``stop_sequence``.
* ``inferenceConfig.maxTokens``: if the (possibly cut) reply has more words than
  ``maxTokens``, it is cut to its first ``maxTokens`` words (joined by single spaces) and
  ``stopReason`` is ``max_tokens``. Otherwise ``stopReason`` is ``end_turn`` (or
  ``stop_sequence`` as above).
* Usage: ``outputTokens`` = number of whitespace-separated words in the final reply;
  ``inputTokens`` = number of whitespace-separated words across all ``system`` texts and all
  message text blocks as received (markers included); ``totalTokens`` = their sum. With
  ``cachePoint`` blocks (prompt_cache.py) or ``[scenario:cache:<read>:<write>]``, also
  ``cacheReadInputTokens`` / ``cacheWriteInputTokens``, and ``totalTokens`` adds them too.

Tools, images, reasoning, JSON (``enrich``, applied on top of the echo, in this order)
-------------------------------------------------------------------------------------
* Images and documents: the reply gets `` [N image(s)]`` then `` [N document(s)]`` appended
  (N = image / document blocks in the last user turn).
* Tool results: when the last user turn holds ``toolResult`` blocks, the reply is
  ``Tool results: <toolUseId>=<text, or compact sorted JSON, [image] for an image> | ...``.
* Citations (``[scenario:citations]``, with a document asking for them): the text comes as one
  ``citationsContent`` block with the citation of ``citation_for``; in a stream, its
  ``citation`` delta first, then the text deltas, in one content block.
* Tool calls (``stopReason`` ``tool_use``), inputs built from each tool's schema by
  ``example_for`` (first enum/const, strings = the property name, integers 1 or the minimum,
  ``true``, one-item arrays, every declared property; a second parallel call gets ``-2``
  strings and numbers + 1), ids ``tooluse_<turn>_<n>_<name>``:
  ``toolChoice.tool`` → that tool; ``[scenario:tool:<name>]`` → that tool;
  ``[scenario:parallel-tools]`` → the first two tools (the first one twice if alone);
  ``[scenario:tool]`` → the first tool; ``toolChoice.any`` → ``json_response`` if declared, else
  the first tool. A forced choice (``any``/``tool``) replies with no text block; otherwise the
  echo text block comes first.
* Structured output: with ``outputConfig.textFormat`` (and no tool call) the reply text is
  ``example_for(schema)`` as compact JSON, ``stopReason`` ``end_turn``.
* Reasoning: with ``additionalModelRequestFields`` ``thinking.type: enabled``,
  ``reasoningConfig.type: enabled`` or ``reasoning_effort``, a ``reasoningContent`` block
  ``Reasoning about: <words of the last user text>`` comes first, signed with ``sign(text)``
  (a keyed hash the emulator checks when the block comes back, see validation.py);
  ``[scenario:redacted-thinking]`` adds a ``redactedContent`` block after it
  (``redacted_blob(turn)``, also checked when it comes back).
* Server tool (``[scenario:server-tool]``): before the text, Nova's code interpreter as
  Bedrock runs it: a ``toolUse`` of type ``server_tool_use`` (``nova_code_interpreter``,
  ``{"snippet": <words>}``), then its ``toolResult`` (type ``nova_code_interpreter_result``,
  status ``success``, ``json`` ``{"stdOut": "<word count>", ...}``). It is no client call: the
  stop reason stays what the rest of the answer makes it.
* ``outputTokens`` counts the words of the text, the reasoning and each tool input's JSON.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .scenarios import Scenario, parse_scenario, strip_markers

JSON_TOOL = "json_response"
SERVER_TOOL = "nova_code_interpreter"
# The key of the emulator's reasoning signatures: fixed, so answers stay deterministic.
_SIGNING_KEY = b"bedrock-emulator-reasoning-key"
_REDACTED_PREFIX = b"emulated-redacted:"


def sign(text: str) -> str:
    """The signature of reasoning text: what the emulator answers with and checks back."""
    digest = hmac.new(_SIGNING_KEY, text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def redacted_blob(turn: int) -> bytes:
    """The bytes of a redacted reasoning block: a marker, the turn, and a keyed hash of both."""
    body = _REDACTED_PREFIX + str(turn).encode()
    return body + hmac.new(_SIGNING_KEY, body, hashlib.sha256).digest()[:16]


def redacted_is_ours(blob: bytes) -> bool:
    body, tag = blob[:-16], blob[-16:]
    good = hmac.new(_SIGNING_KEY, body, hashlib.sha256).digest()[:16]
    return body.startswith(_REDACTED_PREFIX) and hmac.compare_digest(tag, good)


def _texts(blocks: list | None) -> list[str]:
    """The texts of `text` blocks and of `guardContent` text blocks, in order."""
    out = []
    for b in blocks or []:
        if not isinstance(b, dict):
            continue
        if isinstance(b.get("text"), str):
            out.append(b["text"])
        elif isinstance(((b.get("guardContent") or {}).get("text") or {}).get("text"), str):
            out.append(b["guardContent"]["text"]["text"])
    return out


def _guarded_texts(blocks: list) -> list[str]:
    """The `guardContent` texts of `blocks` a guardrail assesses (qualifier `guard_content`, or
    none)."""
    out = []
    for b in blocks:
        text = (b.get("guardContent") or {}).get("text") if isinstance(b, dict) else None
        if text and "guard_content" in (text.get("qualifiers") or ["guard_content"]):
            out.append(text["text"])
    return out


def last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return " ".join(_texts(message.get("content")))
    return ""


def count_words(text: str) -> int:
    return len(text.split())


@dataclass
class Answer:
    text: str
    stop_reason: str
    input_tokens: int
    output_tokens: int
    # Set by enrich() for tools, reasoning and structured output; empty means a text answer.
    reasoning: str | None = None
    # Base64 of a redactedContent block after the reasoning ([scenario:redacted-thinking]).
    redacted: str | None = None
    # Nova's code interpreter: (toolUse, toolResult) before the text ([scenario:server-tool]).
    server_tool: tuple[dict, dict] | None = None
    tool_uses: list = field(default_factory=list)
    # Echoed from the request: `serviceTier` (Bedrock's default when absent), `performanceConfig`.
    service_tier: dict = field(default_factory=lambda: {"type": "default"})
    performance: dict | None = None
    # `trace` of the answer (the guardrail's assessment), when the guardrail's trace is on.
    trace: dict | None = None
    # (cache read, cache write), reported when the request used the prompt cache.
    cache: tuple[int, int] | None = None
    # Citations of the text ([scenario:citations]): the text comes as a citationsContent block.
    citations: list = field(default_factory=list)

    def extras(self) -> dict:
        """The members a Converse answer and the stream's `metadata` event share."""
        out: dict = {"serviceTier": self.service_tier}
        if self.performance is not None:
            out["performanceConfig"] = self.performance
        if self.trace is not None:
            out["trace"] = self.trace
        return out

    @property
    def plain(self) -> bool:
        return self.reasoning is None and not self.tool_uses and self.server_tool is None and not self.citations

    def content_blocks(self) -> list[dict]:
        """The Converse `output.message.content` of this answer."""
        blocks: list[dict] = []
        if self.reasoning is not None:
            blocks.append(
                {"reasoningContent": {"reasoningText": {"text": self.reasoning, "signature": sign(self.reasoning)}}}
            )
        if self.redacted is not None:
            blocks.append({"reasoningContent": {"redactedContent": self.redacted}})
        if self.server_tool is not None:
            use, result = self.server_tool
            blocks += [{"toolUse": use}, {"toolResult": result}]
        if self.citations:
            blocks.append(
                {"citationsContent": {"content": [{"text": self.text}], "citations": self.citations}}
            )
        elif self.text or not self.tool_uses:
            blocks.append({"text": self.text})
        blocks += [{"toolUse": t} for t in self.tool_uses]
        return blocks

    @property
    def usage(self) -> dict:
        read, write = self.cache or (0, 0)
        usage = {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens + self.output_tokens + read + write,
        }
        if self.cache is not None:
            usage["cacheReadInputTokens"] = read
            usage["cacheWriteInputTokens"] = write
        return usage

    def deltas(self) -> list[str]:
        """Word pieces (each with the whitespace that follows it) that concatenate to text."""
        pieces = re.findall(r"\S+\s*", self.text)
        leading = self.text[: len(self.text) - len(self.text.lstrip())]
        if leading:
            pieces = [leading + pieces[0]] + pieces[1:] if pieces else [leading]
        return pieces


def answer(body: dict) -> Answer:
    words = strip_markers(last_user_text(body)).split()
    text = " ".join(["Echo:"] + words)
    stop_reason = "end_turn"
    config = body.get("inferenceConfig") or {}
    cuts = [text.find(s) for s in config.get("stopSequences") or [] if s and s in text]
    if cuts:
        text = text[: min(cuts)]
        stop_reason = "stop_sequence"
    max_tokens = config.get("maxTokens")
    if isinstance(max_tokens, int) and count_words(text) > max_tokens:
        text = " ".join(text.split()[:max_tokens])
        stop_reason = "max_tokens"
    input_texts = _texts(body.get("system"))
    for message in body.get("messages") or []:
        input_texts += _texts(message.get("content"))
    input_tokens = sum(count_words(t) for t in input_texts)
    return Answer(text, stop_reason, input_tokens, count_words(text))


def example_for(schema: Any, key: str = "value", variant: int = 0) -> Any:
    """A deterministic value that validates against the common JSON Schema subset: the first
    enum/const, `<key>` strings (`<key>-2` for a second parallel call), 1 (or the minimum),
    true, one-item arrays, every declared property of an object."""
    if not isinstance(schema, dict):
        return key
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for union in ("anyOf", "oneOf", "allOf"):
        if schema.get(union):
            return example_for(schema[union][0], key, variant)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        return {
            name: example_for(sub, name, variant)
            for name, sub in (schema.get("properties") or {}).items()
        }
    if kind == "array":
        return [example_for(schema.get("items") or {}, key, variant)]
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1) + variant
    if kind == "number":
        return float(max(schema.get("minimum", 1.5), 1.5)) + variant
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return key if variant == 0 else f"{key}-{variant + 1}"


def _tool_specs(body: dict) -> list[dict]:
    return [t["toolSpec"] for t in (body.get("toolConfig") or {}).get("tools") or [] if "toolSpec" in t]


def _last_user(body: dict) -> dict:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return message
    return {}


def _result_text(result: dict) -> str:
    parts = []
    for c in result.get("content") or []:
        if "text" in c:
            parts.append(c["text"])
        elif "json" in c:
            parts.append(json.dumps(c["json"], separators=(",", ":"), sort_keys=True))
        elif "image" in c:
            parts.append("[image]")
    return " ".join(parts)


TEXT_FORMATS = {"txt", "md", "csv", "html"}


def citation_for(body: dict) -> dict | None:
    """The citation ``[scenario:citations]`` answers with: of the first document of the request
    that asks for citations, its name as ``title``; for a text format, its first line (at most
    60 characters) as ``sourceContent`` at ``documentChar`` 0..length; else ``(page 1)`` at
    ``documentPage`` 1..2. ``documentIndex`` counts the request's documents in order."""
    docs = [b["document"] for m in body.get("messages") or [] for b in m.get("content") or [] if "document" in b]
    for index, doc in enumerate(docs):
        if not (doc.get("citations") or {}).get("enabled"):
            continue
        source = doc.get("source") or {}
        if doc.get("format") in TEXT_FORMATS and "bytes" in source:
            first = base64.b64decode(source["bytes"]).decode("utf-8", "replace").strip().split("\n")[0][:60]
            location = {"documentChar": {"documentIndex": index, "start": 0, "end": len(first)}}
        else:
            first = "(page 1)"
            location = {"documentPage": {"documentIndex": index, "start": 1, "end": 2}}
        return {"title": doc.get("name"), "sourceContent": [{"text": first}], "location": location}
    return None


def enrich(body: dict, base: Answer, scenario: Scenario | None = None) -> Answer:
    """Tool calls, tool-result echoes, image counts, reasoning and structured output on top of
    the plain echo answer (see the module docstring, "Tools, images, reasoning, JSON").
    `scenario` is the request's (parsed from its last user text when not given)."""
    last = _last_user(body)
    text = strip_markers(last_user_text(body))
    if scenario is None:
        scenario = parse_scenario(last_user_text(body))
    result = base
    images = sum(1 for b in last.get("content") or [] if "image" in b)
    if images:
        result.text = f"{result.text} [{images} image{'s' if images > 1 else ''}]"
    documents = sum(1 for b in last.get("content") or [] if "document" in b)
    if documents:
        result.text = f"{result.text} [{documents} document{'s' if documents > 1 else ''}]"
    results = [b["toolResult"] for b in last.get("content") or [] if "toolResult" in b]
    if results:
        result.text = "Tool results: " + " | ".join(
            f"{r['toolUseId']}={_result_text(r)}" for r in results
        )
        result.stop_reason = "end_turn"
    specs = _tool_specs(body)
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    wanted: list[dict] = []
    named = scenario.tool
    if specs:
        by_name = {s["name"]: s for s in specs}
        if "tool" in choice:
            wanted = [by_name[choice["tool"]["name"]]]
        elif named and named in by_name:
            wanted = [by_name[named]]
        elif scenario.parallel_tools:
            wanted = [specs[0], specs[1] if len(specs) > 1 else specs[0]]
        elif scenario.first_tool:
            wanted = [specs[0]]
        elif "any" in choice:
            wanted = [by_name.get(JSON_TOOL, specs[0])]
    if wanted:
        turn = len(body.get("messages") or [])
        for n, spec in enumerate(wanted):
            schema = (spec.get("inputSchema") or {}).get("json") or {}
            value = example_for(schema, "value", n)
            result.tool_uses.append(
                {
                    "toolUseId": f"tooluse_{turn}_{n}_{spec['name']}"[:64],
                    "name": spec["name"],
                    "input": value if isinstance(value, dict) else {"value": value},
                }
            )
        if choice.get("any") is not None or choice.get("tool") is not None:
            result.text = ""  # a forced tool call comes without text
        result.stop_reason = "tool_use"
    text_format = (body.get("outputConfig") or {}).get("textFormat")
    if text_format and not result.tool_uses:
        schema = json.loads(text_format["structure"]["jsonSchema"]["schema"])
        result.text = json.dumps(example_for(schema), separators=(",", ":"))
        result.stop_reason = "end_turn"
    cited = citation_for(body) if scenario.citations and not result.tool_uses else None
    if cited is not None:
        result.citations = [cited]
    extra = body.get("additionalModelRequestFields") or {}
    thinking = (extra.get("thinking") or {}).get("type") == "enabled"
    nova = (extra.get("reasoningConfig") or {}).get("type") == "enabled"
    turn = len(body.get("messages") or [])
    if thinking or nova or extra.get("reasoning_effort"):
        result.reasoning = "Reasoning about: " + " ".join(text.split())
        if scenario.redacted_thinking:
            result.redacted = base64.b64encode(redacted_blob(turn)).decode()
    if scenario.server_tool:
        result.server_tool = server_tool_blocks(turn, text)
    result.output_tokens = (
        count_words(result.text)
        + sum(count_words(json.dumps(t["input"])) for t in result.tool_uses)
        + count_words(result.reasoning or "")
        + (count_words(json.dumps(result.server_tool[0]["input"])) if result.server_tool else 0)
    )
    return result


def server_tool_blocks(turn: int, text: str) -> tuple[dict, dict]:
    """Nova's code interpreter run on the words of the last user text: its ``toolUse`` (type
    ``server_tool_use``) and the ``toolResult`` Bedrock adds (stdOut: the word count)."""
    tool_use_id = f"tooluse_{turn}_server"
    use = {
        "toolUseId": tool_use_id,
        "name": SERVER_TOOL,
        "type": "server_tool_use",
        "input": {"snippet": " ".join(text.split())},
    }
    result = {
        "toolUseId": tool_use_id,
        "type": f"{SERVER_TOOL}_result",
        "status": "success",
        "content": [{"json": {"stdOut": str(count_words(text)), "stdErr": "", "exitCode": 0, "isError": False}}],
    }
    return use, result


def answer_for(body: dict, scenario: Scenario | None = None) -> Answer:
    """The whole answer to a validated request: the echo, `enrich`, then a
    ``[scenario:stop-reason:<value>]`` override."""
    if scenario is None:
        scenario = parse_scenario(last_user_text(body))
    result = enrich(body, answer(body), scenario)
    if scenario.stop_reason:
        result.stop_reason = scenario.stop_reason
    if body.get("serviceTier"):
        result.service_tier = {"type": body["serviceTier"]["type"]}
    if body.get("performanceConfig"):
        result.performance = {"latency": body["performanceConfig"].get("latency", "standard")}
    guardrail(body, result, scenario)
    return result


GUARDRAIL_BLOCKED = "Sorry, the model cannot answer this question."


def guardrail(body: dict, result: Answer, scenario: Scenario) -> None:
    """A configured guardrail: intervenes on `[scenario:guardrail]` in the messages (inside a
    `guardContent` block when they have any) or in a `guardContent` block of `system` (plain
    system text is not assessed), and traces its assessment when `trace` is on."""
    config = body.get("guardrailConfig")
    if not config:
        return
    guarded = _guarded_texts([b for m in body.get("messages") or [] for b in m.get("content") or []])
    system = _guarded_texts(body.get("system") or [])
    intervened = any(parse_scenario(t).guardrail for t in system) or (
        scenario.guardrail and (not guarded or any(parse_scenario(t).guardrail for t in guarded))
    )
    if intervened:
        result.text = GUARDRAIL_BLOCKED
        result.tool_uses = []
        result.reasoning = None
        result.stop_reason = "guardrail_intervened"
        result.output_tokens = count_words(result.text)
    if config.get("trace") not in ("enabled", "enabled_full"):
        return
    gid = config["guardrailIdentifier"].rsplit("/", 1)[-1]
    assessment: dict = {
        "invocationMetrics": {
            "guardrailProcessingLatency": 1,
            "usage": {
                "topicPolicyUnits": 1,
                "contentPolicyUnits": 0,
                "wordPolicyUnits": 0,
                "sensitiveInformationPolicyUnits": 0,
                "sensitiveInformationPolicyFreeUnits": 0,
                "contextualGroundingPolicyUnits": 0,
            },
        },
        "appliedGuardrailDetails": {"guardrailId": gid, "guardrailVersion": config["guardrailVersion"],
                                    "guardrailOrigin": ["REQUEST"]},
    }
    if intervened:
        assessment["topicPolicy"] = {
            "topics": [{"name": "Emulated topic", "type": "DENY", "action": "BLOCKED", "detected": True}]
        }
    result.trace = {
        "guardrail": {
            "actionReason": "Guardrail blocked." if intervened else "No action.",
            "inputAssessment": {gid: assessment},
            "modelOutput": [],
        }
    }
