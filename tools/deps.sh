#!/bin/sh
# Installs what dunnd needs to build and test, and only what is missing.
# Runs on a bare Debian 12 that has nothing but apt and make.
set -e
need=""
for p in gcc libc6-dev pkg-config tzdata python3 \
    libev-dev libsqlite3-dev libconfig-dev libsystemd-dev libjansson-dev \
    libcmocka-dev libcurl4-openssl-dev libsodium-dev; do
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
