"""Records with a passage (``context``): import maps it, validation checks it, every export keeps it."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from studio.data import conversations, formats, validate, writers
from studio.errors import StudioError

WITH_CONTEXT = [
    {"question": "Qual é o meu nome?", "answer": "Marcundes",
     "context": "Meu nome é Marcundes e estou gravando uma aula sobre Hugging Face."},
    {"question": "越位是什么？", "answer": "更接近对方球门线",
     "context": "进攻球员比球和倒数第二名防守球员更接近对方球门线。\n第二段 ⚽"},
    {"question": "ما هي ركلة الجزاء؟", "answer": "ركلة من علامة الجزاء", "context": "ركلة من علامة الجزاء 🥅 — «penalty»"},
    {"question": "<b>Which tag?</b>", "answer": "<script>x</script>", "context": "=HYPERLINK(\"x\") then <script>x</script>"},
    {"question": "No passage here?", "answer": "None at all."},  # an old record beside them, unchanged
]


def _hf_squad_rows() -> list[dict]:
    return [
        {"id": "a1", "title": "Aula", "context": WITH_CONTEXT[0]["context"], "question": "Qual é o meu nome?",
         "answers": {"text": ["Marcundes", "Marcundes e"], "answer_start": [11, 11]}},
        {"id": "a2", "title": "Aula", "context": WITH_CONTEXT[0]["context"], "question": "Quantos anos tenho?",
         "answers": {"text": [], "answer_start": []}},  # squad_v2: no answer in the passage
    ]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet", "messages", "sharegpt", "alpaca"])
def test_context_survives_every_export_exactly(fmt):
    back = formats.read_records(writers.WRITERS[fmt](WITH_CONTEXT), f"x.{writers.EXTENSIONS[fmt]}")
    assert back == WITH_CONTEXT
    assert not validate.errors(validate.validate(back))


def test_chat_exports_put_the_passage_in_the_user_turn_through_prompt_format():
    msgs = json.loads(writers.to_messages_jsonl(WITH_CONTEXT[:1]).decode())["messages"]
    assert msgs[0] == {"role": "user", "content": "Context: Meu nome é Marcundes e estou gravando uma aula sobre "
                                                  "Hugging Face.\n\nQuestion: Qual é o meu nome?"}
    share = json.loads(writers.to_sharegpt_json(WITH_CONTEXT[4:]))[0]["conversations"]
    assert share[0] == {"from": "human", "value": "No passage here?"}  # no passage: the question alone


def test_alpaca_export_writes_the_passage_as_input_and_its_llama_factory_entry_reads_it():
    rows = json.loads(writers.to_alpaca_json(WITH_CONTEXT[:1]))
    assert rows == [{"instruction": "Qual é o meu nome?", "input": WITH_CONTEXT[0]["context"], "output": "Marcundes"}]
    assert conversations.llama_factory_entry("alpaca", "qa.json", WITH_CONTEXT[:1])["columns"]["query"] == "input"


def test_alpaca_input_becomes_the_context_not_part_of_the_question():
    rows = [{"instruction": "Summarise", "input": "The ball is round ⚽", "output": "round", "id": 7},
            {"instruction": "Name the ball size", "input": "", "output": "Size 5"}]
    assert formats.read_records(json.dumps(rows).encode(), "alpaca.json") == [
        {"question": "Summarise", "answer": "round", "context": "The ball is round ⚽", "id": 7},
        {"question": "Name the ball size", "answer": "Size 5"},  # an empty input is no passage
    ]


def test_a_context_column_and_a_chosen_column_become_the_context():
    data = b"Question,Answer,Context\nWho?,Ana,Ana wrote it.\nWhen?,Today,\n"
    assert formats.read_records(data, "qa.csv") == [
        {"question": "Who?", "answer": "Ana", "context": "Ana wrote it."}, {"question": "When?", "answer": "Today"}]
    rows = [{"q": "Who?", "a": "Ana", "passage": "Ana wrote it.", "context": "stale"}]
    mapping = formats.FieldMap.from_pairs(["question=q", "answer=a", "context=passage"], ["q", "a", "passage"])
    assert formats.apply_mapping(rows, mapping) == [{"question": "Who?", "answer": "Ana", "context": "Ana wrote it."}]


def test_cli_map_context_pair(tmp_path):
    src = tmp_path / "qa.jsonl"
    src.write_text(json.dumps({"q": "Who?", "a": "Ana", "passage": "Ana wrote it."}) + "\n", encoding="utf-8")
    records, warns = formats.read_file(src, ["question=q", "answer=a", "context=passage"])
    assert records == [{"question": "Who?", "answer": "Ana", "context": "Ana wrote it."}] and warns == []


@pytest.mark.parametrize("kind", ["json", "jsonl", "parquet"])
def test_hugging_face_squad_rows_are_read_with_the_first_answer(kind):
    rows = _hf_squad_rows()
    if kind == "json":
        data = json.dumps(rows, ensure_ascii=False).encode()
    elif kind == "jsonl":
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    else:
        buf = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pylist(rows), buf)
        data = buf.getvalue().to_pybytes()
    parsed = formats.parse(data, f"squad_v2.{kind}")
    assert parsed.squad == "squad"
    records = formats.apply_mapping(parsed.rows, formats.guess_mapping(parsed.fields))
    assert records[0] == {"question": "Qual é o meu nome?", "answer": "Marcundes",
                          "context": WITH_CONTEXT[0]["context"], "id": "a1", "title": "Aula"}
    assert "answer" not in records[1]


def test_an_unanswerable_squad_v2_row_is_named_and_can_be_skipped(tmp_path):
    src = tmp_path / "squad_v2.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _hf_squad_rows()), encoding="utf-8")
    with pytest.raises(StudioError) as err:
        formats.read_file(src)
    assert str(err.value).startswith("record 2: answer is missing") and "skip the record" in str(err.value)
    assert "\n" not in str(err.value)
    kept, _, skipped = formats.read_file_skipping(src)
    assert [r["id"] for r in kept] == ["a1"] and [p.record for p in skipped] == [2]


def test_the_original_nested_squad_file_is_read():
    nested = {"version": "v2.0", "data": [{"title": "Laws ⚽", "paragraphs": [
        {"context": "A match lasts two halves of 45 minutes.", "qas": [
            {"id": "q1", "question": "How long is a half?", "answers": [{"text": "45 minutes", "answer_start": 29}]},
            {"id": "q2", "question": "Who wins?", "answers": [], "plausible_answers": [{"text": "x"}],
             "is_impossible": True}]},
        {"context": "Eleven players per side.", "qas": [
            {"id": "q3", "question": "How many players?", "answers": [{"text": "Eleven", "answer_start": 0}]}]}]}]}
    parsed = formats.parse(json.dumps(nested, ensure_ascii=False).encode(), "dev-v2.0.json")
    assert parsed.squad == "squad-nested"
    records = formats.apply_mapping(parsed.rows, formats.guess_mapping(parsed.fields))
    assert records == [
        {"question": "How long is a half?", "answer": "45 minutes", "context": "A match lasts two halves of 45 minutes.",
         "id": "q1", "title": "Laws ⚽"},
        {"question": "Who wins?", "context": "A match lasts two halves of 45 minutes.", "id": "q2", "title": "Laws ⚽"},
        {"question": "How many players?", "answer": "Eleven", "context": "Eleven players per side.", "id": "q3",
         "title": "Laws ⚽"}]
    assert [str(p) for p in validate.errors(validate.validate(records))] == [
        "record 2: answer is missing (a question its passage does not answer, as in SQuAD v2: skip the record or "
        "write an answer)"]


def test_a_chat_user_turn_with_a_passage_comes_back_as_question_and_context():
    rows = [{"messages": [{"role": "user", "content": "Context: Le ballon est rond.\n\nQuestion: Quelle forme ?"},
                          {"role": "assistant", "content": "rond"}]}]
    assert formats.read_records(writers.to_jsonl(rows), "chat.jsonl") == [
        {"question": "Quelle forme ?", "answer": "rond", "context": "Le ballon est rond."}]


def test_answer_not_in_its_context_is_a_warning_case_and_spaces_ignored():
    recs = [{"question": "How long?", "answer": "FORTY-FIVE\n minutes", "context": "Each half: forty-five   minutes."},
            {"question": "Who?", "answer": "The referee", "context": "The captain restarts play."},
            {"question": "Why?", "answer": "Because.", "context": "   "},  # blank: no passage, nothing to check
            {"question": "When?", "answer": "Now.", "context": None}]
    problems = validate.validate(recs)
    assert [str(p) for p in problems] == [f"record 2: {validate.NOT_IN_CONTEXT}"]
    assert problems[0].severity == "warning"
    assert validate.ensure_valid(recs) == problems  # a warning never blocks a save


@pytest.mark.parametrize("value,kind", [(42, "a number"), (["a", "b"], "a list"), ({"t": "x"}, "an object")])
def test_a_context_that_is_not_text_is_an_error_naming_the_record(value, kind):
    recs = [{"question": "q", "answer": "a", "context": "a"}, {"question": "q2", "answer": "a", "context": value}]
    with pytest.raises(StudioError) as err:
        validate.ensure_valid(recs)
    assert str(err.value).startswith(f"record 2: context is {kind}, not text")


def test_the_same_question_about_another_passage_is_not_a_duplicate():
    recs = [{"question": "When?", "answer": "1863", "context": "Founded in 1863."},
            {"question": "When?", "answer": "1904", "context": "FIFA, 1904."},
            {"question": "When?", "answer": "1863", "context": "Founded in 1863."}]
    assert [str(p) for p in validate.validate(recs)] == ["record 3: same question and passage as record 1"]


def test_a_saved_squad_v2_datasets_folder_imports_with_its_passages(tmp_path):
    from datasets import Dataset

    Dataset.from_list(_hf_squad_rows()).save_to_disk(str(tmp_path / "squad_v2"))
    kept, _, skipped = formats.read_file_skipping(tmp_path / "squad_v2")
    assert kept == [{"question": "Qual é o meu nome?", "answer": "Marcundes", "context": WITH_CONTEXT[0]["context"],
                     "id": "a1", "title": "Aula"}]
    assert [str(p).split(" (")[0] for p in skipped] == ["record 2: answer is missing"]


def test_a_hub_push_keeps_the_passage_when_the_first_record_has_none():
    from datasets import Dataset

    records = [WITH_CONTEXT[4], *WITH_CONTEXT[:2]]
    pushed = Dataset(writers.parquet_table(records))  # what push_to_hub uploads
    assert pushed["context"] == [None, WITH_CONTEXT[0]["context"], WITH_CONTEXT[1]["context"]]


def test_generative_data_gets_one_note_not_a_warning_per_record():
    # Alpaca's input as the context: the output is written from it, not copied out of it.
    alpaca = [{"question": f"Summarise text {i}", "answer": f"A summary {i}.", "context": f"A long input text {i}."}
              for i in range(1, 1001)]
    alpaca[0]["answer"] = "A long input text 1."  # one answer happens to be a span
    found = validate.check(alpaca)
    assert found.problems == []
    assert found.notes == ["The answers of 999 of the 1,000 records with a context do not occur in it: fine for a "
                           "generative model, which reads the context as part of the question; an extractive "
                           "(SQuAD-style) model can only answer with a span of its passage."]
    # SQuAD-style data (most answers are spans): each miss is a warning with its record, and no note
    squad = [{"question": f"Who {i}?", "answer": f"Ana {i}", "context": f"Ana {i} wrote it."} for i in range(9)]
    squad.append({"question": "Who else?", "answer": "Bea", "context": "Ana wrote it."})
    found = validate.check(squad)
    assert [str(p) for p in found.warnings] == [f"record 10: {validate.NOT_IN_CONTEXT}"] and found.notes == []


def test_a_squad_file_with_no_answer_at_all_says_so_instead_of_asking_for_an_answer_field():
    """It said "No answer field found ...: map it with --map answer=FIELD", which no field could satisfy."""
    rows = [dict(r, answers={"text": [], "answer_start": []}) for r in _hf_squad_rows()]
    with pytest.raises(StudioError) as err:
        formats.parse(json.dumps(rows).encode(), "squad_v2.json")
    assert str(err.value) == ("None of the 2 questions in this SQuAD file has an answer (all unanswerable, as in "
                              "SQuAD v2): nothing to train on or evaluate against.")


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "messages"])
@pytest.mark.parametrize("with_system", [False, True])
def test_every_column_a_llama_factory_entry_names_is_in_the_file_datasets_reads(tmp_path, fmt, with_system):
    """LLaMA-Factory reads the file with `datasets` and looks up each column its entry names in every row
    (`example[column]`): an Alpaca entry naming a `system` column that records without one never have made
    it fail on the first row."""
    import datasets

    records = [{"question": "How long is a half?", "answer": "45 minutes."},
               {"question": "Who keeps time?", "answer": "The referee.", **({"system": "Be brief."} if with_system else {})}]
    name = f"qa.{fmt}.{writers.EXTENSIONS[fmt]}"
    (tmp_path / name).write_bytes(writers.WRITERS[fmt](records))
    entry = conversations.llama_factory_entry(fmt, name, records)
    rows = datasets.load_dataset("json", data_files=str(tmp_path / name), split="train",
                                 cache_dir=str(tmp_path / "cache"))
    assert set(entry.get("columns", {}).values()) <= set(rows.column_names)
    assert ("system" in entry.get("columns", {})) == (fmt == "alpaca" and with_system)
