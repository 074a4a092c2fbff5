#!/usr/bin/env bash
# Every check and every test, as CI runs them (README's second command; .ci/run calls this).
# Needs: Rust (cargo), CPython 3.11+ with pip. Everything else goes into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"
pip install -q --disable-pip-version-check -r dev/requirements-test.txt

echo "== rust: format, lints, engine tests (no Python)"
cargo fmt --check
cargo clippy --locked --all-targets --no-default-features -- -D warnings
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --no-default-features

echo "== python: build the extension into the venv, lint, tests"
rm -f python/batchai/_core*.so
maturin develop --locked -q
ruff check python tests bench
ruff format --check python tests bench
pytest -q -p no:cacheprovider tests
