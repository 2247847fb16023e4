"""Scenario markers: text like ``[scenario:throttle]`` anywhere in the last user message makes
the emulator fail or misbehave on purpose. Markers are removed from the echoed text (they
still count as input words); unknown markers are removed and otherwise ignored; several
markers combine.

Every marker is one row of ``SCENARIOS`` (the table at the end of this file): its kind (the
word after ``scenario:``), how it is written, which operations it affects, and the function
that records it on a ``Scenario``, whose docstring says what it does. The server
(server.py) and the answer (answers.py) read the ``Scenario``; nothing else parses markers.
tests/emulator/README.md's scenario table is ``python -m bedrock_emulator --scenarios``
(test_emulator.py checks that it matches).

To add a scenario: a field on ``Scenario``, a ``_parse_*`` function with a docstring, a row in
``SCENARIOS``, the behaviour where the field is read (server.py for transport faults, answers.py
for what is answered), a test in tests/emulator/test_emulator.py, and the regenerated README table.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Callable

from .errors import BedrockError

MARKER = re.compile(r"\[scenario:[^\]]*\]")

DEFAULT_SLOW_DELAY = 0.3
DEFAULT_SPLIT_SIZE = 7
SPLIT_PAUSE = 0.002
STREAM_ERROR_AFTER_DELTAS = 2
RESET_GRACE_SECONDS = 0.3
DEFAULT_STREAM_ERROR = "modelStreamErrorException"
THROTTLE_MESSAGE = "Too many requests, please wait before trying again."

BOTH = "Converse, ConverseStream"
STREAM = "ConverseStream"
CONVERSE = "Converse"


@dataclass
class Scenario:
    """What the markers of one request asked for (the defaults: nothing special)."""

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
    tool: str | None = None  # [scenario:tool:<name>]
    first_tool: bool = False  # [scenario:tool]
    parallel_tools: bool = False
    guardrail: bool = False  # [scenario:guardrail]
    cache: tuple[int, int] | None = None  # [scenario:cache:<read>:<write>]
    redacted_thinking: bool = False
    server_tool: bool = False
    citations: bool = False

    def error_before_answer(self, status_of: Callable[[str], int | None]) -> BedrockError | None:
        """The Bedrock error a throttle / error marker answers instead of the model (before
        any stream frame); ``status_of`` gives an exception's status in the service model."""
        if self.throttle:
            return BedrockError(429, "ThrottlingException", THROTTLE_MESSAGE)
        if self.error:
            name, status = self.error
            status = status or status_of(name) or 400
            return BedrockError(status, name, f"Emulated {name} from the Bedrock emulator.")
        return None


def _digits(args: list[str], at: int = 0) -> int | None:
    value = args[at].strip() if len(args) > at else ""
    return int(value) if value.isdigit() else None


# -- one function per marker: records it on the Scenario; the docstring is its documentation --


def _parse_throttle(s: Scenario, args: list[str]) -> None:
    """``429 ThrottlingException`` "Too many requests, please wait before trying again.",
    before any stream frame."""
    s.throttle = True


def _parse_error(s: Scenario, args: list[str]) -> None:
    """That Bedrock error, message ``Emulated <Name> from the Bedrock emulator.``, before any
    stream frame. The status defaults to the service model's ``httpStatusCode``
    (ValidationException 400, AccessDeniedException 403, ResourceNotFoundException 404,
    ThrottlingException 429, ServiceQuotaExceededException 400, ModelNotReadyException 429,
    ModelTimeoutException 408, ModelErrorException 424, ServiceUnavailableException 503,
    InternalServerException 500; 400 for a name the model does not know)."""
    if args and args[0]:
        s.error = (args[0].strip(), _digits(args, 1))


def _parse_stream_error(s: Scenario, args: list[str]) -> None:
    """``messageStart``, the first two word deltas, then an exception frame (``:message-type:
    exception``, ``:exception-type: modelStreamErrorException``, payload ``{"message": "Emulated
    model stream error after 2 content deltas.", "originalStatusCode": 500, "originalMessage":
    "Emulated model failure."}``) and the end of the body. ``<event>`` sends another exception
    event name (e.g. ``throttlingException``, payload ``{"message"}`` only). Converse ignores it."""
    s.stream_error = args[0].strip() if args and args[0] else DEFAULT_STREAM_ERROR


def _parse_slow(s: Scenario, args: list[str]) -> None:
    """0.3 s (or ``<seconds>``) before each stream frame; a Converse answer is delayed once by
    the same amount."""
    try:
        s.slow = float(args[0]) if args else DEFAULT_SLOW_DELAY
    except ValueError:
        s.slow = DEFAULT_SLOW_DELAY


def _parse_split(s: Scenario, args: list[str]) -> None:
    """Every frame is cut into ``<n>``-byte HTTP chunks (default 7), 2 ms apart, so frames
    straddle body callbacks."""
    size = _digits(args)
    s.split = max(1, size) if size is not None else DEFAULT_SPLIT_SIZE


def _parse_coalesce(s: Scenario, args: list[str]) -> None:
    """All frames in one HTTP chunk at the end."""
    s.coalesce = True


def _parse_corrupt(s: Scenario, args: list[str]) -> None:
    """After two deltas, a frame with one flipped bit in its payload (bad message CRC), then one
    more valid delta (``after``) and the end of the body."""
    s.corrupt = "payload"


def _parse_corrupt_prelude(s: Scenario, args: list[str]) -> None:
    """As ``corrupt``, but the flipped bit is in the prelude CRC."""
    s.corrupt = "prelude"


def _parse_truncate(s: Scenario, args: list[str]) -> None:
    """After two deltas, the first half of a frame, then the end of the body."""
    s.truncate = True


def _parse_reset(s: Scenario, args: list[str]) -> None:
    """TCP reset (RST, no end of the chunked body): after two deltas of a stream (0.3 s after
    them, so they reach the client first), or before any Converse answer."""
    s.reset = True


def _parse_bad_json(s: Scenario, args: list[str]) -> None:
    """``200`` with a truncated JSON body."""
    s.bad_json = True


def _parse_raw_status(s: Scenario, args: list[str]) -> None:
    """That status with an HTML body and no ``x-amzn-ErrorType`` (as from a proxy in front of
    Bedrock)."""
    if (status := _digits(args)) is not None:
        s.raw_status = status


def _parse_empty_status(s: Scenario, args: list[str]) -> None:
    """That status with no body at all (as Envoy's own 404 on a route miss)."""
    if (status := _digits(args)) is not None:
        s.empty_status = status


def _parse_stop_reason(s: Scenario, args: list[str]) -> None:
    """That ``stopReason`` instead of the computed one (e.g. ``content_filtered``,
    ``guardrail_intervened``, ``model_context_window_exceeded``)."""
    if args and args[0].strip():
        s.stop_reason = args[0].strip()


def _parse_tool(s: Scenario, args: list[str]) -> None:
    """With tools declared: a call of the first tool, or of the named one (``stopReason``
    ``tool_use``, the echo text block first). A ``toolChoice.tool`` in the request wins; an
    undeclared name is ignored."""
    if args:
        if s.tool is None:
            s.tool = ":".join(args)
    else:
        s.first_tool = True


def _parse_parallel_tools(s: Scenario, args: list[str]) -> None:
    """With tools declared: two calls, of the first two tools (the first one twice if it is
    alone), the second one's strings ending ``-2`` and numbers + 1."""
    s.parallel_tools = True


def _parse_guardrail(s: Scenario, args: list[str]) -> None:
    """With a ``guardrailConfig``: the guardrail intervenes (``stopReason``
    ``guardrail_intervened``, text ``Sorry, the model cannot answer this question.``, a trace
    with a BLOCKED topic when ``trace`` is on). When the messages have ``guardContent`` blocks,
    only a marker inside one of them counts, as Bedrock then assesses those blocks only; a marker
    in a ``guardContent`` block of ``system`` counts too (plain system text is not assessed).
    Without a guardrail the marker does nothing."""
    s.guardrail = True


def _parse_cache(s: Scenario, args: list[str]) -> None:
    """Usage reports ``cacheReadInputTokens`` ``<read>`` and ``cacheWriteInputTokens``
    ``<write>`` (a missing one 0) on top of the counted ``inputTokens``, ``totalTokens`` adding
    all four, whatever the request's ``cachePoint`` blocks (which then are not recorded)."""
    s.cache = (_digits(args, 0) or 0, _digits(args, 1) or 0)


def _parse_redacted_thinking(s: Scenario, args: list[str]) -> None:
    """With reasoning asked for: a ``redactedContent`` block after the reasoning text (one
    ``reasoningContent.redactedContent`` delta in a stream), bytes the emulator recognises when
    they come back in a later turn."""
    s.redacted_thinking = True


def _parse_server_tool(s: Scenario, args: list[str]) -> None:
    """Nova's code interpreter, as Bedrock runs it: before the text, a ``toolUse`` of type
    ``server_tool_use`` named ``nova_code_interpreter`` (input ``{"snippet": <words>}``) and its
    ``toolResult`` (type ``nova_code_interpreter_result``, status ``success``, ``json`` with
    ``stdOut`` the word count). Streamed: ``contentBlockStart`` (toolUse with its type), one
    input delta, then ``contentBlockStart`` (toolResult) and one ``toolResult`` delta. The stop
    reason is what the rest of the answer makes it (``end_turn`` for text)."""
    s.server_tool = True


@dataclass(frozen=True)
class Marker:
    syntax: str  # how it is written
    applies_to: str  # the operations it changes
    parse: Callable[[Scenario, list[str]], None]

    @property
    def doc(self) -> str:
        return " ".join(inspect.cleandoc(self.parse.__doc__ or "").split())


def _parse_citations(s: Scenario, args: list[str]) -> None:
    """When a document of the request has ``citations.enabled``: the answer text comes as a
    ``citationsContent`` block citing the first such document (its name as ``title``; the first
    line of a text document as ``sourceContent`` at ``documentChar``, else ``(page 1)`` at
    ``documentPage``); a stream sends the ``citation`` delta, then the text deltas, in one
    block. Without such a document it is ignored."""
    s.citations = True


# The one table of markers: kind (the word after "scenario:") → Marker.
SCENARIOS: dict[str, Marker] = {
    "throttle": Marker("[scenario:throttle]", BOTH, _parse_throttle),
    "error": Marker("[scenario:error:<Name>] [scenario:error:<Name>:<status>]", BOTH, _parse_error),
    "stream-error": Marker("[scenario:stream-error] [scenario:stream-error:<event>]", STREAM, _parse_stream_error),
    "slow": Marker("[scenario:slow] [scenario:slow:<seconds>]", BOTH, _parse_slow),
    "split": Marker("[scenario:split] [scenario:split:<n>]", STREAM, _parse_split),
    "coalesce": Marker("[scenario:coalesce]", STREAM, _parse_coalesce),
    "corrupt": Marker("[scenario:corrupt]", STREAM, _parse_corrupt),
    "corrupt-prelude": Marker("[scenario:corrupt-prelude]", STREAM, _parse_corrupt_prelude),
    "truncate": Marker("[scenario:truncate]", STREAM, _parse_truncate),
    "reset": Marker("[scenario:reset]", BOTH, _parse_reset),
    "bad-json": Marker("[scenario:bad-json]", CONVERSE, _parse_bad_json),
    "raw-status": Marker("[scenario:raw-status:<code>]", BOTH, _parse_raw_status),
    "empty-status": Marker("[scenario:empty-status:<code>]", BOTH, _parse_empty_status),
    "stop-reason": Marker("[scenario:stop-reason:<value>]", BOTH, _parse_stop_reason),
    "tool": Marker("[scenario:tool] [scenario:tool:<name>]", BOTH, _parse_tool),
    "parallel-tools": Marker("[scenario:parallel-tools]", BOTH, _parse_parallel_tools),
    "guardrail": Marker("[scenario:guardrail]", BOTH, _parse_guardrail),
    "cache": Marker("[scenario:cache:<read>:<write>]", BOTH, _parse_cache),
    "redacted-thinking": Marker("[scenario:redacted-thinking]", BOTH, _parse_redacted_thinking),
    "server-tool": Marker("[scenario:server-tool]", BOTH, _parse_server_tool),
    "citations": Marker("[scenario:citations]", BOTH, _parse_citations),
}


def markers_in(text: str) -> list[str]:
    return MARKER.findall(text)


def strip_markers(text: str) -> str:
    """The text with every marker replaced by a space (what the echo answers)."""
    return MARKER.sub(" ", text)


def parse_scenario(text: str) -> Scenario:
    """The Scenario the markers in `text` (the last user message) ask for."""
    scenario = Scenario()
    for marker in markers_in(text):
        kind, *args = marker[len("[scenario:") : -1].split(":")
        row = SCENARIOS.get(kind.strip())
        if row is not None:
            row.parse(scenario, args)
    return scenario


def markdown_table() -> str:
    """The README's scenario table (``python -m bedrock_emulator --scenarios``)."""
    lines = ["| marker | affects | behaviour |", "|---|---|---|"]
    for row in SCENARIOS.values():
        syntax = " ".join(f"`{s}`" for s in row.syntax.split())
        doc = row.doc.replace("``", "`").replace("|", "\\|")
        lines.append(f"| {syntax} | {row.applies_to} | {doc} |")
    return "\n".join(lines) + "\n"
