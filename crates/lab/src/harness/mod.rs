//! The two-host harness of the integration tests and benches: two "hypervisors" H1
//! and H2 (network namespaces joined by a veth underlay, 192.168.100.1/24 and
//! 192.168.100.2/24), one `neutrino switchd` per host, and "VMs" (namespaces whose
//! NIC is a TAP port of the host's br-int, or a veth behind a kernel vxlan device).
//! Hosts are wired by hand as Neutron's OVS agent would (br-int, br-tun, patch
//! ports, a tunnel port, the br-tun flows of `agent::flows`).
//!
//! It is built from the lab's pieces ([`crate::net`], [`crate::procs`],
//! [`crate::switchd`], [`crate::cmd`]), which return errors. The harness itself is
//! for tests: its methods are checks, and a failed one panics with the command, its
//! output and both switches' state (as `assert!` does), so a test reads as a list
//! of steps. Everything lives in namespaces it creates; nothing is added to the
//! root namespace. Dropping a [`TwoHosts`] (also while a test panics) kills its
//! switchds by PID and deletes every namespace it made.
//!
//! Names are unique per process and per test (`nt<pid%10000><tag>...`), so tests
//! may run in parallel. All interface and namespace names are at most 15 bytes.
//!
//! The benches also want fewer hosts ([`Layout`]): one host whose switchd joins
//! two VMs on the same br-int, or none at all (two VMs on a veth pair, the kernel's
//! ceiling); the hosts that are not made are never started or wired.

mod ovs;
mod switch;
mod text;
mod traffic;
mod vm;

pub use crate::checks::{kernel_at_least, status_field};
pub use crate::cmd::{CMD_TIMEOUT, Run, run, tail};
pub use crate::switchd::READY_WITHIN as SWITCHD_READY_WITHIN;
pub use crate::tunnel::{NET1, NET2, TunnelNet, TunnelType, br_tun_flows, net_flows};
pub use ovs::Ovs;
pub use text::{mentions_table, normalize_flows};
pub use vm::{configure_nic, wait_nic};

use crate::{Result, checks, fail, net, procs};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

pub const H1_IP: &str = "192.168.100.1";
pub const H2_IP: &str = "192.168.100.2";

/// How long connectivity may take to come up (first successful ping).
pub const PING_WITHIN: Duration = Duration::from_secs(10);

/// VM MTU (1500 underlay minus VXLAN/GRE overhead), as Neutron sets it.
pub const VM_MTU: &str = "1450";

/// True when the harness can run. Not root: skip (false) unless `CI=true`, where
/// it panics. Missing `ip`/`ping`: panics, naming the package.
pub fn lab_available() -> bool {
    if !checks::is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "switch integration tests need root (network namespaces, TAP, veth); \
                 CI=true so this is a failure, not a skip"
            );
        }
        eprintln!("SKIP: switch integration tests need root (network namespaces); not root");
        return false;
    }
    require_tool("ip", "iproute2");
    require_tool("ping", "iputils-ping");
    true
}

/// Panics with the Debian package to install if `tool` is not found.
pub fn require_tool(tool: &str, debian_package: &str) {
    if let Err(e) = checks::tool(tool, debian_package) {
        panic!("{e}");
    }
}

/// `ip ARGS...`, which must succeed; its stdout.
pub fn ip(args: &[&str]) -> String {
    ip_try(args).expect_ok().stdout
}

/// `ip ARGS...`, result not checked.
pub fn ip_try(args: &[&str]) -> Run {
    run("ip", args, None, CMD_TIMEOUT)
}

/// Which hosts [`TwoHosts::create_layout`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// H1 and H2 joined by the veth underlay (what the tests use).
    TwoHosts,
    /// H1 alone, no underlay.
    OneHost,
    /// No host: only the VMs' namespaces, made later.
    VmsOnly,
}

impl Layout {
    /// The hosts this layout makes.
    pub fn hosts(self) -> &'static [H] {
        match self {
            Layout::TwoHosts => &[H::H1, H::H2],
            Layout::OneHost => &[H::H1],
            Layout::VmsOnly => &[],
        }
    }
}

/// One of the two hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H {
    H1,
    H2,
}

impl H {
    fn idx(self) -> usize {
        match self {
            H::H1 => 0,
            H::H2 => 1,
        }
    }
}

pub struct Host {
    /// Namespace name.
    pub ns: String,
    /// Underlay (tunnel) IP of this host.
    pub ip: &'static str,
    /// Underlay IP of the other host.
    pub remote_ip: &'static str,
    /// switchd's run directory (control socket, state file).
    pub run_dir: PathBuf,
    /// switchd's log (every start appends to it).
    pub log: PathBuf,
    /// The running switchd's PID.
    daemon: Option<u32>,
}

impl Host {
    /// The PID of the switchd running on this host, if one does.
    pub fn switchd(&self) -> Option<u32> {
        self.daemon
    }
}

/// A VM: a namespace with one NIC.
#[derive(Clone, Debug)]
pub struct Vm {
    pub host: H,
    pub ns: String,
    /// Interface name inside `ns` (the TAP port's name on br-int).
    pub tap: String,
    pub ip: &'static str,
    pub mac: &'static str,
    pub tag: u16,
}

/// Two hosts with their underlay, their switchds and VMs.
pub struct TwoHosts {
    /// `<pid%10000><tag>`, part of every name.
    pub uid: String,
    /// `nt<uid>`: every namespace's name starts with it.
    pub prefix: String,
    /// The harness's files (run directories, logs), removed on a clean drop.
    pub dir: PathBuf,
    /// The neutrino binary under test.
    pub neutrino: PathBuf,
    namespaces: Vec<String>,
    hosts: Vec<Host>,
    /// Left up on drop ([`TwoHosts::keep`]).
    kept: bool,
    /// What [`TwoHosts::start_switchd`] passes to every switchd (two poll threads
    /// whatever the machine, so every test crosses threads); a test that is about
    /// the user-space path adds `--fast-path off`.
    pub switchd_args: Vec<String>,
}

impl TwoHosts {
    /// Creates H1 and H2 with the veth underlay; `neutrino` is the binary the hosts
    /// run. `tag`: 1-3 alphanumerics, unique per test.
    pub fn new(neutrino: impl AsRef<Path>, tag: &str) -> TwoHosts {
        assert!(
            !tag.is_empty() && tag.len() <= 3 && tag.bytes().all(|b| b.is_ascii_alphanumeric()),
            "test tag must be 1-3 alphanumerics: {tag:?}"
        );
        let pid = std::process::id();
        let uid = format!("{:04}{tag}", pid % 10000);
        let dir = std::env::temp_dir().join(format!("ntest-{pid}-{tag}"));
        match TwoHosts::create(neutrino.as_ref(), &format!("nt{uid}"), &uid, &dir) {
            Ok(lab) => lab,
            Err(e) => panic!("{e}"),
        }
    }

    /// Creates H1 and H2 (namespaces `PREFIXh1`, `PREFIXh2`) joined by the veth
    /// underlay (`PREFIXu1`, `PREFIXu2`); VM TAPs will be `tapUIDvN`. `dir` is made
    /// afresh for the hosts' files. On an error, what was made is removed.
    pub fn create(neutrino: &Path, prefix: &str, uid: &str, dir: &Path) -> Result<TwoHosts> {
        TwoHosts::create_layout(neutrino, prefix, uid, dir, Layout::TwoHosts)
    }

    /// [`TwoHosts::create`] making only the hosts of `layout` (and the underlay
    /// when there are two).
    pub fn create_layout(
        neutrino: &Path,
        prefix: &str,
        uid: &str,
        dir: &Path,
        layout: Layout,
    ) -> Result<TwoHosts> {
        if prefix.len() > 10 || format!("tap{uid}v9").len() > 15 {
            return Err(fail!(
                "prefix {prefix} or uid {uid} too long for 15-byte device names"
            ));
        }
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| fail!("cannot create {}: {e}", dir.display()))?;
        let host = |n: &str, ip, remote_ip| {
            let run_dir = dir.join(n);
            Host {
                ns: format!("{prefix}{n}"),
                ip,
                remote_ip,
                log: run_dir.join("switchd.log"),
                run_dir,
                daemon: None,
            }
        };
        let hosts = vec![host("h1", H1_IP, H2_IP), host("h2", H2_IP, H1_IP)];
        let mut lab = TwoHosts {
            uid: uid.to_string(),
            prefix: prefix.to_string(),
            dir: dir.to_path_buf(),
            neutrino: neutrino.to_path_buf(),
            namespaces: Vec::new(),
            hosts,
            kept: false,
            switchd_args: vec!["--poll-threads".into(), "2".into()],
        };
        for h in layout.hosts() {
            let ns = lab.host(*h).ns.clone();
            lab.try_add_ns(&ns)?;
        }
        if layout != Layout::TwoHosts {
            return Ok(lab);
        }
        let (h1, h2) = (lab.hosts[0].ns.clone(), lab.hosts[1].ns.clone());
        // Underlay: veth created inside H1 with its peer created in H2.
        let (u1, u2) = (format!("{prefix}u1"), format!("{prefix}u2"));
        net::veth(&h1, &u1, &h2, &u2)?;
        net::addr_up(&h1, &u1, &format!("{H1_IP}/24"))?;
        net::addr_up(&h2, &u2, &format!("{H2_IP}/24"))?;
        Ok(lab)
    }

    /// Standard two-host lab over `t`: neutrino on both hosts, network NET1,
    /// vm1 (H1, 10.0.0.2) and vm2 (H2, 10.0.0.4) on local VLAN 1.
    pub fn two_vms(neutrino: impl AsRef<Path>, tag: &str, t: TunnelType) -> (TwoHosts, Vm, Vm) {
        let mut lab = TwoHosts::new(neutrino, tag);
        let (vm1, vm2) = lab.add_two_vms(t);
        (lab, vm1, vm2)
    }

    /// The standard two-host setup of [`TwoHosts::two_vms`] on hosts already made
    /// (for tests that change the hosts first).
    pub fn add_two_vms(&mut self, t: TunnelType) -> (Vm, Vm) {
        self.setup_switch_host(H::H1, t, &[NET1]);
        self.setup_switch_host(H::H2, t, &[NET1]);
        let vm1 = self.vm(H::H1, 1, "10.0.0.2", "fa:16:3e:00:00:01", 1);
        let vm2 = self.vm(H::H2, 2, "10.0.0.4", "fa:16:3e:00:00:04", 1);
        self.attach_vm(&vm1);
        self.attach_vm(&vm2);
        (vm1, vm2)
    }

    pub fn host(&self, h: H) -> &Host {
        &self.hosts[h.idx()]
    }

    /// Creates namespace `name` (registered for deletion first), `lo` up.
    pub fn add_ns(&mut self, name: &str) {
        if let Err(e) = self.try_add_ns(name) {
            panic!("{e}");
        }
    }

    /// [`TwoHosts::add_ns`], returning errors.
    pub fn try_add_ns(&mut self, name: &str) -> Result<()> {
        if name.len() > 15 {
            return Err(fail!("namespace name too long: {name}"));
        }
        // A stale namespace from an earlier crashed run with the same pid%10000.
        let _ = net::del_netns(name);
        self.namespaces.push(name.to_string());
        net::add_netns(name)
    }

    /// The namespaces made, in creation order.
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Leaves everything up when dropped (for `neutrino lab pair up`, whose
    /// `down` removes it).
    pub fn keep(mut self) {
        self.kept = true;
    }

    /// Switch state of both hosts, switchd log tails and VM interfaces, for
    /// failure messages.
    pub fn diag(&self) -> String {
        let mut s = String::from("==== diagnostics ====\n");
        for (h, host) in [H::H1, H::H2].into_iter().zip(&self.hosts) {
            let _ = writeln!(s, "--- host {} ({}) ---", host.ns, host.ip);
            if host.daemon.is_some() {
                for cmd in [
                    &["show"][..],
                    &["dump-ports", "br-int"],
                    &["dump-ports", "br-tun"],
                    &["fdb-show", "br-int"],
                    &["dump-flows", "br-int"],
                    &["dump-flows", "br-tun"],
                ] {
                    let r = self.switch_timeout(h, cmd, None, Duration::from_secs(5));
                    let _ = writeln!(s, "{}", r.describe());
                }
                let _ = writeln!(s, "switchd log tail:\n{}", tail(&host.log, 25));
            }
        }
        for ns in &self.namespaces {
            let r = ip_try(&["-n", ns, "-br", "addr"]);
            let _ = writeln!(
                s,
                "[{ns}] {}",
                r.stdout.trim_end().replace('\n', &format!("\n[{ns}] "))
            );
            let r = ip_try(&["-n", ns, "neigh"]);
            if !r.stdout.trim().is_empty() {
                let _ = writeln!(
                    s,
                    "[{ns}] neigh: {}",
                    r.stdout.trim_end().replace('\n', "; ")
                );
            }
        }
        s
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let panicking = thread::panicking();
        for host in &mut self.hosts {
            if let Some(pid) = host.daemon.take() {
                procs::kill(pid, &host.run_dir.display().to_string());
            }
        }
        if panicking {
            for host in &self.hosts {
                if host.log.exists() {
                    eprintln!(
                        "---- switchd log {} (tail) ----\n{}",
                        host.ns,
                        tail(&host.log, 60)
                    );
                }
            }
        }
        for ns in self.namespaces.iter().rev() {
            let _ = net::del_netns(ns);
        }
        net::remove_bpf_pins_under(&self.dir);
        if panicking {
            eprintln!("test dir kept for inspection: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
