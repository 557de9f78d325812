//! Shared helpers for the switch integration tests.
//!
//! A [`Lab`] is two "hypervisors" H1 and H2 (network namespaces joined by a veth
//! underlay, 192.168.100.1/24 and 192.168.100.2/24), one `neutrino switchd` per
//! host, and "VMs" (namespaces whose NIC is a TAP port of the host's br-int).
//! Everything lives in namespaces this module creates; nothing is added to the
//! root namespace. Dropping the `Lab` (also while a test panics) kills the
//! switchd children by PID and deletes every namespace it made.
//!
//! Names are unique per test process and per test (`nt<pid%10000><tag>...`),
//! so tests may run in parallel. All interface/namespace names are <= 15 bytes.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_neutrino");

pub const H1_IP: &str = "192.168.100.1";
pub const H2_IP: &str = "192.168.100.2";

/// How long connectivity may take to come up (first successful ping).
pub const PING_WITHIN: Duration = Duration::from_secs(10);
/// How long switchd may take to answer `switch show` after start.
pub const SWITCHD_READY_WITHIN: Duration = Duration::from_secs(10);
/// Upper bound for any single CLI / ip invocation.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

/// VM MTU (1500 underlay minus VXLAN/GRE overhead), as Neutron sets it.
pub const VM_MTU: &str = "1450";

// ---------------------------------------------------------------------------
// Environment checks

/// Returns true when the lab can run. Not root: skip (return false) unless
/// `CI=true`, where it fails. Missing `ip`/`ping`: fail, naming the package.
pub fn lab_available() -> bool {
    if !is_root() {
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
    if find_in_path(tool).is_none() {
        panic!(
            "`{tool}` not found in PATH (or /usr/sbin, /sbin): install the Debian package `{debian_package}`"
        );
    }
}

fn is_root() -> bool {
    // Effective uid is the second number of the `Uid:` line.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            status_field(&s, "Uid").and_then(|v| v.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The value of field `key` in a /proc `status` file (`Uid`, `Cpus_allowed_list`).
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The running kernel is at least `major.minor` (from /proc/sys/kernel/osrelease).
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut v = r
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (major, minor)
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

// ---------------------------------------------------------------------------
// Running commands (always with a timeout, output captured)

#[derive(Debug)]
pub struct Run {
    pub cmdline: String,
    /// None if the command timed out and was killed.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn describe(&self) -> String {
        let status = match self.status {
            Some(s) => format!("{s}"),
            None => "TIMED OUT (killed)".to_string(),
        };
        format!(
            "$ {}\n  status: {status}\n  stdout: {}\n  stderr: {}",
            self.cmdline,
            indent(self.stdout.trim_end()),
            indent(self.stderr.trim_end())
        )
    }

    /// Panics with the full command, status and output unless it succeeded.
    pub fn expect_ok(self) -> Self {
        if !self.ok() {
            panic!("command failed:\n{}", self.describe());
        }
        self
    }
}

fn indent(s: &str) -> String {
    s.replace('\n', "\n          ")
}

/// Runs `program args...`, feeding `stdin` if given, killing it after `timeout`.
pub fn run(program: &str, args: &[&str], stdin: Option<&str>, timeout: Duration) -> Run {
    let cmdline = std::iter::once(program)
        .chain(args.iter().copied())
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn `{cmdline}`: {e}"));

    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().expect("stdin piped");
        let input = input.to_owned();
        thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
            // dropping `pipe` closes it: EOF for the child
        })
    });
    let out_reader = reader_thread(child.stdout.take().expect("stdout piped"));
    let err_reader = reader_thread(child.stderr.take().expect("stderr piped"));

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for `{cmdline}`: {e}"),
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    Run {
        cmdline,
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn reader_thread(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `ip ARGS...`, which must succeed.
pub fn ip(args: &[&str]) -> String {
    run("ip", args, None, CMD_TIMEOUT).expect_ok().stdout
}

/// `ip ARGS...`, result not checked.
pub fn ip_try(args: &[&str]) -> Run {
    run("ip", args, None, CMD_TIMEOUT)
}

// ---------------------------------------------------------------------------
// Flows

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tunnel {
    Vxlan,
    Gre,
}

impl Tunnel {
    pub fn type_name(self) -> &'static str {
        match self {
            Tunnel::Vxlan => "vxlan",
            Tunnel::Gre => "gre",
        }
    }

    /// Neutron's port name toward `remote_ip`: `vxlan-c0a86402`, `gre-c0a86402`.
    pub fn port_name(self, remote_ip: &str) -> String {
        format!("{}-{}", self.type_name(), ip_hex(remote_ip))
    }

    /// br-tun table classifying traffic from this tunnel type (GRE 3, VXLAN 4).
    pub fn classifier_table(self) -> u8 {
        match self {
            Tunnel::Vxlan => 4,
            Tunnel::Gre => 3,
        }
    }
}

pub fn ip_hex(ip: &str) -> String {
    let a: Ipv4Addr = ip.parse().expect("IPv4 address");
    a.octets().iter().map(|o| format!("{o:02x}")).collect()
}

/// A tenant network: segmentation id (VNI / GRE key) and the host's local VLAN.
#[derive(Clone, Copy, Debug)]
pub struct Net {
    pub vni: u32,
    pub vlan: u16,
}

pub const NET1: Net = Net { vni: 0x64, vlan: 1 };
pub const NET2: Net = Net { vni: 0x65, vlan: 2 };

/// The two per-network flows of br-tun: tun_id -> local VLAN (table 3/4) and
/// local VLAN -> tunnel flood (table 22).
pub fn net_flows(t: Tunnel, tun_port: &str, net: Net) -> [String; 2] {
    [
        format!(
            "table={},priority=1,tun_id={:#x},actions=mod_vlan_vid:{},resubmit(,10)",
            t.classifier_table(),
            net.vni,
            net.vlan
        ),
        format!(
            "table=22,priority=1,dl_vlan={},actions=strip_vlan,set_tunnel:{:#x},output:{tun_port}",
            net.vlan, net.vni
        ),
    ]
}

/// Neutron OVS agent's br-tun pipeline for one tunnel port and `nets`.
pub fn br_tun_flows(t: Tunnel, tun_port: &str, nets: &[Net]) -> String {
    let per_net: Vec<[String; 2]> = nets.iter().map(|n| net_flows(t, tun_port, *n)).collect();
    let mut f = String::new();
    let mut line = |s: &str| {
        f.push_str(s);
        f.push('\n');
    };
    line("table=0,priority=1,in_port=patch-int,actions=resubmit(,2)");
    line(&format!(
        "table=0,priority=1,in_port={tun_port},actions=resubmit(,{})",
        t.classifier_table()
    ));
    line("table=0,priority=0,actions=drop");
    line("table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)");
    line("table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)");
    if t == Tunnel::Gre {
        per_net.iter().for_each(|p| line(&p[0]));
    }
    line("table=3,priority=0,actions=drop");
    if t == Tunnel::Vxlan {
        per_net.iter().for_each(|p| line(&p[0]));
    }
    line("table=4,priority=0,actions=drop");
    line(
        "table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x1,\
         NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],\
         load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:patch-int",
    );
    line("table=20,priority=0,actions=resubmit(,22)");
    per_net.iter().for_each(|p| line(&p[1]));
    line("table=22,priority=0,actions=drop");
    f
}

/// True if `text` says "table N" in some spelling: `table 22`, `table=22`,
/// `Table: 22`, `table #22` (case-insensitive, exact number).
pub fn mentions_table(text: &str, n: u32) -> bool {
    let lower = text.to_ascii_lowercase();
    let b = lower.as_bytes();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("table") {
        let mut i = from + pos + "table".len();
        let mut skipped = 0;
        while i < b.len() && skipped < 3 && matches!(b[i], b' ' | b'\t' | b'=' | b':' | b'#') {
            i += 1;
            skipped += 1;
        }
        let digits = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i > digits && lower[digits..i].parse::<u32>() == Ok(n) {
            return true;
        }
        from += pos + "table".len();
    }
    false
}

/// Flow dump without volatile fields (durations, counters, ages), one entry
/// per flow line, sorted: comparable across time.
pub fn normalize_flows(dump: &str) -> Vec<String> {
    const VOLATILE: &[&str] = &[
        "duration",
        "n_packets",
        "n_bytes",
        "idle_age",
        "hard_age",
        "packets",
        "bytes",
        "age",
        "used",
        "idle_time",
    ];
    let mut v: Vec<String> = dump
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|tok| !tok.is_empty())
                .filter(|tok| {
                    let key = tok.split(['=', ':']).next().unwrap_or("");
                    !VOLATILE.contains(&key.to_ascii_lowercase().as_str())
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// The lab

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
    pub run_dir: PathBuf,
    log: PathBuf,
    daemon: Option<Child>,
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

pub struct Lab {
    /// `<pid%10000><tag>`, part of every name.
    pub uid: String,
    pub prefix: String,
    pub dir: PathBuf,
    namespaces: Vec<String>,
    hosts: Vec<Host>,
}

impl Lab {
    /// Creates H1 and H2 with the veth underlay. `tag`: 1-3 chars, unique per test.
    pub fn new(tag: &str) -> Lab {
        assert!(
            !tag.is_empty() && tag.len() <= 3 && tag.bytes().all(|b| b.is_ascii_alphanumeric()),
            "test tag must be 1-3 alphanumerics: {tag:?}"
        );
        let pid = std::process::id();
        let uid = format!("{:04}{tag}", pid % 10000);
        let prefix = format!("nt{uid}");
        let dir = std::env::temp_dir().join(format!("ntest-{pid}-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create test dir");

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
        let mut lab = Lab {
            uid,
            prefix,
            dir,
            namespaces: Vec::new(),
            hosts,
        };

        let (h1, h2) = (lab.hosts[0].ns.clone(), lab.hosts[1].ns.clone());
        lab.add_ns(&h1);
        lab.add_ns(&h2);
        // Underlay: veth created inside H1 with its peer created in H2.
        let (u1, u2) = (format!("{}u1", lab.prefix), format!("{}u2", lab.prefix));
        ip(&[
            "-n", &h1, "link", "add", &u1, "type", "veth", "peer", "name", &u2, "netns", &h2,
        ]);
        ip(&["-n", &h1, "addr", "add", &format!("{H1_IP}/24"), "dev", &u1]);
        ip(&["-n", &h2, "addr", "add", &format!("{H2_IP}/24"), "dev", &u2]);
        ip(&["-n", &h1, "link", "set", &u1, "up"]);
        ip(&["-n", &h2, "link", "set", &u2, "up"]);
        lab
    }

    /// Standard two-host lab over `t`: neutrino on both hosts, network NET1,
    /// vm1 (H1, 10.0.0.2) and vm2 (H2, 10.0.0.4) on local VLAN 1.
    pub fn two_vms(tag: &str, t: Tunnel) -> (Lab, Vm, Vm) {
        let mut lab = Lab::new(tag);
        let (vm1, vm2) = lab.add_two_vms(t);
        (lab, vm1, vm2)
    }

    /// The standard two-host setup of [`Lab::two_vms`] on a lab already made (for
    /// tests that change the hosts first).
    pub fn add_two_vms(&mut self, t: Tunnel) -> (Vm, Vm) {
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
        assert!(name.len() <= 15, "namespace name too long: {name}");
        // A stale namespace from an earlier crashed run with the same pid%10000.
        let _ = ip_try(&["netns", "del", name]);
        self.namespaces.push(name.to_string());
        ip(&["netns", "add", name]);
        ip(&["-n", name, "link", "set", "lo", "up"]);
    }

    // --- switchd -----------------------------------------------------------

    /// Starts `ip netns exec HOST neutrino switchd --run-dir DIR` and waits
    /// until `switch show` succeeds.
    pub fn start_switchd(&mut self, h: H) {
        // Two poll threads whatever the machine, so every test crosses threads.
        self.start_switchd_with(h, &["--poll-threads", "2"]);
    }

    /// [`Lab::start_switchd`] with other command-line options.
    pub fn start_switchd_with(&mut self, h: H, extra: &[&str]) {
        let host = &mut self.hosts[h.idx()];
        assert!(
            host.daemon.is_none(),
            "switchd already running on {}",
            host.ns
        );
        std::fs::create_dir_all(&host.run_dir).expect("create run dir");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&host.log)
            .expect("open switchd log");
        let _ = writeln!(&log, "---- test harness: starting switchd ----");
        let child = Command::new("ip")
            .args(["netns", "exec", &host.ns, BIN, "switchd", "--run-dir"])
            .arg(&host.run_dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn switchd in {}: {e}", host.ns));
        host.daemon = Some(child);
        self.wait_switchd_ready(h);
    }

    fn wait_switchd_ready(&mut self, h: H) {
        let deadline = Instant::now() + SWITCHD_READY_WITHIN;
        loop {
            let exited = self.hosts[h.idx()]
                .daemon
                .as_mut()
                .expect("daemon")
                .try_wait()
                .expect("try_wait switchd");
            if let Some(status) = exited {
                self.hosts[h.idx()].daemon = None;
                panic!(
                    "switchd on {} exited early ({status}); log:\n{}",
                    self.host(h).ns,
                    tail(&self.host(h).log, 40)
                );
            }
            let r = self.switch_timeout(h, &["show"], None, Duration::from_secs(5));
            if r.ok() {
                // A foreground daemon must still be running once it answers.
                thread::sleep(Duration::from_millis(50));
                let host = &mut self.hosts[h.idx()];
                if let Ok(Some(status)) = host.daemon.as_mut().expect("daemon").try_wait() {
                    host.daemon = None;
                    panic!(
                        "switchd on {} answered `switch show` but then exited ({status}); it must \
                         stay in the foreground. log:\n{}",
                        self.host(h).ns,
                        tail(&self.host(h).log, 40)
                    );
                }
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "switchd on {} not ready after {SWITCHD_READY_WITHIN:?}; last attempt:\n{}\nlog:\n{}",
                    self.host(h).ns,
                    r.describe(),
                    tail(&self.host(h).log, 40)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn switchd_pid(&self, h: H) -> u32 {
        self.host(h).daemon.as_ref().expect("switchd running").id()
    }

    /// Kills switchd by PID (SIGKILL) and reaps it.
    pub fn kill_switchd(&mut self, h: H) {
        let mut child = self.hosts[h.idx()].daemon.take().expect("switchd running");
        let _ = child.kill();
        let _ = child.wait();
    }

    fn switch_timeout(&self, h: H, args: &[&str], stdin: Option<&str>, timeout: Duration) -> Run {
        let dir = self
            .host(h)
            .run_dir
            .to_str()
            .expect("utf-8 run dir")
            .to_string();
        let mut full = vec!["switch", "--run-dir", dir.as_str()];
        full.extend_from_slice(args);
        run(BIN, &full, stdin, timeout)
    }

    /// `neutrino switch --run-dir HOSTDIR ARGS...` from the root namespace.
    pub fn switch(&self, h: H, args: &[&str]) -> Run {
        self.switch_timeout(h, args, None, CMD_TIMEOUT)
    }

    /// Same, with `input` on stdin.
    pub fn switch_stdin(&self, h: H, args: &[&str], input: &str) -> Run {
        self.switch_timeout(h, args, Some(input), CMD_TIMEOUT)
    }

    /// Runs a switch command that must succeed; returns its stdout.
    pub fn switch_ok(&self, h: H, args: &[&str]) -> String {
        let r = self.switch(h, args);
        if !r.ok() {
            panic!(
                "switch command on {} failed:\n{}\nswitchd log:\n{}",
                self.host(h).ns,
                r.describe(),
                tail(&self.host(h).log, 30)
            );
        }
        r.stdout
    }

    /// Name of host `h`'s tunnel port toward the other host.
    pub fn tunnel_port(&self, h: H, t: Tunnel) -> String {
        t.port_name(self.host(h).remote_ip)
    }

    /// Starts switchd on `h` and installs br-int, br-tun, the patch pair, the
    /// tunnel port to the other host and the br-tun flows for `nets`.
    pub fn setup_switch_host(&mut self, h: H, t: Tunnel, nets: &[Net]) {
        self.start_switchd(h);
        let (local, remote) = (self.host(h).ip, self.host(h).remote_ip);
        let tun = self.tunnel_port(h, t);
        self.switch_ok(h, &["add-br", "br-int"]);
        self.switch_ok(h, &["add-br", "br-tun"]);
        self.switch_ok(
            h,
            &[
                "add-port",
                "br-int",
                "patch-tun",
                "--type",
                "patch",
                "--peer",
                "patch-int",
            ],
        );
        self.switch_ok(
            h,
            &[
                "add-port",
                "br-tun",
                "patch-int",
                "--type",
                "patch",
                "--peer",
                "patch-tun",
            ],
        );
        self.switch_ok(
            h,
            &[
                "add-port",
                "br-tun",
                &tun,
                "--type",
                t.type_name(),
                "--remote-ip",
                remote,
                "--local-ip",
                local,
                "--key",
                "flow",
            ],
        );
        let flows = br_tun_flows(t, &tun, nets);
        let r = self.switch_stdin(h, &["replace-flows", "br-tun", "-"], &flows);
        if !r.ok() {
            panic!(
                "replace-flows br-tun failed on {}:\n{}\nflows:\n{flows}",
                self.host(h).ns,
                r.describe()
            );
        }
    }

    // --- VMs ---------------------------------------------------------------

    /// Describes VM number `n` on host `h` (names only; see `attach_vm`).
    pub fn vm(&self, h: H, n: u8, ip: &'static str, mac: &'static str, tag: u16) -> Vm {
        let tap = format!("tap{}v{n}", self.uid);
        assert!(tap.len() <= 15, "tap name too long: {tap}");
        Vm {
            host: h,
            ns: format!("{}v{n}", self.prefix),
            tap,
            ip,
            mac,
            tag,
        }
    }

    /// Creates the VM namespace, the TAP port on host's br-int (`--netns`,
    /// `--tag`, `--mac`), and configures IP and MTU inside the VM.
    pub fn attach_vm(&mut self, vm: &Vm) {
        self.add_ns(&vm.ns);
        let tag = vm.tag.to_string();
        self.switch_ok(
            vm.host,
            &[
                "add-port", "br-int", &vm.tap, "--type", "tap", "--netns", &vm.ns, "--tag", &tag,
                "--mac", vm.mac,
            ],
        );
        self.wait_vm_nic(vm, Duration::from_secs(5));
        self.configure_vm_ip(vm);
    }

    /// Waits until the VM's NIC exists inside its namespace with the right MAC.
    pub fn wait_vm_nic(&self, vm: &Vm, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let r = ip_try(&["-n", &vm.ns, "link", "show", "dev", &vm.tap]);
            if r.ok() {
                assert!(
                    r.stdout.to_ascii_lowercase().contains(vm.mac),
                    "{} in {} should have MAC {} (--mac):\n{}",
                    vm.tap,
                    vm.ns,
                    vm.mac,
                    r.stdout
                );
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "TAP {} did not appear in namespace {} within {within:?} (switchd must create it \
                     and move it there):\n{}\n{}",
                    vm.tap,
                    vm.ns,
                    r.describe(),
                    self.diag()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// `ip addr add IP/24 dev NIC; ip link set NIC mtu 1450 up` inside the VM.
    pub fn configure_vm_ip(&self, vm: &Vm) {
        ip(&[
            "-n",
            &vm.ns,
            "addr",
            "add",
            &format!("{}/24", vm.ip),
            "dev",
            &vm.tap,
        ]);
        ip(&[
            "-n", &vm.ns, "link", "set", "dev", &vm.tap, "mtu", VM_MTU, "up",
        ]);
        ip(&["-n", &vm.ns, "link", "set", "lo", "up"]);
    }

    /// Re-applies the VM-side IP config if the NIC lost it (e.g. the TAP was
    /// re-created by a restarted switchd). Returns true if it had to.
    pub fn ensure_vm_ip(&self, vm: &Vm) -> bool {
        let addrs = ip(&["-n", &vm.ns, "-4", "addr", "show", "dev", &vm.tap]);
        if addrs.contains(&format!("{}/24", vm.ip)) {
            ip(&["-n", &vm.ns, "link", "set", "dev", &vm.tap, "up"]);
            false
        } else {
            self.configure_vm_ip(vm);
            true
        }
    }

    /// Host `h` as a plain Linux hypervisor: kernel vxlan device (VNI `vni`,
    /// remote = other host) + Linux bridge + veth into the VM namespace.
    pub fn attach_kernel_vxlan_vm(&mut self, vm: &Vm, vni: u32) {
        let hns = self.host(vm.host).ns.clone();
        let (local, remote) = (self.host(vm.host).ip, self.host(vm.host).remote_ip);
        self.add_ns(&vm.ns);
        let vni_s = vni.to_string();
        let vx = format!("vxlan{vni}");
        let br = "brk";
        let hveth = format!("{}kh", self.prefix);
        ip(&[
            "-n",
            &hns,
            "link",
            "add",
            &vx,
            "type",
            "vxlan",
            "id",
            &vni_s,
            "dstport",
            "4789",
            "local",
            local,
            "remote",
            remote,
            "nolearning",
        ]);
        ip(&["-n", &hns, "link", "add", br, "type", "bridge"]);
        ip(&[
            "-n", &hns, "link", "add", &hveth, "type", "veth", "peer", "name", &vm.tap, "netns",
            &vm.ns,
        ]);
        ip(&[
            "-n", &vm.ns, "link", "set", "dev", &vm.tap, "address", vm.mac,
        ]);
        ip(&[
            "-n", &hns, "link", "set", &vx, "mtu", VM_MTU, "master", br, "up",
        ]);
        ip(&[
            "-n", &hns, "link", "set", &hveth, "mtu", VM_MTU, "master", br, "up",
        ]);
        ip(&["-n", &hns, "link", "set", br, "up"]);
        self.configure_vm_ip(vm);
    }

    // --- traffic -----------------------------------------------------------

    /// `ip netns exec VM ping -c COUNT -W 1 -i 0.2 IP`.
    pub fn ping(&self, from: &Vm, ip: &str, count: u32) -> Run {
        self.ping_with(from, ip, count, &[])
    }

    /// `ping` with more options (`-6`, `-s 2000`; a later `-W` wins).
    pub fn ping_with(&self, from: &Vm, ip: &str, count: u32, extra: &[&str]) -> Run {
        let c = count.to_string();
        let mut args = vec![
            "netns", "exec", &from.ns, "ping", "-c", &c, "-W", "1", "-i", "0.2",
        ];
        args.extend_from_slice(extra);
        args.push(ip);
        run("ip", &args, None, Duration::from_secs(5 + u64::from(count)))
    }

    /// Moves `megabytes` of TCP from `from` to `to` with iperf3 (server in `to`),
    /// then the same back (`-R`); panics unless both complete. TCP super-frames
    /// cross the switch here, so this exercises segmentation, GRO and checksums.
    pub fn tcp_transfer(&self, from: &Vm, to: &Vm, megabytes: u32) {
        require_tool("iperf3", "iperf3");
        let size = format!("{megabytes}M");
        for reverse in [false, true] {
            let mut server = iperf3_server(to, "5201");
            let mut args = vec![
                "netns", "exec", &from.ns, "iperf3", "-c", to.ip, "-p", "5201", "-n", &size,
            ];
            if reverse {
                args.push("-R");
            }
            let start = Instant::now();
            let mut last = None;
            while start.elapsed() < Duration::from_secs(30) {
                let r = run("ip", &args, None, Duration::from_secs(30));
                if r.ok() {
                    last = None;
                    break;
                }
                last = Some(r.describe());
                thread::sleep(Duration::from_millis(200));
            }
            let _ = server.kill();
            let _ = server.wait();
            if let Some(err) = last {
                panic!(
                    "TCP transfer {} -> {} (reverse={reverse}) failed:\n{err}\n{}",
                    from.ns,
                    to.ip,
                    self.diag()
                );
            }
        }
    }

    /// Sends `megabytes` of seeded pseudo-random bytes over TCP from `from` to `to` and
    /// asserts the receiver's SHA-256 equals the sender's.
    pub fn checked_stream(&self, from: &Vm, to: &Vm, megabytes: u32) {
        const PY: &str = r#"
import hashlib, random, socket, sys
n = int(sys.argv[2]) << 20
if sys.argv[1] == "recv":
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", 5301)); l.listen(1); l.settimeout(30); c, _ = l.accept()
    h, got = hashlib.sha256(), 0
    while got < n:
        b = c.recv(1 << 20)
        if not b: break
        h.update(b); got += len(b)
    print(got, h.hexdigest())
else:
    r = random.Random(5301); block = bytes(r.getrandbits(8) for _ in range(1 << 16))
    import time
    for attempt in range(50):
        try:
            c = socket.create_connection((sys.argv[3], 5301), timeout=30); break
        except ConnectionRefusedError:
            time.sleep(0.2)
    else:
        sys.exit("receiver never listened")
    h, sent = hashlib.sha256(), 0
    while sent < n:
        b = block[sent % 4099:] + block[:sent % 4099]
        b = b[: n - sent]
        c.sendall(b); h.update(b); sent += len(b)
    c.shutdown(socket.SHUT_WR)
    print(sent, h.hexdigest())
"#;
        let mb = megabytes.to_string();
        let server = std::process::Command::new("ip")
            .args(["netns", "exec", &to.ns, "python3", "-c", PY, "recv", &mb])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn receiver");
        std::thread::sleep(Duration::from_millis(500));
        let sent = run(
            "ip",
            &[
                "netns", "exec", &from.ns, "python3", "-c", PY, "send", &mb, to.ip,
            ],
            None,
            Duration::from_secs(60),
        );
        let got = server.wait_with_output().expect("receiver output");
        let got = String::from_utf8_lossy(&got.stdout).trim().to_string();
        assert!(
            sent.ok(),
            "sender failed: {}\n{}",
            sent.describe(),
            self.diag()
        );
        assert_eq!(
            got,
            sent.stdout.trim(),
            "{} -> {}: the receiver's bytes differ from what was sent\n{}",
            from.ns,
            to.ns,
            self.diag()
        );
    }

    /// (rx, tx) packets of `port` on `bridge` of host `h`, from `dump-ports`.
    pub fn port_counts(&self, h: H, bridge: &str, port: &str) -> (u64, u64) {
        let [(rx, _), (tx, _)] = self.port_stats(h, bridge, port);
        (rx, tx)
    }

    /// [(rx packets, rx bytes), (tx packets, tx bytes)] of `port` on `bridge` of
    /// host `h`, from `dump-ports`.
    pub fn port_stats(&self, h: H, bridge: &str, port: &str) -> [(u64, u64); 2] {
        let dump = self.switch_ok(h, &["dump-ports", bridge]);
        let mut lines = dump
            .lines()
            .skip_while(|l| !l.trim_end().ends_with(&format!(" {port}:")));
        let num = |l: Option<&str>, name: &str| -> u64 {
            l.and_then(|l| l.split(&format!(" {name}=")).nth(1))
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} counter for {port}:\n{dump}"))
        };
        lines.next();
        let (rx, tx) = (lines.next(), lines.next());
        [
            (num(rx, "pkts"), num(rx, "bytes")),
            (num(tx, "pkts"), num(tx, "bytes")),
        ]
    }

    /// Lines in host `h`'s switchd log so far.
    pub fn log_lines(&self, h: H) -> usize {
        std::fs::read_to_string(&self.host(h).log)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    /// switchd's (allocations since start, live heap bytes) on host `h`, from the
    /// memory line of `switch show` ("memory: B bytes in use, A allocations ...").
    pub fn heap(&self, h: H) -> (u64, u64) {
        match self.show_numbers(h, "memory: ").as_deref() {
            Some([live, allocations, ..]) => (*allocations, *live),
            _ => panic!("no memory line in show:\n{}", self.switch_ok(h, &["show"])),
        }
    }

    /// Floods `to` with `len`-byte UDP datagrams from `from` for `secs` seconds at
    /// `rate` (iperf3's -b, e.g. "20M"; iperf3 sends in bursts every millisecond);
    /// returns (sent, received) datagrams.
    pub fn udp_flood(&self, from: &Vm, to: &Vm, len: u32, rate: &str, secs: u32) -> (u64, u64) {
        self.udp_flood_to(from, to, to.ip, len, rate, secs)
    }

    /// Asserts a flood sent over 1,000 datagrams and more than half arrived.
    pub fn assert_flood_arrived(&self, what: &str, sent: u64, received: u64) {
        assert!(
            sent > 1000 && received * 2 > sent,
            "{what}: {received} of {sent} datagrams arrived\n{}",
            self.diag()
        );
    }

    /// [`Lab::udp_flood`] to another of `to`'s addresses (an IPv6 one).
    pub fn udp_flood_to(
        &self,
        from: &Vm,
        to: &Vm,
        addr: &str,
        len: u32,
        rate: &str,
        secs: u32,
    ) -> (u64, u64) {
        require_tool("iperf3", "iperf3");
        let mut server = iperf3_server(to, "5203");
        let (len, secs) = (len.to_string(), secs.to_string());
        let mut last = None;
        for _ in 0..20 {
            thread::sleep(Duration::from_millis(200));
            let r = run(
                "ip",
                &[
                    "netns", "exec", &from.ns, "iperf3", "-c", addr, "-p", "5203", "-u", "-b",
                    rate, "-l", &len, "-t", &secs, "-J",
                ],
                None,
                Duration::from_secs(30),
            );
            if r.ok() {
                last = Some(r);
                break;
            }
        }
        let _ = server.kill();
        let _ = server.wait();
        let r = last
            .unwrap_or_else(|| panic!("UDP flood {} -> {addr} failed\n{}", from.ns, self.diag()));
        let field = |name: &str| -> u64 {
            // "sum": {... "packets": N, "lost_packets": M ...} in the end section.
            let end = r.stdout.rsplit("\"sum\"").next().unwrap_or_default();
            end.split(&format!("\"{name}\":"))
                .nth(1)
                .and_then(|v| v.split([',', '}']).next())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in iperf3 output:\n{}", r.stdout))
        };
        let sent = field("packets");
        (sent, sent.saturating_sub(field("lost_packets")))
    }

    /// The VXLAN small-packet run counters of host `h`'s `switch show`: (UDP GSO
    /// sends, packets they carried), zero when the line is absent.
    pub fn tx_runs(&self, h: H) -> (u64, u64) {
        self.show_pair(h, "vxlan small-packet runs: ")
    }

    /// The UDP runs written into VM ports on host `h`: (UDP GSO writes, datagrams).
    pub fn udp_runs(&self, h: H) -> (u64, u64) {
        self.show_pair(h, "udp runs into VM ports: ")
    }

    /// The first two numbers of the `switch show` line starting with `prefix`
    /// ((0, 0) when there is none).
    fn show_pair(&self, h: H, prefix: &str) -> (u64, u64) {
        let nums = self.show_numbers(h, prefix).unwrap_or_default();
        (
            nums.first().copied().unwrap_or(0),
            nums.get(1).copied().unwrap_or(0),
        )
    }

    /// The numbers, in order, of the `switch show` line starting with `prefix`.
    pub fn show_numbers(&self, h: H, prefix: &str) -> Option<Vec<u64>> {
        let show = self.switch_ok(h, &["show"]);
        let line = show.lines().find_map(|l| l.strip_prefix(prefix))?;
        Some(
            line.split(|c: char| !c.is_ascii_digit())
                .filter_map(|p| p.parse().ok())
                .collect(),
        )
    }

    /// Retries `ping -c 3` from `from` to `ip` until one succeeds; panics with
    /// switch state and logs if none did `within`.
    pub fn wait_ping(&self, from: &Vm, ip: &str, within: Duration) {
        self.wait_ping_with(from, ip, &[], within);
    }

    /// [`Lab::wait_ping`] with more ping options.
    pub fn wait_ping_with(&self, from: &Vm, ip: &str, extra: &[&str], within: Duration) {
        let start = Instant::now();
        loop {
            let r = self.ping_with(from, ip, 3, extra);
            if r.ok() {
                eprintln!("{} -> {ip}: ok after {:?}", from.ns, start.elapsed());
                return;
            }
            if start.elapsed() >= within {
                panic!(
                    "{} ({}) cannot ping {ip} within {within:?}; last attempt:\n{}\n{}",
                    from.ns,
                    from.ip,
                    r.describe(),
                    self.diag()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn flush_neigh(&self, vm: &Vm) {
        ip(&["-n", &vm.ns, "neigh", "flush", "dev", &vm.tap]);
    }

    /// MAC the VM resolved for `ip` (`ip neigh`), lowercase.
    pub fn neigh_mac(&self, vm: &Vm, ip_addr: &str) -> Option<String> {
        let out = ip(&["-n", &vm.ns, "neigh", "show", ip_addr, "dev", &vm.tap]);
        let mut toks = out.split_whitespace();
        while let Some(t) = toks.next() {
            if t == "lladdr" {
                return toks.next().map(str::to_ascii_lowercase);
            }
        }
        None
    }

    /// Switch state of both hosts, switchd log tails and VM interfaces, for
    /// failure messages.
    pub fn diag(&self) -> String {
        let mut s = String::from("==== diagnostics ====\n");
        for (i, host) in self.hosts.iter().enumerate() {
            let h = if i == 0 { H::H1 } else { H::H2 };
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

impl Drop for Lab {
    fn drop(&mut self) {
        let panicking = thread::panicking();
        for host in &mut self.hosts {
            if let Some(mut child) = host.daemon.take() {
                let _ = child.kill();
                let _ = child.wait();
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
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if panicking {
            eprintln!("test dir kept for inspection: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A one-shot iperf3 server in `vm` on `port` (the caller kills and reaps it).
fn iperf3_server(vm: &Vm, port: &str) -> Child {
    Command::new("ip")
        .args(["netns", "exec", &vm.ns, "iperf3", "-s", "-1", "-p", port])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn iperf3 server")
}

/// Last `n` lines of a file (or a note that it cannot be read).
pub fn tail(path: &Path, n: usize) -> String {
    let mut s = String::new();
    match File::open(path).and_then(|mut f| f.read_to_string(&mut s)) {
        Ok(_) => {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
