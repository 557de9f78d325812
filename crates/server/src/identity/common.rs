//! Helpers shared by the identity handlers: admin checks, bodies, entity links.

use super::KsCtx;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value, json};

pub fn forbidden() -> ApiError {
    ApiError::keystone(
        StatusCode::FORBIDDEN,
        "You are not authorized to perform the requested action.",
    )
}

pub fn require_admin(ctx: &KsCtx) -> ApiResult<()> {
    if ctx.0.is_admin() {
        Ok(())
    } else {
        Err(forbidden())
    }
}

pub fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::keystone(
        StatusCode::NOT_FOUND,
        format!("Could not find {what}: {id}."),
    )
}

pub fn conflict(what: &str) -> ApiError {
    ApiError::keystone(
        StatusCode::CONFLICT,
        format!("Conflict occurred attempting to store {what} - Duplicate entry."),
    )
}

pub fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::keystone(StatusCode::BAD_REQUEST, msg)
}

/// The object under `key` in a JSON request body.
pub fn body_object(body: &Bytes, key: &str) -> ApiResult<Map<String, Value>> {
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("Malformed request body"))?;
    match v.get(key) {
        Some(Value::Object(m)) => Ok(m.clone()),
        _ => Err(bad(format!("Expecting to find {key} in request body"))),
    }
}

pub fn opt_str(m: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!(
            "Invalid input for field '{key}': not a string"
        ))),
    }
}

pub fn opt_bool(m: &Map<String, Value>, key: &str) -> ApiResult<Option<bool>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(format!(
            "Invalid input for field '{key}': not a boolean"
        ))),
    }
}

/// An entity with Keystone's `links` and `options`.
pub fn entity<T: Serialize>(
    state: &AppState,
    headers: &HeaderMap,
    collection: &str,
    id: &str,
    e: &T,
) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        let base = super::base_url(state, headers);
        m.insert(
            "links".into(),
            json!({"self": format!("{base}/v3/{collection}/{id}")}),
        );
        m.insert("options".into(), json!({}));
    }
    v
}

/// A collection body with Keystone's `links`, filtered by the query's plain
/// attribute filters (`name`, `domain_id`, `enabled`, …).
pub fn collection(
    state: &AppState,
    headers: &HeaderMap,
    collection: &str,
    items: Vec<Value>,
    query: &[(String, String)],
) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .filter(|item| {
            query.iter().all(|(k, want)| match item.get(k) {
                None => true,
                Some(Value::String(s)) => s == want,
                Some(Value::Bool(b)) => want.eq_ignore_ascii_case(&b.to_string()),
                Some(Value::Null) => false,
                Some(other) => *other.to_string() == **want,
            })
        })
        .collect();
    let base = super::base_url(state, headers);
    json!({
        collection: items,
        "links": {"self": format!("{base}/v3/{collection}"), "previous": null, "next": null},
    })
}
