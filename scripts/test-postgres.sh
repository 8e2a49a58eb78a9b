#!/usr/bin/env bash
# Start (idempotently) a throwaway PostgreSQL server with PostGIS on loopback for the test suite,
# and print its URL. The data directory lives under /tmp: the postgres user cannot enter a root-only checkout.
set -euo pipefail

port="${LAC_TEST_PG_PORT:-54329}"
datadir="/tmp/lac-test-pg-${port}"
bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -n "$bindir" ] || { echo "PostgreSQL is not installed (run: make system-deps)" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

if ! as_pg "'$bindir/pg_ctl' -D '$datadir' status" >/dev/null 2>&1; then
  if [ ! -f "$datadir/PG_VERSION" ]; then
    rm -rf "$datadir"
    mkdir -p "$datadir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$datadir"
    as_pg "'$bindir/initdb' -D '$datadir' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >/dev/null
  fi
  as_pg "'$bindir/pg_ctl' -D '$datadir' -l '$datadir/server.log' -w -t 60 start \
    -o \"-c listen_addresses=127.0.0.1 -p $port -k /tmp -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off -c max_connections=200\"" >/dev/null
fi

psql=("$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA)
if [ "$("${psql[@]}" -c "select 1 from pg_database where datname = 'lac_test'")" != 1 ]; then
  "${psql[@]}" -c "create database lac_test" >/dev/null
fi
"${psql[@]}" -d lac_test -c "set client_min_messages = warning; create extension if not exists postgis" >/dev/null
echo "postgresql+psycopg://postgres@127.0.0.1:${port}/lac_test"
