//! A raw IPv4 socket for UDP (protocol 17) that only sends: the caller writes the
//! UDP header, checksum included, and the kernel adds the IPv4 header and leaves
//! the datagram as written. This is how a tunnel with checksums on (`csum=true`)
//! gets complete checksums on the wire whatever the underlay's offloads: a UDP
//! socket's checksum may be left to the device, and over a veth it then arrives
//! unfilled. A filter that refuses everything keeps the kernel from queueing a
//! copy of every UDP datagram of the host here.

use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, SockFilter, Socket, Type};

use crate::sys::set_big_buffers;
use crate::{Error, Result};

/// The send-only raw UDP socket.
#[derive(Debug)]
pub struct RawUdpSocket {
    sock: Socket,
}

impl RawUdpSocket {
    /// Opens it in the calling thread's namespace (needs CAP_NET_RAW).
    pub fn open() -> Result<RawUdpSocket> {
        let what = "raw UDP socket";
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP))
            .map_err(|e| Error::os("socket", what, e))?;
        // BPF_RET | BPF_K, 0: accept no byte of any packet.
        sock.attach_filter(&[SockFilter::new(0x06, 0, 0, 0)])
            .map_err(|e| Error::os("SO_ATTACH_FILTER", what, e))?;
        sock.set_nonblocking(true)
            .map_err(|e| Error::os("O_NONBLOCK", what, e))?;
        set_big_buffers(std::os::fd::AsFd::as_fd(&sock), what)?;
        Ok(RawUdpSocket { sock })
    }

    /// Sends datagrams `buf[start..start + len]` (UDP header and payload each) to
    /// their destinations' addresses, up to 64 per system call (sendmmsg);
    /// `outcome` says what became of each, in order.
    pub fn send_many(
        &self,
        buf: &[u8],
        msgs: &[(usize, usize, SocketAddrV4)],
        outcome: &mut crate::SendOutcome,
    ) {
        crate::udp_gso::send_many_fd(self.sock.as_raw_fd(), buf, msgs, outcome)
    }
}

impl AsRawFd for RawUdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
