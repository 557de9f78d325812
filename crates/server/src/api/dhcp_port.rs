//! The network's DHCP port (`device_owner: network:dhcp`), as Neutron's DHCP
//! agent makes one per network with DHCP. neutrino has no DHCP agent: the switch
//! answers DHCP at every VM port, as this port's address (the host view's
//! `SubnetView.dhcp_server_ip`), so the server keeps the port itself, in the
//! transaction of every subnet change:
//!
//! - a network with at least one IPv4 subnet with `enable_dhcp` has exactly one,
//!   owned by the network's project, named "" and `admin_state_up` as Neutron's;
//! - it holds one address on each such subnet: the first free address of the
//!   subnet's pools (Neutron's IPAM), kept as long as the subnet serves DHCP;
//! - it goes when the last such subnet goes (or turns DHCP off), and with its
//!   network.
//!
//! It is bound to no host (no `binding:host_id`), so no agent plugs it as a VM,
//! and tenants see it in their port list. The port API refuses to delete it or to
//! change its addresses, owner, device or binding (409): it is the server's, and
//! goes with the network's last DHCP subnet. IPv6 subnets get no address on it
//! yet (the switch answers DHCPv4 only).

use super::common::touch;
use super::ports::{allocate_mac, blank_port, remove_port};
use super::subnets::pools_of;
use crate::error::{ApiError, ApiResult};
use crate::ipam;
use crate::store::{IPS, Tx};
use crate::util::new_id;
use model::{FixedIp, Network, Port, Subnet, device_owner};

/// The `device_id` of network `network_id`'s DHCP port. Neutron's DHCP agent
/// writes `dhcp<uuid of its host>-<network id>`; here no one host serves the
/// network (the switch answers on every host), so the id names the network only.
pub fn device_id(network_id: &str) -> String {
    format!("dhcp-{network_id}")
}

/// Whether `p` is the DHCP port the server keeps for `n`: Neutron's owner, the
/// id of [`device_id`], and the network's project.
pub fn is_server_port(p: &Port, n: &Network) -> bool {
    p.network_id == n.id
        && p.device_owner == device_owner::DHCP
        && p.device_id == device_id(&n.id)
        && p.project_id == n.project_id
}

/// Whether subnet `s` gets an address on the DHCP port: DHCP on, IPv4.
pub fn serves(s: &Subnet) -> bool {
    s.enable_dhcp && s.ip_version == 4
}

/// The fields of the DHCP port only the server changes (see the module doc).
const MANAGED: [&str; 6] = [
    "fixed_ips",
    "device_owner",
    "device_id",
    "mac_address",
    "admin_state_up",
    "binding:host_id",
];

/// The port API's refusal to delete the DHCP port or to change `field` of it.
pub fn refused(p: &Port, what: &str) -> ApiError {
    ApiError::conflict(
        "ServicePortInUse",
        format!(
            "Port {} is the DHCP port of network {}, kept by the server: {what}. It goes with the network's last DHCP subnet.",
            p.id, p.network_id
        ),
    )
}

/// Refuses an update of the DHCP port that sets one of its managed fields
/// (`has`: whether the request sets a field).
pub fn check_update(p: &Port, has: impl Fn(&str) -> bool) -> ApiResult<()> {
    match MANAGED.iter().find(|f| has(f)) {
        Some(f) => Err(refused(p, &format!("{f} cannot be changed"))),
        None => Ok(()),
    }
}

/// Refuses a port made to look like the DHCP port of its network through the
/// port API (created, or updated into one): [`device_id`] is the server's.
pub fn check_not_posing(p: &Port) -> ApiResult<()> {
    if p.device_owner == device_owner::DHCP && p.device_id == device_id(&p.network_id) {
        return Err(ApiError::invalid(format!(
            "Invalid input for device_id. Reason: '{}' is reserved for the network's own DHCP port.",
            p.device_id
        )));
    }
    Ok(())
}

/// Whether `p` is its network's DHCP port (reads the network).
pub async fn is_server_port_in(tx: &mut Tx, p: &Port) -> ApiResult<bool> {
    if p.device_owner != device_owner::DHCP {
        return Ok(false);
    }
    Ok(tx
        .get::<Network>(&p.network_id)
        .await?
        .is_some_and(|n| is_server_port(p, &n)))
}

/// Brings network `network_id`'s DHCP port in line with its subnets (leaving out
/// `gone`, a subnet deleted in this transaction): made when the first DHCP subnet
/// appears, given an address on each DHCP subnet that lacks one, its addresses on
/// subnets that no longer serve DHCP freed, deleted when none is left.
pub async fn sync(tx: &mut Tx, network_id: &str, gone: Option<&str>) -> ApiResult<()> {
    let Some(net) = tx.get::<Network>(network_id).await? else {
        return Ok(());
    };
    let subnets: Vec<Subnet> = tx
        .list_by_parent::<Subnet>(network_id)
        .await?
        .into_iter()
        .filter(|s| Some(s.id.as_str()) != gone && serves(s))
        .collect();
    let current = tx
        .list_by_parent::<Port>(network_id)
        .await?
        .into_iter()
        .find(|p| is_server_port(p, &net));
    if subnets.is_empty() {
        if let Some(p) = current {
            remove_port(tx, &p).await?;
            tracing::info!(port = %p.id, network = %network_id, "DHCP port deleted");
        }
        return Ok(());
    }
    let (mut p, is_new) = match current {
        Some(p) => (p, false),
        None => {
            let id = new_id();
            let mac = allocate_mac(tx, None, &id).await?;
            let mut p = blank_port(id, network_id, &net.project_id, mac, Vec::new());
            p.device_owner = device_owner::DHCP.into();
            p.device_id = device_id(network_id);
            // The switch answers DHCP at every VM port of the network as this
            // port's address: the service is up wherever the network is wired.
            p.status = "ACTIVE".into();
            (p, true)
        }
    };
    let before = p.fixed_ips.clone();
    let mut kept: Vec<FixedIp> = Vec::new();
    for f in before.iter().cloned() {
        if subnets.iter().any(|s| s.id == f.subnet_id) {
            kept.push(f);
        } else {
            tx.release(&IPS, [&f.subnet_id], f.ip_address.as_str())
                .await?;
        }
    }
    for s in &subnets {
        if kept.iter().any(|f| f.subnet_id == s.id) {
            continue;
        }
        let taken = tx.taken(&IPS, [&s.id]).await?;
        let Some(ip) = ipam::next_free(&pools_of(s), false, &taken) else {
            // The pool is full: the switch answers as the subnet's gateway or
            // last address (the agent's fallback) until an address frees.
            tracing::warn!(subnet = %s.id, "no free address for the DHCP port");
            continue;
        };
        let ip = ip.to_string();
        tx.claim(&IPS, [&s.id], ip.as_str(), &p.id).await?;
        kept.push(FixedIp {
            subnet_id: s.id.clone(),
            ip_address: ip,
        });
    }
    p.fixed_ips = kept;
    if is_new {
        tx.insert(&p).await?;
        tracing::info!(port = %p.id, network = %network_id, ips = ?p.fixed_ips, "DHCP port created");
    } else if p.fixed_ips != before {
        touch(&mut p.revision_number, &mut p.updated_at);
        tx.update(&p).await?;
    }
    Ok(())
}

/// Subnet `s` is being deleted: every `network:dhcp` port of its network loses
/// its addresses on it (the subnet's "in use" check ignores them), and the
/// network's own DHCP port follows its remaining subnets.
pub async fn subnet_gone(tx: &mut Tx, s: &Subnet) -> ApiResult<()> {
    for mut p in tx.list_by_parent::<Port>(&s.network_id).await? {
        if p.device_owner != device_owner::DHCP || !p.fixed_ips.iter().any(|f| f.subnet_id == s.id)
        {
            continue;
        }
        for f in p.fixed_ips.iter().filter(|f| f.subnet_id == s.id) {
            tx.release(&IPS, [&s.id], f.ip_address.as_str()).await?;
        }
        p.fixed_ips.retain(|f| f.subnet_id != s.id);
        touch(&mut p.revision_number, &mut p.updated_at);
        tx.update(&p).await?;
    }
    sync(tx, &s.network_id, Some(&s.id)).await
}
