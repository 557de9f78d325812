//! The body shapes around the model types: `{"network": {…}}`, `{"networks":
//! […]}`, and the error bodies.

use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{Ref, RefOr, Schema};

/// A reference to `T`'s named schema.
pub fn named<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

/// `{"<key>": <inner>}`, `key` required.
pub fn wrap(key: &str, inner: RefOr<Schema>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .property(key, inner)
        .required(key)
        .into()
}

/// An array of `inner`.
pub fn array(inner: RefOr<Schema>) -> RefOr<Schema> {
    ArrayBuilder::new().items(inner).into()
}

/// Any JSON object.
pub fn object() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::Object).into()
}

/// A string.
pub fn string() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).into()
}

/// `{"<collection>": [T], "<collection>_links": [...]}` (links only when paged).
pub fn collection<T: ToSchema>(key: &str) -> RefOr<Schema> {
    let link = ObjectBuilder::new()
        .property("href", string())
        .property("rel", string());
    ObjectBuilder::new()
        .property(key, array(named::<T>()))
        .required(key)
        .property(format!("{key}_links"), array(link.into()))
        .into()
}

/// A resource kind's schema with no attribute required: a response shows every
/// attribute unless the request's `fields` names some, and a request sends only
/// what it sets (the server fills in the rest and refuses what may not be set).
pub fn partial(schema: RefOr<Schema>) -> RefOr<Schema> {
    match schema {
        RefOr::T(Schema::Object(mut o)) => {
            o.required.clear();
            RefOr::T(Schema::Object(o))
        }
        other => other,
    }
}

/// Neutron's error body.
pub fn neutron_error() -> RefOr<Schema> {
    let inner = ObjectBuilder::new()
        .property("type", string())
        .property("message", string())
        .property("detail", string())
        .required("type")
        .required("message");
    wrap("NeutronError", inner.into())
}

/// Keystone's error body.
pub fn keystone_error() -> RefOr<Schema> {
    let inner = ObjectBuilder::new()
        .property("code", ObjectBuilder::new().schema_type(Type::Integer))
        .property("title", string())
        .property("message", string())
        .required("code")
        .required("message");
    wrap("error", inner.into())
}
