//! The seeds' router steps with the real `openstack` CLI (python-openstackclient
//! from PyPI, as scripts/openstack-venv.sh installs it) against the lab's server,
//! with no compute service involved: `router create`, `router add subnet`, `router
//! set --external-gateway`, `floating ip create`, `floating ip set --port`; `network
//! agent list` shows the L3 agent on the network node and `--router` finds it; the
//! router's interface and gateway ports reach ACTIVE (tempest waits for that before
//! it removes an interface), the floating IP too; the operator moves the router off
//! its agent and back (`network agent remove/add router --l3`, `router list
//! --agent`); and then traffic takes that way.
//! Root, namespaces only; the lab is removed by a guard.

mod common;

use lab::{Lab, LabOptions};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The `openstack` command of the repository's venv (installed when missing).
fn openstack_bin() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join("scripts/openstack-venv.sh"))
        .output()
        .expect("run scripts/openstack-venv.sh");
    assert!(
        out.status.success(),
        "openstack-venv.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `openstack ARGS` inside the controller's namespace as `user` of `project`.
fn os(l: &Lab, bin: &str, user: (&str, &str, &str), args: &[&str]) -> String {
    let (name, password, project) = user;
    let out = Command::new("ip")
        .args(["netns", "exec", &l.state.controller_ns(), bin])
        .args(args)
        .env("OS_AUTH_URL", &l.api.auth_url)
        .env("OS_IDENTITY_API_VERSION", "3")
        .env("OS_USER_DOMAIN_NAME", "Default")
        .env("OS_PROJECT_DOMAIN_NAME", "Default")
        .env("OS_USERNAME", name)
        .env("OS_PASSWORD", password)
        .env("OS_PROJECT_NAME", project)
        .output()
        .expect("run openstack");
    assert!(
        out.status.success(),
        "openstack {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn eventually(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < until, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until every port of the router is ACTIVE, as `port list --router` shows.
fn wait_ports_active(l: &Lab, bin: &str, user: (&str, &str, &str), router: &str) {
    eventually(
        &format!("{router}'s ports to go ACTIVE"),
        Duration::from_secs(30),
        || {
            let args = [
                "port", "list", "--router", router, "-f", "value", "-c", "Status",
            ];
            let s = os(l, bin, user, &args);
            !s.trim().is_empty() && s.lines().all(|x| x == "ACTIVE")
        },
    );
}

/// Waits until the floating IP is ACTIVE, as `floating ip show` shows.
fn wait_floating_ip_active(l: &Lab, bin: &str, user: (&str, &str, &str), fip: &str) {
    eventually(
        &format!("floating IP {fip} to go ACTIVE"),
        Duration::from_secs(30),
        || {
            let args = ["floating", "ip", "show", fip, "-f", "value", "-c", "status"];
            os(l, bin, user, &args).trim() == "ACTIVE"
        },
    );
}

#[test]
fn the_seeds_router_steps_with_the_openstack_cli() {
    if !common::lab_available() {
        return;
    }
    common::require_tool("busybox", "busybox");
    let bin = openstack_bin();
    let prefix = format!("o{}", std::process::id() % 10000);
    let dir = PathBuf::from(format!("/run/neutrino-lab-test/{prefix}"));
    let mut o = LabOptions::new(&prefix, &dir, std::path::Path::new(common::BIN));
    o.report_interval = 2;
    o.with_router = false;
    let mut g = lab::LabGuard::new(Lab::up(&o).unwrap_or_else(|e| panic!("lab up: {e}")));
    let l = g.lab();
    let pw = l.state.admin_password.clone();
    let admin = ("admin", pw.as_str(), "admin");
    let user = ("UserA", "password", "TenantA");

    let agents = os(
        l,
        &bin,
        admin,
        &[
            "network",
            "agent",
            "list",
            "-f",
            "value",
            "-c",
            "Agent Type",
            "-c",
            "Host",
            "-c",
            "Alive",
        ],
    );
    assert!(
        agents.lines().any(|a| a == "L3 agent network True"),
        "{agents}"
    );
    assert_eq!(
        agents
            .lines()
            .filter(|a| a.starts_with("Open vSwitch agent"))
            .count(),
        3,
        "{agents}"
    );

    os(l, &bin, user, &["router", "create", "TenantA-R1"]);
    os(
        l,
        &bin,
        user,
        &["router", "add", "subnet", "TenantA-R1", "TenantA-Subnet"],
    );
    os(
        l,
        &bin,
        user,
        &[
            "router",
            "set",
            "--external-gateway",
            "Ext-Net",
            "TenantA-R1",
        ],
    );
    let rid = os(
        l,
        &bin,
        user,
        &["router", "show", "TenantA-R1", "-f", "value", "-c", "id"],
    )
    .trim()
    .to_string();
    let gw = os(
        l,
        &bin,
        user,
        &[
            "router",
            "show",
            "TenantA-R1",
            "-f",
            "json",
            "-c",
            "external_gateway_info",
        ],
    );
    let gw: serde_json::Value = serde_json::from_str(&gw).expect("json");
    let gw_ip = gw["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let fip = os(
        l,
        &bin,
        user,
        &[
            "floating",
            "ip",
            "create",
            "Ext-Net",
            "-f",
            "value",
            "-c",
            "floating_ip_address",
        ],
    )
    .trim()
    .to_string();
    let vm1 = l.vm("vm1").unwrap();
    os(
        l,
        &bin,
        user,
        &["floating", "ip", "set", "--port", &vm1.port_id, &fip],
    );

    let hosting = os(
        l,
        &bin,
        admin,
        &[
            "network",
            "agent",
            "list",
            "--router",
            "TenantA-R1",
            "-f",
            "value",
            "-c",
            "Agent Type",
            "-c",
            "Host",
        ],
    );
    assert_eq!(hosting.trim(), "L3 agent network", "{hosting}");
    wait_ports_active(l, &bin, user, "TenantA-R1");
    let owners = os(
        l,
        &bin,
        admin,
        &[
            "port",
            "list",
            "--router",
            "TenantA-R1",
            "--long",
            "-f",
            "value",
            "-c",
            "Device Owner",
        ],
    );
    assert!(
        owners.contains("network:router_interface") && owners.contains("network:router_gateway"),
        "{owners}"
    );
    wait_floating_ip_active(l, &bin, user, &fip);

    // The operator moves the router off its L3 agent and back, with Neutron's
    // l3_agent_scheduler calls: the namespace goes and comes back, the ports follow.
    let agent_id = os(
        l,
        &bin,
        admin,
        &[
            "network",
            "agent",
            "list",
            "--agent-type",
            "l3",
            "-f",
            "value",
            "-c",
            "ID",
        ],
    )
    .trim()
    .to_string();
    let ns = format!("qrouter-{rid}");
    os(
        l,
        &bin,
        admin,
        &[
            "network",
            "agent",
            "remove",
            "router",
            "--l3",
            &agent_id,
            "TenantA-R1",
        ],
    );
    let hosting = os(
        l,
        &bin,
        admin,
        &[
            "network",
            "agent",
            "list",
            "--router",
            "TenantA-R1",
            "-f",
            "value",
        ],
    );
    assert!(hosting.trim().is_empty(), "{hosting}");
    eventually(
        "the router's namespace to go",
        Duration::from_secs(30),
        || !lab::net::netns_exists(&ns),
    );
    let routers = os(
        l,
        &bin,
        admin,
        &[
            "router", "list", "--agent", &agent_id, "-f", "value", "-c", "Name",
        ],
    );
    assert!(routers.trim().is_empty(), "{routers}");
    os(
        l,
        &bin,
        admin,
        &[
            "network",
            "agent",
            "add",
            "router",
            "--l3",
            &agent_id,
            "TenantA-R1",
        ],
    );
    let routers = os(
        l,
        &bin,
        admin,
        &[
            "router", "list", "--agent", &agent_id, "-f", "value", "-c", "Name",
        ],
    );
    assert_eq!(routers.trim(), "TenantA-R1");
    wait_ports_active(l, &bin, user, "TenantA-R1");
    wait_floating_ip_active(l, &bin, user, &fip);

    // And the traffic takes that way.
    l.state.routers.push(lab::state::Router {
        name: "TenantA-R1".into(),
        id: rid,
        tenant: "TenantA".into(),
        gateway_ip: gw_ip,
    });
    l.state.floating_ips.push(lab::state::FloatingIp {
        id: String::new(),
        address: fip,
        vm: "vm1".into(),
    });
    for (what, ok, detail) in lab::l3::checks(l) {
        assert!(ok, "{what}: {detail}");
    }
}
