//! Names of the devices the agent makes, as Neutron's OVS agent names them.

use std::net::Ipv4Addr;

pub const BR_INT: &str = "br-int";
pub const BR_TUN: &str = "br-tun";
/// br-int's end of the br-int <-> br-tun patch.
pub const PATCH_TUN: &str = "patch-tun";
/// br-tun's end of the br-int <-> br-tun patch.
pub const PATCH_INT: &str = "patch-int";
/// The local VLAN of ports that must not pass traffic (Neutron's DEAD_VLAN_TAG).
pub const DEAD_VLAN: u16 = 4095;

/// A VM port's tap device: `tap` + the first 11 characters of the port id.
pub fn tap(port_id: &str) -> String {
    let short: String = port_id.chars().take(11).collect();
    format!("tap{short}")
}

/// A router's namespace: `qrouter-<router id>`, as Neutron's L3 agent names it.
pub fn router_ns(router_id: &str) -> String {
    format!("qrouter-{router_id}")
}

/// A router's interface device: `qr-` + the first 11 characters of the port id.
pub fn router_interface(port_id: &str) -> String {
    let short: String = port_id.chars().take(11).collect();
    format!("qr-{short}")
}

/// A router's gateway device: `qg-` + the first 11 characters of the port id.
pub fn router_gateway(port_id: &str) -> String {
    let short: String = port_id.chars().take(11).collect();
    format!("qg-{short}")
}

/// A network's metadata device: `qm-` + the first 11 characters of the network id.
pub fn metadata_device(network_id: &str) -> String {
    let short: String = network_id.chars().take(11).collect();
    format!("qm-{short}")
}

/// The prefix of metadata namespaces' names (then the network id), as OVN's
/// `ovnmeta-` namespaces are named.
pub const METADATA_NS_PREFIX: &str = "qmeta-";

/// The external bridge the legacy way (`external_network_bridge`): a router's `qg-`
/// device goes on it untagged when the external network has no bridge mapping.
pub const BR_EX: &str = "br-ex";

/// A tunnel port toward `remote`: `vxlan-c0a86402`, `gre-c0a86402`.
pub fn tunnel(kind: &str, remote: Ipv4Addr) -> String {
    let hex: String = remote.octets().iter().map(|o| format!("{o:02x}")).collect();
    format!("{kind}-{hex}")
}

/// br-int's end of the patch to a physical bridge: `int-br-eth1`. Interface names
/// are at most 15 bytes, so long bridge names are cut as Neutron does.
pub fn int_patch(phys_bridge: &str) -> String {
    cut(format!("int-{phys_bridge}"))
}

/// The physical bridge's end of that patch: `phy-br-eth1`.
pub fn phy_patch(phys_bridge: &str) -> String {
    cut(format!("phy-{phys_bridge}"))
}

fn cut(mut s: String) -> String {
    while s.len() > 15 {
        s.pop();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutron_names() {
        assert_eq!(
            tap("3f1c9a2e-5b4d-4e61-9c2a-1b2c3d4e5f60"),
            "tap3f1c9a2e-5b"
        );
        assert_eq!(
            tunnel("vxlan", Ipv4Addr::new(192, 168, 100, 2)),
            "vxlan-c0a86402"
        );
        assert_eq!(tunnel("gre", Ipv4Addr::new(10, 0, 0, 1)), "gre-0a000001");
        assert_eq!(int_patch("br-eth1"), "int-br-eth1");
        let id = "0e5a8f3c-1d2b-4c6a-9e8f-7a6b5c4d3e2f";
        assert_eq!(router_ns(id), format!("qrouter-{id}"));
        assert_eq!(router_interface(id), "qr-0e5a8f3c-1d");
        assert_eq!(router_gateway(id), "qg-0e5a8f3c-1d");
        assert_eq!(phy_patch("br-eth1"), "phy-br-eth1");
        assert_eq!(metadata_device(id), "qm-0e5a8f3c-1d");
        assert_eq!(int_patch("br-provider-long"), "int-br-provider");
        assert!(int_patch("br-provider-long").len() <= 15);
    }
}
