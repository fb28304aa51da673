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

# The independent installs run side by side (a fresh CI machine spends most of its set-up time waiting
# on downloads): each writes its own log, and any failure stops the script with that log shown.
LOGS="$(mktemp -d)"
pids=()
names=()
in_background() {  # name, command...
  local name="$1"; shift
  ( "$@" ) >"$LOGS/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}
wait_all() {
  local failed=0 i
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      echo "error: installing ${names[$i]} failed:" >&2
      cat "$LOGS/${names[$i]}.log" >&2
      failed=1
    else
      cat "$LOGS/${names[$i]}.log"
    fi
  done
  rm -rf "$LOGS"
  [ $failed = 0 ] || exit 1
}

# uv installs the Python packages: the same resolution as pip here, in seconds instead of minutes.
# --compile-bytecode, as pip does by default: where PYTHONDONTWRITEBYTECODE is set (CI machines), nothing
# else ever writes .pyc files, and every Python process (the Prefect server, each flow run, each
# elastic-blast call) would compile its imports from source again: minutes over the test suite.
UV="$VENV/bin/uv"
bootstrap_uv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtualenv $VENV"
    python3 -m venv "$VENV"
  fi
  [ -x "$UV" ] || "$VENV/bin/python" -m pip install -q uv
}

install_blastflow() {
  local stamp="$VENV/.blastflow-installed"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "==> installing blastflow and its dependencies"
    "$UV" pip install -q --compile-bytecode --python "$VENV/bin/python" -e ".[dev]"
    "$VENV/bin/python" -m compileall -q blastflow flows tasks ops ui >/dev/null  # ours too (editable install)
    touch "$stamp"
  fi
}

install_azurite() {
  echo "==> installing Azurite (npm, into ./node_modules)"
  npm ci --no-audit --no-fund --loglevel=error
}

# The real ElasticBLAST CLI for the elastic-blast backend's tests, in a virtualenv of its own: its
# dependency pins (boto3, google-cloud-*, awslimitchecker …) must not touch ours.
ELB_VENV="${ELB_VENV:-.venv-elb}"
ELB_VERSION=1.5.0
install_elastic_blast() {
  echo "==> installing elastic-blast $ELB_VERSION (PyPI, into $ELB_VENV)"
  python3 -m venv "$ELB_VENV"
  "$UV" pip install -q --compile-bytecode --python "$ELB_VENV/bin/python" "elastic-blast==$ELB_VERSION"
}

bootstrap_uv
missing=()
command -v blastn >/dev/null || missing+=(ncbi-blast+)
[ $want_test = 1 ] && ! command -v chromium >/dev/null && missing+=(chromium)
[ ${#missing[@]} -gt 0 ] && in_background apt apt_install "${missing[@]}"
if [ $want_test = 1 ] && [ ! -x node_modules/.bin/azurite-table ]; then
  in_background azurite install_azurite
fi
if [ $want_test = 1 ] && ! "$ELB_VENV/bin/elastic-blast" --version 2>/dev/null | grep -qx "elastic-blast $ELB_VERSION"; then
  in_background elastic-blast install_elastic_blast
fi
in_background blastflow install_blastflow
wait_all
