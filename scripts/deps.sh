#!/usr/bin/env bash
# Installs the Debian 12 packages JobEngine needs to build, run and test.
# Idempotent: when everything is present it only asks dpkg and returns.
set -euo pipefail

PKGS=(
  gcc make cmake ninja-build pkg-config clang-format
  clang libclang-rt-14-dev
  libmicrohttpd-dev libgnutls28-dev libjansson-dev libssl-dev libsqlite3-dev
  libcurl4-openssl-dev uuid-dev libcmocka-dev libpq-dev
  sqlite3 curl python3 python3-jwt python3-cryptography
  postgresql-15 postgresql-client-15 python3-psycopg2
  chromium fonts-dejavu-core
  dpkg-dev binutils adduser systemd
  groff-base man-db zsh
)
# The console's browser tests (tests/console) run under node with npm's playwright-core
# (scripts/console_deps.sh). A machine with NodeSource's `nodejs` has npm inside it, and Debian's
# `npm` conflicts with it: Debian's `nodejs` and `npm` are installed only when node or npm is
# missing.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if dpkg-query -W -f='${Version}' nodejs 2>/dev/null | grep -q nodesource; then
    echo "deps: NodeSource's nodejs is installed but node or npm is not on PATH" >&2
    exit 1
  fi
  PKGS+=(nodejs npm)
fi
[ "${1:-}" = "--bench" ] && PKGS+=(wrk nginx-light redis-server openssl postgresql-contrib)

missing=()
for p in "${PKGS[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
