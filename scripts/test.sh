#!/usr/bin/env bash
# The whole test suite: installs what the tests need, then runs every unit and
# integration test of the workspace (the server's against SQLite and a local
# PostgreSQL; the switch's once more with the kernel fast path off), the API
# against its OpenAPI description (schemathesis), the openstack CLI compatibility
# test and tempest. Integration tests build
# hosts and VMs in network namespaces and need root (as root in CI they run; when
# CI=true and not root they fail, as do the PostgreSQL tests without a database).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$(id -u)" = 0 ]; then
    scripts/install-deps.sh
    NEUTRINO_TEST_PG_URL="$(scripts/postgres-test-db.sh)"
    export NEUTRINO_TEST_PG_URL
fi
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads=2
# The switch's tests and the security groups' again with the kernel fast path off
# (every switchd they start reads NEUTRINO_FAST_PATH): the user-space path stays
# whole for hosts where the BPF programs cannot load.
NEUTRINO_FAST_PATH=off cargo test -p neutrino --no-fail-fast \
    --test switch_tunnels --test switch_uplink --test switch_vlan --test switch_threads \
    --test switch_pmtu --test switch_conntrack --test switch_limits --test switch_heap \
    --test switch_dhcp --test switch_ports --test security_groups -- --test-threads=2
scripts/api-fuzz-test.sh
scripts/openstack-compat-test.sh
scripts/tempest-test.sh
