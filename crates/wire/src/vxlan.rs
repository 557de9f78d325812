//! VXLAN (RFC 7348): the 8-byte header between the outer UDP header and the inner frame.
//!
//! ```text
//! |R|R|R|R|I|R|R|R|            Reserved                           |
//! |                VXLAN Network Identifier (VNI) |   Reserved    |
//! ```

use crate::WireError;

pub const UDP_PORT: u16 = 4789;
pub const HEADER_LEN: usize = 8;
const FLAG_I: u8 = 0x08;
/// Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14): what a VXLAN tunnel
/// takes from the underlay MTU.
pub const OVERHEAD: usize = 50;

/// Writes the header for `vni` (low 24 bits used).
pub fn write_header(out: &mut [u8], vni: u32) {
    out[..HEADER_LEN].copy_from_slice(&[
        FLAG_I,
        0,
        0,
        0,
        (vni >> 16) as u8,
        (vni >> 8) as u8,
        vni as u8,
        0,
    ]);
}

/// Returns the VNI. The I flag must be set; reserved bits are ignored on receipt as
/// the RFC says.
pub fn parse_header(data: &[u8]) -> Result<u32, WireError> {
    if data.len() < HEADER_LEN {
        return Err(WireError::Truncated("VXLAN"));
    }
    if data[0] & FLAG_I == 0 {
        return Err(WireError::Malformed("VXLAN header without the I flag"));
    }
    Ok(u32::from_be_bytes([0, data[4], data[5], data[6]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_rfc() {
        let mut h = [0u8; 8];
        write_header(&mut h, 0x64);
        assert_eq!(h, [0x08, 0, 0, 0, 0, 0, 0x64, 0]);
        write_header(&mut h, 0xabcdef);
        assert_eq!(h, [0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0]);
        assert_eq!(parse_header(&h), Ok(0xabcdef));
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(parse_header(&[0x08, 0, 0]).is_err());
        assert!(parse_header(&[0, 0, 0, 0, 0, 0, 1, 0]).is_err());
        // Reserved bits set are ignored.
        assert_eq!(
            parse_header(&[0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0xff]),
            Ok(1)
        );
    }
}
