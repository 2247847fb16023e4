"""Request validation, like Bedrock's: the service model's shapes, then Bedrock's own rules.

* The JSON body against the Bedrock service model (``bedrock-runtime-service-2.json``, the file
  in ``$BEDROCK_MODEL_JSON``, else botocore's bundled copy)
  with botocore's ``ParamValidator`` (required members, unknown keys, types, unions, minimums).
* Bedrock's rules that botocore does not check (``check_semantics``): the decoded ``modelId``
  fully matches the model's pattern (an id percent-encoded twice, ``...-v2%3A0``, does not),
  ``messages`` is non-empty, roles are ``user``/``assistant`` only, the first message is from
  the user, roles alternate, every ``content`` array is non-empty, text blocks (and system text)
  are not blank, ``inferenceConfig.maxTokens >= 1``, ``0 <= temperature <= 1``,
  ``0 <= topP <= 1``.
* Tool, image, structured-output and thinking rules (``check_tool_semantics``): ``toolConfig``
  is required when the conversation holds ``toolUse``/``toolResult`` blocks; tool names are
  unique; a ``toolChoice.tool`` names a declared tool; every ``toolResult`` answers a ``toolUse``
  of the assistant turn just before, and every ``toolUse`` is answered in the next turn; image
  bytes are non-empty base64; ``outputConfig.textFormat`` carries a schema string that parses;
  with ``additionalModelRequestFields.thinking`` enabled (Anthropic's rules)
  ``budget_tokens >= 1024``, ``maxTokens > budget_tokens``, no ``temperature``/``topP`` and no
  forced ``toolChoice``.
* Reasoning handed back (``check_reasoning``), Anthropic's rules: ``reasoningContent`` only in
  assistant turns; a ``reasoningText`` signature must be the one the emulator issued for that
  text (``answers.sign``: a changed text or signature is "Invalid `signature` in `thinking`
  block"), and with thinking enabled it must be there; ``redactedContent`` must be bytes the
  emulator issued; with thinking enabled, the assistant turn whose tool calls the last user turn
  answers must start with a reasoning block (Anthropic's "Expected `thinking` or
  `redacted_thinking`, but found `tool_use`").
* Image, document and S3-source rules (``documents.check_media``).
* Prompt-cache rules (``check_cache_points``), with Bedrock's own messages: ``cachePoint``
  blocks only for models with prompt caching (``cache_support``: Claude 3.7 Sonnet and later,
  Claude 3.5 Haiku, Amazon Nova Micro/Lite/Pro/Premier), and after tools only for Claude;
  at most 4 in a request; never first in its list (``There is nothing available to cache``);
  ``ttl: "1h"`` only on Claude 4.5 and later, and never after a shorter point (tools, then
  system, then messages).

Every violation is ``400 ValidationException``.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

from .answers import redacted_is_ours, sign

import botocore.loaders
import botocore.model
import botocore.validate

from .documents import check_media
from .errors import validation_error

MALFORMED = "Malformed input request, please reformat your input and try again."


def default_model_path() -> Path | None:
    """`$BEDROCK_MODEL_JSON` when set; else botocore's bundled copy is used (nothing outside the
    repository is looked for)."""
    env = os.environ.get("BEDROCK_MODEL_JSON")
    return Path(env) if env else None


def load_service_model(path: Path | None = None) -> botocore.model.ServiceModel:
    """The Bedrock Runtime service model: the given file or ``$BEDROCK_MODEL_JSON`` (which must
    exist), else botocore's bundled copy."""
    path = path or default_model_path()
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(f"Bedrock service model {path} does not exist")
        data = json.loads(path.read_text(encoding="utf-8"))
    else:
        data = botocore.loaders.Loader().load_service_model("bedrock-runtime", "service-2")
    return botocore.model.ServiceModel(data, service_name="bedrock-runtime")


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
            if image is not None and "s3Location" not in (image.get("source") or {}):
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



def _reasoning_block(i: int, j: int, r: dict, thinking_on: bool) -> None:
    """One handed-back reasoning block: signed by the emulator, or redacted bytes it issued."""
    if "reasoningText" in r:
        text = r["reasoningText"].get("text", "")
        signature = r["reasoningText"].get("signature")
        if signature is None:
            if thinking_on:
                raise validation_error(f"messages.{i}.content.{j}.thinking.signature: Field required")
        elif signature != sign(text):
            raise validation_error(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
    elif "redactedContent" in r:
        try:
            blob = base64.b64decode(r["redactedContent"], validate=True)
        except (ValueError, TypeError):
            blob = b""
        if not redacted_is_ours(blob):
            raise validation_error(f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block")


def check_reasoning(body: dict) -> None:
    """Anthropic's rules for reasoning handed back (see the module docstring)."""
    messages = body.get("messages") or []
    thinking = (body.get("additionalModelRequestFields") or {}).get("thinking") or {}
    thinking_on = thinking.get("type") == "enabled"
    for i, message in enumerate(messages):
        for j, block in enumerate(message.get("content") or []):
            r = block.get("reasoningContent") if isinstance(block, dict) else None
            if r is None:
                continue
            if message.get("role") != "assistant":
                raise validation_error(f"messages.{i}.content.{j}: reasoning content is only allowed in assistant messages.")
            _reasoning_block(i, j, r, thinking_on)
    if not thinking_on or len(messages) < 2:
        return
    last, caller = messages[-1], messages[-2]
    answers_tools = any("toolResult" in b for b in last.get("content") or [])
    content = caller.get("content") or []
    if answers_tools and caller.get("role") == "assistant" and content and "reasoningContent" not in content[0]:
        found = next(iter(content[0]), "?")
        raise validation_error(
            f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            f"`{'tool_use' if found == 'toolUse' else found}`. When `thinking` is enabled, a final `assistant` "
            "message must start with a thinking block (preceeding the lastmost set of `tool_use` and "
            "`tool_result` blocks). We recommend you include thinking blocks from previous turns."
        )


CACHE_UNSUPPORTED = (
    "You invoked an unsupported model or your request did not allow prompt caching. "
    "See the documentation for more information."
)
MAX_CACHE_POINTS = 4


def _claude_version(model_id: str) -> tuple[int, int] | None:
    match = re.search(r"claude-(?:(?:sonnet|opus|haiku)-)?(\d{1,2})(?:-(\d{1,2})(?!\d))?", model_id)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


def _alias_version(alias: str) -> tuple[int, int] | None:
    # A custom gateway's alias joins one-digit version numbers: claude-37-sonnet, claude-sonnet-45.
    match = re.search(r"claude-(?:(?:sonnet|opus|haiku)-)?(\d)(\d)?(?!\d)", alias)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else None


def cache_support(model_id: str) -> dict | None:
    """Where the model takes cache points: ``{"tools": bool, "ttl_1h": bool}``, or None.
    `model_id` is a Bedrock id, inference profile, ARN, or a custom gateway's alias."""
    base = model_id.rsplit("/", 1)[-1]
    alias = "." not in base
    if ".anthropic.claude-" in f".{base}" or (alias and base.startswith("claude-")):
        version = _alias_version(base) if alias else _claude_version(base)
        if version is None:
            return None
        if version >= (3, 7) or ("haiku" in base and version == (3, 5)):
            return {"tools": True, "ttl_1h": version >= (4, 5)}
        return None
    if re.search(r"(^|\.)amazon\.nova-(micro|lite|pro|premier)-|^nova-(micro|lite|pro|premier)$", base):
        return {"tools": False, "ttl_1h": False}
    return None


def _cache_lists(body: dict) -> list[tuple[str, list]]:
    """The lists that may hold cache points, in Bedrock's order: tools, system, messages."""
    lists = [("toolConfig.tools", (body.get("toolConfig") or {}).get("tools") or [])]
    lists.append(("system", body.get("system") or []))
    for i, message in enumerate(body.get("messages") or []):
        lists.append((f"messages.{i}.content", message.get("content") or []))
    return lists


def check_cache_points(body: dict, model_id: str) -> None:
    """Bedrock's prompt-cache rules for the cache points of a request to `model_id`."""
    points = [
        (where, j, block["cachePoint"])
        for where, items in _cache_lists(body)
        for j, block in enumerate(items)
        if isinstance(block, dict) and "cachePoint" in block
    ]
    if not points:
        return
    support = cache_support(model_id)
    if support is None or (not support["tools"] and any(w == "toolConfig.tools" for w, _, _ in points)):
        raise validation_error(CACHE_UNSUPPORTED)
    if len(points) > MAX_CACHE_POINTS:
        raise validation_error(
            "The model returned the following errors: A maximum of 4 blocks with cache_control "
            f"may be provided. Found {len(points)}."
        )
    shorter = False
    for where, j, point in points:
        if j == 0:
            raise validation_error("There is nothing available to cache.")
        ttl = point.get("ttl")
        if ttl == "1h" and not support["ttl_1h"]:
            raise validation_error(CACHE_UNSUPPORTED)
        if ttl == "1h" and shorter:
            raise validation_error(
                f"The model returned the following errors: {where}.{j}.cache_control.ttl: a "
                "ttl='1h' cache_control block must not come after a ttl='5m' cache_control "
                "block. Note that blocks are processed in the following order: `tools`, "
                "`system`, `messages`."
            )
        shorter = shorter or ttl != "1h"


def validate_request(
    model: botocore.model.ServiceModel,
    validator: botocore.validate.ParamValidator,
    operation_name: str,
    model_id: str,
    body: bytes,
) -> dict:
    """The parsed request body of a Converse / ConverseStream call to `model_id` (decoded from
    the path), or BedrockError(400, ValidationException)."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        raise validation_error(MALFORMED)
    if not isinstance(request, dict):
        raise validation_error(MALFORMED)
    shape = model.operation_model(operation_name).input_shape
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
    report = validator.validate(dict(request, modelId=model_id), shape)
    if report.has_errors():
        raise validation_error(report.generate_report())
    check_semantics(request)
    check_tool_semantics(request)
    check_reasoning(request)
    check_guardrail(shape, request)
    check_cache_points(request, model_id)
    check_media(request, model_id)
    # Last, so that the rules above with their own messages (a document's format) answer first.
    check_enums(shape, request, "")
    return request


def check_enums(shape, value: Any, path: str) -> None:
    """String members against their shape's `enum` (serviceTier.type, performanceConfig.latency,
    guardrailConfig.trace, ...), which Bedrock enforces and botocore's validator does not."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for key, child in value.items():
            member = shape.members.get(key)
            if member is not None:
                check_enums(member, child, f"{path}.{key}" if path else key)
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            check_enums(shape.member, item, f"{path}.{i + 1}.member")
    elif kind == "map" and isinstance(value, dict):
        for key, child in value.items():
            check_enums(shape.value, child, f"{path}.{key}")
    elif kind == "string" and isinstance(value, str) and shape.enum and value not in shape.enum:
        raise validation_error(
            f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(shape.enum)}]"
        )


def check_guardrail(shape, body: dict) -> None:
    """`guardrailConfig`: Bedrock needs both the identifier and the version, each matching its
    shape's pattern (botocore checks neither), and refuses an empty identifier."""
    config = body.get("guardrailConfig")
    if config is None:
        return
    members = shape.members["guardrailConfig"].members
    for name in ("guardrailIdentifier", "guardrailVersion"):
        value = config.get(name)
        if not value:
            raise validation_error(
                f"1 validation error detected: Value at 'guardrailConfig.{name}' failed to "
                "satisfy constraint: Member must not be null or empty"
            )
        pattern = members[name].metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            raise validation_error(
                f"1 validation error detected: Value '{value}' at 'guardrailConfig.{name}' "
                f"failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
            )
