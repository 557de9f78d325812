//! DHCPv4 (RFC 2131/2132) on the wire: a client's message out of its Ethernet/IPv4/UDP
//! frame, and a server's reply back into one with correct IPv4 and UDP checksums.
//!
//! The message itself is encoded and decoded by `dhcproto` (re-exported as [`v4`]);
//! this module adds the frame around it and the checks a server needs before it
//! trusts a message (ports, BOOTREQUEST, Ethernet hardware address, magic cookie).
//! Nothing here decides what to answer: that is the switch's `dhcp` action.

use crate::WireError;
use crate::checksum;
use crate::ether::{
    ETH_HLEN, ETH_P_IPV4, ETH_P_QINQ, ETH_P_VLAN, IPPROTO_UDP, MacAddr, VLAN_HLEN, be16,
};
use dhcproto::{Decoder, Encoder};
use std::net::Ipv4Addr;

pub use dhcproto::v4;
pub use dhcproto::v4::{DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode};
pub use dhcproto::{Decodable, Encodable};
pub use ipnet::Ipv4Net;

/// The server's UDP port.
pub const SERVER_PORT: u16 = 67;
/// The client's UDP port.
pub const CLIENT_PORT: u16 = 68;
/// The magic cookie in front of the options (RFC 2131 §3).
pub const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// Fixed part of a message: op .. file, then the cookie.
pub const FIXED_LEN: usize = 236;
/// BOOTP's minimum message size (RFC 1542 §2.1): replies are padded up to it, as some
/// clients drop shorter ones.
pub const MIN_MESSAGE_LEN: usize = 300;
/// Header lengths of the frames this module builds.
pub const IPV4_HLEN: usize = 20;
pub const UDP_HLEN: usize = 8;
/// TTL of the frames this module builds.
pub const TTL: u8 = 64;

/// The headers around a UDP payload: where a frame came from, or where it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpHeaders {
    pub eth_src: MacAddr,
    pub eth_dst: MacAddr,
    /// The 802.1Q TCI (without the TPID) when the frame carries one tag.
    pub vlan_tci: Option<u16>,
    pub ip_src: Ipv4Addr,
    pub ip_dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
}

/// A client's DHCP message with the headers of the frame it came in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientFrame {
    pub headers: UdpHeaders,
    pub msg: Message,
}

impl ClientFrame {
    /// The client hardware address (`chaddr`; the message is Ethernet, hlen 6).
    pub fn chaddr(&self) -> MacAddr {
        mac_of(self.msg.chaddr())
    }
}

fn mac_of(chaddr: &[u8]) -> MacAddr {
    let mut m = [0u8; 6];
    let n = chaddr.len().min(6);
    m[..n].copy_from_slice(&chaddr[..n]);
    MacAddr(m)
}

/// The L3 offset and EtherType of a frame with at most one VLAN tag.
fn l3(frame: &[u8]) -> Result<(usize, u16, Option<u16>), WireError> {
    if frame.len() < ETH_HLEN {
        return Err(WireError::Truncated("Ethernet"));
    }
    let ty = be16(frame, 12);
    if matches!(ty, ETH_P_VLAN | ETH_P_QINQ) {
        if frame.len() < ETH_HLEN + VLAN_HLEN {
            return Err(WireError::Truncated("802.1Q"));
        }
        let inner = be16(frame, 16);
        if matches!(inner, ETH_P_VLAN | ETH_P_QINQ) {
            return Err(WireError::Malformed("more than one VLAN tag"));
        }
        return Ok((ETH_HLEN + VLAN_HLEN, inner, Some(be16(frame, 14))));
    }
    Ok((ETH_HLEN, ty, None))
}

/// Splits a frame into its Ethernet/IPv4/UDP headers and the UDP payload. The IPv4
/// header checksum is verified; the UDP checksum is not (a TAP may hand over frames
/// whose checksum the guest left to offload).
pub fn parse_udp_frame(frame: &[u8]) -> Result<(UdpHeaders, &[u8]), WireError> {
    let (off, ty, vlan_tci) = l3(frame)?;
    if ty != ETH_P_IPV4 {
        return Err(WireError::Malformed("not IPv4"));
    }
    let ip = &frame[off..];
    if ip.len() < IPV4_HLEN {
        return Err(WireError::Truncated("IPv4"));
    }
    if ip[0] >> 4 != 4 {
        return Err(WireError::Malformed("IP version is not 4"));
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(be16(ip, 2));
    if ihl < IPV4_HLEN || total < ihl || ip.len() < total {
        return Err(WireError::Truncated("IPv4"));
    }
    if checksum::checksum(&ip[..ihl]) != 0 {
        return Err(WireError::Malformed("bad IPv4 header checksum"));
    }
    if be16(ip, 6) & 0x3fff != 0 {
        return Err(WireError::Malformed("IPv4 fragment"));
    }
    if ip[9] != IPPROTO_UDP {
        return Err(WireError::Malformed("not UDP"));
    }
    let udp = &ip[ihl..total];
    if udp.len() < UDP_HLEN {
        return Err(WireError::Truncated("UDP"));
    }
    let ulen = usize::from(be16(udp, 4));
    if ulen < UDP_HLEN || ulen > udp.len() {
        return Err(WireError::Malformed("bad UDP length"));
    }
    let h = UdpHeaders {
        eth_dst: MacAddr::from_slice(&frame[0..6]),
        eth_src: MacAddr::from_slice(&frame[6..12]),
        vlan_tci,
        ip_src: Ipv4Addr::from(crate::ether::be32(ip, 12)),
        ip_dst: Ipv4Addr::from(crate::ether::be32(ip, 16)),
        src_port: be16(udp, 0),
        dst_port: be16(udp, 2),
    };
    Ok((h, &udp[UDP_HLEN..ulen]))
}

/// Options a server reads from a client, with their exact length where fixed: message
/// type, requested address, server identifier, parameter request list, client
/// identifier.
const CLIENT_OPTIONS: &[(u8, Option<usize>)] = &[
    (53, Some(1)),
    (50, Some(4)),
    (54, Some(4)),
    (55, None),
    (61, None),
];

/// Decodes a client's DHCP message (the UDP payload), checking the magic cookie.
///
/// Only the options a server acts on are handed to the decoder, each checked for its
/// length first: the message comes from an untrusted guest, and `dhcproto` asserts on
/// some malformed options in debug builds. Others (and the `sname`/`file` overload)
/// are dropped.
pub fn decode_client_message(payload: &[u8]) -> Result<Message, WireError> {
    let opts_at = FIXED_LEN + MAGIC.len();
    if payload.len() < opts_at {
        return Err(WireError::Truncated("DHCP"));
    }
    if payload[FIXED_LEN..opts_at] != MAGIC {
        return Err(WireError::Malformed("no DHCP magic cookie (BOOTP?)"));
    }
    let mut clean = Vec::with_capacity(payload.len());
    clean.extend_from_slice(&payload[..opts_at]);
    let mut seen = [false; 256];
    let mut i = opts_at;
    while i < payload.len() {
        let code = payload[i];
        match code {
            0 => {
                i += 1;
                continue;
            }
            255 => break,
            _ => {}
        }
        let Some(&len) = payload.get(i + 1) else {
            break;
        };
        let len = usize::from(len);
        let Some(data) = payload.get(i + 2..i + 2 + len) else {
            break;
        };
        i += 2 + len;
        let Some(&(_, want)) = CLIENT_OPTIONS.iter().find(|(c, _)| *c == code) else {
            continue;
        };
        let ok = match want {
            Some(n) => len == n && !seen[usize::from(code)],
            None => len > 0,
        };
        if ok {
            seen[usize::from(code)] = true;
            clean.push(code);
            clean.push(len as u8);
            clean.extend_from_slice(data);
        }
    }
    clean.push(255);
    Message::decode(&mut Decoder::new(&clean)).map_err(|_| WireError::Malformed("bad DHCP message"))
}

/// Encodes a DHCP message, padded with zeros (Pad options) to [`MIN_MESSAGE_LEN`].
pub fn encode_message(msg: &Message) -> Result<Vec<u8>, WireError> {
    let mut buf = Vec::with_capacity(MIN_MESSAGE_LEN + 64);
    msg.encode(&mut Encoder::new(&mut buf))
        .map_err(|_| WireError::Malformed("DHCP message cannot be encoded"))?;
    if buf.len() < MIN_MESSAGE_LEN {
        buf.resize(MIN_MESSAGE_LEN, 0);
    }
    Ok(buf)
}

/// A client's DHCP message out of its frame: UDP 68 -> 67, a BOOTREQUEST with an
/// Ethernet hardware address (htype 1, hlen 6), the magic cookie, not relayed here
/// from elsewhere is the caller's business (`giaddr`).
pub fn parse_client_frame(frame: &[u8]) -> Result<ClientFrame, WireError> {
    let (headers, payload) = parse_udp_frame(frame)?;
    if headers.src_port != CLIENT_PORT || headers.dst_port != SERVER_PORT {
        return Err(WireError::Malformed("not UDP 68 -> 67"));
    }
    let msg = decode_client_message(payload)?;
    if msg.opcode() != Opcode::BootRequest {
        return Err(WireError::Malformed("not a BOOTREQUEST"));
    }
    if msg.htype() != HType::Eth || msg.hlen() != 6 {
        return Err(WireError::Malformed("hardware address is not Ethernet"));
    }
    Ok(ClientFrame { headers, msg })
}

/// Builds an Ethernet[/802.1Q]/IPv4/UDP frame around `payload`, with the IPv4 header
/// checksum and the UDP checksum (RFC 768: 0 is sent as 0xffff) filled in.
pub fn build_udp_frame(h: &UdpHeaders, payload: &[u8]) -> Vec<u8> {
    let udp_len = UDP_HLEN + payload.len();
    let ip_len = IPV4_HLEN + udp_len;
    let l2 = ETH_HLEN + if h.vlan_tci.is_some() { VLAN_HLEN } else { 0 };
    let mut f = Vec::with_capacity(l2 + ip_len);
    f.extend_from_slice(&h.eth_dst.0);
    f.extend_from_slice(&h.eth_src.0);
    if let Some(tci) = h.vlan_tci {
        f.extend_from_slice(&ETH_P_VLAN.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ETH_P_IPV4.to_be_bytes());
    let ip_start = f.len();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&(ip_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, TTL, IPPROTO_UDP, 0, 0]);
    f.extend_from_slice(&h.ip_src.octets());
    f.extend_from_slice(&h.ip_dst.octets());
    let c = checksum::checksum(&f[ip_start..ip_start + IPV4_HLEN]);
    f[ip_start + 10..ip_start + 12].copy_from_slice(&c.to_be_bytes());
    let udp_start = f.len();
    f.extend_from_slice(&h.src_port.to_be_bytes());
    f.extend_from_slice(&h.dst_port.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    let mut sum = checksum::add(0, &h.ip_src.octets());
    sum = checksum::add(sum, &h.ip_dst.octets());
    sum = checksum::add(sum, &[0, IPPROTO_UDP]);
    sum = checksum::add(sum, &(udp_len as u16).to_be_bytes());
    sum = checksum::add(sum, &f[udp_start..]);
    let c = match checksum::finish(sum) {
        0 => 0xffff,
        c => c,
    };
    f[udp_start + 6..udp_start + 8].copy_from_slice(&c.to_be_bytes());
    f
}

/// Builds the whole frame of a server reply: `msg` encoded (and padded) inside UDP
/// 67 -> 68 with the given addresses.
pub fn build_reply_frame(
    eth_src: MacAddr,
    eth_dst: MacAddr,
    vlan_tci: Option<u16>,
    ip_src: Ipv4Addr,
    ip_dst: Ipv4Addr,
    msg: &Message,
) -> Result<Vec<u8>, WireError> {
    let payload = encode_message(msg)?;
    Ok(build_udp_frame(
        &UdpHeaders {
            eth_src,
            eth_dst,
            vlan_tci,
            ip_src,
            ip_dst,
            src_port: SERVER_PORT,
            dst_port: CLIENT_PORT,
        },
        &payload,
    ))
}

/// The netmask of a prefix length (0..=32).
pub fn netmask(prefix_len: u8) -> Ipv4Addr {
    match prefix_len {
        0 => Ipv4Addr::UNSPECIFIED,
        n if n >= 32 => Ipv4Addr::BROADCAST,
        n => Ipv4Addr::from(u32::MAX << (32 - u32::from(n))),
    }
}

/// The directed broadcast address of `ip/prefix_len`.
pub fn broadcast_addr(ip: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip) | !u32::from(netmask(prefix_len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0, 0, 1]);

    fn discover() -> Message {
        let mut m = Message::new_with_id(
            0x1234_5678,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &CLIENT.0,
        );
        m.opts_mut()
            .insert(DhcpOption::MessageType(MessageType::Discover));
        m
    }

    fn client_frame(msg: &Message) -> Vec<u8> {
        let payload = encode_message(msg).unwrap();
        build_udp_frame(
            &UdpHeaders {
                eth_src: CLIENT,
                eth_dst: MacAddr::BROADCAST,
                vlan_tci: None,
                ip_src: Ipv4Addr::UNSPECIFIED,
                ip_dst: Ipv4Addr::BROADCAST,
                src_port: CLIENT_PORT,
                dst_port: SERVER_PORT,
            },
            &payload,
        )
    }

    /// Verifies the IPv4 and UDP checksums of a built frame from scratch.
    fn checksums_ok(f: &[u8]) -> bool {
        let (off, _, _) = l3(f).unwrap();
        let ip = &f[off..];
        let ihl = usize::from(ip[0] & 15) * 4;
        let total = usize::from(be16(ip, 2));
        let udp = &ip[ihl..total];
        let mut sum = checksum::add(0, &ip[12..20]);
        sum = checksum::add(sum, &[0, 17]);
        sum = checksum::add(sum, &(udp.len() as u16).to_be_bytes());
        sum = checksum::add(sum, udp);
        checksum::checksum(&ip[..ihl]) == 0 && checksum::finish(sum) == 0
    }

    #[test]
    fn client_frame_round_trip() {
        let f = client_frame(&discover());
        assert!(checksums_ok(&f));
        let c = parse_client_frame(&f).unwrap();
        assert_eq!(c.chaddr(), CLIENT);
        assert_eq!(c.headers.eth_src, CLIENT);
        assert_eq!(c.headers.ip_dst, Ipv4Addr::BROADCAST);
        assert_eq!(c.msg.xid(), 0x1234_5678);
        assert_eq!(c.msg.opts().msg_type(), Some(MessageType::Discover));
        // Padded to the BOOTP minimum.
        assert_eq!(f.len(), ETH_HLEN + IPV4_HLEN + UDP_HLEN + MIN_MESSAGE_LEN);
    }

    #[test]
    fn vlan_tagged_frames_parse_and_build() {
        let mut h = parse_udp_frame(&client_frame(&discover())).unwrap().0;
        h.vlan_tci = Some(0x2005);
        let f = build_udp_frame(&h, b"hello");
        assert_eq!(be16(&f, 12), ETH_P_VLAN);
        assert!(checksums_ok(&f));
        let (h2, p) = parse_udp_frame(&f).unwrap();
        assert_eq!(h2, h);
        assert_eq!(p, b"hello");
    }

    #[test]
    fn reply_frame_has_addresses_and_checksums() {
        let mut reply = discover();
        reply.set_opcode(Opcode::BootReply);
        reply.set_yiaddr(Ipv4Addr::new(10, 0, 0, 5));
        let server = MacAddr([0xfa, 0x16, 0x3e, 0xff, 0xff, 0xfe]);
        let f = build_reply_frame(
            server,
            CLIENT,
            None,
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 5),
            &reply,
        )
        .unwrap();
        assert!(checksums_ok(&f));
        let (h, payload) = parse_udp_frame(&f).unwrap();
        assert_eq!((h.src_port, h.dst_port), (SERVER_PORT, CLIENT_PORT));
        assert_eq!((h.eth_src, h.eth_dst), (server, CLIENT));
        assert_eq!(h.ip_dst, Ipv4Addr::new(10, 0, 0, 5));
        let m = Message::from_bytes(payload).unwrap();
        assert_eq!(m.opcode(), Opcode::BootReply);
        assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 0, 0, 5));
        // A reply is not a client message.
        assert!(parse_client_frame(&f).is_err());
    }

    #[test]
    fn rejects_what_is_not_a_client_message() {
        let good = client_frame(&discover());
        // Wrong ports.
        let mut f = good.clone();
        f[ETH_HLEN + IPV4_HLEN + 1] = 69;
        assert!(parse_client_frame(&f).is_err());
        // Broken IPv4 header checksum.
        let mut f = good.clone();
        f[ETH_HLEN + 8] = 1;
        assert!(parse_client_frame(&f).is_err());
        // No magic cookie (plain BOOTP).
        let mut f = good.clone();
        f[ETH_HLEN + IPV4_HLEN + UDP_HLEN + FIXED_LEN] = 0;
        assert!(parse_client_frame(&f).is_err());
        // A BOOTREPLY.
        let mut f = good.clone();
        f[ETH_HLEN + IPV4_HLEN + UDP_HLEN] = 2;
        assert!(parse_client_frame(&f).is_err());
        // Not Ethernet hardware.
        let mut f = good.clone();
        f[ETH_HLEN + IPV4_HLEN + UDP_HLEN + 2] = 16;
        assert!(parse_client_frame(&f).is_err());
        // Truncated anywhere: an error, never a panic.
        for n in 0..good.len() {
            let _ = parse_client_frame(&good[..n]);
        }
        assert!(parse_client_frame(&good[..ETH_HLEN + 30]).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic fuzz: random bytes behind valid headers.
        let good = client_frame(&discover());
        let opts = ETH_HLEN + IPV4_HLEN + UDP_HLEN + FIXED_LEN + 4;
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..2000 {
            let mut f = good.clone();
            for b in f[opts..].iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            let _ = parse_client_frame(&f);
        }
    }

    #[test]
    fn only_checked_server_options_reach_the_decoder() {
        let mut m = discover();
        m.opts_mut()
            .insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 5)));
        m.opts_mut().insert(DhcpOption::ClientIdentifier(vec![
            1, 0xfa, 0x16, 0x3e, 0, 0, 1,
        ]));
        m.opts_mut().insert(DhcpOption::Hostname("vm1".into()));
        let mut payload = encode_message(&m).unwrap();
        let at = FIXED_LEN + MAGIC.len();
        // Options dhcproto asserts on (debug builds) when their length is wrong, a
        // server identifier of the wrong length, and a duplicate message type.
        payload.splice(
            at..at,
            [94u8, 1, 7, 0, 118, 2, 1, 2, 54, 3, 1, 2, 3, 53, 1, 3],
        );
        let got = decode_client_message(&payload).unwrap();
        // The first message type counts (the encoded DISCOVER's comes later).
        assert_eq!(got.opts().msg_type(), Some(MessageType::Request));
        assert_eq!(
            got.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 5)))
        );
        assert!(got.opts().get(OptionCode::ClientIdentifier).is_some());
        assert!(got.opts().get(OptionCode::ServerIdentifier).is_none());
        assert!(got.opts().get(OptionCode::Hostname).is_none());
        assert!(got.opts().get(OptionCode::ClientNetworkInterface).is_none());
        // An option running past the end is cut, not read out of bounds.
        let mut short = payload[..at].to_vec();
        short.extend_from_slice(&[53, 1, 1, 55, 200, 1, 3]);
        let got = decode_client_message(&short).unwrap();
        assert_eq!(got.opts().msg_type(), Some(MessageType::Discover));
        assert!(got.opts().get(OptionCode::ParameterRequestList).is_none());
    }

    #[test]
    fn masks_and_broadcast() {
        assert_eq!(netmask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(netmask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(netmask(32), Ipv4Addr::BROADCAST);
        assert_eq!(
            broadcast_addr(Ipv4Addr::new(10, 0, 0, 5), 24),
            Ipv4Addr::new(10, 0, 0, 255)
        );
        assert_eq!(
            broadcast_addr(Ipv4Addr::new(172, 16, 5, 9), 20),
            Ipv4Addr::new(172, 16, 15, 255)
        );
    }
}
