//! What every group's OpenAPI description shares: the error shapes, the security schemes, and
//! the answers every operation can give. Each function crate describes its handlers with
//! `#[utoipa::path]`; the local server's crate merges them into one document (see
//! `buddo::openapi`), which the user function serves as it was committed.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{
    AuthorizationCode, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

use serde_json::Value;
use utoipa::openapi::schema::{Array, ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};

use crate::domain::activity::ActivityKind;
use crate::domain::ads::Surface;
use crate::domain::billing::SubscriptionStatus;
use crate::domain::ledger::EntryKind;
use crate::domain::oauth::scopes::Scope;

/// A signed-in user: the `access_token` of `POST /api/auth/login`.
pub const USER_JWT: &str = "user_jwt";
/// An operator app acting for a user: an OAuth access token (`bat_…`) with scopes.
pub const OAUTH: &str = "oauth2";
/// An OAuth client authenticating with `client_id` and `client_secret` (HTTP Basic).
pub const CLIENT_BASIC: &str = "client_basic";

/// The tag of the operations only admins may call.
pub const ADMIN_TAG: &str = "admin";

/// Every error but those of the OAuth token endpoints.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A snake_case code to branch on (`validation_failed`, `invalid_token`, `rate_limited`…).
    pub error: String,
    /// Text for people.
    pub message: String,
    /// `validation_failed`: a reason per field at fault.
    #[schema(required = false)]
    pub fields: Option<BTreeMap<String, String>>,
    /// `totp_required`: the password was right and a TOTP code is needed.
    #[schema(required = false)]
    pub totp_required: Option<bool>,
    /// `rate_limited`: seconds until trying again makes sense (also in `Retry-After`).
    #[schema(required = false)]
    pub retry_after: Option<u64>,
    /// `insufficient_scope`: the scope the access token lacks.
    #[schema(required = false)]
    pub scope: Option<String>,
}

/// An error of the OAuth token, revocation and introspection endpoints (RFC 6749 §5.2).
#[derive(Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`.
    pub error: String,
    pub error_description: String,
}

/// A plain acknowledgement.
#[derive(Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

fn error_response(description: &str) -> Response {
    let schema = RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ErrorBody"));
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
}

/// Adds to a merged document what no single handler says: the security schemes, the shared
/// error schemas and responses, and on every operation the answers any request can get —
/// `400` for bad input, `401` and `403` where a token is needed, and any other error.
pub fn complete(mut doc: OpenApi, authorize_url: &str, token_url: &str) -> OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("ErrorBody".into(), ErrorBody::schema());
    components
        .schemas
        .insert("OAuthErrorBody".into(), OAuthErrorBody::schema());
    for (name, description) in COMMON_RESPONSES {
        components
            .responses
            .insert(name.to_string(), RefOr::T(error_response(description)));
    }
    components.security_schemes.insert(
        USER_JWT.into(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("The access_token of POST /api/auth/login (EdDSA JWT)"))
                .build(),
        )),
    );
    components.security_schemes.insert(
        OAUTH.into(),
        RefOr::T(SecurityScheme::OAuth2(OAuth2::with_description(
            [Flow::AuthorizationCode(AuthorizationCode::new(
                authorize_url,
                token_url,
                Scopes::from_iter(Scope::ALL.map(|s| (s.as_str(), s.description()))),
            ))],
            "Authorization code with PKCE (S256); the access token is opaque (bat_…)",
        ))),
    );
    components.security_schemes.insert(
        CLIENT_BASIC.into(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Basic)
                .description(Some("client_id and client_secret (RFC 6749 §2.3.1)"))
                .build(),
        )),
    );
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            add_common_responses(op);
        }
    }
    doc
}

/// The answers any operation can give, by name in `components/responses`.
const COMMON_RESPONSES: &[(&str, &str)] = &[
    (
        "BadRequest",
        "Bad input: `validation_failed` (a reason per field in `fields`), `malformed_json`, \
         `invalid_request`",
    ),
    (
        "Unauthorized",
        "`invalid_token`: the bearer token is missing, invalid, expired or revoked",
    ),
    ("AdminsOnly", "`forbidden`: admins only"),
    (
        "InsufficientScope",
        "`insufficient_scope`: the access token lacks the scope named in `scope`",
    ),
    (
        "Error",
        "Any other error, in the same shape: `rate_limited` (429, with `retry_after`), \
         `conflict` (409: a concurrent request changed the same data; try again), \
         `service_unavailable` (503), `payload_too_large` (413), `unsupported_media_type` \
         (415), `internal_error` (500)",
    ),
];

fn common(name: &str) -> RefOr<Response> {
    RefOr::Ref(utoipa::openapi::Ref::from_response_name(name))
}

/// Operations that answer every input with 200: introspection says `active: false` for
/// anything it cannot use (RFC 7662 §2.2).
const NEVER_BAD_REQUEST: &[&str] = &["introspect"];

fn add_common_responses(op: &mut Operation) {
    let schemes: Vec<String> = op
        .security
        .iter()
        .flatten()
        .filter_map(|req| serde_json::to_value(req).ok())
        .filter_map(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
        .flatten()
        .collect();
    let oauth_errors = schemes.iter().any(|s| s == CLIENT_BASIC);
    // A path segment is never "bad input": an id nobody has is a 404.
    let has_input = op.request_body.is_some()
        || op
            .parameters
            .iter()
            .flatten()
            .any(|p| !matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Path)));
    let has_input = has_input
        && !op
            .operation_id
            .as_deref()
            .is_some_and(|id| NEVER_BAD_REQUEST.contains(&id));
    let responses = &mut op.responses.responses;
    let mut add = |status: &str, name: &str| {
        responses.entry(status.to_string()).or_insert(common(name));
    };
    if has_input && !oauth_errors {
        add("400", "BadRequest");
    }
    if schemes.iter().any(|s| s == USER_JWT || s == OAUTH) {
        add("401", "Unauthorized");
    }
    if schemes.iter().any(|s| s == OAUTH) {
        add("403", "InsufficientScope");
    }
    if op.tags.iter().flatten().any(|t| t == ADMIN_TAG) {
        add("403", "AdminsOnly");
    }
    add("default", "Error");
}

/// A string schema of these values only.
pub fn one_of(values: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .build()
}

/// A string schema of these values only, or `null`.
pub fn one_of_or_null(values: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(
            values.into_iter().map(Value::from).chain([Value::Null]),
        ))
        .build()
}

fn constant(value: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([value]))
        .build()
}

/// `#[schema(schema_with = …)]`: `true`, always.
pub fn always_true() -> Object {
    constant(true)
}

/// `#[schema(schema_with = …)]`: `false`, always.
pub fn always_false() -> Object {
    constant(false)
}

/// `#[schema(schema_with = …)]` for a field holding a kind of activity.
pub fn activity_kind() -> Object {
    one_of(ActivityKind::ALL.map(ActivityKind::as_str))
}

/// `#[schema(schema_with = …)]` for a field holding a kind of ledger entry.
pub fn entry_kind() -> Object {
    one_of(EntryKind::ALL.map(EntryKind::as_str))
}

/// `#[schema(schema_with = …)]` for a field holding the status of a subscription.
pub fn subscription_status() -> Object {
    one_of(SubscriptionStatus::ALL.map(SubscriptionStatus::as_str))
}

/// `#[schema(schema_with = …)]` for a field holding a scope.
pub fn scope() -> Object {
    one_of(Scope::ALL.map(Scope::as_str))
}

/// `#[schema(schema_with = …)]` for a field holding a list of scopes.
pub fn scope_list() -> Array {
    ArrayBuilder::new().items(scope()).build()
}

/// `#[schema(schema_with = …)]`: a list of scopes, or `null` (left as it is).
pub fn scope_list_or_null() -> Array {
    let mut list = scope_list();
    list.schema_type = SchemaType::from_iter([Type::Array, Type::Null]);
    list
}

/// `#[schema(schema_with = …)]`: the status of a scope request.
pub fn scope_request_status() -> Object {
    one_of(["pending", "approved", "denied"])
}

const CAMPAIGN_STATUSES: [&str; 2] = ["active", "paused"];

/// `#[schema(schema_with = …)]`: the status of a campaign.
pub fn campaign_status() -> Object {
    one_of(CAMPAIGN_STATUSES)
}

/// `#[schema(schema_with = …)]`: the status of a campaign, or `null`.
pub fn campaign_status_or_null() -> Object {
    one_of_or_null(CAMPAIGN_STATUSES)
}

/// `#[schema(schema_with = …)]`: a kind of ad surface.
pub fn surface() -> Object {
    one_of(Surface::ALL.map(Surface::as_str))
}

/// `#[schema(schema_with = …)]`: a kind of ad surface, or `null`.
pub fn surface_or_null() -> Object {
    one_of_or_null(Surface::ALL.map(Surface::as_str))
}

/// Declares types that stand for a schema, for query parameters
/// (`#[param(value_type = SurfaceName, inline)]`): `#[param(schema_with)]` would drop the
/// parameter's description.
#[macro_export]
macro_rules! param_schema {
    ($($(#[$doc:meta])* $vis:vis $name:ident => $schema:expr;)*) => {$(
        $(#[$doc])*
        $vis struct $name;

        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                $schema.into()
            }
        }

        impl ::utoipa::ToSchema for $name {}
    )*};
}

param_schema! {
    /// A kind of activity.
    pub ActivityKindName => activity_kind();
    /// A kind of ad surface.
    pub SurfaceName => surface();
    /// The status of a scope request.
    pub ScopeRequestStatusName => scope_request_status();
    /// The status of a campaign.
    pub CampaignStatusName => campaign_status();
}
