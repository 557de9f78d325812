//! Port configuration as the switch sees it: name, type, tag and the options its
//! type needs. The daemon turns this into devices and sockets; the engine only uses
//! the name, tag, patch peer and tunnel settings.

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
    /// A veth pair: the VM's end (the port's name) in a namespace, the host's end
    /// ([`veth_host_end`]) read by the switch.
    Veth,
    Patch,
    Vxlan,
    Gre,
    /// Geneve (RFC 8926, UDP 6081): OVN's encapsulation.
    Geneve,
}

/// The host's end of veth port `name`: `tap…` becomes `qvo…` (Neutron's name
/// for the switch side of a veth), anything else gets a `v` in front.
pub fn veth_host_end(name: &str) -> String {
    match name.strip_prefix("tap") {
        Some(rest) => format!("qvo{rest}"),
        None => format!("v{name}"),
    }
}

impl PortType {
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
        Ok(match s {
            "tap" => PortType::Tap,
            "internal" => PortType::Internal,
            "system" => PortType::System,
            "veth" => PortType::Veth,
            "patch" => PortType::Patch,
            "vxlan" => PortType::Vxlan,
            "gre" => PortType::Gre,
            "geneve" => PortType::Geneve,
            _ => {
                return Err(format!(
                    "unknown port type '{s}' (tap, internal, system, veth, patch, vxlan, gre, geneve)"
                ));
            }
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
        crate::parse::parse_int(s)
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
pub struct PortConfig {
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
    pub dhcp: Option<crate::DhcpBinding>,
}

impl PortConfig {
    pub fn new(name: &str, kind: PortType) -> PortConfig {
        PortConfig {
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

    /// The tunnel key, defaulting to 0 as Open vSwitch does.
    pub fn tunnel_key(&self) -> TunnelKey {
        self.key.unwrap_or(TunnelKey::Fixed(0))
    }

    /// Checks the options against the type; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.name;
        if n.is_empty() || n.len() > 15 {
            return Err(format!("port name '{n}' must be 1 to 15 bytes"));
        }
        if !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "port name '{n}' may hold only letters, digits, '-', '_' and '.'"
            ));
        }
        if let Some(t) = self.tag
            && t > 4095
        {
            return Err(format!("tag {t} is not a VLAN id (0-4095)"));
        }
        if let Some(o) = self.ofport
            && !(1..0xff00).contains(&o)
        {
            return Err(format!("ofport {o} is out of range (1-65279)"));
        }
        if self.kind == PortType::System && n == "lo" {
            return Err("the loopback device cannot be a switch port".into());
        }
        if let Some(m) = &self.mac
            && m.parse::<wire::MacAddr>().is_err()
        {
            return Err(format!("bad MAC address '{m}'"));
        }
        if let Some(mtu) = self.mtu
            && !(68..=65535).contains(&mtu)
        {
            return Err(format!("MTU {mtu} out of range (68-65535)"));
        }
        let tunnel = self.kind.is_tunnel();
        match self.kind {
            PortType::Patch if self.peer.is_none() => {
                return Err("a patch port needs --peer".into());
            }
            PortType::Vxlan | PortType::Gre | PortType::Geneve if self.remote_ip.is_none() => {
                return Err(format!("a {} port needs --remote-ip", self.kind.name()));
            }
            _ => {}
        }
        if !tunnel && (self.remote_ip.is_some() || self.local_ip.is_some() || self.key.is_some()) {
            return Err(format!(
                "--remote-ip, --local-ip and --key are for vxlan, gre and geneve ports, not {}",
                self.kind.name()
            ));
        }
        if self.csum && !matches!(self.kind, PortType::Vxlan | PortType::Geneve) {
            return Err(format!(
                "--csum is for vxlan and geneve ports, not {} (GRE carries no checksum here)",
                self.kind.name()
            ));
        }
        if self.kind != PortType::Patch && self.peer.is_some() {
            return Err("--peer is only for patch ports".into());
        }
        if self.netns.is_some()
            && !matches!(
                self.kind,
                PortType::Tap | PortType::Internal | PortType::Veth
            )
        {
            return Err("--netns is only for tap, internal and veth ports".into());
        }
        if self.kind == PortType::Veth && self.netns.is_none() {
            return Err("a veth port needs --netns (where the VM's end goes)".into());
        }
        if self.kind == PortType::Veth && crate::port::veth_host_end(n).len() > 15 {
            return Err(format!("veth port name '{n}' is too long"));
        }
        if let Some(d) = &self.dhcp {
            if !matches!(
                self.kind,
                PortType::Tap | PortType::Internal | PortType::System | PortType::Veth
            ) {
                return Err(format!(
                    "a DHCP binding is for tap, internal, system and veth ports, not {}",
                    self.kind.name()
                ));
            }
            d.validate()?;
        }
        if let Some(TunnelKey::Fixed(k)) = self.key {
            let max: u64 = if self.kind == PortType::Vxlan {
                0xff_ffff
            } else {
                0xffff_ffff
            };
            if k > max {
                return Err(format!("key {k} does not fit a {} key", self.kind.name()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vxlan() -> PortConfig {
        let mut c = PortConfig::new("vx1", PortType::Vxlan);
        c.remote_ip = Some(Ipv4Addr::new(192, 168, 100, 2));
        c
    }

    #[test]
    fn checksums_are_a_vxlan_option_only() {
        let mut c = vxlan();
        c.csum = true;
        assert_eq!(c.validate(), Ok(()));
        let mut g = vxlan();
        g.kind = PortType::Gre;
        g.csum = true;
        let e = g.validate().expect_err("gre takes no csum");
        assert!(e.contains("--csum is for vxlan and geneve ports"), "{e}");
        // Off unless asked for, and not written out when off.
        let text = serde_json::to_string(&vxlan()).expect("json");
        assert!(!text.contains("csum"), "{text}");
    }
}
