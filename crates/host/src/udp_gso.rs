//! UDP segmentation offload for the VXLAN socket: send many equal-size datagrams in
//! one `sendmsg` (UDP_SEGMENT) and receive coalesced runs of them in one `recvmsg`
//! (UDP_GRO). On a veth underlay a UDP GSO packet crosses to the other namespace
//! whole, so one syscall on each side moves a 64 KB TCP super-frame's worth.

use crate::tunnel_socket::UdpTunnelSocket;
use crate::{Error, Result};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

/// Room for one cmsg carrying an int (UDP_GRO) or u16 (UDP_SEGMENT).
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

    /// Sends `buf` as datagrams of `segment` bytes each (the last may be shorter) to
    /// `dst` in one call. With `segment` >= buf.len() it is a plain send.
    pub fn send_segments(&self, buf: &[u8], segment: u16, dst: SocketAddrV4) -> io::Result<usize> {
        self.send_segments_iov(&[io::IoSlice::new(buf)], segment, dst)
    }

    /// Like [`UdpTunnelSocket::send_segments`], with the bytes gathered from
    /// `iov` in order (datagram boundaries fall every `segment` bytes, whatever
    /// the slices): headers and payload can be sent without being copied together.
    pub fn send_segments_iov(
        &self,
        iov: &[io::IoSlice<'_>],
        segment: u16,
        dst: SocketAddrV4,
    ) -> io::Result<usize> {
        let total: usize = iov.iter().map(|s| s.len()).sum();
        let mut sa = sockaddr(dst);
        let mut cbuf = CmsgBuf([0; CMSG_SPACE]);
        // SAFETY: msghdr is plain old data; all-zero is valid before we fill it.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&raw mut sa).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // IoSlice is ABI-compatible with struct iovec on Unix; the kernel only reads it.
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = iov.len();
        if usize::from(segment) < total {
            msg.msg_control = cbuf.0.as_mut_ptr().cast();
            // SAFETY: CMSG_SPACE of a u16 is a constant computation.
            msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as usize;
            // SAFETY: msg_control points at our aligned buffer of CMSG_SPACE bytes, large
            // enough for one cmsg header and a u16; CMSG_FIRSTHDR then stays inside it.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&raw const msg);
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = libc::UDP_SEGMENT;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), segment);
            }
        }
        // SAFETY: msg points at live buffers (iovecs, address, control) for the call's
        // duration.
        let n = unsafe { libc::sendmsg(self.as_raw_fd(), &raw const msg, 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
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
