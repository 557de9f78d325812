//! What `lab up` and `lab status` print: nodes, agents, VMs, pings and one
//! compute's switch, and whether all of it is healthy.

use crate::topology::Lab;
use crate::vms;
use std::fmt::Write;

/// The lab as text, and whether everything checked out.
pub fn report(lab: &Lab) -> (String, bool) {
    let mut ok = true;
    let mut s = String::new();
    let live = lab.live_processes();
    let _ = writeln!(
        s,
        "lab '{}' in {} ({} tunnels)",
        lab.state.prefix,
        lab.state.dir.display(),
        lab.state.tunnel_type
    );
    let _ = writeln!(s, "\nnodes:");
    let _ = writeln!(
        s,
        "  {:<12} {:<22} {:<15} {:<15} processes",
        "node", "namespace", "management", "data"
    );
    let mut want_procs = 0;
    for n in &lab.state.nodes {
        let mut procs: Vec<String> = Vec::new();
        for (what, pid) in live.iter() {
            if what == "server" && n.name == "controller" {
                procs.push(format!("server({pid})"));
            }
            if let Some(w) = what.strip_prefix(&format!("{}/", n.name)) {
                procs.push(format!("{w}({pid})"));
            }
        }
        want_procs += usize::from(n.name == "controller")
            + usize::from(n.switchd_pid.is_some())
            + usize::from(n.agent_pid.is_some());
        let _ = writeln!(
            s,
            "  {:<12} {:<22} {:<15} {:<15} {}",
            n.name,
            n.ns,
            n.mgmt_ip,
            n.data_ip.as_deref().unwrap_or("-"),
            if procs.is_empty() {
                "none".to_string()
            } else {
                procs.join(" ")
            }
        );
    }
    if live.len() < want_procs {
        ok = false;
        let _ = writeln!(
            s,
            "  !! {} of {want_procs} processes are running",
            live.len()
        );
    }
    let _ = writeln!(s, "\nagents:");
    match lab.api.agents() {
        Ok(agents) => {
            let _ = writeln!(
                s,
                "  {:<12} {:<20} {:<6} {:<6} tunnel ip",
                "host", "type", "alive", "state"
            );
            for a in &agents {
                let alive = a["alive"] == true;
                ok &= alive;
                let _ = writeln!(
                    s,
                    "  {:<12} {:<20} {:<6} {:<6} {}",
                    a["host"].as_str().unwrap_or("?"),
                    a["agent_type"].as_str().unwrap_or("?"),
                    if alive { ":-)" } else { "XXX" },
                    if a["admin_state_up"] == true {
                        "UP"
                    } else {
                        "DOWN"
                    },
                    a["configurations"]["tunneling_ip"].as_str().unwrap_or("-"),
                );
            }
        }
        Err(e) => {
            ok = false;
            let _ = writeln!(s, "  !! {e}");
        }
    }
    if !lab.state.vms.is_empty() {
        let _ = writeln!(s, "\nVMs:");
        let _ = writeln!(
            s,
            "  {:<6} {:<12} {:<10} {:<18} {:<16} {:<5} status",
            "vm", "host", "tenant", "mac", "address", "mtu"
        );
        for vm in &lab.state.vms {
            let status = lab
                .api
                .port(&vm.port_id)
                .map(|p| p["status"].as_str().unwrap_or("?").to_string())
                .unwrap_or_else(|e| e.to_string());
            let addr = vms::address(vm);
            let want = format!("{}/24", vm.ip);
            ok &= status == "ACTIVE" && addr.as_deref() == Some(want.as_str());
            let _ = writeln!(
                s,
                "  {:<6} {:<12} {:<10} {:<18} {:<16} {:<5} {}",
                vm.name,
                vm.host,
                vm.tenant,
                vm.mac,
                addr.unwrap_or_else(|| "none".into()),
                vms::mtu(vm)
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "?".into()),
                status
            );
        }
        let _ = writeln!(s, "\nconnectivity:");
        for a in &lab.state.vms {
            for b in &lab.state.vms {
                if a.name == b.name || a.tenant != b.tenant {
                    continue;
                }
                match vms::ping(a, &b.ip, 3) {
                    Ok(r) => {
                        ok &= r.require_all().is_ok();
                        let _ = writeln!(
                            s,
                            "  {} -> {} ({}): {}/{} replies{}",
                            a.name,
                            b.name,
                            b.ip,
                            r.received,
                            r.sent,
                            r.avg_ms
                                .map(|m| format!(", avg {m:.3} ms"))
                                .unwrap_or_default()
                        );
                    }
                    Err(e) => {
                        ok = false;
                        let _ = writeln!(s, "  {} -> {}: {e}", a.name, b.name);
                    }
                }
            }
        }
    }
    if !lab.state.vms.is_empty() {
        let _ = writeln!(s, "\nmetadata (curl http://169.254.169.254 in each VM):");
        for vm in &lab.state.vms {
            let got = |p: &str| vms::metadata(vm, &format!("/latest/meta-data/{p}"));
            match (got("instance-id"), got("local-ipv4")) {
                (Ok(id), Ok(ip)) => {
                    ok &= id == vm.ns && ip == vm.ip;
                    let public = got("public-ipv4")
                        .map(|a| format!(", public-ipv4 {a}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        s,
                        "  {}: instance-id {id}, local-ipv4 {ip}{public}",
                        vm.name
                    );
                }
                (Err(e), _) | (_, Err(e)) => {
                    ok = false;
                    let _ = writeln!(s, "  !! {e}");
                }
            }
        }
    }
    if !lab.state.routers.is_empty() {
        let _ = writeln!(s, "\nrouters:");
        for r in &lab.state.routers {
            let ns = format!("qrouter-{}", r.id);
            let _ = writeln!(s, "  {} ({}) in {ns}", r.name, r.tenant);
            match crate::net::ip_in(&ns, &["-br", "-4", "addr", "show"]) {
                Ok(out) => out
                    .lines()
                    .filter(|l| l.starts_with("qr-") || l.starts_with("qg-"))
                    .for_each(|l| {
                        let _ = writeln!(s, "    {l}");
                    }),
                Err(e) => {
                    ok = false;
                    let _ = writeln!(s, "    !! {e}");
                }
            }
        }
        let _ = writeln!(s, "\nfloating IPs:");
        for f in &lab.state.floating_ips {
            let vm_ip = lab
                .state
                .vm(&f.vm)
                .map(|v| v.ip.clone())
                .unwrap_or_default();
            let _ = writeln!(s, "  {} -> {} ({})", f.address, vm_ip, f.vm);
        }
        let _ = writeln!(s, "\nthe way out:");
        for (what, passed, detail) in crate::l3::checks(lab) {
            ok &= passed;
            let mark = if passed { "" } else { "!! " };
            let _ = writeln!(s, "  {mark}{what}: {detail}");
        }
    }
    if let Some(c) = lab.state.computes().next() {
        let _ = writeln!(s, "\nswitch show on {}:", c.name);
        match lab.switch(&c.name, &["show"]) {
            Ok(out) => out.lines().for_each(|l| {
                let _ = writeln!(s, "  {l}");
            }),
            Err(e) => {
                ok = false;
                let _ = writeln!(s, "  !! {e}");
            }
        }
    }
    let _ = writeln!(
        s,
        "\n{}",
        if ok {
            "lab is healthy"
        } else {
            "lab has problems (see !! and the logs in DIR/logs)"
        }
    );
    (s, ok)
}
