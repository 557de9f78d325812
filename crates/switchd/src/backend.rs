//! Port backends: the device or socket behind each port, opened from its config.

use crate::Result;
use switch::{PortConfig, PortType};
use wire::MacAddr;

/// What carries a port's frames.
pub(crate) enum Backend {
    /// A TAP device (also `internal` ports), opened with a virtio-net header.
    Tap(host::Tap),
    /// An existing interface through AF_PACKET.
    Packet(host::PacketSocket),
    /// Tunnel ports send through the shared socket of their kind.
    Tunnel,
    /// Patch ports never leave the engine.
    Patch,
    /// The device could not be opened; the port exists but carries nothing.
    Failed(String),
}

impl Backend {
    pub fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        match self {
            Backend::Tap(t) => Some(t.as_raw_fd()),
            Backend::Packet(p) => Some(p.as_raw_fd()),
            _ => None,
        }
    }
}

fn configure_tap(cfg: &PortConfig) -> Result<host::Tap> {
    let tap = host::Tap::open(&cfg.name, true)?;
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
    Ok(tap)
}

/// Opens (or, after a restart, re-attaches to) a port's device. TAP devices are made
/// persistent so they, and the addresses a VM put on them, survive a switchd restart;
/// a tap for another namespace is created inside it (the fd works from anywhere).
pub(crate) fn open(cfg: &PortConfig) -> Result<Backend> {
    Ok(match cfg.kind {
        PortType::Tap | PortType::Internal => match &cfg.netns {
            Some(ns) => {
                if !host::netns_exists(ns) {
                    return Err(crate::Error::Io(format!(
                        "network namespace '{ns}' does not exist"
                    )));
                }
                let c = cfg.clone();
                Backend::Tap(host::in_netns(ns, move || configure_tap(&c))??)
            }
            None => Backend::Tap(configure_tap(cfg)?),
        },
        PortType::System => {
            if !host::link_exists(&cfg.name) {
                return Err(crate::Error::Io(format!(
                    "no interface named '{}' to attach",
                    cfg.name
                )));
            }
            host::set_up(&cfg.name, true)?;
            Backend::Packet(host::PacketSocket::bind_with(&cfg.name, true)?)
        }
        PortType::Vxlan | PortType::Gre => Backend::Tunnel,
        PortType::Patch => Backend::Patch,
    })
}

/// Closes a removed port: a TAP loses persistence so its device disappears.
pub(crate) fn close(b: &Backend) {
    if let Backend::Tap(t) = b
        && let Err(e) = t.set_persist(false)
    {
        tracing::warn!("un-persisting {}: {e}", t.name());
    }
}
