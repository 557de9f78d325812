//! The virtio-net header (`struct virtio_net_hdr_v1`, 12 bytes) that TAP devices with
//! IFF_VNET_HDR and AF_PACKET sockets with PACKET_VNET_HDR put in front of each frame:
//! the frame's offload state (GSO type and size, partial checksum position).
//! Fields are little-endian (virtio 1.0; TUN's default on little-endian hosts).

use crate::WireError;

pub const HDR_LEN: usize = 12;
/// The older `struct virtio_net_hdr` without `num_buffers` (AF_PACKET's PACKET_VNET_HDR).
pub const LEGACY_HDR_LEN: usize = 10;
pub const F_NEEDS_CSUM: u8 = 1;
pub const F_DATA_VALID: u8 = 2;
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_UDP: u8 = 3;
pub const GSO_TCPV6: u8 = 4;
pub const GSO_UDP_L4: u8 = 5;
pub const GSO_ECN: u8 = 0x80;
/// GSO over a UDP tunnel with an outer IPv4 header (Linux 6.17+ TAP, virtio 1.4),
/// or-ed into `gso_type` with the inner type (TCPV4/TCPV6).
pub const GSO_UDP_TUNNEL_IPV4: u8 = 0x20;
/// The tunnel's outer UDP checksum is left to the GSO (partial, like the inner one).
pub const F_UDP_TUNNEL_CSUM: u8 = 8;
/// `struct virtio_net_hdr_v1_hash_tunnel`: the 12-byte header, 8 bytes of hash report
/// (unused, zero) and the outer transport and inner network header offsets.
pub const TUNNEL_HDR_LEN: usize = 24;

/// Offload metadata carried with a packet through the switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtioNetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VirtioNetHdr {
    /// Reads the first ten bytes (both header layouts start alike).
    pub fn parse(b: &[u8]) -> Result<VirtioNetHdr, WireError> {
        if b.len() < LEGACY_HDR_LEN {
            return Err(WireError::Truncated("virtio-net"));
        }
        let le = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        Ok(VirtioNetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: le(2),
            gso_size: le(4),
            csum_start: le(6),
            csum_offset: le(8),
        })
    }

    /// Writes the 12-byte header.
    pub fn write(&self, out: &mut [u8]) {
        self.write_legacy(out);
        out[10..12].copy_from_slice(&0u16.to_le_bytes());
    }

    /// Writes the 24-byte tunnel header: this header (its `csum_start` and `hdr_len`
    /// are the inner TCP header's offset and the end of the inner headers), then
    /// where the outer UDP header and the inner IP header start.
    pub fn write_tunnel(&self, out: &mut [u8], outer_udp: u16, inner_ip: u16) {
        self.write(out);
        out[12..20].fill(0);
        out[20..22].copy_from_slice(&outer_udp.to_le_bytes());
        out[22..24].copy_from_slice(&inner_ip.to_le_bytes());
    }

    /// Writes the 10-byte header.
    pub fn write_legacy(&self, out: &mut [u8]) {
        out[0] = self.flags;
        out[1] = self.gso_type;
        out[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        out[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        out[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        out[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
    }

    /// True when the frame is a segmentation super-frame.
    pub fn is_gso(&self) -> bool {
        self.gso_type & !GSO_ECN != GSO_NONE
    }

    /// Whether a super-frame of `len` bytes with this header is one a real stack
    /// sends, by the kernel's own limits: TCP segments of at least 88 bytes of
    /// payload (TCP_MIN_MSS), UDP in at most 64 segments (UDP_MAX_SEGMENTS), a
    /// non-zero segment size. Anything else would have the switch cut one frame
    /// into tens of thousands of packets. Frames without GSO are always fine.
    pub fn plausible_gso(&self, len: usize) -> bool {
        if !self.is_gso() {
            return true;
        }
        let size = usize::from(self.gso_size);
        match self.gso_type & !(GSO_ECN | GSO_UDP_TUNNEL_IPV4) {
            _ if size == 0 => false,
            GSO_TCPV4 | GSO_TCPV6 => size >= 88,
            GSO_UDP_L4 | GSO_UDP => len / size <= 64 + 1,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implausible_super_frames() {
        let h = |gso_type: u8, gso_size: u16| VirtioNetHdr {
            flags: F_NEEDS_CSUM,
            gso_type,
            hdr_len: 54,
            gso_size,
            csum_start: 34,
            csum_offset: 16,
        };
        // The frame: TCPv4, segments of one byte, 60,054 bytes.
        assert!(!h(GSO_TCPV4, 1).plausible_gso(60_054));
        assert!(!h(GSO_TCPV6, 87).plausible_gso(60_054));
        assert!(h(GSO_TCPV4, 88).plausible_gso(60_054));
        assert!(h(GSO_TCPV4 | GSO_ECN, 1448).plausible_gso(65_000));
        assert!(!h(GSO_TCPV4, 0).plausible_gso(100));
        assert!(h(GSO_UDP_L4, 1000).plausible_gso(64_000));
        assert!(!h(GSO_UDP_L4, 100).plausible_gso(64_000));
        assert!(!h(0x7f, 1000).plausible_gso(10_000));
        assert!(h(GSO_NONE, 0).plausible_gso(60));
        assert!(h(GSO_TCPV4 | GSO_UDP_TUNNEL_IPV4, 1398).plausible_gso(60_000));
    }

    #[test]
    fn round_trip_little_endian() {
        let h = VirtioNetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 66,
            gso_size: 1398,
            csum_start: 34,
            csum_offset: 16,
        };
        let mut b = [0u8; HDR_LEN];
        h.write(&mut b);
        assert_eq!(b, [1, 1, 66, 0, 0x76, 0x05, 34, 0, 16, 0, 0, 0]);
        assert_eq!(VirtioNetHdr::parse(&b).unwrap(), h);
        assert!(h.is_gso());
        assert!(VirtioNetHdr::parse(&b[..5]).is_err());
        assert_eq!(VirtioNetHdr::parse(&b[..LEGACY_HDR_LEN]).unwrap(), h);
    }
}
