//! Applying a compiled state to the host's switchd by diff: bridges that are
//! missing are added, ports are added, re-created or removed only where they
//! differ, a DHCP binding change is set in place, and each bridge's flows are
//! replaced at once (switchd leaves a bridge untouched when its flows are the
//! same). Applying the same state twice changes nothing on the wire.

use crate::compile::Compiled;
use crate::l3::L3Report;
use crate::names::{self, BR_INT, DEAD_VLAN};
use model::{HostView, PortStatus};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use switch_proto::{BridgeView, Client, ClientError, PortSpec, Request, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("switchd: {0}")]
    Switchd(#[from] ClientError),
    #[error("switchd refused {what}: {message}")]
    Refused { what: String, message: String },
    #[error("switchd answered {what} unexpectedly")]
    Unexpected { what: String },
    #[error("namespace {ns}: {message}")]
    Netns { ns: String, message: String },
}

/// What one apply changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub bridges_added: usize,
    pub ports_removed: usize,
    pub dhcp_updated: usize,
    /// Ports switchd holds but could not open (name -> error).
    pub port_errors: BTreeMap<String, String>,
    /// The ports made (or made again) by this apply, by name.
    pub made: std::collections::BTreeSet<String>,
}

impl ApplyReport {
    pub fn changed(&self) -> bool {
        self.bridges_added + self.made.len() + self.ports_removed + self.dhcp_updated > 0
    }
}

/// The host's switchd, reached through its control socket.
#[derive(Debug, Clone)]
pub struct Switchd {
    client: Client,
}

impl Switchd {
    pub fn new(run_dir: &Path) -> Switchd {
        Switchd {
            client: Client::new(run_dir),
        }
    }

    fn call(&self, what: &str, req: &Request) -> Result<Response, ApplyError> {
        match self.client.call(req)? {
            Response::Error { message } => Err(ApplyError::Refused {
                what: what.to_string(),
                message,
            }),
            r => Ok(r),
        }
    }

    pub fn show(&self) -> Result<Vec<BridgeView>, ApplyError> {
        match self.call("show", &Request::Show)? {
            Response::Show { bridges, .. } => Ok(bridges),
            _ => Err(ApplyError::Unexpected {
                what: "show".into(),
            }),
        }
    }

    /// Sends `reqs` as one batch (one state-file write); one response each.
    fn batch(&self, reqs: Vec<Request>) -> Result<Vec<Response>, ApplyError> {
        if reqs.is_empty() {
            return Ok(Vec::new());
        }
        let n = reqs.len();
        match self.call("a batch", &Request::Batch { requests: reqs })? {
            Response::Batch { results } if results.len() == n => Ok(results),
            _ => Err(ApplyError::Unexpected {
                what: "a batch".into(),
            }),
        }
    }

    /// Makes switchd match `c`: port changes in one batch, then every bridge's
    /// flows (without those of ports that could not be made) and the removal of
    /// stale ports in a second.
    pub fn apply(&self, c: &Compiled) -> Result<ApplyReport, ApplyError> {
        self.apply_to(c, self.show()?)
    }

    /// [`Switchd::apply`] against `current`, what `show` just said.
    pub fn apply_to(
        &self,
        c: &Compiled,
        current: Vec<BridgeView>,
    ) -> Result<ApplyReport, ApplyError> {
        let mut report = ApplyReport::default();
        let have: BTreeMap<&str, &BridgeView> =
            current.iter().map(|b| (b.name.as_str(), b)).collect();
        // Where each existing port lives, by name (names are unique per switch).
        let mut where_is: BTreeMap<&str, (&str, PortSpec)> = BTreeMap::new();
        for b in &current {
            for p in &b.ports {
                where_is.insert(
                    p.config.name.as_str(),
                    (b.name.as_str(), comparable(&p.config)),
                );
            }
        }
        for b in &c.bridges {
            if !have.contains_key(b.name.as_str()) {
                self.call(
                    "add-br",
                    &Request::AddBr {
                        bridge: b.name.clone(),
                    },
                )?;
                report.bridges_added += 1;
            }
        }
        let mut ops: Vec<(String, PortOp, Request)> = Vec::new();
        for b in &c.bridges {
            for want in &b.ports {
                let have = where_is.get(want.name.as_str());
                for (op, req) in port_ops(&b.name, want, have) {
                    if op == PortOp::Add
                        && let Some(ns) = &want.netns
                        && let Err(e) = ensure_netns(ns)
                    {
                        report.port_errors.insert(want.name.clone(), e.to_string());
                        continue;
                    }
                    ops.push((want.name.clone(), op, req));
                }
            }
        }
        let (names, reqs): (Vec<(String, PortOp)>, Vec<Request>) =
            ops.into_iter().map(|(n, o, r)| ((n, o), r)).unzip();
        let touched: std::collections::BTreeSet<String> =
            names.iter().map(|(n, _)| n.clone()).collect();
        for ((name, op), resp) in names.into_iter().zip(self.batch(reqs)?) {
            match resp {
                Response::Error { message } => {
                    report.port_errors.insert(name, message);
                }
                _ => match op {
                    PortOp::Add => {
                        report.made.insert(name);
                    }
                    PortOp::Del => report.ports_removed += 1,
                    PortOp::Dhcp => report.dhcp_updated += 1,
                },
            }
        }
        // Flows never name a port that is not there (the bridge would refuse them all).
        let mut reqs = Vec::new();
        for b in &c.bridges {
            let typed = b
                .flows
                .iter()
                .filter(|f| !report.port_errors.keys().any(|p| f.names_port(p)))
                .cloned()
                .collect();
            reqs.push(Request::ReplaceFlows {
                bridge: b.name.clone(),
                flows: Vec::new(),
                typed,
            });
        }
        let mut stale = Vec::new();
        for b in &c.bridges {
            let Some(view) = have.get(b.name.as_str()) else {
                continue;
            };
            for p in &view.ports {
                let name = p.config.name.as_str();
                // On a bridge the agent shares with the operator (a physical or
                // the external bridge): its patch port and routers' qg- devices.
                let ours = b.owns_all_ports
                    || name == names::phy_patch(&b.name)
                    || name.starts_with("qg-");
                if ours && !b.ports.iter().any(|w| w.name == name) {
                    stale.push(name.to_string());
                    reqs.push(Request::DelPort {
                        bridge: b.name.clone(),
                        port: name.to_string(),
                    });
                }
            }
        }
        // Routers' qg- devices on a bridge no router needs any more (the external
        // bridge stays the operator's; only the agent's devices go).
        for view in current.iter().filter(|v| c.bridge(&v.name).is_none()) {
            for p in view
                .ports
                .iter()
                .filter(|p| p.config.name.starts_with("qg-"))
            {
                stale.push(p.config.name.clone());
                reqs.push(Request::DelPort {
                    bridge: view.name.clone(),
                    port: p.config.name.clone(),
                });
            }
        }
        let n_flows = c.bridges.len();
        for (i, resp) in self.batch(reqs)?.into_iter().enumerate() {
            if let Response::Error { message } = resp {
                if i < n_flows {
                    return Err(ApplyError::Refused {
                        what: format!("the flows of {}", c.bridges[i].name),
                        message,
                    });
                }
                report
                    .port_errors
                    .insert(stale[i - n_flows].clone(), message);
            } else if i >= n_flows {
                report.ports_removed += 1;
            }
        }
        // Ports that were there already and whose device could not be opened.
        for b in &current {
            for p in &b.ports {
                if let Some(e) = &p.error
                    && !touched.contains(&p.config.name)
                    && !report.port_errors.contains_key(&p.config.name)
                {
                    report.port_errors.insert(p.config.name.clone(), e.clone());
                }
            }
        }
        Ok(report)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortOp {
    Add,
    Del,
    Dhcp,
}

/// What it takes to turn the port `have` (bridge, config) into `want` on `bridge`.
fn port_ops(
    bridge: &str,
    want: &PortSpec,
    have: Option<&(&str, PortSpec)>,
) -> Vec<(PortOp, Request)> {
    let want_cmp = comparable(want);
    let mut ops = Vec::new();
    if let Some((br, cfg)) = have {
        if *br == bridge {
            if *cfg == want_cmp {
                return ops;
            }
            let same_but_dhcp = PortSpec {
                dhcp: want_cmp.dhcp.clone(),
                ..cfg.clone()
            } == want_cmp;
            if same_but_dhcp {
                ops.push((
                    PortOp::Dhcp,
                    Request::SetPortDhcp {
                        bridge: bridge.to_string(),
                        port: want.name.clone(),
                        dhcp: want.dhcp.clone(),
                    },
                ));
                return ops;
            }
        }
        ops.push((
            PortOp::Del,
            Request::DelPort {
                bridge: br.to_string(),
                port: want.name.clone(),
            },
        ));
    }
    ops.push((
        PortOp::Add,
        Request::AddPort {
            bridge: bridge.to_string(),
            port: want.clone(),
        },
    ));
    ops
}

/// A port's configuration without what switchd fills in itself (the ofport).
fn comparable(p: &PortSpec) -> PortSpec {
    PortSpec {
        ofport: None,
        ..p.clone()
    }
}

/// Creates the VM namespace `ns` when it does not exist (a port's device_id).
fn ensure_netns(ns: &str) -> Result<(), ApplyError> {
    if host::netns_exists(ns) {
        return Ok(());
    }
    let valid = !ns.is_empty()
        && ns.len() <= 64
        && ns
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !ns.starts_with('.');
    if !valid {
        return Err(ApplyError::Netns {
            ns: ns.to_string(),
            message: "not usable as a namespace name (letters, digits, '-', '_', '.')".into(),
        });
    }
    let out = Command::new("ip")
        .args(["netns", "add", ns])
        .output()
        .map_err(|e| ApplyError::Netns {
            ns: ns.to_string(),
            message: format!("cannot run ip: {e}"),
        })?;
    if !out.status.success() && !host::netns_exists(ns) {
        return Err(ApplyError::Netns {
            ns: ns.to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// The local VLANs switchd already uses, from the tags of the VM taps it holds:
/// after an agent restart the same networks keep the same VLANs, so the first
/// compile gives the flows that are already installed.
pub fn recover_vlans(bridges: &[BridgeView], view: &HostView) -> BTreeMap<String, u16> {
    let mut out = BTreeMap::new();
    let Some(int) = bridges.iter().find(|b| b.name == BR_INT) else {
        return out;
    };
    for p in &view.ports {
        // A VM's tap, or a router's qr- device (a network only routers use on
        // this host must keep its VLAN too, or its qr- ports are re-created).
        let devs = [names::tap(&p.id), names::router_interface(&p.id)];
        let tag = int
            .ports
            .iter()
            .find(|v| devs.contains(&v.config.name))
            .and_then(|v| v.config.tag)
            .filter(|t| *t != DEAD_VLAN);
        if let Some(tag) = tag {
            out.entry(p.network_id.clone()).or_insert(tag);
        }
    }
    out
}

/// The status each VM port of `view` should have after `c` was applied: ACTIVE
/// when its tap is on a live VLAN and switchd opened it, DOWN otherwise. Only
/// ports whose status differs from what the server holds are returned.
pub fn port_statuses(
    view: &HostView,
    c: &Compiled,
    report: &ApplyReport,
    l3: &L3Report,
) -> Vec<PortStatus> {
    let mut out = Vec::new();
    let mut note = |id: &str, ok: bool| {
        let status = if ok { "ACTIVE" } else { "DOWN" };
        let current = view.ports.iter().find(|p| p.id == id);
        if current.is_some_and(|p| p.status != status) {
            out.push(PortStatus {
                id: id.to_string(),
                status: status.to_string(),
            });
        }
    };
    for vm in &c.vm_ports {
        note(
            &vm.port_id,
            vm.wired && !report.port_errors.contains_key(&vm.tap),
        );
    }
    for rp in &c.router_ports {
        let ok = rp.wired
            && !report.port_errors.contains_key(&rp.device)
            && !l3.failed.contains_key(&rp.router_id);
        note(&rp.port_id, ok);
    }
    // Router ports bound here whose router is not realised (admin down).
    for p in &view.ports {
        let router_port = matches!(
            p.device_owner.as_str(),
            model::device_owner::ROUTER_INTERFACE | model::device_owner::ROUTER_GATEWAY
        );
        if router_port && !c.router_ports.iter().any(|rp| rp.port_id == p.id) {
            note(&p.id, false);
        }
    }
    out
}

/// The floating IP statuses that differ from the server's: ACTIVE when its address
/// is on its router's gateway device and its rules are in, DOWN otherwise.
pub fn floating_ip_statuses(view: &HostView, c: &Compiled, l3: &L3Report) -> Vec<PortStatus> {
    let mut out = Vec::new();
    for r in &view.routers {
        let realised = c
            .routers
            .iter()
            .find(|s| s.id == r.id)
            .filter(|_| !l3.failed.contains_key(&r.id));
        for f in &r.floating_ips {
            let ok = realised.is_some_and(|s| s.floating_ips.iter().any(|(id, _)| *id == f.id));
            let status = if ok { "ACTIVE" } else { "DOWN" };
            if f.status != status {
                out.push(PortStatus {
                    id: f.id.clone(),
                    status: status.to_string(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ops_by_difference() {
        let mut want = PortSpec::new("tapx", switch_proto::PortType::Tap);
        want.tag = Some(1);
        let same = ("br-int", want.clone());
        assert!(port_ops("br-int", &want, Some(&same)).is_empty());
        let mut other_tag = want.clone();
        other_tag.tag = Some(2);
        let ops: Vec<PortOp> = port_ops("br-int", &want, Some(&("br-int", other_tag)))
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        assert_eq!(ops, [PortOp::Del, PortOp::Add]);
        let mut with_dhcp = want.clone();
        with_dhcp.dhcp = Some(switch_proto::DhcpBinding::new(
            "fa:16:3e:00:00:01",
            "10.0.0.3".parse().unwrap(),
            24,
            "10.0.0.1".parse().unwrap(),
        ));
        let ops: Vec<PortOp> = port_ops("br-int", &with_dhcp, Some(&same))
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        assert_eq!(ops, [PortOp::Dhcp]);
        let ops: Vec<PortOp> = port_ops("br-tun", &want, Some(&same))
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        assert_eq!(ops, [PortOp::Del, PortOp::Add]);
        assert_eq!(port_ops("br-int", &want, None).len(), 1);
    }
}
