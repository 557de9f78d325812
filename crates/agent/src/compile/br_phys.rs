//! A physical bridge (from a bridge mapping): the provider side of flat and VLAN
//! networks. Local VLANs from br-int become the provider VLAN, or untagged.

use super::{Carrier, WiredNet};
use crate::flows;
use crate::names;
use std::collections::BTreeMap;
use switch_proto::{Action, Flow, Match};

pub(super) fn spec(
    physnet: &str,
    bridge: &str,
    wired: &BTreeMap<&str, WiredNet>,
) -> super::BridgeSpec {
    let phy = names::phy_patch(bridge);
    let mut flows = vec![
        Flow::new(0, 0).then([Action::Normal]),
        Flow::new(0, 2)
            .when(Match::in_port(&phy))
            .then([Action::Drop]),
    ];
    for w in wired.values() {
        let Carrier::Provider { bridge: b, vid } = &w.kind else {
            continue;
        };
        if b != bridge || w.net.physical_network.as_deref() != Some(physnet) {
            continue;
        }
        let out = match vid {
            Some(v) => Action::ModVlanVid(*v),
            None => Action::StripVlan,
        };
        flows.push(
            Flow::new(0, 4)
                .when(Match::in_port(&phy))
                .when(Match::DlVlan(w.vlan))
                .then([out, Action::Normal]),
        );
    }
    flows::sort(&mut flows);
    super::BridgeSpec {
        name: bridge.to_string(),
        ports: vec![super::patch(&phy, &names::int_patch(bridge))],
        flows,
        owns_all_ports: false,
    }
}
