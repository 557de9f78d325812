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
}
