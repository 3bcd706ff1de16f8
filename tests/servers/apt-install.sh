#!/usr/bin/env bash
# apt-install.sh PACKAGE...: installs Debian packages (as root) with every daemon kept from
# starting, since the tests and benchmarks start their own servers. A policy-rc.d that says
# "no" stands during the install; one that was there before is put back, also on failure.
set -euo pipefail

POLICY=/usr/sbin/policy-rc.d
[ $# -gt 0 ] || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "apt-install.sh: as root run: $0 $*" >&2; exit 1; }
if [ -e "$POLICY" ]; then mv "$POLICY" "$POLICY.apt-install"; fi
trap 'rm -f "$POLICY"; if [ -e "$POLICY.apt-install" ]; then mv "$POLICY.apt-install" "$POLICY"; fi' EXIT
trap 'exit 130' INT TERM
printf '#!/bin/sh\nexit 101\n' >"$POLICY"
chmod +x "$POLICY"
echo "apt-install.sh: installing $*" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
