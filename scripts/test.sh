#!/usr/bin/env bash
# The whole test suite: installs what the tests need, then runs every unit and
# integration test of the workspace. Integration tests build hosts and VMs in
# network namespaces and need root (as root in CI they run; when CI=true and not
# root they fail).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$(id -u)" = 0 ]; then
    scripts/install-deps.sh
fi
cargo build --workspace --all-targets
cargo test --workspace -- --test-threads=2
