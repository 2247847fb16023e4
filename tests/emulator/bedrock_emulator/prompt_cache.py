"""Bedrock prompt caching, deterministically: which input words a request reads from, or
writes to, the cache, from its ``cachePoint`` blocks.

The request is read in Bedrock's cache order: ``toolConfig.tools``, then ``system``, then each
message's ``content``. The *prefix* of a cache point is everything before it (each item with
where it sits: section, message index and role), keyed by the SHA-256 of its canonical JSON
(sorted keys, no spaces) and the model id; its *words* are the words of the text blocks in it,
counted as ``inputTokens`` counts them (tool definitions are not words, so a cache point in
``toolConfig.tools`` alone caches 0 words).

* The longest prefix already seen is **read** (``cacheReadInputTokens`` = its words); the words
  between it and the last cache point are **written** (``cacheWriteInputTokens``); every cache
  point's prefix is then known. A first request writes everything before its last cache point;
  the same request again reads it all.
* ``inputTokens`` is what is left of the input words; ``totalTokens`` adds the four counts.
* Known prefixes live in memory (``EmulatorConfig.prompt_cache``) until ``POST /_emulator/reset``.
* ``[scenario:cache:<read>:<write>]`` forces the two counts instead (see scenarios.py).
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterator

from .answers import count_words


def _items(body: dict) -> Iterator[tuple[object, bool]]:
    """(item, is_cache_point) in cache order; an item records where its block sits."""
    for block in (body.get("toolConfig") or {}).get("tools") or []:
        yield ["tools", block], "cachePoint" in block
    for block in body.get("system") or []:
        yield ["system", block], "cachePoint" in block
    for i, message in enumerate(body.get("messages") or []):
        for block in message.get("content") or []:
            yield ["messages", i, message.get("role"), block], "cachePoint" in block


def _words(item: list) -> int:
    block = item[-1]
    if item[0] == "tools" or not isinstance(block, dict) or not isinstance(block.get("text"), str):
        return 0
    return count_words(block["text"])


def cache_points(body: dict, model_id: str) -> list[tuple[str, int]]:
    """Per cache point, in order: the key of its prefix and the words before it."""
    points: list[tuple[str, int]] = []
    prefix: list = []
    words = 0
    for item, is_point in _items(body):
        if is_point:
            canonical = json.dumps([model_id, prefix], sort_keys=True, separators=(",", ":"))
            points.append((hashlib.sha256(canonical.encode()).hexdigest(), words))
        prefix.append(item)
        words += _words(item)
    return points


def account(body: dict, model_id: str, known: set[str]) -> tuple[int, int] | None:
    """(cache read, cache write) words for this request, recording its prefixes in `known`;
    None when it carries no cache point. The caller holds the lock that guards `known`."""
    points = cache_points(body, model_id)
    if not points:
        return None
    read = max((words for key, words in points if key in known), default=0)
    write = points[-1][1] - read
    known.update(key for key, _ in points)
    return read, write
