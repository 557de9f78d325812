//! A port's extra DHCP options (Neutron's `extra_dhcp_opt` extension) and the
//! vocabulary of their names: dnsmasq's option names, which Neutron passes to
//! dnsmasq unchanged and operators therefore know, or option numbers.
//!
//! The catalog says what each name means (code and value type) so the server can
//! refuse a name no DHCP server would understand and the agent can encode values;
//! the encoding itself is the agent's.

use serde::{Deserialize, Serialize};

/// One entry of a port's `extra_dhcp_opts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExtraDhcpOpt {
    pub opt_name: String,
    pub opt_value: String,
    pub ip_version: u8,
}

/// How an option's value is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptKind {
    /// One IPv4 address.
    Ip,
    /// A comma-separated list of IPv4 addresses.
    Ips,
    /// Text as given.
    Text,
    /// RFC 1035 domain names, comma-separated, in RFC 3397's encoding (option 119).
    DomainList,
    U8,
    U16,
    U32,
    I32,
    /// `0`/`1` (dnsmasq also takes `true`/`false`).
    Bool,
}

/// What an option name stands for in DHCPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V4Opt {
    /// A DHCP option with this code.
    Code(u8, OptKind),
    /// dnsmasq's `server-ip-address`: the header's `siaddr` (the next server a
    /// PXE client boots from), not an option.
    NextServer,
}

/// dnsmasq's DHCPv4 option names (`dnsmasq --help dhcp`), those a port may set.
const V4_NAMES: &[(&str, u8, OptKind)] = &[
    ("time-offset", 2, OptKind::I32),
    ("router", 3, OptKind::Ips),
    ("dns-server", 6, OptKind::Ips),
    ("log-server", 7, OptKind::Ips),
    ("lpr-server", 9, OptKind::Ips),
    ("hostname", 12, OptKind::Text),
    ("boot-file-size", 13, OptKind::U16),
    ("domain-name", 15, OptKind::Text),
    ("swap-server", 16, OptKind::Ip),
    ("root-path", 17, OptKind::Text),
    ("extension-path", 18, OptKind::Text),
    ("ip-forward-enable", 19, OptKind::Bool),
    ("non-local-source-routing", 20, OptKind::Bool),
    ("max-datagram-reassembly", 22, OptKind::U16),
    ("default-ttl", 23, OptKind::U8),
    ("mtu", 26, OptKind::U16),
    ("all-subnets-local", 27, OptKind::Bool),
    ("router-discovery", 31, OptKind::Bool),
    ("router-solicitation", 32, OptKind::Ip),
    ("trailer-encapsulation", 34, OptKind::Bool),
    ("arp-timeout", 35, OptKind::U32),
    ("ethernet-encap", 36, OptKind::Bool),
    ("tcp-ttl", 37, OptKind::U8),
    ("tcp-keepalive", 38, OptKind::U32),
    ("nis-domain", 40, OptKind::Text),
    ("nis-server", 41, OptKind::Ips),
    ("ntp-server", 42, OptKind::Ips),
    ("netbios-ns", 44, OptKind::Ips),
    ("netbios-dd", 45, OptKind::Ips),
    ("netbios-nodetype", 46, OptKind::U8),
    ("netbios-scope", 47, OptKind::Text),
    ("x-windows-fs", 48, OptKind::Ips),
    ("x-windows-dm", 49, OptKind::Ips),
    ("nis+-domain", 64, OptKind::Text),
    ("nis+-server", 65, OptKind::Ips),
    ("tftp-server", 66, OptKind::Text),
    ("bootfile-name", 67, OptKind::Text),
    ("mobile-ip-home", 68, OptKind::Ips),
    ("smtp-server", 69, OptKind::Ips),
    ("pop3-server", 70, OptKind::Ips),
    ("nntp-server", 71, OptKind::Ips),
    ("irc-server", 74, OptKind::Ips),
    ("posix-timezone", 100, OptKind::Text),
    ("tzdb-timezone", 101, OptKind::Text),
    ("domain-search", 119, OptKind::DomainList),
    ("tftp-server-address", 150, OptKind::Ip),
];

/// Options the switch sets from the subnet and the lease itself; a port may not
/// set them (host routes belong to the subnet's `host_routes`).
const V4_RESERVED: &[(u8, &str)] = &[
    (1, "the subnet mask comes from the subnet's CIDR"),
    (28, "the broadcast address comes from the subnet's CIDR"),
    (33, "routes come from the subnet's host_routes"),
    (121, "routes come from the subnet's host_routes"),
    (249, "routes come from the subnet's host_routes"),
    (50, "it belongs to the DHCP exchange"),
    (51, "it belongs to the DHCP exchange"),
    (52, "it belongs to the DHCP exchange"),
    (53, "it belongs to the DHCP exchange"),
    (54, "it belongs to the DHCP exchange"),
    (55, "it belongs to the DHCP exchange"),
    (56, "it belongs to the DHCP exchange"),
    (57, "it belongs to the DHCP exchange"),
    (58, "it belongs to the DHCP exchange"),
    (59, "it belongs to the DHCP exchange"),
    (61, "it belongs to the DHCP exchange"),
    (82, "it belongs to relay agents"),
];

/// dnsmasq's DHCPv6 option names (`dnsmasq --help dhcp6`).
const V6_NAMES: &[&str] = &[
    "dns-server",
    "domain-search",
    "sntp-server",
    "ntp-server",
    "information-refresh-time",
    "bootfile-url",
    "bootfile-param",
    "nis-server",
    "nis+-server",
    "nis-domain",
    "nis+-domain",
    "sip-server",
    "sip-server-domain",
    "FQDN",
];

/// What `name` stands for in DHCPv4: a dnsmasq name (an `option:` prefix is
/// allowed, as in dnsmasq's files), `server-ip-address`, or a number 1-254.
pub fn v4(name: &str) -> Result<V4Opt, String> {
    let bare = name.strip_prefix("option:").unwrap_or(name);
    if bare == "server-ip-address" {
        return Ok(V4Opt::NextServer);
    }
    let (code, kind) = match bare.parse::<u16>() {
        Ok(n) if (1..=254).contains(&n) => {
            let code = n as u8;
            let kind = V4_NAMES
                .iter()
                .find(|(_, c, _)| *c == code)
                .map_or(OptKind::Text, |(_, _, k)| *k);
            (code, kind)
        }
        Ok(n) => return Err(format!("option number {n} is outside 1-254")),
        Err(_) => match V4_NAMES.iter().find(|(n, _, _)| *n == bare) {
            Some((_, c, k)) => (*c, *k),
            None => {
                if let Some((c, why)) = reserved_name(bare) {
                    return Err(format!("option '{name}' ({c}) cannot be set: {why}"));
                }
                return Err(format!(
                    "unknown DHCP option '{name}': use a dnsmasq option name (e.g. bootfile-name, tftp-server, server-ip-address, ntp-server) or a number 1-254"
                ));
            }
        },
    };
    if let Some((_, why)) = V4_RESERVED.iter().find(|(c, _)| *c == code) {
        return Err(format!("option '{name}' ({code}) cannot be set: {why}"));
    }
    Ok(V4Opt::Code(code, kind))
}

/// dnsmasq names of the options a port may not set, for a clearer refusal.
fn reserved_name(name: &str) -> Option<(u8, &'static str)> {
    let code = match name {
        "netmask" => 1,
        "broadcast" => 28,
        "static-route" => 33,
        "classless-static-route" => 121,
        "lease-time" => 51,
        "server-identifier" => 54,
        "T1" => 58,
        "T2" => 59,
        "client-id" => 61,
        _ => return None,
    };
    V4_RESERVED
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(c, why)| (*c, *why))
}

/// Checks a DHCPv6 option name: a dnsmasq name (`option6:` allowed) or a number.
pub fn check_v6(name: &str) -> Result<(), String> {
    let bare = name.strip_prefix("option6:").unwrap_or(name);
    match bare.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(()),
        Ok(n) => Err(format!("option number {n} is outside 1-65535")),
        Err(_) if V6_NAMES.contains(&bare) => Ok(()),
        Err(_) => Err(format!(
            "unknown DHCPv6 option '{name}': use a dnsmasq option6 name (e.g. dns-server, domain-search, bootfile-url) or a number"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_refusals() {
        assert_eq!(v4("bootfile-name"), Ok(V4Opt::Code(67, OptKind::Text)));
        assert_eq!(v4("option:ntp-server"), Ok(V4Opt::Code(42, OptKind::Ips)));
        assert_eq!(v4("66"), Ok(V4Opt::Code(66, OptKind::Text)));
        assert_eq!(v4("42"), Ok(V4Opt::Code(42, OptKind::Ips)));
        assert_eq!(v4("server-ip-address"), Ok(V4Opt::NextServer));
        assert!(v4("no-such").unwrap_err().contains("unknown DHCP option"));
        assert!(v4("0").is_err() && v4("255").is_err());
        assert!(v4("netmask").unwrap_err().contains("CIDR"));
        assert!(v4("121").unwrap_err().contains("host_routes"));
        assert!(v4("53").is_err());
        assert!(check_v6("dns-server").is_ok() && check_v6("option6:23").is_ok());
        assert!(check_v6("nope").is_err());
    }
}
