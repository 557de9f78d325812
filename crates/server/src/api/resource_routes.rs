//! Routes of a resource kind's standard operations (list, show, create, update,
//! delete under `/v2.0/<path>`), described from the kind's [`Resource`] names
//! and its model type's schema: the network API's entries of the route table
//! (`crate::apidoc`), kept here so the table knows nothing of the handlers.

use super::bulk;
use super::resource::{self, Resource};
use crate::AppState;
use crate::apidoc::schema::{array, collection, named, partial, wrap};
use crate::apidoc::{Route, Verb};
use crate::error::ApiResult;
use crate::identity::Ctx;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::handler::Handler;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::future::Future;
use utoipa::ToSchema;
use utoipa::openapi::schema::OneOfBuilder;
use utoipa::openapi::{RefOr, Schema};

/// The query parameters every list takes.
pub const LIST_QUERY: &[(&str, &str)] = &[
    ("fields", "Show only this attribute (repeatable)."),
    ("limit", "At most this many items, with a next link."),
    ("marker", "Start after the item with this id."),
    ("sort_key", "Sort by this attribute (repeatable)."),
    ("sort_dir", "asc or desc, one per sort_key."),
    ("page_reverse", "Page backwards from the marker."),
];

impl Route {
    /// Adds resource kind `T` (with no attribute required, see
    /// [`partial`]) and the schemas it refers to the document's components.
    fn uses_resource<T: ToSchema>(mut self) -> Self {
        self.schemas
            .push((T::name().into_owned(), partial(T::schema())));
        T::schemas(&mut self.schemas);
        self
    }
}

fn collection_path<T: Resource>() -> String {
    format!("/v2.0/{}", T::PATH)
}

fn member_path<T: Resource>() -> String {
    format!("/v2.0/{}/{{id}}", T::PATH)
}

/// `GET /v2.0/<path>`.
pub fn list<T: Resource + ToSchema>() -> Route {
    Route::new(Verb::Get, collection_path::<T>(), resource::list::<T>)
        .tag(T::COLLECTION)
        .summary(format!("List {}", T::COLLECTION))
        .query(LIST_QUERY)
        .returns(200, Some(collection::<T>(T::COLLECTION)))
        .uses_resource::<T>()
}

/// `GET /v2.0/<path>/{id}`.
pub fn show<T: Resource + ToSchema>() -> Route {
    Route::new(Verb::Get, member_path::<T>(), resource::show::<T>)
        .tag(T::COLLECTION)
        .summary(format!("Show a {}", T::MEMBER))
        .query(&LIST_QUERY[..1])
        .returns(200, Some(wrap(T::MEMBER, named::<T>())))
        .uses_resource::<T>()
}

/// `DELETE /v2.0/<path>/{id}`.
pub fn delete<T: Resource + ToSchema>() -> Route {
    Route::new(Verb::Delete, member_path::<T>(), resource::delete::<T>)
        .tag(T::COLLECTION)
        .summary(format!("Delete a {}", T::MEMBER))
        .returns(204, None)
}

/// `POST /v2.0/<path>` by `handler`, one item.
pub fn create<T, H, X>(handler: H) -> Route
where
    T: Resource + ToSchema,
    H: Handler<X, AppState>,
    X: 'static,
{
    Route::new(Verb::Post, collection_path::<T>(), handler)
        .tag(T::COLLECTION)
        .summary(format!("Create a {}", T::MEMBER))
        .request(wrap(T::MEMBER, named::<T>()))
        .returns(201, Some(wrap(T::MEMBER, named::<T>())))
        .uses_resource::<T>()
}

/// `POST /v2.0/<path>`: one item by `single`, or several (`{"<collection>":
/// […]}`, all or none created, see [`bulk::create`]).
pub fn create_bulk<T, F, Fut>(single: F) -> Route
where
    T: Resource + ToSchema,
    F: Fn(State<AppState>, Ctx, Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ApiResult<(StatusCode, Json<Value>)>> + Send + 'static,
{
    let handler = move |State(s): State<AppState>, c: Ctx, h: HeaderMap, b: Bytes| {
        let single = single.clone();
        async move { bulk::create::<T, _, _>(s, c, h, b, single).await }
    };
    let one = wrap(T::MEMBER, named::<T>());
    let many = wrap(T::COLLECTION, array(named::<T>()));
    let both = OneOfBuilder::new().item(one).item(many).build();
    let created = OneOfBuilder::new()
        .item(wrap(T::MEMBER, named::<T>()))
        .item(collection::<T>(T::COLLECTION))
        .build();
    create::<T, _, _>(handler)
        .summary(format!("Create a {} or several", T::MEMBER))
        .request(RefOr::T(Schema::OneOf(both)))
        .returns(201, Some(RefOr::T(Schema::OneOf(created))))
}

/// `PUT /v2.0/<path>/{id}` by `handler`.
pub fn update<T, H, X>(handler: H) -> Route
where
    T: Resource + ToSchema,
    H: Handler<X, AppState>,
    X: 'static,
{
    Route::new(Verb::Put, member_path::<T>(), handler)
        .tag(T::COLLECTION)
        .summary(format!("Update a {}", T::MEMBER))
        .request(wrap(T::MEMBER, named::<T>()))
        .returns(200, Some(wrap(T::MEMBER, named::<T>())))
        .uses_resource::<T>()
}
