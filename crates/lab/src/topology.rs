//! Building and tearing down the lab: namespaces, cables, the server, switchd and
//! agents per node, and (for `up`) TenantA with two VMs.

use crate::api::Api;
use crate::checks::require_root;
use crate::state::{LabState, Node};
use crate::tunnel::TunnelType;
use crate::{Result, cmd, fail, net, procs, progress, switchd, vms};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const MGMT_NET: &str = "192.168.10";
pub const DATA_NET: &str = "192.168.100";
pub const CONTROLLER_IP: &str = "192.168.10.10";
pub const API_PORT: u16 = 9696;
const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Letters and digits, at most 8: every namespace is `PREFIX-...`.
    pub prefix: String,
    pub dir: PathBuf,
    pub tunnel_type: TunnelType,
    pub computes: u8,
    pub admin_password: Option<String>,
    /// The neutrino binary to run in the nodes.
    pub neutrino: PathBuf,
    /// Seconds between agent heartbeats.
    pub report_interval: u64,
    /// Create TenantA and its two VMs (what `lab up` shows); tests may skip it.
    pub with_vms: bool,
    /// With the VMs: the outside world, Ext-Net, TenantA's router and vm1's
    /// floating IP (the seeds' L3 walk).
    pub with_l3: bool,
    /// With `with_l3`: the router and the floating IP too (tests that make them
    /// themselves, e.g. with the openstack CLI, leave them out).
    pub with_router: bool,
    /// Ext-Net as a flat provider network on physnet `public`, mapped to br-ex on
    /// the network node (`--bridge-mapping public:br-ex`), instead of the seeds'
    /// VXLAN network with `qg-` straight on br-ex.
    pub flat_external: bool,
    /// Leave what was made when `up` fails (for debugging; `down` removes it).
    pub keep_on_failure: bool,
    /// More arguments for every agent; by default `--vm-port-type veth`: the VMs
    /// on veth ports, which the kernel fast path carries (`tap` puts them on
    /// TAPs in their namespaces, switched in user space).
    pub agent_args: Vec<String>,
}

impl LabOptions {
    pub fn new(prefix: &str, dir: &Path, neutrino: &Path) -> LabOptions {
        LabOptions {
            prefix: prefix.into(),
            dir: dir.into(),
            tunnel_type: TunnelType::Vxlan,
            computes: 2,
            admin_password: None,
            neutrino: neutrino.into(),
            report_interval: 5,
            with_vms: true,
            with_l3: true,
            with_router: true,
            flat_external: false,
            keep_on_failure: false,
            agent_args: vec!["--vm-port-type".into(), "veth".into()],
        }
    }
}

/// A lab removed when dropped: the tests' guard, which also runs when a test
/// panics.
pub struct LabGuard(Option<Lab>);

impl LabGuard {
    pub fn new(lab: Lab) -> LabGuard {
        LabGuard(Some(lab))
    }

    /// The lab (there until the guard is dropped).
    pub fn lab(&mut self) -> &mut Lab {
        match self.0.as_mut() {
            Some(l) => l,
            None => unreachable!("a LabGuard holds its lab until it is dropped"),
        }
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Some(mut l) = self.0.take() {
            l.remove();
        }
    }
}

/// A lab that is up (or partly up: `down` removes whatever was made).
pub struct Lab {
    pub state: LabState,
    pub api: Api,
    pub neutrino: PathBuf,
    pub report_interval: u64,
    /// Arguments added to every agent this handle starts (tests: the metadata
    /// service's Nova mode).
    pub agent_args: Vec<String>,
}

pub fn check_prefix(p: &str) -> Result<()> {
    crate::checks::prefix("lab", p, 8)
}

fn random_password() -> String {
    let mut b = [0u8; 12];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b[..8].copy_from_slice(&(t as u64).to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Lab {
    fn api_for(state: &LabState) -> Api {
        Api {
            ns: state.controller_ns(),
            auth_url: format!("http://{CONTROLLER_IP}:{API_PORT}/v3"),
            admin_password: state.admin_password.clone(),
        }
    }

    /// Opens a lab that is up, from its state file.
    pub fn open(dir: &Path, neutrino: &Path) -> Result<Lab> {
        let state = LabState::load(dir)?
            .ok_or_else(|| fail!("no lab in {} (run `neutrino lab up`)", dir.display()))?;
        Ok(Lab {
            api: Self::api_for(&state),
            state,
            neutrino: neutrino.into(),
            report_interval: 5,
            agent_args: Vec::new(),
        })
    }

    /// Builds the whole lab. On failure everything made so far is removed.
    pub fn up(o: &LabOptions) -> Result<Lab> {
        check_prefix(&o.prefix)?;
        require_root()?;
        if LabState::load(&o.dir)?.is_some() {
            return Err(fail!(
                "lab '{}' is up already ({}): `neutrino lab down --prefix {}` first",
                o.prefix,
                o.dir.display(),
                o.prefix
            ));
        }
        let taken = net::namespaces_with_prefix(&o.prefix);
        if !taken.is_empty() {
            return Err(fail!(
                "namespaces named {}-* exist already ({}): pick another --prefix",
                o.prefix,
                taken.join(", ")
            ));
        }
        std::fs::create_dir_all(o.dir.join("logs"))
            .map_err(|e| fail!("cannot create {}: {e}", o.dir.display()))?;
        let state = LabState {
            prefix: o.prefix.clone(),
            dir: o.dir.clone(),
            tunnel_type: o.tunnel_type.name().into(),
            admin_password: o.admin_password.clone().unwrap_or_else(random_password),
            namespaces: vec![],
            server_pid: None,
            nodes: vec![],
            vms: vec![],
            tenants: vec![],
            external: None,
            routers: vec![],
            floating_ips: vec![],
        };
        state.save()?;
        let mut lab = Lab {
            api: Self::api_for(&state),
            state,
            neutrino: o.neutrino.clone(),
            report_interval: o.report_interval,
            agent_args: o.agent_args.clone(),
        };
        match lab.build(o) {
            Ok(()) => Ok(lab),
            Err(e) if o.keep_on_failure => Err(e),
            Err(e) => {
                progress(format!("failed: {e}; removing what was made"));
                lab.remove();
                Err(fail!("{e} (everything made was removed)"))
            }
        }
    }

    fn build(&mut self, o: &LabOptions) -> Result<()> {
        progress("creating the switch namespace (management and data networks)");
        let sw = self.add_ns("sw")?;
        net::add_bridge(&sw, "br-mgmt")?;
        net::add_bridge(&sw, "br-data")?;
        progress("creating the controller and starting the server");
        self.add_node("controller", "ctl", 10, false, &[])?;
        self.start_server()?;
        self.api.wait_ready(Duration::from_secs(30))?;
        progress("creating the network node");
        self.add_node("network", "net", 20, true, &["network"])?;
        if o.flat_external {
            if let Some(n) = self.state.nodes.iter_mut().find(|n| n.name == "network") {
                n.bridge_mappings = vec![format!(
                    "{}:{}",
                    crate::l3::EXT_PHYSNET,
                    crate::l3::EXT_BRIDGE
                )];
            }
            self.state.save()?;
        }
        self.start_node("network")?;
        for i in 1..=o.computes {
            self.add_compute_numbered(i)?;
        }
        let hosts: Vec<String> = self
            .state
            .nodes
            .iter()
            .filter(|n| n.agent_pid.is_some())
            .map(|n| n.name.clone())
            .collect();
        progress(format!("waiting for the agents of {}", hosts.join(", ")));
        self.api.wait_agents(&hosts, Duration::from_secs(30))?;
        if o.with_vms && o.with_l3 {
            self.add_external(o.flat_external)?;
        }
        if o.with_vms {
            progress("creating TenantA, UserA, TenantA-Net and TenantA-Subnet 10.0.0.0/24");
            let t = self.api.create_tenant("TenantA", "10.0.0.0/24")?;
            self.state.tenants.push(t);
            self.state.save()?;
            let c2 = if o.computes >= 2 {
                "compute-02"
            } else {
                "compute-01"
            };
            for (vm, host) in [("vm1", "compute-01"), ("vm2", c2)] {
                progress(format!("booting {vm} on {host} (port, wiring, DHCP)"));
                vms::create_vm(self, vm, "TenantA", host)?;
            }
            progress("pinging vm1 <-> vm2");
            let (a, b) = (self.vm("vm1")?, self.vm("vm2")?);
            vms::ping(&a, &b.ip, 3)?.require_all()?;
            vms::ping(&b, &a.ip, 3)?.require_all()?;
            if o.with_l3 && o.with_router {
                self.add_router("TenantA", "vm1")?;
                for (what, ok, detail) in crate::l3::checks(self) {
                    progress(format!("{what}: {detail}"));
                    if !ok {
                        return Err(fail!("{what}: {detail}"));
                    }
                }
            }
        }
        Ok(())
    }

    pub fn tenant(&self, name: &str) -> Result<crate::state::Tenant> {
        self.state
            .tenant(name)
            .cloned()
            .ok_or_else(|| fail!("no tenant {name} in this lab"))
    }

    pub fn vm(&self, name: &str) -> Result<crate::Vm> {
        self.state
            .vm(name)
            .cloned()
            .ok_or_else(|| fail!("no VM {name} in this lab"))
    }

    fn add_ns(&mut self, suffix: &str) -> Result<String> {
        let ns = format!("{}-{suffix}", self.state.prefix);
        self.state.namespaces.push(ns.clone());
        self.state.save()?;
        net::add_netns(&ns)?;
        Ok(ns)
    }

    /// Records a namespace the lab made elsewhere (a VM's).
    pub(crate) fn adopt_ns(&mut self, ns: &str) -> Result<()> {
        if !self.state.namespaces.iter().any(|n| n == ns) {
            self.state.namespaces.push(ns.to_string());
            self.state.save()?;
        }
        net::add_netns(ns)
    }

    fn add_node(
        &mut self,
        name: &str,
        short: &str,
        host_octet: u8,
        data: bool,
        roles: &[&str],
    ) -> Result<()> {
        let ns = self.add_ns(name)?;
        let sw = format!("{}-sw", self.state.prefix);
        let mgmt_ip = format!("{MGMT_NET}.{host_octet}");
        net::cable(
            &sw,
            "br-mgmt",
            &format!("{short}-m"),
            &ns,
            "eth0",
            &format!("{mgmt_ip}/24"),
        )?;
        let data_ip = if data {
            let ip = format!("{DATA_NET}.{host_octet}");
            net::cable(
                &sw,
                "br-data",
                &format!("{short}-d"),
                &ns,
                "eth1",
                &format!("{ip}/24"),
            )?;
            // Hypervisors route: switchd's uplink TAP hands VXLAN super-frames to
            // the kernel, which forwards them out eth1 (see switchd --vxlan-uplink).
            net::forward_ipv4(&ns)?;
            Some(ip)
        } else {
            None
        };
        self.state.nodes.push(Node {
            name: name.into(),
            ns,
            mgmt_ip,
            data_ip,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            bridge_mappings: Vec::new(),
            switchd_pid: None,
            agent_pid: None,
        });
        self.state.save()
    }

    fn add_compute_numbered(&mut self, i: u8) -> Result<String> {
        let name = format!("compute-{i:02}");
        progress(format!("creating {name} (switchd and agent)"));
        self.add_node(&name, &format!("c{i:02}"), 30 + i, true, &["compute"])?;
        self.start_node(&name)?;
        Ok(name)
    }

    /// Adds the next compute node to a running lab and waits for its agent.
    pub fn add_compute(&mut self) -> Result<String> {
        let n = self.state.computes().count();
        let i = u8::try_from(n + 1)
            .ok()
            .filter(|i| *i <= 99)
            .ok_or_else(|| fail!("a lab holds at most 99 compute nodes"))?;
        let name = self.add_compute_numbered(i)?;
        self.api
            .wait_agents(std::slice::from_ref(&name), Duration::from_secs(30))?;
        Ok(name)
    }

    fn log(&self, what: &str) -> PathBuf {
        self.state.dir.join("logs").join(format!("{what}.log"))
    }

    fn marker(&self) -> String {
        self.state.dir.display().to_string()
    }

    pub fn node_run_dir(&self, node: &str) -> PathBuf {
        self.state.dir.join(node)
    }

    fn start_server(&mut self) -> Result<()> {
        let d = self.state.dir.join("controller");
        std::fs::create_dir_all(&d).map_err(|e| fail!("cannot create {}: {e}", d.display()))?;
        let args: Vec<String> = [
            "server",
            "--listen",
            &format!("{CONTROLLER_IP}:{API_PORT}"),
            "--state-dir",
            &d.display().to_string(),
            "--public-url",
            &format!("http://{CONTROLLER_IP}:{API_PORT}"),
            "--tenant-network-type",
            &self.state.tunnel_type,
            "--agent-down-time",
            &(self.report_interval * 3).max(15).to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let pw = self.state.admin_password.clone();
        let pid = procs::spawn(
            &self.state.controller_ns(),
            &self.neutrino,
            &args,
            &[("NEUTRINO_ADMIN_PASSWORD", &pw)],
            &self.log("server"),
        )?;
        self.state.server_pid = Some(pid);
        self.state.save()
    }

    fn node_index(&self, node: &str) -> Result<usize> {
        self.state
            .nodes
            .iter()
            .position(|n| n.name == node)
            .ok_or_else(|| fail!("no node {node} in this lab"))
    }

    fn start_node(&mut self, node: &str) -> Result<()> {
        self.start_switchd(node)?;
        self.start_agent(node)
    }

    pub fn start_switchd(&mut self, node: &str) -> Result<()> {
        let i = self.node_index(node)?;
        let run = self.node_run_dir(node);
        let ns = self.state.nodes[i].ns.clone();
        let pid = switchd::start(&switchd::Start {
            ns: &ns,
            neutrino: &self.neutrino,
            run_dir: &run,
            extra: &[],
            log: &self.log(&format!("{node}-switchd")),
            append: false,
        })?;
        self.state.nodes[i].switchd_pid = Some(pid);
        self.state.save()
    }

    pub fn start_agent(&mut self, node: &str) -> Result<()> {
        let i = self.node_index(node)?;
        let n = self.state.nodes[i].clone();
        let tunnel_ip = n
            .data_ip
            .clone()
            .ok_or_else(|| fail!("{node} is not on the data network"))?;
        let args: Vec<String> = vec![
            "agent".into(),
            "--server".into(),
            self.api.auth_url.clone(),
            "--host".into(),
            node.into(),
            "--tunnel-ip".into(),
            tunnel_ip,
            "--roles".into(),
            n.roles.join(","),
            "--switch-run-dir".into(),
            self.node_run_dir(node).display().to_string(),
            "--report-interval".into(),
            self.report_interval.to_string(),
            // The lab's hosts share one kernel: their metadata namespaces carry
            // the lab's and the host's names (and `lab down` finds them).
            "--metadata-namespace-prefix".into(),
            format!("{}-{node}-qmeta-", self.state.prefix),
        ];
        let mut args = args;
        for m in &n.bridge_mappings {
            args.push("--bridge-mapping".into());
            args.push(m.clone());
        }
        args.extend(self.agent_args.iter().cloned());
        let pw = self.state.admin_password.clone();
        let env = [
            ("OS_USERNAME", "admin"),
            ("OS_PASSWORD", pw.as_str()),
            ("OS_PROJECT_NAME", "admin"),
            ("NEUTRINO_LOG", "info"),
        ];
        let log = self.log(&format!("{node}-agent"));
        // Keep earlier runs' logs: a restarted agent appends after them.
        let old = std::fs::read(&log).unwrap_or_default();
        let pid = procs::spawn(&n.ns, &self.neutrino, &args, &env, &log)?;
        if !old.is_empty() {
            let prev = log.with_extension(format!("log.{pid}"));
            let _ = std::fs::write(prev, old);
        }
        self.state.nodes[i].agent_pid = Some(pid);
        self.state.save()
    }

    /// Stops a node's agent (SIGTERM); `start_agent` brings it back.
    pub fn stop_agent(&mut self, node: &str) -> Result<()> {
        let i = self.node_index(node)?;
        if let Some(pid) = self.state.nodes[i].agent_pid.take() {
            procs::stop(pid, &self.marker(), GRACE);
        }
        self.state.save()
    }

    /// Stops a node's agent (SIGTERM) and starts it again.
    pub fn restart_agent(&mut self, node: &str) -> Result<()> {
        let i = self.node_index(node)?;
        if let Some(pid) = self.state.nodes[i].agent_pid.take() {
            procs::stop(pid, &self.marker(), GRACE);
        }
        self.start_agent(node)
    }

    /// Stops the server and starts it again on the same state.
    pub fn restart_server(&mut self) -> Result<()> {
        if let Some(pid) = self.state.server_pid.take() {
            procs::stop(pid, &self.marker(), GRACE);
        }
        self.start_server()?;
        self.api.wait_ready(Duration::from_secs(30))
    }

    /// Runs `neutrino switch ARGS` against a node's switchd.
    pub fn switch(&self, node: &str, args: &[&str]) -> Result<String> {
        let run_dir = self.node_run_dir(node);
        let r = switchd::cli(&self.neutrino, &run_dir, args, None, cmd::CMD_TIMEOUT);
        if !r.ok() {
            return Err(fail!(
                "neutrino switch {}: {}",
                args.join(" "),
                r.describe()
            ));
        }
        Ok(r.stdout)
    }

    /// The PIDs of the lab's processes that are running now.
    pub fn live_processes(&self) -> Vec<(String, u32)> {
        let m = self.marker();
        let mut out = Vec::new();
        if let Some(p) = self.state.server_pid.filter(|p| procs::is_ours(*p, &m)) {
            out.push(("server".to_string(), p));
        }
        for n in &self.state.nodes {
            for (what, pid) in [("switchd", n.switchd_pid), ("agent", n.agent_pid)] {
                if let Some(p) = pid.filter(|p| procs::is_ours(*p, &m)) {
                    out.push((format!("{}/{what}", n.name), p));
                }
            }
        }
        out
    }

    /// Removes everything the lab made: processes, namespaces, its directory.
    pub fn remove(&mut self) {
        let m = self.marker();
        // Router namespaces are named after the routers, not the lab: those its
        // switchds have devices in, and those of the routers it made.
        let mut routers: Vec<String> = self
            .state
            .routers
            .iter()
            .map(|r| format!("qrouter-{}", r.id))
            .collect();
        for n in &self.state.nodes {
            routers.extend(switchd::router_namespaces(&self.node_run_dir(&n.name)));
        }
        for n in &self.state.nodes {
            for pid in [n.agent_pid, n.switchd_pid].into_iter().flatten() {
                procs::stop(pid, &m, GRACE);
            }
        }
        if let Some(pid) = self.state.server_pid {
            procs::stop(pid, &m, GRACE);
        }
        let mut all: Vec<String> = self.state.namespaces.iter().rev().cloned().collect();
        for ns in net::namespaces_with_prefix(&self.state.prefix) {
            if !all.contains(&ns) {
                all.push(ns);
            }
        }
        for ns in routers {
            if net::netns_exists(&ns) && !all.contains(&ns) {
                all.push(ns);
            }
        }
        for ns in all {
            if let Err(e) = net::del_netns(&ns) {
                progress(format!("warning: {e}"));
            }
        }
        net::remove_bpf_pins_under(&self.state.dir);
        if let Err(e) = std::fs::remove_dir_all(&self.state.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            progress(format!(
                "warning: cannot remove {}: {e}",
                self.state.dir.display()
            ));
        }
    }

    /// `lab down` for a lab directory (also a half-made one).
    pub fn down(dir: &Path, prefix: &str, neutrino: &Path) -> Result<()> {
        check_prefix(prefix)?;
        require_root()?;
        match LabState::load(dir) {
            Ok(Some(_)) => {
                let mut lab = Lab::open(dir, neutrino)?;
                lab.remove();
            }
            Ok(None) | Err(_) => {
                // No (readable) state: remove the prefix's namespaces only.
                for ns in net::namespaces_with_prefix(prefix) {
                    net::del_netns(&ns)?;
                }
                net::remove_bpf_pins_under(dir);
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        Ok(())
    }
}
