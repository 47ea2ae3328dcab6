"""Browsers that send no cookies on a public app: each page load is a new session with nothing that brings it back
to its workspace, so every such browser counts as one visitor (``COOKIELESS``) for the deployer's token and background
jobs (``studio.ui.cloud``'s ``visitor_key`` and ``_job_group``), and all of them together get at most ``[studio]
cookieless_per_hour`` new workspaces an hour: past that the page stops with one line (``refusal``) and what still lets
the browser in (``studio.ui.cloud``'s ``_way_in``: sign-in, its own Hugging Face token)."""

from __future__ import annotations

import streamlit as st

from studio.cloud import limits
from studio.ui import cloud_settings

_cookieless = limits.Window(3600)  # the new workspaces of browsers without cookies (``cookieless_per_hour``)
COOKIELESS = "browser:none"  # the one visitor every browser without cookies counts as (``visitor_key``)
COOKIELESS_FULL = ("This browser sends no cookies, and this app has made the {count} workspaces an hour it makes for "
                   "such browsers: {way_in}, allow cookies for this site and reload, or try again in {minutes}.")
WAY_IN_TOKEN = "give your Hugging Face token below (your account's own workspace)"
WAY_IN_SIGN_IN = "sign in or " + WAY_IN_TOKEN


def cookies_given() -> bool:
    """Whether Streamlit gives every browser its session cookie: only with XSRF protection on (``server.
    enableXsrfProtection``, Streamlit's default, or turned on by an ``[auth]`` section). A deployment that turned it off
    (as often advised where uploads failed) gets the cookie from no browser: every visitor would count as one browser
    without cookies, the 31st new one of an hour refused."""
    try:
        if st.get_option("server.enableXsrfProtection"):
            return True
    except Exception:  # noqa: BLE001 - an option Streamlit no longer has: counted as given, the bound holds
        return True
    try:
        return "auth" in cloud_settings.app_secrets()
    except Exception:  # noqa: BLE001 - no secrets file at all (st.secrets raises as it is read): no [auth] section
        return False


def refusal() -> str | None:
    """A browser without cookies is to get a new anonymous workspace: counted, at most ``cookieless_per_hour`` of those
    an hour for all such browsers together; past that (nothing counted) the one line that refuses it."""
    count = cloud_settings.cookieless_per_hour()
    wait = _cookieless.take(count)
    if wait is None:
        return None
    minutes = max(1, round(wait / 60))
    return COOKIELESS_FULL.format(count=count, minutes=f"{minutes} minute{'s' if minutes != 1 else ''}",
                                  way_in=WAY_IN_SIGN_IN if cloud_settings.auth_providers() else WAY_IN_TOKEN)
