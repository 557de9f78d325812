//! VXLAN super-frames out the uplink TAP (`host::UplinkTap`): the inner super-frame
//! keeps its GSO state, outer Ethernet/IPv4/UDP/VXLAN headers go in front (UDP
//! checksum zero), and the kernel's GSO over UDP tunnels segments it only if a
//! real wire is on the way. No
//! software segmentation and no checksum pass over the payload here; the payload is
//! written straight from the frame (scatter-gather).
//!
//! Frames that are not TCP super-frames keep going out the VXLAN socket (batched).

use std::io::{self, IoSlice};
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::Arc;

use tracing::{info, warn};
use wire::virtio::VirtioNetHdr;
use wire::{checksum, ether, vxlan};

/// The uplink TAP's name (one per switchd, in its namespace).
pub const UPLINK_NAME: &str = "nt-uplink";
/// Outer Ethernet + IPv4 + UDP + VXLAN.
const OUTER: usize = 14 + 20 + 8 + vxlan::HEADER_LEN;
/// Source MAC of the frames written in (the kernel only checks the destination).
const SRC_MAC: [u8; 6] = [0x02, 0x6e, 0x74, 0x00, 0x00, 0x01];

/// Whether switchd sends VXLAN super-frames through the uplink TAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UplinkMode {
    /// When the kernel and namespace allow it; the VXLAN socket otherwise.
    #[default]
    Auto,
    /// Always try; a failure is an error in the log (the socket still carries traffic).
    Tap,
    /// Never: segment in software and send with UDP GSO.
    Off,
}

impl FromStr for UplinkMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(UplinkMode::Auto),
            "tap" => Ok(UplinkMode::Tap),
            "off" => Ok(UplinkMode::Off),
            _ => Err(format!("unknown uplink mode {s:?} (auto, tap, off)")),
        }
    }
}

/// Where the uplink stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No VXLAN port yet (or mode off).
    Idle,
    Active,
    /// IPv4 forwarding is off: opened once it is on.
    WaitingForForwarding,
    /// Cannot be opened here (old kernel, strict rp_filter...); said once.
    Unavailable,
}

/// The uplink's life: opened with the first VXLAN port, closed when IPv4 forwarding
/// goes off (its frames would be dropped) and opened again when it comes back. One
/// per switchd; every poll thread writes to the same TAP (each write is one frame).
pub struct UplinkSlot {
    mode: UplinkMode,
    state: State,
    tap: Option<Arc<host::UplinkTap>>,
    /// Super-frames (parts) written and failed writes, summed over poll threads.
    frames: u64,
    errors: u64,
}

impl UplinkSlot {
    pub fn new(mode: UplinkMode) -> UplinkSlot {
        UplinkSlot {
            mode,
            state: State::Idle,
            tap: None,
            frames: 0,
            errors: 0,
        }
    }

    /// A VXLAN socket exists: use the uplink if the mode and the host allow.
    pub fn start(&mut self) {
        if self.mode != UplinkMode::Off && self.state == State::Idle {
            self.try_open();
        }
    }

    /// Once a second: follows IPv4 forwarding going off and on. True when the TAP
    /// was closed or opened (poll threads must pick up the change).
    pub fn tick(&mut self) -> bool {
        let forwarding = match self.state {
            State::Active | State::WaitingForForwarding => host::ipv4_forwarding(),
            State::Idle | State::Unavailable => return false,
        };
        match (self.state, forwarding) {
            (State::Active, false) => {
                self.tap = None;
                self.state = State::WaitingForForwarding;
                warn!(
                    "IPv4 forwarding went off: {UPLINK_NAME} closed, VXLAN super-frames are segmented in software"
                );
                true
            }
            (State::WaitingForForwarding, true) => {
                self.try_open();
                self.tap.is_some()
            }
            _ => false,
        }
    }

    fn try_open(&mut self) {
        if !host::ipv4_forwarding() {
            if self.state != State::WaitingForForwarding {
                let msg = "VXLAN super-frames are segmented in software until IPv4 forwarding is on (net.ipv4.ip_forward=1)";
                if self.mode == UplinkMode::Tap {
                    warn!("{msg}");
                } else {
                    info!("{msg}");
                }
            }
            self.state = State::WaitingForForwarding;
            return;
        }
        match host::UplinkTap::open(UPLINK_NAME) {
            Ok(t) => {
                info!("VXLAN super-frames go out {UPLINK_NAME} (kernel GSO over UDP tunnels)");
                self.tap = Some(Arc::new(t));
                self.state = State::Active;
            }
            Err(e) => {
                if self.mode == UplinkMode::Tap {
                    warn!("--vxlan-uplink tap: {e}; segmenting in software");
                } else {
                    info!("VXLAN super-frames are segmented in software: {e}");
                }
                self.state = State::Unavailable;
            }
        }
    }

    /// The open TAP, for a poll thread to write to.
    pub fn tap(&self) -> Option<Arc<host::UplinkTap>> {
        self.tap.clone()
    }

    /// Adds a poll thread's counts.
    pub fn count(&mut self, frames: u64, errors: u64) {
        self.frames += frames;
        self.errors += errors;
    }

    /// (active, super-frames written, write errors) since switchd started.
    pub fn counters(&self) -> (bool, u64, u64) {
        (self.tap.is_some(), self.frames, self.errors)
    }
}

/// A poll thread's side of the uplink: room for the parts' headers, and counts not
/// yet added to the slot's.
#[derive(Debug, Default)]
pub struct UplinkSender {
    /// Headers of the parts of the frame being sent.
    parts: Vec<u8>,
    /// Super-frames (parts) written.
    pub frames: u64,
    pub errors: u64,
}

impl UplinkSender {
    /// Sends TCP super-frame `frame` (offload state `hdr`) through `tap` to `remote`
    /// in VXLAN `vni`, from `local`, over an underlay of `mtu` bytes. None when it
    /// cannot go this way (not TCP, segments too big for the underlay, or the kernel
    /// refused its first part): send it the other way.
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        tap: &host::UplinkTap,
        frame: &[u8],
        hdr: &VirtioNetHdr,
        vni: u32,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        mtu: usize,
    ) -> Option<io::Result<usize>> {
        self.parts.clear();
        let (sp, t) = offload::split_for_udp_tunnel(frame, hdr, OUTER, mtu, &mut self.parts)?;
        let hl = sp.header_len();
        let mut sent = 0;
        for i in 0..sp.parts {
            let payload = sp.payload(i);
            let inner_len = hl + payload.len();
            let mut head = [0u8; host::UPLINK_VNET_HDR_LEN + OUTER];
            let (vnet, outer) = head.split_at_mut(host::UPLINK_VNET_HDR_LEN);
            let ends = Ends {
                tap_mac: tap.mac(),
                local,
                remote,
            };
            write_outer(outer, &ends, vni, inner_len);
            t.write_tunnel(vnet, 14 + 20, (OUTER + sp.frame.l3) as u16);
            let iov = [
                IoSlice::new(&head),
                IoSlice::new(&self.parts[i * hl..(i + 1) * hl]),
                IoSlice::new(&frame[payload]),
            ];
            match tap.write_vectored(&iov) {
                Ok(n) => {
                    sent += n;
                    self.frames += 1;
                }
                Err(e) => {
                    self.errors += 1;
                    // Nothing sent yet: the software path may still take it.
                    return if i == 0 { None } else { Some(Err(e)) };
                }
            }
        }
        Some(Ok(sent))
    }
}

/// Who an outer header is between.
struct Ends {
    tap_mac: [u8; 6],
    local: Ipv4Addr,
    remote: Ipv4Addr,
}

/// Outer Ethernet (to the TAP), IPv4 (DF, TTL 64), UDP (checksum zero, as RFC
/// 7348 has it for VXLAN over IPv4: the kernel's segmentation keeps it zero in
/// every segment) and VXLAN headers for `inner_len` bytes of inner frame.
fn write_outer(out: &mut [u8], ends: &Ends, vni: u32, inner_len: usize) {
    let (local, remote) = (ends.local, ends.remote);
    out[0..6].copy_from_slice(&ends.tap_mac);
    out[6..12].copy_from_slice(&SRC_MAC);
    out[12..14].copy_from_slice(&ether::ETH_P_IPV4.to_be_bytes());
    let udp_len = 8 + vxlan::HEADER_LEN + inner_len;
    let ip = &mut out[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
    ip[6] = 0x40; // DF: the switch answers path-MTU itself
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&local.octets());
    ip[16..20].copy_from_slice(&remote.octets());
    let c = checksum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let udp = &mut out[34..42];
    // Source port 4789 as on the VXLAN socket: a flow's super-frames and its small
    // packets (sent there) must reach the same socket at the far end, or a receiver
    // with several poll threads could reorder them.
    udp[0..2].copy_from_slice(&vxlan::UDP_PORT.to_be_bytes());
    udp[2..4].copy_from_slice(&vxlan::UDP_PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    udp[6..8].fill(0);
    vxlan::write_header(&mut out[42..], vni);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_bad_ones_say_what_is_allowed() {
        assert_eq!("auto".parse::<UplinkMode>(), Ok(UplinkMode::Auto));
        assert_eq!("tap".parse::<UplinkMode>(), Ok(UplinkMode::Tap));
        assert_eq!("off".parse::<UplinkMode>(), Ok(UplinkMode::Off));
        let e = "fast".parse::<UplinkMode>().expect_err("refused");
        assert!(e.contains("auto, tap, off"), "{e}");
    }

    #[test]
    fn outer_headers_are_valid_ipv4_udp_vxlan() {
        let mut out = [0u8; OUTER];
        let (l, r) = (Ipv4Addr::new(192, 168, 1, 1), Ipv4Addr::new(192, 168, 1, 2));
        let ends = Ends {
            tap_mac: [2, 0, 0, 0, 0, 9],
            local: l,
            remote: r,
        };
        write_outer(&mut out, &ends, 0x1234, 1000);
        assert_eq!(out[0..6], [2, 0, 0, 0, 0, 9]);
        assert_eq!(u16::from_be_bytes([out[34], out[35]]), vxlan::UDP_PORT);
        assert_eq!(u16::from_be_bytes([out[36], out[37]]), vxlan::UDP_PORT);
        assert_eq!(checksum::checksum(&out[14..34]), 0, "IPv4 header checksum");
        assert_eq!(
            u16::from_be_bytes([out[16], out[17]]) as usize,
            20 + 8 + 8 + 1000
        );
        assert_eq!(
            u16::from_be_bytes([out[38], out[39]]) as usize,
            8 + 8 + 1000
        );
        assert_eq!(vxlan::parse_header(&out[42..]), Ok(0x1234));
        assert_eq!(out[40..42], [0, 0], "UDP checksum zero");
    }
}
