#!/usr/bin/env python3
"""A local Amazon Bedrock Runtime emulator for the Converse and ConverseStream APIs.

Standard library (``http.server``) plus ``botocore`` only. Start it with::

    python tests/emulator/bedrock_emulator.py --port 8787 [--host 127.0.0.1] [--region us-east-1]

``--port 0`` picks a free port; the first line printed on stdout is always
``bedrock-emulator listening on http://HOST:PORT``.

What it checks, like Bedrock does
---------------------------------
* Routes: ``POST /model/{modelId}/converse`` and ``POST /model/{modelId}/converse-stream``.
  ``modelId`` arrives percent-encoded once (``us.anthropic.claude-3-5-sonnet-20241022-v2%3A0``)
  and is decoded once. Anything else is ``404 UnknownOperationException``.
* SigV4 (service ``bedrock``, the emulator's region), recomputed independently with botocore's
  ``SigV4Auth`` from the method, the raw path as received, the received body and exactly the
  headers listed in ``SignedHeaders``. Expected credentials: ``AWS_ACCESS_KEY_ID`` /
  ``AWS_SECRET_ACCESS_KEY`` from the environment (default: the demo pair
  ``AKIDEMOBEDROCKLOCAL0`` / ``demo-secret-key-for-the-local-bedrock-emulator``). When
  ``AWS_SESSION_TOKEN`` is set, ``x-amz-security-token`` must carry it (and must be absent
  otherwise). Failures are ``403`` with ``x-amzn-ErrorType`` ``MissingAuthenticationTokenException``
  (no ``Authorization``), ``IncompleteSignatureException`` (an ``Authorization`` that is not
  ``AWS4-HMAC-SHA256``, e.g. a client ``Bearer`` key, or a malformed one),
  ``UnrecognizedClientException`` (unknown access key or wrong session token) or
  ``InvalidSignatureException`` (wrong signature, scope, clock skew over 15 minutes, or an
  ``x-amz-content-sha256`` that is not the body's hash).
* The JSON body against the Bedrock service model (``bedrock-runtime-service-2.json``, the
  file in ``$BEDROCK_MODEL_JSON`` or ``<repo>/../shared/reference/``, else botocore's bundled
  copy) with botocore's ``ParamValidator`` (required members, unknown keys, types, unions,
  minimums), plus Bedrock's rules that botocore does not check: the decoded ``modelId`` fully
  matches the model's pattern (an id percent-encoded twice, ``...-v2%3A0``, does not),
  ``messages`` is non-empty, roles are ``user``/``assistant`` only, the first message is from
  the user, roles alternate, every ``content`` array is non-empty, text blocks (and system
  text) are not blank, ``inferenceConfig.maxTokens >= 1``, ``0 <= temperature <= 1``,
  ``0 <= topP <= 1``. Violations are ``400 ValidationException``.

Errors are answered like Bedrock: the status from the service model
(``shapes.<Name>.error.httpStatusCode``), header ``x-amzn-ErrorType: <Name>:<namespace URL>``
(Bedrock appends ``:http://internal.amazon.com/coral/...``; ``--plain-errortype`` sends just the
name), ``x-amzn-RequestId``, ``content-type: application/json`` and body ``{"message": "..."}``.

Deterministic answers
---------------------
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
  message text blocks as received (markers included); ``totalTokens`` = their sum.
* Converse: ``{"output": {"message": {"role": "assistant", "content": [{"text": REPLY}]}},
  "stopReason", "usage", "metrics": {"latencyMs"}}`` with a ``x-amzn-RequestId`` (uuid4).
* ConverseStream: ``content-type: application/vnd.amazon.eventstream``, HTTP/1.1 chunked, one
  event-stream frame per chunk (flushed), each frame with headers ``:event-type``,
  ``:content-type: application/json``, ``:message-type: event`` and a JSON payload carrying a
  ``"p"`` padding field like real Bedrock: ``messageStart`` ``{"role": "assistant"}``; one
  ``contentBlockDelta`` per word (``contentBlockIndex`` 0, ``delta.text`` = the word plus the
  whitespace that follows it, so the deltas concatenate to REPLY); ``contentBlockStop``;
  ``messageStop`` ``{"stopReason"}``; ``metadata`` ``{"usage", "metrics", "serviceTier"}``.

Tools, images, reasoning, JSON (applied on top of the echo, in this order)
--------------------------------------------------------------------------
* Extra validation (``400 ValidationException``): ``toolConfig`` is required when the
  conversation holds ``toolUse``/``toolResult`` blocks; tool names are unique; a
  ``toolChoice.tool`` names a declared tool; every ``toolResult`` answers a ``toolUse`` of the
  assistant turn just before, and every ``toolUse`` is answered in the next turn; image bytes
  are non-empty base64; ``outputConfig.textFormat`` carries a schema string that parses; with
  ``additionalModelRequestFields.thinking`` enabled (Anthropic's rules) ``budget_tokens >= 1024``,
  ``maxTokens > budget_tokens``, no ``temperature``/``topP`` and no forced ``toolChoice``.
* Images: the reply gets `` [N image(s)]`` appended (N = image blocks in the last user turn).
* Tool results: when the last user turn holds ``toolResult`` blocks, the reply is
  ``Tool results: <toolUseId>=<text, or compact sorted JSON> | ...``.
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
  ``Reasoning about: <words of the last user text>`` (signature ``emulated-signature``) comes
  first.
* Streams carry the same blocks, each with its own ``contentBlockIndex``: reasoning as word
  deltas then a signature delta, text as word deltas, each toolUse as ``contentBlockStart``
  (``toolUseId``, ``name``) plus its input JSON in two ``toolUse.input`` fragments.
* ``outputTokens`` counts the words of the text, the reasoning and each tool input's JSON.

Scenario markers (anywhere in the last user message; removed from the echoed text)
---------------------------------------------------------------------------------
* ``[scenario:throttle]``: ``429 ThrottlingException`` "Too many requests, please wait before
  trying again." (unary and stream, before any frame).
* ``[scenario:error:<ExceptionName>]`` or ``[scenario:error:<ExceptionName>:<status>]``: that
  error with message ``Emulated <ExceptionName> from the Bedrock emulator.``; the status
  defaults to the service model's ``httpStatusCode`` (ValidationException 400,
  AccessDeniedException 403, ResourceNotFoundException 404, ThrottlingException 429,
  ServiceQuotaExceededException 400, ModelNotReadyException 429, ModelTimeoutException 408,
  ModelErrorException 424, ServiceUnavailableException 503, InternalServerException 500).
* ``[scenario:stream-error]`` (streaming only; ignored by Converse): ``messageStart``, the
  first two word deltas, then an exception frame (``:message-type: exception``,
  ``:exception-type: modelStreamErrorException``, payload ``{"message": "Emulated model stream
  error after 2 content deltas.", "originalStatusCode": 500, "originalMessage": ...}``) and the
  end of the body. ``[scenario:stream-error:<eventName>]`` sends another exception event name,
  e.g. ``throttlingException``.
* ``[scenario:slow]`` / ``[scenario:slow:<seconds>]``: 0.3 s (or the given delay) before each
  frame; a Converse answer is delayed once by the same amount.
* ``[scenario:split]`` / ``[scenario:split:<n>]`` (streaming): every frame is cut into
  ``n``-byte HTTP chunks (default 7), 2 ms apart, so frames straddle body callbacks.
* ``[scenario:coalesce]`` (streaming): all frames in one HTTP chunk at the end.
* ``[scenario:corrupt]`` / ``[scenario:corrupt-prelude]`` (streaming): after two deltas, a
  frame with one flipped bit in its payload (bad message CRC) or in its prelude CRC, then one
  more valid delta and the end of the body.
* ``[scenario:truncate]`` (streaming): after two deltas, the first half of a frame, then the
  end of the body.
* ``[scenario:reset]`` (streaming): after two deltas, the TCP connection is reset (RST, no
  end of the chunked body); a Converse call is reset before any answer.
* ``[scenario:bad-json]`` (Converse): ``200`` with a truncated JSON body.
* ``[scenario:empty-status:<code>]``: that status with no body at all
* ``[scenario:raw-status:<code>]``: that status with an HTML body and no ``x-amzn-ErrorType``
  (as from a proxy in front of Bedrock).
* ``[scenario:stop-reason:<value>]``: that ``stopReason`` instead of the computed one (e.g.
  ``content_filtered``, ``guardrail_intervened``, ``model_context_window_exceeded``).

Other ways in
-------------
* Custom gateway (``--gateway-token`` or ``$BEDROCK_GATEWAY_TOKEN``): ``POST
  /v1.0/model/bedrock/model/{alias}/converse`` and ``/converse-stream`` take the header
  ``authorization-token`` instead of SigV4 (missing: ``401``, wrong: ``403``, both
  ``{"message"}`` without ``x-amzn-ErrorType``, as a gateway answers) and need ``accept:
  application/json`` (else ``406``); SigV4 headers there are a ``400``. Answers as Converse.
* Bedrock API key (``--api-key`` or ``$AWS_BEARER_TOKEN_BEDROCK``): ``Authorization: Bearer
  <key>`` instead of SigV4 (a wrong key is ``403 UnrecognizedClientException``; without an
  API key configured a bearer token is an ``IncompleteSignatureException`` as above).
* Rotating credentials: IMDSv2 (``PUT /latest/api/token`` with
  ``x-aws-ec2-metadata-token-ttl-seconds``; ``GET /latest/meta-data/iam/security-credentials/``
  → ``bedrock-emulator-role``; ``GET .../bedrock-emulator-role``) and the container endpoint
  (``GET /v2/credentials/<id>``, ``Authorization`` checked when
  ``$AWS_CONTAINER_AUTHORIZATION_TOKEN`` is set). Every credential fetch issues new keys that
  live ``--credential-ttl`` seconds (``$EMULATOR_CREDENTIAL_TTL``, default 3600); SigV4 with
  any issued key is accepted until it expires, then ``403 ExpiredTokenException``.
  ``GET /_emulator/credentials`` lists the issued keys.

Inspection (no authentication)
------------------------------
* ``GET /_emulator/health`` → ``200 {"status": "ok"}``
* ``GET /_emulator/requests`` → the last 50 requests: ``method``, ``path`` (raw),
  ``headers`` (lower-case names; repeated headers joined with ``", "``), ``raw_headers``
  (list of ``[name, value]`` as received), ``body`` (parsed JSON, else the text), ``model_id``,
  ``operation``, ``status`` (the status answered) and ``error`` (the exception name answered,
  or the stream fault injected), ``time``.
* ``POST /_emulator/reset`` → clears that list.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import botocore.loaders
import botocore.model
import botocore.validate
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import aws_services  # noqa: E402 - Secrets Manager, SSM and STS on the same port

DEMO_ACCESS_KEY_ID = "AKIDEMOBEDROCKLOCAL0"
DEMO_SECRET_ACCESS_KEY = "demo-secret-key-for-the-local-bedrock-emulator"
DEFAULT_REGION = "us-east-1"
SIGNING_SERVICE = "bedrock"
MAX_CLOCK_SKEW = datetime.timedelta(minutes=15)
REQUEST_LOG_SIZE = 50
DEFAULT_SLOW_DELAY = 0.3
STREAM_ERROR_AFTER_DELTAS = 2
RESET_GRACE_SECONDS = 0.3
DEFAULT_SPLIT_SIZE = 7
SPLIT_PAUSE = 0.002

# Namespaces Bedrock appends to x-amzn-ErrorType ("ValidationException:http://...").
BEDROCK_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"
CORAL_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.coral.service/"
AUTH_ERRORS = {
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "UnrecognizedClientException",
}

ROUTE = re.compile(r"^/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream)$")
# A custom Bedrock gateway (seed bedrock-proxy-custom-gateway.md): token header, no SigV4.
GATEWAY_ROUTE = re.compile(
    r"^/v1\.0/model/bedrock/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream)$"
)
GATEWAY_TOKEN_HEADER = "authorization-token"
IMDS_ROLE = "bedrock-emulator-role"
DEFAULT_CREDENTIAL_TTL = 3600.0
MARKER = re.compile(r"\[scenario:[^\]]*\]")
AUTH_HEADER = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)
PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation "
    "for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."
THROTTLE_MESSAGE = "Too many requests, please wait before trying again."


def _repo_root() -> Path:
    # tests/emulator/bedrock_emulator.py → the repository root is two levels up.
    return Path(__file__).resolve().parents[2]


def default_model_path() -> Path:
    env = os.environ.get("BEDROCK_MODEL_JSON")
    if env:
        return Path(env)
    return _repo_root().parent / "shared" / "reference" / "bedrock-runtime-service-2.json"


def load_service_model(path: Path | None = None) -> botocore.model.ServiceModel:
    """The Bedrock Runtime service model: the reference file, else botocore's bundled copy."""
    path = path or default_model_path()
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
    else:
        if os.environ.get("BEDROCK_MODEL_JSON"):
            raise FileNotFoundError(f"BEDROCK_MODEL_JSON={path} does not exist")
        print(
            f"bedrock-emulator: {path} not found, using botocore's bundled bedrock-runtime model",
            file=sys.stderr,
        )
        data = botocore.loaders.Loader().load_service_model("bedrock-runtime", "service-2")
    return botocore.model.ServiceModel(data, service_name="bedrock-runtime")


# ---------------------------------------------------------------------------------------------
# Event-stream encoding (application/vnd.amazon.eventstream)
# ---------------------------------------------------------------------------------------------

HEADER_TYPE_STRING = 7
PRELUDE_LENGTH = 12
MESSAGE_CRC_LENGTH = 4


def encode_headers(headers: list[tuple[str, str]]) -> bytes:
    out = bytearray()
    for name, value in headers:
        raw_name = name.encode("utf-8")
        raw_value = value.encode("utf-8")
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", HEADER_TYPE_STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_frame(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One event-stream message: prelude (total length, headers length, prelude CRC),
    headers, payload, message CRC (CRC-32 of everything before it)."""
    raw_headers = encode_headers(headers)
    total = PRELUDE_LENGTH + len(raw_headers) + len(payload) + MESSAGE_CRC_LENGTH
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + raw_headers + payload
    return message + struct.pack(">I", zlib.crc32(message) & 0xFFFFFFFF)


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("utf-8")


def event_frame(event_type: str, payload: dict, index: int) -> bytes:
    body = dict(payload)
    body["p"] = PADDING[: (index * 7) % len(PADDING) + 1]
    return encode_frame(
        [
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        _json_bytes(body),
    )


def exception_frame(exception_type: str, payload: dict) -> bytes:
    return encode_frame(
        [
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        _json_bytes(payload),
    )


# ---------------------------------------------------------------------------------------------
# Errors, validation and the deterministic model
# ---------------------------------------------------------------------------------------------


class BedrockError(Exception):
    def __init__(self, status: int, name: str, message: str):
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message


def validation_error(message: str) -> BedrockError:
    return BedrockError(400, "ValidationException", message)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_semantics(body: dict) -> None:
    """Bedrock's rules that botocore's ParamValidator does not check."""
    messages = body.get("messages")
    if not messages:
        raise validation_error(
            "A conversation must start with a user message. Try again with a conversation "
            "that starts with a user message."
        )
    previous = None
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise validation_error(
                f"1 validation error detected: Value '{role}' at 'messages.{i + 1}.member.role' "
                "failed to satisfy constraint: Member must satisfy enum value set: "
                "[user, assistant]"
            )
        if i == 0 and role != "user":
            raise validation_error(
                "A conversation must start with a user message. Try again with a conversation "
                "that starts with a user message."
            )
        if role == previous:
            raise validation_error(
                "A conversation must alternate between user and assistant roles. Make sure the "
                "conversation alternates between user and assistant roles and try again."
            )
        previous = role
        content = message.get("content")
        if not content:
            raise validation_error(
                f"The content field in the Message object at messages.{i} is empty. Add a "
                "ContentBlock object to the content field and try again."
            )
        for j, block in enumerate(content):
            if "text" in block and not block["text"].strip():
                raise validation_error(
                    f"The text field in the ContentBlock object at messages.{i}.content.{j} is "
                    "blank. Add text to the text field, and try again."
                )
    for i, block in enumerate(body.get("system") or []):
        if "text" in block and not block["text"].strip():
            raise validation_error(
                f"The text field in the SystemContentBlock object at system.{i} is blank. Add "
                "text to the text field, and try again."
            )
    config = body.get("inferenceConfig") or {}
    limits = {"maxTokens": (1, None), "temperature": (0, 1), "topP": (0, 1)}
    for name, (low, high) in limits.items():
        if name not in config:
            continue
        value = config[name]
        if not _is_number(value):
            raise validation_error(
                f"1 validation error detected: Value '{value}' at 'inferenceConfig.{name}' "
                "failed to satisfy constraint: Member must be a number"
            )
        if value < low:
            raise validation_error(
                f"1 validation error detected: Value '{value}' at 'inferenceConfig.{name}' "
                f"failed to satisfy constraint: Member must have value greater than or equal "
                f"to {low}"
            )
        if high is not None and value > high:
            raise validation_error(
                f"1 validation error detected: Value '{value}' at 'inferenceConfig.{name}' "
                f"failed to satisfy constraint: Member must have value less than or equal to "
                f"{high}"
            )


def _texts(blocks: list | None) -> list[str]:
    return [b["text"] for b in blocks or [] if isinstance(b, dict) and isinstance(b.get("text"), str)]


def last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return " ".join(_texts(message.get("content")))
    return ""


def count_words(text: str) -> int:
    return len(text.split())


@dataclass
class Scenario:
    throttle: bool = False
    error: tuple[str, int | None] | None = None
    stream_error: str | None = None
    slow: float = 0.0
    split: int | None = None
    coalesce: bool = False
    corrupt: str | None = None  # "payload" (message CRC) or "prelude" (prelude CRC)
    truncate: bool = False
    reset: bool = False
    bad_json: bool = False
    raw_status: int | None = None
    empty_status: int | None = None
    stop_reason: str | None = None


def parse_scenario(text: str) -> Scenario:
    scenario = Scenario()
    for marker in MARKER.findall(text):
        parts = marker[len("[scenario:") : -1].split(":")
        kind = parts[0].strip()
        if kind == "throttle":
            scenario.throttle = True
        elif kind == "error" and len(parts) >= 2 and parts[1]:
            status = int(parts[2]) if len(parts) >= 3 and parts[2].strip().isdigit() else None
            scenario.error = (parts[1].strip(), status)
        elif kind == "stream-error":
            scenario.stream_error = parts[1].strip() if len(parts) >= 2 and parts[1] else (
                "modelStreamErrorException"
            )
        elif kind == "split":
            size = parts[1].strip() if len(parts) >= 2 else ""
            scenario.split = max(1, int(size)) if size.isdigit() else DEFAULT_SPLIT_SIZE
        elif kind == "coalesce":
            scenario.coalesce = True
        elif kind == "corrupt":
            scenario.corrupt = "payload"
        elif kind == "corrupt-prelude":
            scenario.corrupt = "prelude"
        elif kind == "truncate":
            scenario.truncate = True
        elif kind == "reset":
            scenario.reset = True
        elif kind == "bad-json":
            scenario.bad_json = True
        elif kind == "raw-status" and len(parts) >= 2 and parts[1].strip().isdigit():
            scenario.raw_status = int(parts[1])
        elif kind == "empty-status" and len(parts) >= 2 and parts[1].strip().isdigit():
            scenario.empty_status = int(parts[1])
        elif kind == "stop-reason" and len(parts) >= 2 and parts[1].strip():
            scenario.stop_reason = parts[1].strip()
        elif kind == "slow":
            try:
                scenario.slow = float(parts[1]) if len(parts) >= 2 else DEFAULT_SLOW_DELAY
            except ValueError:
                scenario.slow = DEFAULT_SLOW_DELAY
    return scenario


@dataclass
class Answer:
    text: str
    stop_reason: str
    input_tokens: int
    output_tokens: int
    # Set by enrich() for tools, reasoning and structured output; empty means a text answer.
    reasoning: str | None = None
    tool_uses: list = field(default_factory=list)

    @property
    def plain(self) -> bool:
        return self.reasoning is None and not self.tool_uses

    def content_blocks(self) -> list[dict]:
        """The Converse `output.message.content` of this answer."""
        blocks: list[dict] = []
        if self.reasoning is not None:
            blocks.append(
                {"reasoningContent": {"reasoningText": {"text": self.reasoning, "signature": REASONING_SIGNATURE}}}
            )
        if self.text or not self.tool_uses:
            blocks.append({"text": self.text})
        blocks += [{"toolUse": t} for t in self.tool_uses]
        return blocks

    @property
    def usage(self) -> dict:
        return {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens + self.output_tokens,
        }

    def deltas(self) -> list[str]:
        """Word pieces (each with the whitespace that follows it) that concatenate to text."""
        pieces = re.findall(r"\S+\s*", self.text)
        leading = self.text[: len(self.text) - len(self.text.lstrip())]
        if leading:
            pieces = [leading + pieces[0]] + pieces[1:] if pieces else [leading]
        return pieces


def answer(body: dict) -> Answer:
    words = MARKER.sub(" ", last_user_text(body)).split()
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


# ---------------------------------------------------------------------------------------------
# Tools, reasoning, images and structured output
# ---------------------------------------------------------------------------------------------

REASONING_SIGNATURE = "emulated-signature"
JSON_TOOL = "json_response"


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


def check_tool_semantics(body: dict) -> None:
    """Bedrock's (and Anthropic's) tool rules: toolConfig present when the conversation holds
    tool blocks, unique tool names, a named toolChoice that exists, every toolResult answering a
    toolUse of the assistant turn just before it, every toolUse answered in the next turn,
    well-formed images and structured-output schemas."""
    messages = body.get("messages") or []
    names = [t.get("name") for t in _tool_specs(body)]
    if len(names) != len(set(names)):
        raise validation_error("The tool names in toolConfig.tools must be unique.")
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    if "tool" in choice and choice["tool"].get("name") not in names:
        raise validation_error(
            f"The tool {choice['tool'].get('name')!r} in toolChoice is not in toolConfig.tools."
        )
    has_tool_blocks = any(
        "toolUse" in b or "toolResult" in b for m in messages for b in m.get("content") or []
    )
    if has_tool_blocks and not body.get("toolConfig"):
        raise validation_error(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    for i, message in enumerate(messages):
        uses = [b["toolUse"]["toolUseId"] for b in message.get("content") or [] if "toolUse" in b]
        results = [b["toolResult"]["toolUseId"] for b in message.get("content") or [] if "toolResult" in b]
        if results:
            previous = messages[i - 1] if i > 0 else {}
            asked = {b["toolUse"]["toolUseId"] for b in previous.get("content") or [] if "toolUse" in b}
            for r in results:
                if r not in asked:
                    raise validation_error(
                        f"messages.{i}: toolResult {r!r} does not answer a toolUse of the previous turn."
                    )
        if uses and i + 1 < len(messages):
            answered = {
                b["toolResult"]["toolUseId"] for b in messages[i + 1].get("content") or [] if "toolResult" in b
            }
            missing = [u for u in uses if u not in answered]
            if missing:
                raise validation_error(
                    f"messages.{i}: toolUse ids were found without toolResult blocks immediately after: {missing}"
                )
        for j, block in enumerate(message.get("content") or []):
            image = block.get("image")
            if image is not None:
                try:
                    raw = base64.b64decode(image["source"]["bytes"], validate=True)
                except (KeyError, ValueError, TypeError):
                    raw = b""
                if not raw:
                    raise validation_error(f"messages.{i}.content.{j}: the image bytes are not valid base64.")
    text_format = (body.get("outputConfig") or {}).get("textFormat")
    if text_format:
        try:
            json.loads(text_format["structure"]["jsonSchema"]["schema"])
        except (KeyError, ValueError, TypeError):
            raise validation_error("outputConfig.textFormat: the JSON schema is not valid JSON.")
    thinking = (body.get("additionalModelRequestFields") or {}).get("thinking") or {}
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        config = body.get("inferenceConfig") or {}
        if not isinstance(budget, int) or budget < 1024:
            raise validation_error("thinking.budget_tokens: Input should be greater than or equal to 1024")
        if isinstance(config.get("maxTokens"), int) and config["maxTokens"] <= budget:
            raise validation_error("`max_tokens` must be greater than `thinking.budget_tokens`.")
        if "temperature" in config or "topP" in config:
            raise validation_error(
                "temperature and top_p may not be set when thinking is enabled."
            )
        if choice.get("any") is not None or choice.get("tool") is not None:
            raise validation_error("Thinking may not be enabled when tool_choice forces tool use.")


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
    return " ".join(parts)


def enrich(body: dict, base: Answer) -> Answer:
    """Tool calls, tool-result echoes, image counts, reasoning and structured output on top of
    the plain echo answer (see the module docstring, "Tools, images, reasoning, JSON")."""
    last = _last_user(body)
    text = MARKER.sub(" ", last_user_text(body))
    markers = MARKER.findall(last_user_text(body))
    result = base
    images = sum(1 for b in last.get("content") or [] if "image" in b)
    if images:
        result.text = f"{result.text} [{images} image{'s' if images > 1 else ''}]"
    results = [b["toolResult"] for b in last.get("content") or [] if "toolResult" in b]
    if results:
        result.text = "Tool results: " + " | ".join(
            f"{r['toolUseId']}={_result_text(r)}" for r in results
        )
        result.stop_reason = "end_turn"
    specs = _tool_specs(body)
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    wanted: list[dict] = []
    named = next((m[len("[scenario:tool:"):-1] for m in markers if m.startswith("[scenario:tool:")), None)
    if specs:
        by_name = {s["name"]: s for s in specs}
        if "tool" in choice:
            wanted = [by_name[choice["tool"]["name"]]]
        elif named and named in by_name:
            wanted = [by_name[named]]
        elif "[scenario:parallel-tools]" in markers:
            wanted = [specs[0], specs[1] if len(specs) > 1 else specs[0]]
        elif "[scenario:tool]" in markers:
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
    extra = body.get("additionalModelRequestFields") or {}
    thinking = (extra.get("thinking") or {}).get("type") == "enabled"
    nova = (extra.get("reasoningConfig") or {}).get("type") == "enabled"
    if thinking or nova or extra.get("reasoning_effort"):
        result.reasoning = "Reasoning about: " + " ".join(text.split())
    result.output_tokens = (
        count_words(result.text)
        + sum(count_words(json.dumps(t["input"])) for t in result.tool_uses)
        + count_words(result.reasoning or "")
    )
    return result


# ---------------------------------------------------------------------------------------------
# SigV4 verification with botocore
# ---------------------------------------------------------------------------------------------


class _ExactHeadersSigV4(SigV4Auth):
    """SigV4Auth that signs exactly the headers it is given (botocore would drop a few, such
    as user-agent, that a client may legitimately have signed)."""

    def headers_to_sign(self, request):
        from botocore.compat import HTTPHeaders

        header_map = HTTPHeaders()
        for name, value in request.headers.items():
            header_map[name.lower()] = value
        return header_map


@dataclass
class AuthConfig:
    access_key_id: str
    secret_access_key: str
    region: str
    session_token: str | None = None


def verify_sigv4(
    auth: AuthConfig,
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    now: datetime.datetime | None = None,
    service: str = SIGNING_SERVICE,
) -> None:
    """Raises BedrockError(403, ...) unless the request carries a valid SigV4 signature."""

    def get_all(name: str) -> list[str]:
        return [v for k, v in headers if k.lower() == name]

    authorization = get_all("authorization")
    if not authorization:
        raise BedrockError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    if len(authorization) > 1:
        raise BedrockError(403, "IncompleteSignatureException", "More than one Authorization header.")
    match = AUTH_HEADER.match(authorization[0].strip())
    if not match:
        scheme = authorization[0].strip().split(" ", 1)[0]
        raise BedrockError(
            403,
            "IncompleteSignatureException",
            f"Authorization header requires an AWS4-HMAC-SHA256 signature "
            f"(Credential, SignedHeaders, Signature); got scheme '{scheme}'.",
        )
    credential = match.group("cred").split("/")
    if len(credential) != 5:
        raise BedrockError(403, "IncompleteSignatureException", "Authorization header is malformed.")
    access_key, scope_date, scope_region, scope_service, terminator = credential
    if access_key != auth.access_key_id:
        raise BedrockError(403, "UnrecognizedClientException", INVALID_TOKEN)

    tokens = get_all("x-amz-security-token")
    if auth.session_token is not None:
        if tokens != [auth.session_token]:
            raise BedrockError(403, "UnrecognizedClientException", INVALID_TOKEN)
    elif tokens:
        raise BedrockError(403, "UnrecognizedClientException", INVALID_TOKEN)

    amz_date = get_all("x-amz-date")
    if len(amz_date) != 1:
        raise BedrockError(
            403, "IncompleteSignatureException", "Authorization header requires existence of "
            "either a 'X-Amz-Date' or a 'Date' header."
        )
    timestamp = amz_date[0].strip()
    try:
        signed_at = datetime.datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc
        )
    except ValueError:
        raise BedrockError(403, "IncompleteSignatureException", f"Invalid X-Amz-Date '{timestamp}'.")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise BedrockError(
            403,
            "InvalidSignatureException",
            f"Signature expired: {timestamp} is now earlier than "
            f"{(now - MAX_CLOCK_SKEW).strftime('%Y%m%dT%H%M%SZ')} "
            f"({now.strftime('%Y%m%dT%H%M%SZ')} - 15 min.)",
        )
    if scope_date != timestamp[:8] or terminator != "aws4_request":
        raise BedrockError(403, "InvalidSignatureException", "Credential scope is malformed.")
    if scope_region != auth.region:
        raise BedrockError(
            403,
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region. (got '{scope_region}', "
            f"expected '{auth.region}')",
        )
    if scope_service != service:
        raise BedrockError(
            403,
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{service}'.",
        )

    signed_names = match.group("signed").split(";")
    if "host" not in signed_names:
        raise BedrockError(
            403, "InvalidSignatureException", "'Host' must be a signed header."
        )
    if signed_names != sorted(set(signed_names)) or any(n != n.lower() for n in signed_names):
        raise BedrockError(
            403, "InvalidSignatureException", "SignedHeaders must be lower-case, sorted and unique."
        )
    for name in ("x-amz-date", "x-amz-security-token"):
        if get_all(name) and name not in signed_names:
            raise BedrockError(403, "InvalidSignatureException", f"'{name}' must be a signed header.")
    body_hash = hashlib.sha256(body).hexdigest()
    for declared in get_all("x-amz-content-sha256"):
        if declared.strip() != body_hash:
            raise BedrockError(
                403,
                "InvalidSignatureException",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )

    request_headers = []
    for name in signed_names:
        values = get_all(name)
        if not values:
            raise BedrockError(
                403, "InvalidSignatureException", f"Signed header '{name}' is missing from the request."
            )
        request_headers += [(name, v) for v in values]
    host = get_all("host")[0]
    path, _, query = raw_path.partition("?")
    request = AWSRequest(
        method=method,
        url=f"http://{host}{path}" + (f"?{query}" if query else ""),
        data=body,
    )
    for name, value in request_headers:
        request.headers.add_header(name, value)
    request.context["timestamp"] = timestamp
    signer = _ExactHeadersSigV4(
        Credentials(auth.access_key_id, auth.secret_access_key, auth.session_token),
        service,
        auth.region,
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match.group("sig")):
        raise BedrockError(403, "InvalidSignatureException", SIGNATURE_MISMATCH)


# ---------------------------------------------------------------------------------------------
# Other ways in: a custom gateway's token, Bedrock API keys, rotating instance credentials
# ---------------------------------------------------------------------------------------------


@dataclass
class IssuedCredentials:
    secret_access_key: str
    session_token: str
    expires: float  # Unix time


def verify_gateway(config: "EmulatorConfig", headers: dict[str, str]) -> None:
    """A custom gateway's checks: its token header (401 missing, 403 wrong, as a gateway
    answers; no x-amzn-ErrorType) and `accept: application/json`."""
    token = headers.get(GATEWAY_TOKEN_HEADER)
    if token is None:
        raise BedrockError(401, "GatewayUnauthorized", f"Missing {GATEWAY_TOKEN_HEADER} header.")
    if not hmac.compare_digest(token, config.gateway_token or ""):
        raise BedrockError(403, "GatewayForbidden", f"Invalid {GATEWAY_TOKEN_HEADER}.")
    if headers.get("accept", "").split(";")[0].strip() != "application/json":
        raise BedrockError(406, "GatewayNotAcceptable", "The gateway requires accept: application/json.")
    if "authorization" in headers or "x-amz-date" in headers:
        raise BedrockError(400, "GatewayBadRequest", "AWS signing headers must not be sent to the gateway.")


def verify_auth(
    config: "EmulatorConfig",
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    """Bedrock's authentication: a Bedrock API key as a bearer token, else SigV4 with the
    configured keys or with keys the credential endpoints issued and that have not expired."""
    authorization = [v for k, v in headers if k.lower() == "authorization"]
    bearer = len(authorization) == 1 and authorization[0].strip().startswith("Bearer ")
    if bearer and config.api_key is not None:
        presented = authorization[0].strip()[len("Bearer ") :].strip()
        if not hmac.compare_digest(presented, config.api_key):
            raise BedrockError(403, "UnrecognizedClientException", "The API key is invalid.")
        if any(k.lower() in ("x-amz-date", "x-amz-security-token") for k, _ in headers):
            raise BedrockError(400, "ValidationException", "An API key request must not be SigV4-signed.")
        return
    auth = config.auth
    match = AUTH_HEADER.match(authorization[0].strip()) if len(authorization) == 1 else None
    if match:
        access_key = match.group("cred").split("/")[0]
        with config.lock:
            issued = config.issued.get(access_key)
        if issued is not None:
            if issued.expires <= time.time():
                raise BedrockError(
                    403, "ExpiredTokenException", "The security token included in the request is expired"
                )
            auth = AuthConfig(access_key, issued.secret_access_key, config.auth.region, issued.session_token)
    verify_sigv4(auth, method, raw_path, headers, body)


def issue_credentials(config: "EmulatorConfig") -> dict:
    """New short-lived keys, valid for `credential_ttl` seconds (IMDS / container JSON)."""
    now = time.time()
    key = "ASIAEMU" + uuid.uuid4().hex[:13].upper()
    issued = IssuedCredentials(
        secret_access_key=uuid.uuid4().hex + uuid.uuid4().hex,
        session_token="emulated-session-" + uuid.uuid4().hex,
        expires=now + config.credential_ttl,
    )
    with config.lock:
        config.issued[key] = issued
    stamp = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(  # noqa: E731
        "%Y-%m-%dT%H:%M:%SZ"
    )
    return {
        "Code": "Success",
        "LastUpdated": stamp(now),
        "Type": "AWS-HMAC",
        "AccessKeyId": key,
        "SecretAccessKey": issued.secret_access_key,
        "Token": issued.session_token,
        "Expiration": stamp(issued.expires),
    }


# ---------------------------------------------------------------------------------------------
# The HTTP server
# ---------------------------------------------------------------------------------------------


@dataclass
class EmulatorConfig:
    auth: AuthConfig
    model: botocore.model.ServiceModel
    plain_errortype: bool = False
    quiet: bool = False
    requests: deque = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Custom gateway token (None: gateway paths answer 404 like any unknown path).
    gateway_token: str | None = None
    # Bedrock API key accepted as `Authorization: Bearer` (None: bearer tokens are refused).
    api_key: str | None = None
    # Lifetime of the keys the IMDS / container endpoints issue; every fetch issues new ones.
    credential_ttl: float = DEFAULT_CREDENTIAL_TTL
    # Required `Authorization` on the container endpoint (None: not checked).
    container_authorization: str | None = None
    issued: dict = field(default_factory=dict)  # access key id → IssuedCredentials
    imds_tokens: set = field(default_factory=set)

    def error_status(self, name: str) -> int | None:
        try:
            shape = self.model.shape_for(name)
        except Exception:  # noqa: BLE001 - unknown names are allowed with an explicit status
            return None
        return shape.metadata.get("error", {}).get("httpStatusCode")


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, config: EmulatorConfig):
        super().__init__(address, Handler)
        self.config = config
        self.validator = botocore.validate.ParamValidator()
        self.aws = aws_services.AwsServices(config.auth, verify_sigv4, BedrockError)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BedrockEmulator/1.0"
    server: EmulatorServer

    # -- plumbing ------------------------------------------------------------------------------

    def log_message(self, fmt, *args):  # noqa: D401 - BaseHTTPRequestHandler signature
        if not self.server.config.quiet and not self.path.startswith("/_emulator/"):
            sys.stderr.write("bedrock-emulator: %s - %s\n" % (self.address_string(), fmt % args))

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        self._send(status, json.dumps(obj).encode("utf-8"), all_headers)

    def _send_error(self, err: BedrockError, request_id: str) -> None:
        config = self.server.config
        errortype = err.name
        if not config.plain_errortype:
            namespace = CORAL_ERROR_NAMESPACE if err.name in AUTH_ERRORS else BEDROCK_ERROR_NAMESPACE
            errortype = f"{err.name}:{namespace}"
        self._record_status(err.status, err.name)
        self._send_json(
            err.status,
            {"message": err.message},
            {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": errortype},
        )

    def _record_status(self, status: int, error: str | None = None) -> None:
        record = getattr(self, "_record", None)
        if record is not None:
            with self.server.config.lock:
                record["status"] = status
                if error:
                    record["error"] = error

    # -- entry points --------------------------------------------------------------------------

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        self._record = None
        body = self._read_body()
        raw_path = self.path
        path_only = urlsplit(raw_path).path
        config = self.server.config
        self._control_body = body
        if path_only.startswith("/_emulator/"):
            return self._inspection(method, path_only)
        if self._credentials_endpoint(method, path_only):
            return
        if self.server.aws.handles(method, path_only, self.headers):
            return self.server.aws.serve(self, method, body)

        request_id = str(uuid.uuid4())
        raw_headers = [(k, v) for k, v in self.headers.items()]
        headers: dict[str, str] = {}
        for k, v in raw_headers:
            headers[k.lower()] = f"{headers[k.lower()]}, {v}" if k.lower() in headers else v
        try:
            parsed_body: Any = json.loads(body) if body else None
        except ValueError:
            parsed_body = body.decode("utf-8", "replace")
        route = ROUTE.match(raw_path.split("?", 1)[0])
        gateway = False
        if route is None and config.gateway_token is not None:
            route = GATEWAY_ROUTE.match(raw_path.split("?", 1)[0])
            gateway = route is not None
        self._record = {
            "method": method,
            "path": raw_path,
            "headers": headers,
            "raw_headers": [list(h) for h in raw_headers],
            "body": parsed_body,
            "model_id": unquote(route.group("model")) if route else None,
            "operation": (
                ("ConverseStream" if route.group("op") == "converse-stream" else "Converse")
                if route
                else None
            ),
            "status": None,
            "time": time.time(),
        }
        with config.lock:
            config.requests.append(self._record)

        try:
            if method != "POST" or not route:
                raise BedrockError(404, "UnknownOperationException", "Unknown operation")
            if gateway:
                verify_gateway(config, headers)
            else:
                verify_auth(config, method, raw_path, raw_headers, body)
            request = self._validate(route.group("op"), unquote(route.group("model")), body)
            scenario = parse_scenario(last_user_text(request))
            if scenario.throttle:
                raise BedrockError(429, "ThrottlingException", THROTTLE_MESSAGE)
            if scenario.error:
                name, status = scenario.error
                status = status or config.error_status(name) or 400
                raise BedrockError(status, name, f"Emulated {name} from the Bedrock emulator.")
        except BedrockError as err:
            self._send_error(err, request_id)
            return

        if scenario.raw_status:
            # An answer from something in front of Bedrock: no x-amzn-ErrorType, not JSON.
            self._record_status(scenario.raw_status, "raw-status")
            return self._send(
                scenario.raw_status,
                b"<html><body>upstream gateway says no</body></html>",
                {"Content-Type": "text/html"},
            )
        if scenario.empty_status:
            # A bodyless answer (as Envoy's own 404 on a route miss would be).
            self._record_status(scenario.empty_status, "empty-status")
            return self._send(scenario.empty_status, b"", {})
        result = enrich(request, answer(request))
        if scenario.stop_reason:
            result.stop_reason = scenario.stop_reason
        if route.group("op") == "converse":
            self._converse(result, scenario, request_id)
        else:
            self._converse_stream(result, scenario, request_id)

    def _validate(self, op: str, model_id: str, body: bytes) -> dict:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            raise validation_error(
                "Malformed input request, please reformat your input and try again."
            )
        if not isinstance(request, dict):
            raise validation_error(
                "Malformed input request, please reformat your input and try again."
            )
        operation = self.server.config.model.operation_model(
            "ConverseStream" if op == "converse-stream" else "Converse"
        )
        shape = operation.input_shape
        for key in request:
            member = shape.members.get(key)
            if member is not None and member.serialization.get("location"):
                raise validation_error(f"'{key}' is not a body member of {shape.name}.")
        # Bedrock matches the model id against the shape's pattern as a whole (so an id that
        # was percent-encoded twice, "...-v2%3A0", is rejected); botocore does not check it.
        pattern = shape.members["modelId"].metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, model_id):
            raise validation_error(
                f"1 validation error detected: Value '{model_id}' at 'modelId' failed to satisfy "
                f"constraint: Member must satisfy regular expression pattern: {pattern}"
            )
        report = self.server.validator.validate(dict(request, modelId=model_id), shape)
        if report.has_errors():
            raise validation_error(report.generate_report())
        check_semantics(request)
        check_tool_semantics(request)
        return request

    # -- answers -------------------------------------------------------------------------------

    def _reset_connection(self) -> None:
        """Abort the TCP connection: SO_LINGER 0 makes close() send RST, not FIN."""
        with self.server.config.lock:
            if self._record is not None:
                self._record["error"] = "reset"
        try:
            self.wfile.flush()
        except OSError:
            pass
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _converse(self, result: Answer, scenario: Scenario, request_id: str) -> None:
        started = time.monotonic()
        if scenario.reset:
            return self._reset_connection()
        if scenario.slow:
            time.sleep(scenario.slow)
        self._record_status(200)
        if scenario.bad_json:
            return self._send(
                200,
                b'{"output": {"message": {"role": "assistant", "content": [{"text": "cut',
                {"Content-Type": "application/json", "x-amzn-RequestId": request_id},
            )
        self._send_json(
            200,
            {
                "output": {"message": {"role": "assistant", "content": result.content_blocks()}},
                "stopReason": result.stop_reason,
                "usage": result.usage,
                "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
            },
            {"x-amzn-RequestId": request_id},
        )

    def _write_chunk(self, data: bytes, delay: float) -> None:
        if delay:
            time.sleep(delay)
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _converse_stream(self, result: Answer, scenario: Scenario, request_id: str) -> None:
        started = time.monotonic()
        self._record_status(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-amzn-RequestId", request_id)
        self.end_headers()
        self.wfile.flush()
        pending: list[bytes] = []  # frames held back for [scenario:coalesce]

        def send(frame: bytes) -> None:
            if scenario.coalesce:
                pending.append(frame)
            elif scenario.split:
                for at in range(0, len(frame), scenario.split):
                    self._write_chunk(frame[at : at + scenario.split], SPLIT_PAUSE)
            else:
                self._write_chunk(frame, scenario.slow)

        frames = 0

        def event(event_type: str, payload: dict) -> None:
            nonlocal frames
            send(event_frame(event_type, payload, frames))
            frames += 1

        try:
            event("messageStart", {"role": "assistant"})
            if not result.plain:
                self._stream_blocks(result, event, started)
                if pending:
                    self._write_chunk(b"".join(pending), scenario.slow)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
            deltas = result.deltas()
            if scenario.stream_error:
                deltas = deltas[:STREAM_ERROR_AFTER_DELTAS]
            if scenario.corrupt or scenario.truncate:
                deltas = deltas[:STREAM_ERROR_AFTER_DELTAS]
            if scenario.reset:
                deltas = deltas[:STREAM_ERROR_AFTER_DELTAS]
            for piece in deltas:
                event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
            if scenario.reset:
                # Let the deltas reach Envoy first: a RST that overtakes them makes the kernel
                # drop unread data, and the test would depend on scheduling.
                time.sleep(RESET_GRACE_SECONDS)
                return self._reset_connection()
            if scenario.corrupt or scenario.truncate:
                frame = bytearray(
                    event_frame(
                        "contentBlockDelta",
                        {"contentBlockIndex": 0, "delta": {"text": "never delivered"}},
                        frames,
                    )
                )
                if scenario.truncate:
                    send(bytes(frame[: len(frame) // 2]))
                else:
                    # Flip one bit of the payload (message CRC fails) or of the prelude CRC
                    # itself; the lengths stay intact so a decoder still sees one frame.
                    frame[-6 if scenario.corrupt == "payload" else 11] ^= 0x01
                    send(bytes(frame))
                    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "after"}})
                if pending:
                    self._write_chunk(b"".join(pending), scenario.slow)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                with self.server.config.lock:
                    self._record["error"] = "truncated" if scenario.truncate else f"corrupt-{scenario.corrupt}"
                return
            if scenario.stream_error:
                message = f"Emulated model stream error after {len(deltas)} content deltas."
                payload = {"message": message}
                if scenario.stream_error == "modelStreamErrorException":
                    payload.update(originalStatusCode=500, originalMessage="Emulated model failure.")
                send(exception_frame(scenario.stream_error, payload))
                with self.server.config.lock:
                    self._record["error"] = scenario.stream_error
            else:
                event("contentBlockStop", {"contentBlockIndex": 0})
                event("messageStop", {"stopReason": result.stop_reason})
                event(
                    "metadata",
                    {
                        "usage": result.usage,
                        "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
                        "serviceTier": {"type": "default"},
                    },
                )
            if pending:
                self._write_chunk(b"".join(pending), scenario.slow)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- instance / container credentials ----------------------------------------------------

    def _credentials_endpoint(self, method: str, path: str) -> bool:
        """IMDSv2 and the container credentials endpoint; True when the path was one of them.
        Every credential fetch issues new keys (see issue_credentials)."""
        config = self.server.config
        imds_prefix = "/latest/meta-data/iam/security-credentials/"
        if path == "/latest/api/token":
            if method != "PUT" or not self.headers.get("x-aws-ec2-metadata-token-ttl-seconds"):
                self._send(400, b"missing x-aws-ec2-metadata-token-ttl-seconds", {"Content-Type": "text/plain"})
                return True
            token = "imds-" + uuid.uuid4().hex
            with config.lock:
                config.imds_tokens.add(token)
            self._send(200, token.encode(), {"Content-Type": "text/plain"})
            return True
        if path.startswith(imds_prefix):
            with config.lock:
                known = self.headers.get("x-aws-ec2-metadata-token") in config.imds_tokens
            if method != "GET" or not known:
                self._send(401, b"", {"Content-Type": "text/plain"})
                return True
            role = path[len(imds_prefix) :]
            if role == "":
                self._send(200, IMDS_ROLE.encode(), {"Content-Type": "text/plain"})
            elif role == IMDS_ROLE:
                self._send_json(200, issue_credentials(config))
            else:
                self._send(404, b"Not Found", {"Content-Type": "text/plain"})
            return True
        if path.startswith("/v2/credentials/"):
            required = config.container_authorization
            if method != "GET" or (required and self.headers.get("authorization") != required):
                self._send_json(401, {"message": "unauthorized"})
                return True
            body = issue_credentials(config)
            body.pop("Code")
            body.pop("Type")
            self._send_json(200, body)
            return True
        return False

    @staticmethod
    def _stream_blocks(result: Answer, event, started: float) -> None:
        """Reasoning, text and toolUse blocks, each with its own contentBlockIndex, as
        ConverseStream sends them: reasoning and text as word deltas (reasoning then its
        signature), a toolUse as contentBlockStart plus its input JSON in two fragments."""
        index = 0
        if result.reasoning is not None:
            for piece in re.findall(r"\S+\s*", result.reasoning):
                event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": {"text": piece}}})
            event(
                "contentBlockDelta",
                {"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": REASONING_SIGNATURE}}},
            )
            event("contentBlockStop", {"contentBlockIndex": index})
            index += 1
        if result.text or not result.tool_uses:
            for piece in result.deltas():
                event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})
            event("contentBlockStop", {"contentBlockIndex": index})
            index += 1
        for tool in result.tool_uses:
            event(
                "contentBlockStart",
                {"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}},
            )
            raw = json.dumps(tool["input"], separators=(",", ":"))
            half = len(raw) // 2
            for piece in (raw[:half], raw[half:]):
                if piece:
                    event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}})
            event("contentBlockStop", {"contentBlockIndex": index})
            index += 1
        event("messageStop", {"stopReason": result.stop_reason})
        event(
            "metadata",
            {
                "usage": result.usage,
                "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
                "serviceTier": {"type": "default"},
            },
        )

    # -- inspection ----------------------------------------------------------------------------

    def _inspection(self, method: str, path: str) -> None:
        config = self.server.config
        if method == "GET" and path == "/_emulator/health":
            return self._send_json(200, {"status": "ok"})
        if method == "GET" and path == "/_emulator/requests":
            with config.lock:
                records = [dict(r) for r in config.requests]
            return self._send_json(200, records)
        if path.startswith(aws_services.CONTROL_PREFIX):
            return self.server.aws.control(self, method, path, self._control_body)
        if method == "GET" and path == "/_emulator/credentials":
            with config.lock:
                issued = [
                    {"access_key_id": k, "expires": c.expires, "valid": c.expires > time.time()}
                    for k, c in config.issued.items()
                ]
            return self._send_json(200, issued)
        if method == "POST" and path == "/_emulator/reset":
            with config.lock:
                config.requests.clear()
            return self._send_json(200, {"status": "reset"})
        return self._send_json(404, {"message": f"no emulator endpoint {method} {path}"})


def config_from_env(region: str | None = None, plain_errortype: bool = False, quiet: bool = False) -> EmulatorConfig:
    auth = AuthConfig(
        access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or DEMO_ACCESS_KEY_ID,
        secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or DEMO_SECRET_ACCESS_KEY,
        region=region or os.environ.get("AWS_REGION") or DEFAULT_REGION,
        session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
    )
    return EmulatorConfig(
        auth=auth,
        model=load_service_model(),
        plain_errortype=plain_errortype,
        quiet=quiet,
        gateway_token=os.environ.get("BEDROCK_GATEWAY_TOKEN") or None,
        api_key=os.environ.get("AWS_BEARER_TOKEN_BEDROCK") or None,
        credential_ttl=float(os.environ.get("EMULATOR_CREDENTIAL_TTL") or DEFAULT_CREDENTIAL_TTL),
        container_authorization=os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") or None,
    )


def make_server(host: str, port: int, config: EmulatorConfig) -> EmulatorServer:
    return EmulatorServer((host, port), config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    parser.add_argument("--region", default=None, help="default: $AWS_REGION or us-east-1")
    parser.add_argument(
        "--plain-errortype",
        action="store_true",
        help="send x-amzn-ErrorType as the bare exception name (Bedrock appends ':<namespace>')",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-request log lines")
    parser.add_argument(
        "--gateway-token",
        default=None,
        help="serve the custom gateway paths with this authorization-token "
        "(default: $BEDROCK_GATEWAY_TOKEN; unset: no gateway paths)",
    )
    parser.add_argument(
        "--api-key", default=None, help="accept this Bedrock API key as a bearer token "
        "(default: $AWS_BEARER_TOKEN_BEDROCK)"
    )
    parser.add_argument(
        "--credential-ttl",
        type=float,
        default=None,
        help="seconds of life of IMDS / container credentials (default: "
        "$EMULATOR_CREDENTIAL_TTL or 3600)",
    )
    args = parser.parse_args(argv)
    config = config_from_env(args.region, args.plain_errortype, args.quiet)
    if args.gateway_token:
        config.gateway_token = args.gateway_token
    if args.api_key:
        config.api_key = args.api_key
    if args.credential_ttl:
        config.credential_ttl = args.credential_ttl
    server = make_server(args.host, args.port, config)
    host, port = server.server_address[:2]
    print(f"bedrock-emulator listening on http://{host}:{port}", flush=True)
    print(
        f"bedrock-emulator: region {config.auth.region}, access key {config.auth.access_key_id}"
        + (", session token required" if config.auth.session_token else ""),
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
