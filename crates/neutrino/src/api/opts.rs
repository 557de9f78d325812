//! From command-line options to requests: request bodies, list filters and
//! columns, and openstack's `key=value,...` options.

use super::array;
use super::output::Column;
use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

/// `--enable`/`--disable` style pairs: `Some(true)`, `Some(false)` or `None`.
pub fn flag(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// Sets `key` in a request body when the option was given.
pub fn put_opt<T: Into<Value>>(m: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(key.into(), v.into());
    }
}

/// The items of the list attribute `key` of `cur`, or none with `reset`.
pub fn current_list(cur: &Value, key: &str, reset: bool) -> Vec<Value> {
    if reset {
        return Vec::new();
    }
    array(cur, key)
}

/// `set` on a list attribute: when either was asked for, sets `key` to the
/// current items of `cur` (none with `reset`) followed by `added`.
pub fn put_list(
    m: &mut Map<String, Value>,
    cur: &Value,
    key: &str,
    reset: bool,
    added: Vec<Value>,
) {
    if !reset && added.is_empty() {
        return;
    }
    let mut items = current_list(cur, key, reset);
    items.extend(added);
    m.insert(key.into(), Value::Array(items));
}

/// A list request's filters, in the order given.
#[derive(Default)]
pub struct Query(Vec<(&'static str, String)>);

impl Query {
    /// Adds `key=value` when there is a value.
    pub fn opt(mut self, key: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(v) = value {
            self.0.push((key, v.to_string()));
        }
        self
    }

    /// The filters as the client takes them.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

/// A list's columns: `base`, and `more` after them with --long.
pub fn columns<'a>(base: &[Column<'a>], more: &[Column<'a>], long: bool) -> Vec<Column<'a>> {
    let mut cols = base.to_vec();
    if long {
        cols.extend_from_slice(more);
    }
    cols
}

/// Parses `key=value,key=value` (openstack's multi-key options); keys must be
/// among `allowed`.
pub fn parse_kv(opt: &str, s: &str, allowed: &[&str]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            bail!("--{opt}: expected key=value, got '{part}'");
        };
        let k = k.trim();
        if !allowed.contains(&k) {
            bail!(
                "--{opt}: unknown key '{k}' (expected {})",
                allowed.join(", ")
            );
        }
        out.push((k.to_string(), v.trim().to_string()));
    }
    if out.is_empty() {
        bail!("--{opt}: expected {}", allowed.join("=..,"));
    }
    Ok(out)
}

/// The value of `key` in parsed key=value pairs.
pub fn kv_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `--OPT destination=CIDR,gateway=IP` (`nexthop` for `gateway` also) as the
/// API's `{"destination", "nexthop"}`.
pub fn routes(opt: &str, opts: &[String]) -> Result<Vec<Value>> {
    opts.iter()
        .map(|o| {
            let kv = parse_kv(opt, o, &["destination", "gateway", "nexthop"])?;
            let gw = kv_get(&kv, "gateway").or_else(|| kv_get(&kv, "nexthop"));
            match (kv_get(&kv, "destination"), gw) {
                (Some(d), Some(g)) => Ok(json!({"destination": d, "nexthop": g})),
                _ => bail!("--{opt} needs destination=CIDR,gateway=IP, got '{o}'"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values() {
        let kv = parse_kv(
            "allocation-pool",
            "start=10.0.0.2,end=10.0.0.9",
            &["start", "end"],
        )
        .unwrap();
        assert_eq!(kv_get(&kv, "start"), Some("10.0.0.2"));
        assert_eq!(kv_get(&kv, "end"), Some("10.0.0.9"));
        assert!(parse_kv("fixed-ip", "subnet", &["subnet"]).is_err());
        assert!(parse_kv("fixed-ip", "foo=1", &["subnet"]).is_err());
        assert!(parse_kv("fixed-ip", "", &["subnet"]).is_err());
    }

    #[test]
    fn flags() {
        assert_eq!(flag(true, false), Some(true));
        assert_eq!(flag(false, true), Some(false));
        assert_eq!(flag(false, false), None);
    }

    #[test]
    fn route_options() {
        let opts = ["destination=10.2.0.0/16,gateway=10.0.0.1".to_string()];
        assert_eq!(
            routes("host-route", &opts).unwrap(),
            vec![json!({"destination": "10.2.0.0/16", "nexthop": "10.0.0.1"})]
        );
        let e = routes("route", &["destination=10.2.0.0/16".into()]).unwrap_err();
        assert!(
            e.to_string().starts_with("--route needs destination="),
            "{e}"
        );
    }

    #[test]
    fn queries_and_lists() {
        let q = Query::default()
            .opt("a", Some("1"))
            .opt("b", None::<String>)
            .opt("c", Some(true));
        assert_eq!(q.pairs(), [("a", "1"), ("c", "true")]);
        let cur = json!({"routes": [1]});
        let mut m = Map::new();
        put_list(&mut m, &cur, "routes", false, vec![]);
        assert!(m.is_empty());
        put_list(&mut m, &cur, "routes", false, vec![json!(2)]);
        assert_eq!(m["routes"], json!([1, 2]));
        put_list(&mut m, &cur, "routes", true, vec![]);
        assert_eq!(m["routes"], json!([]));
    }
}
