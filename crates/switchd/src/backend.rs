//! Port backends: the device or socket behind each port, opened from its config.

use crate::Result;
use switch::{PortConfig, PortType};
use wire::MacAddr;

/// What carries a port's frames.
pub(crate) enum Backend {
    /// A TAP device (also `internal` ports), opened with a virtio-net header.
    Tap(TapQueues),
    /// An existing interface through AF_PACKET.
    Packet(host::PacketSocket),
    /// Tunnel ports send through the shared socket of their kind.
    Tunnel,
    /// Patch ports never leave the engine.
    Patch,
    /// The device could not be opened; the port exists but carries nothing.
    Failed(String),
}

/// A TAP device's queues: one per poll thread when the device is multi-queue (the
/// VM's kernel spreads its flows over them, and each thread reads and writes its
/// own), else one that every thread writes to.
pub(crate) struct TapQueues {
    first: host::Tap,
    more: Vec<host::Tap>,
}

impl TapQueues {
    /// The queue poll thread `worker` reads and writes.
    pub fn queue(&self, worker: usize) -> &host::Tap {
        match worker % (1 + self.more.len()) {
            0 => &self.first,
            i => self.more.get(i - 1).unwrap_or(&self.first),
        }
    }

    fn all(&self) -> impl Iterator<Item = &host::Tap> {
        std::iter::once(&self.first).chain(&self.more)
    }

    /// Keeps the first `n` queues (at least one) and closes the others, which
    /// detaches them from the device: the VM's kernel stops sending into them.
    pub fn truncate(&mut self, n: usize) {
        self.more.truncate(n.saturating_sub(1));
    }
}

impl Backend {
    /// The fds poll threads read: a multi-queue TAP's i-th goes to thread i.
    pub fn fds(&self) -> Vec<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        match self {
            Backend::Tap(t) => t.all().map(AsRawFd::as_raw_fd).collect(),
            Backend::Packet(p) if p.receives() => vec![p.as_raw_fd()],
            _ => Vec::new(),
        }
    }
}

fn configure_tap(cfg: &PortConfig, queues: usize) -> Result<TapQueues> {
    let mut all = host::Tap::open_queues(&cfg.name, queues)?.into_iter();
    let tap = all
        .next()
        .ok_or_else(|| crate::Error::Io(format!("no queue of TAP '{}' opened", cfg.name)))?;
    tap.set_persist(true)?;
    // The VM may hand us TCP super-frames with partial checksums: they cross the
    // switch whole and are cut only where a port cannot take them.
    tap.set_offload(host::TUN_F_CSUM | host::TUN_F_TSO4 | host::TUN_F_TSO6)?;
    if let Some(m) = &cfg.mac
        && let Ok(mac) = m.parse::<MacAddr>()
    {
        host::set_mac(&cfg.name, mac.0)?;
    }
    if let Some(mtu) = cfg.mtu {
        host::set_mtu(&cfg.name, mtu)?;
    }
    host::set_up(&cfg.name, true)?;
    Ok(TapQueues {
        first: tap,
        more: all.collect(),
    })
}

/// Opens (or, after a restart, re-attaches to) a port's device. TAP devices are made
/// persistent so they, and the addresses a VM put on them, survive a switchd restart;
/// a tap for another namespace is created inside it (the fd works from anywhere).
/// TAPs get `queues` queues (multi-queue when more than one; a device that exists
/// keeps the mode it was made with).
/// `receive: false` opens a veth port's host end or a system port for sending only
/// (the kernel fast path reads what arrives on it).
pub(crate) fn open(cfg: &PortConfig, queues: usize, receive: bool) -> Result<Backend> {
    Ok(match cfg.kind {
        PortType::Tap | PortType::Internal => match &cfg.netns {
            Some(ns) => {
                if !host::netns_exists(ns) {
                    return Err(crate::Error::Io(format!(
                        "network namespace '{ns}' does not exist"
                    )));
                }
                let c = cfg.clone();
                Backend::Tap(host::in_netns(ns, move || configure_tap(&c, queues))??)
            }
            None => Backend::Tap(configure_tap(cfg, queues)?),
        },
        PortType::System => {
            if !host::link_exists(&cfg.name) {
                return Err(crate::Error::Io(format!(
                    "no interface named '{}' to attach",
                    cfg.name
                )));
            }
            host::set_up(&cfg.name, true)?;
            Backend::Packet(if receive {
                host::PacketSocket::bind_with(&cfg.name, true)?
            } else {
                host::PacketSocket::bind_tx(&cfg.name, true)?
            })
        }
        PortType::Veth => Backend::Packet(open_veth(cfg, receive)?),
        PortType::Vxlan | PortType::Gre | PortType::Geneve => Backend::Tunnel,
        PortType::Patch => Backend::Patch,
    })
}

/// A veth port: the pair is made when the host's end does not exist yet (after a
/// restart it does, and is taken as it is); the VM's end gets the port's MAC and
/// MTU inside its namespace; the host's end is read with AF_PACKET and
/// virtio-net headers, so super-frames cross whole as on a TAP (or, with the kernel
/// fast path, only written to).
fn open_veth(cfg: &PortConfig, receive: bool) -> Result<host::PacketSocket> {
    let host_end = switch::veth_host_end(&cfg.name);
    let ns = cfg
        .netns
        .clone()
        .ok_or_else(|| crate::Error::Io(format!("veth port '{}' has no namespace", cfg.name)))?;
    if !host::netns_exists(&ns) {
        return Err(crate::Error::Io(format!(
            "network namespace '{ns}' does not exist"
        )));
    }
    if !host::link_exists(&host_end) {
        let fd = host::open_netns(&ns)?;
        use std::os::fd::AsFd;
        host::create_veth(&host_end, &cfg.name, fd.as_fd())?;
    }
    let c = cfg.clone();
    host::in_netns(&ns, move || -> Result<()> {
        if let Some(m) = &c.mac
            && let Ok(mac) = m.parse::<MacAddr>()
        {
            host::set_mac(&c.name, mac.0)?;
        }
        if let Some(mtu) = c.mtu {
            host::set_mtu(&c.name, mtu)?;
        }
        host::set_up(&c.name, true)?;
        Ok(())
    })??;
    if let Some(mtu) = cfg.mtu {
        host::set_mtu(&host_end, mtu)?;
    }
    host::set_up(&host_end, true)?;
    Ok(if receive {
        host::PacketSocket::bind_with(&host_end, true)?
    } else {
        host::PacketSocket::bind_tx(&host_end, true)?
    })
}

/// Closes a removed port: a TAP loses persistence so its device disappears; a
/// veth port's pair is deleted.
pub(crate) fn close(cfg: &PortConfig, b: &Backend) {
    if let Backend::Tap(t) = b
        && let Err(e) = t.first.set_persist(false)
    {
        tracing::warn!("un-persisting {}: {e}", t.first.name());
    }
    if cfg.kind == PortType::Veth {
        let host_end = switch::veth_host_end(&cfg.name);
        if host::link_exists(&host_end)
            && let Err(e) = host::delete_link(&host_end)
        {
            tracing::warn!("deleting veth {host_end}: {e}");
        }
    }
}
