//! Software TSO/GRO on crafted packets: sequence numbers, IDs, flags, lengths,
//! checksums, IPv4 and IPv6, gaps.

use offload::{
    Coalescer, Pushed, RxChecksum, check_rx_checksum, complete_checksum, segment_tcp, tcp_frame,
};
use wire::checksum;
use wire::virtio::{F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, VirtioNetHdr};

const SEQ: u32 = 0xfffff000; // wraps during the test

/// An Ethernet/IP/TCP frame with `payload` bytes (a pattern), flags `flags`, a
/// timestamp option, and a correct TCP checksum.
fn tcp(ipv6: bool, payload: usize, seq: u32, flags: u8) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    f.extend_from_slice(if ipv6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
    let l3 = f.len();
    let tcp_len = 32 + payload;
    if ipv6 {
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(tcp_len as u16).to_be_bytes());
        f.extend_from_slice(&[6, 64]);
        f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    } else {
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        f.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 4]);
        let c = checksum::checksum(&f[l3..l3 + 20]);
        f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    let l4 = f.len();
    f.extend_from_slice(&[0x9c, 0x40, 0x14, 0x51]);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 7, 0x80, flags, 0x01, 0xf5, 0, 0, 0, 0]);
    f.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]); // NOP NOP TS
    f.extend((0..payload).map(|i| (i * 7 % 251) as u8));
    let h = tcp_frame(&f).unwrap();
    let sum = pseudo(&f, l3, ipv6, f.len() - l4);
    let c = checksum::finish(checksum::add(sum, &f[l4..]));
    f[h.l4 + 16..h.l4 + 18].copy_from_slice(&c.to_be_bytes());
    f
}

fn pseudo(f: &[u8], l3: usize, ipv6: bool, len: usize) -> u32 {
    if ipv6 {
        checksum::add(0, &f[l3 + 8..l3 + 40]) + len as u32 + 6
    } else {
        checksum::add(0, &f[l3 + 12..l3 + 20]) + len as u32 + 6
    }
}

fn tcp_checksum_ok(f: &[u8]) -> bool {
    let h = tcp_frame(f).unwrap();
    checksum::finish(checksum::add(
        pseudo(f, h.l3, h.ipv6, f.len() - h.l4),
        &f[h.l4..],
    )) == 0
}

fn split(
    out: &[u8],
    n: usize,
    prefix: usize,
    first_len: usize,
    total_payload: usize,
    hdr_len: usize,
) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mut off = 0;
    let mut left = total_payload;
    for _ in 0..n {
        let p = left.min(first_len - hdr_len);
        let len = hdr_len + p;
        assert!(out[off..off + prefix].iter().all(|b| *b == 0));
        v.push(out[off + prefix..off + prefix + len].to_vec());
        off += prefix + len;
        left -= p;
    }
    assert_eq!(off, out.len());
    v
}

fn check_segmentation(ipv6: bool) {
    let mss = 1000;
    let total = 3 * mss + 500;
    let sf = tcp(ipv6, total, SEQ, 0x18 | 0x01); // ACK PSH FIN
    let h = tcp_frame(&sf).unwrap();
    let mut out = Vec::new();
    let n = segment_tcp(&sf, mss, 8, &mut out).unwrap();
    assert_eq!(n, 4);
    let segs = split(&out, n, 8, h.payload + mss, total, h.payload);
    for (i, s) in segs.iter().enumerate() {
        let sh = tcp_frame(s).unwrap();
        assert_eq!(sh, h);
        let seq = u32::from_be_bytes(s[h.l4 + 4..h.l4 + 8].try_into().unwrap());
        assert_eq!(seq, SEQ.wrapping_add((i * mss) as u32));
        let flags = s[h.l4 + 13];
        if i < 3 {
            assert_eq!(flags, 0x10, "seg {i}: PSH/FIN only on the last");
            assert_eq!(s.len(), h.payload + mss);
        } else {
            assert_eq!(flags, 0x19);
            assert_eq!(s.len(), h.payload + 500);
        }
        assert_eq!(
            &s[h.payload..],
            &sf[h.payload + i * mss..h.payload + i * mss + (s.len() - h.payload)]
        );
        if ipv6 {
            assert_eq!(
                u16::from_be_bytes([s[h.l3 + 4], s[h.l3 + 5]]) as usize,
                s.len() - h.l3 - 40
            );
        } else {
            assert_eq!(
                u16::from_be_bytes([s[h.l3 + 2], s[h.l3 + 3]]) as usize,
                s.len() - h.l3
            );
            assert_eq!(
                u16::from_be_bytes([s[h.l3 + 4], s[h.l3 + 5]]),
                0x1234 + i as u16
            );
            assert_eq!(
                checksum::checksum(&s[h.l3..h.l4]),
                0,
                "IPv4 header checksum"
            );
        }
        assert!(tcp_checksum_ok(s), "seg {i} TCP checksum");
    }
}

#[test]
fn segments_ipv4_super_frame() {
    check_segmentation(false);
}

#[test]
fn segments_ipv6_super_frame() {
    check_segmentation(true);
}

#[test]
fn payload_not_a_multiple_and_single_segment() {
    let sf = tcp(false, 999, 1, 0x10);
    let mut out = Vec::new();
    assert_eq!(segment_tcp(&sf, 1000, 0, &mut out).unwrap(), 1);
    assert_eq!(out, sf);
    assert!(segment_tcp(&sf[..20], 1000, 0, &mut out).is_err());
    assert!(segment_tcp(&sf, 0, 0, &mut out).is_err());
}

fn coalesce_all(frames: &[Vec<u8>]) -> Vec<(Vec<u8>, VirtioNetHdr)> {
    let mut g = Coalescer::new();
    let mut res = Vec::new();
    let mut buf = Vec::new();
    for f in frames {
        loop {
            match g.push(f) {
                Pushed::Merged => break,
                Pushed::Flush => {
                    let h = g.flush(&mut buf).unwrap();
                    res.push((buf.clone(), h));
                }
                Pushed::NotTcp => {
                    res.push((f.clone(), VirtioNetHdr::default()));
                    break;
                }
            }
        }
    }
    if let Some(h) = g.flush(&mut buf) {
        res.push((buf.clone(), h));
    }
    res
}

fn check_coalescing(ipv6: bool) {
    let mss = 1000;
    let sf = tcp(ipv6, 4 * mss, SEQ, 0x18);
    let h = tcp_frame(&sf).unwrap();
    let mut out = Vec::new();
    let n = segment_tcp(&sf, mss, 0, &mut out).unwrap();
    let segs = split(&out, n, 0, h.payload + mss, 4 * mss, h.payload);
    let merged = coalesce_all(&segs);
    assert_eq!(merged.len(), 1);
    let (mut f, hdr) = merged[0].clone();
    assert_eq!(hdr.gso_type, if ipv6 { GSO_TCPV6 } else { GSO_TCPV4 });
    assert_eq!(hdr.flags, F_NEEDS_CSUM);
    assert_eq!(
        (
            hdr.gso_size as usize,
            hdr.hdr_len as usize,
            hdr.csum_start as usize,
            hdr.csum_offset
        ),
        (mss, h.payload, h.l4, 16)
    );
    assert_eq!(f.len(), sf.len());
    assert_eq!(&f[h.payload..], &sf[h.payload..]);
    assert_eq!(f[h.l4 + 13], 0x18, "PSH of the last segment kept");
    assert!(complete_checksum(&mut f, &hdr));
    assert!(tcp_checksum_ok(&f));
    if !ipv6 {
        assert_eq!(checksum::checksum(&f[h.l3..h.l4]), 0);
    }
    // Round trip: cutting the coalesced frame again gives the same segments.
    let mut again = Vec::new();
    segment_tcp(&f, usize::from(hdr.gso_size), 0, &mut again).unwrap();
    let resegs = split(&again, 4, 0, h.payload + mss, 4 * mss, h.payload);
    for (a, b) in resegs.iter().zip(&segs) {
        // IP ids restart from the first segment's id: identical bytes.
        assert_eq!(a, b);
    }
}

#[test]
fn coalesces_ipv4_segments() {
    check_coalescing(false);
}

#[test]
fn coalesces_ipv6_segments() {
    check_coalescing(true);
}

#[test]
fn flushes_on_gap_flags_and_other_flows() {
    let mss = 1000;
    let sf = tcp(false, 4 * mss, 100, 0x10);
    let h = tcp_frame(&sf).unwrap();
    let mut out = Vec::new();
    segment_tcp(&sf, mss, 0, &mut out).unwrap();
    let segs = split(&out, 4, 0, h.payload + mss, 4 * mss, h.payload);
    // A gap (segment 2 lost): [0+1], [3].
    let gapped = vec![segs[0].clone(), segs[1].clone(), segs[3].clone()];
    let m = coalesce_all(&gapped);
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].1.gso_size as usize, mss);
    assert_eq!(m[0].0.len(), h.payload + 2 * mss);
    assert_eq!(
        m[1].1,
        VirtioNetHdr::default(),
        "a lone segment stays as it was"
    );
    assert_eq!(m[1].0, segs[3]);
    // A SYN is never merged; a non-TCP frame passes through.
    let syn = tcp(false, 10, 5, 0x02);
    let arp = vec![0xffu8; 60];
    let m = coalesce_all(&[segs[0].clone(), syn.clone(), arp.clone(), segs[1].clone()]);
    assert_eq!(m.len(), 4);
    assert_eq!(m[1].0, syn);
    // Another flow (different port) flushes.
    let mut other = segs[1].clone();
    other[h.l4] ^= 1;
    let m = coalesce_all(&[segs[0].clone(), other]);
    assert_eq!(m.len(), 2);
}

#[test]
fn completes_partial_checksums() {
    let mut f = tcp(false, 300, 9, 0x18);
    let h = tcp_frame(&f).unwrap();
    // Make it CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
    let mut s = pseudo(&f, h.l3, false, f.len() - h.l4);
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    f[h.l4 + 16..h.l4 + 18].copy_from_slice(&(s as u16).to_be_bytes());
    assert!(!tcp_checksum_ok(&f));
    let hdr = VirtioNetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: h.l4 as u16,
        csum_offset: 16,
        ..Default::default()
    };
    assert!(complete_checksum(&mut f, &hdr));
    assert!(tcp_checksum_ok(&f));
    let bad = VirtioNetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: 5000,
        csum_offset: 16,
        ..Default::default()
    };
    assert!(!complete_checksum(&mut f, &bad));
}

#[test]
fn rx_checksum_valid_partial_and_bad() {
    for ipv6 in [false, true] {
        let mut f = tcp(ipv6, 200, 3, 0x10);
        assert_eq!(check_rx_checksum(&mut f), RxChecksum::Valid);
        let h = tcp_frame(&f).unwrap();
        // Left partial by an offload that never ran: the pseudo-header sum only.
        let mut s = pseudo(&f, h.l3, ipv6, f.len() - h.l4);
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        f[h.l4 + 16..h.l4 + 18].copy_from_slice(&(s as u16).to_be_bytes());
        assert_eq!(check_rx_checksum(&mut f), RxChecksum::Completed);
        assert!(tcp_checksum_ok(&f));
        f[h.payload + 3] ^= 0x40;
        assert_eq!(check_rx_checksum(&mut f), RxChecksum::Bad);
    }
    let mut arp = vec![0xffu8; 42];
    arp[12] = 0x08;
    arp[13] = 0x06;
    assert_eq!(check_rx_checksum(&mut arp), RxChecksum::NotChecked);
}
