//! Path-MTU errors a switch sends back to a VM whose frame is too big for the
//! tunnel it must leave by: ICMP "fragmentation needed" (RFC 792/1191) for IPv4
//! with DF set, ICMPv6 "packet too big" (RFC 4443, 8201) for IPv6. As Linux's
//! vxlan does on bridged links, the error comes from the packet's destination
//! (addresses swapped), so the sender's stack lowers its path MTU.

use crate::checksum;
use crate::ether::{ETH_HLEN, ETH_P_IPV4, ETH_P_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, be16};
use crate::ipv4::{self, Ipv4Header};
use crate::ipv6::{self, Ipv6Header};

/// Most of the original datagram quoted in an ICMPv4 error (576-byte reply).
const V4_QUOTE: usize = 576 - 20 - 8;
/// Most quoted in an ICMPv6 error (the reply stays within the 1280 minimum MTU).
const V6_QUOTE: usize = 1280 - 40 - 8;

/// True when `frame` (untagged Ethernet) is an IP packet that must not be
/// fragmented on the way: IPv4 with DF, or any IPv6.
pub fn must_not_fragment(frame: &[u8]) -> bool {
    if frame.len() < ETH_HLEN + 20 {
        return false;
    }
    match be16(frame, 12) {
        ETH_P_IPV4 => Ipv4Header::new_unchecked(&frame[ETH_HLEN..]).dont_fragment(),
        ETH_P_IPV6 => true,
        _ => false,
    }
}

/// The error telling the sender of `frame` that the path takes at most `mtu`
/// bytes of IP packet; None when no error may be sent (not IP, not unicast, an
/// ICMP error itself, malformed).
pub fn too_big_reply(frame: &[u8], mtu: u16) -> Option<Vec<u8>> {
    if frame.len() < ETH_HLEN || frame[0] & 1 != 0 || frame[6] & 1 != 0 {
        return None;
    }
    match be16(frame, 12) {
        ETH_P_IPV4 => v4(frame, mtu),
        ETH_P_IPV6 => v6(frame, mtu),
        _ => None,
    }
}

fn ether_swapped(frame: &[u8], ethertype: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&frame[6..12]);
    out.extend_from_slice(&frame[0..6]);
    out.extend_from_slice(&ethertype.to_be_bytes());
}

fn v4(frame: &[u8], mtu: u16) -> Option<Vec<u8>> {
    let ip = frame.get(ETH_HLEN..)?;
    let h = Ipv4Header::new_checked(ip).ok()?;
    let ihl = h.header_len();
    if h.version() != 4 || ihl < ipv4::HEADER_LEN || ip.len() < ihl {
        return None;
    }
    let (src, dst) = h.addrs().split_at(4);
    let unicast = |a: &[u8]| a[0] != 0 && a[0] < 224 && a != [255, 255, 255, 255];
    if !unicast(src) || !unicast(dst) {
        return None;
    }
    // Never an error about an error (RFC 1122 3.2.2), nor about a non-first fragment.
    if h.frag_offset() != 0 {
        return None;
    }
    if h.protocol() == IPPROTO_ICMP && ip.get(ihl).is_some_and(|t| ![0, 8, 13, 14].contains(t)) {
        return None;
    }
    let quote = &ip[..ip.len().min(V4_QUOTE)];
    let total = 20 + 8 + quote.len();
    let mut out = Vec::with_capacity(ETH_HLEN + total);
    ether_swapped(frame, ETH_P_IPV4, &mut out);
    let h = out.len();
    out.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, IPPROTO_ICMP, 0, 0]);
    out[h + 2..h + 4].copy_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(dst);
    out.extend_from_slice(src);
    let c = checksum::checksum(&out[h..h + 20]);
    out[h + 10..h + 12].copy_from_slice(&c.to_be_bytes());
    let m = out.len();
    out.extend_from_slice(&[3, 4, 0, 0, 0, 0]);
    out.extend_from_slice(&mtu.to_be_bytes());
    out.extend_from_slice(quote);
    let c = checksum::checksum(&out[m..]);
    out[m + 2..m + 4].copy_from_slice(&c.to_be_bytes());
    Some(out)
}

fn v6(frame: &[u8], mtu: u16) -> Option<Vec<u8>> {
    let ip = frame.get(ETH_HLEN..)?;
    let h = Ipv6Header::new_checked(ip).ok()?;
    if h.version() != 6 {
        return None;
    }
    let (src, dst) = h.addrs().split_at(16);
    let bad = |a: &[u8]| a[0] == 0xff || a.iter().all(|b| *b == 0);
    if bad(src) || bad(dst) {
        return None;
    }
    if h.next_header() == IPPROTO_ICMPV6 && ip.get(ipv6::HEADER_LEN).is_some_and(|t| *t < 128) {
        return None;
    }
    let quote = &ip[..ip.len().min(V6_QUOTE)];
    let plen = 8 + quote.len();
    let mut out = Vec::with_capacity(ETH_HLEN + 40 + plen);
    ether_swapped(frame, ETH_P_IPV6, &mut out);
    let h = out.len();
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(plen as u16).to_be_bytes());
    out.extend_from_slice(&[IPPROTO_ICMPV6, 64]);
    out.extend_from_slice(dst);
    out.extend_from_slice(src);
    let m = out.len();
    out.extend_from_slice(&[2, 0, 0, 0]);
    out.extend_from_slice(&u32::from(mtu).to_be_bytes());
    out.extend_from_slice(quote);
    let mut sum = checksum::add(0, &out[h + 8..h + 40]);
    sum = checksum::add(sum, &(plen as u32).to_be_bytes());
    sum = checksum::add(sum, &[0, 0, 0, IPPROTO_ICMPV6]);
    let c = checksum::finish(checksum::add(sum, &out[m..]));
    out[m + 2..m + 4].copy_from_slice(&c.to_be_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_frame(df: bool, proto: u8, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; ETH_HLEN + len];
        f[0..6].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 4]);
        f[6..12].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 2]);
        f[12..14].copy_from_slice(&ETH_P_IPV4.to_be_bytes());
        let ip = &mut f[ETH_HLEN..];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        ip[6] = if df { 0x40 } else { 0 };
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&[10, 0, 0, 2]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 4]);
        ip[20] = 8; // an echo request, when ICMP
        f
    }

    #[test]
    fn ipv4_frag_needed_from_the_destination() {
        let f = v4_frame(true, 17, 1500);
        assert!(must_not_fragment(&f));
        let r = too_big_reply(&f, 1450).unwrap();
        assert_eq!(&r[0..6], &f[6..12]);
        assert_eq!(&r[6..12], &f[0..6]);
        let ip = &r[ETH_HLEN..];
        assert_eq!(checksum::checksum(&ip[..20]), 0);
        assert_eq!(&ip[12..16], &[10, 0, 0, 4]);
        assert_eq!(&ip[16..20], &[10, 0, 0, 2]);
        assert_eq!(usize::from(be16(ip, 2)), ip.len());
        let icmp = &ip[20..];
        assert_eq!((icmp[0], icmp[1]), (3, 4));
        assert_eq!(be16(icmp, 6), 1450);
        assert_eq!(checksum::checksum(icmp), 0);
        assert_eq!(&icmp[8..28], &f[ETH_HLEN..ETH_HLEN + 20]);
        assert!(ip.len() <= 576);
    }

    #[test]
    fn no_error_without_df_for_errors_or_broadcasts() {
        assert!(!must_not_fragment(&v4_frame(false, 17, 1500)));
        // An ICMP error is never answered with one; an echo request is.
        let mut e = v4_frame(true, IPPROTO_ICMP, 1500);
        assert!(too_big_reply(&e, 1450).is_some());
        e[ETH_HLEN + 20] = 3;
        assert!(too_big_reply(&e, 1450).is_none());
        let mut b = v4_frame(true, 17, 1500);
        b[6] = 0xff;
        assert!(too_big_reply(&b, 1450).is_none());
        assert!(too_big_reply(&b[..10], 1450).is_none());
    }

    #[test]
    fn ipv6_packet_too_big() {
        let mut f = vec![0u8; ETH_HLEN + 1500];
        f[0..6].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 4]);
        f[6..12].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 2]);
        f[12..14].copy_from_slice(&ETH_P_IPV6.to_be_bytes());
        let ip = &mut f[ETH_HLEN..];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&1460u16.to_be_bytes());
        ip[6] = 17;
        ip[8] = 0xfd;
        ip[23] = 2;
        ip[24] = 0xfd;
        ip[39] = 4;
        assert!(must_not_fragment(&f));
        let r = too_big_reply(&f, 1450).unwrap();
        let ip = &r[ETH_HLEN..];
        assert_eq!(ip[6], IPPROTO_ICMPV6);
        assert_eq!(ip[39], 2);
        assert_eq!(ip[23], 4);
        let icmp = &ip[40..];
        assert_eq!(icmp[0], 2);
        assert_eq!(
            u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]),
            1450
        );
        let mut sum = checksum::add(0, &ip[8..40]);
        sum = checksum::add(sum, &(icmp.len() as u32).to_be_bytes());
        sum = checksum::add(sum, &[0, 0, 0, IPPROTO_ICMPV6]);
        assert_eq!(checksum::finish(checksum::add(sum, icmp)), 0);
        assert!(ip.len() <= 1280);
    }
}
