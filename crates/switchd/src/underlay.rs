//! What switchd knows of the underlay towards each remote tunnel endpoint: the local
//! address the kernel's routing would send from and the route's MTU (a connected,
//! unsent UDP socket: `getsockname` and `IP_MTU`). Looked up on first use, kept for
//! [`REFRESH`], forgotten when ports change. The MTU decides which frames get a
//! path-MTU error and which received datagrams can only be whole super-frames.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// How long a looked-up path is trusted.
pub const REFRESH: Duration = Duration::from_secs(10);
/// The MTU assumed when the route cannot be looked up.
pub const DEFAULT_MTU: usize = 1500;
/// Most remotes remembered (all are forgotten when there are more).
const MAX_PATHS: usize = 4096;

/// The underlay path to one remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path {
    /// Local source address (None: no route).
    pub source: Option<Ipv4Addr>,
    /// The route's MTU, in bytes of IP packet.
    pub mtu: usize,
}

#[derive(Debug, Default)]
pub struct Underlay {
    /// Looked up for every frame sent to a tunnel: the engine's fast hasher.
    paths: HashMap<Ipv4Addr, (Path, Instant)>,
}

impl Underlay {
    /// The path to `remote`, looked up when not known or older than [`REFRESH`].
    pub fn path(&mut self, remote: Ipv4Addr, now: Instant) -> Path {
        if let Some((p, at)) = self.paths.get(&remote)
            && now.duration_since(*at) < REFRESH
        {
            return *p;
        }
        let p = match host::route_to(remote) {
            Ok((source, mtu)) => Path {
                source: Some(source),
                mtu: mtu as usize,
            },
            Err(_) => Path {
                source: None,
                mtu: DEFAULT_MTU,
            },
        };
        if self.paths.len() >= MAX_PATHS {
            self.paths.clear();
        }
        self.paths.insert(remote, (p, now));
        p
    }

    /// Forgets every path (routes or addresses may have changed).
    pub fn forget(&mut self) {
        self.paths.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_path_is_found_and_cached() {
        let mut u = Underlay::default();
        let t0 = Instant::now();
        let p = u.path(Ipv4Addr::LOCALHOST, t0);
        assert_eq!(p.source, Some(Ipv4Addr::LOCALHOST));
        assert!(p.mtu >= 1500, "loopback MTU {}", p.mtu);
        assert_eq!(u.path(Ipv4Addr::LOCALHOST, t0 + Duration::from_secs(1)), p);
        u.forget();
        assert!(u.paths.is_empty());
    }
}
