#!/usr/bin/env bash
# Installs the npm packages of the console's browser tests (tests/console/package-lock.json:
# playwright-core, pinned) into tests/console/node_modules with `npm ci`, only when they are
# missing or the lock file changed since the last install (a stamp inside node_modules holds the
# lock's digest). Browsers are never downloaded: the tests drive Debian's /usr/bin/chromium
# (scripts/deps.sh installs it, node and npm). ctest runs this once before the console tests
# (fixture console_deps); it is safe to run by hand or concurrently.
set -euo pipefail

DIR="$(cd "$(dirname "$0")/../tests/console" && pwd)"
LOCK="$DIR/package-lock.json"
STAMP="$DIR/node_modules/.jobengine-lock.sha256"

for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "console_deps: $tool is not installed (run: bash scripts/deps.sh)" >&2
    exit 1
  }
done

want="$(sha256sum "$DIR/package.json" "$LOCK" | sha256sum | cut -d' ' -f1)"
exec 9>"$DIR/.console_deps.lock"
flock 9
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

echo "console_deps: npm ci in $DIR (node $(node --version), npm $(npm --version))" >&2
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: belt and braces; playwright-core downloads nothing itself.
if ! (cd "$DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --no-progress); then
  echo "console_deps: npm ci failed: the npm registry must be reachable for the first install" >&2
  exit 1
fi
echo "$want" >"$STAMP"
