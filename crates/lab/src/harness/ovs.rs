//! An Open vSwitch host for the interop tests (issue 24): Debian's ovsdb-server
//! and ovs-vswitchd run privately inside one of the harness's host namespaces,
//! with their own database, run and log directories under the harness's dir
//! (nothing in the root namespace, no system service), the userspace datapath
//! (`datapath_type=netdev`), the underlay address on `br-phy` as OVS's userspace
//! tunnelling wants it, a VM on `br-int` and a tunnel port to the other host.
//! Dropping an [`Ovs`] stops both daemons by PID; the namespace goes with the
//! harness.

use super::{H, TwoHosts, Vm, run};
use crate::{Result, fail, procs};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// The Open vSwitch daemons of one host.
pub struct Ovs {
    pub host: H,
    pub ns: String,
    pub dir: PathBuf,
    pids: Vec<u32>,
}

impl TwoHosts {
    /// Starts ovsdb-server and ovs-vswitchd inside host `h`'s namespace and
    /// moves the host's underlay address from its veth to `br-phy` (netdev).
    pub fn start_ovs(&self, h: H) -> Result<Ovs> {
        for tool in ["ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl"] {
            crate::checks::tool(tool, "openvswitch-switch")?;
        }
        let host = self.host(h);
        let dir = self.dir.join(format!("ovs-{}", host.ns));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| fail!("cannot create {}: {e}", dir.display()))?;
        let db = dir.join("conf.db");
        let s = |p: &Path| p.display().to_string();
        check(run(
            "ovsdb-tool",
            &["create", &s(&db), SCHEMA],
            None,
            Duration::from_secs(10),
        ))?;
        let mut ovs = Ovs {
            host: h,
            ns: host.ns.clone(),
            dir: dir.clone(),
            pids: Vec::new(),
        };
        let env: Vec<(&str, String)> = ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"]
            .into_iter()
            .map(|k| (k, s(&dir)))
            .collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let sock = dir.join("db.sock");
        let server = vec![s(&db), format!("--remote=punix:{}", s(&sock))];
        ovs.pids.push(daemon(
            &host.ns,
            &dir,
            &env,
            "ovsdb-server",
            server,
            "ovsdb.ctl",
        )?);
        wait("the database socket", || sock.exists())?;
        ovs.vsctl(&["--no-wait", "init"])?;
        let switch = vec![format!("unix:{}", s(&sock))];
        ovs.pids.push(daemon(
            &host.ns,
            &dir,
            &env,
            "ovs-vswitchd",
            switch,
            "vswitchd.ctl",
        )?);
        let ctl = dir.join("vswitchd.ctl");
        wait("ovs-vswitchd's control socket", || ctl.exists())?;
        // The underlay: the host's veth on br-phy, its address on br-phy.
        let underlay = format!("{}u{}", self.prefix, if h == H::H1 { 1 } else { 2 });
        let cidr = format!("{}/24", host.ip);
        ovs.add_bridge("br-phy")?;
        ovs.vsctl(&["add-port", "br-phy", &underlay])?;
        super::ip(&["-n", &host.ns, "addr", "del", &cidr, "dev", &underlay]);
        wait("br-phy", || {
            super::ip_try(&["-n", &host.ns, "link", "show", "br-phy"]).ok()
        })?;
        super::ip(&["-n", &host.ns, "addr", "add", &cidr, "dev", "br-phy"]);
        super::ip(&["-n", &host.ns, "link", "set", "br-phy", "up"]);
        ovs.add_bridge("br-int")?;
        Ok(ovs)
    }

    /// A VM behind OVS: namespace `{prefix}o{n}`, a veth whose host end is a
    /// port of br-int, addressed `ip`/24 with the harness's VM MTU.
    pub fn ovs_vm(&mut self, ovs: &Ovs, n: u8, ip: &'static str, mac: &'static str) -> Vm {
        let vm = Vm {
            host: ovs.host,
            ns: format!("{}o{n}", self.prefix),
            tap: format!("tap{}o{n}", self.uid),
            ip,
            mac,
            tag: 0,
        };
        let host_end = format!("ovo{}{n}", self.uid);
        self.add_ns(&vm.ns);
        if let Err(e) = crate::net::veth(&ovs.ns, &host_end, &vm.ns, &vm.tap) {
            panic!("{e}");
        }
        super::ip(&["-n", &ovs.ns, "link", "set", &host_end, "up"]);
        super::ip(&["-n", &vm.ns, "link", "set", &vm.tap, "address", mac]);
        if let Err(e) = super::configure_nic(&vm.ns, &vm.tap, ip) {
            panic!("{e}");
        }
        // OVS's userspace datapath reads its ports with AF_PACKET and, without
        // its experimental userspace TSO, takes neither the VM's TCP super-frames
        // nor checksums left for offload: the VM segments and checksums itself.
        for (ns, dev) in [(&vm.ns, &vm.tap), (&ovs.ns, &host_end)] {
            let r = run(
                "ip",
                &[
                    "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso",
                    "off",
                ],
                None,
                Duration::from_secs(10),
            );
            assert!(r.ok(), "{}", r.describe());
        }
        if let Err(e) = ovs.vsctl(&["add-port", "br-int", &host_end]) {
            panic!("{e}");
        }
        vm
    }
}

impl Ovs {
    /// A bridge of the userspace datapath.
    fn add_bridge(&self, br: &str) -> Result<String> {
        self.vsctl(&[
            "add-br",
            br,
            "--",
            "set",
            "bridge",
            br,
            "datapath_type=netdev",
        ])
    }

    /// `ovs-vsctl` on this host's database.
    pub fn vsctl(&self, args: &[&str]) -> Result<String> {
        let db = format!("--db=unix:{}", self.dir.join("db.sock").display());
        let mut all = vec![db.as_str(), "--timeout=20"];
        all.extend_from_slice(args);
        check(run("ovs-vsctl", &all, None, Duration::from_secs(25))).map(|r| r.stdout)
    }

    /// `ovs-appctl` to this host's ovs-vswitchd.
    pub fn appctl(&self, args: &[&str]) -> Result<String> {
        let target = self.dir.join("vswitchd.ctl").display().to_string();
        let mut all = vec!["-t", target.as_str()];
        all.extend_from_slice(args);
        check(run("ovs-appctl", &all, None, Duration::from_secs(10))).map(|r| r.stdout)
    }

    /// The daemons' logs' tails and br-int's state, for failure messages.
    pub fn diag(&self) -> String {
        let mut s = String::from("==== open vswitch ====\n");
        s.push_str(&self.vsctl(&["show"]).unwrap_or_else(|e| e.to_string()));
        for a in [
            &["dpctl/dump-flows"][..],
            &["tnl/neigh/show"],
            &["ovs/route/show"],
        ] {
            s.push_str(&self.appctl(a).unwrap_or_else(|e| e.to_string()));
        }
        s.push_str(&super::tail(&self.dir.join("ovs-vswitchd.log"), 30));
        s
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        let marker = self.dir.display().to_string();
        for pid in self.pids.iter().rev() {
            procs::stop(*pid, &marker, Duration::from_secs(5));
        }
    }
}

fn check(r: super::Run) -> Result<super::Run> {
    if r.ok() {
        Ok(r)
    } else {
        Err(fail!("{}", r.describe()))
    }
}

/// Starts Open vSwitch daemon `name` in the foreground inside `ns` (so its PID is
/// ours), with `args` first, then its control socket `ctl` and pidfile in `dir`.
fn daemon(
    ns: &str,
    dir: &Path,
    env: &[(&str, &str)],
    name: &str,
    mut args: Vec<String>,
    ctl: &str,
) -> Result<u32> {
    args.push(format!("--unixctl={}", dir.join(ctl).display()));
    args.push(format!(
        "--pidfile={}",
        dir.join(format!("{name}.pid")).display()
    ));
    let log = dir.join(format!("{name}.log"));
    procs::spawn(ns, Path::new(name), &args, env, &log)
}

/// Waits up to 15 s for `ready`.
fn wait(what: &str, ready: impl Fn() -> bool) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(15);
    while !ready() {
        if Instant::now() > until {
            return Err(fail!("{what} did not appear within 15 s"));
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
