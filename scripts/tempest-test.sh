#!/usr/bin/env bash
# OpenStack's own API tests against neutrino: tempest 47 and neutron-tempest-
# plugin (from PyPI, in .venv-tempest) run inside a lab's controller namespace
# (`neutrino lab up`: server, network node with the L3 agent, two computes), with
# dynamic credentials (tempest makes its projects and users through /v3), no
# compute service, Ext-Net as the public network and exactly the extensions the
# server lists. Runs all of tempest.api.network and the plugin's router, floating
# IP, L3 agent scheduler, agent, tag, subnet pool, IP availability and metering
# tests; fails on any failure. The lab is
# removed afterwards, also on failure. Needs root (namespaces).
#   scripts/tempest-test.sh            (TEMPEST_REGEX=... picks other tests)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$(id -u)" != 0 ]; then
    if [ "${CI:-}" = true ]; then echo "tempest-test: needs root" >&2; exit 1; fi
    echo "tempest-test: skipped (needs root)"; exit 0
fi
venv=.venv-tempest
if [ ! -x "$venv/bin/tempest" ]; then
    echo "tempest-test: installing tempest and neutron-tempest-plugin into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'tempest==47.0.0' neutron-tempest-plugin >&2
fi
cargo build -q -p neutrino
bin=$PWD/target/debug/neutrino
prefix="tp$(( $$ % 100000 ))"
dir=$(mktemp -d /tmp/neutrino-tempest-lab.XXXXXX)
work=$(mktemp -d /tmp/neutrino-tempest-ws.XXXXXX)
cleanup() {
    "$bin" lab --prefix "$prefix" --dir "$dir" down >/dev/null 2>&1 || true
    rm -rf "$dir" "$work"
}
trap cleanup EXIT
# Quotas as neutron-tempest-plugin's gate jobs set them in neutron.conf: its
# classes make more routers and groups per project than Neutron's defaults allow.
NEUTRINO_QUOTAS=router=100,floatingip=500,security_group=150,security_group_rule=1000 \
    "$bin" lab --prefix "$prefix" --dir "$dir" up >"$work/lab-up.log" 2>&1 || { tail -20 "$work/lab-up.log"; exit 1; }
read -r password ext <<<"$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["admin_password"], d["external"]["network_id"])' "$dir/lab.json")"
api=http://192.168.10.10:9696
extensions=$(ip netns exec "$prefix-controller" curl -sf "$api/v2.0/extensions" \
    | python3 -c 'import json,sys; print(",".join(e["alias"] for e in json.load(sys.stdin)["extensions"]))')
# The workspace is written here rather than by `tempest init`, which keeps a
# registry of workspaces in ~/.tempest and refuses a name it has seen.
top=$("$venv/bin/python" -c 'import os, tempest; print(os.path.dirname(tempest.__file__))')
mkdir -p "$work/ws/etc" "$work/ws/logs" "$work/ws/tempest_lock"
printf '[DEFAULT]\ntest_path=%s/test_discover\ntop_dir=%s\ngroup_regex=([^\\.]*\\.)*\n' "$top" "$top" >"$work/ws/.stestr.conf"
cat >"$work/ws/etc/tempest.conf" <<EOF
[DEFAULT]
log_dir = $work/ws/logs
log_file = tempest.log

[oslo_concurrency]
lock_path = $work/ws/tempest_lock

[auth]
use_dynamic_credentials = True
admin_username = admin
admin_password = $password
admin_project_name = admin
admin_domain_name = Default
default_credentials_domain_name = Default
create_isolated_networks = True

[identity]
uri_v3 = $api/v3
auth_version = v3
region = RegionOne
v3_endpoint_type = public

[identity-feature-enabled]
api_v2 = False
api_v3 = True

[service_available]
nova = False
neutron = True
glance = False
cinder = False
swift = False
horizon = False

[network]
public_network_id = $ext
floating_network_name = Ext-Net
region = RegionOne
endpoint_type = publicURL
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_networks_reachable = False
build_timeout = 20
build_interval = 1

[network-feature-enabled]
api_extensions = $extensions
ipv6 = True
ipv6_subnet_attributes = True
EOF
regex="${TEMPEST_REGEX:-^(tempest\.api\.network|neutron_tempest_plugin\.api\.(test_routers\b|test_routers_negative|admin\.test_l3_agent_scheduler|admin\.test_agent_management|test_floating_ips\b|test_floating_ips_negative|admin\.test_tag|test_subnetpools|test_subnetpools_negative|test_network_ip_availability|admin\.test_network_ip_availability|test_metering_extensions|test_metering_negative|test_address_scopes|test_address_scopes_negative|test_subnetpool_prefix_ops|admin\.test_shared_network_extension|admin\.test_external_network_extension))}"
cd "$work/ws"
if TEMPEST_CONFIG_DIR="$work/ws/etc" ip netns exec "$prefix-controller" "$OLDPWD/$venv/bin/tempest" run --regex "$regex" --concurrency 2 >"$work/run.log" 2>&1; then
    grep -A6 '^Totals' "$work/run.log"
else
    grep -E 'FAILED|^Totals' -A6 "$work/run.log" | tail -40
    echo "tempest-test: failures (log: $work/run.log, kept)" >&2
    trap - EXIT
    "$bin" lab --prefix "$prefix" --dir "$dir" down >/dev/null 2>&1 || true
    exit 1
fi
