//! A port's extra DHCP options through the whole path (root, namespaces only): set
//! on vm1's port through the API, carried by the host view to the agent, compiled
//! into the switch's DHCP binding, and read by a real DHCP client (busybox udhcpc)
//! in the VM; a change through the API reaches the next answer.
//!
//! The lab has its own prefix and is removed by a guard, also on failure.

mod common;

use common::{call, eventually};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A udhcpc script that only writes down what it was given (the VM keeps its
/// address).
fn write_script(dir: &Path) -> (PathBuf, PathBuf) {
    let script = dir.join("extra-dhcp.sh");
    let log = dir.join("extra-dhcp.log");
    let text = format!(
        "#!/bin/sh\n[ \"$1\" = bound ] && echo \"siaddr=$siaddr tftp=$tftp bootfile=$bootfile ntpsrv=$ntpsrv router=$router\" >> {}\nexit 0\n",
        log.display()
    );
    std::fs::write(&script, text).expect("write script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, log)
}

/// One DHCP exchange in `vm` asking for options 66, 67 and 42; the line the
/// script wrote.
fn lease(vm: &lab::Vm, script: &Path, log: &Path) -> String {
    let _ = std::fs::remove_file(log);
    let s = script.display().to_string();
    let out = Command::new("ip")
        .args([
            "netns", "exec", &vm.ns, "busybox", "udhcpc", "-i", &vm.tap, "-n", "-q", "-f", "-s",
            &s, "-t", "5", "-T", "1", "-O", "tftp", "-O", "bootfile", "-O", "ntpsrv",
        ])
        .output()
        .expect("run udhcpc");
    assert!(
        out.status.success(),
        "udhcpc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn extra_dhcp_options_reach_the_vm() {
    if common::lab_available() {
        common::require_tool("busybox", "busybox");
    }
    let Some(mut g) = common::lab_up("x", "a", |_| {}) else {
        return;
    };
    let l = g.lab();
    let vm1 = l.vm("vm1").unwrap();
    let ta = l.state.tenant("TenantA").unwrap().clone();
    let (script, log) = write_script(&l.state.dir);
    let port = format!("/v2.0/ports/{}", vm1.port_id);

    // Before: nothing of it.
    let before = lease(&vm1, &script, &log);
    assert!(before.contains("tftp= bootfile= ntpsrv="), "{before}");

    call(
        l,
        Some(&ta),
        "PUT",
        &port,
        json!({"port": {"extra_dhcp_opts": [
            {"opt_name": "tftp-server", "opt_value": "10.0.0.9"},
            {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
            {"opt_name": "server-ip-address", "opt_value": "10.0.0.9"},
            {"opt_name": "ntp-server", "opt_value": "10.0.0.1,10.0.0.2"},
            // Kept by the API, left out by the agent (not an IPv4 address).
            {"opt_name": "tftp-server-address", "opt_value": "2015::dead"}]}}),
    );
    let mut got = String::new();
    eventually(
        "the options in the DHCP answer",
        Duration::from_secs(20),
        || {
            got = lease(&vm1, &script, &log);
            got.contains("bootfile=pxelinux.0")
        },
    );
    assert!(got.contains("siaddr=10.0.0.9"), "{got}");
    assert!(got.contains("tftp=10.0.0.9"), "{got}");
    assert!(got.contains("ntpsrv=10.0.0.1 10.0.0.2"), "{got}");
    // The subnet's router is still given.
    assert!(got.contains("router=10.0.0.1"), "{got}");

    // Removing one through the API removes it from the answer.
    call(
        l,
        Some(&ta),
        "PUT",
        &port,
        json!({"port": {"extra_dhcp_opts": [{"opt_name": "bootfile-name", "opt_value": null}]}}),
    );
    eventually("bootfile-name gone", Duration::from_secs(20), || {
        got = lease(&vm1, &script, &log);
        got.contains("bootfile= ")
    });
    assert!(got.contains("tftp=10.0.0.9"), "{got}");
}
