#!/usr/bin/env bash
# A private PostgreSQL (Debian's packages) on 127.0.0.1 for the test-suite; its cluster lives in DIR.
#   postgres.sh install          as root: apt-get install postgresql when missing (no daemon started)
#   postgres.sh start DIR PORT   initdb (once) + postgres on 127.0.0.1:PORT, trust auth on loopback,
#                                superuser and database "prefect"; prints one line
#                                DATABASE_URL=postgresql+asyncpg://prefect@127.0.0.1:PORT/prefect
#   postgres.sh stop DIR         stops the cluster of DIR; no error when not running
# Only that line goes to stdout, progress to stderr. Test use only: anyone on the machine may
# connect to the port without a password.
# PostgreSQL refuses to run as root: as root the cluster belongs to the "postgres" system user
# (created by the package), which must be able to reach DIR (e.g. a folder under /tmp).
set -euo pipefail

say() { echo "postgres.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

# The newest installed server's binaries (Debian keeps them out of PATH).
bindir() {
    local found
    found=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$found" ]; then dirname "$found"; return; fi
    found=$(command -v initdb 2>/dev/null) && dirname "$found"
    return 0 # nothing printed: not installed
}

cmd_install() {
    [ -n "$(bindir)" ] && return
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed; as root run: $0 install"
    # The package would start its default cluster: apt-install.sh keeps daemons from starting.
    "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" postgresql
}

# as_owner COMMAND...: runs COMMAND as the cluster's owner (postgres when we are root), from /.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

cmd_stop() {
    local dir=$1 data=$1/data bin pid i
    [ -s "$data/postmaster.pid" ] || return 0
    pid=$(head -n 1 "$data/postmaster.pid")
    grep -qa postgres "/proc/$pid/cmdline" 2>/dev/null || { rm -f "$data/postmaster.pid"; return 0; } # stale
    bin=$(bindir)
    if ! as_owner "$bin/pg_ctl" stop -D "$data" -m fast -w -t 30 >&2; then
        say "postgres ($pid) still running after 30 s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
}

cmd_start() {
    local dir port=$2 data bin
    bin=$(bindir)
    [ -n "$bin" ] || die "PostgreSQL is not installed; run (as root): $0 install"
    [[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number: $port"
    mkdir -p "$1"
    dir=$(cd "$1" && pwd -P)
    data=$dir/data
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' system user to run the server as (PostgreSQL refuses root)"
        chown postgres: "$dir"
        chmod 0700 "$dir"
        runuser -u postgres -- test -w "$dir" ||
            die "the postgres user cannot reach $dir (a parent folder is private); choose a folder under /tmp"
    fi
    cmd_stop "$dir"
    trap 'cmd_stop "$dir"' EXIT # a failed start leaves nothing running
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is already in use"; fi

    if [ ! -s "$data/PG_VERSION" ]; then
        say "initialising a cluster in $data"
        rm -rf "$data"
        as_owner "$bin/initdb" -D "$data" --username=prefect --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 --no-instructions >"$dir/initdb.log" 2>&1 ||
            die "initdb failed; see $dir/initdb.log"
    fi
    say "starting postgres on 127.0.0.1:$port, log $dir/postgres.log"
    # TCP on loopback only, no unix socket; small and fast (test data only: no fsync).
    as_owner "$bin/pg_ctl" start -D "$data" -l "$dir/postgres.log" -w -t 60 -o \
        "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='' -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 \
         -c shared_buffers=32MB" </dev/null >&2 ||
        die "postgres did not start within 60 s; see $dir/postgres.log"
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 10 || die "postgres is not accepting connections; see $dir/postgres.log"
    if [ "$("$bin/psql" -h 127.0.0.1 -p "$port" -U prefect -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'prefect'")" != 1 ]; then
        "$bin/createdb" -h 127.0.0.1 -p "$port" -U prefect prefect
    fi
    trap - EXIT
    echo "DATABASE_URL=postgresql+asyncpg://prefect@127.0.0.1:$port/prefect"
}

case "${1:-}" in
install) cmd_install ;;
start) [ $# = 3 ] || die "usage: $0 start DIR PORT"; cmd_start "$2" "$3" ;;
stop) [ $# = 2 ] || die "usage: $0 stop DIR"; if [ -d "$2" ]; then cmd_stop "$(cd "$2" && pwd -P)"; fi ;;
*) die "usage: $0 install | start DIR PORT | stop DIR" ;;
esac
