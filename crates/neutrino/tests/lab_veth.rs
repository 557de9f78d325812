//! The lab on veth ports (its default since issue 22; root, namespaces only): the
//! agents plug the VMs through veth pairs (the VM's end in its namespace, the
//! host's end `qvo…` in the compute's), and the lab works as with TAPs: DHCP from
//! the switch, VMs on two computes pinging over VXLAN, a TCP stream, the metadata
//! service, an agent restart that changes nothing.
//!
//! The lab has its own prefix and is removed by a guard, also on failure.

mod common;

use lab::net;

#[test]
fn the_lab_runs_on_veth_ports() {
    if common::lab_available() {
        common::require_tool("busybox", "busybox");
    }
    let Some(mut g) = common::lab_up("w", "a", |o| {
        o.agent_args = vec!["--vm-port-type".into(), "veth".into()];
    }) else {
        return;
    };
    let l = g.lab();
    let vm1 = l.vm("vm1").unwrap();
    let vm2 = l.vm("vm2").unwrap();
    // `lab up` has already checked DHCP and vm1 <-> vm2; the ports are veth.
    for vm in [&vm1, &vm2] {
        let show = l.switch(&vm.host, &["show"]).unwrap();
        // `Interface NAME`, then its `type:` line.
        let kind = show
            .lines()
            .skip_while(|x| x.trim() != format!("Interface {}", vm.tap))
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_string();
        assert_eq!(kind, "type: veth", "{}\n{show}", vm.tap);
        let host_end = format!("qvo{}", vm.tap.trim_start_matches("tap"));
        let ns = l
            .state
            .node(&vm.host)
            .map(|n| n.ns.clone())
            .unwrap_or_default();
        let links = net::ip_in(&ns, &["-o", "link", "show"]).unwrap();
        assert!(links.contains(&host_end), "{host_end} in {ns}: {links}");
    }
    let ok = |from: &lab::Vm, to: &str| {
        net::exec_in(&from.ns, "ping", &["-c", "1", "-W", "1", to])
            .is_ok_and(|o| o.status.success())
    };
    assert!(ok(&vm1, &vm2.ip) && ok(&vm2, &vm1.ip));
    // The kernel carries them: vm1's pings, through the default security group
    // (connection tracking), take an entry on compute-01 that goes into the
    // tunnel device, and the packets after the first stay in the kernel.
    // (Retried while the agents may still be changing flows, which makes every
    // kernel entry stale.)
    let from = format!("in_port(qvo{})", vm1.tap.trim_start_matches("tap"));
    let mut last = String::new();
    let carried = (0..5).any(|_| {
        let burst = net::exec_in(&vm1.ns, "ping", &["-c", "10", "-i", "0.05", &vm2.ip]);
        assert!(burst.is_ok_and(|o| o.status.success()));
        last = l.switch(&vm1.host, &["dump-datapath"]).unwrap();
        last.lines().any(|x| {
            let packets: u64 = x
                .split("packets:")
                .nth(1)
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            x.starts_with(&from)
                && x.contains("icmp(type=8")
                && x.contains("sw-vxlan")
                && x.contains("tracked")
                && packets >= 8
        })
    });
    assert!(carried, "vm1's pings did not take the kernel:\n{last}");
    assert_eq!(
        lab::vms::metadata(&vm1, "/latest/meta-data/local-ipv4").unwrap(),
        vm1.ip
    );
    // An agent restart finds the pairs as they are.
    let host = vm1.host.clone();
    l.stop_agent(&host).unwrap();
    l.start_agent(&host).unwrap();
    common::eventually(
        "vm1 -> vm2 after the agent restart",
        std::time::Duration::from_secs(20),
        || ok(&vm1, &vm2.ip),
    );
}
