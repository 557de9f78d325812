//! `client`: a small async HTTP client for neutrino's server — the Keystone v3
//! subset at `/v3` (password login, project-scoped token, catalog) and the Neutron
//! v2.0 API. Its room is logging in, joining URLs, sending JSON and turning error
//! bodies into [`ClientError`]; it knows nothing of resources, tables or the CLI,
//! and it must not touch the server's crates, the store or the host (no sockets
//! other than its HTTP connections, no files, no environment except
//! [`Auth::from_env`]).

mod error;
mod url;

pub use error::ClientError;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Whole-request timeout: agents long-poll for 25-30 s.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Credentials for a password, project-scoped Keystone v3 login.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("auth_url", &self.auth_url)
            .field("username", &self.username)
            .field("password", &"***")
            .field("project_name", &self.project_name)
            .field("user_domain_name", &self.user_domain_name)
            .field("project_domain_name", &self.project_domain_name)
            .finish()
    }
}

impl Auth {
    /// Credentials from the variables the openstack CLI reads: `OS_AUTH_URL`,
    /// `OS_USERNAME`, `OS_PASSWORD`, `OS_PROJECT_NAME`, `OS_USER_DOMAIN_NAME` and
    /// `OS_PROJECT_DOMAIN_NAME` (both default to `Default`).
    pub fn from_env() -> Result<Auth, ClientError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The same from any lookup (tests, or a CLI that overlays flags on the env).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Auth, ClientError> {
        let get = |k: &str| get(k).filter(|v| !v.is_empty());
        let need = |k: &str| {
            get(k).ok_or_else(|| {
                ClientError::Config(format!(
                    "{k} is not set (source an openrc file or pass --{})",
                    k.to_ascii_lowercase().replace('_', "-")
                ))
            })
        };
        Ok(Auth {
            auth_url: need("OS_AUTH_URL")?,
            username: need("OS_USERNAME")?,
            password: need("OS_PASSWORD")?,
            project_name: need("OS_PROJECT_NAME")?,
            user_domain_name: get("OS_USER_DOMAIN_NAME").unwrap_or_else(|| "Default".into()),
            project_domain_name: get("OS_PROJECT_DOMAIN_NAME").unwrap_or_else(|| "Default".into()),
        })
    }
}

/// A logged-in client. Cheap to clone (shares one connection pool and token).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    auth: Auth,
    /// The identity endpoints `auth_url` names (a comma-separated list: servers
    /// sharing one store), in order.
    servers: Vec<String>,
    /// The one in use, and the network endpoint its catalog gives.
    endpoint: RwLock<Endpoint>,
    /// One move at a time: clones failing together log in once.
    moving: tokio::sync::Mutex<()>,
    session: RwLock<Session>,
}

#[derive(Clone)]
struct Endpoint {
    index: usize,
    identity_url: String,
    network_url: String,
}

#[derive(Clone, Default)]
struct Session {
    token: String,
    user_id: String,
    project_id: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("identity_url", &self.endpoint().identity_url)
            .field("network_url", &self.endpoint().network_url)
            .field("username", &self.inner.auth.username)
            .field("project_name", &self.inner.auth.project_name)
            .finish()
    }
}

/// What one login gives.
struct Login {
    session: Session,
    network_url: Option<String>,
}

impl Client {
    /// Password login scoped to the project: `POST {auth_url}/auth/tokens`.
    /// `auth_url` may list several servers (comma-separated) that share one
    /// store: the first that answers is used, and a request that cannot reach
    /// it moves to the next (the same token works on all of them).
    pub async fn login(auth: Auth) -> Result<Client, ClientError> {
        let servers = auth
            .auth_url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(url::normalise_auth_url)
            .collect::<Result<Vec<_>, _>>()?;
        if servers.is_empty() {
            return Err(ClientError::Config("no server URL given".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| {
                ClientError::Config(format!(
                    "cannot build the HTTP client: {}",
                    error::chain(&e)
                ))
            })?;
        let mut last = None;
        for index in 0..servers.len() {
            match login_at(&http, &servers, index, &auth).await {
                Ok((endpoint, session)) => {
                    return Ok(Client {
                        inner: Arc::new(Inner {
                            http,
                            auth,
                            servers,
                            endpoint: RwLock::new(endpoint),
                            moving: tokio::sync::Mutex::new(()),
                            session: RwLock::new(session),
                        }),
                    });
                }
                // Another server may answer; a refused login would everywhere.
                Err(e @ ClientError::Transport(_)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Config("no server URL given".into())))
    }

    fn endpoint(&self) -> Endpoint {
        match self.inner.endpoint.read() {
            Ok(e) => e.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The network API's endpoint in use (no trailing slash).
    pub fn network_url(&self) -> String {
        self.endpoint().network_url
    }

    /// The identity endpoint in use, ending in `/v3`.
    pub fn identity_url(&self) -> String {
        self.endpoint().identity_url
    }

    /// After `failed` could not be reached: logs in at the next server that
    /// answers (in order, round the list once); false if none did.
    async fn fail_over(&self, failed: usize) -> bool {
        let _one = self.inner.moving.lock().await;
        if self.endpoint().index != failed {
            // Another request moved meanwhile.
            return true;
        }
        let n = self.inner.servers.len();
        for step in 1..n {
            let index = (failed + step) % n;
            if let Ok((endpoint, session)) = login_at(
                &self.inner.http,
                &self.inner.servers,
                index,
                &self.inner.auth,
            )
            .await
            {
                tracing::warn!(
                    from = %self.inner.servers[failed],
                    to = %endpoint.identity_url,
                    "server unreachable: moved to the next"
                );
                if let Ok(mut e) = self.inner.endpoint.write() {
                    *e = endpoint;
                }
                if let Ok(mut s) = self.inner.session.write() {
                    *s = session;
                }
                return true;
            }
        }
        false
    }

    /// The credentials this client logged in with.
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    /// The current token.
    pub fn token(&self) -> String {
        self.session().token
    }

    /// The id of the project the token is scoped to.
    pub fn project_id(&self) -> String {
        self.session().project_id
    }

    /// The id of the logged-in user.
    pub fn user_id(&self) -> String {
        self.session().user_id
    }

    fn session(&self) -> Session {
        match self.inner.session.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The absolute URL for `path` (see the crate's joining rules).
    pub fn url_for(&self, path: &str) -> String {
        let e = self.endpoint();
        url::join(&e.network_url, &e.identity_url, path)
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ClientError> {
        self.request(Method::GET, path, query, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.request(Method::POST, path, &[], Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.request(Method::PUT, path, &[], Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.request(Method::PATCH, path, &[], Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.request(Method::DELETE, path, &[], None)
            .await
            .map(|_| ())
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let mut moves = 0;
        // Repeating a request elsewhere is safe when it was never sent, or when
        // it changes nothing (GET) or sets a state (PUT); a POST or DELETE that
        // may have run is not sent twice.
        let repeatable = method == Method::GET || method == Method::PUT;
        loop {
            let at = self.endpoint().index;
            let mut unsent = false;
            let r = self
                .request_once(&method, path, query, body, &mut unsent)
                .await;
            let move_on = match &r {
                Err(ClientError::Transport(_)) => unsent || repeatable,
                // A proxy or a server without its database: another may answer.
                Err(ClientError::Api { status, .. }) => {
                    matches!(status, 502..=504) && (unsent || repeatable)
                }
                _ => false,
            };
            if move_on && moves + 1 < self.inner.servers.len() && self.fail_over(at).await {
                moves += 1;
                if let Err(e) = &r {
                    tracing::debug!("{method} {path}: {e}; repeated at the next server");
                }
                continue;
            }
            return r;
        }
    }

    /// One attempt at the server in use; `unsent` is set when the connection
    /// could not be made (nothing reached the server).
    async fn request_once(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        unsent: &mut bool,
    ) -> Result<Value, ClientError> {
        let method = method.clone();
        let mut target = reqwest::Url::parse(&self.url_for(path))
            .map_err(|e| ClientError::Config(format!("bad URL for {path}: {e}")))?;
        if !query.is_empty() {
            let mut pairs = target.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let mut relogged = false;
        loop {
            let token = self.token();
            let mut req = self
                .inner
                .http
                .request(method.clone(), target.clone())
                .header("X-Auth-Token", token)
                .header("Accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| {
                *unsent = e.is_connect();
                error::transport(&e)
            })?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !relogged {
                relogged = true;
                self.relogin().await?;
                continue;
            }
            let bytes = resp.bytes().await.map_err(|e| error::transport(&e))?;
            if !status.is_success() {
                return Err(ClientError::from_response(status.as_u16(), &bytes));
            }
            if status == StatusCode::NO_CONTENT || bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::Decode(format!("{method} {target}: invalid JSON in response: {e}"))
            });
        }
    }

    async fn relogin(&self) -> Result<(), ClientError> {
        let identity_url = self.endpoint().identity_url;
        let login = do_login(&self.inner.http, &identity_url, &self.inner.auth).await?;
        match self.inner.session.write() {
            Ok(mut s) => *s = login.session,
            Err(p) => *p.into_inner() = login.session,
        }
        Ok(())
    }
}

/// Logs in at server `index` of `servers`: its endpoint and session.
async fn login_at(
    http: &reqwest::Client,
    servers: &[String],
    index: usize,
    auth: &Auth,
) -> Result<(Endpoint, Session), ClientError> {
    let identity_url = servers
        .get(index)
        .cloned()
        .ok_or_else(|| ClientError::Config(format!("no server number {index}")))?;
    let login = do_login(http, &identity_url, auth).await?;
    let network_url = match login.network_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => url::root_of(&identity_url)?,
    };
    Ok((
        Endpoint {
            index,
            identity_url,
            network_url,
        },
        login.session,
    ))
}

async fn do_login(
    http: &reqwest::Client,
    identity_url: &str,
    auth: &Auth,
) -> Result<Login, ClientError> {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": auth.username,
            "domain": {"name": auth.user_domain_name},
            "password": auth.password,
        }}},
        "scope": {"project": {
            "name": auth.project_name,
            "domain": {"name": auth.project_domain_name},
        }},
    }});
    let url = format!("{identity_url}/auth/tokens");
    let resp = http
        .post(&url)
        .header("Accept", "application/json")
        .json(&body)
        .send()
        .await
        .map_err(|e| error::transport(&e))?;
    let status = resp.status();
    if status.is_server_error() {
        // Server trouble, not refused credentials: another server may answer.
        return Err(ClientError::Transport(format!(
            "login at {url}: HTTP {}",
            status.as_u16()
        )));
    }
    let token = resp
        .headers()
        .get("X-Subject-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp.bytes().await.map_err(|e| error::transport(&e))?;
    if !status.is_success() {
        let detail = ClientError::from_response(status.as_u16(), &bytes);
        let msg = match &detail {
            ClientError::Api { message, .. } => message.clone(),
            other => other.to_string(),
        };
        return Err(ClientError::Auth(format!(
            "login as {} to project {} at {url} failed: {msg} (HTTP {})",
            auth.username,
            auth.project_name,
            status.as_u16()
        )));
    }
    let token = token.ok_or_else(|| {
        ClientError::Auth(format!("{url} answered without an X-Subject-Token header"))
    })?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Decode(format!("token response from {url}: {e}")))?;
    let text = |p: &str| {
        doc.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(Login {
        session: Session {
            token,
            user_id: text("/token/user/id"),
            project_id: text("/token/project/id"),
        },
        network_url: catalog_endpoint(&doc, "network", "public"),
    })
}

/// The URL of the first `interface` endpoint of the service of `kind` in a token.
fn catalog_endpoint(doc: &Value, kind: &str, interface: &str) -> Option<String> {
    doc.pointer("/token/catalog")?
        .as_array()?
        .iter()
        .filter(|s| s.get("type").and_then(Value::as_str) == Some(kind))
        .filter_map(|s| s.get("endpoints")?.as_array())
        .flatten()
        .find(|e| e.get("interface").and_then(Value::as_str) == Some(interface))
        .and_then(|e| e.get("url")?.as_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_from_lookup_defaults_and_missing() {
        let env = |k: &str| match k {
            "OS_AUTH_URL" => Some("http://h:1/v3".to_string()),
            "OS_USERNAME" => Some("u".into()),
            "OS_PASSWORD" => Some("p".into()),
            "OS_PROJECT_NAME" => Some("pr".into()),
            _ => None,
        };
        let a = Auth::from_lookup(env).unwrap();
        assert_eq!(a.user_domain_name, "Default");
        assert_eq!(a.project_domain_name, "Default");
        assert!(!format!("{a:?}").contains("\"p\""));
        let e = Auth::from_lookup(|_| None).unwrap_err();
        assert!(matches!(e, ClientError::Config(_)));
        assert!(e.to_string().starts_with("OS_AUTH_URL is not set"), "{e}");
        let e = Auth::from_lookup(|k| (k != "OS_PASSWORD").then(|| "x".to_string())).unwrap_err();
        assert!(e.to_string().starts_with("OS_PASSWORD is not set"), "{e}");
    }

    #[test]
    fn catalog_lookup() {
        let doc = json!({"token": {"catalog": [
            {"type": "identity", "endpoints": [{"interface": "public", "url": "http://k/v3"}]},
            {"type": "network", "endpoints": [
                {"interface": "admin", "url": "http://admin:9696/"},
                {"interface": "public", "url": "http://pub:9696/"}]},
        ]}});
        assert_eq!(
            catalog_endpoint(&doc, "network", "public").as_deref(),
            Some("http://pub:9696/")
        );
        assert_eq!(catalog_endpoint(&doc, "compute", "public"), None);
        assert_eq!(catalog_endpoint(&json!({}), "network", "public"), None);
    }

    #[tokio::test]
    async fn connection_refused_is_transport() {
        // A port that was free a moment ago: nothing listens there now.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let auth = Auth {
            auth_url: format!("http://127.0.0.1:{port}"),
            username: "u".into(),
            password: "p".into(),
            project_name: "p".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
        };
        let e = Client::login(auth).await.unwrap_err();
        assert!(matches!(e, ClientError::Transport(_)), "{e:?}");
        assert_eq!(e.status(), None);
    }
}
