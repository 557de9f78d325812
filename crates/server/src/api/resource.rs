//! The handlers every resource kind shares: list, show and delete, and the fetch
//! that starts every update. A kind says what is particular to it through
//! [`Resource`] — its names on the wire, who may see an item, what is filled in
//! before an item is shown, what a delete must check and release — and the
//! handlers keep the order of checks the same for all: policy (403), existence
//! and visibility (404), ownership (403), `If-Match` (412), then the kind's own.

use super::common::{check_if_match, list_body, show_body};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::store::{Doc, Tx};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::future::Future;

/// A kind of resource of the network API (`Network`, `Port`, …).
pub trait Resource: Doc + Send + Sync + 'static {
    /// The key of one item in request and response bodies (`"network"`); policy
    /// actions are named after it (`delete_network`).
    const MEMBER: &'static str;
    /// The key of a list in response bodies and the path of its links
    /// (`"networks"`).
    const COLLECTION: &'static str;
    /// The collection's path under `/v2.0/` (for links), where it is not
    /// [`Resource::COLLECTION`] (`security-groups`, `metering/metering-labels`).
    const PATH: &'static str = Self::COLLECTION;

    /// The error type and resource name of a 404 (`"NetworkNotFound"`,
    /// `"Network"`).
    const NOT_FOUND: (&'static str, &'static str);

    /// The 404 for an id the caller cannot see (or that does not exist: the two
    /// must look the same to a tenant).
    fn not_found(id: &str) -> ApiError {
        ApiError::not_found(Self::NOT_FOUND.0, Self::NOT_FOUND.1, id)
    }

    /// The revision `If-Match` is checked against before the item is changed or
    /// deleted; `None` where the API does not check it (rules, agents).
    fn revision(&self) -> Option<u64>;

    /// Refuses, before anything is read, a caller who may not read this kind at
    /// all (agents are admin only).
    fn may_read(_ctx: &Ctx) -> ApiResult<()> {
        Ok(())
    }

    /// Refuses, before anything is read, a caller who may not change this kind at
    /// all: read-only tokens, or non-admins for agents.
    fn may_write(ctx: &Ctx, action: &str) -> ApiResult<()> {
        ctx.require_writer(action)
    }

    /// Whether the caller sees `item` by looking at it alone: by default its own
    /// project's items (an admin sees all).
    fn visible(ctx: &Ctx, item: &Self) -> bool {
        ctx.owns(item.project_id())
    }

    /// Keeps the items the caller may see, for list and show. The default asks
    /// [`Resource::visible`]; a kind whose visibility depends on other resources
    /// (subnets, on their network) reads them here.
    fn readable(
        _state: &AppState,
        ctx: &Ctx,
        items: Vec<Self>,
    ) -> impl Future<Output = ApiResult<Vec<Self>>> + Send {
        async move {
            Ok(items
                .into_iter()
                .filter(|i| Self::visible(ctx, i))
                .collect())
        }
    }

    /// Refuses a change (update or delete, named by `action`) the caller may not
    /// make to an item it has fetched: by default a 404 for another project's
    /// item, so a tenant learns nothing about it.
    fn writable(ctx: &Ctx, item: &Self, _action: &str) -> ApiResult<()> {
        if ctx.owns(item.project_id()) {
            Ok(())
        } else {
            Err(Self::not_found(item.id()))
        }
    }

    /// Fills in, before items are shown, what is not stored with them (a group's
    /// rules, an agent's liveness).
    fn render(
        _state: &AppState,
        _items: &mut [Self],
    ) -> impl Future<Output = ApiResult<()>> + Send {
        async { Ok(()) }
    }

    /// Runs before a list is read (the security group kinds create the caller's
    /// default group here).
    fn before_list(_state: &AppState, _ctx: &Ctx) -> impl Future<Output = ApiResult<()>> + Send {
        async { Ok(()) }
    }

    /// Runs in the delete's transaction once the item has passed the common
    /// checks, before it is removed: refuses a delete that must wait (a network
    /// whose ports are in use) and releases or removes what hangs off the item.
    fn on_delete(tx: &mut Tx, ctx: &Ctx, item: &Self)
    -> impl Future<Output = ApiResult<()>> + Send;
}

/// `GET /v2.0/{collection}`: the items the caller sees, with filters, fields,
/// sorting and pagination.
pub async fn list<T: Resource>(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    T::may_read(&ctx)?;
    T::before_list(&state, &ctx).await?;
    let all = state.store.list::<T>().await?;
    let mut items = T::readable(&state, &ctx, all).await?;
    T::render(&state, &mut items).await?;
    list_body(&state, &headers, (T::COLLECTION, T::PATH), &items, &q)
}

/// `GET /v2.0/{collection}/{id}`: one item the caller sees, with `fields`.
pub async fn show<T: Resource>(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    T::may_read(&ctx)?;
    let found = state.store.get::<T>(&id).await?.into_iter().collect();
    let mut items = T::readable(&state, &ctx, found).await?;
    T::render(&state, &mut items).await?;
    let item = items.first().ok_or_else(|| T::not_found(&id))?;
    Ok(show_body(T::MEMBER, item, &q))
}

/// `DELETE /v2.0/{collection}/{id}`.
pub async fn delete<T: Resource>(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let action = format!("delete_{}", T::MEMBER);
    T::may_write(&ctx, &action)?;
    let mut tx = state.store.write().await?;
    let item = fetch_writable::<T>(&mut tx, &ctx, &headers, &id, &action).await?;
    T::on_delete(&mut tx, &ctx, &item).await?;
    tx.delete::<T>(&id).await?;
    tx.commit().await?;
    tracing::info!(%id, kind = T::MEMBER, "deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Reads item `id` in `tx` for a change named by `action` (the caller has
/// passed [`Resource::may_write`]): 404 if it does not exist or is not the
/// caller's to change, what [`Resource::writable`] says otherwise, 412 if
/// `If-Match` names another revision.
pub async fn fetch_writable<T: Resource>(
    tx: &mut Tx,
    ctx: &Ctx,
    headers: &HeaderMap,
    id: &str,
    action: &str,
) -> ApiResult<T> {
    let item = tx.get::<T>(id).await?.ok_or_else(|| T::not_found(id))?;
    T::writable(ctx, &item, action)?;
    if let Some(rev) = item.revision() {
        check_if_match(headers, rev)?;
    }
    Ok(item)
}
