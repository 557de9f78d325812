//! Ethernet/IPv4 ARP (RFC 826): reading a request and building the reply to it.

use crate::WireError;
use crate::ether::{
    ETH_HLEN, ETH_P_ARP, ETH_P_IPV4, ETH_P_QINQ, ETH_P_VLAN, MacAddr, VLAN_HLEN, be16, be32,
};
use std::net::Ipv4Addr;

pub const ARP_LEN: usize = 28;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;
/// Ethernet's minimum frame length without the FCS; ARP frames are padded to it.
pub const MIN_FRAME: usize = 60;

/// An Ethernet/IPv4 ARP packet with the Ethernet header it came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    pub eth_src: MacAddr,
    pub eth_dst: MacAddr,
    pub vlan_tci: Option<u16>,
    pub op: u16,
    pub sha: MacAddr,
    pub spa: Ipv4Addr,
    pub tha: MacAddr,
    pub tpa: Ipv4Addr,
}

/// Parses an Ethernet/IPv4 ARP frame (htype 1, ptype 0x0800, hlen 6, plen 4), with at
/// most one VLAN tag.
pub fn parse(frame: &[u8]) -> Result<Arp, WireError> {
    if frame.len() < ETH_HLEN {
        return Err(WireError::Truncated("Ethernet"));
    }
    let (mut off, mut vlan_tci) = (12, None);
    if matches!(be16(frame, off), ETH_P_VLAN | ETH_P_QINQ) {
        if frame.len() < ETH_HLEN + VLAN_HLEN {
            return Err(WireError::Truncated("802.1Q"));
        }
        vlan_tci = Some(be16(frame, 14));
        off += VLAN_HLEN;
    }
    if be16(frame, off) != ETH_P_ARP {
        return Err(WireError::Malformed("not ARP"));
    }
    let a = &frame[off + 2..];
    if a.len() < ARP_LEN {
        return Err(WireError::Truncated("ARP"));
    }
    if be16(a, 0) != 1 || be16(a, 2) != ETH_P_IPV4 || a[4] != 6 || a[5] != 4 {
        return Err(WireError::Malformed("not Ethernet/IPv4 ARP"));
    }
    Ok(Arp {
        eth_dst: MacAddr::from_slice(&frame[0..6]),
        eth_src: MacAddr::from_slice(&frame[6..12]),
        vlan_tci,
        op: be16(a, 6),
        sha: MacAddr::from_slice(&a[8..14]),
        spa: Ipv4Addr::from(be32(a, 14)),
        tha: MacAddr::from_slice(&a[18..24]),
        tpa: Ipv4Addr::from(be32(a, 24)),
    })
}

/// Writes an ARP frame (padded to [`MIN_FRAME`]).
pub fn build(a: &Arp) -> Vec<u8> {
    let mut f = Vec::with_capacity(MIN_FRAME + VLAN_HLEN);
    f.extend_from_slice(&a.eth_dst.0);
    f.extend_from_slice(&a.eth_src.0);
    if let Some(tci) = a.vlan_tci {
        f.extend_from_slice(&ETH_P_VLAN.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
    f.extend_from_slice(&a.op.to_be_bytes());
    f.extend_from_slice(&a.sha.0);
    f.extend_from_slice(&a.spa.octets());
    f.extend_from_slice(&a.tha.0);
    f.extend_from_slice(&a.tpa.octets());
    let min = MIN_FRAME + if a.vlan_tci.is_some() { VLAN_HLEN } else { 0 };
    if f.len() < min {
        f.resize(min, 0);
    }
    f
}

/// The reply to `req` saying `tpa` is at `mac`: from `mac` to the requester, with the
/// request's VLAN tag.
pub fn reply(req: &Arp, mac: MacAddr) -> Vec<u8> {
    build(&Arp {
        eth_src: mac,
        eth_dst: req.sha,
        vlan_tci: req.vlan_tci,
        op: OP_REPLY,
        sha: mac,
        spa: req.tpa,
        tha: req.sha,
        tpa: req.spa,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_reply() {
        let vm = MacAddr([0xfa, 0x16, 0x3e, 0, 0, 1]);
        let req = Arp {
            eth_src: vm,
            eth_dst: MacAddr::BROADCAST,
            vlan_tci: None,
            op: OP_REQUEST,
            sha: vm,
            spa: Ipv4Addr::new(10, 0, 0, 5),
            tha: MacAddr::ZERO,
            tpa: Ipv4Addr::new(10, 0, 0, 2),
        };
        let f = build(&req);
        assert_eq!(f.len(), MIN_FRAME);
        assert_eq!(parse(&f).unwrap(), req);
        let server = MacAddr([0xfa, 0x16, 0x3e, 0xff, 0xff, 0xfe]);
        let r = parse(&reply(&req, server)).unwrap();
        assert_eq!(r.op, OP_REPLY);
        assert_eq!((r.eth_src, r.eth_dst), (server, vm));
        assert_eq!((r.sha, r.spa), (server, Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!((r.tha, r.tpa), (vm, Ipv4Addr::new(10, 0, 0, 5)));
        // Tagged requests get tagged replies.
        let tagged = Arp {
            vlan_tci: Some(7),
            ..req
        };
        let r = parse(&reply(&parse(&build(&tagged)).unwrap(), server)).unwrap();
        assert_eq!(r.vlan_tci, Some(7));
        for n in 0..f.len() {
            let _ = parse(&f[..n]);
        }
        assert!(parse(&f[..30]).is_err());
    }
}
