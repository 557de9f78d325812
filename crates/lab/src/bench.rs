//! `lab bench-ports`: how fast the control plane wires ports. On a running lab it
//! creates N ports bound across the computes (16 requests in flight) and measures
//! the time until every one is ACTIVE (its tap plugged and flows in place), against
//! the time the API alone took to create them; then restarts one compute's agent
//! and measures its re-sync with those ports (which must change nothing).

use crate::topology::Lab;
use crate::{Result, fail, progress};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Ports per VM namespace (a VM with many NICs keeps the namespace count sane).
const PORTS_PER_VM: usize = 50;
const IN_FLIGHT: usize = 16;

#[derive(Debug, Clone)]
pub struct BenchResult {
    pub ports: usize,
    pub api_secs: f64,
    pub active_secs: f64,
    pub resync_host: String,
    pub resync_ports: usize,
    pub resync_secs: f64,
    pub resync_apply_ms: u64,
    pub resync_changed: bool,
}

pub fn bench_ports(lab: &mut Lab, count: usize) -> Result<BenchResult> {
    let computes: Vec<String> = lab.state.computes().map(|n| n.name.clone()).collect();
    if computes.is_empty() {
        return Err(fail!("the lab has no compute node"));
    }
    progress("creating BenchNet 10.2.0.0/20");
    let (net, _subnet) = lab.api.with(lab.api.admin(), |c| async move {
        let n = c
            .post("/v2.0/networks", &json!({"network": {"name": "BenchNet"}}))
            .await
            .map_err(|e| fail!("{e}"))?;
        let nid = n["network"]["id"].as_str().unwrap_or_default().to_string();
        let s = c
            .post(
                "/v2.0/subnets",
                &json!({"subnet": {"name": "BenchSubnet", "network_id": nid,
                                   "cidr": "10.2.0.0/20", "ip_version": 4}}),
            )
            .await
            .map_err(|e| fail!("{e}"))?;
        Ok((
            nid,
            s["subnet"]["id"].as_str().unwrap_or_default().to_string(),
        ))
    })?;
    let mut specs = Vec::with_capacity(count);
    for i in 0..count {
        let host = computes[i % computes.len()].clone();
        let vm = format!("{}-bench{}", lab.state.prefix, i / PORTS_PER_VM);
        specs.push((i, host, vm));
    }
    for (_, _, vm) in &specs {
        if !lab.state.namespaces.contains(vm) {
            lab.adopt_ns(vm)?;
            // Hundreds of NICs coming up would each send IPv6 autoconfiguration
            // multicast, flooded to every port: this bench measures wiring, not that.
            for key in ["all", "default"] {
                crate::net::exec_in(
                    vm,
                    "sysctl",
                    &["-qw", &format!("net.ipv6.conf.{key}.disable_ipv6=1")],
                )?;
            }
        }
    }
    let bench_net = net.clone();
    progress(format!(
        "creating {count} ports bound across {}",
        computes.join(", ")
    ));
    let started = Instant::now();
    let ids: Vec<String> = lab.api.with(lab.api.admin(), move |c| async move {
        let mut set = JoinSet::new();
        let mut ids = Vec::new();
        let mut it = specs.into_iter();
        loop {
            while set.len() < IN_FLIGHT {
                let Some((i, host, vm)) = it.next() else {
                    break;
                };
                let (c, net) = (c.clone(), net.clone());
                set.spawn(async move {
                    c.post(
                        "/v2.0/ports",
                        &json!({"port": {"network_id": net, "name": format!("bench-{i}"),
                                         "device_owner": "compute:nova", "device_id": vm,
                                         "binding:host_id": host}}),
                    )
                    .await
                });
            }
            let Some(r) = set.join_next().await else {
                break;
            };
            let p = r.map_err(|e| fail!("{e}"))?.map_err(|e| fail!("{e}"))?;
            ids.push(p["port"]["id"].as_str().unwrap_or_default().to_string());
        }
        Ok(ids)
    })?;
    let api_secs = started.elapsed().as_secs_f64();
    progress(format!(
        "API done in {api_secs:.2} s; waiting for all to be ACTIVE"
    ));
    wait_active(lab, &bench_net, ids.len(), Duration::from_secs(600))?;
    let active_secs = started.elapsed().as_secs_f64();

    let host = computes[0].clone();
    let on_host = ids.len().div_ceil(computes.len());
    progress(format!("restarting the agent on {host}"));
    let log = lab.state.dir.join("logs").join(format!("{host}-agent.log"));
    let t = Instant::now();
    lab.restart_agent(&host)?;
    let (apply_ms, changed) = wait_in_sync(&log, Duration::from_secs(300))?;
    let resync_secs = t.elapsed().as_secs_f64();
    Ok(BenchResult {
        ports: ids.len(),
        api_secs,
        active_secs,
        resync_host: host,
        resync_ports: on_host,
        resync_secs,
        resync_apply_ms: apply_ms,
        resync_changed: changed,
    })
}

fn wait_active(lab: &Lab, net: &str, want: usize, within: Duration) -> Result<()> {
    let until = Instant::now() + within;
    loop {
        let net = net.to_string();
        let n = lab.api.with(lab.api.admin(), |c| async move {
            let v = c
                .get(
                    "/v2.0/ports",
                    &[
                        ("status", "ACTIVE"),
                        ("network_id", net.as_str()),
                        // The bench's own ports: the network's DHCP port is
                        // ACTIVE from the start.
                        ("device_owner", "compute:nova"),
                        ("fields", "id"),
                    ],
                )
                .await
                .map_err(|e| fail!("{e}"))?;
            Ok(v["ports"].as_array().map_or(0, Vec::len))
        })?;
        if n >= want {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(fail!("only {n} of {want} ports became ACTIVE"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the restarted agent's first "in sync" log line; returns its apply
/// time and whether it changed anything on the switch.
pub(crate) fn wait_in_sync(log: &std::path::Path, within: Duration) -> Result<(u64, bool)> {
    let until = Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("in sync")) {
            let field = |name: &str| -> u64 {
                line.split_whitespace()
                    .find_map(|w| {
                        strip_ansi(w)
                            .strip_prefix(&format!("{name}="))
                            .map(str::to_string)
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            let changed = field("added") + field("removed") > 0;
            return Ok((field("elapsed_ms"), changed));
        }
        if Instant::now() >= until {
            return Err(fail!(
                "the restarted agent never got in sync (see {})",
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for ch in s.chars() {
        match (esc, ch) {
            (false, '\u{1b}') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

impl BenchResult {
    pub fn print(&self) {
        println!("ports wired (bound across the computes): {}", self.ports);
        println!("  API create (16 in flight):   {:8.2} s", self.api_secs);
        println!(
            "  until all ACTIVE (wired):    {:8.2} s   ratio to API alone: {:.2}x",
            self.active_secs,
            self.active_secs / self.api_secs.max(1e-9)
        );
        println!(
            "  ports/s wired:               {:8.0}",
            self.ports as f64 / self.active_secs.max(1e-9)
        );
        println!(
            "agent restart on {} with {} ports: in sync after {:.2} s (apply {} ms){}",
            self.resync_host,
            self.resync_ports,
            self.resync_secs,
            self.resync_apply_ms,
            if self.resync_changed {
                ", CHANGED the switch (unexpected)"
            } else {
                ", switch unchanged"
            }
        );
    }
}
