#!/usr/bin/env bash
# Finds a Python >= 3.12, creates .venv and installs the project into it.
# Re-running is cheap: the install is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.installed"

ok_python() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null
}

find_python() {
  local c
  if [ -n "${PYTHON:-}" ]; then
    ok_python "$PYTHON" && { echo "$PYTHON"; return; }
    echo "PYTHON=$PYTHON is not Python >= 3.12" >&2; exit 1
  fi
  for c in python3.13 python3.12 python3; do
    if command -v "$c" >/dev/null && ok_python "$(command -v "$c")"; then command -v "$c"; return; fi
  done
  if command -v pyenv >/dev/null; then
    for c in $(ls -d "$(pyenv root)"/versions/3.1[2-9]* 2>/dev/null | sort -rV); do
      if [ -x "$c/bin/python3" ] && ok_python "$c/bin/python3"; then echo "$c/bin/python3"; return; fi
    done
  fi
  cat >&2 <<'MSG'
No Python >= 3.12 found.
Install one (e.g. `pyenv install 3.13`, `apt-get install python3.13`, or from python.org),
or point PYTHON at it: `make run PYTHON=/path/to/python3.13`.
MSG
  exit 1
}

if [ ! -x "$VENV/bin/python" ] || ! ok_python "$VENV/bin/python"; then
  rm -rf "$VENV"
  PY=$(find_python)
  echo "Creating $VENV with $PY ($("$PY" --version))"
  "$PY" -m venv "$VENV"
fi

want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  echo "Installing the project and its dependencies into $VENV ..."
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  echo "$want" > "$STAMP"
fi
