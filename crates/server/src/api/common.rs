//! Helpers shared by the network API handlers: request bodies with Neutron's
//! validation errors, `If-Match` on revision numbers, collection and show bodies,
//! visibility rules.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::query::{ListParams, collection, select_fields};
use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

/// The attributes of a request body's resource object (`{"network": {...}}`).
pub struct Attrs(pub Map<String, Value>);

fn invalid_attr(key: &str, v: &Value, what: &str) -> ApiError {
    ApiError::invalid(format!(
        "Invalid input for {key}. Reason: '{v}' is not a valid {what}."
    ))
}

/// Neutron's limit on names and descriptions.
pub const MAX_NAME_LEN: usize = 255;

/// A name or description: at most 255 characters, no control characters (NUL,
/// escapes) and no bidirectional overrides (text that shows other than it reads).
pub fn check_text(key: &str, s: &str) -> ApiResult<()> {
    let n = s.chars().count();
    if n > MAX_NAME_LEN {
        return Err(ApiError::invalid(format!(
            "Invalid input for {key}. Reason: '{}...' exceeds maximum length of {MAX_NAME_LEN}.",
            s.chars().take(20).collect::<String>()
        )));
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    {
        return Err(ApiError::invalid(format!(
            "Invalid input for {key}. Reason: it contains the character U+{:04X}.",
            u32::from(c)
        )));
    }
    Ok(())
}

impl Attrs {
    pub fn from_body(body: &Bytes, key: &str) -> ApiResult<Attrs> {
        if body.is_empty() {
            return Err(ApiError::bad_request("Resource body required"));
        }
        let v: Value = serde_json::from_slice(body)
            .map_err(|_| ApiError::bad_request("Malformed request body"))?;
        match v {
            Value::Object(mut m) => match m.remove(key) {
                Some(Value::Object(attrs)) => {
                    for k in ["name", "description"] {
                        if let Some(Value::String(s)) = attrs.get(k) {
                            check_text(k, s)?;
                        }
                    }
                    Ok(Attrs(attrs))
                }
                _ => Err(ApiError::bad_request(format!(
                    "Unable to find '{key}' in request body"
                ))),
            },
            _ => Err(ApiError::bad_request("Body contains invalid data")),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The value as given, for attributes that take more than one type.
    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub fn str(&self, key: &str) -> ApiResult<Option<String>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(invalid_attr(key, v, "string")),
        }
    }

    /// `Some(None)` when the key is present with `null`.
    pub fn nullable_str(&self, key: &str) -> ApiResult<Option<Option<String>>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
            Some(v) => Err(invalid_attr(key, v, "string")),
        }
    }

    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid(format!(
                "Invalid input for {key}. Reason: '{v}' cannot be converted to boolean."
            ))),
        }
    }

    pub fn u32(&self, key: &str) -> ApiResult<Option<u32>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|x| u32::try_from(x).ok())
                .map(Some)
                .ok_or_else(|| invalid_attr(key, &Value::Number(n.clone()), "integer")),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| invalid_attr(key, &Value::String(s.clone()), "integer")),
            Some(v) => Err(invalid_attr(key, v, "integer")),
        }
    }

    pub fn list(&self, key: &str) -> ApiResult<Option<Vec<Value>>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a.clone())),
            Some(v) => Err(invalid_attr(key, v, "list")),
        }
    }

    /// A list where `null` means empty (`routes: null` clears them, as Neutron's
    /// convert_none_to_empty_list); `None` when the key is absent.
    pub fn list_or_null(&self, key: &str) -> ApiResult<Option<Vec<Value>>> {
        match self.0.get(key) {
            Some(Value::Null) => Ok(Some(Vec::new())),
            _ => self.list(key),
        }
    }

    pub fn str_list(&self, key: &str) -> ApiResult<Option<Vec<String>>> {
        match self.list(key)? {
            None => Ok(None),
            Some(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    v => Err(invalid_attr(key, &v, "string")),
                })
                .collect::<ApiResult<Vec<_>>>()
                .map(Some),
        }
    }

    pub fn object(&self, key: &str) -> ApiResult<Option<Map<String, Value>>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(v) => Err(invalid_attr(key, v, "dict")),
        }
    }

    /// Refuses attributes only an admin may set.
    pub fn admin_only(&self, ctx: &Ctx, action: &str, keys: &[&str]) -> ApiResult<()> {
        if ctx.is_admin() {
            return Ok(());
        }
        match keys.iter().find(|k| self.has(k)) {
            Some(k) => Err(ApiError::forbidden(&format!("{action}:{k}"))),
            None => Ok(()),
        }
    }

    /// Refuses attributes that cannot change.
    /// A small integer (prefix lengths).
    pub fn u8(&self, key: &str) -> ApiResult<Option<u8>> {
        match self.u32(key)? {
            None => Ok(None),
            Some(v) => u8::try_from(v).map(Some).map_err(|_| {
                ApiError::invalid(format!(
                    "Invalid input for {key}. Reason: '{v}' is too large."
                ))
            }),
        }
    }

    pub fn read_only(&self, keys: &[&str]) -> ApiResult<()> {
        match keys.iter().find(|k| self.has(k)) {
            Some(k) => Err(ApiError::invalid(format!(
                "Cannot update read-only attribute {k}"
            ))),
            None => Ok(()),
        }
    }

    /// The project a new resource belongs to: the caller's, or (admin only) the one
    /// named by `project_id`/`tenant_id`.
    pub fn project(&self, ctx: &Ctx, action: &str) -> ApiResult<String> {
        let p = match self.str("project_id")? {
            Some(p) => Some(p),
            None => self.str("tenant_id")?,
        };
        match p {
            Some(p) if p != ctx.project_id() => {
                if ctx.is_admin() {
                    Ok(p)
                } else {
                    Err(ApiError::forbidden(&format!("{action}:project_id")))
                }
            }
            _ => Ok(ctx.project_id().to_string()),
        }
    }
}

/// Enforces `If-Match: revision_number=N` (412 on mismatch).
pub fn check_if_match(headers: &HeaderMap, current: u64) -> ApiResult<()> {
    for v in headers.get_all("if-match") {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(',') {
            let part = part.trim().trim_matches('"');
            if let Some(n) = part.strip_prefix("revision_number=") {
                let want: u64 = n
                    .parse()
                    .map_err(|_| ApiError::invalid(format!("Invalid If-Match value: {part}")))?;
                if want != current {
                    return Err(ApiError::new(
                        StatusCode::PRECONDITION_FAILED,
                        "RevisionNumberConstraintFailed",
                        format!("Constrained to {want}, but current revision is {current}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

pub fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// `GET` on a collection: filters, fields, sorting, pagination, links.
pub fn list_body<T: Serialize>(
    state: &AppState,
    headers: &HeaderMap,
    (name, path): (&str, &str),
    items: &[T],
    query: &[(String, String)],
) -> ApiResult<Json<Value>> {
    let params = ListParams::parse(query)?;
    let base = format!("{}/v2.0/{path}", crate::identity::base_url(state, headers));
    let values = items.iter().map(to_value).collect();
    collection(name, values, &params, &base).map(Json)
}

/// `GET` on one resource, with `fields`.
pub fn show_body<T: Serialize>(key: &str, item: &T, query: &[(String, String)]) -> Json<Value> {
    let fields: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "fields")
        .flat_map(|(_, v)| v.split(',').map(str::to_string))
        .collect();
    let v = match to_value(item) {
        Value::Object(m) => Value::Object(select_fields(m, &fields)),
        other => other,
    };
    let mut body = Map::new();
    body.insert(key.to_string(), v);
    Json(Value::Object(body))
}

pub fn one<T: Serialize>(key: &str, item: &T) -> Json<Value> {
    let mut body = Map::new();
    body.insert(key.to_string(), to_value(item));
    Json(Value::Object(body))
}

pub fn created<T: Serialize>(key: &str, item: &T) -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, one(key, item))
}

/// Bumps a resource's revision and update time.
pub fn touch(revision: &mut u64, updated_at: &mut String) {
    *revision += 1;
    *updated_at = crate::util::now();
}

/// Networks a caller sees: its own, and those an RBAC policy shares with it or
/// makes external to it (or to all).
pub fn network_visible(ctx: &Ctx, n: &model::Network) -> bool {
    ctx.owns(&n.project_id) || ctx.grants.any("network", &n.id)
}

/// Network `n` is external to the caller: external, and the caller's own (or the
/// admin's view) or external to it by a policy. The stored `router:external`
/// alone is not enough: an `access_as_external` policy for one project sets it,
/// and a project that sees the network through a share must not use it as one.
pub fn external_to_caller(ctx: &Ctx, n: &model::Network) -> bool {
    n.router_external && (ctx.owns(&n.project_id) || ctx.grants.external(&n.id))
}

/// Runs a block (a write transaction) again when a unique key refused a write
/// (another request took the same address first): the transaction was rolled
/// back, and the next try sees the winner's rows.
macro_rules! retry {
    ($body:block) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let r: $crate::error::ApiResult<_> = async { $body }.await;
            match r {
                Err(e) if e.is_conflict() && attempt < 10 => {
                    tracing::debug!(attempt, error = %e, "retrying after a unique-key conflict");
                }
                r => break r,
            }
        }
    }};
}
pub(crate) use retry;
