//! Flow fields: the packed [`FlowKey`] every packet is reduced to, and the table of
//! named fields (ovs-ofctl names and NXM names) that matches, `load`, `move` and
//! `set_field` address.
//!
//! The key is a fixed array of 64-bit words so a masked match is a few AND/compare
//! instructions per word and the key hashes cheaply for a flow cache.

use std::net::{Ipv4Addr, Ipv6Addr};

pub const KEY_WORDS: usize = 20;

/// A packet's header fields and metadata, packed into words.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct FlowKey {
    pub w: [u64; KEY_WORDS],
}

/// Where a field lives in the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub word: usize,
    pub shift: u32,
    pub bits: u32,
}

/// How a field's value is written in flow text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Decimal,
    Hex,
    Mac,
    Ipv4,
    Ipv6,
    Port,
    /// `ct_state`'s flags (`+trk+est-rel`).
    CtFlags,
}

macro_rules! fields {
    ($( $var:ident : $name:literal, [$($alias:literal),*], $nxm:literal, $word:expr, $shift:expr, $bits:expr, $fmt:ident; )*) => {
        /// A named flow field. Several names may share storage (OVS keeps ARP's
        /// SPA/TPA/op in the IPv4 src/dst/proto slots, ICMP type/code in the L4 ports).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Field { $($var,)* }

        impl Field {
            pub const ALL: &'static [Field] = &[$(Field::$var,)*];

            /// The ovs-ofctl name used when printing.
            pub fn name(self) -> &'static str {
                match self { $(Field::$var => $name,)* }
            }
            /// The NXM/OXM name (`NXM_OF_ETH_SRC`).
            pub fn nxm_name(self) -> &'static str {
                match self { $(Field::$var => $nxm,)* }
            }
            pub fn span(self) -> Span {
                match self { $(Field::$var => Span { word: $word, shift: $shift, bits: $bits },)* }
            }
            pub fn format(self) -> Format {
                match self { $(Field::$var => Format::$fmt,)* }
            }
            /// Looks a field up by ovs-ofctl name, alias or NXM/OXM name.
            pub fn by_name(s: &str) -> Option<Field> {
                match s {
                    $($name | $nxm $(| $alias)* => Some(Field::$var),)*
                    _ => None,
                }
            }
        }
    };
}

fields! {
    InPort: "in_port", ["in_port_oxm"], "NXM_OF_IN_PORT", 0, 0, 32, Port;
    DlType: "dl_type", ["eth_type"], "NXM_OF_ETH_TYPE", 0, 32, 16, Hex;
    VlanTci: "vlan_tci", [], "NXM_OF_VLAN_TCI", 0, 48, 16, Hex;
    TunId: "tun_id", ["tunnel_id"], "NXM_NX_TUN_ID", 1, 0, 64, Hex;
    TunSrc: "tun_src", [], "NXM_NX_TUN_IPV4_SRC", 2, 0, 32, Ipv4;
    TunDst: "tun_dst", [], "NXM_NX_TUN_IPV4_DST", 2, 32, 32, Ipv4;
    Reg0: "reg0", [], "NXM_NX_REG0", 3, 0, 32, Hex;
    Reg1: "reg1", [], "NXM_NX_REG1", 3, 32, 32, Hex;
    Reg2: "reg2", [], "NXM_NX_REG2", 4, 0, 32, Hex;
    Reg3: "reg3", [], "NXM_NX_REG3", 4, 32, 32, Hex;
    Reg4: "reg4", [], "NXM_NX_REG4", 5, 0, 32, Hex;
    Reg5: "reg5", [], "NXM_NX_REG5", 5, 32, 32, Hex;
    Reg6: "reg6", [], "NXM_NX_REG6", 6, 0, 32, Hex;
    Reg7: "reg7", [], "NXM_NX_REG7", 6, 32, 32, Hex;
    Metadata: "metadata", [], "OXM_OF_METADATA", 7, 0, 64, Hex;
    DlSrc: "dl_src", ["eth_src"], "NXM_OF_ETH_SRC", 8, 0, 48, Mac;
    NwProto: "nw_proto", ["ip_proto"], "NXM_OF_IP_PROTO", 8, 48, 8, Decimal;
    ArpOp: "arp_op", [], "NXM_OF_ARP_OP", 8, 48, 8, Decimal;
    NwTos: "nw_tos", ["ip_dscp_raw"], "NXM_OF_IP_TOS", 8, 56, 8, Decimal;
    DlDst: "dl_dst", ["eth_dst"], "NXM_OF_ETH_DST", 9, 0, 48, Mac;
    NwTtl: "nw_ttl", [], "NXM_NX_IP_TTL", 9, 48, 8, Decimal;
    NwSrc: "nw_src", ["ip_src", "ipv4_src"], "NXM_OF_IP_SRC", 10, 0, 32, Ipv4;
    ArpSpa: "arp_spa", [], "NXM_OF_ARP_SPA", 10, 0, 32, Ipv4;
    NwDst: "nw_dst", ["ip_dst", "ipv4_dst"], "NXM_OF_IP_DST", 10, 32, 32, Ipv4;
    ArpTpa: "arp_tpa", [], "NXM_OF_ARP_TPA", 10, 32, 32, Ipv4;
    TpSrc: "tp_src", ["tcp_src", "udp_src"], "NXM_OF_TCP_SRC", 11, 0, 16, Decimal;
    IcmpType: "icmp_type", ["icmpv6_type"], "NXM_OF_ICMP_TYPE", 11, 0, 16, Decimal;
    TpDst: "tp_dst", ["tcp_dst", "udp_dst"], "NXM_OF_TCP_DST", 11, 16, 16, Decimal;
    IcmpCode: "icmp_code", ["icmpv6_code"], "NXM_OF_ICMP_CODE", 11, 16, 16, Decimal;
    ArpSha: "arp_sha", [], "NXM_NX_ARP_SHA", 12, 0, 48, Mac;
    ArpTha: "arp_tha", [], "NXM_NX_ARP_THA", 13, 0, 48, Mac;
    Ipv6Src: "ipv6_src", [], "NXM_NX_IPV6_SRC", 14, 0, 128, Ipv6;
    Ipv6Dst: "ipv6_dst", [], "NXM_NX_IPV6_DST", 16, 0, 128, Ipv6;
    CtMark: "ct_mark", [], "NXM_NX_CT_MARK", 18, 0, 32, Hex;
    CtZone: "ct_zone", [], "NXM_NX_CT_ZONE", 18, 32, 16, Decimal;
    CtState: "ct_state", [], "NXM_NX_CT_STATE", 18, 48, 8, CtFlags;
    ConjId: "conj_id", [], "NXM_NX_CONJ_ID", 19, 0, 32, Decimal;
    // Which recirculation (after `ct(table=N)`) a pass of the pipeline is: 0
    // for a packet as received. Set by the engine, part of the flow cache's key.
    RecircId: "recirc_id", [], "NXM_NX_RECIRC_ID", 19, 32, 32, Hex;
}

impl Field {
    /// Extra NXM names that address the same storage (UDP ports live where TCP's do).
    pub fn by_any_name(s: &str) -> Option<Field> {
        Field::by_name(s).or(match s {
            "NXM_OF_UDP_SRC" => Some(Field::TpSrc),
            "NXM_OF_UDP_DST" => Some(Field::TpDst),
            _ => None,
        })
    }

    /// Whether the field is a packet header (what leaves with the frame), not
    /// the pipeline's metadata (registers, tunnel and connection state, the
    /// input port).
    pub fn is_header(self) -> bool {
        !self.is_register()
            && !matches!(
                self,
                Field::InPort
                    | Field::TunId
                    | Field::TunSrc
                    | Field::TunDst
                    | Field::Metadata
                    | Field::CtMark
                    | Field::CtZone
                    | Field::CtState
                    | Field::ConjId
                    | Field::RecircId
            )
    }

    /// `reg0` to `reg7`.
    pub fn is_register(self) -> bool {
        matches!(
            self,
            Field::Reg0
                | Field::Reg1
                | Field::Reg2
                | Field::Reg3
                | Field::Reg4
                | Field::Reg5
                | Field::Reg6
                | Field::Reg7
        )
    }

    /// All-ones mask of the field's width.
    pub fn full_mask(self) -> u128 {
        let b = self.span().bits;
        if b == 128 {
            u128::MAX
        } else {
            (1u128 << b) - 1
        }
    }
}

impl FlowKey {
    pub fn get(&self, f: Field) -> u128 {
        let s = f.span();
        if s.bits == 128 {
            (u128::from(self.w[s.word]) << 64) | u128::from(self.w[s.word + 1])
        } else {
            let m = if s.bits == 64 {
                u64::MAX
            } else {
                (1u64 << s.bits) - 1
            };
            u128::from((self.w[s.word] >> s.shift) & m)
        }
    }

    pub fn set(&mut self, f: Field, v: u128) {
        let s = f.span();
        if s.bits == 128 {
            self.w[s.word] = (v >> 64) as u64;
            self.w[s.word + 1] = v as u64;
        } else {
            let m = if s.bits == 64 {
                u64::MAX
            } else {
                (1u64 << s.bits) - 1
            };
            let v = (v as u64) & m;
            self.w[s.word] = (self.w[s.word] & !(m << s.shift)) | (v << s.shift);
        }
    }

    /// Sets only the bits of `mask` (both in the field's own bit numbering).
    pub fn set_masked(&mut self, f: Field, v: u128, mask: u128) {
        let old = self.get(f);
        self.set(f, (old & !mask) | (v & mask));
    }

    pub fn get_u64(&self, f: Field) -> u64 {
        self.get(f) as u64
    }
}

/// Formats a field value as ovs-ofctl prints it.
pub fn format_value(f: Field, v: u128) -> String {
    match f.format() {
        Format::Decimal | Format::Port => v.to_string(),
        Format::Hex => format!("{v:#x}"),
        Format::Mac => wire::MacAddr::from_u64(v as u64).to_string(),
        Format::Ipv4 => Ipv4Addr::from(v as u32).to_string(),
        Format::Ipv6 => Ipv6Addr::from(v).to_string(),
        Format::CtFlags => ct_flags_text(v as u8, 0xff),
    }
}

/// `ct_state` flags as ovs-ofctl prints them: the bits of `mask`, each `+name`
/// when set in `value` and `-name` when not, in OVS's bit order.
pub fn ct_flags_text(value: u8, mask: u8) -> String {
    let mut s = String::new();
    for (bit, name) in crate::conntrack::state::NAMES {
        if mask & bit != 0 {
            s.push(if value & bit != 0 { '+' } else { '-' });
            s.push_str(name);
        }
    }
    if mask & !0x3f != 0 {
        return format!("{value:#x}/{mask:#x}");
    }
    s
}

/// Parses `+trk+est-rel` into (value, mask).
pub fn parse_ct_flags(s: &str) -> Option<(u8, u8)> {
    let (mut v, mut m) = (0u8, 0u8);
    let mut rest = s;
    while !rest.is_empty() {
        let plus = match rest.as_bytes()[0] {
            b'+' => true,
            b'-' => false,
            _ => return None,
        };
        rest = &rest[1..];
        let end = rest.find(['+', '-']).unwrap_or(rest.len());
        let name = &rest[..end];
        rest = &rest[end..];
        let (bit, _) = crate::conntrack::state::NAMES
            .iter()
            .find(|(_, n)| *n == name)?;
        if m & bit != 0 {
            return None;
        }
        m |= bit;
        if plus {
            v |= bit;
        }
    }
    (m != 0).then_some((v, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_flags_round_trip() {
        for t in [
            "+trk",
            "+new-est",
            "+est-rel-rpl",
            "-new-est+rel-inv",
            "+inv+trk",
        ] {
            let (v, m) = parse_ct_flags(t).unwrap();
            let back = ct_flags_text(v, m);
            assert_eq!(parse_ct_flags(&back), Some((v, m)), "{t} -> {back}");
        }
        assert_eq!(ct_flags_text(0x30, 0x30), "+inv+trk");
        assert_eq!(parse_ct_flags("+trk+inv"), Some((0x30, 0x30)));
        for bad in ["", "trk", "+foo", "+trk+trk", "+"] {
            assert_eq!(parse_ct_flags(bad), None, "{bad}");
        }
    }

    #[test]
    fn fields_do_not_overlap_unless_aliases() {
        // Every pair of fields either shares exactly the same span or does not overlap.
        for a in Field::ALL {
            for b in Field::ALL {
                let (sa, sb) = (a.span(), b.span());
                if sa == sb {
                    continue;
                }
                let bits = |s: Span| -> Vec<(usize, u32)> {
                    (0..s.bits)
                        .map(|i| (s.word + ((s.shift + i) / 64) as usize, (s.shift + i) % 64))
                        .collect()
                };
                let ba = bits(sa);
                assert!(
                    bits(sb).iter().all(|x| !ba.contains(x)),
                    "{a:?} overlaps {b:?}"
                );
            }
        }
    }

    #[test]
    fn get_set_round_trip() {
        let mut k = FlowKey::default();
        for (i, f) in Field::ALL.iter().enumerate() {
            let v =
                0x0123_4567_89ab_cdef_1122_3344_5566_7788u128.rotate_left(i as u32) & f.full_mask();
            k.set(*f, v);
            assert_eq!(k.get(*f), v, "{f:?}");
        }
        k.set_masked(Field::VlanTci, 0x0005, 0x0fff);
        assert_eq!(k.get(Field::VlanTci) & 0xfff, 5);
    }
}
