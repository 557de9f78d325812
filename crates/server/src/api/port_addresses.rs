//! A port's addresses: requested fixed IPs, their allocation from IPAM (and the
//! subnet pools'), MACs, a new port's record, and freeing them with the port.

use super::subnets::pools_of;
use crate::error::{ApiError, ApiResult};
use crate::ipam;
use crate::store::{IPS, MACS, Tx};
use crate::util::now;
use ipnet::IpNet;
use model::{FixedIp, Port, Subnet};
use serde_json::{Map, Value};

/// One requested fixed IP: a subnet, an address, or both.
#[derive(Debug, Clone, Default)]
pub struct IpRequest {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

pub fn parse_fixed_ips(items: Vec<Value>) -> ApiResult<Vec<IpRequest>> {
    items
        .into_iter()
        .map(|v| {
            let get = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            let r = IpRequest {
                subnet_id: get("subnet_id"),
                ip_address: get("ip_address"),
            };
            if r.subnet_id.is_none() && r.ip_address.is_none() {
                return Err(ApiError::invalid(
                    "Invalid input for fixed_ips. Reason: each entry needs subnet_id or ip_address.",
                ));
            }
            Ok(r)
        })
        .collect()
}

fn exhausted(network_id: &str) -> ApiError {
    ApiError::conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {network_id}."),
    )
}

/// Allocates the fixed IPs of port `port_id` on `network_id`: the requested ones,
/// or one from the first IPv4 and the first IPv6 subnet. `v4_only` is for router
/// gateways and floating IPs.
pub async fn allocate_ips(
    tx: &mut Tx,
    network_id: &str,
    requested: Option<Vec<IpRequest>>,
    port_id: &str,
    v4_only: bool,
) -> ApiResult<Vec<FixedIp>> {
    allocate_port_ips(tx, network_id, requested, port_id, v4_only, None).await
}

/// [`allocate_ips`] for a port with a MAC: on SLAAC and DHCPv6-stateless subnets
/// its address is the MAC's EUI-64 one, and without a request it gets one on
/// every such subnet of the network (as hosts configure themselves there).
pub async fn allocate_port_ips(
    tx: &mut Tx,
    network_id: &str,
    requested: Option<Vec<IpRequest>>,
    port_id: &str,
    v4_only: bool,
    mac: Option<&str>,
) -> ApiResult<Vec<FixedIp>> {
    let subnets = tx.list_by_parent::<Subnet>(network_id).await?;
    let requested = match requested {
        Some(r) => r,
        None => {
            let mut r = Vec::new();
            for version in [4u8, 6] {
                if v4_only && version == 6 {
                    continue;
                }
                let auto: Vec<&Subnet> = subnets
                    .iter()
                    .filter(|s| {
                        s.ip_version == version
                            && mac.is_some()
                            && ipam::auto_address(s.ipv6_address_mode.as_deref())
                    })
                    .collect();
                // Every self-addressed subnet, and the first one the server
                // addresses (DHCPv6-stateful, or no mode), if any.
                r.extend(auto.iter().map(|s| IpRequest {
                    subnet_id: Some(s.id.clone()),
                    ip_address: None,
                }));
                if let Some(s) = subnets
                    .iter()
                    .find(|s| s.ip_version == version && !auto.iter().any(|a| a.id == s.id))
                {
                    r.push(IpRequest {
                        subnet_id: Some(s.id.clone()),
                        ip_address: None,
                    });
                }
            }
            r
        }
    };
    let mut out: Vec<FixedIp> = Vec::new();
    for req in requested {
        let ip = match &req.ip_address {
            Some(s) => Some(ipam::parse_ip(s).map_err(|e| {
                ApiError::invalid(format!("Invalid input for fixed_ips. Reason: {e}."))
            })?),
            None => None,
        };
        let subnet = match (&req.subnet_id, ip) {
            (Some(id), _) => subnets.iter().find(|s| s.id == *id).ok_or_else(|| {
                ApiError::invalid(format!(
                    "Invalid input for operation: Failed to create port on network {network_id}, because fixed_ips included invalid subnet {id}."
                ))
            })?,
            (None, Some(ip)) => subnets
                .iter()
                .find(|s| s.cidr.parse::<IpNet>().is_ok_and(|n| n.contains(&ip)))
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "Invalid input for operation: IP address {ip} is not a valid IP for any subnet on network {network_id}."
                    ))
                })?,
            (None, None) => return Err(ApiError::invalid("fixed_ips entry is empty")),
        };
        let net: IpNet = subnet
            .cidr
            .parse()
            .map_err(|_| ApiError::invalid(format!("subnet {} has a bad cidr", subnet.id)))?;
        let ip = match ip {
            Some(ip) => {
                if !net.contains(&ip) || !ipam::is_host_address(&net, ip) {
                    return Err(ApiError::invalid(format!(
                        "Invalid input for operation: IP address {ip} is not a valid IP for the specified subnet."
                    )));
                }
                let s = ip.to_string();
                if out
                    .iter()
                    .any(|f| f.subnet_id == subnet.id && f.ip_address == s)
                    || tx.owner(&IPS, [&subnet.id], s.as_str()).await?.is_some()
                {
                    return Err(ApiError::conflict(
                        "IpAddressInUse",
                        format!(
                            "Unable to complete operation for network {network_id}. The IP address {s} is in use."
                        ),
                    ));
                }
                ip
            }
            None => match mac
                .filter(|_| ipam::auto_address(subnet.ipv6_address_mode.as_deref()))
                .and_then(|m| ipam::eui64(&net, m))
            {
                Some(ip) => {
                    if tx
                        .owner(&IPS, [&subnet.id], ip.to_string().as_str())
                        .await?
                        .is_some()
                    {
                        return Err(ApiError::conflict(
                            "IpAddressInUse",
                            format!(
                                "Unable to complete operation for network {network_id}. The IP address {ip} is in use."
                            ),
                        ));
                    }
                    ip
                }
                None => {
                    let taken = tx.taken(&IPS, [&subnet.id]).await?;
                    ipam::next_free(&pools_of(subnet), subnet.ip_version == 6, &taken)
                        .ok_or_else(|| exhausted(network_id))?
                }
            },
        };
        let ip = ip.to_string();
        tx.claim(&IPS, [&subnet.id], ip.as_str(), port_id).await?;
        out.push(FixedIp {
            subnet_id: subnet.id.clone(),
            ip_address: ip,
        });
    }
    Ok(out)
}

/// Takes the requested MAC, or a random free `fa:16:3e` one.
pub async fn allocate_mac(
    tx: &mut Tx,
    requested: Option<String>,
    port_id: &str,
) -> ApiResult<String> {
    let mac = match requested {
        Some(m) => {
            if tx.owner(&MACS, [], m.as_str()).await?.is_some() {
                return Err(ApiError::conflict(
                    "MacAddressInUse",
                    format!(
                        "Unable to complete operation for network. The mac address {m} is in use."
                    ),
                ));
            }
            m
        }
        None => {
            let mut mac = ipam::random_mac();
            for _ in 0..16 {
                if tx.owner(&MACS, [], mac.as_str()).await?.is_none() {
                    break;
                }
                mac = ipam::random_mac();
            }
            mac
        }
    };
    tx.claim(&MACS, [], mac.as_str(), port_id).await?;
    Ok(mac)
}

/// A port with the defaults; callers fill in what they know.
pub fn blank_port(
    id: String,
    network_id: &str,
    project_id: &str,
    mac: String,
    fixed_ips: Vec<FixedIp>,
) -> Port {
    let ts = now();
    Port {
        id,
        name: String::new(),
        description: String::new(),
        project_id: project_id.to_string(),
        tenant_id: project_id.to_string(),
        network_id: network_id.to_string(),
        mac_address: mac,
        fixed_ips,
        device_owner: String::new(),
        device_id: String::new(),
        admin_state_up: true,
        status: "DOWN".into(),
        security_groups: Vec::new(),
        allowed_address_pairs: Vec::new(),
        port_security_enabled: true,
        binding_host_id: String::new(),
        binding_vif_type: "unbound".into(),
        binding_vnic_type: "normal".into(),
        binding_vif_details: Map::new(),
        binding_profile: Map::new(),
        extra_dhcp_opts: Vec::new(),
        tags: Vec::new(),
        revision_number: 1,
        created_at: ts.clone(),
        updated_at: ts,
    }
}

/// Frees a port's addresses.
pub async fn release_addresses(tx: &mut Tx, p: &Port) -> ApiResult<()> {
    tx.release_owner(&IPS, &p.id).await?;
    tx.release(&MACS, [], p.mac_address.as_str()).await?;
    Ok(())
}

/// Deletes a port and frees its addresses.
pub async fn remove_port(tx: &mut Tx, p: &Port) -> ApiResult<()> {
    release_addresses(tx, p).await?;
    tx.delete::<Port>(&p.id).await?;
    Ok(())
}
