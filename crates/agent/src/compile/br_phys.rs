//! A physical bridge (from a bridge mapping): the provider side of flat and VLAN
//! networks. Local VLANs from br-int become the provider VLAN, or untagged.

use super::{Carrier, WiredNet};
use crate::names;
use std::collections::BTreeMap;

pub(super) fn spec(
    physnet: &str,
    bridge: &str,
    wired: &BTreeMap<&str, WiredNet>,
) -> super::BridgeSpec {
    let phy = names::phy_patch(bridge);
    let mut flows = vec![
        "table=0,priority=0,actions=NORMAL".to_string(),
        format!("table=0,priority=2,in_port={phy},actions=drop"),
    ];
    for w in wired.values() {
        let Carrier::Provider { bridge: b, vid } = &w.kind else {
            continue;
        };
        if b != bridge || w.net.physical_network.as_deref() != Some(physnet) {
            continue;
        }
        let out = match vid {
            Some(v) => format!("mod_vlan_vid:{v}"),
            None => "strip_vlan".to_string(),
        };
        flows.push(format!(
            "table=0,priority=4,in_port={phy},dl_vlan={},actions={out},NORMAL",
            w.vlan
        ));
    }
    flows.sort();
    super::BridgeSpec {
        name: bridge.to_string(),
        ports: vec![super::patch(&phy, &names::int_patch(bridge))],
        flows,
        owns_all_ports: false,
    }
}
