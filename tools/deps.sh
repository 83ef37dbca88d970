#!/bin/sh
# Installs what dunnd needs to build and test, and only what is missing.
# Runs on a bare Debian 12 that has nothing but apt and make.
# `sh tools/deps.sh test` also installs the test-deps: tools that only tests
# use (`make test` skips, saying so, what needs a missing one).
set -e
build_deps="gcc libc6-dev pkg-config tzdata python3 \
    libev-dev libsqlite3-dev libconfig-dev libsystemd-dev libjansson-dev \
    libcmocka-dev"
test_deps="groff-base mandoc"	# man pages linted by test_packaging.py
want="$build_deps"
[ "${1:-}" = test ] && want="$want $test_deps"
need=""
for p in $want; do
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
