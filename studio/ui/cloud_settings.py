"""The deployment's settings as a public app reads them from its secrets: tenancy (on or off), the ``[studio]`` limits
in force (``studio.cloud.deployment`` checks each value), the Import tab's previews budget and the ``[auth]`` providers.
``studio.ui.cloud.setup`` reads them at every page run.

Tenancy is on when the app runs as ``cloud/Home.py`` (the Community Cloud entry point) unless the secret
``[studio] tenancy = false`` (or ``STUDIO_TENANCY=0``) says otherwise, and off for a local install unless
``[studio] tenancy = true`` (or ``STUDIO_TENANCY=1``). Secrets read here, all optional::

    [studio]
    tenancy = true
    anonymous_workspace_mb = 50
    workspace_mb = 500          # a signed-in (or token-giving) visitor's workspace
    anonymous_idle_hours = 24
    workspaces_total_mb = 5000  # every visitor's workspace together (idle anonymous ones make room first)
    inference_rpm = 10          # requests a minute per visitor on the deployer's HF_TOKEN
    inference_rpm_total = 60    # requests a minute on it for all visitors together
    upload_mb = 20              # the largest file a visitor may upload
    jobs_per_visitor = 2        # background jobs (evaluations) a visitor may run at once
    jobs_total = 6              # the same for all visitors together
    cookieless_per_hour = 30    # new workspaces an hour for all browsers that send no cookies together
    previews_mb = 256           # parsed imports held in memory for every visitor together (2048 unset on Home.py)
    private_servers = false     # true: visitors may name servers on this machine or its network (loopback, 10.x, ...)

    [studio.store]              # keeps signed-in visitors' workspaces across restarts (studio.cloud.store)
    repo = "your-org/slm-studio-visitors"
    token = "hf_..."            # write access to that repo; used for nothing else
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import streamlit as st

from studio.cloud import deployment
from studio.data import held
from studio.errors import StudioError
from studio.ui import streamlit_internals


def app_secrets() -> Mapping:
    try:
        return st.secrets
    except Exception:  # no secrets file at all
        return {}


def studio_setting(name: str, default: object) -> object:
    try:
        section = app_secrets().get("studio") or {}
        return section.get(name, default)
    except Exception:
        return default


def deployment_limits() -> tuple[deployment.Deployment, list[str]]:
    """The ``[studio]`` limits in force, and one line for each value there that does not fit (its default in force
    meanwhile; ``cloud.setup`` shows the lines at every page run)."""
    unset = object()
    return deployment.read({f.name: value for f in dataclasses.fields(deployment.Deployment)
                            if (value := studio_setting(f.name, unset)) is not unset})


def in_force() -> deployment.Deployment:
    return deployment_limits()[0]


def forced() -> bool | None:
    """Tenancy as ``STUDIO_TENANCY`` or the ``[studio] tenancy`` secret sets it; None where neither does."""
    env = os.environ.get("STUDIO_TENANCY", "").strip().lower()
    if env in ("1", "true", "on", "yes"):
        return True
    if env in ("0", "false", "off", "no"):
        return False
    setting = studio_setting("tenancy", None)
    return setting if isinstance(setting, bool) else None


def tenancy_refused() -> str | None:
    """The one line for a ``[studio] tenancy`` that is not true or false (ignored: the default in force), or None."""
    env = os.environ.get("STUDIO_TENANCY", "").strip().lower()
    setting = studio_setting("tenancy", None)
    if env in ("1", "true", "on", "yes", "0", "false", "off", "no") or setting is None or isinstance(setting, bool):
        return None
    default = "true (the public app)" if streamlit_internals.runs_cloud_entry() is not False else "false (a local install)"
    return (f"[studio] tenancy must be true or false, not {setting!r}: fix it in the app's secrets. "
            f"Meanwhile it is {default}.")


def tenancy_on() -> bool:
    setting = forced()
    if setting is not None:
        return setting
    return streamlit_internals.runs_cloud_entry() is not False  # None: Streamlit cannot say (ENTRY_UNKNOWN)


ENTRY_UNKNOWN = ("Each visitor works in a workspace of their own: this Streamlit version does not say whether the app "
                 "runs as cloud/Home.py (the public app). On your own machine, start it with STUDIO_TENANCY=0 (or "
                 "[studio] tenancy = false in secrets) to use your workspace.")


def limit_bytes(anonymous: bool = True) -> int:
    limits_ = in_force()
    return int((limits_.anonymous_workspace_mb if anonymous else limits_.workspace_mb) * 1e6)


def idle_hours() -> float:
    """How long an anonymous workspace nobody opens is kept."""
    return in_force().anonymous_idle_hours


def total_bytes() -> int:
    return int(in_force().workspaces_total_mb * 1e6)


def upload_mb() -> int:
    """The largest file (or Hub dataset) a visitor may import, in MB."""
    return in_force().upload_mb


def cookieless_per_hour() -> int:
    """``[studio] cookieless_per_hour`` (a bad value: the default, said by ``cloud.setup``)."""
    return in_force().cookieless_per_hour


def auth_providers() -> list[str] | None:
    """The OIDC providers configured under ``[auth]`` (``[""]`` for a single unnamed one); None when none is."""
    try:
        auth = app_secrets().get("auth")
    except Exception:
        auth = None
    if not auth:
        return None
    named = [k for k, v in auth.items() if isinstance(v, Mapping)]
    return named or [""]


def configure_previews() -> None:
    """The Import tab's memory budget (``held``) as ``[studio] previews_mb`` sets it; a bad value is said in one line
    on the page and the budget in force stays."""
    value = studio_setting("previews_mb", None)
    try:
        held.configure(value)
    except StudioError:  # said as the [studio] limits are (``deployment.refused``), with the budget in force
        st.error(deployment.refused(held.Budget, "previews_mb", value, held.previews.budget / 2**20),
                 icon=":material/error:")
