#!/bin/sh
# Installs Debian's postgresql package when no PostgreSQL server binaries are present (the tests
# start their own server from /usr/lib/postgresql/<version>/bin, in a temporary directory, on a free
# port: tests/pgserver.py). Never starts a server. Needs root (apt-get); a no-op once installed.
set -eu
for initdb in /usr/lib/postgresql/*/bin/initdb; do
    if [ -x "$initdb" ]; then
        exit 0
    fi
done
if [ "$(id -u)" != 0 ]; then
    echo "ensure_postgresql: no /usr/lib/postgresql/*/bin/initdb and not root: install Debian's 'postgresql' package" >&2
    exit 1
fi
echo "ensure_postgresql: installing Debian's postgresql package" >&2
# The package's scripts would start its default cluster (port 5432) through invoke-rc.d; a
# policy-rc.d that denies every start keeps them from it (Docker images ship one already).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    trap 'rm -f "$policy"' EXIT
    trap 'exit 130' INT TERM
    printf '#!/bin/sh\n# ensure_postgresql.sh: no service starts while it installs postgresql\nexit 101\n' >"$policy"
    chmod 755 "$policy"
fi
install_postgresql() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null
}
# Package lists are refreshed only when the install cannot proceed without them (slow, needs network).
if ! install_postgresql 2>/dev/null; then
    apt-get update -q >/dev/null
    install_postgresql
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null
