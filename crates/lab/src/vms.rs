//! VMs: a namespace per VM whose NIC is the tap the agent plugs, an address (and
//! routes) from the switch's DHCP responder through busybox udhcpc, and pings
//! between them.

use crate::state::Vm;
use crate::topology::Lab;
use crate::{Result, fail, net};
use std::time::{Duration, Instant};

/// The udhcpc script: applies what the DHCP answer says (address, MTU, router).
const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
# Written by neutrino lab: applies a DHCP lease inside a VM namespace.
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set dev "$interface" up
    ;;
bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    if [ -n "$router" ]; then
        set -- $router
        ip route replace default via "$1" dev "$interface"
    fi
    # Option 121 (RFC 3442): destination/prefix and gateway pairs.
    if [ -n "$staticroutes" ]; then
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            ip route replace "$1" via "$2" dev "$interface"
            shift 2
        done
    fi
    ;;
esac
exit 0
"#;

/// Boots a VM: its namespace, its port (bound to `host`), waits for the port to
/// be ACTIVE and its tap to appear, then runs DHCP and checks the address.
pub fn create_vm(lab: &mut Lab, name: &str, tenant: &str, host: &str) -> Result<Vm> {
    create_vm_on(lab, name, tenant, None, host)
}

/// [`create_vm`] on another of the tenant's networks than its first.
pub fn create_vm_on(
    lab: &mut Lab,
    name: &str,
    tenant: &str,
    network_id: Option<&str>,
    host: &str,
) -> Result<Vm> {
    if lab.state.vm(name).is_some() {
        return Err(fail!("VM {name} exists already"));
    }
    let mut t = lab
        .state
        .tenant(tenant)
        .cloned()
        .ok_or_else(|| fail!("no tenant {tenant} in this lab"))?;
    if let Some(n) = network_id {
        t.network_id = n.to_string();
    }
    let ns = format!("{}-{name}", lab.state.prefix);
    lab.adopt_ns(&ns)?;
    let port = lab.api.create_vm_port(&t, &ns, host)?;
    let id = port["id"].as_str().unwrap_or_default().to_string();
    let ip = port["fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let vm = Vm {
        name: name.into(),
        ns,
        host: host.into(),
        tenant: tenant.into(),
        tap: format!("tap{}", id.chars().take(11).collect::<String>()),
        port_id: id,
        mac: port["mac_address"].as_str().unwrap_or_default().to_string(),
        ip,
    };
    lab.state.vms.push(vm.clone());
    lab.state.save()?;
    lab.api
        .wait_port_status(&vm.port_id, "ACTIVE", Duration::from_secs(30))?;
    wait_nic(&vm, Duration::from_secs(10))?;
    let got = dhcp(lab, &vm)?;
    let want = format!("{}/24", vm.ip);
    if got.as_deref() != Some(want.as_str()) {
        return Err(fail!(
            "{name} got {} by DHCP, the server gave its port {want}",
            got.unwrap_or_else(|| "no address".into())
        ));
    }
    Ok(vm)
}

fn wait_nic(vm: &Vm, within: Duration) -> Result<()> {
    let until = Instant::now() + within;
    while net::ip_in(&vm.ns, &["link", "show", &vm.tap]).is_err() {
        if Instant::now() >= until {
            return Err(fail!(
                "{}'s NIC {} never appeared in {}",
                vm.name,
                vm.tap,
                vm.ns
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Runs busybox udhcpc in the VM; returns the address it then has (CIDR).
pub fn dhcp(lab: &Lab, vm: &Vm) -> Result<Option<String>> {
    let script = lab.state.dir.join("udhcpc.sh");
    if !script.exists() {
        std::fs::write(&script, UDHCPC_SCRIPT)
            .map_err(|e| fail!("cannot write {}: {e}", script.display()))?;
        let perm = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
        std::fs::set_permissions(&script, perm)
            .map_err(|e| fail!("cannot chmod {}: {e}", script.display()))?;
    }
    let s = script.display().to_string();
    let out = net::exec_in(
        &vm.ns,
        "busybox",
        &[
            "udhcpc",
            "-i",
            &vm.tap,
            "-n",
            "-q",
            "-f",
            "-t",
            "5",
            "-T",
            "2",
            "-O",
            "mtu",
            "-O",
            "staticroutes",
            "-s",
            &s,
        ],
    )?;
    if !out.status.success() {
        return Err(fail!(
            "DHCP in {} failed: {}",
            vm.name,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(address(vm))
}

/// What the metadata service answers the VM at `path` (curl inside the VM).
pub fn metadata(vm: &Vm, path: &str) -> Result<String> {
    let url = format!("http://169.254.169.254/{}", path.trim_start_matches('/'));
    let out = net::exec_in(&vm.ns, "curl", &["-sS", "-f", "-m", "5", &url])?;
    if !out.status.success() {
        return Err(fail!(
            "{}: GET {url}: {}",
            vm.name,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The VM's IPv4 address (CIDR), if it has one.
pub fn address(vm: &Vm) -> Option<String> {
    let out = net::ip_in(&vm.ns, &["-4", "-o", "addr", "show", "dev", &vm.tap]).ok()?;
    out.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .map(str::to_string)
}

/// The VM NIC's MTU.
pub fn mtu(vm: &Vm) -> Option<u32> {
    let out = net::ip_in(&vm.ns, &["-o", "link", "show", "dev", &vm.tap]).ok()?;
    out.split_whitespace()
        .skip_while(|w| *w != "mtu")
        .nth(1)
        .and_then(|m| m.parse().ok())
}

/// What a ping run saw.
#[derive(Debug, Clone, PartialEq)]
pub struct PingResult {
    pub from: String,
    pub to: String,
    pub sent: u32,
    pub received: u32,
    pub avg_ms: Option<f64>,
}

impl PingResult {
    pub fn require_all(&self) -> Result<()> {
        if self.sent > 0 && self.received == self.sent {
            Ok(())
        } else {
            Err(fail!(
                "{} -> {}: {}/{} replies",
                self.from,
                self.to,
                self.received,
                self.sent
            ))
        }
    }
}

/// Pings `to` from `vm`, `count` times, 0.2 s apart.
pub fn ping(vm: &Vm, to: &str, count: u32) -> Result<PingResult> {
    let r = net::ping(&vm.ns, to, count, &["-n"]);
    if r.status.is_none() {
        return Err(fail!("{}", r.describe()));
    }
    Ok(parse_ping(&vm.name, to, &r.stdout))
}

pub fn parse_ping(from: &str, to: &str, text: &str) -> PingResult {
    let mut r = PingResult {
        from: from.into(),
        to: to.into(),
        sent: 0,
        received: 0,
        avg_ms: None,
    };
    for line in text.lines() {
        if line.contains("packets transmitted") {
            let nums: Vec<u32> = line
                .split(',')
                .filter_map(|p| p.split_whitespace().next()?.parse().ok())
                .collect();
            if nums.len() >= 2 {
                r.sent = nums[0];
                r.received = nums[1];
            }
        }
        if let Some(stats) = line.strip_prefix("rtt min/avg/max/mdev = ") {
            r.avg_ms = stats.split('/').nth(1).and_then(|v| v.parse().ok());
        }
    }
    r
}

/// Deletes a VM's port through the API (the agent unplugs it) and forgets the VM;
/// its namespace stays until `lab down` (as a VM outlives its port).
pub fn delete_vm_port(lab: &mut Lab, name: &str) -> Result<()> {
    let vm = lab.vm(name)?;
    lab.api.delete_port(&vm.port_id)?;
    lab.state.vms.retain(|v| v.name != name);
    lab.state.save()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_ping_summary() {
        let text = "PING 10.0.0.4 (10.0.0.4) 56(84) bytes of data.\n\
            64 bytes from 10.0.0.4: icmp_seq=1 ttl=64 time=0.512 ms\n\n\
            --- 10.0.0.4 ping statistics ---\n\
            3 packets transmitted, 2 received, 33.3333% packet loss, time 401ms\n\
            rtt min/avg/max/mdev = 0.301/0.406/0.512/0.105 ms\n";
        let r = super::parse_ping("vm1", "10.0.0.4", text);
        assert_eq!((r.sent, r.received), (3, 2));
        assert_eq!(r.avg_ms, Some(0.406));
        assert!(r.require_all().is_err());
    }
}
