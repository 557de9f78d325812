//! The bench's reference for a userspace switch on TAPs, for TCP: a relay that moves
//! frames between a VM's TAP and the tunnel (or between two VMs' TAPs) through the
//! kernel interfaces switchd uses for TCP — TAP reads and writes with virtio-net
//! headers, TCP super-frames out the uplink TAP with GSO over UDP tunnels, VXLAN
//! received whole on a UDP_GRO socket — one write per frame, and one read per
//! frame or UDP GRO run, on each host, and nothing else: no tables, no flow cache, no learning, no checksum
//! checks, no counters. It drains up to 64 frames per descriptor a turn (between two
//! TAPs it reads the batch, then writes it, as switchd does), and polls
//! and sleeps by switchd's own policy (`switchd::spin`, its default 300 us; the
//! NEUTRINO_POLL_* settings do not apply): after light traffic it keeps reading,
//! yielding the CPU, before it sleeps in poll(2); under bulk it sleeps at once.
//! What it reaches with TCP is what these interfaces give a switch that does no
//! work of its own on this machine: against the kernel path, the interfaces' cost;
//! against switchd, switchd's (switchd has matched it, within a few per cent either
//! way, so it is a reference, not a proven bound). Small packets are not its
//! business: it sends each one alone (no UDP GSO runs, no merged TAP writes), so its
//! 64-byte UDP rate says nothing.
//! Not a product: `bench/switch_throughput.sh` runs it (rows `relay-vxlan` and
//! `relay-same-host`), inside namespaces the bench made.
//!
//! Usage (inside a host namespace; prints "ready" once set up):
//!   tap_relay vxlan NAME NETNS MAC LOCAL_IP REMOTE_IP VNI
//!   tap_relay pair NAME1 NETNS1 MAC1 NAME2 NETNS2 MAC2

use std::io::{self, ErrorKind, IoSlice};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use host::{Tap, UdpTunnelSocket, UplinkTap};
use switchd::PollSpin;
use switchd::spin::SpinPolicy;
use switchd::uplink::{UPLINK_NAME, UplinkSender};
use wire::virtio::{F_DATA_VALID, HDR_LEN, VirtioNetHdr};
use wire::{MacAddr, vxlan};

/// Room for a 64 KB super-frame and its headers.
const BUF: usize = 65_536 + 256;
/// The lab's underlay MTU.
const UNDERLAY_MTU: usize = 1500;
/// How long to keep reading after the last frame before sleeping in poll(2), as
/// switchd's poll threads do by default (`--poll-spin-us 300`).
const SPIN: PollSpin = PollSpin::Micros(300);
/// Where a VXLAN header starts in a buffer: the inner frame then starts at HDR_LEN,
/// right after the virtio-net header a TAP reads or writes, so a frame crosses
/// between TAP and tunnel without moving (only the 12 or 8 header bytes change).
const VXLAN_AT: usize = HDR_LEN - vxlan::HEADER_LEN;
/// Reads from one descriptor per turn at most (switchd's batch).
const BATCH: usize = 64;
/// Largest inner frame of one tunnel packet: what a received super-frame's segments
/// are cut to (switchd's own rule: the underlay MTU less outer IPv4, UDP and VXLAN,
/// at most a 1500-byte packet).
const MAX_SEGMENT_FRAME: usize = {
    let m = UNDERLAY_MTU - 20 - 8 - vxlan::HEADER_LEN;
    if m < 1514 { m } else { 1514 }
};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["vxlan", name, ns, mac, local, remote, vni] => {
            let tap = open_vm_tap(name, ns, mac)?;
            let local: Ipv4Addr = local.parse().context("LOCAL_IP")?;
            let remote: Ipv4Addr = remote.parse().context("REMOTE_IP")?;
            let vni: u32 = vni.parse().context("VNI")?;
            let uplink = UplinkTap::open(UPLINK_NAME)?;
            let sock = UdpTunnelSocket::bind(local, vxlan::UDP_PORT)?;
            sock.enable_gro()?;
            let ends = Ends { local, remote, vni };
            ready()?;
            relay_vxlan(&tap, &uplink, &sock, &ends)
        }
        ["pair", n1, ns1, m1, n2, ns2, m2] => {
            let a = open_vm_tap(n1, ns1, m1)?;
            let b = open_vm_tap(n2, ns2, m2)?;
            ready()?;
            relay_pair(&a, &b)
        }
        _ => bail!(
            "usage: tap_relay vxlan NAME NETNS MAC LOCAL_IP REMOTE_IP VNI | pair NAME1 NETNS1 MAC1 NAME2 NETNS2 MAC2"
        ),
    }
}

/// Tells the bench every device and socket is open.
fn ready() -> Result<()> {
    use std::io::Write;
    let mut out = io::stdout();
    writeln!(out, "ready")?;
    out.flush()?;
    Ok(())
}

/// A VM's TAP as switchd makes it: in the VM's namespace, virtio-net headers, TSO and
/// checksum offload, the VM's MAC, up.
fn open_vm_tap(name: &str, ns: &str, mac: &str) -> Result<Tap> {
    let MacAddr(m) = mac
        .parse()
        .map_err(|e| anyhow::anyhow!("MAC {mac:?}: {e}"))?;
    let name = name.to_owned();
    let tap = host::in_netns(ns, move || -> host::Result<Tap> {
        let tap = Tap::open(&name, true)?;
        tap.set_offload(host::TUN_F_CSUM | host::TUN_F_TSO4 | host::TUN_F_TSO6)?;
        host::set_mac(&name, m)?;
        host::set_up(&name, true)?;
        Ok(tap)
    })??;
    Ok(tap)
}

struct Ends {
    local: Ipv4Addr,
    remote: Ipv4Addr,
    vni: u32,
}

/// Waits until one of `fds` is readable.
fn wait(fds: [i32; 2]) -> io::Result<()> {
    let mut p = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: p is a live array of p.len() pollfds for the call's duration.
    let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, -1) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

/// Whether a read or write error only means "nothing now".
fn nothing_now(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
}

fn relay_pair(a: &Tap, b: &Tap) -> Result<()> {
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; BUF]).collect();
    let mut lens = [0usize; BATCH];
    let mut spin = SpinPolicy::new(SPIN, Instant::now());
    let mut last = None;
    loop {
        let mut moved = false;
        for (from, to) in [(a, b), (b, a)] {
            // A batch read first, then written out, as switchd does.
            let mut got = 0;
            while got < BATCH {
                match from.read(&mut bufs[got]) {
                    Ok(n) => {
                        let gso = VirtioNetHdr::parse(&bufs[got][..n]).is_ok_and(|h| h.is_gso());
                        spin.note_frame(gso);
                        lens[got] = n;
                        got += 1;
                    }
                    Err(e) if nothing_now(&e) => break,
                    Err(e) => return Err(e).context("TAP read"),
                }
            }
            for (buf, &n) in bufs.iter().zip(&lens).take(got) {
                // A full TAP queue drops, as a switch's would.
                let _ = to.write(&buf[..n]);
            }
            moved |= got > 0;
        }
        idle_or_not(moved, &mut spin, &mut last, [a.as_raw_fd(), b.as_raw_fd()])?;
    }
}

/// After a turn of reads: note when the last frame came; with none this turn, poll
/// on (yielding the CPU) or sleep until a descriptor is readable, as the policy says.
fn idle_or_not(
    moved: bool,
    spin: &mut SpinPolicy,
    last: &mut Option<Instant>,
    fds: [i32; 2],
) -> io::Result<()> {
    let now = Instant::now();
    if moved {
        *last = Some(now);
    } else if spin.should_spin(now, *last) {
        std::thread::yield_now();
    } else {
        wait(fds)?;
    }
    Ok(())
}

fn relay_vxlan(tap: &Tap, uplink: &UplinkTap, sock: &UdpTunnelSocket, ends: &Ends) -> Result<()> {
    let mut out = vec![0u8; BUF];
    let mut inb = vec![0u8; BUF];
    let mut sender = UplinkSender::default();
    let dst = SocketAddrV4::new(ends.remote, vxlan::UDP_PORT);
    let mut spin = SpinPolicy::new(SPIN, Instant::now());
    let mut last = None;
    loop {
        let mut moved = false;
        for _ in 0..BATCH {
            let Some(gso) = from_vm(tap, uplink, sock, ends, dst, &mut out, &mut sender)? else {
                break;
            };
            spin.note_frame(gso);
            moved = true;
        }
        for _ in 0..BATCH {
            let Some((datagrams, gso)) = from_tunnel(tap, sock, &mut inb)? else {
                break;
            };
            for _ in 0..datagrams {
                spin.note_frame(gso);
            }
            moved = true;
        }
        let fds = [tap.as_raw_fd(), sock.as_raw_fd()];
        idle_or_not(moved, &mut spin, &mut last, fds)?;
    }
}

/// One frame from the VM: a TCP super-frame out the uplink whole (one the uplink
/// refuses is dropped), anything else as one VXLAN datagram. Whether it was a
/// super-frame; None when the TAP had nothing.
fn from_vm(
    tap: &Tap,
    uplink: &UplinkTap,
    sock: &UdpTunnelSocket,
    ends: &Ends,
    dst: SocketAddrV4,
    buf: &mut [u8],
    sender: &mut UplinkSender,
) -> Result<Option<bool>> {
    let n = match tap.read(buf) {
        Ok(n) => n,
        Err(e) if nothing_now(&e) => return Ok(None),
        Err(e) => return Err(e).context("TAP read"),
    };
    let Ok(hdr) = VirtioNetHdr::parse(&buf[..n]) else {
        return Ok(Some(false));
    };
    if n <= HDR_LEN {
        return Ok(Some(false));
    }
    let (head, frame) = buf[..n].split_at_mut(HDR_LEN);
    if hdr.is_gso() {
        let (local, remote) = (ends.local, ends.remote);
        // A super-frame the uplink refuses is dropped: the relay cuts nothing in
        // software (the bench's VMs send only TCP super-frames the uplink takes).
        let _ = sender.send(uplink, frame, &hdr, ends.vni, local, remote, UNDERLAY_MTU);
        return Ok(Some(true));
    }
    if !offload::complete_checksum(frame, &hdr) {
        return Ok(Some(false));
    }
    vxlan::write_header(&mut head[VXLAN_AT..], ends.vni);
    let _ = sock.send_to(&buf[VXLAN_AT..n], dst);
    Ok(Some(false))
}

/// One datagram (or GRO run) from the tunnel into the VM's TAP: how many datagrams
/// and whether they carried a super-frame; None when the socket had nothing.
fn from_tunnel(tap: &Tap, sock: &UdpTunnelSocket, buf: &mut [u8]) -> Result<Option<(usize, bool)>> {
    let (n, _src, seg) = match sock.recv_segments(&mut buf[VXLAN_AT..]) {
        Ok(r) => r,
        Err(e) if nothing_now(&e) => return Ok(None),
        Err(e) => return Err(e).context("VXLAN receive"),
    };
    if seg >= n {
        // One datagram: not VXLAN, or too short to carry a frame, is dropped.
        if n < vxlan::HEADER_LEN + 14 || vxlan::parse_header(&buf[VXLAN_AT..VXLAN_AT + n]).is_err()
        {
            return Ok(Some((1, false)));
        }
        let frame = &buf[HDR_LEN..VXLAN_AT + n];
        let whole = offload::received_super_frame(frame, MAX_SEGMENT_FRAME);
        let hdr = whole.unwrap_or(VirtioNetHdr {
            flags: F_DATA_VALID,
            ..VirtioNetHdr::default()
        });
        hdr.write(&mut buf[..HDR_LEN]);
        let _ = tap.write(&buf[..VXLAN_AT + n]);
        return Ok(Some((1, whole.is_some())));
    }
    // A run of datagrams: each inner frame on its own (the outer UDP checksum, which
    // the kernel checked, covers it).
    let valid = {
        let mut h = [0u8; HDR_LEN];
        VirtioNetHdr {
            flags: F_DATA_VALID,
            ..VirtioNetHdr::default()
        }
        .write(&mut h);
        h
    };
    let run = &buf[VXLAN_AT..VXLAN_AT + n];
    let mut datagrams = 0;
    for d in run.chunks(seg.max(1)) {
        datagrams += 1;
        if d.len() >= vxlan::HEADER_LEN + 14 && vxlan::parse_header(d).is_ok() {
            let iov = [IoSlice::new(&valid), IoSlice::new(&d[vxlan::HEADER_LEN..])];
            let _ = tap.write_vectored(&iov);
        }
    }
    Ok(Some((datagrams, false)))
}
