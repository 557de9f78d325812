use super::*;

fn arp_reply() -> Flow {
    let mac: Mac = "fa:16:3e:00:00:02".parse().unwrap();
    Flow::new(21, 1)
        .when(Match::Proto(Proto::Arp))
        .when(Match::DlVlan(1))
        .when(Match::ArpTpa(Match::host(Ipv4Addr::new(10, 0, 0, 4))))
        .then([
            Action::Move {
                src: FieldRange::whole(Field::DlSrc),
                dst: FieldRange::whole(Field::DlDst),
            },
            Action::ModDlSrc(mac),
            Action::Load {
                value: 2,
                dst: FieldRange::whole(Field::ArpOp),
            },
            Action::Load {
                value: mac.to_u64().into(),
                dst: FieldRange::whole(Field::ArpSha),
            },
            Action::InPort,
        ])
}

#[test]
fn prints_as_ovs_ofctl_writes_it() {
    assert_eq!(
        arp_reply().to_string(),
        "table=21,priority=1,arp,dl_vlan=1,arp_tpa=10.0.0.4,actions=\
         move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:fa:16:3e:00:00:02,\
         load:0x2->NXM_OF_ARP_OP[],load:0xfa163e000002->NXM_NX_ARP_SHA[],IN_PORT"
    );
    let f = Flow::new(0, 0)
        .when(Match::VlanTci {
            value: 0,
            mask: 0x1fff,
        })
        .when(Match::DlDstMasked {
            mac: Mac::ZERO,
            mask: Mac::GROUP_BIT,
        })
        .then([Action::resubmit(20)]);
    assert_eq!(
        f.to_string(),
        "table=0,priority=0,vlan_tci=0x0000/0x1fff,\
         dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)"
    );
    assert_eq!(
        Flow::new(3, 0).to_string(),
        "table=3,priority=0,actions=drop"
    );
}

#[test]
fn round_trips_as_json_with_wide_values_as_hex() {
    let mut f = arp_reply();
    f.matches.push(Match::Masked {
        field: Field::Ipv6Src,
        value: u128::MAX,
        mask: u128::MAX,
    });
    f.matches.push(Match::in_port("tap1"));
    let json = serde_json::to_string(&f).unwrap();
    assert!(
        json.contains(r#""value":"0xffffffffffffffffffffffffffffffff""#),
        "{json}"
    );
    assert!(json.contains(r#"{"in_port":"tap1"}"#), "{json}");
    let back: Flow = serde_json::from_str(&json).unwrap();
    assert_eq!(back, f);
    assert!(back.names_port("tap1"));
    assert!(!back.names_port("tap2"));
}

#[test]
fn macs_parse_strictly() {
    assert_eq!(
        "fa:16:3e:00:00:01".parse::<Mac>().unwrap().to_u64(),
        0xfa163e000001
    );
    for bad in [
        "",
        "fa:16:3e:00:00",
        "fa:16:3e:00:00:01:02",
        "fa:16:3e:00:00:0g",
        "fa:16:3e:0:00:01",
    ] {
        assert!(bad.parse::<Mac>().is_err(), "{bad}");
    }
}
