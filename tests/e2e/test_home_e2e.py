"""Home in Chromium: what it says of the jobs running follows them without a click."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from studio import config, jobs
from tests.e2e.conftest import assert_no_exception, open_page

pytestmark = pytest.mark.e2e


def test_a_running_job_s_line_follows_its_progress_and_goes_when_it_ends(page, studio):
    """Home's "Training running: <name> · 10% · step 2/20" was drawn once: it said 10% for as long as the page was
    open, and "running" after the run had finished, until a reload."""
    workdir = config.runs_dir() / "run-1"
    jobs.update_status(workdir, kind="train", state="running", pid=os.getpid(), progress=0.1, message="step 2/20",
                       title="Soccer FAQ · SmolLM2")  # running as long as this test's process lives
    jobs.register_current("train", workdir)
    open_page(page, studio)
    assert_no_exception(page)
    line = page.get_by_text("Training running: Soccer FAQ · SmolLM2")
    expect(line).to_contain_text("10% · step 2/20")
    jobs.update_status(workdir, progress=0.5, message="step 10/20")
    expect(line).to_contain_text("50% · step 10/20", timeout=30_000)  # no click, no reload
    jobs.update_status(workdir, state="finished", progress=1.0, message="finished")
    expect(page.get_by_text("Training running:")).to_have_count(0, timeout=30_000)
    expect(page.get_by_role("link", name="Open it on the Train page")).to_have_count(0)
    assert_no_exception(page)
