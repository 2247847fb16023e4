"""InvokeModel for Bedrock's text embedding models, with each model's documented request and
answer shapes (Bedrock user guide: Amazon Titan Text Embeddings V2, Cohere Embed v3 and v4;
Amazon Nova user guide: the multimodal embeddings schema).

* The call itself is checked against the service model's ``InvokeModel`` input (botocore's
  ``ParamValidator``: ``modelId`` and its pattern, ``body``, ``contentType``, ``accept``), then
  the body against the model's own rules (unknown keys, required fields, allowed values and
  limits); every violation is ``400 ValidationException``.
* Vectors are deterministic: a normal sample seeded with SHA-256 of the text, normalised to
  length 1 (``vector_for``), so a test can compute what it should get.
* Input tokens: one per whitespace-separated word (at least one a text), in the
  ``X-Amzn-Bedrock-Input-Token-Count`` answer header (every model) and Titan's
  ``inputTextTokenCount``.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import uuid
from typing import Any

from .errors import validation_error

MALFORMED = "Malformed input request, please reformat your input and try again."
TITAN = "amazon.titan-embed-text-v2:0"
COHERE_V3 = ("cohere.embed-english-v3", "cohere.embed-multilingual-v3")
COHERE_V4 = "cohere.embed-v4:0"
NOVA = "amazon.nova-2-multimodal-embeddings-v1:0"
INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")
NOVA_PURPOSES = (
    "GENERIC_INDEX", "GENERIC_RETRIEVAL", "TEXT_RETRIEVAL", "IMAGE_RETRIEVAL", "VIDEO_RETRIEVAL",
    "DOCUMENT_RETRIEVAL", "AUDIO_RETRIEVAL", "CLASSIFICATION", "CLUSTERING",
)
PROFILE = re.compile(r"^(us|eu|apac|global|jp|au|ca|us-gov)\.")


def base_model(model_id: str) -> str:
    tail = model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id
    return PROFILE.sub("", tail)


def is_embedding_model(model_id: str) -> bool:
    return base_model(model_id) in (TITAN, *COHERE_V3, COHERE_V4, NOVA)


def vector_for(text: str, dimensions: int) -> list[float]:
    """The emulator's embedding of `text`: deterministic, length 1."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def tokens_of(text: str) -> int:
    return max(1, len(text.split()))


def _check(condition: bool, message: str = MALFORMED) -> None:
    if not condition:
        raise validation_error(message)


def _keys(body: dict, allowed: set[str]) -> None:
    extra = sorted(set(body) - allowed)
    _check(not extra, f"Malformed input request: extraneous key [{extra[0]}] is not permitted" if extra else "")


def texts_of(model_id: str, body: Any) -> list[str]:
    """The texts a valid request body embeds (raises ValidationException otherwise)."""
    _check(isinstance(body, dict))
    model = base_model(model_id)
    if model == TITAN:
        _keys(body, {"inputText", "dimensions", "normalize", "embeddingTypes"})
        text = body.get("inputText")
        _check(isinstance(text, str) and text != "", "Malformed input request: #: required key [inputText] not found")
        _check(len(text) <= 50_000, "400 Bad Request: Too many input tokens.")
        dims = body.get("dimensions", 1024)
        _check(dims in (256, 512, 1024), f"Malformed input request: #/dimensions: {dims} is not a valid enum value")
        _check(isinstance(body.get("normalize", True), bool))
        _check(all(t in ("float", "binary") for t in body.get("embeddingTypes", ["float"])))
        return [text]
    if model in COHERE_V3 or model == COHERE_V4:
        allowed = {"texts", "input_type", "truncate", "embedding_types", "images"}
        if model == COHERE_V4:
            allowed |= {"output_dimension", "max_tokens", "inputs"}
        _keys(body, allowed)
        texts = body.get("texts")
        _check(isinstance(texts, list) and all(isinstance(t, str) for t in texts), "Malformed input request: #: required key [texts] not found")
        _check(1 <= len(texts) <= 96, f"Malformed input request: #/texts: expected maxItems: 96, actual: {len(texts)}")
        if model in COHERE_V3:
            _check(all(len(t) <= 2048 for t in texts), "Malformed input request: #/texts: expected maxLength: 2048")
        _check(body.get("input_type") in INPUT_TYPES, "Malformed input request: #: required key [input_type] not found")
        types = ("float", "int8", "uint8", "binary", "ubinary")
        _check(isinstance(body.get("embedding_types", []), list) and all(t in types for t in body.get("embedding_types", [])))
        if model == COHERE_V4:
            _check(body.get("output_dimension", 1536) in (256, 512, 1024, 1536))
        return texts
    if model == NOVA:
        _keys(body, {"schemaVersion", "taskType", "singleEmbeddingParams"})
        _check(body.get("schemaVersion", "nova-multimodal-embed-v1") == "nova-multimodal-embed-v1")
        _check(body.get("taskType") == "SINGLE_EMBEDDING")
        params = body.get("singleEmbeddingParams")
        _check(isinstance(params, dict))
        _keys(params, {"embeddingPurpose", "embeddingDimension", "text", "image", "audio", "video"})
        _check(params.get("embeddingPurpose") in NOVA_PURPOSES)
        _check(params.get("embeddingDimension", 3072) in (256, 384, 1024, 3072))
        text = params.get("text")
        _check(isinstance(text, dict) and isinstance(text.get("value"), str) and text["value"] != "")
        _keys(text, {"truncationMode", "value", "source"})
        _check(text.get("truncationMode") in ("START", "END", "NONE"))
        return [text["value"]]
    raise validation_error("The provided model identifier is invalid.")


def answer(model_id: str, body: dict, texts: list[str]) -> tuple[dict, int]:
    """The model's answer body and its input-token count."""
    model = base_model(model_id)
    tokens = sum(tokens_of(t) for t in texts)
    if model == TITAN:
        v = vector_for(texts[0], body.get("dimensions", 1024))
        return {"embedding": v, "inputTextTokenCount": tokens, "embeddingsByType": {"float": v}}, tokens
    if model == NOVA:
        params = body["singleEmbeddingParams"]
        v = vector_for(texts[0], params.get("embeddingDimension", 3072))
        return {"embeddings": [{"embeddingType": "TEXT", "embedding": v}]}, tokens
    dims = body.get("output_dimension", 1536) if model == COHERE_V4 else 1024
    vectors = [vector_for(t, dims) for t in texts]
    out: dict[str, Any] = {"id": str(uuid.uuid4()), "texts": texts}
    if model == COHERE_V4 or "embedding_types" in body:
        out.update(embeddings={"float": vectors}, response_type="embeddings_by_type")
    else:
        out.update(embeddings=vectors, response_type="embeddings_floats")
    return out, tokens


def validate_call(model, validator, model_id: str, raw_body: bytes, headers: dict[str, str]) -> None:
    """The InvokeModel call against the service model: modelId (and its pattern), body,
    contentType, accept."""
    shape = model.operation_model("InvokeModel").input_shape
    pattern = shape.members["modelId"].metadata.get("pattern")
    if pattern and not re.fullmatch(pattern, model_id):
        raise validation_error(
            f"1 validation error detected: Value '{model_id}' at 'modelId' failed to satisfy "
            f"constraint: Member must satisfy regular expression pattern: {pattern}"
        )
    params = {"modelId": model_id, "body": raw_body}
    if headers.get("content-type"):
        params["contentType"] = headers["content-type"]
    if headers.get("accept"):
        params["accept"] = headers["accept"]
    report = validator.validate(params, shape)
    if report.has_errors():
        raise validation_error(report.generate_report())
    _check(headers.get("content-type", "").startswith("application/json"))
