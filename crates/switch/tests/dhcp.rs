//! The `dhcp` action: a DHCP server at the VM's port. Every reply is taken apart
//! again with dhcproto (through `wire::dhcp`) and checked field by field.

mod common;

use common::dhcp_rig::*;
use common::{forwards, made, port};
use std::net::Ipv4Addr;
use switch::{DhcpBinding, PortType, Switch};
use wire::MacAddr;
use wire::dhcp::{self as wdhcp, DhcpOption, Flags, Message, MessageType, OptionCode, UdpHeaders};

#[test]
fn discover_gets_an_offer_unicast_to_chaddr() {
    let mut r = rig();
    let p = r.answer(&discover());
    // No broadcast flag: to yiaddr at chaddr (RFC 2131 4.1).
    assert_offered(&p, MessageType::Offer);
    assert_eq!(p.m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(p.m.siaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(p.m.giaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(p.h.vlan_tci, None);
    assert_eq!(r.stats().offers, 1);
}

#[test]
fn broadcast_flag_gets_a_broadcast_offer() {
    let mut r = rig();
    let mut m = client_msg(MessageType::Discover, VM);
    m.set_flags(Flags::default().set_broadcast());
    let p = r.answer(&broadcast_frame(&m));
    assert_eq!(p.msg_type(), Some(MessageType::Offer));
    assert!(p.m.flags().broadcast());
    assert_eq!(p.dest(), BROADCAST);
}

#[test]
fn request_selecting_gets_an_ack() {
    use DhcpOption as O;
    let mut r = rig();
    let client_id = O::ClientIdentifier(vec![1, 0xfa, 0x16, 0x3e, 0, 0, 1]);
    let m = vm_msg(
        MessageType::Request,
        &[
            O::RequestedIpAddress(IP),
            O::ServerIdentifier(SERVER),
            client_id.clone(),
        ],
    );
    let p = r.answer(&broadcast_frame(&m));
    assert_offered(&p, MessageType::Ack);
    assert_eq!(p.m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    // RFC 6842: the client identifier comes back.
    assert_opt(&p.m, client_id);
    assert_eq!(r.stats().acks, 1);
}

#[test]
fn request_selecting_another_server_is_ignored() {
    use DhcpOption as O;
    let mut r = rig();
    let selecting = [
        O::RequestedIpAddress(ELSEWHERE),
        O::ServerIdentifier(OTHER_SERVER),
    ];
    let m = vm_msg(MessageType::Request, &selecting);
    assert!(r.unanswered(&broadcast_frame(&m)));
    assert_eq!(r.stats().ignored, 1);
}

/// Checks a NAK: broadcast, no address, only type, server id and a message.
fn assert_nak(p: &Parsed) {
    assert_eq!(p.msg_type(), Some(MessageType::Nak));
    assert_eq!(p.m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(p.m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(p.dest(), BROADCAST);
    let codes: Vec<OptionCode> = p.m.opts().iter().map(|(c, _)| *c).collect();
    let mut want = vec![
        OptionCode::ServerIdentifier,
        OptionCode::MessageType,
        OptionCode::Message,
    ];
    want.sort();
    assert_eq!(codes, want);
}

#[test]
fn request_for_another_address_gets_a_nak() {
    use DhcpOption as O;
    use MessageType::Request;
    let mut r = rig();
    // Selecting our offer but asking for something else.
    let m = vm_msg(
        Request,
        &[
            O::RequestedIpAddress(ELSEWHERE),
            O::ServerIdentifier(SERVER),
        ],
    );
    assert_nak(&r.answer(&broadcast_frame(&m)));
    // INIT-REBOOT with an address from an earlier life.
    let m = vm_msg(
        Request,
        &[O::RequestedIpAddress(Ipv4Addr::new(192, 168, 1, 9))],
    );
    assert_nak(&r.answer(&broadcast_frame(&m)));
    // RENEWING an address that is not the port's.
    let m = bound_msg(Request, ELSEWHERE, &[]);
    assert_nak(&r.answer(&bound_frame(&m, SERVER)));
    // A renewal naming another server id.
    let m = bound_msg(Request, IP, &[O::ServerIdentifier(OTHER_SERVER)]);
    assert_nak(&r.answer(&bound_frame(&m, SERVER)));
    assert_eq!(r.stats().naks, 4);
}

#[test]
fn init_reboot_gets_an_ack() {
    let mut r = rig();
    let m = vm_msg(MessageType::Request, &[DhcpOption::RequestedIpAddress(IP)]);
    assert_offered(&r.answer(&broadcast_frame(&m)), MessageType::Ack);
}

#[test]
fn renewing_and_rebinding_get_an_ack_to_ciaddr() {
    let mut r = rig();
    // RENEWING: unicast to the server.
    let m = bound_msg(MessageType::Request, IP, &[]);
    let p = r.answer(&bound_frame(&m, SERVER));
    assert_offered(&p, MessageType::Ack);
    assert_eq!(p.m.ciaddr(), IP);
    // REBINDING: broadcast, still answered to ciaddr.
    let p = r.answer(&bound_frame(&m, Ipv4Addr::BROADCAST));
    assert_eq!(p.msg_type(), Some(MessageType::Ack));
    assert_eq!(p.dest(), (VM, IP));
    assert_eq!(r.stats().acks, 2);
}

#[test]
fn release_and_decline_get_no_reply() {
    use DhcpOption as O;
    let mut r = rig();
    let m = bound_msg(MessageType::Release, IP, &[O::ServerIdentifier(SERVER)]);
    assert!(r.unanswered(&bound_frame(&m, SERVER)));
    let m = vm_msg(
        MessageType::Decline,
        &[O::RequestedIpAddress(IP), O::ServerIdentifier(SERVER)],
    );
    assert!(r.unanswered(&broadcast_frame(&m)));
    let s = r.stats();
    assert_eq!((s.releases, s.dropped, s.offers, s.acks), (2, 0, 0, 0));
}

#[test]
fn inform_gets_an_ack_without_lease() {
    let mut r = rig();
    let m = bound_msg(MessageType::Inform, IP, &[]);
    let p = r.answer(&bound_frame(&m, Ipv4Addr::BROADCAST));
    assert_eq!(p.msg_type(), Some(MessageType::Ack));
    assert_eq!(p.m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(p.m.ciaddr(), IP);
    assert_config_options(&p.m, false);
    assert_eq!(p.dest(), (VM, IP));
}

#[test]
fn classless_routes_with_the_default_route_when_asked() {
    let mut r = rig();
    let mut b = binding();
    b.host_routes = vec![
        route([169, 254, 169, 254], 32, [10, 0, 0, 2]),
        route([172, 16, 0, 0], 12, [10, 0, 0, 254]),
    ];
    r.set_binding(Some(b)).unwrap();
    let asks = DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Router,
        OptionCode::ClasslessStaticRoute,
    ]);
    let replies = r.send(
        r.tap1,
        &broadcast_frame(&vm_msg(MessageType::Discover, &[asks])),
    );
    assert_eq!(replies.len(), 1);
    let p = parse_reply(&replies[0].frame);
    let Some(DhcpOption::ClasslessStaticRoute(routes)) =
        opt(&p.m, OptionCode::ClasslessStaticRoute)
    else {
        panic!("no option 121: {:?}", p.m.opts());
    };
    let routes: Vec<String> = routes.iter().map(|(n, g)| format!("{n} via {g}")).collect();
    assert_eq!(
        routes,
        [
            "169.254.169.254/32 via 10.0.0.2",
            "172.16.0.0/12 via 10.0.0.254",
            "0.0.0.0/0 via 10.0.0.1"
        ]
    );
    // RFC 3442's encoding, byte for byte: width, significant octets, router.
    let want: &[u8] = &[
        121, 21, 32, 169, 254, 169, 254, 10, 0, 0, 2, 12, 172, 16, 10, 0, 0, 254, 0, 10, 0, 0, 1,
    ];
    assert!(
        replies[0].frame.windows(want.len()).any(|w| w == want),
        "option 121 bytes"
    );
    // Option 3 is still there for clients that do not take 121.
    assert_opt(&p.m, DhcpOption::Router(vec![ROUTER]));
    // Without asking for 121, the client gets no option 121 (RFC 3442 §4).
    let p = r.answer(&discover());
    assert_no_opts(&p.m, &[OptionCode::ClasslessStaticRoute]);
}

#[test]
fn minimal_binding_sends_only_what_it_has() {
    use DhcpOption as O;
    let mut r = rig();
    let b = DhcpBinding::new("fa:16:3e:00:00:01", IP, 16, SERVER);
    r.set_binding(Some(b)).unwrap();
    let p = r.answer(&discover());
    assert_no_opts(
        &p.m,
        &[
            OptionCode::Router,
            OptionCode::DomainNameServer,
            OptionCode::DomainName,
            OptionCode::InterfaceMtu,
            OptionCode::ClasslessStaticRoute,
        ],
    );
    assert_opt(&p.m, O::SubnetMask(Ipv4Addr::new(255, 255, 0, 0)));
    assert_opt(&p.m, O::BroadcastAddr(Ipv4Addr::new(10, 0, 255, 255)));
    assert_opt(&p.m, O::AddressLeaseTime(86_400));
}

#[test]
fn extra_options_and_next_server() {
    use switch::RawDhcpOption;
    let raw = |code: u8, data: &[u8]| RawDhcpOption {
        code,
        data: data.to_vec(),
    };
    let mut r = rig();
    let mut b = binding();
    b.next_server = Some(Ipv4Addr::new(10, 0, 0, 9));
    b.options = vec![
        raw(66, b"10.0.0.9"),
        raw(67, b"pxelinux.0"),
        // Replaces the binding's own router option.
        raw(3, &[10, 0, 0, 254]),
    ];
    r.set_binding(Some(b.clone())).unwrap();
    // No request list: everything, and siaddr.
    let p = r.answer(&discover());
    assert_eq!(p.m.siaddr(), Ipv4Addr::new(10, 0, 0, 9));
    assert_opt(&p.m, DhcpOption::Router(vec![Ipv4Addr::new(10, 0, 0, 254)]));
    for (code, want) in [(66u8, &b"10.0.0.9"[..]), (67, b"pxelinux.0")] {
        match opt(&p.m, OptionCode::from(code)) {
            Some(DhcpOption::Unknown(u)) => assert_eq!(u.data(), want),
            Some(DhcpOption::TFTPServerName(v)) | Some(DhcpOption::BootfileName(v)) => {
                assert_eq!(v, want)
            }
            o => panic!("option {code}: {o:?}"),
        }
    }
    // A client asking for 66 only gets 66 and not 67.
    let asks = DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Router,
        OptionCode::from(66u8),
    ]);
    let replies = r.send(
        r.tap1,
        &broadcast_frame(&vm_msg(MessageType::Discover, &[asks])),
    );
    let p = parse_reply(&replies[0].frame);
    assert!(opt(&p.m, OptionCode::from(66u8)).is_some());
    assert_no_opts(&p.m, &[OptionCode::from(67u8)]);
    assert_opt(&p.m, DhcpOption::Router(vec![Ipv4Addr::new(10, 0, 0, 254)]));
    // Refused: the exchange's own codes, empty or twice-given options, too much.
    for bad in [
        vec![raw(53, &[2])],
        vec![raw(54, &[10, 0, 0, 9, 9])],
        vec![raw(66, b"")],
        vec![raw(66, b"a"), raw(66, b"b")],
        (100..140).map(|c| raw(c, b"x")).collect(),
        (100..110).map(|c| raw(c, &[7; 200])).collect(),
    ] {
        let mut nb = b.clone();
        nb.options = bad;
        assert!(r.set_binding(Some(nb)).is_err());
    }
    let mut nb = b;
    nb.next_server = Some(Ipv4Addr::BROADCAST);
    assert!(r.set_binding(Some(nb)).is_err());
}

#[test]
fn nothing_for_another_mac_or_an_unbound_port() {
    let mut r = rig();
    let from_other = |m: &Message| frame_from(OTHER, Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, m);
    // Ethernet source and chaddr of another machine.
    let m = client_msg(MessageType::Discover, OTHER);
    assert!(r.unanswered(&from_other(&m)));
    // The bound MAC as Ethernet source, but another chaddr.
    assert!(r.unanswered(&broadcast_frame(&m)));
    // Another Ethernet source with the bound chaddr.
    let m = client_msg(MessageType::Discover, VM);
    assert!(r.unanswered(&from_other(&m)));
    assert_eq!(r.stats().dropped, 3);
    // A port without a binding.
    assert!(r.send(r.tap2, &broadcast_frame(&m)).is_empty());
    assert_eq!(r.stats_of(r.tap2).dropped, 1);
    assert_eq!(r.stats().offers, 0);
}

#[test]
fn malformed_and_non_dhcp_packets_are_dropped() {
    let mut r = rig();
    let good = discover();
    let mut n = 0;
    // Truncated at every length past the UDP ports (the flow still matches).
    for len in (14 + 20 + 4)..good.len() {
        assert!(r.unanswered(&good[..len]), "{len}");
        n += 1;
    }
    // A client message type the server does not take (an OFFER from a client).
    let m = client_msg(MessageType::Offer, VM);
    assert!(r.unanswered(&broadcast_frame(&m)));
    // No message type at all: BOOTP.
    let z = Ipv4Addr::UNSPECIFIED;
    let bootp = Message::new_with_id(XID, z, z, z, z, &VM.0);
    assert!(r.unanswered(&broadcast_frame(&bootp)));
    // Relayed (giaddr set).
    let mut m = client_msg(MessageType::Discover, VM);
    m.set_giaddr(Ipv4Addr::new(10, 9, 9, 9));
    assert!(r.unanswered(&broadcast_frame(&m)));
    // A hostile option (a length dhcproto would assert on) is skipped, not fatal.
    let mut f = discover();
    let opts = 14 + 20 + 8 + wdhcp::FIXED_LEN + 4;
    f.splice(opts..opts, [94u8, 1, 7]);
    let ulen = u16::from_be_bytes([f[38], f[39]]) + 3;
    f[38..40].copy_from_slice(&ulen.to_be_bytes());
    let tlen = u16::from_be_bytes([f[16], f[17]]) + 3;
    f[16..18].copy_from_slice(&tlen.to_be_bytes());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = wire::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[40..42].copy_from_slice(&[0, 0]); // no UDP checksum
    let p = r.answer(&f);
    assert_eq!(p.msg_type(), Some(MessageType::Offer));
    assert_eq!(r.stats().dropped, n + 3);
}

#[test]
fn vlan_tagged_request_gets_a_tagged_reply() {
    let mut r = rig();
    let m = client_msg(MessageType::Discover, VM);
    let f = wdhcp::build_udp_frame(
        &UdpHeaders {
            eth_src: VM,
            eth_dst: MacAddr::BROADCAST,
            vlan_tci: Some(5),
            ip_src: Ipv4Addr::UNSPECIFIED,
            ip_dst: Ipv4Addr::BROADCAST,
            src_port: 68,
            dst_port: 67,
        },
        &wdhcp::encode_message(&m).unwrap(),
    );
    let p = r.answer(&f);
    assert_eq!(p.h.vlan_tci, Some(5));
}

fn arp_request(sha: MacAddr, spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    wire::arp::build(&wire::arp::Arp {
        eth_src: sha,
        eth_dst: MacAddr::BROADCAST,
        vlan_tci: None,
        op: wire::arp::OP_REQUEST,
        sha,
        spa,
        tha: MacAddr::ZERO,
        tpa,
    })
}

#[test]
fn arp_for_the_server_address_is_answered() {
    let mut r = rig();
    let tap1 = r.tap1;
    let replies = r.send(tap1, &arp_request(VM, IP, SERVER));
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].port, tap1);
    let a = wire::arp::parse(&replies[0].frame).unwrap();
    assert_eq!(a.op, wire::arp::OP_REPLY);
    assert_eq!((a.eth_src, a.eth_dst), (SERVER_MAC, VM));
    assert_eq!((a.sha, a.spa, a.tha, a.tpa), (SERVER_MAC, SERVER, VM, IP));
    assert_eq!(r.stats().arp_replies, 1);
    // From another MAC: nothing (the flow matches, the action refuses).
    assert!(r.unanswered(&arp_request(OTHER, IP, SERVER)));
    assert_eq!(r.stats().dropped, 1);
    // For another address: does not hit the flow; NORMAL floods it to tap2.
    let mut out = Vec::new();
    r.sw.receive(tap1, &arp_request(VM, IP, ROUTER), None, 0, &mut out);
    assert_eq!(forwards(&out).len(), 1);
    assert!(made(&out).is_empty());
}

#[test]
fn dhcp_action_parses_prints_and_round_trips() {
    let mut r = rig();
    let br = r.sw.bridge_id("br-int").unwrap();
    let text = r.sw.flows_text(br);
    assert!(
        text.contains(
            &"table=0,priority=50,udp,in_port=tap1,tp_src=68,tp_dst=67,actions=dhcp".to_string()
        ),
        "{text:?}"
    );
    // Printed text parses back to the same flows.
    let before = r.sw.dump_flows("br-int", None, 0).unwrap();
    r.sw.replace_flows("br-int", &text, 0).unwrap();
    assert_eq!(r.sw.dump_flows("br-int", None, 0).unwrap(), before);
    let names = r.sw.names(br);
    let a = switch::parse_actions("dhcp", &names).unwrap();
    assert_eq!(a, vec![switch::Action::Dhcp]);
    assert_eq!(switch::actions_text(&a, &names), "dhcp");
    assert!(switch::parse_actions("dhcp:1", &names).is_err());
}

#[test]
fn trace_says_what_dhcp_does() {
    let mut r = rig();
    let t = r.trace("in_port=tap1,udp,dl_src=fa:16:3e:00:00:01,tp_src=68,tp_dst=67");
    assert!(t.contains("actions=dhcp"), "{t}");
    assert!(
        t.contains("dhcp: DHCP from fa:16:3e:00:00:01: DISCOVER -> OFFER 10.0.0.5/24"),
        "{t}"
    );
    let t = r.trace("in_port=tap1,udp,dl_src=fa:16:3e:00:00:09,tp_src=68,tp_dst=67");
    assert!(t.contains("is not the bound MAC"), "{t}");
    let t = r.trace("in_port=tap2,udp,tp_src=68,tp_dst=67");
    assert!(t.contains("no DHCP binding on tap2"), "{t}");
    let t = r.trace("in_port=tap1,arp,dl_src=fa:16:3e:00:00:01,arp_op=1,arp_tpa=10.0.0.2");
    assert!(
        t.contains("dhcp: ARP reply 10.0.0.2 is-at fa:16:3e:ff:ff:fe"),
        "{t}"
    );
    // A real frame: the exact answer, and no state change.
    let t =
        r.sw.trace_frame(r.tap1, &discover(), None, 0)
            .unwrap()
            .join("\n");
    assert!(
        t.contains("dhcp: OFFER 10.0.0.5 to fa:16:3e:00:00:01"),
        "{t}"
    );
    assert!(t.contains("br-int: reply through tap1"), "{t}");
    assert_eq!(r.stats(), switch::DhcpStats::default());
}

#[test]
fn bindings_are_validated_and_survive_restore() {
    let mut r = rig();
    let bad_fields: [fn(&mut DhcpBinding); 3] = [
        |b| b.mac = "fa:16:3e:00:00".into(),
        |b| b.server_mac = "ff:ff:ff:ff:ff:ff".into(),
        |b| b.prefix_len = 33,
    ];
    for spoil in bad_fields {
        let mut bad = binding();
        spoil(&mut bad);
        assert!(r.set_binding(Some(bad)).is_err());
    }
    let mut bad = binding();
    bad.host_routes = vec![route([10, 1, 0, 1], 16, ROUTER.octets())];
    let e = r.set_binding(Some(bad)).unwrap_err();
    assert!(e.to_string().contains("beyond the prefix"), "{e}");
    assert!(r.sw.set_port_dhcp("br-int", "nope", None).is_err());
    // A failed set changes nothing.
    assert_eq!(
        r.sw.port(r.tap1).unwrap().config.dhcp.as_ref(),
        Some(&binding())
    );
    // Patch and tunnel ports take no binding.
    let mut p = port("patch-x", PortType::Patch);
    p.peer = Some("patch-y".into());
    p.dhcp = Some(binding());
    assert!(r.sw.add_port("br-int", p).is_err());

    // The binding is part of the port's config: JSON and restore keep it.
    let cfg = r.sw.config();
    let json = serde_json::to_string(&cfg).unwrap();
    assert!(json.contains("\"dhcp\""), "{json}");
    let back: Vec<switch::BridgeConfig> = serde_json::from_str(&json).unwrap();
    let mut sw2 = Switch::restore(&back, 7, 0).unwrap();
    let (id, p) = sw2.port_by_name("tap1").unwrap();
    assert_eq!(p.config.dhcp.as_ref(), Some(&binding()));
    let mut out = Vec::new();
    sw2.receive(id, &discover(), None, 0, &mut out);
    assert_eq!(made(&out).len(), 1);
    // Old state files (no "dhcp") still load; clearing removes it from the JSON.
    let (_, p2) = sw2.port_by_name("tap2").unwrap();
    assert!(!serde_json::to_string(&p2.config).unwrap().contains("dhcp"));
    sw2.set_port_dhcp("br-int", "tap1", None).unwrap();
    assert!(
        !serde_json::to_string(&sw2.config())
            .unwrap()
            .contains("\"dhcp\"")
    );
    // A binding with only the required fields deserializes (defaults for the rest).
    let minimal: DhcpBinding = serde_json::from_str(
        r#"{"mac":"fa:16:3e:00:00:01","ip":"10.0.0.5","prefix_len":24,"lease_secs":600,
            "server_ip":"10.0.0.2","server_mac":"fa:16:3e:ff:ff:fe"}"#,
    )
    .unwrap();
    assert_eq!(minimal.router, None);
    assert!(minimal.dns.is_empty() && minimal.host_routes.is_empty());
}
