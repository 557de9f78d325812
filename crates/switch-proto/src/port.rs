//! Ports as the protocol describes them: name, type, VLAN tag and what the type
//! needs (namespace, MAC, MTU, patch peer, tunnel ends and key, DHCP binding).
//! switchd checks them against the type when it applies them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortType {
    Tap,
    Internal,
    System,
    /// A veth pair made by switchd: the VM's end (the port's name) in `netns`,
    /// the host's end in switchd's namespace, read with AF_PACKET.
    Veth,
    Patch,
    Vxlan,
    Gre,
    /// Geneve (RFC 8926, UDP 6081).
    Geneve,
}

impl PortType {
    pub const ALL: [PortType; 8] = [
        PortType::Tap,
        PortType::Internal,
        PortType::System,
        PortType::Veth,
        PortType::Patch,
        PortType::Vxlan,
        PortType::Gre,
        PortType::Geneve,
    ];

    pub fn is_tunnel(self) -> bool {
        matches!(self, PortType::Vxlan | PortType::Gre | PortType::Geneve)
    }

    pub fn name(self) -> &'static str {
        match self {
            PortType::Tap => "tap",
            PortType::Internal => "internal",
            PortType::System => "system",
            PortType::Veth => "veth",
            PortType::Patch => "patch",
            PortType::Vxlan => "vxlan",
            PortType::Gre => "gre",
            PortType::Geneve => "geneve",
        }
    }
}

impl FromStr for PortType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PortType::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                format!("unknown port type '{s}' (tap, internal, system, veth, patch, vxlan, gre, geneve)")
            })
    }
}

/// A tunnel port's key: fixed, or taken from the flow's tun_id (`key=flow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum TunnelKey {
    Fixed(u64),
    Flow,
}

impl fmt::Display for TunnelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunnelKey::Fixed(k) => write!(f, "{k}"),
            TunnelKey::Flow => f.write_str("flow"),
        }
    }
}

impl FromStr for TunnelKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "flow" {
            return Ok(TunnelKey::Flow);
        }
        crate::hex::parse(s.trim())
            .and_then(|n| u64::try_from(n).ok())
            .map(TunnelKey::Fixed)
            .ok_or_else(|| format!("bad tunnel key '{s}' (a number or 'flow')"))
    }
}

impl From<TunnelKey> for String {
    fn from(k: TunnelKey) -> String {
        k.to_string()
    }
}

impl TryFrom<String> for TunnelKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// Everything `add-port` says about a port.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: PortType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<TunnelKey>,
    /// A VXLAN port's UDP checksums: complete on the wire (OVS's
    /// `options:csum=true`) instead of zero, RFC 7348's default for IPv4.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub csum: bool,
    /// The OpenFlow port number; chosen by the switch when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ofport: Option<u32>,
    /// What the `dhcp` action answers on this port (a VM's fixed IP and options).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp: Option<DhcpBinding>,
}

impl PortSpec {
    pub fn new(name: &str, kind: PortType) -> PortSpec {
        PortSpec {
            name: name.to_string(),
            kind,
            tag: None,
            netns: None,
            mac: None,
            mtu: None,
            peer: None,
            remote_ip: None,
            local_ip: None,
            key: None,
            csum: false,
            ofport: None,
            dhcp: None,
        }
    }
}

/// One route of RFC 3442's classless static routes option.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticRoute {
    pub destination: Ipv4Addr,
    pub prefix_len: u8,
    pub nexthop: Ipv4Addr,
}

/// What the switch's `dhcp` action hands out on a port, and to whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpBinding {
    /// The client's MAC, e.g. "fa:16:3e:00:00:01": the only one answered.
    pub mac: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    #[serde(default)]
    pub router: Option<Ipv4Addr>,
    #[serde(default)]
    pub dns: Vec<Ipv4Addr>,
    #[serde(default)]
    pub host_routes: Vec<StaticRoute>,
    #[serde(default)]
    pub mtu: Option<u16>,
    pub lease_secs: u32,
    /// The server identifier (option 54) and source address of the replies.
    pub server_ip: Ipv4Addr,
    /// Source MAC of the replies, and the answer to ARP for `server_ip`.
    pub server_mac: String,
    #[serde(default)]
    pub domain_name: Option<String>,
    /// The header's `siaddr` in offers and acks: the server a PXE client boots
    /// from (dnsmasq's `server-ip-address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_server: Option<Ipv4Addr>,
    /// Further options, already encoded: sent when the client asks for them (or
    /// asks for nothing in particular); one with the code of an option the
    /// binding sets (router, DNS, domain, MTU) replaces it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<RawDhcpOption>,
}

/// One DHCP option as it goes on the wire: its code and encoded value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawDhcpOption {
    pub code: u8,
    pub data: Vec<u8>,
}

/// Default `server_mac` of a binding.
pub const DEFAULT_SERVER_MAC: &str = "fa:16:3e:ff:ff:fe";
/// Default lease time (one day, as Neutron's dhcp_lease_duration).
pub const DEFAULT_LEASE_SECS: u32 = 86_400;

impl DhcpBinding {
    /// A binding with the defaults for everything optional.
    pub fn new(mac: &str, ip: Ipv4Addr, prefix_len: u8, server_ip: Ipv4Addr) -> DhcpBinding {
        DhcpBinding {
            mac: mac.to_string(),
            ip,
            prefix_len,
            router: None,
            dns: Vec::new(),
            host_routes: Vec::new(),
            mtu: None,
            lease_secs: DEFAULT_LEASE_SECS,
            server_ip,
            server_mac: DEFAULT_SERVER_MAC.to_string(),
            domain_name: None,
            next_server: None,
            options: Vec::new(),
        }
    }
}
