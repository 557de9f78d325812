//! Text for operators: flows in add-flow syntax, `dump-flows`, and `trace` of a
//! flow text or a real frame through the pipeline.

use super::*;
use crate::wildcards::Megaflow;

impl Switch {
    /// Flows in add-flow syntax (for the state file).
    pub fn flows_text(&self, br: usize) -> Vec<String> {
        let Some(b) = self.bridge(br) else {
            return Vec::new();
        };
        let names = self.names(br);
        b.flows()
            .map(|f| print::flow_text(&f.parts(), &names))
            .collect()
    }

    /// `dump-flows`: ovs-ofctl's layout with counters and durations.
    pub fn dump_flows(
        &mut self,
        bridge: &str,
        table: Option<u8>,
        now: u64,
    ) -> Result<Vec<String>, SwitchError> {
        self.settle_counters();
        let br = self.bridge_id(bridge)?;
        let b = self
            .bridge(br)
            .ok_or_else(|| SwitchError::NoSuchBridge(bridge.to_string()))?;
        let names = self.names(br);
        let mut out = Vec::new();
        for f in b.flows().filter(|f| table.is_none_or(|t| t == f.table)) {
            let dur = now.saturating_sub(f.stats.created);
            let mut s = format!(
                " cookie={:#x}, duration={}.{:03}s, table={}, n_packets={}, n_bytes={}, ",
                f.cookie,
                dur / 1000,
                dur % 1000,
                f.table,
                f.stats.packets,
                f.stats.bytes
            );
            if f.idle_timeout != 0 {
                s.push_str(&format!("idle_timeout={}, ", f.idle_timeout));
            }
            if f.hard_timeout != 0 {
                s.push_str(&format!("hard_timeout={}, ", f.hard_timeout));
            }
            if f.stats.packets > 0 {
                s.push_str(&format!(
                    "idle_age={}, ",
                    now.saturating_sub(f.stats.used) / 1000
                ));
            }
            s.push_str(&format!("priority={}", f.priority));
            let m = print::match_text(&f.matcher, &names);
            if !m.is_empty() {
                s.push(',');
                s.push_str(&m);
            }
            s.push_str(&format!(
                " actions={}",
                print::actions_text(&f.actions, &names)
            ));
            out.push(s);
        }
        Ok(out)
    }

    /// Traces a real frame arriving on `in_port` (what `receive` would do with it,
    /// including what the `dhcp` action would answer) without changing any state.
    pub fn trace_frame(
        &mut self,
        in_port: PortId,
        frame: &[u8],
        tunnel: Option<&TunnelMeta>,
        now: u64,
    ) -> Result<Vec<String>, SwitchError> {
        let mut key = flow_key(frame, tunnel);
        let Some(p) = self.port(in_port) else {
            return Err(SwitchError::Invalid(format!("no port #{in_port}")));
        };
        let (br, ofport) = (p.bridge, p.ofport);
        key.set(Field::InPort, ofport.into());
        // The fields the frame has (and in_port), exactly.
        let mut m = crate::flow::Match::catch_all();
        for f in Field::ALL {
            let v = key.get(*f);
            if v != 0 || *f == Field::InPort || *f == Field::DlType {
                m.set(*f, v, f.full_mask());
            }
        }
        let mut lines = vec![format!("Flow: {}", print::match_text(&m, &self.names(br)))];
        let mut outs = Vec::new();
        let mut cx =
            Ctx::new(&mut outs, Some(&mut lines), now, frame.len() as u64).with_frame(frame);
        cx.trace_bridge(&self.bridge(br).map(|b| b.name.clone()).unwrap_or_default());
        let orig = key;
        self.run_table(&mut cx, br, 0, &mut key);
        let replies = std::mem::take(&mut cx.traced_replies);
        let passes = megaflows(&orig, &mut cx);
        drop(cx);
        self.finish_trace(&mut lines, &outs, &replies);
        self.trace_megaflows(&mut lines, br, &passes);
        Ok(lines)
    }

    fn finish_trace(&self, lines: &mut Vec<String>, outs: &[Output], replies: &[String]) {
        lines.push(String::new());
        if outs.is_empty() && replies.is_empty() {
            lines.push("Final: drop (no output)".into());
        } else {
            lines.push("Final outputs:".into());
            for o in outs.iter().filter_map(Output::forward) {
                lines.push(format!("  {}", self.describe_output(o)));
            }
            for r in replies {
                lines.push(format!("  {r}"));
            }
        }
    }

    /// Traces a packet described by a flow text (e.g. `in_port=tap1,dl_dst=..,arp`)
    /// through the pipeline without changing any state; returns the trace lines.
    pub fn trace(
        &mut self,
        bridge: &str,
        flow: &str,
        now: u64,
    ) -> Result<Vec<String>, SwitchError> {
        self.trace_decision(bridge, flow, now).map(|t| t.lines)
    }

    /// [`Switch::trace`], with the decision as values too: for a datapath below
    /// the engine to say whether it would carry such packets.
    pub fn trace_decision(
        &mut self,
        bridge: &str,
        flow: &str,
        now: u64,
    ) -> Result<Traced, SwitchError> {
        let br = self.bridge_id(bridge)?;
        let spec = self.parse_lines(br, &[flow.to_string()], false)?.remove(0);
        if spec.matcher.mask.get(Field::InPort) == 0 {
            return Err(SwitchError::Invalid("trace needs in_port=PORT".into()));
        }
        let mut key = spec.matcher.value;
        let in_ofport = key.get(Field::InPort) as u32;
        if self
            .bridge(br)
            .and_then(|b| b.ports.get(&in_ofport))
            .is_none()
        {
            return Err(SwitchError::Invalid(format!(
                "in_port {in_ofport} is not a port of {bridge}"
            )));
        }
        let mut lines = vec![format!(
            "Flow: {}",
            print::match_text(&spec.matcher, &self.names(br))
        )];
        // The flow's ct_state and ct_mark are what a `ct()` gives the packet (as
        // ovs-appctl ofproto/trace's ct-next); the first pass starts untracked.
        let (st, st_mask) = spec.matcher.get(Field::CtState);
        if st_mask != 0 {
            lines.push(format!(
                "(ct() gives the packet ct_state={})",
                crate::field::ct_flags_text(st as u8, st_mask as u8)
            ));
        }
        let mark = key.get(Field::CtMark) as u32;
        crate::xlate_ct::clear(&mut key);
        let mut outs = Vec::new();
        let mut cx = Ctx::new(&mut outs, Some(&mut lines), now, 0);
        if st_mask != 0 {
            cx.trace_ct = (st as u8, mark);
        }
        cx.trace_bridge(&self.bridge(br).map(|b| b.name.clone()).unwrap_or_default());
        let orig = key;
        self.run_table(&mut cx, br, 0, &mut key);
        let tracked = cx.traced_ct;
        let passes = megaflows(&orig, &mut cx);
        drop(cx);
        self.finish_trace(&mut lines, &outs, &[]);
        self.trace_megaflows(&mut lines, br, &passes);
        let in_port = self
            .bridge(br)
            .and_then(|b| b.ports.get(&in_ofport))
            .copied();
        Ok(Traced {
            lines,
            in_port,
            orig,
            outputs: outs,
            tracked,
            megaflows: passes,
        })
    }

    /// The bits each pass read: any packet equal to it there takes the same
    /// decision (see [`crate::wildcards`]).
    fn trace_megaflows(&self, lines: &mut Vec<String>, br: usize, passes: &[Megaflow]) {
        let names = self.names(br);
        for m in passes {
            lines.push(format!(
                "Megaflow: {}",
                print::match_text(&m.as_match(), &names)
            ));
        }
    }

    /// One line on where an output goes, with the tunnel's outer header.
    pub fn describe_output(&self, o: &Forward) -> String {
        let Some(p) = self.port(o.port) else {
            return format!("port #{} (gone)", o.port);
        };
        let br = self
            .bridge(p.bridge)
            .map(|b| b.name.as_str())
            .unwrap_or("?");
        let vlan = o.key.get(Field::VlanTci) as u16;
        let vlan_txt = if vlan & 0x1000 != 0 {
            format!(", vlan {}", vlan & 0xfff)
        } else {
            String::new()
        };
        let c = &p.config;
        match c.kind {
            PortType::Vxlan | PortType::Gre | PortType::Geneve => {
                let id = match c.tunnel_key() {
                    crate::port::TunnelKey::Flow => o.key.get_u64(Field::TunId),
                    crate::port::TunnelKey::Fixed(k) => k,
                };
                let local = c
                    .local_ip
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "(route)".into());
                let remote = c.remote_ip.map(|i| i.to_string()).unwrap_or_default();
                let outer = match c.kind {
                    PortType::Vxlan => format!(
                        "VXLAN vni {id:#x}, udp {local} -> {remote}:{}",
                        wire::vxlan::UDP_PORT
                    ),
                    PortType::Geneve => format!(
                        "Geneve vni {id:#x}, udp {local} -> {remote}:{}",
                        wire::geneve::UDP_PORT
                    ),
                    _ => format!("GRE key {id:#x}, ip proto 47 {local} -> {remote}"),
                };
                format!("{br}: output {} ({outer}){vlan_txt}", c.name)
            }
            k => format!("{br}: output {} ({}){vlan_txt}", c.name, k.name()),
        }
    }
}

/// A trace's passes: the first (from `orig`), then the recirculated ones.
fn megaflows(orig: &crate::FlowKey, cx: &mut Ctx) -> Vec<Megaflow> {
    let mut v = vec![Megaflow::new(orig, cx.wc)];
    v.append(&mut cx.traced_passes);
    v
}

/// A traced packet's decision ([`Switch::trace_decision`]).
#[derive(Debug, Clone)]
pub struct Traced {
    pub lines: Vec<String>,
    pub in_port: Option<PortId>,
    /// The packet's key as it came in.
    pub orig: crate::FlowKey,
    pub outputs: Vec<Output>,
    /// A `ct()` ran on the way.
    pub tracked: bool,
    /// Each pass's megaflow (see [`crate::wildcards`]).
    pub megaflows: Vec<Megaflow>,
}
