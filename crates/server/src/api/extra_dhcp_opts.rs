//! A port's `extra_dhcp_opts` (the `extra_dhcp_opt` extension): parsing, and the
//! update rule Neutron documents — an entry names an option by `opt_name` and
//! `ip_version`; a value replaces or adds it, `opt_value: null` removes it, and
//! options not named stay.
//!
//! Names are checked against dnsmasq's vocabulary (`model::dhcp_opt`): a name no
//! DHCP server understands is a 400 here rather than a silent nothing later. Values
//! are kept as given, as Neutron keeps them; the agent leaves out (and logs) a value
//! that does not fit its option's type.

use crate::error::{ApiError, ApiResult};
use model::ExtraDhcpOpt;
use model::dhcp_opt;
use serde_json::Value;

/// At most this many options per port (a DHCP answer has room for a few hundred
/// bytes of options).
pub const MAX_OPTS: usize = 32;
const MAX_LEN: usize = 255;

fn invalid(reason: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!(
        "Invalid input for extra_dhcp_opts. Reason: {reason}."
    ))
}

/// One requested entry; `value` is `None` for `opt_value: null`.
struct Entry {
    name: String,
    value: Option<String>,
    ip_version: u8,
}

fn parse_entry(v: &Value) -> ApiResult<Entry> {
    let Value::Object(o) = v else {
        return Err(invalid(format!("'{v}' is not a dictionary")));
    };
    if let Some(k) = o
        .keys()
        .find(|k| !matches!(k.as_str(), "opt_name" | "opt_value" | "ip_version"))
    {
        return Err(invalid(format!("'{k}' is not a valid key")));
    }
    let name = match o.get("opt_name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(invalid("opt_name must be a non-empty string")),
    };
    let value = match o.get("opt_value") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(v) => {
            return Err(invalid(format!(
                "opt_value '{v}' of '{name}' must be a non-empty string or null"
            )));
        }
    };
    let ip_version = match o.get("ip_version") {
        None | Some(Value::Null) => 4,
        Some(Value::Number(n)) if n.as_u64() == Some(4) || n.as_u64() == Some(6) => {
            n.as_u64().map_or(4, |n| n as u8)
        }
        Some(Value::String(s)) if s == "4" || s == "6" => s.parse().unwrap_or(4),
        Some(v) => return Err(invalid(format!("'{v}' is not in [4, 6]"))),
    };
    if name.len() > MAX_LEN || value.as_ref().is_some_and(|v| v.len() > MAX_LEN) {
        return Err(invalid(format!(
            "opt_name and opt_value are at most {MAX_LEN} characters"
        )));
    }
    if name
        .chars()
        .chain(value.iter().flat_map(|v| v.chars()))
        .any(char::is_control)
    {
        return Err(invalid(format!("'{name}' contains control characters")));
    }
    let known = if ip_version == 4 {
        dhcp_opt::v4(&name).map(|_| ())
    } else {
        dhcp_opt::check_v6(&name)
    };
    known.map_err(invalid)?;
    Ok(Entry {
        name,
        value,
        ip_version,
    })
}

fn parse(items: &[Value]) -> ApiResult<Vec<Entry>> {
    let entries = items
        .iter()
        .map(parse_entry)
        .collect::<ApiResult<Vec<_>>>()?;
    for (i, e) in entries.iter().enumerate() {
        if entries[..i]
            .iter()
            .any(|o| o.name == e.name && o.ip_version == e.ip_version)
        {
            return Err(invalid(format!(
                "duplicate option '{}' for IPv{}",
                e.name, e.ip_version
            )));
        }
    }
    Ok(entries)
}

fn check_count(opts: &[ExtraDhcpOpt]) -> ApiResult<()> {
    if opts.len() > MAX_OPTS {
        return Err(invalid(format!("a port has at most {MAX_OPTS} options")));
    }
    Ok(())
}

/// The options of a new port: entries with a null value are left out.
pub fn for_create(items: &[Value]) -> ApiResult<Vec<ExtraDhcpOpt>> {
    let opts: Vec<ExtraDhcpOpt> = parse(items)?
        .into_iter()
        .filter_map(|e| {
            Some(ExtraDhcpOpt {
                opt_name: e.name,
                opt_value: e.value?,
                ip_version: e.ip_version,
            })
        })
        .collect();
    check_count(&opts)?;
    Ok(opts)
}

/// `current` with the update's entries applied.
pub fn apply_update(current: &mut Vec<ExtraDhcpOpt>, items: &[Value]) -> ApiResult<()> {
    let mut next = current.clone();
    for e in parse(items)? {
        let at = next
            .iter()
            .position(|o| o.opt_name == e.name && o.ip_version == e.ip_version);
        match (at, e.value) {
            (Some(i), None) => {
                next.remove(i);
            }
            (Some(i), Some(v)) => next[i].opt_value = v,
            (None, Some(v)) => next.push(ExtraDhcpOpt {
                opt_name: e.name,
                opt_value: v,
                ip_version: e.ip_version,
            }),
            (None, None) => {}
        }
    }
    check_count(&next)?;
    *current = next;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_update_and_refusals() {
        let mut opts = for_create(&[
            json!({"opt_name": "bootfile-name", "opt_value": "pxelinux.0"}),
            json!({"opt_name": "tftp-server", "opt_value": "10.0.0.9", "ip_version": 4}),
            json!({"opt_name": "ntp-server", "opt_value": null}),
            json!({"opt_name": "dns-server", "opt_value": "2001:db8::1", "ip_version": "6"}),
        ])
        .unwrap();
        assert_eq!(opts.len(), 3);
        apply_update(
            &mut opts,
            &[
                json!({"opt_name": "tftp-server", "opt_value": null}),
                json!({"opt_name": "bootfile-name", "opt_value": "ipxe.efi"}),
                json!({"opt_name": "42", "opt_value": "10.0.0.1"}),
            ],
        )
        .unwrap();
        let names: Vec<(&str, &str)> = opts
            .iter()
            .map(|o| (o.opt_name.as_str(), o.opt_value.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("bootfile-name", "ipxe.efi"),
                ("dns-server", "2001:db8::1"),
                ("42", "10.0.0.1")
            ]
        );
        for bad in [
            json!({"opt_name": "frobnicate", "opt_value": "x"}),
            json!({"opt_name": "", "opt_value": "x"}),
            json!({"opt_name": "bootfile-name", "opt_value": ""}),
            json!({"opt_name": "bootfile-name", "opt_value": 5}),
            json!({"opt_name": "bootfile-name", "opt_value": "x", "ip_version": 5}),
            json!({"opt_name": "netmask", "opt_value": "255.0.0.0"}),
            json!({"opt_name": "bootfile-name", "opt_value": "x", "tag": "y"}),
            json!("bootfile-name"),
        ] {
            let e = for_create(std::slice::from_ref(&bad)).expect_err("refused");
            assert!(e.to_string().contains("extra_dhcp_opts"), "{bad}: {e}");
        }
        let dup = [
            json!({"opt_name": "bootfile-name", "opt_value": "a"}),
            json!({"opt_name": "bootfile-name", "opt_value": "b"}),
        ];
        assert!(for_create(&dup).is_err());
        let many: Vec<Value> = (1..=40)
            .map(|i| json!({"opt_name": format!("{}", 200 + i), "opt_value": "x"}))
            .collect();
        assert!(for_create(&many).is_err());
    }
}
