//! The openstack-style API commands against a real `neutrino server` on
//! 127.0.0.1 (SQLite in a temporary state dir). No root, no namespaces.
//!
//! Each test starts its own server on a free port; the guard kills it by PID
//! and removes its state dir, also when the test panics.

mod harness;
mod ui;

use harness::*;
use serde_json::Value;

#[test]
fn seeds_scenario_through_the_cli() {
    let s = Server::start();
    let admin = s.admin();
    let (ext_net, ext_subnet) = create_ext_net(&admin);
    let user = create_tenant(&admin, &s);
    let u = Some(&user);

    // Admin's private network stays hidden; external networks are visible to all.
    cli(Some(&admin), "network create admin-private").ok();
    let visible = cli(u, "network list -f value -c Name").ok();
    assert_eq!(visible, "Ext-Net\n", "UserA sees only the external network");
    let e = cli(u, "network show admin-private").fails();
    assert_eq!(e, "neutrino: No Network found for admin-private");

    let net = cli(u, "network create TenantA-Net -f json").json();
    let net_id = id(&net);
    assert_eq!(net["router:external"], false);
    let sub = cli(
        u,
        "subnet create TenantA-Subnet --network TenantA-Net --subnet-range 10.0.0.0/24 \
         --dns-nameserver 8.8.8.8 -f json -c id -c gateway_ip -c dns_nameservers",
    )
    .json();
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    assert_eq!(sub["dns_nameservers"], serde_json::json!(["8.8.8.8"]));
    assert_eq!(sub.as_object().map(|m| m.len()), Some(3), "{sub}");
    let sub_id = id(&sub);

    // network list: one row, with the subnet.
    let list = cli(u, "network list --internal -f json").json();
    assert_eq!(
        list,
        serde_json::json!([{"ID": net_id, "Name": "TenantA-Net", "Subnets": [sub_id]}])
    );
    let table = cli(u, "network list --internal").ok();
    assert!(table.starts_with("+---"), "{table}");
    assert!(table.contains("| ID "), "{table}");
    assert!(
        table.contains(&format!("| {net_id} | TenantA-Net | {sub_id} |")),
        "{table}"
    );
    // cliff's other formats, read back by Python's own parsers: YAML (PyYAML) is
    // the JSON's data; CSV (the csv module) a header and the row.
    let y = cli(u, "network list --internal -f yaml").ok();
    assert_eq!(python_reads(YAML_TO_JSON, &y), list, "{y}");
    let c = cli(u, "network list --internal -f csv").ok();
    assert_eq!(
        python_reads(CSV_TO_JSON, &c),
        serde_json::json!([["ID", "Name", "Subnets"], [net_id, "TenantA-Net", sub_id]]),
        "{c}"
    );
    let shown = cli(u, "network show TenantA-Net -f yaml").ok();
    let shown_json = cli(u, "network show TenantA-Net -f json").json();
    assert_eq!(python_reads(YAML_TO_JSON, &shown), shown_json, "{shown}");
    let e = cli(u, "network show TenantA-Net -f csv").fails();
    assert!(e.starts_with("neutrino: -f csv is for lists"), "{e}");
    let subnets = cli(u, "subnet list --network TenantA-Net -f value").ok();
    assert_eq!(
        subnets.trim(),
        format!("{sub_id} TenantA-Subnet {net_id} 10.0.0.0/24")
    );

    // Router with the subnet and Ext-Net as gateway.
    let r = cli(u, "router create TenantA-R1 -f value -c name").ok();
    assert_eq!(r, "TenantA-R1\n");
    cli(u, "router add subnet TenantA-R1 TenantA-Subnet").quiet();
    // A member names Ext-Net by ID (it cannot see it by name).
    cli(
        u,
        &format!("router set TenantA-R1 --external-gateway {ext_net}"),
    )
    .quiet();
    let router = cli(u, "router show TenantA-R1 -f json").json();
    let gw = &router["external_gateway_info"];
    assert_eq!(gw["network_id"], ext_net.as_str());
    assert_eq!(gw["enable_snat"], true);
    assert_eq!(
        gw["external_fixed_ips"][0]["subnet_id"],
        ext_subnet.as_str()
    );
    let gw_ip = gw["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("gateway ip")
        .to_string();
    assert!(gw_ip.starts_with("10.1.101."), "{gw_ip}");
    assert_eq!(router["interfaces_info"][0]["ip_address"], "10.0.0.1");
    assert_eq!(router["interfaces_info"][0]["subnet_id"], sub_id.as_str());
    let routers = cli(u, "router list -f value -c Name -c State").ok();
    assert_eq!(routers, "TenantA-R1 UP\n");

    // A port with a fixed IP by subnet name; list/show with -c.
    let port = cli(
        u,
        "port create vm1-port --network TenantA-Net \
         --fixed-ip subnet=TenantA-Subnet,ip-address=10.0.0.10 \
         --device-owner compute:nova --device-id vm1 -f json",
    )
    .json();
    assert_eq!(port["fixed_ips"][0]["ip_address"], "10.0.0.10");
    assert_eq!(port["device_owner"], "compute:nova");
    let mac = port["mac_address"].as_str().expect("mac").to_string();
    assert!(mac.starts_with("fa:16:3e:"), "{mac}");
    let ports = cli(
        u,
        "port list --device-id vm1 -f value -c Name -c 'MAC Address'",
    )
    .ok();
    assert_eq!(ports, format!("vm1-port {mac}\n"));
    let shown = cli(u, "port show vm1-port -f value -c fixed_ips").ok();
    assert_eq!(
        shown.trim(),
        format!("ip_address='10.0.0.10', subnet_id='{sub_id}'")
    );
    // The router interface, vm1-port and the network's DHCP port.
    let all_ports = cli(u, "port list --network TenantA-Net -f json").json();
    assert_eq!(all_ports.as_array().map(Vec::len), Some(3), "{all_ports}");

    // Floating IP from the pool, associated at creation; then unset and set again.
    let fip = cli(
        u,
        &format!("floating ip create {ext_net} --port vm1-port -f json"),
    )
    .json();
    let fip_addr = fip["floating_ip_address"]
        .as_str()
        .expect("fip")
        .to_string();
    let last: u8 = fip_addr
        .rsplit('.')
        .next()
        .and_then(|o| o.parse().ok())
        .expect("octet");
    assert!(
        fip_addr.starts_with("10.1.101.") && (240..=252).contains(&last),
        "{fip_addr}"
    );
    assert_eq!(fip["fixed_ip_address"], "10.0.0.10");
    assert_eq!(fip["port_id"], port["id"]);
    cli(u, &format!("floating ip unset --port {fip_addr}")).quiet();
    let f = cli(u, &format!("floating ip show {fip_addr} -f json")).json();
    assert_eq!(f["port_id"], Value::Null);
    cli(u, &format!("floating ip set --port vm1-port {fip_addr}")).quiet();
    let fips = cli(
        u,
        "floating ip list -f value -c 'Floating IP Address' -c 'Fixed IP Address'",
    )
    .ok();
    assert_eq!(fips, format!("{fip_addr} 10.0.0.10\n"));

    // Security group rule on the project's default group.
    let rule = cli(
        u,
        "security group rule create --protocol icmp default -f json",
    )
    .json();
    assert_eq!(rule["protocol"], "icmp");
    assert_eq!(rule["direction"], "ingress");
    assert_eq!(rule["remote_ip_prefix"], "0.0.0.0/0");
    let ssh = cli(
        u,
        "security group rule create default --protocol tcp --dst-port 22 -f value -c id",
    )
    .ok();
    let rules = cli(u, "security group rule list default -f json").json();
    let rules = rules.as_array().expect("rules");
    assert!(
        rules
            .iter()
            .any(|r| r["IP Protocol"] == "icmp" && r["IP Range"] == "0.0.0.0/0"),
        "{rules:?}"
    );
    assert!(
        rules
            .iter()
            .any(|r| r["ID"] == ssh.trim() && r["Port Range"] == "22:22"),
        "{rules:?}"
    );
    let groups = cli(u, "security group list -f value -c Name").ok();
    assert_eq!(groups, "default\n");

    // The topology, live from the API. The admin sees the host (its agent) and
    // what is bound there; a second bound port on another host makes a tunnel.
    s.register_agent("compute1");
    s.register_agent("compute2");
    cli(Some(&admin), "port set --host compute1 vm1-port").quiet();
    cli(
        u,
        "port create vm2-port --network TenantA-Net --device-owner compute:nova --device-id vm2",
    )
    .ok();
    cli(Some(&admin), "port set --host compute2 vm2-port").quiet();
    let t = cli(Some(&admin), "topology").json();
    let hosts: Vec<&str> = t["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["name"].as_str())
        .collect();
    assert_eq!(hosts, ["compute1", "compute2"], "{t}");
    assert_eq!(
        t["hosts"][0]["bridges"],
        serde_json::json!(["br-int", "br-tun"])
    );
    assert_eq!(t["hosts"][0]["ports"], serde_json::json!([port["id"]]));
    assert_eq!(
        t["tunnels"],
        serde_json::json!([{"hosts": ["compute1", "compute2"], "networks": [net_id]}])
    );
    let tnet = t["networks"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == net_id.as_str()))
        .expect("TenantA-Net in the topology");
    assert_eq!(tnet["subnets"], serde_json::json!(["10.0.0.0/24"]));
    assert!(
        tnet["ports"].as_array().is_some_and(|p| p
            .iter()
            .any(|p| p["ips"] == serde_json::json!(["10.0.0.10"]) && p["host"] == "compute1")),
        "{tnet}"
    );
    let r = &t["routers"][0];
    assert_eq!(r["name"], "TenantA-R1");
    assert_eq!(r["interfaces"][0]["ips"], serde_json::json!(["10.0.0.1"]));
    assert_eq!(r["gateway"]["network"], ext_net.as_str());
    assert_eq!(t["floating_ips"][0]["address"], fip_addr.as_str());
    assert_eq!(t["floating_ips"][0]["port"], port["id"]);
    // Graphviz reads the dot and draws the svg; a tenant sees no hosts.
    let d = cli(Some(&admin), "topology --format dot").ok();
    assert!(
        d.starts_with("digraph neutrino {") && d.contains("TenantA-R1"),
        "{d}"
    );
    let svg = cli(Some(&admin), "topology --format svg").ok();
    assert!(
        svg.contains("<svg") && svg.contains("TenantA&#45;R1") || svg.contains("TenantA-R1"),
        "{svg}"
    );
    let mine = cli(u, "topology").json();
    assert_eq!(mine["hosts"], serde_json::json!([]));
    assert_eq!(mine["routers"][0]["name"], "TenantA-R1");
    cli(u, "port delete vm2-port").ok();

    // Deletes in the wrong order are 409s (one line, exit 1); the right order works.
    cli(u, "network delete TenantA-Net").fails_with("409 NetworkInUse");
    cli(u, "router delete TenantA-R1").fails_with("409");
    cli(u, &format!("floating ip delete {fip_addr}")).ok();
    cli(u, "port delete vm1-port").ok();
    cli(u, "router unset --external-gateway TenantA-R1").ok();
    cli(u, "router remove subnet TenantA-R1 TenantA-Subnet").ok();
    cli(u, "router delete TenantA-R1").ok();
    cli(u, "subnet delete TenantA-Subnet").ok();
    cli(u, "network delete TenantA-Net").ok();
    cli(u, "network list --internal -f value").quiet();
    cli(u, "floating ip list -f value").quiet();

    // Admin still sees its external network, and UserA's delete left it alone.
    let nets = cli(Some(&admin), "network list -f value -c Name").ok();
    assert_eq!(sorted_lines(&nets), ["Ext-Net", "admin-private"]);
}

#[test]
fn tenancy_show_set_and_agents() {
    let s = Server::start();
    let admin = s.admin();
    let a = Some(&admin);
    let admin_net = cli(a, "network create admin-net -f value -c id").ok();
    let admin_net = admin_net.trim().to_string();
    let user = create_tenant(&admin, &s);
    let u = Some(&user);

    // The member sees neither admin's network by name nor by ID.
    let e = cli(u, "network show admin-net").fails();
    assert_eq!(e, "neutrino: No Network found for admin-net");
    let e = cli(u, &format!("network show {admin_net}")).fails();
    assert_eq!(e, format!("neutrino: No Network found for {admin_net}"));
    // ... and may not set provider attributes.
    cli(u, "network create x --provider-network-type vxlan").fails_with("403 PolicyNotAuthorized");
    // Agents are the admin's: a member lists none (as Neutron's policy filters).
    assert_eq!(
        cli(u, "network agent list -f json").json(),
        serde_json::json!([])
    );
    assert_eq!(
        cli(a, "network agent list -f json").json(),
        serde_json::json!([])
    );
    cli(a, "network agent show nope").fails_with("No Agent found for nope");
    s.register_agent("compute1");
    let agents = cli(a, "network agent list -f json").json();
    let agent_id = agents[0]["ID"].as_str().expect("agent id").to_string();
    assert_eq!(agents[0]["Host"], "compute1");
    assert_eq!(agents[0]["Agent Type"], "Open vSwitch agent");
    assert_eq!(agents[0]["Alive"], true);
    assert_eq!(agents[0]["State"], true);
    let row = cli(
        a,
        "network agent list --host compute1 -f value -c Host -c Alive -c State -c Binary",
    )
    .ok();
    assert_eq!(row, "compute1 :-) UP neutrino-agent\n");
    cli(a, &format!("network agent set {agent_id} --disable")).ok();
    let table = cli(a, "network agent list").ok();
    assert!(table.contains("| :-)   | DOWN  |"), "{table}");
    let shown = cli(
        a,
        &format!("network agent show {agent_id} -f json -c configurations"),
    )
    .json();
    assert_eq!(shown["configurations"]["tunneling_ip"], "192.168.100.11");
    cli(a, &format!("network agent delete {agent_id}")).ok();
    cli(a, "network agent list -f value").quiet();

    // Shared networks are visible to all; set renames and shares.
    cli(a, "network set admin-net --share --name shared-net").ok();
    let seen = cli(u, "network list -f value -c Name").ok();
    assert_eq!(seen, "shared-net\n");
    let shown = cli(u, "network show shared-net -f value -c shared -c id").ok();
    assert_eq!(shown, format!("{admin_net}\nTrue\n"));

    // Show as a Field/Value table.
    let table = cli(a, "network show shared-net -c name -c admin_state_up").ok();
    assert!(table.contains("| Field"), "{table}");
    assert!(table.contains("| admin_state_up | UP "), "{table}");
    assert!(table.contains("| name           | shared-net "), "{table}");

    // Duplicate names: ambiguous for lookup.
    cli(u, "network create dup").ok();
    cli(u, "network create dup").ok();
    let e = cli(u, "network show dup").fails();
    assert_eq!(
        e,
        "neutrino: More than one Network exists with the name 'dup'."
    );

    // Port binding set by admin; list by host.
    cli(u, "network create pnet").ok();
    cli(
        u,
        "subnet create psub --network pnet --subnet-range 192.0.2.0/24",
    )
    .ok();
    cli(u, "port create p1 --network pnet").ok();
    cli(u, "port set p1 --host compute1").fails_with("403");
    cli(a, "port set p1 --host compute1 --device-id vm-x").ok();
    let by_host = cli(a, "port list --host compute1 -f value -c Name").ok();
    assert_eq!(by_host, "p1\n");
    let host = cli(a, "port show p1 -f value -c binding:host_id").ok();
    assert_eq!(host, "compute1\n");

    // Identity listing and deleting.
    let users = cli(a, "user list -f value -c Name").ok();
    assert_eq!(sorted_lines(&users), ["UserA", "admin"]);
    cli(a, "user create tmp --password x").ok();
    cli(a, "user delete tmp").ok();
    let e = cli(a, "user show tmp").fails();
    assert_eq!(e, "neutrino: No User found for tmp");
    cli(a, "project create Scratch").ok();
    cli(a, "project delete Scratch").ok();
}

#[test]
fn errors_are_one_line() {
    // No OS_AUTH_URL: a configuration error before any request.
    let e = cli(None, "network list").fails();
    assert!(e.starts_with("neutrino: OS_AUTH_URL is not set"), "{e}");

    // Nothing listening: a transport error.
    let closed = format!("http://127.0.0.1:{}/v3", free_port());
    let closed = Creds::new(&closed, "admin", "x", "admin");
    cli(Some(&closed), "network list").fails_with("cannot connect to");

    let s = Server::start();
    let admin = s.admin();
    let a = Some(&admin);

    // Flags override the environment.
    cli(
        None,
        &format!(
            "network list --os-auth-url {} --os-username admin --os-password {ADMIN_PASSWORD} \
             --os-project-name admin",
            s.auth_url()
        ),
    )
    .quiet();

    // Wrong password: a login failure.
    let mut bad = admin.clone();
    bad.password = "wrong".into();
    let e = cli(Some(&bad), "network list").fails();
    assert!(e.contains("login as admin") && e.contains("401"), "{e}");

    // Unknown names.
    let e = cli(a, "network show no-such-net").fails();
    assert_eq!(e, "neutrino: No Network found for no-such-net");
    let e = cli(
        a,
        "subnet create s --network no-such-net --subnet-range 10.9.0.0/24",
    )
    .fails();
    assert_eq!(e, "neutrino: No Network found for no-such-net");
    cli(a, "role add member --project nope --user admin").fails_with("No Project found for nope");

    // Server-side validation comes back as "<status> <type>: <message>".
    cli(a, "network create n1").ok();
    let e = cli(
        a,
        "subnet create s1 --network n1 --subnet-range 10.9.0.0/33",
    )
    .fails();
    assert!(e.starts_with("neutrino: 400 "), "{e}");

    // 409 on deleting a network in use.
    cli(
        a,
        "subnet create s1 --network n1 --subnet-range 10.9.0.0/24",
    )
    .ok();
    cli(a, "port create p1 --network n1").ok();
    let e = cli(a, "network delete n1").fails();
    assert!(e.contains("409 NetworkInUse"), "{e}");
    assert!(e.contains("'n1'"), "{e}");

    // Deleting several: every failure reported, then a summary; exit 1.
    cli(a, "network delete n1 nope").fails_mentioning(&[
        "NetworkInUse",
        "No Network found for nope",
        "2 of 2 networks failed to delete.",
    ]);

    // Unknown columns.
    cli(a, "network list -c Bogus").fails_with("No recognized column names");

    // Malformed key=value options fail before any request is made.
    cli(
        a,
        "subnet create s --network n1 --subnet-range 10.9.0.0/24 --allocation-pool start=10.9.0.5",
    )
    .fails_mentioning(&["start=IP,end=IP"]);
}

#[test]
fn command_lines_split_into_words() {
    assert_eq!(words("  a  b "), ["a", "b"]);
    assert_eq!(
        words("-c 'MAC Address' -c id ''"),
        ["-c", "MAC Address", "-c", "id", ""]
    );
}

const YAML_TO_JSON: &str = "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(sys.stdin)))";
const CSV_TO_JSON: &str = "import csv, json, sys\nprint(json.dumps(list(csv.reader(sys.stdin))))";

/// What a Python `script` makes of `text` on its stdin (printed as JSON).
fn python_reads(script: &str, text: &str) -> serde_json::Value {
    use std::io::Write;
    // Debian's Python, which has the python3-yaml the README's commands install.
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python3 ran");
    assert!(out.status.success(), "python3 could not read:\n{text}");
    serde_json::from_slice(&out.stdout).expect("JSON from python3")
}
