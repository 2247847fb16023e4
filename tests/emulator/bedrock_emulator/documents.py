"""Bedrock's rules for images, documents and S3 sources that botocore's ``ParamValidator``
does not check (``check_media``), and which models take what (``media_support``).

* ``image`` and ``document`` blocks only in ``user`` turns; at most 5 documents in one
  message, each with a ``text`` block beside it; inline bytes non-empty base64, a document's at
  most 4.5 MB.
* A document's ``name``: 1-200 characters of ASCII letters and digits, hyphens, parentheses,
  square brackets and single white-space characters (no two in a row), unique in the request
  (case-insensitively); ``format`` one of ``DocumentFormat``.
* ``s3Location``: ``uri`` matching botocore's ``S3Uri`` pattern, ``bucketOwner`` 12 digits,
  and only for models that read S3 (Amazon Nova Lite, Pro, Premier, Nova 2).
* Documents not for Amazon Nova Micro; ``citations.enabled`` only for Claude 3.5 and later;
  images inside ``toolResult`` only for Claude 3 and later (not 3.5 Haiku) and Nova (not
  Micro).

Every violation is ``400 ValidationException``.
"""

from __future__ import annotations

import base64
import re

from .errors import validation_error

DOCUMENT_FORMATS = {"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"}
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024 + 512 * 1024
MAX_DOCUMENTS = 5
NAME = re.compile(r"(?:[A-Za-z0-9()\[\]-]|\s(?!\s))+")
S3_URI = re.compile(r"s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?")
ACCOUNT = re.compile(r"[0-9]{12}")


def _claude_version(base: str) -> tuple[int, int] | None:
    match = re.search(r"claude-(?:(?:sonnet|opus|haiku)-)?(\d{1,2})(?:-(\d{1,2})(?!\d))?", base)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else None


def media_support(model_id: str) -> dict:
    """What the model takes: ``documents``, ``citations``, ``s3``, ``tool_result_images``. An
    id that says nothing (custom ARNs, a gateway alias) takes everything."""
    base = model_id.rsplit("/", 1)[-1]
    everything = {"documents": True, "citations": True, "s3": True, "tool_result_images": True}
    if "anthropic.claude-" in base:
        version = _claude_version(base) or (9, 9)
        return {
            "documents": True,
            "citations": version >= (3, 5),
            "s3": False,
            "tool_result_images": version >= (3, 0) and "3-5-haiku" not in base,
        }
    if "amazon.nova-micro" in base:
        return {"documents": False, "citations": False, "s3": False, "tool_result_images": False}
    if "amazon.nova" in base:
        return {"documents": True, "citations": False, "s3": True, "tool_result_images": True}
    if re.search(r"(^|\.)(meta|mistral|cohere|deepseek|openai|qwen|amazon)\.", base):
        return {"documents": True, "citations": False, "s3": False, "tool_result_images": False}
    return everything


def _bytes(source: dict, at: str, what: str) -> int:
    """Checks a source; the number of inline bytes (0 for an S3 object)."""
    if "s3Location" in source:
        location = source["s3Location"]
        if not S3_URI.fullmatch(location.get("uri") or ""):
            raise validation_error(f"{at}.source.s3Location.uri: the value must match the S3Uri pattern.")
        owner = location.get("bucketOwner")
        if owner is not None and not ACCOUNT.fullmatch(owner):
            raise validation_error(f"{at}.source.s3Location.bucketOwner: the value must be a 12-digit account id.")
        return 0
    try:
        raw = base64.b64decode(source.get("bytes") or "", validate=True)
    except (ValueError, TypeError):
        raw = b""
    if not raw:
        raise validation_error(f"{at}: the {what} bytes are not valid base64.")
    return len(raw)


def _check_document(doc: dict, at: str, names: set[str]) -> None:
    name = doc.get("name") or ""
    if not (1 <= len(name) <= 200) or not NAME.fullmatch(name):
        raise validation_error(
            f"{at}.name: The document name can only contain alphanumeric characters, whitespace "
            "characters (no more than one in a row), hyphens, parentheses and square brackets."
        )
    if name.lower() in names:
        raise validation_error(f"{at}.name: document names must be unique: {name!r} is used twice.")
    names.add(name.lower())
    if doc.get("format") not in DOCUMENT_FORMATS:
        raise validation_error(f"{at}.format: {doc.get('format')!r} is not a DocumentFormat.")
    if _bytes(doc.get("source") or {}, at, "document") > MAX_DOCUMENT_BYTES:
        raise validation_error(f"{at}: a document must be no more than 4.5 MB.")


def _sources(block: dict):
    """The (kind, source) of every image or document in a block, tool results included."""
    for kind in ("image", "document"):
        if kind in block:
            yield kind, block[kind].get("source") or {}
    for c in (block.get("toolResult") or {}).get("content") or []:
        if "image" in c:
            yield "tool-image", c["image"].get("source") or {}


def check_media(body: dict, model_id: str) -> None:
    support = media_support(model_id)
    names: set[str] = set()
    for i, message in enumerate(body.get("messages") or []):
        content = message.get("content") or []
        documents = [b for b in content if "document" in b]
        for j, block in enumerate(content):
            at = f"messages.{i}.content.{j}"
            for kind, source in _sources(block):
                if message.get("role") != "user":
                    raise validation_error(f"{at}: images and documents are only allowed in user messages.")
                if "s3Location" in source and not support["s3"]:
                    raise validation_error(f"{at}: This model doesn't support S3 locations as a source.")
                if kind == "tool-image":
                    if not support["tool_result_images"]:
                        raise validation_error(f"{at}: This model doesn't support images in tool results.")
                    _bytes(source, at, "image")
            if "document" in block:
                doc = block["document"]
                if not support["documents"]:
                    raise validation_error(f"{at}: This model doesn't support documents.")
                if (doc.get("citations") or {}).get("enabled") and not support["citations"]:
                    raise validation_error(f"{at}: This model doesn't support citations.")
                _check_document(doc, f"{at}.document", names)
        if len(documents) > MAX_DOCUMENTS:
            raise validation_error(f"messages.{i}: a message can include up to {MAX_DOCUMENTS} documents.")
        if documents and not any("text" in b for b in content):
            raise validation_error(
                f"messages.{i}: If you include a document, you must also include a text content block."
            )
