//! Tunnel sockets: one UDP socket for all VXLAN ports, one raw IPv4 socket (protocol 47) for
//! all GRE ports. Encapsulation is switchd's business; these only move datagrams, and the
//! host's routing picks the underlay interface.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::sys::set_big_buffers;
use crate::{Error, Result};

/// IP protocol number of GRE.
const IPPROTO_GRE: i32 = 47;

/// One UDP socket for all VXLAN ports of a switchd: bound to local_ip (or 0.0.0.0) : port
/// (4789), non-blocking, 4 MiB buffers; path-MTU discovery left at the kernel's default.
/// Its datagrams leave with UDP checksum zero (SO_NO_CHECK), as RFC 7348 says VXLAN
/// over IPv4 should and as Linux's vxlan device and Open vSwitch send by default: a
/// checksum left to offload can cross a veth underlay unfilled, and a receiver
/// reading it raw (Open vSwitch's userspace datapath) drops it. Where the kernel
/// refuses SO_NO_CHECK, [`UdpTunnelSocket::zero_checksum`] says so.
#[derive(Debug)]
pub struct UdpTunnelSocket {
    sock: UdpSocket,
    zero_checksum: bool,
}

impl UdpTunnelSocket {
    /// Binds to `local:port` in the calling thread's namespace (`port` 0 picks one).
    pub fn bind(local: Ipv4Addr, port: u16) -> Result<UdpTunnelSocket> {
        Self::bind_with(local, port, false)
    }

    /// Like [`UdpTunnelSocket::bind`], with SO_REUSEPORT: several sockets of this
    /// process (one per poll thread) share the port and the kernel spreads incoming
    /// datagrams across them by their addresses and ports. A socket bound without it
    /// (a kernel vxlan device, another program) still makes the bind fail.
    pub fn bind_shared(local: Ipv4Addr, port: u16) -> Result<UdpTunnelSocket> {
        Self::bind_with(local, port, true)
    }

    fn bind_with(local: Ipv4Addr, port: u16, reuse_port: bool) -> Result<UdpTunnelSocket> {
        let addr = SocketAddrV4::new(local, port);
        let what = addr.to_string();
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| Error::os("socket UDP for", what.as_str(), e))?;
        sock.set_nonblocking(true)
            .map_err(|e| Error::os("O_NONBLOCK", what.as_str(), e))?;
        set_big_buffers(sock.as_fd(), &what)?;
        if reuse_port {
            sock.set_reuse_port(true)
                .map_err(|e| Error::os("SO_REUSEPORT", what.as_str(), e))?;
        }
        sock.bind(&SockAddr::from(addr))
            .map_err(|e| Error::os("bind UDP", what.as_str(), e))?;
        let sock = UdpSocket::from(sock);
        let zero_checksum = no_check(&sock).is_ok();
        Ok(UdpTunnelSocket {
            sock,
            zero_checksum,
        })
    }

    /// True when datagrams leave with UDP checksum zero.
    pub fn zero_checksum(&self) -> bool {
        self.zero_checksum
    }

    /// The bound address (to learn the port after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        v4(self.sock.local_addr()?)
    }

    /// Returns (bytes, source address) — `WouldBlock` when empty.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        let (len, from) = self.sock.recv_from(buf)?;
        Ok((len, v4(from)?))
    }

    /// Sends one datagram (a VXLAN header and the inner frame) to `dst`.
    pub fn send_to(&self, payload: &[u8], dst: SocketAddrV4) -> io::Result<usize> {
        self.sock.send_to(payload, dst)
    }
}

impl AsRawFd for UdpTunnelSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl AsFd for UdpTunnelSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// SO_NO_CHECK: send UDP checksum zero.
fn no_check(sock: &UdpSocket) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: a valid fd, a pointer to a live c_int and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NO_CHECK,
            (&raw const one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn v4(addr: SocketAddr) -> io::Result<SocketAddrV4> {
    match addr {
        SocketAddr::V4(addr) => Ok(addr),
        SocketAddr::V6(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "IPv6 address on an IPv4 socket",
        )),
    }
}

/// One GRE packet received by [`GreSocket::recv_from`]: the outer addresses and where the GRE
/// header (followed by its payload) lies in the caller's buffer: `buf[start..start + len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrePacket {
    /// Outer IPv4 source (the remote tunnel endpoint).
    pub src: Ipv4Addr,
    /// Outer IPv4 destination (one of our addresses).
    pub dst: Ipv4Addr,
    /// Offset of the GRE header in the buffer (the outer IPv4 header's length).
    pub start: usize,
    /// Length of GRE header + payload.
    pub len: usize,
}

/// Most GRE packets handed to one sendmmsg call.
pub const SEND_BATCH: usize = 64;
/// Most GRE packets taken by one recvmmsg call.
pub const RECV_BATCH: usize = 64;

/// One raw IPv4 socket, protocol 47 (GRE), for all GRE ports: non-blocking, 4 MiB buffers.
/// The kernel prepends the outer IPv4 header on send (no IP_HDRINCL); on receive the buffer
/// holds the IPv4 header, which [`GreSocket::recv_from`] skips.
#[derive(Debug)]
pub struct GreSocket {
    sock: Socket,
}

impl GreSocket {
    /// Opens the socket in the calling thread's namespace. A specific `local` address both
    /// filters received packets by outer destination and is the source of sent ones; 0.0.0.0
    /// receives GRE for every local address and lets routing pick the source.
    pub fn bind(local: Ipv4Addr) -> Result<GreSocket> {
        let what = local.to_string();
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_GRE)))
            .map_err(|e| Error::os("socket GRE for", what.as_str(), e))?;
        sock.set_nonblocking(true)
            .map_err(|e| Error::os("O_NONBLOCK", what.as_str(), e))?;
        set_big_buffers(sock.as_fd(), &what)?;
        sock.bind(&SockAddr::from(SocketAddrV4::new(local, 0)))
            .map_err(|e| Error::os("bind GRE", what.as_str(), e))?;
        Ok(GreSocket { sock })
    }

    /// Receives one GRE packet; `WouldBlock` when empty, `InvalidData` for a malformed outer
    /// header. The GRE header and payload are at `buf[p.start..p.start + p.len]`.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<GrePacket> {
        let n = (&self.sock).read(buf)?;
        parse_outer_ipv4(&buf[..n])
    }

    /// Receives up to [`RECV_BATCH`] packets in one system call (recvmmsg): `buf` is cut
    /// into slots of `slot` bytes, packet `i` lands in slot `i` and `out[i]` says where
    /// its GRE header lies in `buf` (offsets from the start of `buf`), or None when it
    /// was truncated (longer than a slot) or its outer header is malformed.
    /// `WouldBlock` when nothing is waiting.
    pub fn recv_batch(
        &self,
        buf: &mut [u8],
        slot: usize,
        out: &mut Vec<Option<GrePacket>>,
    ) -> io::Result<usize> {
        out.clear();
        let n = (buf.len() / slot.max(1)).min(RECV_BATCH);
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer smaller than a slot",
            ));
        }
        let mut iovs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; RECV_BATCH];
        // SAFETY: mmsghdr is plain old data; all-zero is valid before we fill it.
        let mut msgs: [libc::mmsghdr; RECV_BATCH] = unsafe { std::mem::zeroed() };
        for (i, chunk) in buf.chunks_mut(slot).take(n).enumerate() {
            iovs[i].iov_base = chunk.as_mut_ptr().cast();
            iovs[i].iov_len = chunk.len();
            msgs[i].msg_hdr.msg_iov = &raw mut iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: msgs[..n] point at iovecs over disjoint slots of `buf`, live for the
        // call; the count is within the array.
        let r = unsafe {
            libc::recvmmsg(
                self.sock.as_raw_fd(),
                msgs.as_mut_ptr(),
                n as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        for (i, m) in msgs.iter().take(r as usize).enumerate() {
            let at = i * slot;
            let len = (m.msg_len as usize).min(slot);
            let p = if m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                None
            } else {
                parse_outer_ipv4(&buf[at..at + len])
                    .ok()
                    .map(|p| GrePacket {
                        start: at + p.start,
                        ..p
                    })
            };
            out.push(p);
        }
        Ok(r as usize)
    }

    /// Sends datagrams `buf[start..start + len]` (GRE header and payload each) to their
    /// destinations (the port is ignored), up to 64 per system call (sendmmsg);
    /// `outcome` says what became of each, in order.
    pub fn send_many(
        &self,
        buf: &[u8],
        msgs: &[(usize, usize, SocketAddrV4)],
        outcome: &mut crate::SendOutcome,
    ) {
        crate::udp_gso::send_many_fd(self.sock.as_raw_fd(), buf, msgs, outcome)
    }

    /// Sends a GRE header and payload to `dst`; the kernel adds the outer IPv4 header.
    pub fn send_to(&self, gre_and_payload: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        self.sock
            .send_to(gre_and_payload, &SockAddr::from(SocketAddrV4::new(dst, 0)))
    }

    /// Sends `buf` cut every `stride` bytes (the last piece may be shorter) as that
    /// many GRE packets to `dst`, up to [`SEND_BATCH`] per system call (sendmmsg).
    /// Returns the bytes sent.
    pub fn send_batch(&self, buf: &[u8], stride: usize, dst: Ipv4Addr) -> io::Result<usize> {
        if stride == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "stride 0"));
        }
        let mut sa = crate::udp_gso::sockaddr(SocketAddrV4::new(dst, 0));
        let mut sent = 0;
        for group in buf.chunks(stride * SEND_BATCH) {
            let mut iovs = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; SEND_BATCH];
            // SAFETY: mmsghdr is plain old data; all-zero is valid before we fill it.
            let mut msgs: [libc::mmsghdr; SEND_BATCH] = unsafe { std::mem::zeroed() };
            let mut n = 0;
            for (i, piece) in group.chunks(stride).enumerate() {
                iovs[i].iov_base = piece.as_ptr() as *mut libc::c_void;
                iovs[i].iov_len = piece.len();
                n = i + 1;
            }
            for i in 0..n {
                let h = &mut msgs[i].msg_hdr;
                h.msg_name = (&raw mut sa).cast();
                h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                h.msg_iov = &raw mut iovs[i];
                h.msg_iovlen = 1;
            }
            let mut done = 0;
            while done < n {
                // SAFETY: msgs[done..n] point at live iovecs, buffers and address for
                // the call's duration; the count is within the array.
                let r = unsafe {
                    libc::sendmmsg(
                        self.sock.as_raw_fd(),
                        msgs[done..].as_mut_ptr(),
                        (n - done) as u32,
                        0,
                    )
                };
                if r < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return if sent > 0 { Ok(sent) } else { Err(e) };
                }
                let r = r as usize;
                sent += iovs[done..done + r]
                    .iter()
                    .map(|v| v.iov_len)
                    .sum::<usize>();
                done += r;
                if r == 0 {
                    break;
                }
            }
        }
        Ok(sent)
    }
}

impl AsRawFd for GreSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl AsFd for GreSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// Finds the payload of the IPv4 packet a raw socket returned (Linux leaves the header as it
/// was on the wire: network byte order, total length including the header).
fn parse_outer_ipv4(packet: &[u8]) -> io::Result<GrePacket> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return Err(invalid("raw GRE read: not an IPv4 packet"));
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if ihl < 20 || ihl > packet.len() || total < ihl {
        return Err(invalid("raw GRE read: bad IPv4 header length"));
    }
    let end = total.min(packet.len());
    let addr =
        |at: usize| Ipv4Addr::new(packet[at], packet[at + 1], packet[at + 2], packet[at + 3]);
    Ok(GrePacket {
        src: addr(12),
        dst: addr(16),
        start: ihl,
        len: end - ihl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(ihl_words: u8, total: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; usize::from(ihl_words) * 4];
        p[0] = 0x40 | ihl_words;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[9] = 47;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn outer_header_is_skipped_using_ihl() {
        let p = ipv4(6, 24 + 8, &[0x20, 0, 0x65, 0x58, 0, 0, 0, 1]);
        let gre = parse_outer_ipv4(&p).unwrap();
        assert_eq!(gre.src, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(gre.dst, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!((gre.start, gre.len), (24, 8));
    }

    #[test]
    fn malformed_outer_headers_are_refused() {
        assert!(parse_outer_ipv4(&[0x45; 10]).is_err());
        assert!(parse_outer_ipv4(&ipv4(5, 10, &[])).is_err());
        let mut v6 = ipv4(5, 20, &[]);
        v6[0] = 0x65;
        assert!(parse_outer_ipv4(&v6).is_err());
    }
}
