//! Users moved in and out with their passwords: an import of JSON lines, an export a page at
//! a time in the same format (README, "Moving users in").

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};

use buddo_shared::domain::identity::transfer::{self, MAX_LINES_PER_REQUEST};
use buddo_shared::http::openapi::ErrorBody;
use buddo_shared::http::{AdminUser, Json, PageQuery, Query, RawBody};
use buddo_shared::{ApiError, ApiResult, AppState};

use crate::views::{ExportedUser, ImportReport, UserExport};

/// The largest import body: 200 lines of about a kilobyte each, with room to spare.
pub const MAX_IMPORT_BYTES: usize = 256 * 1024;

/// The media types an import body may be sent as.
const JSON_LINES: &[&str] = &[
    "application/x-ndjson",
    "application/jsonl",
    "application/json-lines",
];

/// Imports users from JSON lines (one user per line, at most 200 lines, 256 KiB), each all or
/// nothing, with their password hashes: bcrypt, scrypt, Firebase's scrypt, Argon2, Django's
/// PBKDF2, or none. Users already there are skipped; every line that failed is named with why.
#[utoipa::path(post, path = "/api/admin/users/import", tag = "admin",
    security(("user_jwt" = [])),
    request_body(content = String, content_type = "application/x-ndjson",
        description = "One user per line: {\"email\", \"username\", \"email_verified\", \"created_at\", \"totp_secret\", \"password_hash\", \"disabled\"}"),
    responses(
        (status = 200, description = "What was imported, skipped and why lines failed", body = ImportReport),
        (status = 400, description = "`too_many_lines`: more than 200 lines; `invalid_request`: the body is not UTF-8", body = ErrorBody),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: more than 256 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not application/x-ndjson", body = ErrorBody),
    ))]
pub(crate) async fn import_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<ImportReport>> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !media_type.is_some_and(|m| JSON_LINES.contains(&m.as_str())) {
        return Err(ApiError::Status {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: "Send the users as application/x-ndjson: one JSON object per line".into(),
        });
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("invalid_request", "The body is not UTF-8"))?;
    let lines = transfer::parse_lines(text);
    if lines.len() > MAX_LINES_PER_REQUEST {
        return Err(ApiError::bad_request(
            "too_many_lines",
            "At most 200 users per request: send the rest in another",
        ));
    }
    let report = transfer::import(&state, lines).await;
    Ok(Json(ImportReport::new(report)))
}

/// Every user, a page at a time in username order, in the import's format: password hashes as
/// stored (PHC strings, or the format they were imported in until their first sign-in), TOTP
/// secrets, flags and creation times. Admin rights are not part of it.
#[utoipa::path(get, path = "/api/admin/users/export", tag = "admin",
    security(("user_jwt" = [])), params(PageQuery<ExportedUser>),
    responses(
        (status = 200, description = "A page of users", body = UserExport),
        (status = 400, description = "`validation_failed` (`limit`, `cursor`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
    ))]
pub(crate) async fn export_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(page): Query<PageQuery<ExportedUser>>,
) -> ApiResult<Json<UserExport>> {
    let (limit, cursor) = page.read()?;
    let page = transfer::export_page(&state, limit, cursor).await?;
    Ok(Json(UserExport {
        items: page.users.into_iter().map(ExportedUser::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
