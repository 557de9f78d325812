//! The UDP header (RFC 768) as a typed view over bytes, like
//! [`crate::ipv4::Ipv4Header`].

use std::ops::Range;

use crate::WireError;

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

/// A UDP header at the start of `buffer` (which may go on into the payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpHeader<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpHeader<T> {
    /// A view without a length check: the accessors panic on a buffer shorter than
    /// [`HEADER_LEN`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> UdpHeader<T> {
        UdpHeader { buffer }
    }

    /// A view of a buffer that holds at least the header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<UdpHeader<T>, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated("UDP"));
        }
        Ok(UdpHeader { buffer })
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn be16(&self, r: Range<usize>) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[r.start], b[r.start + 1]])
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        self.be16(field::SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.be16(field::DST_PORT)
    }

    /// The datagram's length, header included.
    #[inline]
    pub fn len(&self) -> u16 {
        self.be16(field::LENGTH)
    }

    /// True when the length field says zero bytes (an invalid datagram).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        self.be16(field::CHECKSUM)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpHeader<T> {
    #[inline]
    fn set_be16(&mut self, r: Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        self.set_be16(field::SRC_PORT, v);
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        self.set_be16(field::DST_PORT, v);
    }

    #[inline]
    pub fn set_len(&mut self, v: u16) {
        self.set_be16(field::LENGTH, v);
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.set_be16(field::CHECKSUM, v);
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
