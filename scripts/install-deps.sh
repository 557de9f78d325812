#!/usr/bin/env bash
# Installs what neutrino's tests, lab and benchmarks need on a fresh Debian machine
# (which has only the Rust toolchain, Python, gcc and iproute2). Idempotent; quiet
# when everything is already there. Needs root.
set -euo pipefail
# clang and libbpf-dev (bpf_helpers.h) build switchd's kernel fast path programs;
# python3-yaml reads the CLI's YAML back, systemd's systemd-analyze checks the
# units, binutils' strip serves the Debian package, graphviz draws `topology
# --format svg`, chromium runs the /ui page's browser test, openvswitch-switch is
# the far end of the interop test (its daemons run only inside the test's
# namespaces: the package's own service is kept from starting).
pkgs=(iproute2 iputils-ping iperf3 tcpdump nftables curl python3-venv python3-yaml systemd binutils graphviz chromium busybox isc-dhcp-client ethtool python3-prometheus-client clang libbpf-dev openvswitch-switch)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}" >&2
    apt-get update -qq
    # No service may start in the root namespace while packages install.
    policy=/usr/sbin/policy-rc.d
    made_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    if [ -n "$made_policy" ]; then rm -f "$policy"; fi
fi
