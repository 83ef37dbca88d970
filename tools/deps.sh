#!/bin/sh
# Installs what dunnd needs, and only what is missing.  Runs on a bare
# Debian 12 that has nothing but apt and make.
#
#   tools/deps.sh          to build and run (make deps, make run)
#   tools/deps.sh test     also the tools the tests call (make test)
#
# Tools some tests use but that are not installed here (systemd-analyze,
# promtool, clang) make those tests skip with a message saying which
# package brings them.
set -e
pkgs="gcc libc6-dev pkg-config tzdata python3 \
    libev-dev libsqlite3-dev libconfig-dev libsystemd-dev libjansson-dev \
    libcmocka-dev libsodium-dev libcurl4-openssl-dev"
# jq: the README's feed examples (the walkthrough test runs them);
# groff-base, mandoc: the man pages are linted with both.
[ "$1" = test ] && pkgs="$pkgs jq groff-base mandoc"
need=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
	    need="$need $p"
done
[ -z "$need" ] && exit 0
echo "deps: installing$need"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends $need
