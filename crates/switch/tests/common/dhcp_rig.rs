//! A switch with one DHCP-bound port and the DHCP messages and frames the DHCP
//! tests send it, with the checks their answers must pass.

use super::{forwards, made, port};
use std::net::Ipv4Addr;
use switch::{DhcpBinding, PortType, Reply, StaticRoute, Switch};
use wire::MacAddr;
use wire::dhcp::{
    self as wdhcp, Decodable, DhcpOption, Message, MessageType, Opcode, OptionCode, UdpHeaders,
};

pub const VM: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0, 0, 1]);
pub const OTHER: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0, 0, 9]);
pub const SERVER_MAC: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0xff, 0xff, 0xfe]);
pub const IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// An address in the subnet that is not the port's.
pub const ELSEWHERE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 77);
/// Another DHCP server's address.
pub const OTHER_SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
/// Where a broadcast reply goes.
pub const BROADCAST: (MacAddr, Ipv4Addr) = (MacAddr::BROADCAST, Ipv4Addr::BROADCAST);
pub const XID: u32 = 0xdead_beef;

pub fn route(destination: [u8; 4], prefix_len: u8, nexthop: [u8; 4]) -> StaticRoute {
    StaticRoute {
        destination: destination.into(),
        prefix_len,
        nexthop: nexthop.into(),
    }
}

pub fn binding() -> DhcpBinding {
    let mut b = DhcpBinding::new("fa:16:3e:00:00:01", IP, 24, SERVER);
    b.router = Some(ROUTER);
    b.dns = vec![Ipv4Addr::new(10, 0, 0, 53), Ipv4Addr::new(8, 8, 8, 8)];
    b.mtu = Some(1450);
    b.lease_secs = 3600;
    b.domain_name = Some("openstacklocal".into());
    b
}

pub struct Rig {
    pub sw: Switch,
    pub tap1: usize,
    pub tap2: usize,
}

/// br-int with tap1 (bound) and tap2 (no binding), the agent's DHCP flows on both.
pub fn rig() -> Rig {
    let mut sw = Switch::new(7);
    sw.add_bridge("br-int", 0).unwrap();
    let mut t1 = port("tap1", PortType::Tap);
    t1.dhcp = Some(binding());
    let tap1 = sw.add_port("br-int", t1).unwrap();
    let tap2 = sw.add_port("br-int", port("tap2", PortType::Tap)).unwrap();
    let flows: Vec<String> = [
        "table=0,priority=50,in_port=tap1,udp,tp_src=68,tp_dst=67,actions=dhcp",
        "table=0,priority=50,in_port=tap2,udp,tp_src=68,tp_dst=67,actions=dhcp",
        "table=0,priority=50,in_port=tap1,arp,arp_op=1,arp_tpa=10.0.0.2,actions=dhcp",
        "table=0,priority=0,actions=NORMAL",
    ]
    .map(String::from)
    .into();
    sw.replace_flows("br-int", &flows, 0).unwrap();
    Rig { sw, tap1, tap2 }
}

impl Rig {
    /// Sends `frame` into `port`; returns the engine's replies (and checks that
    /// the request itself went nowhere).
    pub fn send(&mut self, port: usize, frame: &[u8]) -> Vec<Reply> {
        let mut out = Vec::new();
        self.sw.receive(port, frame, None, 0, &mut out);
        assert!(
            forwards(&out).is_empty(),
            "the request itself must not be forwarded"
        );
        made(&out)
    }

    /// Sends `frame` into tap1: the one reply, taken apart.
    pub fn answer(&mut self, frame: &[u8]) -> Parsed {
        let tap1 = self.tap1;
        only_reply(self.send(tap1, frame), tap1)
    }

    /// Sends `frame` into tap1: true when nothing comes back.
    pub fn unanswered(&mut self, frame: &[u8]) -> bool {
        let tap1 = self.tap1;
        self.send(tap1, frame).is_empty()
    }

    /// tap1's DHCP counters.
    pub fn stats(&self) -> switch::DhcpStats {
        self.stats_of(self.tap1)
    }

    pub fn stats_of(&self, p: usize) -> switch::DhcpStats {
        self.sw.port(p).unwrap().dhcp_stats
    }

    /// Sets (or clears) tap1's binding.
    pub fn set_binding(&mut self, b: Option<DhcpBinding>) -> Result<(), switch::SwitchError> {
        self.sw.set_port_dhcp("br-int", "tap1", b)
    }

    /// `trace` of a packet described by `flow` on br-int, as one text.
    pub fn trace(&mut self, flow: &str) -> String {
        self.sw.trace("br-int", flow, 0).unwrap().join("\n")
    }
}

pub fn client_msg(ty: MessageType, mac: MacAddr) -> Message {
    let z = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(XID, z, z, z, z, &mac.0);
    m.opts_mut().insert(DhcpOption::MessageType(ty));
    m
}

/// A message of type `ty` from the VM, with `opts`.
pub fn vm_msg(ty: MessageType, opts: &[DhcpOption]) -> Message {
    let mut m = client_msg(ty, VM);
    for o in opts {
        m.opts_mut().insert(o.clone());
    }
    m
}

/// A message of type `ty` from the VM that has the address `ciaddr`, with `opts`.
pub fn bound_msg(ty: MessageType, ciaddr: Ipv4Addr, opts: &[DhcpOption]) -> Message {
    let mut m = vm_msg(ty, opts);
    m.set_ciaddr(ciaddr);
    m
}

pub fn frame_from(eth_src: MacAddr, ip_src: Ipv4Addr, ip_dst: Ipv4Addr, m: &Message) -> Vec<u8> {
    let eth_dst = if ip_dst.is_broadcast() {
        MacAddr::BROADCAST
    } else {
        SERVER_MAC
    };
    wdhcp::build_udp_frame(
        &UdpHeaders {
            eth_src,
            eth_dst,
            vlan_tci: None,
            ip_src,
            ip_dst,
            src_port: 68,
            dst_port: 67,
        },
        &wdhcp::encode_message(m).unwrap(),
    )
}

/// From the VM without an address, to everyone.
pub fn broadcast_frame(m: &Message) -> Vec<u8> {
    frame_from(VM, Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, m)
}

/// From the VM at its `ciaddr`, to `ip_dst`.
pub fn bound_frame(m: &Message, ip_dst: Ipv4Addr) -> Vec<u8> {
    frame_from(VM, m.ciaddr(), ip_dst, m)
}

/// A plain DISCOVER from the VM.
pub fn discover() -> Vec<u8> {
    broadcast_frame(&client_msg(MessageType::Discover, VM))
}

pub struct Parsed {
    pub h: UdpHeaders,
    pub m: Message,
}

impl Parsed {
    pub fn msg_type(&self) -> Option<MessageType> {
        self.m.opts().msg_type()
    }

    /// Where the reply goes: Ethernet and IP destination.
    pub fn dest(&self) -> (MacAddr, Ipv4Addr) {
        (self.h.eth_dst, self.h.ip_dst)
    }
}

/// Takes a reply frame apart: checksums, UDP ports, then the message with dhcproto.
pub fn parse_reply(f: &[u8]) -> Parsed {
    let (h, payload) = wdhcp::parse_udp_frame(f).expect("IPv4/UDP reply");
    assert_eq!((h.src_port, h.dst_port), (67, 68));
    assert_eq!((h.eth_src, h.ip_src), (SERVER_MAC, SERVER));
    // The UDP checksum, verified from scratch over the pseudo-header.
    let udp_start = f.len() - payload.len() - 8;
    let mut sum = wire::checksum::add(0, &h.ip_src.octets());
    sum = wire::checksum::add(sum, &h.ip_dst.octets());
    sum = wire::checksum::add(sum, &[0, 17]);
    sum = wire::checksum::add(sum, &((payload.len() + 8) as u16).to_be_bytes());
    sum = wire::checksum::add(sum, &f[udp_start..]);
    assert_eq!(wire::checksum::finish(sum), 0, "UDP checksum");
    assert!(payload.len() >= wdhcp::MIN_MESSAGE_LEN);
    let m = Message::from_bytes(payload).expect("dhcproto decodes the reply");
    assert_eq!(m.opcode(), Opcode::BootReply);
    assert_eq!(m.xid(), XID);
    assert_eq!(m.chaddr(), &VM.0);
    assert_opt(&m, DhcpOption::ServerIdentifier(SERVER));
    Parsed { h, m }
}

pub fn only_reply(replies: Vec<Reply>, port: usize) -> Parsed {
    assert_eq!(replies.len(), 1, "exactly one reply");
    assert_eq!(
        replies[0].port, port,
        "the reply leaves through the input port"
    );
    parse_reply(&replies[0].frame)
}

pub fn opt(m: &Message, c: OptionCode) -> Option<DhcpOption> {
    m.opts().get(c).cloned()
}

/// The message carries `want` (an option of that code, with that value).
pub fn assert_opt(m: &Message, want: DhcpOption) {
    let code = OptionCode::from(&want);
    assert_eq!(opt(m, code), Some(want), "{code:?}");
}

/// The message carries none of `codes`.
pub fn assert_no_opts(m: &Message, codes: &[OptionCode]) {
    for &c in codes {
        assert_eq!(opt(m, c), None, "{c:?}");
    }
}

/// The options an OFFER/ACK carries for `binding()`.
pub fn assert_config_options(m: &Message, with_lease: bool) {
    use DhcpOption as O;
    let dns = vec![Ipv4Addr::new(10, 0, 0, 53), Ipv4Addr::new(8, 8, 8, 8)];
    for want in [
        O::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
        O::Router(vec![ROUTER]),
        O::DomainNameServer(dns),
        O::DomainName("openstacklocal".into()),
        O::InterfaceMtu(1450),
        O::BroadcastAddr(Ipv4Addr::new(10, 0, 0, 255)),
    ] {
        assert_opt(m, want);
    }
    let lease = [
        O::AddressLeaseTime(3600),
        O::Renewal(1800),
        O::Rebinding(3150),
    ];
    if with_lease {
        lease.into_iter().for_each(|want| assert_opt(m, want));
    } else {
        assert_no_opts(m, &lease.each_ref().map(OptionCode::from));
    }
    // No host routes configured: no option 121.
    assert_no_opts(m, &[OptionCode::ClasslessStaticRoute]);
}

/// An OFFER or ACK of `binding()`'s address, sent to the VM at that address.
pub fn assert_offered(p: &Parsed, ty: MessageType) {
    assert_eq!(p.msg_type(), Some(ty));
    assert_eq!(p.m.yiaddr(), IP);
    assert_config_options(&p.m, true);
    assert_eq!(p.dest(), (VM, IP));
}
