#!/usr/bin/env bash
# Two hypervisors in network namespaces, one neutrino switchd on each, br-int and
# br-tun with Neutron's flows, two VMs (namespaces on tap ports) on one tenant
# network (VNI 100, local VLAN 1), joined by a VXLAN tunnel over the underlay
# 192.168.100.0/24. Pings vm1 -> vm2, prints `switch show` and a trace, then tears
# everything down (or keeps it with --keep; remove later with --down PREFIX).
#
# Usage (as root): scripts/switch-demo.sh [--gre] [--keep] | --down PREFIX
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KIND=vxlan KEEP=0
case "${1:-}" in
    --down)
        P=${2:?prefix}
        for f in /tmp/ntdemo-"$P"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
        for ns in h1 h2 vm1 vm2; do ip netns del "$P$ns" 2>/dev/null || true; done
        rm -rf "/tmp/ntdemo-$P"; exit 0 ;;
esac
for a in "$@"; do case "$a" in --gre) KIND=gre ;; --keep) KEEP=1 ;; *) echo "unknown argument $a" >&2; exit 2 ;; esac; done
[ "$(id -u)" = 0 ] || { echo "switch-demo: must run as root (network namespaces)" >&2; exit 1; }
"$REPO/scripts/install-deps.sh"
BIN=${NEUTRINO_BIN:-$REPO/target/release/neutrino}
[ -x "$BIN" ] || (cd "$REPO" && cargo build --release -p neutrino)

P="nd$$"; WORK=/tmp/ntdemo-$P; mkdir -p "$WORK"
cleanup() {
    [ "$KEEP" = 1 ] && { echo "kept: remove with $0 --down $P"; return; }
    for f in "$WORK"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
    for ns in h1 h2 vm1 vm2; do ip netns del "$P$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }

step "hosts $P""h1, $P""h2 on the underlay 192.168.100.0/24; VMs $P""vm1, $P""vm2"
for ns in h1 h2 vm1 vm2; do ip netns add "$P$ns"; ip -n "$P$ns" link set lo up; done
ip link add "${P}u1" netns "${P}h1" type veth peer name "${P}u2" netns "${P}h2"
ip -n "${P}h1" addr add 192.168.100.1/24 dev "${P}u1"; ip -n "${P}h1" link set "${P}u1" up
ip -n "${P}h2" addr add 192.168.100.2/24 dev "${P}u2"; ip -n "${P}h2" link set "${P}u2" up

sw() { "$BIN" switch --run-dir "$WORK/$1" "${@:2}"; }
for i in 1 2; do
    ip netns exec "$P""h$i" "$BIN" switchd --run-dir "$WORK/h$i" 2>"$WORK/h$i.log" &
    echo $! > "$WORK/h$i.pid"
done
for i in 1 2; do for _ in $(seq 50); do sw "h$i" show >/dev/null 2>&1 && break; sleep 0.1; done; done

hex() { printf '%02x%02x%02x%02x' ${1//./ }; }
for i in 1 2; do
    me=192.168.100.$i; other=192.168.100.$((3 - i)); tun="$KIND-$(hex "$other")"
    vm="$P""vm$i"; ip=10.0.0.$((i * 2)); mac=fa:16:3e:00:00:0$((i * 2))
    sw "h$i" add-br br-int; sw "h$i" add-br br-tun
    sw "h$i" add-port br-int patch-tun --type patch --peer patch-int
    sw "h$i" add-port br-tun patch-int --type patch --peer patch-tun
    sw "h$i" add-port br-tun "$tun" --type "$KIND" --remote-ip "$other" --local-ip "$me" --key flow
    sw "h$i" add-port br-int "tapvm$i" --type tap --netns "$vm" --tag 1 --mac "$mac"
    ip -n "$vm" addr add "$ip/24" dev "tapvm$i"; ip -n "$vm" link set "tapvm$i" mtu 1450 up
    # Neutron's br-tun for VNI 0x64 on local VLAN 1, as the agent lays it out.
    "$BIN" flows br-tun --tunnel-type "$KIND" --port "$tun" --net 0x64:1 | sw "h$i" replace-flows br-tun -
done

step "vm1 (10.0.0.2 on h1) pings vm2 (10.0.0.4 on h2) over $KIND"
ip netns exec "$P""vm1" ping -c 3 -i 0.2 -W 2 10.0.0.4
step "h1: neutrino switch show"; sw h1 show
step "h1: learned flows in br-tun table 20"; sw h1 dump-flows br-tun --table 20
step "h1: trace of a broadcast from vm1"
sw h1 trace br-int "in_port=tapvm1,dl_src=fa:16:3e:00:00:02,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_spa=10.0.0.2,arp_tpa=10.0.0.4"
