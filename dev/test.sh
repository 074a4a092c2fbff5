#!/usr/bin/env bash
# Every check and every test, as CI runs them (README's second command; .ci/run calls this).
# Needs: Rust (cargo), CPython 3.11+ with pip. Everything else goes into ./.venv, except Open MPI,
# which is installed with apt-get when running as root (CI) and missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real MPI for the MPI toolkits' tests (tests/test_mpi.py): Open MPI from the system, mpi4py into
# the venv. Without them those tests skip, saying why; nothing here fails the run.
install_open_mpi() {
    if command -v mpirun >/dev/null 2>&1; then
        return
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "== no mpirun, and Open MPI cannot be installed here (needs root and apt-get): MPI tests will skip"
        return
    fi
    echo "== installing Open MPI (apt-get install openmpi-bin libopenmpi-dev)"
    local log
    log=$(mktemp)
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        openmpi-bin libopenmpi-dev; } >"$log" 2>&1; then
        tail -n 5 "$log"
        echo "== Open MPI could not be installed (above): MPI tests will skip"
    fi
    rm -f "$log"
}
install_open_mpi

# A real Slurm for tests/test_slurm.py: as root, dev/slurm-up.sh installs slurm-wlm and munge and
# starts munged, slurmctld and two slurmd (nodes n1, n2) on this host; stopped at the end only if
# this run started it. Not root: those tests skip, saying why.
if [ "$(id -u)" = 0 ]; then
    if command -v sinfo >/dev/null 2>&1 && sinfo -h >/dev/null 2>&1; then
        echo "== a Slurm already answers here: the Slurm tests use it"
    else
        echo "== starting a local Slurm (dev/slurm-up.sh)"
        bash dev/slurm-up.sh
        trap 'bash dev/slurm-down.sh >/dev/null 2>&1 || true' EXIT
    fi
fi

python3 -m venv .venv
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"
pip install -q --disable-pip-version-check -r dev/requirements-test.txt
if command -v mpirun >/dev/null 2>&1 && ! python -c "import mpi4py.MPI" >/dev/null 2>&1; then
    echo "== installing mpi4py into .venv"
    pip install -q --disable-pip-version-check mpi4py || echo "== mpi4py could not be installed: its test will skip"
fi

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
echo "== docs: the user guide builds with no broken link, anchor or API reference (mkdocs --strict)"
site=$(mktemp -d)
mkdocs build --strict --quiet --site-dir "$site"
rm -rf "$site"
pytest -q -p no:cacheprovider tests

# Issue 14: the release wheel as a user gets it: built with zig (manylinux_2_31, checked by
# auditwheel), installed into a fresh venv with no cargo or rustc on PATH, where the demo, a smoke
# subset of these tests and the extras run; the sdist's contents; actionlint on the workflows.
bash dev/wheel-test.sh
