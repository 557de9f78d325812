//! Applying a compiled state to the host's switchd by diff: bridges that are
//! missing are added, ports are added, re-created or removed only where they
//! differ, a DHCP binding change is set in place, and each bridge's flows are
//! replaced at once (switchd leaves a bridge untouched when its flows are the
//! same). Applying the same state twice changes nothing on the wire.

use crate::compile::{BridgeSpec, Compiled};
use crate::names::{self, BR_INT, DEAD_VLAN};
use model::{HostView, PortStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use switch::PortConfig;
use switchd::protocol::{BridgeView, Request, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("switchd: {0}")]
    Switchd(#[from] switchd::Error),
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
    pub ports_added: usize,
    pub ports_removed: usize,
    pub dhcp_updated: usize,
    /// Ports switchd holds but could not open (name -> error).
    pub port_errors: BTreeMap<String, String>,
}

impl ApplyReport {
    pub fn changed(&self) -> bool {
        self.bridges_added + self.ports_added + self.ports_removed + self.dhcp_updated > 0
    }
}

/// The host's switchd, reached through its control socket.
#[derive(Debug, Clone)]
pub struct Switchd {
    socket: PathBuf,
}

impl Switchd {
    pub fn new(run_dir: &Path) -> Switchd {
        Switchd {
            socket: run_dir.join("switchd.sock"),
        }
    }

    fn call(&self, what: &str, req: &Request) -> Result<Response, ApplyError> {
        match switchd::client::call(&self.socket, req)? {
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

    /// Makes switchd match `c`.
    pub fn apply(&self, c: &Compiled) -> Result<ApplyReport, ApplyError> {
        let mut report = ApplyReport::default();
        let current = self.show()?;
        let have: BTreeMap<&str, &BridgeView> =
            current.iter().map(|b| (b.name.as_str(), b)).collect();
        // Where each existing port lives, by name (names are unique per switch).
        let mut where_is: BTreeMap<&str, (&str, PortConfig)> = BTreeMap::new();
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
        for b in &c.bridges {
            for want in &b.ports {
                self.sync_port(b, want, where_is.get(want.name.as_str()), &mut report)?;
            }
        }
        for b in &c.bridges {
            self.call(
                &format!("the flows of {}", b.name),
                &Request::ReplaceFlows {
                    bridge: b.name.clone(),
                    flows: b.flows.clone(),
                },
            )?;
        }
        // Stale ports go last: no flow refers to them any more.
        for b in &c.bridges {
            let Some(view) = have.get(b.name.as_str()) else {
                continue;
            };
            for p in &view.ports {
                let name = p.config.name.as_str();
                let ours = b.owns_all_ports || name == names::phy_patch(&b.name);
                if ours && !b.ports.iter().any(|w| w.name == name) {
                    self.del_port(&b.name, name)?;
                    report.ports_removed += 1;
                }
            }
        }
        for b in self.show()? {
            for p in b.ports {
                if let Some(e) = p.error {
                    report.port_errors.insert(p.config.name, e);
                }
            }
        }
        Ok(report)
    }

    fn sync_port(
        &self,
        bridge: &BridgeSpec,
        want: &PortConfig,
        have: Option<&(&str, PortConfig)>,
        report: &mut ApplyReport,
    ) -> Result<(), ApplyError> {
        let want_cmp = comparable(want);
        if let Some((br, cfg)) = have {
            if *br == bridge.name {
                if *cfg == want_cmp {
                    return Ok(());
                }
                let same_but_dhcp = PortConfig {
                    dhcp: want_cmp.dhcp.clone(),
                    ..cfg.clone()
                } == want_cmp;
                if same_but_dhcp {
                    self.call(
                        &format!("the DHCP binding of {}", want.name),
                        &Request::SetPortDhcp {
                            bridge: bridge.name.clone(),
                            port: want.name.clone(),
                            dhcp: want.dhcp.clone(),
                        },
                    )?;
                    report.dhcp_updated += 1;
                    return Ok(());
                }
            }
            self.del_port(br, &want.name)?;
            report.ports_removed += 1;
        }
        if let Some(ns) = &want.netns {
            ensure_netns(ns)?;
        }
        self.call(
            &format!("port {}", want.name),
            &Request::AddPort {
                bridge: bridge.name.clone(),
                port: want.clone(),
            },
        )?;
        report.ports_added += 1;
        Ok(())
    }

    fn del_port(&self, bridge: &str, port: &str) -> Result<(), ApplyError> {
        self.call(
            &format!("deleting port {port}"),
            &Request::DelPort {
                bridge: bridge.to_string(),
                port: port.to_string(),
            },
        )
        .map(|_| ())
    }
}

/// A port's configuration without what switchd fills in itself (the ofport).
fn comparable(p: &PortConfig) -> PortConfig {
    PortConfig {
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
        let tap = names::tap(&p.id);
        let tag = int
            .ports
            .iter()
            .find(|v| v.config.name == tap)
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
pub fn port_statuses(view: &HostView, c: &Compiled, report: &ApplyReport) -> Vec<PortStatus> {
    let mut out = Vec::new();
    for vm in &c.vm_ports {
        let ok = vm.wired && !report.port_errors.contains_key(&vm.tap);
        let status = if ok { "ACTIVE" } else { "DOWN" };
        let current = view.ports.iter().find(|p| p.id == vm.port_id);
        if current.is_some_and(|p| p.status != status) {
            out.push(PortStatus {
                id: vm.port_id.clone(),
                status: status.to_string(),
            });
        }
    }
    out
}
