#!/usr/bin/env bash
# Proves the low end of the supported version ranges declared in pyproject.toml.
#
# Builds a fresh virtual environment outside the repository (under ${TMPDIR:-/tmp}), installs the lowest
# supported versions pinned in .ci/lowest-versions.txt (transitive dependencies as pip resolves them), installs
# gan_utils with `pip install -e . --no-deps`, then runs the quick test tier (`pytest -m "not slow" tests`) and
# the smoke preset (`python -m gan_utils.run --preset smoke`) with every output in a temporary folder, so the
# repository's runs/ and figures/ are untouched. Prints one result line per step; exits 1 if any step failed.
#
# Usage: .ci/test_lowest_versions.sh [PYTHON] [PIN ...]
#   PYTHON  the interpreter for the venv (default: $PYTHON, else python3.10, the lowest supported Python)
#   PIN     replaces the file's pin of the same package, e.g. numpy==2.1.3
# Hosted-like combination (Python 3.12, TensorFlow 2.19, Keras 3.10, NumPy 2.1.3):
#   PYTHON=python3.12 .ci/test_lowest_versions.sh "" numpy==2.1.3
# Environment: MNIST_PATH (default ../shared/data/mnist.npz when it exists), KEEP_VENV=1 keeps the venv and the
# outputs, GAN_CACHE_DIR (default: a fresh folder, so the evaluation classifier is trained by these versions).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${1:-${PYTHON:-python3.10}}"
shift $(( $# > 0 ? 1 : 0 ))
# A pyenv shim (python3.12) that is not enabled globally: use that version's interpreter directly.
if ! "$PY" -c 'import sys' >/dev/null 2>&1 && command -v pyenv >/dev/null 2>&1; then
  ver="$(pyenv versions --bare | grep -E "^${PY#python}(\.|$)" | sort -V | tail -1 || true)"
  [ -z "$ver" ] || PY="$(pyenv root)/versions/$ver/bin/python"
fi
OVERRIDES=("$@")

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gan_lowest.XXXXXX")"
VENV="$WORK/venv"
cleanup() { if [ "${KEEP_VENV:-0}" = 1 ]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

FAILED=0
result() { printf '%-8s %-14s %s\n' "$1" "$2" "$3"; }

# 1. The venv.
if ! "$PY" -m venv "$VENV" >"$WORK/venv.log" 2>&1; then
  result FAILED venv "$PY could not make a venv (see $WORK/venv.log)"; KEEP_VENV=1; exit 1
fi
result ok venv "$("$VENV/bin/python" -c 'import sys; print("Python", sys.version.split()[0])') in $VENV"

# 2. The pins, with any override replacing the file's line for the same package.
PINS="$WORK/pins.txt"
grep -v '^\s*#' "$ROOT/.ci/lowest-versions.txt" | grep -v '^\s*$' > "$PINS.base"
for pin in "${OVERRIDES[@]}"; do
  name="$(printf '%s' "${pin%%[=<>!~]*}" | tr 'A-Z_' 'a-z-')"
  awk -v n="$name" '{ p = tolower($0); sub(/[=<>!~].*/, "", p); gsub(/_/, "-", p); if (p != n) print }' \
    "$PINS.base" > "$PINS.tmp" && mv "$PINS.tmp" "$PINS.base"
  echo "$pin" >> "$PINS.base"
done
mv "$PINS.base" "$PINS"
if "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$PINS" >"$WORK/install.log" 2>&1 \
   && "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT" --no-deps >>"$WORK/install.log" 2>&1
then
  result ok install "$("$VENV/bin/python" -c 'import tensorflow as tf, keras, numpy, matplotlib, papermill
print(f"tensorflow {tf.__version__}, keras {keras.__version__}, numpy {numpy.__version__}, matplotlib {matplotlib.__version__}, papermill {papermill.__version__}")' 2>/dev/null)"
else
  result FAILED install "see $WORK/install.log"; tail -20 "$WORK/install.log"; KEEP_VENV=1; exit 1
fi
# The pins must satisfy the declared ranges (gan-utils' own requirements included).
if "$VENV/bin/python" -m pip check >"$WORK/check.log" 2>&1; then
  result ok "pip check" "the pins satisfy pyproject.toml's ranges"
else
  result FAILED "pip check" "$(tr '\n' ' ' < "$WORK/check.log")"; FAILED=1
fi

# Every output of the steps below goes into $WORK.
if [ -z "${MNIST_PATH:-}" ] && [ -f "$ROOT/../shared/data/mnist.npz" ]; then
  MNIST_PATH="$(cd "$ROOT/../shared/data" && pwd)/mnist.npz"
fi
export MNIST_PATH="${MNIST_PATH:-}" GAN_OUTPUT_ROOT="$WORK/out" GAN_CACHE_DIR="${GAN_CACHE_DIR:-$WORK/cache}"
export MPLBACKEND=Agg GAN_NO_PROGRESS=1
mkdir -p "$GAN_OUTPUT_ROOT"
cd "$ROOT"

# 3. The quick test tier.
t0=$SECONDS
if "$VENV/bin/python" -m pytest -m "not slow" tests >"$WORK/pytest.log" 2>&1; then status=ok; else status=FAILED; FAILED=1; fi
summary="$(grep -E '^=+ .*(passed|failed|error).* =+$' "$WORK/pytest.log" | tail -1 | sed -E 's/^=+ //; s/ =+$//')"
result "$status" "quick tier" "${summary:-no summary (see $WORK/pytest.log)} [$((SECONDS - t0)) s]"
[ "$status" = ok ] || grep -E '^(FAILED|ERROR) ' "$WORK/pytest.log" || true

# 4. The smoke preset (every notebook, every cell, smallest sizes).
t0=$SECONDS
if "$VENV/bin/python" -m gan_utils.run --preset smoke >"$WORK/smoke.log" 2>&1; then status=ok; else status=FAILED; FAILED=1; fi
result "$status" "smoke preset" "$((SECONDS - t0)) s"
[ "$status" = ok ] || tail -30 "$WORK/smoke.log"

[ "$FAILED" = 0 ] || KEEP_VENV=1
exit "$FAILED"
