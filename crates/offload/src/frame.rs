//! Where an offloadable frame's headers lie: Ethernet (at most one VLAN tag), IPv4
//! or IPv6 without extension headers, not a fragment, then TCP or UDP.

use wire::ether::{ETH_P_IPV4, ETH_P_IPV6, IPPROTO_TCP, IPPROTO_UDP, l3_offset};
use wire::ipv4::{self, Ipv4Header};
use wire::ipv6::{self, Ipv6Header};
use wire::tcp::{self, TcpHeader};

/// Offsets of a TCP frame's headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFrame {
    pub l3: usize,
    pub l4: usize,
    pub payload: usize,
    pub ipv6: bool,
}

impl TcpFrame {
    /// The frame's IPv4 header (the caller knows it is not IPv6).
    #[inline]
    pub(crate) fn ipv4<'a>(&self, f: &'a [u8]) -> Ipv4Header<&'a [u8]> {
        Ipv4Header::new_unchecked(&f[self.l3..self.l4])
    }

    /// The frame's IPv6 header (the caller knows it is IPv6).
    #[inline]
    pub(crate) fn ipv6<'a>(&self, f: &'a [u8]) -> Ipv6Header<&'a [u8]> {
        Ipv6Header::new_unchecked(&f[self.l3..self.l4])
    }

    /// The frame's TCP header, options included.
    #[inline]
    pub(crate) fn tcp<'a>(&self, f: &'a [u8]) -> TcpHeader<&'a [u8]> {
        TcpHeader::new_unchecked(&f[self.l4..self.payload])
    }

    /// The same, to write.
    #[inline]
    pub(crate) fn tcp_mut<'a>(&self, f: &'a mut [u8]) -> TcpHeader<&'a mut [u8]> {
        TcpHeader::new_unchecked(&mut f[self.l4..self.payload])
    }

    /// The frame's IPv4 header, to write.
    #[inline]
    pub(crate) fn ipv4_mut<'a>(&self, f: &'a mut [u8]) -> Ipv4Header<&'a mut [u8]> {
        Ipv4Header::new_unchecked(&mut f[self.l3..self.l4])
    }

    /// The frame's IPv6 header, to write.
    #[inline]
    pub(crate) fn ipv6_mut<'a>(&self, f: &'a mut [u8]) -> Ipv6Header<&'a mut [u8]> {
        Ipv6Header::new_unchecked(&mut f[self.l3..self.l4])
    }
}

/// Locates the headers of an Ethernet (optionally 802.1Q-tagged) IPv4/IPv6 TCP frame;
/// None for anything else, IPv4 fragments, IPv4 options beyond the header length
/// field's reach, or IPv6 extension headers.
pub fn tcp_frame(f: &[u8]) -> Option<TcpFrame> {
    let (l3, ty) = l3_offset(f)?;
    let ip = f.get(l3..)?;
    let (l4, ipv6) = match ty {
        ETH_P_IPV4 => {
            let ip = Ipv4Header::new_checked(ip).ok()?;
            if ip.version() != 4 || ip.protocol() != IPPROTO_TCP || ip.is_fragment() {
                return None;
            }
            let ihl = ip.header_len();
            if ihl < ipv4::HEADER_LEN {
                return None;
            }
            (l3 + ihl, false)
        }
        ETH_P_IPV6 => {
            let ip = Ipv6Header::new_checked(ip).ok()?;
            if ip.version() != 6 || ip.next_header() != IPPROTO_TCP {
                return None;
            }
            (l3 + ipv6::HEADER_LEN, true)
        }
        _ => return None,
    };
    let doff = TcpHeader::new_checked(f.get(l4..)?).ok()?.header_len();
    if doff < tcp::HEADER_LEN || f.len() < l4 + doff {
        return None;
    }
    Some(TcpFrame {
        l3,
        l4,
        payload: l4 + doff,
        ipv6,
    })
}

/// (l3, l4, ipv6, proto) of an unfragmented TCP/UDP frame that ends with its IP
/// packet (Ethernet padding would spoil a checksum over it).
pub(crate) fn l4_offsets(f: &[u8]) -> Option<(usize, usize, bool, u8)> {
    let (l3, ty) = l3_offset(f)?;
    let ip = f.get(l3..)?;
    let (l4, ipv6, proto) = match ty {
        ETH_P_IPV4 => {
            let ip = Ipv4Header::new_checked(ip).ok()?;
            if ip.version() != 4 || ip.is_fragment() {
                return None;
            }
            let ihl = ip.header_len();
            if ihl < ipv4::HEADER_LEN || l3 + usize::from(ip.total_len()) != f.len() {
                return None;
            }
            (l3 + ihl, false, ip.protocol())
        }
        ETH_P_IPV6 => {
            let ip = Ipv6Header::new_checked(ip).ok()?;
            if ip.version() != 6 || l3 + ipv6::HEADER_LEN + usize::from(ip.payload_len()) != f.len()
            {
                return None;
            }
            (l3 + ipv6::HEADER_LEN, true, ip.next_header())
        }
        _ => return None,
    };
    (proto == IPPROTO_TCP || proto == IPPROTO_UDP).then_some((l3, l4, ipv6, proto))
}
