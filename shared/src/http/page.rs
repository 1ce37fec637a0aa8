//! Lists answered a page at a time: the `limit` and `cursor` a list endpoint reads, and the
//! `{"<items>": […], "next_cursor": …}` it answers.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr, Required};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::domain::input;
use crate::error::ApiResult;

/// What a list endpoint lists, and how its pages are named and sized.
pub trait Listed: ToSchema {
    /// The field of a page that holds the items (`apps`, `entries`…).
    const FIELD: &'static str;
    /// The page's schema in the API's description (`AdminAppList`).
    const PAGE: &'static str;
    /// The items, for the description of `limit` (`Apps`).
    const NOUN: &'static str;
    const DEFAULT_LIMIT: usize = 50;
    const MAX_LIMIT: usize = 100;
}

/// `limit` and `cursor`, the query parameters of every list endpoint. Read them with their own
/// `Query` beside the endpoint's filters: both come from the same query string.
#[derive(Deserialize)]
#[serde(bound = "")]
pub struct PageQuery<T> {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(skip)]
    listed: PhantomData<fn() -> T>,
}

impl<T: Listed> PageQuery<T> {
    /// How many items to answer (checked against the list's bounds) and from where.
    pub fn read(self) -> ApiResult<(usize, Option<String>)> {
        let limit = input::page_limit(self.limit, T::DEFAULT_LIMIT, T::MAX_LIMIT)?;
        Ok((limit, self.cursor))
    }
}

impl<T: Listed> IntoParams for PageQuery<T> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let limit = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(T::MAX_LIMIT as f64));
        let param = |name: &str, description: String, schema: ObjectBuilder| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .description(Some(description))
                .required(Required::False)
                .schema(Some(schema))
                .build()
        };
        vec![
            param(
                "limit",
                format!(
                    "{} per page, 1 to {} ({} when left out).",
                    T::NOUN,
                    T::MAX_LIMIT,
                    T::DEFAULT_LIMIT
                ),
                limit,
            ),
            param(
                "cursor",
                "The `next_cursor` of the page before.".into(),
                ObjectBuilder::new().schema_type(Type::String),
            ),
        ]
    }
}

/// One page of a list: the items under `T::FIELD`, and where the next page starts.
pub struct Page<T> {
    pub items: Vec<T>,
    /// `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T: Listed + Serialize> Serialize for Page<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(T::FIELD, &self.items)?;
        map.serialize_entry("next_cursor", &self.next_cursor)?;
        map.end()
    }
}

impl<T: Listed> PartialSchema for Page<T> {
    fn schema() -> RefOr<Schema> {
        let items = ArrayBuilder::new().items(Ref::from_schema_name(T::name()));
        let next_cursor = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .description(Some(
                "Pass as `cursor` for the next page; `null` on the last.",
            ));
        ObjectBuilder::new()
            .property(T::FIELD, items)
            .required(T::FIELD)
            .property("next_cursor", next_cursor)
            .required("next_cursor")
            .into()
    }
}

impl<T: Listed> ToSchema for Page<T> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(T::PAGE)
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}
