//! The offload state of the super-frames this crate builds or hands on, as the
//! virtio-net header describes it (the header's layout is `wire::virtio`'s).

use crate::frame::TcpFrame;
use wire::tcp;
use wire::virtio::{
    F_NEEDS_CSUM, GSO_ECN, GSO_TCPV4, GSO_TCPV6, GSO_UDP_TUNNEL_IPV4, VirtioNetHdr,
};

/// A TCP super-frame with headers `h`, cut into `mss`-byte segments by whoever
/// takes it, its TCP checksum partial (the field holds the folded pseudo-header sum).
pub fn tcp(h: &TcpFrame, mss: u16) -> VirtioNetHdr {
    VirtioNetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: if h.ipv6 { GSO_TCPV6 } else { GSO_TCPV4 },
        hdr_len: h.payload as u16,
        gso_size: mss,
        csum_start: h.l4 as u16,
        csum_offset: tcp::field::CHECKSUM.start as u16,
    }
}

/// The same super-frame behind `outer` bytes of outer Ethernet, IPv4, UDP and
/// VXLAN headers, for a TAP that takes GSO over UDP tunnels: the inner TCP
/// checksum partial, the outer UDP checksum zero in every segment (RFC 7348's
/// default for IPv4: no F_UDP_TUNNEL_CSUM); `ecn` carries the sender's GSO_ECN
/// bit on. The inner type is the frame's own, not what its sender claimed.
pub fn tcp_in_udp_tunnel(h: &TcpFrame, mss: u16, ecn: bool, outer: usize) -> VirtioNetHdr {
    let inner = tcp(h, mss);
    VirtioNetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: inner.gso_type | if ecn { GSO_ECN } else { 0 } | GSO_UDP_TUNNEL_IPV4,
        hdr_len: (outer + h.payload) as u16,
        gso_size: mss,
        csum_start: (outer + h.l4) as u16,
        csum_offset: inner.csum_offset,
    }
}
