//! Metering on a router (what Neutron's metering agent does with iptables), as
//! one nftables table, `inet neutrino-metering`, in the router's namespace:
//! traffic the router forwards through its `qg-` device, in (`iifname`,
//! direction `ingress`) and out (`oifname`, `egress`), is counted per label and
//! direction in a named counter. Each label has a chain per direction: its
//! excluded rules first (`return`), then its included rules, counting and
//! returning, so a packet is counted at most once per label (Neutron's chains
//! count it again for each rule it matches). Rules on one field are merged
//! into one set lookup per field, so a hundred rules cost about what one does. As Neutron's driver: a rule's
//! `remote_ip_prefix` is the internal side (destination of ingress, source of
//! egress); `source_ip_prefix` and `destination_ip_prefix` are what they say in
//! both directions. IPv6 prefixes match IPv6 (`inet`), which Neutron's driver
//! leaves out.
//!
//! The text carries its counters at zero and a digest in the table's comment;
//! applying carries the kernel's counts into a new table (see `l3::metering`),
//! so a change of rules or an agent restart loses no count.

use ipnet::IpNet;
use model::{MeteringLabelRule, MeteringLabelView};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The table's family and name.
pub const TABLE: &str = "inet neutrino-metering";

/// The traffic directions, as the API names them, and their counter suffixes.
pub const DIRECTIONS: [(&str, &str); 2] = [("ingress", "in"), ("egress", "out")];

/// The name of the counter of `label` in `direction` (`ingress`/`egress`).
pub fn counter(label: &str, direction: &str) -> String {
    let id: String = label.chars().filter(char::is_ascii_alphanumeric).collect();
    let dir = if direction == "ingress" { "in" } else { "out" };
    format!("m_{id}_{dir}")
}

/// The table for a router whose gateway device is `dev`, or `None` when there
/// is nothing to count.
pub fn ruleset(dev: &str, labels: &[MeteringLabelView]) -> Option<String> {
    if labels.is_empty() {
        return None;
    }
    let mut labels = labels.to_vec();
    labels.sort_by(|a, b| a.id.cmp(&b.id));
    let mut counters = String::new();
    let mut jumps = String::new();
    let mut chains = String::new();
    for l in &labels {
        for (direction, _) in DIRECTIONS {
            let name = counter(&l.id, direction);
            let _ = writeln!(counters, "\tcounter {name} {{\n\t\tpackets 0 bytes 0\n\t}}");
            let rules: Vec<&MeteringLabelRule> = l
                .rules
                .iter()
                .filter(|r| r.direction == direction)
                .collect();
            if rules.is_empty() {
                continue;
            }
            let chain = format!("l{}", &name[1..]);
            let iface = if direction == "ingress" {
                "iifname"
            } else {
                "oifname"
            };
            let _ = writeln!(jumps, "\t\t{iface} \"{dev}\" jump {chain}");
            let _ = writeln!(chains, "\tchain {chain} {{");
            // Excluded first. Rules that match one field are merged into one set
            // per field, so a packet meets one lookup, not one rule each.
            for excluded in [true, false] {
                let action = if excluded {
                    "return".to_string()
                } else {
                    format!("counter name \"{name}\" return")
                };
                let mut sets: BTreeMap<(&str, &str), Vec<IpNet>> = BTreeMap::new();
                let mut pairs: Vec<String> = Vec::new();
                for r in rules.iter().filter(|r| r.excluded == excluded) {
                    match matches(r).as_deref() {
                        Some([(family, field, n)]) => {
                            sets.entry((family, field)).or_default().push(*n);
                        }
                        Some(m) if !m.is_empty() => pairs.push(
                            m.iter()
                                .map(|(family, field, n)| format!("{family} {field} {n} "))
                                .collect(),
                        ),
                        _ => {}
                    }
                }
                for ((family, field), nets) in sets {
                    let nets = IpNet::aggregate(&nets);
                    let list: Vec<String> = nets.iter().map(ToString::to_string).collect();
                    let set = match list.as_slice() {
                        [one] => one.clone(),
                        _ => format!("{{ {} }}", list.join(", ")),
                    };
                    let _ = writeln!(chains, "\t\t{family} {field} {set} {action}");
                }
                pairs.sort();
                pairs.dedup();
                for m in pairs {
                    let _ = writeln!(chains, "\t\t{m}{action}");
                }
            }
            let _ = writeln!(chains, "\t}}");
        }
    }
    let body = format!(
        "{counters}\tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n{jumps}\t}}\n{chains}"
    );
    Some(format!(
        "table {TABLE} {{\n\tcomment \"neutrino {:016x}\"\n{body}}}\n",
        super::nat::digest(&body)
    ))
}

/// A rule's matches as (family, field, prefix), or `None` for prefixes of both
/// families in one rule, which no packet meets.
fn matches(r: &MeteringLabelRule) -> Option<Vec<(&'static str, &'static str, IpNet)>> {
    let remote_is_source = r.direction == "egress";
    let mut parts: Vec<(&str, IpNet)> = Vec::new();
    let parse = |p: &Option<String>| p.as_deref().and_then(|s| s.parse::<IpNet>().ok());
    if let Some(n) = parse(&r.remote_ip_prefix) {
        parts.push((if remote_is_source { "saddr" } else { "daddr" }, n));
    }
    if let Some(n) = parse(&r.source_ip_prefix) {
        parts.push(("saddr", n));
    }
    if let Some(n) = parse(&r.destination_ip_prefix) {
        parts.push(("daddr", n));
    }
    let v6 = parts
        .first()
        .is_some_and(|(_, n)| matches!(n, IpNet::V6(_)));
    if parts.iter().any(|(_, n)| matches!(n, IpNet::V6(_)) != v6) {
        return None;
    }
    let family = if v6 { "ip6" } else { "ip" };
    Some(
        parts
            .into_iter()
            .map(|(field, n)| (family, field, n.trunc()))
            .collect(),
    )
}

/// `text` with each counter started at the count `carried` holds for it (by
/// name), instead of zero.
pub fn with_counts(text: &str, carried: &std::collections::BTreeMap<String, (u64, u64)>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut current: Option<&(u64, u64)> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("counter ")
            && let Some(name) = rest.strip_suffix(" {")
        {
            current = carried.get(name);
        }
        match (t, current) {
            ("packets 0 bytes 0", Some((p, b))) => {
                let _ = writeln!(out, "\t\tpackets {p} bytes {b}");
                current = None;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn rule(
        dir: &str,
        excluded: bool,
        remote: Option<&str>,
        src: Option<&str>,
        dst: Option<&str>,
    ) -> MeteringLabelRule {
        MeteringLabelRule {
            id: "r".into(),
            metering_label_id: "l".into(),
            direction: dir.into(),
            excluded,
            remote_ip_prefix: remote.map(Into::into),
            source_ip_prefix: src.map(Into::into),
            destination_ip_prefix: dst.map(Into::into),
        }
    }

    #[test]
    fn chains_per_label_and_direction_excluded_first() {
        let labels = vec![MeteringLabelView {
            id: "0e5a8f3c-1d2b".into(),
            rules: vec![
                rule("egress", false, Some("10.0.0.0/24"), None, None),
                rule("egress", true, Some("10.0.0.128/25"), None, None),
                rule("ingress", false, None, Some("0.0.0.0/0"), Some("fd00::/64")),
                rule("ingress", false, None, None, Some("10.0.0.5/32")),
            ],
        }];
        let text = ruleset("qg-x", &labels).unwrap();
        assert!(text.starts_with("table inet neutrino-metering {\n\tcomment \"neutrino "));
        for want in [
            "\tcounter m_0e5a8f3c1d2b_in {\n\t\tpackets 0 bytes 0\n\t}\n",
            "\tcounter m_0e5a8f3c1d2b_out {\n",
            "\t\ttype filter hook forward priority filter; policy accept;\n\t\tiifname \"qg-x\" jump l_0e5a8f3c1d2b_in\n\t\toifname \"qg-x\" jump l_0e5a8f3c1d2b_out\n",
            // remote_ip_prefix is the internal side: the source of egress.
            "\tchain l_0e5a8f3c1d2b_out {\n\t\tip saddr 10.0.0.128/25 return\n\t\tip saddr 10.0.0.0/24 counter name \"m_0e5a8f3c1d2b_out\" return\n\t}\n",
            "\tchain l_0e5a8f3c1d2b_in {\n\t\tip daddr 10.0.0.5/32 counter name \"m_0e5a8f3c1d2b_in\" return\n\t}\n",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        // Mixed families match nothing: left out.
        assert!(!text.contains("fd00::"));
        assert_eq!(ruleset("qg-x", &[]), None);
        // The digest follows the rules.
        let mut other = labels.clone();
        other[0].rules.pop();
        let d = |t: &str| super::super::nat::digest_of(t).map(str::to_string);
        assert_ne!(d(&text), d(&ruleset("qg-x", &other).unwrap()));
    }

    #[test]
    fn one_field_rules_become_one_set() {
        let mut rules: Vec<MeteringLabelRule> = (0..100)
            .map(|i| {
                rule(
                    "egress",
                    false,
                    Some(&format!("172.16.{i}.0/24")),
                    None,
                    None,
                )
            })
            .collect();
        rules.push(rule("egress", false, Some("172.16.0.0/25"), None, None));
        rules.push(rule(
            "egress",
            false,
            None,
            Some("10.0.0.0/24"),
            Some("192.0.2.0/24"),
        ));
        let text = ruleset(
            "qg-x",
            &[MeteringLabelView {
                id: "ab".into(),
                rules,
            }],
        )
        .unwrap();
        let chain: Vec<&str> = text
            .split("\tchain l_ab_out {\n")
            .nth(1)
            .unwrap()
            .split("\t}")
            .next()
            .unwrap()
            .lines()
            .collect();
        // 172.16.0.0/24 .. 172.16.99.0/24 (and the /25 inside) merge into
        // 172.16.0.0/26's neighbours: a handful of prefixes, one rule.
        assert_eq!(chain.len(), 2, "{chain:#?}");
        assert!(
            chain[0].starts_with(
                "\t\tip saddr { 172.16.0.0/18, 172.16.64.0/19, 172.16.96.0/22 } counter"
            ),
            "{}",
            chain[0]
        );
        assert_eq!(
            chain[1],
            "\t\tip saddr 10.0.0.0/24 ip daddr 192.0.2.0/24 counter name \"m_ab_out\" return"
        );
    }

    #[test]
    fn counts_are_carried() {
        let labels = vec![MeteringLabelView {
            id: "ab".into(),
            rules: vec![rule("ingress", false, Some("10.0.0.0/24"), None, None)],
        }];
        let text = ruleset("qg-x", &labels).unwrap();
        let mut carried = BTreeMap::new();
        carried.insert("m_ab_in".to_string(), (7u64, 700u64));
        let t = with_counts(&text, &carried);
        assert!(
            t.contains("\tcounter m_ab_in {\n\t\tpackets 7 bytes 700\n\t}"),
            "{t}"
        );
        assert!(
            t.contains("\tcounter m_ab_out {\n\t\tpackets 0 bytes 0\n\t}"),
            "{t}"
        );
        assert_eq!(
            super::super::nat::digest_of(&t),
            super::super::nat::digest_of(&text)
        );
    }
}
