//! GRE (RFC 2784) with the key and sequence number extensions (RFC 2890).
//!
//! ```text
//! |C| |K|S| Reserved0       | Ver |         Protocol Type         |
//! |      Checksum (optional)      |       Reserved1 (optional)    |
//! |                         Key (optional)                        |
//! |                 Sequence Number (optional)                    |
//! ```

use crate::WireError;
use crate::checksum;
use crate::ether::be16;

const FLAG_C: u16 = 0x8000;
const FLAG_R: u16 = 0x4000;
const FLAG_K: u16 = 0x2000;
const FLAG_S: u16 = 0x1000;
const VERSION_MASK: u16 = 0x0007;

/// A parsed GRE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GreHeader {
    pub protocol: u16,
    pub key: Option<u32>,
    pub seq: Option<u32>,
    /// Bytes from the start of the GRE header to the payload.
    pub len: usize,
}

/// Header length for a key-or-not GRE header without checksum or sequence numbers.
pub fn header_len(with_key: bool) -> usize {
    if with_key { 8 } else { 4 }
}

/// Writes a header with protocol `protocol` and an optional key; returns its length.
pub fn write_header(out: &mut [u8], protocol: u16, key: Option<u32>) -> usize {
    let flags = if key.is_some() { FLAG_K } else { 0 };
    out[0..2].copy_from_slice(&flags.to_be_bytes());
    out[2..4].copy_from_slice(&protocol.to_be_bytes());
    if let Some(k) = key {
        out[4..8].copy_from_slice(&k.to_be_bytes());
        8
    } else {
        4
    }
}

/// Parses a header, verifying the checksum when present. Version must be 0 and the
/// deprecated routing bit clear.
pub fn parse_header(data: &[u8]) -> Result<GreHeader, WireError> {
    if data.len() < 4 {
        return Err(WireError::Truncated("GRE"));
    }
    let flags = be16(data, 0);
    if flags & VERSION_MASK != 0 {
        return Err(WireError::Malformed("GRE version is not 0"));
    }
    if flags & FLAG_R != 0 {
        return Err(WireError::Malformed("GRE routing present"));
    }
    let mut off = 4;
    if flags & FLAG_C != 0 {
        if data.len() < off + 4 {
            return Err(WireError::Truncated("GRE"));
        }
        if checksum::checksum(data) != 0 {
            return Err(WireError::Malformed("GRE checksum mismatch"));
        }
        off += 4;
    }
    let mut read_word = |present: bool| -> Result<Option<u32>, WireError> {
        if !present {
            return Ok(None);
        }
        if data.len() < off + 4 {
            return Err(WireError::Truncated("GRE"));
        }
        let v = u32::from_be_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]]);
        off += 4;
        Ok(Some(v))
    };
    let key = read_word(flags & FLAG_K != 0)?;
    let seq = read_word(flags & FLAG_S != 0)?;
    Ok(GreHeader {
        protocol: be16(data, 2),
        key,
        seq,
        len: off,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ether::ETH_P_TEB;

    #[test]
    fn keyed_teb_header_layout() {
        let mut h = [0u8; 8];
        assert_eq!(write_header(&mut h, ETH_P_TEB, Some(0x64)), 8);
        assert_eq!(h, [0x20, 0x00, 0x65, 0x58, 0, 0, 0, 0x64]);
        let p = parse_header(&h).unwrap();
        assert_eq!(
            p,
            GreHeader {
                protocol: ETH_P_TEB,
                key: Some(0x64),
                seq: None,
                len: 8
            }
        );
    }

    #[test]
    fn keyless_and_sequenced() {
        let mut h = [0u8; 4];
        assert_eq!(write_header(&mut h, ETH_P_TEB, None), 4);
        assert_eq!(parse_header(&h).unwrap().len, 4);
        let seq = [0x30, 0x00, 0x65, 0x58, 0, 0, 0, 7, 0, 0, 0, 9];
        let p = parse_header(&seq).unwrap();
        assert_eq!((p.key, p.seq, p.len), (Some(7), Some(9), 12));
    }

    #[test]
    fn checksum_verified() {
        // C bit, protocol TEB, checksum over header + payload.
        let mut pkt = vec![0x80, 0x00, 0x65, 0x58, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
        let c = checksum::checksum(&pkt);
        pkt[4..6].copy_from_slice(&c.to_be_bytes());
        assert_eq!(parse_header(&pkt).unwrap().len, 8);
        pkt[9] ^= 1;
        assert!(parse_header(&pkt).is_err());
    }

    #[test]
    fn rejects_version_routing_truncation() {
        assert!(parse_header(&[0x00, 0x01, 0x65, 0x58]).is_err());
        assert!(parse_header(&[0x40, 0x00, 0x65, 0x58]).is_err());
        assert!(parse_header(&[0x20, 0x00, 0x65, 0x58, 0, 0]).is_err());
        assert!(parse_header(&[0x20]).is_err());
    }
}
