//! Test frames: Ethernet + IPv4/IPv6 + TCP/UDP/ICMP, just what conntrack and the
//! pipeline read (checksums are left zero).

use std::net::IpAddr;

pub const MAC_A: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 0x0a];
pub const MAC_B: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 0x0b];

fn eth(dst: [u8; 6], src: [u8; 6], ty: u16, l3: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + l3.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

/// An IP packet (no Ethernet) from `src` to `dst` carrying `l4` as `proto`.
pub fn ip(src: IpAddr, dst: IpAddr, proto: u8, l4: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
            let len = (20 + l4.len()) as u16;
            h[2..4].copy_from_slice(&len.to_be_bytes());
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            h.extend_from_slice(l4);
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0x60, 0, 0, 0];
            h.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            h.extend_from_slice(&[proto, 64]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            h.extend_from_slice(l4);
            h
        }
        _ => Vec::new(),
    }
}

/// The packet in an Ethernet frame from MAC_A to MAC_B.
pub fn frame(ip_pkt: &[u8]) -> Vec<u8> {
    let ty = if ip_pkt.first().is_some_and(|b| b >> 4 == 6) {
        0x86dd
    } else {
        0x0800
    };
    eth(MAC_B, MAC_A, ty, ip_pkt)
}

pub fn tcp_l4(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t
}

pub fn tcp(src: &str, dst: &str, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    frame(&ip(p(src), p(dst), 6, &tcp_l4(sport, dport, flags)))
}

pub fn udp(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&8u16.to_be_bytes());
    frame(&ip(p(src), p(dst), 17, &u))
}

/// ICMP (or ICMPv6 between IPv6 addresses) of `ty`/`code` with `rest` after the
/// first four bytes (the echo id and sequence, or an error's unused word and the
/// quoted packet).
pub fn icmp(src: &str, dst: &str, ty: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let (s, d) = (p(src), p(dst));
    let proto = if s.is_ipv6() { 58 } else { 1 };
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(rest);
    frame(&ip(s, d, proto, &m))
}

pub fn echo(src: &str, dst: &str, id: u16, reply: bool) -> Vec<u8> {
    let v6 = p(src).is_ipv6();
    let ty = match (v6, reply) {
        (false, false) => 8,
        (false, true) => 0,
        (true, false) => 128,
        (true, true) => 129,
    };
    let mut rest = id.to_be_bytes().to_vec();
    rest.extend_from_slice(&[0, 1]);
    icmp(src, dst, ty, 0, &rest)
}

/// An ICMP error from `from` to `to` quoting `quoted` (an IP packet, no Ethernet).
pub fn error(from: &str, to: &str, ty: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let mut rest = vec![0u8; 4];
    rest.extend_from_slice(&quoted[..quoted.len().min(48)]);
    icmp(from, to, ty, code, &rest)
}

pub fn p(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}
