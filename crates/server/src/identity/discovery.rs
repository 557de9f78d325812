//! `GET /v3`: Keystone version discovery.

use crate::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

pub async fn version(State(state): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let base = super::base_url(&state, &headers);
    Json(json!({"version": {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/v3/")}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}],
    }}))
}
