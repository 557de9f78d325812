//! TAP devices from `/dev/net/tun` (TUNSETIFF and friends; netlink cannot make them usable).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::sys::{IfReq, ioctl_ifreq, ioctl_int_ptr, ioctl_value};
use crate::{Error, Result};

/// TUNSETOFFLOAD: the reader can take partial checksums (`VIRTIO_NET_HDR_F_NEEDS_CSUM`).
pub const TUN_F_CSUM: u32 = libc::TUN_F_CSUM;
/// TUNSETOFFLOAD: the reader can take TCPv4 GSO frames.
pub const TUN_F_TSO4: u32 = libc::TUN_F_TSO4;
/// TUNSETOFFLOAD: the reader can take TCPv6 GSO frames.
pub const TUN_F_TSO6: u32 = libc::TUN_F_TSO6;
/// TUNSETOFFLOAD: the reader can take TSO frames with ECN.
pub const TUN_F_TSO_ECN: u32 = libc::TUN_F_TSO_ECN;
/// TUNSETOFFLOAD: UDP fragmentation offload (legacy; prefer `TUN_F_USO4`/`TUN_F_USO6`).
pub const TUN_F_UFO: u32 = libc::TUN_F_UFO;
/// TUNSETOFFLOAD: the reader can take UDPv4 GSO frames (Linux 6.2+).
pub const TUN_F_USO4: u32 = libc::TUN_F_USO4;
/// TUNSETOFFLOAD: the reader can take UDPv6 GSO frames (Linux 6.2+).
pub const TUN_F_USO6: u32 = libc::TUN_F_USO6;

/// Most queues a TAP device can have (the tun driver's MAX_TAP_QUEUES).
pub const MAX_QUEUES: usize = 256;

/// Length of the `virtio_net_hdr_v1` (with `num_buffers`) that precedes every frame read from
/// or written to a TAP opened with `vnet_hdr = true`.
pub const VNET_HDR_LEN: usize = 12;

/// A TAP device's queue fd and the device's name. Dropping it closes the fd; the device goes
/// away with it unless it was made persistent.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Creates (or attaches to an existing, e.g. persistent) TAP device `name` in the calling
    /// thread's namespace: IFF_TAP | IFF_NO_PI, plus IFF_VNET_HDR when `vnet_hdr` is true
    /// (then also TUNSETVNETHDRSZ 12 bytes, virtio_net_hdr_v1). fd is O_NONBLOCK | O_CLOEXEC.
    pub fn open(name: &str, vnet_hdr: bool) -> Result<Tap> {
        Tap::open_mode(name, vnet_hdr, false)
    }

    /// Opens up to `count` queues of TAP device `name`, each with a virtio-net header:
    /// a multi-queue device (IFF_MULTI_QUEUE) when `count` > 1, so that the VM's kernel
    /// spreads its flows over the queues and each queue can be read by another thread.
    /// An existing (persistent) device keeps the mode it was made with: one made with
    /// a single queue gives one queue; one made multi-queue gives `count` queues (one
    /// when one is asked for).
    pub fn open_queues(name: &str, count: usize) -> Result<Vec<Tap>> {
        let want = count > 1;
        let (first, multi) = match Tap::open_mode(name, true, want) {
            Ok(t) => (t, want),
            // The device exists in the other mode (the kernel refuses a mismatch).
            Err(Error::Os { error, .. }) if error.raw_os_error() == Some(libc::EINVAL) => {
                (Tap::open_mode(name, true, !want)?, !want)
            }
            Err(e) => return Err(e),
        };
        let mut queues = vec![first];
        if multi {
            for _ in 1..count.min(MAX_QUEUES) {
                match Tap::open_mode(name, true, true) {
                    Ok(q) => queues.push(q),
                    // Fewer queues still carry every flow (out of fds, say).
                    Err(e) => {
                        tracing::warn!("{name}: {} of {count} queues opened: {e}", queues.len());
                        break;
                    }
                }
            }
        }
        Ok(queues)
    }

    fn open_mode(name: &str, vnet_hdr: bool, multi_queue: bool) -> Result<Tap> {
        let mut ifr = IfReq::new(name)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| Error::os("open /dev/net/tun for", name, e))?;
        let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
        if vnet_hdr {
            flags |= libc::IFF_VNET_HDR;
        }
        if multi_queue {
            flags |= libc::IFF_MULTI_QUEUE;
        }
        // The flag values all fit in the C short that ifr_flags is.
        ifr.set_flags(flags as i16);
        ioctl_ifreq(file.as_fd(), libc::TUNSETIFF, &mut ifr)
            .map_err(|e| Error::os("TUNSETIFF", name, e))?;
        if vnet_hdr {
            ioctl_int_ptr(
                file.as_fd(),
                libc::TUNSETVNETHDRSZ,
                VNET_HDR_LEN as libc::c_int,
            )
            .map_err(|e| Error::os("TUNSETVNETHDRSZ", name, e))?;
        }
        let name = ifr.name();
        tracing::debug!(tap = %name, vnet_hdr, multi_queue, "TAP opened");
        Ok(Tap { file, name })
    }

    /// The device's name (as the kernel confirmed it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// TUNSETPERSIST: a persistent device outlives this fd (and the process), and a later
    /// [`Tap::open`] of the same name attaches to it.
    pub fn set_persist(&self, on: bool) -> Result<()> {
        ioctl_value(
            self.file.as_fd(),
            libc::TUNSETPERSIST,
            libc::c_ulong::from(on),
        )
        .map_err(|e| Error::os("TUNSETPERSIST", self.name.as_str(), e))
    }

    /// TUNSETOFFLOAD with `TUN_F_*` flags: which offloaded frames this reader accepts. Only
    /// meaningful on a TAP opened with `vnet_hdr = true` (the header carries GSO/csum state).
    pub fn set_offload(&self, flags: u32) -> Result<()> {
        ioctl_value(
            self.file.as_fd(),
            libc::TUNSETOFFLOAD,
            libc::c_ulong::from(flags),
        )
        .map_err(|e| Error::os("TUNSETOFFLOAD", self.name.as_str(), e))
    }

    /// Reads one frame (with its vnet header first when opened with `vnet_hdr`). Non-blocking:
    /// `WouldBlock` when the queue is empty. A frame longer than `buf` is truncated.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Writes one frame (with its vnet header first when opened with `vnet_hdr`).
    pub fn write(&self, frame: &[u8]) -> io::Result<usize> {
        (&self.file).write(frame)
    }

    /// Writes one frame gathered from `parts` (one writev: a TAP takes each write
    /// as one frame).
    pub fn write_vectored(&self, parts: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&self.file).write_vectored(parts)
    }
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Whether this kernel takes UDP GSO packets (virtio `GSO_UDP_L4`) written to a TAP:
/// Linux 6.2 and later (the release that added USO to tun). Read once from
/// `/proc/sys/kernel/osrelease`; false when it cannot be read.
pub fn tap_takes_udp_gso() -> bool {
    static ANSWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ANSWER.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|r| release_at_least(&r, (6, 2)))
            .unwrap_or(false)
    })
}

/// Whether a kernel release string ("6.18.44-foo") is at least `(major, minor)`.
fn release_at_least(release: &str, want: (u32, u32)) -> Option<bool> {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    Some((major, minor) >= want)
}

#[cfg(test)]
mod release_tests {
    use super::release_at_least;

    #[test]
    fn releases_compare_by_major_and_minor() {
        assert_eq!(release_at_least("6.18.44-fc-v595\n", (6, 2)), Some(true));
        assert_eq!(release_at_least("6.2.0", (6, 2)), Some(true));
        assert_eq!(release_at_least("6.1.112-amd64", (6, 2)), Some(false));
        assert_eq!(release_at_least("5.15.0-91-generic", (6, 2)), Some(false));
        assert_eq!(release_at_least("garbage", (6, 2)), None);
    }
}
