//! The uplink TAP: a TAP through which switchd hands whole VXLAN super-frames to the
//! kernel with GSO over a UDP tunnel (Linux 6.17+, `TUN_F_UDP_TUNNEL_GSO`), so the
//! kernel segments them only where a wire needs it — never on a veth or loopback path.
//!
//! The frames come in as if received on this device, addressed from this host's own
//! tunnel IP to a remote one, so the kernel forwards them to the underlay like any
//! routed packet. That needs, in this namespace: IPv4 forwarding on, reverse-path
//! filtering not strict (`all.rp_filter` != 1), and on the TAP itself `accept_local`
//! (a local source address) and `rp_filter` 0 — the last two are set here, on the
//! device this module made; nothing else is touched.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::sys::{ioctl_int_ptr, ioctl_value};
use crate::tap::{TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, Tap};
use crate::{Error, Result};

/// TUNSETOFFLOAD: GSO over UDP tunnels (include/uapi/linux/if_tun.h, Linux 6.17).
const TUN_F_UDP_TUNNEL_GSO: u32 = 0x080;
/// TUNSETOFFLOAD: ... with the outer UDP checksum left partial too.
const TUN_F_UDP_TUNNEL_GSO_CSUM: u32 = 0x100;
/// `struct virtio_net_hdr_v1_hash_tunnel`: what the tunnel offsets need.
pub const UPLINK_VNET_HDR_LEN: usize = 24;

/// An open uplink TAP, up and ready to take frames.
#[derive(Debug)]
pub struct UplinkTap {
    tap: Tap,
    mac: [u8; 6],
}

impl UplinkTap {
    /// Checks this namespace can forward what the TAP takes in, then makes TAP `name`
    /// with the tunnel offload. The error says why not (old kernel, forwarding off).
    pub fn open(name: &str) -> Result<UplinkTap> {
        let unavailable = |reason: String| Error::Unavailable {
            what: "uplink TAP",
            reason,
        };
        if !ipv4_forwarding() {
            return Err(unavailable(
                "IPv4 forwarding is off in this namespace (net.ipv4.ip_forward=0)".into(),
            ));
        }
        if read_sysctl("ipv4/conf/all/rp_filter").as_deref() == Some("1") {
            return Err(unavailable(
                "strict reverse-path filtering (net.ipv4.conf.all.rp_filter=1) would drop its frames"
                    .into(),
            ));
        }
        let tap = Tap::open(name, true)?;
        ioctl_int_ptr(
            tap.as_fd(),
            libc::TUNSETVNETHDRSZ,
            UPLINK_VNET_HDR_LEN as libc::c_int,
        )
        .map_err(|e| Error::os("TUNSETVNETHDRSZ", name, e))?;
        let offload =
            TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UDP_TUNNEL_GSO | TUN_F_UDP_TUNNEL_GSO_CSUM;
        if let Err(e) = ioctl_value(
            tap.as_fd(),
            libc::TUNSETOFFLOAD,
            libc::c_ulong::from(offload),
        ) {
            return Err(unavailable(format!(
                "the kernel's TAP has no GSO over UDP tunnels (Linux 6.17+): {e}"
            )));
        }
        // Nothing is routed out of this device: no IPv6 (no autoconfiguration chatter).
        write_sysctl(&format!("ipv6/conf/{name}/disable_ipv6"), "1");
        for (key, value) in [("accept_local", "1"), ("rp_filter", "0")] {
            let path = format!("ipv4/conf/{name}/{key}");
            if !write_sysctl(&path, value) {
                return Err(unavailable(format!(
                    "cannot set net.{}",
                    path.replace('/', ".")
                )));
            }
        }
        crate::set_up(name, true)?;
        let mac = crate::get_mac(name)?;
        Ok(UplinkTap { tap, mac })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        self.tap.name()
    }

    /// The device's MAC: frames must be addressed to it to be taken in.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Writes one frame, [`UPLINK_VNET_HDR_LEN`] bytes of virtio-net header first,
    /// gathered from `parts`.
    pub fn write_vectored(&self, parts: &[IoSlice<'_>]) -> io::Result<usize> {
        // SAFETY: IoSlice is ABI-compatible with iovec; the slices outlive the call.
        let n = unsafe {
            libc::writev(
                self.tap.as_raw_fd(),
                parts.as_ptr().cast(),
                parts.len() as libc::c_int,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl AsRawFd for UplinkTap {
    fn as_raw_fd(&self) -> RawFd {
        self.tap.as_raw_fd()
    }
}

impl AsFd for UplinkTap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.tap.as_fd()
    }
}

/// Whether this namespace forwards IPv4 (`net.ipv4.ip_forward`), which the uplink
/// TAP needs.
pub fn ipv4_forwarding() -> bool {
    read_sysctl("ipv4/ip_forward").as_deref() == Some("1")
}

/// `/proc/sys/net/<key>` of the calling thread's namespace, trimmed.
fn read_sysctl(key: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/net/{key}"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn write_sysctl(key: &str, value: &str) -> bool {
    std::fs::write(format!("/proc/sys/net/{key}"), value).is_ok()
}
