//! Merging consecutive UDP datagrams of one flow, on their way into a VM's TAP, into
//! one UDP GSO packet (virtio `GSO_UDP_L4`): the receiving kernel takes one packet
//! through its device and IP layers and cuts it back into the same datagrams at the
//! socket (or, forwarding, at the device), as Linux's own UDP GRO does.
//!
//! Only datagrams whose checksum is still to be computed (`NEEDS_CSUM`, as a VM's UDP
//! leaves its TAP) or was already checked (`DATA_VALID`, as switchd marks what it
//! verified coming out of a tunnel) are merged, so no checksum is ever made up for
//! bytes nobody checked (anything else is passed on as it is, for its receiver to
//! judge). IPv4 without options or fragmentation, ids consecutive (the cut gives the
//! same ids back), IP header checksum correct; IPv6 with UDP right after the fixed
//! header (no extension headers, so no fragments). Equal in everything but the
//! payload (and the IPv4 id), all payloads as long as the first but the last, which
//! may be shorter and ends the run. At most [`MAX_DATAGRAMS`] datagrams and 65,535
//! bytes of IPv4 packet or IPv6 payload.

use std::ops::Range;
use wire::checksum;
use wire::ether::{ETH_HLEN as ETH, ETH_P_IPV4, ETH_P_IPV6, IPPROTO_UDP, l3_offset};
use wire::ipv4::{self, Ipv4Header};
use wire::ipv6::{self, Ipv6Header};
use wire::udp::{self, UdpHeader};
use wire::virtio::{F_DATA_VALID, F_NEEDS_CSUM, GSO_UDP_L4, VirtioNetHdr};

/// Most datagrams merged into one packet.
pub const MAX_DATAGRAMS: usize = 64;
const UDP: usize = udp::HEADER_LEN;

/// The IP version of a run; the header offsets follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Family {
    #[default]
    V4,
    V6,
}

impl Family {
    /// The IP header's length (no options, no extension headers).
    const fn ip(self) -> usize {
        match self {
            Family::V4 => ipv4::HEADER_LEN,
            Family::V6 => ipv6::HEADER_LEN,
        }
    }

    /// Where the UDP header starts.
    const fn udp(self) -> usize {
        ETH + self.ip()
    }

    /// Ethernet, IP and UDP headers.
    const fn headers(self) -> usize {
        self.udp() + UDP
    }

    /// Bytes that must be equal in every datagram of a run. IPv4: MACs and type,
    /// TOS, the DF/MF/offset word, TTL, protocol, addresses and ports. IPv6: MACs
    /// and type, version, traffic class and flow label, next header, hop limit,
    /// addresses and ports.
    fn same(self) -> &'static [Range<usize>] {
        match self {
            Family::V4 => &[0..16, 20..24, 26..38],
            Family::V6 => &[0..18, 20..58],
        }
    }

    /// Bytes of a merged run's IP packet (IPv4) or payload (IPv6) when its frame is
    /// `frame_len` bytes long: at most 65,535.
    fn counted(self, frame_len: usize) -> usize {
        match self {
            Family::V4 => frame_len - ETH,
            Family::V6 => frame_len - ETH - ipv6::HEADER_LEN,
        }
    }
}

/// One run being merged.
#[derive(Default)]
pub struct UdpMerge {
    /// The first frame's headers, then every payload in order.
    frame: Vec<u8>,
    /// The first frame's offload header (given back as it is for a run of one).
    first_hdr: VirtioNetHdr,
    family: Family,
    count: usize,
    /// Payload bytes of each datagram but the last.
    segment: usize,
    /// The first IPv4 id (IPv6 has none).
    first_id: u16,
    /// A shorter datagram came: nothing more joins.
    closed: bool,
    /// The frames' own lengths, summed (for the port's byte counter).
    frame_bytes: usize,
}

/// The family and UDP payload length of `frame` if it is a datagram that may be
/// merged.
fn mergeable(frame: &[u8], hdr: &VirtioNetHdr) -> Option<(Family, usize)> {
    if hdr.is_gso() || frame.len() <= Family::V4.headers() {
        return None;
    }
    // IPv4 without options, or IPv6; UDP right behind.
    let ip = &frame[ETH..];
    let family = match l3_offset(frame) {
        Some((ETH, ETH_P_IPV4)) => {
            let ip = Ipv4Header::new_unchecked(ip);
            let plain = ip.version() == 4 && ip.header_len() == ipv4::HEADER_LEN;
            if !(plain && ip.protocol() == IPPROTO_UDP) {
                return None;
            }
            Family::V4
        }
        Some((ETH, ETH_P_IPV6)) if frame.len() > Family::V6.headers() => {
            let ip = Ipv6Header::new_unchecked(ip);
            if !(ip.version() == 6 && ip.next_header() == IPPROTO_UDP) {
                return None;
            }
            Family::V6
        }
        _ => return None,
    };
    let partial = hdr.flags == F_NEEDS_CSUM
        && usize::from(hdr.csum_start) == family.udp()
        && usize::from(hdr.csum_offset) == udp::field::CHECKSUM.start;
    let checked = hdr.flags == F_DATA_VALID;
    if !(partial || checked) {
        return None;
    }
    let udp_len = usize::from(UdpHeader::new_unchecked(&frame[family.udp()..]).len());
    let lengths = match family {
        Family::V4 => {
            let ip = Ipv4Header::new_unchecked(ip);
            // A corrupt IP header stays as it is, for the receiver to drop; so do
            // fragments (MF or an offset).
            if !ip.verify_checksum() || ip.is_fragment() {
                return None;
            }
            let total = usize::from(ip.total_len());
            total == frame.len() - ETH && udp_len == total - ipv4::HEADER_LEN
        }
        Family::V6 => {
            let payload = usize::from(Ipv6Header::new_unchecked(ip).payload_len());
            payload == frame.len() - ETH - ipv6::HEADER_LEN && udp_len == payload
        }
    };
    (lengths && udp_len > UDP).then_some((family, udp_len - UDP))
}

impl UdpMerge {
    pub fn with_capacity(bytes: usize) -> UdpMerge {
        UdpMerge {
            frame: Vec::with_capacity(bytes),
            ..UdpMerge::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Datagrams in the run.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Takes `frame` into the run, or starts one with it when the run is empty.
    /// False when it cannot join (the caller sends the run first, then tries again
    /// or sends the frame as it is).
    pub fn push(&mut self, frame: &[u8], hdr: &VirtioNetHdr) -> bool {
        let Some((family, payload)) = mergeable(frame, hdr) else {
            return false;
        };
        let id = match family {
            Family::V4 => Ipv4Header::new_unchecked(&frame[ETH..]).ident(),
            Family::V6 => 0,
        };
        if self.count == 0 {
            self.frame.clear();
            self.frame.extend_from_slice(frame);
            self.first_hdr = *hdr;
            self.family = family;
            self.count = 1;
            self.segment = payload;
            self.first_id = id;
            self.closed = false;
            self.frame_bytes = frame.len();
            return true;
        }
        let same = family == self.family
            && family
                .same()
                .iter()
                .all(|r| frame.get(r.clone()) == self.frame.get(r.clone()));
        if self.closed
            || !same
            || self.count >= MAX_DATAGRAMS
            || payload > self.segment
            || (family == Family::V4 && id != self.first_id.wrapping_add(self.count as u16))
            || family.counted(self.frame.len() + payload) > usize::from(u16::MAX)
        {
            return false;
        }
        self.frame.extend_from_slice(&frame[family.headers()..]);
        self.count += 1;
        self.closed = payload < self.segment;
        self.frame_bytes += frame.len();
        true
    }

    /// The run as one frame with its offload header (a run of one: the datagram as
    /// it came), the datagrams it holds and their frames' bytes; the run is then
    /// empty. None when it was empty.
    pub fn take(&mut self) -> Option<(VirtioNetHdr, &[u8], usize, usize)> {
        let count = std::mem::take(&mut self.count);
        if count == 0 {
            return None;
        }
        let bytes = self.frame_bytes;
        if count == 1 {
            return Some((self.first_hdr, &self.frame, 1, bytes));
        }
        let family = self.family;
        let f = &mut self.frame;
        let udp = family.udp();
        let udp_len = (f.len() - udp) as u16;
        let mut pseudo = match family {
            Family::V4 => {
                let total = (f.len() - ETH) as u16;
                let mut ip = Ipv4Header::new_unchecked(&mut f[ETH..udp]);
                ip.set_total_len(total);
                ip.fill_checksum();
                checksum::add(0, ip.addrs())
            }
            Family::V6 => {
                let mut ip = Ipv6Header::new_unchecked(&mut f[ETH..udp]);
                ip.set_payload_len(udp_len);
                checksum::add(0, ip.addrs())
            }
        };
        let mut uh = UdpHeader::new_unchecked(&mut f[udp..family.headers()]);
        uh.set_len(udp_len);
        // The pseudo-header sum for the whole packet, not complemented: the device
        // (here the receiving kernel) adds the data and adjusts it per datagram.
        pseudo = checksum::add(pseudo, &[0, IPPROTO_UDP]);
        pseudo = checksum::add(pseudo, &udp_len.to_be_bytes());
        uh.set_checksum(!checksum::finish(pseudo));
        let hdr = VirtioNetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_UDP_L4,
            hdr_len: family.headers() as u16,
            gso_size: self.segment as u16,
            csum_start: udp as u16,
            csum_offset: udp::field::CHECKSUM.start as u16,
        };
        Some((hdr, &self.frame, count, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: usize = 20;
    const HEADERS: usize = ETH + IP + UDP;

    /// What the kernel's UDP GSO does to the partial checksum of each datagram it
    /// cuts: takes the run's UDP length out of the pseudo-header sum and puts the
    /// datagram's in (one's complement arithmetic).
    fn adjust(partial: [u8; 2], old_len: [u8; 2], new_len: usize) -> [u8; 2] {
        let add = |a: u16, b: u16| {
            let s = u32::from(a) + u32::from(b);
            ((s & 0xffff) + (s >> 16)) as u16
        };
        let sum = add(
            add(u16::from_be_bytes(partial), !u16::from_be_bytes(old_len)),
            new_len as u16,
        );
        sum.to_be_bytes()
    }

    /// Checks a cut datagram's checksum the way the tunnel receive path does (an
    /// implementation of its own): a partial one must hold the datagram's
    /// pseudo-header sum, and is completed.
    fn assert_partial_sum_right(d: &[u8]) {
        let mut d = d.to_vec();
        assert_eq!(
            crate::check_rx_checksum(&mut d),
            crate::RxChecksum::Completed,
            "the partial checksum is not this datagram's pseudo-header sum"
        );
    }

    /// A VM's UDP datagram as it leaves the TAP: checksum partial (pseudo-header
    /// only), `payload` bytes of `fill`, IP id `id`.
    fn datagram(id: u16, payload: usize, fill: u8, dport: u16) -> (Vec<u8>, VirtioNetHdr) {
        let mut f = vec![0u8; HEADERS + payload];
        f[0..6].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 4]);
        f[6..12].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 2]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((IP + UDP + payload) as u16).to_be_bytes());
        f[18..20].copy_from_slice(&id.to_be_bytes());
        f[20] = 0x40; // DF
        f[22] = 64;
        f[23] = 17;
        f[26..30].copy_from_slice(&[10, 0, 0, 2]);
        f[30..34].copy_from_slice(&[10, 0, 0, 4]);
        let s = checksum::checksum(&f[ETH..ETH + IP]);
        f[24..26].copy_from_slice(&s.to_be_bytes());
        f[34..36].copy_from_slice(&5000u16.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f[38..40].copy_from_slice(&((UDP + payload) as u16).to_be_bytes());
        f[HEADERS..].fill(fill);
        let hdr = VirtioNetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: 34,
            csum_offset: 6,
            ..VirtioNetHdr::default()
        };
        (f, hdr)
    }

    /// What a kernel does with a UDP GSO packet: cut it into datagrams of
    /// `gso_size` payload bytes, ids counting up from the first, each with its
    /// own lengths and IP checksum (the UDP checksum stays partial here).
    fn cut(hdr: &VirtioNetHdr, f: &[u8]) -> Vec<Vec<u8>> {
        let seg = usize::from(hdr.gso_size);
        let id = u16::from_be_bytes([f[18], f[19]]);
        f[HEADERS..]
            .chunks(seg)
            .enumerate()
            .map(|(i, p)| {
                let mut d = f[..HEADERS].to_vec();
                d.extend_from_slice(p);
                d[16..18].copy_from_slice(&((IP + UDP + p.len()) as u16).to_be_bytes());
                d[18..20].copy_from_slice(&id.wrapping_add(i as u16).to_be_bytes());
                d[24..26].fill(0);
                let s = checksum::checksum(&d[ETH..ETH + IP]);
                d[24..26].copy_from_slice(&s.to_be_bytes());
                d[38..40].copy_from_slice(&((UDP + p.len()) as u16).to_be_bytes());
                let check = adjust([f[40], f[41]], [f[38], f[39]], UDP + p.len());
                d[40..42].copy_from_slice(&check);
                d
            })
            .collect()
    }

    /// Headers and payload, the UDP checksum field aside (partial either way).
    fn without_udp_check(d: &[u8]) -> Vec<u8> {
        let mut d = d.to_vec();
        d[40..42].fill(0);
        d
    }

    #[test]
    fn a_run_cuts_back_into_the_same_datagrams() {
        let mut m = UdpMerge::with_capacity(65_536);
        let sent: Vec<_> = (0..5)
            .map(|i| {
                datagram(
                    0xfffe_u16.wrapping_add(i),
                    if i == 4 { 30 } else { 64 },
                    i as u8,
                    7,
                )
            })
            .collect();
        for (f, h) in &sent {
            assert!(m.push(f, h));
        }
        let (hdr, frame, count, bytes) = m.take().unwrap();
        assert_eq!(count, 5);
        assert_eq!(bytes, sent.iter().map(|(f, _)| f.len()).sum::<usize>());
        assert_eq!(hdr.gso_type, GSO_UDP_L4);
        assert_eq!(hdr.gso_size, 64);
        assert_eq!((hdr.csum_start, hdr.csum_offset, hdr.hdr_len), (34, 6, 42));
        assert_eq!(
            checksum::checksum(&frame[ETH..ETH + IP]),
            0,
            "IP header checksum"
        );
        assert_eq!(
            usize::from(u16::from_be_bytes([frame[16], frame[17]])),
            frame.len() - ETH
        );
        // The partial UDP checksum is the pseudo-header sum for the whole packet.
        let mut p = checksum::add(0, &frame[26..34]);
        p = checksum::add(p, &[0, 17]);
        p = checksum::add(p, &frame[38..40]);
        assert_eq!(
            u16::from_be_bytes([frame[40], frame[41]]),
            !checksum::finish(p)
        );
        let back = cut(&hdr, frame);
        assert_eq!(back.len(), 5);
        for (b, (f, _)) in back.iter().zip(&sent) {
            assert_eq!(without_udp_check(b), without_udp_check(f));
            assert_partial_sum_right(b);
        }
        assert!(m.is_empty());
        assert!(m.take().is_none());
    }

    #[test]
    fn what_does_not_belong_is_refused() {
        let mut m = UdpMerge::with_capacity(65_536);
        let (a, h) = datagram(10, 64, 1, 7);
        assert!(m.push(&a, &h));
        // Another flow, a gap in the ids, a longer payload: refused.
        assert!(!m.push(&datagram(11, 64, 1, 8).0, &h));
        assert!(!m.push(&datagram(12, 64, 1, 7).0, &h));
        assert!(!m.push(&datagram(11, 65, 1, 7).0, &h));
        // A complete checksum that does not verify, a fragment, a TCP segment: never
        // merged.
        let full = VirtioNetHdr::default();
        let (mut wrong, _) = datagram(11, 64, 1, 7);
        wrong[40..42].copy_from_slice(&[0x12, 0x34]);
        assert!(!m.push(&wrong, &full));
        let (mut frag, _) = datagram(11, 64, 1, 7);
        frag[20] = 0x20; // MF
        assert!(!m.push(&frag, &h));
        let (mut tcp, _) = datagram(11, 64, 1, 7);
        tcp[23] = 6;
        assert!(!m.push(&tcp, &h));
        let (mut bad_ip, _) = datagram(11, 64, 1, 7);
        bad_ip[24] ^= 0x55;
        assert!(!m.push(&bad_ip, &h), "an IP header checksum that fails");
        // A shorter one ends the run.
        assert!(m.push(&datagram(11, 20, 1, 7).0, &h));
        assert!(!m.push(&datagram(12, 20, 1, 7).0, &h));
        assert_eq!(m.len(), 2);
        // A run of one comes back as it went in.
        let mut one = UdpMerge::with_capacity(2048);
        assert!(one.push(&a, &h));
        let (h1, f1, n, _) = one.take().unwrap();
        assert_eq!((h1, f1, n), (h, &a[..], 1));
    }

    /// `datagram` with its UDP checksum completed and checked, as it arrives from a
    /// tunnel (`DATA_VALID`).
    fn complete(id: u16, payload: usize) -> (Vec<u8>, VirtioNetHdr) {
        let (mut f, _) = datagram(id, payload, 3, 7);
        let mut sum = checksum::add(0, &f[26..34]);
        sum = checksum::add(sum, &[0, 17]);
        sum = checksum::add(sum, &f[38..40]);
        let c = checksum::finish(checksum::add(sum, &f[ETH + IP..]));
        f[40..42].copy_from_slice(&c.to_be_bytes());
        let checked = VirtioNetHdr {
            flags: F_DATA_VALID,
            ..VirtioNetHdr::default()
        };
        (f, checked)
    }

    #[test]
    fn complete_checksums_merge_only_when_checked() {
        let mut m = UdpMerge::with_capacity(65_536);
        let (a, ha) = complete(1, 100);
        let (b, hb) = complete(2, 100);
        assert!(m.push(&a, &ha));
        assert!(m.push(&b, &hb));
        // Nobody checked this one (its checksum fails): it is not taken.
        let (mut bad, _) = complete(3, 100);
        bad[60] ^= 0xff;
        let hbad = VirtioNetHdr::default();
        assert!(!m.push(&bad, &hbad), "a datagram whose checksum fails");
        let (mut none, hnone) = complete(3, 100);
        none[40..42].fill(0);
        assert!(m.push(&none, &hnone), "no checksum at all");
        let (hdr, frame, n, _) = m.take().unwrap();
        assert_eq!((n, hdr.gso_type, hdr.flags), (3, GSO_UDP_L4, F_NEEDS_CSUM));
        assert_eq!(cut(&hdr, frame).len(), 3);
        // Alone, a bad one is refused too (it goes out as it came, unmerged).
        assert!(!m.push(&bad, &hbad));
    }

    #[test]
    fn runs_stop_at_the_datagram_and_size_limits() {
        let mut m = UdpMerge::with_capacity(65_536);
        let h = datagram(0, 10, 0, 7).1;
        for i in 0..MAX_DATAGRAMS as u16 {
            assert!(m.push(&datagram(i, 10, 0, 7).0, &h));
        }
        assert!(!m.push(&datagram(MAX_DATAGRAMS as u16, 10, 0, 7).0, &h));
        m.take();
        for i in 0..44u16 {
            assert!(m.push(&datagram(i, 1472, 0, 7).0, &h), "datagram {i}");
        }
        assert!(
            !m.push(&datagram(44, 1472, 0, 7).0, &h),
            "past 65,535 bytes"
        );
        let (_, f, _, _) = m.take().unwrap();
        assert!(f.len() - ETH <= 65_535);
    }

    const V6: usize = ETH + 40 + UDP;

    /// A VM's IPv6 UDP datagram as it leaves the TAP (checksum partial).
    fn datagram6(payload: usize, fill: u8, dport: u16) -> (Vec<u8>, VirtioNetHdr) {
        let mut f = vec![0u8; V6 + payload];
        f[0..6].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 4]);
        f[6..12].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 2]);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[14..18].copy_from_slice(&[0x60, 0x01, 0x23, 0x45]); // flow label 0x12345
        f[18..20].copy_from_slice(&((UDP + payload) as u16).to_be_bytes());
        f[20] = 17;
        f[21] = 64;
        f[22..24].copy_from_slice(&[0xfd, 0x00]);
        f[37] = 2;
        f[38..40].copy_from_slice(&[0xfd, 0x00]);
        f[53] = 4;
        f[54..56].copy_from_slice(&5000u16.to_be_bytes());
        f[56..58].copy_from_slice(&dport.to_be_bytes());
        f[58..60].copy_from_slice(&((UDP + payload) as u16).to_be_bytes());
        f[V6..].fill(fill);
        let hdr = VirtioNetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: 54,
            csum_offset: 6,
            ..VirtioNetHdr::default()
        };
        (f, hdr)
    }

    /// What a kernel does with an IPv6 UDP GSO packet: datagrams of `gso_size`
    /// payload bytes, each with its own payload and UDP lengths.
    fn cut6(hdr: &VirtioNetHdr, f: &[u8]) -> Vec<Vec<u8>> {
        f[V6..]
            .chunks(usize::from(hdr.gso_size))
            .map(|p| {
                let mut d = f[..V6].to_vec();
                d.extend_from_slice(p);
                let len = ((UDP + p.len()) as u16).to_be_bytes();
                d[18..20].copy_from_slice(&len);
                d[58..60].copy_from_slice(&len);
                let check = adjust([f[60], f[61]], [f[58], f[59]], UDP + p.len());
                d[60..62].copy_from_slice(&check);
                d
            })
            .collect()
    }

    #[test]
    fn an_ipv6_run_cuts_back_into_the_same_datagrams() {
        let mut m = UdpMerge::with_capacity(65_536);
        let sent: Vec<_> = (0..4u8)
            .map(|i| datagram6(if i == 3 { 7 } else { 100 }, i, 9))
            .collect();
        for (f, h) in &sent {
            assert!(m.push(f, h));
        }
        let (hdr, frame, count, bytes) = m.take().unwrap();
        assert_eq!(count, 4);
        assert_eq!(bytes, sent.iter().map(|(f, _)| f.len()).sum::<usize>());
        assert_eq!(
            (hdr.gso_type, hdr.gso_size, hdr.flags),
            (GSO_UDP_L4, 100, F_NEEDS_CSUM)
        );
        assert_eq!((hdr.csum_start, hdr.csum_offset, hdr.hdr_len), (54, 6, 62));
        let udp_len = frame.len() - 54;
        assert_eq!(
            usize::from(u16::from_be_bytes([frame[18], frame[19]])),
            udp_len
        );
        assert_eq!(
            usize::from(u16::from_be_bytes([frame[58], frame[59]])),
            udp_len
        );
        // The partial checksum is the IPv6 pseudo-header sum for the whole packet.
        let mut p = checksum::add(0, &frame[22..54]);
        p = checksum::add(p, &[0, 17]);
        p = checksum::add(p, &(udp_len as u16).to_be_bytes());
        assert_eq!(
            u16::from_be_bytes([frame[60], frame[61]]),
            !checksum::finish(p)
        );
        let back = cut6(&hdr, frame);
        assert_eq!(back.len(), 4);
        for (b, (f, _)) in back.iter().zip(&sent) {
            let (mut b, mut f) = (b.clone(), f.clone());
            assert_partial_sum_right(&b);
            b[60..62].fill(0);
            f[60..62].fill(0);
            assert_eq!(b, f);
        }
    }

    #[test]
    fn ipv6_datagrams_that_do_not_belong_are_refused() {
        let mut m = UdpMerge::with_capacity(65_536);
        let (a, h) = datagram6(64, 1, 7);
        assert!(m.push(&a, &h));
        assert!(!m.push(&datagram6(64, 1, 8).0, &h), "another port");
        assert!(!m.push(&datagram6(65, 1, 7).0, &h), "a longer payload");
        let (mut label, _) = datagram6(64, 1, 7);
        label[17] ^= 1;
        assert!(!m.push(&label, &h), "another flow label");
        let (mut hop, _) = datagram6(64, 1, 7);
        hop[20] = 0; // a hop-by-hop options header first
        assert!(!m.push(&hop, &h), "an extension header");
        let (mut frag, _) = datagram6(64, 1, 7);
        frag[20] = 44;
        assert!(!m.push(&frag, &h), "a fragment");
        let (mut short, _) = datagram6(64, 1, 7);
        short[19] ^= 1;
        assert!(
            !m.push(&short, &h),
            "a payload length that does not fit the frame"
        );
        // An IPv4 datagram never joins an IPv6 run (nor the other way round).
        let (v4, h4) = datagram(1, 64, 1, 7);
        assert!(!m.push(&v4, &h4));
        assert!(m.push(&a, &h));
        assert_eq!(m.len(), 2);
        let mut m4 = UdpMerge::with_capacity(65_536);
        assert!(m4.push(&v4, &h4));
        assert!(!m4.push(&a, &h));
        // A complete checksum nobody checked is not merged; one that was is.
        assert!(!m.push(&a, &VirtioNetHdr::default()));
        let checked = VirtioNetHdr {
            flags: F_DATA_VALID,
            ..VirtioNetHdr::default()
        };
        assert!(m.push(&a, &checked));
        // 65,535 bytes of IPv6 payload at most (the fixed header not counted):
        // 45 datagrams of 1,456 bytes make 65,528.
        let mut big = UdpMerge::with_capacity(65_536);
        let (d, h) = datagram6(1456, 0, 7);
        for i in 0..45 {
            assert!(big.push(&d, &h), "datagram {i}");
        }
        assert!(!big.push(&d, &h), "past 65,535 bytes of payload");
        let (_, f, n, _) = big.take().unwrap();
        assert_eq!(n, 45);
        assert_eq!(f.len() - ETH - 40, 65_528);
    }

    #[test]
    fn cut_short_frames_are_refused_without_panicking() {
        let (v4, h4) = datagram(1, 64, 1, 7);
        let (v6, h6) = datagram6(64, 1, 7);
        for (frame, hdr) in [(&v4, &h4), (&v6, &h6)] {
            for len in 0..frame.len() {
                let mut m = UdpMerge::with_capacity(2048);
                assert!(!m.push(&frame[..len], hdr), "{len} bytes");
                // Nor does a cut frame join a run.
                assert!(m.push(frame, hdr));
                assert!(!m.push(&frame[..len], hdr), "{len} bytes into a run");
            }
        }
    }
}
