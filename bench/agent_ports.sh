#!/usr/bin/env bash
# Control-plane benchmark on the lab: create N ports (default 1,000) bound across
# the two computes and time until all are ACTIVE (tap plugged, flows in place),
# against the API alone creating them; then restart one compute's agent and time
# its re-sync with those ports (it must change nothing on the switch).
# Everything runs in the lab's namespaces (prefix nbench); needs root.
#   bench/agent_ports.sh [--debug] [--count N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
profile=release
count=1000
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) profile=debug ;;
        --count) count="$2"; shift ;;
        *) echo "usage: $0 [--debug] [--count N]" >&2; exit 2 ;;
    esac
    shift
done
scripts/install-deps.sh
if [ "$profile" = release ]; then cargo build -q --release -p neutrino; else cargo build -q -p neutrino; fi
bin="target/$profile/neutrino"
prefix=nbench
cleanup() { "$bin" lab down --prefix "$prefix" >/dev/null 2>&1 || true; }
trap cleanup EXIT
"$bin" lab down --prefix "$prefix" >/dev/null 2>&1 || true
"$bin" lab up --prefix "$prefix" >/dev/null
"$bin" lab bench-ports --prefix "$prefix" --count "$count"
