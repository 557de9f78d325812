//! `offload`: the software offloads, in one place — what the switch does for a
//! frame whose offload state (the virtio-net header) the next hop cannot take, and
//! the state it gives frames it builds.
//!
//! - TCP segmentation ([`segment_tcp`]): a TSO super-frame
//!   cut into MSS-sized frames (TSO in software).
//! - TCP coalescing ([`Coalescer`]): in-order segments of one flow merged back into a
//!   super-frame (GRO in software).
//! - Super-frame splitting ([`split`]): a super-frame cut into smaller super-frames
//!   at segment boundaries, for a UDP tunnel's 16-bit length ([`split_for_udp_tunnel`]);
//!   and a super-frame that crossed a tunnel whole given its GSO state back
//!   ([`received_super_frame`]).
//! - UDP merging ([`UdpMerge`]): datagrams of one flow into one UDP GSO packet for a
//!   VM's TAP.
//! - The checksum and GSO state these share: where a frame's headers lie
//!   ([`TcpFrame`]), pseudo-header sums, receive checks ([`check_rx_checksum`]),
//!   completing a partial checksum ([`complete_checksum`]), and the virtio-net
//!   headers that describe a super-frame ([`gso`]).
//!
//! Its room: bytes in, bytes and offload state out. It is sans-IO: no sockets, no
//! system calls, no threads, no clock; the daemon (`switchd`) and the host plumbing
//! (`host`: UDP GSO/GRO sockets, TAPs) do the I/O around it. It reads and writes
//! headers through `wire`'s typed views and knows no packet format of its own; it
//! makes no switching decision. It links `wire` alone, never the engine (`switch`),
//! the daemon or `host`.
//!
//! It is our own code, not a library's, because it is the hot path: each function
//! works in place on the buffers the poll threads already hold, allocates nothing
//! per packet (the callers' output vectors are reused), and sends the payload by
//! scatter-gather instead of copying it where it can.

mod coalesce;
mod csum;
mod frame;
pub mod gso;
mod segment;
mod split;
mod udp_merge;

pub use coalesce::{Coalescer, MAX_SUPER_FRAME, Pushed};
pub use csum::{RxChecksum, check_rx_checksum, complete_checksum};
pub use frame::{TcpFrame, tcp_frame};
pub use segment::segment_tcp;
pub use split::{Split, received_super_frame, split, split_for_udp_tunnel};
pub use udp_merge::{MAX_DATAGRAMS, UdpMerge};
