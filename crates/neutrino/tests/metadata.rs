//! Issue 20's metadata tests on the lab (root, namespaces only): VMs with and
//! without a router fetch their own metadata from 169.254.169.254 (and over
//! IPv6 from fe80::a9fe:a9fe), two tenants with the same 10.0.0.0/24 each get
//! their own, a spoofed source gets nothing, a network's namespace goes with its
//! last port, and the Nova mode forwards with neutron-metadata-agent's headers
//! to a fake Nova started here.
//!
//! Every lab has its own prefix and is removed by a guard, also on failure.

mod common;

use common::eventually;
use lab::{net, vms};
use serde_json::Value;
use std::io::{Read, Write};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

fn up(tag: &str) -> Option<lab::LabGuard> {
    if common::lab_available() {
        common::require_tool("busybox", "busybox");
        common::require_tool("curl", "curl");
    }
    common::lab_up("m", tag, |_| {})
}

fn get(vm: &lab::Vm, path: &str) -> Result<String, String> {
    vms::metadata(vm, path).map_err(|e| e.to_string())
}

fn namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn each_vm_gets_its_own_metadata_with_and_without_a_router() {
    let Some(mut g) = up("a") else { return };
    let l = g.lab();
    let vm1 = l.vm("vm1").unwrap();
    let vm2 = l.vm("vm2").unwrap();
    // TenantA's VMs: behind a router; vm1 has a floating IP.
    for vm in [&vm1, &vm2] {
        assert_eq!(get(vm, "/latest/meta-data/instance-id").unwrap(), vm.ns);
        assert_eq!(get(vm, "/latest/meta-data/local-ipv4").unwrap(), vm.ip);
        assert_eq!(get(vm, "/latest/meta-data/mac").unwrap(), vm.mac);
        let nd: Value =
            serde_json::from_str(&get(vm, "/openstack/latest/network_data.json").unwrap()).unwrap();
        assert_eq!(nd["links"][0]["ethernet_mac_address"], vm.mac.as_str());
        assert_eq!(nd["links"][0]["vif_id"], vm.port_id.as_str());
    }
    let fip = l
        .state
        .floating_ips
        .iter()
        .find(|f| f.vm == "vm1")
        .expect("vm1's floating IP")
        .address
        .clone();
    assert_eq!(get(&vm1, "/latest/meta-data/public-ipv4").unwrap(), fip);
    assert!(get(&vm2, "/latest/meta-data/public-ipv4").is_err());
    let md: Value =
        serde_json::from_str(&get(&vm1, "/openstack/latest/meta_data.json").unwrap()).unwrap();
    let ta = l.state.tenant("TenantA").unwrap().clone();
    assert_eq!(md["uuid"], vm1.ns.as_str());
    assert_eq!(md["project_id"], ta.project_id.as_str());
    assert!(get(&vm1, "/latest/meta-data/no-such-key").is_err());
    assert!(get(&vm1, "/nothing/here").is_err());

    // Over IPv6, from the VM's link-local address.
    let url = format!(
        "http://[fe80::a9fe:a9fe%{}]/latest/meta-data/instance-id",
        vm1.tap
    );
    let out = net::exec_in(&vm1.ns, "curl", &["-sS", "-f", "-g", "-m", "5", &url]).unwrap();
    assert!(
        out.status.success(),
        "IPv6 metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), vm1.ns);

    // TenantB: the same 10.0.0.0/24, no router at all, a VM beside vm1.
    let tb = l.api.create_tenant("TenantB", "10.0.0.0/24").unwrap();
    l.state.tenants.push(tb.clone());
    vms::create_vm(l, "vm3", "TenantB", "compute-01").unwrap();
    let vm3 = l.vm("vm3").unwrap();
    assert_eq!(get(&vm3, "/latest/meta-data/instance-id").unwrap(), vm3.ns);
    assert_eq!(get(&vm3, "/latest/meta-data/local-ipv4").unwrap(), vm3.ip);
    let md: Value =
        serde_json::from_str(&get(&vm3, "/openstack/latest/meta_data.json").unwrap()).unwrap();
    assert_eq!(md["project_id"], tb.project_id.as_str());
    // vm1 still gets its own, whatever address vm3 shares with it.
    assert_eq!(get(&vm1, "/latest/meta-data/instance-id").unwrap(), vm1.ns);

    // A source the port does not own gets nothing (anti-spoofing drops it; no
    // answer for another port either).
    net::ip_in(&vm3.ns, &["addr", "add", "10.0.0.222/24", "dev", &vm3.tap]).unwrap();
    let out = net::exec_in(
        &vm3.ns,
        "curl",
        &[
            "-sS",
            "-f",
            "-m",
            "3",
            "--interface",
            "10.0.0.222",
            "http://169.254.169.254/latest/meta-data/instance-id",
        ],
    )
    .unwrap();
    assert!(
        !out.status.success(),
        "a spoofed source got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    net::ip_in(&vm3.ns, &["addr", "del", "10.0.0.222/24", "dev", &vm3.tap]).unwrap();

    // vm3 was TenantB's only port on compute-01: its namespace goes with it.
    let ns = format!("{}-compute-01-qmeta-{}", l.state.prefix, tb.network_id);
    assert!(namespaces().contains(&ns), "{ns} missing");
    vms::delete_vm_port(l, "vm3").unwrap();
    eventually(
        "the metadata namespace removed",
        Duration::from_secs(20),
        || !namespaces().contains(&ns),
    );
    assert_eq!(get(&vm1, "/latest/meta-data/instance-id").unwrap(), vm1.ns);
}

/// A fake Nova metadata API in the controller's namespace: answers every request
/// with a small JSON body and hands the request's head to the test.
fn fake_nova(ns: &str, addr: &str) -> mpsc::Receiver<String> {
    let a = addr.to_string();
    let listener = host::in_netns(ns, move || std::net::TcpListener::bind(a))
        .unwrap()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = r#"{"from": "nova"}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                return;
            }
        }
    });
    rx
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn nova_mode_forwards_with_the_signed_instance_id() {
    let Some(mut g) = up("n") else { return };
    let l = g.lab();
    let controller = l
        .state
        .nodes
        .iter()
        .find(|n| n.name == "controller")
        .unwrap()
        .clone();
    let nova = format!("{}:18775", controller.mgmt_ip);
    let heads = fake_nova(&controller.ns, &nova);
    let secret = "s3cret-shared";
    l.agent_args.extend([
        "--nova-metadata-url".into(),
        format!("http://{nova}"),
        "--metadata-shared-secret".into(),
        secret.into(),
    ]);
    let vm1 = l.vm("vm1").unwrap();
    l.stop_agent(&vm1.host).unwrap();
    l.start_agent(&vm1.host).unwrap();
    let mut got = Err(String::new());
    eventually(
        "the restarted agent forwarding to Nova",
        Duration::from_secs(30),
        || {
            got = get(&vm1, "/openstack/latest/meta_data.json?x=1");
            got.as_deref() == Ok(r#"{"from": "nova"}"#)
        },
    );
    let head = heads.recv_timeout(Duration::from_secs(5)).unwrap();
    let mut last = head;
    while let Ok(h) = heads.try_recv() {
        last = h;
    }
    assert!(
        last.starts_with("GET /openstack/latest/meta_data.json?x=1 "),
        "{last}"
    );
    let ta = l.state.tenant("TenantA").unwrap().clone();
    assert_eq!(header(&last, "x-instance-id"), Some(vm1.ns.as_str()));
    assert_eq!(header(&last, "x-tenant-id"), Some(ta.project_id.as_str()));
    assert_eq!(header(&last, "x-forwarded-for"), Some(vm1.ip.as_str()));
    // The signature, computed independently of the agent (Python's hmac).
    let py = Command::new("python3")
        .args([
            "-c",
            "import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())",
            secret,
            &vm1.ns,
        ])
        .output()
        .unwrap();
    let want = String::from_utf8_lossy(&py.stdout).trim().to_string();
    assert_eq!(want.len(), 64);
    assert_eq!(
        header(&last, "x-instance-id-signature"),
        Some(want.as_str())
    );
}
