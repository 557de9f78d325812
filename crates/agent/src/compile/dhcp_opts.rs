//! A port's extra DHCP options, encoded for the switch's DHCP answer: dnsmasq's
//! names and value syntax (comma-separated lists, dotted quads, numbers, text), as
//! Neutron hands them to dnsmasq.
//!
//! The server has checked the names; a value that does not fit its option's type
//! (an IPv6 address for an IPv4 option, a word for a number) is left out and logged,
//! as dnsmasq leaves out an option it cannot parse. IPv6 options wait for a DHCPv6
//! server (the switch answers DHCPv4 only).

use model::ExtraDhcpOpt;
use model::dhcp_opt::{self, OptKind, V4Opt};
use std::net::Ipv4Addr;
use switch_proto::{DhcpBinding, RawDhcpOption};

/// `b` with the port's IPv4 extra options: `server-ip-address` as the next
/// server, the rest as raw options (replacing the binding's own of the same code).
pub(super) fn apply(b: &mut DhcpBinding, opts: &[ExtraDhcpOpt], port: &str) {
    for o in opts.iter().filter(|o| o.ip_version == 4) {
        match encode(&o.opt_name, &o.opt_value) {
            Ok(Encoded::NextServer(ip)) => b.next_server = Some(ip),
            Ok(Encoded::Raw(raw)) => {
                b.options.retain(|r| r.code != raw.code);
                b.options.push(raw);
            }
            Err(why) => tracing::warn!(
                port,
                option = %o.opt_name,
                value = %o.opt_value,
                "extra DHCP option left out: {why}"
            ),
        }
    }
}

#[derive(Debug, PartialEq)]
enum Encoded {
    NextServer(Ipv4Addr),
    Raw(RawDhcpOption),
}

fn encode(name: &str, value: &str) -> Result<Encoded, String> {
    let (code, kind) = match dhcp_opt::v4(name)? {
        V4Opt::NextServer => return Ok(Encoded::NextServer(ip(value)?)),
        V4Opt::Code(c, k) => (c, k),
    };
    let data = value_bytes(kind, value)?;
    if data.is_empty() || data.len() > 255 {
        return Err(format!("{} bytes encoded (1-255 fit)", data.len()));
    }
    Ok(Encoded::Raw(RawDhcpOption { code, data }))
}

fn ip(s: &str) -> Result<Ipv4Addr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("'{s}' is not an IPv4 address"))
}

fn int<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number in range"))
}

fn value_bytes(kind: OptKind, v: &str) -> Result<Vec<u8>, String> {
    Ok(match kind {
        OptKind::Ip => ip(v)?.octets().to_vec(),
        OptKind::Ips => {
            let mut out = Vec::new();
            for a in v.split(',') {
                out.extend(ip(a)?.octets());
            }
            out
        }
        OptKind::Text => v.as_bytes().to_vec(),
        OptKind::DomainList => domain_list(v)?,
        OptKind::U8 => vec![int::<u8>(v)?],
        OptKind::U16 => int::<u16>(v)?.to_be_bytes().to_vec(),
        OptKind::U32 => int::<u32>(v)?.to_be_bytes().to_vec(),
        OptKind::I32 => int::<i32>(v)?.to_be_bytes().to_vec(),
        OptKind::Bool => match v.trim() {
            "1" | "true" | "yes" | "on" => vec![1],
            "0" | "false" | "no" | "off" => vec![0],
            _ => return Err(format!("'{v}' is not a boolean (0 or 1)")),
        },
    })
}

/// RFC 3397: each name as RFC 1035 labels (no compression), one after another.
fn domain_list(v: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for name in v.split(',').map(str::trim) {
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() {
            return Err("an empty domain name".into());
        }
        for label in name.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
            if !ok {
                return Err(format!("'{name}' is not a domain name"));
            }
            out.push(label.len() as u8);
            out.extend(label.as_bytes());
        }
        out.push(0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(name: &str, value: &str, v: u8) -> ExtraDhcpOpt {
        ExtraDhcpOpt {
            opt_name: name.into(),
            opt_value: value.into(),
            ip_version: v,
        }
    }

    fn raw(code: u8, data: &[u8]) -> RawDhcpOption {
        RawDhcpOption {
            code,
            data: data.to_vec(),
        }
    }

    #[test]
    fn values_by_type() {
        let cases: &[(&str, &str, RawDhcpOption)] = &[
            ("bootfile-name", "pxelinux.0", raw(67, b"pxelinux.0")),
            ("tftp-server", "2015::dead", raw(66, b"2015::dead")),
            (
                "ntp-server",
                "10.0.0.1, 10.0.0.2",
                raw(42, &[10, 0, 0, 1, 10, 0, 0, 2]),
            ),
            ("mtu", "9000", raw(26, &[0x23, 0x28])),
            ("time-offset", "-1", raw(2, &[0xff; 4])),
            ("ip-forward-enable", "1", raw(19, &[1])),
            ("150", "10.9.8.7", raw(150, &[10, 9, 8, 7])),
            ("224", "site-specific", raw(224, b"site-specific")),
            (
                "domain-search",
                "a.example,b.",
                raw(119, b"\x01a\x07example\x00\x01b\x00"),
            ),
        ];
        for (name, value, want) in cases {
            assert_eq!(
                encode(name, value),
                Ok(Encoded::Raw(want.clone())),
                "{name}"
            );
        }
        assert_eq!(
            encode("server-ip-address", "10.0.0.9"),
            Ok(Encoded::NextServer(Ipv4Addr::new(10, 0, 0, 9)))
        );
        for (name, value) in [
            ("server-ip-address", "2015::badd"),
            ("ntp-server", "10.0.0.1,nope"),
            ("mtu", "70000"),
            ("ip-forward-enable", "maybe"),
            ("domain-search", "a..b"),
            ("bootfile-name", &"x".repeat(256)),
        ] {
            assert!(encode(name, value).is_err(), "{name}={value}");
        }
    }

    #[test]
    fn applied_to_a_binding() {
        let mut b = DhcpBinding::new(
            "fa:16:3e:00:00:01",
            Ipv4Addr::new(10, 0, 0, 5),
            24,
            Ipv4Addr::new(10, 0, 0, 2),
        );
        apply(
            &mut b,
            &[
                opt("bootfile-name", "pxelinux.0", 4),
                opt("server-ip-address", "10.0.0.9", 4),
                opt("server-ip-address", "2015::badd", 6),
                opt("dns-server", "2001:db8::53", 6),
                opt("ntp-server", "bad", 4),
                opt("67", "ipxe.efi", 4),
            ],
            "p1",
        );
        assert_eq!(b.next_server, Some(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!(b.options, vec![raw(67, b"ipxe.efi")]);
    }
}
