"""Model specs: every written form parses to its kind and name and prints back as written; a spec that
names nothing is refused in one line that shows the right form."""

import pytest

from studio.chat import BackendSpec
from studio.errors import ModelLoadError, ModelSpecError
from studio.models.spec import ModelSpec, parse_spec

FORMS = [
    ("run:20261122-095609-ab12", "run", "20261122-095609-ab12"),
    ("model:smollm2-135m-instruct", "model", "smollm2-135m-instruct"),
    ("api:meta-llama/Llama-3.1-8B-Instruct", "api", "meta-llama/Llama-3.1-8B-Instruct"),
    ("api:llama3:8b", "api", "llama3:8b"),  # an Ollama model name keeps its colon
    ("api:qa:deepset/roberta-base-squad2", "api-qa", "deepset/roberta-base-squad2"),
    ("qa:deepset/roberta-base-squad2", "qa", "deepset/roberta-base-squad2"),
    ("qa:run:abc", "qa", "run:abc"),
    ("qa:/models/squad", "qa", "/models/squad"),
    ("/models/SmolLM2.Q4_1.gguf", "gguf", "/models/SmolLM2.Q4_1.gguf"),
    ("weights.GGUF", "gguf", "weights.GGUF"),
    ("/abs/folder", "path", "/abs/folder"),
    ("./folder", "path", "./folder"),
    ("~/models/x", "path", "~/models/x"),
    ("runs/a/model", "path", "runs/a/model"),
    ("C:\\models\\x", "path", "C:\\models\\x"),
    ("scratch", "scratch", "scratch"),
    ("distilgpt2", "hub", "distilgpt2"),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "hub", "HuggingFaceTB/SmolLM2-135M-Instruct"),
]


@pytest.mark.parametrize(("text", "kind", "name"), FORMS)
def test_every_form_parses_and_prints_back(text, kind, name):
    spec = parse_spec(f"  {text} ")
    assert (spec.kind, spec.name) == (kind, name)
    assert str(spec) == text
    assert parse_spec(str(spec)) == spec


def test_what_each_form_is():
    assert parse_spec("api:x").is_api and parse_spec("api:qa:x").is_api and not parse_spec("qa:x").is_api
    assert [parse_spec(s).says_extractive for s in ("qa:x", "api:qa:x", "api:x", "x")] == [True, True, False, False]
    assert parse_spec("qa:run:abc").inner == ModelSpec("run", "abc")
    assert str(parse_spec("run:abc").as_qa()) == "qa:run:abc"
    assert parse_spec("qa:x").as_qa() == parse_spec("qa:x")


@pytest.mark.parametrize(("text", "says"), [
    ("", "No model chosen"),
    ("   ", "No model chosen"),
    ("run:", "run:20261122"),
    ("model: ", "model:SmolLM2"),
    ("api:", "api:meta-llama"),
    ("api:qa:", "api:qa:deepset"),
    ("qa:", "qa:deepset"),
    ("qa:api:deepset/roberta-base-squad2", "did you mean api:qa:deepset/roberta-base-squad2"),
    ("qa:qa:x", "did you mean qa:x"),
    ("foo:bar", "Unknown model prefix 'foo:'"),
])
def test_a_spec_that_names_nothing_is_one_line(text, says):
    with pytest.raises(ModelSpecError) as info:
        parse_spec(text)
    message = str(info.value)
    assert says in message and "\n" not in message
    assert isinstance(info.value, ModelLoadError)  # every caller that catches load errors catches these


def test_a_hosted_spec_cannot_become_a_local_extractive_one():
    with pytest.raises(ModelSpecError):
        parse_spec("api:x").as_qa()


@pytest.mark.parametrize(("text", "settings", "expected"), [
    ("api:m", {}, BackendSpec(kind="provider", model="m", provider="auto")),
    ("api:m", {"provider": "together"}, BackendSpec(kind="provider", model="m", provider="together")),
    ("api:m", {"base_url": "http://127.0.0.1:8000/v1"}, BackendSpec(kind="openai", model="m", base_url="http://127.0.0.1:8000/v1")),
    ("api:qa:q", {"base_url": "http://127.0.0.1:8000/v1"}, BackendSpec(kind="provider", model="q", task="extractive")),
    ("api:qa:q", {"qa_endpoint": "http://e/qa"}, BackendSpec(kind="provider", model="q", base_url="http://e/qa", task="extractive")),
    ("run:abc", {"quantization": "4bit"}, BackendSpec(kind="local", model="run:abc", quantization="4bit")),
    ("qa:x", {}, BackendSpec(kind="local", model="qa:x", task="extractive")),
])
def test_one_place_turns_a_spec_into_a_backend(text, settings, expected):
    assert BackendSpec.for_model(text, **settings) == expected


def test_resolve_refuses_what_it_cannot_load_in_one_line():
    from studio.models import loading

    for text in ("api:m", "api:qa:m", "run:"):
        with pytest.raises(ModelLoadError) as info:
            loading.resolve(text)
        assert "\n" not in str(info.value)


def test_a_backend_label_never_fails_on_a_bad_spec():
    assert BackendSpec(kind="local", model="qa:run:x", task="extractive").label == "run:x (extractive, local)"
    assert BackendSpec(kind="local", model="foo:bar", task="extractive").label == "foo:bar (extractive, local)"
