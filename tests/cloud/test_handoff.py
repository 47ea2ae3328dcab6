"""What an anonymous tab made, handed over across the sign-in redirect (studio.cloud.handoff)."""

from __future__ import annotations

import os
import time

from studio.cloud import handoff, workspaces

# One browser's Streamlit XSRF cookie on two page loads: Tornado masks the same secret anew each time.
COOKIE_1 = "2|f2e21d93|728bc4f0c823ffd7dd246e0e74d6d727|1796452875"
COOKIE_2 = "2|9bd8aa1f|1bb1737ca119485bb41ed9821dec60ab|1796452875"


def test_the_browser_secret_is_the_same_on_every_page_load_and_none_without_a_cookie():
    assert handoff.browser_secret(COOKIE_1) == handoff.browser_secret(COOKIE_2) is not None
    assert handoff.browser_secret(COOKIE_1) != handoff.browser_secret("2|00000000|728bc4f0c823ffd7dd246e0e74d6d727|1")
    for bad in (None, "", "2|zz|yy|1", "2|f2e21d93|72|1"):
        assert handoff.browser_secret(bad) is None


def test_the_anonymous_workspace_is_taken_once_by_the_browser_that_gave_it():
    anon = workspaces.anonymous()
    anon.mkdir(parents=True)
    secret = handoff.browser_secret(COOKIE_1)
    handoff.give(secret, anon)
    assert handoff.take(handoff.browser_secret("2|00000000|728bc4f0c823ffd7dd246e0e74d6d727|1")) is None  # another browser
    assert handoff.take(secret) == anon
    assert handoff.take(secret) is None  # once


def test_an_old_handoff_or_one_naming_a_kept_workspace_is_not_taken():
    secret = handoff.browser_secret(COOKIE_1)
    anon = workspaces.anonymous()
    anon.mkdir(parents=True)
    handoff.give(secret, anon)
    assert handoff.take(secret, now=time.time() + handoff.MAX_AGE_S + 60) is None  # a sign-in abandoned long ago
    kept = workspaces.signed_in("https://issuer", "alice")
    kept.mkdir(parents=True)
    handoff.give(secret, kept)  # only an anonymous folder is ever handed over
    assert handoff.take(secret) is None
    record = handoff._file(secret)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(kept.name)  # a record naming someone's kept workspace is never followed
    os.utime(record)
    assert handoff.take(secret) is None and kept.is_dir()


def test_records_of_sign_ins_given_up_are_removed_when_another_tab_hands_over():
    """A record no sign-in took in time would never be taken: the next handover removes it, a recent one stays."""
    anon = workspaces.anonymous()
    anon.mkdir(parents=True)
    given_up, recent = handoff.browser_secret(COOKIE_1), "ab" * 16
    handoff.give(given_up, anon)
    handoff.give(recent, anon)
    old = time.time() - handoff.MAX_AGE_S - 60
    os.utime(handoff._file(given_up), (old, old))
    handoff.give("cd" * 16, anon)
    assert not handoff._file(given_up).exists() and handoff._file(recent).exists()
    assert handoff.take(recent) == anon
