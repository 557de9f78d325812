use super::*;
use switch::parse_flow;

struct Names;
impl PortNames for Names {
    fn port_number(&self, name: &str) -> Option<u32> {
        match name {
            "patch-int" => Some(1),
            "vxlan-c0a86420" => Some(2),
            _ => None,
        }
    }
    fn port_name(&self, n: u32) -> Option<String> {
        match n {
            1 => Some("patch-int".into()),
            2 => Some("vxlan-c0a86420".into()),
            _ => None,
        }
    }
}

/// Every typed flow becomes exactly the flow its own text parses to.
#[test]
fn typed_flows_equal_their_parsed_text() {
    use p::{Action as A, Field as F, FieldRange as R, Match as M};
    let mac: p::Mac = "fa:16:3e:00:00:02".parse().unwrap_or(p::Mac::ZERO);
    let flows = [
        p::Flow::new(0, 1)
            .when(M::in_port("patch-int"))
            .then([A::resubmit(2)]),
        p::Flow::new(2, 0)
            .when(M::DlDstMasked {
                mac: p::Mac::ZERO,
                mask: p::Mac::GROUP_BIT,
            })
            .then([A::resubmit(20)]),
        p::Flow::new(20, 2)
            .when(M::DlVlan(1))
            .when(M::DlDst(mac))
            .then([
                A::StripVlan,
                A::SetTunnel(0x64),
                A::output("vxlan-c0a86420"),
            ]),
        p::Flow::new(25, 2)
            .when(M::in_port("patch-int"))
            .when(M::DlSrc(mac))
            .when(M::Proto(p::Proto::Ip))
            .when(M::NwSrc("10.0.0.0/24".parse().unwrap_or_default()))
            .then([A::resubmit(60)]),
        p::Flow::new(25, 2)
            .when(M::Proto(p::Proto::Ipv6))
            .when(M::Ipv6Src("fe80::/64".parse().unwrap_or_default()))
            .when(M::VlanTci {
                value: 0,
                mask: 0x1fff,
            })
            .then([A::Normal]),
        p::Flow::new(21, 1)
            .when(M::Proto(p::Proto::Arp))
            .when(M::ArpOp(1))
            .when(M::ArpTpa("10.0.0.4/32".parse().unwrap_or_default()))
            .then([
                A::Move {
                    src: R::whole(F::DlSrc),
                    dst: R::whole(F::DlDst),
                },
                A::ModDlSrc(mac),
                A::Load {
                    value: 2,
                    dst: R::whole(F::ArpOp),
                },
                A::InPort,
            ]),
        p::Flow::new(10, 1).then([
            A::Learn(Box::new(p::LearnSpec {
                table: 20,
                priority: 1,
                idle_timeout: 0,
                hard_timeout: 300,
                cookie: 1,
                items: vec![
                    p::LearnItem::Match {
                        dst: R::bits(F::VlanTci, 0, 11),
                        src: p::flow::LearnSrc::Field(R::bits(F::VlanTci, 0, 11)),
                    },
                    p::LearnItem::Match {
                        dst: R::whole(F::DlDst),
                        src: p::flow::LearnSrc::Field(R::whole(F::DlSrc)),
                    },
                    p::LearnItem::Load {
                        dst: R::whole(F::VlanTci),
                        src: p::flow::LearnSrc::Value(0),
                    },
                    p::LearnItem::Output {
                        src: R::whole(F::InPort),
                    },
                ],
            })),
            A::output("patch-int"),
        ]),
        p::Flow::new(3, 0),
        p::Flow::new(30, 5)
            .when(M::Masked {
                field: F::Reg5,
                value: 7,
                mask: 0xff,
            })
            .when(M::Proto(p::Proto::Udp))
            .when(M::TpDst(67))
            .then([A::Dhcp]),
        // The firewall's vocabulary.
        p::Flow::new(60, 100).when(M::in_port("patch-int")).then([
            A::LoadPort {
                port: p::PortRef::name("patch-int"),
                dst: R::whole(F::Reg5),
            },
            A::resubmit(71),
        ]),
        p::Flow::new(72, 50)
            .when(M::RegPort {
                reg: F::Reg5,
                port: p::PortRef::name("vxlan-c0a86420"),
            })
            .then([A::resubmit(94)]),
        p::Flow::new(71, 65)
            .when(M::CtState {
                set: 0,
                mask: p::ct_state::TRK,
            })
            .when(M::Proto(p::Proto::Ip))
            .then([A::Ct(Box::new(p::CtSpec::track(
                p::CtZoneSrc::Field(R::bits(F::Reg6, 0, 15)),
                72,
            )))]),
        p::Flow::new(72, 40)
            .when(M::CtState {
                set: p::ct_state::EST,
                mask: p::ct_state::EST,
            })
            .then([A::Ct(Box::new(p::CtSpec::commit(
                p::CtZoneSrc::Field(R::bits(F::Reg6, 0, 15)),
                Some(1),
            )))]),
        p::Flow::new(72, 50)
            .when(M::CtState {
                set: p::ct_state::EST | p::ct_state::RPL,
                mask: p::ct_state::EST | p::ct_state::REL | p::ct_state::RPL,
            })
            .when(M::CtZone(1))
            .when(M::CtMark {
                value: 0,
                mask: u32::MAX,
            })
            .then([A::resubmit(94)]),
        p::Flow::new(82, 71)
            .when(M::Masked {
                field: F::Reg6,
                value: 1,
                mask: 0xffff_ffff,
            })
            .then([
                A::Conjunction {
                    id: 18,
                    clause: 1,
                    n_clauses: 2,
                },
                A::Conjunction {
                    id: 26,
                    clause: 1,
                    n_clauses: 2,
                },
            ]),
        p::Flow::new(82, 71).when(M::ConjId(18)).then([
            A::Load {
                value: 18,
                dst: R::whole(F::Reg7),
            },
            A::Ct(Box::new(p::CtSpec::commit(p::CtZoneSrc::Value(3), None))),
            A::CtClear,
            A::output("patch-int"),
        ]),
    ];
    for f in &flows {
        let typed = flow_spec(f, &Names).unwrap_or_else(|e| panic!("{e}"));
        let parsed =
            parse_flow(&f.to_string(), &Names, true).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(typed.matcher, parsed.matcher, "{f}");
        assert_eq!(typed.actions, parsed.actions, "{f}");
        assert_eq!(
            (typed.table, typed.priority),
            (parsed.table, parsed.priority),
            "{f}"
        );
    }
}

#[test]
fn bad_typed_flows_are_refused_with_the_flow_named() {
    use p::{Action as A, Field as F, FieldRange as R, Match as M};
    let cases = [
        (
            p::Flow::new(0, 1).when(M::in_port("nope")).then([A::Drop]),
            "unknown port 'nope'",
        ),
        (
            p::Flow::new(0, 1).then([A::output("tap9")]),
            "unknown port 'tap9'",
        ),
        (p::Flow::new(255, 1), "bad table 255"),
        (
            p::Flow::new(0, 1).when(M::DlVlan(4096)),
            "bad value '4096' for dl_vlan",
        ),
        (
            p::Flow::new(0, 1).then([A::Load {
                value: 0x1ff,
                dst: R::whole(F::ArpOp),
            }]),
            "does not fit in 8 bits",
        ),
        (
            p::Flow::new(0, 1).then([A::Move {
                src: R::whole(F::DlSrc),
                dst: R::whole(F::NwSrc),
            }]),
            "different widths",
        ),
        (
            p::Flow::new(0, 1).then([A::OutputField(R::bits(F::ArpOp, 4, 12))]),
            "bad bit range",
        ),
        (
            p::Flow::new(0, 1).then([
                A::Conjunction {
                    id: 1,
                    clause: 1,
                    n_clauses: 2,
                },
                A::Drop,
            ]),
            "cannot be mixed",
        ),
        (
            p::Flow::new(0, 1).then([A::LoadPort {
                port: p::PortRef::name("patch-int"),
                dst: R::whole(F::Metadata),
            }]),
            "cannot hold a port",
        ),
        (
            p::Flow::new(0, 1).then([A::Conjunction {
                id: 1,
                clause: 3,
                n_clauses: 2,
            }]),
            "bad conjunction",
        ),
        (
            p::Flow::new(0, 1).then([A::Ct(Box::new(p::CtSpec {
                commit: false,
                table: None,
                zone: p::CtZoneSrc::Value(1),
                mark: Some(1),
            }))]),
            "needs commit",
        ),
        (
            p::Flow::new(0, 1).then([A::Ct(Box::new(p::CtSpec::track(
                p::CtZoneSrc::Field(R::bits(F::Reg6, 0, 7)),
                1,
            )))]),
            "16 bits",
        ),
    ];
    for (f, want) in cases {
        let e = flow_spec(&f, &Names).err().unwrap_or_default();
        assert!(e.contains(want), "{f}: {e}");
        assert!(e.starts_with(&format!("flow '{f}'")), "{e}");
    }
}
