"""`/v1/embeddings` through real Envoy and the filter to the emulator's InvokeModel: the
openai SDK (float and base64, one input and a batch, `dimensions`), every embedding model
family, the fan-out (one call per input for Titan and Nova, batches of 96 for Cohere), errors,
usage, `/v1/models`, and the `AzureOpenAI` client with no `azure_deployments` configured."""

from __future__ import annotations

import math

import openai
import pytest

from e2e_support import CLIENT_TIMEOUT, DEMO_API_KEY  # isort: skip (puts the emulator on sys.path)
from bedrock_emulator.embeddings import vector_for  # noqa: E402

TITAN = "amazon.titan-embed-text-v2:0"
COHERE_EN = "cohere.embed-english-v3"
COHERE_V4 = "cohere.embed-v4:0"
NOVA = "amazon.nova-2-multimodal-embeddings-v1:0"


def close(a, b) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-6) for x, y in zip(a, b))


def invokes(emulator) -> list[dict]:
    return [r for r in emulator.bedrock_requests() if r["operation"] == "InvokeModel"]


def test_one_input_as_floats(api, emulator):
    r = api.client.embeddings.create(model="text-embedding-3-small", input="hello world", encoding_format="float")
    assert r.model == "text-embedding-3-small"
    assert len(r.data) == 1 and r.data[0].index == 0
    assert close(r.data[0].embedding, vector_for("hello world", 1024))
    assert (r.usage.prompt_tokens, r.usage.total_tokens) == (2, 2)
    sent = invokes(emulator)
    assert len(sent) == 1
    assert sent[0]["model_id"] == TITAN
    assert sent[0]["body"] == {"inputText": "hello world", "dimensions": 1024, "normalize": True}
    assert sent[0]["headers"]["authorization"].startswith("AWS4-HMAC-SHA256")
    assert api.last().headers["x-token-usage-input"] == "2"


def test_a_batch_in_base64_with_dimensions_is_fanned_out_in_order(api, emulator):
    texts = [f"sentence number {i}" for i in range(5)]
    # The SDK asks for base64 by default and decodes it itself.
    r = api.client.embeddings.create(model=TITAN, input=texts, dimensions=256)
    assert [d.index for d in r.data] == list(range(5))
    for text, item in zip(texts, r.data):
        assert close(item.embedding, vector_for(text, 256)), text
    assert r.usage.prompt_tokens == 15
    assert isinstance(api.last().json()["data"][0]["embedding"], str)
    sent = invokes(emulator)
    assert sorted(s["body"]["inputText"] for s in sent) == sorted(texts)


@pytest.mark.parametrize("model,dims", [(COHERE_EN, 1024), ("cohere.embed-multilingual-v3", 1024), (COHERE_V4, 1536), (NOVA, 3072)])
def test_every_family(api, emulator, model, dims):
    r = api.client.embeddings.create(model=model, input=["alpha beta", "gamma"], encoding_format="float")
    assert close(r.data[1].embedding, vector_for("gamma", dims))
    assert r.usage.prompt_tokens == 3
    n = 1 if model.startswith("cohere") else 2
    assert len(invokes(emulator)) == n


def test_cohere_batches_are_chunked_at_96_and_input_type_passes(api, emulator):
    texts = [f"t{i}" for i in range(100)]
    r = api.client.embeddings.create(
        model=COHERE_V4, input=texts, dimensions=256, extra_body={"input_type": "search_query"}
    )
    assert len(r.data) == 100 and close(r.data[99].embedding, vector_for("t99", 256))
    sent = sorted(invokes(emulator), key=lambda s: len(s["body"]["texts"]))
    assert [len(s["body"]["texts"]) for s in sent] == [4, 96]
    assert {s["body"]["input_type"] for s in sent} == {"search_query"}
    assert {s["body"]["output_dimension"] for s in sent} == {256}


def test_one_failed_input_fails_the_request(api, emulator):
    with pytest.raises(openai.RateLimitError) as e:
        api.client.embeddings.create(model=TITAN, input=["fine", "[scenario:throttle] not fine", "fine too"])
    assert e.value.code == "ThrottlingException"
    with pytest.raises(openai.BadRequestError) as e:
        api.client.embeddings.create(model=NOVA, input=["[scenario:error:ValidationException]"])
    assert e.value.code == "ValidationException"


def test_bad_requests_name_the_field(api, emulator):
    cases = [
        ({"model": TITAN, "input": [1, 2, 3]}, "input"),
        ({"model": TITAN, "input": [[1, 2]]}, "input"),
        ({"model": TITAN, "input": []}, "input"),
        ({"model": TITAN, "input": "a", "dimensions": 768}, "dimensions"),
        ({"model": COHERE_EN, "input": "x" * 2049}, "input"),
        ({"model": TITAN, "input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "gpt-4o", "input": "a"}, "model"),
    ]
    for body, param in cases:
        r = api.post("/embeddings", body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["param"] == param, body
    r = api.post("/chat/completions", {"model": "text-embedding-3-small", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "model_not_chat"
    assert api.http.get(f"{api.gateway.base_url}/embeddings", headers={"authorization": f"Bearer {DEMO_API_KEY}"}).status_code == 405
    assert invokes(emulator) == []


def test_usage_and_models_list(api, emulator):
    before = api.http.get(f"{api.gateway.base_url}/usage", headers={"authorization": f"Bearer {DEMO_API_KEY}"}).json()
    api.client.embeddings.create(model=TITAN, input=["one two three"])
    after = api.http.get(f"{api.gateway.base_url}/usage", headers={"authorization": f"Bearer {DEMO_API_KEY}"}).json()

    def tokens(report):
        return sum(
            m["input_tokens"] for t in report["data"] for m in t["models"] if m["model"] == TITAN
        )

    assert tokens(after) - tokens(before) == 3, after
    models = {m["id"]: m for m in api.client.models.list().model_dump()["data"]}
    titan = models[TITAN]["bedrock"]
    assert titan["embedding"]["supported_dimensions"] == [256, 512, 1024]
    assert titan["output_modalities"] == ["embedding"]
    assert "embedding" not in models["gpt-4o"]["bedrock"]


def test_langchain_openai_embeddings(api, emulator):
    """LangChain's `OpenAIEmbeddings` (pinned in tests/requirements.txt, so an import error
    fails): a batch through `embed_documents`, one text through `embed_query`."""
    from langchain_openai import OpenAIEmbeddings

    emb = OpenAIEmbeddings(
        model="text-embedding-3-small",
        base_url=api.gateway.base_url,
        api_key=DEMO_API_KEY,
        check_embedding_ctx_length=False,
        max_retries=0,
        http_client=api._http_client(),
    )
    texts = ["first document", "second document", "third document"]
    docs = emb.embed_documents(texts)
    assert len(docs) == 3
    for text, vector in zip(texts, docs):
        assert close(vector, vector_for(text, 1024)), text
    assert close(emb.embed_query("a query"), vector_for("a query", 1024))
    assert sorted(s["body"]["inputText"] for s in invokes(emulator)) == sorted(texts + ["a query"])
    assert {s["model_id"] for s in invokes(emulator)} == {TITAN}


def test_langchain_chat_openai(api, emulator):
    """LangChain's `ChatOpenAI`: one unary call and one stream through the filter."""
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        model="gpt-4o",
        base_url=api.gateway.base_url,
        api_key=DEMO_API_KEY,
        max_retries=0,
        http_client=api._http_client(),
    )
    reply = chat.invoke("Hi LangChain")
    assert reply.content == "Echo: Hi LangChain"
    assert reply.usage_metadata["input_tokens"] > 0
    streamed = "".join(chunk.content for chunk in chat.stream("Hi again"))
    assert streamed == "Echo: Hi again"
    assert [r["operation"] for r in emulator.bedrock_requests()] == ["Converse", "ConverseStream"]


def test_azure_client_without_configured_deployments(api, gateway, emulator):
    """The demo configuration has no `azure_deployments`: a deployment name is a model name."""
    client = openai.AzureOpenAI(
        azure_endpoint=gateway.url,
        api_version="2024-10-21",
        api_key=DEMO_API_KEY,
        max_retries=0,
        timeout=CLIENT_TIMEOUT,
        http_client=api._http_client(),
    )
    chat = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi Azure"}])
    assert chat.choices[0].message.content == "Echo: Hi Azure"
    legacy = client.completions.create(model="gpt-4o-mini", prompt="Say hi")
    assert legacy.choices[0].text
    emb = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert close(emb.data[0].embedding, vector_for("a", 1024))
    assert api.last().request_headers["api-key"] == DEMO_API_KEY
