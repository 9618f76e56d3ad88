#!/bin/sh
# Installs Debian's chromium package when no Chromium is on PATH (the console's browser tests need
# one; they drive it headless over the DevTools protocol). Needs root (apt-get); a no-op otherwise.
set -eu
for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
        exit 0
    fi
done
if [ "$(id -u)" != 0 ]; then
    echo "ensure_chromium: no chromium on PATH and not root: install Debian's 'chromium' package" >&2
    exit 1
fi
echo "ensure_chromium: installing Debian's chromium package" >&2
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
