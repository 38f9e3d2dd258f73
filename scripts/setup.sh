#!/usr/bin/env bash
# Set up unet-fsic on a fresh Debian machine with Python 3.11: system tools (as root, when missing) and a
# project-local virtualenv at .venv with the pinned Python stack. Safe to re-run; does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(g++ make iverilog verilator yosys gcc-riscv64-unknown-elf binutils-riscv64-unknown-elf chromium)
missing=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "[setup] apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "[setup] warning: not root; please install: ${missing[*]}" >&2
  fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || { echo "[setup] error: $PY not found (Python 3.11 is required)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing Python packages (pinned, requirements.txt)"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v -i "warning" || true
  .venv/bin/python -m pip install -q -r requirements.txt 2>&1 | grep -v -i "warning" || true
  .venv/bin/python -m pip install -q --no-deps -e . >/dev/null 2>&1 \
    || { echo "[setup] error: pip install -e . failed" >&2; exit 1; }
  .venv/bin/python -c "import tensorflow, qkeras, hls4ml, cocotb" 2>/dev/null \
    || { echo "[setup] error: the Python stack did not install (see pip output above)" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
echo "[setup] ready: .venv/bin/unet-fsic --help"
