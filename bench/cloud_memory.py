"""Memory of the studio in API mode, as on Streamlit Community Cloud (target: under 500 MB resident).

Starts ``streamlit run`` (``-X importtime`` logs every import), opens Home and every page in
Chromium, streams one answer from an OpenAI-compatible server on loopback, then has ``--visitors``
more visitors (10 by default: separate browser contexts, all of them open at once, their page loads
overlapping) open Home, Dataset, Evaluate and Chat and then all ask a question at once, their answers
streaming together (one word every 0.4 s each); on the public entry ``cloud/Home.py`` each of
them has a workspace of their own. Reports the server's resident memory after each step (and the
highest seen in between, sampled every 0.5 s) and whether torch or transformers were ever imported.

    python bench/cloud_memory.py                                  # this Python, entry Home.py
    python bench/cloud_memory.py --python /tmp/cloudvenv/bin/python --entry cloud/Home.py
        # a virtualenv holding only cloud/requirements.txt: exactly what Community Cloud installs
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from chat_servers import SLOW_ANSWER, FaultServer, free_port  # noqa: E402

from studio.device import rss_mb  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, assert_no_exception, wait_idle  # noqa: E402

TARGET_MB = 500


def tree_rss(pid: int) -> float:
    """Resident memory of a process and its children, MB."""
    total = rss_mb(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return total + sum(tree_rss(int(c)) for c in children)


def use_server(page, base_url: str) -> None:
    """On the Chat page: the OpenAI-compatible server at ``base_url`` as the backend."""
    box = page.get_by_test_id("stSelectbox").filter(has_text="Backend").first
    box.evaluate("el => el.scrollIntoView({block: 'center'})")  # at the sidebar's bottom edge its list did not open
    box.click()
    page.get_by_role("option", name="OpenAI-compatible server", exact=True).click()
    wait_idle(page)
    for label, value in (("Base URL", base_url), ("Model", "m")):
        field = page.get_by_label(label, exact=True).first
        field.fill(value)
        field.press("Enter")
        wait_idle(page)


def send(page, question: str = "Olá?") -> None:
    page.get_by_test_id("stChatInputTextArea").fill(question)
    page.get_by_test_id("stChatInputTextArea").press("Enter")


def answered(page) -> None:
    """The answer is in, with its timing, and the page is idle again."""
    page.get_by_text("first token").first.wait_for()
    wait_idle(page)
    assert_no_exception(page)


def ask(page, base_url: str) -> None:
    """On the Chat page: an OpenAI-compatible server at ``base_url``, one question, its answer."""
    use_server(page, base_url)
    send(page)
    answered(page)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=sys.executable, help="the Python that runs streamlit")
    ap.add_argument("--entry", default="Home.py", help="the entry point, as Community Cloud is told")
    ap.add_argument("--visitors", type=int, default=10, help="visitors at once after the first (0: just the first)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    light = subprocess.run([args.python, "-c", "import torch"], capture_output=True).returncode != 0
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, FaultServer().running() as api:
        # the stand-in server is on loopback, which a public app reaches only where its deployer allows it
        env = {**os.environ, "STUDIO_HOME": str(Path(tmp) / "home"), "STUDIO_PRIVATE_SERVERS": "1"}
        env.pop("HF_HUB_OFFLINE", None)
        err = Path(tmp) / "stderr.log"
        with open(err, "wb") as errf:
            proc = subprocess.Popen(
                [args.python, "-X", "importtime", "-m", "streamlit", "run", args.entry, "--server.headless", "true",
                 "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
                 "--server.fileWatcherType", "none"],
                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=errf)
        done = threading.Event()
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                    break
                except OSError:
                    time.sleep(0.3)
            rows = [("server started", tree_rss(proc.pid))]
            streamed_s = 0.0
            sampled = [0.0]  # the highest resident memory seen between steps too, sampled twice a second

            def sample() -> None:
                while not done.wait(0.5):
                    sampled[0] = max(sampled[0], tree_rss(proc.pid))

            threading.Thread(target=sample, daemon=True).start()
            with sync_playwright() as pw:
                # Every visitor's tab stays as busy as a tab in front of a person (no background throttling).
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                    *CHROMIUM_ARGS, "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                    "--disable-backgrounding-occluded-windows"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(60_000)
                page.goto(url)
                wait_idle(page)
                rows.append(("Home loaded", tree_rss(proc.pid)))
                assert_no_exception(page)
                for other in sorted((REPO / "pages").glob("*.py")):  # every page opens without torch
                    if other.stem != "4_Chat":
                        page.goto(f"{url}/{other.stem.split('_', 1)[1]}")
                        wait_idle(page)
                        assert_no_exception(page)
                        if light and other.stem in ("2_Models", "3_Train"):  # says what works here instead
                            page.get_by_text("API mode: this public app").first.wait_for()
                page.goto(f"{url}/Chat")
                wait_idle(page)
                assert_no_exception(page)
                rows.append(("all pages opened", tree_rss(proc.pid)))
                ask(page, api.url("good"))
                rows.append(("answer streamed", tree_rss(proc.pid)))
                if args.visitors:
                    pages = [browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                             for _ in range(args.visitors)]
                    for path in ("", "Dataset", "Evaluate", "Chat"):
                        for p in pages:  # every visitor's request is sent before any is waited for
                            p.set_default_timeout(180_000)
                            p.goto(f"{url}/{path}", wait_until="commit")
                        for p in pages:
                            wait_idle(p, 180_000)
                            assert_no_exception(p)
                    rows.append((f"+{args.visitors} visitors", tree_rss(proc.pid)))
                    for p in pages:
                        use_server(p, api.url("slow"))  # one word every 0.4 s: the answers overlap
                    started = time.monotonic()
                    for p in pages:  # every question is sent before any answer is waited for
                        send(p)
                    for p in pages:
                        answered(p)
                    streamed_s = time.monotonic() - started
                    rows.append((f"{args.visitors} streamed at once", tree_rss(proc.pid)))
                browser.close()
        finally:
            done.set()
            proc.terminate()
            proc.wait(15)
        imports = err.read_text(errors="replace")
        imported = {line.split("|")[-1].strip() for line in imports.splitlines() if "|" in line}
        # the log holds the walk's own imports: the reader of the answer streamed (huggingface_hub is no proof: an
        # OpenAI-compatible server is read without it, and nothing else in the walk needs it)
        assert "studio.chat.openai_stream" in imported, "the import log is incomplete"
        heavy = sorted(imported & {"torch", "transformers"})
    print(f"streamlit run {args.entry} with {args.python}")
    for step, mb in rows:
        print(f"  {step:22s} {mb:7.0f} MB resident")
    peak = max([mb for _, mb in rows] + sampled)
    print(f"  {'highest sampled':22s} {sampled[0]:7.0f} MB resident (every 0.5 s)")
    print(f"  peak {peak:.0f} MB vs target {TARGET_MB} MB: ratio {peak / TARGET_MB:.2f}")
    if args.visitors:
        print(f"  {args.visitors} answers streamed at once, all in after {streamed_s:.1f} s "
              f"(one alone takes about {len(SLOW_ANSWER.split()) * 0.4:.1f} s)")
    print(f"  torch/transformers imported: {', '.join(heavy) if heavy else 'no'}")
    return 0 if peak < TARGET_MB and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
