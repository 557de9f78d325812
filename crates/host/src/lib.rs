//! `host`: the Linux plumbing room of neutrino, used by the switch daemon.
//!
//! What lives here: network namespaces (entering one from a short-lived thread, opening its
//! fd), TAP devices (`/dev/net/tun` ioctls), link ioctls (index, flags, MAC, MTU), moving and
//! deleting links over netlink, and the sockets switchd does its I/O on: AF_PACKET for
//! `system` ports, one UDP socket for VXLAN and one raw IPv4 socket (protocol 47) for GRE,
//! and the uplink TAP that hands VXLAN super-frames to the kernel's tunnel GSO; pinning a
//! thread to a CPU.
//!
//! What must not live here: any switching logic. No packet parsing beyond what a socket
//! forces on us (the outer IPv4 header of a raw GRE read, the VLAN tag AF_PACKET hands over
//! out of band), no flow tables, no policy: that is the `switch` engine's room (sans-IO) and
//! the agent's. Nothing here touches an interface, address or route it was not asked to.
//!
//! Why one netlink message is hand-rolled instead of using rtnetlink: switchd runs plain
//! threads with no async runtime, and all it needs from rtnetlink is RTM_NEWLINK with
//! IFLA_NET_NS_FD (move a link to a namespace), a veth pair (IFLA_LINKINFO) and RTM_DELLINK.
//! Three fixed-layout messages and an ack check are smaller than pulling tokio into the daemon.
//!
//! Every function acts in the calling thread's network namespace; use [`in_netns`] to act in
//! another one. All fds are close-on-exec; socket and TAP fds are non-blocking.

mod bpffs;
pub mod cpu;
mod link;
mod netns;
mod packet_socket;
mod route;
mod sys;
mod tap;
mod tunnel_socket;
mod udp_gso;
mod udp_raw;
mod uplink;

pub use bpffs::{BPFFS, bpf_pin_dir, ensure_bpffs, remove_bpf_pins};
pub use udp_gso::SendOutcome;

pub use link::{
    create_veth, create_vxlan_external, delete_link, get_mac, get_mtu, ifindex, link_exists,
    move_to_netns, set_mac, set_mtu, set_tx_queue_len, set_up,
};
pub use netns::{in_netns, netns_exists, open_netns};
pub use packet_socket::{PACKET_VNET_HDR_LEN, PacketSocket};
pub use route::route_to;
pub use tap::{
    TUN_F_CSUM, TUN_F_TSO_ECN, TUN_F_TSO4, TUN_F_TSO6, TUN_F_UFO, TUN_F_USO4, TUN_F_USO6, Tap,
    VNET_HDR_LEN, tap_takes_udp_gso,
};
pub use tunnel_socket::{GrePacket, GreSocket, RECV_BATCH as GRE_RECV_BATCH, UdpTunnelSocket};
pub use udp_raw::RawUdpSocket;
pub use uplink::{UPLINK_VNET_HDR_LEN, UplinkTap, ipv4_forwarding};

/// Result of this crate's setup operations.
pub type Result<T> = std::result::Result<T, Error>;

/// An error from a setup operation. The message names the operation and the object (an
/// interface, namespace or socket address), e.g. `TUNSETIFF tapabc: Operation not permitted
/// (os error 1)`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call (or a netlink request acked with an errno) failed.
    #[error("{op} {name}: {error}")]
    Os {
        /// The ioctl, socket option, netlink message or system call.
        op: &'static str,
        /// Interface, namespace or address the operation was on.
        name: String,
        /// The OS error. Deliberately not a `#[source]`: its text is already in the message.
        error: std::io::Error,
    },
    /// A netlink request was refused by the kernel, with its extended-ack text when it sent one.
    #[error("{op} {name}: {error}{}", ext_ack_suffix(.detail))]
    Netlink {
        /// `RTM_NEWLINK` or `RTM_DELLINK`.
        op: &'static str,
        /// Interface name.
        name: String,
        /// The errno from the kernel's nlmsgerr.
        error: std::io::Error,
        /// The kernel's extended ack message (NLMSGERR_ATTR_MSG), if any.
        detail: Option<String>,
    },
    /// The kernel's netlink reply made no sense (truncated, wrong type).
    #[error("{op} {name}: malformed netlink reply: {reason}")]
    NetlinkReply {
        /// `RTM_NEWLINK` or `RTM_DELLINK`.
        op: &'static str,
        /// Interface name.
        name: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// A feature this kernel or namespace cannot offer, and why.
    #[error("{what} unavailable: {reason}")]
    Unavailable {
        /// The feature.
        what: &'static str,
        /// Why not.
        reason: String,
    },
    /// An interface or namespace name the kernel would refuse.
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        /// `interface` or `namespace`.
        what: &'static str,
        /// The name as given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

impl Error {
    /// The errno behind this error, if it came from the OS (to tell ENOENT, EEXIST, EPERM...).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Os { error, .. } | Error::Netlink { error, .. } => error.raw_os_error(),
            Error::NetlinkReply { .. } | Error::InvalidName { .. } | Error::Unavailable { .. } => {
                None
            }
        }
    }

    pub(crate) fn os(op: &'static str, name: impl Into<String>, error: std::io::Error) -> Error {
        Error::Os {
            op,
            name: name.into(),
            error,
        }
    }
}

fn ext_ack_suffix(detail: &Option<String>) -> String {
    match detail {
        Some(text) => format!(" ({text})"),
        None => String::new(),
    }
}
