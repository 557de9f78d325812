//! The firewall's flows for groups and rules, exactly.

use super::*;
use model::{FixedIp, SecurityGroupRuleView, SecurityGroupView};

const T: &str = "tapA";

fn port(groups: &[&str]) -> LocalPort {
    LocalPort {
        id: "pA".into(),
        network_id: "net".into(),
        mac_address: "fa:16:3e:00:00:0a".into(),
        fixed_ips: vec![FixedIp {
            subnet_id: "s".into(),
            ip_address: "10.0.0.3".into(),
        }],
        device_owner: "compute:nova".into(),
        device_id: "vmA".into(),
        admin_state_up: true,
        port_security_enabled: true,
        allowed_address_pairs: vec![],
        status: "DOWN".into(),
        security_groups: groups.iter().map(|g| g.to_string()).collect(),
        project_id: String::new(),
        name: String::new(),
        floating_ips: vec![],
        extra_dhcp_opts: vec![],
    }
}

fn rule(id: &str, dir: &str, eth: &str) -> SecurityGroupRuleView {
    SecurityGroupRuleView {
        id: id.into(),
        direction: dir.into(),
        ethertype: eth.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: None,
    }
}

fn view(groups: Vec<SecurityGroupView>) -> HostView {
    HostView {
        revision: 1,
        host: "compute-01".into(),
        admin_state_up: true,
        networks: vec![],
        ports: vec![],
        remote_ports: vec![],
        routers: vec![],
        security_groups: groups,
    }
}

/// A firewall of port `p` alone, as tapA on VLAN 1.
fn one_port(p: &LocalPort) -> Firewall<'_> {
    Firewall {
        secured: vec![Secured {
            port: p,
            tap: T,
            vlan: 1,
        }],
        open: vec![],
    }
}

/// The rule flows (tables 72 and 82, priorities 70-77) for port A on VLAN 1.
fn rule_flows(v: &HostView, p: &LocalPort) -> Vec<String> {
    let fw = one_port(p);
    let mut w = Vec::new();
    let mut out: Vec<String> = flows(v, &fw, &mut w)
        .into_iter()
        .filter(|f| {
            matches!(f.table, RULES_EGRESS | RULES_INGRESS) && (70..=77).contains(&f.priority)
        })
        .map(|f| f.to_string())
        .collect();
    out.sort();
    assert!(w.is_empty(), "{w:?}");
    out
}

const EST: &str = "ct_state=+est-rel-rpl";
const NEW: &str = "ct_state=+new-est";
const COMMIT: &str = "ct(commit,zone=NXM_NX_REG6[0..15]),output:tapA,resubmit(,92)";

fn sorted(v: Vec<String>) -> Vec<String> {
    let mut v = v;
    v.sort();
    v
}

#[test]
fn the_default_group() {
    let mut ingress4 = rule("r3", "ingress", "IPv4");
    ingress4.remote_group_id = Some("default".into());
    let mut ingress6 = rule("r4", "ingress", "IPv6");
    ingress6.remote_group_id = Some("default".into());
    let g = SecurityGroupView {
        id: "default".into(),
        rules: vec![
            rule("r1", "egress", "IPv4"),
            rule("r2", "egress", "IPv6"),
            ingress4,
            ingress6,
        ],
        members: vec!["10.0.0.3".into(), "10.0.0.4".into(), "fd00::3".into()],
        stateful: true,
    };
    let got = rule_flows(&view(vec![g]), &port(&["default"]));
    let want = sorted(vec![
        // Egress anywhere: every new connection and its packets go on to 73.
        format!("table=72,priority=74,{EST},reg5={T},ip,actions=resubmit(,73)"),
        format!("table=72,priority=74,{NEW},reg5={T},ip,actions=resubmit(,73)"),
        format!("table=72,priority=74,{EST},reg5={T},ipv6,actions=resubmit(,73)"),
        format!("table=72,priority=74,{NEW},reg5={T},ipv6,actions=resubmit(,73)"),
        // Ingress from the group: clause 1 the members' addresses on the network,
        // clause 2 the port (conjunction 16/17 for IPv4, 24/25 for IPv6).
        format!(
            "table=82,priority=70,{EST},ip,reg6=0x1,nw_src=10.0.0.3,actions=conjunction(16,1/2)"
        ),
        format!(
            "table=82,priority=70,{EST},ip,reg6=0x1,nw_src=10.0.0.4,actions=conjunction(16,1/2)"
        ),
        format!(
            "table=82,priority=70,{NEW},ip,reg6=0x1,nw_src=10.0.0.3,actions=conjunction(17,1/2)"
        ),
        format!(
            "table=82,priority=70,{NEW},ip,reg6=0x1,nw_src=10.0.0.4,actions=conjunction(17,1/2)"
        ),
        format!(
            "table=82,priority=70,{EST},ipv6,reg6=0x1,ipv6_src=fd00::3,actions=conjunction(24,1/2)"
        ),
        format!(
            "table=82,priority=70,{NEW},ipv6,reg6=0x1,ipv6_src=fd00::3,actions=conjunction(25,1/2)"
        ),
        format!("table=82,priority=70,{EST},reg5={T},ip,actions=conjunction(16,2/2)"),
        format!("table=82,priority=70,{NEW},reg5={T},ip,actions=conjunction(17,2/2)"),
        format!("table=82,priority=70,{EST},reg5={T},ipv6,actions=conjunction(24,2/2)"),
        format!("table=82,priority=70,{NEW},reg5={T},ipv6,actions=conjunction(25,2/2)"),
        format!(
            "table=82,priority=70,conj_id=16,{EST},ip,reg5={T},actions=load:0x10->NXM_NX_REG7[],output:{T}"
        ),
        format!(
            "table=82,priority=70,conj_id=17,{NEW},ip,reg5={T},actions=load:0x11->NXM_NX_REG7[],{COMMIT}"
        ),
        format!(
            "table=82,priority=70,conj_id=24,{EST},ipv6,reg5={T},actions=load:0x18->NXM_NX_REG7[],output:{T}"
        ),
        format!(
            "table=82,priority=70,conj_id=25,{NEW},ipv6,reg5={T},actions=load:0x19->NXM_NX_REG7[],{COMMIT}"
        ),
    ]);
    assert_eq!(got, want);
}

#[test]
fn tcp_22_from_one_prefix() {
    let mut r = rule("ssh", "ingress", "IPv4");
    r.protocol = Some("tcp".into());
    r.port_range_min = Some(22);
    r.port_range_max = Some(22);
    r.remote_ip_prefix = Some("192.168.0.0/24".into());
    let mut web = rule("web", "ingress", "IPv4");
    web.protocol = Some("6".into());
    web.port_range_min = Some(8080);
    web.port_range_max = Some(8081);
    let mut ping = rule("ping", "ingress", "IPv4");
    ping.protocol = Some("icmp".into());
    ping.port_range_min = Some(8);
    let g = SecurityGroupView {
        id: "g".into(),
        rules: vec![r, web, ping],
        members: vec![],
        stateful: true,
    };
    let got = rule_flows(&view(vec![g]), &port(&["g"]));
    let want = sorted(vec![
        format!(
            "table=82,priority=77,{EST},reg5={T},tcp,nw_src=192.168.0.0/24,tp_dst=22,actions=output:{T}"
        ),
        format!(
            "table=82,priority=77,{NEW},reg5={T},tcp,nw_src=192.168.0.0/24,tp_dst=22,actions={COMMIT}"
        ),
        format!("table=82,priority=77,{EST},reg5={T},tcp,tp_dst=0x1f90/0xfffe,actions=output:{T}"),
        format!("table=82,priority=77,{NEW},reg5={T},tcp,tp_dst=0x1f90/0xfffe,actions={COMMIT}"),
        format!("table=82,priority=76,{EST},reg5={T},icmp,icmp_type=8,actions=output:{T}"),
        format!("table=82,priority=76,{NEW},reg5={T},icmp,icmp_type=8,actions={COMMIT}"),
    ]);
    assert_eq!(got, want);
}

#[test]
fn a_remote_group_with_members_on_three_hosts() {
    // Group "web" takes HTTP from group "app", whose members live on three
    // hosts; an address pair of a member is a prefix.
    let mut r = rule("http", "ingress", "IPv4");
    r.protocol = Some("tcp".into());
    r.port_range_min = Some(80);
    r.port_range_max = Some(80);
    r.remote_group_id = Some("app".into());
    let web = SecurityGroupView {
        id: "web".into(),
        rules: vec![r],
        members: vec![],
        stateful: true,
    };
    let app = SecurityGroupView {
        id: "app".into(),
        rules: vec![],
        members: vec![
            "10.0.0.11".into(),
            "10.0.0.12".into(),
            "10.0.0.13".into(),
            "10.0.9.0/24".into(),
            "fd00::11".into(),
        ],
        stateful: true,
    };
    let got = rule_flows(&view(vec![web, app]), &port(&["web"]));
    let mut want = Vec::new();
    for a in ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.9.0/24"] {
        want.push(format!(
            "table=82,priority=73,{EST},ip,reg6=0x1,nw_src={a},actions=conjunction(22,1/2)"
        ));
        want.push(format!(
            "table=82,priority=73,{NEW},ip,reg6=0x1,nw_src={a},actions=conjunction(23,1/2)"
        ));
    }
    want.extend([
        format!("table=82,priority=73,{EST},reg5={T},tcp,tp_dst=80,actions=conjunction(22,2/2)"),
        format!("table=82,priority=73,{NEW},reg5={T},tcp,tp_dst=80,actions=conjunction(23,2/2)"),
        format!("table=82,priority=73,conj_id=22,{EST},ip,reg5={T},actions=load:0x16->NXM_NX_REG7[],output:{T}"),
        format!("table=82,priority=73,conj_id=23,{NEW},ip,reg5={T},actions=load:0x17->NXM_NX_REG7[],{COMMIT}"),
    ]);
    assert_eq!(got, sorted(want));
}

#[test]
fn port_security_off_passes_through_73_only() {
    let v = view(vec![]);
    let fw = Firewall {
        secured: vec![],
        open: vec![("tapB".into(), 2)],
    };
    let mut w = Vec::new();
    let own: Vec<String> = flows(&v, &fw, &mut w)
        .into_iter()
        .map(|f| f.to_string())
        .filter(|f| f.contains("tapB"))
        .collect();
    assert_eq!(
        own,
        [
            "table=60,priority=100,in_port=tapB,actions=load:tapB->NXM_NX_REG5[],load:0x2->NXM_NX_REG6[],resubmit(,73)",
            "table=73,priority=80,reg5=tapB,actions=resubmit(,94)",
        ]
    );
}

#[test]
fn a_bad_rule_is_skipped_with_a_warning() {
    let mut r = rule("bad", "ingress", "IPv4");
    r.protocol = Some("bogus".into());
    let g = SecurityGroupView {
        id: "g".into(),
        rules: vec![r, rule("ok", "egress", "IPv4")],
        members: vec![],
        stateful: true,
    };
    let p = port(&["g", "gone"]);
    let fw = one_port(&p);
    let mut w = Vec::new();
    let f = flows(&view(vec![g]), &fw, &mut w);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(f.iter().any(|f| f.to_string()
        == format!("table=72,priority=74,{NEW},reg5={T},ip,actions=resubmit(,73)")));
}

#[test]
fn a_stateless_group_filters_each_packet_without_conntrack() {
    let mut ssh = rule("ssh", "ingress", "IPv4");
    ssh.protocol = Some("tcp".into());
    ssh.port_range_min = Some(22);
    ssh.port_range_max = Some(22);
    ssh.remote_ip_prefix = Some("192.168.0.0/24".into());
    let mut peers = rule("peers", "ingress", "IPv4");
    peers.remote_group_id = Some("sl".into());
    let g = SecurityGroupView {
        id: "sl".into(),
        rules: vec![rule("out", "egress", "IPv4"), ssh, peers],
        members: vec!["10.0.0.3".into(), "10.0.0.4".into()],
        stateful: false,
    };
    let p = port(&["sl"]);
    let got = rule_flows(&view(vec![g.clone()]), &p);
    let want = sorted(vec![
        // Every packet a rule matches passes in its direction, tracked or not.
        format!("table=72,priority=74,reg5={T},ip,actions=resubmit(,73)"),
        format!(
            "table=82,priority=77,reg5={T},tcp,nw_src=192.168.0.0/24,tp_dst=22,actions=output:{T}"
        ),
        // The remote group: one conjunction, no connection states.
        format!("table=82,priority=70,ip,reg6=0x1,nw_src=10.0.0.3,actions=conjunction(16,1/2)"),
        format!("table=82,priority=70,ip,reg6=0x1,nw_src=10.0.0.4,actions=conjunction(16,1/2)"),
        format!("table=82,priority=70,reg5={T},ip,actions=conjunction(16,2/2)"),
        format!(
            "table=82,priority=70,conj_id=16,ip,reg5={T},actions=load:0x10->NXM_NX_REG7[],output:{T}"
        ),
    ]);
    assert_eq!(got, want);
    // No conntrack at all for the port: IP goes straight to the rules.
    let fw = one_port(&p);
    let mut w = Vec::new();
    let all: Vec<String> = flows(&view(vec![g]), &fw, &mut w)
        .into_iter()
        .map(|f| f.to_string())
        .collect();
    assert!(w.is_empty(), "{w:?}");
    assert!(
        all.iter()
            .all(|f| !f.contains("ct(") || f.starts_with("table=71,priority=110")),
        "{all:#?}"
    );
    assert!(all.contains(&format!(
        "table=81,priority=90,ip,reg5={T},actions=resubmit(,82)"
    )));
    assert!(all.iter().any(|f| f.starts_with("table=71,priority=65")
        && f.contains("nw_src=10.0.0.3")
        && f.ends_with("actions=resubmit(,72)")));
}

#[test]
fn stateful_and_stateless_groups_on_one_port_are_tracked_and_said() {
    let a = SecurityGroupView {
        id: "a".into(),
        rules: vec![rule("out", "egress", "IPv4")],
        members: vec![],
        stateful: true,
    };
    let mut b = a.clone();
    b.id = "b".into();
    b.stateful = false;
    let p = port(&["a", "b"]);
    let fw = one_port(&p);
    let mut w = Vec::new();
    let f = flows(&view(vec![a, b]), &fw, &mut w);
    assert!(
        w.iter().any(|w| w.contains("stateful and stateless")),
        "{w:?}"
    );
    assert!(f.iter().any(|f| f.to_string().contains(NEW)));
}
