#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest on SQLite + DuckDB and on the real PostgreSQL server, and the
# web app in real Chromium (Debian's package, installed by scripts/install-chromium.sh if missing).
# PostgreSQL: $TANDEM_TEST_POSTGRES_URL (default: the local server's `test` database); the tests create a fresh
# database per test from it and drop it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
export TANDEM_TEST_POSTGRES_URL=${TANDEM_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}
"$BIN/ruff" check src tests benchmarks
"$BIN/ruff" format --check src tests benchmarks
"$BIN/mypy"
"$BIN/lint-imports"
bash scripts/install-chromium.sh
"$BIN/python" -m pytest -n 2 --durations=25 "$@"
