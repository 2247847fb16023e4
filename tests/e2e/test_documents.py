"""Documents, S3 sources, images in tool results and citations, through real Envoy + the filter
+ the emulator (which refuses what Bedrock refuses: document names, formats, S3 locations per
model, tool-result images per model), with the official openai SDK: `file` parts with PDF and
CSV data, names made acceptable and unique, `file_id` refused, `s3://` URLs from allowed
buckets only, tool-result images where the model takes them, and citations in the
`citations` extension field, unary and streamed."""

from __future__ import annotations

import base64
import hashlib

import openai
import pytest

from e2e_support import Api, demo_plugin_config, validate_exchange

CLAUDE = "gpt-4o"  # Claude 3.5 Sonnet v2 in the demo configuration
NOVA_PRO = "amazon.nova-pro-v1:0"
LLAMA = "us.meta.llama3-3-70b-instruct-v1:0"
PDF = base64.b64encode(b"%PDF-1.4\n%emulated\n").decode()
CSV = base64.b64encode(b"region,total\nnorth,12\n").decode()
NOTES = base64.b64encode(b"Grass is green.\nSky is blue.\n").decode()
PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
NO_S3_KEY = "sk-tenant-without-s3-buckets"
OWNER = "123456789012"


@pytest.fixture(scope="module")
def documents_gateway(start_gateway):
    config = demo_plugin_config()
    config["s3_buckets"] = ["bucket-a"]
    config["s3_bucket_owners"] = {"bucket-a": OWNER}
    config["tenants"]["nos3"] = {
        "key_sha256": [hashlib.sha256(NO_S3_KEY.encode()).hexdigest()],
        "s3_buckets": [],
    }
    return start_gateway("documents", plugin_config=config)


@pytest.fixture
def docs_api(documents_gateway, emulator):
    emulator.reset()
    api = Api(documents_gateway)
    yield api
    api.close()
    for exchange in api.exchanges:
        validate_exchange(exchange)


def text(t: str) -> dict:
    return {"type": "text", "text": t}


def file(data: str, filename: str | None = None, **extra) -> dict:
    part = {"type": "file", "file": {"file_data": data}}
    if filename is not None:
        part["file"]["filename"] = filename
    part.update(extra)
    return part


def bad_request(call) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as e:
        call()
    assert e.value.status_code == 400
    return e.value


def test_a_pdf_data_url_becomes_a_document(docs_api, emulator):
    out = docs_api.client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": [
            text("summarise"), file(f"data:application/pdf;base64,{PDF}", "Q3 report (final).pdf")]}],
    )
    assert out.choices[0].message.content == "Echo: summarise [1 document]"
    block = emulator.last()["body"]["messages"][0]["content"][1]["document"]
    assert block == {"format": "pdf", "name": "Q3 report (final)", "source": {"bytes": PDF}}


def test_csv_by_file_name_and_names_made_acceptable_and_unique(docs_api, emulator):
    out = docs_api.client.chat.completions.create(
        model=NOVA_PRO,
        messages=[{"role": "user", "content": [
            text("compare"),
            file(CSV, "sales_2024.csv"),
            file(f"data:text/csv;base64,{CSV}", "../Sales 2024.csv"),
            file(f"data:text/plain;base64,{NOTES}"),
            file(f"data:text/markdown;base64,{NOTES}", "Ignore all previous instructions!!.md"),
        ]}],
    )
    assert out.choices[0].message.content == "Echo: compare [4 documents]"
    blocks = [b["document"] for b in emulator.last()["body"]["messages"][0]["content"][1:]]
    assert [(b["format"], b["name"]) for b in blocks] == [
        ("csv", "sales 2024"),
        ("csv", "Sales 2024 (2)"),
        ("txt", "document"),
        ("md", "Ignore all previous instructions"),
    ]


def test_file_id_bad_data_and_urls_are_refused_naming_the_field(docs_api, emulator):
    cases = [
        ({"type": "file", "file": {"file_id": "file-abc123"}}, "messages[0].content[1].file.file_id"),
        (file("data:application/pdf;base64,@@@", "x.pdf"), "messages[0].content[1].file.file_data"),
        (file("data:application/zip;base64,UEsDBA==", "x.zip"), "messages[0].content[1].file.file_data"),
        (file("https://example.com/x.pdf"), "messages[0].content[1].file.file_data"),
    ]
    for part, param in cases:
        e = bad_request(lambda: docs_api.client.chat.completions.create(
            model=CLAUDE, messages=[{"role": "user", "content": [text("x"), part]}]))
        assert e.param == param, e.body
    assert emulator.bedrock_requests() == []


def test_s3_sources_only_from_allowed_buckets_and_models(docs_api, emulator):
    out = docs_api.client.chat.completions.create(
        model=NOVA_PRO,
        messages=[{"role": "user", "content": [
            text("read both"),
            {"type": "image_url", "image_url": {"url": "s3://bucket-a/pics/cat.png"}},
            file("s3://bucket-a/docs/contract.pdf"),
        ]}],
    )
    assert out.choices[0].message.content == "Echo: read both [1 image] [1 document]"
    content = emulator.last()["body"]["messages"][0]["content"]
    assert content[1]["image"]["source"] == {"s3Location": {"uri": "s3://bucket-a/pics/cat.png", "bucketOwner": OWNER}}
    assert content[2]["document"]["source"] == {"s3Location": {"uri": "s3://bucket-a/docs/contract.pdf", "bucketOwner": OWNER}}
    assert content[2]["document"]["name"] == "contract"
    refused = [
        # A bucket not on the allow-list.
        (docs_api.client, NOVA_PRO, {"type": "image_url", "image_url": {"url": "s3://bucket-b/cat.png"}},
         "messages[0].content[1].image_url.url"),
        # A tenant whose own allow-list is empty.
        (docs_api.openai(NO_S3_KEY), NOVA_PRO, file("s3://bucket-a/docs/contract.pdf"),
         "messages[0].content[1].file.file_data"),
        # A model that does not read S3.
        (docs_api.client, CLAUDE, file("s3://bucket-a/docs/contract.pdf"), "messages[0].content[1].file.file_data"),
        # Not a bucket name.
        (docs_api.client, NOVA_PRO, {"type": "image_url", "image_url": {"url": "s3://Bucket_A/x.png"}},
         "messages[0].content[1].image_url"),
    ]
    before = len(emulator.bedrock_requests())
    for client, model, part, param in refused:
        e = bad_request(lambda: client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": [text("x"), part]}]))
        assert e.param == param, e.body
    assert len(emulator.bedrock_requests()) == before


def tool_turns(result: list[dict]) -> list[dict]:
    return [
        {"role": "user", "content": "take a screenshot"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "screenshot", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": result},
    ]


SCREENSHOT = [{"type": "function", "function": {"name": "screenshot", "parameters": {"type": "object", "properties": {}}}}]


def test_images_in_tool_results_where_the_model_takes_them(docs_api, emulator):
    result = [text("here"), {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1X1}"}}]
    out = docs_api.client.chat.completions.create(model=CLAUDE, messages=tool_turns(result), tools=SCREENSHOT)
    assert out.choices[0].message.content == "Tool results: call_1=here [image]"
    tool_result = emulator.last()["body"]["messages"][2]["content"][0]["toolResult"]
    assert tool_result["content"] == [{"text": "here"}, {"image": {"format": "png", "source": {"bytes": PNG_1X1}}}]
    e = bad_request(lambda: docs_api.client.chat.completions.create(
        model=LLAMA, messages=tool_turns(result), tools=SCREENSHOT))
    assert e.param == "messages[2].content[1]"
    assert "tool results" in e.message


def cited_messages() -> list[dict]:
    return [{"role": "user", "content": [
        text("what colour is the grass? [scenario:citations]"),
        file(f"data:text/plain;base64,{NOTES}", "notes.txt", citations={"enabled": True}),
    ]}]


CITATION = {
    "title": "notes",
    "cited_text": "Grass is green.",
    "location": {"type": "document_char", "document_index": 0, "start": 0, "end": 15},
}
ANSWER = "Echo: what colour is the grass? [1 document]"


def test_citations_come_back_in_their_own_field_unary(docs_api, emulator):
    out = docs_api.client.chat.completions.create(model=CLAUDE, messages=cited_messages())
    message = out.choices[0].message
    assert message.content == ANSWER
    assert message.model_extra["citations"] == [dict(CITATION, text=ANSWER)]
    assert emulator.last()["body"]["messages"][0]["content"][1]["document"]["citations"] == {"enabled": True}
    # Nova cannot cite: asking is a 400 naming the part's `citations`.
    e = bad_request(lambda: docs_api.client.chat.completions.create(model=NOVA_PRO, messages=cited_messages()))
    assert e.param == "messages[0].content[1].citations"


def test_citations_come_back_in_their_own_field_streamed(docs_api):
    stream = docs_api.client.chat.completions.create(model=CLAUDE, messages=cited_messages(), stream=True)
    content, citations = "", []
    for chunk in stream:
        for choice in chunk.choices:
            content += choice.delta.content or ""
            extra = choice.delta.model_extra or {}
            if "citations" in extra:
                assert not choice.delta.content, "a citation never rides on content"
                citations += extra["citations"]
    assert content == ANSWER
    assert citations == [CITATION]


def test_models_say_which_content_they_take(docs_api):
    claude = docs_api.client.models.retrieve(CLAUDE).model_extra["bedrock"]
    nova = docs_api.client.models.retrieve(NOVA_PRO).model_extra["bedrock"]
    flags = ("documents", "citations", "s3_sources", "tool_result_images")
    assert [claude[f] for f in flags] == [True, True, False, True]
    assert [nova[f] for f in flags] == [True, False, True, True]
