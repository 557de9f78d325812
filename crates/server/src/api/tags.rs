//! Tags on resources (Neutron's `standard-attr-tag` and `tag-creation`):
//! `/v2.0/{resources}/{id}/tags[/{tag}]` on networks, subnets, ports, routers,
//! floating IPs, security groups and subnet pools. Whoever may read the resource
//! reads its tags; whoever may change it changes them. At most 50 tags of at
//! most 255 characters each; a change moves the resource's revision on. The list
//! filters (`tags`, `tags-any`, `not-tags`, `not-tags-any`) are in `query`.

use super::common::touch;
use super::resource::{Resource, fetch_writable};
use crate::AppState;
use crate::apidoc::schema::{array, string, wrap};
use crate::apidoc::{Route, Verb};
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::store::Doc;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use model::{FloatingIp, Network, Port, Router, SecurityGroup, Subnet, SubnetPool};
use serde_json::{Value, json};

/// The most tags one resource carries (Neutron's MAX_TAGS_COUNT).
pub const MAX_TAGS: usize = 50;
const MAX_TAG_LEN: usize = 255;

/// A resource that carries tags.
pub trait Tagged: Resource + Doc + Clone {
    fn tags_mut(&mut self) -> &mut Vec<String>;
    /// Moves the revision and update time on.
    fn changed(&mut self);
}

macro_rules! tagged {
    ($($t:ty),*) => {$(
        impl Tagged for $t {
            fn tags_mut(&mut self) -> &mut Vec<String> {
                &mut self.tags
            }
            fn changed(&mut self) {
                touch(&mut self.revision_number, &mut self.updated_at);
            }
        }
    )*};
}

tagged!(
    Network,
    Subnet,
    Port,
    Router,
    FloatingIp,
    SecurityGroup,
    SubnetPool
);

/// The tag routes of resource kind `T` under `/v2.0/<its path>`.
fn routes<T: Tagged>() -> Vec<Route> {
    let all = format!("/v2.0/{}/{{id}}/tags", T::PATH);
    let one = format!("/v2.0/{}/{{id}}/tags/{{tag}}", T::PATH);
    let tags = || wrap("tags", array(string()));
    let what = T::MEMBER;
    vec![
        Route::new(Verb::Get, &all, list::<T>)
            .tag(T::COLLECTION)
            .summary(format!("List a {what}'s tags"))
            .returns(200, Some(tags())),
        Route::new(Verb::Put, &all, replace::<T>)
            .tag(T::COLLECTION)
            .summary(format!("Replace a {what}'s tags"))
            .request(tags())
            .returns(200, Some(tags())),
        Route::new(Verb::Post, &all, add::<T>)
            .tag(T::COLLECTION)
            .summary(format!("Add tags to a {what}"))
            .request(tags())
            .returns(200, Some(tags())),
        Route::new(Verb::Delete, &all, clear::<T>)
            .tag(T::COLLECTION)
            .summary(format!("Remove a {what}'s tags")),
        Route::new(Verb::Get, &one, check::<T>)
            .tag(T::COLLECTION)
            .summary(format!("Check a {what} has a tag"))
            .returns(204, None),
        Route::new(Verb::Put, &one, add_one::<T>)
            .tag(T::COLLECTION)
            .summary(format!("Add a tag to a {what}"))
            .returns(201, None),
        Route::new(Verb::Delete, &one, remove_one::<T>)
            .tag(T::COLLECTION)
            .summary(format!("Remove a tag from a {what}")),
    ]
}

/// The tag routes of every resource that takes tags.
pub fn table() -> Vec<Route> {
    [
        routes::<Network>(),
        routes::<Subnet>(),
        routes::<Port>(),
        routes::<Router>(),
        routes::<FloatingIp>(),
        routes::<SecurityGroup>(),
        routes::<SubnetPool>(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// One tag, as a URL or a body gives it.
pub fn check_tag(tag: &str) -> ApiResult<()> {
    if tag.is_empty() || tag.chars().count() > MAX_TAG_LEN {
        return Err(ApiError::invalid(format!(
            "Invalid input for operation: '{tag}' exceeds maximum length of {MAX_TAG_LEN}."
        )));
    }
    Ok(())
}

/// `{"tags": [...]}`: unique strings.
fn body_tags(body: &Bytes) -> ApiResult<Vec<String>> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::bad_request("Invalid tags body"))?;
    let list = match v.get("tags") {
        Some(Value::Array(a)) => a,
        Some(other) => return Err(ApiError::invalid(format!("'{other}' is not a list"))),
        None => return Err(ApiError::bad_request("Invalid tags body")),
    };
    parse_list(list)
}

/// A list of tags (as `tags` in a port's create body also gives them): unique
/// strings of at most 255 characters.
pub fn parse_list(list: &[Value]) -> ApiResult<Vec<String>> {
    let mut tags: Vec<String> = Vec::new();
    for t in list {
        let s = t
            .as_str()
            .ok_or_else(|| ApiError::invalid(format!("'{t}' is not a valid string")))?;
        check_tag(s)?;
        if tags.iter().any(|x| x == s) {
            return Err(ApiError::invalid(format!(
                "Duplicate items in the list: '{s}'"
            )));
        }
        tags.push(s.to_string());
    }
    Ok(tags)
}

fn too_many<T: Tagged>() -> ApiError {
    ApiError::bad_request(format!(
        "Bad {} request: The number of tags exceed the per-resource limit of {MAX_TAGS}.",
        T::COLLECTION
    ))
}

fn tag_not_found(tag: &str) -> ApiError {
    ApiError::not_found_msg("TagNotFound", format!("Tag {tag} could not be found."))
}

/// The item the caller may read.
async fn readable<T: Tagged>(state: &AppState, ctx: &Ctx, id: &str) -> ApiResult<T> {
    T::may_read(ctx)?;
    let found: Vec<T> = state.store.get::<T>(id).await?.into_iter().collect();
    T::readable(state, ctx, found)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| T::not_found(id))
}

/// Changes the tags of `id` with `f` in one transaction; returns them.
async fn change<T: Tagged>(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    id: &str,
    f: impl FnOnce(&mut Vec<String>) -> ApiResult<bool>,
) -> ApiResult<Vec<String>> {
    let action = format!("update_{}:tags", T::MEMBER);
    T::may_write(ctx, &action)?;
    let mut tx = state.store.write().await?;
    // Reading is checked first: a tenant learns nothing of an item it cannot see.
    let mut item: T = fetch_writable(&mut tx, ctx, headers, id, &action).await?;
    if f(item.tags_mut())? {
        if item.tags_mut().len() > MAX_TAGS {
            return Err(too_many::<T>());
        }
        item.changed();
        tx.update(&item).await?;
        tx.commit().await?;
    }
    Ok(item.tags_mut().clone())
}

async fn list<T: Tagged>(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut item: T = readable(&state, &ctx, &id).await?;
    Ok(Json(json!({"tags": item.tags_mut().clone()})))
}

async fn replace<T: Tagged>(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let want = body_tags(&body)?;
    if want.len() > MAX_TAGS {
        return Err(too_many::<T>());
    }
    let tags = change::<T>(&state, &ctx, &headers, &id, |t| {
        let same = *t == want;
        *t = want;
        Ok(!same)
    })
    .await?;
    Ok(Json(json!({ "tags": tags })))
}

async fn add<T: Tagged>(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let more = body_tags(&body)?;
    let tags = change::<T>(&state, &ctx, &headers, &id, |t| {
        let before = t.len();
        for m in more {
            if !t.contains(&m) {
                t.push(m);
            }
        }
        Ok(t.len() != before)
    })
    .await?;
    Ok(Json(json!({ "tags": tags })))
}

async fn clear<T: Tagged>(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    change::<T>(&state, &ctx, &headers, &id, |t| {
        let had = !t.is_empty();
        t.clear();
        Ok(had)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn check<T: Tagged>(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let mut item: T = readable(&state, &ctx, &id).await?;
    if item.tags_mut().contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(tag_not_found(&tag))
    }
}

async fn add_one<T: Tagged>(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    check_tag(&tag)?;
    change::<T>(&state, &ctx, &headers, &id, |t| {
        if t.contains(&tag) {
            return Ok(false);
        }
        t.push(tag);
        Ok(true)
    })
    .await?;
    Ok(StatusCode::CREATED.into_response())
}

async fn remove_one<T: Tagged>(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    change::<T>(&state, &ctx, &headers, &id, |t| {
        let before = t.len();
        t.retain(|x| *x != tag);
        if t.len() == before {
            return Err(tag_not_found(&tag));
        }
        Ok(true)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
