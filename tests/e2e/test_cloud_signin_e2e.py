"""The public app with sign-in and the deployment's store, in Chromium: visitors sign in through a
loopback OpenID Connect provider (``st.login``), their workspaces are kept in the store on the loopback
Hub stand-in, and a restart that wipes the disk brings them back on the next sign-in."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pytest
from hub_servers import standin_hub
from oidc_servers import standin_provider

from .conftest import start_studio, stop_studio, wait_idle
from .test_cloud_tenancy_e2e import dataset_options, go, three_versions

pytestmark = pytest.mark.e2e

STORE_REPO = "studio-owner/slm-studio-visitors"
STORE_TOKEN = "hf_store_only_token_5555555555"
USERS = {"Alice": {"sub": "alice-123", "name": "Alice", "email": "alice@example.org"},
         "Bob": {"sub": "bob-456", "name": "Bob", "email": "bob@example.org"}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_secrets(home: Path, auth: dict) -> None:
    """The deployer's secrets, where Streamlit reads them (``~/.streamlit/secrets.toml``)."""
    lines = ["[auth]", *(f"{k} = {json.dumps(v)}" for k, v in auth.items()),
             "", "[studio.store]", f"repo = {json.dumps(STORE_REPO)}", f"token = {json.dumps(STORE_TOKEN)}", ""]
    (home / ".streamlit").mkdir(parents=True, exist_ok=True)
    (home / ".streamlit" / "secrets.toml").write_text("\n".join(lines), encoding="utf-8")


def sign_in(page, who: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name=f"Continue as {who}").click()  # the provider's account chooser
    page.wait_for_url("**/")
    wait_idle(page)
    page.get_by_text(f"Signed in as {who}").wait_for()


def test_a_signed_in_visitor_s_versions_come_back_from_the_store_after_a_restart_and_bob_never_sees_them(
        browser, tmp_path):
    src = tmp_path / "faq.jsonl"
    src.write_text("".join(json.dumps({"question": f"Question {n}?", "answer": f"Answer {n}"}) + "\n"
                           for n in (1, 2)), encoding="utf-8")
    home, user_home = tmp_path / "server-home", tmp_path / "deployer"
    with standin_hub() as hub, standin_provider(USERS) as oidc:
        port = free_port()
        write_secrets(user_home, oidc.auth_secrets(f"http://127.0.0.1:{port}/oauth2callback"))
        env = {"HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf"),
               "HF_ENDPOINT": hub.url, "HOME": str(user_home)}

        def new_page():
            p = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            p.set_default_timeout(60_000)
            return p

        server = start_studio(home, tmp_path / "first.log", env=env, entry="cloud/Home.py", port=port)
        try:
            alice = new_page()
            go(alice, server)
            sign_in(alice, "Alice")
            alice.get_by_text("kept across visits and restarts, in this app's store").wait_for()
            go(alice, server, "Dataset")
            three_versions(alice, src)
            (dataset,) = [d for d in (home / "visitors").glob("u-*/datasets/faq") if d.is_dir()]
            saved = {f"000{n}.json": (dataset / "versions" / f"000{n}.json").read_bytes() for n in (1, 2, 3)}
            key = f"visitors/{dataset.parent.parent.name}/datasets/faq/versions/0003.json"
            repo = hub.repos[("dataset", STORE_REPO)]
            deadline = time.time() + 60  # every save reaches the store within seconds
            while time.time() < deadline and repo.files.get(key) != saved["0003.json"]:
                time.sleep(0.5)
            assert repo.private and repo.files.get(key) == saved["0003.json"]
            alice.get_by_text("Synced to this app's store").wait_for()
            alice.context.close()
        finally:
            stop_studio(server)

        shutil.rmtree(home)  # Community Cloud's restart: a new disk
        server = start_studio(home, tmp_path / "second.log", env=env, entry="cloud/Home.py", port=port)
        try:
            alice = new_page()
            go(alice, server)
            sign_in(alice, "Alice")  # her next visit: she signs in again
            go(alice, server, "Dataset")
            # the page draws at once while her files come back; it is drawn again, with them, once they are here
            alice.get_by_text("Synced to this app's store").wait_for()
            wait_idle(alice)
            alice.get_by_test_id("stSelectbox").filter(has_text="Dataset").first.click()
            alice.get_by_role("option").filter(has_text="faq").click()
            wait_idle(alice)
            alice.get_by_text("All changes saved (version 3).").wait_for()
            (dataset,) = [d for d in (home / "visitors").glob("u-*/datasets/faq") if d.is_dir()]
            assert {f"000{n}.json": (dataset / "versions" / f"000{n}.json").read_bytes() for n in (1, 2, 3)} == saved

            bob = new_page()
            go(bob, server)
            sign_in(bob, "Bob")
            go(bob, server, "Dataset")
            assert not [o for o in dataset_options(bob) if "faq" in o]
            assert "Answer two, edited" not in bob.locator("[data-testid='stApp']").inner_text()
            alice.context.close()
            bob.context.close()
        finally:
            stop_studio(server)
    assert oidc.signed_in == ["alice-123", "alice-123", "bob-456"]
    assert hub.unknown == []


def test_what_a_tab_made_before_signing_in_is_there_after_the_provider_s_page(browser, tmp_path):
    """st.login leaves for the provider and comes back to a new session: the tab's anonymous workspace moved in
    (it stayed behind, unreachable, before), and another visitor signing in does not get it."""
    from .test_cloud_tenancy_e2e import import_file

    src = tmp_path / "before-sign-in.jsonl"
    src.write_text(json.dumps({"question": "Made before signing in?", "answer": "Yes"}) + "\n", encoding="utf-8")
    home, user_home = tmp_path / "server-home", tmp_path / "deployer"
    with standin_provider(USERS) as oidc:
        port = free_port()
        auth = oidc.auth_secrets(f"http://127.0.0.1:{port}/oauth2callback")
        (user_home / ".streamlit").mkdir(parents=True)
        (user_home / ".streamlit" / "secrets.toml").write_text(
            "[auth]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in auth.items()), encoding="utf-8")
        server = start_studio(home, tmp_path / "server.log", env={"HOME": str(user_home)}, entry="cloud/Home.py", port=port)
        try:
            alice = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            alice.set_default_timeout(60_000)
            go(alice, server, "Dataset")
            import_file(alice, src, "Read 1 record as JSONL.")
            sign_in(alice, "Alice")
            go(alice, server, "Dataset")
            assert [o for o in dataset_options(alice) if "before-sign-in" in o]
            assert not list((home / "visitors").glob("a-*/datasets/before-sign-in"))  # moved, not copied
            bob = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            bob.set_default_timeout(60_000)
            go(bob, server)
            sign_in(bob, "Bob")
            go(bob, server, "Dataset")
            assert not [o for o in dataset_options(bob) if "before-sign-in" in o]
            alice.context.close()
            bob.context.close()
        finally:
            stop_studio(server)
