"""The locks: exact versions that satisfy every range the studio declares, and the ones the tests run on."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]


def lock(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[^\s;]+", line), f"{name}: not an exact pin: {line}"
        dist, version = line.split("==")
        assert canonicalize_name(dist) not in pins, f"{name}: {dist} twice"
        pins[canonicalize_name(dist)] = version
    return pins


def requirements(path: Path) -> list[Requirement]:
    """The requirements a file declares, following -r includes; -e lines (the project) are left out."""
    found = []
    for line in path.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith(("#", "-e")):
            continue
        if line.startswith("-r "):
            found += requirements(path.parent / line[3:].strip())
            continue
        found.append(Requirement(line))
    return found


def assert_satisfies(pins: dict[str, str], reqs: list[Requirement], what: str) -> None:
    for req in reqs:
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{what} needs {req.name}, which the lock does not pin"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), \
            f"{what} asks {req}, the lock has {pins[name]}"


def test_the_studio_lock_satisfies_requirements_txt():
    assert_satisfies(lock("requirements.lock"), requirements(REPO / "requirements.txt"), "requirements.txt")


def test_the_dev_lock_satisfies_requirements_dev_txt_and_agrees_with_the_studio_lock():
    dev, studio = lock("requirements-dev.lock"), lock("requirements.lock")
    assert_satisfies(dev, requirements(REPO / "requirements-dev.txt"), "requirements-dev.txt")
    assert {k: dev.get(k) for k in studio} == studio  # one version of each package in both


def test_torch_is_pinned_without_a_build_label_so_either_build_satisfies_it():
    assert lock("requirements.lock")["torch"] == "2.13.0"


def test_the_cloud_requirements_are_the_locks_versions():
    studio = lock("requirements.lock")
    reqs = requirements(REPO / "cloud" / "requirements.txt")
    assert reqs and all(str(r.specifier).startswith("==") for r in reqs), "cloud/requirements.txt: exact pins"
    assert_satisfies(studio, reqs, "cloud/requirements.txt")


def test_the_tests_run_on_the_locked_versions():
    """The environment these tests run in is the lock, not whatever was installed on the machine before."""
    wrong = {}
    for name, version in lock("requirements-dev.lock").items():
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong[name] = (version, None)
            continue
        if Version(have).public != Version(version).public:  # torch 2.13.0+cpu is the lock's 2.13.0
            wrong[name] = (version, have)
    assert not wrong, f"installed versions differ from requirements-dev.lock (run bash tests/run.sh): {wrong}"
