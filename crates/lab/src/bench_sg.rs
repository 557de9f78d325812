//! `lab bench-sg`: what security groups cost and how fast they change, on a lab
//! that is up (issue 18).
//!
//! - `throughput`: one TCP stream vm1 -> vm2 (across hosts) with both ports in
//!   TenantA's default group (the firewall and its conntrack on every packet),
//!   against the same ports with port security off, in the same run, alternating.
//! - `connections`: new TCP connections per second (connect, one request, close;
//!   `neutrino lab crr`) vm1 -> vm2 through neutrino's conntrack, against the
//!   kernel's: the same two hosts with a Linux bridge and a vxlan device each (a
//!   `lab pair` of kind kernel-vxlan, made and removed in the run) and nftables
//!   `ct state` rules in the VMs (established and related in, new only to the
//!   server's port), alternating.
//! - `rule`: the time from a rule created through the API to its traffic passing,
//!   with COUNT more ports in the group bound across the computes (their devices
//!   wired, their flows compiled and applied on every change).

use crate::bench_l3::{median, parse_iperf_gbps};
use crate::topology::Lab;
use crate::{Result, fail, progress};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const IPERF_PORT: u16 = 5311;
const CRR_PORT: u16 = 5312;
const RULE_PORT: u16 = 5313;

/// Kills its children (by PID) when dropped.
struct Kids(Vec<Child>);

impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn in_ns(ns: &str, program: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]).args(args);
    c
}

fn spawn_quiet(mut c: Command) -> Result<Child> {
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail!("cannot start a server: {e}"))
}

/// The tenant's user changes a port.
fn put_port(lab: &Lab, tenant: &str, port: &str, body: Value) -> Result<()> {
    let t = lab.tenant(tenant)?;
    let path = format!("/v2.0/ports/{port}");
    lab.api.with(lab.api.user(&t), move |c| async move {
        c.put(&path, &json!({ "port": body }))
            .await
            .map_err(|e| fail!("PUT {path}: {e}"))?;
        Ok(())
    })
}

fn default_group(lab: &Lab, tenant: &str) -> Result<String> {
    let t = lab.tenant(tenant)?;
    lab.api.with(lab.api.user(&t), move |c| async move {
        let g = c
            .get("/v2.0/security-groups", &[("name", "default")])
            .await
            .map_err(|e| fail!("security groups: {e}"))?;
        g["security_groups"][0]["id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| fail!("TenantA has no default group"))
    })
}

/// Whether `tap`'s egress anti-spoofing is on its compute's br-int (port
/// security on), waiting up to 30 s for it to be `want`.
fn wait_filtered(lab: &Lab, host: &str, tap: &str, want: bool) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let flows = lab.switch(host, &["dump-flows", "br-int", "--table", "71"])?;
        if flows.contains(tap) == want {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(fail!(
                "{tap}'s firewall flows did not {} in 30 s",
                if want { "appear" } else { "go" }
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Port security on (the default group) or off for vm1 and vm2.
fn set_security(lab: &Lab, on: bool) -> Result<()> {
    let sg = default_group(lab, "TenantA")?;
    for name in ["vm1", "vm2"] {
        let vm = lab.vm(name)?;
        let body = if on {
            json!({"port_security_enabled": true, "security_groups": [sg]})
        } else {
            json!({"port_security_enabled": false, "security_groups": []})
        };
        put_port(lab, "TenantA", &vm.port_id, body)?;
    }
    for name in ["vm1", "vm2"] {
        let vm = lab.vm(name)?;
        wait_filtered(lab, &vm.host, &vm.tap, on)?;
    }
    Ok(())
}

fn iperf(server_ns: &str, client_ns: &str, to: &str, seconds: u32) -> Result<f64> {
    let p = IPERF_PORT.to_string();
    let _server = Kids(vec![spawn_quiet(in_ns(
        server_ns,
        "iperf3",
        &["-s", "-1", "-p", &p],
    ))?]);
    std::thread::sleep(Duration::from_millis(300));
    let out = in_ns(
        client_ns,
        "iperf3",
        &["-c", to, "-p", &p, "-t", &seconds.to_string(), "-J"],
    )
    .output()
    .map_err(|e| fail!("iperf3: {e}"))?;
    parse_iperf_gbps(&String::from_utf8_lossy(&out.stdout))
}

/// Gbps with the default group on and with port security off.
pub fn bench_throughput(lab: &Lab, runs: usize, seconds: u32) -> Result<(Vec<f64>, Vec<f64>)> {
    let (vm1, vm2) = (lab.vm("vm1")?, lab.vm("vm2")?);
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for i in 0..runs {
        for secured in [true, false] {
            set_security(lab, secured)?;
            progress(format!(
                "run {}/{runs}: TCP vm1 -> vm2, port security {}",
                i + 1,
                if secured { "on" } else { "off" }
            ));
            let g = iperf(&vm2.ns, &vm1.ns, &vm2.ip, seconds)?;
            if secured { on.push(g) } else { off.push(g) }
        }
    }
    set_security(lab, true)?;
    Ok((on, off))
}

fn crr(
    client_ns: &str,
    server_ns: &str,
    to: &str,
    seconds: u64,
    exe: &std::path::Path,
) -> Result<f64> {
    let exe = exe.to_string_lossy().to_string();
    let p = CRR_PORT.to_string();
    let _server = Kids(vec![spawn_quiet(in_ns(
        server_ns,
        &exe,
        &["lab", "crr", "--listen", &p],
    ))?]);
    std::thread::sleep(Duration::from_millis(300));
    let out = in_ns(
        client_ns,
        &exe,
        &[
            "lab",
            "crr",
            "--connect",
            &format!("{to}:{p}"),
            "--seconds",
            &seconds.to_string(),
        ],
    )
    .output()
    .map_err(|e| fail!("crr client: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse::<f64>().map_err(|_| {
        fail!(
            "crr client: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// nftables in a reference VM: established and related in; new only to `port`
/// (the server) or nothing new at all (the client).
fn nft_ct_rules(ns: &str, port: Option<u16>) -> Result<()> {
    let new = port
        .map(|p| format!("\t\ttcp dport {p} ct state new accept\n"))
        .unwrap_or_default();
    let table = format!(
        "table inet sg {{\n\tchain input {{\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established,related accept\n\t\tct state invalid drop\n{new}\t\tiifname \"lo\" accept\n\t}}\n}}\n"
    );
    let r = crate::cmd::run(
        "ip",
        &["netns", "exec", ns, "nft", "-f", "-"],
        Some(&table),
        crate::cmd::CMD_TIMEOUT,
    );
    if !r.ok() {
        return Err(fail!("nftables in {ns}: {}", r.describe()));
    }
    Ok(())
}

/// Connections per second: (neutrino, kernel), `runs` each, alternating.
/// `open`: port security off on vm1 and vm2 (restored after), and no nftables
/// in the reference's VMs.
pub fn bench_connections(
    lab: &Lab,
    runs: usize,
    seconds: u64,
    open: bool,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (vm1, vm2) = (lab.vm("vm1")?, lab.vm("vm2")?);
    let prefix = format!(
        "{}k",
        lab.state
            .prefix
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase()
    );
    let dir = lab.state.dir.join("bench-sg-pair");
    let o = crate::pair::PairOptions {
        prefix: &prefix,
        dir: &dir,
        neutrino: &lab.neutrino,
        kind: crate::pair::PairKind::KernelVxlan,
        switchd_args: &[],
        vm_ports: "tap",
    };
    progress(if open {
        "building the kernel reference (Linux bridge + vxlan per host, no nftables)"
    } else {
        "building the kernel reference (Linux bridge + vxlan per host, nftables ct rules in the VMs)"
    });
    let pair = crate::pair::up(&o)?;
    let result = (|| -> Result<(Vec<f64>, Vec<f64>)> {
        let (k1, k2) = match pair.vms.as_slice() {
            [a, b] => (a.clone(), b.clone()),
            _ => return Err(fail!("the reference pair has no two VMs")),
        };
        if open {
            set_security(lab, false)?;
        } else {
            nft_ct_rules(&k2.ns, Some(CRR_PORT))?;
            nft_ct_rules(&k1.ns, None)?;
        }
        let (mut ours, mut kernel) = (Vec::new(), Vec::new());
        for i in 0..runs {
            progress(format!(
                "run {}/{runs}: connections vm1 -> vm2 (neutrino), then the kernel's",
                i + 1
            ));
            ours.push(crr(&vm1.ns, &vm2.ns, &vm2.ip, seconds, &lab.neutrino)?);
            kernel.push(crr(&k1.ns, &k2.ns, &k2.ip, seconds, &lab.neutrino)?);
        }
        Ok((ours, kernel))
    })();
    let restored = if open {
        set_security(lab, true)
    } else {
        Ok(())
    };
    crate::pair::down(&dir, &prefix)?;
    restored?;
    result
}

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or_default()
}

/// One rule's way from the API to the traffic: ms from the POST to the first
/// connection through, per run. vm2 and `ports` - 1 more ports (VMs bound across
/// the computes) are put in a group of their own with no inbound rule; vm1 probes
/// vm2 every 10 ms while a rule opening the port is created; the rule is deleted
/// again between runs. vm2 goes back to the default group at the end.
pub fn bench_rule(lab: &mut Lab, ports: usize, runs: usize) -> Result<Vec<f64>> {
    let t = lab.tenant("TenantA")?;
    let (vm1, vm2) = (lab.vm("vm1")?, lab.vm("vm2")?);
    let default = default_group(lab, "TenantA")?;
    let sg = create_group(lab, &t, "bench-rule")?;
    put_port(
        lab,
        "TenantA",
        &vm2.port_id,
        json!({"security_groups": [sg]}),
    )?;
    let computes: Vec<String> = lab
        .state
        .nodes
        .iter()
        .filter(|n| n.name.starts_with("compute"))
        .map(|n| n.name.clone())
        .collect();
    progress(format!(
        "binding {} more ports in the group across {}",
        ports.saturating_sub(1),
        computes.join(", ")
    ));
    for i in 0..ports.saturating_sub(1) {
        let name = format!("sgb{i}");
        if lab.vm(&name).is_err() {
            let host = computes[i % computes.len().max(1)].clone();
            crate::vms::create_vm(lab, &name, "TenantA", &host)?;
        }
        let port = lab.vm(&name)?.port_id;
        put_port(lab, "TenantA", &port, json!({"security_groups": [sg]}))?;
    }
    let exe = lab.neutrino.to_string_lossy().to_string();
    let p = RULE_PORT.to_string();
    let _server = Kids(vec![spawn_quiet(in_ns(
        &vm2.ns,
        &exe,
        &["lab", "crr", "--listen", &p],
    ))?]);
    let to = format!("{}:{p}", vm2.ip);
    let mut times = Vec::new();
    for i in 0..runs {
        // Closed now (no rule yet, or the last one gone): the probe must fail.
        std::thread::sleep(Duration::from_secs(2));
        if crate::crr::probe_once(&vm1.ns, &exe, &to) {
            return Err(fail!("vm2:{p} is open before the rule is made"));
        }
        let mut probe = in_ns(
            &vm1.ns,
            &exe,
            &["lab", "crr", "--probe", "--connect", &to, "--seconds", "20"],
        );
        probe.stdout(Stdio::piped()).stderr(Stdio::null());
        let child = probe.spawn().map_err(|e| fail!("probe: {e}"))?;
        std::thread::sleep(Duration::from_millis(500));
        let sent = epoch_ms();
        let id = create_tcp_rule(lab, &t, &sg, RULE_PORT)?;
        let out = child.wait_with_output().map_err(|e| fail!("probe: {e}"))?;
        let at: f64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| fail!("the probe never got through"))?;
        times.push(at - sent);
        progress(format!("run {}/{runs}: {:.0} ms", i + 1, at - sent));
        delete_rule(lab, &t, &id)?;
    }
    put_port(
        lab,
        "TenantA",
        &vm2.port_id,
        json!({"security_groups": [default]}),
    )?;
    Ok(times)
}

fn create_group(lab: &Lab, t: &crate::state::Tenant, name: &str) -> Result<String> {
    let body = json!({"security_group": {"name": name}});
    lab.api.with(lab.api.user(t), move |c| async move {
        let r = c
            .post("/v2.0/security-groups", &body)
            .await
            .map_err(|e| fail!("POST group: {e}"))?;
        r["security_group"]["id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| fail!("the group has no id"))
    })
}

fn delete_rule(lab: &Lab, t: &crate::state::Tenant, id: &str) -> Result<()> {
    let path = format!("/v2.0/security-group-rules/{id}");
    lab.api.with(lab.api.user(t), move |c| async move {
        c.delete(&path)
            .await
            .map_err(|e| fail!("DELETE {path}: {e}"))?;
        Ok(())
    })
}

fn create_tcp_rule(lab: &Lab, t: &crate::state::Tenant, sg: &str, port: u16) -> Result<String> {
    let body = json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress",
        "ethertype": "IPv4", "protocol": "tcp", "port_range_min": port,
        "port_range_max": port, "remote_ip_prefix": "0.0.0.0/0"}});
    lab.api.with(lab.api.user(t), move |c| async move {
        let r = c
            .post("/v2.0/security-group-rules", &body)
            .await
            .map_err(|e| fail!("POST rule: {e}"))?;
        r["security_group_rule"]["id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| fail!("the rule has no id"))
    })
}

pub fn print(title: &str, unit: &str, ours: &[f64], base: &[f64], base_name: &str, target: &str) {
    let (a, b) = (median(ours), median(base));
    println!("{title}");
    println!(
        "  neutrino {a:.2} {unit}, {base_name} {b:.2} {unit}: ratio {:.2} (target {target})",
        a / b.max(1e-9)
    );
    println!("  runs: neutrino {ours:.2?}  {base_name} {base:.2?}");
}
