//! Raw system-call wrappers shared by the other modules: `struct ifreq`, ioctls and socket
//! options. Each unsafe block is one syscall on memory owned by the caller's borrow.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::{Error, Result};

/// `IFNAMSIZ`: interface names are at most 15 bytes plus the NUL.
pub(crate) const IFNAMSIZ: usize = 16;

/// Socket buffer size asked for on every data-path socket.
pub(crate) const SOCKET_BUFFER_BYTES: libc::c_int = 4 << 20;

/// Refuses names the kernel's `dev_valid_name()` would refuse, before any syscall.
pub(crate) fn check_ifname(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() >= IFNAMSIZ {
        Some("longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("reserved")
    } else if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
    {
        Some("contains '/', ':', NUL or whitespace")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            what: "interface",
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// `struct ifreq`: the name and a 24-byte union, kept as bytes so that its fields are read and
/// written without unsafe code.
#[repr(C, align(8))]
pub(crate) struct IfReq {
    name: [u8; IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    /// A zeroed ifreq carrying a validated interface name.
    pub(crate) fn new(name: &str) -> Result<IfReq> {
        check_ifname(name)?;
        let mut ifr = IfReq {
            name: [0; IFNAMSIZ],
            data: [0; 24],
        };
        ifr.name[..name.len()].copy_from_slice(name.as_bytes());
        Ok(ifr)
    }

    /// The name as the kernel left it (TUNSETIFF fills in the final name).
    pub(crate) fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    /// `ifr_flags` (a C short).
    pub(crate) fn flags(&self) -> i16 {
        i16::from_ne_bytes([self.data[0], self.data[1]])
    }

    pub(crate) fn set_flags(&mut self, flags: i16) {
        self.data[..2].copy_from_slice(&flags.to_ne_bytes());
    }

    /// `ifr_ifindex` / `ifr_mtu` (a C int).
    pub(crate) fn int(&self) -> i32 {
        i32::from_ne_bytes([self.data[0], self.data[1], self.data[2], self.data[3]])
    }

    pub(crate) fn set_int(&mut self, value: i32) {
        self.data[..4].copy_from_slice(&value.to_ne_bytes());
    }

    /// `ifr_hwaddr.sa_data[..6]`.
    pub(crate) fn hwaddr(&self) -> [u8; 6] {
        let mut mac = [0; 6];
        mac.copy_from_slice(&self.data[2..8]);
        mac
    }

    /// `ifr_hwaddr` = { sa_family: ARPHRD_ETHER, sa_data: mac }.
    pub(crate) fn set_hwaddr(&mut self, mac: [u8; 6]) {
        self.data[..2].copy_from_slice(&libc::ARPHRD_ETHER.to_ne_bytes());
        self.data[2..8].copy_from_slice(&mac);
    }
}

/// An ioctl whose argument is a `struct ifreq *`.
pub(crate) fn ioctl_ifreq(
    fd: BorrowedFd<'_>,
    request: libc::Ioctl,
    ifr: &mut IfReq,
) -> io::Result<()> {
    // SAFETY: every request passed here takes a `struct ifreq *`; `IfReq` has its size (40
    // bytes) and alignment, and the exclusive borrow keeps it alive and unaliased for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, std::ptr::from_mut(ifr)) };
    check(rc)
}

/// An ioctl whose argument is a `const int *`.
pub(crate) fn ioctl_int_ptr(
    fd: BorrowedFd<'_>,
    request: libc::Ioctl,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the request reads one int through the pointer, which points at a live local.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, &raw const value) };
    check(rc)
}

/// An ioctl whose argument is passed by value (TUNSETPERSIST, TUNSETOFFLOAD).
pub(crate) fn ioctl_value(
    fd: BorrowedFd<'_>,
    request: libc::Ioctl,
    value: libc::c_ulong,
) -> io::Result<()> {
    // SAFETY: the request takes an integer argument, not a pointer: no memory is accessed.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, value) };
    check(rc)
}

/// `setsockopt` with an int value.
pub(crate) fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    setsockopt_bytes(fd, level, name, &value.to_ne_bytes())
}

/// `setsockopt` with the option value given as its bytes.
pub(crate) fn setsockopt_bytes(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &[u8],
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the kernel reads `len` bytes from `value`, a live borrowed slice of that length.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, value.as_ptr().cast(), len) };
    check(rc)
}

/// Asks for [`SOCKET_BUFFER_BYTES`] of receive and send buffer: the FORCE options first
/// (root may exceed net.core.{r,w}mem_max), then the plain ones (capped by those sysctls).
pub(crate) fn set_big_buffers(fd: BorrowedFd<'_>, what: &str) -> Result<()> {
    let pairs = [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, "SO_RCVBUF"),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, "SO_SNDBUF"),
    ];
    for (forced, plain, op) in pairs {
        let bytes = SOCKET_BUFFER_BYTES;
        if let Err(e) = setsockopt_int(fd, libc::SOL_SOCKET, forced, bytes) {
            tracing::debug!(
                socket = what,
                option = op,
                error = %e,
                "FORCE buffer option refused; the plain one is capped by net.core.[rw]mem_max"
            );
            setsockopt_int(fd, libc::SOL_SOCKET, plain, bytes)
                .map_err(|e| Error::os(op, what, e))?;
        }
    }
    Ok(())
}

/// Maps a C `-1` return to the thread's errno.
pub(crate) fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_layout_matches_the_kernel() {
        assert_eq!(
            std::mem::size_of::<IfReq>(),
            std::mem::size_of::<libc::ifreq>()
        );
        assert_eq!(
            std::mem::align_of::<IfReq>(),
            std::mem::align_of::<libc::ifreq>()
        );
    }

    #[test]
    fn ifreq_fields_round_trip() {
        let mut ifr = IfReq::new("tap0123456789a").unwrap();
        assert_eq!(ifr.name(), "tap0123456789a");
        ifr.set_flags(-2);
        assert_eq!(ifr.flags(), -2);
        ifr.set_int(9000);
        assert_eq!(ifr.int(), 9000);
        ifr.set_hwaddr([2, 0, 0, 0, 0, 7]);
        assert_eq!(ifr.hwaddr(), [2, 0, 0, 0, 0, 7]);
    }

    #[test]
    fn bad_interface_names_are_refused() {
        for bad in ["", "0123456789abcdef", ".", "..", "a/b", "a:b", "a b"] {
            let err = check_ifname(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid interface name"),
                "{err}"
            );
        }
        check_ifname("0123456789abcde").unwrap();
    }
}
