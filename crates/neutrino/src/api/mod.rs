//! The openstack-style API commands (`network`, `subnet`, `port`, `router`,
//! `floating ip`, `security group`, `network agent`, `project`, `user`, `role`):
//! credentials from the OS_* variables (or `--os-*` flags), a login, one or two
//! requests through the `client` crate, and output like openstackclient's.

pub mod floating_ip;
mod formats;
pub mod identity;
pub mod metering;
pub mod network;
pub mod output;
pub mod port;
pub mod router;
pub mod security_group;
pub mod subnet;
pub mod topology;

mod agent;
mod args;
mod auth;
mod ctx;
mod opts;

pub use args::{NewStateArgs, OwnerArgs, RenameArgs, StateArgs};
pub use auth::{AuthArgs, Common};
pub use ctx::{Ctx, run};
pub use opts::{Query, columns, current_list, flag, kv_get, parse_kv, put_list, put_opt, routes};

use anyhow::{Context, Result};
use serde_json::Value;

/// A kind of resource: where it lives and how openstack names it in messages.
pub struct Resource {
    /// The JSON key of one (`network`).
    pub key: &'static str,
    /// The JSON key of a list (`networks`).
    pub plural: &'static str,
    /// The collection's path (`/v2.0/networks`).
    pub path: &'static str,
    /// The name in messages (`Network`).
    pub display: &'static str,
    /// The attribute a user may give instead of the ID (`name`), if any.
    pub name_attr: Option<&'static str>,
}

/// The `id` of a resource.
pub fn id_of(v: &Value) -> Result<String> {
    v.get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .context("the server's answer has no id")
}

/// A string attribute, or "".
pub fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The list attribute `key`, or an empty list.
pub fn array(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// A percent-encoded path segment.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("abc-1_2.3~"), "abc-1_2.3~");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }
}
