//! AF_PACKET sockets: `system` ports (an existing interface, e.g. a physical NIC).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::{Domain, Socket, Type};

use crate::link::ifindex;
use crate::sys::{check, set_big_buffers, setsockopt_bytes, setsockopt_int};
use crate::{Error, Result};

/// The 802.1Q TPID used when the kernel does not report one.
const ETH_P_8021Q: u16 = 0x8100;

/// AF_PACKET SOCK_RAW ETH_P_ALL bound to an existing interface, non-blocking, promiscuous
/// (PACKET_ADD_MEMBERSHIP PACKET_MR_PROMISC), PACKET_IGNORE_OUTGOING set (so frames we send
/// are not read back), 4 MiB SO_RCVBUF/SO_SNDBUF (FORCE variants first).
///
/// A received frame whose VLAN tag the kernel or NIC stripped (it then travels in the packet
/// metadata, which AF_PACKET reports as PACKET_AUXDATA) gets its tag re-inserted by
/// [`PacketSocket::recv`], so callers always see the frame as it was on the wire.
#[derive(Debug)]
pub struct PacketSocket {
    sock: Socket,
    name: String,
    vnet_hdr: bool,
    /// False for a transmit-only socket ([`PacketSocket::bind_tx`]).
    receives: bool,
}

/// Length of the `struct virtio_net_hdr` (without `num_buffers`) that AF_PACKET puts in
/// front of each frame with PACKET_VNET_HDR.
pub const PACKET_VNET_HDR_LEN: usize = 10;

impl PacketSocket {
    /// Opens the socket on interface `ifname` (in the calling thread's namespace).
    pub fn bind(ifname: &str) -> Result<PacketSocket> {
        Self::bind_with(ifname, false)
    }

    /// Like [`PacketSocket::bind`]; with `vnet_hdr`, every frame read or written is
    /// preceded by a [`PACKET_VNET_HDR_LEN`]-byte virtio-net header (PACKET_VNET_HDR),
    /// so GSO super-frames and partial checksums cross with their metadata.
    pub fn bind_with(ifname: &str, vnet_hdr: bool) -> Result<PacketSocket> {
        Self::open(ifname, vnet_hdr, true)
    }

    /// A socket that only sends out of `ifname` (with virtio-net headers when
    /// `vnet_hdr`): bound with protocol 0, it is on no receive list, so the kernel
    /// hands it no copy of what arrives on the interface (switchd's fast path reads
    /// a port's frames elsewhere).
    pub fn bind_tx(ifname: &str, vnet_hdr: bool) -> Result<PacketSocket> {
        Self::open(ifname, vnet_hdr, false)
    }

    /// Whether frames arriving on the interface are read through this socket.
    pub fn receives(&self) -> bool {
        self.receives
    }

    fn open(ifname: &str, vnet_hdr: bool, receives: bool) -> Result<PacketSocket> {
        let index = ifindex(ifname)?;
        let index = libc::c_int::try_from(index).map_err(|_| {
            let bad = io::Error::new(io::ErrorKind::InvalidData, "ifindex out of range");
            Error::os("bind AF_PACKET", ifname, bad)
        })?;
        // Protocol 0 receives nothing until bind() sets ETH_P_ALL on this one interface, so
        // no frame from another interface slips in between.
        let sock = Socket::new(Domain::PACKET, Type::RAW, None)
            .map_err(|e| Error::os("socket AF_PACKET for", ifname, e))?;
        let fd = sock.as_fd();
        sock.set_nonblocking(true)
            .map_err(|e| Error::os("O_NONBLOCK", ifname, e))?;
        setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_AUXDATA, 1)
            .map_err(|e| Error::os("PACKET_AUXDATA", ifname, e))?;
        setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)
            .map_err(|e| Error::os("PACKET_IGNORE_OUTGOING", ifname, e))?;
        if vnet_hdr {
            setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)
                .map_err(|e| Error::os("PACKET_VNET_HDR", ifname, e))?;
        }
        set_big_buffers(fd, ifname)?;
        if !receives {
            bind_ll(fd, index, 0).map_err(|e| Error::os("bind AF_PACKET", ifname, e))?;
            return Ok(PacketSocket {
                sock,
                name: ifname.to_owned(),
                vnet_hdr,
                receives,
            });
        }
        setsockopt_bytes(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            &promisc_mreq(index),
        )
        .map_err(|e| Error::os("PACKET_ADD_MEMBERSHIP", ifname, e))?;
        bind_ll(fd, index, libc::ETH_P_ALL as u16)
            .map_err(|e| Error::os("bind AF_PACKET", ifname, e))?;
        Ok(PacketSocket {
            sock,
            name: ifname.to_owned(),
            vnet_hdr,
            receives,
        })
    }

    /// The interface this socket is bound to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Receives one frame into `buf`, with a stripped 802.1Q tag put back. Non-blocking:
    /// `WouldBlock` when empty. A frame longer than `buf` is truncated.
    /// With a virtio-net header, the tag goes in after the header and the header's
    /// checksum/header offsets move with it.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let (len, tag) = recv_with_auxdata(self.sock.as_fd(), buf)?;
        let Some((tpid, tci)) = tag else {
            return Ok(len);
        };
        if !self.vnet_hdr {
            return Ok(insert_vlan_tag(buf, len, tpid, tci));
        }
        if len < PACKET_VNET_HDR_LEN {
            return Ok(len);
        }
        let (hdr, frame) = buf.split_at_mut(PACKET_VNET_HDR_LEN);
        let n = insert_vlan_tag(frame, len - PACKET_VNET_HDR_LEN, tpid, tci);
        for at in [2usize, 6] {
            // hdr_len and csum_start (little-endian) when set.
            let v = u16::from_le_bytes([hdr[at], hdr[at + 1]]);
            if v != 0 {
                hdr[at..at + 2].copy_from_slice(&v.saturating_add(4).to_le_bytes());
            }
        }
        Ok(PACKET_VNET_HDR_LEN + n)
    }

    /// Sends one complete Ethernet frame out of the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        self.sock.send(frame)
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// `struct packet_mreq { int mr_ifindex; u16 mr_type; u16 mr_alen; u8 mr_address[8]; }`.
fn promisc_mreq(index: libc::c_int) -> [u8; 16] {
    let mut mreq = [0u8; 16];
    mreq[..4].copy_from_slice(&index.to_ne_bytes());
    mreq[4..6].copy_from_slice(&(libc::PACKET_MR_PROMISC as u16).to_ne_bytes());
    mreq
}

/// Binds to interface `index` for `protocol` (ETH_P_ALL: every frame; 0: none,
/// the socket only sends).
fn bind_ll(fd: BorrowedFd<'_>, index: libc::c_int, protocol: u16) -> io::Result<()> {
    let addr = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: protocol.to_be(),
        sll_ifindex: index,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `addr` is a live, initialised sockaddr_ll and `len` is its size.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) };
    check(rc)
}

/// recvmsg() into `buf`, returning the length and, when the frame's VLAN tag was stripped,
/// its (TPID, TCI) from the PACKET_AUXDATA control message.
fn recv_with_auxdata(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<(usize, Option<(u16, u16)>)> {
    // u64s: cmsghdr alignment. Room for CMSG_SPACE(sizeof(struct tpacket_auxdata)) = 40.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data (pointers, lengths, padding): all zeroes is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at `iov` (covering exactly `buf`) and at `control`, all live and
    // exclusively borrowed for the call; the kernel writes within the lengths given.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &raw mut msg, 0) };
    let len = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    Ok((len, vlan_from_control(&msg)))
}

/// Walks the control messages recvmsg() left in `msg` for a PACKET_AUXDATA with a VLAN tag.
fn vlan_from_control(msg: &libc::msghdr) -> Option<(u16, u16)> {
    let aux_len = std::mem::size_of::<libc::tpacket_auxdata>();
    // SAFETY: `msg` was filled by a successful recvmsg(); CMSG_FIRSTHDR only reads its
    // msg_control/msg_controllen, which point into the caller's live control buffer.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR return null or a header lying fully inside the
        // control buffer, which the kernel wrote.
        let hdr = unsafe { &*cmsg };
        // SAFETY: pure arithmetic on a constant.
        let needed = unsafe { libc::CMSG_LEN(aux_len as u32) } as usize;
        if hdr.cmsg_level == libc::SOL_PACKET
            && hdr.cmsg_type == libc::PACKET_AUXDATA
            && hdr.cmsg_len as usize >= needed
        {
            // SAFETY: cmsg_len says the header carries a whole tpacket_auxdata after it;
            // read_unaligned needs no alignment from the control buffer.
            let aux: libc::tpacket_auxdata =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
            if aux.tp_status & libc::TP_STATUS_VLAN_VALID == 0 {
                return None;
            }
            let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                aux.tp_vlan_tpid
            } else {
                ETH_P_8021Q
            };
            return Some((tpid, aux.tp_vlan_tci));
        }
        // SAFETY: same buffer as CMSG_FIRSTHDR; `cmsg` is a header inside it.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    None
}

/// Puts the 4-byte tag (TPID, TCI) back after the two MAC addresses of the `len`-byte frame
/// in `buf`, returning the new length (the last 4 bytes are lost if `buf` is full).
fn insert_vlan_tag(buf: &mut [u8], len: usize, tpid: u16, tci: u16) -> usize {
    if len < 12 || buf.len() < 16 {
        return len;
    }
    let new_len = (len + 4).min(buf.len());
    buf.copy_within(12..new_len - 4, 16);
    buf[12..14].copy_from_slice(&tpid.to_be_bytes());
    buf[14..16].copy_from_slice(&tci.to_be_bytes());
    new_len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_tag_is_reinserted_after_the_macs() {
        let mut buf = [0u8; 64];
        let frame: Vec<u8> = (0..20).collect();
        buf[..20].copy_from_slice(&frame);
        let len = insert_vlan_tag(&mut buf, 20, 0x8100, 0x2064);
        assert_eq!(len, 24);
        assert_eq!(&buf[..12], &frame[..12]);
        assert_eq!(&buf[12..16], &[0x81, 0x00, 0x20, 0x64]);
        assert_eq!(&buf[16..24], &frame[12..20]);
    }

    #[test]
    fn vlan_tag_in_a_full_buffer_drops_the_tail() {
        let mut buf: Vec<u8> = (0..20).collect();
        let len = insert_vlan_tag(&mut buf, 20, 0x88a8, 5);
        assert_eq!(len, 20);
        assert_eq!(&buf[12..16], &[0x88, 0xa8, 0, 5]);
        assert_eq!(&buf[16..20], &[12, 13, 14, 15]);
    }

    #[test]
    fn promisc_mreq_layout() {
        let mreq = promisc_mreq(7);
        assert_eq!(mreq.len(), std::mem::size_of::<libc::packet_mreq>());
        assert_eq!(&mreq[..4], &7i32.to_ne_bytes());
        assert_eq!(&mreq[4..6], &1u16.to_ne_bytes());
    }
}
