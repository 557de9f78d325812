//! Named fields (as actions address them), bit ranges of them, and Ethernet
//! addresses: the vocabulary flows are written in.

use serde::{Deserialize, Serialize};
use std::fmt::{self, Display, Formatter};
use std::str::FromStr;

macro_rules! fields {
    ($( $var:ident : $name:literal, $nxm:literal, $bits:expr; )*) => {
        /// A named flow field, as actions (`load`, `move`, `learn`, `output:F[]`)
        /// address it. Names are the engine's, so they print as ovs-ofctl does.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Field { $(#[serde(rename = $name)] $var,)* }

        impl Field {
            pub const ALL: &'static [Field] = &[$(Field::$var,)*];
            /// The ovs-ofctl name.
            pub fn name(self) -> &'static str {
                match self { $(Field::$var => $name,)* }
            }
            /// The NXM/OXM name (`NXM_OF_ETH_SRC`), as action arguments write it.
            pub fn nxm_name(self) -> &'static str {
                match self { $(Field::$var => $nxm,)* }
            }
            /// Width in bits.
            pub fn bits(self) -> u32 {
                match self { $(Field::$var => $bits,)* }
            }
        }
    };
}

fields! {
    InPort: "in_port", "NXM_OF_IN_PORT", 32;
    DlType: "dl_type", "NXM_OF_ETH_TYPE", 16;
    VlanTci: "vlan_tci", "NXM_OF_VLAN_TCI", 16;
    TunId: "tun_id", "NXM_NX_TUN_ID", 64;
    TunSrc: "tun_src", "NXM_NX_TUN_IPV4_SRC", 32;
    TunDst: "tun_dst", "NXM_NX_TUN_IPV4_DST", 32;
    Reg0: "reg0", "NXM_NX_REG0", 32;
    Reg1: "reg1", "NXM_NX_REG1", 32;
    Reg2: "reg2", "NXM_NX_REG2", 32;
    Reg3: "reg3", "NXM_NX_REG3", 32;
    Reg4: "reg4", "NXM_NX_REG4", 32;
    Reg5: "reg5", "NXM_NX_REG5", 32;
    Reg6: "reg6", "NXM_NX_REG6", 32;
    Reg7: "reg7", "NXM_NX_REG7", 32;
    Metadata: "metadata", "OXM_OF_METADATA", 64;
    DlSrc: "dl_src", "NXM_OF_ETH_SRC", 48;
    NwProto: "nw_proto", "NXM_OF_IP_PROTO", 8;
    ArpOp: "arp_op", "NXM_OF_ARP_OP", 8;
    NwTos: "nw_tos", "NXM_OF_IP_TOS", 8;
    DlDst: "dl_dst", "NXM_OF_ETH_DST", 48;
    NwTtl: "nw_ttl", "NXM_NX_IP_TTL", 8;
    NwSrc: "nw_src", "NXM_OF_IP_SRC", 32;
    ArpSpa: "arp_spa", "NXM_OF_ARP_SPA", 32;
    NwDst: "nw_dst", "NXM_OF_IP_DST", 32;
    ArpTpa: "arp_tpa", "NXM_OF_ARP_TPA", 32;
    TpSrc: "tp_src", "NXM_OF_TCP_SRC", 16;
    IcmpType: "icmp_type", "NXM_OF_ICMP_TYPE", 16;
    TpDst: "tp_dst", "NXM_OF_TCP_DST", 16;
    IcmpCode: "icmp_code", "NXM_OF_ICMP_CODE", 16;
    ArpSha: "arp_sha", "NXM_NX_ARP_SHA", 48;
    ArpTha: "arp_tha", "NXM_NX_ARP_THA", 48;
    Ipv6Src: "ipv6_src", "NXM_NX_IPV6_SRC", 128;
    Ipv6Dst: "ipv6_dst", "NXM_NX_IPV6_DST", 128;
    CtMark: "ct_mark", "NXM_NX_CT_MARK", 32;
    CtZone: "ct_zone", "NXM_NX_CT_ZONE", 16;
    CtState: "ct_state", "NXM_NX_CT_STATE", 8;
    ConjId: "conj_id", "NXM_NX_CONJ_ID", 32;
}

/// An Ethernet address; on the wire and in flows as `fa:16:3e:00:00:01`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    pub const ZERO: Mac = Mac([0; 6]);
    /// The group bit alone (01:00:00:00:00:00), to match unicast or multicast.
    pub const GROUP_BIT: Mac = Mac([1, 0, 0, 0, 0, 0]);

    pub fn to_u64(self) -> u64 {
        self.0.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b))
    }
}

impl Display for Mac {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Mac, String> {
        let bad = || format!("bad MAC address '{s}'");
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut out {
            let p = parts.next().filter(|p| p.len() == 2).ok_or_else(bad)?;
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Mac(out))
    }
}

impl From<Mac> for String {
    fn from(m: Mac) -> String {
        m.to_string()
    }
}

impl TryFrom<String> for Mac {
    type Error = String;
    fn try_from(s: String) -> Result<Mac, String> {
        s.parse()
    }
}

/// `FIELD[start..end]` as NXM actions write it; the whole field when `bits` is its
/// width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FieldRange {
    pub field: Field,
    pub start: u32,
    pub bits: u32,
}

impl FieldRange {
    pub fn whole(field: Field) -> FieldRange {
        FieldRange {
            field,
            start: 0,
            bits: field.bits(),
        }
    }

    /// Bits `start..=end` of `field`.
    pub fn bits(field: Field, start: u32, end: u32) -> FieldRange {
        FieldRange {
            field,
            start,
            bits: end.saturating_sub(start) + 1,
        }
    }

    pub fn is_whole(&self) -> bool {
        self.start == 0 && self.bits == self.field.bits()
    }
}

impl Display for FieldRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.is_whole() {
            write!(f, "{}[]", self.field.nxm_name())
        } else {
            let end = self.start + self.bits.saturating_sub(1);
            write!(f, "{}[{}..{}]", self.field.nxm_name(), self.start, end)
        }
    }
}
