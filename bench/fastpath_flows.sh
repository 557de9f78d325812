#!/usr/bin/env bash
# The kernel fast path with many flows and many kernel entries (issue 22): one TCP
# stream VM1 -> VM2 across two hosts over VXLAN (`lab pair up --kind neutrino-vxlan
# --vm-ports veth`: Neutron's br-int/br-tun, VMs on veth ports), with
#   FLOWS  extra OpenFlow flows in each host's br-int table 0 (priority 1, IPv4 to
#          addresses no VM has: they never match, but the engine holds them), and
#   ENTRIES extra kernel entries, made just before the stream by that many UDP
#          datagrams from VM1 to VM2, each from its own source port (each one a
#          miss, an upcall and an install on both hosts; entries live 10 s idle,
#          the stream runs within that). One more flow in every case,
#          `udp,tp_src=1` (never matched), makes every UDP decision read the
#          source port, so each datagram gets its own wildcarded entry (without
#          it they would all share one).
# for FLOWS in 10, 1,000, 100,000 and ENTRIES in 0 and 10,000, RUNS times each
# (interleaved; median reported). Prints Gbps per case, the kernel entries seen on
# H1 during the stream, and each case's ratio to (10 flows, 0 entries).
#
# Usage (as root): bench/fastpath_flows.sh [--runs N] [--time SECONDS]
# Env: NEUTRINO_BIN (default <repo>/target/release/neutrino, built if missing).
# Everything lives in namespaces named nf<pid>*, removed on exit.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=3
DURATION=5
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS=$2; shift ;;
        --time) DURATION=$2; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
die() { echo "error: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces)"
command -v iperf3 >/dev/null || die "iperf3 not found: install the Debian package iperf3"

NEUTRINO_BIN=${NEUTRINO_BIN:-$REPO/target/release/neutrino}
if [ ! -x "$NEUTRINO_BIN" ]; then
    (cd "$REPO" && cargo build --release -p neutrino) || die "cargo build failed"
fi

P="nf$$"
WORK=$(mktemp -d)
PAIR_DIR=""
SERVER_PID=""
teardown() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    [ -n "$PAIR_DIR" ] && "$NEUTRINO_BIN" lab pair down --prefix "$P" --dir "$PAIR_DIR" >/dev/null 2>&1 || true
    PAIR_DIR=""
    SERVER_PID=""
}
trap 'teardown; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

flows_file() {  # count: never-matching IPv4 flows for br-int table 0
    python3 - "$1" <<'EOF'
import sys
n = int(sys.argv[1])
print("table=0,priority=1,udp,tp_src=1,actions=drop")
for i in range(n):
    print(f"table=0,priority=1,ip,nw_dst=10.{200 + i // 65536}.{i // 256 % 256}.{i % 256},actions=drop")
EOF
}

# Twice over, paced: a burst of upcalls larger than the upcall TAP's queue loses
# some (their flows go up again with their next packet, as the second pass's do).
SPRAY_PY='
import socket, sys, time
dst, n = sys.argv[1], int(sys.argv[2])
for _ in range(2):
    for i, port in enumerate(range(20000, 20000 + n)):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("", port))
        s.sendto(b"x", (dst, 9))
        s.close()
        if i % 500 == 499:
            time.sleep(0.02)
'

RESULTS="$WORK/results"
: >"$RESULTS"
for run in $(seq "$RUNS"); do
    for flows in 10 1000 100000; do
        for entries in 0 10000; do
            PAIR_DIR="$WORK/pair-$flows-$entries-$run"
            "$NEUTRINO_BIN" lab pair up --prefix "$P" --dir "$PAIR_DIR" --kind neutrino-vxlan \
                --vm-ports veth >"$WORK/pair.json"
            v1="${P}v1"
            v2="${P}v2"
            vm2_ip=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vms"][1]["ip"])' "$WORK/pair.json")
            flows_file "$flows" >"$WORK/flows.txt"
            for h in h1 h2; do
                "$NEUTRINO_BIN" switch --run-dir "$PAIR_DIR/$h" add-flows br-int "$WORK/flows.txt" >/dev/null
            done
            ip netns exec "$v1" ping -q -c 3 -i 0.2 "$vm2_ip" >/dev/null || die "no ping on $flows/$entries"
            ip netns exec "$v2" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
            SERVER_PID=$!
            [ "$entries" = 0 ] || ip netns exec "$v1" python3 -c "$SPRAY_PY" "$vm2_ip" "$entries"
            sleep 0.3
            gbps=$(ip netns exec "$v1" iperf3 -c "$vm2_ip" -p 5201 -t "$DURATION" -J \
                | python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))')
            seen=$("$NEUTRINO_BIN" switch --run-dir "$PAIR_DIR/h1" dump-datapath \
                | sed -n '1s/^kernel fast path: \([0-9]*\) entries.*/\1/p')
            echo "$flows $entries $gbps $seen" >>"$RESULTS"
            echo "  run $run: $flows flows, $entries entries: $gbps Gbps ($seen kernel entries on H1)" >&2
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=""
            teardown
        done
    done
done

python3 - "$RESULTS" "$RUNS" "$DURATION" <<'EOF'
import statistics, sys
path, runs, duration = sys.argv[1:4]
vals = {}
for line in open(path):
    f, e, g, seen = line.split()
    vals.setdefault((int(f), int(e)), []).append((float(g), int(seen or 0)))
base = statistics.median(g for g, _ in vals[(10, 0)])
print(f"\nOne TCP stream VM1 -> VM2 across hosts (fast path), {duration} s, medians of {runs} runs")
print(f"{'flows':>8} {'entries':>8} {'Gbps':>8} {'kernel entries':>15} {'vs 10/0':>8}")
for (f, e), xs in sorted(vals.items()):
    g = statistics.median(x for x, _ in xs)
    s = statistics.median(x for _, x in xs)
    print(f"{f:>8} {e:>8} {g:>8.3f} {s:>15.0f} {g / base:>8.2f}")
EOF
