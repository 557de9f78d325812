//! The `dhcp` action: a DHCP server (RFC 2131) for one client, living at the client's
//! port. A port's [`DhcpBinding`] says which MAC may ask and what it gets (its fixed
//! IP, router, DNS, host routes, MTU, lease time); nothing else is ever answered, so
//! there is no pool, no lease table and no dnsmasq. The answer is a whole frame that
//! leaves through the port the request came in on.
//!
//! Also answers ARP requests for the binding's `server_ip` (from the bound MAC), so a
//! client can unicast its renewals to the server identifier it was given.

use crate::field::{Field, FlowKey};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use wire::MacAddr;
use wire::dhcp::{
    self as wdhcp, DhcpOption, Ipv4Net, Message, MessageType, Opcode, OptionCode, v4,
};

/// One route of RFC 3442's classless static routes option.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticRoute {
    pub destination: Ipv4Addr,
    pub prefix_len: u8,
    pub nexthop: Ipv4Addr,
}

impl fmt::Display for StaticRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} via {}",
            self.destination, self.prefix_len, self.nexthop
        )
    }
}

/// What the `dhcp` action hands out on a port, and to whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpBinding {
    /// The client's MAC, e.g. "fa:16:3e:00:00:01": the only one answered.
    pub mac: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    #[serde(default)]
    pub router: Option<Ipv4Addr>,
    #[serde(default)]
    pub dns: Vec<Ipv4Addr>,
    #[serde(default)]
    pub host_routes: Vec<StaticRoute>,
    #[serde(default)]
    pub mtu: Option<u16>,
    pub lease_secs: u32,
    /// The server identifier (option 54) and source address of the replies.
    pub server_ip: Ipv4Addr,
    /// Source MAC of the replies, and the answer to ARP for `server_ip`.
    pub server_mac: String,
    #[serde(default)]
    pub domain_name: Option<String>,
    /// The header's `siaddr` in offers and acks: the server a PXE client boots
    /// from (dnsmasq's `server-ip-address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_server: Option<Ipv4Addr>,
    /// Further options, already encoded: sent when the client asks for them (or
    /// asks for nothing in particular); one with the code of an option the
    /// binding sets (router, DNS, domain, MTU) replaces it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<RawDhcpOption>,
}

/// One DHCP option as it goes on the wire: its code and encoded value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawDhcpOption {
    pub code: u8,
    pub data: Vec<u8>,
}

/// Default `server_mac` of a binding (as the CLI fills it in).
pub const DEFAULT_SERVER_MAC: &str = "fa:16:3e:ff:ff:fe";
/// Default lease time (one day).
pub const DEFAULT_LEASE_SECS: u32 = 86_400;

fn unicast_mac(what: &str, s: &str) -> Result<MacAddr, String> {
    let m: MacAddr = s
        .parse()
        .map_err(|_| format!("bad {what} MAC address '{s}'"))?;
    if m.is_multicast() || m == MacAddr::ZERO {
        return Err(format!("{what} MAC address '{s}' is not a unicast address"));
    }
    Ok(m)
}

fn unicast_ip(what: &str, ip: Ipv4Addr) -> Result<(), String> {
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() {
        return Err(format!("{what} {ip} is not a unicast address"));
    }
    Ok(())
}

impl DhcpBinding {
    /// A binding with the defaults for everything optional.
    pub fn new(mac: &str, ip: Ipv4Addr, prefix_len: u8, server_ip: Ipv4Addr) -> DhcpBinding {
        DhcpBinding {
            mac: mac.to_string(),
            ip,
            prefix_len,
            router: None,
            dns: Vec::new(),
            host_routes: Vec::new(),
            mtu: None,
            lease_secs: DEFAULT_LEASE_SECS,
            server_ip,
            server_mac: DEFAULT_SERVER_MAC.to_string(),
            domain_name: None,
            next_server: None,
            options: Vec::new(),
        }
    }

    /// Checks every field; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        unicast_mac("client", &self.mac)?;
        unicast_mac("server", &self.server_mac)?;
        unicast_ip("address", self.ip)?;
        unicast_ip("server address", self.server_ip)?;
        if !(1..=32).contains(&self.prefix_len) {
            return Err(format!(
                "prefix length {} out of range (1-32)",
                self.prefix_len
            ));
        }
        if self.server_ip == self.ip {
            return Err(format!(
                "the server address {} is the client's own address",
                self.ip
            ));
        }
        if let Some(r) = self.router {
            unicast_ip("router", r)?;
            if r == self.ip {
                return Err(format!("the router {r} is the client's own address"));
            }
        }
        for d in &self.dns {
            unicast_ip("DNS server", *d)?;
        }
        if self.dns.len() > 16 {
            return Err("at most 16 DNS servers".into());
        }
        if self.host_routes.len() > 32 {
            return Err("at most 32 host routes".into());
        }
        for r in &self.host_routes {
            if r.prefix_len > 32 {
                return Err(format!("host route {r}: prefix length over 32"));
            }
            if u32::from(r.destination) & !u32::from(wdhcp::netmask(r.prefix_len)) != 0 {
                return Err(format!(
                    "host route {r}: destination has bits set beyond the prefix"
                ));
            }
            unicast_ip(&format!("host route {r}: next hop"), r.nexthop)?;
        }
        if let Some(m) = self.mtu
            && m < 68
        {
            return Err(format!("MTU {m} below the IPv4 minimum of 68"));
        }
        if self.lease_secs < 60 {
            return Err(format!(
                "lease time {}s is too short (at least 60)",
                self.lease_secs
            ));
        }
        if let Some(d) = &self.domain_name
            && (d.is_empty()
                || d.len() > 253
                || !d
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')))
        {
            return Err(format!("bad domain name '{d}'"));
        }
        if let Some(n) = self.next_server {
            unicast_ip("next server", n)?;
        }
        self.validate_options()
    }

    /// The raw options: codes the exchange itself uses are the switch's; the
    /// whole answer must still fit one unfragmented datagram.
    fn validate_options(&self) -> Result<(), String> {
        if self.options.len() > MAX_RAW_OPTIONS {
            return Err(format!("at most {MAX_RAW_OPTIONS} extra options"));
        }
        let mut total = 0;
        for (i, o) in self.options.iter().enumerate() {
            if matches!(o.code, 0 | 1 | 28 | 50..=59 | 61 | 121 | 255) {
                return Err(format!("option {} is set by the switch itself", o.code));
            }
            if o.data.is_empty() || o.data.len() > 255 {
                return Err(format!("option {}: 1-255 bytes of value", o.code));
            }
            if self.options[..i].iter().any(|p| p.code == o.code) {
                return Err(format!("option {} given twice", o.code));
            }
            total += o.data.len() + 2;
        }
        if total > MAX_RAW_OPTION_BYTES {
            return Err(format!(
                "extra options take {total} bytes (at most {MAX_RAW_OPTION_BYTES})"
            ));
        }
        Ok(())
    }
}

/// Limits of a binding's extra options.
pub const MAX_RAW_OPTIONS: usize = 32;
pub const MAX_RAW_OPTION_BYTES: usize = 1024;

/// Per-port counters of the `dhcp` action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpStats {
    pub offers: u64,
    pub acks: u64,
    pub naks: u64,
    pub arp_replies: u64,
    /// RELEASE and DECLINE: taken note of, not answered.
    pub releases: u64,
    /// Messages not meant for this server (a REQUEST selecting another server).
    pub ignored: u64,
    /// Packets that hit `dhcp` but could not be answered (no binding, another MAC,
    /// not DHCP, malformed).
    pub dropped: u64,
}

/// What the action did with one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Offer(Ipv4Addr),
    Ack(Ipv4Addr),
    /// ACK to an INFORM (no address, no lease time).
    InformAck,
    Nak(&'static str),
    ArpReply,
    Release,
    Decline,
    Ignored(&'static str),
    Dropped(&'static str),
}

impl Outcome {
    pub fn count(&self, s: &mut DhcpStats) {
        match self {
            Outcome::Offer(_) => s.offers += 1,
            Outcome::Ack(_) | Outcome::InformAck => s.acks += 1,
            Outcome::Nak(_) => s.naks += 1,
            Outcome::ArpReply => s.arp_replies += 1,
            Outcome::Release | Outcome::Decline => s.releases += 1,
            Outcome::Ignored(_) => s.ignored += 1,
            Outcome::Dropped(_) => s.dropped += 1,
        }
    }
}

/// An outcome and, when there is one, the reply frame.
pub struct Answer {
    pub outcome: Outcome,
    pub frame: Option<Vec<u8>>,
    /// The client (for trace lines).
    pub client: MacAddr,
    pub server: Ipv4Addr,
}

impl Answer {
    /// The trace line: `dhcp: OFFER 10.0.0.5 to fa:16:3e:00:00:01`.
    pub fn describe(&self) -> String {
        let c = self.client;
        match &self.outcome {
            Outcome::Offer(ip) => format!("dhcp: OFFER {ip} to {c}"),
            Outcome::Ack(ip) => format!("dhcp: ACK {ip} to {c}"),
            Outcome::InformAck => format!("dhcp: ACK (to INFORM) to {c}"),
            Outcome::Nak(why) => format!("dhcp: NAK to {c}: {why}"),
            Outcome::ArpReply => format!("dhcp: ARP reply {} is-at server MAC to {c}", self.server),
            Outcome::Release => format!("dhcp: RELEASE from {c}: no reply"),
            Outcome::Decline => format!("dhcp: DECLINE from {c}: no reply"),
            Outcome::Ignored(why) => format!("dhcp: {why}: no reply"),
            Outcome::Dropped(why) => format!("dhcp: {why}: drop"),
        }
    }
}

fn no_answer(outcome: Outcome, client: MacAddr, server: Ipv4Addr) -> Answer {
    Answer {
        outcome,
        frame: None,
        client,
        server,
    }
}

/// Answers `frame` (received on the binding's port) as RFC 2131 and RFC 826 say.
pub fn answer(b: &DhcpBinding, frame: &[u8]) -> Answer {
    let src = if frame.len() >= 12 {
        MacAddr::from_slice(&frame[6..12])
    } else {
        MacAddr::ZERO
    };
    let drop = |why| no_answer(Outcome::Dropped(why), src, b.server_ip);
    let (Ok(mac), Ok(server_mac)) = (b.mac.parse::<MacAddr>(), b.server_mac.parse::<MacAddr>())
    else {
        return drop("binding has a bad MAC address");
    };
    if src != mac {
        return drop("not from the bound MAC");
    }
    if let Ok(a) = wire::arp::parse(frame) {
        if a.op != wire::arp::OP_REQUEST || a.sha != mac || a.tpa != b.server_ip {
            return drop("not an ARP request for the server address");
        }
        return Answer {
            outcome: Outcome::ArpReply,
            frame: Some(wire::arp::reply(&a, server_mac)),
            client: mac,
            server: b.server_ip,
        };
    }
    let Ok(c) = wdhcp::parse_client_frame(frame) else {
        return drop("not a DHCP client message");
    };
    if c.chaddr() != mac {
        return drop("chaddr is not the bound MAC");
    }
    if !c.msg.giaddr().is_unspecified() {
        return drop("relayed message (giaddr set)");
    }
    let Some(ty) = c.msg.opts().msg_type() else {
        return drop("no DHCP message type (BOOTP)");
    };
    let none = |o| no_answer(o, mac, b.server_ip);
    let outcome = match ty {
        MessageType::Discover => Outcome::Offer(b.ip),
        MessageType::Request => request(b, &c.msg),
        MessageType::Inform => Outcome::InformAck,
        MessageType::Release => return none(Outcome::Release),
        MessageType::Decline => return none(Outcome::Decline),
        _ => return drop("not a client message type"),
    };
    if matches!(outcome, Outcome::Ignored(_) | Outcome::Dropped(_)) {
        return none(outcome);
    }
    let msg = reply(b, &c.msg, &outcome);
    let (eth_dst, ip_dst) = destination(&msg, &outcome, mac);
    match wdhcp::build_reply_frame(
        server_mac,
        eth_dst,
        c.headers.vlan_tci,
        b.server_ip,
        ip_dst,
        &msg,
    ) {
        Ok(f) => Answer {
            outcome,
            frame: Some(f),
            client: mac,
            server: b.server_ip,
        },
        Err(_) => drop("reply cannot be encoded"),
    }
}

fn opt_ip(msg: &Message, code: OptionCode) -> Option<Ipv4Addr> {
    match msg.opts().get(code) {
        Some(DhcpOption::RequestedIpAddress(ip)) | Some(DhcpOption::ServerIdentifier(ip)) => {
            Some(*ip)
        }
        _ => None,
    }
}

/// A REQUEST in each of RFC 2131 §4.3.2's client states.
fn request(b: &DhcpBinding, msg: &Message) -> Outcome {
    let requested = opt_ip(msg, OptionCode::RequestedIpAddress);
    let server_id = opt_ip(msg, OptionCode::ServerIdentifier);
    let ciaddr = msg.ciaddr();
    let wanted = match server_id {
        // SELECTING, having chosen another server's offer: not for us.
        Some(sid) if sid != b.server_ip && ciaddr.is_unspecified() => {
            return Outcome::Ignored("REQUEST selects another server");
        }
        Some(sid) if sid != b.server_ip => return Outcome::Nak("wrong server identifier"),
        // SELECTING our offer.
        Some(_) => requested.or(Some(ciaddr).filter(|c| !c.is_unspecified())),
        // INIT-REBOOT: the requested address; RENEWING/REBINDING: ciaddr.
        None => requested.or(Some(ciaddr).filter(|c| !c.is_unspecified())),
    };
    match wanted {
        Some(ip) if ip == b.ip => Outcome::Ack(b.ip),
        Some(_) => Outcome::Nak("requested address is not the port's"),
        None => Outcome::Dropped("REQUEST without a requested address or ciaddr"),
    }
}

/// The reply message: RFC 2131 Table 3's fields and the binding's options.
fn reply(b: &DhcpBinding, req: &Message, outcome: &Outcome) -> Message {
    let mut m = req.clone();
    m.set_opcode(Opcode::BootReply)
        .set_hops(0)
        .set_secs(0)
        .set_siaddr(Ipv4Addr::UNSPECIFIED);
    m.clear_sname();
    m.clear_fname();
    let (ty, yiaddr, ciaddr, config, lease) = match outcome {
        Outcome::Offer(ip) => (MessageType::Offer, *ip, Ipv4Addr::UNSPECIFIED, true, true),
        Outcome::Ack(ip) => (MessageType::Ack, *ip, req.ciaddr(), true, true),
        Outcome::InformAck => (
            MessageType::Ack,
            Ipv4Addr::UNSPECIFIED,
            req.ciaddr(),
            true,
            false,
        ),
        _ => (
            MessageType::Nak,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            false,
            false,
        ),
    };
    m.set_yiaddr(yiaddr).set_ciaddr(ciaddr);
    let mut o = v4::DhcpOptions::new();
    o.insert(DhcpOption::MessageType(ty));
    o.insert(DhcpOption::ServerIdentifier(b.server_ip));
    // RFC 6842: the client identifier goes back unaltered.
    if let Some(id @ DhcpOption::ClientIdentifier(_)) = req.opts().get(OptionCode::ClientIdentifier)
    {
        o.insert(id.clone());
    }
    if let Outcome::Nak(why) = outcome {
        o.insert(DhcpOption::Message((*why).to_string()));
    }
    if config {
        o.insert(DhcpOption::SubnetMask(wdhcp::netmask(b.prefix_len)));
        o.insert(DhcpOption::BroadcastAddr(wdhcp::broadcast_addr(
            b.ip,
            b.prefix_len,
        )));
        if let Some(r) = b.router {
            o.insert(DhcpOption::Router(vec![r]));
        }
        if !b.dns.is_empty() {
            o.insert(DhcpOption::DomainNameServer(b.dns.clone()));
        }
        if let Some(d) = &b.domain_name {
            o.insert(DhcpOption::DomainName(d.clone()));
        }
        if let Some(mtu) = b.mtu {
            o.insert(DhcpOption::InterfaceMtu(mtu));
        }
        if !b.host_routes.is_empty() && asked_for(req, OptionCode::ClasslessStaticRoute) {
            o.insert(DhcpOption::ClasslessStaticRoute(classless_routes(b)));
        }
        for raw in &b.options {
            let code = OptionCode::from(raw.code);
            // The binding's own options are replaced; the rest go to a client
            // that asks for them, or asks for nothing in particular.
            if o.get(code).is_some() || asked_for(req, code) || !has_request_list(req) {
                o.insert(DhcpOption::Unknown(v4::UnknownOption::new(
                    code,
                    raw.data.clone(),
                )));
            }
        }
        if let Some(n) = b.next_server {
            m.set_siaddr(n);
        }
    }
    if lease {
        o.insert(DhcpOption::AddressLeaseTime(b.lease_secs));
        if b.lease_secs != u32::MAX {
            let l = u64::from(b.lease_secs);
            o.insert(DhcpOption::Renewal((l / 2) as u32));
            o.insert(DhcpOption::Rebinding((l * 7 / 8) as u32));
        }
    }
    m.set_opts(o);
    m
}

fn has_request_list(req: &Message) -> bool {
    req.opts().get(OptionCode::ParameterRequestList).is_some()
}

/// RFC 3442 §4: a server SHOULD NOT send option 121 to a client that did not ask.
fn asked_for(req: &Message, code: OptionCode) -> bool {
    matches!(
        req.opts().get(OptionCode::ParameterRequestList),
        Some(DhcpOption::ParameterRequestList(l)) if l.contains(&code)
    )
}

/// The host routes, plus the default route via the router: a client that takes
/// option 121 ignores option 3 (RFC 3442 §3).
pub fn classless_routes(b: &DhcpBinding) -> Vec<(Ipv4Net, Ipv4Addr)> {
    let mut routes: Vec<(Ipv4Net, Ipv4Addr)> = b
        .host_routes
        .iter()
        .filter_map(|r| Some((Ipv4Net::new(r.destination, r.prefix_len).ok()?, r.nexthop)))
        .collect();
    if let Some(r) = b.router
        && !b.host_routes.iter().any(|h| h.prefix_len == 0)
        && let Ok(default) = Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0)
    {
        routes.push((default, r));
    }
    routes
}

/// RFC 2131 §4.1 (with giaddr zero): NAKs are broadcast; otherwise unicast to ciaddr
/// when set, broadcast when the client asked, else unicast to yiaddr at chaddr.
fn destination(reply: &Message, outcome: &Outcome, client: MacAddr) -> (MacAddr, Ipv4Addr) {
    let bcast = (MacAddr::BROADCAST, Ipv4Addr::BROADCAST);
    if matches!(outcome, Outcome::Nak(_)) {
        return bcast;
    }
    if !reply.ciaddr().is_unspecified() {
        return (client, reply.ciaddr());
    }
    if reply.flags().broadcast() || reply.yiaddr().is_unspecified() {
        return bcast;
    }
    (client, reply.yiaddr())
}

/// What the action would do with a packet known only by its key (trace of a flow).
pub fn describe_key(b: &DhcpBinding, key: &FlowKey) -> String {
    let src = MacAddr::from_u64(key.get_u64(Field::DlSrc));
    if b.mac.parse::<MacAddr>().ok() != Some(src) {
        return format!("dhcp: {src} is not the bound MAC {}: drop", b.mac);
    }
    let dl_type = key.get(Field::DlType) as u16;
    if dl_type == wire::ether::ETH_P_ARP {
        let tpa = Ipv4Addr::from(key.get(Field::ArpTpa) as u32);
        if key.get(Field::ArpOp) == 1 && tpa == b.server_ip {
            return format!(
                "dhcp: ARP reply {} is-at {} to {src}",
                b.server_ip, b.server_mac
            );
        }
        return format!(
            "dhcp: not an ARP request for the server address {}: drop",
            b.server_ip
        );
    }
    if dl_type == wire::ether::ETH_P_IPV4
        && key.get(Field::NwProto) == u128::from(wire::ether::IPPROTO_UDP)
        && key.get(Field::TpSrc) == u128::from(wdhcp::CLIENT_PORT)
        && key.get(Field::TpDst) == u128::from(wdhcp::SERVER_PORT)
    {
        return format!(
            "dhcp: DHCP from {src}: DISCOVER -> OFFER {}/{}, REQUEST -> ACK or NAK, \
             INFORM -> ACK (server {})",
            b.ip, b.prefix_len, b.server_ip
        );
    }
    "dhcp: not a DHCP client message (udp 68 -> 67): drop".into()
}
