//! NORMAL (an L2 learning switch per VLAN) and flooding: the pipeline's
//! actions that choose ports by MAC tables and port lists rather than by flows.

use crate::PortId;
use crate::cache::Effect;
use crate::field::{Field, FlowKey};
use crate::mac_table::Learned;
use crate::switch::Switch;
use crate::xlate::Ctx;

impl Switch {
    pub(crate) fn flood(&mut self, cx: &mut Ctx, br: usize, key: &FlowKey) {
        cx.read(Field::InPort);
        let in_port = key.get(Field::InPort) as u32;
        let mut ports = std::mem::take(&mut self.scratch_ports);
        ports.clear();
        if let Some(b) = self.bridge(br) {
            ports.extend(
                b.ports
                    .iter()
                    .filter(|(n, _)| **n != in_port)
                    .map(|(n, _)| *n as usize),
            );
        }
        for &p in &ports {
            self.output_to(cx, br, p as u32, key);
        }
        self.scratch_ports = ports;
    }

    /// L2 learning switch per VLAN; port tags make access ports, untagged ports trunks.
    pub(crate) fn normal(&mut self, cx: &mut Ctx, br: usize, key: &FlowKey) {
        for f in [Field::InPort, Field::VlanTci, Field::DlSrc, Field::DlDst] {
            cx.read(f);
        }
        let in_ofport = key.get(Field::InPort) as u32;
        let Some(&in_id) = self.bridge(br).and_then(|b| b.ports.get(&in_ofport)) else {
            cx.note(|| "    NORMAL: input port not on this bridge: drop".into());
            return;
        };
        let in_tag = self.port(in_id).and_then(|p| p.config.tag);
        let tci = key.get(Field::VlanTci) as u16;
        let tagged = tci & 0x1000 != 0;
        let vlan = match in_tag {
            Some(_) if tagged && tci & 0x0fff != 0 => {
                cx.note(|| "    NORMAL: tagged frame on an access port: drop".into());
                return;
            }
            Some(t) => t,
            None if tagged => tci & 0x0fff,
            None => 0,
        };
        let src = key.get_u64(Field::DlSrc);
        let dst = key.get_u64(Field::DlDst);
        let now = cx.now();
        let tracing = cx.tracing();
        if src & 0x0100_0000_0000 == 0
            && !tracing
            && let Some(b) = self.bridge_mut(br)
        {
            match b.macs.learn(vlan, src, in_id, now) {
                Learned::Refreshed(slot) => cx.record(Effect::Mac {
                    br: br as u32,
                    slot,
                    port: in_id as u32,
                }),
                // Decisions may change: cached ones go (this packet is not cached).
                Learned::Changed => self.generation += 1,
                // Every packet from this MAC must try again.
                Learned::Full => cx.cacheable = false,
            }
        }
        // (port, end of freshness) of the destination.
        let known = if dst & 0x0100_0000_0000 == 0 {
            self.bridge(br).and_then(|b| {
                b.macs
                    .lookup_entry(vlan, dst, now)
                    .map(|e| (e.port, e.seen.saturating_add(b.macs.aging_ms)))
            })
        } else {
            None
        };
        let out = NormalOut { vlan, tagged, tci };
        match known {
            Some((p, fresh_until)) => {
                // Past its aging the slow path would flood: a cached copy of this
                // decision must not outlive it.
                cx.valid_until = cx.valid_until.min(fresh_until);
                if p == in_id {
                    cx.note(|| {
                        format!("    NORMAL: vlan {vlan}: destination is on the input port: drop")
                    });
                    return;
                }
                if tracing {
                    let name = self
                        .port(p)
                        .map(|x| x.config.name.clone())
                        .unwrap_or_default();
                    cx.note(|| {
                        format!(
                            "    NORMAL: vlan {vlan}: learned {} on {name}",
                            wire::MacAddr::from_u64(dst)
                        )
                    });
                }
                self.normal_out(cx, br, p, key, out);
            }
            None => {
                cx.note(|| {
                    format!(
                        "    NORMAL: vlan {vlan}: no learned port for {}, flooding",
                        wire::MacAddr::from_u64(dst)
                    )
                });
                let mut targets = std::mem::take(&mut self.scratch_ports);
                targets.clear();
                if let Some(b) = self.bridge(br) {
                    targets.extend(b.ports.values().copied().filter(|p| {
                        *p != in_id
                            && self
                                .port(*p)
                                .is_some_and(|x| x.config.tag.is_none_or(|t| t == vlan))
                    }));
                }
                for &p in &targets {
                    self.normal_out(cx, br, p, key, out);
                }
                self.scratch_ports = targets;
            }
        }
    }

    /// Sends a NORMAL-switched packet out of `p` with the VLAN header that port takes.
    fn normal_out(&mut self, cx: &mut Ctx, br: usize, p: PortId, key: &FlowKey, o: NormalOut) {
        let Some(port) = self.port(p) else { return };
        let (ofport, tag) = (port.ofport, port.config.tag);
        let mut k = *key;
        let out_tci = match tag {
            Some(_) => 0,
            None if o.vlan != 0 => 0x1000 | o.vlan | if o.tagged { o.tci & 0xe000 } else { 0 },
            None => 0,
        };
        k.set(Field::VlanTci, u128::from(out_tci));
        self.output_to(cx, br, ofport, &k);
    }
}

/// What NORMAL decided about VLANs for one packet.
#[derive(Clone, Copy)]
struct NormalOut {
    vlan: u16,
    tagged: bool,
    tci: u16,
}
