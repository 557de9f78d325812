//! Megaflows keep their promise: a firewall-shaped br-int (anti-spoofing, `ct()`
//! with recirculation, rules with port ranges and conjunctions, NORMAL, header
//! rewrites, `move`) patched to a br-tun with a flow-keyed VXLAN port; for many
//! random keys, every key that equals one under its pass's mask gets the same
//! decision from that pass.

use crate::field::{Field, FlowKey, KEY_WORDS};
use crate::wildcards::Megaflow;
use crate::xlate::{Ctx, Output};
use crate::{PortConfig, PortType, Switch, TunnelKey};
use std::net::Ipv4Addr;

const BR_INT: &[&str] = &[
    "table=0,priority=100,in_port=tap1,dl_src=fa:16:3e:00:00:01,actions=load:1->NXM_NX_REG5[],load:5->NXM_NX_REG6[],resubmit(,71)",
    "table=0,priority=110,in_port=tap2,udp,tp_src=68,tp_dst=67,actions=drop",
    "table=0,priority=100,in_port=tap2,actions=load:2->NXM_NX_REG5[],load:5->NXM_NX_REG6[],resubmit(,71)",
    "table=0,priority=100,in_port=tap3,arp,actions=move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:fa:16:3e:00:00:aa,IN_PORT",
    "table=0,priority=90,in_port=patch-tun,actions=NORMAL",
    "table=0,priority=0,actions=drop",
    "table=71,priority=95,arp,actions=NORMAL",
    "table=71,priority=90,ip,actions=ct(table=72,zone=NXM_NX_REG6[0..15])",
    "table=71,priority=90,ipv6,actions=ct(table=72,zone=NXM_NX_REG6[0..15])",
    "table=71,priority=0,actions=drop",
    "table=72,priority=80,ct_state=+est-rel-rpl,actions=resubmit(,73)",
    "table=72,priority=80,ct_state=+est-rel+rpl,actions=resubmit(,73)",
    "table=72,priority=75,ct_state=+inv+trk,actions=drop",
    "table=72,priority=70,ct_state=+new-est,tcp,nw_src=10.0.0.0/24,tp_dst=0x16/0xfffe,actions=ct(commit,zone=NXM_NX_REG6[0..15]),resubmit(,73)",
    "table=72,priority=70,ct_state=+new-est,icmp,actions=ct(commit,zone=NXM_NX_REG6[0..15]),resubmit(,73)",
    "table=72,priority=60,conj_id=7,ct_state=+new-est,ip,actions=ct(commit,zone=5),resubmit(,73)",
    "table=72,priority=60,ct_state=+new-est,ip,nw_src=10.0.0.1,actions=conjunction(7,1/2)",
    "table=72,priority=60,ct_state=+new-est,ip,nw_src=10.0.0.3,actions=conjunction(7,1/2)",
    "table=72,priority=60,ct_state=+new-est,udp,tp_dst=53,actions=conjunction(7,2/2)",
    "table=72,priority=60,ct_state=+new-est,tcp,tp_dst=80,actions=conjunction(7,2/2)",
    "table=72,priority=0,actions=drop",
    "table=73,priority=20,ip,nw_dst=10.0.0.9,actions=mod_dl_dst:fa:16:3e:00:00:09,output:tap3",
    "table=73,priority=10,reg5=2,actions=mod_vlan_vid:7,output:patch-tun",
    "table=73,priority=5,actions=NORMAL",
];

const BR_TUN: &[&str] = &[
    "table=0,priority=1,in_port=patch-int,actions=resubmit(,2)",
    "table=0,priority=1,in_port=vx1,actions=resubmit(,4)",
    "table=0,priority=0,actions=drop",
    "table=2,priority=1,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)",
    "table=2,priority=1,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)",
    "table=20,priority=2,dl_vlan=7,dl_dst=fa:16:3e:00:00:07,actions=strip_vlan,set_tunnel:0x64,output:vx1",
    "table=20,priority=0,actions=resubmit(,22)",
    "table=22,priority=1,dl_vlan=7,actions=strip_vlan,set_tunnel:0x64,output:vx1",
    "table=22,priority=0,actions=drop",
    "table=4,priority=1,tun_id=0x64,actions=learn(table=20,priority=1,hard_timeout=300,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),mod_vlan_vid:7,output:patch-int",
    "table=4,priority=0,actions=drop",
];

fn rig() -> Switch {
    let mut sw = Switch::new(7);
    sw.add_bridge("br-int", 0).expect("br-int");
    sw.add_bridge("br-tun", 0).expect("br-tun");
    for t in ["tap1", "tap2", "tap3"] {
        sw.add_port("br-int", PortConfig::new(t, PortType::Tap))
            .expect("tap");
    }
    let mut p = PortConfig::new("patch-tun", PortType::Patch);
    p.peer = Some("patch-int".into());
    sw.add_port("br-int", p).expect("patch-tun");
    let mut p = PortConfig::new("patch-int", PortType::Patch);
    p.peer = Some("patch-tun".into());
    sw.add_port("br-tun", p).expect("patch-int");
    let mut v = PortConfig::new("vx1", PortType::Vxlan);
    v.remote_ip = Some(Ipv4Addr::new(192, 168, 0, 2));
    v.key = Some(TunnelKey::Flow);
    sw.add_port("br-tun", v).expect("vx1");
    let lines = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    sw.add_flows("br-int", &lines(BR_INT), 0)
        .expect("br-int flows");
    sw.add_flows("br-tun", &lines(BR_TUN), 0)
        .expect("br-tun flows");
    sw
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
}

/// A key as a packet (or a recirculated pass) would have it, drawn from values
/// the flows above name, so that most rules get hit.
fn random_key(r: &mut Rng, sw: &Switch) -> (usize, u8, FlowKey) {
    let mut k = FlowKey::default();
    let (br_name, in_port) = r.pick(&[
        ("br-int", "tap1"),
        ("br-int", "tap2"),
        ("br-int", "tap3"),
        ("br-int", "patch-tun"),
        ("br-tun", "patch-int"),
        ("br-tun", "vx1"),
    ]);
    let br = sw.bridge_id(br_name).expect("bridge");
    let ofport = sw
        .port_by_name(in_port)
        .map(|(_, p)| p.ofport)
        .expect("port");
    k.set(Field::InPort, ofport.into());
    let mac = |r: &mut Rng| {
        r.pick(&[
            0xfa16_3e00_0001u64,
            0xfa16_3e00_0002,
            0xfa16_3e00_0007,
            0xffff_ffff_ffff,
            0x0100_5e00_0001,
        ])
    };
    k.set(Field::DlSrc, mac(r).into());
    k.set(Field::DlDst, mac(r).into());
    k.set(Field::VlanTci, r.pick(&[0u128, 0x1007, 0x1005]));
    if in_port == "vx1" {
        k.set(Field::TunId, r.pick(&[0x64u128, 0x65]));
        k.set(Field::TunSrc, 0xc0a8_0002);
    }
    match r.pick(&[0x0800u16, 0x0800, 0x0800, 0x0806, 0x86dd]) {
        0x0806 => {
            k.set(Field::DlType, 0x0806);
            k.set(Field::ArpOp, r.pick(&[1u128, 2]));
            k.set(Field::ArpSpa, r.pick(&[0x0a00_0001u128, 0x0a00_0002]));
            k.set(Field::ArpTpa, r.pick(&[0x0a00_0001u128, 0x0a00_0009]));
            k.set(
                Field::ArpSha,
                r.pick(&[0xfa16_3e00_0001u128, 0xfa16_3e00_0003]),
            );
        }
        t => {
            k.set(Field::DlType, t.into());
            let proto = r.pick(&[6u128, 17, 1]);
            k.set(Field::NwProto, proto);
            let ip =
                |r: &mut Rng| r.pick(&[0x0a00_0001u128, 0x0a00_0003, 0x0a00_0009, 0xc0a8_0101]);
            if t == 0x0800 {
                k.set(Field::NwSrc, ip(r));
                k.set(Field::NwDst, ip(r));
            } else {
                k.set(Field::Ipv6Src, r.pick(&[1u128, 2]));
                k.set(Field::Ipv6Dst, r.pick(&[1u128, 3]));
            }
            k.set(Field::NwTtl, 64);
            k.set(Field::TpSrc, r.pick(&[22u128, 23, 40000, 53, 68]));
            k.set(Field::TpDst, r.pick(&[22u128, 23, 53, 80, 8, 67]));
        }
    }
    // Half the keys start a recirculated pass in br-int's table 72.
    let mut table = 0;
    if br_name == "br-int" && in_port != "tap3" && r.next().is_multiple_of(2) {
        table = 72;
        use crate::conntrack::state::*;
        k.set(
            Field::CtState,
            r.pick(&[TRK | NEW, TRK | EST, TRK | EST | RPL, TRK | INV, TRK | REL])
                .into(),
        );
        k.set(Field::CtZone, 5);
        k.set(Field::CtMark, r.pick(&[0u128, 1]));
        k.set(Field::Reg5, r.pick(&[1u128, 2]));
        k.set(Field::Reg6, 5);
        k.set(Field::RecircId, crate::xlate_ct::recirc_id(br as u32, 72));
    }
    (br, table, k)
}

/// Where a pass goes on: bridge, table, zone, commit, mark, header changes.
type Recirculation = (u32, u8, u16, bool, Option<(u32, u32)>, Vec<(Field, u128)>);

/// What one pass decides, in terms that do not depend on the key's other
/// bits: each output's port and header changes (or tunnel id), where it
/// goes on, and whether the decision may be kept.

#[derive(Debug, PartialEq, Eq)]
struct Decision {
    outputs: Vec<(usize, Vec<(Field, u128)>)>,
    recirc: Option<Recirculation>,
    cacheable: bool,
}

const HEADERS: &[Field] = &[
    Field::DlSrc,
    Field::DlDst,
    Field::DlType,
    Field::VlanTci,
    Field::NwProto,
    Field::NwTos,
    Field::NwTtl,
    Field::NwSrc,
    Field::NwDst,
    Field::TpSrc,
    Field::TpDst,
    Field::ArpSha,
    Field::ArpTha,
    Field::Ipv6Src,
    Field::Ipv6Dst,
];

/// The header changes from `before` to `after` (as XORs, so equal for two keys
/// that differ only where neither the decision read nor wrote).
fn changes(before: &FlowKey, after: &FlowKey, tunnel: bool) -> Vec<(Field, u128)> {
    let mut v: Vec<(Field, u128)> = HEADERS
        .iter()
        .map(|&f| (f, before.get(f) ^ after.get(f)))
        .collect();
    if tunnel {
        v.push((Field::TunId, after.get(Field::TunId)));
    }
    v
}

fn decide(sw: &mut Switch, br: usize, table: u8, key: &FlowKey) -> (Decision, FlowKey) {
    let mut out = Vec::new();
    let mut cx = Ctx::new(&mut out, None, 1_000, 64);
    let mut k = *key;
    sw.run_table(&mut cx, br, table, &mut k);
    let recirc = cx.recirc.take().map(|r| {
        (
            r.br,
            r.table,
            r.zone,
            r.commit,
            r.mark,
            changes(key, &r.key, false),
        )
    });
    let (wc, cacheable) = (cx.wc, cx.cacheable);
    drop(cx);
    let outputs = out
        .iter()
        .filter_map(Output::forward)
        .map(|f| {
            let tunnel = sw
                .port(f.port)
                .is_some_and(|p| p.config.kind == PortType::Vxlan);
            (f.port, changes(key, &f.key, tunnel))
        })
        .collect();
    let d = Decision {
        outputs,
        recirc,
        cacheable,
    };
    (d, wc)
}

/// A TCP segment from 10.0.0.`from` (MAC ..:0`from`) on `port` to port 22 of
/// 10.0.0.`to`, from port 40000.
fn tcp_22(sw: &Switch, port: &str, from: u8, to: u8) -> FlowKey {
    let ofport = sw.port_by_name(port).map(|(_, p)| p.ofport).expect("port");
    let mut k = FlowKey::default();
    for (f, v) in [
        (Field::InPort, u128::from(ofport)),
        (Field::DlSrc, 0xfa16_3e00_0000 | u128::from(from)),
        (Field::DlDst, 0xfa16_3e00_0000 | u128::from(to)),
        (Field::DlType, 0x0800),
        (Field::NwProto, 6),
        (Field::NwSrc, 0x0a00_0000 | u128::from(from)),
        (Field::NwDst, 0x0a00_0000 | u128::from(to)),
        (Field::TpSrc, 40_000),
        (Field::TpDst, 22),
    ] {
        k.set(f, v);
    }
    k
}

#[test]
fn keys_equal_under_a_megaflow_get_the_same_decision() {
    let mut sw = rig();
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut checked, mut wide, mut forwarded) = (0, 0, 0);
    for _ in 0..3_000 {
        let (br, table, k1) = random_key(&mut r, &sw);
        // Twice first: NORMAL learns on the first.
        decide(&mut sw, br, table, &k1);
        let (d1, wc) = decide(&mut sw, br, table, &k1);
        let mega = Megaflow::new(&k1, wc);
        assert!(mega.covers(&k1));
        if !d1.outputs.is_empty() {
            forwarded += 1;
        }
        if (0..KEY_WORDS).any(|i| mega.mask.w[i] != u64::MAX) {
            wide += 1;
        }
        for n in 0..4 {
            // Random bits where the mask has none, or (every other time) the
            // values of another drawn key there: values the flows name, which
            // random bits would almost never hit.
            let other = random_key(&mut r, &sw).2;
            let mut k2 = k1;
            for i in 0..KEY_WORDS {
                let fill = if n % 2 == 0 {
                    r.next() ^ k1.w[i]
                } else {
                    other.w[i]
                };
                k2.w[i] = (k1.w[i] & mega.mask.w[i]) | (fill & !mega.mask.w[i]);
            }
            assert!(mega.covers(&k2));
            let (d2, _) = decide(&mut sw, br, table, &k2);
            assert_eq!(
                d1,
                d2,
                "{k1:x?} and {k2:x?} are one megaflow ({})",
                crate::match_text(&mega.as_match(), &sw.names(br))
            );
            checked += 1;
        }
    }
    // The test means something: many decisions forward, and most megaflows
    // leave bits out.
    assert!(forwarded > 500, "{forwarded}");
    assert!(wide > 2_000, "{wide}");
    assert_eq!(checked, 12_000);
}

#[test]
fn a_megaflow_leaves_out_what_no_table_looked_at() {
    let mut sw = rig();
    let br = sw.bridge_id("br-int").expect("br-int");
    // A new TCP connection to port 22 from 10.0.0.1, in table 72.
    let mut k = tcp_22(&sw, "tap1", 1, 2);
    k.set(
        Field::CtState,
        u128::from(crate::conntrack::state::TRK | crate::conntrack::state::NEW),
    );
    k.set(Field::RecircId, crate::xlate_ct::recirc_id(br as u32, 72));
    let (d, wc) = decide(&mut sw, br, 72, &k);
    assert!(!d.outputs.is_empty(), "{d:?}");
    let m = Megaflow::new(&k, wc);
    // The client's port is read by no flow: any new connection from it to
    // port 22 takes this decision.
    assert_eq!(m.mask.get(Field::TpSrc), 0, "{:x?}", m.mask);
    assert_eq!(m.mask.get(Field::TpDst), 0xfffe);
    assert_eq!(m.mask.get(Field::NwSrc), 0xffff_ff00);
    assert_eq!(m.mask.get(Field::RecircId), 0xffff_ffff);
}

#[test]
fn an_offer_carries_each_pass_megaflow() {
    use crate::conntrack::frames::tcp;
    use crate::conntrack::tcp_flags::SYN;
    let mut sw = rig();
    let tap2 = sw.port_by_name("tap2").map(|(id, _)| id).expect("tap2");
    let (mut out, mut offer) = (Vec::new(), crate::Offer::default());
    let syn = |sport| tcp("10.0.0.1", "10.0.0.2", sport, 22, SYN);
    sw.receive_offer(tap2, &syn(40_000), None, 1, &mut out, &mut offer);
    let first = offer.passes().to_vec();
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(first[0].key.get(Field::RecircId), 0);
    assert_ne!(first[1].key.get(Field::RecircId), 0);
    assert_eq!(first[1].mask.get(Field::TpSrc), 0);
    // A second connection from another port: other exact keys, the same
    // megaflows (the decision a datapath could have taken for it).
    sw.receive_offer(tap2, &syn(40_001), None, 2, &mut out, &mut offer);
    assert_eq!(offer.passes(), &first[..]);
    // That packet again takes the flow cache, whose entries are exact.
    sw.receive_offer(tap2, &syn(40_001), None, 3, &mut out, &mut offer);
    assert_eq!(offer.passes().len(), 2);
    for m in offer.passes() {
        assert!(m.mask.w.iter().all(|w| *w == u64::MAX), "{m:x?}");
    }
}

#[test]
fn trace_prints_each_pass_megaflow() {
    let mut sw = rig();
    let lines = sw
        .trace(
            "br-int",
            "in_port=tap2,tcp,dl_src=fa:16:3e:00:00:02,dl_dst=fa:16:3e:00:00:07,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=40000,tp_dst=22,ct_state=+trk+new",
            1,
        )
        .expect("trace");
    let mega: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("Megaflow: "))
        .collect();
    assert_eq!(mega.len(), 2, "{}", lines.join("\n"));
    // (tap2's `udp,tp_src=68` flow makes the first pass read the protocol,
    // not the ports.)
    assert!(
        mega[0].starts_with("Megaflow: tcp,recirc_id=0x0,"),
        "{}",
        mega[0]
    );
    assert!(!mega[0].contains("tp_"), "{}", mega[0]);
    assert!(mega[1].contains("nw_src=10.0.0.0/24"), "{}", mega[1]);
    assert!(mega[1].contains("tp_dst=0x16/0xfffe"), "{}", mega[1]);
    assert!(!mega[1].contains("tp_src"), "{}", mega[1]);
}

#[test]
fn a_subtable_a_packet_cannot_match_is_read_only_as_far_as_it_differs() {
    let mut sw = rig();
    let br = sw.bridge_id("br-int").expect("br-int");
    let mut k = tcp_22(&sw, "tap2", 2, 1);
    let (_, wc) = decide(&mut sw, br, 0, &k);
    // The `udp,tp_src=68,tp_dst=67` subtable was probed (it outranks the
    // port's flow), but a TCP packet differs from its flows in the protocol:
    // its ports were not read (staged lookup).
    assert_eq!(wc.get(Field::NwProto), 0xff);
    assert_eq!(
        (wc.get(Field::TpSrc), wc.get(Field::TpDst)),
        (0, 0),
        "{wc:x?}"
    );
    // A UDP packet from port 68 is another matter.
    k.set(Field::NwProto, 17);
    k.set(Field::TpSrc, 68);
    k.set(Field::TpDst, 67);
    let (d, wc) = decide(&mut sw, br, 0, &k);
    assert!(d.outputs.is_empty() && d.recirc.is_none(), "{d:?}");
    assert_eq!(wc.get(Field::TpSrc), 0xffff);
}
