//! A router's NAT in the kernel's netfilter: one nftables table, `ip neutrino`,
//! that neutrino owns in the router's namespace. SNAT of the internal subnets to the
//! gateway address (when the router's `enable_snat`), and per floating IP a DNAT to
//! the fixed address and an SNAT back. The text is the table as `nft -f` takes it
//! (apply replaces the whole table in one transaction); the table's comment holds a
//! digest of its rules, so an agent that restarts can tell the table in the kernel is
//! already right and leave it alone.

use ipnet::Ipv4Net;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// The table's family and name.
pub const TABLE: &str = "ip neutrino";

/// What a router's NAT needs.
pub struct Nat<'a> {
    /// The `qg-` device and its address, when the router has a gateway.
    pub gateway: Option<(&'a str, Ipv4Addr)>,
    pub snat: bool,
    /// The internal subnets (interface ports' prefixes).
    pub internal: &'a [Ipv4Net],
    /// (floating, fixed) address pairs.
    pub floating: &'a [(Ipv4Addr, Ipv4Addr)],
}

/// The whole table as `nft -f` text (rules in a stable order).
pub fn ruleset(n: &Nat) -> String {
    let mut pre = String::new();
    let mut post = String::new();
    let mut fips = n.floating.to_vec();
    fips.sort();
    fips.dedup();
    let mut internal = n.internal.to_vec();
    internal.sort();
    internal.dedup();
    if let Some((dev, gw)) = n.gateway {
        for (fip, fixed) in &fips {
            let _ = writeln!(pre, "\t\tip daddr {fip} dnat to {fixed}");
            let _ = writeln!(post, "\t\toifname \"{dev}\" ip saddr {fixed} snat to {fip}");
        }
        if n.snat {
            for net in &internal {
                let _ = writeln!(post, "\t\toifname \"{dev}\" ip saddr {net} snat to {gw}");
            }
        }
    }
    let chains = format!(
        "\tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n{pre}\t}}\n\
         \tchain output {{\n\t\ttype nat hook output priority -100; policy accept;\n{pre}\t}}\n\
         \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n{post}\t}}\n"
    );
    format!(
        "table {TABLE} {{\n\tcomment \"neutrino {:016x}\"\n{chains}}}\n",
        digest(&chains)
    )
}

/// The digest in a table's comment, in [`ruleset`]'s text or in what `nft list
/// table` prints of it.
pub fn digest_of(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("comment \"neutrino "))?
        .strip_suffix('"')
}

/// FNV-1a over the table text: stable across runs and builds (not a security
/// measure: it only tells "the same text" apart).
pub(crate) fn digest(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn snat_and_floating_ips() {
        let internal = [
            "10.0.0.0/24".parse().unwrap(),
            "10.0.1.0/24".parse().unwrap(),
        ];
        let fips = [(ip("10.1.101.241"), ip("10.0.0.5"))];
        let text = ruleset(&Nat {
            gateway: Some(("qg-0e5a8f3c-1d", ip("10.1.101.240"))),
            snat: true,
            internal: &internal,
            floating: &fips,
        });
        let chains = "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\
            \t\tip daddr 10.1.101.241 dnat to 10.0.0.5\n\t}\n\
            \tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n\
            \t\tip daddr 10.1.101.241 dnat to 10.0.0.5\n\t}\n\
            \tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
            \t\toifname \"qg-0e5a8f3c-1d\" ip saddr 10.0.0.5 snat to 10.1.101.241\n\
            \t\toifname \"qg-0e5a8f3c-1d\" ip saddr 10.0.0.0/24 snat to 10.1.101.240\n\
            \t\toifname \"qg-0e5a8f3c-1d\" ip saddr 10.0.1.0/24 snat to 10.1.101.240\n\t}\n";
        let d = format!("{:016x}", digest(chains));
        assert_eq!(
            text,
            format!("table ip neutrino {{\n\tcomment \"neutrino {d}\"\n{chains}}}\n")
        );
        assert_eq!(digest_of(&text), Some(d.as_str()));
        // As `nft list table` prints it back.
        let listed =
            format!("table ip neutrino {{\n\tcomment \"neutrino {d}\"\n\tchain x {{\n\t}}\n}}\n");
        assert_eq!(digest_of(&listed), Some(d.as_str()));
    }

    #[test]
    fn snat_off_keeps_floating_ips_and_no_gateway_keeps_nothing() {
        let internal = ["10.0.0.0/24".parse().unwrap()];
        let fips = [(ip("10.1.101.241"), ip("10.0.0.5"))];
        let off = ruleset(&Nat {
            gateway: Some(("qg-x", ip("10.1.101.240"))),
            snat: false,
            internal: &internal,
            floating: &fips,
        });
        assert!(off.contains("dnat to 10.0.0.5"), "{off}");
        assert!(off.contains("snat to 10.1.101.241"), "{off}");
        assert!(!off.contains("snat to 10.1.101.240"), "{off}");
        let none = ruleset(&Nat {
            gateway: None,
            snat: true,
            internal: &internal,
            floating: &fips,
        });
        assert!(!none.contains("nat to"), "{none}");
        assert_ne!(digest_of(&off), digest_of(&none));
    }
}
