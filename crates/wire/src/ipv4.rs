//! The IPv4 header (RFC 791) as a typed view over bytes, in the manner of smoltcp's
//! `Packet`: [`Ipv4Header::new_checked`] checks once that the fixed header is there,
//! then each accessor reads or writes one field in place. The accessors are
//! `#[inline]` and compile to the same loads and stores as reading the offsets by
//! hand.

use crate::checksum;
use crate::ether::be16;
use crate::view::{header_view, set16};

/// The fixed header, without options.
pub const HEADER_LEN: usize = 20;

/// Where each field lies, from the header's first byte.
pub mod field {
    use std::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    /// The flags (DF, MF) and the fragment offset.
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    /// The source address, then the destination address.
    pub const ADDRS: Range<usize> = 12..20;
}

header_view!(
    /// An IPv4 header at the start of `buffer` (which may go on into the payload).
    Ipv4Header,
    HEADER_LEN,
    "IPv4"
);

impl<T: AsRef<[u8]>> Ipv4Header<T> {
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header's length in bytes, options included (the IHL field times four).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The packet's length, header included.
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT.start)
    }

    /// True for a fragment: more fragments follow, or the offset is not zero.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x3fff != 0
    }

    /// The Don't Fragment flag.
    #[inline]
    pub fn dont_fragment(&self) -> bool {
        self.buffer.as_ref()[field::FLG_OFF.start] & 0x40 != 0
    }

    /// The fragment offset, in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x1fff
    }

    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// The source and destination addresses, as they are summed into a
    /// pseudo-header.
    #[inline]
    pub fn addrs(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ADDRS]
    }

    /// True when the header checksum over `header_len()` bytes verifies; false too
    /// when the buffer is shorter than the header claims.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        self.buffer
            .as_ref()
            .get(..self.header_len())
            .is_some_and(|h| checksum::checksum(h) == 0)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Header<T> {
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        set16(self.buffer.as_mut(), field::LENGTH, v);
    }

    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        set16(self.buffer.as_mut(), field::IDENT, v);
    }

    /// Computes the header checksum over `header_len()` bytes (the header and its
    /// options) and writes it. The buffer must hold that many bytes.
    #[inline]
    pub fn fill_checksum(&mut self) {
        set16(self.buffer.as_mut(), field::CHECKSUM, 0);
        let c = checksum::checksum(&self.buffer.as_ref()[..self.header_len()]);
        set16(self.buffer.as_mut(), field::CHECKSUM, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_fields_in_place() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let ip = Ipv4Header::new_checked(&h[..]).expect("20 bytes");
        assert_eq!(
            (ip.version(), ip.header_len(), ip.total_len()),
            (4, 20, 0x73)
        );
        assert_eq!(
            (ip.ident(), ip.protocol(), ip.is_fragment()),
            (0x1234, 17, false)
        );
        assert_eq!(ip.addrs(), &h[12..20]);
        h[4..6].fill(0);
        assert!(Ipv4Header::new_unchecked(&h[..]).verify_checksum());
        let mut ip = Ipv4Header::new_unchecked(&mut h[..]);
        ip.set_total_len(0x74);
        ip.set_ident(7);
        assert!(!ip.verify_checksum());
        ip.fill_checksum();
        assert!(ip.verify_checksum());
        assert_eq!((ip.total_len(), ip.ident()), (0x74, 7));
        h[7] = 1;
        let ip = Ipv4Header::new_unchecked(&h[..]);
        assert!(ip.is_fragment() && ip.dont_fragment() && ip.frag_offset() == 1);
        assert!(Ipv4Header::new_checked(&h[..19]).is_err());
        // A header length past the buffer's end does not verify (nor panic).
        h[0] = 0x4f;
        assert!(!Ipv4Header::new_unchecked(&h[..]).verify_checksum());
    }
}
