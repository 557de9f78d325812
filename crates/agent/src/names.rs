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
        assert_eq!(phy_patch("br-eth1"), "phy-br-eth1");
        assert_eq!(int_patch("br-provider-long"), "int-br-provider");
        assert!(int_patch("br-provider-long").len() <= 15);
    }
}
