"""Parquet and the chat formats fine-tuning tools read, in and out, with exact Unicode."""

from __future__ import annotations

import json

import pytest
from dataset_cases import UNICODE

from studio.data import formats, validate, writers
from studio.errors import DatasetFormatError

RECORDS = UNICODE + [{"question": "Who restarts play?", "answer": "The referee.", "system": "Be brief.", "topic": "rules"}]


def _read(data: bytes, name: str, turns: str = "first") -> list[dict]:
    parsed = formats.parse(data, name, turns=turns)
    return formats.apply_mapping(parsed.rows, formats.guess_mapping(parsed.fields))


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet", "messages", "sharegpt"])
def test_every_export_format_reads_back_to_the_same_records(fmt):
    data = writers.WRITERS[fmt](RECORDS)
    back = _read(data, f"out.{writers.EXTENSIONS[fmt]}")
    if fmt in ("messages", "sharegpt"):  # a chat turn carries question, answer and the system prompt
        assert back == [{k: r[k] for k in ("question", "answer", "system") if k in r} for r in RECORDS]
    else:  # CSV has a cell for every column: an absent field reads back empty
        assert [{k: v for k, v in r.items() if not (fmt == "csv" and v == "")} for r in back] == RECORDS


def test_alpaca_export_reads_back_through_the_alpaca_mapping():
    back = _read(writers.WRITERS["alpaca"](RECORDS), "alpaca.json")
    assert [(r["question"], r["answer"]) for r in back] == [(r["question"], r["answer"]) for r in RECORDS]


def test_messages_keep_the_system_prompt_and_multi_turn_gives_first_or_every_exchange():
    conv = {"messages": [{"role": "system", "content": "You referee."},
                         {"role": "user", "content": "What is offside?"},
                         {"role": "assistant", "content": "A position rule."},
                         {"role": "user", "content": "¿Y un córner? ⚽"},
                         {"role": "assistant", "content": "Un saque de esquina."}]}
    data = (json.dumps(conv, ensure_ascii=False) + "\n").encode()
    assert _read(data, "chat.jsonl") == [{"question": "What is offside?", "answer": "A position rule.",
                                          "system": "You referee."}]
    every = _read(data, "chat.jsonl", turns="every")
    assert [r["question"] for r in every] == ["What is offside?", "¿Y un córner? ⚽"]
    assert every[1]["history"] == [{"role": "user", "content": "What is offside?"},
                                   {"role": "assistant", "content": "A position rule."}]
    out = json.loads(writers.WRITERS["messages"]([every[1]]).decode())
    assert out["messages"] == conv["messages"]  # the history goes out as the earlier turns, as it came


def test_sharegpt_roles_map_and_an_unknown_role_is_one_line_naming_the_record():
    ok = [{"conversations": [{"from": "human", "value": "越位是什么？"}, {"from": "gpt", "value": "位置规则。"}]}]
    assert _read(json.dumps(ok, ensure_ascii=False).encode(), "s.json") == [{"question": "越位是什么？", "answer": "位置规则。"}]
    bad = ok + [{"conversations": [{"from": "narrator", "value": "x"}]}]
    with pytest.raises(DatasetFormatError, match=r"^record 2: unknown ShareGPT role 'narrator'"):
        formats.parse(json.dumps(bad).encode(), "s.json")


def test_a_conversation_without_an_assistant_reply_is_an_invalid_record_by_number():
    rows = [{"messages": [{"role": "user", "content": "Q1?"}, {"role": "assistant", "content": "A1."}]},
            {"messages": [{"role": "user", "content": "Q2?"}]}]
    records = _read("".join(json.dumps(r) + "\n" for r in rows).encode(), "c.jsonl")
    kept, skipped, _ = validate.split_valid(records)
    assert kept == [{"question": "Q1?", "answer": "A1."}] and str(skipped[0]) == "record 2: answer is missing"


def test_bad_parquet_files_are_one_line_reasons():
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = writers.to_parquet(RECORDS)
    with pytest.raises(DatasetFormatError, match="^Not a readable Parquet file"):
        formats.parse(good[: len(good) // 2], "cut.parquet")
    buf = pa.BufferOutputStream()
    pq.write_table(pa.table({"a": [1, 2], "b": [0.5, 1.5]}), buf)
    with pytest.raises(DatasetFormatError, match=r"^The Parquet file has no text column \(columns: a \(int64\)"):
        formats.parse(buf.getvalue().to_pybytes(), "numbers.parquet")


def test_cli_imports_parquet_and_exports_every_format(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    src = tmp_path / "in.parquet"
    src.write_bytes(writers.to_parquet(RECORDS))
    out = tmp_path / "seed.json"
    run = subprocess.run([sys.executable, "-m", "studio", "dataset", "import", str(src), "--out", str(out)],
                         capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == RECORDS


def _typed_columns():
    """Columns a Parquet file or a datasets folder may carry beside the text: binary, a timestamp, a decimal,
    floats with NaN and infinity, a struct."""
    import datetime
    import decimal

    import pyarrow as pa

    return pa.table({
        "question": pa.array([b"How long is a half?", b"Who restarts play?"], pa.binary()),  # text stored as bytes
        "answer": ["45 minutes.", "The referee."],
        "blob": pa.array([b"\x00\xff", b"ok"], pa.binary()),
        "when": pa.array([datetime.datetime(2026, 5, 1, 12, 30), None], pa.timestamp("s")),
        "price": pa.array([decimal.Decimal("1.50"), decimal.Decimal("2")], pa.decimal128(5, 2)),
        "score": [float("nan"), float("inf")],
        "meta": [{"page": 3, "day": datetime.date(2026, 5, 1)}, None],
    })


TYPED = [
    {"question": "How long is a half?", "answer": "45 minutes.", "blob": "AP8=", "when": "2026-05-01T12:30:00",
     "price": "1.50", "meta": {"page": 3, "day": "2026-05-01"}},
    {"question": "Who restarts play?", "answer": "The referee.", "blob": "ok", "price": "2.00"},
]


def test_columns_json_cannot_hold_become_json_values_and_every_export_works(tmp_path):
    """Bytes, timestamps and decimals ended ``dataset import`` and every JSON or CSV export in a 'not JSON
    serializable' traceback; NaN was written as a bare NaN the studio's own reader then refused."""
    import subprocess
    import sys

    import pyarrow.parquet as pq
    from datasets import Dataset

    from tests.conftest import REPO

    src = tmp_path / "typed.parquet"
    pq.write_table(_typed_columns(), src)
    out = tmp_path / "seed.json"
    run = subprocess.run([sys.executable, "-m", "studio", "dataset", "import", str(src), "--out", str(out)],
                         capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == TYPED
    assert formats.read_file(out)[0] == TYPED  # the seed file reads back
    for fmt in ("jsonl", "csv", "messages"):
        run = subprocess.run([sys.executable, "-m", "studio", "dataset", "export", str(src), "--out",
                              str(tmp_path / f"x.{fmt}"), "--to", fmt], capture_output=True, text=True, cwd=REPO)
        assert run.returncode == 0, run.stderr
    folder = tmp_path / "saved"
    Dataset(_typed_columns()).save_to_disk(str(folder))
    assert formats.read_file(folder)[0] == TYPED


def test_a_large_dataset_is_written_as_compact_json_that_reads_back_exactly(monkeypatch):
    monkeypatch.setattr(writers, "READABLE_UP_TO", 3)  # what 20,000+ records get, on a few records
    records = [dict(r, n=i) for i in range(7) for r in RECORDS]
    data = writers.to_json(records)
    assert json.loads(data) == records and b"\n " not in data  # not indented
    assert formats.read_records(data, "big.json") == records


def test_a_datasets_folder_imports_with_its_split_and_a_missing_split_is_named(tmp_path):
    from datasets import Dataset, DatasetDict

    folder = tmp_path / "saved"
    DatasetDict({"train": Dataset.from_list(UNICODE), "test": Dataset.from_list(UNICODE[:1])}).save_to_disk(str(folder))
    records, _ = formats.read_file(folder)
    assert records == UNICODE  # the train split by default
    test, _ = formats.read_file(f"{folder}@test")
    assert test == UNICODE[:1]
    with pytest.raises(DatasetFormatError, match=r"has no split 'validation' \(splits: train, test\)"):
        formats.read_file(f"{folder}@validation")
    with pytest.raises(DatasetFormatError, match="is a folder but not a saved datasets folder"):
        formats.read_file(tmp_path)


def test_a_hub_dataset_that_is_not_cached_offline_is_one_line(monkeypatch):
    from studio.errors import NetworkError, StudioError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(StudioError) as info:
        formats.read_file("hub:nobody-here/no-such-dataset@train")
    assert "\n" not in str(info.value) and "no-such-dataset" in str(info.value)
    assert isinstance(info.value, (NetworkError, DatasetFormatError))
    with pytest.raises(DatasetFormatError, match="^Bad Hub dataset"):
        formats.read_file("hub:not a/valid id!")


@pytest.fixture
def hub_at(monkeypatch, tmp_path):
    """Point the Hub at a URL and empty caches; ``datasets.load_dataset`` records its calls and answers two rows."""
    import datasets
    from huggingface_hub import constants

    calls: list[str] = []

    def load_dataset(repo, *args, **kwargs):
        calls.append(repo)
        return datasets.Dataset.from_list([{"question": "Q?", "answer": "A."}] * 2)

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)

    def point(url: str) -> list[str]:
        monkeypatch.setattr(constants, "ENDPOINT", url)
        return calls

    return point


def test_a_hub_that_refuses_connections_is_said_at_once_not_after_the_library_s_retries(hub_at):
    """With the Hub out of reach, ``dataset import hub:...`` waited 25-35 s in huggingface_hub's five retries before
    its error line. A Hub that refuses the connection is now said at once, load_dataset never asked."""
    import socket

    from studio.errors import NetworkError

    with socket.socket() as s:  # a port nothing listens at
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    calls = hub_at(f"http://127.0.0.1:{port}")
    with pytest.raises(NetworkError, match=r"^Cannot reach the Hub for alice/soccer \(it refused the connection\) "
                                           "and it is not in the local cache"):
        formats.read_file("hub:alice/soccer@train")
    assert calls == []


def test_a_hub_whose_name_does_not_resolve_is_said_so(hub_at):
    """A Hub name that does not resolve (no DNS, a mistyped HF_ENDPOINT) read "(it refused the connection)", which
    sends a person to look for a firewall; it names the name that does not resolve."""
    from studio.errors import NetworkError

    calls = hub_at("http://hub.invalid")  # .invalid never resolves (RFC 2606)
    with pytest.raises(NetworkError, match=r"^Cannot reach the Hub for alice/soccer \(its name hub\.invalid does not "
                                           r"resolve\) and it is not in the local cache"):
        formats.read_file("hub:alice/soccer@train")
    assert calls == []


def test_a_hub_reached_through_a_proxy_is_not_judged_by_a_direct_connection(hub_at, monkeypatch):
    """Behind a proxy (HTTP(S)_PROXY) a direct connection to the Hub may be refused while the import works through the
    proxy: the check leaves such an import to load_dataset, which goes through it."""
    import socket

    with socket.socket() as s:  # refused when connected to directly
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    calls = hub_at(f"http://127.0.0.1:{port}")
    records, _ = formats.read_file("hub:alice/soccer@train")
    assert len(records) == 2 and calls == ["alice/soccer"]


def test_a_reachable_hub_or_a_cached_dataset_still_goes_through_load_dataset(hub_at, tmp_path):
    """The check only stops a Hub that refuses: one that takes the connection (however slow its answers) is read, and
    a dataset in the local cache is read from there even with the Hub refusing."""
    import socket

    with socket.socket() as listening:  # takes connections, never answers: a slow Hub
        listening.bind(("127.0.0.1", 0))
        listening.listen(4)
        calls = hub_at(f"http://127.0.0.1:{listening.getsockname()[1]}")
        records, _ = formats.read_file("hub:alice/soccer@train")
        assert len(records) == 2 and calls == ["alice/soccer"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hub_at(f"http://127.0.0.1:{port}")
    (tmp_path / "hub" / "datasets--alice--cached").mkdir(parents=True)
    records, _ = formats.read_file("hub:alice/cached@train")
    assert len(records) == 2 and calls == ["alice/soccer", "alice/cached"]


def test_a_parquet_file_is_read_batch_by_batch_with_nulls_only_where_a_batch_has_them(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from studio.data import parquet_rows

    rows = [{"question": f"Q{i} ⚽?", "answer": f"A{i} 足球.", "note": "n" if i == 6 else None} for i in range(10)]
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=4)
    seen: list[int] = []
    real = pq.ParquetFile.iter_batches

    def counting(self, *args, **kwargs):
        for batch in real(self, *args, **kwargs):
            if kwargs.get("batch_size") != parquet_rows.PROBE_ROWS:  # not the first look at a row's size
                seen.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", counting)
    monkeypatch.setattr(parquet_rows, "BATCH_ROWS", 3)
    records, _ = formats.read_file(path)
    assert sum(seen) == 10 and max(seen) <= 3  # batches, never the whole table at once
    assert records == [{k: v for k, v in r.items() if v is not None} for r in rows]  # a null: a field not there
    assert records[6]["note"] == "n" and "note" not in records[5]


def test_long_rows_are_read_in_batches_bounded_by_bytes(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from studio.data import parquet_rows

    path = tmp_path / "passages.parquet"
    rows = [{"question": f"Q{i}?", "answer": "a" * 1000} for i in range(200)]  # ~1 kB a row
    pq.write_table(pa.Table.from_pylist(rows), path)
    sizes: list[int] = []
    real = pq.ParquetFile.iter_batches

    def counting(self, *args, **kwargs):
        sizes.append(kwargs.get("batch_size"))
        yield from real(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", counting)
    monkeypatch.setattr(parquet_rows, "BATCH_BYTES", 50_000)  # ~40 such rows
    records, _ = formats.read_file(path)
    assert records == rows
    assert sizes[0] == parquet_rows.PROBE_ROWS and 10 <= sizes[1] <= 50, sizes


def test_a_parquet_file_too_large_for_memory_is_one_line_and_nothing_is_lost(tmp_path):
    """A real MemoryError: the import runs under an address-space limit its records do not fit in."""
    import resource
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.conftest import REPO

    big, small = tmp_path / "big.parquet", tmp_path / "small.parquet"
    schema = pa.schema([("question", pa.string()), ("answer", pa.string())])
    with pq.ParquetWriter(big, schema, compression="zstd") as w:  # 4,000 x 100 kB = 400 MB once decoded
        for _ in range(40):
            w.write_table(pa.table({"question": ["q" * 100_000] * 100, "answer": ["a"] * 100}, schema=schema))
    pq.write_table(pa.table({"question": ["How long is a half?"], "answer": ["45 minutes."]}), small)
    out = tmp_path / "mine.json"
    out.write_text('[{"question": "kept?", "answer": "yes"}]')

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (600 * 2**20, 600 * 2**20))

    def imp(src):
        return subprocess.run([sys.executable, "-m", "studio", "dataset", "import", str(src), "--out", str(out),
                               "--force"], capture_output=True, text=True, cwd=REPO, preexec_fn=limit, timeout=120)

    run = imp(big)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: big.parquet does not fit in memory (it stopped after ") \
        and "of 4,000 rows): split it into smaller files" in run.stderr and len(run.stderr.splitlines()) == 1
    assert json.loads(out.read_text()) == [{"question": "kept?", "answer": "yes"}]
    run = imp(small)  # the same limit is plenty for a file that fits
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text()) == [{"question": "How long is a half?", "answer": "45 minutes."}]


def test_a_parquet_file_with_two_columns_of_one_name_is_refused_instead_of_losing_one(tmp_path):
    """A row as a dict kept the second "answer" column: the first one's values were dropped without a word."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "twice.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["q1"]), pa.array(["a1"]), pa.array(["x"])],
                                        names=["question", "answer", "answer"]), src)
    with pytest.raises(DatasetFormatError) as err:
        formats.read_file(src)
    assert str(err.value) == ("The Parquet file has two columns named 'answer' (columns: question, answer, answer): "
                              "rename one and export it again.")


MIXED = [{"question": "q1", "answer": "a1", "source": 1}, {"question": "q2", "answer": "a2", "source": "web"},
         {"question": "q3", "answer": "a3", "meta": {}, "id": 2**70}]


def test_a_field_of_mixed_kinds_is_exported_to_parquet_as_text():
    """A number in one record and text in another, an integer above 64 bits or an empty object ended the
    Parquet export (and a Hub push, which writes the same table) in an Arrow traceback."""
    back = formats.read_records(writers.to_parquet(MIXED), "x.parquet")
    assert back == [{"question": "q1", "answer": "a1", "source": "1"}, {"question": "q2", "answer": "a2", "source": "web"},
                    {"question": "q3", "answer": "a3", "meta": "{}", "id": str(2**70)}]
    assert formats.read_records(writers.to_parquet(RECORDS), "x.parquet") == RECORDS  # typed columns stay typed


def test_a_push_of_fields_of_mixed_kinds_reaches_the_hub(tmp_path):
    import io
    import os
    import subprocess
    import sys

    import pyarrow.parquet as pq
    from hub_servers import standin_hub

    from tests.conftest import REPO

    src = tmp_path / "mixed.json"
    src.write_text(json.dumps(MIXED), encoding="utf-8")
    with standin_hub() as hub:
        env = {**os.environ, "HF_TOKEN": "hf_" + "x" * 30, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": hub.url,
               "HF_HUB_DISABLE_XET": "1"}
        env.pop("HF_HUB_OFFLINE", None)
        out = subprocess.run([sys.executable, "-m", "studio", "dataset", "push", str(src), "--repo", "alice/mixed"],
                             capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    table = pq.read_table(io.BytesIO(hub.repos[("dataset", "alice/mixed")].files["data/train-00000-of-00001.parquet"]))
    assert table.column("source").to_pylist() == ["1", "web", None]
