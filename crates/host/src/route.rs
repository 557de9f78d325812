//! Route lookups without touching routes: what the kernel would use towards an address.

use std::io;
use std::os::fd::AsRawFd;

/// The source address and route MTU the kernel would use towards `remote` (a route
/// lookup through an unsent, connected UDP socket: getsockname and IP_MTU).
pub fn route_to(remote: std::net::Ipv4Addr) -> io::Result<(std::net::Ipv4Addr, u32)> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
    s.connect((remote, 4789))?;
    let source = match s.local_addr()? {
        std::net::SocketAddr::V4(a) => *a.ip(),
        std::net::SocketAddr::V6(_) => {
            return Err(io::Error::other("IPv6 source for an IPv4 remote"));
        }
    };
    let mut mtu: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the out-pointers point at a live c_int and its length for the call.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU,
            (&raw mut mtu).cast(),
            &raw mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((source, u32::try_from(mtu).unwrap_or(1500)))
}
