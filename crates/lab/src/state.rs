//! What a lab is made of, kept in `DIR/lab.json` so that `status` and `down` (and a
//! later `up` that finds it) know every namespace, process and VM it made.

use crate::{Result, fail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LabState {
    pub prefix: String,
    pub dir: PathBuf,
    pub tunnel_type: String,
    pub admin_password: String,
    /// Every namespace made, in creation order (removed in reverse).
    pub namespaces: Vec<String>,
    pub server_pid: Option<u32>,
    pub nodes: Vec<Node>,
    pub vms: Vec<Vm>,
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    /// The outside world and Ext-Net, when the lab made them.
    #[serde(default)]
    pub external: Option<External>,
    #[serde(default)]
    pub routers: Vec<Router>,
    #[serde(default)]
    pub floating_ips: Vec<FloatingIp>,
}

/// The outside world's namespace and the external network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct External {
    pub ns: String,
    pub network_id: String,
    pub subnet_id: String,
}

/// A router the lab made for a tenant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Router {
    pub name: String,
    pub id: String,
    pub tenant: String,
    /// Its address on the external network.
    pub gateway_ip: String,
}

/// A floating IP the lab made for a VM.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FloatingIp {
    pub id: String,
    pub address: String,
    pub vm: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Node {
    /// The host name (binding:host_id): controller, network, compute-01 ...
    pub name: String,
    pub ns: String,
    pub mgmt_ip: String,
    pub data_ip: Option<String>,
    pub roles: Vec<String>,
    /// The agent's `--bridge-mapping`s (PHYSNET:BRIDGE).
    #[serde(default)]
    pub bridge_mappings: Vec<String>,
    pub switchd_pid: Option<u32>,
    pub agent_pid: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Vm {
    pub name: String,
    /// The VM's namespace (its port's device_id).
    pub ns: String,
    pub host: String,
    pub tenant: String,
    pub port_id: String,
    pub mac: String,
    /// The fixed IP the server allocated.
    pub ip: String,
    pub tap: String,
}

/// A project with its user and network, made by the lab.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tenant {
    pub name: String,
    pub user: String,
    pub password: String,
    pub project_id: String,
    pub network_id: String,
    pub subnet_id: String,
}

impl LabState {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("lab.json")
    }

    pub fn load(dir: &Path) -> Result<Option<LabState>> {
        let p = Self::path(dir);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| fail!("{} is damaged: {e}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(fail!("cannot read {}: {e}", p.display())),
        }
    }

    /// Writes the state atomically (temp file + rename).
    pub fn save(&self) -> Result<()> {
        let p = Self::path(&self.dir);
        let tmp = p.with_extension("json.tmp");
        let body =
            serde_json::to_vec_pretty(self).map_err(|e| fail!("cannot encode lab state: {e}"))?;
        std::fs::write(&tmp, body).map_err(|e| fail!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &p).map_err(|e| fail!("cannot write {}: {e}", p.display()))
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn vm(&self, name: &str) -> Option<&Vm> {
        self.vms.iter().find(|v| v.name == name)
    }

    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.name == name)
    }

    pub fn controller_ns(&self) -> String {
        format!("{}-controller", self.prefix)
    }

    pub fn computes(&self) -> impl Iterator<Item = &Node> {
        self.nodes
            .iter()
            .filter(|n| n.roles.iter().any(|r| r == "compute"))
    }
}
