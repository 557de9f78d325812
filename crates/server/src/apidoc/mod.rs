//! The API's route table (issue 23): every route is a method, a path, its handler
//! and what the OpenAPI document says of it. The server's router and
//! `/openapi.json` are both built from the one list, and the bodies' schemas come
//! from the model types' `utoipa::ToSchema` derives, so the description cannot
//! drift from what is served. The agents' API and the `/ui` page are not part of
//! it: they are between neutrino's own programs, or not an API.

mod document;
pub mod schema;

use crate::AppState;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};
use utoipa::openapi::path::HttpMethod;
use utoipa::openapi::{RefOr, Schema};

pub use document::document;

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Head => MethodFilter::HEAD,
            Self::Post => MethodFilter::POST,
            Self::Put => MethodFilter::PUT,
            Self::Patch => MethodFilter::PATCH,
            Self::Delete => MethodFilter::DELETE,
        }
    }

    fn http(self) -> HttpMethod {
        match self {
            Self::Get => HttpMethod::Get,
            Self::Head => HttpMethod::Head,
            Self::Post => HttpMethod::Post,
            Self::Put => HttpMethod::Put,
            Self::Patch => HttpMethod::Patch,
            Self::Delete => HttpMethod::Delete,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Head => "head",
            Self::Post => "post",
            Self::Put => "put",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }
}

/// Which error body a route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `{"NeutronError": …}`.
    Network,
    /// Keystone's `{"error": …}`.
    Identity,
}

/// One route: served by `handler`, described by the rest.
pub struct Route {
    pub verb: Verb,
    pub path: String,
    pub handler: MethodRouter<AppState>,
    pub api: Api,
    pub tag: String,
    pub summary: String,
    /// Served without a token (version discovery, issuing a token).
    pub public: bool,
    /// Query parameters: name and what it does.
    pub query: Vec<(&'static str, &'static str)>,
    pub request: Option<RefOr<Schema>>,
    /// The success status and its body (`None`: no body).
    pub status: u16,
    pub response: Option<RefOr<Schema>>,
    /// The named schemas the bodies refer to.
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

impl Route {
    /// A route of the network API answering 200 with no body described yet.
    pub fn new<H, T>(verb: Verb, path: impl Into<String>, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let path = path.into();
        let tag = path
            .trim_start_matches('/')
            .split('/')
            .nth(1)
            .unwrap_or("versions")
            .to_string();
        Self {
            verb,
            handler: on(verb.filter(), handler),
            api: if path.starts_with("/v3") {
                Api::Identity
            } else {
                Api::Network
            },
            path,
            tag,
            summary: String::new(),
            public: false,
            query: Vec::new(),
            request: None,
            status: if verb == Verb::Delete { 204 } else { 200 },
            response: None,
            schemas: Vec::new(),
        }
    }

    pub fn summary(mut self, s: impl Into<String>) -> Self {
        self.summary = s.into();
        self
    }

    pub fn tag(mut self, t: impl Into<String>) -> Self {
        self.tag = t.into();
        self
    }

    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }

    pub fn query(mut self, q: &[(&'static str, &'static str)]) -> Self {
        self.query.extend_from_slice(q);
        self
    }

    pub fn request(mut self, s: impl Into<RefOr<Schema>>) -> Self {
        self.request = Some(s.into());
        self
    }

    pub fn returns(mut self, status: u16, s: Option<RefOr<Schema>>) -> Self {
        self.status = status;
        self.response = s;
        self
    }

    /// Adds `T` and the schemas it refers to the document's components.
    pub fn uses<T: utoipa::ToSchema>(mut self) -> Self {
        self.schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(&mut self.schemas);
        self
    }
}

/// The router serving `routes`.
pub fn router(routes: Vec<Route>) -> axum::Router<AppState> {
    routes.into_iter().fold(axum::Router::new(), |r, route| {
        r.route(&route.path, route.handler)
    })
}
