#!/usr/bin/env bash
# Install Debian's Chromium for the browser test of the REST service page
# (tests/test_browser.py drives it with the python `playwright` package, executable
# /usr/bin/chromium). Idempotent: does nothing when Chromium is already installed.
# Never downloads a browser through playwright (`playwright install` is not used).
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ] && "$CHROMIUM" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1; then
    echo "chromium present: $("$CHROMIUM" --version 2>/dev/null)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get not found: install Chromium with your system's package manager (expected at $CHROMIUM)" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-liberation
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null)"
