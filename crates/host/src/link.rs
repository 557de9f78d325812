//! Links in the calling thread's namespace: index, flags, MAC and MTU through the classic
//! `SIOC*IF*` ioctls; moving to another namespace and deleting through two hand-built netlink
//! messages (RTM_NEWLINK with IFLA_NET_NS_FD, RTM_DELLINK) whose acks are checked.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::sys::{IfReq, ioctl_ifreq, setsockopt_int};
use crate::{Error, Result};

/// Index of link `name`.
pub fn ifindex(name: &str) -> Result<u32> {
    let mut ifr = IfReq::new(name)?;
    ifreq_ioctl("SIOCGIFINDEX", libc::SIOCGIFINDEX, name, &mut ifr)?;
    u32::try_from(ifr.int()).map_err(|_| {
        let bad = std::io::Error::new(std::io::ErrorKind::InvalidData, "negative ifindex");
        Error::os("SIOCGIFINDEX", name, bad)
    })
}

/// Whether link `name` exists (false also when the name is invalid).
pub fn link_exists(name: &str) -> bool {
    ifindex(name).is_ok()
}

/// Sets or clears IFF_UP (SIOCGIFFLAGS, then SIOCSIFFLAGS).
pub fn set_up(name: &str, up: bool) -> Result<()> {
    let mut ifr = IfReq::new(name)?;
    ifreq_ioctl("SIOCGIFFLAGS", libc::SIOCGIFFLAGS, name, &mut ifr)?;
    let iff_up = libc::IFF_UP as i16;
    let flags = if up {
        ifr.flags() | iff_up
    } else {
        ifr.flags() & !iff_up
    };
    ifr.set_flags(flags);
    ifreq_ioctl("SIOCSIFFLAGS", libc::SIOCSIFFLAGS, name, &mut ifr)
}

/// Sets the Ethernet address (SIOCSIFHWADDR).
pub fn set_mac(name: &str, mac: [u8; 6]) -> Result<()> {
    let mut ifr = IfReq::new(name)?;
    ifr.set_hwaddr(mac);
    ifreq_ioctl("SIOCSIFHWADDR", libc::SIOCSIFHWADDR, name, &mut ifr)
}

/// The Ethernet address (SIOCGIFHWADDR).
pub fn get_mac(name: &str) -> Result<[u8; 6]> {
    let mut ifr = IfReq::new(name)?;
    ifreq_ioctl("SIOCGIFHWADDR", libc::SIOCGIFHWADDR, name, &mut ifr)?;
    Ok(ifr.hwaddr())
}

/// Sets the MTU (SIOCSIFMTU).
pub fn set_mtu(name: &str, mtu: u32) -> Result<()> {
    set_int("SIOCSIFMTU", libc::SIOCSIFMTU, name, mtu)
}

/// Sets how many frames the device's transmit queue holds (SIOCSIFTXQLEN; for a
/// TAP also the ring its reader drains).
pub fn set_tx_queue_len(name: &str, len: u32) -> Result<()> {
    set_int("SIOCSIFTXQLEN", libc::SIOCSIFTXQLEN, name, len)
}

/// An ifreq ioctl that sets one int of the device.
fn set_int(op: &'static str, request: libc::c_ulong, name: &str, v: u32) -> Result<()> {
    let mut ifr = IfReq::new(name)?;
    let v = i32::try_from(v).map_err(|_| {
        let bad = std::io::Error::new(std::io::ErrorKind::InvalidInput, "value too large");
        Error::os(op, name, bad)
    })?;
    ifr.set_int(v);
    ifreq_ioctl(op, request, name, &mut ifr)
}

/// The MTU (SIOCGIFMTU).
pub fn get_mtu(name: &str) -> Result<u32> {
    let mut ifr = IfReq::new(name)?;
    ifreq_ioctl("SIOCGIFMTU", libc::SIOCGIFMTU, name, &mut ifr)?;
    u32::try_from(ifr.int()).map_err(|_| {
        let bad = std::io::Error::new(std::io::ErrorKind::InvalidData, "negative MTU");
        Error::os("SIOCGIFMTU", name, bad)
    })
}

/// Moves link `name` into the namespace given by `netns_fd` (netlink RTM_NEWLINK with
/// IFLA_NET_NS_FD, hand-built message on a NETLINK_ROUTE socket, ack checked: an nlmsgerr
/// with non-zero error becomes an Error carrying the errno text). The link arrives down, with
/// its name, MAC and MTU kept; a TAP's fd keeps working across the move.
pub fn move_to_netns(name: &str, netns_fd: BorrowedFd<'_>) -> Result<()> {
    let index = ifindex(name)?;
    let fd = u32::try_from(netns_fd.as_raw_fd()).map_err(|_| {
        let bad = std::io::Error::from_raw_os_error(libc::EBADF);
        Error::os("RTM_NEWLINK", name, bad)
    })?;
    let mut attr = Vec::with_capacity(8);
    push_attr(&mut attr, IFLA_NET_NS_FD, &fd.to_ne_bytes());
    netlink_request("RTM_NEWLINK", libc::RTM_NEWLINK, name, index, &attr)?;
    tracing::debug!(link = name, "moved to another network namespace");
    Ok(())
}

/// Creates a veth pair: `host_end` here, `peer` inside the namespace `netns_fd`
/// (RTM_NEWLINK with IFLA_LINKINFO kind "veth" and VETH_INFO_PEER, create-exclusive,
/// ack checked). Both ends arrive down.
pub fn create_veth(host_end: &str, peer: &str, netns_fd: BorrowedFd<'_>) -> Result<()> {
    let fd = u32::try_from(netns_fd.as_raw_fd()).map_err(|_| {
        let bad = std::io::Error::from_raw_os_error(libc::EBADF);
        Error::os("RTM_NEWLINK", host_end, bad)
    })?;
    let cstr = |s: &str| {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    };
    // The peer: an ifinfomsg of its own, then its name and namespace.
    let mut peer_msg = vec![0u8; IFINFOMSG_LEN];
    peer_msg[0] = libc::AF_UNSPEC as u8;
    push_attr(&mut peer_msg, IFLA_IFNAME, &cstr(peer));
    push_attr(&mut peer_msg, IFLA_NET_NS_FD, &fd.to_ne_bytes());
    let mut data = Vec::new();
    push_attr(&mut data, VETH_INFO_PEER, &peer_msg);
    let mut info = Vec::new();
    push_attr(&mut info, IFLA_INFO_KIND, b"veth");
    push_attr(&mut info, IFLA_INFO_DATA, &data);
    let mut attr = Vec::new();
    push_attr(&mut attr, IFLA_IFNAME, &cstr(host_end));
    push_attr(&mut attr, IFLA_LINKINFO, &info);
    netlink_request_flags(
        "RTM_NEWLINK",
        libc::RTM_NEWLINK,
        NLM_F_CREATE | NLM_F_EXCL,
        host_end,
        0,
        &attr,
    )?;
    tracing::debug!(link = host_end, peer, "veth pair created");
    Ok(())
}

/// Creates a VXLAN device in external (collect_md) mode: no VNI or remote of its
/// own, each packet's tunnel key set by whoever sends it (a BPF program) and read
/// from each packet received; UDP `port`, no learning. As `ip link add NAME type
/// vxlan external dstport PORT nolearning`. Arrives down.
pub fn create_vxlan_external(name: &str, port: u16) -> Result<()> {
    let mut name_z = name.as_bytes().to_vec();
    name_z.push(0);
    let mut data = Vec::new();
    push_attr(&mut data, IFLA_VXLAN_LEARNING, &[0]);
    push_attr(&mut data, IFLA_VXLAN_PORT, &port.to_be_bytes());
    push_attr(&mut data, IFLA_VXLAN_COLLECT_METADATA, &[1]);
    let mut info = Vec::new();
    push_attr(&mut info, IFLA_INFO_KIND, b"vxlan");
    push_attr(&mut info, IFLA_INFO_DATA, &data);
    let mut attr = Vec::new();
    push_attr(&mut attr, IFLA_IFNAME, &name_z);
    push_attr(&mut attr, IFLA_LINKINFO, &info);
    netlink_request_flags(
        "RTM_NEWLINK",
        libc::RTM_NEWLINK,
        NLM_F_CREATE | NLM_F_EXCL,
        name,
        0,
        &attr,
    )?;
    tracing::debug!(link = name, port, "external vxlan device created");
    Ok(())
}

/// Deletes link `name` (RTM_DELLINK by ifindex, ack checked). Deleting one end of a veth
/// pair deletes both.
pub fn delete_link(name: &str) -> Result<()> {
    let index = ifindex(name)?;
    netlink_request("RTM_DELLINK", libc::RTM_DELLINK, name, index, &[])?;
    tracing::debug!(link = name, "deleted");
    Ok(())
}

fn ifreq_ioctl(
    op: &'static str,
    request: libc::c_ulong,
    name: &str,
    ifr: &mut IfReq,
) -> Result<()> {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, None)
        .map_err(|e| Error::os("socket AF_INET for", name, e))?;
    // `SIOC*` constants are `c_ulong` in libc while the ioctl request type depends on the libc
    // flavour (c_int on musl); the values are all below 0x10000.
    ioctl_ifreq(sock.as_fd(), request as libc::Ioctl, ifr).map_err(|e| Error::os(op, name, e))
}

// Netlink constants, spelled out to keep the wire format in one place.
const NLMSG_HDR_LEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
// linux/if_link.h: IFLA_VXLAN_*.
const IFLA_VXLAN_LEARNING: u16 = 7;
const IFLA_VXLAN_PORT: u16 = 15;
const IFLA_VXLAN_COLLECT_METADATA: u16 = 25;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

static SEQ: AtomicU32 = AtomicU32::new(1);

/// Sends one `ifinfomsg` request for link `index` with `attrs` and waits for its ack.
fn netlink_request(
    op: &'static str,
    msg_type: u16,
    name: &str,
    index: u32,
    attrs: &[u8],
) -> Result<()> {
    netlink_request_flags(op, msg_type, 0, name, index, attrs)
}

/// [`netlink_request`] with extra `nlmsg_flags` (create, exclusive).
fn netlink_request_flags(
    op: &'static str,
    msg_type: u16,
    flags: u16,
    name: &str,
    index: u32,
    attrs: &[u8],
) -> Result<()> {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let msg =
        build_link_request(msg_type, flags, seq, index, attrs).ok_or(Error::NetlinkReply {
            op,
            name: name.to_owned(),
            reason: "request too large",
        })?;
    let sock = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::RAW,
        Some(Protocol::from(libc::NETLINK_ROUTE)),
    )
    .map_err(|e| Error::os("socket NETLINK_ROUTE for", name, e))?;
    // Best effort: a short ack without our request echoed, and the kernel's error text.
    let _ = setsockopt_int(sock.as_fd(), SOL_NETLINK, NETLINK_CAP_ACK, 1);
    let _ = setsockopt_int(sock.as_fd(), SOL_NETLINK, NETLINK_EXT_ACK, 1);
    sock.set_read_timeout(Some(ACK_TIMEOUT))
        .map_err(|e| Error::os("SO_RCVTIMEO", name, e))?;
    sock.send(&msg).map_err(|e| Error::os(op, name, e))?;
    let mut buf = vec![0u8; 8192];
    loop {
        let n = (&sock).read(&mut buf).map_err(|e| Error::os(op, name, e))?;
        match find_ack(&buf[..n], seq) {
            Ack::None => continue,
            Ack::Ok => return Ok(()),
            Ack::Err(errno, detail) => {
                return Err(Error::Netlink {
                    op,
                    name: name.to_owned(),
                    error: std::io::Error::from_raw_os_error(errno),
                    detail,
                });
            }
            Ack::Malformed(reason) => {
                return Err(Error::NetlinkReply {
                    op,
                    name: name.to_owned(),
                    reason,
                });
            }
        }
    }
}

/// nlmsghdr + ifinfomsg (AF_UNSPEC, index) + attributes.
fn build_link_request(
    msg_type: u16,
    flags: u16,
    seq: u32,
    index: u32,
    attrs: &[u8],
) -> Option<Vec<u8>> {
    let len = NLMSG_HDR_LEN + IFINFOMSG_LEN + attrs.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&u32::try_from(len).ok()?.to_ne_bytes());
    msg.extend_from_slice(&msg_type.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK | flags).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel fills in ours
    msg.push(libc::AF_UNSPEC as u8); // ifi_family
    msg.push(0); // padding
    msg.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
    msg.extend_from_slice(&index.to_ne_bytes()); // ifi_index
    msg.extend_from_slice(&0u32.to_ne_bytes()); // ifi_flags
    msg.extend_from_slice(&0u32.to_ne_bytes()); // ifi_change
    msg.extend_from_slice(attrs);
    Some(msg)
}

/// Appends one rtattr (4-byte header, value, padding to 4).
fn push_attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (align4(len) - len), 0);
}

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

#[derive(Debug, PartialEq)]
enum Ack {
    /// No ack for our sequence number in this datagram.
    None,
    Ok,
    Err(i32, Option<String>),
    Malformed(&'static str),
}

/// Looks for the NLMSG_ERROR message answering `seq` in one received datagram.
fn find_ack(data: &[u8], seq: u32) -> Ack {
    let mut off = 0;
    while off + NLMSG_HDR_LEN <= data.len() {
        let len = read_u32(data, off) as usize;
        if len < NLMSG_HDR_LEN || off + len > data.len() {
            return Ack::Malformed("bad nlmsg_len");
        }
        let msg = &data[off..off + len];
        let kind = read_u16(msg, 4);
        if kind == NLMSG_ERROR && read_u32(msg, 8) == seq {
            if msg.len() < NLMSG_HDR_LEN + 4 {
                return Ack::Malformed("truncated nlmsgerr");
            }
            let error = read_u32(msg, NLMSG_HDR_LEN) as i32;
            if error == 0 {
                return Ack::Ok;
            }
            return Ack::Err(-error, ext_ack_message(msg));
        }
        off += align4(len);
    }
    Ack::None
}

/// NLMSGERR_ATTR_MSG from an nlmsgerr's TLVs (after the echoed request or its header).
fn ext_ack_message(msg: &[u8]) -> Option<String> {
    let flags = read_u16(msg, 6);
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let echoed = NLMSG_HDR_LEN + 4;
    let echoed_len = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDR_LEN
    } else {
        read_u32(msg.get(echoed..)?, 0) as usize
    };
    let mut off = echoed + align4(echoed_len);
    while off + 4 <= msg.len() {
        let len = read_u16(msg, off) as usize;
        let kind = read_u16(msg, off + 2);
        if len < 4 || off + len > msg.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &msg[off + 4..off + len];
            let text = text.split(|&b| b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        off += align4(len);
    }
    None
}

/// Native-endian u32 at `off`; the caller has checked the bounds (0 past the end otherwise).
fn read_u32(data: &[u8], off: usize) -> u32 {
    match data.get(off..off + 4) {
        Some(b) => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

fn read_u16(data: &[u8], off: usize) -> u16 {
    match data.get(off..off + 2) {
        Some(b) => u16::from_ne_bytes([b[0], b[1]]),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlmsgerr(seq: u32, error: i32, flags: u16, tail: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDR_LEN + 4 + tail.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&error.to_ne_bytes());
        m.extend_from_slice(tail);
        m
    }

    #[test]
    fn request_layout() {
        let mut attr = Vec::new();
        push_attr(&mut attr, IFLA_NET_NS_FD, &7u32.to_ne_bytes());
        let msg = build_link_request(libc::RTM_NEWLINK, 0, 9, 3, &attr).unwrap();
        assert_eq!(msg.len(), 40);
        assert_eq!(read_u32(&msg, 0), 40);
        assert_eq!(read_u16(&msg, 4), libc::RTM_NEWLINK);
        assert_eq!(read_u16(&msg, 6), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(read_u32(&msg, 8), 9);
        assert_eq!(read_u32(&msg, 20), 3);
        assert_eq!(read_u16(&msg, 32), 8);
        assert_eq!(read_u16(&msg, 34), IFLA_NET_NS_FD);
        assert_eq!(read_u32(&msg, 36), 7);
    }

    #[test]
    fn acks_are_matched_by_sequence() {
        assert_eq!(find_ack(&nlmsgerr(5, 0, 0, &[0; 16]), 5), Ack::Ok);
        assert_eq!(find_ack(&nlmsgerr(4, 0, 0, &[0; 16]), 5), Ack::None);
        assert_eq!(
            find_ack(&nlmsgerr(5, -libc::EPERM, 0, &[0; 16]), 5),
            Ack::Err(libc::EPERM, None)
        );
        assert_eq!(find_ack(&[0; 16], 5), Ack::Malformed("bad nlmsg_len"));
    }

    #[test]
    fn extended_ack_text_is_kept() {
        let mut tail = vec![0u8; 16]; // capped echo of our header
        push_attr(&mut tail, NLMSGERR_ATTR_MSG, b"Invalid netns fd\0");
        let msg = nlmsgerr(5, -libc::EINVAL, NLM_F_CAPPED | NLM_F_ACK_TLVS, &tail);
        assert_eq!(
            find_ack(&msg, 5),
            Ack::Err(libc::EINVAL, Some("Invalid netns fd".to_owned()))
        );
    }
}
