//! Neutron's bulk create: `POST /v2.0/networks {"networks": [{...}, {...}]}`
//! (subnets and ports alike) makes each item as the single create would, all or
//! none: at the first failure the items made are deleted again, in reverse, and
//! that failure is the answer. A body with the singular key goes to the single
//! create as before.

use super::resource::{Resource, delete};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::future::Future;

/// Items one bulk request may hold.
pub const MAX_ITEMS: usize = 1000;

pub async fn create<T, F, Fut>(
    state: AppState,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
    single: F,
) -> ApiResult<Response>
where
    T: Resource,
    F: Fn(State<AppState>, Ctx, Bytes) -> Fut,
    Fut: Future<Output = ApiResult<(StatusCode, Json<Value>)>>,
{
    let items = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut m)) if m.contains_key(T::COLLECTION) => {
            match m.remove(T::COLLECTION) {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "'{}' must be a list of {} objects",
                        T::COLLECTION,
                        T::MEMBER
                    )));
                }
            }
        }
        _ => {
            return single(State(state), ctx, body)
                .await
                .map(IntoResponse::into_response);
        }
    };
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(ApiError::bad_request(format!(
            "A bulk request takes 1 to {MAX_ITEMS} {}.",
            T::COLLECTION
        )));
    }
    let mut made: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        let one = json!({ T::MEMBER: item }).to_string();
        match single(State(state.clone()), ctx.clone(), Bytes::from(one)).await {
            Ok((_, Json(v))) => made.push(v[T::MEMBER].clone()),
            Err(e) => {
                for v in made.iter().rev() {
                    if let Some(id) = v["id"].as_str()
                        && let Err(undo) = delete::<T>(
                            State(state.clone()),
                            ctx.clone(),
                            headers.clone(),
                            Path(id.to_string()),
                        )
                        .await
                    {
                        tracing::warn!(%id, error = ?undo, "bulk create: undoing an item");
                    }
                }
                return Err(e);
            }
        }
    }
    Ok((StatusCode::CREATED, Json(json!({ T::COLLECTION: made }))).into_response())
}
