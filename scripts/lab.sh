#!/usr/bin/env bash
# The main job: installs what the lab needs, builds neutrino (release) and runs
# `neutrino lab ARGS` — by default `up`: the seeds' topology (controller, network
# node, two computes) in network namespaces, TenantA's network and two VMs that get
# their addresses by DHCP and ping each other across a VXLAN tunnel.
#   scripts/lab.sh [up [--tunnel-type gre] [--computes N] | status | add-compute | down]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-deps.sh
cargo build -q --release -p neutrino
if [ $# -eq 0 ]; then set -- up; fi
exec target/release/neutrino lab "$@"
