"""In a real Chromium: Markdown images and links in records and in model answers are shown as text and
never fetched, and nothing the pages load leaves loopback."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from chat_servers import FaultServer
from playwright.sync_api import expect

from studio.data import store

from .conftest import assert_no_exception, first_cluster, open_page, start_studio, stop_studio, wait_idle
from .test_chat_e2e import ask, use_api

pytestmark = pytest.mark.e2e


@contextmanager
def recording_server():
    """A loopback server that records every request: an image URL the page must never fetch."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802 (http.server's naming)
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_markdown_images_in_data_and_answers_are_text_and_load_nothing(browser, tmp_path, monkeypatch):
    with recording_server() as (image_host, hits), FaultServer().running() as faults:
        image = f"![pixel]({image_host}/from-data.png)"
        home = tmp_path / "home"
        monkeypatch.setenv("STUDIO_HOME", str(home))
        store.create_dataset("Images", [
            {"question": "What is offside?", "answer": f"A position rule. {image}"},
            {"question": "What is ofside?", "answer": f"A position rule! {image}"},
            {"question": "How long is a match?", "answer": "90 minutes."},
        ])
        (home / ".sample-added").write_text("1\n")
        studio = start_studio(home, tmp_path / "streamlit.log", env={"HF_HUB_OFFLINE": "0"})
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        try:
            cluster = first_cluster(page, studio)
            cluster.get_by_text("Cluster 1 · 2 records").wait_for()
            # The record's HTML block may draw a moment after the cluster's header: wait for its text, which is
            # there only if the image is shown as text (a rendered image leaves no "![pixel](" behind).
            cluster.get_by_text("![pixel](", exact=False).first.wait_for()
            assert cluster.locator(f"img, a[href^='{image_host}']").count() == 0

            faults.image_url = f"{image_host}/from-answer.png"
            open_page(page, studio, "Chat")
            use_api(page, faults.url("markdown"), "m")
            ask(page, "Show me a picture")
            page.get_by_text("first token").first.wait_for(timeout=60_000)
            wait_idle(page)
            answer = page.get_by_test_id("stChatMessage").filter(has_text="See")
            expect(answer).to_contain_text("![pixel](", timeout=30_000)  # the image as text, not a picture
            assert answer.locator(f"img, a[href^='{image_host}']").count() == 0
            page.wait_for_timeout(1000)
            assert_no_exception(page)
            for path in ("", "Models", "Train", "Evaluate"):  # every page's assets are the studio's own
                open_page(page, studio, path)
                assert_no_exception(page)
        finally:
            context.close()
            stop_studio(studio)
        assert hits == []  # neither image was ever requested
        outside = [u for u in requested if not u.startswith((studio.url, "data:", "blob:"))]
        assert outside == []  # every asset the pages loaded came from the studio itself


def test_names_and_model_ids_are_shown_as_typed_never_as_links_or_emoji(browser, tmp_path, monkeypatch):
    import json
    import subprocess
    import sys

    from .conftest import REPO

    home = tmp_path / "home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    name = "Rules from http://evil.example and www.evil.example"
    store.create_dataset(name, [{"question": "What is offside?", "answer": "A position rule."}])
    (home / ".sample-added").write_text("1\n")
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": "What is offside?", "answer": "A position rule."}]))
    with FaultServer().running() as faults:  # a model id ending in ":" that the server does not serve
        subprocess.run([sys.executable, "-m", "studio", "evaluate", "--dataset", str(data), "--model", "api:m:",
                        "--base-url", faults.url("not_served"), "--out", str(tmp_path / "r.json")],
                       cwd=REPO, capture_output=True, timeout=120, env={**__import__("os").environ, "STUDIO_HOME": str(home)})
    studio = start_studio(home, tmp_path / "streamlit.log")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_page(page, studio, "Dataset")
        page.get_by_text("editing version 1 of").first.wait_for()
        assert name in page.get_by_text("editing version 1 of").first.inner_text().replace("\u2060", "")
        assert page.locator("a[href*='evil.example']").count() == 0
        open_page(page, studio, "Evaluate")
        import re

        warning = page.get_by_test_id("stAlertContentWarning").filter(has_text=re.compile("api:\u2060?m:")).first
        warning.wait_for()
        assert "Ⓜ" not in page.inner_text("body")  # "api:m:" stays text, not the :m: emoji
        assert_no_exception(page)
    finally:
        context.close()
        stop_studio(studio)
