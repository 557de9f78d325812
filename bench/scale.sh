#!/usr/bin/env bash
# Control-plane scale benchmark (issue 21): a local PostgreSQL (scripts/postgres-test-db.sh,
# loopback only), a fresh schema, then `neutrino lab bench-scale` (two servers on it,
# simulated agents, port creates at a steady rate, one server killed).
#   bench/scale.sh [--debug] [--hosts N] [--ports M] [--rate R] [--seconds S]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
profile=release
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) profile=debug ;;
        --hosts|--ports|--rate|--seconds) args+=("$1" "$2"); shift ;;
        *) echo "usage: $0 [--debug] [--hosts N] [--ports M] [--rate R] [--seconds S]" >&2; exit 2 ;;
    esac
    shift
done
if [ "$profile" = release ]; then cargo build -q --release -p neutrino; else cargo build -q -p neutrino; fi
base="$(scripts/postgres-test-db.sh)"
schema="bench_$(date +%s)_$$"
psql "$base" -qc "CREATE SCHEMA $schema"
cleanup() { psql "$base" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; }
trap cleanup EXIT
sep='?'; case "$base" in *\?*) sep='&' ;; esac
url="${base}${sep}options=-c%20search_path%3D${schema}"
"target/$profile/neutrino" lab --dir "/tmp/neutrino-bench-scale-$$" bench-scale --database-url "$url" "${args[@]}"
rm -rf "/tmp/neutrino-bench-scale-$$"
