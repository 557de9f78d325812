//! The HTTP side of one network's metadata namespace: find the instance by the
//! request's source address, then answer from [`super::content`] or forward to
//! Nova's metadata API with the headers neutron-metadata-agent sends.

use super::content;
use super::instances::Table;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use tracing::warn;

/// Where requests go when Nova answers them.
#[derive(Debug, Clone)]
pub struct Nova {
    /// Nova's metadata API, e.g. `http://controller:8775`.
    pub url: String,
    /// `metadata_proxy_shared_secret`, shared with Nova.
    pub secret: String,
    pub client: reqwest::Client,
}

/// What one namespace's server knows.
#[derive(Clone)]
pub struct Proxy {
    pub network_id: String,
    pub table: Arc<RwLock<Table>>,
    pub nova: Option<Nova>,
}

/// The largest request body forwarded to Nova (a password POST is 256 bytes).
const MAX_BODY: usize = 64 * 1024;

pub fn router(p: Proxy) -> axum::Router {
    axum::Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(p)
}

/// `X-Instance-ID-Signature`: HMAC-SHA256 of the instance id under the shared
/// secret, in hex (as Nova checks it).
pub fn signature(secret: &str, instance_id: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new(); // HMAC takes keys of any length
    };
    mac.update(instance_id.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn handle(
    State(p): State<Proxy>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let ip = peer.ip().to_canonical();
    let found = match p.table.read() {
        Ok(t) => t.find(&p.network_id, ip).cloned(),
        Err(_) => None,
    };
    let Some(inst) = found else {
        warn!(network = %p.network_id, source = %ip, path = %uri.path(),
            "metadata request from an address that is no port of this network on this host");
        return not_found();
    };
    if let Some(nova) = &p.nova {
        return forward(nova, &inst, ip, method, &uri, body).await;
    }
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n").into_response();
    }
    match content::answer(uri.path(), &inst) {
        Some(d) => {
            let mut r = d.body.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(d.content_type),
            );
            r
        }
        None => not_found(),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 Not Found\n").into_response()
}

async fn forward(
    nova: &Nova,
    inst: &super::instances::Instance,
    ip: std::net::IpAddr,
    method: Method,
    uri: &Uri,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", nova.url.trim_end_matches('/'));
    let mut headers = HeaderMap::new();
    let pairs = [
        ("x-instance-id", inst.device_id.clone()),
        ("x-tenant-id", inst.project_id.clone()),
        ("x-forwarded-for", ip.to_string()),
        (
            "x-instance-id-signature",
            signature(&nova.secret, &inst.device_id),
        ),
    ];
    for (k, v) in pairs {
        match HeaderValue::from_str(&v) {
            Ok(v) => {
                headers.insert(k, v);
            }
            Err(_) => return bad_gateway("the instance id cannot be sent as a header"),
        }
    }
    let req = nova
        .client
        .request(method, &url)
        .headers(headers)
        .body(body.to_vec());
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            warn!(url = %url, "Nova's metadata API: {e}");
            return bad_gateway("the metadata service is unreachable");
        }
    };
    let status = resp.status();
    let ctype = resp.headers().get(header::CONTENT_TYPE).cloned();
    match resp.bytes().await {
        Ok(b) => {
            let mut r = Response::new(Body::from(b));
            *r.status_mut() = status;
            if let Some(c) = ctype {
                r.headers_mut().insert(header::CONTENT_TYPE, c);
            }
            r
        }
        Err(e) => {
            warn!(url = %url, "Nova's metadata API: {e}");
            bad_gateway("the metadata service's answer was cut short")
        }
    }
}

fn bad_gateway(why: &'static str) -> Response {
    (StatusCode::BAD_GATEWAY, format!("{why}\n")).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            super::signature("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
