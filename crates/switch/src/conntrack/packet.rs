//! What connection tracking reads of a frame: its addresses, protocol, ports (or
//! ICMP echo id), TCP flags, and for an ICMP error the connection it quotes.
//! Read from the frame's bytes with every length checked; a frame that is not
//! IP, or whose headers are cut short, gives `None` (conntrack calls it invalid).

use wire::ether::{
    ETH_HLEN, ETH_P_IPV4, ETH_P_IPV6, ETH_P_QINQ, ETH_P_VLAN, IPPROTO_ICMP, IPPROTO_ICMPV6,
    IPPROTO_TCP, IPPROTO_UDP, be16,
};

/// A connection's identity in one direction (the zone is kept beside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    /// Addresses in network order; IPv4 ones as IPv4-mapped IPv6
    /// (`::ffff:a.b.c.d`). Bytes, not `u128`: a tuple is then 2-byte aligned and
    /// 38 bytes, which the connection table's memory follows.
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub proto: u8,
    pub v6: bool,
    /// TCP/UDP ports; for ICMP echo, the id in both.
    pub sport: u16,
    pub dport: u16,
}

impl Tuple {
    /// The same connection seen from the other end.
    pub fn reversed(&self) -> Tuple {
        Tuple {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            ..*self
        }
    }

    pub fn src_ip(&self) -> std::net::IpAddr {
        ip(self.src, self.v6)
    }

    pub fn dst_ip(&self) -> std::net::IpAddr {
        ip(self.dst, self.v6)
    }
}

/// An address as a tuple holds it.
pub fn addr(ip: std::net::IpAddr) -> [u8; 16] {
    match ip {
        std::net::IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(a) => a.octets(),
    }
}

fn ip(v: [u8; 16], v6: bool) -> std::net::IpAddr {
    let a = std::net::Ipv6Addr::from(v);
    match (v6, a.to_ipv4_mapped()) {
        (false, Some(v4)) => std::net::IpAddr::V4(v4),
        _ => std::net::IpAddr::V6(a),
    }
}

/// TCP flag bits as in the header's 13th byte.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;
}

/// What kind of packet this is for conntrack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Tcp {
        flags: u8,
    },
    Udp,
    /// An ICMP/ICMPv6 echo request (`reply` false) or reply.
    Echo {
        reply: bool,
    },
    /// An ICMP error quoting `inner` (the quoted packet's own tuple, as it was sent).
    Error {
        inner: Tuple,
    },
    /// ICMPv6 neighbour discovery, router discovery and MLD: not tracked (the
    /// kernel marks them untracked; OVS reports them invalid).
    Untracked,
    /// ICMP that is neither echo nor an error (timestamp, unknown types).
    OtherIcmp,
    /// Any other IP protocol: tracked by addresses and protocol alone.
    Other,
}

/// A parsed packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    pub tuple: Tuple,
    pub kind: Kind,
}

fn v4_mapped(p: &[u8]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[10] = 0xff;
    b[11] = 0xff;
    b[12..].copy_from_slice(&p[..4]);
    b
}

fn bytes16(p: &[u8]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b.copy_from_slice(&p[..16]);
    b
}

/// Parses the frame from its Ethernet header.
pub fn parse(frame: &[u8]) -> Option<Packet> {
    if frame.len() < ETH_HLEN {
        return None;
    }
    let mut off = 12;
    let mut ty = be16(frame, off);
    if matches!(ty, ETH_P_VLAN | ETH_P_QINQ) {
        if frame.len() < off + 6 {
            return None;
        }
        off += 4;
        ty = be16(frame, off);
    }
    let l3 = frame.get(off + 2..)?;
    match ty {
        ETH_P_IPV4 => parse_v4(l3, false),
        ETH_P_IPV6 => parse_v6(l3, false),
        _ => None,
    }
}

/// An IPv4 header and what follows; `quoted` for the packet inside an ICMP
/// error (cut short after 8 bytes of L4, and never itself an error).
fn parse_v4(p: &[u8], quoted: bool) -> Option<Packet> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    if ihl < 20 || p.len() < ihl {
        return None;
    }
    if be16(p, 6) & 0x1fff != 0 {
        return None; // a later fragment: no L4 header to track by
    }
    let src = v4_mapped(&p[12..16]);
    let dst = v4_mapped(&p[16..20]);
    l4(p[9], &p[ihl..], src, dst, false, quoted)
}

fn parse_v6(p: &[u8], quoted: bool) -> Option<Packet> {
    if p.len() < 40 || p[0] >> 4 != 6 {
        return None;
    }
    let src = bytes16(&p[8..24]);
    let dst = bytes16(&p[24..40]);
    // Extension headers are not walked: the next header is the L4 protocol.
    l4(p[6], &p[40..], src, dst, true, quoted)
}

fn l4(proto: u8, p: &[u8], src: [u8; 16], dst: [u8; 16], v6: bool, quoted: bool) -> Option<Packet> {
    let mut t = Tuple {
        src,
        dst,
        proto,
        v6,
        sport: 0,
        dport: 0,
    };
    let kind = match proto {
        IPPROTO_TCP => {
            if p.len() < 4 {
                return None;
            }
            t.sport = be16(p, 0);
            t.dport = be16(p, 2);
            // A quoted TCP header may stop after its ports (RFC 792: 8 bytes).
            let flags = if p.len() >= 14 { p[13] } else { 0 };
            if !quoted && p.len() < 20 {
                return None;
            }
            Kind::Tcp { flags }
        }
        IPPROTO_UDP => {
            if p.len() < 8 && !(quoted && p.len() >= 4) {
                return None;
            }
            t.sport = be16(p, 0);
            t.dport = be16(p, 2);
            Kind::Udp
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            if p.len() < 8 && !(quoted && p.len() >= 2) {
                return None;
            }
            icmp(&mut t, p, v6, quoted)?
        }
        _ => Kind::Other,
    };
    Some(Packet { tuple: t, kind })
}

fn icmp(t: &mut Tuple, p: &[u8], v6: bool, quoted: bool) -> Option<Kind> {
    let ty = p[0];
    let id = if p.len() >= 6 { be16(p, 4) } else { 0 };
    let (echo_req, echo_rep) = if v6 { (128, 129) } else { (8, 0) };
    if ty == echo_req || ty == echo_rep {
        t.sport = id;
        t.dport = id;
        return Some(Kind::Echo {
            reply: ty == echo_rep,
        });
    }
    let error = if v6 {
        ty < 128
    } else {
        matches!(ty, 3 | 4 | 5 | 11 | 12)
    };
    if error {
        if quoted {
            return None; // an error about an error is never tracked
        }
        let inner = p.get(8..)?;
        let q = if v6 {
            parse_v6(inner, true)?
        } else {
            parse_v4(inner, true)?
        };
        return Some(Kind::Error { inner: q.tuple });
    }
    if v6 && matches!(ty, 130..=137 | 143 | 151..=153) {
        return Some(Kind::Untracked);
    }
    Some(Kind::OtherIcmp)
}
