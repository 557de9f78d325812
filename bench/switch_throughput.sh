#!/usr/bin/env bash
# Switch throughput/latency bench: VM -> VM across two "hosts" (network
# namespaces joined by a veth underlay 192.168.100.1/2), measured in one run:
#   fp-vxlan        neutrino switchd per host (br-int/br-tun, Neutron flows) with
#                   the VMs on veth ports: the kernel fast path (tc eBPF, the
#                   default a user gets) carries each flow after its first packet,
#                   VXLAN through switchd's external vxlan device
#   fp-same-host    two VMs on veth ports of one switchd's br-int, fast path
#   neutrino-vxlan  the user-space path (--fast-path off, VMs on TAPs): switchd
#                   per host (br-int/br-tun, Neutron flows);
#                   TCP super-frames go out the uplink TAP with the kernel's GSO
#                   over UDP tunnels (Linux 6.17+) when the kernel has it
#   neutrino-vxlan-sw  the same with --vxlan-uplink off: software segmentation
#                   and sendmmsg (the path on older kernels)
#   neutrino-vxlan-poll  the same with poll threads that never sleep once
#                   traffic has come (`--poll-spin-us always`: a core each)
#   neutrino-gre    same over GRE (only with --gre)
#   kernel-vxlan    Linux vxlan device (VNI 100) + Linux bridge + veth per host
#   veth            a plain veth pair between the two VM namespaces (ceiling)
#   same-host       two VMs on one neutrino br-int (NORMAL), against veth
#   same-host-pinned  the same with the poll thread pinned to the last CPU
#                   (`switchd --poll-cpus`; only when named in --only)
#   relay-vxlan     a userspace switch on TAPs doing no work, for TCP: a bare relay per
#                   host (crates/switchd/examples/tap_relay.rs) through the kernel
#                   interfaces switchd uses for TCP (VM TAP, uplink TAP, UDP_GRO
#                   socket), one write per frame, no switching at all; against it,
#                   neutrino-vxlan shows what switchd's own work costs (not for 64-byte
#                   UDP)
#   relay-same-host the same between two VMs' TAPs on one host, against same-host
#                   (switchd's NEUTRINO_* settings do not apply to the relay)
# Runs are interleaved (run 1 of every path, then run 2 ...; each path's topology
# built afresh per run) so a slow spell of this shared machine does not fall on one
# path only. Each path, RUNS times (median reported): iperf3 TCP one stream and 8 parallel
# streams (server in VM2, client in VM1), 64-byte UDP packets per second, ping
# avg RTT, a new flow's first packet (median of five single pings, each a new
# ICMP connection) and TCP request/response (1 byte each way) latency; during the one
# stream, the whole machine's busy cores (/proc/stat) give Gbps per core.
# Then (with cargo) `cargo bench -p host --bench wake_latency` measures what waking
# a process asleep 50 ms costs here, and the report prints the ping ratio that
# path would have if a switch that sleeps added nothing but its wake-ups.
# Prints a table and the ratios neutrino/kernel and neutrino/veth.
#
# With --hops (or --hops-interval SECONDS, default 0.05) nothing above is measured:
# each path instead pings VM1 -> VM2 40 times with tcpdump on both VMs' NICs and
# both ends of the underlay, and prints how long the request and the reply spent
# between each pair of capture points (median and least, in us): where a round
# trip's time goes.
#
# Usage (as root): bench/switch_throughput.sh [--gre] [--time SECONDS] [--runs N] [--keep-logs]
#          [--hops | --hops-interval SECONDS]
#          [--only fp-vxlan,fp-same-host,vxlan,vxlan-sw,vxlan-poll,gre,kernel,relay-vxlan,same-host,
#                  same-host-pinned,relay-same-host,veth]
# Env:   NEUTRINO_BIN (default: <repo>/target/release/neutrino; built with
#        `cargo build --release -p neutrino` if missing); RELAY_BIN (default: the
#        relay example, built with cargo each run that has a relay row); switchd's own NEUTRINO_*
#        options (NEUTRINO_POLL_THREADS, NEUTRINO_POLL_SPIN_US, ...) apply to every
#        switchd started, except what a row sets itself; the report names them
#
# Everything lives in namespaces named nb<pid>*; nothing touches the root
# namespace. All of it is torn down on exit (processes killed by PID). Every path's
# namespaces, cables and switchds (hosts, underlay, switchds wired as Neutron's agent
# would, VMs; for the relay rows the hosts and empty VM namespaces, the relay making
# the TAPs) are built by `neutrino lab pair up --kind ...` and removed by `neutrino
# lab pair down`: the lab crate's harness, which the integration tests use. This
# script starts only the relay and what measures.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=10
RUNS=3
WITH_GRE=0
ONLY=""
KEEP_LOGS=0
HOPS=0
HOPS_INTERVAL=0.05
while [ $# -gt 0 ]; do
    case "$1" in
        --gre) WITH_GRE=1 ;;
        --time) DURATION=$2; shift ;;
        --runs) RUNS=$2; shift ;;
        --keep-logs) KEEP_LOGS=1 ;;
        --only) ONLY=",$2,"; shift ;;
        --hops) HOPS=1 ;;
        --hops-interval) HOPS=1; HOPS_INTERVAL=$2; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

die() { echo "error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces)"
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: install the Debian package $2"; }
need ip iproute2
need ss iproute2
need ping iputils-ping
need iperf3 iperf3
need python3 python3
[ "$HOPS" = 0 ] || need tcpdump tcpdump

NEUTRINO_BIN=${NEUTRINO_BIN:-$REPO/target/release/neutrino}
if [ ! -x "$NEUTRINO_BIN" ]; then
    echo "building neutrino (release): $NEUTRINO_BIN missing" >&2
    (cd "$REPO" && cargo build --release -p neutrino) || die "cargo build failed"
    [ -x "$NEUTRINO_BIN" ] || die "$NEUTRINO_BIN still missing after build"
fi

wanted() { [ -z "$ONLY" ] || [[ "$ONLY" == *",$1,"* ]]; }
if wanted relay-vxlan || wanted relay-same-host; then
    if [ -z "${RELAY_BIN:-}" ]; then
        # Built every time (nothing to do when up to date), as the user who ran sudo.
        RELAY_BIN=$REPO/target/release/examples/tap_relay
        build="cd '$REPO' && cargo build -q --release -p switchd --example tap_relay"
        if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
            build="sudo -u '$SUDO_USER' -H bash -lc \"$build\""
        fi
        bash -c "$build" || die "cargo build of the bench's relay failed"
    fi
    [ -x "$RELAY_BIN" ] || die "no relay at $RELAY_BIN"
fi

P="nb$$"                      # prefix of every namespace/interface (<= 15 bytes)
# The names and address `neutrino lab pair up` gives hosts and VMs (VM MTU 1450 on
# every path, for a fair comparison).
H1="${P}h1"; H2="${P}h2"; V1="${P}v1"; V2="${P}v2"
VM2_IP=10.0.0.4
WORK=$(mktemp -d /tmp/ntbench.XXXXXX)
RESULTS="$WORK/results"
: > "$RESULTS"

# ---- teardown ---------------------------------------------------------------
# Each scenario runs in a subshell that records the PIDs it starts in
# $WORK/pids and tears itself down; this is the last-resort cleanup.
kill_recorded() {  # only PIDs a scenario did not reap, and only if still ours
    [ -f "$WORK/pids" ] || return 0
    local pid
    while read -r pid; do
        [ -n "$pid" ] || continue
        if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -e "${RELAY_BIN:-tap_relay}" -e iperf3; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done < "$WORK/pids"
    : > "$WORK/pids"
}
pairs_down() {  # every pair still up (a scenario killed before its teardown, or
    local d     # during `pair up`: `down` then removes the namespaces by name)
    for d in "$WORK"/pair-*; do
        [ -d "$d" ] || continue
        "$NEUTRINO_BIN" lab pair down --prefix "$P" --dir "$d" || true
    done
}
final_cleanup() {
    local rc=$?
    kill_recorded
    pairs_down
    if [ "$KEEP_LOGS" = 1 ] || [ "$rc" != 0 ]; then
        echo "logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap final_cleanup EXIT
trap 'exit 130' INT TERM

# ---- building blocks (used inside scenario subshells, with set -e) ------------
SCENARIO_PIDS=()
PAIR_DIR=""
scenario_teardown() {  # the relay and the measuring processes first, then the pair
    local pid
    for pid in "${SCENARIO_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in "${SCENARIO_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    : > "$WORK/pids"   # all reaped: nothing for the final cleanup to kill
    if [ -n "$PAIR_DIR" ]; then
        "$NEUTRINO_BIN" lab pair down --prefix "$P" --dir "$PAIR_DIR" || true
    fi
}
track() { SCENARIO_PIDS+=("$1"); echo "$1" >> "$WORK/pids"; }

pair_up() {  # kind [switchd options...]: the scenario's hosts and VMs (lab pair up);
             # VM_PORTS=veth puts the VMs on veth ports (the fast path's kind)
    PAIR_DIR="$WORK/pair-$SCENARIO_NAME-$RUN_NO"
    local args=() a
    for a in "${@:2}"; do args+=("--switchd-arg=$a"); done
    "$NEUTRINO_BIN" lab pair up --prefix "$P" --dir "$PAIR_DIR" --kind "$1" \
        --vm-ports "${VM_PORTS:-tap}" "${args[@]}" >/dev/null
}

pair_get() {  # list index field: one value of the pair's pair.json (`vms 0 nic`)
    python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))[sys.argv[2]][int(sys.argv[3])][sys.argv[4]])' \
        "$PAIR_DIR/pair.json" "$@"
}

start_relay() {  # host-ns relay-args...  (waits until it says it is ready)
    local ns=$1 log i pid
    shift
    log="$WORK/relay-$ns-$RUN_NO.log"
    ip netns exec "$ns" "$RELAY_BIN" "$@" >"$log" 2>&1 &
    pid=$!
    track "$pid"
    for i in $(seq 100); do
        grep -qx ready "$log" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log" >&2
    die "the relay in $ns is not ready"
}

wait_ping() {  # from-ns ip
    local deadline=$((SECONDS + 10))
    until ip netns exec "$1" ping -c 3 -W 1 -i 0.2 "$2" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "$1 cannot ping $2 within 10 s"
    done
}

# TCP request/response: 1 byte each way over one connection, mean microseconds.
RR_PY='
import socket, sys, time
if sys.argv[1] == "server":
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", 5202)); l.listen(1); c, _ = l.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        b = c.recv(1)
        if not b: break
        c.sendall(b)
else:
    c = socket.create_connection((sys.argv[2], 5202)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    n = 3000
    for _ in range(200): c.sendall(b"x"); c.recv(1)
    t = time.perf_counter()
    for _ in range(n): c.sendall(b"x"); c.recv(1)
    print("%.1f" % ((time.perf_counter() - t) / n * 1e6))
'

iperf_server() {  # starts a one-shot iperf3 server in VM2 and waits for it
    ip netns exec "$V2" iperf3 -s -1 -p 5201 >>"$WORK/iperf-server.log" 2>&1 &
    track "$!"
    local i
    for i in $(seq 50); do
        ip netns exec "$V2" ss -Hltn 'sport = :5201' 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
}

record() { echo "$1 $2 $3" >> "$RESULTS"; }  # path metric value

gbps_of() {  # iperf3 json
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.3f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' "$1"
}

cpu_jiffies() {  # the whole machine's "busy total" jiffies, from /proc/stat
    awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat
}

HOPS_PY='
import collections, statistics, struct, sys
def frames(path):
    data = open(path, "rb").read()
    nano = struct.unpack("<I", data[:4])[0] == 0xA1B23C4D
    at = 24
    while at + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack("<IIII", data[at:at + 16])
        at += 16
        yield sec + frac / (1e9 if nano else 1e6), data[at:at + caplen]
        at += caplen
def echo(f):
    """(ICMP type, sequence) of an echo in an Ethernet frame, through VXLAN or GRE."""
    if len(f) < 34 or f[12:14] != b"\x08\x00":
        return None
    ip = f[14:]
    ihl, proto = (ip[0] & 15) * 4, ip[9]
    l4 = ip[ihl:]
    if proto == 1 and len(l4) >= 8 and l4[0] in (0, 8):
        return l4[0], struct.unpack("!H", l4[6:8])[0]
    if proto == 17 and len(l4) >= 16 and struct.unpack("!H", l4[2:4])[0] == 4789:
        return echo(l4[16:])
    if proto == 47 and len(l4) >= 4 and l4[2:4] == b"\x65\x58":
        flags = l4[0]
        return echo(l4[4 + 4 * bin(flags & 0xB0).count("1"):])
    return None
points = [a.split("=", 1) for a in sys.argv[1:]]
seen = collections.defaultdict(dict)
for label, path in points:
    for t, f in frames(path):
        e = echo(f)
        if e and label not in seen[e]:
            seen[e][label] = t
order = [("request", 8, p) for p, _ in points] + [("reply", 0, p) for p, _ in reversed(points)]
hops = collections.defaultdict(list)
for seq in sorted({s for _, s in seen}):
    times = [seen[(ty, seq)].get(p) for _, ty, p in order]
    if None in times:
        continue
    for i in range(1, len(order)):
        hops[i].append((times[i] - times[i - 1]) * 1e6)
    hops[0].append((times[-1] - times[0]) * 1e6)
if not hops:
    sys.exit("no echo seen at every capture point")
print(f"    {len(hops[0])} round trips seen at every point; us, median (least)")
for i in range(1, len(order)):
    (wa, _, pa), (wb, _, pb) = order[i - 1], order[i]
    what = wa if wa == wb else "turn"
    print(f"    {what:<8} {pa:>12} -> {pb:<12} {statistics.median(hops[i]):8.1f} ({min(hops[i]):.1f})")
whole = statistics.median(hops[0])
print("    " + "round trip".ljust(34) + f"{whole:8.1f} ({min(hops[0]):.1f})")
'

trace_hops() {  # name: pings VM1 -> VM2 with tcpdump at every capture point
    local name=$1 ns ifc label pid k=0 args=() dumps=()
    wait_ping "$V1" "$VM2_IP"
    for ns in "$V1" "$H1" "$H2" "$V2"; do
        case $ns in
            "$H1") ifc="${P}u1"; label=host1 ;;
            "$H2") ifc="${P}u2"; label=host2 ;;
            "$V1") label=vm1; ifc=$(ip -n "$ns" -o link show | awk -F': ' '$2 != "lo" { sub(/@.*/, "", $2); print $2; exit }') ;;
            *) label=vm2; ifc=$(ip -n "$ns" -o link show | awk -F': ' '$2 != "lo" { sub(/@.*/, "", $2); print $2; exit }') ;;
        esac
        ip -n "$ns" link show "$ifc" >/dev/null 2>&1 || continue  # one host: no underlay
        k=$((k + 1))
        ip netns exec "$ns" tcpdump -i "$ifc" -n -U --time-stamp-precision=nano \
            -w "$WORK/$name.$RUN_NO.$k.pcap" 'icmp or udp port 4789 or ip proto 47' \
            2>"$WORK/$name.$RUN_NO.$k.log" &
        pid=$!
        track "$pid"
        dumps+=("$pid")
        args+=("$label=$WORK/$name.$RUN_NO.$k.pcap")
    done
    for k in $(seq 50); do
        [ "$(cat "$WORK/$name.$RUN_NO".*.log | grep -c listening)" = "${#dumps[@]}" ] && break
        sleep 0.1
    done
    ip netns exec "$V1" ping -q -c 40 -i "$HOPS_INTERVAL" "$VM2_IP" >/dev/null || die "ping failed on $name"
    # tcpdump is not in immediate mode (a wake-up per packet would slow the paths it
    # watches): the kernel hands it its buffer within 1 s (libpcap's timeout).
    sleep 1.5
    for pid in "${dumps[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
    for pid in "${dumps[@]}"; do wait "$pid" 2>/dev/null || true; done
    echo "$name run $RUN_NO, ping every $HOPS_INTERVAL s:"
    python3 -c "$HOPS_PY" "${args[@]}"
}

measure() {  # name  (VM1 -> VM2 at $VM2_IP; appends "name metric value" lines)
    local name=$1 run json v before after gbps
    if [ "$HOPS" = 1 ]; then
        trace_hops "$name"
        return
    fi
    wait_ping "$V1" "$VM2_IP"
    for run in $RUN_NO; do
        json="$WORK/$name.$run.tcp.json"
        iperf_server
        before=$(cpu_jiffies)
        ip netns exec "$V1" iperf3 -c "$VM2_IP" -p 5201 -t "$DURATION" -J >"$json" \
            || { cat "$json" >&2; die "iperf3 client failed on $name"; }
        after=$(cpu_jiffies)
        gbps=$(gbps_of "$json")
        record "$name" tcp "$gbps"
        # Efficiency: Gbps per busy core of the whole machine during the stream
        # (VMs, switchd, kernel), so a path that is only faster by burning more CPU
        # shows it.
        v=$(python3 -c 'import sys
b0, t0, b1, t1 = map(float, sys.argv[1:5])
cores = (b1 - b0) / max(t1 - t0, 1) * int(sys.argv[5])
print("%.3f" % (float(sys.argv[6]) / cores if cores > 0 else 0))' $before $after "$(nproc --all)" "$gbps")
        record "$name" tcp_per_core "$v"
        json="$WORK/$name.$run.tcp8.json"
        iperf_server
        ip netns exec "$V1" iperf3 -c "$VM2_IP" -p 5201 -t "$DURATION" -P 8 -J >"$json" \
            || { cat "$json" >&2; die "iperf3 -P 8 failed on $name"; }
        record "$name" tcp8 "$(gbps_of "$json")"
        json="$WORK/$name.$run.udp.json"
        iperf_server
        ip netns exec "$V1" iperf3 -c "$VM2_IP" -p 5201 -u -l 64 -b 0 -t 5 -J >"$json" \
            || { cat "$json" >&2; die "iperf3 -u failed on $name"; }
        v=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["end"]["sum"]; print("%.0f" % ((d["packets"]-d["lost_packets"])/d["seconds"]))' "$json")
        record "$name" udp64_pps "$v"
        v=$(ip netns exec "$V1" ping -q -c 20 -i 0.05 "$VM2_IP" \
            | awk -F'/' '/^(rtt|round-trip)/ { print $5 }')
        [ -n "$v" ] || die "no ping rtt on $name"
        record "$name" ping_ms "$v"
        # A flow's first packet: five single pings, each its own ICMP connection
        # (with the fast path: a miss, an upcall and an install on each host),
        # median round trip.
        v=$(for i in 1 2 3 4 5; do
                ip netns exec "$V1" ping -q -c 1 -W 1 "$VM2_IP" \
                    | awk -F'/' '/^(rtt|round-trip)/ { print $5 }'
                sleep 0.1
            done | sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }')
        [ -n "$v" ] || die "no first-packet rtt on $name"
        record "$name" first_ms "$v"
        ip netns exec "$V2" python3 -c "$RR_PY" server &
        track "$!"
        sleep 0.3
        v=$(ip netns exec "$V1" python3 -c "$RR_PY" client "$VM2_IP")
        record "$name" rr_us "$v"
        echo "  $name run $run: $(grep "^$name " "$RESULTS" | tail -7 | awk '{printf "%s=%s ", $2, $3}')" >&2
    done
}

# ---- scenarios ----------------------------------------------------------------
scenario_fp_vxlan() {
    SCENARIO_NAME=fp-vxlan
    VM_PORTS=veth pair_up neutrino-vxlan
    measure fp-vxlan
    "$NEUTRINO_BIN" switch --run-dir "$PAIR_DIR/h1" dump-datapath | head -1 | sed 's/^/  H1 /' >&2 || true
}

scenario_fp_same_host() {
    SCENARIO_NAME=fp-same-host
    VM_PORTS=veth pair_up same-host
    measure fp-same-host
}

scenario_neutrino() {  # vxlan|gre [uplink mode: auto|off] [poll]
    SCENARIO_NAME="neutrino-$1"
    # The user-space path: VMs on TAPs and no kernel fast path.
    export NEUTRINO_FAST_PATH=off
    export NEUTRINO_VXLAN_UPLINK=${2:-auto}
    [ "$NEUTRINO_VXLAN_UPLINK" = off ] && SCENARIO_NAME="$SCENARIO_NAME-sw"
    if [ "${3:-}" = poll ]; then
        # Poll threads that poll without end after light traffic (a core each).
        export NEUTRINO_POLL_SPIN_US=always
        SCENARIO_NAME="$SCENARIO_NAME-poll"
    fi
    pair_up "neutrino-$1"
    measure "$SCENARIO_NAME"
    "$NEUTRINO_BIN" switch --run-dir "$PAIR_DIR/h1" show \
        | grep -E '^(vxlan uplink|flow cache)' | sed 's/^/  H1 /' >&2 || true
}

scenario_kernel() {
    SCENARIO_NAME=kernel-vxlan
    pair_up kernel-vxlan
    measure kernel-vxlan
}

scenario_same_host() {  # [switchd options...]
    export NEUTRINO_FAST_PATH=off
    SCENARIO_NAME=neutrino-same-host
    [ $# -gt 0 ] && SCENARIO_NAME=neutrino-same-host-pinned
    pair_up same-host "$@"
    measure "$SCENARIO_NAME"
}

scenario_relay_vxlan() {  # the relay makes the VMs' TAPs the lab named
    SCENARIO_NAME=relay-vxlan
    pair_up relay-vxlan
    local n h
    for n in 0 1; do
        h=$([ "$n" = 0 ] && echo "$H1" || echo "$H2")
        start_relay "$h" vxlan "$(pair_get vms $n nic)" "$(pair_get vms $n ns)" \
            "$(pair_get vms $n mac)" "$(pair_get hosts $n ip)" "$(pair_get hosts $((1 - n)) ip)" 100
    done
    "$NEUTRINO_BIN" lab pair configure-vms --prefix "$P" --dir "$PAIR_DIR"
    measure relay-vxlan
}

scenario_relay_same_host() {
    SCENARIO_NAME=relay-same-host
    pair_up relay-same-host
    start_relay "$H1" pair "$(pair_get vms 0 nic)" "$V1" "$(pair_get vms 0 mac)" \
        "$(pair_get vms 1 nic)" "$V2" "$(pair_get vms 1 mac)"
    "$NEUTRINO_BIN" lab pair configure-vms --prefix "$P" --dir "$PAIR_DIR"
    measure relay-same-host
}

scenario_veth() {
    SCENARIO_NAME=veth
    pair_up veth
    measure veth
}

run_scenario() {  # function args...  (isolated in a subshell; failure recorded, not fatal)
    local rc
    echo "== $*" >&2
    set +e
    (
        set -e
        trap scenario_teardown EXIT
        trap 'exit 130' INT TERM
        "$@"
    )
    rc=$?
    set -e
    [ "$rc" = 130 ] && exit 130
    [ "$rc" = 0 ] || echo "  scenario '$*' FAILED (rc=$rc)" >&2
    return 0
}

LAST_CPU=$(python3 -c 'import os; print(max(os.sched_getaffinity(0)))')
for RUN_NO in $(seq "$RUNS"); do
    wanted fp-vxlan && run_scenario scenario_fp_vxlan
    wanted fp-same-host && run_scenario scenario_fp_same_host
    wanted vxlan && run_scenario scenario_neutrino vxlan
    wanted vxlan-sw && run_scenario scenario_neutrino vxlan off
    wanted vxlan-poll && run_scenario scenario_neutrino vxlan auto poll
    if { [ -z "$ONLY" ] && [ "$WITH_GRE" = 1 ]; } || [[ "$ONLY" == *",gre,"* ]]; then
        run_scenario scenario_neutrino gre
    fi
    wanted kernel && run_scenario scenario_kernel
    wanted relay-vxlan && run_scenario scenario_relay_vxlan
    wanted same-host && run_scenario scenario_same_host
    [[ "$ONLY" == *",same-host-pinned,"* ]] && run_scenario scenario_same_host --poll-cpus "$LAST_CPU"
    wanted relay-same-host && run_scenario scenario_relay_same_host
    wanted veth && run_scenario scenario_veth
done

[ "$HOPS" = 0 ] || exit 0  # --hops printed its tables as it went

# What waking a sleeping process costs on this machine after 50 ms idle (the ping
# interval): the floor of any path that must wake a thread per host crossed.
WAKE_US=""
if wanted kernel || wanted veth; then
    wake_bench="cd '$REPO' && cargo bench -q -p host --bench wake_latency -- quick"
    if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
        # As the user who ran sudo: target/ stays theirs, and so does their cargo.
        wake_bench="sudo -u '$SUDO_USER' -H bash -lc \"$wake_bench\""
    fi
    if bash -c "$wake_bench" >"$WORK/wake.log" 2>&1; then
        WAKE_US=$(sed -n 's/^wake_us .*same-cpu-50ms=\([0-9.]*\).*/\1/p' "$WORK/wake.log")
    fi
    [ -n "$WAKE_US" ] || { echo "note: the wake-up bench did not run (no ping floor):" >&2; tail -3 "$WORK/wake.log" >&2; }
fi
SWITCHD_ENV=$(env | grep -E '^NEUTRINO_(POLL_|VXLAN_UPLINK|FAST_PATH)' | sort | tr '\n' ' ' || true)

# ---- report -------------------------------------------------------------------
python3 - "$RESULTS" "$DURATION" "$RUNS" "$WAKE_US" "$SWITCHD_ENV" <<'EOF'
import statistics, sys
path, duration, runs, wake_us, switchd_env = sys.argv[1:6]
vals = {}
for line in open(path):
    name, metric, v = line.split()
    vals.setdefault(name, {}).setdefault(metric, []).append(float(v))
med = {n: {m: statistics.median(v) for m, v in ms.items()} for n, ms in vals.items()}
order = ["fp-vxlan", "fp-same-host", "neutrino-vxlan", "neutrino-vxlan-sw", "neutrino-vxlan-poll", "neutrino-gre", "kernel-vxlan", "relay-vxlan",
         "neutrino-same-host", "neutrino-same-host-pinned", "relay-same-host", "veth"]
metrics = [("tcp", "TCP Gbps"), ("tcp_per_core", "Gbps/core"), ("tcp8", "8xTCP Gbps"),
           ("udp64_pps", "UDP64 pps"), ("ping_ms", "ping ms"), ("first_ms", "1st pkt ms"),
           ("rr_us", "TCP RR us")]
print()
print(f"VM1 -> VM2, medians of {runs} runs: iperf3 TCP {duration} s (1 and 8 streams),")
print("64-byte UDP 5 s, ping -c 20 -i 0.05, TCP 1-byte request/response; VM MTU 1450;")
print("Gbps/core: the one-stream TCP rate per busy core of the whole machine")
if switchd_env.strip():
    print(f"switchd environment (every row but what a row sets): {switchd_env.strip()}")
print(f"{'path':<26}" + "".join(f"{h:>12}" for _, h in metrics))
for n in order:
    if n not in med:
        continue
    cells = []
    for m, _ in metrics:
        v = med[n].get(m)
        cells.append(f"{'-':>12}" if v is None else (f"{v:>12.0f}" if m == "udp64_pps" else f"{v:>12.3f}"))
    print(f"{n:<26}" + "".join(cells))
def ratio(a, b, m):
    if m in med.get(a, {}) and m in med.get(b, {}) and med[b][m] > 0:
        return f"{med[a][m] / med[b][m]:.2f}"
    return "n/a"
print()
print("ratios (throughput: higher is better; latency: lower is better)")
if "fp-vxlan" in med or "fp-same-host" in med:
    print(f"  {'metric':<11} {'fp-vxlan/kernel':>16} {'fp-same-host/veth':>18} {'fp-vxlan/vxlan':>15}")
    for m, h in metrics:
        print(f"  {h:<11} {ratio('fp-vxlan','kernel-vxlan',m):>16} {ratio('fp-same-host','veth',m):>18}"
              f" {ratio('fp-vxlan','neutrino-vxlan',m):>15}")
    print()
print(f"  {'metric':<11} {'vxlan/kernel':>13} {'vxlan-sw/kernel':>16} {'vxlan-poll/kernel':>18}"
      f" {'gre/vxlan':>10} {'same-host/veth':>15} {'pinned/veth':>12}")
for m, h in metrics:
    print(f"  {h:<11} {ratio('neutrino-vxlan','kernel-vxlan',m):>13} "
          f"{ratio('neutrino-vxlan-sw','kernel-vxlan',m):>16} "
          f"{ratio('neutrino-vxlan-poll','kernel-vxlan',m):>18} "
          f"{ratio('neutrino-gre','neutrino-vxlan',m):>10} {ratio('neutrino-same-host','veth',m):>15}"
          f" {ratio('neutrino-same-host-pinned','veth',m):>12}")
if "relay-vxlan" in med or "relay-same-host" in med:
    print()
    print("the relay (switching nothing, one write per frame): what these kernel")
    print("interfaces give a switch doing no work of its own, for TCP (not for small packets: it sends them one by one)")
    print(f"  {'metric':<11} {'relay/kernel':>13} {'vxlan/relay':>12} {'relay-same/veth':>16} {'same-host/relay':>16}")
    for m, h in metrics:
        if m == "udp64_pps":
            continue
        print(f"  {h:<11} {ratio('relay-vxlan','kernel-vxlan',m):>13} {ratio('neutrino-vxlan','relay-vxlan',m):>12}"
              f" {ratio('relay-same-host','veth',m):>16} {ratio('neutrino-same-host','relay-same-host',m):>16}")
if wake_us:
    w = float(wake_us)
    print()
    print(f"waking a process asleep 50 ms, on its waker's CPU: {w:.1f} us (cargo bench -p host --bench wake_latency)")
    # Across hosts a ping wakes the switch on each host; on one host, the one switch.
    for base, wakes, label in (("kernel-vxlan", 2, "vxlan/kernel"), ("veth", 1, "same-host/veth")):
        k = med.get(base, {}).get("ping_ms")
        if k:
            floor = (k * 1000 + wakes * w) / (k * 1000)
            print(f"  ping floor {label}: {floor:.2f} (the {base} round trip plus {wakes} such wake-up(s),"
                  f" with no other cost)")
EOF
