//! Connection tracking, as the `ct()` action sees it: per zone, a table of
//! connections keyed by their 5-tuple in both directions (IPv4 and IPv6; TCP with
//! its states, UDP, ICMP/ICMPv6 echo by id, other protocols by addresses), ICMP
//! errors related to the connection they quote, and what fits nothing marked
//! invalid. Sans-IO like the rest of the engine: time is passed in (ms), entries
//! expire by it (lazily when a packet meets one, and by [`Conntrack::sweep`] a slice
//! at a time); the table has a size limit past which commits are refused.
//!
//! The split follows OVS's kernel datapath: [`Conntrack::track`] looks a packet up
//! (and moves a known connection along: its TCP state, its reply seen, its timer)
//! without creating anything; [`Conntrack::commit`] makes the connection exist (and
//! sets its mark). A connection that was committed but has had no reply yet still
//! reads as `new`, as in the kernel. Nothing here allocates for a packet of a known
//! connection.

#[cfg(test)]
pub(crate) mod frames;
mod offload;
mod packet;
mod tcp;
#[cfg(test)]
mod tests;

pub use packet::{Kind, Packet, Tuple, addr, parse, tcp_flags};
pub use tcp::TcpState;

use crate::hash::{FastMap, Seed};

/// `ct_state` bits, as Open vSwitch numbers them.
pub mod state {
    pub const NEW: u8 = 0x01;
    pub const EST: u8 = 0x02;
    pub const REL: u8 = 0x04;
    pub const RPL: u8 = 0x08;
    pub const INV: u8 = 0x10;
    pub const TRK: u8 = 0x20;
    /// Names in the order ovs-ofctl prints them.
    pub const NAMES: [(u8, &str); 6] = [
        (NEW, "new"),
        (EST, "est"),
        (REL, "rel"),
        (RPL, "rpl"),
        (INV, "inv"),
        (TRK, "trk"),
    ];
}

/// How long an idle connection is kept, by protocol and state (milliseconds);
/// the defaults are the kernel's (`nf_conntrack_*_timeout*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_syn_sent: u64,
    pub tcp_syn_recv: u64,
    pub tcp_established: u64,
    pub tcp_fin_wait: u64,
    pub tcp_close_wait: u64,
    pub tcp_last_ack: u64,
    pub tcp_time_wait: u64,
    pub tcp_close: u64,
    /// UDP before a reply was seen.
    pub udp: u64,
    /// UDP once both directions were seen.
    pub udp_stream: u64,
    pub icmp: u64,
    pub generic: u64,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        const S: u64 = 1000;
        Timeouts {
            tcp_syn_sent: 120 * S,
            tcp_syn_recv: 60 * S,
            tcp_established: 432_000 * S,
            tcp_fin_wait: 120 * S,
            tcp_close_wait: 60 * S,
            tcp_last_ack: 30 * S,
            tcp_time_wait: 120 * S,
            tcp_close: 10 * S,
            udp: 30 * S,
            udp_stream: 120 * S,
            icmp: 30 * S,
            generic: 600 * S,
        }
    }
}

impl Timeouts {
    /// The kernel's sysctl names (`nf_conntrack_<name>_timeout`, without the
    /// prefix and suffix) and the field each sets.
    pub const NAMES: [&'static str; 12] = [
        "tcp_syn_sent",
        "tcp_syn_recv",
        "tcp_established",
        "tcp_fin_wait",
        "tcp_close_wait",
        "tcp_last_ack",
        "tcp_time_wait",
        "tcp_close",
        "udp",
        "udp_stream",
        "icmp",
        "generic",
    ];

    /// Sets the timeout called `name` (see [`Timeouts::NAMES`]) to `secs`.
    pub fn set(&mut self, name: &str, secs: u64) -> Result<(), String> {
        let ms = secs
            .checked_mul(1000)
            .filter(|ms| *ms > 0)
            .ok_or_else(|| format!("conntrack timeout {name}: {secs} s is out of range"))?;
        let f = match name {
            "tcp_syn_sent" => &mut self.tcp_syn_sent,
            "tcp_syn_recv" => &mut self.tcp_syn_recv,
            "tcp_established" => &mut self.tcp_established,
            "tcp_fin_wait" => &mut self.tcp_fin_wait,
            "tcp_close_wait" => &mut self.tcp_close_wait,
            "tcp_last_ack" => &mut self.tcp_last_ack,
            "tcp_time_wait" => &mut self.tcp_time_wait,
            "tcp_close" => &mut self.tcp_close,
            "udp" => &mut self.udp,
            "udp_stream" => &mut self.udp_stream,
            "icmp" => &mut self.icmp,
            "generic" => &mut self.generic,
            _ => {
                return Err(format!(
                    "unknown conntrack timeout '{name}' (one of {})",
                    Timeouts::NAMES.join(", ")
                ));
            }
        };
        *f = ms;
        Ok(())
    }

    fn tcp(&self, s: TcpState) -> u64 {
        match s {
            TcpState::SynSent | TcpState::SynSent2 => self.tcp_syn_sent,
            TcpState::SynRecv => self.tcp_syn_recv,
            TcpState::Established => self.tcp_established,
            TcpState::FinWait => self.tcp_fin_wait,
            TcpState::CloseWait => self.tcp_close_wait,
            TcpState::LastAck => self.tcp_last_ack,
            TcpState::TimeWait => self.tcp_time_wait,
            TcpState::Close => self.tcp_close,
        }
    }
}

/// Default size limit of the table.
pub const DEFAULT_MAX: usize = 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtConfig {
    /// Connections the table holds at most; commits past it are refused.
    pub max: usize,
    pub timeouts: Timeouts,
    /// Pick up TCP connections already under way (the kernel's
    /// `nf_conntrack_tcp_loose`, on by default): a first segment with ACK and no
    /// SYN opens an established connection.
    pub tcp_loose: bool,
}

impl Default for CtConfig {
    fn default() -> CtConfig {
        CtConfig {
            max: DEFAULT_MAX,
            timeouts: Timeouts::default(),
            tcp_loose: true,
        }
    }
}

/// What the tracker counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtStats {
    /// Connections made by commits.
    pub committed: u64,
    /// Commits refused because the table was full.
    pub refused: u64,
    /// Connections that timed out.
    pub expired: u64,
    /// Packets that were tracked and found invalid.
    pub invalid: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Tcp(TcpState),
    Udp,
    Icmp,
    Other,
}

#[derive(Clone, Debug)]
struct Entry {
    zone: u16,
    orig: Tuple,
    proto: Proto,
    mark: u32,
    replied: bool,
    /// Which side sent the first FIN (TCP): true for the reply side.
    fin_by_reply: Option<bool>,
    expires: u64,
    /// Unique in this table's life: tells a connection from a later one in the
    /// same slot (see [`Conntrack::touch`]).
    id: u64,
}

/// What `track` found for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// `ct_state` bits ([`state`]).
    pub state: u8,
    pub mark: u32,
    /// The connection it belongs to (slot, in its reply direction); `None` for a
    /// new or invalid packet, or an ICMP error.
    pub conn: Option<(u32, bool)>,
}

/// One connection as `dump-conntrack` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnView {
    pub zone: u16,
    pub orig: Tuple,
    pub mark: u32,
    /// TCP's state name, for TCP.
    pub tcp_state: Option<&'static str>,
    pub replied: bool,
    /// Milliseconds until it expires unless more traffic comes.
    pub expires_in: u64,
}

/// The connection table.
#[derive(Debug)]
pub struct Conntrack {
    config: CtConfig,
    /// (zone, the connection's tuple in its canonical direction: the lesser of
    /// the two) -> slot. One entry a connection, whichever way it is looked up.
    map: FastMap<(u16, Tuple), u32>,
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    live: usize,
    per_zone: FastMap<u16, u32>,
    cursor: usize,
    stats: CtStats,
    /// The next connection's id.
    next_id: u64,
}

impl Conntrack {
    /// An empty table whose hash maps take their seeds from `seed` (pick it at
    /// random: packets choose the keys).
    pub fn new(config: CtConfig, seed: u64) -> Conntrack {
        Conntrack::seeded(config, Seed::new(seed))
    }

    pub(crate) fn seeded(config: CtConfig, seed: Seed) -> Conntrack {
        Conntrack {
            config,
            map: seed.derive(1).map(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            per_zone: seed.derive(2).map(),
            cursor: 0,
            stats: CtStats::default(),
            next_id: 1,
        }
    }

    pub fn config(&self) -> &CtConfig {
        &self.config
    }

    /// New limits and timeouts; connections already tracked keep their timers.
    pub fn set_config(&mut self, config: CtConfig) {
        self.config = config;
    }

    pub fn stats(&self) -> CtStats {
        self.stats
    }

    /// Connections tracked (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Connections per zone, by zone.
    pub fn zones(&self) -> Vec<(u16, u32)> {
        let mut v: Vec<(u16, u32)> = self.per_zone.iter().map(|(z, n)| (*z, *n)).collect();
        v.sort_unstable();
        v
    }

    fn find(&self, zone: u16, t: &Tuple) -> Option<(u32, bool)> {
        let slot = *self.map.get(&canonical(zone, t))?;
        let e = self.entry(slot)?;
        Some((slot, e.orig != *t))
    }

    fn timeout(&self, e: &Entry) -> u64 {
        let t = &self.config.timeouts;
        match e.proto {
            Proto::Tcp(s) => t.tcp(s),
            Proto::Udp if e.replied => t.udp_stream,
            Proto::Udp => t.udp,
            Proto::Icmp => t.icmp,
            Proto::Other => t.generic,
        }
    }

    fn remove(&mut self, slot: u32) {
        let Some(e) = self.slots.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        self.map.remove(&canonical(e.zone, &e.orig));
        self.free.push(slot);
        self.live -= 1;
        if let Some(n) = self.per_zone.get_mut(&e.zone) {
            *n -= 1;
            if *n == 0 {
                self.per_zone.remove(&e.zone);
            }
        }
    }

    /// The connection `t` belongs to in `zone`, unless it has expired (then it is
    /// removed).
    fn live_conn(&mut self, zone: u16, t: &Tuple, now: u64) -> Option<(u32, bool)> {
        let (slot, reply) = self.find(zone, t)?;
        let expired = self
            .slots
            .get(slot as usize)
            .and_then(Option::as_ref)
            .is_none_or(|e| e.expires <= now);
        if expired {
            self.remove(slot);
            self.stats.expired += 1;
            return None;
        }
        Some((slot, reply))
    }

    fn invalid(&mut self) -> Verdict {
        self.stats.invalid += 1;
        Verdict {
            state: state::TRK | state::INV,
            mark: 0,
            conn: None,
        }
    }

    /// Looks `pkt` (None: not IP, or cut short) up in `zone` at time `now`: the
    /// `ct_state` and mark it gets. A packet of a known connection moves it along;
    /// nothing is created.
    pub fn track(&mut self, pkt: Option<&Packet>, zone: u16, now: u64) -> Verdict {
        use state::*;
        let Some(p) = pkt else {
            return self.invalid();
        };
        match p.kind {
            Kind::Untracked | Kind::OtherIcmp => return self.invalid(),
            Kind::Error { inner } => {
                // The quoted packet went from the error's receiver towards the
                // error's sender: it is the receiver's connection, and the error
                // must be addressed to where the quoted packet came from.
                return match self.live_conn(zone, &inner, now) {
                    Some((slot, quoted_reply)) if inner.src == p.tuple.dst => {
                        let mark = self.entry(slot).map_or(0, |e| e.mark);
                        Verdict {
                            state: TRK | REL | if quoted_reply { 0 } else { RPL },
                            mark,
                            conn: None,
                        }
                    }
                    _ => self.invalid(),
                };
            }
            _ => {}
        }
        let mut found = self.live_conn(zone, &p.tuple, now);
        if let (Some((slot, false)), Kind::Tcp { flags }) = (found, p.kind) {
            let reopen = flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN
                && self
                    .entry(slot)
                    .is_some_and(|e| matches!(e.proto, Proto::Tcp(s) if s.reopenable()));
            if reopen {
                self.remove(slot);
                found = None;
            }
        }
        let Some((slot, reply)) = found else {
            let opens = match p.kind {
                Kind::Tcp { flags } => tcp::open(flags, self.config.tcp_loose).is_some(),
                Kind::Echo { reply } => !reply,
                _ => true,
            };
            if !opens {
                return self.invalid();
            }
            return Verdict {
                state: TRK | NEW,
                mark: 0,
                conn: None,
            };
        };
        if let (Kind::Tcp { flags }, Some(e)) = (p.kind, self.entry(slot))
            && reply
            && e.proto == Proto::Tcp(TcpState::SynSent)
            && flags & (tcp_flags::SYN | tcp_flags::RST) == 0
        {
            // The answer to a SYN must be a SYN (with ACK) or a RST.
            return self.invalid();
        }
        let timeouts = &self.config.timeouts;
        let Some(e) = self.slots.get_mut(slot as usize).and_then(Option::as_mut) else {
            return self.invalid();
        };
        if reply {
            e.replied = true;
        }
        if let (Proto::Tcp(s), Kind::Tcp { flags }) = (e.proto, p.kind) {
            let n = tcp::next(s, flags, reply, e.fin_by_reply);
            if n == TcpState::FinWait && s != TcpState::FinWait {
                e.fin_by_reply = Some(reply);
            }
            e.proto = Proto::Tcp(n);
        }
        let timeout = match e.proto {
            Proto::Tcp(s) => timeouts.tcp(s),
            Proto::Udp if e.replied => timeouts.udp_stream,
            Proto::Udp => timeouts.udp,
            Proto::Icmp => timeouts.icmp,
            Proto::Other => timeouts.generic,
        };
        e.expires = now.saturating_add(timeout);
        Verdict {
            state: TRK | if e.replied { EST } else { NEW } | if reply { RPL } else { 0 },
            mark: e.mark,
            conn: Some((slot, reply)),
        }
    }

    /// What `track` would say of `pkt`, changing nothing (for trace).
    pub fn peek(&self, pkt: Option<&Packet>, zone: u16, now: u64) -> Verdict {
        use state::*;
        let inv = Verdict {
            state: TRK | INV,
            mark: 0,
            conn: None,
        };
        let Some(p) = pkt else { return inv };
        let live = |t: &Tuple| {
            self.find(zone, t)
                .filter(|(s, _)| self.entry(*s).is_some_and(|e| e.expires > now))
        };
        match p.kind {
            Kind::Untracked | Kind::OtherIcmp => inv,
            Kind::Error { inner } => match live(&inner) {
                Some((slot, quoted_reply)) if inner.src == p.tuple.dst => Verdict {
                    state: TRK | REL | if quoted_reply { 0 } else { RPL },
                    mark: self.entry(slot).map_or(0, |e| e.mark),
                    conn: None,
                },
                _ => inv,
            },
            _ => match live(&p.tuple) {
                Some((slot, reply)) => {
                    let (replied, mark) =
                        self.entry(slot).map_or((false, 0), |e| (e.replied, e.mark));
                    Verdict {
                        state: TRK
                            | if replied || reply { EST } else { NEW }
                            | if reply { RPL } else { 0 },
                        mark,
                        conn: Some((slot, reply)),
                    }
                }
                None => {
                    let opens = match p.kind {
                        Kind::Tcp { flags } => tcp::open(flags, self.config.tcp_loose).is_some(),
                        Kind::Echo { reply } => !reply,
                        _ => true,
                    };
                    if opens {
                        Verdict {
                            state: TRK | NEW,
                            mark: 0,
                            conn: None,
                        }
                    } else {
                        inv
                    }
                }
            },
        }
    }

    fn entry(&self, slot: u32) -> Option<&Entry> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    /// Makes the connection of `pkt` exist in `zone` (what `track` found, `seen`,
    /// saves a second lookup) and sets `mark` (value, mask) on it. A packet that
    /// cannot open a connection (invalid, an ICMP error, a reply) commits nothing.
    /// Err when the table is full: the packet is to be dropped, as the kernel does.
    pub fn commit(
        &mut self,
        pkt: Option<&Packet>,
        zone: u16,
        now: u64,
        seen: Option<(u32, bool)>,
        mark: Option<(u32, u32)>,
    ) -> Result<(), TableFull> {
        let Some(p) = pkt else { return Ok(()) };
        let known = seen
            .filter(|(slot, _)| self.entry(*slot).is_some_and(|e| e.zone == zone))
            .or_else(|| self.live_conn(zone, &p.tuple, now));
        if let Some((slot, _)) = known {
            if let (Some((v, m)), Some(e)) = (
                mark,
                self.slots.get_mut(slot as usize).and_then(Option::as_mut),
            ) {
                e.mark = (e.mark & !m) | (v & m);
            }
            return Ok(());
        }
        let proto = match p.kind {
            Kind::Tcp { flags } => match tcp::open(flags, self.config.tcp_loose) {
                Some(s) => Proto::Tcp(s),
                None => return Ok(()),
            },
            Kind::Udp => Proto::Udp,
            Kind::Echo { reply: false } => Proto::Icmp,
            Kind::Other => Proto::Other,
            _ => return Ok(()),
        };
        if self.live >= self.config.max {
            self.stats.refused += 1;
            return Err(TableFull);
        }
        let mut e = Entry {
            zone,
            orig: p.tuple,
            proto,
            mark: mark.map_or(0, |(v, m)| v & m),
            replied: false,
            fin_by_reply: None,
            expires: 0,
            id: self.next_id,
        };
        self.next_id += 1;
        e.expires = now.saturating_add(self.timeout(&e));
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(canonical(zone, &p.tuple), slot);
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some(e);
        }
        self.live += 1;
        *self.per_zone.entry(zone).or_insert(0) += 1;
        self.stats.committed += 1;
        Ok(())
    }

    /// Removes up to `budget` expired connections, going on from where the last
    /// sweep stopped; returns how many went.
    pub fn sweep(&mut self, now: u64, budget: usize) -> usize {
        let n = self.slots.len();
        if n == 0 {
            return 0;
        }
        let mut removed = 0;
        for _ in 0..budget.min(n) {
            self.cursor = (self.cursor + 1) % n;
            let slot = self.cursor as u32;
            if self.entry(slot).is_some_and(|e| e.expires <= now) {
                self.remove(slot);
                self.stats.expired += 1;
                removed += 1;
            }
        }
        removed
    }

    /// Forgets every connection (of `zone`, when given); returns how many.
    pub fn flush(&mut self, zone: Option<u16>) -> usize {
        let doomed: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                e.as_ref()
                    .filter(|e| zone.is_none_or(|z| e.zone == z))
                    .map(|_| i as u32)
            })
            .collect();
        for s in &doomed {
            self.remove(*s);
        }
        doomed.len()
    }

    /// The connections (of `zone`, when given) that have not expired at `now`,
    /// ordered by zone and tuple.
    pub fn dump(&self, zone: Option<u16>, now: u64) -> Vec<ConnView> {
        let mut v: Vec<ConnView> = self
            .slots
            .iter()
            .flatten()
            .filter(|e| zone.is_none_or(|z| e.zone == z) && e.expires > now)
            .map(|e| ConnView {
                zone: e.zone,
                orig: e.orig,
                mark: e.mark,
                tcp_state: match e.proto {
                    Proto::Tcp(s) => Some(s.name()),
                    _ => None,
                },
                replied: e.replied,
                expires_in: e.expires - now,
            })
            .collect();
        v.sort_by_key(|c| (c.zone, c.orig));
        v
    }
}

/// The map's key of a connection: its zone and the lesser of its two tuples.
fn canonical(zone: u16, t: &Tuple) -> (u16, Tuple) {
    let r = t.reversed();
    (zone, if r < *t { r } else { *t })
}

/// The table is full: a commit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("connection table full")]
pub struct TableFull;

impl ConnView {
    /// One line as `ovs-appctl dpctl/dump-conntrack` prints it.
    pub fn text(&self) -> String {
        let t = &self.orig;
        let r = t.reversed();
        let proto = match (t.proto, t.v6) {
            (6, _) => "tcp".to_string(),
            (17, _) => "udp".to_string(),
            (1, false) => "icmp".to_string(),
            (58, true) => "icmpv6".to_string(),
            (p, _) => format!("proto={p}"),
        };
        let ends = |x: &Tuple| match x.proto {
            6 | 17 => format!(
                "src={},dst={},sport={},dport={}",
                x.src_ip(),
                x.dst_ip(),
                x.sport,
                x.dport
            ),
            1 | 58 => format!("src={},dst={},id={}", x.src_ip(), x.dst_ip(), x.sport),
            _ => format!("src={},dst={}", x.src_ip(), x.dst_ip()),
        };
        let mut s = format!("{proto},orig=({}),reply=({})", ends(t), ends(&r));
        s.push_str(&format!(",zone={}", self.zone));
        if self.mark != 0 {
            s.push_str(&format!(",mark={}", self.mark));
        }
        if let Some(st) = self.tcp_state {
            s.push_str(&format!(",protoinfo=(state={st})"));
        }
        s
    }
}
