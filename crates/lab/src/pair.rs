//! `neutrino lab pair up|down`: the harness's two hosts ([`crate::harness`]) built
//! from the command line and left up, for scripts that measure
//! (`bench/switch_throughput.sh`). H1 and H2 get the veth underlay and IPv4
//! forwarding, and per host either a neutrino switchd wired as Neutron's OVS agent
//! would (br-int, br-tun, a tunnel port, the br-tun flows of `agent::flows`) with a
//! VM on a TAP, or a kernel vxlan device and a Linux bridge with a VM on a veth.
//!
//! What it made is kept in `DIR/pair.json`; `down` stops its switchds by PID (only
//! while their command line names their run directory) and deletes its namespaces.
//! Files (switchd logs) stay in DIR for the caller.

use crate::harness::{H, NET1, TunnelType, TwoHosts};
use crate::{Result, fail, net, procs};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What runs on the two hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    /// The hosts and their underlay only.
    Underlay,
    /// A switchd per host over this tunnel type, a VM on each.
    Neutrino(TunnelType),
    /// A kernel vxlan device (VNI 100) and Linux bridge per host, a VM on each.
    KernelVxlan,
}

#[derive(Debug, Clone)]
pub struct PairOptions<'a> {
    /// 1-10 lowercase letters and digits; every namespace is `PREFIX...`, every VM
    /// TAP `tap` + the prefix's digits + `v1`/`v2`.
    pub prefix: &'a str,
    pub dir: &'a Path,
    /// The neutrino binary the switchds run.
    pub neutrino: &'a Path,
    pub kind: PairKind,
    /// More switchd options (`--poll-cpus 3`).
    pub switchd_args: &'a [String],
}

/// What `up` made, as `DIR/pair.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairState {
    pub prefix: String,
    pub dir: PathBuf,
    /// Every namespace made, in creation order.
    pub namespaces: Vec<String>,
    pub switchds: Vec<PairSwitchd>,
    pub vms: Vec<PairVm>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairSwitchd {
    pub host_ns: String,
    pub pid: u32,
    pub run_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairVm {
    pub ns: String,
    pub nic: String,
    pub ip: String,
    pub mac: String,
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("pair.json")
}

/// A pair prefix: 1-10 lowercase letters or digits (device names stay <= 15 bytes).
pub fn check_prefix(p: &str) -> Result<()> {
    crate::checks::prefix("pair", p, 10)
}

/// Builds the pair and leaves it up. On an error everything made is removed.
pub fn up(o: &PairOptions<'_>) -> Result<PairState> {
    check_prefix(o.prefix)?;
    crate::checks::require_root()?;
    if state_path(o.dir).exists() {
        return Err(fail!(
            "a pair is up in {} already: `neutrino lab pair down` first",
            o.dir.display()
        ));
    }
    let digits = o
        .prefix
        .trim_start_matches(|c: char| c.is_ascii_lowercase());
    let uid = if digits.is_empty() { o.prefix } else { digits };
    let mut lab = TwoHosts::create(o.neutrino, o.prefix, uid, o.dir)?;
    for h in [H::H1, H::H2] {
        net::forward_ipv4(&lab.host(h).ns)?;
    }
    let vms = [
        lab.vm(H::H1, 1, "10.0.0.2", "fa:16:3e:00:00:01", 1),
        lab.vm(H::H2, 2, "10.0.0.4", "fa:16:3e:00:00:04", 1),
    ];
    match o.kind {
        PairKind::Underlay => {}
        PairKind::Neutrino(t) => {
            let extra: Vec<&str> = o.switchd_args.iter().map(String::as_str).collect();
            for h in [H::H1, H::H2] {
                lab.try_start_switchd_with(h, &extra)?;
                lab.wire_neutron_host(h, t, &[NET1])?;
            }
            for vm in &vms {
                lab.try_attach_vm(vm)?;
            }
        }
        PairKind::KernelVxlan => {
            for vm in &vms {
                lab.try_attach_kernel_vxlan_vm(vm, NET1.key)?;
            }
        }
    }
    let state = PairState {
        prefix: o.prefix.to_string(),
        dir: o.dir.to_path_buf(),
        namespaces: lab.namespaces().to_vec(),
        switchds: [H::H1, H::H2]
            .iter()
            .filter_map(|h| {
                let host = lab.host(*h);
                host.switchd().map(|pid| PairSwitchd {
                    host_ns: host.ns.clone(),
                    pid,
                    run_dir: host.run_dir.clone(),
                })
            })
            .collect(),
        vms: if o.kind == PairKind::Underlay {
            Vec::new()
        } else {
            vms.iter()
                .map(|v| PairVm {
                    ns: v.ns.clone(),
                    nic: v.tap.clone(),
                    ip: v.ip.to_string(),
                    mac: v.mac.to_string(),
                })
                .collect()
        },
    };
    let body =
        serde_json::to_vec_pretty(&state).map_err(|e| fail!("cannot encode pair state: {e}"))?;
    let p = state_path(o.dir);
    std::fs::write(&p, body).map_err(|e| fail!("cannot write {}: {e}", p.display()))?;
    lab.keep();
    Ok(state)
}

/// Stops the pair's switchds and deletes its namespaces: those in `DIR/pair.json`,
/// and `PREFIXh1`, `PREFIXh2`, `PREFIXv1`, `PREFIXv2` if they exist (a pair whose
/// `up` was killed).
pub fn down(dir: &Path, prefix: &str) -> Result<()> {
    check_prefix(prefix)?;
    crate::checks::require_root()?;
    let p = state_path(dir);
    let mut namespaces = Vec::new();
    match std::fs::read(&p) {
        Ok(b) => {
            let state: PairState =
                serde_json::from_slice(&b).map_err(|e| fail!("{} is damaged: {e}", p.display()))?;
            if state.prefix != prefix {
                return Err(fail!(
                    "{} holds pair '{}', not '{prefix}'",
                    dir.display(),
                    state.prefix
                ));
            }
            for s in &state.switchds {
                procs::stop(
                    s.pid,
                    &s.run_dir.display().to_string(),
                    Duration::from_secs(2),
                );
            }
            namespaces = state.namespaces;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail!("cannot read {}: {e}", p.display())),
    }
    for n in ["h1", "h2", "v1", "v2"] {
        let ns = format!("{prefix}{n}");
        if !namespaces.contains(&ns) {
            namespaces.push(ns);
        }
    }
    for ns in namespaces.iter().rev() {
        net::del_netns(ns)?;
    }
    match std::fs::remove_file(&p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(fail!("cannot remove {}: {e}", p.display()))
        }
        _ => Ok(()),
    }
}
