"""A public deployment's ``[studio]`` limits: a value that does not fit is one line naming the setting and its range,
and the default holds (it was ``int()``/``float()`` on the raw secret: "x", true or 1e99 failed every page)."""

from __future__ import annotations

import re

import pytest

from studio.cloud import deployment
from studio.ui import cloud_settings

# what the app reads for each setting, in the setting's own unit
IN_FORCE = {
    "inference_rpm": lambda: cloud_settings.in_force().inference_rpm,
    "inference_rpm_total": lambda: cloud_settings.in_force().inference_rpm_total,
    "upload_mb": cloud_settings.upload_mb,
    "jobs_per_visitor": lambda: cloud_settings.in_force().jobs_per_visitor,
    "jobs_total": lambda: cloud_settings.in_force().jobs_total,
    "cookieless_per_hour": cloud_settings.cookieless_per_hour,
    "anonymous_workspace_mb": lambda: cloud_settings.limit_bytes(anonymous=True) / 1e6,
    "workspace_mb": lambda: cloud_settings.limit_bytes(anonymous=False) / 1e6,
    "anonymous_idle_hours": cloud_settings.idle_hours,
    "workspaces_total_mb": lambda: cloud_settings.total_bytes() / 1e6,
    "private_servers": lambda: cloud_settings.in_force().private_servers,
}
NUMBERS_BAD = ("x", -1, 1e99, float("inf"), float("nan"), True, [3])


@pytest.mark.parametrize("name", sorted(IN_FORCE))
def test_a_bad_studio_setting_is_one_line_naming_its_range_and_its_default_holds(name, monkeypatch):
    default = deployment.Deployment.__dataclass_fields__[name].default
    for bad in ("yes", 1, None) if name == "private_servers" else NUMBERS_BAD:
        monkeypatch.setattr(cloud_settings, "app_secrets", lambda bad=bad: {"studio": {name: bad}})
        (line,) = cloud_settings.deployment_limits()[1]
        wanted = "true or false" if name == "private_servers" else r"a (whole )?number from [\d.]+ to \d+"
        assert re.fullmatch(rf"\[studio\] {name} must be {wanted}, not {re.escape(repr(bad))}: fix it in the app's "
                            r"secrets\. Meanwhile it is [\w.]+\.", line), line
        assert IN_FORCE[name]() == default
    good = True if name == "private_servers" else 7
    monkeypatch.setattr(cloud_settings, "app_secrets", lambda: {"studio": {name: good}})
    assert cloud_settings.deployment_limits()[1] == [] and IN_FORCE[name]() == good


def test_the_line_says_the_range_and_the_default_in_words():
    assert deployment.read({"jobs_total": "six", "upload_mb": 1e99})[1] == [
        "[studio] upload_mb must be a whole number from 1 to 1048576, not 1e+99: fix it in the app's secrets. "
        "Meanwhile it is 20.",
        "[studio] jobs_total must be a whole number from 1 to 1000, not 'six': fix it in the app's secrets. "
        "Meanwhile it is 6."]
