#!/usr/bin/env bash
# One entry point for a fresh machine: installs what is missing (Debian packages for Qt,
# a virtualenv with the package and its test tools), then runs the app or the tests.
#   bash packaging/dev.sh run [FILE] [viewer options]   start siffviewer (sample when no FILE)
#   bash packaging/dev.sh test [pytest options]         run the whole test suite
#   bash packaging/dev.sh setup                         only install
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"

APT_PACKAGES=(
  python3 python3-venv python3-dev gcc libc6-dev binutils ca-certificates
  libglib2.0-0 libegl1 libgl1 libx11-6 libdbus-1-3 libfontconfig1 libxkbcommon0 fonts-dejavu-core
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-util1 libxcb-xkb1
  xvfb xauth dpkg-dev desktop-file-utils
  clang libclang-rt-14-dev
)

say() { printf '[dev.sh] %s\n' "$*" >&2; }

install_apt() {
  command -v dpkg-query >/dev/null 2>&1 || { say "not a Debian system: install the Qt runtime libraries yourself"; return 0; }
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { say "missing Debian packages (${missing[*]}); run as root or install them"; exit 1; }
    sudo="sudo"
  fi
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pick_python() {
  for py in python3.13 python3.12 python3.11 python3.10 python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys, venv; assert sys.version_info >= (3, 10)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  say "no Python >= 3.10 found"; exit 1
}

install_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv in .venv"
    "$(pick_python)" -m venv "$VENV"
  fi
  # reinstall when the build inputs change (the C core is compiled by pip install)
  local stamp="$VENV/.siff-build-stamp" want
  want="$(cat pyproject.toml setup.py libsiff/_build_ffi.py libsiff/csrc/*.[ch] | sha256sum | cut -c1-64)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! "$VENV/bin/python" -c 'import libsiff._siff' 2>/dev/null; then
    say "installing siffviewer (editable) and its test dependencies"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e ".[test]"
    echo "$want" > "$stamp"
  fi
}

cmd="${1:-run}"; shift || true
case "$cmd" in
  setup) install_apt; install_venv ;;
  run)   install_apt; install_venv; exec "$VENV/bin/python" -m siffviewer "$@" ;;
  test)  install_apt; install_venv
         export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}" OPENBLAS_NUM_THREADS=1
         exec "$VENV/bin/python" -m pytest "$@" ;;
  *) say "usage: bash packaging/dev.sh {run [FILE]|test [pytest args]|setup}"; exit 2 ;;
esac
