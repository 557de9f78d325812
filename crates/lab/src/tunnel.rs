//! Tunnel types and what a host wired by hand (by the test harness or a bench,
//! without an agent) takes from the agent: Neutron's tunnel port names and br-tun
//! flows, from `agent::names` and `agent::flows`, so they are defined once.

use agent::flows;
use std::net::Ipv4Addr;
use switch_proto::PortType;

pub use agent::flows::TunnelNet;

/// The tenant networks' tunnel type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelType {
    Vxlan,
    Gre,
    Geneve,
}

impl TunnelType {
    /// `vxlan`, `gre` or `geneve`: the port type's name for it.
    pub fn name(self) -> &'static str {
        match self {
            TunnelType::Vxlan => "vxlan",
            TunnelType::Gre => "gre",
            TunnelType::Geneve => "geneve",
        }
    }

    pub fn port_type(self) -> PortType {
        match self {
            TunnelType::Vxlan => PortType::Vxlan,
            TunnelType::Gre => PortType::Gre,
            TunnelType::Geneve => PortType::Geneve,
        }
    }

    /// Neutron's port name toward `remote_ip`: `vxlan-c0a86402`, `gre-c0a86402`.
    /// Text that is not an IPv4 address is used as it is (switchd then refuses the
    /// name as too long).
    pub fn port_name(self, remote_ip: &str) -> String {
        match remote_ip.parse::<Ipv4Addr>() {
            Ok(a) => agent::names::tunnel(self.name(), a),
            Err(_) => format!("{}-{remote_ip}", self.name()),
        }
    }

    /// br-tun's table classifying traffic from this tunnel type (GRE 3, VXLAN 4,
    /// Geneve 6, as Neutron's OVS agent has them).
    pub fn classifier_table(self) -> u8 {
        flows::classifier_table(self.port_type())
    }
}

/// Network 1 of the hand-built hosts: key (VNI / GRE key) 0x64 on local VLAN 1.
pub const NET1: TunnelNet = TunnelNet { key: 0x64, vlan: 1 };
/// Network 2: key 0x65 on local VLAN 2.
pub const NET2: TunnelNet = TunnelNet { key: 0x65, vlan: 2 };

/// The two per-network flows of br-tun as ovs-ofctl text: key -> local VLAN
/// (table 3/4) and local VLAN -> flooding to the tunnel `tun_port` (table 22).
pub fn net_flows(t: TunnelType, tun_port: &str, net: TunnelNet) -> [String; 2] {
    [
        flows::tun_key_to_vlan(t.port_type(), net.key, net.vlan).to_string(),
        flows::tun_flood(net.vlan, net.key, [tun_port]).to_string(),
    ]
}

/// Neutron OVS agent's br-tun for one tunnel port and `nets`, as ovs-ofctl text, a
/// flow a line (`agent::flows::br_tun`).
pub fn br_tun_flows(t: TunnelType, tun_port: &str, nets: &[TunnelNet]) -> String {
    flows::br_tun(t.port_type(), tun_port, nets)
        .iter()
        .map(|f| format!("{f}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tables() {
        assert_eq!(
            TunnelType::Vxlan.port_name("192.168.100.2"),
            "vxlan-c0a86402"
        );
        assert_eq!(TunnelType::Gre.classifier_table(), 3);
        let [key, flood] = net_flows(TunnelType::Vxlan, "vxlan-c0a86402", NET2);
        assert_eq!(
            key,
            "table=4,priority=1,tun_id=0x65,actions=mod_vlan_vid:2,resubmit(,10)"
        );
        assert_eq!(
            flood,
            "table=22,priority=1,dl_vlan=2,actions=strip_vlan,set_tunnel:0x65,output:vxlan-c0a86402"
        );
    }
}
