//! `wire`: packet formats — Ethernet, 802.1Q, ARP, IPv4/IPv6, TCP/UDP/ICMP headers,
//! VXLAN (RFC 7348) and GRE (RFC 2784/2890), the virtio-net header, ARP replies and
//! DHCPv4 frames (the message itself through `dhcproto`) — as small zero-copy
//! readers and writers over byte slices, plus [`PacketBuf`], a buffer with headroom
//! so encapsulation and VLAN pushes prepend bytes without copying the payload, and
//! the Internet checksum. The IPv4, IPv6, TCP and UDP headers are typed views over
//! bytes ([`ipv4::Ipv4Header`] and its siblings, after smoltcp's `Packet`): checked
//! for length once, then read and written field by field in place.
//!
//! This crate knows byte layouts only: no switching decisions, no offloads (those
//! are the `offload` crate's), no I/O, no allocation on the read path (DHCP, in
//! [`dhcp`], is off the fast path and may allocate). etherparse has no VXLAN/GRE
//! types and its slicing does more work than the switch's key extraction needs, so
//! the few headers the fast path touches are written here by hand; tests cross-check
//! them against hand-built packets.

pub mod arp;
pub mod buf;
pub mod checksum;
pub mod dhcp;
pub mod ether;
pub mod geneve;
pub mod gre;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;
mod view;
pub mod virtio;
pub mod vxlan;

pub use buf::PacketBuf;
pub use ether::MacAddr;

/// A packet that does not have the layout its header claims.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("{0} header truncated")]
    Truncated(&'static str),
    #[error("{0}")]
    Malformed(&'static str),
    #[error("invalid MAC address {0:?}")]
    BadMac(String),
}
