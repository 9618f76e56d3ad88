#!/bin/sh
# Installs Debian's iptables package when there is no iptables command: the end-to-end tests of
# App Mesh's iptables layout (tests/e2e/netns.py) redirect traffic inside a network namespace of
# their own, as App Mesh did in a task. Those tests skip without root; so does this script (it
# needs root for apt-get), quietly. A no-op once installed.
set -eu
if command -v iptables >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    exit 0
fi
echo "ensure_iptables: installing Debian's iptables package" >&2
install_iptables() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iptables >/dev/null
}
# Package lists are refreshed only when the install cannot proceed without them (slow, needs network).
if ! install_iptables 2>/dev/null; then
    apt-get update -q >/dev/null
    install_iptables
fi
command -v iptables >/dev/null
