//! `neutrino lab pair up|configure-vms|down`: the harness's hosts and VMs
//! ([`crate::harness`]) built from the command line and left up, for scripts that
//! measure (`bench/switch_throughput.sh`) or show (`scripts/switch-demo.sh`).
//!
//! The kinds ([`PairKind`]): two hosts H1 and H2 on the veth underlay (IPv4
//! forwarding on), with per host either a neutrino switchd wired as Neutron's OVS
//! agent would (br-int, br-tun, a tunnel port, the br-tun flows of `agent::flows`)
//! and a VM on a TAP, or a kernel vxlan device and a Linux bridge with a VM on a
//! veth; one host whose switchd's br-int joins two VMs on TAPs (VLAN 1); two VMs on
//! a veth pair and no host; and, for a program of the caller's that makes the VMs'
//! NICs itself (the bench's relay), the host(s) and two empty VM namespaces, whose
//! NICs `configure-vms` addresses once they exist.
//!
//! What it made is kept in `DIR/pair.json`; `down` stops its switchds by PID (only
//! while their command line names their run directory) and deletes its namespaces.
//! Files (switchd logs) stay in DIR for the caller.

use crate::harness::{self, H, Layout, NET1, TunnelType, TwoHosts, Vm};
use crate::{Result, fail, net, procs};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What runs on the hosts, and which hosts there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    /// The two hosts and their underlay only.
    Underlay,
    /// A switchd per host over this tunnel type, a VM on each.
    Neutrino(TunnelType),
    /// A kernel vxlan device (VNI 100) and Linux bridge per host, a VM on each.
    KernelVxlan,
    /// One host: its switchd's br-int joins two VMs on TAPs tagged VLAN 1.
    SameHost,
    /// Two VMs joined by a veth pair, no host.
    Veth,
    /// The two hosts with their underlay and two empty VM namespaces (VM 1 for H1,
    /// VM 2 for H2); the caller makes the VMs' NICs (named in `pair.json`).
    RelayVxlan,
    /// One host and two empty VM namespaces; the caller makes their NICs.
    RelaySameHost,
}

impl PairKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [PairKind; 9] = [
        PairKind::Underlay,
        PairKind::Neutrino(TunnelType::Vxlan),
        PairKind::Neutrino(TunnelType::Gre),
        PairKind::Neutrino(TunnelType::Geneve),
        PairKind::KernelVxlan,
        PairKind::SameHost,
        PairKind::Veth,
        PairKind::RelayVxlan,
        PairKind::RelaySameHost,
    ];

    /// The kind's name on the command line and in `pair.json`.
    pub fn name(self) -> &'static str {
        match self {
            PairKind::Underlay => "underlay",
            PairKind::Neutrino(TunnelType::Vxlan) => "neutrino-vxlan",
            PairKind::Neutrino(TunnelType::Gre) => "neutrino-gre",
            PairKind::Neutrino(TunnelType::Geneve) => "neutrino-geneve",
            PairKind::KernelVxlan => "kernel-vxlan",
            PairKind::SameHost => "same-host",
            PairKind::Veth => "veth",
            PairKind::RelayVxlan => "relay-vxlan",
            PairKind::RelaySameHost => "relay-same-host",
        }
    }

    /// The kind named `name` ([`PairKind::name`]).
    pub fn from_name(name: &str) -> Result<PairKind> {
        PairKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| fail!("unknown pair kind '{name}'"))
    }

    /// The hosts it makes.
    pub fn layout(self) -> Layout {
        match self {
            PairKind::SameHost | PairKind::RelaySameHost => Layout::OneHost,
            PairKind::Veth => Layout::VmsOnly,
            _ => Layout::TwoHosts,
        }
    }

    /// The host of VM 1 and of VM 2 (the hosts' TAPs or devices lead to them); none
    /// for the bare underlay. Without hosts ([`PairKind::Veth`]) the VMs are still
    /// named after H1.
    pub fn vm_hosts(self) -> Option<[H; 2]> {
        match self {
            PairKind::Underlay => None,
            PairKind::Neutrino(_) | PairKind::KernelVxlan | PairKind::RelayVxlan => {
                Some([H::H1, H::H2])
            }
            PairKind::SameHost | PairKind::Veth | PairKind::RelaySameHost => Some([H::H1, H::H1]),
        }
    }

    /// True when it runs switchds (which `--switchd-arg` is for).
    pub fn runs_switchd(self) -> bool {
        matches!(self, PairKind::Neutrino(_) | PairKind::SameHost)
    }

    /// True when the caller makes the VMs' NICs (in the empty VM namespaces).
    pub fn caller_makes_nics(self) -> bool {
        matches!(self, PairKind::RelayVxlan | PairKind::RelaySameHost)
    }
}

/// The VMs' addresses: VM 1 and VM 2 (10.0.0.2 and 10.0.0.4, as Neutron's DHCP
/// would hand out on TenantA's subnet).
pub const VMS: [(&str, &str); 2] = [
    ("10.0.0.2", "fa:16:3e:00:00:01"),
    ("10.0.0.4", "fa:16:3e:00:00:04"),
];

#[derive(Debug, Clone)]
pub struct PairOptions<'a> {
    /// 1-10 lowercase letters and digits; every namespace is `PREFIX...`, every VM
    /// NIC `tap` + the prefix's digits (the whole prefix if none) + `v1`/`v2`.
    pub prefix: &'a str,
    pub dir: &'a Path,
    /// The neutrino binary the switchds run.
    pub neutrino: &'a Path,
    pub kind: PairKind,
    /// More switchd options (`--poll-cpus 3`); only for kinds that run switchds.
    pub switchd_args: &'a [String],
    /// The VMs' ports on a switchd: `tap` (in the VM's namespace) or `veth`
    /// (the host end in the host's namespace: the kernel fast path's kind).
    pub vm_ports: &'a str,
}

impl PairOptions<'_> {
    /// Checks the options without touching the machine.
    pub fn check(&self) -> Result<()> {
        check_prefix(self.prefix)?;
        if !matches!(self.vm_ports, "tap" | "veth") {
            return Err(fail!("--vm-ports: tap or veth, not '{}'", self.vm_ports));
        }
        if !self.switchd_args.is_empty() && !self.kind.runs_switchd() {
            return Err(fail!(
                "--switchd-arg: pair kind '{}' runs no switchd",
                self.kind.name()
            ));
        }
        Ok(())
    }

    /// The part of every VM NIC's name after `tap`: the prefix's trailing digits
    /// (the bench's PID), or the whole prefix when it has none.
    pub fn uid(&self) -> &str {
        let digits = self
            .prefix
            .trim_start_matches(|c: char| c.is_ascii_lowercase());
        if digits.is_empty() {
            self.prefix
        } else {
            digits
        }
    }
}

/// What `up` made, as `DIR/pair.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairState {
    pub prefix: String,
    pub dir: PathBuf,
    /// [`PairKind::name`] (empty in the files of older versions).
    #[serde(default)]
    pub kind: String,
    /// Every namespace made, in creation order.
    pub namespaces: Vec<String>,
    /// The hosts made, H1 first.
    #[serde(default)]
    pub hosts: Vec<PairHost>,
    pub switchds: Vec<PairSwitchd>,
    /// VM 1 and VM 2 (none for the bare underlay). For the kinds where the caller
    /// makes the NICs, `nic` is the name it must give them.
    pub vms: Vec<PairVm>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairHost {
    pub ns: String,
    /// Its underlay address (also with one host, where there is no underlay).
    pub ip: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairSwitchd {
    pub host_ns: String,
    pub pid: u32,
    pub run_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairVm {
    pub ns: String,
    pub nic: String,
    pub ip: String,
    pub mac: String,
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("pair.json")
}

/// A pair prefix: 1-10 lowercase letters or digits (device names stay <= 15 bytes).
pub fn check_prefix(p: &str) -> Result<()> {
    crate::checks::prefix("pair", p, 10)
}

/// Builds the pair and leaves it up. On an error everything made is removed.
pub fn up(o: &PairOptions<'_>) -> Result<PairState> {
    o.check()?;
    crate::checks::require_root()?;
    if state_path(o.dir).exists() {
        return Err(fail!(
            "a pair is up in {} already: `neutrino lab pair down` first",
            o.dir.display()
        ));
    }
    let layout = o.kind.layout();
    let mut lab = TwoHosts::create_layout(o.neutrino, o.prefix, o.uid(), o.dir, layout)?;
    for h in layout.hosts() {
        net::forward_ipv4(&lab.host(*h).ns)?;
    }
    let vms = o.kind.vm_hosts().map(|[a, b]| {
        [
            lab.vm(a, 1, VMS[0].0, VMS[0].1, 1),
            lab.vm(b, 2, VMS[1].0, VMS[1].1, 1),
        ]
    });
    build(&mut lab, o, vms.as_ref())?;
    let state = PairState {
        prefix: o.prefix.to_string(),
        dir: o.dir.to_path_buf(),
        kind: o.kind.name().to_string(),
        namespaces: lab.namespaces().to_vec(),
        hosts: layout
            .hosts()
            .iter()
            .map(|h| PairHost {
                ns: lab.host(*h).ns.clone(),
                ip: lab.host(*h).ip.to_string(),
            })
            .collect(),
        switchds: layout
            .hosts()
            .iter()
            .filter_map(|h| {
                let host = lab.host(*h);
                host.switchd().map(|pid| PairSwitchd {
                    host_ns: host.ns.clone(),
                    pid,
                    run_dir: host.run_dir.clone(),
                })
            })
            .collect(),
        vms: vms.iter().flatten().map(PairVm::of).collect(),
    };
    let body =
        serde_json::to_vec_pretty(&state).map_err(|e| fail!("cannot encode pair state: {e}"))?;
    let p = state_path(o.dir);
    std::fs::write(&p, body).map_err(|e| fail!("cannot write {}: {e}", p.display()))?;
    lab.keep();
    Ok(state)
}

impl PairVm {
    fn of(v: &Vm) -> PairVm {
        PairVm {
            ns: v.ns.clone(),
            nic: v.tap.clone(),
            ip: v.ip.to_string(),
            mac: v.mac.to_string(),
        }
    }
}

/// What runs on the hosts made, and the VMs.
fn build(lab: &mut TwoHosts, o: &PairOptions<'_>, vms: Option<&[Vm; 2]>) -> Result<()> {
    let Some(vms) = vms else {
        return Ok(());
    };
    let extra: Vec<&str> = o.switchd_args.iter().map(String::as_str).collect();
    match o.kind {
        PairKind::Underlay => {}
        PairKind::Neutrino(t) => {
            for h in [H::H1, H::H2] {
                lab.try_start_switchd_with(h, &extra)?;
                lab.wire_neutron_host(h, t, &[NET1])?;
            }
            for vm in vms {
                lab.try_attach_vm_as(vm, o.vm_ports)?;
            }
        }
        PairKind::KernelVxlan => {
            for vm in vms {
                lab.try_attach_kernel_vxlan_vm(vm, NET1.key)?;
            }
        }
        PairKind::SameHost => {
            lab.try_start_switchd_with(H::H1, &extra)?;
            lab.try_switch(H::H1, &["add-br", "br-int"])?;
            for vm in vms {
                lab.try_attach_vm_as(vm, o.vm_ports)?;
            }
        }
        PairKind::Veth => lab.try_attach_veth_vms(&vms[0], &vms[1])?,
        PairKind::RelayVxlan | PairKind::RelaySameHost => {
            for vm in vms {
                lab.try_add_ns(&vm.ns)?;
            }
        }
    }
    Ok(())
}

/// The state of the pair up in `dir` (none when there is no `pair.json`), which
/// must be pair `prefix`'s.
fn read_state(dir: &Path, prefix: &str) -> Result<Option<PairState>> {
    let p = state_path(dir);
    let b = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail!("cannot read {}: {e}", p.display())),
    };
    let state: PairState =
        serde_json::from_slice(&b).map_err(|e| fail!("{} is damaged: {e}", p.display()))?;
    if state.prefix != prefix {
        return Err(fail!(
            "{} holds pair '{}', not '{prefix}'",
            dir.display(),
            state.prefix
        ));
    }
    Ok(Some(state))
}

/// For the kinds whose VM NICs the caller makes: waits until each exists in its
/// VM's namespace with the VM's MAC, then gives it the VM's address and MTU.
pub fn configure_vms(dir: &Path, prefix: &str, within: Duration) -> Result<()> {
    check_prefix(prefix)?;
    crate::checks::require_root()?;
    let state =
        read_state(dir, prefix)?.ok_or_else(|| fail!("no pair is up in {}", dir.display()))?;
    let kind = PairKind::from_name(&state.kind)?;
    if !kind.caller_makes_nics() {
        return Err(fail!(
            "pair kind '{}' configured its VMs itself",
            state.kind
        ));
    }
    for vm in &state.vms {
        harness::wait_nic(&vm.ns, &vm.nic, &vm.mac, within)?;
        harness::configure_nic(&vm.ns, &vm.nic, &vm.ip)?;
    }
    Ok(())
}

/// Stops the pair's switchds and deletes its namespaces: those in `DIR/pair.json`,
/// and `PREFIXh1`, `PREFIXh2`, `PREFIXv1`, `PREFIXv2` if they exist (a pair whose
/// `up` was killed).
pub fn down(dir: &Path, prefix: &str) -> Result<()> {
    check_prefix(prefix)?;
    crate::checks::require_root()?;
    let mut namespaces = Vec::new();
    if let Some(state) = read_state(dir, prefix)? {
        for s in &state.switchds {
            procs::stop(
                s.pid,
                &s.run_dir.display().to_string(),
                Duration::from_secs(2),
            );
        }
        namespaces = state.namespaces;
    }
    for n in ["h1", "h2", "v1", "v2"] {
        let ns = format!("{prefix}{n}");
        if !namespaces.contains(&ns) {
            namespaces.push(ns);
        }
    }
    for ns in namespaces.iter().rev() {
        net::del_netns(ns)?;
    }
    net::remove_bpf_pins_under(dir);
    let p = state_path(dir);
    match std::fs::remove_file(&p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(fail!("cannot remove {}: {e}", p.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in PairKind::ALL {
            assert_eq!(PairKind::from_name(k.name()).ok(), Some(k), "{}", k.name());
        }
        assert!(PairKind::from_name("same_host").is_err());
        assert!(PairKind::from_name("").is_err());
    }

    #[test]
    fn kinds_make_their_hosts_and_vms() {
        use PairKind::*;
        assert_eq!(SameHost.layout(), Layout::OneHost);
        assert_eq!(RelaySameHost.layout(), Layout::OneHost);
        assert_eq!(Veth.layout(), Layout::VmsOnly);
        for k in [Underlay, Neutrino(TunnelType::Gre), KernelVxlan, RelayVxlan] {
            assert_eq!(k.layout(), Layout::TwoHosts, "{}", k.name());
        }
        assert_eq!(Layout::TwoHosts.hosts(), &[H::H1, H::H2]);
        assert_eq!(Layout::OneHost.hosts(), &[H::H1]);
        assert!(Layout::VmsOnly.hosts().is_empty());
        assert_eq!(Underlay.vm_hosts(), None);
        assert_eq!(RelayVxlan.vm_hosts(), Some([H::H1, H::H2]));
        assert_eq!(SameHost.vm_hosts(), Some([H::H1, H::H1]));
        // Every VM's host is made (or there are no hosts at all).
        for k in PairKind::ALL {
            let hosts = k.layout().hosts();
            for h in k.vm_hosts().into_iter().flatten() {
                assert!(hosts.is_empty() || hosts.contains(&h), "{}", k.name());
            }
        }
        let relay: Vec<_> = PairKind::ALL
            .into_iter()
            .filter(|k| k.caller_makes_nics())
            .collect();
        assert_eq!(relay, [RelayVxlan, RelaySameHost]);
        let switchd: Vec<_> = PairKind::ALL
            .into_iter()
            .filter(|k| k.runs_switchd())
            .collect();
        assert_eq!(
            switchd,
            [
                Neutrino(TunnelType::Vxlan),
                Neutrino(TunnelType::Gre),
                Neutrino(TunnelType::Geneve),
                SameHost
            ]
        );
    }

    fn options<'a>(prefix: &'a str, kind: PairKind, args: &'a [String]) -> PairOptions<'a> {
        PairOptions {
            prefix,
            dir: Path::new("/nonexistent"),
            neutrino: Path::new("/nonexistent/neutrino"),
            kind,
            switchd_args: args,
            vm_ports: "tap",
        }
    }

    #[test]
    fn options_are_checked() {
        let pin = ["--poll-cpus".to_string(), "1".to_string()];
        assert!(options("nb123", PairKind::SameHost, &pin).check().is_ok());
        assert!(options("nb123", PairKind::Veth, &[]).check().is_ok());
        let e = options("nb123", PairKind::Veth, &pin).check().unwrap_err();
        assert!(e.to_string().contains("runs no switchd"), "{e}");
        assert!(
            options("nb123", PairKind::RelayVxlan, &pin)
                .check()
                .is_err()
        );
        for bad in ["", "NB1", "nb-1", "nb12345678901"] {
            assert!(options(bad, PairKind::Veth, &[]).check().is_err(), "{bad}");
        }
    }

    #[test]
    fn nic_names_take_the_prefix_digits() {
        assert_eq!(options("nb4242", PairKind::Veth, &[]).uid(), "4242");
        assert_eq!(options("demo", PairKind::Veth, &[]).uid(), "demo");
        assert_eq!(options("nd7", PairKind::Veth, &[]).uid(), "7");
    }

    #[test]
    fn state_round_trips_and_reads_older_files() {
        let s = PairState {
            prefix: "nb1".into(),
            dir: "/tmp/x".into(),
            kind: PairKind::RelaySameHost.name().into(),
            namespaces: vec!["nb1h1".into(), "nb1v1".into(), "nb1v2".into()],
            hosts: vec![PairHost {
                ns: "nb1h1".into(),
                ip: harness::H1_IP.into(),
            }],
            switchds: vec![],
            vms: vec![PairVm {
                ns: "nb1v1".into(),
                nic: "tap1v1".into(),
                ip: VMS[0].0.into(),
                mac: VMS[0].1.into(),
            }],
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<PairState>(&json).unwrap(), s);
        // pair.json as written before kinds and hosts were recorded.
        let old = r#"{"prefix":"nb1","dir":"/tmp/x","namespaces":["nb1h1","nb1h2"],
            "switchds":[{"host_ns":"nb1h1","pid":7,"run_dir":"/tmp/x/h1"}],"vms":[]}"#;
        let s: PairState = serde_json::from_str(old).unwrap();
        assert_eq!(s.kind, "");
        assert!(s.hosts.is_empty());
        assert_eq!(s.switchds[0].pid, 7);
    }

    #[test]
    fn state_is_read_for_its_own_prefix_only() {
        let dir = std::env::temp_dir().join(format!("lab-pair-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read_state(&dir, "nb1").unwrap(), None);
        let s = PairState {
            prefix: "nb1".into(),
            dir: dir.clone(),
            kind: "veth".into(),
            namespaces: vec![],
            hosts: vec![],
            switchds: vec![],
            vms: vec![],
        };
        std::fs::write(state_path(&dir), serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(read_state(&dir, "nb1").unwrap(), Some(s));
        let e = read_state(&dir, "nb2").unwrap_err();
        assert!(e.to_string().contains("holds pair 'nb1'"), "{e}");
        std::fs::write(state_path(&dir), b"{").unwrap();
        assert!(read_state(&dir, "nb1").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
