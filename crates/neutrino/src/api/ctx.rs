//! A logged-in client and the requests every command is made of: find by name
//! or ID, list, create, update, delete, and printing the answers.

use super::output::{Column, OutputArgs};
use super::{Common, Query, Resource, array, id_of, seg};
use anyhow::{Context, Result, bail};
use client::Client;
use serde_json::{Map, Value};
use std::future::Future;
use std::io::Write;

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
        let mut items: Vec<Value> = array(&found, r.plural)
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
        Ok(self.find_with_id(r, name_or_id).await?.1)
    }

    /// A resource given by ID or unique name, and its ID.
    pub async fn find_with_id(&self, r: &Resource, name_or_id: &str) -> Result<(Value, String)> {
        let v = self.find(r, name_or_id).await?;
        let id = id_of(&v)?;
        Ok((v, id))
    }

    /// The ID of a resource given by ID or unique name, when one was given.
    pub async fn find_id_opt(
        &self,
        r: &Resource,
        name_or_id: Option<&str>,
    ) -> Result<Option<String>> {
        match name_or_id {
            Some(n) => Ok(Some(self.find_id(r, n).await?)),
            None => Ok(None),
        }
    }

    /// Lists a collection with filters.
    pub async fn list(&self, r: &Resource, query: &[(&str, &str)]) -> Result<Vec<Value>> {
        let v = self.client.get(r.path, query).await?;
        Ok(array(&v, r.plural))
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

    /// Updates a resource by ID with `attrs`; sends nothing when there are none.
    pub async fn update_changed(
        &self,
        r: &Resource,
        id: &str,
        attrs: Map<String, Value>,
    ) -> Result<()> {
        if !attrs.is_empty() {
            self.update(r, id, Value::Object(attrs)).await?;
        }
        Ok(())
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

    /// Finds a resource by ID or unique name and prints it.
    pub async fn show_found(&self, r: &Resource, name_or_id: &str) -> Result<()> {
        self.show(&self.find(r, name_or_id).await?)
    }

    /// Creates a resource and prints it.
    pub async fn create_and_show(&self, r: &Resource, attrs: impl Into<Value>) -> Result<()> {
        let v = self.create(r, attrs.into()).await?;
        self.show(&v)
    }

    /// Prints a list.
    pub fn print_list(&self, rows: &[Value], columns: &[Column<'_>]) -> Result<()> {
        emit(&self.out.list(rows, columns)?);
        Ok(())
    }

    /// Lists a collection with filters and prints it under `columns`.
    pub async fn list_and_print(
        &self,
        r: &Resource,
        query: &Query,
        columns: &[Column<'_>],
    ) -> Result<()> {
        let rows = self.list(r, &query.pairs()).await?;
        self.print_list(&rows, columns)
    }
}

/// Prints text as it is.
pub fn print(s: &str) -> Result<()> {
    emit(s);
    Ok(())
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn emit(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}
