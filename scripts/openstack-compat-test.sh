#!/usr/bin/env bash
# Compatibility test: the real python-openstackclient (from PyPI, in
# .venv-openstack) drives a live `neutrino server` on 127.0.0.1 (random free
# port, fresh state dir) through the seeds' whole scenario, and the outputs are
# checked. Prints "N passed, N failed"; exits non-zero on any failure.
#   scripts/openstack-compat-test.sh [--database-url URL]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
db_args=()
[ "${1:-}" = --database-url ] && db_args=(--database-url "$2")
openstack=$(scripts/openstack-venv.sh) || exit 1
cargo build -q -p neutrino || exit 1
bin=target/debug/neutrino

state=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$bin" server --listen "127.0.0.1:$port" --state-dir "$state" --admin-password admin-pw "${db_args[@]}" \
    >"$state/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$state"; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done

export OS_AUTH_URL="http://127.0.0.1:$port/v3" OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=RegionOne \
    OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_INTERFACE=public
as_admin() { OS_USERNAME=admin OS_PASSWORD=admin-pw OS_PROJECT_NAME=admin "$openstack" "$@" 2>"$state/err"; }
as_usera() { OS_USERNAME=UserA OS_PASSWORD=password OS_PROJECT_NAME=TenantA "$openstack" "$@" 2>"$state/err"; }

passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
    local desc=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok   $desc"
    else failed=$((failed + 1)); echo "FAIL $desc"; sed 's/^/     /' "$state/err" 2>/dev/null | tail -5; fi
}
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
has() { grep -q -- "$2" <<<"$1"; }
refused() { ! "$@"; }

# Admin: the external network and subnet, the tenant and its user.
out=$(as_admin network create Ext-Net --external --provider-network-type vxlan --provider-segment 1 -f json)
check "network create Ext-Net" has "$out" '"router:external": true'
check "Ext-Net is vxlan 1" test "$(jq_ 'd["provider:network_type"], d["provider:segmentation_id"], d["mtu"]' <<<"$out")" = "('vxlan', 1, 1450)"
out=$(as_admin subnet create --network Ext-Net --subnet-range 10.1.101.0/24 \
    --allocation-pool start=10.1.101.240,end=10.1.101.252 --gateway 10.1.101.254 --no-dhcp Ext-Subnet -f json)
check "subnet create Ext-Subnet" test "$(jq_ 'd["gateway_ip"], d["enable_dhcp"], d["allocation_pools"][0]["start"], d["allocation_pools"][0]["end"]' <<<"$out")" = "('10.1.101.254', False, '10.1.101.240', '10.1.101.252')"
check "project create TenantA" has "$(as_admin project create TenantA -f json)" '"name": "TenantA"'
check "user create UserA" has "$(as_admin user create --project TenantA --password password --email usera@example.com UserA -f json)" '"email": "usera@example.com"'
check "role add member" as_admin role add --project TenantA --user UserA member
check "role assignment listed" has "$(as_admin role assignment list --user UserA --project TenantA --names -f value)" member

# UserA: network, subnet, router, interface, gateway, port, floating IP.
check "network create TenantA-Net" has "$(as_usera network create TenantA-Net -f json)" '"provider:network_type": null\|"name": "TenantA-Net"'
tb=$(as_admin project create TenantB -f value -c id)
out=$(as_usera network rbac create --target-project "$tb" --action access_as_shared --type network TenantA-Net -f json)
check "network rbac create (share TenantA-Net with TenantB)" test "$(jq_ 'd["object_type"], d["action"]' <<<"$out")" = "('network', 'access_as_shared')"
check "network rbac create: target TenantB" has "$out" "$tb"
rbac=$(jq_ 'd["id"]' <<<"$out")
check "network rbac list shows it" has "$(as_usera network rbac list -f value -c ID)" "$rbac"
check "network rbac show: target TenantB" has "$(as_usera network rbac show "$rbac" -f json)" "$tb"
check "network rbac delete" as_usera network rbac delete "$rbac"
check "project delete TenantB" as_admin project delete TenantB
out=$(as_usera subnet create --network TenantA-Net --subnet-range 10.0.0.0/24 TenantA-Subnet -f json)
check "subnet create TenantA-Subnet" test "$(jq_ 'd["gateway_ip"]' <<<"$out")" = 10.0.0.1
check "router create TenantA-R1" has "$(as_usera router create TenantA-R1 -f json)" '"name": "TenantA-R1"'
check "router add subnet" as_usera router add subnet TenantA-R1 TenantA-Subnet
check "router set --external-gateway Ext-Net" as_usera router set --external-gateway Ext-Net TenantA-R1
out=$(as_usera router show TenantA-R1 -f json)
gw=$(jq_ 'd["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]' <<<"$out")
check "router show: gateway address from the Ext-Net pool ($gw)" test "$gw" = 10.1.101.240
check "router show: SNAT on" test "$(jq_ 'd["external_gateway_info"]["enable_snat"]' <<<"$out")" = True
check "port create vm1-port" has "$(as_usera port create --network TenantA-Net vm1-port -f json)" 'fa:16:3e:'
fip=$(as_usera floating ip create Ext-Net -f value -c floating_ip_address)
check "floating ip create from the pool ($fip)" test "$fip" = 10.1.101.241
check "floating ip set --port" as_usera floating ip set --port vm1-port "$fip"
check "port set --extra-dhcp-option" as_usera port set --extra-dhcp-option name=bootfile-name,value=pxelinux.0 \
    --extra-dhcp-option name=server-ip-address,value=10.0.0.9 vm1-port
out=$(as_usera port show vm1-port -f json)
check "port show: extra_dhcp_opts" test "$(jq_ 'sorted((o["opt_name"], o["opt_value"], o["ip_version"]) for o in d["extra_dhcp_opts"])' <<<"$out")" = "[('bootfile-name', 'pxelinux.0', 4), ('server-ip-address', '10.0.0.9', 4)]"
check "port set --extra-dhcp-option name=no-such refused" refused as_usera port set --extra-dhcp-option name=no-such,value=x vm1-port
vmip=$(as_usera port show vm1-port -f json | jq_ 'd["fixed_ips"][0]["ip_address"]')
out=$(as_usera floating ip list -f value -c "Floating IP Address" -c "Fixed IP Address")
check "floating ip list shows $fip -> $vmip" has "$out" "$fip $vmip"
out=$(as_usera port list -f value -c "Fixed IP Addresses")
check "port list: router interface at 10.0.0.1" has "$out" "10.0.0.1"
check "port list: vm1-port at $vmip" has "$out" "$vmip"
out=$(as_usera network list -f value -c Name)
check "network list (UserA) shows TenantA-Net and Ext-Net" test "$(sort <<<"$out" | tr '\n' ' ')" = "Ext-Net TenantA-Net "
out=$(as_usera security group rule create --protocol icmp default -f json)
check "security group rule create --protocol icmp default" test "$(jq_ 'd["protocol"], d["direction"]' <<<"$out")" = "('icmp', 'ingress')"
check "security group rule list default shows icmp" has "$(as_usera security group rule list default -f value -c 'IP Protocol')" icmp

# Metering (admin): a label for TenantA and its rules.
out=$(as_admin network meter create --project TenantA --description "A's traffic" a-out -f json)
check "network meter create a-out" test "$(jq_ 'd["name"], d["shared"]' <<<"$out")" = "('a-out', False)"
out=$(as_admin network meter rule create --egress --remote-ip-prefix 10.0.0.0/24 a-out -f json)
check "network meter rule create --egress --remote-ip-prefix" test "$(jq_ 'd["direction"], d["remote_ip_prefix"]' <<<"$out")" = "('egress', '10.0.0.0/24')"
mrule=$(jq_ 'd["id"]' <<<"$out")
out=$(as_admin network meter rule create --ingress --exclude --source-ip-prefix 192.0.2.0/24 --destination-ip-prefix 10.0.0.0/24 a-out -f json)
check "network meter rule create --exclude --source/--destination-ip-prefix" test "$(jq_ 'd["source_ip_prefix"], d["destination_ip_prefix"]' <<<"$out")" = "('192.0.2.0/24', '10.0.0.0/24')"
check "network meter rule list shows both" test "$(as_admin network meter rule list -f value -c ID | wc -l)" = 2
check "network meter list (UserA) shows TenantA's label" has "$(as_usera network meter list -f value -c Name)" a-out
check "network meter create by a member: refused" bash -c "! OS_USERNAME=UserA OS_PASSWORD=password OS_PROJECT_NAME=TenantA $openstack network meter create mine 2>$state/err"
check "network meter rule delete" as_admin network meter rule delete "$mrule"
check "network meter delete (its last rule with it)" as_admin network meter delete a-out
check "network meter rule list is empty" test -z "$(as_admin network meter rule list -f value -c ID)"

# Deletes in the wrong order: refused (409), and nothing is deleted.
check "subnet delete while the router uses it: refused" bash -c "! OS_USERNAME=UserA OS_PASSWORD=password OS_PROJECT_NAME=TenantA $openstack subnet delete TenantA-Subnet 2>$state/err"
check "  ... with a 409" grep -q "409\|in use\|InUse" "$state/err"
check "router delete with an interface: refused" bash -c "! OS_USERNAME=UserA OS_PASSWORD=password OS_PROJECT_NAME=TenantA $openstack router delete TenantA-R1 2>$state/err"
check "  ... with a 409" grep -q "409\|still has ports\|InUse" "$state/err"
check "network delete Ext-Net in use: refused" bash -c "! OS_USERNAME=admin OS_PASSWORD=admin-pw OS_PROJECT_NAME=admin $openstack network delete Ext-Net 2>$state/err"
check "  ... with a 409" grep -q "409\|in use\|InUse" "$state/err"
check "router unset --external-gateway while a floating IP needs it: refused" bash -c "! OS_USERNAME=UserA OS_PASSWORD=password OS_PROJECT_NAME=TenantA $openstack router unset --external-gateway TenantA-R1 2>$state/err"

# And in the right order.
check "floating ip delete" as_usera floating ip delete "$fip"
check "port delete vm1-port" as_usera port delete vm1-port
check "router remove subnet" as_usera router remove subnet TenantA-R1 TenantA-Subnet
check "router unset --external-gateway" as_usera router unset --external-gateway TenantA-R1
check "router delete" as_usera router delete TenantA-R1
check "subnet delete TenantA-Subnet" as_usera subnet delete TenantA-Subnet
check "network delete TenantA-Net" as_usera network delete TenantA-Net
check "subnet delete Ext-Subnet" as_admin subnet delete Ext-Subnet
check "network delete Ext-Net" as_admin network delete Ext-Net
check "network list is empty" test -z "$(as_admin network list -f value -c ID)"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
