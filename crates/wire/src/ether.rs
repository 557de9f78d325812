//! Ethernet and 802.1Q: MAC addresses, EtherTypes and the VLAN tag layout.

use crate::WireError;
use std::fmt;
use std::str::FromStr;

pub const ETH_HLEN: usize = 14;
pub const VLAN_HLEN: usize = 4;
pub const ETH_P_IPV4: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_VLAN: u16 = 0x8100;
pub const ETH_P_QINQ: u16 = 0x88a8;
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Transparent Ethernet bridging: the GRE protocol type for an inner Ethernet frame.
pub const ETH_P_TEB: u16 = 0x6558;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_GRE: u8 = 47;
pub const IPPROTO_ICMPV6: u8 = 58;

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }
    /// The address as the low 48 bits of a u64, first octet most significant.
    pub fn to_u64(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    }
    pub fn from_u64(v: u64) -> MacAddr {
        let b = v.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }
    pub fn from_slice(s: &[u8]) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&s[..6]);
        MacAddr(m)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = WireError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split([':', '-']) {
            if n == 6 || part.is_empty() || part.len() > 2 {
                return Err(WireError::BadMac(s.to_string()));
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| WireError::BadMac(s.to_string()))?;
            n += 1;
        }
        if n != 6 {
            return Err(WireError::BadMac(s.to_string()));
        }
        Ok(MacAddr(out))
    }
}

/// The offset and EtherType of the L3 header behind Ethernet and at most one VLAN
/// tag; None when the frame is too short for them.
#[inline]
pub fn l3_offset(f: &[u8]) -> Option<(usize, u16)> {
    if f.len() < ETH_HLEN {
        return None;
    }
    let ty = be16(f, 12);
    if !matches!(ty, ETH_P_VLAN | ETH_P_QINQ) {
        return Some((ETH_HLEN, ty));
    }
    (f.len() >= ETH_HLEN + VLAN_HLEN).then(|| (ETH_HLEN + VLAN_HLEN, be16(f, 16)))
}

/// Reads a big-endian u16 at `off`; the caller has checked the length.
#[inline]
pub fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Reads a big-endian u32 at `off`; the caller has checked the length.
#[inline]
pub fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trip() {
        let m: MacAddr = "fa:16:3E:00:00:01".parse().unwrap();
        assert_eq!(m.to_string(), "fa:16:3e:00:00:01");
        assert_eq!(MacAddr::from_u64(m.to_u64()), m);
        assert_eq!(m.to_u64(), 0xfa163e000001);
        assert!(!m.is_multicast());
        assert!(MacAddr::BROADCAST.is_multicast());
    }

    #[test]
    fn mac_rejects_garbage() {
        for bad in [
            "",
            "fa:16:3e:00:00",
            "fa:16:3e:00:00:01:02",
            "zz:16:3e:00:00:01",
            "fa::3e:00:00:01",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }
}
