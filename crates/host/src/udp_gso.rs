//! Batched I/O for the tunnel sockets: datagrams sent many to a system call
//! (sendmmsg), and coalesced runs of them received in one `recvmsg` (UDP_GRO). The
//! VXLAN socket sends checksum zero, on which the kernel refuses UDP GSO sends
//! (UDP_SEGMENT), so there are none.

use crate::tunnel_socket::UdpTunnelSocket;
use crate::{Error, Result};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

/// Room for one cmsg carrying an int (UDP_GRO).
const CMSG_SPACE: usize = 32;

#[repr(C, align(8))]
struct CmsgBuf([u8; CMSG_SPACE]);

pub(crate) fn sockaddr(dst: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = dst.port().to_be();
    sa.sin_addr = libc::in_addr {
        s_addr: u32::from(*dst.ip()).to_be(),
    };
    sa
}

impl UdpTunnelSocket {
    /// Asks the kernel to hand over coalesced runs of datagrams (UDP_GRO).
    pub fn enable_gro(&self) -> Result<()> {
        let one: libc::c_int = 1;
        // SAFETY: a valid fd, a pointer to a live c_int and its exact size.
        let rc = unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_GRO,
                (&raw const one).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(Error::os(
                "setsockopt UDP_GRO",
                "vxlan socket",
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// Sends datagrams `buf[start..start + len]` to their destinations, up to 64
    /// per system call (sendmmsg); `outcome` says what became of each, in order.
    pub fn send_many(
        &self,
        buf: &[u8],
        msgs: &[(usize, usize, SocketAddrV4)],
        outcome: &mut SendOutcome,
    ) {
        send_many_fd(self.as_raw_fd(), buf, msgs, outcome)
    }

    /// Receives one datagram, or with UDP_GRO a run of them: returns (bytes, source,
    /// segment size). The segment size is the bytes of each datagram in the run (the
    /// last may be shorter), or the whole length for a single datagram.
    pub fn recv_segments(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4, usize)> {
        // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
        let mut sa: libc::sockaddr_in = unsafe { zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut cbuf = CmsgBuf([0; CMSG_SPACE]);
        // SAFETY: msghdr is plain old data; all-zero is valid before we fill it.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&raw mut sa).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = CMSG_SPACE;
        // SAFETY: msg points at live buffers we own for the call's duration.
        let n = unsafe { libc::recvmsg(self.as_raw_fd(), &raw mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        let mut seg = n;
        // SAFETY: the kernel filled msg_control/msg_controllen; the CMSG_* macros walk
        // only within that buffer, and the int is read unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                    let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                    if v > 0 {
                        seg = v as usize;
                    }
                }
                c = libc::CMSG_NXTHDR(&raw const msg, c);
            }
        }
        let src = SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
            u16::from_be(sa.sin_port),
        );
        Ok((n, src, seg))
    }
}

/// What became of each datagram of a [`send_many_fd`] batch, in order.
pub type SendOutcome = Vec<std::result::Result<(), io::ErrorKind>>;

/// sendmmsg of datagrams `buf[start..start + len]` to their destinations on socket `fd`,
/// up to 64 per call. `outcome` gets one entry
/// per message: a message the kernel refuses (an unreachable remote, a firewall) is
/// recorded and the rest still go.
pub(crate) fn send_many_fd(
    fd: std::os::fd::RawFd,
    buf: &[u8],
    msgs: &[(usize, usize, SocketAddrV4)],
    outcome: &mut SendOutcome,
) {
    const BATCH: usize = 64;
    outcome.clear();
    for group in msgs.chunks(BATCH) {
        let mut addrs = [sockaddr(SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0)); BATCH];
        let mut iovs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; BATCH];
        // SAFETY: mmsghdr is plain old data; all-zero is valid before we fill it.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, &(start, len, dst)) in group.iter().enumerate() {
            // One outside the buffer is never handed to the kernel (see `fits`).
            let piece = buf.get(start..start + len).unwrap_or(&[]);
            addrs[i] = sockaddr(dst);
            iovs[i].iov_base = piece.as_ptr() as *mut libc::c_void;
            iovs[i].iov_len = piece.len();
        }
        for i in 0..group.len() {
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&raw mut addrs[i]).cast();
            h.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &raw mut iovs[i];
            h.msg_iovlen = 1;
        }
        let fits = |i: usize| {
            let (start, len, _) = group[i];
            buf.get(start..start + len).is_some()
        };
        let mut done = 0;
        while done < group.len() {
            if !fits(done) {
                outcome.push(Err(io::ErrorKind::InvalidInput));
                done += 1;
                continue;
            }
            // Up to the next datagram that lies outside the buffer.
            let end = (done..group.len())
                .find(|&i| !fits(i))
                .unwrap_or(group.len());
            // SAFETY: hdrs[done..end] point at live iovecs, buffers and addresses for
            // the call's duration; the count is within the array.
            let r =
                unsafe { libc::sendmmsg(fd, hdrs[done..].as_mut_ptr(), (end - done) as u32, 0) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // The first unsent datagram is the one the kernel refused.
                outcome.push(Err(e.kind()));
                done += 1;
                continue;
            }
            if r == 0 {
                outcome.push(Err(io::ErrorKind::WouldBlock));
                done += 1;
                continue;
            }
            let r = (r as usize).min(end - done);
            outcome.extend(std::iter::repeat_n(Ok(()), r));
            done += r;
        }
    }
}
