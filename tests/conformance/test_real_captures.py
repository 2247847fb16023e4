"""`make conformance` only (never collected by `make test`): the emulator's event-stream encoder
re-encodes every frame of the real recorded Bedrock streams in `$BEDROCK_CAPTURES_DIR`
(third-party references outside the repository) to the same bytes. Without the variable this
fails: it is not a test that can be skipped into passing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from botocore.eventstream import EventStreamBuffer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulator"))
import bedrock_emulator as emu  # noqa: E402


def test_frame_encoder_matches_real_bedrock_bytes():
    """Re-encode every frame of the real recorded Bedrock streams: the bytes must be identical."""
    directory = os.environ.get("BEDROCK_CAPTURES_DIR")
    assert directory, "BEDROCK_CAPTURES_DIR is not set: run this through `make conformance`"
    captures = sorted(Path(directory).glob("*.bin"))
    assert captures, f"no *.bin in BEDROCK_CAPTURES_DIR={directory}"
    for capture in captures:
        data = capture.read_bytes()
        buffer = EventStreamBuffer()
        buffer.add_data(data)
        frames = [emu.encode_frame(list(m.headers.items()), m.payload) for m in buffer]
        assert b"".join(frames) == data, capture.name
