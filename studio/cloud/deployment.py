"""A public deployment's limits, the ``[studio]`` section of the app's secrets, described once (``studio.settings``).

``read(section)`` takes what the secrets hold and returns the limits in force with one line per value that does not
fit: that setting keeps its default, so a typo (``jobs_total = "six"``, ``upload_mb = 1e99``, ``inference_rpm = -1``)
is said on the page instead of failing every page with a traceback. ``previews_mb`` (``studio.data.held.Budget``) and
the ``[studio.store]`` table (``studio.cloud.store.StoreConfig``) are read where they are used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from studio import settings
from studio.cloud import limits, workspaces
from studio.errors import StudioError
from studio.settings import setting

MB_MAX = 2**20  # 1 TB: a bound that stops 1e99 (an overflow in Streamlit's upload check) yet fits any real disk; a
# workspace's limits go down to 1 KB (0.001), where a deployment (or a test) shows what a full workspace does


@dataclass(frozen=True)
class Deployment:
    """The ``[studio]`` limits of a public deployment (each optional in the secrets: unset, the default here)."""

    inference_rpm: int = setting(limits.DEFAULT_RPM, "hosted-model requests a minute per visitor on HF_TOKEN "
                                 "(0: it serves none)", min=0, max=100_000)
    inference_rpm_total: int = setting(limits.DEFAULT_TOTAL_RPM, "the same for all visitors together",
                                       min=0, max=100_000)
    upload_mb: int = setting(limits.DEFAULT_UPLOAD_MB, "the largest file a visitor may upload, in MB", min=1,
                             max=MB_MAX)
    jobs_per_visitor: int = setting(limits.DEFAULT_JOBS_PER_VISITOR, "background jobs a visitor may run at once",
                                    min=1, max=1000)
    jobs_total: int = setting(limits.DEFAULT_JOBS_TOTAL, "background jobs all visitors together may run at once",
                              min=1, max=1000)
    cookieless_per_hour: int = setting(limits.DEFAULT_COOKIELESS_PER_HOUR, "new workspaces an hour for all browsers "
                                       "that send no cookies together", min=1, max=1_000_000)
    anonymous_workspace_mb: float = setting(workspaces.ANONYMOUS_LIMIT_MB, "the size limit of a visitor who is not "
                                            "signed in, in MB", min=0.001, max=MB_MAX)
    workspace_mb: float = setting(workspaces.KEPT_LIMIT_MB, "the size limit of a signed-in (or token-giving) visitor, "
                                  "in MB", min=0.001, max=MB_MAX)
    anonymous_idle_hours: float = setting(workspaces.ANONYMOUS_IDLE_HOURS, "anonymous workspaces unused this long are "
                                          "removed", min=0.1, max=87_600)
    workspaces_total_mb: float = setting(workspaces.TOTAL_LIMIT_MB, "every visitor's workspace together, in MB",
                                         min=0.001, max=MB_MAX)
    private_servers: bool = setting(False, "visitors may name servers on this machine or its network")

    def __post_init__(self) -> None:
        settings.check(self, StudioError)


def refused(cls: Any, name: str, value: Any, in_force: Any) -> str:
    """The one line for a ``[studio]`` value of field ``name`` of ``cls`` that does not fit: the setting, what it
    takes, and the value in force meanwhile (``Deployment``'s limits, and ``held.Budget``'s ``previews_mb``)."""
    typ = settings.field_type(cls, name)
    if typ is bool:
        wanted, in_force = "true or false", str(in_force).lower()
    else:
        lo, hi = (settings.fmt(b) for b in settings.bounds(cls, name))
        wanted = f"{'a whole number' if typ is int else 'a number'} from {lo} to {hi}"
        in_force = settings.fmt(in_force)
    return (f"[studio] {name} must be {wanted}, not {value!r}: fix it in the app's secrets. "
            f"Meanwhile it is {in_force}.")


def _refused(name: str, value: Any) -> str:
    return refused(Deployment, name, value, Deployment.__dataclass_fields__[name].default)


def read(section: Mapping | None) -> tuple[Deployment, list[str]]:
    """The limits ``section`` (the secrets' ``[studio]``) sets, and one line for each value refused (its default
    kept)."""
    values: dict[str, Any] = {}
    refused: list[str] = []
    for f in dataclasses.fields(Deployment):
        if not section or f.name not in section:
            continue
        value = section[f.name]
        if settings.problem(Deployment, f.name, value) is not None:
            refused.append(_refused(f.name, value))
            continue
        values[f.name] = settings.field_type(Deployment, f.name)(value)  # 2.0 for an int: 2; 50 for a float: 50.0
    return Deployment(**values), refused
