#!/usr/bin/env bash
# The wheel as a user gets it (issue 14): build the release wheel and the sdist, check that the
# wheel is portable (auditwheel: manylinux) and complete, then install it into a fresh virtual
# environment whose PATH has no cargo, rustc or rustup, and run the demo, a smoke subset of the
# tests (against the installed package, never the source tree) and the extras there. Also lints
# the release workflow (.github/workflows/release.yml) with actionlint.
#
#   bash dev/wheel-test.sh [--out DIR] [--wheel FILE]
#
# --out DIR     keep the wheel and the sdist in DIR (default: a temporary folder, removed at exit)
# --wheel FILE  test this wheel instead of building one (no build, no sdist)
#
# dev/test.sh runs it after pytest; the release workflow runs it on each architecture. Needs what
# dev/test.sh needs (Rust, CPython 3.11+ with pip, PyPI); its tools go into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$SECONDS

out="" wheel=""
while [ $# -gt 0 ]; do
    case $1 in
    --out) out=$2; shift 2 ;;
    --wheel) wheel=$(realpath "$2"); shift 2 ;;
    *) echo "usage: bash dev/wheel-test.sh [--out DIR] [--wheel FILE]" >&2; exit 2 ;;
    esac
done
fail() { echo "wheel-test: FAILED: $*" >&2; exit 1; }

work=$(mktemp -d)
# The demo's and the tests' agents stop when their workspaces are deleted; this is the safety net.
cleanup() {
    if [ -x "$work/venv/bin/batchai" ] && [ -d "$work/home" ]; then
        env -i PATH=/usr/bin:/bin BATCHAI_HOME="$work/home" "$work/venv/bin/batchai" workspace delete -n demo -y \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
out=$(mkdir -p "${out:-$work/dist}" && cd "${out:-$work/dist}" && pwd)

# The build and check tools, in the project's .venv (dev/test.sh made it; a lone run makes it).
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r dev/requirements-wheel.txt
tools=$root/.venv/bin

echo "== wheel: actionlint .github/workflows"
"$tools/actionlint" -color=false .github/workflows/*.yml

built=""
if [ -z "$wheel" ]; then
    built=1
    # glibc 2.31: the extension needs glibc 2.30 (gettid) and 2.29 (the launcher's
    # posix_spawn_file_actions_addchdir_np, libm's exp/log/pow), and manylinux_2_31 is the oldest
    # policy auditwheel defines above those. zig links against that glibc whatever the build
    # machine has, so no manylinux container is needed.
    # --profile dist: Cargo.toml's release profile with fat LTO and one codegen unit (stripped).
    echo "== wheel: maturin build --profile dist --zig --compatibility manylinux_2_31"
    rm -f "$out"/batchai-*.whl "$out"/batchai-*.tar.gz
    t=$SECONDS
    PATH="$tools:$PATH" maturin build --profile dist --locked --zig --compatibility manylinux_2_31 --out "$out"
    echo "   built in $((SECONDS - t)) s"
    wheel=$(echo "$out"/batchai-*.whl)
    [ -f "$wheel" ] || fail "no wheel in $out"
fi
echo "   $(basename "$wheel"): $(du -k "$wheel" | cut -f1) KiB"

echo "== wheel: auditwheel show (a manylinux tag, no library outside the manylinux policy)"
audit=$("$tools/auditwheel" show "$wheel" 2>&1) || fail "auditwheel show: $audit"
# shellcheck disable=SC2001 # indent every line
echo "$audit" | sed 's/^/   /'
# "... is consistent with the following platform tag: "manylinux_2_31_x86_64"."
allowed=$(echo "$audit" | tr -d '\n' | grep -oE 'following platform tag: *"manylinux_[0-9]+_[0-9]+_[a-z0-9_]+"' |
    grep -oE 'manylinux_[0-9_a-z]+') || fail "auditwheel reports no manylinux tag"
claimed=$(basename "$wheel" | grep -oE 'manylinux_[0-9]+_[0-9]+_[a-z0-9_]+' | head -n 1) ||
    fail "the wheel's name has no manylinux_X_Y tag"
glibc_of() { echo "$1" | sed -E 's/manylinux_([0-9]+)_([0-9]+)_.*/\1 \2/'; }
read -r amaj amin <<<"$(glibc_of "$allowed")"
read -r cmaj cmin <<<"$(glibc_of "$claimed")"
[ "$amaj" -lt "$cmaj" ] || { [ "$amaj" -eq "$cmaj" ] && [ "$amin" -le "$cmin" ]; } ||
    fail "the wheel claims $claimed but auditwheel allows only $allowed"
echo "   auditwheel: $allowed; the wheel claims $claimed"

echo "== wheel: contents (extension, stubs, py.typed, console script, metadata)"
"$tools/python" - "$wheel" <<'EOF'
import re, sys, zipfile

path = sys.argv[1]
names = zipfile.ZipFile(path).namelist()
read = lambda name: zipfile.ZipFile(path).read(name).decode()
info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
problems = []
so = [n for n in names if re.fullmatch(r"batchai/_core\..*abi3\.so", n)]
if len(so) != 1:
    problems.append(f"one batchai/_core*.abi3.so expected, found {so}")
for need in ("batchai/__init__.py", "batchai/_core.pyi", "batchai/py.typed", "batchai/cli/__init__.py", "batchai/sweep/__init__.py"):
    if need not in names:
        problems.append(f"missing {need}")
if not re.search(r"^\[console_scripts\][^[]*^batchai\s*=\s*batchai\.cli:main\s*$", read(f"{info}/entry_points.txt"), re.M):
    problems.append("entry_points.txt has no 'batchai = batchai.cli:main' console script")
wheel_tags = [l.split(": ", 1)[1] for l in read(f"{info}/WHEEL").splitlines() if l.startswith("Tag: ")]
meta = read(f"{info}/METADATA")
requires = re.search(r"^Requires-Python: (.*)$", meta, re.M)
lowest = re.search(r">=\s*3\.(\d+)", requires.group(1)) if requires else None
abi3 = [re.fullmatch(r"cp3(\d+)-abi3-.*", t) for t in wheel_tags]
if not lowest or not all(abi3) or {int(m.group(1)) for m in abi3} != {int(lowest.group(1))}:
    problems.append(f"Requires-Python ({requires and requires.group(1)}) and the abi3 tags {wheel_tags} disagree")
if any(n.startswith(("tests/", "src/", "target/")) or n.endswith((".rs", ".pyc")) for n in names):
    problems.append("the wheel carries sources, tests or bytecode")
if problems:
    sys.exit("wheel-test: FAILED: " + "; ".join(problems))
print(f"   {len(names)} files; tags {wheel_tags}; Requires-Python {requires.group(1)}")
EOF
if command -v readelf >/dev/null 2>&1; then
    so=$(mktemp -d -p "$work")
    "$tools/python" -m zipfile -e "$wheel" "$so"
    ! readelf -S "$so"/batchai/_core*.so | grep -qE '\.symtab|\.debug_' || fail "the extension is not stripped"
    echo "   extension: $(du -k "$so"/batchai/_core*.so | cut -f1) KiB, stripped"
fi

if [ -n "$built" ]; then
    echo "== sdist: maturin sdist, and what 'pip install batchai-X.tar.gz' needs is in it"
    PATH="$tools:$PATH" maturin sdist --out "$out" >/dev/null 2>&1 || PATH="$tools:$PATH" maturin sdist --out "$out"
    sdist=$(echo "$out"/batchai-*.tar.gz)
    [ -f "$sdist" ] || fail "no sdist in $out"
    "$tools/python" - "$sdist" <<'EOF'
import sys, tarfile

with tarfile.open(sys.argv[1]) as t:
    names = t.getnames()
top = names[0].split("/")[0]
rel = {n[len(top) + 1 :] for n in names if "/" in n}
# Cargo.lock: [tool.maturin] locked; tests/supervisor.rs: Cargo.toml's [[test]] must find its file.
need = ["PKG-INFO", "pyproject.toml", "Cargo.toml", "Cargo.lock", "README.md", "src/lib.rs", "tests/supervisor.rs",
        "python/batchai/__init__.py", "python/batchai/_core.pyi", "python/batchai/py.typed"]
missing = [n for n in need if n not in rel]
stray = sorted(n for n in rel if n.endswith(".so") or n.startswith(("target/", ".venv/", "dist/")))
if missing or stray:
    sys.exit(f"wheel-test: FAILED: sdist {top}: missing {missing}, should not carry {stray[:5]}")
print(f"   {top}.tar.gz: {len(rel)} files, {sum(n.startswith('src/') for n in rel)} under src/")
EOF
fi

# The user's machine: a fresh venv; PATH = the venv and the system's /usr/bin and /bin, minus any
# Rust tool found there (a shim folder of links); HOME kept for pip's cache; no cargo anywhere.
echo "== user: a fresh venv with no Rust on PATH"
base=$("$tools/python" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
"$base" -m venv "$work/venv"
mkdir "$work/sysbin" "$work/home" "$work/run"
for dir in /bin /usr/bin; do
    for tool in "$dir"/*; do
        name=${tool##*/}
        case $name in cargo* | rustc* | rustup* | rustdoc* | rust-*) continue ;; esac
        [ -e "$work/sysbin/$name" ] || ln -s "$tool" "$work/sysbin/$name"
    done
done
user=(env -i HOME="$HOME" LANG=C.UTF-8 TMPDIR="${TMPDIR:-/tmp}" PATH="$work/venv/bin:$work/sysbin"
    BATCHAI_HOME="$work/home")
for var in $(compgen -e); do
    case $var in
    PIP_* | SSL_CERT_* | REQUESTS_CA_BUNDLE | http_proxy | https_proxy | no_proxy | HTTP_PROXY | HTTPS_PROXY | NO_PROXY)
        user+=("$var=${!var}") ;;
    esac
done
for rust in cargo rustc rustup; do
    ! "${user[@]}" sh -c "command -v $rust" >/dev/null || fail "$rust is on the user's PATH"
done
cd "$work/run"

echo "== user: pip install $(basename "$wheel")"
"${user[@]}" python -m pip install -q --disable-pip-version-check "$wheel"
"${user[@]}" python - "$work/venv" <<'EOF'
import importlib.metadata, os, sys
import batchai

venv = os.path.realpath(sys.argv[1])
assert os.path.realpath(batchai.__file__).startswith(venv + os.sep), f"batchai from {batchai.__file__}, not the venv"
assert batchai.__version__ == importlib.metadata.version("batchai"), (batchai.__version__, importlib.metadata.version("batchai"))
print(f"   batchai {batchai.__version__} from {os.path.dirname(batchai.__file__)} on Python {sys.version.split()[0]}")
EOF
"${user[@]}" batchai --help >/dev/null || fail "the batchai console script"

echo "== user: python -m batchai.demo"
t=$SECONDS
"${user[@]}" python -m batchai.demo >"$work/demo.txt" 2>&1 || { cat "$work/demo.txt"; fail "the demo"; }
{ grep -q "^job 'hello': succeeded" "$work/demo.txt" && grep -q "^search: best x = " "$work/demo.txt"; } ||
    { cat "$work/demo.txt"; fail "the demo's output"; }
"${user[@]}" batchai workspace delete -n demo -y >/dev/null
echo "   ran in $((SECONDS - t)) s: $(grep '^search:' "$work/demo.txt")"

# The tests are copied beside (not inside) the source tree: in $work/run nothing named batchai is
# importable but the installed package, which a test of their own checks first.
echo "== user: smoke tests against the installed package"
cp -r "$root/tests" "$work/run/tests"
cat >"$work/run/tests/test_installed.py" <<'EOF'
import os, shutil, sys

import batchai


def test_batchai_is_the_installed_wheel() -> None:
    assert os.path.realpath(batchai.__file__).startswith(os.path.realpath(sys.prefix) + os.sep), batchai.__file__
    assert shutil.which("cargo") is None and shutil.which("rustc") is None
EOF
# pyproject.toml's [tool.pytest.ini_options], which stays in the source tree.
printf '[pytest]\nfilterwarnings = error\ntimeout = 120\nxfail_strict = true\n' >"$work/run/pytest.ini"
"${user[@]}" python -m pip install -q --disable-pip-version-check "pytest>=8" "pytest-timeout>=2"
smoke=(tests/test_installed.py tests/test_lifecycle.py tests/test_agent.py tests/test_processes.py tests/test_cli_jobs.py)
"${user[@]}" python -m pytest -q -p no:cacheprovider "${smoke[@]}"

echo "== user: the extras install and import"
extras=$("$tools/python" -c '
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
print(",".join(l.split(": ", 1)[1] for l in meta.splitlines() if l.startswith("Provides-Extra: ")))' "$wheel")
[ -n "$extras" ] || fail "the wheel declares no extras"
echo "   batchai[$extras]"
"${user[@]}" python -m pip install -q --disable-pip-version-check "${wheel}[${extras}]"
"${user[@]}" python - <<'EOF'
import importlib, importlib.metadata as md, re

# Each extra's requirements, imported by the modules their distributions install (pyyaml: yaml).
modules: dict[str, list[str]] = {}
for module, dists in md.packages_distributions().items():
    for dist in dists:
        modules.setdefault(re.sub(r"[-_.]+", "-", dist).lower(), []).append(module)
for req in md.requires("batchai") or []:
    extra = re.search(r"""extra\s*==\s*["']([^"']+)""", req)
    if not extra:
        continue
    name = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", req).group(0)).lower()
    found = [m for m in modules.get(name, []) if not m.startswith("_") and m.isidentifier()]
    assert found, f"{name} (batchai[{extra.group(1)}]) installed no importable module"
    for m in found:
        importlib.import_module(m)
    print(f"   batchai[{extra.group(1)}]: {name} -> import {', '.join(found)}")
EOF
# The notebook extra at work: tables and plots of results (pandas, matplotlib). Not the test of a
# missing extra: it hides site-packages to mimic a venv without pandas, which here is where
# batchai itself and pandas both are.
"${user[@]}" python -m pytest -q -p no:cacheprovider tests/test_results.py \
    --deselect tests/test_results.py::test_a_missing_extra_names_the_package_and_the_install_command

cd "$root"
echo "== wheel test passed in $((SECONDS - started)) s"
