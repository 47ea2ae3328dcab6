"""What the sidebar and a push say when the Hub cannot be reached or a connection drops: what happened and what to do,
in words, never the Python class of the failure ("(ConnectError)", "(RemoteProtocolError: ...)"), which told a visitor
nothing they could act on. Real failures: a loopback port nobody listens on, and a stand-in Hub that closes an
upload's connection without answering."""

from __future__ import annotations

import re

import pytest
from chat_servers import free_port
from hub_servers import point_hub_at, standin_hub

from studio.errors import NetworkError

CLASS_NAME = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]*)+\b")  # ConnectError, RemoteProtocolError, TimeoutException, ...


def _plain(message: str) -> str:
    assert not CLASS_NAME.search(message), message
    assert "\n" not in message and "Traceback" not in message
    return message


def test_the_workspace_s_hub_out_of_reach_is_said_in_words(monkeypatch):
    from studio.cloud import hub_repo

    point_hub_at(monkeypatch, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(NetworkError) as caught:
        hub_repo.identify("hf_anything")
    said = _plain(str(caught.value))
    assert said.startswith("The Hub cannot be reached to check the token (no answer came")
    assert "your work is kept here" in said


def test_a_push_to_a_hub_out_of_reach_is_said_in_words(monkeypatch):
    from huggingface_hub import HfApi

    from studio.data.hub_failures import hub_errors

    point_hub_at(monkeypatch, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(NetworkError) as caught, hub_errors("alice/rules"):
        HfApi(token="hf_anything").create_repo("alice/rules", repo_type="dataset")
    assert _plain(str(caught.value)) == ("Cannot reach the Hugging Face Hub (no answer came): check the connection and "
                                         "try again.")


def test_a_connection_dropped_during_an_upload_is_said_in_words(monkeypatch, tmp_path):
    from huggingface_hub import HfApi

    from studio.data.hub_failures import hub_errors

    big = tmp_path / "data.parquet"  # LFS: its bytes go to the upload the stand-in drops
    big.write_bytes(b"p" * 20_000)
    with standin_hub() as hub:
        point_hub_at(monkeypatch, hub.url)
        hub.faults["*"] = "drop-upload"
        api = HfApi(token="hf_anything")
        api.create_repo("alice/rules", repo_type="dataset")
        with pytest.raises(NetworkError) as caught, hub_errors("alice/rules"):
            api.upload_file(path_or_fileobj=str(big), path_in_repo="data.parquet", repo_id="alice/rules",
                            repo_type="dataset")
    assert _plain(str(caught.value)) == ("The connection to the Hub dropped while uploading to alice/rules: nothing "
                                         "was committed; check the connection and push again.")
