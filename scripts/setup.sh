#!/usr/bin/env bash
# Installs what blastflow needs on a fresh machine: a virtualenv with the package,
# BLAST+ from Debian's packages when missing and, with --test, Azurite (npm, into
# this project) and Chromium (Debian) for the test suite. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_install() {
  local pkgs=("$@")
  if [ "$(id -u)" = 0 ]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo); else
    echo "error: ${pkgs[*]} missing and no root/sudo to install it; install with: apt-get install ${pkgs[*]}" >&2; exit 1
  fi
  echo "==> installing ${pkgs[*]} (apt)"
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

missing=()
command -v blastn >/dev/null || missing+=(ncbi-blast+)
[ $want_test = 1 ] && ! command -v chromium >/dev/null && missing+=(chromium)
[ ${#missing[@]} -gt 0 ] && apt_install "${missing[@]}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi
stamp="$VENV/.blastflow-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing blastflow and its dependencies"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[dev]"
  touch "$stamp"
fi

if [ $want_test = 1 ] && [ ! -x node_modules/.bin/azurite-table ]; then
  echo "==> installing Azurite (npm, into ./node_modules)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The real ElasticBLAST CLI for the elastic-blast backend's tests, in a virtualenv of its own: its
# dependency pins (boto3, google-cloud-*, awslimitchecker …) must not touch ours.
ELB_VENV="${ELB_VENV:-.venv-elb}"
ELB_VERSION=1.5.0
if [ $want_test = 1 ] && ! "$ELB_VENV/bin/elastic-blast" --version 2>/dev/null | grep -qx "elastic-blast $ELB_VERSION"; then
  echo "==> installing elastic-blast $ELB_VERSION (PyPI, into $ELB_VENV)"
  python3 -m venv "$ELB_VENV"
  "$ELB_VENV/bin/python" -m pip install -q "elastic-blast==$ELB_VERSION"
fi
