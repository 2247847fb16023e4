"""Event-stream encoding (``application/vnd.amazon.eventstream``), as ConverseStream sends it.

Every frame carries ``:event-type``, ``:content-type: application/json`` and ``:message-type:
event`` (or ``:exception-type`` / ``:message-type: exception``) and a compact JSON payload with
a ``"p"`` padding field like real Bedrock. The encoder is checked byte for byte against the Rust
encoder's fixture and against botocore's decoder (tests/emulator/test_emulator.py).
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
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
