//! The UDP header (RFC 768) as a typed view over bytes, like
//! [`crate::ipv4::Ipv4Header`].

use crate::ether::be16;
use crate::view::{header_view, set16};

pub const HEADER_LEN: usize = 8;

/// Where each field lies, from the header's first byte.
pub mod field {
    use std::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    /// The datagram's length, header included.
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

header_view!(
    /// A UDP header at the start of `buffer` (which may go on into the payload).
    UdpHeader,
    HEADER_LEN,
    "UDP"
);

impl<T: AsRef<[u8]>> UdpHeader<T> {
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// The datagram's length, header included.
    #[inline]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// True when the length field says zero bytes (an invalid datagram).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpHeader<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        set16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        set16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    #[inline]
    pub fn set_len(&mut self, v: u16) {
        set16(self.buffer.as_mut(), field::LENGTH, v);
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        set16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
}

/// Writes an 8-byte UDP header into `out[..8]` for `payload` from `src` to `dst`
/// over IPv4, its checksum complete over the pseudo-header, the header and the
/// payload (RFC 768: a computed zero goes as 0xffff). None when `out` is shorter
/// than a header or the datagram would not fit the 16-bit length.
pub fn write_header_v4(
    out: &mut [u8],
    (src, sport): (std::net::Ipv4Addr, u16),
    (dst, dport): (std::net::Ipv4Addr, u16),
    payload: &[u8],
) -> Option<()> {
    let len = u16::try_from(HEADER_LEN + payload.len()).ok()?;
    let h = out.get_mut(..HEADER_LEN)?;
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..6].copy_from_slice(&len.to_be_bytes());
    h[6..8].fill(0);
    let mut sum = crate::checksum::add(0, &src.octets());
    sum = crate::checksum::add(sum, &dst.octets());
    sum += 17 + u32::from(len);
    sum = crate::checksum::add(sum, h);
    sum = crate::checksum::add(sum, payload);
    let c = crate::checksum::finish(sum);
    h[6..8].copy_from_slice(&if c == 0 { 0xffff_u16 } else { c }.to_be_bytes());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_fields_in_place() {
        let mut h = [0u8; 8];
        let mut u = UdpHeader::new_checked(&mut h[..]).expect("8 bytes");
        u.set_src_port(5000);
        u.set_dst_port(4789);
        u.set_len(100);
        u.set_checksum(0xffff);
        assert_eq!(h, [0x13, 0x88, 0x12, 0xb5, 0, 100, 0xff, 0xff]);
        let u = UdpHeader::new_unchecked(&h[..]);
        assert_eq!(
            (u.src_port(), u.dst_port(), u.len(), u.checksum()),
            (5000, 4789, 100, 0xffff)
        );
        assert!(!u.is_empty());
        assert!(UdpHeader::new_checked(&h[..7]).is_err());
    }

    #[test]
    fn a_written_checksum_verifies_over_pseudo_header_and_datagram() {
        use std::net::Ipv4Addr;
        let (src, dst) = (
            Ipv4Addr::new(192, 168, 100, 1),
            Ipv4Addr::new(192, 168, 100, 2),
        );
        let payload: Vec<u8> = (0..=200u8).collect();
        let mut h = [0u8; 8];
        write_header_v4(&mut h, (src, 4789), (dst, 4789), &payload).expect("fits");
        assert_ne!([h[6], h[7]], [0, 0]);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src.octets());
        pseudo.extend_from_slice(&dst.octets());
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        pseudo.extend_from_slice(&h);
        pseudo.extend_from_slice(&payload);
        assert_eq!(crate::checksum::checksum(&pseudo), 0);
        assert!(write_header_v4(&mut h, (src, 1), (dst, 1), &vec![0; 70_000]).is_none());
        assert!(write_header_v4(&mut h[..4], (src, 1), (dst, 1), &[]).is_none());
    }
}
