#!/usr/bin/env bash
# Installs what neutrino's tests, lab and benchmarks need on a fresh Debian machine
# (which has only the Rust toolchain, Python, gcc and iproute2). Idempotent; quiet
# when everything is already there. Needs root.
set -euo pipefail
# clang and libbpf-dev (bpf_helpers.h) build switchd's kernel fast path programs;
# python3-yaml reads the CLI's YAML back, systemd's systemd-analyze checks the
# units, binutils' strip serves the Debian package, graphviz draws `topology
# --format svg`, chromium runs the /ui page's browser test.
pkgs=(iproute2 iputils-ping iperf3 tcpdump nftables curl python3-venv python3-yaml systemd binutils graphviz chromium busybox isc-dhcp-client ethtool python3-prometheus-client clang libbpf-dev)
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
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
