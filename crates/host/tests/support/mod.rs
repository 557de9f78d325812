//! Test scaffolding: root check, throw-away network namespaces, polling.
//!
//! Everything a test does happens inside namespaces it created; the root namespace's
//! interfaces, addresses and routes are never touched.

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// True when the tests can run. Not root: a failure under CI=true, else a note and `false`.
pub fn require_root(test: &str) -> bool {
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid == 0 {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: host tests need root (network namespaces, TAP devices); CI runs as root");
    }
    eprintln!("note: {test} skipped: needs root (network namespaces, TAP devices)");
    false
}

/// A network namespace made with `ip netns add` and deleted on drop (also when a test fails).
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("nthost{}-{}", std::process::id(), n);
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ARGS...`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full);
    }

    /// `ip -n NAME -d -o link show DEV`.
    fn link_show(&self, dev: &str) -> String {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-d", "-o", "link", "show", "dev", dev])
            .output()
            .expect("run ip");
        assert!(out.status.success(), "ip link show {dev} in {}", self.name);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The link's flags (between `<` and `>`).
    pub fn link_flags(&self, dev: &str) -> Vec<String> {
        let text = self.link_show(dev);
        let start = text.find('<').expect("flags start") + 1;
        let end = text.find('>').expect("flags end");
        text[start..end].split(',').map(str::to_owned).collect()
    }

    /// The link's promiscuity count (packet sockets raise it without showing PROMISC).
    pub fn promiscuity(&self, dev: &str) -> u32 {
        let text = self.link_show(dev);
        let mut words = text.split_whitespace();
        words
            .find(|w| *w == "promiscuity")
            .expect("promiscuity shown");
        words
            .next()
            .and_then(|n| n.parse().ok())
            .expect("promiscuity count")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Runs `ip ARGS...`, panicking with its stderr on failure.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Calls `f` until it yields something, failing after 5 s. `WouldBlock` means "not yet".
pub fn poll<T>(what: &str, mut f: impl FnMut() -> std::io::Result<Option<T>>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match f() {
            Ok(Some(v)) => return v,
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{what}: {e}"),
        }
        assert!(Instant::now() < deadline, "{what}: timed out");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An Ethernet frame with the local experimental EtherType 0x88b5 and `marker` as payload,
/// optionally 802.1Q-tagged with `vlan`.
pub fn test_frame(marker: &[u8], vlan: Option<u16>) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    if let Some(tci) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(marker);
    f.resize(f.len().max(60), 0);
    f
}

/// How long a closed TAP fd may stay referenced elsewhere: a thread of this test binary that
/// forks (to run `ip`) holds a copy of every fd until its child execs, so a TAP closed just
/// then is detached (and, unless persistent, deleted) a moment later.
const FORK_WINDOW: Duration = Duration::from_secs(5);

/// `Tap::open`, retried while the device is still attached to a just-closed fd (EBUSY).
pub fn reopen_tap(name: &str, vnet_hdr: bool) -> host::Tap {
    let deadline = Instant::now() + FORK_WINDOW;
    loop {
        match host::Tap::open(name, vnet_hdr) {
            Ok(tap) => return tap,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("reopen {name}: {e}"),
        }
    }
}

/// Waits until link `name` is gone from the calling thread's namespace.
pub fn wait_link_gone(name: &str) {
    let deadline = Instant::now() + FORK_WINDOW;
    while host::link_exists(name) {
        assert!(Instant::now() < deadline, "{name} still exists");
        std::thread::sleep(Duration::from_millis(10));
    }
}
