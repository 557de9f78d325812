//! The TCP header (RFC 9293) as a typed view over bytes, like
//! [`crate::ipv4::Ipv4Header`]: the fields offloads read and rewrite.

use crate::ether::{be16, be32};
use crate::view::{header_view, set16, set32};

/// The header without options.
pub const HEADER_LEN: usize = 20;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;
pub const ECE: u8 = 0x40;
pub const CWR: u8 = 0x80;

/// Where each field lies, from the header's first byte.
pub mod field {
    use std::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    /// The data offset in the high four bits.
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    /// Where the options start.
    pub const OPTIONS: usize = 20;
}

header_view!(
    /// A TCP header at the start of `buffer` (which may go on into the payload).
    TcpHeader,
    HEADER_LEN,
    "TCP"
);

impl<T: AsRef<[u8]>> TcpHeader<T> {
    #[inline]
    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ_NUM.start)
    }

    /// The header's length in bytes, options included (the data offset times four).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The flag bits ([`FIN`], [`SYN`], ... [`CWR`]).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpHeader<T> {
    #[inline]
    pub fn set_seq_number(&mut self, v: u32) {
        set32(self.buffer.as_mut(), field::SEQ_NUM, v);
    }

    #[inline]
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
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
        let mut h = [0u8; 32];
        h[4..8].copy_from_slice(&0xffff_f000u32.to_be_bytes());
        h[12] = 8 << 4;
        h[13] = PSH | ACK;
        h[16..18].copy_from_slice(&0xbeefu16.to_be_bytes());
        let t = TcpHeader::new_checked(&h[..]).expect("32 bytes");
        assert_eq!((t.seq_number(), t.header_len()), (0xffff_f000, 32));
        assert_eq!((t.flags(), t.checksum()), (PSH | ACK, 0xbeef));
        let mut t = TcpHeader::new_unchecked(&mut h[..]);
        t.set_seq_number(1);
        t.set_flags(FIN);
        t.set_checksum(2);
        assert_eq!((t.seq_number(), t.flags(), t.checksum()), (1, FIN, 2));
        assert!(TcpHeader::new_checked(&h[..19]).is_err());
    }
}
