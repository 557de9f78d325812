//! The harness's VMs: a namespace per VM whose NIC is a TAP port switchd moved
//! there (`--netns`), or, for a host without neutrino, a veth behind a Linux
//! bridge and a kernel vxlan device, or one end of a veth pair to the other VM;
//! their addresses and neighbours.

use super::{H, TwoHosts, VM_MTU, Vm, ip, ip_try};
use crate::{Result, fail, net};
use std::thread;
use std::time::{Duration, Instant};

impl TwoHosts {
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
        if let Err(e) = self.try_attach_vm(vm) {
            panic!("{e}");
        }
    }

    /// [`TwoHosts::attach_vm`], returning errors.
    pub fn try_attach_vm(&mut self, vm: &Vm) -> Result<()> {
        self.try_attach_vm_as(vm, "tap")
    }

    /// [`TwoHosts::attach_vm`] on a `veth` port (the kernel fast path's kind).
    pub fn attach_veth_vm(&mut self, vm: &Vm) {
        if let Err(e) = self.try_attach_vm_as(vm, "veth") {
            panic!("{e}");
        }
    }

    /// An untagged VM on a veth port of `bridge` on host `h`: namespace
    /// `{prefix}{n}`, NIC `tap{uid}{n}` (its host end `qvo{uid}{n}`), addressed.
    pub fn veth_vm_on(
        &mut self,
        h: H,
        bridge: &str,
        n: &str,
        ip: &'static str,
        mac: &'static str,
    ) -> Vm {
        let vm = Vm {
            host: h,
            ns: format!("{}{n}", self.prefix),
            tap: format!("tap{}{n}", self.uid),
            ip,
            mac,
            tag: 0,
        };
        self.add_ns(&vm.ns);
        self.switch_ok(
            h,
            &[
                "add-port", bridge, &vm.tap, "--type", "veth", "--netns", &vm.ns, "--mac", vm.mac,
            ],
        );
        self.wait_vm_nic(&vm, Duration::from_secs(5));
        self.configure_vm_ip(&vm);
        vm
    }

    /// The kernel fast path's entries on host `h` (`dump-datapath` after its
    /// summary line) that mention every one of `parts`.
    pub fn datapath_entries(&self, h: H, parts: &[&str]) -> Vec<String> {
        let out = self.switch_ok(h, &["dump-datapath"]);
        out.lines()
            .skip(1)
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .map(str::to_owned)
            .collect()
    }

    /// Attaches `vm` on a port of type `kind` (`tap` or `veth`).
    pub fn try_attach_vm_as(&mut self, vm: &Vm, kind: &str) -> Result<()> {
        self.try_add_ns(&vm.ns)?;
        let tag = vm.tag.to_string();
        self.try_switch(
            vm.host,
            &[
                "add-port", "br-int", &vm.tap, "--type", kind, "--netns", &vm.ns, "--tag", &tag,
                "--mac", vm.mac,
            ],
        )?;
        self.try_wait_vm_nic(vm, Duration::from_secs(5))?;
        configure_ip(vm)
    }

    /// Waits until the VM's NIC exists inside its namespace with the right MAC.
    pub fn wait_vm_nic(&self, vm: &Vm, within: Duration) {
        if let Err(e) = self.try_wait_vm_nic(vm, within) {
            panic!("{e}");
        }
    }

    /// [`TwoHosts::wait_vm_nic`], returning errors.
    pub fn try_wait_vm_nic(&self, vm: &Vm, within: Duration) -> Result<()> {
        wait_nic(&vm.ns, &vm.tap, vm.mac, within).map_err(|e| {
            fail!(
                "{e} (switchd must create it and move it there)\n{}",
                self.diag()
            )
        })
    }

    /// `ip addr add IP/24 dev NIC; ip link set NIC mtu 1450 up` inside the VM.
    pub fn configure_vm_ip(&self, vm: &Vm) {
        if let Err(e) = configure_ip(vm) {
            panic!("{e}");
        }
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
        if let Err(e) = self.try_attach_kernel_vxlan_vm(vm, vni) {
            panic!("cannot attach {} by a kernel vxlan: {e}", vm.ns);
        }
    }

    /// [`TwoHosts::attach_kernel_vxlan_vm`], returning errors.
    pub fn try_attach_kernel_vxlan_vm(&mut self, vm: &Vm, vni: u32) -> Result<()> {
        let hns = self.host(vm.host).ns.clone();
        let (local, remote) = (self.host(vm.host).ip, self.host(vm.host).remote_ip);
        self.try_add_ns(&vm.ns)?;
        let hveth = format!("{}kh", self.prefix);
        kernel_vxlan_vm(&hns, local, remote, vni, &hveth, vm)?;
        configure_ip(vm)
    }

    /// Two VMs joined by a veth pair (`vm1.tap` to `vm2.tap`, with their MACs),
    /// no host between them: the kernel's own ceiling.
    pub fn try_attach_veth_vms(&mut self, vm1: &Vm, vm2: &Vm) -> Result<()> {
        self.try_add_ns(&vm1.ns)?;
        self.try_add_ns(&vm2.ns)?;
        net::veth(&vm1.ns, &vm1.tap, &vm2.ns, &vm2.tap)?;
        for vm in [vm1, vm2] {
            net::ip_in(&vm.ns, &["link", "set", "dev", &vm.tap, "address", vm.mac])?;
            configure_ip(vm)?;
        }
        Ok(())
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
}

/// `ip addr add IP/24 dev NIC; ip link set NIC mtu 1450 up` inside the VM, `lo` up.
pub fn configure_ip(vm: &Vm) -> Result<()> {
    configure_nic(&vm.ns, &vm.tap, vm.ip)
}

/// `ip addr add IP/24 dev NIC; ip link set NIC mtu 1450 up` inside `ns`, `lo` up.
pub fn configure_nic(ns: &str, nic: &str, ip: &str) -> Result<()> {
    net::ip_in(ns, &["addr", "add", &format!("{ip}/24"), "dev", nic])?;
    net::ip_in(ns, &["link", "set", "dev", nic, "mtu", VM_MTU, "up"])?;
    net::ip_in(ns, &["link", "set", "lo", "up"])?;
    Ok(())
}

/// Waits until `nic` exists inside `ns`; an error if it does not within `within`
/// or has another MAC than `mac` (lowercase).
pub fn wait_nic(ns: &str, nic: &str, mac: &str, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let r = ip_try(&["-n", ns, "link", "show", "dev", nic]);
        if r.ok() {
            if !r.stdout.to_ascii_lowercase().contains(mac) {
                return Err(fail!("{nic} in {ns} should have MAC {mac}:\n{}", r.stdout));
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(fail!(
                "{nic} did not appear in namespace {ns} within {within:?}:\n{}",
                r.describe()
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// In host namespace `hns`: a kernel vxlan device (VNI `vni`, UDP 4789, `local` to
/// `remote`, no learning) and `hveth` on one Linux bridge `brk`, the veth's peer
/// being the VM's NIC (`vm.tap` with `vm.mac`) in its namespace, all at the VM MTU.
pub fn kernel_vxlan_vm(
    hns: &str,
    local: &str,
    remote: &str,
    vni: u32,
    hveth: &str,
    vm: &Vm,
) -> Result<()> {
    let vni_s = vni.to_string();
    let vx = format!("vxlan{vni}");
    let br = "brk";
    net::ip_in(
        hns,
        &[
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
        ],
    )?;
    net::ip_in(hns, &["link", "add", br, "type", "bridge"])?;
    net::veth(hns, hveth, &vm.ns, &vm.tap)?;
    net::ip_in(&vm.ns, &["link", "set", "dev", &vm.tap, "address", vm.mac])?;
    for dev in [vx.as_str(), hveth] {
        net::ip_in(
            hns,
            &["link", "set", dev, "mtu", VM_MTU, "master", br, "up"],
        )?;
    }
    net::ip_in(hns, &["link", "set", br, "up"])?;
    Ok(())
}
