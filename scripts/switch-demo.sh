#!/usr/bin/env bash
# Two hypervisors in network namespaces, one neutrino switchd on each, br-int and
# br-tun with Neutron's flows, two VMs (namespaces on tap ports) on one tenant
# network (VNI 100, local VLAN 1), joined by a VXLAN (or GRE) tunnel over the
# underlay 192.168.100.0/24: all built by `neutrino lab pair up --kind
# neutrino-vxlan|neutrino-gre` (the lab crate's harness, which the integration
# tests use). Pings vm1 -> vm2, prints `switch show`, the learned flows and a
# trace, then tears everything down with `neutrino lab pair down` (or keeps it with
# --keep; remove it later with --down PREFIX).
#
# Usage (as root): scripts/switch-demo.sh [--gre] [--keep] | --down PREFIX
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${NEUTRINO_BIN:-$REPO/target/release/neutrino}
KIND=vxlan KEEP=0
die() { echo "switch-demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces)"
pair() { "$BIN" lab pair "$1" --prefix "$P" --dir "/tmp/ntdemo-$P" "${@:2}"; }
case "${1:-}" in
    --down)
        P=${2:?prefix}
        [ -x "$BIN" ] || die "no neutrino at $BIN"
        pair down; rm -rf "/tmp/ntdemo-$P"; exit 0 ;;
esac
for a in "$@"; do case "$a" in --gre) KIND=gre ;; --keep) KEEP=1 ;; *) echo "unknown argument $a" >&2; exit 2 ;; esac; done
"$REPO/scripts/install-deps.sh"
[ -x "$BIN" ] || (cd "$REPO" && cargo build --release -p neutrino)

P="nd$$"; WORK=/tmp/ntdemo-$P
cleanup() {
    [ "$KEEP" = 1 ] && { echo "kept: remove with $0 --down $P"; return; }
    pair down || true
    rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
vm() {  # index field: from the pair's pair.json
    python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["vms"][int(sys.argv[2])][sys.argv[3]])' "$WORK/pair.json" "$@"
}

step "neutrino lab pair up --kind neutrino-$KIND: hosts ${P}h1, ${P}h2 on the underlay" \
    "192.168.100.0/24, a switchd each (br-int, br-tun, a $KIND port, Neutron's br-tun" \
    "flows for VNI 100 on local VLAN 1), VMs ${P}v1, ${P}v2 on tap ports"
pair up --kind "neutrino-$KIND" >/dev/null
for i in 0 1; do
    echo "vm$((i + 1)): namespace $(vm $i ns), NIC $(vm $i nic), $(vm $i ip), $(vm $i mac)"
done
TAP1=$(vm 0 nic) MAC1=$(vm 0 mac) IP1=$(vm 0 ip) IP2=$(vm 1 ip)

step "vm1 ($IP1 on h1) pings vm2 ($IP2 on h2) over $KIND"
ip netns exec "$(vm 0 ns)" ping -c 3 -i 0.2 -W 2 "$IP2"
sw() { "$BIN" switch --run-dir "$WORK/$1" "${@:2}"; }
step "h1: neutrino switch show"; sw h1 show
step "h1: learned flows in br-tun table 20"; sw h1 dump-flows br-tun --table 20
step "h1: trace of a broadcast from vm1"
sw h1 trace br-int "in_port=$TAP1,dl_src=$MAC1,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_spa=$IP1,arp_tpa=$IP2"
