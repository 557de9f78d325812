//! The harness's switchds: starting and killing them, the `neutrino switch` CLI
//! against a host, wiring a host as Neutron's OVS agent would, and the counters
//! the tests read back from `switch show` and `dump-ports`.

use super::{CMD_TIMEOUT, H, Run, TunnelNet, TunnelType, TwoHosts, br_tun_flows, tail};
use crate::{Result, fail, procs, switchd};
use std::time::Duration;

impl TwoHosts {
    /// Starts `neutrino switchd --run-dir DIR` inside host `h` and waits until it
    /// answers.
    pub fn start_switchd(&mut self, h: H) {
        let args = self.switchd_args.clone();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.start_switchd_with(h, &args);
    }

    /// [`TwoHosts::start_switchd`] with other command-line options.
    pub fn start_switchd_with(&mut self, h: H, extra: &[&str]) {
        if let Err(e) = self.try_start_switchd_with(h, extra) {
            panic!("{e}");
        }
    }

    /// Starts switchd on `h` with `extra` options; returns its PID.
    pub fn try_start_switchd_with(&mut self, h: H, extra: &[&str]) -> Result<u32> {
        let host = &self.hosts[h.idx()];
        if host.daemon.is_some() {
            return Err(fail!("switchd already running on {}", host.ns));
        }
        let pid = switchd::start(&switchd::Start {
            ns: &host.ns,
            neutrino: &self.neutrino,
            run_dir: &host.run_dir,
            extra,
            log: &host.log,
            append: true,
        })?;
        self.hosts[h.idx()].daemon = Some(pid);
        Ok(pid)
    }

    pub fn switchd_pid(&self, h: H) -> u32 {
        match self.host(h).daemon {
            Some(pid) => pid,
            None => panic!("no switchd running on {}", self.host(h).ns),
        }
    }

    /// Kills switchd by PID (SIGKILL) and reaps it.
    pub fn kill_switchd(&mut self, h: H) {
        let pid = self.switchd_pid(h);
        let host = &mut self.hosts[h.idx()];
        procs::kill(pid, &host.run_dir.display().to_string());
        host.daemon = None;
    }

    pub(super) fn switch_timeout(
        &self,
        h: H,
        args: &[&str],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> Run {
        switchd::cli(&self.neutrino, &self.host(h).run_dir, args, stdin, timeout)
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
        match self.try_switch(h, args) {
            Ok(out) => out,
            Err(e) => panic!("{e}"),
        }
    }

    /// A switch command's stdout, or an error with its output and switchd's log.
    pub fn try_switch(&self, h: H, args: &[&str]) -> Result<String> {
        let r = self.switch(h, args);
        if !r.ok() {
            return Err(fail!(
                "switch command on {} failed:\n{}\nswitchd log:\n{}",
                self.host(h).ns,
                r.describe(),
                tail(&self.host(h).log, 30)
            ));
        }
        Ok(r.stdout)
    }

    /// Name of host `h`'s tunnel port toward the other host.
    pub fn tunnel_port(&self, h: H, t: TunnelType) -> String {
        t.port_name(self.host(h).remote_ip)
    }

    /// Starts switchd on `h` and installs br-int, br-tun, the patch pair, the
    /// tunnel port to the other host and the br-tun flows for `nets`.
    pub fn setup_switch_host(&mut self, h: H, t: TunnelType, nets: &[TunnelNet]) {
        self.setup_switch_host_with(h, t, nets, &[]);
    }

    /// [`TwoHosts::setup_switch_host`] with more `add-port` options for the
    /// tunnel port (`--csum`).
    pub fn setup_switch_host_with(
        &mut self,
        h: H,
        t: TunnelType,
        nets: &[TunnelNet],
        tunnel_opts: &[&str],
    ) {
        self.start_switchd(h);
        if let Err(e) = self.wire_neutron_host_with(h, t, nets, tunnel_opts) {
            panic!("{e}");
        }
    }

    /// On `h`'s running switchd, what Neutron's OVS agent makes: br-int, br-tun, the
    /// patch pair, the tunnel port to the other host (key from the flows) and the
    /// br-tun flows for `nets`.
    pub fn wire_neutron_host(&self, h: H, t: TunnelType, nets: &[TunnelNet]) -> Result<()> {
        self.wire_neutron_host_with(h, t, nets, &[])
    }

    /// [`TwoHosts::wire_neutron_host`] with more `add-port` options for the
    /// tunnel port.
    pub fn wire_neutron_host_with(
        &self,
        h: H,
        t: TunnelType,
        nets: &[TunnelNet],
        tunnel_opts: &[&str],
    ) -> Result<()> {
        let (local, remote) = (self.host(h).ip, self.host(h).remote_ip);
        let tun = self.tunnel_port(h, t);
        self.try_switch(h, &["add-br", "br-int"])?;
        self.try_switch(h, &["add-br", "br-tun"])?;
        for (bridge, port, peer) in [
            ("br-int", "patch-tun", "patch-int"),
            ("br-tun", "patch-int", "patch-tun"),
        ] {
            self.try_switch(
                h,
                &["add-port", bridge, port, "--type", "patch", "--peer", peer],
            )?;
        }
        let mut add = vec![
            "add-port",
            "br-tun",
            &tun,
            "--type",
            t.name(),
            "--remote-ip",
            remote,
            "--local-ip",
            local,
            "--key",
            "flow",
        ];
        add.extend_from_slice(tunnel_opts);
        self.try_switch(h, &add)?;
        let flows = br_tun_flows(t, &tun, nets);
        let r = self.switch_stdin(h, &["replace-flows", "br-tun", "-"], &flows);
        if !r.ok() {
            return Err(fail!(
                "replace-flows br-tun failed on {}:\n{}\nflows:\n{flows}",
                self.host(h).ns,
                r.describe()
            ));
        }
        Ok(())
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
}
