//! Security groups at scale on one host (issue 18): 10 VM ports in one group of
//! 10,000 rules (TCP ports from a prefix each, and UDP and ICMP ones), one more
//! rule taking everything from a remote group of 1,000 members. Measures the
//! agent's compile of the host view (every bridge and flow), the engine's
//! replace of br-int's flows with them (what switchd does on an apply: the
//! flows in their text, parsed and installed), and the engine's memory for them
//! (resident memory before and after). The baseline in the same run: the same
//! host with port security off on every port (no firewall flows but the shared
//! ones).
//!
//! `cargo bench -p agent --bench firewall` (`-- RULES MEMBERS` for other sizes).

use agent::{HostConfig, compile};
use model::{
    FixedIp, HostView, LocalPort, NetworkType, NetworkView, SecurityGroupRuleView,
    SecurityGroupView, SubnetView,
};
use std::collections::BTreeMap;
use std::time::Instant;
use switch::{PortConfig, PortType, Switch};

fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    s.split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

fn rule(i: usize, proto: &str, min: Option<u32>, prefix: Option<String>) -> SecurityGroupRuleView {
    SecurityGroupRuleView {
        id: format!("r{i}"),
        direction: "ingress".into(),
        ethertype: "IPv4".into(),
        protocol: Some(proto.into()),
        port_range_min: min,
        port_range_max: min,
        remote_ip_prefix: prefix,
        remote_group_id: None,
    }
}

fn view(rules: usize, members: usize, secured: bool) -> HostView {
    let mut rs: Vec<SecurityGroupRuleView> = (0..rules)
        .map(|i| match i % 10 {
            0 => rule(i, "udp", Some(1 + (i % 60000) as u32), None),
            1 => rule(i, "icmp", Some((i % 40) as u32), None),
            _ => rule(
                i,
                "tcp",
                Some(1 + (i % 60000) as u32),
                Some(format!("10.{}.{}.0/24", (i / 256) % 256, i % 256)),
            ),
        })
        .collect();
    rs.push(SecurityGroupRuleView {
        id: "from-app".into(),
        direction: "ingress".into(),
        ethertype: "IPv4".into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: Some("app".into()),
    });
    let groups = vec![
        SecurityGroupView {
            id: "big".into(),
            rules: rs,
            members: vec![],
            stateful: true,
        },
        SecurityGroupView {
            id: "app".into(),
            rules: vec![],
            members: (0..members)
                .map(|i| format!("172.16.{}.{}", i / 250, 1 + i % 250))
                .collect(),
            stateful: true,
        },
    ];
    let ports = (0..10)
        .map(|i| LocalPort {
            id: format!("p{i:02}aaaaaaaaaaaa"),
            network_id: "net".into(),
            mac_address: format!("fa:16:3e:00:10:{i:02x}"),
            fixed_ips: vec![FixedIp {
                subnet_id: "sub".into(),
                ip_address: format!("10.0.0.{}", 10 + i),
            }],
            device_owner: "compute:nova".into(),
            device_id: format!("vm{i}"),
            admin_state_up: true,
            port_security_enabled: secured,
            allowed_address_pairs: vec![],
            status: "DOWN".into(),
            security_groups: if secured { vec!["big".into()] } else { vec![] },
            project_id: String::new(),
            name: String::new(),
            floating_ips: vec![],
            extra_dhcp_opts: vec![],
        })
        .collect();
    HostView {
        revision: 1,
        host: "compute-01".into(),
        admin_state_up: true,
        networks: vec![NetworkView {
            external_to_all: true,
            id: "net".into(),
            network_type: NetworkType::Vxlan,
            segmentation_id: Some(100),
            physical_network: None,
            mtu: 1450,
            admin_state_up: true,
            subnets: vec![SubnetView {
                id: "sub".into(),
                cidr: "10.0.0.0/24".into(),
                ip_version: 4,
                gateway_ip: Some("10.0.0.1".into()),
                enable_dhcp: true,
                dns_nameservers: vec![],
                host_routes: vec![],
                dhcp_server_ip: Some("10.0.0.2".into()),
                address_scope_id: None,
            }],
        }],
        ports,
        remote_ports: vec![],
        routers: vec![],
        security_groups: if secured { groups } else { vec![] },
    }
}

/// (compile ms, flows on br-int, install ms, engine bytes).
fn measure(v: &HostView) -> (f64, usize, f64, u64) {
    let cfg = HostConfig {
        metadata: None,
        host: "compute-01".into(),
        tunnel_ip: "192.168.100.31"
            .parse()
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
        bridge_mappings: BTreeMap::new(),
        external_bridge: "br-ex".into(),
        vm_port_type: switch_proto::PortType::Tap,
        router_port_type: switch_proto::PortType::Veth,
        tunnel_types: vec![switch_proto::PortType::Vxlan, switch_proto::PortType::Gre],
    };
    let t = Instant::now();
    let mut c = compile(v, &cfg, &BTreeMap::new());
    for _ in 0..2 {
        c = compile(v, &cfg, &BTreeMap::new());
    }
    let compile_ms = t.elapsed().as_secs_f64() * 1e3 / 3.0;
    let Some(int) = c.bridges.iter().find(|b| b.name == "br-int") else {
        return (compile_ms, 0, 0.0, 0);
    };
    let before = rss();
    let mut sw = Switch::new(1);
    let _ = sw.add_bridge("br-int", 0);
    for p in &int.ports {
        let kind = match p.kind {
            switch_proto::PortType::Patch => PortType::Patch,
            _ => PortType::Tap,
        };
        let mut pc = PortConfig::new(&p.name, kind);
        pc.tag = p.tag;
        pc.peer = p.peer.clone();
        let _ = sw.add_port("br-int", pc);
    }
    let text: Vec<String> = int.flows.iter().map(|f| f.to_string()).collect();
    let t = Instant::now();
    if let Err(e) = sw.replace_flows("br-int", &text, 0) {
        eprintln!("replace-flows: {e}");
    }
    let install_ms = t.elapsed().as_secs_f64() * 1e3;
    let bytes = rss().saturating_sub(before);
    std::hint::black_box(&sw);
    (compile_ms, int.flows.len(), install_ms, bytes)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rules = args.first().copied().unwrap_or(10_000);
    let members = args.get(1).copied().unwrap_or(1_000);
    let (bc, bf, bi, bb) = measure(&view(rules, members, false));
    let (c, f, i, b) = measure(&view(rules, members, true));
    println!(
        "security groups at scale: 10 ports in a group of {rules} rules + 1 remote-group rule ({members} members)"
    );
    println!("                      compile ms  br-int flows  install ms  engine MB");
    println!(
        "  port security off   {bc:>10.1}  {bf:>12}  {bi:>10.1}  {:>9.1}",
        bb as f64 / 1e6
    );
    println!(
        "  the group           {c:>10.1}  {f:>12}  {i:>10.1}  {:>9.1}",
        b as f64 / 1e6
    );
    println!(
        "  per rule and port: {:.2} us compile, {:.2} us install",
        (c - bc) * 1e3 / (rules * 10) as f64,
        (i - bi) * 1e3 / (rules * 10) as f64
    );
}
