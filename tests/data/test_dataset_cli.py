import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from dataset_cases import BAD, UNICODE

from studio.__main__ import main
from studio.data import store

REPO = Path(__file__).resolve().parents[2]


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=120)


@pytest.mark.parametrize("name,data,words", BAD, ids=[b[0] for b in BAD])
def test_validate_bad_file_prints_one_error_line_and_exits_2(tmp_path, capsys, name, data, words):
    path = tmp_path / name
    path.write_bytes(data)
    assert main(["dataset", "validate", str(path)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words.lower() in lines[0].lower()


def test_validate_sample_as_a_real_process():
    out = cli("dataset", "validate", "data/soccer_rules.json")
    n = len(json.loads((REPO / "data/soccer_rules.json").read_text(encoding="utf-8")))
    assert out.returncode == 0 and out.stdout.startswith(f"{n} records: no errors, ")
    bad = cli("dataset", "validate", "no/such/file.json")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("error: No file at no/such/file.json and no workspace dataset of that name or id")


def test_validate_finds_an_error_after_1200_warnings_and_exits_2(tmp_path, capsys):
    from dataset_cases import LATE_ERROR

    path = tmp_path / "late.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in LATE_ERROR))
    assert main(["dataset", "validate", str(path)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err == ("error: record 1202: answer is empty (1 of 1,202 records invalid: 1 error, "
                                         "1,200 warnings): fix it, or import with --skip-invalid to leave it out, or with "
                                         "--keep-invalid to bring it in to fix in --out.\n")
    dst = tmp_path / "kept.json"
    assert main(["dataset", "import", str(path), "--out", str(dst), "--skip-invalid"]) == 0
    kept = json.loads(dst.read_text())
    assert len(kept) == 1201 and all(r["answer"] for r in kept)
    assert "skipped record 1202: answer is empty" in capsys.readouterr().err
    assert main(["dataset", "import", str(path), "--out", str(tmp_path / "all.json")]) == 2
    assert "record 1202: answer is empty" in capsys.readouterr().err and not (tmp_path / "all.json").exists()


def test_validate_names_the_first_errors_and_counts_them_all(tmp_path, capsys):
    path = tmp_path / "many.json"
    path.write_text(json.dumps([{"question": f"q{i}", "answer": ""} for i in range(1, 8)]))
    assert main(["dataset", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: record 1: answer is empty; record 2: answer is empty;")
    assert "; and 2 more errors (7 of 7 records invalid: 7 errors, no warnings): fix them" in err


def test_validate_warnings_go_to_stderr_and_exit_0(tmp_path, capsys):
    path = tmp_path / "dup.jsonl"
    path.write_text('{"question": "q", "answer": "a"}\n{"question": "q", "answer": "b"}\n')
    assert main(["dataset", "validate", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out == "2 records: no errors, 1 warning\n" and "warning: record 2: same question as record 1" in out.err


def test_validate_checks_a_workspace_dataset_by_name_as_train_and_dedup_take_it(capsys):
    """`dataset validate general-quiz` said "No file at general-quiz: check the path." where `train --dataset`,
    `dedup` and `dataset export` took the same name."""
    store.create_dataset("General quiz", [{"question": "q", "answer": "a"}, {"question": "Q", "answer": "b"}])
    assert main(["dataset", "validate", "General quiz"]) == 0
    out = capsys.readouterr()
    assert out.out == "2 records: no errors, 1 warning\n" and "warning: record 2: same question as record 1" in out.err


@pytest.mark.parametrize("argv", [["dataset", "validate", "Genral quiz"],
                                  ["dedup", "Genral quiz", "--threshold", "90", "--report", "{tmp}/r.json"]])
def test_a_name_that_is_neither_a_file_nor_a_dataset_says_both_choices_and_the_names(argv, tmp_path, capsys):
    """`dataset validate` and `dedup` take a workspace dataset's name since last round, but a mistyped one was still
    "No file at Genral quiz: check the path.", as if only files were taken."""
    store.create_dataset("General quiz", [{"question": "q", "answer": "a"}])
    store.create_dataset("Rules", [{"question": "q", "answer": "a"}])
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(said) == 1 and said[0].startswith("error: No file at Genral quiz and no workspace dataset"), said
    assert "General quiz, Rules" in said[0] and "dataset list" in said[0] and not (tmp_path / "r.json").exists()


def test_import_with_mapping_writes_the_seed_format_keeping_unicode(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("Title,Body,source\n" + "".join(f'"{r["question"]}","{r["answer"]}",x\n' for r in UNICODE[:3]),
                   encoding="utf-8")
    dst = tmp_path / "out.json"
    assert main(["dataset", "import", str(src), "--out", str(dst), "--map", "question=Title", "--map", "answer=Body"]) == 0
    text = dst.read_text(encoding="utf-8")
    assert json.loads(text) == [{**r, "source": "x"} for r in UNICODE[:3]]
    assert "越位" in text  # written as text, not \u escapes
    assert main(["dataset", "import", str(src), "--out", str(dst)]) == 2  # no guessable fields
    assert "--map question=FIELD" in capsys.readouterr().err


def test_failed_import_leaves_the_old_output_untouched(tmp_path):
    dst = tmp_path / "out.json"
    dst.write_text("[]\n")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"question": "q"}]')
    assert main(["dataset", "import", str(bad), "--out", str(dst)]) == 2
    assert dst.read_text() == "[]\n"


def test_export_and_list_workspace_dataset(tmp_path, capsys):
    store.create_dataset("Rules", UNICODE)
    assert main(["dataset", "list"]) == 0
    assert "Rules\trules\tv1\t4 records" in capsys.readouterr().out
    for fmt in ("json", "jsonl", "csv"):
        out = tmp_path / f"rules.{fmt}"
        assert main(["dataset", "export", "rules", "--out", str(out)]) == 0
        assert main(["dataset", "validate", str(out)]) == 0
    assert main(["dataset", "export", "nope", "--out", str(tmp_path / "x.json")]) == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


def test_push_without_token_says_how_to_add_one(tmp_path):
    src = tmp_path / "d.json"
    src.write_text(json.dumps(UNICODE))
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    out = cli("dataset", "push", str(src), "--repo", "alice/rules", env=env)
    assert out.returncode == 2 and out.stderr.startswith("error: No Hugging Face token") and len(out.stderr.splitlines()) == 1
    # The command line reads the token from the environment only: the line must not send the user to a file it ignores.
    assert "environment (the pages and the command line)" in out.stderr


def test_push_offline_and_unreachable_hub_give_one_line_without_the_token(tmp_path):
    import os
    src = tmp_path / "d.json"
    src.write_text(json.dumps(UNICODE))
    secret = "hf_secretvalue123"
    base = {**os.environ, "HF_TOKEN": secret, "HF_HOME": str(tmp_path / "hf")}
    offline = cli("dataset", "push", str(src), "--repo", "alice/rules", env={**base, "HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 2 and "HF_HUB_OFFLINE=1" in offline.stderr
    down = cli("dataset", "push", str(src), "--repo", "alice/rules",
               env={**base, "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"})
    assert down.returncode == 2 and down.stderr.startswith("error: Cannot reach the Hugging Face Hub")
    for out in (offline, down):
        assert len(out.stderr.splitlines()) == 1 and secret not in out.stderr + out.stdout


def test_push_rejects_a_bad_repo_id(tmp_path, capsys):
    src = tmp_path / "d.json"
    src.write_text(json.dumps(UNICODE))
    assert main(["dataset", "push", str(src), "--repo", "no slash"]) == 2
    assert "owner/name" in capsys.readouterr().err


@pytest.mark.parametrize("repo,words", [("alice/qa.", "not starting or ending in - or ."),
                                        ("alice/qa-", "not starting or ending in - or ."),
                                        ("alice/café-qa", "ASCII letters"), ("alice/-qa", "not starting"),
                                        ("alice/qa--v2", "no -- or .."), ("alice/qa..v2", "no -- or .."),
                                        ("alice/qa.git", "nor one ending in .git")])
def test_push_to_a_name_the_hub_refuses_says_why_in_one_line(tmp_path, repo, words):
    """Names the studio took and the Hub's client refused mid-push: a traceback, exit 1, before any of this line."""
    import os

    src = tmp_path / "d.json"
    src.write_text(json.dumps(UNICODE))
    env = {**os.environ, "HF_TOKEN": "hf_secretvalue123", "HF_HOME": str(tmp_path / "hf"),
           "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"}
    out = cli("dataset", "push", str(src), "--repo", repo, env=env)
    assert out.returncode == 2 and out.stderr.startswith(f"error: {repo} is not a Hub dataset id") and words in out.stderr
    assert len(out.stderr.splitlines()) == 1 and "hf_secretvalue123" not in out.stderr


@pytest.mark.parametrize("repo", ["alice/_scratch", "_team/qa_", "alice/qa.v2"])
def test_push_to_a_name_the_hub_takes_goes_to_the_hub(tmp_path, repo):
    """Names the Hub takes (a leading or trailing "_", a dot inside) are not refused as names: the push goes on, here to
    a Hub that cannot be reached."""
    import os

    src = tmp_path / "d.json"
    src.write_text(json.dumps(UNICODE))
    env = {**os.environ, "HF_TOKEN": "hf_secretvalue123", "HF_HOME": str(tmp_path / "hf"),
           "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"}
    out = cli("dataset", "push", str(src), "--repo", repo, env=env)
    assert out.returncode == 2 and out.stderr.startswith("error: Cannot reach the Hugging Face Hub"), out.stderr


@pytest.mark.parametrize("status,words", [(401, "refused the token (HTTP 401)"), (403, "refused the token (HTTP 403)"),
                                          (500, "answered HTTP 500")])
def test_push_against_a_real_local_server_that_refuses(tmp_path, status, words):
    """A loopback HTTP server stands in for the Hub and answers every request with ``status``."""
    import os

    from hub_servers import refusing_hub

    src = tmp_path / "d.json"
    src.write_text(json.dumps(UNICODE))
    with refusing_hub(status) as url:
        env = {**os.environ, "HF_TOKEN": "hf_secretvalue123", "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": url}
        out = cli("dataset", "push", str(src), "--repo", "alice/rules", env=env)
    assert out.returncode == 2 and words in out.stderr, out.stderr
    assert len(out.stderr.splitlines()) == 1 and "hf_secretvalue123" not in out.stderr


def test_push_delivers_the_parquet_and_the_dataset_card_privately_and_the_token_only_as_authorization(tmp_path):
    """The loopback stand-in for huggingface.co (tests/hub_servers.py) takes the whole push."""
    import io
    import os

    import pyarrow.parquet as pq
    from hub_servers import standin_hub, token_leaks

    info = store.create_dataset("Rules", UNICODE)
    store.save_version(info.id, UNICODE[:2], message="dedup: kept 2 of 3", base_version=1)
    secret = "hf_secretvalue123"
    with standin_hub() as hub:
        env = {**os.environ, "HF_TOKEN": secret, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": hub.url,
               "HF_HUB_DISABLE_XET": "1"}
        env.pop("HF_HUB_OFFLINE", None)
        out = cli("dataset", "push", "Rules", "--repo", "alice/rules", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(f"pushed 2 records to {hub.url}/datasets/alice/rules") and not hub.unknown
    repo = hub.repos[("dataset", "alice/rules")]
    assert repo.private and sorted(repo.files) == ["README.md", "data/train-00000-of-00001.parquet"]
    table = pq.read_table(io.BytesIO(repo.files["data/train-00000-of-00001.parquet"]))
    assert table.to_pylist() == UNICODE[:2]
    card = repo.files["README.md"].decode()
    latest = store.get_dataset(info.id).latest
    assert "# Rules" in card and "| records | 2 |" in card and "| version | 2 |" in card
    assert f"`{latest.sha256}`" in card and "- kept 2 of 3" in card and 'load_dataset("alice/rules"' in card
    assert any(h.get("authorization") == f"Bearer {secret}" for _, _, h in hub.requests)
    assert token_leaks(hub, secret, tmp_path) == [] and secret not in out.stdout + out.stderr


def test_import_out_abuse_is_one_line_and_keeps_the_mode(tmp_path, capsys):
    import os
    import stat

    from studio.__main__ import main

    src = tmp_path / "qa.json"
    src.write_text('[{"question": "Q?", "answer": "A."}]')
    out = tmp_path / "existing.json"
    out.write_text("[]")
    os.chmod(out, 0o640)
    assert main(["dataset", "import", str(src), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {out} exists: add --force to replace it, or choose another --out."
    assert out.read_text() == "[]"  # nothing lost
    assert main(["dataset", "import", str(src), "--out", str(out), "--force"]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and "Q?" in out.read_text()
    assert main(["dataset", "import", str(src), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_train_out_abuse_is_one_line(tmp_path, capsys):
    from studio.__main__ import main

    src = tmp_path / "qa.json"
    src.write_text('[{"question": "Q?", "answer": "A."}, {"question": "R?", "answer": "B."}]')
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for out, message in ((a_file, "is a file"), (a_file / "below", "Cannot create the run folder")):
        assert main(["train", "--dataset", str(src), "--preset", "quick", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_import_skip_invalid_writes_the_valid_records_and_names_the_rest(tmp_path, capsys):
    from studio.__main__ import main

    rows = [{"instruction": f"Q{i}?", "output": f"A{i}."} for i in range(6)]
    rows[2]["output"] = ""
    rows[4]["output"] = "   "
    src = tmp_path / "alpaca.json"
    src.write_text(json.dumps(rows))
    out = tmp_path / "qa.json"
    assert main(["dataset", "import", str(src), "--out", str(out)]) == 2  # strict by default
    assert capsys.readouterr().err.startswith("error: record 3: answer")
    assert main(["dataset", "import", str(src), "--out", str(out), "--skip-invalid"]) == 0
    captured = capsys.readouterr()
    assert "4 records written" in captured.out and "2 skipped" in captured.out
    assert [ln.split(":")[0] for ln in captured.err.splitlines() if ln.startswith("skipped")] == [
        "skipped record 3", "skipped record 5"]
    assert [r["question"] for r in json.loads(out.read_text())] == ["Q0?", "Q1?", "Q3?", "Q5?"]


def test_import_keep_invalid_writes_every_record_to_fix_as_the_page_brings_them_in(tmp_path, capsys):
    """The page could bring invalid records in to fix; the command line could only leave them out."""
    from studio.__main__ import main

    rows = [{"question": "How many players?", "answer": 11}, {"question": "", "answer": "Nobody asked."}, "oops",
            {"question": "Who restarts?", "answer": "The referee."}]
    src = tmp_path / "broken.json"
    src.write_text(json.dumps(rows))
    out = tmp_path / "qa.json"
    assert main(["dataset", "import", str(src), "--out", str(out)]) == 2
    assert "--keep-invalid" in capsys.readouterr().err  # the refusal names the way to bring them in
    assert main(["dataset", "import", str(src), "--out", str(out), "--keep-invalid"]) == 0
    captured = capsys.readouterr()
    assert "4 records written" in captured.out and "2 of them to fix" in captured.out
    assert f"dataset create NAME --from {out}" in captured.out
    assert [ln for ln in captured.err.splitlines() if ln.startswith("to fix:")] == [
        "to fix: record 2: question is empty",
        'to fix: record 3: a string in the file, not an object with a question and an answer: "oops"']
    assert "note: Record 1 of the file holds a number or true/false" in captured.err  # not counted as to fix
    assert json.loads(out.read_text()) == [{"question": "How many players?", "answer": "11"}, rows[1], "oops", rows[3]]
    # the page's engine: the same records to fix, the same record come in as text
    from studio.data import editing, formats

    records, found = formats.check_file(src)
    brought = editing.bring_all_in(records, found.invalid)
    assert (brought.to_fix, brought.as_text) == ([2, 3], [1])
    with pytest.raises(SystemExit):  # one or the other
        main(["dataset", "import", str(src), "--out", str(out), "--keep-invalid", "--skip-invalid", "--force"])


def test_create_keep_invalid_brings_every_record_in_to_fix_on_the_dataset_page(tmp_path, capsys):
    """`dataset import` had --keep-invalid; `dataset create` refused it, so a file with one broken record could become a
    dataset only without it. Version 1 holds the valid records; the rest wait as unsaved changes the page offers."""
    from studio.__main__ import main
    from studio.data import editing, store

    rows = [{"question": "How many players?", "answer": 11}, {"question": "", "answer": "Nobody asked."}, "oops",
            {"question": "Who restarts?", "answer": "The referee."}]
    src = tmp_path / "broken.json"
    src.write_text(json.dumps(rows))
    assert main(["dataset", "create", "Broken", "--from", str(src), "--keep-invalid"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("created 'Broken' (id broken): version 1 with 2 records; 2 more to fix (named "
                                   "below) are kept as unsaved changes to it: open it on the Dataset page, press Bring "
                                   "them here")
    assert [ln for ln in captured.err.splitlines() if ln.startswith("to fix:")] == [
        "to fix: record 2: question is empty",
        'to fix: record 3: a string in the file, not an object with a question and an answer: "oops"']
    assert "note: Record 1 of the file holds a number or true/false" in captured.err
    info = store.find_dataset("Broken")
    assert store.load_version(info.id) == [{"question": "How many players?", "answer": "11"}, rows[3]]
    (kept,) = editing.kept_drafts(info.id)
    assert editing.load_draft(info.id, kept.tab)[2] == [store.load_version(info.id)[0], rows[1], {}, rows[3]]
    with pytest.raises(SystemExit):  # one or the other
        main(["dataset", "create", "Again", "--from", str(src), "--keep-invalid", "--skip-invalid"])
    fine = tmp_path / "fine.json"
    fine.write_text(json.dumps([rows[3]]))
    assert main(["dataset", "create", "Fine", "--from", str(fine), "--keep-invalid"]) == 0  # nothing to fix: no draft
    assert "to fix" not in capsys.readouterr().out and editing.kept_drafts(store.find_dataset("Fine").id) == []


def test_create_keep_invalid_never_drops_a_kept_copy_an_open_tab_is_editing(tmp_path, capsys, monkeypatch):
    """The command line cannot see which browser tabs are open: keeping its records to fix counted every tab's kept
    copy as closed and, past 4 tabs' to the dataset, dropped the oldest one, an open tab's unsaved edits, unsaid. It
    keeps its own beside them and drops none. (Four tabs editing the dataset between its creation and the command
    keeping its records is a race too narrow to cause for real: the creation is wrapped to stand in for it.)"""
    from studio.__main__ import main
    from studio.data import editing, store

    create = store.create_dataset
    edits = {}

    def create_then_four_tabs_edit(*args, **kwargs):
        info = create(*args, **kwargs)
        saved = store.load_version(info.id)
        for n in range(4):
            edits[f"{n:012x}"] = [{**saved[0], "answer": f"Tab {n}."}]
            editing.save_draft(info.id, 1, saved, edits[f"{n:012x}"], f"{n:012x}", is_open=lambda tab: True)
        return info

    monkeypatch.setattr(store, "create_dataset", create_then_four_tabs_edit)
    src = tmp_path / "broken.json"
    src.write_text(json.dumps([{"question": "Who restarts?", "answer": "The referee."}, {"question": "", "answer": "x"}]))
    assert main(["dataset", "create", "Busy", "--from", str(src), "--keep-invalid"]) == 0
    info = store.find_dataset("Busy")
    for tab, mine in edits.items():  # every open tab's unsaved edits are still there for its reload
        assert editing.load_draft(info.id, tab)[2] == mine
    assert editing.load_draft(info.id)[2][1] == {"question": "", "answer": "x"}  # and the command's records to fix


def test_the_dataset_card_says_size_fields_version_hash_and_dedup():
    from studio.data import hub

    card = hub.dataset_card([{"question": "q", "answer": "a", "topic": "rules"}] * 3, "Soccer rules", 4, "ab12",
                            ["imported rules.json", "dedup: kept 3 of 6 (2 of 2 clusters reviewed)"])
    assert "size_categories: [n<1K]" in card and "| records | 3 |" in card and "question, answer, topic" in card
    assert "| version | 4 |" in card and "`ab12`" in card and "- kept 3 of 6 (2 of 2 clusters reviewed)" in card


def test_export_for_fine_tuning_tools_with_a_llama_factory_entry(tmp_path):
    from studio.data import store

    info = store.create_dataset("Rules", UNICODE)
    out = tmp_path / "rules_sharegpt.json"
    done = cli("dataset", "export", info.id, "--to", "sharegpt", "--out", str(out), "--dataset-info")
    assert done.returncode == 0, done.stderr
    convs = json.loads(out.read_text(encoding="utf-8"))
    assert convs[0]["conversations"] == [{"from": "human", "value": UNICODE[0]["question"]},
                                         {"from": "gpt", "value": UNICODE[0]["answer"]}]
    index = json.loads((tmp_path / "dataset_info.json").read_text())
    assert index["rules_sharegpt"]["file_name"] == "rules_sharegpt.json" and index["rules_sharegpt"]["formatting"] == "sharegpt"
    msgs = tmp_path / "rules_sft.jsonl"
    assert cli("dataset", "export", info.id, "--to", "messages", "--out", str(msgs), "--dataset-info").returncode == 0
    assert set(json.loads((tmp_path / "dataset_info.json").read_text())) == {"rules_sharegpt", "rules_sft"}  # merged
    bad = cli("dataset", "export", info.id, "--to", "csv", "--out", str(tmp_path / "x.csv"), "--dataset-info")
    assert bad.returncode == 2 and "LLaMA-Factory reads alpaca, sharegpt or messages" in bad.stderr
    assert not (tmp_path / "x.csv").exists()


SQUAD_V2 = [{"id": "a1", "title": "Aula", "context": "Meu nome é Marcundes e estou gravando uma aula.",
             "question": "Qual é o meu nome?", "answers": {"text": ["Marcundes"], "answer_start": [11]}},
            {"id": "a2", "title": "Aula", "context": "Meu nome é Marcundes e estou gravando uma aula.",
             "question": "Quantos anos tenho?", "answers": {"text": [], "answer_start": []}}]


def test_import_squad_v2_names_the_unanswerable_record_and_skips_it(tmp_path, capsys):
    src = tmp_path / "squad_v2.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in SQUAD_V2), encoding="utf-8")
    out = tmp_path / "qa.json"
    assert main(["dataset", "import", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: record 2: answer is missing") and len(err.strip().splitlines()) == 1
    assert main(["dataset", "import", str(src), "--out", str(out), "--skip-invalid"]) == 0
    assert "skipped record 2: answer is missing" in capsys.readouterr().err
    assert json.loads(out.read_text(encoding="utf-8")) == [
        {"question": "Qual é o meu nome?", "answer": "Marcundes", "context": SQUAD_V2[0]["context"], "id": "a1",
         "title": "Aula"}]


def test_validate_a_context_that_is_not_text_exits_2_and_a_missing_answer_span_warns(tmp_path, capsys):
    src = tmp_path / "qa.json"
    src.write_text(json.dumps([{"question": "q", "answer": "a", "context": 3}]))
    assert main(["dataset", "validate", str(src)]) == 2
    assert capsys.readouterr().err.startswith("error: record 1: context is a number, not text")
    src.write_text(json.dumps([{"question": "Who?", "answer": "Bea", "context": "Ana wrote it."},
                               {"question": "Who wrote?", "answer": "Ana", "context": "Ana wrote it."}]))
    assert main(["dataset", "validate", str(src)]) == 0
    assert "warning: record 1: answer does not occur in its context" in capsys.readouterr().err
    src.write_text(json.dumps([{"question": "Who?", "answer": "Bea", "context": "Ana wrote it."}]))
    assert main(["dataset", "validate", str(src)]) == 0  # most answers are not spans: generative data, one note
    assert capsys.readouterr().err.startswith("note: The answers of 1 of the 1 record with a context do not occur")


def test_export_alpaca_with_a_context_keeps_it_as_input_with_the_llama_factory_entry(tmp_path, capsys):
    info = store.create_dataset("Passages", [{"question": "Qual é o meu nome?", "answer": "Marcundes",
                                              "context": "Meu nome é Marcundes 🎙"}])
    out = tmp_path / "passages_alpaca.json"
    assert main(["dataset", "export", info.id, "--to", "alpaca", "--out", str(out), "--dataset-info"]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == [
        {"instruction": "Qual é o meu nome?", "input": "Meu nome é Marcundes 🎙", "output": "Marcundes"}]
    entry = json.loads((tmp_path / "dataset_info.json").read_text())["passages_alpaca"]
    assert entry["columns"]["prompt"] == "instruction" and entry["columns"]["query"] == "input"
    back = tmp_path / "back.json"
    assert main(["dataset", "import", str(out), "--out", str(back)]) == 0
    assert json.loads(back.read_text(encoding="utf-8")) == store.load_version(info.id)


def test_a_csv_export_quotes_line_breaks_neutralises_formulas_on_every_line_and_imports_back_the_same(tmp_path):
    import csv
    import io

    records = [{"question": "How long is a match?", "answer": "Ninety minutes.\r=cmd|' /C calc'!A0"},
               {"question": "Line one\n+SUM(A1)\r\n@cmd", "answer": "Two halves.\n\n-5 degrees, '=x and ''@y"},
               {"question": "'=already quoted", "answer": "plain\ranswer"}]
    info = store.create_dataset("Rules", records)
    out = tmp_path / "rules.csv"
    assert cli("dataset", "export", info.id, "--to", "csv", "--out", str(out)).returncode == 0
    raw = out.read_bytes().decode("utf-8")
    rows = list(csv.reader(io.StringIO(raw, newline="")))  # what a spreadsheet and Python's reader see
    assert len(rows) == 1 + len(records)
    for row in rows[1:]:
        for cell in row:
            lines = cell.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            assert not [ln for ln in lines if ln[:1] in ("=", "+", "-", "@", "\t")], cell  # no line starts a formula
    assert rows[1][1] == "Ninety minutes.\r'=cmd|' /C calc'!A0"
    back = tmp_path / "back.json"
    done = cli("dataset", "import", str(out), "--out", str(back))
    assert done.returncode == 0, done.stderr
    assert json.loads(back.read_text(encoding="utf-8")) == records  # the studio's reader restores the exact text


def test_a_second_push_to_the_same_repo_replaces_its_data_and_imports_back(tmp_path):
    """Push, save a new version, push again to the same repo (the Hub client then lists the repo's data folder),
    and import the repo back from the Hub: the loopback stand-in for huggingface.co (tests/hub_servers.py)."""
    import os

    from hub_servers import standin_hub

    info = store.create_dataset("Rules", UNICODE)
    with standin_hub() as hub:
        env = {**os.environ, "HF_TOKEN": "hf_secretvalue123", "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": hub.url,
               "HF_HUB_DISABLE_XET": "1"}
        env.pop("HF_HUB_OFFLINE", None)
        assert cli("dataset", "push", "Rules", "--repo", "alice/rules", env=env).returncode == 0
        store.save_version(info.id, UNICODE[:2], message="kept two", base_version=1)
        again = cli("dataset", "push", "Rules", "--repo", "alice/rules", env=env)
        assert again.returncode == 0, again.stderr
        back = cli("dataset", "create", "From the Hub", "--from", "hub:alice/rules", env=env)
        assert back.returncode == 0, back.stderr
        assert not hub.unknown
    assert "| version | 2 |" in hub.repos[("dataset", "alice/rules")].files["README.md"].decode()
    assert store.load_version(store.find_dataset("From the Hub").id) == UNICODE[:2]


def test_a_connection_dropped_during_the_lfs_upload_is_one_line_and_the_dataset_stays(tmp_path):
    """The stand-in closes the connection on the Parquet file's LFS PUT, without an answer."""
    import os

    from hub_servers import standin_hub

    info = store.create_dataset("Rules", UNICODE)
    with standin_hub() as hub:
        hub.faults["*"] = "drop-upload"
        env = {**os.environ, "HF_TOKEN": "hf_secretvalue123", "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": hub.url,
               "HF_HUB_DISABLE_XET": "1"}
        env.pop("HF_HUB_OFFLINE", None)
        out = cli("dataset", "push", "Rules", "--repo", "alice/rules", env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error")]  # (the Hub client's retry notes aside)
    assert len(errors) == 1, out.stderr
    assert errors[0].startswith("error: The connection to the Hub dropped while uploading to alice/rules"), out.stderr
    assert "hf_secretvalue123" not in out.stderr
    assert store.load_version(info.id, 1) == UNICODE


def test_create_puts_a_file_into_the_workspace_and_export_takes_a_file_too(tmp_path, capsys):
    from dataset_cases import LATE_ERROR

    qa = tmp_path / "qa.json"
    qa.write_text(json.dumps(UNICODE, ensure_ascii=False), encoding="utf-8")
    assert main(["dataset", "create", "Rules", "--from", str(qa)]) == 0
    assert capsys.readouterr().out == "created 'Rules' (id rules): version 1 with 4 records\n"
    assert store.load_version("rules") == UNICODE
    assert main(["dataset", "create", "Rules", "--from", str(qa)]) == 2  # one line, nothing changed
    assert "already exists" in capsys.readouterr().err and len(store.list_versions("rules")) == 1
    assert main(["dataset", "create", "Later"]) == 0 and store.load_version("later") == []  # empty, to fill on the page
    capsys.readouterr()

    late = tmp_path / "late.json"
    late.write_text(json.dumps(LATE_ERROR))
    assert main(["dataset", "create", "Late", "--from", str(late)]) == 2
    assert "record 1202: answer is empty" in capsys.readouterr().err and store.find_dataset("Late") is None
    assert main(["dataset", "create", "Late", "--from", str(late), "--skip-invalid"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("created 'Late' (id late): version 1 with 1,201 records, 1 skipped")
    assert "skipped record 1202: answer is empty" in out.err
    assert all(r["answer"] for r in store.load_version("late"))

    out_file = tmp_path / "qa.alpaca.json"  # a file straight to another format, as `dataset push` takes a file
    assert main(["dataset", "export", str(qa), "--to", "alpaca", "--out", str(out_file)]) == 0
    assert json.loads(out_file.read_text(encoding="utf-8"))[0]["output"] == UNICODE[0]["answer"]
    assert main(["dataset", "export", str(late), "--out", str(tmp_path / "late.csv")]) == 2  # errors refuse it
    assert "record 1202: answer is empty" in capsys.readouterr().err and not (tmp_path / "late.csv").exists()
    assert main(["dataset", "export", "nowhere.json", "--out", str(tmp_path / "x.json")]) == 2
    assert "No dataset named 'nowhere.json' and no file at that path" in capsys.readouterr().err


def test_a_half_surrogate_pair_is_refused_before_anything_is_written(tmp_path):
    src = tmp_path / "pairs.json"
    src.write_bytes(b'[{"question": "Ball \\ud83d\\ude00?", "answer": "a"}, {"question": "q", "answer": "x\\ud800"}]')
    out = tmp_path / "out.json"
    for argv in (["dataset", "import", str(src), "--out", str(out)], ["dataset", "create", "pairs", "--from", str(src)],
                 ["dataset", "export", str(src), "--out", str(tmp_path / "out.csv")]):
        run = cli(*argv)
        assert run.returncode == 2 and run.stderr == (
            "error: Record 2: answer holds \\ud800, half of a UTF-16 surrogate pair, which is not text: fix or remove "
            "that escape.\n"), run.stderr
    assert not out.exists() and not (tmp_path / "out.csv").exists() and store.list_datasets() == []
    src.write_bytes(b'[{"question": "Ball \\ud83d\\ude00?", "answer": "a"}]')  # a whole pair is an emoji
    assert cli("dataset", "import", str(src), "--out", str(out)).returncode == 0
    assert json.loads(out.read_text(encoding="utf-8")) == [{"question": "Ball \U0001f600?", "answer": "a"}]


def test_a_pipe_or_device_is_refused_instead_of_read_forever(tmp_path):
    """A FIFO waits for a writer that never comes (the command hung); /dev/zero, read whole, grew without end."""
    import os

    fifo = tmp_path / "qa.json"
    os.mkfifo(fifo)
    said = f"{fifo} is not a regular file (a device, pipe or socket): give a JSON, JSON Lines, CSV or Parquet file."
    for argv in (["dataset", "validate", str(fifo)], ["dataset", "import", str(fifo), "--out", str(tmp_path / "o.json")],
                 ["dedup", str(fifo), "--threshold", "90", "--report", str(tmp_path / "r.json")]):
        run = cli(*argv)
        assert run.returncode == 2 and run.stderr == f"error: {said}\n", run.stderr
    run = cli("ask-context", "qa:deepset/roberta-base-squad2", "--context-file", str(fifo), "Who?")
    assert run.returncode == 2 and run.stderr == (f"error: {str(fifo)!r} is not a regular file: give a UTF-8 text "
                                                  "file holding the passage.\n")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "studio-home") == ["qa.json"]


def test_a_text_file_larger_than_the_memory_left_is_refused_before_it_is_read(tmp_path):
    import resource

    big = tmp_path / "big.jsonl"  # 300 MB, sparse: nothing to write to disk
    with big.open("wb") as f:
        f.write(b'{"question": "q", "answer": "')
        f.truncate(300 * 2**20)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (600 * 2**20, 600 * 2**20))

    run = subprocess.run([sys.executable, "-m", "studio", "dataset", "validate", str(big)], capture_output=True,
                         text=True, cwd=REPO, preexec_fn=limit, timeout=120)
    assert run.returncode == 2 and run.stderr.startswith("error: big.jsonl (300 MB) does not fit in the memory left (")
    assert run.stderr.endswith("split it into smaller files and import them one at a time, or import it on a machine "
                               "with more memory.\n") and len(run.stderr.splitlines()) == 1


def test_a_file_name_with_an_at_sign_is_that_file_and_a_split_is_for_folders_only(tmp_path):
    src = tmp_path / "rules@2026.json"
    src.write_text(json.dumps([{"question": "How long is a half?", "answer": "45 minutes."}]), encoding="utf-8")
    run = cli("dataset", "validate", str(src))  # read "rules" and split "2026.json": "No file at .../rules"
    assert run.returncode == 0 and run.stdout == "1 record: no errors, no warnings\n", run.stderr
    run = cli("dataset", "validate", f"{src}@train")  # the split was left out without a word
    assert run.returncode == 2 and run.stderr == (f"error: {src} is a file: @train picks a split of a datasets folder "
                                                  "only. Leave @train out.\n")


@pytest.mark.parametrize(("index", "out", "said"), [
    ("[1, 2]", "qa.json", "{dir}/dataset_info.json is not a JSON object of dataset entries: fix or remove it, then "
                          "export again."),
    ('"entries"', "qa.json", "{dir}/dataset_info.json is not a JSON object of dataset entries"),
    ("{broken", "qa.json", "{dir}/dataset_info.json is not valid JSON: fix or remove it, then export again."),
    ('{"mine": {"file_name": "mine.json"}}', "dataset_info.json",
     "--out {dir}/dataset_info.json is the dataset_info.json index itself: name the export something else"),
])
def test_a_dataset_info_index_that_cannot_take_the_entry_is_one_line_before_anything_is_written(
        tmp_path, capsys, index, out, said):
    """A list or a string there ended in a TypeError traceback, after the export had been written."""
    src = tmp_path / "rules.json"
    src.write_text(json.dumps([{"question": "How long is a half?", "answer": "45 minutes."}]), encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text(index, encoding="utf-8")
    assert main(["dataset", "export", str(src), "--to", "alpaca", "--out", str(tmp_path / out), "--dataset-info"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + said.format(dir=tmp_path)) and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "studio-home") == ["dataset_info.json", "rules.json"]
    assert (tmp_path / "dataset_info.json").read_text(encoding="utf-8") == index


def test_import_and_export_of_one_record_say_1_record(tmp_path, capsys):
    src = tmp_path / "one.json"
    src.write_text(json.dumps([{"question": "How long is a match?", "answer": "90 minutes."}]))
    assert main(["dataset", "import", str(src), "--out", str(tmp_path / "qa.json")]) == 0
    assert capsys.readouterr().out == f"1 record written to {tmp_path / 'qa.json'}\n"
    assert main(["dataset", "export", str(src), "--to", "messages", "--out", str(tmp_path / "sft.jsonl")]) == 0
    assert capsys.readouterr().out == f"1 record written to {tmp_path / 'sft.jsonl'}\n"


def test_records_that_are_not_objects_are_named_skipped_or_refused_like_any_invalid_record(tmp_path, capsys):
    """A string, number or null among the records refused the whole file ("Record 2 is a string ..."), even with
    --skip-invalid."""
    from dataset_cases import MIXED, MIXED_PROBLEMS

    src = tmp_path / "mixed.json"
    src.write_bytes(MIXED)
    assert main(["dataset", "validate", str(src)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {'; '.join(MIXED_PROBLEMS)} (3 of 5 records invalid: 3 errors, no warnings): fix "
                          "them, or import with --skip-invalid to leave them out, or with --keep-invalid to bring "
                          "them in to fix in --out.")
    out = tmp_path / "qa.json"
    assert main(["dataset", "import", str(src), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {MIXED_PROBLEMS[0]} (and 2 more") and not out.exists()
    assert main(["dataset", "import", str(src), "--out", str(out), "--skip-invalid"]) == 0
    assert json.loads(out.read_text()) == [{"question": "a", "answer": "b"}, {"question": "c", "answer": "d"}]
    captured = capsys.readouterr()
    assert captured.out.startswith("2 records written to") and ", 3 skipped" in captured.out
    assert captured.err.splitlines() == [f"skipped {p}" for p in MIXED_PROBLEMS]
    assert main(["dataset", "create", "Mixed", "--from", str(src)]) == 2
    assert MIXED_PROBLEMS[0] in capsys.readouterr().err and store.find_dataset("Mixed") is None
    assert main(["dataset", "create", "Mixed", "--from", str(src), "--skip-invalid"]) == 0
    assert "version 1 with 2 records, 3 skipped" in capsys.readouterr().out
    assert store.load_version(store.find_dataset("Mixed").id) == [{"question": "a", "answer": "b"},
                                                                   {"question": "c", "answer": "d"}]


def test_a_file_of_no_objects_at_all_is_refused_in_one_line_saying_what_it_holds(tmp_path, capsys):
    for name, data, says in [("strings.json", b'["a", "b", 3]', 'The file holds a JSON list of strings and numbers, not '
                              'of records: expected [{"question": ..., "answer": ...}, ...].'),
                             ("lines.jsonl", b'"a"\n\nnull\n', "No line of the file is a JSON object (its lines are "
                              'strings and nulls): expected one {"question": ..., "answer": ...} per line.')]:
        src = tmp_path / name
        src.write_bytes(data)
        for args in (["dataset", "validate", str(src)], ["dataset", "import", str(src), "--out", str(tmp_path / "o.json"),
                                                          "--skip-invalid"]):
            assert main(args) == 2
            assert capsys.readouterr().err == f"error: {says}\n"


def test_a_refusal_of_invalid_records_offers_the_command_s_own_way_to_leave_them_out(tmp_path, capsys):
    """Each ended "fix it and try again": import and create have --skip-invalid and now say so; train, evaluate
    and export have none and give the exact `dataset import --skip-invalid` that writes the valid records."""
    import shlex

    src = tmp_path / "my faq.json"
    src.write_text(json.dumps([{"question": "Q1?", "answer": "A1."}, {"question": "Q2?", "answer": ""}]))
    first = "error: record 2: answer is empty; "

    def refused(*argv: str) -> str:
        assert main(list(argv)) == 2
        err = capsys.readouterr().err
        assert err.startswith(first) and err.count("\n") == 1, err
        return err[len(first):].rstrip("\n")

    assert refused("dataset", "import", str(src), "--out", str(tmp_path / "qa.json")) == (
        "fix it, or add --skip-invalid to import only the valid records (--keep-invalid: all of them, to fix in --out).")
    assert refused("dataset", "create", "faq", "--from", str(src)) == (
        "fix it, or add --skip-invalid to create the dataset from the valid records (--keep-invalid: all of them, to "
        "fix on the Dataset page).")
    valid = tmp_path / "my faq-valid.json"
    command = (f"python -m studio dataset import {shlex.quote(str(src))} --out {shlex.quote(str(valid))} "
               "--skip-invalid")
    for argv in (["train", "--dataset", str(src), "--base", "scratch"],
                 ["evaluate", "--dataset", str(src), "--model", "run:none", "--out", str(tmp_path / "r.json")],
                 ["dataset", "export", str(src), "--out", str(tmp_path / "qa.csv")]):
        assert refused(*argv) == f"fix it, or write only the valid records to a file with {command} and use that file."
    assert main(shlex.split(command)[3:]) == 0  # the command as given writes the valid records
    assert json.loads(valid.read_text()) == [{"question": "Q1?", "answer": "A1."}]
    assert not store.list_datasets() and not (tmp_path / "qa.json").exists() and not (tmp_path / "qa.csv").exists()


def test_text_that_is_not_utf8_is_refused_naming_the_encoding_flag_of_the_command_that_was_run(tmp_path, capsys):
    """create and validate take --encoding themselves: their refusal said to use dataset import --encoding instead;
    each now says to run itself again with it (and that run reads the file). A reader that cannot be asked to (a
    file exported as it is) still names the Dataset page and dataset import."""
    src = tmp_path / "excel.csv"
    src.write_bytes("question,answer\nWhat is a café?,A place for coffee\n".encode("cp1252"))
    runs = {"dataset create": ["dataset", "create", "Excel FAQ", "--from", str(src)],
            "dataset validate": ["dataset", "validate", str(src)],
            "dataset import": ["dataset", "import", str(src), "--out", str(tmp_path / "qa.json")],
            "dataset create --keep-invalid": ["dataset", "create", "Excel FAQ 2", "--from", str(src), "--keep-invalid"]}
    for name, argv in runs.items():
        command = name.removesuffix(" --keep-invalid")
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: Not UTF-8 text (line 2)") and err.count("\n") == 1, name
        assert err.rstrip().endswith(f"run {command} again with --encoding windows-1252."), (name, err)
        assert "dataset import" not in err or command == "dataset import", (name, err)
        assert main([*argv, "--encoding", "windows-1252"]) == 0, name
        capsys.readouterr()
    assert main(["dataset", "export", str(src), "--out", str(tmp_path / "out.jsonl")]) == 2
    assert capsys.readouterr().err.rstrip().endswith(
        "import it on the Dataset page or with dataset import --encoding windows-1252.")


def test_excel_s_windows_1252_csv_is_refused_by_default_and_read_with_encoding_windows_1252(tmp_path, capsys):
    """Excel's plain "CSV" on Windows is Windows-1252: the command line refused it and named only the Dataset page
    as a way to read it; --encoding windows-1252 (or cp1252, latin-1) reads it, saying so with the line to check."""
    src = tmp_path / "excel.csv"
    src.write_bytes("question,answer\nWhat is a café?,A place for “coffee”\n".encode("cp1252"))
    out = tmp_path / "qa.json"
    assert main(["dataset", "import", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Not UTF-8 text (line 2)") and "--encoding windows-1252" in err and not out.exists()
    assert main(["dataset", "import", str(src), "--out", str(out), "--encoding", "cp1252"]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == [{"question": "What is a café?",
                                                            "answer": "A place for “coffee”"}]
    err = capsys.readouterr().err
    assert err.startswith("note: Not UTF-8 text: read as Windows-1252") and "What is a café?" in err
    assert main(["dataset", "validate", str(src), "--encoding", "latin-1"]) == 0
    assert capsys.readouterr().out == "1 record: no errors, no warnings\n"
    assert main(["dataset", "create", "Excel FAQ", "--from", str(src), "--encoding", "windows-1252"]) == 0
    (info,) = [d for d in store.list_datasets() if d.name == "Excel FAQ"]
    assert [r["question"] for r in store.load_version(info.id)] == ["What is a café?"]
    capsys.readouterr()
    bad = tmp_path / "not-1252.csv"
    bad.write_bytes(b"question,answer\nq\x81,a\n")  # 0x81: no character in either encoding
    assert main(["dataset", "import", str(bad), "--out", str(out), "--force", "--encoding", "windows-1252"]) == 2
    assert capsys.readouterr().err.startswith("error: Neither UTF-8 nor Windows-1252 text (line 2)")


def test_validate_an_empty_dataset_says_it_holds_no_records_and_how_to_add_some(capsys):
    """A dataset saved with every row deleted printed "0 records: no errors, no warnings" and nothing else."""
    store.create_dataset("Emptied", [])
    assert main(["dataset", "validate", "Emptied"]) == 0
    err = capsys.readouterr().err
    assert "note: This dataset holds no records: add some in the Dataset page's Edit tab, or import" in err
