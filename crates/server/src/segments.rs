//! Segmentation ids: configurable ranges per network type (VXLAN and GRE default
//! 1:1000, VLAN per physical network), automatic allocation of the lowest free id,
//! and an admin's explicit pick. The `segment_allocations` table's primary key is
//! what keeps an id from being given twice.

use crate::error::{ApiError, ApiResult};
use crate::store::{SEGMENTS, Tx};
use axum::http::StatusCode;
use model::NetworkType;
use std::collections::{BTreeMap, HashSet};

pub type Range = (u32, u32);

#[derive(Debug, Clone)]
pub struct SegmentConfig {
    /// The type given to networks created without provider attributes.
    pub tenant_network_type: NetworkType,
    pub vxlan: Vec<Range>,
    pub gre: Vec<Range>,
    /// VLAN ranges per physical network (a physnet with no range only takes
    /// explicit picks).
    pub vlan: BTreeMap<String, Vec<Range>>,
    /// Physical networks allowed for flat networks; empty means any.
    pub flat_networks: Vec<String>,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            tenant_network_type: NetworkType::Vxlan,
            vxlan: vec![(1, 1000)],
            gre: vec![(1, 1000)],
            vlan: BTreeMap::new(),
            flat_networks: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid range {0:?}: expected MIN:MAX or PHYSNET[:MIN:MAX]")]
pub struct RangeError(String);

/// Parses `MIN:MAX`.
pub fn parse_range(s: &str) -> Result<Range, RangeError> {
    let (a, b) = s.split_once(':').ok_or_else(|| RangeError(s.into()))?;
    let a: u32 = a.trim().parse().map_err(|_| RangeError(s.into()))?;
    let b: u32 = b.trim().parse().map_err(|_| RangeError(s.into()))?;
    if a == 0 || a > b {
        return Err(RangeError(s.into()));
    }
    Ok((a, b))
}

/// Parses `PHYSNET` or `PHYSNET:MIN:MAX` (Neutron's `network_vlan_ranges`).
pub fn parse_vlan_range(s: &str) -> Result<(String, Option<Range>), RangeError> {
    match s.split_once(':') {
        None if !s.is_empty() => Ok((s.to_string(), None)),
        None => Err(RangeError(s.into())),
        Some((net, range)) => {
            let r = parse_range(range)?;
            if r.1 > 4094 {
                return Err(RangeError(s.into()));
            }
            Ok((net.to_string(), Some(r)))
        }
    }
}

fn max_id(t: NetworkType) -> u32 {
    match t {
        NetworkType::Vxlan => (1 << 24) - 1,
        NetworkType::Gre => u32::MAX,
        NetworkType::Vlan => 4094,
        NetworkType::Flat => 0,
    }
}

fn in_use(t: NetworkType, physnet: &str, id: u32) -> ApiError {
    match t {
        NetworkType::Vlan => ApiError::conflict(
            "VlanIdInUse",
            format!(
                "Unable to create the network. The VLAN {id} on physical network {physnet} is in use."
            ),
        ),
        NetworkType::Flat => ApiError::conflict(
            "FlatNetworkInUse",
            format!("Unable to create the flat network. Physical network {physnet} is in use."),
        ),
        _ => ApiError::conflict(
            "TunnelIdInUse",
            format!("Unable to create the network. The tunnel ID {id} is in use."),
        ),
    }
}

fn exhausted() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "NoNetworkAvailable",
        "Unable to create the network. No tenant network is available for allocation.",
    )
}

fn lowest_free(ranges: &[Range], used: &HashSet<u32>) -> Option<u32> {
    ranges
        .iter()
        .flat_map(|&(a, b)| a..=b)
        .find(|id| !used.contains(id))
}

/// Allocates the segment of a new network and returns (physical network,
/// segmentation id) as the network shows them.
pub async fn allocate(
    tx: &mut Tx,
    cfg: &SegmentConfig,
    network_id: &str,
    t: NetworkType,
    physnet: Option<String>,
    requested: Option<u32>,
) -> ApiResult<(Option<String>, Option<u32>)> {
    match t {
        NetworkType::Vxlan | NetworkType::Gre => {
            if physnet.is_some() {
                return Err(ApiError::invalid(format!(
                    "provider:physical_network specified for {t} network"
                )));
            }
            let used = used(tx, t.as_str(), "").await?;
            let id = match requested {
                Some(id) => {
                    if id == 0 || id > max_id(t) {
                        return Err(ApiError::invalid(format!(
                            "provider:segmentation_id {id} out of range for {t} (1 through {})",
                            max_id(t)
                        )));
                    }
                    if used.contains(&id) {
                        return Err(in_use(t, "", id));
                    }
                    id
                }
                None => {
                    let ranges = if t == NetworkType::Vxlan {
                        &cfg.vxlan
                    } else {
                        &cfg.gre
                    };
                    lowest_free(ranges, &used).ok_or_else(exhausted)?
                }
            };
            tx.claim(&SEGMENTS, [t.as_str(), ""], id, network_id)
                .await?;
            Ok((None, Some(id)))
        }
        NetworkType::Vlan => {
            // A physical network must be one VLANs are configured on, with or
            // without a segmentation id (Neutron's check; without it an unknown
            // one looked like an exhausted pool, a 503).
            if let Some(net) = physnet.as_ref().filter(|n| !cfg.vlan.contains_key(*n)) {
                return Err(ApiError::invalid(format!(
                    "physical_network '{net}' unknown for VLAN provider network"
                )));
            }
            let (net, id) = match (physnet, requested) {
                (Some(net), Some(id)) => {
                    if id == 0 || id > 4094 {
                        return Err(ApiError::invalid(format!(
                            "provider:segmentation_id {id} out of range for vlan (1 through 4094)"
                        )));
                    }
                    if used(tx, "vlan", &net).await?.contains(&id) {
                        return Err(in_use(t, &net, id));
                    }
                    (net, id)
                }
                (None, Some(_)) => {
                    return Err(ApiError::invalid(
                        "provider:physical_network required for VLAN provider network",
                    ));
                }
                (want, None) => {
                    let mut found = None;
                    for (net, ranges) in &cfg.vlan {
                        if want.as_ref().is_some_and(|w| w != net) {
                            continue;
                        }
                        let used = used(tx, "vlan", net).await?;
                        if let Some(id) = lowest_free(ranges, &used) {
                            found = Some((net.clone(), id));
                            break;
                        }
                    }
                    found.ok_or_else(exhausted)?
                }
            };
            tx.claim(&SEGMENTS, ["vlan", &net], id, network_id).await?;
            Ok((Some(net), Some(id)))
        }
        NetworkType::Flat => {
            if requested.is_some() {
                return Err(ApiError::invalid(
                    "provider:segmentation_id specified for flat network",
                ));
            }
            let net = physnet.ok_or_else(|| {
                ApiError::invalid("provider:physical_network required for flat provider network")
            })?;
            if !cfg.flat_networks.is_empty() && !cfg.flat_networks.contains(&net) {
                return Err(ApiError::invalid(format!(
                    "physical_network '{net}' unknown for flat provider network"
                )));
            }
            if !used(tx, "flat", &net).await?.is_empty() {
                return Err(in_use(t, &net, 0));
            }
            tx.claim(&SEGMENTS, ["flat", &net], 0, network_id).await?;
            Ok((Some(net), None))
        }
    }
}

/// Segmentation ids taken for a type on a physical network (`""` for tunnels).
async fn used(tx: &mut Tx, network_type: &str, physnet: &str) -> ApiResult<HashSet<u32>> {
    let ids = tx.taken(&SEGMENTS, [network_type, physnet]).await?;
    Ok(ids
        .into_iter()
        .filter_map(|i| u32::try_from(i).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("1:1000").ok(), Some((1, 1000)));
        assert!(parse_range("5:1").is_err());
        assert!(parse_range("x").is_err());
        assert_eq!(
            parse_vlan_range("physnet1:100:200").ok(),
            Some(("physnet1".to_string(), Some((100, 200))))
        );
        assert_eq!(
            parse_vlan_range("physnet2").ok(),
            Some(("physnet2".to_string(), None))
        );
        assert!(parse_vlan_range("p:1:5000").is_err());
    }

    #[test]
    fn lowest_free_skips_used() {
        let used = [1, 2, 4].into_iter().collect();
        assert_eq!(lowest_free(&[(1, 5)], &used), Some(3));
        let full = [1, 2].into_iter().collect();
        assert_eq!(lowest_free(&[(1, 2)], &full), None);
    }
}
