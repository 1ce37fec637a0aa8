//! The local server: every function group's routes on one axum server, the same handlers
//! and layers as on Lambda; and the API's OpenAPI document, merged from every group's.

use axum::Router;
use buddo_shared::http::Routes;
use buddo_shared::AppState;
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{InfoBuilder, OpenApi, ServerBuilder};
use utoipa::OpenApi as _;

/// Every group's routes.
pub fn routes() -> Routes {
    buddo_auth::routes()
        .merge(buddo_oauth::routes())
        .merge(buddo_session::routes())
        .merge(buddo_user::routes())
        .merge(buddo_admin::routes())
        .merge(buddo_external::routes())
        .merge(buddo_stream::routes())
}

/// Every group's routes with the common layers, and the local image store's own routes
/// when it is the one in use.
pub fn app(state: AppState) -> Router {
    let routes = buddo_shared::images::mount_local(routes(), &state);
    buddo_shared::http::finish(routes, state)
}

const TAGS: &[(&str, &str)] = &[
    (
        "auth",
        "Registration, login, tokens, email, password and TOTP",
    ),
    (
        "account",
        "The signed-in user's profile, settings, activity and account",
    ),
    (
        "users",
        "Other users: public profiles, username search and availability",
    ),
    ("points", "The signed-in user's points"),
    ("connected apps", "Apps the signed-in user has authorized"),
    (
        "subscriptions",
        "Plans and the signed-in user's subscriptions, paid in points",
    ),
    (
        "oauth",
        "OAuth 2.0 for operator apps: registration, authorization code with PKCE, tokens",
    ),
    (
        "operator",
        "What an operator app does for a user with an OAuth access token",
    ),
    (
        "app sessions",
        "Sessions of a user in an app, which earn points on heartbeat",
    ),
    (
        "admin",
        "App review, scope requests, campaigns, points and accounts (admins only)",
    ),
    ("service", "Health and this description"),
];

/// The OpenAPI 3.1 document of every endpoint, from the handlers' own descriptions.
pub fn openapi() -> OpenApi {
    let mut doc = buddo_auth::Api::openapi();
    for group in [
        buddo_auth::SocialApi::openapi(),
        buddo_auth::PasskeysApi::openapi(),
        buddo_oauth::Api::openapi(),
        buddo_session::Api::openapi(),
        buddo_user::Api::openapi(),
        buddo_admin::Api::openapi(),
        buddo_external::Api::openapi(),
        buddo_stream::Api::openapi(),
    ] {
        doc.merge(group);
    }
    doc.info = InfoBuilder::new()
        .title("Buddo API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Identity and rewards: accounts, OAuth 2.0 for operator apps, points, app sessions \
             and ads. Errors have the shape of ErrorBody (OAuth token endpoints: OAuthErrorBody).",
        ))
        .build();
    doc.servers = Some(vec![ServerBuilder::new()
        .url("/")
        .description(Some("The server this document was read from"))
        .build()]);
    doc.tags = Some(
        TAGS.iter()
            .map(|(name, about)| {
                TagBuilder::new()
                    .name(*name)
                    .description(Some(*about))
                    .build()
            })
            .collect(),
    );
    buddo_shared::http::openapi::complete(doc, "/api/oauth/authorize", "/api/oauth/token")
}

/// The document as committed in `docs/openapi.json` and served at `/api/openapi.json`.
pub fn openapi_json() -> String {
    let mut text = serde_json::to_string_pretty(&openapi()).expect("the document serializes");
    text.push('\n');
    text
}
