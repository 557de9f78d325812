//! `switchd`: the daemon around the `switch` engine — port backends (TAP, internal,
//! AF_PACKET system ports, veth pairs it makes, VXLAN over one UDP socket plus the uplink TAP for TCP
//! super-frames (kernel GSO over UDP tunnels, Linux 6.17+), GRE over one raw socket), the
//! datapath event loop, the kernel fast path (tc eBPF programs on veth ports that
//! carry the engine's decisions for the packets that follow; fastpath/), the control socket (`RUN_DIR/switchd.sock`, JSON lines, mode
//! 0600) and the state file (`RUN_DIR/state.json`, written atomically) it restores
//! from after a restart.
//!
//! It owns devices and sockets; it must not decide policy (which flows exist is the
//! agent's business) and holds no switching logic of its own (that is the engine's).
//! Poll threads (half the cores by default, `--poll-threads`) each read their own ports and their own
//! VXLAN socket; with several threads a VM's TAP is multi-queue and every thread reads and
//! writes its own queue. The engine sits behind one lock that a thread takes once per batch
//! of frames, and control requests take it between batches.

mod backend;
mod control;
mod convert;
mod datapath;
mod fastpath;
pub mod heap;
mod poll_cpus;
/// Public only for the bench's relay (examples/tap_relay.rs).
#[doc(hidden)]
pub mod spin;
mod state;
mod underlay;
/// Public only for the bench's relay (examples/tap_relay.rs).
#[doc(hidden)]
pub mod uplink;

pub use datapath::{Options, default_poll_threads, run};
pub use poll_cpus::parse_cpu_list;
pub use switch_proto::PollSpin;
pub use uplink::UplinkMode;

/// What can stop the daemon or a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Host(#[from] host::Error),
    #[error("state file {path}: {message}")]
    State { path: String, message: String },
    #[error("{0}")]
    Protocol(String),
}

impl Error {
    pub(crate) fn io(what: impl std::fmt::Display, e: std::io::Error) -> Error {
        Error::Io(format!("{what}: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The control socket's file name inside the run directory.
pub use switch_proto::SOCKET_NAME;
/// The state file's name inside the run directory.
pub const STATE_NAME: &str = "state.json";
