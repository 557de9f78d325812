//! Geneve (RFC 8926): the header between the outer UDP header (port 6081) and the
//! inner frame, OVN's encapsulation.
//!
//! ```text
//! |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//! |        Virtual Network Identifier (VNI)       |    Reserved   |
//! |                    Variable-Length Options                    |
//! ```
//!
//! Only Ethernet payloads (protocol 0x6558) are carried. Options are skipped on
//! receipt; none are sent.

use crate::WireError;

pub const UDP_PORT: u16 = 6081;
/// The fixed part; options follow, `opt_len` 4-byte words of them.
pub const HEADER_LEN: usize = 8;
/// Transparent Ethernet bridging: the payload is an Ethernet frame.
pub const PROTO_ETHERNET: u16 = 0x6558;

/// A received header: the VNI and where the inner frame starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub vni: u32,
    /// The fixed header and the options.
    pub len: usize,
    /// The O bit: a control packet, for the tunnel endpoint itself.
    pub oam: bool,
}

/// Writes the fixed header (version 0, no options, Ethernet) for `vni`.
pub fn write_header(out: &mut [u8], vni: u32) {
    let p = PROTO_ETHERNET.to_be_bytes();
    out[..HEADER_LEN].copy_from_slice(&[
        0,
        0,
        p[0],
        p[1],
        (vni >> 16) as u8,
        (vni >> 8) as u8,
        vni as u8,
        0,
    ]);
}

/// Reads a header: version 0, an Ethernet payload, options within the packet.
pub fn parse_header(data: &[u8]) -> Result<Header, WireError> {
    if data.len() < HEADER_LEN {
        return Err(WireError::Truncated("Geneve"));
    }
    if data[0] >> 6 != 0 {
        return Err(WireError::Malformed("Geneve version other than 0"));
    }
    if u16::from_be_bytes([data[2], data[3]]) != PROTO_ETHERNET {
        return Err(WireError::Malformed("Geneve payload that is not Ethernet"));
    }
    let len = HEADER_LEN + usize::from(data[0] & 0x3f) * 4;
    if data.len() < len {
        return Err(WireError::Truncated("Geneve options"));
    }
    Ok(Header {
        vni: u32::from_be_bytes([0, data[4], data[5], data[6]]),
        len,
        oam: data[1] & 0x80 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_rfc_8926() {
        let mut h = [0u8; 8];
        write_header(&mut h, 0xabcdef);
        assert_eq!(h, [0, 0, 0x65, 0x58, 0xab, 0xcd, 0xef, 0]);
        let p = parse_header(&h).expect("valid");
        assert_eq!((p.vni, p.len, p.oam), (0xabcdef, 8, false));
    }

    #[test]
    fn options_are_skipped() {
        // Opt Len 2 (8 bytes of options), the C bit set, an inner frame after.
        let mut h = vec![0x02, 0x40, 0x65, 0x58, 0, 0, 0x64, 0];
        h.extend_from_slice(&[0x01, 0x02, 0x80, 0x01, 1, 2, 3, 4]);
        h.extend_from_slice(&[0xff; 14]);
        let p = parse_header(&h).expect("valid");
        assert_eq!((p.vni, p.len), (0x64, 16));
        assert_eq!(h[p.len], 0xff);
    }

    #[test]
    fn refuses_what_it_cannot_carry() {
        assert!(parse_header(&[0, 0, 0x65]).is_err());
        assert!(
            parse_header(&[0x40, 0, 0x65, 0x58, 0, 0, 1, 0]).is_err(),
            "version 1"
        );
        assert!(
            parse_header(&[0, 0, 0x08, 0x00, 0, 0, 1, 0]).is_err(),
            "IPv4 payload"
        );
        assert!(
            parse_header(&[0x01, 0, 0x65, 0x58, 0, 0, 1, 0]).is_err(),
            "options cut"
        );
    }
}
