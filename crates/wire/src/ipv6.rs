//! The IPv6 fixed header (RFC 8200) as a typed view over bytes, like
//! [`crate::ipv4::Ipv4Header`]. Extension headers are not walked.

use crate::ether::be16;
use crate::view::{header_view, set16};

/// The fixed header.
pub const HEADER_LEN: usize = 40;

/// Where each field lies, from the header's first byte.
pub mod field {
    use std::ops::Range;

    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    /// The source address, then the destination address.
    pub const ADDRS: Range<usize> = 8..40;
}

header_view!(
    /// An IPv6 header at the start of `buffer` (which may go on into the payload).
    Ipv6Header,
    HEADER_LEN,
    "IPv6"
);

impl<T: AsRef<[u8]>> Ipv6Header<T> {
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW.start] >> 4
    }

    /// Bytes after the fixed header.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// The source and destination addresses, as they are summed into a
    /// pseudo-header.
    #[inline]
    pub fn addrs(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ADDRS]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Header<T> {
    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        set16(self.buffer.as_mut(), field::LENGTH, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_fields_in_place() {
        let mut h = [0u8; 48];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&8u16.to_be_bytes());
        h[6] = 17;
        h[8] = 0xfd;
        let ip = Ipv6Header::new_checked(&h[..]).expect("48 bytes");
        assert_eq!(
            (ip.version(), ip.payload_len(), ip.next_header()),
            (6, 8, 17)
        );
        assert_eq!(ip.addrs().len(), 32);
        assert_eq!(ip.addrs()[0], 0xfd);
        let mut ip = Ipv6Header::new_unchecked(&mut h[..]);
        ip.set_payload_len(1000);
        assert_eq!(ip.payload_len(), 1000);
        assert!(Ipv6Header::new_checked(&h[..39]).is_err());
    }
}
