//! The pipeline: looks packets up in tables and runs actions on their key, crossing
//! patch ports into other bridges, recording outputs (and, for trace, every step).

use crate::PortId;
use crate::action::{Action, OFPP_ALL, OFPP_FLOOD, OFPP_IN_PORT, OFPP_LOCAL, OFPP_NORMAL};
use crate::cache::Effect;
use crate::field::{Field, FlowKey};
use crate::flow::Flow;
use crate::port::PortType;
use crate::print;
use crate::switch::Switch;
use std::sync::Arc;

/// Resubmits and patch crossings allowed for one packet before it is dropped as a loop.
pub const MAX_DEPTH: usize = 64;

/// What the engine decided for a received frame, item by item: the frame itself
/// forwarded out of a port, or a frame the engine made itself (a DHCP or ARP
/// answer). One channel, in order, for both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Forward(Forward),
    /// A frame the engine made, to send as it is.
    Made(Reply),
}

impl Output {
    /// The forward this is, if it is one.
    #[inline]
    pub fn forward(&self) -> Option<&Forward> {
        match self {
            Output::Forward(f) => Some(f),
            Output::Made(_) => None,
        }
    }

    /// The frame the engine made, if this is one.
    #[inline]
    pub fn made(&self) -> Option<&Reply> {
        match self {
            Output::Made(r) => Some(r),
            Output::Forward(_) => None,
        }
    }

    /// The port it leaves through.
    pub fn port(&self) -> PortId {
        match self {
            Output::Forward(f) => f.port,
            Output::Made(r) => r.port,
        }
    }
}

/// A whole frame the engine made itself (a DHCP or ARP answer), with its
/// checksums, to send out of `port` as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub port: PortId,
    pub frame: Vec<u8>,
}

/// The received frame out of a port, with the headers it must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    pub port: PortId,
    pub key: FlowKey,
}

impl Forward {
    /// Rewrites `pkt`, whose headers `orig` (the key `receive` returned)
    /// describes, into what leaves through this port: VLAN push/pop/modify,
    /// Ethernet addresses, ARP fields.
    #[inline]
    pub fn rewrite(&self, pkt: &mut wire::PacketBuf, orig: &FlowKey) {
        crate::commit::apply(pkt, orig, &self.key);
    }
}

pub(crate) struct Ctx<'a> {
    out: &'a mut Vec<Output>,
    trace: Option<&'a mut Vec<String>>,
    /// The packet's bytes as received (None when tracing a flow text).
    frame: Option<&'a [u8]>,
    /// When tracing a frame: the replies the `dhcp` action would send.
    pub(crate) traced_replies: Vec<String>,
    now: u64,
    bytes: u64,
    depth: usize,
    /// Bridge-level indentation for trace output.
    pub(crate) indent: usize,
    /// Side effects recorded for the flow cache (None: not recording).
    pub(crate) effects: Option<Vec<Effect>>,
    /// False once the packet did something that must run every time (`dhcp`).
    pub(crate) cacheable: bool,
    /// The decision holds while `now` is below this (MAC entries NORMAL relied on).
    pub(crate) valid_until: u64,
    /// The first `ct(table=N)` of this pass: where the packet goes on.
    pub(crate) recirc: Option<crate::cache::Recirc>,
    /// The bits of the pass's key the decision read (see [`crate::wildcards`]).
    pub(crate) wc: FlowKey,
    /// Tracing: the megaflows of the recirculated passes that ended.
    pub(crate) traced_passes: Vec<crate::wildcards::Megaflow>,
    /// A commit was refused (the connection table is full): the packet is dropped.
    pub(crate) ct_refused: bool,
    /// Tracing a flow text: the `ct_state` and `ct_mark` a `ct()` gives the packet
    /// (what the traced flow said, else `+trk+new`, as ovs-appctl's ct-next).
    pub(crate) trace_ct: (u8, u32),
    /// Tracing: a `ct()` ran.
    pub(crate) traced_ct: bool,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        out: &'a mut Vec<Output>,
        trace: Option<&'a mut Vec<String>>,
        now: u64,
        bytes: u64,
    ) -> Ctx<'a> {
        Ctx {
            out,
            trace,
            frame: None,
            traced_replies: Vec::new(),
            now,
            bytes,
            depth: 0,
            indent: 0,
            effects: None,
            cacheable: true,
            valid_until: u64::MAX,
            recirc: None,
            wc: FlowKey::default(),
            traced_passes: Vec::new(),
            ct_refused: false,
            trace_ct: (
                crate::conntrack::state::TRK | crate::conntrack::state::NEW,
                0,
            ),
            traced_ct: false,
        }
    }

    /// Records side effects for the flow cache into `buf` (emptied first).
    pub(crate) fn recording(mut self, mut buf: Vec<Effect>) -> Ctx<'a> {
        buf.clear();
        self.effects = Some(buf);
        self
    }

    #[inline]
    pub(crate) fn record(&mut self, e: Effect) {
        if let Some(v) = self.effects.as_mut() {
            v.push(e);
        }
    }

    pub(crate) fn with_frame(mut self, frame: &'a [u8]) -> Ctx<'a> {
        self.frame = Some(frame);
        self
    }

    pub(crate) fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    pub(crate) fn frame(&self) -> Option<&'a [u8]> {
        self.frame
    }

    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    #[inline]
    pub(crate) fn note(&mut self, s: impl FnOnce() -> String) {
        if let Some(t) = self.trace.as_deref_mut() {
            let pad = "    ".repeat(self.indent);
            t.push(format!("{pad}{}", s()));
        }
    }

    /// The decision read all of `f` (see [`crate::wildcards`]).
    #[inline]
    pub(crate) fn read(&mut self, f: Field) {
        self.read_bits(f, f.full_mask());
    }

    /// The decision read the bits `mask` of `f`.
    #[inline]
    pub(crate) fn read_bits(&mut self, f: Field, mask: u128) {
        self.wc.set_masked(f, mask, mask);
    }

    /// The decision writes the bits `mask` of `f`: a header's are read too
    /// (whether it changes depends on what it was).
    #[inline]
    pub(crate) fn write_bits(&mut self, f: Field, mask: u128) {
        if f.is_header() {
            self.read_bits(f, mask);
        }
    }

    /// The decision depends on every bit of the key (it must not be widened).
    pub(crate) fn read_all(&mut self) {
        self.wc.w = [u64::MAX; crate::field::KEY_WORDS];
    }

    pub(crate) fn trace_bridge(&mut self, name: &str) {
        self.note(|| format!("bridge(\"{name}\")"));
        self.note(|| "-".repeat(10 + name.len()));
    }
}

impl Switch {
    /// The matching flow's actions (and, when tracing, a copy of the flow).
    fn lookup(
        &mut self,
        br: usize,
        table: u8,
        key: &FlowKey,
        cx: &mut Ctx,
    ) -> Option<(Arc<[Action]>, Option<Flow>)> {
        let tracing = cx.tracing();
        let (now, bytes) = (cx.now, cx.bytes);
        let t = self.bridge_mut(br)?.tables.get_mut(usize::from(table))?;
        let id = t.lookup_wc(key, &mut cx.wc)?;
        let f = t.get_mut(id)?;
        if !tracing {
            f.stats.packets += 1;
            f.stats.bytes += bytes;
            f.stats.used = now;
        }
        let found = (f.actions.clone(), tracing.then(|| f.clone()));
        if !tracing {
            cx.record(Effect::Flow {
                br: br as u32,
                table,
                id,
            });
        }
        Some(found)
    }

    pub(crate) fn run_table(&mut self, cx: &mut Ctx, br: usize, table: u8, key: &mut FlowKey) {
        if cx.depth >= MAX_DEPTH {
            cx.note(|| {
                format!("table {table}: >>>> too many resubmits or patch crossings: drop <<<<")
            });
            return;
        }
        cx.depth += 1;
        match self.lookup(br, table, key, cx) {
            None => cx.note(|| format!("table {table}: no match: drop")),
            Some((actions, flow)) => {
                if let Some(flow) = flow {
                    let names = self.names(br);
                    let m = print::match_text(&flow.matcher, &names);
                    let m = if m.is_empty() {
                        String::new()
                    } else {
                        format!("{m}, ")
                    };
                    let acts = print::actions_text(&actions, &names);
                    let cookie = if flow.cookie != 0 {
                        format!(", cookie {:#x}", flow.cookie)
                    } else {
                        String::new()
                    };
                    cx.note(|| format!("table {table}: {m}priority {}{cookie}", flow.priority));
                    cx.note(|| format!("    actions={acts}"));
                }
                self.run_actions(cx, br, table, &actions, key);
            }
        }
        cx.depth -= 1;
    }

    fn run_actions(
        &mut self,
        cx: &mut Ctx,
        br: usize,
        table: u8,
        actions: &[Action],
        key: &mut FlowKey,
    ) {
        for a in actions {
            match a {
                Action::Output(p) => self.output(cx, br, *p, key),
                Action::OutputField(r) => {
                    cx.read_bits(r.field, r.mask());
                    let p = ((key.get(r.field) & r.mask()) >> r.start) as u32;
                    self.output(cx, br, p, key);
                }
                Action::InPort => {
                    cx.read(Field::InPort);
                    let p = key.get(Field::InPort) as u32;
                    self.output_to(cx, br, p, key);
                }
                Action::Normal => self.normal(cx, br, key),
                Action::Flood => self.flood(cx, br, key),
                Action::Drop => cx.note(|| "    drop".into()),
                Action::Dhcp => {
                    cx.read_all();
                    self.dhcp(cx, br, key);
                }
                Action::Resubmit { in_port, table: t } => {
                    let saved = key.get(Field::InPort);
                    if let Some(p) = in_port {
                        key.set(Field::InPort, u128::from(*p));
                    }
                    let t = t.unwrap_or(table);
                    cx.indent += 1;
                    self.run_table(cx, br, t, key);
                    cx.indent -= 1;
                    key.set(Field::InPort, saved);
                }
                Action::GotoTable(t) => {
                    self.run_table(cx, br, *t, key);
                }
                Action::ModVlanVid(v) => {
                    cx.read(Field::VlanTci);
                    let tci = key.get(Field::VlanTci) as u16;
                    let pcp = if tci & 0x1000 != 0 { tci & 0xe000 } else { 0 };
                    key.set(Field::VlanTci, u128::from(pcp | 0x1000 | v));
                }
                Action::ModVlanPcp(p) => {
                    cx.read(Field::VlanTci);
                    let tci = key.get(Field::VlanTci) as u16;
                    key.set(
                        Field::VlanTci,
                        u128::from((tci & 0x0fff) | 0x1000 | (u16::from(*p) << 13)),
                    );
                }
                Action::StripVlan => {
                    cx.read(Field::VlanTci);
                    key.set(Field::VlanTci, 0);
                }
                Action::PushVlan(_) => {
                    cx.read(Field::VlanTci);
                    // One VLAN layer is tracked: pushing onto an untagged frame gives VID 0.
                    let tci = key.get(Field::VlanTci) as u16;
                    key.set(Field::VlanTci, u128::from(tci | 0x1000));
                }
                Action::SetTunnel(id) => key.set(Field::TunId, u128::from(*id)),
                Action::Load { value, dst } => {
                    cx.write_bits(dst.field, dst.mask());
                    key.set_masked(dst.field, *value << dst.start, dst.mask());
                }
                Action::Move { src, dst } => {
                    cx.read_bits(src.field, src.mask());
                    cx.write_bits(dst.field, dst.mask());
                    let v = (key.get(src.field) & src.mask()) >> src.start;
                    key.set_masked(dst.field, v << dst.start, dst.mask());
                }
                Action::Learn(spec) => {
                    // Every packet equal in these bits learns (or refreshes)
                    // the same flow.
                    for r in spec.sources() {
                        cx.read_bits(r.field, r.mask());
                    }
                    self.learn(cx, br, spec, key);
                }
                Action::Ct(ct) => self.ct(cx, br, ct, key),
                Action::CtClear => crate::xlate_ct::clear(key),
                // A conjunctive flow never runs by itself (see `table`).
                Action::Conjunction { .. } => {}
            }
        }
    }

    /// `learn()`: installs the flow the spec makes of this packet, or refreshes its
    /// timers if it is installed already.
    fn learn(&mut self, cx: &mut Ctx, br: usize, spec: &crate::learn::LearnSpec, key: &FlowKey) {
        let mut acts = std::mem::take(&mut self.scratch_actions);
        acts.clear();
        let matcher = spec.instantiate_into(key, &mut acts);
        self.learn_with(cx, br, spec, matcher, &acts);
        self.scratch_actions = acts;
    }

    fn learn_with(
        &mut self,
        cx: &mut Ctx,
        br: usize,
        spec: &crate::learn::LearnSpec,
        matcher: crate::flow::Match,
        acts: &[Action],
    ) {
        if cx.tracing() {
            let names = self.names(br);
            let parts = print::FlowParts {
                table: spec.table,
                priority: spec.priority,
                cookie: spec.cookie,
                idle_timeout: spec.idle_timeout,
                hard_timeout: spec.hard_timeout,
                matcher: &matcher,
                actions: acts,
            };
            let text = print::flow_text(&parts, &names);
            cx.note(|| format!("    learn: would install {text}"));
            return;
        }
        let now = cx.now;
        let Some(b) = self.bridge_mut(br) else { return };
        let Some(t) = b.tables.get_mut(usize::from(spec.table)) else {
            return;
        };
        if let Some(id) = t.find_rule(spec.priority, &matcher)
            && let Some(f) = t.get_mut(id)
            && *f.actions == *acts
        {
            // Same flow learned again: refresh its timers only.
            f.stats.created = now;
            f.stats.used = now;
            cx.record(Effect::Learned {
                br: br as u32,
                table: spec.table,
                id,
            });
            return;
        }
        b.insert(Flow {
            table: spec.table,
            priority: spec.priority,
            cookie: spec.cookie,
            idle_timeout: spec.idle_timeout,
            hard_timeout: spec.hard_timeout,
            matcher,
            actions: Arc::from(acts),
            stats: crate::flow::FlowStats {
                created: now,
                used: now,
                ..Default::default()
            },
            learned: true,
        });
        self.flows_changed();
    }

    /// `dhcp`: answers from the input port's binding; the reply goes back out of it.
    fn dhcp(&mut self, cx: &mut Ctx, br: usize, key: &FlowKey) {
        // Answers depend on the frame's bytes and queue replies: never cached.
        cx.cacheable = false;
        let in_ofport = key.get(Field::InPort) as u32;
        let Some(pid) = self
            .bridge(br)
            .and_then(|b| b.ports.get(&in_ofport))
            .copied()
        else {
            cx.note(|| "    dhcp: input port not on this bridge: drop".into());
            return;
        };
        let Some(port) = self.port(pid) else { return };
        let Some(binding) = port.config.dhcp.as_ref() else {
            let name = port.config.name.clone();
            cx.note(|| format!("    dhcp: no DHCP binding on {name}: drop"));
            if !cx.tracing()
                && let Some(p) = self.port_mut(pid)
            {
                p.dhcp_stats.dropped += 1;
            }
            return;
        };
        let Some(frame) = cx.frame else {
            // Tracing a flow text: say what a packet like it would get.
            let d = crate::dhcp::describe_key(binding, key);
            cx.note(|| format!("    {d}"));
            return;
        };
        let ans = crate::dhcp::answer(binding, frame);
        if cx.tracing() {
            let name = port.config.name.clone();
            let what = ans.describe();
            cx.note(|| format!("    {what}"));
            if ans.frame.is_some() {
                cx.note(|| format!("    -> reply through {name}"));
                let bname = self.bridge(br).map(|b| b.name.clone()).unwrap_or_default();
                cx.traced_replies
                    .push(format!("{bname}: reply through {name} ({what})"));
            }
            return;
        }
        if let Some(p) = self.port_mut(pid) {
            ans.outcome.count(&mut p.dhcp_stats);
        }
        if let Some(frame) = ans.frame {
            // Answered every time: never a cached decision.
            cx.cacheable = false;
            cx.out.push(Output::Made(Reply { port: pid, frame }));
        }
    }

    /// `output:P`: OpenFlow drops output to the input port unless IN_PORT is used.
    fn output(&mut self, cx: &mut Ctx, br: usize, ofport: u32, key: &FlowKey) {
        cx.read(Field::InPort);
        match ofport {
            OFPP_IN_PORT => return self.output_to(cx, br, key.get(Field::InPort) as u32, key),
            OFPP_NORMAL => return self.normal(cx, br, key),
            OFPP_FLOOD | OFPP_ALL => return self.flood(cx, br, key),
            _ => {}
        }
        if u128::from(ofport) == key.get(Field::InPort) {
            cx.note(|| format!("    output:{ofport} is the input port: skipped (use IN_PORT)"));
            return;
        }
        self.output_to(cx, br, ofport, key);
    }

    pub(crate) fn output_to(&mut self, cx: &mut Ctx, br: usize, ofport: u32, key: &FlowKey) {
        let Some(&pid) = self.bridge(br).and_then(|b| b.ports.get(&ofport)) else {
            cx.note(|| {
                let what = if ofport == OFPP_LOCAL {
                    "LOCAL (no bridge interface)".to_string()
                } else {
                    ofport.to_string()
                };
                format!("    output to {what}: no such port, dropped")
            });
            return;
        };
        let Some(port) = self.port(pid) else { return };
        if port.config.kind == PortType::Patch {
            let Some(peer) = self.patch_peer(pid) else {
                if cx.tracing() {
                    let name = port.config.name.clone();
                    cx.note(|| format!("    -> patch port {name} has no peer: dropped"));
                }
                return;
            };
            let Some(pp) = self.port(peer) else { return };
            let (pbr, pofport) = (pp.bridge, pp.ofport);
            // Names only for trace: the packet path allocates nothing here.
            let bname = if cx.tracing() {
                let name = port.config.name.clone();
                let pname = pp.config.name.clone();
                let bname = self.bridge(pbr).map(|b| b.name.clone()).unwrap_or_default();
                cx.note(|| format!("    -> output to patch port {name}, into {bname} via {pname}"));
                bname
            } else {
                String::new()
            };
            let mut k = *key;
            // Crossing a patch clears registers, metadata, tunnel fields and the
            // connection state (as in OVS).
            for f in [
                Field::Reg0,
                Field::Reg1,
                Field::Reg2,
                Field::Reg3,
                Field::Reg4,
                Field::Reg5,
                Field::Reg6,
                Field::Reg7,
                Field::Metadata,
                Field::TunId,
                Field::TunSrc,
                Field::TunDst,
                Field::CtState,
                Field::CtZone,
                Field::CtMark,
            ] {
                k.set(f, 0);
            }
            k.set(Field::InPort, u128::from(pofport));
            cx.indent += 1;
            if cx.tracing() {
                cx.note(String::new);
                cx.trace_bridge(&bname);
            }
            self.run_table(cx, pbr, 0, &mut k);
            cx.indent -= 1;
            return;
        }
        // A flow-keyed tunnel sends with the key's tun_id, which may be the
        // packet's own.
        if port.config.tunnel_key() == crate::port::TunnelKey::Flow {
            cx.read(Field::TunId);
        }
        // Written straight into the list (the key is 144 bytes: one copy).
        cx.out.push(Output::Forward(Forward {
            port: pid,
            key: *key,
        }));
        if cx.tracing() {
            let d = cx
                .out
                .last()
                .and_then(Output::forward)
                .map(|o| self.describe_output(o));
            cx.note(|| format!("    -> {}", d.unwrap_or_default()));
        }
    }
}
