//! The openstack-style API commands (`network`, `subnet`, `port`, `router`,
//! `floating ip`, `security group`, `network agent`, `project`, `user`, `role`):
//! credentials from the OS_* variables (or `--os-*` flags), a login, one or two
//! requests through the `client` crate, and output like openstackclient's.

pub mod floating_ip;
pub mod identity;
pub mod network;
pub mod output;
pub mod port;
pub mod router;
pub mod security_group;
pub mod subnet;

mod agent;

use anyhow::{Context, Result, bail};
use clap::Args;
use client::{Auth, Client, ClientError};
use output::{Column, OutputArgs};
use serde_json::Value;
use std::future::Future;
use std::io::Write;

/// The openstack CLI's `--os-*` options; each overrides its OS_* variable.
#[derive(Args, Clone, Debug, Default)]
pub struct AuthArgs {
    /// Keystone URL (overrides OS_AUTH_URL).
    #[arg(
        long,
        value_name = "URL",
        global = true,
        help_heading = "Authentication"
    )]
    pub os_auth_url: Option<String>,
    /// User name (overrides OS_USERNAME).
    #[arg(
        long,
        value_name = "NAME",
        global = true,
        help_heading = "Authentication"
    )]
    pub os_username: Option<String>,
    /// Password (overrides OS_PASSWORD).
    #[arg(
        long,
        value_name = "PASSWORD",
        global = true,
        help_heading = "Authentication"
    )]
    pub os_password: Option<String>,
    /// Project to scope the token to (overrides OS_PROJECT_NAME).
    #[arg(
        long,
        value_name = "NAME",
        global = true,
        help_heading = "Authentication"
    )]
    pub os_project_name: Option<String>,
    /// User's domain (overrides OS_USER_DOMAIN_NAME; default Default).
    #[arg(
        long,
        value_name = "NAME",
        global = true,
        help_heading = "Authentication"
    )]
    pub os_user_domain_name: Option<String>,
    /// Project's domain (overrides OS_PROJECT_DOMAIN_NAME; default Default).
    #[arg(
        long,
        value_name = "NAME",
        global = true,
        help_heading = "Authentication"
    )]
    pub os_project_domain_name: Option<String>,
}

impl AuthArgs {
    /// The credentials: flags first, then the environment.
    pub fn resolve(&self) -> Result<Auth, ClientError> {
        Auth::from_lookup(|k| {
            let flag = match k {
                "OS_AUTH_URL" => &self.os_auth_url,
                "OS_USERNAME" => &self.os_username,
                "OS_PASSWORD" => &self.os_password,
                "OS_PROJECT_NAME" => &self.os_project_name,
                "OS_USER_DOMAIN_NAME" => &self.os_user_domain_name,
                "OS_PROJECT_DOMAIN_NAME" => &self.os_project_domain_name,
                _ => &None,
            };
            flag.clone().or_else(|| std::env::var(k).ok())
        })
    }
}

/// What every API command takes: credentials and output options.
#[derive(Args, Clone, Debug, Default)]
pub struct Common {
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Logs in and runs `f` on a current-thread runtime.
pub fn run<F, Fut>(common: Common, f: F) -> Result<()>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let auth = common.auth.resolve()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let client = Client::login(auth).await?;
        f(Ctx {
            client,
            out: common.out,
        })
        .await
    })
}

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

/// A logged-in client and the output options.
pub struct Ctx {
    pub client: Client,
    pub out: OutputArgs,
}

impl Ctx {
    /// Finds a resource by ID or unique name, the way openstackclient does.
    pub async fn find(&self, r: &Resource, name_or_id: &str) -> Result<Value> {
        let by_id = format!("{}/{}", r.path, seg(name_or_id));
        match self.client.get(&by_id, &[]).await {
            Ok(v) => {
                if let Some(item) = v.get(r.key) {
                    return Ok(item.clone());
                }
                bail!(
                    "the server's answer for {} {name_or_id} has no '{}'",
                    r.display,
                    r.key
                )
            }
            Err(e) if matches!(e.status(), Some(404) | Some(400)) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(attr) = r.name_attr else {
            bail!("No {} found for {name_or_id}", r.display);
        };
        let found = self.client.get(r.path, &[(attr, name_or_id)]).await?;
        let mut items: Vec<Value> = found
            .get(r.plural)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|i| i.get(attr).and_then(Value::as_str) == Some(name_or_id))
            .collect();
        match items.len() {
            0 => bail!("No {} found for {name_or_id}", r.display),
            1 => Ok(items.remove(0)),
            _ => {
                // An admin sees every project's: prefer the one of the current project.
                let me = self.client.project_id();
                let mine: Vec<&Value> = items
                    .iter()
                    .filter(|i| {
                        i.get("project_id").and_then(Value::as_str) == Some(me.as_str())
                            || i.get("id").and_then(Value::as_str) == Some(me.as_str())
                    })
                    .collect();
                if let [one] = mine.as_slice() {
                    return Ok((*one).clone());
                }
                bail!(
                    "More than one {} exists with the name '{name_or_id}'.",
                    r.display
                )
            }
        }
    }

    /// The ID of a resource given by ID or unique name.
    pub async fn find_id(&self, r: &Resource, name_or_id: &str) -> Result<String> {
        let v = self.find(r, name_or_id).await?;
        id_of(&v)
    }

    /// Lists a collection with filters.
    pub async fn list(&self, r: &Resource, query: &[(&str, &str)]) -> Result<Vec<Value>> {
        let v = self.client.get(r.path, query).await?;
        Ok(v.get(r.plural)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// Creates a resource; returns it.
    pub async fn create(&self, r: &Resource, attrs: Value) -> Result<Value> {
        let body = serde_json::json!({ r.key: attrs });
        let v = self.client.post(r.path, &body).await?;
        Ok(v.get(r.key).cloned().unwrap_or(v))
    }

    /// Updates a resource by ID; returns it.
    pub async fn update(&self, r: &Resource, id: &str, attrs: Value) -> Result<Value> {
        let body = serde_json::json!({ r.key: attrs });
        let path = format!("{}/{}", r.path, seg(id));
        let v = self.client.put(&path, &body).await?;
        Ok(v.get(r.key).cloned().unwrap_or(v))
    }

    /// Deletes each of `names` (IDs or names); like openstack, tries them all and
    /// fails at the end if any failed.
    pub async fn delete_all(&self, r: &Resource, names: &[String]) -> Result<()> {
        let mut failed = Vec::new();
        for n in names {
            let res = async {
                let id = self.find_id(r, n).await?;
                self.client
                    .delete(&format!("{}/{}", r.path, seg(&id)))
                    .await
                    .map_err(anyhow::Error::from)
            }
            .await;
            if let Err(e) = res {
                failed.push(format!(
                    "Failed to delete {} with name or ID '{n}': {e:#}",
                    r.display.to_lowercase()
                ));
            }
        }
        match failed.len() {
            0 => Ok(()),
            1 if names.len() == 1 => bail!("{}", failed[0]),
            n => {
                for f in &failed {
                    eprintln!("neutrino: {f}");
                }
                bail!(
                    "{n} of {} {}s failed to delete.",
                    names.len(),
                    r.display.to_lowercase()
                )
            }
        }
    }

    /// Prints one resource.
    pub fn show(&self, v: &Value) -> Result<()> {
        emit(&self.out.show(v)?);
        Ok(())
    }

    /// Prints a list.
    pub fn print_list(&self, rows: &[Value], columns: &[Column<'_>]) -> Result<()> {
        emit(&self.out.list(rows, columns)?);
        Ok(())
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn emit(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
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

/// `--enable`/`--disable` style pairs: `Some(true)`, `Some(false)` or `None`.
pub fn flag(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// Sets `key` in a request body when the option was given.
pub fn put_opt<T: Into<Value>>(m: &mut serde_json::Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(key.into(), v.into());
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("abc-1_2.3~"), "abc-1_2.3~");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }

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
}
